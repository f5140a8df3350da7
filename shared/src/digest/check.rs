//! Checks of one digest object on its own: format, location, algorithm, key, signature
//! (order of `docs/specs/digest-validation.md` §7, with the strict additions of its §9).

use super::VerifyError;
use super::findings::{Finding, FindingCode, s3_uri};
use super::gzip::{GzipError, gunzip_member, sha256};
use super::keys::{KeyEncoding, KeySelectionError, select_key};
use super::model::{self, DigestDocument, SIGNATURE_ALGORITHM};
use super::signature::{SignatureCheck, decode_signature_hex, verify_sha256_rsa};
use super::signing::signing_string;
use super::store::{DigestStore, PublicKeySource, StoreError};
use crate::layout::{ObjectKind, classify};

/// Largest decompressed digest accepted (a digest lists one line per log file; real ones are KBs).
pub const MAX_DIGEST_BYTES: u64 = 256 << 20;

/// S3 user-metadata key (`x-amz-meta-signature`) holding the digest's hex-encoded RSA signature.
pub const META_SIGNATURE: &str = "signature";
/// S3 user-metadata key (`x-amz-meta-signature-algorithm`) naming the signing algorithm; must be
/// `SHA256withRSA`.
pub const META_SIGNATURE_ALGORITHM: &str = "signature-algorithm";
/// S3 user-metadata key (`x-amz-meta-backfill-generation-timestamp`) that every `_backfill` digest
/// must carry: when CloudTrail generated it.
pub const META_BACKFILL_TIMESTAMP: &str = "backfill-generation-timestamp";

/// Where a digest is read from, and what its key says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DigestTarget {
    /// The trail bucket holding the digest.
    pub bucket: String,
    /// The digest's full object key (`…/CloudTrail-Digest/<region>/YYYY/MM/DD/…json.gz`).
    pub key: String,
    /// The region that delivered and signed the digest (its keys are looked up there).
    pub region: String,
    /// The key ends in `_backfill.json.gz`: a backfill digest, which must carry
    /// `backfill-generation-timestamp` metadata and forms its own chain.
    pub backfill: bool,
}

impl DigestTarget {
    /// `None` when the key is not a CloudTrail digest key.
    pub fn from_key(bucket: &str, key: &str) -> Option<DigestTarget> {
        match classify(key) {
            ObjectKind::Digest(d) => Some(DigestTarget {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                region: d.location.region,
                backfill: d.backfill,
            }),
            _ => None,
        }
    }

    /// `s3://bucket/key` of the digest, the object its findings are reported against.
    pub fn uri(&self) -> String {
        s3_uri(&self.bucket, &self.key)
    }
}

/// What checking one digest object found.
#[derive(Debug, Clone)]
pub struct DigestCheck {
    /// The digest that was checked.
    pub target: DigestTarget,
    /// `false` when the store has no such object (the only finding is then `DIGEST_MISSING`).
    pub exists: bool,
    /// What the checks of this object alone found (format, location, algorithm, key, signature);
    /// findings about its logs and chain link are produced later.
    pub findings: Vec<Finding>,
    /// The strictly parsed document, when the object is a well-formed digest.
    pub document: Option<DigestDocument>,
    /// Signed by CloudTrail's key with SHA256withRSA and stored where it was signed for: its
    /// content (log hashes, chain link) can be trusted.
    pub authentic: bool,
    /// SHA-256 of the decompressed content (what a successor's `previousDigestHashValue` is).
    pub content_sha256: Option<[u8; 32]>,
    /// The `signature` metadata (what a successor's `previousDigestSignature` is).
    pub signature_hex: Option<String>,
    /// `digestEndTime`, read even when strict parsing fails.
    pub end_time: Option<String>,
    /// Every log the digest names, read even when strict parsing fails.
    pub log_references: Vec<(String, String)>,
}

impl DigestCheck {
    fn new(target: &DigestTarget) -> DigestCheck {
        DigestCheck {
            target: target.clone(),
            exists: true,
            findings: Vec::new(),
            document: None,
            authentic: false,
            content_sha256: None,
            signature_hex: None,
            end_time: None,
            log_references: Vec::new(),
        }
    }

    /// Whether any finding has severity ERROR (a FAIL verdict for this digest).
    pub fn has_errors(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == super::FindingSeverity::Error)
    }

    fn add(&mut self, code: FindingCode, detail: impl Into<String>) {
        self.findings
            .push(Finding::new(code, self.target.uri(), detail));
    }
}

/// Reads and checks one digest object. Storage and key-service failures are returned as errors,
/// never as findings.
pub async fn check_digest_object<S: DigestStore, K: PublicKeySource>(
    store: &S,
    keys: &K,
    target: &DigestTarget,
) -> Result<DigestCheck, VerifyError> {
    let mut check = DigestCheck::new(target);
    let object = match store.get_object(&target.bucket, &target.key).await {
        Ok(o) => o,
        Err(StoreError::NotFound) => {
            check.exists = false;
            check.add(
                FindingCode::DigestMissing,
                "the digest object does not exist",
            );
            return Ok(check);
        }
        Err(e) => return Err(VerifyError::from_store(e, target.uri())),
    };

    let gunzipped = match gunzip_member(&object.bytes, MAX_DIGEST_BYTES) {
        Ok(g) => g,
        Err(e) => {
            let why = match e {
                GzipError::NotGzip => "the object is not gzip-compressed".to_owned(),
                other => format!("the object cannot be decompressed: {other}"),
            };
            check.add(FindingCode::DigestFormat, why);
            return Ok(check);
        }
    };
    if gunzipped.trailing_data {
        check.add(
            FindingCode::DigestTrailingData,
            "bytes follow the gzip member; CloudTrail writes exactly one member, so the object was altered",
        );
    }
    let content = gunzipped.content;
    let content_sha256 = sha256(&content);
    check.content_sha256 = Some(content_sha256);
    check.signature_hex = object.metadata.get(META_SIGNATURE).cloned();
    check.end_time = model::lenient_end_time(&content);
    check.log_references = model::lenient_log_references(&content);

    let doc = match DigestDocument::parse(&content) {
        Ok(d) => d,
        Err(e) => {
            check.add(FindingCode::DigestFormat, e.0);
            return Ok(check);
        }
    };

    if target.backfill && !object.metadata.contains_key(META_BACKFILL_TIMESTAMP) {
        check.add(
            FindingCode::DigestBackfillMetadata,
            "backfill digest without x-amz-meta-backfill-generation-timestamp",
        );
    }
    let in_place = doc.s3_bucket == target.bucket && doc.s3_object == target.key;
    if !in_place {
        check.add(
            FindingCode::DigestMoved,
            format!(
                "signed for s3://{}/{} but stored here",
                doc.s3_bucket, doc.s3_object
            ),
        );
    }

    let (Some(signature_hex), Some(algorithm)) = (
        object.metadata.get(META_SIGNATURE),
        object.metadata.get(META_SIGNATURE_ALGORITHM),
    ) else {
        let absent: Vec<&str> = [META_SIGNATURE, META_SIGNATURE_ALGORITHM]
            .into_iter()
            .filter(|m| !object.metadata.contains_key(*m))
            .collect();
        check.add(
            FindingCode::DigestSignatureMissing,
            format!("object metadata lacks {}", absent.join(" and ")),
        );
        check.document = Some(doc);
        return Ok(check);
    };
    if algorithm != SIGNATURE_ALGORITHM || doc.signature_algorithm != SIGNATURE_ALGORITHM {
        check.add(
            FindingCode::DigestSignatureAlgorithm,
            format!(
                "metadata says {algorithm:?}, digest says {:?}; CloudTrail only uses {SIGNATURE_ALGORITHM}",
                doc.signature_algorithm
            ),
        );
    }

    let candidates = keys
        .public_keys(&target.region, &doc.public_key_fingerprint, doc.end)
        .await?;
    let key = match select_key(&candidates, &doc.public_key_fingerprint) {
        Ok(k) => k,
        Err(e) => {
            let fp = &doc.public_key_fingerprint;
            let region = &target.region;
            let detail = match e {
                KeySelectionError::NotListed => {
                    format!("no public key with fingerprint {fp} in region {region}")
                }
                KeySelectionError::FingerprintMismatch { computed } => format!(
                    "the key listed for fingerprint {fp} in region {region} hashes to {computed}"
                ),
                KeySelectionError::Unparseable => format!(
                    "the key listed for fingerprint {fp} in region {region} is not RSA PKCS#1 or SPKI DER"
                ),
            };
            check.add(FindingCode::DigestKeyNotFound, detail);
            check.document = Some(doc);
            return Ok(check);
        }
    };
    if key.encoding == KeyEncoding::Spki {
        check.add(
            FindingCode::KeySpkiEncoding,
            format!(
                "key {} is published as SubjectPublicKeyInfo DER",
                key.record.fingerprint
            ),
        );
    }

    let signature = match decode_signature_hex(signature_hex) {
        Ok(s) => s,
        Err(e) => {
            check.add(FindingCode::DigestSignatureInvalid, e);
            check.document = Some(doc);
            return Ok(check);
        }
    };
    let message = signing_string(&doc, &content_sha256);
    match verify_sha256_rsa(&key.record.der, message.as_bytes(), &signature) {
        SignatureCheck::Valid => check.authentic = in_place,
        SignatureCheck::OtherHash(name) => check.add(
            FindingCode::DigestSignatureAlgorithm,
            format!(
                "the signature verifies only as {name}; CloudTrail signs with {SIGNATURE_ALGORITHM}"
            ),
        ),
        SignatureCheck::Invalid => check.add(
            FindingCode::DigestSignatureInvalid,
            format!(
                "the signature does not verify with key {} over the digest's signing string",
                key.record.fingerprint
            ),
        ),
    }
    check.document = Some(doc);
    Ok(check)
}
