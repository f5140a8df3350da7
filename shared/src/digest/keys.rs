//! CloudTrail public keys (`docs/specs/digest-validation.md` §5): PKCS#1 or SubjectPublicKeyInfo
//! DER, MD5 fingerprints, and the `ListPublicKeys` response body used by `PUBLIC_KEYS_FILE` /
//! `--public-keys`.

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::Value;

/// One published key, as a key source returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyRecord {
    /// The fingerprint the source lists for the key (lowercase hex MD5 of the DER).
    pub fingerprint: String,
    /// The DER bytes (already base64-decoded).
    pub der: Vec<u8>,
    /// Validity window, Unix seconds, when known.
    pub validity_start: Option<i64>,
    /// End of the validity window, Unix seconds, when known.
    pub validity_end: Option<i64>,
}

/// The DER form a key was published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }` — what CloudTrail documents.
    Pkcs1,
    /// X.509 `SubjectPublicKeyInfo` (one documentation sample uses it).
    Spki,
}

/// Lowercase hex MD5 of the DER bytes.
pub fn md5_fingerprint(der: &[u8]) -> String {
    hex::encode(Md5::digest(der))
}

/// Tells PKCS#1 from SPKI by the first element inside the outer SEQUENCE: an INTEGER (the
/// modulus) for PKCS#1, a SEQUENCE (the AlgorithmIdentifier) for SPKI.
pub fn key_encoding(der: &[u8]) -> Option<KeyEncoding> {
    if der.first() != Some(&0x30) {
        return None;
    }
    let len_byte = *der.get(1)?;
    let header = if len_byte < 0x80 {
        2
    } else {
        2 + usize::from(len_byte & 0x7f)
    };
    match der.get(header)? {
        0x02 => Some(KeyEncoding::Pkcs1),
        0x30 => Some(KeyEncoding::Spki),
        _ => None,
    }
}

/// A key chosen for a digest, after the fingerprint cross-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedKey {
    /// The listed key whose DER hashes to the digest's `digestPublicKeyFingerprint`.
    pub record: PublicKeyRecord,
    /// How its DER is encoded; SPKI is reported as `KEY_SPKI_ENCODING` (info).
    pub encoding: KeyEncoding,
}

/// Why no key could be used for a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelectionError {
    /// No key listed with that fingerprint.
    NotListed,
    /// Listed, but md5(DER) is not the fingerprint (a corrupt or mismatched key list).
    FingerprintMismatch {
        /// Lowercase hex MD5 of the listed key's DER bytes, which differs from its fingerprint.
        computed: String,
    },
    /// Listed, but not an RSA public key in PKCS#1 or SPKI DER.
    Unparseable,
}

/// Picks the key whose listed fingerprint equals `fingerprint` and whose DER really hashes to it.
/// Fingerprints are compared case-insensitively (both are hex), the DER is never trusted blindly.
pub fn select_key(
    candidates: &[PublicKeyRecord],
    fingerprint: &str,
) -> Result<SelectedKey, KeySelectionError> {
    let mut failure = KeySelectionError::NotListed;
    for record in candidates
        .iter()
        .filter(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint))
    {
        let computed = md5_fingerprint(&record.der);
        if !computed.eq_ignore_ascii_case(fingerprint) {
            failure = KeySelectionError::FingerprintMismatch { computed };
            continue;
        }
        match key_encoding(&record.der) {
            Some(encoding) => {
                return Ok(SelectedKey {
                    record: record.clone(),
                    encoding,
                });
            }
            None => failure = KeySelectionError::Unparseable,
        }
    }
    Err(failure)
}

/// Why a key file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("public keys file: {0}")]
pub struct KeyFileError(pub String);

/// Parses a `ListPublicKeys` response body: `{"PublicKeyList":[{"Value": base64 DER,
/// "Fingerprint", "ValidityStartTime", "ValidityEndTime"}]}` (times as epoch seconds or RFC 3339).
pub fn parse_list_public_keys(json: &str) -> Result<Vec<PublicKeyRecord>, KeyFileError> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| KeyFileError(format!("not JSON: {e}")))?;
    let list = v
        .get("PublicKeyList")
        .and_then(Value::as_array)
        .ok_or_else(|| KeyFileError("no PublicKeyList array".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, k)| {
            let value = k
                .get("Value")
                .and_then(Value::as_str)
                .ok_or_else(|| KeyFileError(format!("PublicKeyList[{i}].Value missing")))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|e| {
                    KeyFileError(format!("PublicKeyList[{i}].Value is not base64: {e}"))
                })?;
            let fingerprint = k
                .get("Fingerprint")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| md5_fingerprint(&der));
            Ok(PublicKeyRecord {
                fingerprint,
                der,
                validity_start: epoch(k.get("ValidityStartTime")),
                validity_end: epoch(k.get("ValidityEndTime")),
            })
        })
        .collect()
}

fn epoch(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_f64().map(|f| f as i64),
        Value::String(s) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/digest/testdata/list-public-keys-example.json"
    ));

    #[test]
    fn documented_key_fingerprint_matches_md5_of_der() {
        let keys = parse_list_public_keys(DOC_KEY).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].der.len(), 270);
        assert_eq!(
            md5_fingerprint(&keys[0].der),
            "7f3f401420072e50a65a141430817ab3"
        );
        assert_eq!(keys[0].validity_start, Some(1453076702));
        let chosen = select_key(&keys, "7F3F401420072E50A65A141430817AB3").unwrap();
        assert_eq!(chosen.encoding, KeyEncoding::Pkcs1);
    }

    #[test]
    fn a_listed_key_whose_der_does_not_hash_to_its_fingerprint_is_refused() {
        let mut keys = parse_list_public_keys(DOC_KEY).unwrap();
        keys[0].der[20] ^= 1;
        assert!(matches!(
            select_key(&keys, "7f3f401420072e50a65a141430817ab3"),
            Err(KeySelectionError::FingerprintMismatch { .. })
        ));
        assert_eq!(select_key(&keys, "00"), Err(KeySelectionError::NotListed));
    }

    #[test]
    fn encodings_are_told_apart() {
        assert_eq!(
            key_encoding(&[0x30, 0x03, 0x02, 0x01, 0x01]),
            Some(KeyEncoding::Pkcs1)
        );
        assert_eq!(
            key_encoding(&[0x30, 0x82, 0x01, 0x22, 0x30, 0x0d]),
            Some(KeyEncoding::Spki)
        );
        assert_eq!(key_encoding(b"garbage"), None);
        assert_eq!(key_encoding(&[]), None);
    }

    #[test]
    fn bad_key_files_are_explained() {
        assert!(parse_list_public_keys("{}").is_err());
        assert!(parse_list_public_keys(r#"{"PublicKeyList":[{"Value":"!!"}]}"#).is_err());
    }
}
