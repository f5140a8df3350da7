//! The overwrite check through the verifier, with a store that lists versions and a recording
//! alert sink: one CRITICAL `OBJECT_OVERWRITTEN` alert when a created CloudTrail key has another
//! version, none for a first write, a counted skip without a version id, and a refused listing
//! is a permission error (`trailwatch.PermissionDenied`), never a verdict.

mod support;

use digest_verifier::{DigestVerifier, OverwriteOutcome};
use support::{BUCKET, LOG, Recorder, config};
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::MemoryStateStore;
use trailwatch_shared::digest::testkit::TestStore;
use trailwatch_shared::digest::{MemoryStore, ObjectVersion, StaticKeySource, StoreError};
use trailwatch_shared::trigger::ObjectRef;

fn verifier(
    versions: Result<Vec<ObjectVersion>, StoreError>,
) -> DigestVerifier<TestStore, StaticKeySource, Recorder, MemoryStateStore> {
    DigestVerifier {
        config: config(),
        store: TestStore::new(MemoryStore::default()).with_versions(versions),
        keys: StaticKeySource::default(),
        alerts: Recorder::default(),
        ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
    }
}

fn created(key: &str, version: Option<&str>) -> ObjectRef {
    ObjectRef {
        bucket: BUCKET.into(),
        key: key.into(),
        size: Some(10),
        version_id: version.map(str::to_owned),
        requester: Some("210987654321".into()),
        source_ip: Some("198.51.100.7".into()),
        etag: None,
    }
}

fn version(id: &str) -> ObjectVersion {
    ObjectVersion {
        version_id: id.into(),
        last_modified: Some("2024-01-02T03:06:00Z".into()),
        delete_marker: false,
    }
}

#[tokio::test]
async fn an_earlier_version_raises_one_critical_alert() {
    let v = verifier(Ok(vec![version("v2"), version("v1")]));
    let outcome = v.check_overwrite(&created(LOG, Some("v2"))).await.unwrap();
    assert!(
        matches!(outcome, OverwriteOutcome::Alerted { earlier: 1, .. }),
        "{outcome:?}"
    );
    let sent = v.alerts.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .subject
            .starts_with("[CRITICAL] CloudTrail log file overwritten: 123456789012 us-east-1"),
        "{}",
        sent[0].subject
    );
    assert!(
        sent[0]
            .text
            .contains("  - v1, last modified 2024-01-02T03:06:00Z")
    );
    assert!(sent[0].text.contains("Requester:        210987654321"));
}

#[tokio::test]
async fn a_first_write_or_another_key_raises_nothing() {
    let v = verifier(Ok(vec![version("v1")]));
    let outcome = v.check_overwrite(&created(LOG, Some("v1"))).await.unwrap();
    assert_eq!(outcome, OverwriteOutcome::FirstWrite);
    let outcome = v
        .check_overwrite(&created("exports/report.csv", Some("v1")))
        .await
        .unwrap();
    assert_eq!(outcome, OverwriteOutcome::NotCloudTrail);
    assert!(v.alerts.sent.lock().unwrap().is_empty());
    assert_eq!(v.store.listings(), 1);
}

#[tokio::test]
async fn without_a_version_id_the_check_is_skipped_not_failed() {
    let v = verifier(Ok(vec![version("v2"), version("v1")]));
    let outcome = v.check_overwrite(&created(LOG, None)).await.unwrap();
    assert_eq!(outcome, OverwriteOutcome::Skipped);
    assert_eq!(v.store.listings(), 0, "nothing to compare with");
    assert!(v.alerts.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_listing_is_a_permission_error_not_a_verdict() {
    let v = verifier(Err(StoreError::AccessDenied(
        "the role needs s3:ListBucketVersions on arn:aws:s3:::trail-bucket".into(),
    )));
    let error = v
        .check_overwrite(&created(LOG, Some("v2")))
        .await
        .expect_err("a refused listing fails the object");
    assert!(error.permission_denied(), "{error}");
    assert!(
        error.to_string().contains("s3:ListBucketVersions"),
        "{error}"
    );
    assert!(v.alerts.sent.lock().unwrap().is_empty());

    let v = verifier(Err(StoreError::Infrastructure("SlowDown".into())));
    let error = v
        .check_overwrite(&created(LOG, Some("v2")))
        .await
        .expect_err("a throttled listing fails the object, to be retried");
    assert!(!error.permission_denied(), "{error}");
}
