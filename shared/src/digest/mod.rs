//! CloudTrail digest verification, stricter than `aws cloudtrail validate-logs`
//! (spec: `docs/specs/digest-validation.md`).
//!
//! - [`verify_digest`]: one digest as it lands — format, location, algorithm pinning, key by
//!   fingerprint (PKCS#1 or SPKI, md5 cross-check), RSA signature, every listed log (streamed
//!   gunzip + SHA-256, no trailing data), and the link to the previous digest.
//! - [`verify_range`]: every digest of an account/region between two times, the chain between
//!   them, a stale head, and log files no digest lists.
//!
//! Storage and keys come through [`DigestStore`] and [`PublicKeySource`]; their failures are
//! [`VerifyError`]s, never findings, so an outage can never read as tampering.

mod chain;
mod check;
mod findings;
mod gzip;
mod keys;
mod logs;
mod model;
mod range;
mod signature;
mod signing;
mod single;
mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use chain::{PreviousState, fetch_previous, link_findings};
pub use check::{
    DigestCheck, DigestTarget, MAX_DIGEST_BYTES, META_BACKFILL_TIMESTAMP, META_SIGNATURE,
    META_SIGNATURE_ALGORITHM, check_digest_object,
};
pub use findings::{Finding, FindingCode, FindingSeverity, Verdict, s3_uri};
pub use gzip::{Gunzipped, GzipError, StreamHash, gunzip_member, hash_gzip_stream, sha256};
pub use keys::{
    KeyEncoding, KeyFileError, KeySelectionError, PublicKeyRecord, SelectedKey, key_encoding,
    md5_fingerprint, parse_list_public_keys, select_key,
};
pub use logs::{LogCheck, plan_log_checks, run_log_checks};
pub use model::{
    DigestDocument, DigestFormatError, HASH_ALGORITHM, LogFileEntry, PreviousDigest,
    SIGNATURE_ALGORITHM,
};
pub use range::{HEAD_STALE_AFTER_SECS, RangeRequest, UNREFERENCED_GRACE_SECS, verify_range};
pub use signature::{SignatureCheck, verify_sha256_rsa};
pub use signing::signing_string;
pub use single::verify_digest;
pub use store::{
    DigestStore, KeySourceError, MemoryStore, PublicKeySource, StaticKeySource, StoreError,
    StoredObject,
};

use serde::Serialize;

/// Why verification could not be completed. None of these says anything about tampering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `message` says which permission the refused request needed (the store knows the request).
    #[error("access denied reading {object}: {message}")]
    AccessDenied { object: String, message: String },
    #[error("storage failure reading {object}: {message}")]
    Infrastructure { object: String, message: String },
    #[error(transparent)]
    Keys(#[from] KeySourceError),
}

impl VerifyError {
    /// Maps a storage failure other than `NotFound` (callers handle that one as a finding).
    pub fn from_store(error: StoreError, object: String) -> VerifyError {
        match error {
            StoreError::AccessDenied(message) => VerifyError::AccessDenied { object, message },
            StoreError::Infrastructure(message) => VerifyError::Infrastructure { object, message },
            StoreError::NotFound => VerifyError::Infrastructure {
                object,
                message: "object vanished while being read".into(),
            },
        }
    }
}

/// The outcome of a verification: findings (sorted by object, then code), verdict and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationReport {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub digests_checked: usize,
    pub logs_checked: usize,
}

impl VerificationReport {
    pub fn new(mut findings: Vec<Finding>, digests_checked: usize, logs_checked: usize) -> Self {
        findings
            .sort_by(|a, b| (&a.object, a.code, &a.detail).cmp(&(&b.object, b.code, &b.detail)));
        findings.dedup();
        VerificationReport {
            verdict: Verdict::of(&findings),
            findings,
            digests_checked,
            logs_checked,
        }
    }

    /// The distinct finding codes, sorted.
    pub fn codes(&self) -> Vec<FindingCode> {
        let mut codes: Vec<FindingCode> = self.findings.iter().map(|f| f.code).collect();
        codes.sort();
        codes.dedup();
        codes
    }
}
