//! Trigger payloads as AWS sends them.

use serde_json::{Value, json};

/// An S3 event notification for `encoded_keys` (form-URL-encoded, as S3 sends them).
pub fn s3_put(bucket: &str, encoded_keys: &[&str]) -> Value {
    let records: Vec<Value> = encoded_keys
        .iter()
        .map(|k| {
            json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2024-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:cloudtrail"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "r", "x-amz-id-2": "i"},
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailwatch",
                       "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A"},
                                  "arn": format!("arn:aws:s3:::{bucket}")},
                       "object": {"key": k, "size": 1, "eTag": "e", "sequencer": "0A"}}
            })
        })
        .collect();
    json!({ "Records": records })
}

/// An EventBridge "Object Created" event (keys are not encoded).
pub fn eventbridge_object_created(bucket: &str, key: &str) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2024-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1, "etag": "e", "sequencer": "0A"},
                   "request-id": "r", "requester": "cloudtrail.amazonaws.com",
                   "source-ip-address": "127.0.0.1", "reason": "PutObject"}
    })
}

/// The EventBridge "Object Created" event of a versioned bucket: it names the version written,
/// which the functions read (and S3 authorizes as `s3:GetObjectVersion`).
pub fn eventbridge_object_version_created(bucket: &str, key: &str, version_id: &str) -> Value {
    let mut event = eventbridge_object_created(bucket, key);
    event["detail"]["object"]["version-id"] = json!(version_id);
    event
}

/// An EventBridge "Object Deleted" event, shaped as the S3 User Guide's DeleteObject example
/// (ev-events.html): no `size`; `version-id` only in a versioned bucket; `deletion-type` is
/// `Permanently Deleted` or `Delete Marker Created`.
pub fn eventbridge_object_deleted(
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    deletion_type: &str,
) -> Value {
    let mut object = json!({"key": key, "etag": "d41d8cd98f00b204e9800998ecf8427e",
                            "sequencer": "617f0837b476e463"});
    if let Some(version_id) = version_id {
        object["version-id"] = json!(version_id);
    }
    json!({
        "version": "0", "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
        "detail-type": "Object Deleted", "source": "aws.s3", "account": "123456789012",
        "time": "2024-01-02T04:10:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": object,
                   "request-id": "0BH729840619AG5K", "requester": "123456789012",
                   "source-ip-address": "203.0.113.9", "reason": "DeleteObject",
                   "deletion-type": deletion_type}
    })
}

/// A key as S3 Batch Operations puts it in a task's `s3Key`: URL-encoded, `/` kept.
pub fn batch_url_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One task of an S3 Batch Operations (schema 2.0) invocation, for the latest version of `key`.
pub fn batch_task(task_id: &str, bucket: &str, key: &str) -> Value {
    json!({"taskId": task_id, "s3Bucket": bucket,
        "s3Key": batch_url_encode(key), "s3VersionId": null})
}

#[cfg(test)]
mod tests {
    //! The payloads above are the shapes AWS delivers: `aws_lambda_events`' typed models read
    //! them, so a fixture that drifted (a renamed field, a missing required one) fails here.

    use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    use aws_lambda_events::event::s3::S3Event;

    use super::*;

    #[test]
    fn the_s3_notification_is_an_s3_event() {
        let event: S3Event =
            serde_json::from_value(s3_put("trail", &["AWSLogs/a+b%2Bc.json.gz"])).unwrap();
        let object = &event.records[0].s3.object;
        assert_eq!(object.key.as_deref(), Some("AWSLogs/a+b%2Bc.json.gz"));
        assert_eq!(
            event.records[0].event_name.as_deref(),
            Some("ObjectCreated:Put")
        );
        assert_eq!(event.records[0].s3.bucket.name.as_deref(), Some("trail"));
    }

    #[test]
    fn the_eventbridge_events_are_eventbridge_events_with_the_s3_detail() {
        let event: EventBridgeEvent =
            serde_json::from_value(eventbridge_object_version_created("trail", "k", "v1")).unwrap();
        assert_eq!(event.detail_type, "Object Created");
        assert_eq!(event.source, "aws.s3");
        assert_eq!(event.detail["object"]["key"], "k");
        assert_eq!(event.detail["object"]["version-id"], "v1");
        assert_eq!(event.detail["bucket"]["name"], "trail");

        let event: EventBridgeEvent = serde_json::from_value(eventbridge_object_deleted(
            "trail",
            "k",
            Some("dm"),
            "Delete Marker Created",
        ))
        .unwrap();
        assert_eq!(event.detail_type, "Object Deleted");
        assert_eq!(event.source, "aws.s3");
        assert_eq!(event.detail["object"]["key"], "k");
        assert_eq!(event.detail["object"]["version-id"], "dm");
        assert!(event.detail["object"].get("size").is_none());
        assert_eq!(event.detail["deletion-type"], "Delete Marker Created");
        assert_eq!(event.detail["source-ip-address"], "203.0.113.9");
    }
}
