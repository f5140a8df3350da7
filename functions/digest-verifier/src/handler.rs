//! The invocation handler: decode the trigger, verify each digest (logs in parallel, link to the
//! previous digest), alert on errors (and warnings when asked), emit metrics. Storage, key
//! service and publish failures fail the object, so Lambda retries it.

use serde_json::Value;
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::intake::run_items_and_deletions;
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_shared::alert::digest::{self as alert, AlertContext};
use trailwatch_shared::digest::{
    DigestStore, DigestTarget, PublicKeySource, Verdict, VerificationReport, VerifyError,
    verify_digest,
};
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::trigger::{ObjectRef, decode};

use crate::config::VerifierConfig;

pub const METRIC_NAMESPACE: &str = "trailwatch";
pub(crate) const FUNCTION: &str = "digest-verifier";
/// Digests of one event verified at once (each already hashes `MAX_CONCURRENCY` logs at once).
const DIGESTS_AT_ONCE: usize = 2;

/// Everything built once at cold start and shared by all invocations (the key cache included).
pub struct DigestVerifier<S, K, A> {
    pub config: VerifierConfig,
    pub store: S,
    pub keys: K,
    /// Where alerts go: SNS (`ALERT_TOPIC_ARN`) in production, a recorder in tests.
    pub alerts: A,
}

pub use trailwatch_lambda_common::intake::InvocationError as HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Storage or key-service failure: not a verdict; retried.
    #[error("verification could not complete: {0}")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// A refused read is a permission to fix, never a verdict: it fails the object with
/// `trailwatch.PermissionDenied`, and no finding is raised.
impl ObjectFailure for ObjectError {
    fn permission_denied(&self) -> bool {
        match self {
            ObjectError::Verify(e) => matches!(e, VerifyError::AccessDenied { .. }),
            ObjectError::Publish(e) => e.refused,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    Verified {
        report: VerificationReport,
        alerted: bool,
    },
    Skipped {
        reason: String,
    },
}

impl<S: DigestStore, K: PublicKeySource, A: AlertPublisher> DigestVerifier<S, K, A> {
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let trigger = decode(&payload)?;
        let response = run_items_and_deletions(
            trigger,
            DIGESTS_AT_ONCE,
            // A created CloudTrail file first gets the overwrite check (crate::overwrite); a
            // digest is then verified as the event names it, other files get no other work.
            |object| async move {
                self.check_overwrite(&object).await?;
                self.process_object(&object).await.map(|_| ())
            },
            // Deletions of CloudTrail files alert (crate::deletion).
            |notice| async move { self.process_deletion(&notice).await.map(|_| ()) },
        )
        .await?;
        Ok(response)
    }

    /// Verifies one digest, or skips (and counts) any other object.
    pub async fn process_object(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        let digest = match classify(&object.key) {
            ObjectKind::Digest(d) => d,
            other => {
                let reason = match other {
                    ObjectKind::LogFile(_) => "log file".to_owned(),
                    ObjectKind::InsightFile(_) => "insights file".to_owned(),
                    ObjectKind::Other(r) => r.as_str().to_owned(),
                    ObjectKind::Digest(_) => unreachable!("digests handled above"),
                };
                tracing::info!(object = %uri, %reason, "skipped: not a CloudTrail digest file");
                MetricLine::new(METRIC_NAMESPACE)
                    .dimension("Function", FUNCTION)
                    .count("FilesSkipped", 1)
                    .property("object", uri)
                    .property("skipReason", reason.clone())
                    .emit();
                return Ok(ObjectOutcome::Skipped { reason });
            }
        };
        let target = DigestTarget {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            region: digest.location.region.clone(),
            backfill: digest.backfill,
            version_id: object.version_id.clone(),
        };
        let report = verify_digest(
            &self.store,
            &self.keys,
            &target,
            self.config.max_concurrency,
        )
        .await?;

        let alert_wanted = match report.verdict {
            Verdict::Fail => true,
            Verdict::Warn => self.config.alert_on_warn,
            Verdict::Pass => false,
        };
        let mut alerted = false;
        if alert_wanted {
            let ctx = AlertContext {
                digest: &uri,
                account: &digest.location.account,
                region: &digest.location.region,
                trail: &digest.trail_name,
            };
            let message_id = self.alerts.publish(&alert::build(&report, &ctx)).await?;
            alerted = true;
            tracing::warn!(
                object = %uri, verdict = %report.verdict, findings = report.findings.len(),
                codes = %codes_text(&report), %message_id, "digest verification alert published"
            );
        } else {
            tracing::info!(
                object = %uri, verdict = %report.verdict, logs = report.logs_checked,
                codes = %codes_text(&report), "digest verified"
            );
        }
        self.emit_metrics(&uri, &report, alerted);
        Ok(ObjectOutcome::Verified { report, alerted })
    }

    fn emit_metrics(&self, uri: &str, report: &VerificationReport, alerted: bool) {
        let mut line = MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", FUNCTION)
            .count("DigestsVerified", report.digests_checked as u64)
            .count("LogsVerified", report.logs_checked as u64)
            .count("AlertsPublished", u64::from(alerted))
            .property("object", uri)
            .property("verdict", report.verdict.as_str());
        for code in report.codes() {
            let n = report.findings.iter().filter(|f| f.code == code).count();
            line = line.count(code.as_str(), n as u64);
        }
        line.emit();
    }
}

/// The finding codes of a report as they appear in alerts (`LOG_HASH_MISMATCH, …`).
fn codes_text(report: &VerificationReport) -> String {
    report
        .codes()
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
