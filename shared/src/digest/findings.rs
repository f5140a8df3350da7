//! What verification found: finding codes with fixed severities
//! (`docs/specs/digest-validation.md` §8, "strict" column) and the verdict they add up to.

use serde::Serialize;
use std::fmt;

/// How bad a finding is. Errors mean tampering is possible; warnings need a human look; info is
/// context (a documented restart, a key in an unusual encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FindingSeverity {
    /// Context only, no action needed (a chain restart, a key published as SPKI); the verdict stays
    /// PASS.
    Info,
    /// Not proof of tampering but worth a human look (an unreferenced or twice-listed log, a gap
    /// between digests); makes the verdict WARN.
    Warning,
    /// Tampering is possible: a signature, hash, object or link does not check out; makes the
    /// verdict FAIL.
    Error,
}

impl FindingSeverity {
    /// The upper-case name used in `--json` output and alert attributes (`INFO`, `WARNING`,
    /// `ERROR`).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingSeverity::Info => "INFO",
            FindingSeverity::Warning => "WARNING",
            FindingSeverity::Error => "ERROR",
        }
    }
}

macro_rules! finding_codes {
    ($($variant:ident => $code:literal, $severity:ident, $meaning:literal;)*) => {
        /// Every finding the verifier can report. The code strings are a public contract (alert
        /// attributes, `--json` output, metrics dimensions).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FindingCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl FindingCode {
            /// Every code, in declaration order (for tests and for documentation tables).
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant,)*];

            /// The stable upper-snake-case code string (`LOG_HASH_MISMATCH`), a public contract.
            pub fn as_str(self) -> &'static str {
                match self { $(FindingCode::$variant => $code,)* }
            }

            /// The fixed severity of the code (the "strict" column of the spec's §8).
            pub fn severity(self) -> FindingSeverity {
                match self { $(FindingCode::$variant => FindingSeverity::$severity,)* }
            }

            /// One sentence saying what the code means, for alert bodies.
            pub fn meaning(self) -> &'static str {
                match self { $(FindingCode::$variant => $meaning,)* }
            }
        }
    };
}

finding_codes! {
    DigestSignatureInvalid => "DIGEST_SIGNATURE_INVALID", Error,
        "The digest's RSA signature does not verify with the published CloudTrail key.";
    DigestSignatureMissing => "DIGEST_SIGNATURE_MISSING", Error,
        "The digest object lacks its signature or signature-algorithm metadata.";
    DigestSignatureAlgorithm => "DIGEST_SIGNATURE_ALGORITHM", Error,
        "The digest was not signed with SHA256withRSA as CloudTrail always does.";
    DigestKeyNotFound => "DIGEST_KEY_NOT_FOUND", Error,
        "No CloudTrail public key with the digest's fingerprint exists in its region.";
    DigestFormat => "DIGEST_FORMAT", Error,
        "The digest object is not a well-formed gzip-compressed CloudTrail digest.";
    DigestTrailingData => "DIGEST_TRAILING_DATA", Error,
        "Data follows the gzip member of the digest object.";
    DigestMissing => "DIGEST_MISSING", Error,
        "A digest that the chain or the time range requires does not exist.";
    DigestMoved => "DIGEST_MOVED", Error,
        "The digest is not stored at the bucket and key it was signed for.";
    DigestBackfillMetadata => "DIGEST_BACKFILL_METADATA", Error,
        "A backfill digest lacks its backfill-generation-timestamp metadata.";
    DigestTooLarge => "DIGEST_TOO_LARGE", Error,
        "The digest object, or its decompressed content, is larger than any CloudTrail digest (a decompression bomb or a planted object).";
    DigestClaimMismatch => "DIGEST_CLAIM_MISMATCH", Error,
        "The digest's own claims contradict its object key: the region or end time it names is not the one the key carries.";
    DigestRegionUnknown => "DIGEST_REGION_UNKNOWN", Error,
        "The digest names a region AWS does not have, and no CloudTrail key service answers for it: the region was forged.";
    DigestTimeImplausible => "DIGEST_TIME_IMPLAUSIBLE", Error,
        "The digest's times are impossible: in the future, before CloudTrail digests existed, or ending before they start.";
    ChainPrevSignatureMismatch => "CHAIN_PREV_SIGNATURE_MISMATCH", Error,
        "The previous digest's signature differs from the one this digest was signed over.";
    ChainPrevHashMismatch => "CHAIN_PREV_HASH_MISMATCH", Error,
        "The previous digest's content differs from the hash this digest was signed over.";
    ChainHeadStale => "CHAIN_HEAD_STALE", Error,
        "The newest digest ends long before the end of the range: newer digests are missing.";
    LogHashMismatch => "LOG_HASH_MISMATCH", Error,
        "A log file's content differs from the hash its signed digest lists.";
    LogMissing => "LOG_MISSING", Error,
        "A log file listed by a signed digest does not exist.";
    LogFormat => "LOG_FORMAT", Error,
        "A listed log file is not a well-formed gzip object.";
    LogTrailingData => "LOG_TRAILING_DATA", Error,
        "Data follows the gzip member of a listed log file.";
    LogHashAlgorithm => "LOG_HASH_ALGORITHM", Error,
        "A signed digest lists a log file hash that is not SHA-256.";
    LogUnreadable => "LOG_UNREADABLE", Error,
        "A log file listed by a signed digest exists but cannot be read (access or KMS key refused, customer-key encrypted, archived).";
    LogUnreferenced => "LOG_UNREFERENCED", Error,
        "A log file inside the verified window is listed by no digest.";
    LogDuplicateReference => "LOG_DUPLICATE_REFERENCE", Warning,
        "A log file is listed more than once.";
    ChainTimeDiscontinuity => "CHAIN_TIME_DISCONTINUITY", Warning,
        "The previous digest's end time differs from this digest's start time.";
    ChainRestart => "CHAIN_RESTART", Info,
        "A new chain starts here (logging or validation was stopped and restarted).";
    KeySpkiEncoding => "KEY_SPKI_ENCODING", Info,
        "The public key was published as SubjectPublicKeyInfo rather than PKCS#1 DER.";
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One finding about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was found.
    pub code: FindingCode,
    /// Always `code.severity()`; stored so that the serialized finding carries it.
    pub severity: FindingSeverity,
    /// `s3://bucket/key` of the object the finding is about (for range-level findings, the prefix).
    pub object: String,
    /// One human-readable sentence with the specifics (which hash, which neighbour, which key).
    pub detail: String,
}

impl Finding {
    /// A finding of `code` about `object` (an `s3://` URI), with the code's fixed severity.
    pub fn new(code: FindingCode, object: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            severity: code.severity(),
            object: object.into(),
            detail: detail.into(),
        }
    }
}

/// `s3://bucket/key`.
pub fn s3_uri(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// No errors and no warnings (info findings may be present).
    #[serde(rename = "PASS")]
    Pass,
    /// At least one warning and no error: needs a human look.
    #[serde(rename = "WARN")]
    Warn,
    /// At least one error: the logs or digests may have been tampered with.
    #[serde(rename = "FAIL")]
    Fail,
}

impl Verdict {
    /// FAIL with any error, else WARN with any warning, else PASS.
    pub fn of(findings: &[Finding]) -> Verdict {
        match findings.iter().map(|f| f.severity).max() {
            Some(FindingSeverity::Error) => Verdict::Fail,
            Some(FindingSeverity::Warning) => Verdict::Warn,
            _ => Verdict::Pass,
        }
    }

    /// `PASS`, `WARN` or `FAIL`, as in `--json` output and alert attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_follow_the_strict_column() {
        // LOG_UNREFERENCED is an error here, stricter than the spec's strict column: a log file no
        // digest lists is what an attacker who can write to the bucket injects.
        let warnings = [
            FindingCode::LogDuplicateReference,
            FindingCode::ChainTimeDiscontinuity,
        ];
        let infos = [FindingCode::ChainRestart, FindingCode::KeySpkiEncoding];
        for code in FindingCode::ALL {
            let expected = if warnings.contains(code) {
                FindingSeverity::Warning
            } else if infos.contains(code) {
                FindingSeverity::Info
            } else {
                FindingSeverity::Error
            };
            assert_eq!(code.severity(), expected, "{code}");
        }
        assert_eq!(FindingCode::ALL.len(), 27);
    }

    #[test]
    fn verdict_is_driven_by_the_worst_finding() {
        let f = |c| Finding::new(c, "s3://b/k", "d");
        assert_eq!(Verdict::of(&[]), Verdict::Pass);
        assert_eq!(Verdict::of(&[f(FindingCode::ChainRestart)]), Verdict::Pass);
        assert_eq!(
            Verdict::of(&[
                f(FindingCode::ChainRestart),
                f(FindingCode::LogDuplicateReference)
            ]),
            Verdict::Warn
        );
        assert_eq!(
            Verdict::of(&[
                f(FindingCode::LogDuplicateReference),
                f(FindingCode::LogMissing)
            ]),
            Verdict::Fail
        );
        let json = serde_json::to_value(f(FindingCode::LogMissing)).unwrap();
        assert_eq!(json["code"], "LOG_MISSING");
        assert_eq!(json["severity"], "ERROR");
    }
}
