//! Checks of one digest object on its own: format, location, algorithm, key, signature
//! (order of `docs/specs/digest-validation.md` §7, with the strict additions of its §9).

use super::VerifyError;
use super::findings::{Finding, FindingCode, s3_uri};
use super::gzip::{GzipError, gunzip_member, sha256};
use super::keys::{KeyEncoding, KeySelectionError, select_key};
use super::model::{DigestDocument, ParsedDigest, SIGNATURE_ALGORITHM};
use super::signature::{SignatureCheck, decode_signature_hex, verify_sha256_rsa};
use super::signing::signing_string;
use super::store::{DigestStore, PublicKeySource, StoreError};
use crate::layout::{ObjectKind, classify, is_known_region};
use time::OffsetDateTime;

/// Largest decompressed digest accepted. A digest lists one entry (about 350 bytes) per log file
/// delivered in its hour; real ones are KBs, and 16 MiB would list about 45,000 log files.
/// Anything larger is `DIGEST_TOO_LARGE`, decided before it is ever parsed.
pub const MAX_DIGEST_BYTES: u64 = 16 << 20;
/// Largest digest object (compressed) accepted: a store reads at most one byte more, so a planted
/// object of any size costs at most this much memory.
pub const MAX_DIGEST_COMPRESSED_BYTES: usize = 8 << 20;
/// How far in the future a digest's `digestEndTime` may lie (clock skew between CloudTrail and us).
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;
/// 2015-01-01T00:00:00Z: CloudTrail log file validation (and so every digest) started in late
/// 2015; an earlier time is forged.
pub const EARLIEST_DIGEST_TIME: i64 = 1_420_070_400;

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
    /// The object version the trigger named: exactly that version is read (an overwrite seconds
    /// after delivery must not replace what is verified). `None` reads the current version.
    pub version_id: Option<String>,
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
                version_id: None,
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
    let version = target.version_id.as_deref();
    let object = match store.get_object(&target.bucket, &target.key, version).await {
        Ok(o) => o,
        Err(StoreError::NotFound) => {
            check.exists = false;
            check.add(
                FindingCode::DigestMissing,
                "the digest object does not exist",
            );
            return Ok(check);
        }
        // Archived or customer-key encrypted: CloudTrail never does either to a digest.
        Err(StoreError::Unreadable(why)) => {
            check.add(
                FindingCode::DigestFormat,
                format!("the digest object cannot be read: {why}"),
            );
            return Ok(check);
        }
        Err(e) => return Err(VerifyError::from_store(e, target.uri())),
    };

    if object.bytes.len() > MAX_DIGEST_COMPRESSED_BYTES {
        check.add(
            FindingCode::DigestTooLarge,
            format!(
                "the object is larger than {MAX_DIGEST_COMPRESSED_BYTES} bytes; CloudTrail digests are KBs"
            ),
        );
        return Ok(check);
    }
    let gunzipped = match gunzip_member(&object.bytes, MAX_DIGEST_BYTES) {
        Ok(g) => g,
        Err(GzipError::TooLarge(limit)) => {
            check.add(
                FindingCode::DigestTooLarge,
                format!(
                    "the content decompresses to more than {limit} bytes (decompression stopped there); CloudTrail digests are KBs"
                ),
            );
            return Ok(check);
        }
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
    let parsed = ParsedDigest::parse(&content);
    drop(content);
    check.end_time = parsed.end_time;
    check.log_references = parsed.log_references;

    let doc = match parsed.document {
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

    // The key lookup below takes its region and time from these claims: a forged one must be a
    // finding, never a lookup that fails as an outage.
    let claims = claim_findings(&doc, target, OffsetDateTime::now_utc().unix_timestamp());
    if !claims.is_empty() {
        check.findings.extend(claims);
        check.document = Some(doc);
        return Ok(check);
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

    let candidates = match keys
        .public_keys(&target.region, &doc.public_key_fingerprint, doc.end)
        .await
    {
        Ok(candidates) => candidates,
        // A region consistently forged in the key and the document passes the claim checks, and
        // its key lookup fails (no such endpoint) as an outage would: for a region AWS does not
        // have, that failure is the finding. For a real region it stays an error, and is retried.
        Err(e) if !is_known_region(&target.region) => {
            check.add(
                FindingCode::DigestRegionUnknown,
                format!(
                    "region {:?} is not an AWS region and its public keys cannot be fetched ({})",
                    target.region, e.0
                ),
            );
            check.document = Some(doc);
            return Ok(check);
        }
        Err(e) => return Err(e.into()),
    };
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

/// What the digest claims about itself, checked against its key before any key lookup: the region
/// and end time that `digestS3Object` names must be the stored key's region and the document's
/// `digestEndTime` (where the stored key is not `digestS3Object`, `DIGEST_MOVED` says so), and the
/// times must be possible (`digestStartTime <= digestEndTime`, not before
/// [`EARLIEST_DIGEST_TIME`], not after `now` + [`MAX_CLOCK_SKEW_SECS`]).
pub fn claim_findings(doc: &DigestDocument, target: &DigestTarget, now: i64) -> Vec<Finding> {
    let uri = target.uri();
    let mut out = Vec::new();
    match classify(&doc.s3_object) {
        ObjectKind::Digest(named) => {
            if named.location.region != target.region {
                out.push(Finding::new(
                    FindingCode::DigestClaimMismatch,
                    &uri,
                    format!(
                        "signed for region {} (digestS3Object) but stored under region {}",
                        named.location.region, target.region
                    ),
                ));
            }
            if named.location.time != doc.end {
                out.push(Finding::new(
                    FindingCode::DigestClaimMismatch,
                    &uri,
                    format!(
                        "digestEndTime {} is not the time {} its key names",
                        doc.end_time, named.timestamp
                    ),
                ));
            }
        }
        _ => out.push(Finding::new(
            FindingCode::DigestClaimMismatch,
            &uri,
            format!(
                "digestS3Object {:?} is not a CloudTrail digest key",
                doc.s3_object
            ),
        )),
    }
    if doc.start > doc.end {
        out.push(Finding::new(
            FindingCode::DigestTimeImplausible,
            &uri,
            format!(
                "digestStartTime {} is after digestEndTime {}",
                doc.start_time, doc.end_time
            ),
        ));
    }
    for (name, text, t) in [
        ("digestStartTime", &doc.start_time, doc.start),
        ("digestEndTime", &doc.end_time, doc.end),
    ] {
        if t > now + MAX_CLOCK_SKEW_SECS {
            out.push(Finding::new(
                FindingCode::DigestTimeImplausible,
                &uri,
                format!("{name} {text} lies in the future"),
            ));
        } else if t < EARLIEST_DIGEST_TIME {
            out.push(Finding::new(
                FindingCode::DigestTimeImplausible,
                &uri,
                format!("{name} {text} is before CloudTrail wrote any digest"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::store::{MemoryStore, StaticKeySource, StoredObject};
    use futures::executor::block_on;

    const KEY: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/03/14/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20260314T081209Z.json.gz";
    const NOW: i64 = 1_773_500_000; // 2026-03-14T14:53:20Z

    fn doc(s3_object: &str, start: &str, end: &str) -> DigestDocument {
        let t = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .unwrap()
                .unix_timestamp()
        };
        DigestDocument {
            account_id: "123456789012".into(),
            start_time: start.into(),
            start: t(start),
            end_time: end.into(),
            end: t(end),
            s3_bucket: "b".into(),
            s3_object: s3_object.into(),
            public_key_fingerprint: "00".into(),
            signature_algorithm: SIGNATURE_ALGORITHM.into(),
            previous_signature: None,
            previous: None,
            log_files: Vec::new(),
        }
    }

    fn codes(d: &DigestDocument, now: i64) -> Vec<FindingCode> {
        let target = DigestTarget::from_key("b", KEY).unwrap();
        claim_findings(d, &target, now)
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn consistent_claims_give_no_finding() {
        let d = doc(KEY, "2026-03-14T07:12:09Z", "2026-03-14T08:12:09Z");
        assert!(codes(&d, NOW).is_empty());
        // Within the clock skew is still possible.
        assert!(codes(&d, d.end - MAX_CLOCK_SKEW_SECS).is_empty());
    }

    #[test]
    fn a_region_other_than_the_keys_is_a_claim_mismatch() {
        let forged = KEY.replace("us-east-1/", "eu-west-1/").replacen(
            "_CloudTrail-Digest_us-east-1_",
            "_CloudTrail-Digest_eu-west-1_",
            1,
        );
        let d = doc(&forged, "2026-03-14T07:12:09Z", "2026-03-14T08:12:09Z");
        assert_eq!(codes(&d, NOW), vec![FindingCode::DigestClaimMismatch]);
        let d = doc(
            "not/a/digest",
            "2026-03-14T07:12:09Z",
            "2026-03-14T08:12:09Z",
        );
        assert_eq!(codes(&d, NOW), vec![FindingCode::DigestClaimMismatch]);
    }

    #[test]
    fn an_end_time_other_than_the_keys_is_a_claim_mismatch() {
        let d = doc(KEY, "2026-03-14T07:12:09Z", "2026-03-14T08:12:10Z");
        assert_eq!(codes(&d, NOW), vec![FindingCode::DigestClaimMismatch]);
    }

    #[test]
    fn impossible_times_are_implausible() {
        // In the future (beyond the skew): the key names the same time, so only the time is wrong.
        let d = doc(KEY, "2026-03-14T07:12:09Z", "2026-03-14T08:12:09Z");
        assert_eq!(
            codes(&d, d.end - MAX_CLOCK_SKEW_SECS - 1),
            vec![FindingCode::DigestTimeImplausible]
        );
        // Start after end.
        let d = doc(KEY, "2026-03-14T09:12:09Z", "2026-03-14T08:12:09Z");
        assert_eq!(codes(&d, NOW), vec![FindingCode::DigestTimeImplausible]);
        // Before CloudTrail wrote any digest.
        let old = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2014/03/14/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20140314T081209Z.json.gz";
        let target = DigestTarget::from_key("b", old).unwrap();
        let d = doc(old, "2014-03-14T07:12:09Z", "2014-03-14T08:12:09Z");
        let found: Vec<_> = claim_findings(&d, &target, NOW)
            .into_iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(found, vec![FindingCode::DigestTimeImplausible; 2]);
    }

    #[test]
    fn an_oversized_object_is_too_large_before_it_is_decompressed() {
        let target = DigestTarget::from_key("b", KEY).unwrap();
        let check = |bytes: Vec<u8>| {
            let mut store = MemoryStore::default();
            let object = StoredObject {
                bytes,
                ..Default::default()
            };
            store.put("b", KEY, object);
            let c = block_on(check_digest_object(
                &store,
                &StaticKeySource::default(),
                &target,
            ))
            .unwrap();
            c.findings.iter().map(|f| f.code).collect::<Vec<_>>()
        };
        assert_eq!(
            check(vec![0; MAX_DIGEST_COMPRESSED_BYTES + 1]),
            vec![FindingCode::DigestTooLarge]
        );
        // Negative control: one byte less is read, and found not to be gzip.
        assert_eq!(
            check(vec![0; MAX_DIGEST_COMPRESSED_BYTES]),
            vec![FindingCode::DigestFormat]
        );
    }
}
