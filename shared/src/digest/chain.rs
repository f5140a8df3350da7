//! The link between a digest and its predecessor (`docs/specs/digest-validation.md` §9.1, §9.5):
//! the previous digest must exist, carry the signature and hash this digest was signed over, and
//! end where this one starts.

use super::VerifyError;
use super::check::{DigestCheck, MAX_DIGEST_BYTES, MAX_DIGEST_COMPRESSED_BYTES, META_SIGNATURE};
use super::findings::{Finding, FindingCode, s3_uri};
use super::gzip::{gunzip_member, sha256};
use super::model::{DigestDocument, HASH_ALGORITHM, ParsedDigest, PreviousDigest};
use super::store::{DigestStore, StoreError};

/// What is known about the digest a link points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviousState {
    /// The store has no object at `previousDigestS3Bucket`/`previousDigestS3Object`
    /// (reported as `DIGEST_MISSING` on the previous digest).
    Missing,
    /// Present, but its content cannot be hashed (not gzip, corrupt).
    Unreadable(String),
    /// The previous digest exists and decompresses; the link is checked against what it holds.
    Present {
        /// SHA-256 of its decompressed content, compared with this digest's
        /// `previousDigestHashValue`.
        sha256: [u8; 32],
        /// Its `signature` S3 metadata (hex), compared with this digest's
        /// `previousDigestSignature`; `None` when the object carries no signature metadata.
        signature: Option<String>,
        /// Its `digestEndTime` verbatim, which must equal this digest's `digestStartTime`; `None`
        /// when it cannot be read from the content.
        end_time: Option<String>,
    },
}

impl PreviousState {
    /// The state of a digest checked in the same run.
    pub fn of_check(check: &DigestCheck) -> PreviousState {
        match (check.exists, check.content_sha256) {
            (false, _) => PreviousState::Missing,
            (true, None) => PreviousState::Unreadable("it is not a readable gzip object".into()),
            (true, Some(sha256)) => PreviousState::Present {
                sha256,
                signature: check.signature_hex.clone(),
                end_time: check.end_time.clone(),
            },
        }
    }
}

/// Reads the digest a link points to (only what the link needs: content hash, signature, end).
pub async fn fetch_previous<S: DigestStore>(
    store: &S,
    link: &PreviousDigest,
) -> Result<PreviousState, VerifyError> {
    let object = match store.get_object(&link.bucket, &link.object, None).await {
        Ok(o) => o,
        Err(StoreError::NotFound) => return Ok(PreviousState::Missing),
        Err(StoreError::Unreadable(why)) => {
            return Ok(PreviousState::Unreadable(format!(
                "it cannot be read: {why}"
            )));
        }
        Err(e) => {
            return Err(VerifyError::from_store(
                e,
                s3_uri(&link.bucket, &link.object),
            ));
        }
    };
    if object.bytes.len() > MAX_DIGEST_COMPRESSED_BYTES {
        return Ok(PreviousState::Unreadable(format!(
            "it is larger than {MAX_DIGEST_COMPRESSED_BYTES} bytes"
        )));
    }
    Ok(match gunzip_member(&object.bytes, MAX_DIGEST_BYTES) {
        Ok(g) => PreviousState::Present {
            sha256: sha256(&g.content),
            signature: object.metadata.get(META_SIGNATURE).cloned(),
            end_time: ParsedDigest::parse(&g.content).end_time,
        },
        Err(e) => PreviousState::Unreadable(format!("it cannot be decompressed: {e}")),
    })
}

/// Findings about the link from `doc` (stored at `uri`) to `previous`.
pub fn link_findings(
    uri: &str,
    doc: &DigestDocument,
    link: &PreviousDigest,
    previous: &PreviousState,
) -> Vec<Finding> {
    let prev_uri = s3_uri(&link.bucket, &link.object);
    let mut out = Vec::new();
    match previous {
        PreviousState::Missing => out.push(Finding::new(
            FindingCode::DigestMissing,
            prev_uri,
            format!("{uri} names it as the previous digest, but it does not exist"),
        )),
        PreviousState::Unreadable(why) => out.push(Finding::new(
            FindingCode::ChainPrevHashMismatch,
            uri,
            format!("the previous digest {prev_uri} cannot be hashed: {why}"),
        )),
        PreviousState::Present {
            sha256,
            signature,
            end_time,
        } => {
            match signature {
                None => out.push(Finding::new(
                    FindingCode::ChainPrevSignatureMismatch,
                    uri,
                    format!("the previous digest {prev_uri} has no signature metadata"),
                )),
                Some(sig) if !sig.trim().eq_ignore_ascii_case(&link.signature) => {
                    out.push(Finding::new(
                        FindingCode::ChainPrevSignatureMismatch,
                        uri,
                        format!(
                            "previousDigestSignature differs from the signature of {prev_uri} ({}… vs {}…)",
                            prefix(&link.signature),
                            prefix(sig)
                        ),
                    ))
                }
                Some(_) => {}
            }
            let actual = hex::encode(sha256);
            if link.hash_algorithm != HASH_ALGORITHM {
                out.push(Finding::new(
                    FindingCode::ChainPrevHashMismatch,
                    uri,
                    format!(
                        "previousDigestHashAlgorithm is {:?}, not {HASH_ALGORITHM}",
                        link.hash_algorithm
                    ),
                ));
            } else if !actual.eq_ignore_ascii_case(&link.hash_value) {
                out.push(Finding::new(
                    FindingCode::ChainPrevHashMismatch,
                    uri,
                    format!(
                        "previousDigestHashValue is {}, the SHA-256 of {prev_uri} is {actual}",
                        link.hash_value
                    ),
                ));
            }
            if let Some(end) = end_time
                && *end != doc.start_time
            {
                out.push(Finding::new(
                    FindingCode::ChainTimeDiscontinuity,
                    uri,
                    format!(
                        "starts at {} but the previous digest {prev_uri} ends at {end}",
                        doc.start_time
                    ),
                ));
            }
        }
    }
    out
}

/// The finding for a starting digest (null `previousDigest*`).
pub(super) fn restart_finding(uri: &str, doc: &DigestDocument) -> Finding {
    Finding::new(
        FindingCode::ChainRestart,
        uri,
        format!(
            "a new chain starts at {}: logging or validation was stopped and restarted (cross-check StopLogging/StartLogging events)",
            doc.start_time
        ),
    )
}

fn prefix(s: &str) -> &str {
    s.get(..16).unwrap_or(s)
}
