//! Trigger intake: every shape in which an S3 object reaches a function, decoded to [`ObjectRef`]s.
//!
//! INTERFACE (fixed; the implementation fills it in):
//! - [`decode`] takes the invocation payload as JSON and returns a [`Trigger`].
//! - S3 / SNS / SQS keys are form-URL-encoded (`+` is a space, then percent-decoding);
//!   EventBridge and CloudTrail-SNS-notification keys are not.
//!
//! Shapes understood (fixtures in `shared/tests/fixtures/triggers/`):
//! - S3 event notification (`Records[].eventSource == "aws:s3"`), one or many records;
//!   `ObjectCreated:*` records give work, `ObjectRemoved:*` and `LifecycleExpiration:*` records
//!   give [`DeletionNotice`]s, the others are counted in `ignored_messages`.
//! - EventBridge (`source == "aws.s3"`): `Object Created` gives work, `Object Deleted` a
//!   [`DeletionNotice`], other detail types are counted.
//! - SNS (`Records[].EventSource == "aws:sns"`): `Sns.Message` is a JSON string holding an S3 event,
//!   a CloudTrail delivery notification (`{"s3Bucket":…,"s3ObjectKey":[…]}`) or an `s3:TestEvent`.
//! - SQS (`Records[].eventSource == "aws:sqs"`): `body` holds any message SNS can carry, an SNS
//!   envelope around one (SNS→SQS without raw delivery), or an EventBridge event. A message whose
//!   body cannot be decoded fails alone (see [`Trigger::failed_messages`]), so one poison message
//!   does not send the good ones of its batch back to the queue.
//! - S3 Batch Operations jobs, invocation schema 1.0 and 2.0.
//! - `s3:TestEvent`, on its own or inside SNS / SQS.
//!
//! Nothing here panics on input: every unexpected shape is a [`TriggerError`].
//!
//! Every record or message is accounted for exactly once: it is work ([`Trigger::items`]), a
//! deletion ([`Trigger::deletions`]), ignored ([`Trigger::ignored_messages`]) or failed
//! ([`Trigger::failed_messages`]). A deletion is never work: functions that act on created objects
//! (forwarder, alerter) count deletions and do nothing else; the digest verifier alerts on them.

mod batch;
mod deletion;
mod message;

pub use deletion::{DeletionNotice, DeletionType};

use serde::Serialize;
use serde_json::Value;

use message::{MessageShape, WrapperDepth};

/// One S3 object a function has to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// The bucket the object is in.
    pub bucket: String,
    /// The decoded key, exactly as S3 stores it.
    pub key: String,
    /// Size in bytes when the trigger says it.
    pub size: Option<u64>,
    /// Version id when the trigger says it (versioned buckets).
    pub version_id: Option<String>,
    /// Who wrote the object, when the event says it (EventBridge `detail.requester`, S3
    /// notification `userIdentity.principalId`): named by the digest verifier's overwrite alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// The writing request's source IP, when the event says it (EventBridge
    /// `detail.source-ip-address`, S3 notification `requestParameters.sourceIPAddress`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The object's ETag when the event says it (S3 notification `s3.object.eTag`, EventBridge
    /// `detail.object.etag`), without quotes: with the version id, what names one version of the
    /// object for idempotent processing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// Where a group of objects came from, so the function can answer the way the source expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerSource {
    /// S3 event notifications delivered to the function directly (`Records[].eventSource ==
    /// "aws:s3"`).
    S3Notification,
    /// An EventBridge `Object Created` event from S3 (`source == "aws.s3"`).
    EventBridge,
    /// SNS records carrying S3 event notifications (or a mix of message shapes).
    Sns,
    /// SQS: each object carries the message id it came from, for `batchItemFailures`.
    Sqs,
    /// CloudTrail's own delivery notification (`{"s3Bucket":…,"s3ObjectKey":[…]}`), sent to the
    /// trail's SNS topic for each delivered log file.
    CloudTrailSnsNotification,
    /// S3 Batch Operations: the response must list a result per task id.
    S3Batch {
        /// The job's `invocationId`, which the response must echo.
        invocation_id: String,
        /// The job's `invocationSchemaVersion` (`1.0` or `2.0`), which the response must echo.
        invocation_schema_version: String,
    },
    /// `s3:TestEvent` (sent when a notification is configured): acknowledged, nothing to do.
    TestEvent,
}

/// One unit of work: an object plus the id the source wants back when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// The object to read.
    pub object: ObjectRef,
    /// SQS message id or S3 Batch task id; `None` for sources without per-item answers.
    pub item_id: Option<String>,
}

/// An SQS message whose body could not be decoded. It must be reported in `batchItemFailures`
/// (so it is retried and finally reaches the dead-letter queue) — never acknowledged silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMessage {
    /// The SQS message id.
    pub item_id: String,
    /// Why the body was rejected (for the log line).
    pub reason: String,
}

/// A decoded invocation payload: the objects to process and how to answer the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Which event source invoked the function, and what its answer must contain.
    pub source: TriggerSource,
    /// The objects to process, in payload order (empty for test events).
    pub items: Vec<WorkItem>,
    /// Objects the payload reports as deleted (S3 `ObjectRemoved:*` / `LifecycleExpiration:*`
    /// records, EventBridge `Object Deleted`), in payload order. Never work.
    pub deletions: Vec<DeletionNotice>,
    /// Messages inside the payload that carried no object (test events inside SQS, …), counted.
    pub ignored_messages: usize,
    /// SQS only: messages that could not be decoded; the caller lists them as batch item failures.
    pub failed_messages: Vec<FailedMessage>,
}

/// Why an invocation payload could not be decoded. The whole invocation fails (except for SQS
/// messages, which fail one by one, see [`Trigger::failed_messages`]).
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The payload is none of the shapes this module understands (not an object, an unknown event
    /// source, an unknown message); says what was found.
    #[error("unrecognised trigger payload: {0}")]
    Unrecognised(String),
    /// The payload has a known shape but a required part is missing or has the wrong type.
    #[error("malformed {shape} payload: {detail}")]
    Malformed {
        /// The recognised shape whose content is wrong (`Records`, `SNS`, `S3 Batch Operations`,
        /// `CloudTrail notification`, …).
        shape: &'static str,
        /// What is missing or has the wrong type, naming the record when there are several.
        detail: String,
    },
}

/// Decodes an invocation payload.
pub fn decode(payload: &Value) -> Result<Trigger, TriggerError> {
    let Some(object) = payload.as_object() else {
        return Err(TriggerError::Unrecognised(format!(
            "expected a JSON object, got {}",
            message::json_kind(payload)
        )));
    };
    if let Some(records) = object.get("Records") {
        return decode_records(records);
    }
    if object.contains_key("invocationSchemaVersion") {
        return batch::decode(payload);
    }
    let decoded = message::decode(payload, WrapperDepth::Outermost)?;
    let source = match decoded.shape {
        MessageShape::S3Event => TriggerSource::S3Notification,
        MessageShape::EventBridge => TriggerSource::EventBridge,
        MessageShape::CloudTrailNotification => TriggerSource::CloudTrailSnsNotification,
        MessageShape::TestEvent => TriggerSource::TestEvent,
        // Unreachable: an SNS envelope is only accepted inside an SQS body.
        MessageShape::SnsControl => TriggerSource::Sns,
    };
    Ok(Trigger {
        source,
        items: decoded
            .objects
            .into_iter()
            .map(|object| WorkItem {
                object,
                item_id: None,
            })
            .collect(),
        deletions: decoded.deletions,
        ignored_messages: decoded.ignored,
        failed_messages: Vec::new(),
    })
}

/// `{"Records":[…]}`: an S3 notification, or SNS / SQS records, told apart by their event source.
fn decode_records(records: &Value) -> Result<Trigger, TriggerError> {
    let records = records.as_array().ok_or_else(|| TriggerError::Malformed {
        shape: "Records",
        detail: format!(
            "`Records` must be an array, got {}",
            message::json_kind(records)
        ),
    })?;
    let Some(first) = records.first() else {
        return Err(TriggerError::Malformed {
            shape: "Records",
            detail: "`Records` is empty: no event source to recognise".into(),
        });
    };
    let source = record_event_source(first).ok_or_else(|| {
        TriggerError::Unrecognised("`Records[0]` has no `eventSource` / `EventSource`".into())
    })?;
    // One invocation comes from one event source mapping; a mix means a hand-made payload.
    for (index, record) in records.iter().enumerate() {
        if record_event_source(record) != Some(source) {
            return Err(TriggerError::Malformed {
                shape: "Records",
                detail: format!(
                    "record {index} does not have the event source {source:?} of record 0"
                ),
            });
        }
    }
    match source {
        "aws:s3" => {
            let decoded = message::decode_s3_records(records)?;
            Ok(Trigger {
                source: TriggerSource::S3Notification,
                items: decoded
                    .objects
                    .into_iter()
                    .map(|object| WorkItem {
                        object,
                        item_id: None,
                    })
                    .collect(),
                deletions: decoded.deletions,
                ignored_messages: decoded.ignored,
                failed_messages: Vec::new(),
            })
        }
        "aws:sns" => decode_sns_records(records),
        "aws:sqs" => decode_sqs_records(records),
        other => Err(TriggerError::Unrecognised(format!(
            "records from event source {other:?}"
        ))),
    }
}

fn record_event_source(record: &Value) -> Option<&str> {
    record
        .get("eventSource")
        .or_else(|| record.get("EventSource"))
        .and_then(Value::as_str)
}

fn decode_sns_records(records: &[Value]) -> Result<Trigger, TriggerError> {
    let mut items = Vec::new();
    let mut deletions = Vec::new();
    let mut ignored = 0;
    let mut shapes = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let text = record
            .get("Sns")
            .and_then(|sns| sns.get("Message"))
            .and_then(Value::as_str)
            .ok_or_else(|| TriggerError::Malformed {
                shape: "SNS",
                detail: format!("record {index} has no string `Sns.Message`"),
            })?;
        let inner: Value = serde_json::from_str(text).map_err(|error| TriggerError::Malformed {
            shape: "SNS",
            detail: format!("record {index}: `Sns.Message` is not JSON: {error}"),
        })?;
        let decoded = message::decode(&inner, WrapperDepth::InsideSns)?;
        shapes.push(decoded.shape);
        ignored += decoded.ignored;
        deletions.extend(decoded.deletions);
        items.extend(decoded.objects.into_iter().map(|object| WorkItem {
            object,
            item_id: None,
        }));
    }
    let all = |shape: MessageShape| shapes.iter().all(|s| *s == shape);
    let source = if all(MessageShape::CloudTrailNotification) {
        TriggerSource::CloudTrailSnsNotification
    } else if all(MessageShape::TestEvent) {
        TriggerSource::TestEvent
    } else {
        TriggerSource::Sns
    };
    Ok(Trigger {
        source,
        items,
        deletions,
        ignored_messages: ignored,
        failed_messages: Vec::new(),
    })
}

fn decode_sqs_records(records: &[Value]) -> Result<Trigger, TriggerError> {
    let mut items = Vec::new();
    let mut deletions = Vec::new();
    let mut ignored = 0;
    let mut failed = Vec::new();
    for (index, record) in records.iter().enumerate() {
        // Without a message id nothing can be reported per message: the whole batch fails.
        let message_id = record
            .get("messageId")
            .and_then(Value::as_str)
            .ok_or_else(|| TriggerError::Malformed {
                shape: "SQS",
                detail: format!("record {index} has no string `messageId`"),
            })?;
        match decode_sqs_body(record) {
            Ok(decoded) => {
                ignored += decoded.ignored;
                deletions.extend(decoded.deletions.into_iter().map(|notice| DeletionNotice {
                    item_id: Some(message_id.to_owned()),
                    ..notice
                }));
                items.extend(decoded.objects.into_iter().map(|object| WorkItem {
                    object,
                    item_id: Some(message_id.to_owned()),
                }));
            }
            Err(error) => failed.push(FailedMessage {
                item_id: message_id.to_owned(),
                reason: error.to_string(),
            }),
        }
    }
    Ok(Trigger {
        source: TriggerSource::Sqs,
        items,
        deletions,
        ignored_messages: ignored,
        failed_messages: failed,
    })
}

fn decode_sqs_body(record: &Value) -> Result<message::Decoded, TriggerError> {
    let body =
        record
            .get("body")
            .and_then(Value::as_str)
            .ok_or_else(|| TriggerError::Malformed {
                shape: "SQS",
                detail: "no string `body`".into(),
            })?;
    let inner: Value = serde_json::from_str(body).map_err(|error| TriggerError::Malformed {
        shape: "SQS",
        detail: format!("`body` is not JSON: {error}"),
    })?;
    message::decode(&inner, WrapperDepth::InsideSqs)
}

/// Form-URL decoding of an S3 notification key: `+` is a space, then percent-decoding (UTF-8).
///
/// Stricter than most decoders on purpose: a `%` not followed by two hex digits cannot come out of
/// S3's encoder, so it means the key was not encoded; guessing would fetch the wrong object.
pub fn decode_s3_key(encoded: &str) -> Result<String, TriggerError> {
    let malformed = |detail: String| TriggerError::Malformed {
        shape: "S3 key",
        detail,
    };
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            b'%' => {
                let hex = bytes.get(index + 1..index + 3).and_then(|pair| {
                    let high = (pair[0] as char).to_digit(16)?;
                    let low = (pair[1] as char).to_digit(16)?;
                    u8::try_from(high * 16 + low).ok()
                });
                let Some(byte) = hex else {
                    return Err(malformed(format!(
                        "invalid percent escape at byte {index} of {encoded:?}"
                    )));
                };
                decoded.push(byte);
                index += 3;
            }
            other => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded)
        .map_err(|_| malformed(format!("{encoded:?} does not decode to valid UTF-8")))
}
