//! Alerts exactly once per file version: the handler over a mocked S3 (the SDK's own mocks), the
//! in-memory state store and a recording publisher that can fail chosen alerts. Repeated
//! deliveries publish nothing again, retries publish only what is missing, a file cut short
//! alerts for its first part and the retry adds only the rest; without the store's memory
//! (negative controls) the same deliveries do publish again.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use alerter::config::AlerterConfig;
use alerter::handler::{Alerter, ObjectError, ObjectOutcome};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::{Value, json};
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_lambda_common::state::{MemoryStateStore, StateStore, WorkKey};
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::records::ReaderLimits;
use trailwatch_shared::rules::config::{RuleSetSelection, load_rules};
use trailwatch_shared::trigger::ObjectRef;

const BUCKET: &str = "trail-bucket";
const ATTACK_KEY: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json.gz";
const INSIGHT_KEY: &str = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/07/10/123456789012_CloudTrail-Insight_us-east-1_20240710T0145Z_FiT5gcVkXjDfw1bn.json.gz";
/// The four Security Hub rules the attack file raises: a bucket policy change (record 4), trail
/// changes (CreateTrail at 11, StopLogging, ...), an IAM policy change, AccessDenied.
const ATTACK_RULES: [&str; 4] = [
    "SecurityHub:CloudWatch.2",
    "SecurityHub:CloudWatch.4",
    "SecurityHub:CloudWatch.5",
    "SecurityHub:CloudWatch.8",
];

/// Records every publish by rule id; fails the rule ids in `fail`.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<String>>,
    fail: Mutex<BTreeSet<String>>,
}

impl Recorder {
    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
    fn fail(&self, rule_ids: &[&str]) {
        *self.fail.lock().unwrap() = rule_ids.iter().map(|s| (*s).to_owned()).collect();
    }
}

impl AlertPublisher for Recorder {
    async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
        let id = alert.attributes.rule_id.clone();
        if self.fail.lock().unwrap().contains(&id) {
            return Err(PublishError {
                topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
                detail: "ThrottlingException: Rate exceeded".into(),
                refused: false,
            });
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(id);
        Ok(format!("msg-{}", sent.len()))
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn attack_file() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/cloudtrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json"
    );
    std::fs::read_to_string(path).unwrap()
}

/// An S3 client whose GetObject answers `bodies[n]` on the n-th call (the last one from then on).
fn s3_serving(bodies: Vec<Vec<u8>>) -> aws_sdk_s3::Client {
    let calls = Arc::new(AtomicUsize::new(0));
    let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
        let n = calls.fetch_add(1, Ordering::SeqCst).min(bodies.len() - 1);
        GetObjectOutput::builder()
            .body(ByteStream::from(bodies[n].clone()))
            .build()
    });
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get])
}

fn alerter<P: AlertPublisher>(
    s3: aws_sdk_s3::Client,
    publisher: Arc<P>,
    ledger: Arc<AlertLedger<MemoryStateStore>>,
) -> Alerter<P, MemoryStateStore> {
    let config = AlerterConfig::from_lookup(|k| {
        (k == "ALERT_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:123456789012:alerts".to_owned())
    })
    .unwrap();
    Alerter {
        config,
        s3,
        publisher,
        rules: Arc::new(load_rules(&RuleSetSelection::default(), &[]).unwrap()),
        limits: ReaderLimits::default(),
        ledger,
    }
}

/// The handler over an S3 client whose every GetObject answers the attack file, gzipped.
fn attack_alerter(
    publisher: &Arc<Recorder>,
    ledger: Arc<AlertLedger<MemoryStateStore>>,
) -> Alerter<Recorder, MemoryStateStore> {
    alerter(
        s3_serving(vec![gzip(attack_file().as_bytes())]),
        publisher.clone(),
        ledger,
    )
}

fn new_ledger() -> Arc<AlertLedger<MemoryStateStore>> {
    Arc::new(AlertLedger::new(MemoryStateStore::new(), 86_400))
}

fn object(key: &str) -> ObjectRef {
    ObjectRef {
        bucket: BUCKET.into(),
        key: key.into(),
        size: None,
        version_id: Some("3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY".into()),
        requester: None,
        source_ip: None,
        etag: None,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_repeated_delivery_publishes_nothing_again_and_is_counted() {
    let publisher = Arc::new(Recorder::default());
    let ledger = new_ledger();
    let a = attack_alerter(&publisher, ledger.clone());
    let first = a.process_object(&object(ATTACK_KEY)).await.unwrap();
    assert_eq!(
        first,
        ObjectOutcome::LogFile {
            records: 55,
            matches: 22,
            alerts: 4,
            already_published: 0
        }
    );
    for _ in 0..2 {
        let again = a.process_object(&object(ATTACK_KEY)).await.unwrap();
        let ObjectOutcome::AlreadyProcessed { outcome } = again else {
            panic!("a completed file version was processed again: {again:?}")
        };
        let summary: Value = serde_json::from_str(&outcome).unwrap();
        assert_eq!(summary, json!({"records": 55, "matches": 22, "alerts": 4}));
    }
    assert_eq!(sorted(publisher.sent()), ATTACK_RULES);

    // Another version of the key is another unit of work: it is evaluated.
    let mut other = object(ATTACK_KEY);
    other.version_id = Some("another-version".into());
    assert!(matches!(
        a.process_object(&other).await.unwrap(),
        ObjectOutcome::LogFile { alerts: 4, .. }
    ));

    // Negative control: a store without the first run's records publishes everything again.
    let forgetful = attack_alerter(&publisher, new_ledger());
    forgetful.process_object(&object(ATTACK_KEY)).await.unwrap();
    assert_eq!(publisher.sent().len(), 12);
}

#[tokio::test]
async fn a_retry_after_a_failed_publish_publishes_only_the_missing_alert() {
    let publisher = Arc::new(Recorder::default());
    let ledger = new_ledger();
    let a = attack_alerter(&publisher, ledger.clone());
    // Alert 2 of 4 (sorted by rule order: CloudWatch.4 is raised second) fails.
    publisher.fail(&["SecurityHub:CloudWatch.4"]);
    let err = a.process_object(&object(ATTACK_KEY)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ObjectError::Publish {
                failed: 1,
                total: 4,
                refused: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.permission_denied());
    let first = publisher.sent();
    assert_eq!(first.len(), 3, "the other alerts are still attempted");
    assert!(!first.contains(&"SecurityHub:CloudWatch.4".to_owned()));
    let work = WorkKey::new("alerter", &object(ATTACK_KEY));
    assert_eq!(ledger.store.progress(&work).unwrap().published.len(), 3);

    // Lambda's retry: only the failed alert goes out.
    publisher.fail(&[]);
    let retry = a.process_object(&object(ATTACK_KEY)).await.unwrap();
    assert_eq!(
        retry,
        ObjectOutcome::LogFile {
            records: 55,
            matches: 22,
            alerts: 1,
            already_published: 3
        }
    );
    assert_eq!(publisher.sent()[3..], ["SecurityHub:CloudWatch.4"]);
    assert_eq!(sorted(publisher.sent()), ATTACK_RULES);
    // A redrive of the same event: nothing.
    assert!(matches!(
        a.process_object(&object(ATTACK_KEY)).await.unwrap(),
        ObjectOutcome::AlreadyProcessed { .. }
    ));
    assert_eq!(publisher.sent().len(), 4);
}

#[tokio::test]
async fn a_file_cut_short_alerts_for_its_first_part_and_the_retry_adds_only_the_rest() {
    let text = attack_file();
    // Cut inside the CreateTrail record: records 0..=10 are read, then the JSON breaks.
    let cut = text.find("\"eventName\":\"CreateTrail\"").unwrap();
    let publisher = Arc::new(Recorder::default());
    let ledger = new_ledger();
    let a = alerter(
        s3_serving(vec![gzip(&text.as_bytes()[..cut]), gzip(text.as_bytes())]),
        publisher.clone(),
        ledger.clone(),
    );
    let err = a.process_object(&object(ATTACK_KEY)).await.unwrap_err();
    assert!(matches!(err, ObjectError::Read { alerts: 1, .. }), "{err}");
    // Only the bucket policy change (record 4) was read.
    assert_eq!(publisher.sent(), ["SecurityHub:CloudWatch.8"]);

    // The retry reads the whole file: the three alerts of the rest, not the first one again
    // (its event list stays the one of the partial read: accepted and documented).
    let retry = a.process_object(&object(ATTACK_KEY)).await.unwrap();
    assert_eq!(
        retry,
        ObjectOutcome::LogFile {
            records: 55,
            matches: 22,
            alerts: 3,
            already_published: 1
        }
    );
    assert_eq!(sorted(publisher.sent()), ATTACK_RULES);
}

#[tokio::test]
async fn a_file_another_invocation_holds_fails_retryably_without_publishing() {
    let publisher = Arc::new(Recorder::default());
    let ledger = new_ledger();
    let work = WorkKey::new("alerter", &object(ATTACK_KEY));
    let now = 1_000;
    ledger
        .store
        .claim(&work, "other-invocation", i64::MAX, now)
        .await
        .unwrap();
    let a = attack_alerter(&publisher, ledger.clone());
    let err = a.process_object(&object(ATTACK_KEY)).await.unwrap_err();
    assert!(matches!(err, ObjectError::InProgress { .. }), "{err}");
    assert!(!err.permission_denied(), "retryable, not a permission");
    assert!(publisher.sent().is_empty());
}

fn insight_record(state: &str, event_id: &str, shared: &str, event_name: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": "2024-07-10T01:42:00Z", "awsRegion": "us-east-1",
        "eventID": event_id, "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
        "sharedEventID": shared, "eventCategory": "Insight",
        "insightDetails": {
            "state": state, "eventSource": "ec2.amazonaws.com", "eventName": event_name,
            "insightType": "ApiCallRateInsight",
            "insightContext": {"statistics": {"baseline": {"average": 0.05}, "insight": {"average": 12.5}}}
        }
    })
}

/// Fails the publish of insight alerts whose subject names `event_name`.
#[derive(Default)]
struct SubjectRecorder {
    sent: Mutex<Vec<String>>,
    fail: Mutex<Option<String>>,
}

impl AlertPublisher for SubjectRecorder {
    async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
        if let Some(f) = self.fail.lock().unwrap().as_deref()
            && alert.subject.contains(f)
        {
            return Err(PublishError {
                topic_arn: "t".into(),
                detail: "InternalError".into(),
                refused: false,
            });
        }
        self.sent.lock().unwrap().push(alert.subject.clone());
        Ok("m".into())
    }
}

#[tokio::test]
async fn insights_are_published_once_each_by_their_shared_event_id() {
    let file = json!({"Records": [
        insight_record("Start", "e1", "s-run", "RunInstances"),
        insight_record("Start", "e2", "s-term", "TerminateInstances"),
        insight_record("End", "e3", "s-run", "RunInstances"),
    ]});
    let publisher = Arc::new(SubjectRecorder::default());
    *publisher.fail.lock().unwrap() = Some("TerminateInstances".into());
    let ledger = new_ledger();
    let a = alerter(
        s3_serving(vec![gzip(file.to_string().as_bytes())]),
        publisher.clone(),
        ledger.clone(),
    );
    assert!(a.process_object(&object(INSIGHT_KEY)).await.is_err());
    assert_eq!(publisher.sent.lock().unwrap().len(), 1);
    let work = WorkKey::new("alerter", &object(INSIGHT_KEY));
    assert_eq!(
        ledger.store.progress(&work).unwrap().published,
        BTreeSet::from(["insight:s-run:Start".to_owned()])
    );
    *publisher.fail.lock().unwrap() = None;
    assert_eq!(
        a.process_object(&object(INSIGHT_KEY)).await.unwrap(),
        ObjectOutcome::InsightFile {
            records: 3,
            alerts: 1,
            already_published: 1
        }
    );
    let sent = publisher.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].contains("RunInstances") && sent[1].contains("TerminateInstances"));
    assert!(matches!(
        a.process_object(&object(INSIGHT_KEY)).await.unwrap(),
        ObjectOutcome::AlreadyProcessed { .. }
    ));
    assert_eq!(publisher.sent.lock().unwrap().len(), 2);
}

/// Through the handler: the same S3 event delivered twice (EventBridge's at-least-once, Lambda's
/// retry) raises one set of alerts.
#[tokio::test]
async fn the_same_event_delivered_twice_publishes_each_alert_once() {
    let publisher = Arc::new(Recorder::default());
    let a = attack_alerter(&publisher, new_ledger());
    let record = json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2023-07-10T12:10:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "logs",
               "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": ATTACK_KEY, "size": 1000, "versionId": "v1",
                          "sequencer": "0A1B2C3D4E5F678901"}}
    });
    for _ in 0..2 {
        a.handle(json!({"Records": [record.clone()]}))
            .await
            .unwrap();
    }
    assert_eq!(sorted(publisher.sent()), ATTACK_RULES);
}
