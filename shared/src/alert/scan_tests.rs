use super::*;
use crate::rules::config::{RuleSetSelection, load_rules, parse_rules};
use std::io::Write as _;

/// The records of `bytes`, read on this thread.
fn reader(bytes: &[u8]) -> RecordReader<&[u8]> {
    RecordReader::new(bytes, crate::records::ReaderLimits::default())
}

fn rules(json: &str) -> LoadedRules {
    let custom = parse_rules("CUSTOM_RULES", json).unwrap();
    load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)]).unwrap()
}

fn record(name: &str, i: usize, pad: usize) -> String {
    serde_json::json!({
        "eventVersion": "1.09", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": name, "awsRegion": "eu-west-1", "recipientAccountId": "123456789012",
        "eventID": format!("id-{i}"), "requestParameters": {"pad": "x".repeat(pad)}
    })
    .to_string()
}

fn log_file(records: &[String]) -> Vec<u8> {
    format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

const TWO_RULES: &str = r#"[
  {"id": "attach", "pattern": "{ $.eventName = AttachRolePolicy }", "severity": "HIGH"},
  {"id": "burst", "pattern": "{ $.eventName = Get* }", "severity": "LOW", "threshold": 3}
]"#;

fn file() -> FileContext {
    FileContext {
        bucket: "b".into(),
        key: "k".into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
    }
}

#[test]
fn counts_every_match_keeps_the_first_samples_and_alerts_at_threshold() {
    let rules = rules(TWO_RULES);
    let mut recs = Vec::new();
    for i in 0..25 {
        recs.push(record("AttachRolePolicy", i, 10));
    }
    recs.push(record("GetRole", 100, 10));
    recs.push(record("GetUser", 101, 10));
    recs.push(record("ListRoles", 102, 10));
    let scan = scan_log_file(reader(&gz(&log_file(&recs))[..]), &rules, 10);
    assert!(scan.read_error.is_none(), "{:?}", scan.read_error);
    assert_eq!(scan.records_evaluated, 28);
    assert_eq!(scan.per_rule[0].count, 25);
    assert_eq!(scan.per_rule[0].samples.len(), 10);
    assert_eq!(
        scan.per_rule[0].samples[0].summary.event_id.as_deref(),
        Some("id-0")
    );
    assert_eq!(
        scan.per_rule[0].samples[9].summary.event_id.as_deref(),
        Some("id-9")
    );
    assert_eq!(scan.per_rule[1].count, 2);
    assert_eq!(
        scan.first_record_origin,
        Some((Some("123456789012".into()), Some("eu-west-1".into())))
    );
    let alerts = plan_alerts(&scan, &rules, &file());
    assert_eq!(alerts.len(), 1, "burst (2 of 3) stays below its threshold");
    assert_eq!(alerts[0].rule_index, 0);
    assert_eq!(alerts[0].message.attributes.rule_id, "attach");
    assert!(
        alerts[0]
            .message
            .text
            .contains("... and 15 more matching events")
    );
}

#[test]
fn threshold_reached_exactly_alerts() {
    let rules = rules(TWO_RULES);
    let recs: Vec<String> = (0..3).map(|i| record("GetRole", i, 10)).collect();
    let scan = scan_log_file(reader(&log_file(&recs)[..]), &rules, 10);
    let alerts = plan_alerts(&scan, &rules, &file());
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].message.attributes.rule_id, "burst");
    assert_eq!(
        alerts[0].message.subject,
        "[LOW] burst: 3 events in 123456789012 eu-west-1"
    );
}

#[test]
fn kept_record_bytes_are_bounded_per_rule() {
    let rules = rules(TWO_RULES);
    // 40 matches of ~60 KB each: far more than one rule may keep verbatim.
    let recs: Vec<String> = (0..40)
        .map(|i| record("AttachRolePolicy", i, 60_000))
        .collect();
    let scan = scan_log_file(reader(&log_file(&recs)[..]), &rules, 40);
    let samples = &scan.per_rule[0].samples;
    assert_eq!(samples.len(), 40, "every shown event keeps its summary");
    let kept: usize = samples
        .iter()
        .filter_map(|s| s.raw.as_ref())
        .map(|r| r.get().len())
        .sum();
    assert!(kept <= MAX_KEPT_BYTES_PER_RULE, "{kept}");
    assert!(samples.iter().filter(|s| s.raw.is_none()).count() >= 30);
    assert_eq!(samples[39].summary.event_id.as_deref(), Some("id-39"));
    let alerts = plan_alerts(&scan, &rules, &file());
    assert!(alerts[0].message.publish_bytes() <= crate::alert::message::SNS_MAX_PUBLISH_BYTES);
}

#[test]
fn max_events_zero_counts_without_samples() {
    let rules = rules(TWO_RULES);
    let recs: Vec<String> = (0..5).map(|i| record("AttachRolePolicy", i, 10)).collect();
    let scan = scan_log_file(reader(&log_file(&recs)[..]), &rules, 0);
    assert_eq!(scan.per_rule[0].count, 5);
    assert!(scan.per_rule[0].samples.is_empty());
    let alerts = plan_alerts(&scan, &rules, &file());
    assert!(
        alerts[0]
            .message
            .text
            .contains("... and 5 more matching events")
    );
}

#[test]
fn a_damaged_file_keeps_what_was_read_and_reports_the_error() {
    let rules = rules(TWO_RULES);
    let recs: Vec<String> = (0..4).map(|i| record("AttachRolePolicy", i, 10)).collect();
    let mut bytes = log_file(&recs);
    let cut = bytes.len() - 40; // inside the last record
    bytes.truncate(cut);
    let scan = scan_log_file(reader(&bytes[..]), &rules, 10);
    assert!(scan.read_error.is_some());
    assert_eq!(scan.per_rule[0].count, 3);
    let alerts = plan_alerts(&scan, &rules, &file());
    assert!(
        alerts[0]
            .message
            .text
            .contains("WARNING: the log file could not be read to its end")
    );
}

#[test]
fn not_a_cloudtrail_file_is_a_read_error_with_nothing_evaluated() {
    let rules = rules(TWO_RULES);
    let scan = scan_log_file(reader(&br#"{"configurationItems":[]}"#[..]), &rules, 10);
    assert!(scan.read_error.is_some());
    assert_eq!(scan.records_evaluated, 0);
    assert!(plan_alerts(&scan, &rules, &file()).is_empty());
}
