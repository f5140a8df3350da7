//! The handler over an in-memory bucket and a recording alert sink: one alert per failing digest,
//! silence on clean ones, warnings only on request, infrastructure failures fail the invocation.

use std::future::Future;
use std::sync::Mutex;

use digest_verifier::{DigestVerifier, ObjectOutcome, VerifierConfig};
use serde_json::{Value, json};
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_lambda_common::state::MemoryStateStore;
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::digest::testkit::{VariantCase, all_variants};
use trailwatch_shared::digest::{MemoryStore, StaticKeySource, StoreError, Verdict};
use trailwatch_shared::trigger::ObjectRef;

#[derive(Default)]
struct Recorder(Mutex<Vec<AlertMessage>>);

impl AlertPublisher for Recorder {
    fn publish(
        &self,
        alert: &AlertMessage,
    ) -> impl Future<Output = Result<String, PublishError>> + Send {
        let mut sent = self.0.lock().unwrap();
        sent.push(alert.clone());
        std::future::ready(Ok(format!("msg-{}", sent.len())))
    }
}

fn verifier(
    case: &VariantCase,
    alert_on_warn: bool,
) -> DigestVerifier<MemoryStore, StaticKeySource, Recorder, MemoryStateStore> {
    DigestVerifier {
        config: VerifierConfig {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
            alert_on_warn,
            max_concurrency: 4,
            public_keys_file: None,
            overwrite_check: true,
        },
        store: case.store(),
        keys: case.key_source(),
        alerts: Recorder::default(),
        ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
    }
}

fn s3_event(objects: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = objects
        .iter()
        .map(|(bucket, key)| {
            json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-03-14T13:12:30.000Z", "eventName": "ObjectCreated:Put",
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "digests",
                       "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                       "object": {"key": key, "size": 1000, "sequencer": "0A1B2C3D4E5F678901"}}
            })
        })
        .collect();
    json!({ "Records": records })
}

fn case(name: &str) -> VariantCase {
    all_variants().into_iter().find(|v| v.name == name).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn one_alert_per_failing_digest_and_silence_on_clean_ones() {
    // log_modified: digest #1 lists the altered log; the other five digests are clean.
    let c = case("log_modified");
    let v = verifier(&c, false);
    let digests = c.stored_digests();
    let refs: Vec<(&str, &str)> = digests
        .iter()
        .map(|(b, k)| (b.as_str(), k.as_str()))
        .collect();
    let response = rt().block_on(v.handle(s3_event(&refs))).unwrap();
    assert_eq!(response["status"], "ok");
    let sent = v.alerts.0.lock().unwrap();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let alert = &sent[0];
    assert_eq!(
        alert.subject,
        "[CRITICAL] CloudTrail tampering suspected: 1 finding, 123456789012 us-east-1"
    );
    let pairs = alert.attributes.pairs();
    let attr = |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    assert_eq!(attr("rule_id"), Some("LOG_HASH_MISMATCH"));
    assert_eq!(attr("severity"), Some("CRITICAL"));
    assert_eq!(attr("region"), Some("us-east-1"));
    let body: Value = serde_json::from_str(&alert.message).unwrap();
    assert!(
        body["email"].as_str().unwrap().contains(&digests[1].1),
        "names the digest"
    );

    let clean = case("clean");
    let v = verifier(&clean, false);
    let digests = clean.stored_digests();
    let refs: Vec<(&str, &str)> = digests
        .iter()
        .map(|(b, k)| (b.as_str(), k.as_str()))
        .collect();
    rt().block_on(v.handle(s3_event(&refs))).unwrap();
    assert!(v.alerts.0.lock().unwrap().is_empty());
}

#[test]
fn warnings_alert_only_when_asked() {
    let c = case("log_listed_twice");
    let key = c.chains[0].digests[2].key.clone();
    let bucket = c.chains[0].digests[2].bucket.clone();
    let object = ObjectRef {
        bucket,
        key,
        size: None,
        version_id: None,
        requester: None,
        source_ip: None,
        etag: None,
    };
    for (alert_on_warn, expected) in [(false, 0), (true, 1)] {
        let v = verifier(&c, alert_on_warn);
        let outcome = rt().block_on(v.process_object(&object)).unwrap();
        let ObjectOutcome::Verified {
            report, alerted, ..
        } = outcome
        else {
            panic!("not verified")
        };
        assert_eq!(report.verdict, Verdict::Warn);
        assert_eq!(alerted, expected == 1);
        let sent = v.alerts.0.lock().unwrap();
        assert_eq!(sent.len(), expected);
        if let Some(a) = sent.first() {
            assert!(
                a.subject
                    .starts_with("[MEDIUM] CloudTrail integrity warning"),
                "{}",
                a.subject
            );
        }
    }
}

#[test]
fn other_objects_are_skipped_and_counted() {
    let c = case("clean");
    let v = verifier(&c, false);
    let log = &c.chains[0].logs[0];
    let object = ObjectRef {
        bucket: log.bucket.clone(),
        key: log.key.clone(),
        size: None,
        version_id: None,
        requester: None,
        source_ip: None,
        etag: None,
    };
    let outcome = rt().block_on(v.process_object(&object)).unwrap();
    assert_eq!(
        outcome,
        ObjectOutcome::Skipped {
            reason: "log file".into()
        }
    );
    assert!(v.alerts.0.lock().unwrap().is_empty());
}

#[test]
fn infrastructure_failure_fails_the_invocation_without_alerting() {
    let c = case("clean");
    let mut v = verifier(&c, false);
    let chain = &c.chains[0];
    let log = &chain.logs[chain.logs_of(2)[0]];
    v.store.fail(
        &log.bucket,
        &log.key,
        StoreError::Infrastructure("503 SlowDown".into()),
    );
    let d = &chain.digests[2];
    let err = rt()
        .block_on(v.handle(s3_event(&[(&d.bucket, &d.key)])))
        .unwrap_err();
    assert!(err.to_string().contains("503 SlowDown"), "{err}");
    assert!(v.alerts.0.lock().unwrap().is_empty());

    // A refused read of the digest itself is a permission to fix, not "missing" and no verdict.
    let mut v = verifier(&c, false);
    v.store.fail(
        &d.bucket,
        &d.key,
        StoreError::AccessDenied("403 Forbidden".into()),
    );
    let err = rt()
        .block_on(v.handle(s3_event(&[(&d.bucket, &d.key)])))
        .unwrap_err();
    assert!(err.to_string().contains("access denied"), "{err}");
    assert!(v.alerts.0.lock().unwrap().is_empty());
}

#[test]
fn a_refused_read_of_a_listed_log_is_a_log_unreadable_alert() {
    let c = case("clean");
    let mut v = verifier(&c, false);
    let chain = &c.chains[0];
    let log = &chain.logs[chain.logs_of(2)[0]];
    v.store.fail(
        &log.bucket,
        &log.key,
        StoreError::AccessDenied("403 Forbidden".into()),
    );
    let d = &chain.digests[2];
    rt().block_on(v.handle(s3_event(&[(&d.bucket, &d.key)])))
        .unwrap();
    let alerts = v.alerts.0.lock().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].attributes.finding_codes.as_deref(),
        Some("LOG_UNREADABLE")
    );
}
