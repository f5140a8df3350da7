use super::*;

/// 2024-03-01T12:00:00Z, the delivery time in the `OLD_*` keys.
const T_OLD: i64 = 1_709_294_400;
/// The first second at which a file delivered at `T_OLD` counts as expired.
const FIRST_EXPIRED: i64 = T_OLD + LOGS_WINDOW_SECS + EXPIRY_MARGIN_SECS + 1;

const BUCKET: &str = "trail-bucket";
const OLD_PLAIN: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20240301T1200Z_abcdefABCDEF0123.json.gz";
/// With a prefix (holding a space and a `+`, which S3 notifications encode) and an org id.
const OLD_ORG: &str = "my trail+x/AWSLogs/o-exampleorgid/123456789012/CloudTrail/eu-west-1/2024/03/01/123456789012_CloudTrail_eu-west-1_20240301T1200Z_0123456789abcdef.json.gz";
const OLD_INSIGHT: &str = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/03/01/123456789012_CloudTrail-Insight_us-east-1_20240301T1200Z_abcdefABCDEF0123.json.gz";
/// 2024-03-14T12:00Z: 13 days after `T_OLD`, current at `FIRST_EXPIRED`.
const NEW_PLAIN: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/14/123456789012_CloudTrail_us-east-1_20240314T1200Z_ffffffffffffffff.json.gz";
const NEW_ORG: &str = "org/AWSLogs/o-exampleorgid/123456789012/CloudTrail/eu-west-1/2024/03/14/123456789012_CloudTrail_eu-west-1_20240314T1200Z_eeeeeeeeeeeeeeee.json.gz";
/// Old, but the forwarder skips digests: never judged by age.
const OLD_DIGEST: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/01/123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20240301T120000Z.json.gz";

fn eventbridge(key: &str) -> Value {
    json!({
        "version": "0", "detail-type": "Object Created", "source": "aws.s3",
        "detail": { "bucket": { "name": BUCKET },
                    "object": { "key": key, "size": 10, "version-id": "v1" } }
    })
}

fn s3_event(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({ "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                    "s3": { "bucket": { "name": BUCKET }, "object": { "key": encode_s3_key(k) } } })
        })
        .collect();
    json!({ "Records": records })
}

fn keys(expired: &[ExpiredObject]) -> Vec<&str> {
    expired.iter().map(|e| e.key.as_str()).collect()
}

/// The keys a payload names, as the functions decode them.
fn decoded_keys(payload: &Value) -> Vec<String> {
    decode(payload)
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.object.key)
        .collect()
}

#[test]
fn boundary_is_the_window_plus_the_margin() {
    assert!(!file_is_expired(T_OLD, T_OLD + LOGS_WINDOW_SECS));
    // Inside the margin: the file may still hold an event CloudWatch Logs accepts.
    assert!(!file_is_expired(T_OLD, T_OLD + LOGS_WINDOW_SECS + 60));
    assert!(!file_is_expired(T_OLD, FIRST_EXPIRED - 1));
    assert!(file_is_expired(T_OLD, FIRST_EXPIRED));
    // A file from the future (clock skew) is current, and extreme values do not overflow.
    assert!(!file_is_expired(T_OLD, T_OLD - 3600));
    assert!(!file_is_expired(i64::MAX, i64::MIN));
    assert!(file_is_expired(i64::MIN, i64::MAX));
}

#[test]
fn the_margin_covers_a_files_newest_event() {
    // Events are at most a minute newer than the name (cut to the minute); at the last second
    // the file is still called current, an event one minute after its name is within 14 days.
    let newest_event = T_OLD + 60;
    assert!(FIRST_EXPIRED - 1 - newest_event < LOGS_WINDOW_SECS + EXPIRY_MARGIN_SECS);
    assert!(FIRST_EXPIRED - newest_event > LOGS_WINDOW_SECS);
}

#[test]
fn old_file_without_prefix_is_expired_with_its_age() {
    let plan = plan(&eventbridge(OLD_PLAIN), FIRST_EXPIRED);
    let Plan::Expired { expired } = plan else {
        panic!("expected Expired, got {plan:?}")
    };
    assert_eq!(
        expired,
        vec![ExpiredObject {
            bucket: BUCKET.into(),
            key: OLD_PLAIN.into(),
            version_id: Some("v1".into()),
            file_time: T_OLD,
            age_seconds: LOGS_WINDOW_SECS + EXPIRY_MARGIN_SECS + 1,
            object: ObjectRef {
                bucket: BUCKET.into(),
                key: OLD_PLAIN.into(),
                size: Some(10),
                version_id: Some("v1".into()),
                requester: None,
                source_ip: None,
                etag: None,
            },
        }]
    );
}

#[test]
fn old_file_with_prefix_and_org_is_expired() {
    let plan = plan(&s3_event(&[OLD_ORG]), FIRST_EXPIRED);
    let Plan::Expired { expired } = plan else {
        panic!("expected Expired, got {plan:?}")
    };
    assert_eq!(keys(&expired), vec![OLD_ORG]);
    assert_eq!(expired[0].file_time, T_OLD);
}

#[test]
fn old_insight_file_is_expired() {
    let plan = plan(&eventbridge(OLD_INSIGHT), FIRST_EXPIRED);
    assert_eq!(keys(plan.expired()), vec![OLD_INSIGHT]);
    assert!(matches!(plan, Plan::Expired { .. }));
}

#[test]
fn a_second_before_the_boundary_is_redriven_unchanged() {
    assert_eq!(
        plan(&eventbridge(OLD_PLAIN), FIRST_EXPIRED - 1),
        Plan::Unchanged
    );
    assert_eq!(
        plan(&s3_event(&[OLD_ORG, NEW_ORG]), FIRST_EXPIRED - 1),
        Plan::Unchanged
    );
}

#[test]
fn new_files_are_redriven_unchanged() {
    assert_eq!(
        plan(&s3_event(&[NEW_PLAIN, NEW_ORG]), FIRST_EXPIRED),
        Plan::Unchanged
    );
    assert_eq!(plan(&eventbridge(NEW_ORG), FIRST_EXPIRED), Plan::Unchanged);
}

#[test]
fn mixed_payload_redrives_only_the_new_objects() {
    let payload = s3_event(&[OLD_PLAIN, NEW_PLAIN, OLD_ORG, NEW_ORG]);
    let plan = plan(&payload, FIRST_EXPIRED);
    let Plan::Part {
        payload: redriven,
        current,
        expired,
    } = plan
    else {
        panic!("expected Part, got {plan:?}")
    };
    assert_eq!(current, 2);
    assert_eq!(keys(&expired), vec![OLD_PLAIN, OLD_ORG]);
    // What the forwarder will decode from the new payload: exactly the new keys, in order.
    assert_eq!(decoded_keys(&redriven), vec![NEW_PLAIN, NEW_ORG]);
}

#[test]
fn digests_and_foreign_keys_are_never_judged_by_age() {
    let now = FIRST_EXPIRED + 365 * 86_400;
    assert_eq!(
        plan(&s3_event(&[OLD_DIGEST, "notes/readme.txt"]), now),
        Plan::Unchanged
    );
    // Beside an expired file they are redriven; only the log file is expired.
    let plan = plan(&s3_event(&[OLD_DIGEST, OLD_PLAIN]), now);
    assert_eq!(keys(plan.expired()), vec![OLD_PLAIN]);
    let Plan::Part { payload, .. } = plan else {
        panic!("expected Part, got {plan:?}")
    };
    assert_eq!(decoded_keys(&payload), vec![OLD_DIGEST]);
}

#[test]
fn payloads_that_do_not_decode_are_redriven_unchanged() {
    assert_eq!(plan(&json!("text"), FIRST_EXPIRED), Plan::Unchanged);
    assert_eq!(
        plan(&json!({"detail-type": "?"}), FIRST_EXPIRED),
        Plan::Unchanged
    );
    // An SQS batch with a poison body: splitting would drop the poison message.
    let sqs = json!({ "Records": [
        { "eventSource": "aws:sqs", "messageId": "a", "body": eventbridge(OLD_PLAIN).to_string() },
        { "eventSource": "aws:sqs", "messageId": "b", "body": "not json" },
    ]});
    assert_eq!(plan(&sqs, FIRST_EXPIRED), Plan::Unchanged);
}

#[test]
fn rebuilt_payload_keeps_size_version_and_odd_keys() {
    let objects = vec![ObjectRef {
        bucket: BUCKET.into(),
        key: "a+b c/%41/Ü/x.json.gz".into(),
        size: Some(7),
        version_id: Some("v+2".into()),
        requester: None,
        source_ip: None,
        etag: None,
    }];
    let decoded = decode(&s3_notification(&objects)).unwrap();
    let back: Vec<ObjectRef> = decoded.items.into_iter().map(|i| i.object).collect();
    assert_eq!(back, objects);
    assert_eq!(encode_s3_key("a+b c/Ü"), "a%2Bb+c/%C3%9C");
}

#[test]
fn forwarder_is_recognised_by_function_name() {
    for f in [
        "arn:aws:lambda:us-east-1:123456789012:function:trailwatch-ForwarderFunction-AbC123",
        "arn:aws:lambda:us-east-1:123456789012:function:trailwatch-ForwarderFunction-AbC123:$LATEST",
        "123456789012:function:my-forwarder",
        "fwd-Forwarder:live",
    ] {
        assert!(looks_like_forwarder(f), "{f}");
    }
    for f in [
        "arn:aws:lambda:us-east-1:123456789012:function:trailwatch-AlerterFunction-AbC123",
        "arn:aws:lambda:us-east-1:123456789012:function:trailwatch-DigestVerifierFunction-X:forwarder",
        "",
    ] {
        assert!(!looks_like_forwarder(f), "{f}");
    }
    assert_eq!(
        function_name("arn:aws:lambda:r:1:function:name:alias"),
        "name"
    );
}

#[test]
fn ages_read_as_days_hours_minutes() {
    assert_eq!(
        human_age(LOGS_WINDOW_SECS + EXPIRY_MARGIN_SECS + 61),
        "14d 1h 1m"
    );
    assert_eq!(human_age(-5), "0d 0h 0m");
}
