//! The invocation handler: decode the trigger, verify each digest (logs in parallel, link to the
//! previous digest), alert on errors (and warnings when asked), emit metrics. Storage, key
//! service and publish failures fail the object, so Lambda retries it; a transient fault is
//! never a verdict.
//!
//! Alerts are exactly once per digest version and finding set ([`crate::alert_ids`],
//! `trailwatch_lambda_common::sns::once`): a repeated delivery of a completed digest is skipped
//! and counted (`FilesAlreadyProcessed`); a retry that finds the same findings publishes
//! nothing again, one that finds different findings publishes their alert. Residual window: a
//! crash between SNS's acceptance of the alert and its record repeats that alert once.

use serde_json::Value;
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::intake::run_items_and_deletions;
use trailwatch_lambda_common::repeat_delivery::count_already_processed;
use trailwatch_lambda_common::sns::once::{AlertLedger, Attempt, Claimed, OnceError, Sent};
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_lambda_common::state::{StateError, StateStore, Store, WorkKey};
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::digest::{self as alert, AlertContext};
use trailwatch_shared::digest::{
    DigestStore, DigestTarget, PublicKeySource, Verdict, VerificationReport, VerifyError,
    verify_digest,
};
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::trigger::{ObjectRef, decode};

use crate::alert_ids::finding_set_id;
use crate::config::VerifierConfig;

pub const METRIC_NAMESPACE: &str = "trailwatch";
pub(crate) const FUNCTION: &str = "digest-verifier";
/// Digests of one event verified at once (each already hashes `MAX_CONCURRENCY` logs at once).
const DIGESTS_AT_ONCE: usize = 2;

/// Everything built once at cold start and shared by all invocations (the key cache included).
pub struct DigestVerifier<S, K, A, T = Store> {
    pub config: VerifierConfig,
    pub store: S,
    pub keys: K,
    /// Where alerts go: SNS (`ALERT_TOPIC_ARN`) in production, a recorder in tests.
    pub alerts: A,
    /// Which alerts of which digest version, deletion and overwrite are out: the state table
    /// (memory in unit tests).
    pub ledger: AlertLedger<T>,
}

pub use trailwatch_lambda_common::intake::InvocationError as HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Storage or key-service failure: not a verdict; retried.
    #[error("verification could not complete: {0}")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// A concurrent duplicate delivery: never processed twice at once; retried later.
    #[error(
        "another invocation is processing {unit} (its lease runs until {lease_until_ms} ms since the epoch); retried later"
    )]
    InProgress { unit: String, lease_until_ms: i64 },
    #[error("state table: {0}")]
    State(#[from] StateError),
    /// Published, but not recorded: a retry may publish it again.
    #[error(transparent)]
    Unrecorded(OnceError),
}

impl From<OnceError> for ObjectError {
    fn from(e: OnceError) -> Self {
        match e {
            OnceError::Publish(e) => ObjectError::Publish(e),
            e @ OnceError::NotRecorded { .. } => ObjectError::Unrecorded(e),
        }
    }
}

/// A refused read is a permission to fix, never a verdict: it fails the object with
/// `trailwatch.PermissionDenied`, and no finding is raised.
impl ObjectFailure for ObjectError {
    fn permission_denied(&self) -> bool {
        match self {
            ObjectError::Verify(e) => matches!(e, VerifyError::AccessDenied { .. }),
            ObjectError::Publish(e) => e.refused,
            ObjectError::State(e) => e.permission_denied(),
            ObjectError::Unrecorded(e) => e.permission_denied(),
            ObjectError::InProgress { .. } => false,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    Verified {
        report: VerificationReport,
        /// This attempt published the alert for the report's finding set.
        alerted: bool,
        /// An earlier attempt had published the alert for this very finding set.
        already_published: bool,
    },
    /// A repeated delivery of a digest version already verified: nothing done again.
    AlreadyProcessed {
        /// The summary the completing attempt stored.
        outcome: String,
    },
    Skipped {
        reason: String,
    },
}

impl<S: DigestStore, K: PublicKeySource, A: AlertPublisher, T: StateStore>
    DigestVerifier<S, K, A, T>
{
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let trigger = decode(&payload)?;
        let response = run_items_and_deletions(
            trigger,
            DIGESTS_AT_ONCE,
            // A created CloudTrail file first gets the overwrite check (crate::overwrite); a
            // digest is then verified as the event names it, other files get no other work.
            |object| async move {
                self.check_overwrite(&object).await?;
                self.process_object(&object).await
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
        let mut attempt = match self.ledger.claim(WorkKey::new(FUNCTION, object)).await? {
            Claimed::Acquired(attempt) => attempt,
            Claimed::Completed { outcome } => return Ok(already_processed(&uri, outcome)),
            Claimed::InProgress { lease_until_ms } => {
                return Err(ObjectError::InProgress {
                    unit: uri,
                    lease_until_ms,
                });
            }
        };
        let result = self
            .verify_and_alert(&mut attempt, object, &digest, &uri)
            .await;
        attempt.finish(result, outcome_summary).await
    }

    /// Verifies the digest and publishes the alert its verdict calls for, unless an earlier
    /// attempt published the alert of the same finding set.
    async fn verify_and_alert(
        &self,
        attempt: &mut Attempt<'_, T>,
        object: &ObjectRef,
        digest: &trailwatch_shared::layout::DigestRef,
        uri: &str,
    ) -> Result<ObjectOutcome, ObjectError> {
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
        let (mut alerted, mut already_published) = (false, false);
        if alert_wanted {
            let ctx = AlertContext {
                digest: uri,
                account: &digest.location.account,
                region: &digest.location.region,
                trail: &digest.trail_name,
            };
            let alert_id = finding_set_id(&report);
            match attempt
                .publish(&self.alerts, &alert_id, &alert::build(&report, &ctx))
                .await?
            {
                Sent::Published { message_id } => {
                    alerted = true;
                    tracing::warn!(
                        object = %uri, verdict = %report.verdict, findings = report.findings.len(),
                        codes = %codes_text(&report), %alert_id, %message_id,
                        "digest verification alert published"
                    );
                }
                Sent::AlreadyPublished => {
                    already_published = true;
                    tracing::info!(object = %uri, %alert_id,
                        "digest verification alert already published by an earlier attempt: not sent again");
                }
            }
        } else {
            tracing::info!(
                object = %uri, verdict = %report.verdict, logs = report.logs_checked,
                codes = %codes_text(&report), "digest verified"
            );
        }
        self.emit_metrics(uri, &report, alerted);
        Ok(ObjectOutcome::Verified {
            report,
            alerted,
            already_published,
        })
    }

    /// Publishes the one alert of a deletion or overwrite unit unless an attempt already did:
    /// `Some(message id)`, or `None` when it was out before (a repeated delivery).
    pub(crate) async fn publish_once(
        &self,
        work: WorkKey,
        alert_id: &str,
        alert: &AlertMessage,
        unit: &str,
    ) -> Result<Option<String>, ObjectError> {
        let mut attempt = match self.ledger.claim(work).await? {
            Claimed::Acquired(attempt) => attempt,
            Claimed::Completed { .. } => return Ok(None),
            Claimed::InProgress { lease_until_ms } => {
                return Err(ObjectError::InProgress {
                    unit: unit.to_owned(),
                    lease_until_ms,
                });
            }
        };
        let sent = attempt
            .publish(&self.alerts, alert_id, alert)
            .await
            .map_err(ObjectError::from);
        Ok(match attempt.finish(sent, |_| "{}".to_owned()).await? {
            Sent::Published { message_id } => Some(message_id),
            Sent::AlreadyPublished => None,
        })
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

fn already_processed(uri: &str, outcome: String) -> ObjectOutcome {
    tracing::info!(object = %uri, %outcome,
        "digest version already verified (a repeated delivery): nothing done again");
    count_already_processed(FUNCTION, uri);
    ObjectOutcome::AlreadyProcessed { outcome }
}

/// What the completed record keeps: the verdict, the codes and the alert's id.
fn outcome_summary(outcome: &ObjectOutcome) -> String {
    match outcome {
        ObjectOutcome::Verified {
            report,
            alerted,
            already_published,
        } => serde_json::json!({
            "verdict": report.verdict.as_str(),
            "codes": report.codes().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "alert": (*alerted || *already_published).then(|| finding_set_id(report)),
        }),
        ObjectOutcome::AlreadyProcessed { .. } | ObjectOutcome::Skipped { .. } => {
            serde_json::json!({})
        }
    }
    .to_string()
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
