//! Reading alerts the way an SQS subscriber of the alert topic receives them.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

/// An SNS topic with an SQS queue subscribed to it; returns (topic ARN, queue URL).
pub async fn topic_with_queue(cfg: &SdkConfig) -> (String, String) {
    named_topic_with_queue(cfg, "trailwatch-alerts", "alerts").await
}

/// The topic `topic` with the SQS queue `queue` subscribed to it (several in one moto, e.g. one
/// per fault cell); returns (topic ARN, queue URL).
pub async fn named_topic_with_queue(cfg: &SdkConfig, topic: &str, queue: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(cfg);
    let sqs = aws_sdk_sqs::Client::new(cfg);
    let topic_arn = sns
        .create_topic()
        .name(topic)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (topic_arn, queue_url)
}

/// Every SNS envelope delivered to the queue so far, parsed; each is deleted once read.
pub async fn drain_envelopes(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = page.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).expect("an SNS envelope"));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}
