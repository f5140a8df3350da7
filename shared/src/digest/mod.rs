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
    DigestCheck, DigestTarget, EARLIEST_DIGEST_TIME, MAX_CLOCK_SKEW_SECS, MAX_DIGEST_BYTES,
    MAX_DIGEST_COMPRESSED_BYTES, META_BACKFILL_TIMESTAMP, META_SIGNATURE, META_SIGNATURE_ALGORITHM,
    check_digest_object, claim_findings,
};
pub use findings::{Finding, FindingCode, FindingSeverity, Verdict, s3_uri};
pub use gzip::{Gunzipped, GzipError, StreamHash, gunzip_member, hash_gzip_stream, sha256};
pub use keys::{
    KeyEncoding, KeyFileError, KeySelectionError, PublicKeyRecord, SelectedKey, key_encoding,
    md5_fingerprint, parse_list_public_keys, select_key,
};
pub use logs::{LogCheck, plan_log_checks, run_log_checks};
pub use model::{
    DigestDocument, DigestFormatError, HASH_ALGORITHM, LogFileEntry, ParsedDigest, PreviousDigest,
    SIGNATURE_ALGORITHM,
};
pub use range::{
    HEAD_STALE_AFTER_SECS, RangeRequest, UNREFERENCED_GRACE_SECS, format_time, verify_range,
};
pub use signature::{SignatureCheck, verify_sha256_rsa};
pub use signing::signing_string;
pub use single::verify_digest;
pub use store::{
    DigestStore, KeySourceError, MemoryStore, ObjectVersion, PublicKeySource, StaticKeySource,
    StoreError, StoredObject,
};

use serde::Serialize;

/// Why verification could not be completed. None of these says anything about tampering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bucket refused a read (S3 `AccessDenied`): the function's role or the bucket policy
    /// lacks a permission. Fixed by granting it, not by retrying.
    ///
    /// `message` says which permission the refused request needed (the store knows the request).
    #[error("access denied reading {object}: {message}")]
    AccessDenied {
        /// `s3://bucket/key` of the digest or log file that could not be read.
        object: String,
        /// The store's explanation, naming the permission the request needed.
        message: String,
    },
    /// S3 failed for a reason unrelated to the data (throttling, network, a 5xx, a body cut off
    /// mid-stream), or an object vanished between listing and reading. Worth retrying.
    #[error("storage failure reading {object}: {message}")]
    Infrastructure {
        /// `s3://bucket/key` of the digest or log file being read when S3 failed.
        object: String,
        /// The store's description of the failure.
        message: String,
    },
    /// CloudTrail's public keys could not be fetched (`ListPublicKeys` throttled or unreachable),
    /// so no signature could be checked.
    #[error(transparent)]
    Keys(#[from] KeySourceError),
}

impl VerifyError {
    /// Maps a storage failure other than `NotFound` (callers handle that one as a finding).
    pub fn from_store(error: StoreError, object: String) -> VerifyError {
        match error {
            StoreError::AccessDenied(message) => VerifyError::AccessDenied { object, message },
            StoreError::Infrastructure(message) => VerifyError::Infrastructure { object, message },
            StoreError::Unreadable(message) => VerifyError::Infrastructure {
                object,
                message: format!("the object cannot be read: {message}"),
            },
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
    /// PASS, WARN or FAIL: the most severe of `findings` (see [`Verdict::of`]).
    pub verdict: Verdict,
    /// Every finding, sorted by object, then code, then detail, exact duplicates removed.
    pub findings: Vec<Finding>,
    /// How many digest objects were checked: 1 for [`verify_digest`], every digest of the trail
    /// listed for the range (including the hour after its end) for [`verify_range`].
    pub digests_checked: usize,
    /// How many log files were hashed against the SHA-256 an authentic digest lists for them. A log
    /// listed twice with the same hash is hashed, and counted, once.
    pub logs_checked: usize,
}

impl VerificationReport {
    /// Builds the report from raw findings: sorts them by object, code and detail, drops exact
    /// duplicates and derives the verdict from what remains.
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
