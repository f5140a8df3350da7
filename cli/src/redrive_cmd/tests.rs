use serde_json::{Value, json};

use super::record::{parse_message, remainder_record};
use super::*;

/// An on-failure record as a failure queue delivers it: no message attributes.
fn parse_failure_record(body: &str) -> anyhow::Result<FailedInvocation> {
    parse_message(body, &Default::default())
}

#[test]
fn reads_an_on_failure_destination_record() {
    let body = r#"{"version":"1.0","timestamp":"2024-01-01T00:00:00.000Z",
        "requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:fwd:$LATEST",
            "condition":"RetriesExhausted","approximateInvokeCount":3},
        "requestPayload":{"detail-type":"Object Created","detail":{"bucket":{"name":"b"}}},
        "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
        "responsePayload":{"errorMessage":"boom"}}"#;
    let r = parse_failure_record(body).unwrap();
    assert_eq!(
        r.function_arn.as_deref(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:fwd:$LATEST")
    );
    assert_eq!(r.payload["detail"]["bucket"]["name"], "b");
    assert_eq!(r.condition(), "RetriesExhausted");
}

#[test]
fn refuses_messages_that_are_not_failure_records() {
    assert!(parse_failure_record("not json").is_err());
    assert!(parse_failure_record(r#"{"Records":[]}"#).is_err());
}

/// 2024-03-01T12:00Z (the old key's delivery time) + 14 days + the margin + 1 second.
const NOW: i64 = 1_709_294_400 + expiry::LOGS_WINDOW_SECS + expiry::EXPIRY_MARGIN_SECS + 1;
const OLD: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20240301T1200Z_abcdefABCDEF0123.json.gz";
const NEW: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/14/123456789012_CloudTrail_us-east-1_20240314T1200Z_ffffffffffffffff.json.gz";
const FORWARDER: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:tw-ForwarderFunction-Ab1:$LATEST";
const ALERTER: &str = "arn:aws:lambda:us-east-1:123456789012:function:tw-AlerterFunction-Cd2";

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: RedriveArgs,
}

fn args(extra: &[&str]) -> RedriveArgs {
    use clap::Parser;
    let argv = ["redrive", "https://sqs.example/q"].iter().chain(extra);
    Cli::try_parse_from(argv).unwrap().args
}

fn record(function_arn: &str, keys: &[&str]) -> FailedInvocation {
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                   "s3": {"bucket": {"name": "b"}, "object": {"key": k}}})
        })
        .collect();
    FailedInvocation {
        function_arn: Some(function_arn.into()),
        payload: json!({ "Records": records }),
        origin: Origin::OnFailure {
            condition: Some("RetriesExhausted".into()),
        },
    }
}

#[test]
fn forwarder_records_are_split_by_age() {
    let (function, plan) = plan_record(&record(FORWARDER, &[OLD, NEW]), &args(&[]), NOW).unwrap();
    assert_eq!(function, FORWARDER);
    assert!(matches!(plan, Plan::Part { current: 1, .. }), "{plan:?}");
    assert_eq!(plan.expired().len(), 1);
    assert_eq!(plan.expired()[0].key, OLD);
    let (_, plan) = plan_record(&record(FORWARDER, &[OLD]), &args(&[]), NOW).unwrap();
    assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
}

#[test]
fn other_functions_records_are_untouched() {
    let (function, plan) = plan_record(&record(ALERTER, &[OLD, NEW]), &args(&[]), NOW).unwrap();
    assert_eq!((function.as_str(), plan), (ALERTER, Plan::Unchanged));
    // Told it is not the forwarder, even a forwarder-named function is redriven as recorded.
    let (_, plan) = plan_record(
        &record(FORWARDER, &[OLD]),
        &args(&["--function-kind", "other"]),
        NOW,
    )
    .unwrap();
    assert_eq!(plan, Plan::Unchanged);
}

#[test]
fn the_function_invoked_decides_whether_records_are_the_forwarders() {
    let (function, plan) = plan_record(
        &record(ALERTER, &[OLD]),
        &args(&["--function", "my-forwarder"]),
        NOW,
    )
    .unwrap();
    assert_eq!(function, "my-forwarder");
    assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
    let (_, plan) = plan_record(
        &record(ALERTER, &[OLD]),
        &args(&["--function-kind", "forwarder"]),
        NOW,
    )
    .unwrap();
    assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
}

#[test]
fn bad_flag_values_are_usage_errors() {
    use clap::Parser;
    let bad = Cli::try_parse_from(["redrive", "q", "--function-kind", "alerter"]);
    assert!(bad.is_err());
}

#[test]
fn counts_reconcile() {
    let mut s = Summary::default();
    for outcome in [
        Outcome::Redriven { part: false },
        Outcome::Redriven { part: true },
        Outcome::Expired,
        Outcome::Expired,
        Outcome::Failed,
    ] {
        s.record(outcome);
    }
    assert_eq!(
        (
            s.messages_read,
            s.redriven,
            s.redriven_in_part,
            s.expired,
            s.failed
        ),
        (5, 2, 1, 2, 1)
    );
    assert_eq!(s.messages_read, s.redriven + s.expired + s.failed);
}

#[test]
fn summary_reports_expired_objects_with_key_and_age() {
    let mut s = Summary {
        expired_messages: "kept in the queue",
        ..Summary::default()
    };
    let (_, plan) = plan_record(&record(FORWARDER, &[OLD]), &args(&[]), NOW).unwrap();
    s.add_expired("m1", plan.expired());
    s.record(Outcome::Expired);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["messages_read"], 1);
    assert_eq!(v["expired"], 1);
    assert_eq!(v["expired_messages"], "kept in the queue");
    let o = &v["expired_objects"][0];
    assert_eq!(o["message_id"], "m1");
    assert_eq!(o["bucket"], "b");
    assert_eq!(o["key"], OLD);
    assert_eq!(o["file_time_utc"], "2024-03-01T12:00:00Z");
    assert_eq!(o["age_seconds"], 14 * 86_400 + 3601);
    assert_eq!(o["age"], "14d 1h 0m");
    assert_eq!(
        s.line(),
        "1 message(s) read: 0 redriven (0 in part), 1 expired past the 14-day CloudWatch \
         Logs window (1 object(s); kept in the queue), 0 failed or skipped (kept)"
    );
}

#[test]
fn remainder_record_names_only_the_expired_objects() {
    let body = json!({
        "requestContext": {"functionArn": FORWARDER, "condition": "RetriesExhausted"},
        "requestPayload": record(FORWARDER, &[OLD, NEW]).payload,
    })
    .to_string();
    let first = parse_failure_record(&body).unwrap();
    let (function, plan) = plan_record(&first, &args(&[]), NOW).unwrap();
    let objects: Vec<_> = plan.expired().iter().map(|e| e.object.clone()).collect();
    let remainder = expiry::s3_notification(&objects);
    let text = remainder_record(&body, &first, &function, remainder, "m1").unwrap();
    let again = parse_failure_record(&text).unwrap();
    assert_eq!(again.function_arn.as_deref(), Some(FORWARDER));
    assert_eq!(again.condition(), "RetriesExhausted");
    let trigger = trailwatch_shared::trigger::decode(&again.payload).unwrap();
    let keys: Vec<_> = trigger
        .items
        .iter()
        .map(|i| i.object.key.as_str())
        .collect();
    assert_eq!(keys, vec![OLD]);
    // Read again by a later run, the remainder is all expired: never redriven.
    let (_, plan) = plan_record(&again, &args(&[]), NOW).unwrap();
    assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
    assert!(remainder_record("[1]", &first, FORWARDER, json!({}), "m1").is_err());
}

/// Clients that never reach AWS: a dry run makes no call, so any call would fail the test.
fn offline_clients() -> Clients {
    let region = aws_sdk_sqs::config::Region::new("us-east-1");
    Clients {
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(region.clone())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
                .region(region)
                .build(),
        ),
    }
}

fn message(id: &str, body: &str, attributes: &[(&str, &str)]) -> aws_sdk_sqs::types::Message {
    let mut m = aws_sdk_sqs::types::Message::builder()
        .message_id(id)
        .receipt_handle(format!("handle-{id}"))
        .body(body);
    for (name, value) in attributes {
        let value = aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()
            .unwrap();
        m = m.message_attributes(*name, value);
    }
    m.build()
}

/// The S3 "Object Created" event EventBridge delivers for `key`: a dead letter's body.
fn object_created(key: &str) -> String {
    json!({
        "version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "region": "us-east-1", "time": "2024-03-14T12:00:05Z",
        "detail": { "bucket": { "name": "b" }, "object": { "key": key, "size": 10 } }
    })
    .to_string()
}

const RULE: &str = "arn:aws:events:us-east-1:123456789012:rule/tw-LogFileCreated-X";

fn dead_letter_attributes(target: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("RULE_ARN", RULE),
        ("TARGET_ARN", target),
        ("ERROR_CODE", "ERROR_FROM_TARGET"),
        ("ERROR_MESSAGE", "Rate exceeded"),
        ("EXHAUSTED_RETRY_CONDITION", "MaximumEventAgeInSeconds"),
        ("RETRY_ATTEMPTS", "185"),
    ]
}

/// Runs the messages through `handle_message` as one dry run would, counting as the loop does.
fn dry_run(messages: &[aws_sdk_sqs::types::Message], extra: &[&str]) -> Summary {
    let mut argv = vec!["--dry-run"];
    argv.extend_from_slice(extra);
    let args = args(&argv);
    let aws = offline_clients();
    let mut summary = Summary {
        dry_run: true,
        expired_messages: "kept in the queue",
        ..Summary::default()
    };
    let mut seen = HashSet::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for m in messages {
        let outcome = rt.block_on(handle_message(&aws, &args, m, NOW, &mut summary, &mut seen));
        summary.record(outcome);
    }
    summary
}

#[test]
fn dead_letters_are_redriven_to_their_target_and_expire_like_failure_records() {
    let on_failure = json!({
        "requestContext": {"functionArn": ALERTER, "condition": "RetriesExhausted"},
        "requestPayload": record(ALERTER, &[NEW]).payload,
    })
    .to_string();
    let messages = [
        message("record", &on_failure, &[]),
        message(
            "current",
            &object_created(NEW),
            &dead_letter_attributes(FORWARDER),
        ),
        message(
            "old",
            &object_created(OLD),
            &dead_letter_attributes(FORWARDER),
        ),
        // Not the forwarder: an old file is the alerter's to judge, so it is redriven.
        message(
            "old-alerter",
            &object_created(OLD),
            &dead_letter_attributes(ALERTER),
        ),
        message("unknown", r#"{"hello":"world"}"#, &[]),
        message("no-target", &object_created(NEW), &[]),
    ];
    let s = dry_run(&messages, &[]);
    assert_eq!(
        (
            s.messages_read,
            s.redriven,
            s.redriven_in_part,
            s.expired,
            s.failed
        ),
        (6, 3, 0, 1, 2)
    );
    assert_eq!(s.messages_read, s.redriven + s.expired + s.failed);
    let expired: Vec<_> = s
        .expired_objects
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["message_id"], "old");
    assert_eq!(expired[0]["key"], OLD);
    let failures: Vec<_> = s
        .failures
        .iter()
        .map(|f| (f.message_id.as_str(), f.error.as_str()))
        .collect();
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0].0, "unknown");
    assert!(
        failures[0].1.contains("neither a Lambda on-failure record"),
        "{failures:?}"
    );
    assert_eq!(failures[1].0, "no-target");
    assert!(failures[1].1.contains("pass --function"), "{failures:?}");

    let v = serde_json::to_value(&s).unwrap();
    let dead_letters = v["eventbridge_dead_letters"].as_array().unwrap();
    let outcomes: Vec<_> = dead_letters
        .iter()
        .map(|d| {
            (
                d["message_id"].as_str().unwrap(),
                d["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("current", "redriven"),
            ("old", "expired"),
            ("old-alerter", "redriven"),
            ("no-target", "failed"),
        ]
    );
    let first = &dead_letters[0];
    assert_eq!(first["rule_arn"], RULE);
    assert_eq!(first["target_arn"], FORWARDER);
    assert_eq!(first["error_code"], "ERROR_FROM_TARGET");
    assert_eq!(first["error_message"], "Rate exceeded");
    assert_eq!(
        first["exhausted_retry_condition"],
        "MaximumEventAgeInSeconds"
    );
    assert_eq!(first["retry_attempts"], "185");
    // No attributes: reported, with every attribute shown as missing.
    assert_eq!(dead_letters[3]["error_code"], Value::Null);
    assert_eq!(dead_letters[3]["target_arn"], Value::Null);
    assert!(
        s.line()
            .ends_with("; 4 of the messages were EventBridge dead letters"),
        "{}",
        s.line()
    );
}

#[test]
fn function_names_the_target_of_dead_letters_without_one() {
    let messages = [
        message("no-target", &object_created(OLD), &[]),
        message(
            "sqs-target",
            &object_created(NEW),
            &[("TARGET_ARN", "arn:aws:sqs:us-east-1:1:q")],
        ),
    ];
    let s = dry_run(&messages, &[]);
    assert_eq!((s.redriven, s.expired, s.failed), (0, 0, 2));
    // `--function` decides both the function and, by its name, the forwarder's expiry.
    let s = dry_run(&messages, &["--function", FORWARDER]);
    assert_eq!((s.redriven, s.expired, s.failed), (1, 1, 0));
    assert_eq!(s.expired_objects.len(), 1);
}

#[test]
fn dead_letter_with_unreadable_body_is_a_failure_with_eventbridges_reason() {
    let s = dry_run(
        &[message("bad", "{", &dead_letter_attributes(FORWARDER))],
        &[],
    );
    assert_eq!((s.messages_read, s.failed), (1, 1));
    assert!(
        s.failures[0]
            .error
            .starts_with("skipped: EventBridge ERROR_FROM_TARGET: Rate exceeded (MaximumEventAgeInSeconds, 185 retries), but the body is not JSON"),
        "{}",
        s.failures[0].error
    );
    assert_eq!(s.eventbridge_dead_letters.len(), 1);
    assert_eq!(s.eventbridge_dead_letters[0].outcome, "failed");
}
