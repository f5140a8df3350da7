//! Windowed thresholds across files (`alerter::window`): log files scanned by the real rules,
//! their windows counted in the in-memory state store (DynamoDB's conditional-write semantics),
//! alerts published through a recording publisher that can fail. One alert per window, on the
//! file that reaches the threshold; a file counted once however often it comes; windows and
//! accounts apart; a failed publish is retried by the file's retry and not lost; negative
//! controls where a check could pass vacuously.

use std::sync::Mutex;

use alerter::window::{WindowError, WindowTally, add_file_to_windows, window_work};
use serde_json::json;
use trailwatch_lambda_common::sns::once::{AlertLedger, Claimed};
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_lambda_common::state::{MemoryStateStore, StateStore, WindowKey};
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::scan_log_file;
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::config::{LoadedRules, RuleSetSelection, load_rules, parse_rules};

const ACCOUNT: &str = "111122223333";
const RULE: &str = "team:failed-logins";
/// 2024-01-01T00:00:00Z: a window of 300 s starts here.
const WINDOW: i64 = 1_704_067_200;

/// Records what it published; fails every publish while `failing`.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<AlertMessage>>,
    failing: Mutex<bool>,
}

impl Recorder {
    fn sent(&self) -> Vec<AlertMessage> {
        self.sent.lock().unwrap().clone()
    }
}

impl AlertPublisher for Recorder {
    async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
        if *self.failing.lock().unwrap() {
            return Err(PublishError {
                topic_arn: "arn:aws:sns:us-east-1:111122223333:alerts".into(),
                detail: "InternalError".into(),
                refused: false,
            });
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(alert.clone());
        Ok(format!("msg-{}", sent.len()))
    }
}

fn rules() -> LoadedRules {
    let doc = json!([{
        "id": RULE, "title": "Failed console sign-ins", "severity": "MEDIUM",
        "pattern": "{ $.eventName = ConsoleLogin && $.responseElements.ConsoleLogin = Failure }",
        "threshold": 5, "period": 300
    }])
    .to_string();
    let custom = parse_rules("CUSTOM_RULES", &doc).unwrap();
    load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)]).unwrap()
}

/// A failed console sign-in at `WINDOW + offset` seconds (`account` as recipient).
fn failed_login(offset: i64, account: &str, n: usize) -> String {
    assert!((0..3600).contains(&offset), "offsets stay within the hour");
    let t = format!("2024-01-01T00:{:02}:{:02}Z", offset / 60, offset % 60);
    json!({
        "eventVersion": "1.09", "eventTime": t, "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin", "awsRegion": "us-east-1", "recipientAccountId": account,
        "userIdentity": {"type": "IAMUser", "userName": "alice"}, "sourceIPAddress": "203.0.113.7",
        "responseElements": {"ConsoleLogin": "Failure"}, "eventID": format!("ev-{n}")
    })
    .to_string()
}

/// A successful sign-in: must not count.
fn good_login(offset: i64) -> String {
    failed_login(offset, ACCOUNT, 0).replace("Failure", "Success")
}

fn file(name: &str) -> FileContext {
    FileContext {
        bucket: "trail-bucket".into(),
        key: format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/01/{name}.json.gz"),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
    }
}

struct World {
    ledger: AlertLedger<MemoryStateStore>,
    publisher: Recorder,
    rules: LoadedRules,
}

impl World {
    fn new() -> Self {
        Self {
            ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
            publisher: Recorder::default(),
            rules: rules(),
        }
    }

    /// Scans one file version's records and adds it to its windows.
    async fn deliver(
        &self,
        name: &str,
        version: &str,
        records: &[String],
    ) -> Result<WindowTally, alerter::window::WindowFailures> {
        let text = format!("{{\"Records\":[{}]}}", records.join(","));
        let reader = RecordReader::new(text.as_bytes(), ReaderLimits::default());
        let scan = scan_log_file(reader, &self.rules, 10);
        add_file_to_windows(
            &self.ledger,
            &self.publisher,
            &self.rules,
            &scan,
            &file(name),
            version,
        )
        .await
    }
}

fn two_failures(offset: i64, first_id: usize) -> Vec<String> {
    vec![
        failed_login(offset, ACCOUNT, first_id),
        good_login(offset + 1),
        failed_login(offset + 2, ACCOUNT, first_id + 1),
    ]
}

#[tokio::test]
async fn three_files_of_two_matches_raise_one_alert_on_the_third() {
    let w = World::new();
    let t1 = w.deliver("f1", "v:1", &two_failures(10, 1)).await.unwrap();
    let t2 = w.deliver("f2", "v:1", &two_failures(60, 3)).await.unwrap();
    assert_eq!((t1.contributions, t2.contributions), (1, 1));
    assert!(
        w.publisher.sent().is_empty(),
        "4 matches < 5 must not alert"
    );
    let t3 = w.deliver("f3", "v:1", &two_failures(120, 5)).await.unwrap();
    assert_eq!(t3.alerts_published, 1);
    let sent = w.publisher.sent();
    assert_eq!(sent.len(), 1);
    let alert = &sent[0];
    assert_eq!(
        alert.subject,
        format!(
            "[MEDIUM] {RULE} Failed console sign-ins: 6 events in 5 min in {ACCOUNT} us-east-1"
        )
    );
    assert!(
        alert
            .text
            .contains("Window:    2024-01-01T00:00:00Z to 2024-01-01T00:05:00Z UTC")
    );
    assert!(
        alert.text.contains(
            "Matches:   6 in this window, across log files (alert threshold: 5 in 300 s)"
        )
    );
    assert!(
        alert
            .text
            .contains(&format!("Alerted on log file: {}", file("f3").uri()))
    );
    // Samples from every file, in the order they were counted.
    let doc: serde_json::Value = serde_json::from_str(&alert.machine_json).unwrap();
    let ids: Vec<&str> = doc["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5", "ev-6"]);
    assert_eq!(doc["samples"][4]["logFile"], file("f3").uri());
    // A fourth file adds to the window but does not alert again.
    let t4 = w.deliver("f4", "v:1", &two_failures(200, 7)).await.unwrap();
    assert_eq!((t4.contributions, t4.alerts_published), (1, 0));
    assert_eq!(w.publisher.sent().len(), 1);
}

#[tokio::test]
async fn the_same_file_version_delivered_twice_counts_once() {
    let w = World::new();
    w.deliver("f1", "v:1", &two_failures(10, 1)).await.unwrap();
    let again = w.deliver("f1", "v:1", &two_failures(10, 1)).await.unwrap();
    assert_eq!((again.contributions, again.already_counted), (0, 1));
    w.deliver("f2", "v:1", &two_failures(60, 3)).await.unwrap();
    assert!(w.publisher.sent().is_empty(), "4 distinct matches, not 6");
    w.deliver("f3", "v:1", &two_failures(120, 5)).await.unwrap();
    assert_eq!(w.publisher.sent().len(), 1);

    // Negative control: a new version of f1 is another object version, so it does count (the
    // id really is per version, not per key only).
    let w = World::new();
    w.deliver("f1", "v:1", &two_failures(10, 1)).await.unwrap();
    w.deliver("f1", "v:2", &two_failures(10, 1)).await.unwrap();
    w.deliver("f2", "v:1", &two_failures(60, 3)).await.unwrap();
    assert_eq!(w.publisher.sent().len(), 1);
}

#[tokio::test]
async fn matches_in_different_windows_or_accounts_do_not_add_up() {
    let w = World::new();
    // 3 just before 00:05:00 and 3 from 00:05:00 on: 6 in two windows of 3.
    let straddling = vec![
        failed_login(296, ACCOUNT, 1),
        failed_login(298, ACCOUNT, 2),
        failed_login(299, ACCOUNT, 3),
        failed_login(300, ACCOUNT, 4),
        failed_login(301, ACCOUNT, 5),
        failed_login(303, ACCOUNT, 6),
    ];
    let t = w.deliver("f1", "v:1", &straddling).await.unwrap();
    assert_eq!(t.contributions, 2);
    // Another account's 4 in the first window: its own counter.
    let other: Vec<String> = (0..4)
        .map(|i| failed_login(100 + i, "444455556666", 10 + i as usize))
        .collect();
    w.deliver("f2", "v:1", &other).await.unwrap();
    assert!(w.publisher.sent().is_empty(), "no window holds 5");
    // Two more in the second window: that window alerts, alone.
    w.deliver(
        "f3",
        "v:1",
        &[failed_login(400, ACCOUNT, 7), failed_login(401, ACCOUNT, 8)],
    )
    .await
    .unwrap();
    let sent = w.publisher.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .text
            .contains("Window:    2024-01-01T00:05:00Z to 2024-01-01T00:10:00Z"),
        "{}",
        sent[0].text
    );
    assert!(
        sent[0].subject.contains("5 events in 5 min"),
        "{}",
        sent[0].subject
    );
}

/// The file that crossed the threshold fails to publish; another file arrives meanwhile (it is
/// counted, but the crossing is not its to report); the crossing file's retry (already counted,
/// so `before == after`) publishes the alert, once; later retries of any file do not.
#[tokio::test]
async fn a_failed_crossing_publish_is_published_by_the_files_retry_once() {
    let w = World::new();
    w.deliver("f1", "v:1", &two_failures(10, 1)).await.unwrap();
    w.deliver("f2", "v:1", &two_failures(60, 3)).await.unwrap();
    *w.publisher.failing.lock().unwrap() = true;
    let failed = w
        .deliver("f3", "v:1", &two_failures(120, 5))
        .await
        .unwrap_err();
    assert!(
        matches!(failed.errors[..], [WindowError::Publish { .. }]),
        "{failed}"
    );
    assert!(
        failed.to_string().contains(&format!("{RULE}@{WINDOW}")),
        "{failed}"
    );
    *w.publisher.failing.lock().unwrap() = false;
    let t4 = w.deliver("f4", "v:1", &two_failures(200, 7)).await.unwrap();
    assert_eq!(
        t4.alerts_published, 0,
        "a later file does not report the crossing"
    );
    assert!(w.publisher.sent().is_empty());
    let retry = w.deliver("f3", "v:1", &two_failures(120, 5)).await.unwrap();
    assert_eq!((retry.already_counted, retry.alerts_published), (1, 1));
    let sent = w.publisher.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].subject.contains("8 events"),
        "the count when published: {}",
        sent[0].subject
    );
    for (name, first) in [("f1", 1), ("f3", 5), ("f4", 7)] {
        let t = w
            .deliver(name, "v:1", &two_failures(0, first))
            .await
            .unwrap();
        assert_eq!((t.alerts_published, t.alerts_already_out), (0, 1), "{name}");
    }
    assert_eq!(w.publisher.sent().len(), 1);
}

/// While another invocation holds the window's alert unit, the crossing file fails (retried
/// later) instead of publishing a second copy or trusting an attempt that may still fail.
#[tokio::test]
async fn a_window_alert_held_elsewhere_fails_the_file_for_a_retry() {
    let w = World::new();
    w.deliver("f1", "v:1", &two_failures(10, 1)).await.unwrap();
    w.deliver("f2", "v:1", &two_failures(60, 3)).await.unwrap();
    let window = WindowKey {
        rule_id: RULE.into(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        period_secs: 300,
        window_start: WINDOW,
    };
    let Claimed::Acquired(held) = w.ledger.claim(window_work(&window)).await.unwrap() else {
        panic!("window unit not acquired")
    };
    let e = w
        .deliver("f3", "v:1", &two_failures(120, 5))
        .await
        .unwrap_err();
    assert!(
        matches!(e.errors[..], [WindowError::InProgress { .. }]),
        "{e}"
    );
    assert!(w.publisher.sent().is_empty());
    held.release().await;
    w.deliver("f3", "v:1", &two_failures(120, 5)).await.unwrap();
    assert_eq!(w.publisher.sent().len(), 1);
}

/// Negative control for the whole module: the same rule without `period` adds nothing to any
/// window (it is a per-file rule, alerted by the handler).
#[tokio::test]
async fn a_rule_without_period_touches_no_window() {
    let w = World::new();
    let doc = json!([{ "id": "per-file", "severity": "LOW", "threshold": 1,
        "pattern": "{ $.eventName = ConsoleLogin }" }])
    .to_string();
    let custom = parse_rules("CUSTOM_RULES", &doc).unwrap();
    let per_file = load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)]).unwrap();
    let text = format!("{{\"Records\":[{}]}}", two_failures(0, 1).join(","));
    let scan = scan_log_file(
        RecordReader::new(text.as_bytes(), ReaderLimits::default()),
        &per_file,
        10,
    );
    let t = add_file_to_windows(
        &w.ledger,
        &w.publisher,
        &per_file,
        &scan,
        &file("f1"),
        "v:1",
    )
    .await
    .unwrap();
    assert_eq!(t, WindowTally::default());
    let probe = w
        .ledger
        .store
        .add_to_window(
            &WindowKey {
                rule_id: "per-file".into(),
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
                period_secs: 300,
                window_start: WINDOW,
            },
            "probe",
            1,
            Vec::new(),
            0,
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        probe.before, 0,
        "no counter was written for a per-file rule"
    );
}

mod through_the_handler {
    //! The handler with a windowed and a per-file rule together, over a mocked S3: the per-file
    //! rule alerts in each file as before, the windowed one once for the window; a file whose
    //! window alert fails fails, and its retry publishes it once without counting it twice.

    use std::io::Write as _;
    use std::sync::Arc;

    use alerter::config::AlerterConfig;
    use alerter::handler::{Alerter, ObjectError};
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use trailwatch_shared::trigger::ObjectRef;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn key(name: &str) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/01/{ACCOUNT}_CloudTrail_us-east-1_20240101T0005Z_{name}.json.gz"
        )
    }

    /// GetObject answers each file's body by key.
    fn s3_serving(files: &[(&str, Vec<String>)]) -> aws_sdk_s3::Client {
        let rules: Vec<_> = files
            .iter()
            .map(|(name, records)| {
                let k = key(name);
                let body = gzip(format!("{{\"Records\":[{}]}}", records.join(",")).as_bytes());
                mock!(aws_sdk_s3::Client::get_object)
                    .match_requests(move |r| r.key() == Some(k.as_str()))
                    .then_output(move || {
                        GetObjectOutput::builder()
                            .body(ByteStream::from(body.clone()))
                            .build()
                    })
            })
            .collect();
        let refs: Vec<&aws_smithy_mocks::Rule> = rules.iter().collect();
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, &refs)
    }

    /// GetObject of `name` answers `bodies[n]` on the n-th call (the last one from then on).
    fn s3_serving_in_turn(name: &str, bodies: Vec<Vec<u8>>) -> aws_sdk_s3::Client {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let k = key(name);
        let get = mock!(aws_sdk_s3::Client::get_object)
            .match_requests(move |r| r.key() == Some(k.as_str()))
            .then_output(move || {
                let n = calls
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                    .min(bodies.len() - 1);
                GetObjectOutput::builder()
                    .body(ByteStream::from(bodies[n].clone()))
                    .build()
            });
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get])
    }

    /// Three files of two failed sign-ins each, a minute or two apart: 6 in one 5-minute window.
    fn three_files() -> [(&'static str, Vec<String>); 3] {
        [
            ("aaaaaaaaaaaaaaa1", two_failures(10, 1)),
            ("aaaaaaaaaaaaaaa2", two_failures(60, 3)),
            ("aaaaaaaaaaaaaaa3", two_failures(120, 5)),
        ]
    }

    /// The handler reading `s3` with `rules`, publishing to `publisher`, with a fresh ledger.
    fn alerter_over(
        s3: aws_sdk_s3::Client,
        rules: LoadedRules,
        publisher: &Arc<Recorder>,
    ) -> Alerter<Recorder, MemoryStateStore> {
        Alerter {
            config: AlerterConfig::from_lookup(|k| {
                (k == "ALERT_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:1:t".to_owned())
            })
            .unwrap(),
            s3,
            publisher: publisher.clone(),
            rules: Arc::new(rules),
            limits: ReaderLimits::default(),
            ledger: Arc::new(AlertLedger::new(MemoryStateStore::new(), 86_400)),
        }
    }

    fn both_rules() -> LoadedRules {
        let doc = json!([
            {"id": RULE, "title": "Failed console sign-ins", "severity": "MEDIUM",
             "pattern": "{ $.eventName = ConsoleLogin && $.responseElements.ConsoleLogin = Failure }",
             "threshold": 5, "period": 300},
            {"id": "team:any-login", "severity": "LOW", "threshold": 2,
             "pattern": "{ $.eventName = ConsoleLogin }"}
        ])
        .to_string();
        let custom = parse_rules("CUSTOM_RULES", &doc).unwrap();
        load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)]).unwrap()
    }

    fn object(name: &str) -> ObjectRef {
        ObjectRef {
            bucket: "trail-bucket".into(),
            key: key(name),
            size: None,
            version_id: Some("v1".into()),
            requester: None,
            source_ip: None,
            etag: None,
        }
    }

    #[tokio::test]
    async fn per_file_rules_alert_per_file_and_the_window_once() {
        let files = three_files();
        let publisher = Arc::new(Recorder::default());
        let alerter = alerter_over(s3_serving(&files), both_rules(), &publisher);
        let ids = |p: &Recorder| -> Vec<String> {
            p.sent()
                .iter()
                .map(|m| m.attributes.rule_id.clone())
                .collect()
        };
        alerter.process_object(&object(files[0].0)).await.unwrap();
        alerter.process_object(&object(files[1].0)).await.unwrap();
        // Per file: 3 sign-ins >= 2, one alert each; the windowed rule: 4 < 5, none.
        assert_eq!(ids(&publisher), ["team:any-login", "team:any-login"]);
        // The third file brings the window to 6: its own alert, and the window's, once.
        let third = object(files[2].0);
        alerter.process_object(&third).await.unwrap();
        let sent = ids(&publisher);
        assert_eq!(sent.len(), 4, "{sent:?}");
        assert_eq!(sent.iter().filter(|i| *i == RULE).count(), 1);
        let window_alert = publisher
            .sent()
            .into_iter()
            .find(|m| m.attributes.rule_id == RULE)
            .unwrap();
        assert!(
            window_alert.subject.contains("6 events in 5 min"),
            "{}",
            window_alert.subject
        );
        // A repeated delivery of any file changes nothing.
        for (name, _) in &files {
            alerter.process_object(&object(name)).await.unwrap();
        }
        assert_eq!(ids(&publisher).len(), 4);
    }

    #[tokio::test]
    async fn a_failed_window_alert_fails_the_file_and_its_retry_publishes_it_once() {
        let files = three_files();
        let publisher = Arc::new(Recorder::default());
        let alerter = alerter_over(s3_serving(&files), rules(), &publisher);
        alerter.process_object(&object(files[0].0)).await.unwrap();
        alerter.process_object(&object(files[1].0)).await.unwrap();
        *publisher.failing.lock().unwrap() = true;
        let e = alerter
            .process_object(&object(files[2].0))
            .await
            .unwrap_err();
        assert!(matches!(e, ObjectError::Window(_)), "{e}");
        assert!(e.to_string().contains(&format!("{RULE}@{WINDOW}")), "{e}");
        *publisher.failing.lock().unwrap() = false;
        alerter.process_object(&object(files[2].0)).await.unwrap();
        alerter.process_object(&object(files[2].0)).await.unwrap();
        assert_eq!(publisher.sent().len(), 1);
        assert!(publisher.sent()[0].subject.contains("6 events"));
    }

    /// A file cut short adds nothing to its windows (a contribution is counted once, so a partial
    /// count could never be corrected): the retry that reads it whole counts all of it and alerts.
    #[tokio::test]
    async fn a_file_cut_short_adds_nothing_and_its_whole_retry_counts_all() {
        let records: Vec<String> = (0..6)
            .map(|i| failed_login(10 + i, ACCOUNT, i as usize))
            .collect();
        let whole = format!("{{\"Records\":[{}]}}", records.join(","));
        let cut = whole.find("ev-3").unwrap();
        let name = "aaaaaaaaaaaaaaa1";
        let publisher = Arc::new(Recorder::default());
        let alerter = alerter_over(
            s3_serving_in_turn(
                name,
                vec![gzip(&whole.as_bytes()[..cut]), gzip(whole.as_bytes())],
            ),
            rules(),
            &publisher,
        );
        let e = alerter.process_object(&object(name)).await.unwrap_err();
        assert!(matches!(e, ObjectError::Read { .. }), "{e}");
        assert!(publisher.sent().is_empty());
        alerter.process_object(&object(name)).await.unwrap();
        let sent = publisher.sent();
        assert_eq!(sent.len(), 1, "the whole file's 6 matches reach 5");
        assert!(
            sent[0].subject.contains("6 events in 5 min"),
            "{}",
            sent[0].subject
        );
    }
}
