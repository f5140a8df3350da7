//! The digest JSON document (`docs/specs/digest-validation.md` §2) and its strict parser.
//!
//! The decompressed bytes are parsed exactly once, straight into a typed struct (no
//! `serde_json::Value` tree: members the verifier does not use are skipped without being
//! stored), and what a lenient reader needs (the end time, the log names) is taken from that same
//! parse even when strict validation fails. The signing string needs some values verbatim, so
//! they are kept as the exact strings found in the JSON.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The only algorithm CloudTrail signs digests with.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// The only hash algorithm CloudTrail uses for log files and previous digests.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// A parsed digest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDocument {
    /// `awsAccountId`: the account the digest covers.
    pub account_id: String,
    /// `digestStartTime` verbatim.
    pub start_time: String,
    /// `digestStartTime` as Unix seconds.
    pub start: i64,
    /// `digestEndTime` verbatim (it is part of the signing string).
    pub end_time: String,
    /// `digestEndTime` as Unix seconds.
    pub end: i64,
    /// `digestS3Bucket`: the bucket the digest was signed for (checked against where it is stored).
    pub s3_bucket: String,
    /// `digestS3Object`: the key the digest was signed for (checked against where it is stored).
    pub s3_object: String,
    /// `digestPublicKeyFingerprint`: hex MD5 of the DER of the public key that verifies the
    /// signature.
    pub public_key_fingerprint: String,
    /// `digestSignatureAlgorithm` verbatim (must be `SHA256withRSA`).
    pub signature_algorithm: String,
    /// `previousDigestSignature` verbatim; `None` when JSON `null`.
    pub previous_signature: Option<String>,
    /// The link to the previous digest; `None` for a starting digest.
    pub previous: Option<PreviousDigest>,
    /// `logFiles`: every log file delivered in the digest's hour, with its hash (may be empty).
    pub log_files: Vec<LogFileEntry>,
}

/// The `previousDigest*` fields of a digest that is not a starting digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousDigest {
    /// `previousDigestS3Bucket`.
    pub bucket: String,
    /// `previousDigestS3Object`: the previous digest's key.
    pub object: String,
    /// `previousDigestHashValue`: hex SHA-256 of the previous digest's decompressed content.
    pub hash_value: String,
    /// `previousDigestHashAlgorithm` verbatim (must be `SHA-256`).
    pub hash_algorithm: String,
    /// `previousDigestSignature`: the previous digest's `signature` metadata (hex).
    pub signature: String,
}

/// One entry of `logFiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileEntry {
    /// `s3Bucket`: the bucket the log file was delivered to.
    pub bucket: String,
    /// `s3Object`: the log file's key.
    pub object: String,
    /// `hashValue`: hex SHA-256 of the decompressed log file.
    pub hash_value: String,
    /// `hashAlgorithm` verbatim (must be `SHA-256`, else `LOG_HASH_ALGORITHM`).
    pub hash_algorithm: String,
}

/// Why a digest document is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DigestFormatError(pub String);

fn err(msg: impl Into<String>) -> DigestFormatError {
    DigestFormatError(msg.into())
}

/// Every member the verifier reads, typed, as one pass of the JSON parser leaves them. Absent
/// members are `None`; other members are skipped without being stored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawDigest {
    aws_account_id: Option<String>,
    digest_start_time: Option<String>,
    digest_end_time: Option<String>,
    digest_s3_bucket: Option<String>,
    digest_s3_object: Option<String>,
    digest_public_key_fingerprint: Option<String>,
    digest_signature_algorithm: Option<String>,
    /// `Some(None)`: present and `null`; `None`: absent (awscli requires the member).
    #[serde(deserialize_with = "present")]
    previous_digest_signature: Option<Option<String>>,
    previous_digest_s3_bucket: Option<String>,
    previous_digest_s3_object: Option<String>,
    previous_digest_hash_value: Option<String>,
    previous_digest_hash_algorithm: Option<String>,
    log_files: Option<Vec<RawLogEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawLogEntry {
    s3_bucket: Option<String>,
    s3_object: Option<String>,
    hash_value: Option<String>,
    hash_algorithm: Option<String>,
}

/// Tells a member that is present (possibly `null`) from one that is absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// One parse of a digest's decompressed bytes: the strict document, or why it is not well formed,
/// plus what a lenient reader can still use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDigest {
    /// The strictly validated document.
    pub document: Result<DigestDocument, DigestFormatError>,
    /// `digestEndTime` verbatim when it is a string, even if strict validation failed (for the
    /// time-continuity check of a successor).
    pub end_time: Option<String>,
    /// `(s3Bucket, s3Object)` of every `logFiles` entry that names both, even if strict validation
    /// failed (so that a malformed digest does not make all of its logs look unreferenced).
    pub log_references: Vec<(String, String)>,
}

impl ParsedDigest {
    /// Parses decompressed digest bytes once. When the bytes are not JSON of the expected types,
    /// nothing lenient survives either.
    pub fn parse(content: &[u8]) -> ParsedDigest {
        let raw: RawDigest = match serde_json::from_slice(content) {
            Ok(raw) => raw,
            Err(e) => {
                return ParsedDigest {
                    document: Err(err(format!(
                        "digest is not a JSON object of the expected types: {e}"
                    ))),
                    end_time: None,
                    log_references: Vec::new(),
                };
            }
        };
        let end_time = raw.digest_end_time.clone();
        let log_references = raw
            .log_files
            .iter()
            .flatten()
            .filter_map(|e| Some((e.s3_bucket.clone()?, e.s3_object.clone()?)))
            .collect();
        ParsedDigest {
            document: DigestDocument::from_raw(raw),
            end_time,
            log_references,
        }
    }
}

impl DigestDocument {
    /// Parses decompressed digest bytes. Every field the verification depends on must be present
    /// with the right type; a missing `logFiles` is a format error (awscli crashes on it).
    pub fn parse(content: &[u8]) -> Result<DigestDocument, DigestFormatError> {
        ParsedDigest::parse(content).document
    }

    fn from_raw(raw: RawDigest) -> Result<DigestDocument, DigestFormatError> {
        let start_time = required(raw.digest_start_time, "digestStartTime")?;
        let end_time = required(raw.digest_end_time, "digestEndTime")?;
        let start = parse_time(&start_time, "digestStartTime")?;
        let end = parse_time(&end_time, "digestEndTime")?;
        let previous_signature = raw
            .previous_digest_signature
            .ok_or_else(|| err("required field previousDigestSignature is missing"))?;

        let previous = match (raw.previous_digest_s3_bucket, raw.previous_digest_s3_object) {
            (None, None) => None,
            (Some(bucket), Some(object)) => Some(PreviousDigest {
                bucket,
                object,
                hash_value: raw.previous_digest_hash_value.ok_or_else(|| {
                    err("previousDigestHashValue is null but a previous digest is named")
                })?,
                hash_algorithm: raw.previous_digest_hash_algorithm.ok_or_else(|| {
                    err("previousDigestHashAlgorithm is null but a previous digest is named")
                })?,
                signature: previous_signature.clone().ok_or_else(|| {
                    err("previousDigestSignature is null but a previous digest is named")
                })?,
            }),
            _ => {
                return Err(err(
                    "only one of previousDigestS3Bucket / previousDigestS3Object is null",
                ));
            }
        };

        let log_files = raw
            .log_files
            .ok_or_else(|| err("required field logFiles is missing or null"))?
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let field = |v: Option<String>, name: &str| {
                    v.ok_or_else(|| err(format!("logFiles[{i}]: required field {name} is missing")))
                };
                Ok(LogFileEntry {
                    bucket: field(entry.s3_bucket, "s3Bucket")?,
                    object: field(entry.s3_object, "s3Object")?,
                    hash_value: field(entry.hash_value, "hashValue")?,
                    hash_algorithm: field(entry.hash_algorithm, "hashAlgorithm")?,
                })
            })
            .collect::<Result<Vec<_>, DigestFormatError>>()?;

        Ok(DigestDocument {
            account_id: required(raw.aws_account_id, "awsAccountId")?,
            start_time,
            start,
            end_time,
            end,
            s3_bucket: required(raw.digest_s3_bucket, "digestS3Bucket")?,
            s3_object: required(raw.digest_s3_object, "digestS3Object")?,
            public_key_fingerprint: required(
                raw.digest_public_key_fingerprint,
                "digestPublicKeyFingerprint",
            )?,
            signature_algorithm: required(
                raw.digest_signature_algorithm,
                "digestSignatureAlgorithm",
            )?,
            previous_signature,
            previous,
            log_files,
        })
    }
}

fn required(value: Option<String>, name: &str) -> Result<String, DigestFormatError> {
    value.ok_or_else(|| err(format!("required field {name} is missing or null")))
}

fn parse_time(text: &str, name: &str) -> Result<i64, DigestFormatError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| err(format!("{name} {text:?} is not an RFC 3339 time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn sample() -> Value {
        json!({
            "awsAccountId": "123456789012",
            "digestStartTime": "2026-03-14T07:12:09Z",
            "digestEndTime": "2026-03-14T08:12:09Z",
            "digestS3Bucket": "b",
            "digestS3Object": "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/14/x.json.gz",
            "digestPublicKeyFingerprint": "0123456789abcdef0123456789abcdef",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": null, "oldestEventTime": null,
            "previousDigestS3Bucket": "b",
            "previousDigestS3Object": "prev.json.gz",
            "previousDigestHashValue": "aa",
            "previousDigestHashAlgorithm": "SHA-256",
            "previousDigestSignature": "bb",
            "logFiles": [{"s3Bucket": "b", "s3Object": "l.json.gz", "hashValue": "cc",
                          "hashAlgorithm": "SHA-256", "newestEventTime": null, "oldestEventTime": null}]
        })
    }

    #[test]
    fn parses_a_chained_digest() {
        let doc = DigestDocument::parse(sample().to_string().as_bytes()).unwrap();
        assert_eq!(doc.end - doc.start, 3600);
        assert_eq!(doc.previous.as_ref().unwrap().signature, "bb");
        assert_eq!(doc.log_files.len(), 1);
        assert_eq!(doc.log_files[0].object, "l.json.gz");
    }

    #[test]
    fn starting_digest_has_no_previous() {
        let mut v = sample();
        for f in [
            "previousDigestS3Bucket",
            "previousDigestS3Object",
            "previousDigestHashValue",
            "previousDigestHashAlgorithm",
            "previousDigestSignature",
        ] {
            v[f] = Value::Null;
        }
        let doc = DigestDocument::parse(v.to_string().as_bytes()).unwrap();
        assert!(doc.previous.is_none());
        assert!(doc.previous_signature.is_none());
    }

    #[test]
    fn missing_or_mistyped_fields_are_format_errors() {
        for field in [
            "digestStartTime",
            "logFiles",
            "previousDigestSignature",
            "digestS3Object",
        ] {
            let mut v = sample();
            v.as_object_mut().unwrap().remove(field);
            let e = DigestDocument::parse(v.to_string().as_bytes()).unwrap_err();
            assert!(e.0.contains(field), "{field}: {e}");
        }
        let mut v = sample();
        v["logFiles"][0]["hashValue"] = json!(5);
        assert!(DigestDocument::parse(v.to_string().as_bytes()).is_err());
        let mut v = sample();
        v["digestEndTime"] = json!("yesterday");
        assert!(DigestDocument::parse(v.to_string().as_bytes()).is_err());
        let mut v = sample();
        v["previousDigestHashValue"] = Value::Null;
        assert!(DigestDocument::parse(v.to_string().as_bytes()).is_err());
        assert!(DigestDocument::parse(b"[1]").is_err());
        assert!(DigestDocument::parse(b"{").is_err());
    }

    #[test]
    fn lenient_readers_survive_strict_failures() {
        let mut v = sample();
        v.as_object_mut().unwrap().remove("digestStartTime");
        let parsed = ParsedDigest::parse(v.to_string().as_bytes());
        assert!(parsed.document.is_err());
        assert_eq!(
            parsed.log_references,
            vec![("b".to_owned(), "l.json.gz".to_owned())]
        );
        assert_eq!(parsed.end_time.as_deref(), Some("2026-03-14T08:12:09Z"));
        assert!(ParsedDigest::parse(b"\x1f\x8b").log_references.is_empty());
    }

    #[test]
    fn a_wrongly_typed_member_is_named_and_unknown_members_are_skipped() {
        let mut v = sample();
        v["digestS3Bucket"] = json!(5);
        let e = DigestDocument::parse(v.to_string().as_bytes()).unwrap_err();
        assert!(e.0.contains("expected"), "{e}");
        let mut v = sample();
        v["padding"] = json!([{"a": [{}, {}, {}]}, "x".repeat(1000)]);
        v["logFiles"][0]["extra"] = json!({"nested": [1, 2, 3]});
        assert!(DigestDocument::parse(v.to_string().as_bytes()).is_ok());
    }
}
