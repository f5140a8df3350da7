//! `verify_digest` (one digest as it lands) and the failure semantics shared by both entry points:
//! storage and key-service failures are errors, never findings.

use futures::executor::block_on;
use std::future::Future;
use trailwatch_shared::digest::testkit::{
    ChainOptions, TestChain, TestKey, TestStore, TrailLayout, all_variants,
};
use trailwatch_shared::digest::{
    DigestStore, DigestTarget, FindingCode, KeySourceError, MemoryStore, PublicKeyRecord,
    PublicKeySource, StoreError, Verdict, VerifyError, verify_digest, verify_range,
};

fn chain() -> TestChain {
    TestChain::build(
        TrailLayout::default(),
        TestKey::generate(),
        &ChainOptions::default(),
    )
}

fn target(chain: &TestChain, i: usize) -> DigestTarget {
    let d = &chain.digests[i];
    DigestTarget::from_key(&d.bucket, &d.key).expect("a digest key")
}

#[test]
fn a_clean_digest_passes_with_its_logs_and_link_checked() {
    let c = chain();
    let report = block_on(verify_digest(
        &c.store(),
        &c.key_source(),
        &target(&c, 5),
        4,
    ))
    .unwrap();
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.findings);
    assert!(report.findings.is_empty());
    assert_eq!((report.digests_checked, report.logs_checked), (1, 4));
}

#[test]
fn a_starting_digest_is_reported_as_a_restart_but_passes() {
    let c = chain();
    let report = block_on(verify_digest(
        &c.store(),
        &c.key_source(),
        &target(&c, 0),
        4,
    ))
    .unwrap();
    assert_eq!(report.verdict, Verdict::Pass);
    assert_eq!(report.codes(), vec![FindingCode::ChainRestart]);
}

#[test]
fn a_predecessor_altered_after_it_was_verified_breaks_the_link() {
    // In the Lambda the predecessor was verified when it landed; tampering since then shows
    // up as a broken link from the new digest.
    for (variant, digest, code) in [
        (
            "digest_signature_altered",
            3,
            FindingCode::ChainPrevSignatureMismatch,
        ),
        ("digest_modified", 3, FindingCode::ChainPrevHashMismatch),
        ("digest_deleted_middle", 4, FindingCode::DigestMissing),
    ] {
        let case = all_variants()
            .into_iter()
            .find(|v| v.name == variant)
            .unwrap();
        let c = &case.chains[0];
        let report = block_on(verify_digest(
            &case.store(),
            &case.key_source(),
            &target(c, digest),
            4,
        ))
        .unwrap();
        assert_eq!(report.verdict, Verdict::Fail, "{variant}");
        assert_eq!(
            report.codes(),
            vec![code],
            "{variant}: {:#?}",
            report.findings
        );
    }
}

#[test]
fn tampered_digest_itself_fails_in_single_mode() {
    let case = all_variants()
        .into_iter()
        .find(|v| v.name == "log_modified")
        .unwrap();
    let c = &case.chains[0];
    let report = block_on(verify_digest(
        &case.store(),
        &case.key_source(),
        &target(c, 1),
        2,
    ))
    .unwrap();
    assert_eq!(report.codes(), vec![FindingCode::LogHashMismatch]);
    let hit = &report.findings[0];
    assert!(
        hit.object.starts_with("s3://") && hit.object.contains("/CloudTrail/"),
        "{}",
        hit.object
    );
}

#[test]
fn a_refused_log_is_unreadable_and_the_other_logs_are_still_checked() {
    let c = chain();
    let logs = c.logs_of(1);
    assert!(logs.len() >= 2);
    let (refused, altered) = (&c.logs[logs[0]], &c.logs[logs[1]]);
    for error in [
        StoreError::AccessDenied("403 AccessDenied: kms:Decrypt".into()),
        StoreError::Unreadable("400 InvalidRequest: needs the customer key (SSE-C)".into()),
        StoreError::Unreadable("403 InvalidObjectState: archived".into()),
    ] {
        let mut store = c.store();
        store.fail(&refused.bucket, &refused.key, error.clone());
        store.get_mut(&altered.bucket, &altered.key).unwrap().bytes = b"not gzip".to_vec();
        let report = block_on(verify_digest(&store, &c.key_source(), &target(&c, 1), 4)).unwrap();
        assert_eq!(report.verdict, Verdict::Fail);
        assert_eq!(report.logs_checked, logs.len());
        let on = |key: &str| -> Vec<&trailwatch_shared::digest::Finding> {
            report
                .findings
                .iter()
                .filter(|f| f.object.ends_with(key))
                .collect()
        };
        let unreadable = on(&refused.key);
        assert_eq!(unreadable.len(), 1, "{report:?}");
        assert_eq!(unreadable[0].code, FindingCode::LogUnreadable);
        let reason = match &error {
            StoreError::AccessDenied(r) | StoreError::Unreadable(r) => r,
            _ => unreachable!(),
        };
        assert!(
            unreadable[0].detail.contains(reason.as_str())
                && unreadable[0].detail.contains("kms:Decrypt"),
            "{}",
            unreadable[0].detail
        );
        // The log after the refused one is still hashed and reported.
        assert_eq!(on(&altered.key)[0].code, FindingCode::LogFormat);
        let range = block_on(verify_range(&store, &c.key_source(), &c.default_request())).unwrap();
        assert!(range.codes().contains(&FindingCode::LogUnreadable));
    }
}

#[test]
fn a_refused_digest_is_an_error_never_a_finding() {
    let c = chain();
    let mut store = c.store();
    let d = &c.digests[1];
    store.fail(&d.bucket, &d.key, StoreError::AccessDenied("403".into()));
    let err = block_on(verify_digest(&store, &c.key_source(), &target(&c, 1), 4)).unwrap_err();
    assert!(matches!(err, VerifyError::AccessDenied { .. }), "{err:?}");
    // The store says which permission the refused request needed; the error keeps its words and
    // names the object.
    let text = err.to_string();
    assert!(text.contains(&d.key) && text.ends_with(": 403"), "{text}");
    let err = block_on(verify_range(&store, &c.key_source(), &c.default_request())).unwrap_err();
    assert!(matches!(err, VerifyError::AccessDenied { .. }));
}

#[test]
fn a_transient_log_failure_is_an_error_never_a_finding() {
    let c = chain();
    let mut store = c.store();
    let log = &c.logs[c.logs_of(1)[0]];
    store.fail(
        &log.bucket,
        &log.key,
        StoreError::Infrastructure("503 SlowDown".into()),
    );
    let err = block_on(verify_digest(&store, &c.key_source(), &target(&c, 1), 4)).unwrap_err();
    assert!(matches!(err, VerifyError::Infrastructure { .. }), "{err:?}");
}

#[test]
fn infrastructure_failures_of_digests_and_previous_digests_are_errors() {
    let c = chain();
    for (failing, verified) in [(2, 2), (1, 2)] {
        let mut store = c.store();
        let d = &c.digests[failing];
        store.fail(
            &d.bucket,
            &d.key,
            StoreError::Infrastructure("503 SlowDown".into()),
        );
        let err = block_on(verify_digest(
            &store,
            &c.key_source(),
            &target(&c, verified),
            4,
        ))
        .unwrap_err();
        assert!(matches!(err, VerifyError::Infrastructure { .. }), "{err:?}");
    }
}

#[test]
fn a_stream_that_breaks_mid_log_is_infrastructure_not_a_bad_log() {
    let c = chain();
    let log = &c.logs[c.logs_of(2)[3]];
    let store = TestStore::new(c.store()).cutting_reads_of(&log.key);
    let err = block_on(verify_digest(&store, &c.key_source(), &target(&c, 2), 4)).unwrap_err();
    match err {
        VerifyError::Infrastructure { object, message } => {
            assert!(object.ends_with(&log.key));
            assert!(message.contains("connection reset"), "{message}");
        }
        other => panic!("expected an infrastructure error, got {other:?}"),
    }
}

struct DownKeys;
impl PublicKeySource for DownKeys {
    fn public_keys(
        &self,
        _: &str,
        _: &str,
        _: i64,
    ) -> impl Future<Output = Result<Vec<PublicKeyRecord>, KeySourceError>> + Send {
        std::future::ready(Err(KeySourceError("ThrottlingException".into())))
    }
}

#[test]
fn key_service_failure_is_an_error_not_key_not_found() {
    let c = chain();
    let err = block_on(verify_digest(&c.store(), &DownKeys, &target(&c, 1), 4)).unwrap_err();
    assert!(matches!(err, VerifyError::Keys(_)), "{err:?}");
}

/// An attacker who writes a digest under a region AWS does not have, naming that region in the
/// document too, passes the claim checks; the key lookup then fails (no such endpoint). That must
/// be a finding, not an outage: the failure queue is not where a forgery should end.
#[test]
fn a_consistently_forged_region_whose_keys_cannot_be_fetched_is_a_finding() {
    let forged = TestChain::build(
        TrailLayout {
            region: "zz-fake-9".into(),
            home_region: "zz-fake-9".into(),
            ..TrailLayout::default()
        },
        TestKey::generate(),
        &ChainOptions::default(),
    );
    let t = target(&forged, 1);
    assert_eq!(t.region, "zz-fake-9");
    let report = block_on(verify_digest(&forged.store(), &DownKeys, &t, 4)).unwrap();
    assert_eq!(report.verdict, Verdict::Fail);
    assert_eq!(report.codes(), vec![FindingCode::DigestRegionUnknown]);
    let finding = &report.findings[0];
    assert!(finding.detail.contains("zz-fake-9"), "{}", finding.detail);
    assert!(
        finding.detail.contains("ThrottlingException"),
        "{}",
        finding.detail
    );

    // Negative control: the same outage in a real region stays an error (retried), never a
    // verdict — see key_service_failure_is_an_error_not_key_not_found for us-east-1 — and a
    // real region that is not the chain's default is no exception.
    let real = TestChain::build(
        TrailLayout {
            region: "ap-southeast-7".into(),
            home_region: "ap-southeast-7".into(),
            ..TrailLayout::default()
        },
        TestKey::generate(),
        &ChainOptions::default(),
    );
    let err = block_on(verify_digest(
        &real.store(),
        &DownKeys,
        &target(&real, 1),
        4,
    ))
    .unwrap_err();
    assert!(matches!(err, VerifyError::Keys(_)), "{err:?}");
}

#[test]
fn an_empty_range_is_never_a_success() {
    let c = chain();
    let report = block_on(verify_range(
        &MemoryStore::default(),
        &c.key_source(),
        &c.default_request(),
    ))
    .unwrap();
    assert_eq!(report.verdict, Verdict::Fail);
    assert_eq!(report.codes(), vec![FindingCode::DigestMissing]);
    assert_eq!(report.digests_checked, 0);
}

#[test]
fn digests_of_other_accounts_regions_and_trails_are_not_mixed_in() {
    let c = chain();
    let mut store = c.store();
    let other = TestChain::build(
        TrailLayout {
            trail_name: "other_trail".into(),
            ..TrailLayout::default()
        },
        c.keys[0].clone(),
        &ChainOptions {
            start: ChainOptions::default().start + 1800,
            logs_per_digest: vec![1, 1],
            ..ChainOptions::default()
        },
    );
    assert!(
        other
            .logs
            .iter()
            .all(|l| !c.logs.iter().any(|m| m.key == l.key))
    );
    other.add_to(&mut store);
    let report = block_on(verify_range(&store, &c.key_source(), &c.default_request())).unwrap();
    // The other trail's digests are not verified, but its logs share the folder: they are
    // listed by its digests, so they are not unreferenced.
    assert_eq!(report.digests_checked, 6);
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.findings);
    // Without the other trail's digests, its logs are unreferenced.
    for d in &other.digests {
        store.remove(&d.bucket, &d.key);
    }
    let report = block_on(verify_range(&store, &c.key_source(), &c.default_request())).unwrap();
    assert_eq!(
        report.codes(),
        vec![FindingCode::LogUnreferenced],
        "{:#?}",
        report.findings
    );
}

#[test]
fn object_metadata_is_what_the_store_returned() {
    let c = chain();
    let store = c.store();
    let d = &c.digests[0];
    let o = block_on(store.get_object(&d.bucket, &d.key, None)).unwrap();
    assert_eq!(
        o.metadata.get("signature-algorithm").map(String::as_str),
        Some("SHA256withRSA")
    );
    assert_eq!(o.metadata.get("signature").map(String::len), Some(512));
}

#[test]
fn a_trail_that_stopped_next_to_an_active_one_is_a_stale_head() {
    let c = chain();
    let mut store = c.store();
    // A second trail delivering to the same prefix, whose last digest ends 3 h before the end.
    let stopped = TestChain::build(
        TrailLayout {
            trail_name: "stopped_trail".into(),
            ..TrailLayout::default()
        },
        c.keys[0].clone(),
        &ChainOptions {
            start: ChainOptions::default().start + 1800,
            logs_per_digest: vec![1, 1, 1],
            ..ChainOptions::default()
        },
    );
    stopped.add_to(&mut store);
    let mut request = c.default_request();
    request.trail_name = None;
    let report = block_on(verify_range(&store, &c.key_source(), &request)).unwrap();
    assert_eq!(
        report.codes(),
        vec![FindingCode::ChainHeadStale],
        "{:#?}",
        report.findings
    );
    assert!(report.findings[0].object.contains("stopped_trail"));
    assert_eq!(report.digests_checked, 9);
    // Only the requested trail: PASS.
    let report = block_on(verify_range(&store, &c.key_source(), &c.default_request())).unwrap();
    assert_eq!(report.verdict, Verdict::Pass, "{:#?}", report.findings);
}

#[test]
fn log_reads_run_in_parallel_up_to_the_bound() {
    let c = chain();
    for bound in [1, 3, 8] {
        let store = TestStore::new(c.store());
        let mut request = c.default_request();
        request.concurrency = bound;
        let report = block_on(verify_range(&store, &c.key_source(), &request)).unwrap();
        assert_eq!(report.logs_checked, 24);
        assert_eq!(store.peak_reads(), bound, "bound {bound}");
    }
}
