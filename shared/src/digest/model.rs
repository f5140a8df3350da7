//! The digest JSON document (`docs/specs/digest-validation.md` §2) and its strict parser.
//!
//! Parsing works on the decompressed bytes; the signing string needs some values verbatim, so
//! they are kept as the exact strings found in the JSON.

use serde_json::{Map, Value};
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

impl DigestDocument {
    /// Parses decompressed digest bytes. Every field the verification depends on must be present
    /// with the right type; a missing `logFiles` is a format error (awscli crashes on it).
    pub fn parse(content: &[u8]) -> Result<DigestDocument, DigestFormatError> {
        let value: Value = serde_json::from_slice(content)
            .map_err(|e| err(format!("digest is not valid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| err("digest JSON is not an object"))?;

        let start_time = required_str(obj, "digestStartTime")?;
        let end_time = required_str(obj, "digestEndTime")?;
        let start = parse_time(&start_time, "digestStartTime")?;
        let end = parse_time(&end_time, "digestEndTime")?;
        let previous_signature = nullable_str(obj, "previousDigestSignature", true)?;

        let prev_bucket = nullable_str(obj, "previousDigestS3Bucket", false)?;
        let prev_object = nullable_str(obj, "previousDigestS3Object", false)?;
        let prev_hash = nullable_str(obj, "previousDigestHashValue", false)?;
        let prev_alg = nullable_str(obj, "previousDigestHashAlgorithm", false)?;
        let previous = match (prev_bucket, prev_object) {
            (None, None) => None,
            (Some(bucket), Some(object)) => Some(PreviousDigest {
                bucket,
                object,
                hash_value: prev_hash.ok_or_else(|| {
                    err("previousDigestHashValue is null but a previous digest is named")
                })?,
                hash_algorithm: prev_alg.ok_or_else(|| {
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

        let log_files = obj
            .get("logFiles")
            .ok_or_else(|| err("required field logFiles is missing"))?
            .as_array()
            .ok_or_else(|| err("logFiles is not an array"))?
            .iter()
            .enumerate()
            .map(|(i, entry)| parse_log_entry(i, entry))
            .collect::<Result<Vec<_>, _>>()?;

        Ok(DigestDocument {
            account_id: required_str(obj, "awsAccountId")?,
            start_time,
            start,
            end_time,
            end,
            s3_bucket: required_str(obj, "digestS3Bucket")?,
            s3_object: required_str(obj, "digestS3Object")?,
            public_key_fingerprint: required_str(obj, "digestPublicKeyFingerprint")?,
            signature_algorithm: required_str(obj, "digestSignatureAlgorithm")?,
            previous_signature,
            previous,
            log_files,
        })
    }
}

/// The `(bucket, key)` of every log file a digest lists, read as leniently as possible. Used for
/// the unreferenced-log check, so that a digest that fails strict parsing does not make all of
/// its logs look unreferenced when their names are still readable.
pub(super) fn lenient_log_references(content: &[u8]) -> Vec<(String, String)> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(content) else {
        return Vec::new();
    };
    let Some(Value::Array(entries)) = obj.get("logFiles") else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let bucket = e.get("s3Bucket")?.as_str()?;
            let key = e.get("s3Object")?.as_str()?;
            Some((bucket.to_owned(), key.to_owned()))
        })
        .collect()
}

/// `digestEndTime` read leniently, for the time-continuity check against a previous digest that is
/// only fetched (not verified).
pub(super) fn lenient_end_time(content: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(content).ok()?;
    value.get("digestEndTime")?.as_str().map(str::to_owned)
}

fn parse_log_entry(index: usize, entry: &Value) -> Result<LogFileEntry, DigestFormatError> {
    let obj = entry
        .as_object()
        .ok_or_else(|| err(format!("logFiles[{index}] is not an object")))?;
    let field = |name: &str| {
        required_str(obj, name).map_err(|e| err(format!("logFiles[{index}]: {}", e.0)))
    };
    Ok(LogFileEntry {
        bucket: field("s3Bucket")?,
        object: field("s3Object")?,
        hash_value: field("hashValue")?,
        hash_algorithm: field("hashAlgorithm")?,
    })
}

fn required_str(obj: &Map<String, Value>, name: &str) -> Result<String, DigestFormatError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(err(format!("field {name} is not a string"))),
        None => Err(err(format!("required field {name} is missing"))),
    }
}

/// A string-or-null field. `must_exist`: absence is a format error (awscli requires
/// `previousDigestSignature`); otherwise absence reads as null.
fn nullable_str(
    obj: &Map<String, Value>,
    name: &str,
    must_exist: bool,
) -> Result<Option<String>, DigestFormatError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(None),
        Some(_) => Err(err(format!("field {name} is neither a string nor null"))),
        None if must_exist => Err(err(format!("required field {name} is missing"))),
        None => Ok(None),
    }
}

fn parse_time(text: &str, name: &str) -> Result<i64, DigestFormatError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| err(format!("{name} {text:?} is not an RFC 3339 time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let bytes = v.to_string();
        assert_eq!(
            lenient_log_references(bytes.as_bytes()),
            vec![("b".to_owned(), "l.json.gz".to_owned())]
        );
        assert_eq!(
            lenient_end_time(bytes.as_bytes()).as_deref(),
            Some("2026-03-14T08:12:09Z")
        );
        assert!(lenient_log_references(b"\x1f\x8b").is_empty());
    }
}
