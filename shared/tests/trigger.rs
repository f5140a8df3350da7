//! Trigger intake over one fixture per payload shape (`tests/fixtures/triggers/`), plus the error
//! paths: every malformed payload is an error or a failed message, never a panic.

use serde_json::{Value, json};
use trailwatch_shared::layout::{self, ObjectKind};
use trailwatch_shared::trigger::{
    DeletionNotice, DeletionType, FailedMessage, ObjectRef, Trigger, TriggerError, TriggerSource,
    WorkItem, decode, decode_s3_key,
};

const BUCKET: &str = "aws-cloudtrail-logs-123456789012-5f0c2a9e";
/// Spaces and non-ASCII in the prefix; form-URL-encoded in S3 / SNS / SQS / Batch payloads.
const KEY_UNICODE: &str = "My Trail Ünïcode/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/01/02/123456789012_CloudTrail_eu-west-1_20240102T0304Z_0123456789abcdef.json.gz";
/// A literal `+` (encoded `%2B`) next to a space (encoded `+`), organization trail.
const KEY_PLUS: &str = "logs/c++ trail/AWSLogs/o-aa11bb22cc/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0310Z_ABCDEFGH12345678.json.gz";
const KEY_1: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0305Z_aaaaaaaaaaaaaaaa.json.gz";
const KEY_2: &str = "AWSLogs/123456789012/CloudTrail/us-west-2/2024/01/02/123456789012_CloudTrail_us-west-2_20240102T0305Z_bbbbbbbbbbbbbbbb.json.gz";
const KEY_DIGEST: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240102T030405Z.json.gz";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/triggers/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode_fixture(name: &str) -> Trigger {
    decode(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The ETag every S3 and EventBridge fixture carries (an empty object's MD5).
const FIXTURE_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

fn object(key: &str, size: Option<u64>, version_id: Option<&str>) -> ObjectRef {
    ObjectRef {
        bucket: BUCKET.into(),
        key: key.into(),
        size,
        version_id: version_id.map(str::to_owned),
        requester: None,
        source_ip: None,
        etag: None,
    }
}

/// `object` as an S3 notification fixture reports its writer (`userIdentity.principalId`,
/// `requestParameters.sourceIPAddress`).
fn s3_written(object: ObjectRef) -> ObjectRef {
    ObjectRef {
        requester: Some("AWS:AROAEXAMPLEROLEID:regionalDeliverySession".into()),
        source_ip: Some("10.0.0.1".into()),
        etag: Some(FIXTURE_ETAG.into()),
        ..object
    }
}

/// `object` as an EventBridge fixture reports its writer (`detail.requester`,
/// `detail.source-ip-address`).
fn eb_written(object: ObjectRef) -> ObjectRef {
    ObjectRef {
        requester: Some("cloudtrail.amazonaws.com".into()),
        source_ip: Some("10.0.0.1".into()),
        etag: Some(FIXTURE_ETAG.into()),
        ..object
    }
}

fn item(object: ObjectRef, item_id: Option<&str>) -> WorkItem {
    WorkItem {
        object,
        item_id: item_id.map(str::to_owned),
    }
}

fn expect_error(payload: &Value) -> TriggerError {
    match decode(payload) {
        Ok(trigger) => panic!("expected an error for {payload}, got {trigger:?}"),
        Err(error) => error,
    }
}

#[test]
fn s3_notification_single_record_with_space_and_unicode_key() {
    let trigger = decode_fixture("s3-notification-single.json");
    assert_eq!(
        trigger,
        Trigger {
            source: TriggerSource::S3Notification,
            items: vec![item(
                s3_written(object(
                    KEY_UNICODE,
                    Some(1234),
                    Some("3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")
                )),
                None
            )],
            deletions: vec![],
            ignored_messages: 0,
            failed_messages: vec![],
        }
    );
    // The decoded key is a CloudTrail log file key again.
    let ObjectKind::LogFile(log) = layout::classify(&trigger.items[0].object.key) else {
        panic!("decoded key does not classify as a log file");
    };
    assert_eq!(log.location.prefix.as_deref(), Some("My Trail Ünïcode"));
}

#[test]
fn s3_notification_multi_record_keeps_created_and_reports_removed() {
    let trigger = decode_fixture("s3-notification-multi.json");
    assert_eq!(trigger.source, TriggerSource::S3Notification);
    assert_eq!(
        trigger.items,
        vec![
            item(s3_written(object(KEY_1, Some(2048), None)), None),
            item(
                s3_written(object(KEY_PLUS, Some(9_000_000_000), None)),
                None
            ),
            item(s3_written(object(KEY_DIGEST, Some(987), None)), None),
        ]
    );
    assert_eq!(
        trigger.deletions,
        vec![DeletionNotice {
            bucket: BUCKET.into(),
            key: KEY_2.into(),
            version_id: None,
            deletion_type: DeletionType::PermanentlyDeleted,
            reason: Some("DeleteObject".into()),
            requester: Some("AWS:AROAEXAMPLEROLEID:regionalDeliverySession".into()),
            source_ip: Some("10.0.0.1".into()),
            request_id: Some("C3D13FE58DE4C810".into()),
            sequencer: Some("0065938A1B2C3D4E5F".into()),
            event_time: Some("2024-01-02T03:05:17.123Z".into()),
            item_id: None,
        }],
        "the ObjectRemoved:Delete record is a deletion, not work"
    );
    assert_eq!(trigger.ignored_messages, 0);
}

#[test]
fn s3_test_event_is_acknowledged_with_nothing_to_do() {
    let trigger = decode_fixture("s3-test-event.json");
    assert_eq!(trigger.source, TriggerSource::TestEvent);
    assert!(trigger.items.is_empty());
    assert_eq!(trigger.ignored_messages, 1);
}

#[test]
fn eventbridge_object_created_key_is_not_url_decoded() {
    let trigger = decode_fixture("eventbridge-object-created.json");
    assert_eq!(
        trigger,
        Trigger {
            source: TriggerSource::EventBridge,
            items: vec![item(
                eb_written(object(
                    KEY_UNICODE,
                    Some(1234),
                    Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
                )),
                None
            )],
            deletions: vec![],
            ignored_messages: 0,
            failed_messages: vec![],
        }
    );
    // A raw `+` in an EventBridge key stays a `+`.
    let mut payload = fixture("eventbridge-object-created.json");
    payload["detail"]["object"]["key"] = json!("a+b%20c.json.gz");
    assert_eq!(
        decode(&payload).unwrap().items[0].object.key,
        "a+b%20c.json.gz"
    );
}

#[test]
fn eventbridge_object_deleted_is_a_deletion_notice_not_work() {
    // The S3 User Guide's DeleteObject example (ev-events.html), on a digest key.
    let trigger = decode_fixture("eventbridge-object-deleted-marker.json");
    assert_eq!(trigger.source, TriggerSource::EventBridge);
    assert!(trigger.items.is_empty());
    assert_eq!(trigger.ignored_messages, 0);
    assert_eq!(
        trigger.deletions,
        vec![DeletionNotice {
            bucket: BUCKET.into(),
            key: KEY_DIGEST.into(),
            version_id: Some("1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF".into()),
            deletion_type: DeletionType::DeleteMarkerCreated,
            reason: Some("DeleteObject".into()),
            requester: Some("123456789012".into()),
            source_ip: Some("1.2.3.4".into()),
            request_id: Some("0BH729840619AG5K".into()),
            sequencer: Some("617f0837b476e463".into()),
            event_time: Some("2024-01-02T04:10:00Z".into()),
            item_id: None,
        }]
    );

    // An unversioned bucket: permanently deleted, no version.
    let trigger = decode_fixture("eventbridge-object-deleted.json");
    assert_eq!(trigger.deletions.len(), 1);
    let notice = &trigger.deletions[0];
    assert_eq!(notice.key, KEY_1);
    assert_eq!(notice.deletion_type, DeletionType::PermanentlyDeleted);
    assert_eq!(notice.version_id, None);
    assert_eq!(
        notice.requester.as_deref(),
        Some("cloudtrail.amazonaws.com")
    );

    // A lifecycle expiration (the guide's second example): no source IP; the key stays raw.
    let mut payload = fixture("eventbridge-object-deleted-marker.json");
    let detail = payload["detail"].as_object_mut().unwrap();
    detail.remove("source-ip-address");
    detail.insert("requester".into(), json!("s3.amazonaws.com"));
    detail.insert("reason".into(), json!("Lifecycle Expiration"));
    detail.insert("deletion-type".into(), json!("Permanently Deleted"));
    payload["detail"]["object"]["key"] = json!("a+b%20c");
    let notice = decode(&payload).unwrap().deletions.remove(0);
    assert_eq!(notice.key, "a+b%20c");
    assert_eq!(notice.source_ip, None);
    assert_eq!(notice.reason.as_deref(), Some("Lifecycle Expiration"));
    assert_eq!(notice.deletion_type, DeletionType::PermanentlyDeleted);

    // An undocumented deletion type is still a deletion, kept as sent.
    payload["detail"]["deletion-type"] = json!("Something New");
    let notice = decode(&payload).unwrap().deletions.remove(0);
    assert_eq!(
        notice.deletion_type,
        DeletionType::Other("Something New".into())
    );

    // Without a key there is nothing to name: malformed, not silently ignored.
    payload["detail"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("key");
    assert!(matches!(
        expect_error(&payload),
        TriggerError::Malformed { .. }
    ));
}

#[test]
fn s3_notification_removal_and_expiry_records_are_deletions() {
    let record = |name: &str, key: &str, version: Option<&str>| {
        let mut object = json!({"key": key, "eTag": "e", "sequencer": "0A"});
        if let Some(v) = version {
            object["versionId"] = json!(v);
        }
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2024-01-02T05:00:00.000Z", "eventName": name,
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "198.51.100.7"},
            "responseElements": {"x-amz-request-id": "R1", "x-amz-id-2": "i"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
                   "object": object}
        })
    };
    let payload = json!({"Records": [
        record("ObjectRemoved:DeleteMarkerCreated", "My+Trail+%C3%9Cn%C3%AFcode/x", Some("dm1")),
        record("ObjectRemoved:Delete", "k", Some("v1")),
        record("LifecycleExpiration:Delete", "k2", None),
        record("ObjectCreated:Put", "k3", None),
        record("ObjectRestore:Completed", "k4", None),
    ]});
    let trigger = decode(&payload).unwrap();
    assert_eq!(trigger.items.len(), 1);
    assert_eq!(trigger.ignored_messages, 1, "the restore record");
    let got: Vec<(&str, Option<&str>, &DeletionType, Option<&str>)> = trigger
        .deletions
        .iter()
        .map(|d| {
            (
                d.key.as_str(),
                d.version_id.as_deref(),
                &d.deletion_type,
                d.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "My Trail Ünïcode/x",
                Some("dm1"),
                &DeletionType::DeleteMarkerCreated,
                Some("DeleteObject")
            ),
            (
                "k",
                Some("v1"),
                &DeletionType::PermanentlyDeleted,
                Some("DeleteObject")
            ),
            (
                "k2",
                None,
                &DeletionType::PermanentlyDeleted,
                Some("Lifecycle Expiration")
            ),
        ]
    );
    let first = &trigger.deletions[0];
    assert_eq!(first.requester.as_deref(), Some("AWS:AIDAEXAMPLE"));
    assert_eq!(first.source_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(first.request_id.as_deref(), Some("R1"));
    assert_eq!(
        first.event_time.as_deref(),
        Some("2024-01-02T05:00:00.000Z")
    );
}

#[test]
fn sns_wrapped_s3_event() {
    let trigger = decode_fixture("sns-s3-event.json");
    assert_eq!(trigger.source, TriggerSource::Sns);
    assert_eq!(
        trigger.items,
        vec![item(
            s3_written(object(KEY_UNICODE, Some(1234), None)),
            None
        )]
    );
}

#[test]
fn sns_cloudtrail_delivery_notification_keys_are_plain() {
    let trigger = decode_fixture("sns-cloudtrail-notification.json");
    assert_eq!(trigger.source, TriggerSource::CloudTrailSnsNotification);
    assert_eq!(
        trigger.items,
        vec![
            item(object(KEY_1, None, None), None),
            item(object(KEY_2, None, None), None)
        ]
    );
}

#[test]
fn sns_wrapped_test_event() {
    let trigger = decode_fixture("sns-s3-test-event.json");
    assert_eq!(trigger.source, TriggerSource::TestEvent);
    assert!(trigger.items.is_empty());
    assert_eq!(trigger.ignored_messages, 1);
}

#[test]
fn sqs_batch_of_every_wrapped_shape() {
    let trigger = decode_fixture("sqs-batch.json");
    assert_eq!(trigger.source, TriggerSource::Sqs);
    assert_eq!(
        trigger.items,
        vec![
            // raw S3 event body
            item(
                s3_written(object(KEY_UNICODE, Some(1234), None)),
                Some("059f36b4-87a3-44ab-83d2-661975830a7d")
            ),
            // SNS envelope around an S3 event (its ObjectRemoved record is a deletion)
            item(
                s3_written(object(KEY_1, Some(2048), None)),
                Some("2e1424d4-f796-459a-8184-9c92662be6da")
            ),
            // EventBridge event: the key is not encoded
            item(
                eb_written(object(KEY_PLUS, Some(555), None)),
                Some("8f0c4e1a-4b9f-4a44-9d4e-3c2a1b0f9e8d")
            ),
            // CloudTrail notification inside an SNS envelope
            item(
                object(KEY_1, None, None),
                Some("c0ffee00-1111-4222-8333-444455556666")
            ),
            item(
                object(KEY_2, None, None),
                Some("c0ffee00-1111-4222-8333-444455556666")
            ),
            // CloudTrail notification with raw delivery
            item(
                object(KEY_1, None, None),
                Some("e1e2e3e4-0000-4000-8000-000000000005")
            ),
            item(
                object(KEY_2, None, None),
                Some("e1e2e3e4-0000-4000-8000-000000000005")
            ),
        ]
    );
    // Raw test event + enveloped test event.
    assert_eq!(trigger.ignored_messages, 2);
    // The ObjectRemoved:DeleteMarkerCreated record, answerable by its SQS message.
    assert_eq!(trigger.deletions.len(), 1);
    assert_eq!(trigger.deletions[0].key, KEY_2);
    assert_eq!(
        trigger.deletions[0].deletion_type,
        DeletionType::DeleteMarkerCreated
    );
    assert_eq!(
        trigger.deletions[0].item_id.as_deref(),
        Some("2e1424d4-f796-459a-8184-9c92662be6da")
    );
    assert!(trigger.failed_messages.is_empty());
}

#[test]
fn sqs_poison_messages_fail_alone() {
    let trigger = decode_fixture("sqs-poison.json");
    assert_eq!(trigger.source, TriggerSource::Sqs);
    assert_eq!(
        trigger.items,
        vec![item(
            s3_written(object(KEY_1, Some(2048), None)),
            Some("aaaaaaaa-0000-4000-8000-000000000001")
        )]
    );
    let ids: Vec<&str> = trigger
        .failed_messages
        .iter()
        .map(|f| f.item_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "bbbbbbbb-0000-4000-8000-000000000002",
            "cccccccc-0000-4000-8000-000000000003",
            "dddddddd-0000-4000-8000-000000000004"
        ]
    );
    let reasons: Vec<&str> = trigger
        .failed_messages
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert!(reasons[0].contains("not JSON"), "{}", reasons[0]);
    assert!(
        reasons[1].contains("hello"),
        "names the fields it saw: {}",
        reasons[1]
    );
    assert!(reasons[2].contains("percent escape"), "{}", reasons[2]);
}

#[test]
fn sqs_record_without_message_id_fails_the_batch() {
    let mut payload = fixture("sqs-poison.json");
    payload["Records"][1]
        .as_object_mut()
        .unwrap()
        .remove("messageId");
    let error = expect_error(&payload);
    assert!(error.to_string().contains("messageId"), "{error}");
}

#[test]
fn s3_batch_schema_1_0_decodes_the_key_and_bucket_arn() {
    let trigger = decode_fixture("s3-batch-v1.json");
    assert_eq!(
        trigger,
        Trigger {
            source: TriggerSource::S3Batch {
                invocation_id: "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo".into(),
                invocation_schema_version: "1.0".into(),
            },
            items: vec![item(
                object(KEY_UNICODE, None, Some("1")),
                Some("dGFza2lkZ29lc2hlcmUK")
            )],
            deletions: vec![],
            ignored_messages: 0,
            failed_messages: vec![],
        }
    );
}

#[test]
fn s3_batch_schema_2_0_uses_the_bucket_name() {
    let trigger = decode_fixture("s3-batch-v2.json");
    assert_eq!(
        trigger.source,
        TriggerSource::S3Batch {
            invocation_id: "Jr3s8KZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo".into(),
            invocation_schema_version: "2.0".into(),
        }
    );
    assert_eq!(
        trigger.items,
        vec![
            item(object(KEY_PLUS, None, None), Some("y5R3a2lkZ29lc2hlcmUK")),
            item(object(KEY_1, None, None), Some("z6S4b3mlaZ29lc2hlcmUK")),
        ]
    );
}

#[test]
fn s3_batch_errors() {
    let mut payload = fixture("s3-batch-v1.json");
    payload["invocationSchemaVersion"] = json!("3.0");
    assert!(expect_error(&payload).to_string().contains("3.0"));

    let mut payload = fixture("s3-batch-v1.json");
    payload["tasks"][0]["s3BucketArn"] = json!("not-an-arn");
    assert!(expect_error(&payload).to_string().contains("not-an-arn"));

    let mut payload = fixture("s3-batch-v1.json");
    payload["tasks"][0]
        .as_object_mut()
        .unwrap()
        .remove("s3BucketArn");
    assert!(expect_error(&payload).to_string().contains("s3BucketArn"));

    let mut payload = fixture("s3-batch-v1.json");
    payload["tasks"] = json!([]);
    assert!(expect_error(&payload).to_string().contains("empty"));
}

#[test]
fn s3_notification_errors_name_the_problem() {
    let mut payload = fixture("s3-notification-multi.json");
    payload["Records"][2]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("key");
    let error = expect_error(&payload).to_string();
    assert!(
        error.contains("record 2") && error.contains("key"),
        "{error}"
    );

    let mut payload = fixture("s3-notification-single.json");
    payload["Records"][0]["s3"]["object"]["key"] = json!("AWSLogs/%FF%FE.json.gz");
    let error = expect_error(&payload).to_string();
    assert!(error.contains("UTF-8"), "{error}");

    let mut payload = fixture("s3-notification-single.json");
    payload["Records"][0]["s3"]["object"]["size"] = json!("12");
    assert!(matches!(
        expect_error(&payload),
        TriggerError::Malformed { .. }
    ));

    let mut payload = fixture("s3-notification-single.json");
    payload["Records"][0]["s3"]["bucket"]["name"] = json!("");
    assert!(expect_error(&payload).to_string().contains("bucket"));
}

#[test]
fn mixed_or_unknown_records_are_rejected() {
    let mut payload = fixture("s3-notification-multi.json");
    payload["Records"][1]["eventSource"] = json!("aws:sqs");
    assert!(expect_error(&payload).to_string().contains("record 1"));

    let error = expect_error(&json!({"Records": [{"eventSource": "aws:kinesis"}]}));
    assert!(matches!(error, TriggerError::Unrecognised(_)), "{error}");
    assert!(error.to_string().contains("aws:kinesis"));

    assert!(matches!(
        expect_error(&json!({"Records": []})),
        TriggerError::Malformed { .. }
    ));
    assert!(matches!(
        expect_error(&json!({"Records": {}})),
        TriggerError::Malformed { .. }
    ));
}

#[test]
fn sns_errors() {
    let mut payload = fixture("sns-s3-event.json");
    payload["Records"][0]["Sns"]["Message"] = json!("{not json");
    assert!(expect_error(&payload).to_string().contains("not JSON"));

    let mut payload = fixture("sns-s3-event.json");
    payload["Records"][0]["Sns"]["Message"] = json!(42);
    assert!(expect_error(&payload).to_string().contains("Sns.Message"));

    // An SNS message may not be another SNS envelope: only SQS bodies carry envelopes.
    let mut payload = fixture("sns-s3-event.json");
    let envelope = payload["Records"][0]["Sns"].clone();
    payload["Records"][0]["Sns"]["Message"] = json!(envelope.to_string());
    assert!(matches!(
        expect_error(&payload),
        TriggerError::Unrecognised(_)
    ));
}

#[test]
fn eventbridge_errors() {
    let mut payload = fixture("eventbridge-object-created.json");
    payload["source"] = json!("aws.ec2");
    assert!(expect_error(&payload).to_string().contains("aws.ec2"));

    let mut payload = fixture("eventbridge-object-created.json");
    payload["detail"]["bucket"] = json!({});
    assert!(expect_error(&payload).to_string().contains("name"));
}

#[test]
fn cloudtrail_notification_at_top_level_and_errors() {
    let trigger = decode(&json!({"s3Bucket": BUCKET, "s3ObjectKey": [KEY_1]})).unwrap();
    assert_eq!(trigger.source, TriggerSource::CloudTrailSnsNotification);
    assert_eq!(trigger.items, vec![item(object(KEY_1, None, None), None)]);

    let error = expect_error(&json!({"s3Bucket": BUCKET, "s3ObjectKey": KEY_1}));
    assert!(matches!(error, TriggerError::Malformed { .. }), "{error}");
    assert!(
        expect_error(&json!({"s3Bucket": BUCKET, "s3ObjectKey": [""]}))
            .to_string()
            .contains("empty object key")
    );
}

#[test]
fn non_object_and_unknown_payloads() {
    for payload in [json!(null), json!([1, 2]), json!("s3"), json!(7)] {
        assert!(
            matches!(expect_error(&payload), TriggerError::Unrecognised(_)),
            "{payload}"
        );
    }
    let error = expect_error(&json!({"foo": 1, "bar": 2}));
    assert!(error.to_string().contains("foo"), "{error}");
}

#[test]
fn form_url_key_decoding() {
    assert_eq!(decode_s3_key("a+b").unwrap(), "a b");
    assert_eq!(decode_s3_key("a%2Bb").unwrap(), "a+b");
    assert_eq!(decode_s3_key("%C3%9Cn%C3%AFcode").unwrap(), "Ünïcode");
    assert_eq!(decode_s3_key("a%2fb%2Fc").unwrap(), "a/b/c");
    assert_eq!(decode_s3_key("already plain/ü").unwrap(), "already plain/ü");
    assert_eq!(decode_s3_key("%25").unwrap(), "%");
    for bad in ["%", "%2", "%zz", "a%g1", "%C3", "%FF", "%C3%28"] {
        assert!(decode_s3_key(bad).is_err(), "{bad:?} should not decode");
    }
}

#[test]
fn failed_message_is_comparable() {
    // A poison SQS message is reported, never dropped: the id is what batchItemFailures needs.
    let trigger = decode(&json!({"Records": [{
        "eventSource": "aws:sqs", "messageId": "m-1", "body": ""
    }]}))
    .unwrap();
    assert_eq!(trigger.items, vec![]);
    assert_eq!(trigger.failed_messages.len(), 1);
    let FailedMessage { item_id, .. } = &trigger.failed_messages[0];
    assert_eq!(item_id, "m-1");
}

mod properties {
    use proptest::prelude::*;
    use trailwatch_shared::trigger::{decode, decode_s3_key};

    /// S3's notification encoding: `/` kept, space as `+`, everything else outside
    /// `[A-Za-z0-9-_.*]` percent-encoded byte by byte.
    /// Form-URL decoding written independently of the crate's: `+` is a space, `%XY` a byte,
    /// anything else refused; `None` for a bad escape or non-UTF-8 bytes.
    fn oracle_decode(text: &str) -> Option<String> {
        let mut bytes = Vec::new();
        let mut chars = text.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '+' => bytes.push(b' '),
                '%' => {
                    let hex = text.get(at + 1..at + 3)?;
                    bytes.push(u8::from_str_radix(hex, 16).ok()?);
                    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    chars.next();
                    chars.next();
                }
                c => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        String::from_utf8(bytes).ok()
    }

    fn s3_encode(key: &str) -> String {
        let mut out = String::new();
        for byte in key.bytes() {
            match byte {
                b' ' => out.push('+'),
                b'/' | b'-' | b'_' | b'.' | b'*' => out.push(byte as char),
                b if b.is_ascii_alphanumeric() => out.push(b as char),
                b => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn encoded_keys_decode_to_themselves(key in "\\PC{1,64}") {
            prop_assert_eq!(decode_s3_key(&s3_encode(&key)).unwrap(), key);
        }

        /// Decoding is total and strict: it fails exactly when the text has a `%` not followed by
        /// two hex digits or decodes to bytes that are not UTF-8 (checked by a separate oracle),
        /// and what it decodes round-trips through S3's encoding.
        #[test]
        fn key_decoding_is_strict_and_round_trips(text in "[%+a-fA-F0-9zé]{0,16}") {
            match (decode_s3_key(&text), oracle_decode(&text)) {
                (Ok(key), Some(expected)) => {
                    prop_assert_eq!(&key, &expected);
                    prop_assert_eq!(decode_s3_key(&s3_encode(&key)).unwrap(), key);
                }
                (Err(_), None) => {}
                (got, want) => prop_assert!(false, "{text:?}: decoded {got:?}, oracle {want:?}"),
            }
        }

        #[test]
        fn sqs_bodies_never_panic(body in "\\PC{0,80}") {
            let payload = serde_json::json!({"Records": [
                {"eventSource": "aws:sqs", "messageId": "m", "body": body}
            ]});
            let trigger = decode(&payload).unwrap();
            // Every message is either work, a deletion, ignored, or failed: nothing disappears.
            prop_assert!(
                !trigger.items.is_empty()
                    || !trigger.deletions.is_empty()
                    || trigger.ignored_messages > 0
                    || trigger.failed_messages.len() == 1
            );
        }
    }
}
