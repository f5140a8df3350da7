//! digest_sha1_signature (`docs/specs/digest-validation.md` §8): a genuine key signing with SHA-1.
//! awscli v1 accepts it; the strict verdict is DIGEST_SIGNATURE_ALGORITHM. aws-lc-rs cannot sign
//! with SHA-1, so the signature is made with the openssl command-line tool.

use futures::executor::block_on;
use std::process::Command;
use trailwatch_shared::digest::testkit::{
    ChainOptions, TestChain, TestKey, TrailLayout, signing_message,
};
use trailwatch_shared::digest::{FindingCode, META_SIGNATURE, Verdict, sha256, verify_range};

#[test]
fn sha1_signature_with_the_genuine_key_is_an_algorithm_finding() {
    let key = TestKey::generate();
    let mut c = TestChain::build(
        TrailLayout::default(),
        key.clone(),
        &ChainOptions::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.der");
    let msg_path = dir.path().join("message");
    std::fs::write(&key_path, key.pkcs8_der()).unwrap();
    std::fs::write(
        &msg_path,
        signing_message(&c.digests[2].doc, &sha256(&c.digests[2].content)),
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha1", "-keyform", "DER", "-sign"])
        .arg(&key_path)
        .arg(&msg_path)
        .output()
        .expect("openssl is needed for this test (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), 256);
    c.digests[2]
        .metadata
        .insert(META_SIGNATURE.into(), hex::encode(&out.stdout));
    c.relink_after(2);

    let report = block_on(verify_range(
        &c.store(),
        &c.key_source(),
        &c.default_request(),
    ))
    .unwrap();
    assert_eq!(report.verdict, Verdict::Fail);
    assert_eq!(
        report.codes(),
        vec![FindingCode::DigestSignatureAlgorithm],
        "{:#?}",
        report.findings
    );
    assert!(
        report.findings[0].detail.contains("SHA1withRSA"),
        "{}",
        report.findings[0].detail
    );
}
