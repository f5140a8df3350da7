//! Every alert as a Security Hub finding too: `securityhub:BatchImportFindings` of the ASFF
//! finding that `trailwatch_shared::alert::asff` builds from the alert, switched on by
//! `SECURITY_HUB_FINDINGS=true` (the template's `SecurityHubFindings` parameter).
//!
//! [`WithSecurityHub`] wraps the SNS publisher, so the handlers publish as before and the fan-out
//! happens below them. Order and failure, decided:
//!
//! 1. The finding is imported FIRST. Its `Id` is stable per alert, so an import is idempotent: a
//!    second import of the same alert updates the finding (`UpdatedAt` moves, `CreatedAt` does
//!    not) instead of adding one.
//! 2. Only then is the alert published to SNS, which is not idempotent.
//!
//! So if Security Hub fails (after [`MAX_IMPORT_ATTEMPTS`] attempts at the findings it refused),
//! nothing was sent to SNS and the publish fails: the object fails and is retried, and the retry
//! sends both. If SNS fails after the import, the retry imports again (an update, not a
//! duplicate) and publishes. With the state table's published-alert record (`sns::once`), an
//! alert recorded as published is not published again — neither to SNS nor to Security Hub —
//! and one not recorded gets both on the retry: the two compose without a duplicate SNS message
//! and without a duplicate finding.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, FindingProviderFields, FindingProviderSeverity, Recommendation,
    Remediation, Resource, Severity, SeverityLabel,
};
use time::OffsetDateTime;
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::asff::{self, Finding, ImportTarget, ProductArnError};
use trailwatch_shared::metrics::MetricLine;

use crate::sns::{AlertPublisher, PublishError};

/// At most this many findings per `BatchImportFindings` call (the API's limit).
pub const MAX_FINDINGS_PER_CALL: usize = 100;
/// Attempts at findings Security Hub refused one by one (`FailedFindings`), the first included.
/// Whole-call failures (throttling, 5xx) are retried by the SDK's standard mode before that.
pub const MAX_IMPORT_ATTEMPTS: u32 = 3;
/// EMF namespace of the functions' metrics.
const METRIC_NAMESPACE: &str = "trailwatch";

/// The configuration is wrong: the cold start fails, not every import.
#[derive(Debug, thiserror::Error)]
pub enum SecurityHubConfigError {
    #[error("SECURITY_HUB_FINDINGS must be true or false, got {0:?}")]
    Flag(String),
    #[error(
        "SECURITY_HUB_FINDINGS=true needs SECURITY_HUB_PRODUCT_ARN (the account's default product ARN)"
    )]
    MissingProductArn,
    #[error("SECURITY_HUB_PRODUCT_ARN: {0}")]
    ProductArn(#[from] ProductArnError),
}

/// Why findings were not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The call failed as a whole (after the SDK's retries).
    #[error(
        "Security Hub BatchImportFindings into {product_arn} failed: {}{detail}",
        if *.refused { "permission denied: the role needs securityhub:BatchImportFindings on this product ARN, and Security Hub must be enabled in the region: " } else { "" }
    )]
    Call {
        product_arn: String,
        detail: String,
        /// Refused by IAM: the role lacks `securityhub:BatchImportFindings` on the product ARN
        /// (or Security Hub is not enabled in the region).
        refused: bool,
    },
    /// Security Hub refused these findings on every attempt.
    #[error(
        "Security Hub refused {} finding(s) after {MAX_IMPORT_ATTEMPTS} attempts into {product_arn}: {}",
        .failed.len(),
        .failed.iter().map(|f| format!("{} ({}: {})", f.id, f.code, f.message)).collect::<Vec<_>>().join("; ")
    )]
    Refused {
        product_arn: String,
        failed: Vec<FailedFinding>,
    },
}

impl ImportError {
    fn refused_by_iam(&self) -> bool {
        matches!(self, ImportError::Call { refused: true, .. })
    }
}

/// One entry of `FailedFindings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFinding {
    pub id: String,
    pub code: String,
    pub message: String,
}

/// One `BatchImportFindings` call: the SDK in production, a fake in tests.
pub trait FindingsApi: Send + Sync {
    /// Imports `findings` (at most [`MAX_FINDINGS_PER_CALL`]); returns the ones refused.
    fn batch_import(
        &self,
        findings: &[Finding],
    ) -> impl Future<Output = Result<Vec<FailedFinding>, ImportError>> + Send;
}

/// The SDK client and the product ARN it imports into.
#[derive(Debug, Clone)]
pub struct SdkFindingsApi {
    client: aws_sdk_securityhub::Client,
    product_arn: String,
}

impl FindingsApi for SdkFindingsApi {
    async fn batch_import(&self, findings: &[Finding]) -> Result<Vec<FailedFinding>, ImportError> {
        let out = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings.iter().map(to_sdk).collect()))
            .send()
            .await
            .map_err(|e| ImportError::Call {
                product_arn: self.product_arn.clone(),
                detail: aws_sdk_securityhub::error::DisplayErrorContext(&e).to_string(),
                refused: crate::failure::is_refused(&e),
            })?;
        Ok(out
            .failed_findings()
            .iter()
            .map(|f| FailedFinding {
                id: f.id().unwrap_or_default().to_owned(),
                code: f.error_code().unwrap_or_default().to_owned(),
                message: f.error_message().unwrap_or_default().to_owned(),
            })
            .collect())
    }
}

/// Imports findings into one account's default product.
#[derive(Debug, Clone)]
pub struct SecurityHubPublisher<A = SdkFindingsApi> {
    api: A,
    target: ImportTarget,
    /// The `Function` dimension of the failure metric.
    function: &'static str,
}

impl SecurityHubPublisher {
    /// From `SECURITY_HUB_FINDINGS` (`true`/`false`, default false) and
    /// `SECURITY_HUB_PRODUCT_ARN`; `None` when switched off.
    pub fn from_env(
        sdk: &aws_config::SdkConfig,
        function: &'static str,
    ) -> Result<Option<Self>, SecurityHubConfigError> {
        let flag = std::env::var("SECURITY_HUB_FINDINGS").unwrap_or_default();
        let arn = std::env::var("SECURITY_HUB_PRODUCT_ARN").ok();
        let Some(target) = target_from(&flag, arn.as_deref())? else {
            return Ok(None);
        };
        let api = SdkFindingsApi {
            client: aws_sdk_securityhub::Client::new(sdk),
            product_arn: target.product_arn(),
        };
        Ok(Some(Self::new(api, target, function)))
    }
}

/// What the flag and the product ARN say: `None` when off.
pub fn target_from(
    flag: &str,
    product_arn: Option<&str>,
) -> Result<Option<ImportTarget>, SecurityHubConfigError> {
    match flag.trim() {
        "" | "false" => Ok(None),
        "true" => {
            let arn = product_arn
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .ok_or(SecurityHubConfigError::MissingProductArn)?;
            Ok(Some(ImportTarget::from_product_arn(arn)?))
        }
        other => Err(SecurityHubConfigError::Flag(other.to_owned())),
    }
}

impl<A: FindingsApi> SecurityHubPublisher<A> {
    pub fn new(api: A, target: ImportTarget, function: &'static str) -> Self {
        Self {
            api,
            target,
            function,
        }
    }

    pub fn target(&self) -> &ImportTarget {
        &self.target
    }

    /// The finding `alert` becomes, stamped now.
    pub fn finding(&self, alert: &AlertMessage) -> Finding {
        asff::finding(alert, &self.target, now())
    }

    /// Imports `findings`, [`MAX_FINDINGS_PER_CALL`] per call; findings refused one by one are
    /// sent again, up to [`MAX_IMPORT_ATTEMPTS`] attempts in all, then the import fails. Every
    /// refused finding is counted (`SecurityHubImportFailures`), retried or not.
    pub async fn import(&self, findings: &[Finding]) -> Result<(), ImportError> {
        for chunk in findings.chunks(MAX_FINDINGS_PER_CALL) {
            let mut pending: Vec<Finding> = chunk.to_vec();
            let mut attempt = 1;
            loop {
                let failed = match self.api.batch_import(&pending).await {
                    Ok(failed) => failed,
                    Err(e) => {
                        self.count_failures(pending.len() as u64, &e.to_string());
                        return Err(e);
                    }
                };
                if failed.is_empty() {
                    break;
                }
                self.count_failures(failed.len() as u64, &failed[0].message);
                if attempt >= MAX_IMPORT_ATTEMPTS {
                    return Err(ImportError::Refused {
                        product_arn: self.target.product_arn(),
                        failed,
                    });
                }
                pending.retain(|f| failed.iter().any(|x| x.id == f.id));
                // A refused finding whose id Security Hub did not name cannot be matched: send
                // the whole chunk again (an update for the ones that went in).
                if pending.is_empty() {
                    pending = chunk.to_vec();
                }
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)))
                    .await;
            }
        }
        Ok(())
    }

    fn count_failures(&self, n: u64, first_error: &str) {
        MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", self.function)
            .count("SecurityHubImportFailures", n)
            .property("error", first_error)
            .emit();
    }
}

/// The alert publisher (SNS) plus, when configured, Security Hub: the finding is imported
/// first, then the alert published (see the module documentation for why).
#[derive(Debug)]
pub struct WithSecurityHub<P, A = SdkFindingsApi> {
    pub alerts: P,
    pub security_hub: Option<SecurityHubPublisher<A>>,
}

impl<P, A> WithSecurityHub<P, A> {
    pub fn new(alerts: P, security_hub: Option<SecurityHubPublisher<A>>) -> Self {
        Self {
            alerts,
            security_hub,
        }
    }
}

impl<P: AlertPublisher, A: FindingsApi> AlertPublisher for WithSecurityHub<P, A> {
    async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
        if let Some(hub) = &self.security_hub {
            let finding = hub.finding(alert);
            hub.import(std::slice::from_ref(&finding))
                .await
                .map_err(|e| PublishError {
                    topic_arn: hub.target.product_arn(),
                    refused: e.refused_by_iam(),
                    detail: e.to_string(),
                })?;
            tracing::info!(finding_id = %finding.id, "Security Hub finding imported");
        }
        self.alerts.publish(alert).await
    }
}

fn now() -> OffsetDateTime {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    OffsetDateTime::from_unix_timestamp_nanos(i128::try_from(ms).unwrap_or(0) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The SDK's type for one finding.
pub fn to_sdk(f: &Finding) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .product_name(&f.product_name)
        .company_name(&f.company_name)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.clone()))
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(f.severity.label.as_str()))
                .original(&f.severity.original)
                .build(),
        )
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(SeverityLabel::from(
                            f.finding_provider_fields.severity.label.as_str(),
                        ))
                        .original(&f.finding_provider_fields.severity.original)
                        .build(),
                )
                .set_types(Some(f.finding_provider_fields.types.clone()))
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&f.remediation.recommendation.text)
                        .build(),
                )
                .build(),
        )
        .set_resources(Some(
            f.resources
                .iter()
                .map(|r| {
                    Resource::builder()
                        .r#type(&r.kind)
                        .id(&r.id)
                        .partition(aws_sdk_securityhub::types::Partition::from(
                            r.partition.as_str(),
                        ))
                        .region(&r.region)
                        .build()
                })
                .collect(),
        ))
        .set_product_fields(Some(
            f.product_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .record_state(aws_sdk_securityhub::types::RecordState::from(
            f.record_state.as_str(),
        ))
        .build()
}

#[cfg(test)]
#[path = "security_hub_tests.rs"]
mod tests;
