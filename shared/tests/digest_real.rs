//! A real AWS digest (see fixtures/digests/PROVENANCE.md): its serialization parses, its key
//! says what the document says, and without its signature metadata it fails cleanly.

use futures::executor::block_on;
use std::collections::HashMap;
use trailwatch_shared::digest::testkit::gzip;
use trailwatch_shared::digest::{
    DigestDocument, DigestTarget, FindingCode, MemoryStore, StaticKeySource, StoredObject, Verdict,
    verify_digest,
};

const REAL: &[u8] = include_bytes!(
    "fixtures/digests/327878933619_CloudTrail-Digest_ap-northeast-1_llm-guard-trail_us-west-2_20231015T230404Z.json"
);

#[test]
fn aws_serialization_parses_strictly() {
    let doc = DigestDocument::parse(REAL).unwrap();
    assert_eq!(doc.account_id, "327878933619");
    assert_eq!(doc.start_time, "2023-10-15T22:04:04Z");
    assert_eq!(doc.end - doc.start, 3600);
    assert_eq!(doc.signature_algorithm, "SHA256withRSA");
    assert_eq!(
        doc.public_key_fingerprint,
        "be2f0b997552f44942837300ba1aba9d"
    );
    assert_eq!(doc.log_files.len(), 5);
    assert!(
        doc.log_files
            .iter()
            .all(|l| l.hash_algorithm == "SHA-256" && l.hash_value.len() == 64)
    );
    let prev = doc.previous.as_ref().unwrap();
    assert!(
        prev.object.ends_with("_20231015T220404Z.json.gz"),
        "{}",
        prev.object
    );
    assert_eq!(prev.signature.len(), 512);
    // `\/` escapes are decoded: the key is a plain S3 key.
    assert!(!doc.s3_object.contains('\\'));

    let target = DigestTarget::from_key(&doc.s3_bucket, &doc.s3_object).expect("a digest key");
    assert_eq!(target.region, "ap-northeast-1");
    assert!(!target.backfill);
}

#[test]
fn without_its_signature_metadata_it_is_a_signature_missing_finding() {
    let doc = DigestDocument::parse(REAL).unwrap();
    let mut store = MemoryStore::default();
    store.put(
        &doc.s3_bucket,
        &doc.s3_object,
        StoredObject {
            bytes: gzip(REAL),
            metadata: HashMap::new(),
        },
    );
    let target = DigestTarget::from_key(&doc.s3_bucket, &doc.s3_object).unwrap();
    let report = block_on(verify_digest(
        &store,
        &StaticKeySource::default(),
        &target,
        4,
    ))
    .unwrap();
    assert_eq!(report.verdict, Verdict::Fail);
    assert_eq!(report.codes(), vec![FindingCode::DigestSignatureMissing]);
    assert_eq!(
        report.logs_checked, 0,
        "logs of an unauthenticated digest are not checked"
    );
}
