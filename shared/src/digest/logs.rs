//! Verification of the log files that authentic digests list: streamed gunzip + SHA-256, compared
//! with the signed `hashValue`, in parallel with a bound.

use super::VerifyError;
use super::check::DigestCheck;
use super::findings::{Finding, FindingCode, s3_uri};
use super::gzip::{GzipError, hash_gzip_stream};
use super::model::HASH_ALGORITHM;
use super::store::{DigestStore, StoreError};
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::HashMap;

/// One log file to hash, with the value its digest signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheck {
    /// The bucket the digest's `logFiles` entry names (`s3Bucket`).
    pub bucket: String,
    /// The log file's object key, from the entry's `s3Object`.
    pub key: String,
    /// The entry's `hashValue`: hex SHA-256 of the decompressed log file, as signed in the digest.
    pub expected_sha256_hex: String,
    /// The digest that lists it.
    pub digest: String,
}

/// Turns the log lists of authentic digests into hash checks. Entries with a hash algorithm other
/// than SHA-256 and repeated references become findings; a log listed twice with the same hash is
/// hashed once.
pub fn plan_log_checks<'a>(
    digests: impl IntoIterator<Item = &'a DigestCheck>,
) -> (Vec<LogCheck>, Vec<Finding>) {
    let mut checks = Vec::new();
    let mut findings = Vec::new();
    // Keyed by chain class too: a backfill digest re-covers a period whose normal digests may
    // exist, so listing the same logs again is expected there, not a duplicate.
    let mut seen: HashMap<(bool, String, String), (String, Vec<String>)> = HashMap::new();
    for digest in digests {
        let (true, Some(doc)) = (digest.authentic, digest.document.as_ref()) else {
            continue;
        };
        let digest_uri = digest.target.uri();
        for entry in &doc.log_files {
            let uri = s3_uri(&entry.bucket, &entry.object);
            if entry.hash_algorithm != HASH_ALGORITHM {
                findings.push(Finding::new(
                    FindingCode::LogHashAlgorithm,
                    uri,
                    format!(
                        "{digest_uri} lists it with hashAlgorithm {:?}, not {HASH_ALGORITHM}",
                        entry.hash_algorithm
                    ),
                ));
                continue;
            }
            let id = (
                digest.target.backfill,
                entry.bucket.clone(),
                entry.object.clone(),
            );
            if let Some((first_digest, hashes)) = seen.get_mut(&id) {
                let detail = if *first_digest == digest_uri {
                    format!("listed more than once by {digest_uri}")
                } else {
                    format!("listed by {first_digest} and again by {digest_uri}")
                };
                findings.push(Finding::new(
                    FindingCode::LogDuplicateReference,
                    uri,
                    detail,
                ));
                if hashes
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&entry.hash_value))
                {
                    continue;
                }
                hashes.push(entry.hash_value.clone());
            } else {
                seen.insert(id, (digest_uri.clone(), vec![entry.hash_value.clone()]));
            }
            checks.push(LogCheck {
                bucket: entry.bucket.clone(),
                key: entry.object.clone(),
                expected_sha256_hex: entry.hash_value.clone(),
                digest: digest_uri.clone(),
            });
        }
    }
    (checks, findings)
}

/// Hashes every planned log, at most `concurrency` at a time. Returns the findings. A log that
/// refuses to be read for good (access or KMS key refused, customer-key encrypted, archived) is a
/// `LOG_UNREADABLE` finding and the other logs are still checked; only a transient failure
/// (throttling, 5xx, network, a body cut off), which is not a finding, stops the run so that
/// the caller retries.
pub async fn run_log_checks<S: DigestStore>(
    store: &S,
    checks: Vec<LogCheck>,
    concurrency: usize,
) -> Result<Vec<Finding>, VerifyError> {
    let per_log: Vec<Option<Finding>> = stream::iter(checks)
        .map(|c| check_one(store, c))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(per_log.into_iter().flatten().collect())
}

async fn check_one<S: DigestStore>(
    store: &S,
    check: LogCheck,
) -> Result<Option<Finding>, VerifyError> {
    let uri = s3_uri(&check.bucket, &check.key);
    let hashed = match store
        .read_object(&check.bucket, &check.key, |r| hash_gzip_stream(r))
        .await
    {
        Ok(h) => h,
        Err(StoreError::NotFound) => {
            return Ok(Some(Finding::new(
                FindingCode::LogMissing,
                uri,
                format!("listed by {} but does not exist", check.digest),
            )));
        }
        Err(StoreError::AccessDenied(why) | StoreError::Unreadable(why)) => {
            return Ok(Some(Finding::new(
                FindingCode::LogUnreadable,
                uri,
                format!(
                    "listed by {} but its read was refused: {why}. The verifier's role may lack \
                     s3:GetObject or kms:Decrypt on it, or the object was re-encrypted (SSE-C, \
                     another KMS key) or archived after delivery",
                    check.digest
                ),
            )));
        }
        Err(e) => return Err(VerifyError::from_store(e, uri)),
    };
    let finding = |code, detail: String| Ok(Some(Finding::new(code, uri.clone(), detail)));
    match hashed {
        Err(GzipError::Source(e)) => Err(VerifyError::Infrastructure {
            object: uri,
            message: e.to_string(),
        }),
        Err(e) => finding(
            FindingCode::LogFormat,
            format!("not a well-formed gzip object: {e}"),
        ),
        Ok(h) if h.trailing_data => finding(
            FindingCode::LogTrailingData,
            "bytes follow the gzip member; CloudTrail writes exactly one member".to_owned(),
        ),
        Ok(h) if !h.hex().eq_ignore_ascii_case(&check.expected_sha256_hex) => finding(
            FindingCode::LogHashMismatch,
            format!(
                "SHA-256 of the content is {}, {} lists {}",
                h.hex(),
                check.digest,
                check.expected_sha256_hex
            ),
        ),
        Ok(_) => Ok(None),
    }
}
