//! Trigger intake: every shape in which an S3 object reaches a function, decoded to [`ObjectRef`]s.
//!
//! INTERFACE (fixed; the implementation fills it in):
//! - [`decode`] takes the invocation payload as JSON and returns a [`Trigger`].
//! - S3 / SNS / SQS keys are form-URL-encoded (`+` is a space, then percent-decoding);
//!   EventBridge and CloudTrail-SNS-notification keys are not.

use serde::Serialize;

/// One S3 object a function has to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub bucket: String,
    /// The decoded key, exactly as S3 stores it.
    pub key: String,
    /// Size in bytes when the trigger says it.
    pub size: Option<u64>,
    /// Version id when the trigger says it (versioned buckets).
    pub version_id: Option<String>,
}

/// Where a group of objects came from, so the function can answer the way the source expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerSource {
    S3Notification,
    EventBridge,
    Sns,
    /// SQS: each object carries the message id it came from, for `batchItemFailures`.
    Sqs,
    CloudTrailSnsNotification,
    /// S3 Batch Operations: the response must list a result per task id.
    S3Batch { invocation_id: String, invocation_schema_version: String },
    /// `s3:TestEvent` (sent when a notification is configured): acknowledged, nothing to do.
    TestEvent,
}

/// One unit of work: an object plus the id the source wants back when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub object: ObjectRef,
    /// SQS message id or S3 Batch task id; `None` for sources without per-item answers.
    pub item_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub source: TriggerSource,
    pub items: Vec<WorkItem>,
    /// Messages inside the payload that carried no object (test events inside SQS, …), counted.
    pub ignored_messages: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("unrecognised trigger payload: {0}")]
    Unrecognised(String),
    #[error("malformed {shape} payload: {detail}")]
    Malformed { shape: &'static str, detail: String },
}

/// Decodes an invocation payload.
pub fn decode(_payload: &serde_json::Value) -> Result<Trigger, TriggerError> {
    todo!("intake helper")
}

/// Form-URL decoding of an S3 notification key: `+` is a space, then percent-decoding (UTF-8).
pub fn decode_s3_key(_encoded: &str) -> Result<String, TriggerError> {
    todo!("intake helper")
}
