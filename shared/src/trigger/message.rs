//! The messages that reach a function directly or inside an SNS / SQS wrapper: S3 event
//! notifications, EventBridge S3 events, CloudTrail delivery notifications and `s3:TestEvent`.

use serde::Deserialize;
use serde_json::Value;

use super::deletion::{self, DeletionNotice};
use super::{ObjectRef, TriggerError, decode_s3_key};

/// Where a message stands; only an SQS body may be an SNS envelope (SNS→SQS without raw delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WrapperDepth {
    Outermost,
    InsideSns,
    InsideSqs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MessageShape {
    S3Event,
    EventBridge,
    CloudTrailNotification,
    TestEvent,
    /// An SNS envelope that is not a `Notification` (e.g. `SubscriptionConfirmation`).
    SnsControl,
}

#[derive(Debug)]
pub(super) struct Decoded {
    pub(super) shape: MessageShape,
    pub(super) objects: Vec<ObjectRef>,
    /// Objects reported deleted (never work).
    pub(super) deletions: Vec<DeletionNotice>,
    /// Records / messages that carried no object to process and no deletion.
    pub(super) ignored: usize,
}

pub(super) fn decode(value: &Value, depth: WrapperDepth) -> Result<Decoded, TriggerError> {
    let Some(object) = value.as_object() else {
        return Err(TriggerError::Unrecognised(format!(
            "expected a JSON object, got {}",
            json_kind(value)
        )));
    };
    if let Some(records) = object.get("Records") {
        return decode_wrapped_s3_event(records);
    }
    if object.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Decoded {
            shape: MessageShape::TestEvent,
            objects: Vec::new(),
            deletions: Vec::new(),
            ignored: 1,
        });
    }
    if object.contains_key("s3ObjectKey") {
        return decode_cloudtrail_notification(value);
    }
    if object.contains_key("detail-type") {
        return decode_eventbridge(value);
    }
    if depth == WrapperDepth::InsideSqs && object.contains_key("TopicArn") {
        return decode_sns_envelope(value);
    }
    let mut fields: Vec<&str> = object.keys().map(String::as_str).take(12).collect();
    if object.len() > fields.len() {
        fields.push("…");
    }
    Err(TriggerError::Unrecognised(format!(
        "no known trigger shape has the fields [{}]",
        fields.join(", ")
    )))
}

/// A short name for a JSON value's type, for error messages.
pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn malformed(shape: &'static str, detail: impl Into<String>) -> TriggerError {
    TriggerError::Malformed {
        shape,
        detail: detail.into(),
    }
}

/// An S3 event notification inside SNS or SQS: every record must come from S3.
fn decode_wrapped_s3_event(records: &Value) -> Result<Decoded, TriggerError> {
    let records = records.as_array().ok_or_else(|| {
        malformed(
            "S3 event",
            format!("`Records` must be an array, got {}", json_kind(records)),
        )
    })?;
    if records.is_empty() {
        return Err(malformed("S3 event", "`Records` is empty"));
    }
    for (index, record) in records.iter().enumerate() {
        let source = record.get("eventSource").and_then(Value::as_str);
        if source != Some("aws:s3") {
            return Err(TriggerError::Unrecognised(format!(
                "wrapped record {index} has event source {source:?}, expected \"aws:s3\""
            )));
        }
    }
    decode_s3_records(records)
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    size: Option<u64>,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
}

/// S3 event records (already known to come from S3). Only `ObjectCreated:*` gives work;
/// `ObjectRemoved:*` and `LifecycleExpiration:*` give deletion notices.
pub(super) fn decode_s3_records(records: &[Value]) -> Result<Decoded, TriggerError> {
    let mut objects = Vec::with_capacity(records.len());
    let mut deletions = Vec::new();
    let mut ignored = 0;
    for (index, record) in records.iter().enumerate() {
        let name = record
            .get("eventName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                malformed(
                    "S3 event",
                    format!("record {index} has no string `eventName`"),
                )
            })?;
        // AWS writes `ObjectCreated:Put`; the `s3:` form is what notification filters use.
        let name = name.strip_prefix("s3:").unwrap_or(name);
        if let Some((deletion_type, reason)) = deletion::s3_event_deletion(name) {
            deletions.push(deletion::from_s3_record(
                record,
                index,
                deletion_type,
                reason,
            )?);
            continue;
        }
        if !name.starts_with("ObjectCreated:") {
            ignored += 1;
            continue;
        }
        let entity = record
            .get("s3")
            .ok_or_else(|| malformed("S3 event", format!("record {index} has no `s3` entity")))?;
        let entity = S3Entity::deserialize(entity)
            .map_err(|error| malformed("S3 event", format!("record {index}: `s3`: {error}")))?;
        let key = decode_s3_key(&entity.object.key)
            .map_err(|error| malformed("S3 event", format!("record {index}: {error}")))?;
        let mut object = object_ref(
            "S3 event",
            entity.bucket.name,
            key,
            entity.object.size,
            entity.object.version_id,
        )?;
        object.requester = deletion::text(record.pointer("/userIdentity/principalId"));
        object.source_ip = deletion::text(record.pointer("/requestParameters/sourceIPAddress"));
        object.etag = etag(record.pointer("/s3/object/eTag"));
        objects.push(object);
    }
    Ok(Decoded {
        shape: MessageShape::S3Event,
        objects,
        deletions,
        ignored,
    })
}

/// An ETag as S3 events write it (`"…"` quotes stripped); absent or empty is `None`.
fn etag(value: Option<&Value>) -> Option<String> {
    deletion::text(value)
        .map(|e| e.trim_matches('"').to_owned())
        .filter(|e| !e.is_empty())
}

/// Builds an [`ObjectRef`], refusing what no S3 API call could use.
fn object_ref(
    shape: &'static str,
    bucket: String,
    key: String,
    size: Option<u64>,
    version_id: Option<String>,
) -> Result<ObjectRef, TriggerError> {
    if bucket.is_empty() {
        return Err(malformed(shape, "empty bucket name"));
    }
    if key.is_empty() {
        return Err(malformed(
            shape,
            format!("empty object key in bucket {bucket:?}"),
        ));
    }
    // Some producers write `""` for an unversioned object; S3 would reject it as a version id.
    let version_id = version_id.filter(|id| !id.is_empty());
    Ok(ObjectRef {
        bucket,
        key,
        size,
        version_id,
        requester: None,
        source_ip: None,
        etag: None,
    })
}

#[derive(Deserialize)]
struct CloudTrailNotification {
    #[serde(rename = "s3Bucket")]
    bucket: String,
    #[serde(rename = "s3ObjectKey")]
    keys: Vec<String>,
}

/// CloudTrail's own SNS notification: `{"s3Bucket":"b","s3ObjectKey":["k", …]}`; keys plain.
fn decode_cloudtrail_notification(value: &Value) -> Result<Decoded, TriggerError> {
    const SHAPE: &str = "CloudTrail notification";
    let notification = CloudTrailNotification::deserialize(value)
        .map_err(|error| malformed(SHAPE, error.to_string()))?;
    let ignored = usize::from(notification.keys.is_empty());
    let objects = notification
        .keys
        .into_iter()
        .map(|key| object_ref(SHAPE, notification.bucket.clone(), key, None, None))
        .collect::<Result<_, _>>()?;
    Ok(Decoded {
        shape: MessageShape::CloudTrailNotification,
        objects,
        deletions: Vec::new(),
        ignored,
    })
}

#[derive(Deserialize)]
struct EventBridgeEvent {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Option<Value>,
    time: Option<Value>,
}

#[derive(Deserialize)]
struct EventBridgeS3Detail {
    bucket: S3Bucket,
    object: EventBridgeS3Object,
}

#[derive(Deserialize)]
struct EventBridgeS3Object {
    key: String,
    size: Option<u64>,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
}

/// EventBridge S3 event: `Object Created` gives work, `Object Deleted` a deletion notice; keys
/// are not URL-encoded.
fn decode_eventbridge(value: &Value) -> Result<Decoded, TriggerError> {
    const SHAPE: &str = "EventBridge";
    let event = EventBridgeEvent::deserialize(value)
        .map_err(|error| malformed(SHAPE, error.to_string()))?;
    if event.source != "aws.s3" {
        return Err(TriggerError::Unrecognised(format!(
            "EventBridge event from source {:?} (detail-type {:?}), expected \"aws.s3\"",
            event.source, event.detail_type
        )));
    }
    if event.detail_type == "Object Deleted" {
        let detail = event
            .detail
            .ok_or_else(|| malformed(SHAPE, "`Object Deleted` without `detail`"))?;
        return Ok(Decoded {
            shape: MessageShape::EventBridge,
            objects: Vec::new(),
            deletions: vec![deletion::from_eventbridge(&detail, event.time.as_ref())?],
            ignored: 0,
        });
    }
    if event.detail_type != "Object Created" {
        return Ok(Decoded {
            shape: MessageShape::EventBridge,
            objects: Vec::new(),
            deletions: Vec::new(),
            ignored: 1,
        });
    }
    let detail = event
        .detail
        .ok_or_else(|| malformed(SHAPE, "`Object Created` without `detail`"))?;
    let requester = deletion::text(detail.get("requester"));
    let source_ip = deletion::text(detail.get("source-ip-address"));
    let object_etag = etag(detail.pointer("/object/etag"));
    let detail = EventBridgeS3Detail::deserialize(&detail)
        .map_err(|error| malformed(SHAPE, format!("`detail`: {error}")))?;
    let mut object = object_ref(
        SHAPE,
        detail.bucket.name,
        detail.object.key,
        detail.object.size,
        detail.object.version_id,
    )?;
    object.requester = requester;
    object.source_ip = source_ip;
    object.etag = object_etag;
    Ok(Decoded {
        shape: MessageShape::EventBridge,
        objects: vec![object],
        deletions: Vec::new(),
        ignored: 0,
    })
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: Option<String>,
}

/// SNS→SQS without raw message delivery: the body is SNS's JSON envelope around the message.
fn decode_sns_envelope(value: &Value) -> Result<Decoded, TriggerError> {
    const SHAPE: &str = "SNS envelope";
    let envelope =
        SnsEnvelope::deserialize(value).map_err(|error| malformed(SHAPE, error.to_string()))?;
    if envelope.kind != "Notification" {
        // SubscriptionConfirmation / UnsubscribeConfirmation: nothing to process.
        return Ok(Decoded {
            shape: MessageShape::SnsControl,
            objects: Vec::new(),
            deletions: Vec::new(),
            ignored: 1,
        });
    }
    let text = envelope
        .message
        .ok_or_else(|| malformed(SHAPE, "`Notification` without a string `Message`"))?;
    let inner: Value = serde_json::from_str(&text)
        .map_err(|error| malformed(SHAPE, format!("`Message` is not JSON: {error}")))?;
    decode(&inner, WrapperDepth::InsideSns)
}
