use super::*;
use crate::alert::message::SNS_MAX_PUBLISH_BYTES;

/// An Insights record in the documented trail shape (CloudTrail user guide, "CloudTrail record
/// contents for Insights events for trails"), values made up.
fn insight_record(state: &str) -> String {
    json!({
        "eventVersion": "1.08",
        "eventTime": "2024-07-10T01:42:00Z",
        "awsRegion": "eu-west-1",
        "eventID": format!("11111111-2222-3333-4444-{state:0>12}"),
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": "123456789012",
        "sharedEventID": "99999999-8888-7777-6666-555555555555",
        "insightDetails": {
            "state": state,
            "eventSource": "iam.amazonaws.com",
            "eventName": "AttachRolePolicy",
            "insightType": "ApiCallRateInsight",
            "insightContext": {
                "statistics": {
                    "baseline": {"average": 0.0000882145},
                    "insight": {"average": 4.5},
                    "insightDuration": 3,
                    "baselineDuration": 10080
                },
                "attributions": [
                    {"attribute": "userIdentityArn",
                     "insight": [{"value": "arn:aws:sts::123456789012:assumed-role/Deployer/s1", "average": 4.0},
                                 {"value": "arn:aws:iam::123456789012:user/mallory", "average": 0.5}],
                     "baseline": [{"value": "arn:aws:sts::123456789012:assumed-role/Deployer/s1", "average": 0.0000882145}]},
                    {"attribute": "userAgent",
                     "insight": [{"value": "aws-cli/2.15.0", "average": 4.5}],
                     "baseline": [{"value": "aws-cli/2.15.0", "average": 0.0000882145}]},
                    {"attribute": "errorCode",
                     "insight": [{"value": "null", "average": 4.5}],
                     "baseline": [{"value": "null", "average": 0.0000882145}]}
                ]
            }
        },
        "eventCategory": "Insight"
    })
    .to_string()
}

fn file() -> FileContext {
    FileContext {
        bucket: "trail-bucket".into(),
        key: "AWSLogs/123456789012/CloudTrail-Insight/eu-west-1/2024/07/10/123456789012_CloudTrail-Insight_eu-west-1_20240710T0145Z_abcdefghijklmnop.json.gz".into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
    }
}

#[test]
fn a_starting_insight_alerts_with_type_api_and_figures() {
    let m = insight_alert(&insight_record("Start"), &file()).expect("start alerts");
    assert_eq!(
        m.subject,
        "[MEDIUM] Insight AttachRolePolicy calls 4.5/min (baseline 8.82e-5) in 123456789012 eu-west-1"
    );
    assert!(m.subject.len() <= 99 && m.subject.is_ascii());
    for needle in [
        "CloudTrail Insights detected an unusual API call rate.",
        "Insight:   ApiCallRateInsight (start)",
        "API:       iam.amazonaws.com AttachRolePolicy",
        "Observed:  4.5 calls per minute",
        "Baseline:  8.82e-5 calls per minute over the preceding 10080 minutes",
        "Ratio:     51012x the baseline",
        "Duration:  3 minute(s) so far",
        "Started:   2024-07-10T01:42:00Z",
        "Insights file: s3://trail-bucket/AWSLogs/123456789012/CloudTrail-Insight/",
        "sharedEventID: 99999999-8888-7777-6666-555555555555",
        "userIdentityArn: arn:aws:sts::123456789012:assumed-role/Deployer/s1 (4/min), arn:aws:iam::123456789012:user/mallory (0.5/min)",
        "userAgent: aws-cli/2.15.0 (4.5/min)",
    ] {
        assert!(m.text.contains(needle), "missing {needle:?} in\n{}", m.text);
    }
    let env: Value = serde_json::from_str(&m.message).unwrap();
    let doc: Value = serde_json::from_str(env["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(doc["kind"], "insight");
    assert_eq!(doc["insight_type"], "ApiCallRateInsight");
    assert_eq!(doc["event_name"], "AttachRolePolicy");
    assert_eq!(doc["insight_average"], 4.5);
    assert_eq!(doc["baseline_average"], 0.0000882145);
    assert_eq!(
        doc["record"]["sharedEventID"],
        "99999999-8888-7777-6666-555555555555"
    );
    assert_eq!(
        m.attributes.pairs(),
        [
            ("rule_id", "CloudTrailInsight:ApiCallRateInsight"),
            ("severity", "MEDIUM"),
            ("account", "123456789012"),
            ("region", "eu-west-1")
        ]
    );
    assert!(m.publish_bytes() <= SNS_MAX_PUBLISH_BYTES);
}

#[test]
fn ending_insights_and_other_records_do_not_alert() {
    assert!(insight_alert(&insight_record("End"), &file()).is_none());
    assert!(insight_alert(r#"{"eventName":"ConsoleLogin"}"#, &file()).is_none());
    assert!(insight_alert("not json", &file()).is_none());
    assert!(insight_alert(r#"{"insightDetails":{"eventName":"X"}}"#, &file()).is_none());
}

#[test]
fn event_data_store_shape_with_insight_state_and_error_rate() {
    let rec = json!({
        "eventTime": "2024-07-10T01:42:00Z",
        "insightState": "Start",
        "insightDetails": {"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                           "insightType": "ApiErrorRateInsight", "errorCode": "AccessDenied",
                           "insightContext": {"statistics": {"baseline": {"average": 0.0}, "insight": {"average": 120.0}}}}
    })
    .to_string();
    let m = insight_alert(&rec, &file()).expect("insightState Start alerts");
    assert!(
        m.subject.starts_with(
            "[MEDIUM] Insight GetObject errors 120.0/min (baseline 0) in 123456789012 eu-west-1"
        ),
        "{}",
        m.subject
    );
    assert!(m.text.contains("Error code: AccessDenied"));
    assert!(m.text.contains("Observed:  120.0 errors per minute"));
    assert!(
        !m.text.contains("Ratio:"),
        "no ratio against a zero baseline"
    );
}

#[test]
fn rates_are_readable() {
    assert_eq!(rate(None), "?");
    assert_eq!(rate(Some(0.0)), "0");
    assert_eq!(rate(Some(203.74)), "203.7");
    assert_eq!(rate(Some(0.6)), "0.6");
    assert_eq!(rate(Some(1.7561507937)), "1.756");
    assert_eq!(rate(Some(0.0017857143)), "1.79e-3");
}
