//! Deletions through the handler, with a recording alert sink: one CRITICAL alert per deleted
//! CloudTrail file, none for other keys, and a failed publish fails the invocation (or only its
//! SQS message) so the deletion is retried, never lost.

use std::future::Future;
use std::sync::Mutex;

use digest_verifier::{DeletionOutcome, DigestVerifier, VerifierConfig};
use serde_json::{Value, json};
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_lambda_common::state::MemoryStateStore;
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::digest::{MemoryStore, StaticKeySource};

const BUCKET: &str = "trail-bucket";
const LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0305Z_aaaaaaaaaaaaaaaa.json.gz";
const DIGEST: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240102T030405Z.json.gz";

/// Records every alert; refuses to publish when `fail` is set.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<AlertMessage>>,
    fail: bool,
}

impl AlertPublisher for Recorder {
    fn publish(
        &self,
        alert: &AlertMessage,
    ) -> impl Future<Output = Result<String, PublishError>> + Send {
        let result = if self.fail {
            Err(PublishError {
                topic_arn: "t".into(),
                detail: "throttled".into(),
                refused: false,
            })
        } else {
            let mut sent = self.sent.lock().unwrap();
            sent.push(alert.clone());
            Ok(format!("msg-{}", sent.len()))
        };
        std::future::ready(result)
    }
}

fn verifier(
    fail: bool,
) -> DigestVerifier<MemoryStore, StaticKeySource, Recorder, MemoryStateStore> {
    DigestVerifier {
        config: VerifierConfig {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
            alert_on_warn: false,
            max_concurrency: 4,
            public_keys_file: None,
            overwrite_check: true,
        },
        store: MemoryStore::default(),
        keys: StaticKeySource::default(),
        alerts: Recorder {
            fail,
            ..Recorder::default()
        },
        ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
    }
}

/// EventBridge "Object Deleted", as the S3 User Guide shows it (ev-events.html).
fn object_deleted(key: &str) -> Value {
    json!({
        "version": "0", "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
        "detail-type": "Object Deleted", "source": "aws.s3", "account": "123456789012",
        "time": "2024-01-02T04:10:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{BUCKET}")],
        "detail": {"version": "0", "bucket": {"name": BUCKET},
                   "object": {"key": key, "etag": "d41d8cd98f00b204e9800998ecf8427e",
                              "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
                              "sequencer": "617f0837b476e463"},
                   "request-id": "0BH729840619AG5K", "requester": "123456789012",
                   "source-ip-address": "1.2.3.4", "reason": "DeleteObject",
                   "deletion-type": "Delete Marker Created"}
    })
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
            let response = v.handle(object_deleted(key)).await.unwrap();
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
    let notice =
        trailwatch_shared::trigger::decode(&object_deleted("AWSLogs/123456789012/CloudTrail/"))
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
    let error = rt().block_on(v.handle(object_deleted(LOG))).unwrap_err();
    assert!(error.to_string().contains(LOG), "{error}");

    let sqs = json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": "m-del", "body": object_deleted(LOG).to_string()},
        {"eventSource": "aws:sqs", "messageId": "m-other",
         "body": object_deleted("exports/report.csv").to_string()},
    ]});
    let response = rt().block_on(v.handle(sqs)).unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-del"}]})
    );
}
