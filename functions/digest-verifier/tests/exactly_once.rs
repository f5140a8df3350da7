//! The verifier's alerts exactly once: a digest version per finding set, a deletion per deletion
//! event, an overwrite per overwriting version — through the handler, with the in-memory state
//! store (set to fail its completions) and a recording publisher. Negative controls: a store
//! without the first run's records alerts again.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use digest_verifier::range_check::{self, TrailFolders};
use digest_verifier::{
    DeletionOutcome, DigestVerifier, ObjectError, ObjectOutcome, OverwriteOutcome,
};
use serde_json::{Value, json};
use support::{BUCKET, LOG, Recorder, config, object_deleted};
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::{MemoryStateStore, WorkKey};
use trailwatch_shared::digest::testkit::{TestStore, VariantCase, all_variants, iso};
use trailwatch_shared::digest::{
    DigestStore, MemoryStore, ObjectVersion, StaticKeySource, StoreError,
};
use trailwatch_shared::trigger::ObjectRef;

type Verifier = DigestVerifier<TestStore, StaticKeySource, Recorder, MemoryStateStore>;

fn verifier(store: MemoryStore, keys: StaticKeySource, versions: Vec<ObjectVersion>) -> Verifier {
    DigestVerifier {
        config: config(),
        store: TestStore::new(store).with_versions(Ok(versions)),
        keys,
        alerts: Recorder::default(),
        ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
    }
}

fn case(name: &str) -> VariantCase {
    all_variants().into_iter().find(|v| v.name == name).unwrap()
}

/// Digest #1 of `log_modified` lists a log whose bytes were changed: LOG_HASH_MISMATCH.
fn tampered_digest(c: &VariantCase) -> ObjectRef {
    let d = &c.chains[0].digests[1];
    ObjectRef {
        bucket: d.bucket.clone(),
        key: d.key.clone(),
        size: None,
        version_id: None,
        requester: None,
        source_ip: None,
        etag: Some("\"0123456789abcdef0123456789abcdef\"".into()),
    }
}

#[tokio::test]
async fn a_tampered_digest_delivered_three_times_alerts_once() {
    let c = case("log_modified");
    let v = verifier(c.store(), c.key_source(), vec![]);
    let digest = tampered_digest(&c);
    let first = v.process_object(&digest).await.unwrap();
    assert!(
        matches!(first, ObjectOutcome::Verified { alerted: true, .. }),
        "{first:?}"
    );
    for _ in 0..2 {
        let again = v.process_object(&digest).await.unwrap();
        let ObjectOutcome::AlreadyProcessed { outcome } = again else {
            panic!("verified again: {again:?}")
        };
        let summary: Value = serde_json::from_str(&outcome).unwrap();
        assert_eq!(summary["verdict"], "FAIL");
        assert!(
            summary["alert"]
                .as_str()
                .unwrap()
                .starts_with("findings:LOG_HASH_MISMATCH:")
        );
    }
    assert_eq!(v.alerts.codes(), [Some("LOG_HASH_MISMATCH".to_owned())]);

    // Negative control: without the first run's records, the same digest alerts again.
    let fresh = verifier(c.store(), c.key_source(), vec![]);
    fresh.process_object(&digest).await.unwrap();
    assert_eq!(fresh.alerts.count(), 1);
}

#[tokio::test]
async fn a_retry_with_the_same_findings_does_not_alert_again_and_different_findings_do() {
    let c = case("log_modified");
    let chain = &c.chains[0];
    let log = &chain.logs[chain.logs_of(1)[0]];
    let digest = tampered_digest(&c);
    let mut v = verifier(c.store(), c.key_source(), vec![]);
    // Attempt 1: the alert goes out and is recorded, then the unit cannot complete.
    v.ledger.store.fail_completions(true);
    let err = v.process_object(&digest).await.unwrap_err();
    assert!(matches!(err, ObjectError::State(_)), "{err}");
    assert!(!err.permission_denied(), "retried");
    assert_eq!(v.alerts.count(), 1);

    // Attempt 2 (Lambda's retry): the same findings, so no second alert; the unit completes.
    v.ledger.store.fail_completions(false);
    let retry = v.process_object(&digest).await.unwrap();
    assert!(
        matches!(
            retry,
            ObjectOutcome::Verified {
                alerted: false,
                already_published: true,
                ..
            }
        ),
        "{retry:?}"
    );
    assert_eq!(v.alerts.count(), 1);

    // Another digest version, whose first attempt could not read one of its listed logs (a
    // refusal is a LOG_UNREADABLE finding, besides the changed log's mismatch) and could not
    // complete; by the retry the log is readable again: the mismatch alone is a different
    // finding set, so one new alert.
    let mut second = digest.clone();
    second.etag = Some("\"fedcba9876543210fedcba9876543210\"".into());
    let mut refused = c.store();
    refused.fail(
        &log.bucket,
        &log.key,
        StoreError::AccessDenied("403 Forbidden".into()),
    );
    v.store.inner = refused;
    v.ledger.store.fail_completions(true);
    v.process_object(&second).await.unwrap_err();
    v.store.inner = c.store();
    v.ledger.store.fail_completions(false);
    let retry = v.process_object(&second).await.unwrap();
    assert!(
        matches!(retry, ObjectOutcome::Verified { alerted: true, .. }),
        "{retry:?}"
    );
    assert_eq!(
        v.alerts.codes(),
        [
            Some("LOG_HASH_MISMATCH".to_owned()),
            Some("LOG_HASH_MISMATCH,LOG_UNREADABLE".to_owned()),
            Some("LOG_HASH_MISMATCH".to_owned()),
        ]
    );
    let work = WorkKey::new("digest-verifier", &second);
    let published: BTreeSet<String> = v.ledger.store.progress(&work).unwrap().published;
    assert_eq!(published.len(), 2, "{published:?}");
}

#[tokio::test]
async fn a_transient_fault_is_retried_and_never_a_verdict_or_an_alert() {
    let c = case("clean");
    let chain = &c.chains[0];
    let log = &chain.logs[chain.logs_of(2)[0]];
    let d = &chain.digests[2];
    let mut store = c.store();
    store.fail(
        &log.bucket,
        &log.key,
        StoreError::Infrastructure("503 SlowDown".into()),
    );
    let mut v = verifier(store, c.key_source(), vec![]);
    let object = ObjectRef {
        bucket: d.bucket.clone(),
        key: d.key.clone(),
        size: None,
        version_id: Some("v-2".into()),
        requester: None,
        source_ip: None,
        etag: None,
    };
    let err = v.process_object(&object).await.unwrap_err();
    assert!(matches!(err, ObjectError::Verify(_)), "{err}");
    assert_eq!(v.alerts.count(), 0);
    // The unit was released, not completed: the retry verifies (now cleanly), with no alert.
    v.store.inner = c.store();
    let retry = v.process_object(&object).await.unwrap();
    assert!(
        matches!(
            retry,
            ObjectOutcome::Verified {
                alerted: false,
                already_published: false,
                ..
            }
        ),
        "{retry:?}"
    );
    assert_eq!(v.alerts.count(), 0);
}

#[tokio::test]
async fn a_deletion_delivered_twice_and_redriven_alerts_once() {
    let v = verifier(MemoryStore::default(), StaticKeySource::default(), vec![]);
    for _ in 0..3 {
        v.handle(object_deleted(LOG, "marker-1")).await.unwrap();
    }
    assert_eq!(v.alerts.count(), 1);
    let notice = trailwatch_shared::trigger::decode(&object_deleted(LOG, "marker-1"))
        .unwrap()
        .deletions
        .remove(0);
    assert!(matches!(
        v.process_deletion(&notice).await.unwrap(),
        DeletionOutcome::AlreadyAlerted { .. }
    ));
    // A second deletion of the same key (another delete marker) is another event: it alerts.
    v.handle(object_deleted(LOG, "marker-2")).await.unwrap();
    assert_eq!(v.alerts.count(), 2);

    // Negative control: without the records, the repeat alerts again.
    let fresh = verifier(MemoryStore::default(), StaticKeySource::default(), vec![]);
    fresh.handle(object_deleted(LOG, "marker-1")).await.unwrap();
    assert_eq!(fresh.alerts.count(), 1);
}

#[tokio::test]
async fn a_deletion_whose_publish_failed_alerts_once_on_the_retry() {
    let v = verifier(MemoryStore::default(), StaticKeySource::default(), vec![]);
    v.alerts.fail.store(true, Ordering::SeqCst);
    v.handle(object_deleted(LOG, "marker-1")).await.unwrap_err();
    assert_eq!(v.alerts.count(), 0);
    v.alerts.fail.store(false, Ordering::SeqCst);
    v.handle(object_deleted(LOG, "marker-1")).await.unwrap();
    v.handle(object_deleted(LOG, "marker-1")).await.unwrap();
    assert_eq!(v.alerts.count(), 1);
}

#[tokio::test]
async fn an_overwrite_delivered_twice_alerts_once() {
    let versions = ["v2", "v1"]
        .iter()
        .map(|id| ObjectVersion {
            version_id: (*id).into(),
            last_modified: Some("2024-01-02T03:06:00Z".into()),
            delete_marker: false,
        })
        .collect();
    let v = verifier(MemoryStore::default(), StaticKeySource::default(), versions);
    let created = ObjectRef {
        bucket: BUCKET.into(),
        key: LOG.into(),
        size: Some(10),
        version_id: Some("v2".into()),
        requester: Some("210987654321".into()),
        source_ip: None,
        etag: None,
    };
    assert!(matches!(
        v.check_overwrite(&created).await.unwrap(),
        OverwriteOutcome::Alerted { .. }
    ));
    assert!(matches!(
        v.check_overwrite(&created).await.unwrap(),
        OverwriteOutcome::AlreadyAlerted { .. }
    ));
    assert_eq!(v.alerts.count(), 1);
    let fresh = verifier(
        MemoryStore::default(),
        StaticKeySource::default(),
        v.store.versions.clone().unwrap(),
    );
    fresh.check_overwrite(&created).await.unwrap();
    assert_eq!(fresh.alerts.count(), 1, "negative control");
}

/// The trail's folders, from the keys of an in-memory bucket.
struct Folders(MemoryStore);

impl TrailFolders for Folders {
    async fn folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = self
            .0
            .list_keys(bucket, prefix)
            .await?
            .iter()
            .filter_map(|k| {
                k.strip_prefix(prefix)?
                    .split_once('/')
                    .map(|(f, _)| f.to_owned())
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[tokio::test]
async fn a_range_check_repeated_over_the_same_window_alerts_once() {
    // digest_deleted_head: the newest digest is gone, so the chain head is stale.
    let c = case("digest_deleted_head");
    let run = &c.runs[0].request;
    let v = verifier(c.store(), c.key_source(), vec![]);
    let folders = Folders(c.store());
    let hours = u32::try_from((run.end - run.start + 3599) / 3600).unwrap();
    let request = |payload: Value| {
        range_check::request(&json!({range_check::PAYLOAD_KEY: payload}))
            .unwrap()
            .unwrap()
    };
    let fixed = request(
        json!({"bucket": run.bucket, "prefix": run.prefix, "hours": hours,
                               "end": run.end}),
    );
    // The schedule's own form: scheduledTime, 10 minutes (the delivery slack) after the end.
    let scheduled_time = iso(run.end + range_check::DELIVERY_SLACK_SECS);
    let scheduled = request(
        json!({"bucket": run.bucket, "prefix": run.prefix, "hours": hours,
                                   "scheduledTime": scheduled_time}),
    );
    assert_eq!(scheduled.fixed_end(), Some(run.end));
    for r in [&fixed, &fixed, &scheduled] {
        range_check::run(&v, &folders, r.clone()).await.unwrap();
    }
    assert_eq!(v.alerts.codes(), [Some("CHAIN_HEAD_STALE".to_owned())]);

    // A later window is another check: it alerts (the chain is still stale).
    let later = request(
        json!({"bucket": run.bucket, "prefix": run.prefix, "hours": hours,
                               "end": run.end + 3600}),
    );
    range_check::run(&v, &folders, later).await.unwrap();
    assert_eq!(v.alerts.count(), 2);

    // A malformed scheduledTime is refused, naming the field.
    let bad = range_check::request(&json!({range_check::PAYLOAD_KEY:
        {"bucket": "b", "scheduledTime": "yesterday"}}))
    .unwrap()
    .unwrap_err();
    assert!(bad.to_string().contains("scheduledTime"), "{bad}");
}
