use super::*;
use crate::alert::message::SNS_MAX_PUBLISH_BYTES;
use crate::alert::subject::MAX_SUBJECT_CHARS;
use crate::rules::Severity;
use serde_json::Value;

/// A real StopLogging record (invictus-ir aws_dataset, 20230710T1205Z_UljXNp9xLp8nsAGc).
const STOP_LOGGING: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDATFQR7NSC5AU2ZV3IE","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027","accessKeyId":"AKIATFQR7NSC8Q4X20BJ","userName":"bert-jan"},"eventTime":"2023-07-10T12:00:42Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"192.168.10.20","userAgent":"stratus-red-team_1e5be608-6e03-4283-8d27-d37452a50f25","errorCode":"TrailNotFoundException","errorMessage":"Unknown trail: arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ct-stop-trail-qzbgnfqisx for the user: 123837392027","requestParameters":{"name":"stratus-red-team-ct-stop-trail-qzbgnfqisx"},"responseElements":null,"requestID":"7c6cea2f-13c4-4048-8781-4589b8a2ee46","eventID":"9790ee84-ed2b-4866-83d1-f32af0dd4cd2","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123837392027","eventCategory":"Management"}"#;

fn rule() -> Rule {
    Rule {
        id: "SecurityHub:CloudWatch.5".into(),
        title: "[CloudWatch.5] Ensure a log metric filter and alarm exist for CloudTrail configuration changes".into(),
        pattern: "{ $.eventSource = cloudtrail.amazonaws.com }".into(),
        severity: Severity::High,
        threshold: 1,
        period: None,
        description: Some(
            "Stopping or changing a trail blinds the audit log; confirm the change was planned.".into(),
        ),
        enabled: true,
    }
}

fn file() -> FileContext {
    FileContext {
        bucket: "trail-bucket".into(),
        key: "AWSLogs/123837392027/CloudTrail/us-east-1/2023/07/10/123837392027_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json.gz".into(),
        account: "123837392027".into(),
        region: "us-east-1".into(),
    }
}

fn matches_of(records: &[String], count: u64, keep: usize) -> RuleMatches {
    RuleMatches {
        count,
        samples: records
            .iter()
            .take(keep)
            .map(|r| MatchSample::from_record(r))
            .collect(),
    }
}

fn envelope(m: &AlertMessage) -> Value {
    serde_json::from_str(&m.message).expect("envelope is JSON")
}

fn machine(m: &AlertMessage) -> Value {
    let env = envelope(m);
    let sqs = env["sqs"].as_str().expect("sqs value is a string");
    assert_eq!(env["lambda"], env["sqs"]);
    assert_eq!(env["https"], env["sqs"]);
    serde_json::from_str(sqs).expect("machine body is JSON")
}

fn assert_fits(m: &AlertMessage) {
    assert!(
        m.publish_bytes() <= SNS_MAX_PUBLISH_BYTES,
        "{} bytes",
        m.publish_bytes()
    );
    assert!(
        m.subject.len() <= MAX_SUBJECT_CHARS
            && m.subject.is_ascii()
            && !m.subject.contains(['\n', '\r'])
    );
}

#[test]
fn one_real_match_gives_a_complete_alert() {
    let m = rule_alert(
        &rule(),
        &file(),
        &matches_of(&[STOP_LOGGING.to_owned()], 1, 10),
        FileStats {
            records_evaluated: 55,
            read_error: None,
        },
    );
    assert_eq!(
        m.subject,
        "[HIGH] CloudWatch.5 CloudTrail configuration changes: 1 event in 123837392027 us-east-1"
    );
    assert_fits(&m);
    assert!(!m.text_truncated);
    let t = &m.text;
    for needle in [
        "Rule:      SecurityHub:CloudWatch.5 (HIGH)",
        "Title:     [CloudWatch.5] Ensure a log metric filter",
        "Why:       Stopping or changing a trail",
        "Account:   123837392027",
        "Region:    us-east-1",
        "Log file:  s3://trail-bucket/AWSLogs/123837392027/CloudTrail/us-east-1/2023/07/10/",
        "Matches:   1 of 55 records in this file (alert threshold: 1)",
        "1. 2023-07-10T12:00:42Z  cloudtrail.amazonaws.com StopLogging",
        "principal:  IAMUser arn:aws:iam::123837392027:user/bert-jan",
        "source IP:  192.168.10.20",
        "user agent: stratus-red-team_1e5be608",
        "error:      TrailNotFoundException: Unknown trail:",
        "eventID:    9790ee84-ed2b-4866-83d1-f32af0dd4cd2",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    assert!(
        !t.contains("more matching"),
        "no 'and N more' when everything is shown"
    );
    let env = envelope(&m);
    assert_eq!(env["default"], env["email"]);
    assert_eq!(env["default"].as_str().unwrap(), m.text);
    let doc = machine(&m);
    assert_eq!(doc["kind"], "rule_match");
    assert_eq!(doc["rule"]["id"], "SecurityHub:CloudWatch.5");
    assert_eq!(doc["rule"]["severity"], "HIGH");
    assert_eq!(doc["match_count"], 1);
    assert_eq!(doc["records_evaluated"], 55);
    assert_eq!(doc["records_included"], 1);
    assert_eq!(doc["records_omitted"], 0);
    assert_eq!(doc["log_file"]["bucket"], "trail-bucket");
    // The record is embedded verbatim, as JSON (not as a string).
    let embedded = &doc["records"][0];
    assert_eq!(
        embedded,
        &serde_json::from_str::<Value>(STOP_LOGGING).unwrap()
    );
    assert_eq!(
        m.attributes.pairs(),
        [
            ("rule_id", "SecurityHub:CloudWatch.5"),
            ("severity", "HIGH"),
            ("account", "123837392027"),
            ("region", "us-east-1")
        ]
    );
}

#[test]
fn more_matches_than_shown_says_and_n_more() {
    let records: Vec<String> = (0..17)
        .map(|i| STOP_LOGGING.replace("9790ee84", &format!("{i:08}")))
        .collect();
    let m = rule_alert(
        &rule(),
        &file(),
        &matches_of(&records, 17, 10),
        FileStats {
            records_evaluated: 100,
            read_error: None,
        },
    );
    assert!(m.subject.contains(": 17 events in "));
    assert!(m.text.contains("Matching events (10 of 17 shown):"));
    assert!(m.text.contains("\n10. 2023-07-10T12:00:42Z"));
    assert!(!m.text.contains("\n11. "));
    assert!(
        m.text
            .contains("... and 7 more matching events in this log file (not shown)."),
        "{}",
        m.text
    );
    let doc = machine(&m);
    assert_eq!(doc["records_included"], 10);
    assert_eq!(doc["records_omitted"], 7);
    assert_eq!(doc["records"].as_array().unwrap().len(), 10);
    assert_eq!(
        doc["records"][9]["eventID"],
        "00000009-ed2b-4866-83d1-f32af0dd4cd2"
    );
}

#[test]
fn a_single_more_is_singular() {
    let records = vec![STOP_LOGGING.to_owned()];
    let m = rule_alert(
        &rule(),
        &file(),
        &matches_of(&records, 2, 1),
        FileStats {
            records_evaluated: 2,
            read_error: None,
        },
    );
    assert!(
        m.text
            .contains("... and 1 more matching event in this log file")
    );
}

#[test]
fn a_huge_record_is_summarised_not_embedded_and_everything_fits() {
    // 1 MB errorMessage full of multi-byte characters and quotes.
    let huge_msg = "Zugriff verweigert – “ß” \\ ".repeat(40_000);
    let mut v: Value = serde_json::from_str(STOP_LOGGING).unwrap();
    v["errorMessage"] = Value::String(huge_msg);
    let huge = v.to_string();
    assert!(huge.len() > 1_000_000);
    let m = rule_alert(
        &rule(),
        &file(),
        &matches_of(&[huge, STOP_LOGGING.to_owned()], 2, 10),
        FileStats::default(),
    );
    assert_fits(&m);
    let doc = machine(&m);
    assert_eq!(doc["records_included"], 1);
    assert_eq!(doc["records_omitted"], 1);
    assert_eq!(
        doc["records_too_large"][0]["eventID"],
        "9790ee84-ed2b-4866-83d1-f32af0dd4cd2"
    );
    assert!(doc["records_too_large"][0]["bytes"].as_u64().unwrap() > 1_000_000);
    // The e-mail still shows the event, its message capped.
    assert!(
        m.text
            .contains("error:      TrailNotFoundException: Zugriff verweigert – “ß”")
    );
    assert!(!m.text_truncated);
}

#[test]
fn many_large_matches_are_cut_on_utf8_boundaries_to_fit_256_kib() {
    // 300 shown events, each ~60 KB with non-ASCII and escapes: text and JSON both overflow.
    let mut v: Value = serde_json::from_str(STOP_LOGGING).unwrap();
    v["requestParameters"]["padding"] = Value::String("é\"\n漢".repeat(2_000));
    v["userAgent"] = Value::String("agent-é-".repeat(200));
    let big = v.to_string();
    let records: Vec<String> = (0..300).map(|_| big.clone()).collect();
    let m = rule_alert(
        &rule(),
        &file(),
        &matches_of(&records, 5000, 300),
        FileStats {
            records_evaluated: 9000,
            read_error: None,
        },
    );
    assert_fits(&m);
    assert!(m.text_truncated);
    assert!(m.text.contains("cut here to fit the 256 KiB SNS limit"));
    let doc = machine(&m);
    let included = doc["records_included"].as_u64().unwrap();
    assert!((1..300).contains(&included), "included {included}");
    assert_eq!(included + doc["records_omitted"].as_u64().unwrap(), 5000);
    assert_eq!(doc["records"].as_array().unwrap().len() as u64, included);
}

#[test]
fn a_read_error_is_reported_in_text_and_json() {
    let m = rule_alert(
        &rule(),
        &file(),
        &matches_of(&[STOP_LOGGING.to_owned()], 1, 10),
        FileStats {
            records_evaluated: 3,
            read_error: Some("corrupt gzip data: invalid block"),
        },
    );
    assert!(m.text.contains(
        "WARNING: the log file could not be read to its end (corrupt gzip data: invalid block)"
    ));
    assert_eq!(
        machine(&m)["file_read_error"],
        "corrupt gzip data: invalid block"
    );
}

#[test]
fn non_ascii_titles_stay_in_the_body_but_not_in_the_subject() {
    let r = Rule {
        id: "custom:connexion".into(),
        title: "Connexion à la console sans MFA — “root” 🚨".into(),
        description: None,
        severity: Severity::Critical,
        threshold: 2,
        ..rule()
    };
    let m = rule_alert(
        &r,
        &file(),
        &matches_of(&[STOP_LOGGING.to_owned()], 2, 10),
        FileStats::default(),
    );
    assert_eq!(
        m.subject,
        "[CRITICAL] custom:connexion Connexion a la console sans MFA...: 2 events in 123837392027 us-east-1"
    );
    assert_fits(&m);
    assert!(
        m.text
            .contains("Title:     Connexion à la console sans MFA — “root” 🚨")
    );
    assert!(!m.text.contains("Why:"));
    assert_eq!(
        machine(&m)["rule"]["title"],
        "Connexion à la console sans MFA — “root” 🚨"
    );
}

mod bounds {
    use super::*;
    use proptest::prelude::*;

    fn text_strategy(max: usize) -> impl Strategy<Value = String> {
        // Mostly ASCII with quotes, backslashes, controls and multi-byte characters mixed in:
        // the characters whose escaping or width a size bound can get wrong.
        proptest::collection::vec(
            prop_oneof![
                8 => proptest::char::range('a', 'z'),
                1 => Just('"'),
                1 => Just('\\'),
                1 => Just('\n'),
                1 => Just('\u{1}'),
                1 => Just('é'),
                1 => Just('漢'),
                1 => Just('🚨'),
            ],
            0..max,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever the titles, descriptions and records, the publish fits SNS's limit, the
        /// subject is valid, and every part parses.
        #[test]
        fn every_alert_fits_and_parses(
            title in text_strategy(300),
            description in text_strategy(6000),
            pads in proptest::collection::vec((0usize..120_000, text_strategy(64)), 0..25),
            extra in 0u64..100_000,
        ) {
            let records: Vec<String> = pads
                .iter()
                .enumerate()
                .map(|(i, (len, piece))| {
                    let mut v: Value = serde_json::from_str(STOP_LOGGING).unwrap();
                    v["eventID"] = Value::String(format!("id-{i}"));
                    v["errorMessage"] = Value::String(piece.repeat(len / piece.len().max(1) + 1));
                    v.to_string()
                })
                .collect();
            let rule = Rule { id: "custom:x".into(), title: title.clone(), description: Some(description.clone()), ..rule() };
            let count = records.len() as u64 + extra;
            let m = rule_alert(&rule, &file(), &matches_of(&records, count, 25), FileStats::default());
            prop_assert!(m.publish_bytes() <= SNS_MAX_PUBLISH_BYTES, "{} bytes", m.publish_bytes());
            prop_assert!(m.subject.len() <= MAX_SUBJECT_CHARS);
            prop_assert!(m.subject.bytes().all(|b| (0x20..0x7f).contains(&b)));
            let doc = machine(&m);
            let included = doc["records_included"].as_u64().unwrap();
            prop_assert_eq!(included + doc["records_omitted"].as_u64().unwrap(), count);
            let env = envelope(&m);
            prop_assert_eq!(env["email"].as_str().unwrap(), m.text.as_str());
        }
    }
}
