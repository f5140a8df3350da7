//! Verification of one newly delivered digest (what the Lambda does per S3 event): the digest
//! itself, every log it lists, and its link to the previous digest.

use super::chain::{fetch_previous, link_findings, restart_finding};
use super::check::{DigestTarget, check_digest_object};
use super::logs::{plan_log_checks, run_log_checks};
use super::store::{DigestStore, PublicKeySource};
use super::{VerificationReport, VerifyError};

/// Verifies one newly delivered digest: the object itself, every log it lists and, when it is
/// authentic, its link to the previous digest (or a `CHAIN_RESTART` for a starting digest). At
/// most `concurrency` logs are read at a time; storage and key-service failures are errors, never
/// findings.
pub async fn verify_digest<S: DigestStore, K: PublicKeySource>(
    store: &S,
    keys: &K,
    target: &DigestTarget,
    concurrency: usize,
) -> Result<VerificationReport, VerifyError> {
    let check = check_digest_object(store, keys, target).await?;
    let mut findings = check.findings.clone();
    let (log_checks, plan_findings) = plan_log_checks([&check]);
    findings.extend(plan_findings);
    let logs_checked = log_checks.len();
    findings.extend(run_log_checks(store, log_checks, concurrency).await?);

    // A link is only meaningful when this digest's content is authentic.
    if let (true, Some(doc)) = (check.authentic, check.document.as_ref()) {
        match &doc.previous {
            None => findings.push(restart_finding(&target.uri(), doc)),
            Some(link) => {
                let previous = fetch_previous(store, link).await?;
                findings.extend(link_findings(&target.uri(), doc, link, &previous));
            }
        }
    }
    Ok(VerificationReport::new(findings, 1, logs_checked))
}
