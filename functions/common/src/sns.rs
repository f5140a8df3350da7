//! Publishing alerts to SNS: one message per alert, with the attributes subscribers filter on.

use aws_sdk_sns::types::MessageAttributeValue;

/// SNS's limit for a whole message (body plus attributes), in bytes.
pub const SNS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// An alert ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    /// ASCII, at most 99 characters, no line breaks (SNS rejects anything else).
    pub subject: String,
    /// The `MessageStructure: json` document: `{"default": …, "email": …, "sqs": …, …}`.
    pub structured_message: String,
    /// String attributes (`rule_id`, `severity`, `account`, `region`) for filter policies.
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("publishing to {topic_arn} failed after retries: {}{detail}", refusal_text(.refused, .topic_arn))]
pub struct PublishError {
    pub topic_arn: String,
    pub detail: String,
    /// SNS (or the topic's KMS key) refused the call: a missing permission, not a fault.
    pub refused: bool,
}

fn refusal_text(refused: &bool, topic_arn: &str) -> String {
    if *refused {
        format!(
            "permission denied: the role needs sns:Publish on {topic_arn} (and kms:GenerateDataKey* \
             and kms:Decrypt on the topic's key if it is encrypted): "
        )
    } else {
        String::new()
    }
}

/// Publishes `alert` to `topic_arn`; the SDK's standard retry (see `load_sdk_config`) retries
/// throttling and 5xx before this returns an error.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    alert: &AlertMessage,
) -> Result<String, PublishError> {
    let mut req = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&alert.subject)
        .message_structure("json")
        .message(&alert.structured_message);
    for (name, value) in &alert.attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| PublishError {
                topic_arn: topic_arn.to_owned(),
                detail: e.to_string(),
                refused: false,
            })?;
        req = req.message_attributes(name, attr);
    }
    let out = req.send().await.map_err(|e| PublishError {
        topic_arn: topic_arn.to_owned(),
        detail: aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
        refused: crate::failure::is_refused(&e),
    })?;
    Ok(out.message_id.unwrap_or_default())
}
