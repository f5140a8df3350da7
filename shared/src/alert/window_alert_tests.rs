use super::*;
use crate::alert::message::SNS_MAX_PUBLISH_BYTES;
use crate::alert::scan::{plan_alerts, scan_log_file};
use crate::records::{ReaderLimits, RecordReader};
use crate::rules::Severity;
use crate::rules::config::{RuleSetSelection, load_rules, parse_rules};
use serde_json::{Value, json};

fn failed_login(time: &str, i: usize) -> String {
    json!({
        "eventVersion": "1.09", "eventTime": time, "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.7", "userIdentity": {"type": "IAMUser", "userName": "alice"},
        "responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication",
        "eventID": format!("ev-{i}")
    })
    .to_string()
}

const PATTERN: &str =
    r#"{ $.eventName = ConsoleLogin && $.errorMessage = \"Failed authentication\" }"#;

fn rules(period: Option<u64>) -> crate::rules::config::LoadedRules {
    let period = period.map_or(String::new(), |p| format!(r#","period":{p}"#));
    let doc = format!(
        r#"[{{"id":"team:failed-logins","title":"Failed console sign-ins","pattern":"{PATTERN}","severity":"MEDIUM","threshold":2{period}}}]"#
    );
    let custom = parse_rules("CUSTOM_RULES", &doc).unwrap();
    load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)]).unwrap()
}

fn file() -> FileContext {
    FileContext {
        bucket: "trail-bucket".into(),
        key: "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/f1.json.gz".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
    }
}

fn scan(
    records: &[String],
    period: Option<u64>,
) -> (
    crate::alert::scan::FileScan,
    crate::rules::config::LoadedRules,
) {
    let text = format!("{{\"Records\":[{}]}}", records.join(","));
    let rules = rules(period);
    let reader = RecordReader::new(text.as_bytes(), ReaderLimits::default());
    (scan_log_file(reader, &rules, 10), rules)
}

#[test]
fn windows_start_at_multiples_of_the_period() {
    assert_eq!(window_start(1_704_067_499, 300), 1_704_067_200);
    assert_eq!(window_start(1_704_067_500, 300), 1_704_067_500);
    assert_eq!(window_start(0, 60), 0);
    assert_eq!(window_start(-1, 60), -60, "floor, not truncation");
    assert_eq!(window_start(59, 10), 50);
}

/// One file straddling a window boundary adds to both windows, each match by its eventTime.
#[test]
fn matches_are_placed_by_event_time_across_a_window_boundary() {
    // 2024-01-01T00:04:59Z is in the window starting 00:00, 00:05:00Z in the next.
    let records = vec![
        failed_login("2024-01-01T00:04:58Z", 1),
        failed_login("2024-01-01T00:04:59Z", 2),
        failed_login("2024-01-01T00:05:00Z", 3),
        failed_login("2024-01-01T00:05:00.5Z", 4),
        failed_login("2024-01-01T00:09:59Z", 5),
    ];
    let (scan, rules) = scan(&records, Some(300));
    let w = &scan.windowed[0];
    assert_eq!((w.undated, w.overflow, w.placed()), (0, 0, 5));
    let c = w.contributions(300, &file());
    let got: Vec<(i64, u64)> = c.iter().map(|c| (c.window_start, c.count)).collect();
    assert_eq!(got, [(1_704_067_200, 2), (1_704_067_500, 3)]);
    assert_eq!(c[1].window_end(), 1_704_067_800);
    assert_eq!(c[0].samples[0].event_id.as_deref(), Some("ev-1"));
    assert_eq!(c[1].samples[0].log_file, file().uri());
    assert_eq!(
        (c[0].account.as_str(), c[0].region.as_str()),
        ("111122223333", "us-east-1")
    );
    // Every match is still counted per rule (metrics), and the windowed rule raises no
    // per-file alert although the file holds 5 >= 2 matches...
    assert_eq!(scan.per_rule[0].count, 5);
    assert!(plan_alerts(&scan, &rules, &file()).is_empty());
    // ...while the same rule without a period does (negative control), and places nothing.
    let (per_file, per_file_rules) = self::scan(&records, None);
    assert_eq!(plan_alerts(&per_file, &per_file_rules, &file()).len(), 1);
    assert!(per_file.windowed[0].slots.is_empty());
}

#[test]
fn undated_matches_are_counted_not_placed_and_missing_origin_takes_the_files() {
    let mut w = WindowedMatches::default();
    w.add(r#"{"eventName":"ConsoleLogin"}"#, 60);
    w.add(
        r#"{"eventName":"ConsoleLogin","eventTime":"yesterday"}"#,
        60,
    );
    w.add(r#"{"eventName":"ConsoleLogin","eventTime":12}"#, 60);
    w.add("not json", 60);
    w.add(r#"{"eventTime":"2024-01-01T00:00:30Z"}"#, 60);
    w.add(r#"{"eventTime":"2024-01-01T00:00:31Z","recipientAccountId":"111122223333","awsRegion":"us-east-1"}"#, 60);
    w.add(r#"{"eventTime":"2024-01-01T00:00:32Z","recipientAccountId":"444455556666","awsRegion":"us-east-1"}"#, 60);
    assert_eq!((w.undated, w.placed()), (4, 3));
    // The record without origin and the one naming the file's own account and region are one
    // window; another account's record is its own.
    let c = w.contributions(60, &file());
    let got: Vec<(&str, u64)> = c.iter().map(|c| (c.account.as_str(), c.count)).collect();
    assert_eq!(got, [("111122223333", 2), ("444455556666", 1)]);
}

#[test]
fn samples_and_windows_per_file_are_bounded() {
    let mut w = WindowedMatches::default();
    for i in 0..(MAX_WINDOWS_PER_RULE_AND_FILE as i64 + 5) {
        for _ in 0..3 {
            let t = OffsetDateTime::from_unix_timestamp(i * 10)
                .unwrap()
                .format(&Rfc3339)
                .unwrap();
            w.add(&format!(r#"{{"eventTime":"{t}"}}"#), 10);
        }
    }
    assert_eq!(w.slots.len(), MAX_WINDOWS_PER_RULE_AND_FILE);
    assert_eq!(w.overflow, 15);
    let mut one = WindowedMatches::default();
    for _ in 0..50 {
        one.add(r#"{"eventTime":"2024-01-01T00:00:00Z"}"#, 60);
    }
    let c = one.contributions(60, &file());
    assert_eq!((c[0].count, c[0].samples.len()), (50, MAX_WINDOW_SAMPLES));
}

#[test]
fn contribution_ids_name_one_object_version() {
    let a = contribution_id("b", "k", "v:1");
    assert_eq!(a, contribution_id("b", "k", "v:1"));
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(a, contribution_id("b", "k", "v:2"));
    assert_ne!(a, contribution_id("b", "k2", "v:1"));
    assert_eq!(
        window_alert_id("team:x", 1_704_067_200),
        "team:x@1704067200"
    );
}

#[test]
fn samples_round_trip_through_their_stored_form() {
    let s = WindowSample::new(
        &EventSummary::from_record(&failed_login("2024-01-01T00:00:00Z", 9)),
        "s3://b/k",
    );
    assert_eq!(WindowSample::from_stored(&s.to_stored()), s);
    assert_eq!(
        s.action.as_deref(),
        Some("signin.amazonaws.com ConsoleLogin")
    );
    assert_eq!(s.principal.as_deref(), Some("IAMUser alice"));
    let foreign = WindowSample::from_stored(&"x\ny".repeat(1000));
    assert!(foreign.action.as_deref().unwrap().starts_with("x y"));
    assert!(foreign.action.unwrap().chars().count() <= 515);
}

fn windowed_rule() -> Rule {
    Rule {
        id: "team:failed-logins".into(),
        title: "Failed console sign-ins".into(),
        pattern: PATTERN.into(),
        severity: Severity::Medium,
        threshold: 5,
        period: Some(300),
        description: Some("Password guessing against the console.".into()),
        enabled: true,
    }
}

fn samples(n: usize) -> Vec<WindowSample> {
    (0..n)
        .map(|i| {
            let s = EventSummary::from_record(&failed_login("2024-01-01T00:01:00Z", i));
            WindowSample::new(&s, &format!("s3://trail-bucket/f{i}.json.gz"))
        })
        .collect()
}

/// A 5-minute window of account 111122223333 in us-east-1.
fn report<'a>(
    window_start: i64,
    count: u64,
    samples: &'a [WindowSample],
    log_file: &'a FileContext,
) -> WindowReport<'a> {
    WindowReport {
        account: "111122223333",
        region: "us-east-1",
        period: 300,
        window_start,
        count,
        samples,
        log_file,
    }
}

fn machine(m: &AlertMessage) -> Value {
    let env: Value = serde_json::from_str(&m.message).unwrap();
    serde_json::from_str(env["sqs"].as_str().unwrap()).unwrap()
}

#[test]
fn the_window_alert_says_count_threshold_window_origin_and_lists_the_samples() {
    let samples = samples(3);
    let f = file();
    let m = window_alert(&windowed_rule(), &report(1_704_067_200, 6, &samples, &f));
    assert_eq!(
        m.subject,
        "[MEDIUM] team:failed-logins Failed console sign-ins: 6 events in 5 min in 111122223333 us-east-1"
    );
    assert_eq!(m.kind, AlertKind::RuleWindow);
    for needle in [
        "Window:    2024-01-01T00:00:00Z to 2024-01-01T00:05:00Z UTC (300 s",
        "Matches:   6 in this window, across log files (alert threshold: 5 in 300 s)",
        "Account:   111122223333",
        "Region:    us-east-1",
        "Why:       Password guessing against the console.",
        "Sample events (3 of 6",
        "3. 2024-01-01T00:01:00Z  signin.amazonaws.com ConsoleLogin",
        "   log file:   s3://trail-bucket/f2.json.gz",
        "eventID:    ev-2",
        &format!("Alerted on log file: {}", f.uri()),
    ] {
        assert!(
            m.text.contains(needle),
            "{needle:?} missing from\n{}",
            m.text
        );
    }
    let doc = machine(&m);
    assert_eq!(doc["kind"], "rule_window");
    assert_eq!(doc["schema"], SCHEMA_VERSION);
    assert_eq!(doc["match_count"], 6);
    assert_eq!(doc["rule"]["threshold"], 5);
    assert_eq!(doc["rule"]["period"], 300);
    assert_eq!(doc["window"]["start"], "2024-01-01T00:00:00Z");
    assert_eq!(doc["window"]["end"], "2024-01-01T00:05:00Z");
    assert_eq!(doc["window"]["start_unix"], 1_704_067_200);
    assert_eq!(doc["samples_included"], 3);
    assert_eq!(doc["samples"][1]["eventID"], "ev-1");
    assert_eq!(doc["samples"][1]["logFile"], "s3://trail-bucket/f1.json.gz");
    let pairs = m.attributes.pairs();
    assert_eq!(pairs[0], ("rule_id", "team:failed-logins"));
    assert_eq!(pairs[1], ("severity", "MEDIUM"));
}

/// The largest window a state record can hold (10 samples of 512-character fields) next to a
/// huge description still fits one SNS publish; the JSON drops samples before anything else.
#[test]
fn the_window_alert_fits_sns_whatever_the_samples() {
    let big = "\"é\\".repeat(600);
    let record = json!({
        "eventTime": "2024-01-01T00:01:00Z", "eventSource": big, "eventName": big,
        "userIdentity": {"type": big, "arn": big}, "sourceIPAddress": big, "userAgent": big,
        "errorCode": big, "errorMessage": big, "eventID": big
    })
    .to_string();
    let s = WindowSample::new(
        &EventSummary::from_record(&record),
        &format!("s3://b/{}", "k".repeat(1024)),
    );
    let samples = vec![s; MAX_WINDOW_SAMPLES];
    let rule = Rule {
        description: Some("d\"".repeat(150_000)),
        ..windowed_rule()
    };
    let f = file();
    let m = window_alert(&rule, &report(0, 1_000_000, &samples, &f));
    assert!(
        m.publish_bytes() <= SNS_MAX_PUBLISH_BYTES,
        "{}",
        m.publish_bytes()
    );
    let doc = machine(&m);
    assert_eq!(doc["match_count"], 1_000_000);
    assert_eq!(doc["truncated"], true);
    assert_eq!(doc["samples_included"], 0);
    assert_eq!(doc["rule"]["id"], "team:failed-logins");
    // The largest samples alone: some are dropped from the JSON, the rest still fits.
    let m = window_alert(&windowed_rule(), &report(0, 10, &samples, &f));
    assert!(
        m.publish_bytes() <= SNS_MAX_PUBLISH_BYTES,
        "{}",
        m.publish_bytes()
    );
    let shown = machine(&m)["samples_included"].as_u64().unwrap();
    assert!((1..MAX_WINDOW_SAMPLES as u64).contains(&shown), "{shown}");
    // Negative control: real-sized samples next to an ordinary rule are all sent.
    let real = self::samples(MAX_WINDOW_SAMPLES);
    let small = window_alert(&windowed_rule(), &report(0, 10, &real, &f));
    assert_eq!(machine(&small)["samples_included"], MAX_WINDOW_SAMPLES);
    assert!(!small.text_truncated);
    assert!(small.publish_bytes() <= SNS_MAX_PUBLISH_BYTES);
}

#[test]
fn periods_read_as_people_say_them() {
    assert_eq!(period_phrase(10), "10 s");
    assert_eq!(period_phrase(300), "5 min");
    assert_eq!(period_phrase(7200), "2 h");
    assert_eq!(period_phrase(86_400), "1 d");
    assert_eq!(period_phrase(5400), "90 min");
}

/// `trailwatch scan`'s back-test takes the alerter's decision: the file that brings a window to
/// the threshold raises its alert, once; another window or a file below it raises none.
#[test]
fn the_backtest_alerts_on_the_file_that_reaches_the_threshold_once() {
    let rules = {
        let doc = format!(
            r#"[{{"id":"team:failed-logins","title":"Failed console sign-ins","pattern":"{PATTERN}","severity":"MEDIUM","threshold":5,"period":300}}]"#
        );
        let custom = parse_rules("CUSTOM_RULES", &doc).unwrap();
        load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)]).unwrap()
    };
    let mut backtest = WindowBacktest::default();
    let mut raised = Vec::new();
    for (n, times) in [
        ["2024-01-01T00:00:10Z", "2024-01-01T00:00:20Z"],
        ["2024-01-01T00:01:10Z", "2024-01-01T00:05:20Z"],
        ["2024-01-01T00:02:10Z", "2024-01-01T00:03:20Z"],
        ["2024-01-01T00:04:10Z", "2024-01-01T00:04:20Z"],
    ]
    .iter()
    .enumerate()
    {
        let records: Vec<String> = times
            .iter()
            .enumerate()
            .map(|(i, t)| failed_login(t, n * 2 + i))
            .collect();
        let text = format!("{{\"Records\":[{}]}}", records.join(","));
        let scan = scan_log_file(
            RecordReader::new(text.as_bytes(), ReaderLimits::default()),
            &rules,
            10,
        );
        let f = FileContext {
            key: format!("f{n}.json.gz"),
            ..file()
        };
        raised.push(backtest.add_file(&scan, &rules, &f));
    }
    // 2, 3, 5 (third file), 7: one alert, on the third file; the 00:05 window holds 1.
    let counts: Vec<usize> = raised.iter().map(Vec::len).collect();
    assert_eq!(counts, [0, 0, 1, 0]);
    let alert = &raised[2][0];
    assert!(
        alert.subject.contains("5 events in 5 min"),
        "{}",
        alert.subject
    );
    assert!(
        alert
            .text
            .contains("Alerted on log file: s3://trail-bucket/f2.json.gz"),
        "{}",
        alert.text
    );
}
