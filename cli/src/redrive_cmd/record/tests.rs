use super::*;

const RULE: &str =
    "arn:aws:events:us-east-1:123456789012:rule/tw-ForwarderFunctionLogFileCreated-Ab1";
const TARGET: &str = "arn:aws:lambda:us-east-1:123456789012:function:tw-ForwarderFunction-Ab1";
const KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/14/123456789012_CloudTrail_us-east-1_20240314T1200Z_ffffffffffffffff.json.gz";

/// An S3 "Object Created" event as EventBridge delivers it, and so as its dead letter's body.
fn object_created() -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2024-03-14T12:00:05Z", "region": "us-east-1",
        "resources": ["arn:aws:s3:::trail-bucket"],
        "detail": { "version": "0", "bucket": { "name": "trail-bucket" },
                    "object": { "key": KEY, "size": 812, "etag": "e", "sequencer": "s" },
                    "request-id": "r", "requester": "123456789012", "reason": "PutObject" }
    })
}

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn all_attributes() -> BTreeMap<String, String> {
    attributes(&[
        ("RULE_ARN", RULE),
        ("TARGET_ARN", TARGET),
        ("ERROR_CODE", "NO_PERMISSIONS"),
        (
            ERROR_MESSAGE,
            "User: events.amazonaws.com is not authorized to perform: lambda:InvokeFunction",
        ),
        ("EXHAUSTED_RETRY_CONDITION", "MaximumRetryAttempts"),
        ("RETRY_ATTEMPTS", "0"),
    ])
}

#[test]
fn dead_letter_with_attributes_invokes_its_target_with_the_event() {
    let r = parse_message(&object_created().to_string(), &all_attributes()).unwrap();
    assert_eq!(r.function_arn.as_deref(), Some(TARGET));
    assert_eq!(r.payload, object_created());
    assert_eq!(
        r.origin,
        Origin::EventRule(DeadLetter {
            rule_arn: Some(RULE.into()),
            target_arn: Some(TARGET.into()),
            error_code: Some("NO_PERMISSIONS".into()),
            error_message: Some(
                "User: events.amazonaws.com is not authorized to perform: lambda:InvokeFunction"
                    .into()
            ),
            exhausted_retry_condition: Some("MaximumRetryAttempts".into()),
            retry_attempts: Some("0".into()),
        })
    );
    assert_eq!(
        r.condition(),
        "EventBridge NO_PERMISSIONS: User: events.amazonaws.com is not authorized to perform: \
         lambda:InvokeFunction (MaximumRetryAttempts, 0 retries)"
    );
    assert_eq!(r.function(None).unwrap(), TARGET);
    assert_eq!(r.function(Some("other")).unwrap(), "other");
}

#[test]
fn missing_attributes_are_reported_as_missing() {
    let r = parse_message(
        &object_created().to_string(),
        &attributes(&[("RULE_ARN", RULE), ("TARGET_ARN", TARGET)]),
    )
    .unwrap();
    let Origin::EventRule(dead_letter) = &r.origin else {
        panic!("{r:?}");
    };
    assert_eq!(dead_letter.error_code, None);
    assert_eq!(dead_letter.error_message, None);
    assert_eq!(r.condition(), "EventBridge (no ERROR_CODE)");
    assert_eq!(r.function_arn.as_deref(), Some(TARGET));
    // Attributes that are none of EventBridge's do not make a dead letter.
    assert_eq!(
        DeadLetter::from_attributes(&attributes(&[("x", "y")])),
        None
    );
}

#[test]
fn dead_letter_without_attributes_is_recognised_by_its_body_and_needs_function() {
    let r = parse_message(&object_created().to_string(), &BTreeMap::new()).unwrap();
    assert_eq!(r.origin, Origin::EventRule(DeadLetter::default()));
    assert_eq!(r.function_arn, None);
    assert_eq!(r.payload, object_created());
    let err = r.function(None).unwrap_err().to_string();
    assert!(err.contains("without a TARGET_ARN attribute"), "{err}");
    assert!(err.contains("--function"), "{err}");
    assert_eq!(r.function(Some("fwd")).unwrap(), "fwd");
}

#[test]
fn a_target_that_is_not_a_lambda_function_needs_function() {
    let queue = "arn:aws:sqs:us-east-1:123456789012:elsewhere";
    let r = parse_message(
        &object_created().to_string(),
        &attributes(&[("TARGET_ARN", queue), ("ERROR_CODE", "THROTTLING")]),
    )
    .unwrap();
    assert_eq!(r.function_arn, None);
    let err = r.function(None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("TARGET_ARN {queue} is not a Lambda function; pass --function")
    );
}

#[test]
fn dead_letter_with_an_unreadable_body_says_why_eventbridge_failed() {
    let err = parse_message("{not json", &all_attributes()).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with("EventBridge NO_PERMISSIONS: "), "{text}");
    assert!(text.contains("but the body is not JSON"), "{text}");
}

#[test]
fn on_failure_records_are_read_as_before() {
    let body = json!({
        "requestContext": { "functionArn": TARGET, "condition": "RetriesExhausted" },
        "requestPayload": object_created(),
    })
    .to_string();
    let r = parse_message(&body, &BTreeMap::new()).unwrap();
    assert_eq!(r.function_arn.as_deref(), Some(TARGET));
    assert_eq!(r.payload, object_created());
    assert_eq!(
        r.origin,
        Origin::OnFailure {
            condition: Some("RetriesExhausted".into())
        }
    );
    // A record without a function is not mistaken for something else.
    let err = parse_message(r#"{"requestContext":{}}"#, &BTreeMap::new()).unwrap_err();
    assert!(
        err.to_string().contains("requestContext.functionArn"),
        "{err}"
    );
}

#[test]
fn unknown_shapes_are_refused_with_a_reason() {
    for body in [
        "not json",
        r#"{"Records":[]}"#,
        "[1,2]",
        // An event without `detail` is no EventBridge event.
        r#"{"source":"aws.s3","detail-type":"Object Created"}"#,
        // A record of another kind, which names events instead of carrying them.
        r#"{"version":"1.0","busArn":"arn:aws:events:us-east-1:1:event-bus/x","failedMessages":[]}"#,
    ] {
        let err = format!("{:#}", parse_message(body, &BTreeMap::new()).unwrap_err());
        assert!(
            err.contains("neither a Lambda on-failure record"),
            "{body}: {err}"
        );
    }
}

#[test]
fn lambda_function_arns() {
    assert!(is_lambda_function_arn(TARGET));
    assert!(is_lambda_function_arn(
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:live"
    ));
    assert!(!is_lambda_function_arn(
        "arn:aws:sqs:us-east-1:123456789012:q"
    ));
    assert!(!is_lambda_function_arn(
        "arn:aws:lambda:us-east-1:123456789012:function:"
    ));
    assert!(!is_lambda_function_arn("tw-ForwarderFunction-Ab1"));
}

#[test]
fn a_dead_letters_remainder_is_an_on_failure_record_for_its_function() {
    let r = parse_message(&object_created().to_string(), &all_attributes()).unwrap();
    let text = remainder_record(
        &object_created().to_string(),
        &r,
        TARGET,
        json!({ "Records": [] }),
        "m1",
    )
    .unwrap();
    let again = parse_message(&text, &BTreeMap::new()).unwrap();
    assert_eq!(again.function_arn.as_deref(), Some(TARGET));
    assert_eq!(again.payload, json!({ "Records": [] }));
    assert_eq!(again.condition(), r.condition());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["trailwatchRedrive"]["expiredRemainderOf"], "m1");
}
