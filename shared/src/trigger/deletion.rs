//! Deletion notices: what S3 says about an object that was deleted, in either shape it says it.
//!
//! - EventBridge `Object Deleted` (S3 User Guide, "EventBridge event message structure",
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>): `detail.bucket.name`,
//!   `detail.object.key` (not URL-encoded), `detail.object.version-id`, `detail.object.sequencer`,
//!   `detail.request-id`, `detail.requester` ("AWS account ID or AWS service principal of
//!   requester"), `detail.source-ip-address` ("Only present for events triggered by an S3
//!   request"), `detail.reason` (`DeleteObject` or `Lifecycle Expiration`) and
//!   `detail.deletion-type` (`Permanently Deleted` or `Delete Marker Created`); the envelope's
//!   `time`. Deletion events carry no `size`.
//! - S3 event notification records (S3 User Guide, "Event message structure",
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>):
//!   `eventName` `ObjectRemoved:Delete` / `ObjectRemoved:DeleteMarkerCreated` (a request) and
//!   `LifecycleExpiration:Delete` / `LifecycleExpiration:DeleteMarkerCreated` (a lifecycle rule),
//!   `eventTime`, `userIdentity.principalId`, `requestParameters.sourceIPAddress`,
//!   `responseElements.x-amz-request-id`, `s3.bucket.name`, `s3.object.key` (form-URL-encoded),
//!   `s3.object.versionId`, `s3.object.sequencer`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{TriggerError, decode_s3_key};

/// What a deletion did to the object, as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DeletionType {
    /// The object (unversioned bucket) or one version of it (versioned bucket) is gone for good:
    /// EventBridge `Permanently Deleted`, S3 notification `…:Delete`.
    PermanentlyDeleted,
    /// A delete marker now hides the object; the earlier version still exists as a noncurrent
    /// version: EventBridge `Delete Marker Created`, S3 notification `…:DeleteMarkerCreated`.
    DeleteMarkerCreated,
    /// A value S3 did not document when this was written, kept as sent (or empty when the event
    /// had none): still a deletion, never dropped.
    Other(String),
}

impl DeletionType {
    /// The EventBridge spelling (`Permanently Deleted`, `Delete Marker Created`), or the raw value.
    pub fn as_str(&self) -> &str {
        match self {
            DeletionType::PermanentlyDeleted => "Permanently Deleted",
            DeletionType::DeleteMarkerCreated => "Delete Marker Created",
            DeletionType::Other(text) => text,
        }
    }

    fn from_eventbridge(text: Option<&str>) -> Self {
        match text {
            Some("Permanently Deleted") => DeletionType::PermanentlyDeleted,
            Some("Delete Marker Created") => DeletionType::DeleteMarkerCreated,
            other => DeletionType::Other(other.unwrap_or_default().to_owned()),
        }
    }
}

/// One object S3 reports as deleted. Everything but bucket, key and type is what the event
/// carries, `None` when it does not (a lifecycle expiration has no source IP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionNotice {
    /// The bucket the object was in.
    pub bucket: String,
    /// The decoded key, exactly as S3 stores it.
    pub key: String,
    /// The version the event names: the deleted version (permanent deletion in a versioned
    /// bucket) or the delete marker's own version (delete marker created).
    pub version_id: Option<String>,
    /// Permanently deleted, or hidden behind a delete marker.
    pub deletion_type: DeletionType,
    /// Why: `DeleteObject` (an S3 request) or `Lifecycle Expiration` (a lifecycle rule).
    pub reason: Option<String>,
    /// Who: an account id, a principal id (`AWS:AIDA…`) or a service principal.
    pub requester: Option<String>,
    /// The request's source IP address (only for deletions made by a request).
    pub source_ip: Option<String>,
    /// The S3 request id.
    pub request_id: Option<String>,
    /// S3's ordering token for events on one key.
    pub sequencer: Option<String>,
    /// When S3 processed the deletion (ISO-8601, as the event says it).
    pub event_time: Option<String>,
    /// SQS message id when the notice came inside an SQS message; `None` otherwise.
    pub item_id: Option<String>,
}

fn malformed(shape: &'static str, detail: impl Into<String>) -> TriggerError {
    TriggerError::Malformed {
        shape,
        detail: detail.into(),
    }
}

/// A string field, `None` when absent, not a string or empty.
pub(super) fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn checked(shape: &'static str, notice: DeletionNotice) -> Result<DeletionNotice, TriggerError> {
    if notice.bucket.is_empty() {
        return Err(malformed(shape, "deletion with an empty bucket name"));
    }
    if notice.key.is_empty() {
        return Err(malformed(
            shape,
            format!("deletion of an empty key in bucket {:?}", notice.bucket),
        ));
    }
    Ok(notice)
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
struct EventBridgeObject {
    key: String,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// `detail` of an EventBridge `Object Deleted` event; `time` is the envelope's.
pub(super) fn from_eventbridge(
    detail: &Value,
    time: Option<&Value>,
) -> Result<DeletionNotice, TriggerError> {
    const SHAPE: &str = "EventBridge";
    let bucket = detail
        .get("bucket")
        .ok_or_else(|| malformed(SHAPE, "`Object Deleted` `detail` has no `bucket`"))?;
    let bucket = Bucket::deserialize(bucket)
        .map_err(|error| malformed(SHAPE, format!("`detail.bucket`: {error}")))?;
    let object = detail
        .get("object")
        .ok_or_else(|| malformed(SHAPE, "`Object Deleted` `detail` has no `object`"))?;
    let object = EventBridgeObject::deserialize(object)
        .map_err(|error| malformed(SHAPE, format!("`detail.object`: {error}")))?;
    checked(
        SHAPE,
        DeletionNotice {
            bucket: bucket.name,
            key: object.key,
            version_id: object.version_id.filter(|v| !v.is_empty()),
            deletion_type: DeletionType::from_eventbridge(
                detail.get("deletion-type").and_then(Value::as_str),
            ),
            reason: text(detail.get("reason")),
            requester: text(detail.get("requester")),
            source_ip: text(detail.get("source-ip-address")),
            request_id: text(detail.get("request-id")),
            sequencer: object.sequencer.filter(|v| !v.is_empty()),
            event_time: text(time),
            item_id: None,
        },
    )
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// The deletion an S3 notification `eventName` (without `s3:`) stands for, with its reason in
/// EventBridge's words; `None` when the event is not a deletion.
pub(super) fn s3_event_deletion(name: &str) -> Option<(DeletionType, &'static str)> {
    let (reason, kind) = if let Some(kind) = name.strip_prefix("ObjectRemoved:") {
        ("DeleteObject", kind)
    } else if let Some(kind) = name.strip_prefix("LifecycleExpiration:") {
        ("Lifecycle Expiration", kind)
    } else {
        return None;
    };
    let deletion_type = match kind {
        "Delete" => DeletionType::PermanentlyDeleted,
        "DeleteMarkerCreated" => DeletionType::DeleteMarkerCreated,
        other => DeletionType::Other(other.to_owned()),
    };
    Some((deletion_type, reason))
}

/// One S3 notification record whose `eventName` is a deletion (see [`s3_event_deletion`]).
pub(super) fn from_s3_record(
    record: &Value,
    index: usize,
    deletion_type: DeletionType,
    reason: &str,
) -> Result<DeletionNotice, TriggerError> {
    const SHAPE: &str = "S3 event";
    let entity = record
        .get("s3")
        .ok_or_else(|| malformed(SHAPE, format!("record {index} has no `s3` entity")))?;
    let entity = S3Entity::deserialize(entity)
        .map_err(|error| malformed(SHAPE, format!("record {index}: `s3`: {error}")))?;
    let key = decode_s3_key(&entity.object.key)
        .map_err(|error| malformed(SHAPE, format!("record {index}: {error}")))?;
    checked(
        SHAPE,
        DeletionNotice {
            bucket: entity.bucket.name,
            key,
            version_id: entity.object.version_id.filter(|v| !v.is_empty()),
            deletion_type,
            reason: Some(reason.to_owned()),
            requester: text(record.pointer("/userIdentity/principalId")),
            source_ip: text(record.pointer("/requestParameters/sourceIPAddress")),
            request_id: text(record.pointer("/responseElements/x-amz-request-id")),
            sequencer: entity.object.sequencer.filter(|v| !v.is_empty()),
            event_time: text(record.get("eventTime")),
            item_id: None,
        },
    )
}
