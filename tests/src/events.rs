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
