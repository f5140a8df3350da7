//! Where alerts go: SNS in production, anything implementing [`AlertPublisher`] in tests.

use std::future::Future;

use trailwatch_lambda_common::sns::{self, PublishError};

use crate::message::AlertMessage;

/// Publishes one alert; returns the message id.
pub trait AlertPublisher: Send + Sync + 'static {
    fn publish(
        &self,
        alert: &AlertMessage,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
}

/// SNS `Publish` with `MessageStructure: json` and the alert's attributes. Retries are the SDK's
/// standard mode (5 attempts with backoff, set in `load_sdk_config`): throttling, 5xx and
/// connection errors are retried before an error is returned; a failure after that fails the
/// invocation so Lambda retries the whole file.
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
        sns::publish(&self.client, &self.topic_arn, &to_sns(alert)).await
    }
}

/// The common crate's publish request for `alert`.
pub fn to_sns(alert: &AlertMessage) -> sns::AlertMessage {
    sns::AlertMessage {
        subject: alert.subject.clone(),
        structured_message: alert.message.clone(),
        attributes: alert
            .attributes
            .pairs()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}
