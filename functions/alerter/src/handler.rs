//! The invocation handler: decode the trigger, run the rules over each CloudTrail file, publish
//! one SNS message per rule that reached its threshold, emit metrics.
//!
//! Failure semantics (alerts are at-least-once; a missed alert is the failure we design out):
//! - a file that cannot be fetched fails its object (Lambda retries, then the on-failure
//!   destination keeps the event);
//! - a file that cannot be read to its end still raises the alerts for the records read before
//!   the damage (marked as partial), then fails its object;
//! - a publish that fails after the SDK's retries fails its object; the other alerts of the file
//!   are still attempted, so a retry may send some alerts twice but never loses one;
//! - objects that are not CloudTrail log or Insights files are skipped and counted.

use std::sync::Arc;

use serde_json::Value;
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::intake::run_items;
use trailwatch_lambda_common::s3_read::{FetchError, open_object};
use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::insights::scan_insights_file;
use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::{plan_alerts, scan_log_file};
use trailwatch_shared::layout::{KeyLocation, ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::config::LoadedRules;
use trailwatch_shared::trigger::{ObjectRef, decode};

use crate::config::AlerterConfig;

pub const METRIC_NAMESPACE: &str = "trailwatch";
const FUNCTION: &str = "alerter";

/// Everything built once at cold start and shared by all invocations.
pub struct Alerter<P: AlertPublisher> {
    pub config: AlerterConfig,
    pub s3: aws_sdk_s3::Client,
    pub publisher: Arc<P>,
    pub rules: Arc<LoadedRules>,
    pub limits: ReaderLimits,
}

pub use trailwatch_lambda_common::intake::InvocationError as HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "the file could not be read to its end after {records} records ({alerts} alert(s) for the part before were published): {detail}"
    )]
    Read {
        records: u64,
        alerts: usize,
        detail: String,
    },
    #[error("{failed} of {total} alert(s) could not be published: {detail}")]
    Publish {
        failed: usize,
        total: usize,
        detail: String,
        /// Every failed publish was refused (a permission the role lacks).
        refused: bool,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ObjectFailure for ObjectError {
    fn permission_denied(&self) -> bool {
        match self {
            ObjectError::Fetch(e) => e.permission_denied(),
            ObjectError::Publish { refused, .. } => *refused,
            ObjectError::Read { .. } | ObjectError::Internal(_) => false,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// A log file: records evaluated, alerts published (one per rule at threshold).
    LogFile {
        records: u64,
        matches: u64,
        alerts: usize,
    },
    /// An Insights file: one alert per starting insight.
    InsightFile {
        records: u64,
        alerts: usize,
    },
    Skipped {
        reason: String,
    },
}

impl<P: AlertPublisher> Alerter<P> {
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let trigger = decode(&payload)?;
        let response = run_items(trigger, self.config.max_concurrency, |object| async move {
            self.process_object(&object).await.map(|_| ())
        })
        .await?;
        Ok(response)
    }

    /// Runs the rules over one object (or its Insights), or skips it when it is neither.
    pub async fn process_object(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        let result = match classify(&object.key) {
            ObjectKind::LogFile(f) => self.process_log_file(object, &f.location, &uri).await,
            ObjectKind::InsightFile(f) => {
                self.process_insights_file(object, &f.location, &uri).await
            }
            ObjectKind::Digest(_) => Ok(self.skip(&uri, "digest file")),
            ObjectKind::Other(reason) => Ok(self.skip(&uri, &format!("{reason:?}"))),
        };
        if let Err(e) = &result {
            MetricLine::new(METRIC_NAMESPACE)
                .dimension("Function", FUNCTION)
                .count("FilesFailed", 1)
                .property("object", uri.as_str())
                .property("error", e.to_string())
                .emit();
        }
        result
    }

    fn skip(&self, uri: &str, reason: &str) -> ObjectOutcome {
        tracing::info!(object = %uri, %reason, "skipped: not a CloudTrail log or Insights file");
        MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", FUNCTION)
            .count("FilesSkipped", 1)
            .property("object", uri)
            .property("skipReason", reason)
            .emit();
        ObjectOutcome::Skipped {
            reason: reason.to_owned(),
        }
    }

    async fn process_log_file(
        &self,
        object: &ObjectRef,
        location: &KeyLocation,
        uri: &str,
    ) -> Result<ObjectOutcome, ObjectError> {
        let file = file_context(object, location);
        let body = open_object(&self.s3, object).await?.into_blocking_reader();
        let reader = RecordReader::open(body, self.limits);
        let rules = self.rules.clone();
        let max_events = self.config.max_events_per_alert;
        let scan = tokio::task::spawn_blocking(move || scan_log_file(reader, &rules, max_events))
            .await
            .map_err(|e| ObjectError::Internal(format!("rule evaluation task failed: {e}")))?;
        let planned = plan_alerts(&scan, &self.rules, &file);
        let messages: Vec<&AlertMessage> = planned.iter().map(|p| &p.message).collect();
        let (published, failures) = self.publish_all(&messages, uri).await;

        let matches = scan.total_matches();
        MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", FUNCTION)
            .count("FilesProcessed", 1)
            .count("RecordsEvaluated", scan.records_evaluated)
            .count("RecordsMatched", matches)
            .count("AlertsPublished", published as u64)
            .count("PublishFailures", failures.texts.len() as u64)
            .property("object", uri)
            .emit();
        // Bounded cardinality: one line per rule that matched, dimension = the rule id.
        for (rule, m) in self
            .rules
            .rules()
            .iter()
            .zip(&scan.per_rule)
            .filter(|(_, m)| m.count > 0)
        {
            MetricLine::new(METRIC_NAMESPACE)
                .dimension("Function", FUNCTION)
                .dimension("RuleId", rule.id.as_str())
                .count("RuleMatches", m.count)
                .emit();
        }
        tracing::info!(object = %uri, records = scan.records_evaluated, matches, alerts = published,
            publish_failures = failures.texts.len(), "log file evaluated");

        failure_of(
            &failures,
            messages.len(),
            scan.read_error,
            scan.records_evaluated,
            published,
        )?;
        Ok(ObjectOutcome::LogFile {
            records: scan.records_evaluated,
            matches,
            alerts: published,
        })
    }

    async fn process_insights_file(
        &self,
        object: &ObjectRef,
        location: &KeyLocation,
        uri: &str,
    ) -> Result<ObjectOutcome, ObjectError> {
        let file = file_context(object, location);
        let body = open_object(&self.s3, object).await?.into_blocking_reader();
        let reader = RecordReader::open(body, self.limits);
        let scan = tokio::task::spawn_blocking(move || scan_insights_file(reader, &file))
            .await
            .map_err(|e| ObjectError::Internal(format!("insights task failed: {e}")))?;
        let messages: Vec<&AlertMessage> = scan.alerts.iter().collect();
        let (published, failures) = self.publish_all(&messages, uri).await;
        MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", FUNCTION)
            .count("InsightFilesProcessed", 1)
            .count("RecordsEvaluated", scan.records_evaluated)
            .count("InsightsStarted", scan.alerts.len() as u64)
            .count("AlertsPublished", published as u64)
            .count("PublishFailures", failures.texts.len() as u64)
            .property("object", uri)
            .emit();
        failure_of(
            &failures,
            messages.len(),
            scan.read_error,
            scan.records_evaluated,
            published,
        )?;
        Ok(ObjectOutcome::InsightFile {
            records: scan.records_evaluated,
            alerts: published,
        })
    }

    /// Publishes every message (one failure does not stop the others); returns how many were
    /// published and the failures.
    async fn publish_all(&self, messages: &[&AlertMessage], uri: &str) -> (usize, PublishFailures) {
        let mut published = 0;
        let mut failures = PublishFailures::default();
        for m in messages {
            match self.publisher.publish(m).await {
                Ok(id) => {
                    published += 1;
                    tracing::info!(object = %uri, rule_id = %m.attributes.rule_id, message_id = %id, subject = %m.subject, "alert published");
                }
                Err(e) => {
                    tracing::error!(object = %uri, rule_id = %m.attributes.rule_id, error = %e, "alert could not be published");
                    failures.refused += usize::from(e.refused);
                    failures
                        .texts
                        .push(format!("{}: {e}", m.attributes.rule_id));
                }
            }
        }
        (published, failures)
    }
}

fn file_context(object: &ObjectRef, location: &KeyLocation) -> FileContext {
    FileContext {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        account: location.account.clone(),
        region: location.region.clone(),
    }
}

/// The alerts of one file that could not be published.
#[derive(Debug, Default)]
struct PublishFailures {
    texts: Vec<String>,
    /// How many of them SNS refused.
    refused: usize,
}

/// A file is done only when every alert was published and the whole file was read: either
/// failure fails the object, so Lambda retries it (alerts already sent may repeat).
fn failure_of(
    publish_failures: &PublishFailures,
    alerts: usize,
    read_error: Option<trailwatch_shared::records::RecordsError>,
    records: u64,
    published: usize,
) -> Result<(), ObjectError> {
    if !publish_failures.texts.is_empty() {
        return Err(ObjectError::Publish {
            failed: publish_failures.texts.len(),
            total: alerts,
            detail: publish_failures.texts.join("; "),
            refused: publish_failures.refused == publish_failures.texts.len(),
        });
    }
    if let Some(e) = read_error {
        return Err(ObjectError::Read {
            records,
            alerts: published,
            detail: e.to_string(),
        });
    }
    Ok(())
}
