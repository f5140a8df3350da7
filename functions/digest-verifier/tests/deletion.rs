//! Deletions through the handler, with a recording alert sink: one CRITICAL alert per deleted
//! CloudTrail file, none for other keys, and a failed publish fails the invocation (or only its
//! SQS message) so the deletion is retried, never lost.

mod support;

use digest_verifier::{DeletionOutcome, DigestVerifier};
use serde_json::json;
use support::{LOG, Recorder, config, object_deleted};
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::MemoryStateStore;
use trailwatch_shared::digest::{MemoryStore, StaticKeySource};

/// The delete marker's version id in every deletion event here.
const MARKER: &str = "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF";
const DIGEST: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240102T030405Z.json.gz";

fn verifier(
    fail: bool,
) -> DigestVerifier<MemoryStore, StaticKeySource, Recorder, MemoryStateStore> {
    DigestVerifier {
        config: config(),
        store: MemoryStore::default(),
        keys: StaticKeySource::default(),
        alerts: Recorder::failing(fail),
        ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_deleted_log_and_digest_alert_once_each_and_other_keys_do_not() {
    let v = verifier(false);
    rt().block_on(async {
        for key in [LOG, DIGEST, "exports/report.csv"] {
            let response = v.handle(object_deleted(key, MARKER)).await.unwrap();
            assert_eq!(response["status"], "ok", "{response}");
            assert_eq!(response["deletions"], 1, "{response}");
        }
    });
    let sent = v.alerts.sent.lock().unwrap();
    let subjects: Vec<&str> = sent.iter().map(|a| a.subject.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "[CRITICAL] CloudTrail log file deleted: 123456789012 us-east-1 2024-01-02 03:00 UTC",
            "[CRITICAL] CloudTrail digest file deleted: 123456789012 us-east-1 2024-01-02 03:00 UTC",
        ]
    );
    for alert in sent.iter() {
        let pairs = alert.attributes.pairs();
        assert!(pairs.contains(&("rule_id", "OBJECT_DELETED")), "{pairs:?}");
        assert!(pairs.contains(&("severity", "CRITICAL")), "{pairs:?}");
        assert!(
            alert
                .text
                .contains("Version:       delete marker 1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF")
        );
        assert!(alert.text.contains("Source IP:     1.2.3.4"));
    }
}

#[test]
fn deletions_of_other_keys_are_counted_not_alerted() {
    let v = verifier(false);
    let notice = trailwatch_shared::trigger::decode(&object_deleted(
        "AWSLogs/123456789012/CloudTrail/",
        MARKER,
    ))
    .unwrap()
    .deletions
    .remove(0);
    let outcome = rt().block_on(v.process_deletion(&notice)).unwrap();
    assert_eq!(
        outcome,
        DeletionOutcome::Counted {
            reason: "folder_marker".into()
        }
    );
    assert!(v.alerts.sent.lock().unwrap().is_empty());
}

#[test]
fn a_failed_publish_fails_the_invocation_or_only_its_sqs_message() {
    let v = verifier(true);
    let error = rt()
        .block_on(v.handle(object_deleted(LOG, MARKER)))
        .unwrap_err();
    assert!(error.to_string().contains(LOG), "{error}");

    let sqs = json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "m-del", "body": object_deleted(LOG, MARKER).to_string()},
        {"eventSource": "aws:sqs", "messageId": "m-other",
         "body": object_deleted("exports/report.csv", MARKER).to_string()},
    ]});
    let response = rt().block_on(v.handle(sqs)).unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-del"}]})
    );
}
