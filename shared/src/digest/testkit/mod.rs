//! Test-chain generator: RSA keys made at run time (never stored), gzip digests and logs with
//! correct hashes, signatures and links, and the tampered variants of
//! `docs/specs/digest-validation.md` §8.
//!
//! Enabled by the `testkit` feature; used by this crate's tests, the e2e tests and the benchmark.

mod chain;
mod store;
mod variants;

pub use chain::{
    ChainOptions, FIXTURE_START, TestChain, TestDigest, TestLog, TestObject, TrailLayout, gzip,
    iso, log_content, signing_message,
};
pub use store::TestStore;
pub use variants::{VariantCase, VariantRun, all_variants, variant};

use super::keys::{PublicKeyRecord, md5_fingerprint};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use std::sync::Arc;

/// An RSA-2048 signing key generated for one test run.
#[derive(Clone)]
pub struct TestKey {
    pair: Arc<KeyPair>,
    pkcs1: Vec<u8>,
    spki: Vec<u8>,
    /// Publish (and fingerprint) the key as SPKI DER instead of PKCS#1.
    pub publish_spki: bool,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestKey({})", self.fingerprint())
    }
}

impl TestKey {
    /// Generates a fresh RSA-2048 key pair (never stored), published as PKCS#1 DER like
    /// CloudTrail's `ListPublicKeys` keys (`docs/specs/digest-validation.md` §5).
    pub fn generate() -> TestKey {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pkcs1 = pair.public_key().as_ref().to_vec();
        let spki = pair
            .public_key()
            .as_der()
            .expect("SPKI encoding")
            .as_ref()
            .to_vec();
        TestKey {
            pair: Arc::new(pair),
            pkcs1,
            spki,
            publish_spki: false,
        }
    }

    /// The DER CloudTrail would publish for this key.
    pub fn published_der(&self) -> &[u8] {
        if self.publish_spki {
            &self.spki
        } else {
            &self.pkcs1
        }
    }

    /// The key's fingerprint as CloudTrail writes it in `digestPublicKeyFingerprint`: lowercase
    /// hex MD5 (32 characters) of [`published_der`](Self::published_der) (spec §5).
    pub fn fingerprint(&self) -> String {
        md5_fingerprint(self.published_der())
    }

    /// The key as a key source would return it: its fingerprint and published DER, with no
    /// validity window (so it is accepted at any time).
    pub fn record(&self) -> PublicKeyRecord {
        PublicKeyRecord {
            fingerprint: self.fingerprint(),
            der: self.published_der().to_vec(),
            validity_start: None,
            validity_end: None,
        }
    }

    /// A `ListPublicKeys` response entry (base64 DER), for key files and the moto stub.
    pub fn list_public_keys_entry(
        &self,
        validity_start: i64,
        validity_end: i64,
    ) -> serde_json::Value {
        use base64::Engine;
        serde_json::json!({
            "Value": base64::engine::general_purpose::STANDARD.encode(self.published_der()),
            "ValidityStartTime": validity_start,
            "ValidityEndTime": validity_end,
            "Fingerprint": self.fingerprint(),
        })
    }

    /// Signs `message` (the signing string of spec §4) with RSASSA-PKCS1-v1_5 and SHA-256
    /// (`SHA256withRSA`), as CloudTrail signs digests. Returns the raw 256-byte signature; the
    /// chain hex-encodes it into the `signature` metadata.
    pub fn sign_sha256(&self, message: &[u8]) -> Vec<u8> {
        self.sign(&signature::RSA_PKCS1_SHA256, message)
    }

    /// A genuine-key signature with another hash (awscli v1 accepts it; strict must not).
    pub fn sign_sha512(&self, message: &[u8]) -> Vec<u8> {
        self.sign(&signature::RSA_PKCS1_SHA512, message)
    }

    /// The private key as PKCS#8 DER, for tools that sign with other hashes (e.g. SHA-1 via openssl).
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.pair
            .as_der()
            .expect("PKCS#8 encoding")
            .as_ref()
            .to_vec()
    }

    fn sign(&self, alg: &'static dyn signature::RsaEncoding, message: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(alg, &SystemRandom::new(), message, &mut sig)
            .expect("RSA signing");
        sig
    }
}
