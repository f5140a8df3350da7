//! Publishing alerts to SNS: one `Publish` per alert document
//! ([`trailwatch_shared::alert::AlertMessage`], built and sized in `shared`), with the
//! attributes subscribers filter on. Both functions publish through [`AlertPublisher`], and
//! exactly once per unit of work through [`once::AlertLedger`].

pub mod once;

use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;
use trailwatch_shared::alert::AlertMessage;

#[derive(Debug, thiserror::Error)]
#[error("publishing to {topic_arn} failed after retries: {}{detail}", refusal_text(.refused, .topic_arn))]
pub struct PublishError {
    pub topic_arn: String,
    pub detail: String,
    /// SNS (or the topic's KMS key) refused the call: a missing permission, not a fault.
    pub refused: bool,
}

fn refusal_text(refused: &bool, topic_arn: &str) -> String {
    // A Security Hub import (security_hub::WithSecurityHub) names its own permission in its detail.
    if *refused && !topic_arn.contains(":securityhub:") {
        format!(
            "permission denied: the role needs sns:Publish on {topic_arn} (and kms:GenerateDataKey* \
             and kms:Decrypt on the topic's key if it is encrypted): "
        )
    } else {
        String::new()
    }
}

/// Where alerts go: SNS in production, a recorder in tests. Returns the message id.
pub trait AlertPublisher: Send + Sync {
    fn publish(
        &self,
        alert: &AlertMessage,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
}

/// SNS `Publish` with `MessageStructure: json` and the alert's attributes to one topic. Retries
/// are the SDK's standard mode (5 attempts with backoff, set in `load_sdk_config`): throttling,
/// 5xx and connection errors are retried before an error is returned; a failure after that
/// fails the object, so Lambda retries the whole file.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl AlertPublisher for SnsPublisher {
    async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
        publish(&self.client, &self.topic_arn, alert).await
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
        .message(&alert.message);
    for (name, value) in alert.attributes.pairs() {
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
