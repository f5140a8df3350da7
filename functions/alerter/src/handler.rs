//! The invocation handler: decode the trigger, run the rules over each CloudTrail file, publish
//! one SNS message per rule that reached its threshold (one per starting insight for Insights
//! files), emit metrics.
//!
//! Alerts are exactly once per file version (`trailwatch_lambda_common::sns::once`): each file
//! version is a unit of work in the state table (`WorkKey::new("alerter", object)`), each alert
//! has a stable id ([`crate::alert_ids`]), and an attempt publishes only the alerts no earlier
//! attempt published. Failure semantics (a missed alert is the failure we design out):
//! - a repeated delivery of a completed file publishes nothing; it is counted
//!   (`FilesAlreadyProcessed`);
//! - a file another invocation is processing right now fails its object with a retryable error
//!   (Lambda retries it later, when the other attempt completed or its lease expired);
//! - a file that cannot be fetched fails its object (Lambda retries, then the on-failure
//!   destination keeps the event);
//! - a file that cannot be read to its end still raises the alerts for the records read before
//!   the damage (marked as partial), then fails its object; a retry does not repeat them (their
//!   ids are recorded) but raises those of rules that reach their threshold only in the rest;
//! - a publish that fails after the SDK's retries fails its object; the other alerts of the file
//!   are still attempted, and a retry publishes only the ones that failed;
//! - residual window: a crash or a failed state write between SNS's acceptance of an alert and
//!   its record makes the retry publish that one alert again;
//! - rules with a `period` alert per window across files, not per file ([`crate::window`]): a
//!   file read to its end is added to its windows once; a window it could not update fails it
//!   (after its own alerts), and the retry adds nothing twice;
//! - objects that are not CloudTrail log or Insights files are skipped and counted.

use std::sync::Arc;

use serde_json::{Value, json};
use trailwatch_lambda_common::failure::{ObjectFailure, records_error_transient};
use trailwatch_lambda_common::intake::run_items;
use trailwatch_lambda_common::repeat_delivery::count_already_processed;
use trailwatch_lambda_common::s3_read::{FetchError, open_object};
use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_lambda_common::sns::once::{AlertLedger, Attempt, Claimed, OnceError, Sent};
use trailwatch_lambda_common::state::{StateError, StateStore, Store, WorkKey};
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::insights::scan_insights_file;
use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::{plan_alerts, scan_log_file};
use trailwatch_shared::layout::{KeyLocation, ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::records::{ReaderLimits, RecordReader, RecordsError};
use trailwatch_shared::rules::config::LoadedRules;
use trailwatch_shared::trigger::{ObjectRef, decode};

use crate::alert_ids::{disambiguate, insight_alert_id, rule_alert_id};
use crate::config::AlerterConfig;

pub const METRIC_NAMESPACE: &str = "trailwatch";
const FUNCTION: &str = "alerter";

/// Everything built once at cold start and shared by all invocations.
pub struct Alerter<P: AlertPublisher, T: StateStore = Store> {
    pub config: AlerterConfig,
    pub s3: aws_sdk_s3::Client,
    pub publisher: Arc<P>,
    pub rules: Arc<LoadedRules>,
    pub limits: ReaderLimits,
    /// Which alerts of which file version are out: the state table (memory in unit tests).
    pub ledger: Arc<AlertLedger<T>>,
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
        /// The stream failed (a retry may read further), not the file itself.
        transient: bool,
    },
    #[error("{failed} of {total} alert(s) could not be published: {detail}")]
    Publish {
        failed: usize,
        total: usize,
        detail: String,
        /// Every failed publish was refused (a permission the role lacks).
        refused: bool,
    },
    /// A concurrent duplicate delivery: never processed twice at once; retried later.
    #[error(
        "another invocation is processing this file version (its lease runs until {lease_until_ms} ms since the epoch); retried later"
    )]
    InProgress { lease_until_ms: i64 },
    #[error("state table: {0}")]
    State(#[from] StateError),
    #[error(transparent)]
    Unrecorded(OnceError),
    /// Rules with a period: some of the file's windows could not be updated ([`crate::window`]).
    #[error(transparent)]
    Window(#[from] crate::window::WindowFailures),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ObjectFailure for ObjectError {
    fn permission_denied(&self) -> bool {
        match self {
            ObjectError::Fetch(e) => e.permission_denied(),
            ObjectError::Publish { refused, .. } => *refused,
            ObjectError::State(e) => e.permission_denied(),
            ObjectError::Unrecorded(e) => e.permission_denied(),
            ObjectError::Window(e) => e.permission_denied(),
            ObjectError::Read { .. }
            | ObjectError::InProgress { .. }
            | ObjectError::Internal(_) => false,
        }
    }

    /// A missing object and a corrupt or non-CloudTrail file are permanent (the alerts of the
    /// part read are out); a lease held elsewhere and the unclassified rest are retried.
    fn transient(&self) -> bool {
        match self {
            ObjectError::Fetch(e) => e.transient(),
            ObjectError::Read { transient, .. } => *transient,
            ObjectError::State(e) => e.transient(),
            ObjectError::Unrecorded(e) => e.transient(),
            ObjectError::Window(e) => e.transient(),
            _ => !self.permission_denied(),
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    /// A log file: records evaluated, alerts published by this attempt (one per rule at
    /// threshold) and alerts an earlier attempt had published.
    LogFile {
        records: u64,
        matches: u64,
        alerts: usize,
        already_published: usize,
    },
    /// An Insights file: one alert per starting insight.
    InsightFile {
        records: u64,
        alerts: usize,
        already_published: usize,
    },
    /// A repeated delivery of a file version already completed: nothing published.
    AlreadyProcessed {
        /// The summary the completing attempt stored.
        outcome: String,
    },
    Skipped {
        reason: String,
    },
}

/// One alert a file raises, with its stable id ([`crate::alert_ids`]).
#[derive(Debug, Clone)]
pub struct PlannedAlert {
    pub id: String,
    pub message: AlertMessage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileType {
    Log,
    Insights,
}

/// What evaluating one file produced, before anything is published.
struct Evaluation {
    file_type: FileType,
    records: u64,
    /// Log files: rule matches; Insights files: starting insights.
    matches: u64,
    /// Every alert the file raises, published or not by earlier attempts.
    alerts: Vec<PlannedAlert>,
    read_error: Option<RecordsError>,
    /// Log files read to their end: the windows that could not all be updated, raised once the
    /// file's own alerts are out ([`crate::window`]).
    window_failures: Option<crate::window::WindowFailures>,
}

/// What publishing a file's alerts did.
#[derive(Debug, Default)]
struct PublishTally {
    published: usize,
    already_published: usize,
    failures: Vec<String>,
    /// How many of the failures SNS refused.
    refused: usize,
    /// An alert went out but its record did not: publishing stopped there.
    unrecorded: Option<OnceError>,
}

impl<P: AlertPublisher, T: StateStore> Alerter<P, T> {
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let trigger = decode(&payload)?;
        let response = run_items(trigger, self.config.max_concurrency, |object| async move {
            self.process_object(&object).await
        })
        .await?;
        Ok(response)
    }

    /// Runs the rules over one object (or its Insights), or skips it when it is neither.
    pub async fn process_object(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        let result = match classify(&object.key) {
            ObjectKind::LogFile(f) => {
                self.process_once(object, &f.location, &uri, FileType::Log)
                    .await
            }
            ObjectKind::InsightFile(f) => {
                self.process_once(object, &f.location, &uri, FileType::Insights)
                    .await
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

    /// Claims the file version, evaluates it, publishes what is missing, then completes the
    /// unit (every alert out, the whole file read) or releases it for the retry.
    async fn process_once(
        &self,
        object: &ObjectRef,
        location: &KeyLocation,
        uri: &str,
        file_type: FileType,
    ) -> Result<ObjectOutcome, ObjectError> {
        let mut attempt = match self.ledger.claim(WorkKey::new(FUNCTION, object)).await? {
            Claimed::Acquired(attempt) => attempt,
            Claimed::Completed { outcome } => return Ok(already_processed(uri, outcome)),
            Claimed::InProgress { lease_until_ms } => {
                return Err(ObjectError::InProgress { lease_until_ms });
            }
        };
        let result = self
            .evaluate_and_publish(&mut attempt, object, location, uri, file_type)
            .await;
        attempt.finish(result, outcome_summary).await
    }

    async fn evaluate_and_publish(
        &self,
        attempt: &mut Attempt<'_, T>,
        object: &ObjectRef,
        location: &KeyLocation,
        uri: &str,
        file_type: FileType,
    ) -> Result<ObjectOutcome, ObjectError> {
        let file = file_context(object, location);
        let evaluation = match file_type {
            FileType::Log => self.evaluate_log_file(object, file).await?,
            FileType::Insights => self.evaluate_insights_file(object, file).await?,
        };
        let tally = self.publish_missing(attempt, &evaluation.alerts, uri).await;
        emit_file_metrics(&evaluation, &tally, uri);
        tracing::info!(object = %uri, records = evaluation.records, matches = evaluation.matches,
            alerts = evaluation.alerts.len(), published = tally.published,
            already_published = tally.already_published, publish_failures = tally.failures.len(),
            attempt = attempt.attempts(), "file evaluated");
        let total = evaluation.alerts.len();
        let (published, already_published) =
            tally.into_result(total, evaluation.read_error, evaluation.records)?;
        if let Some(e) = evaluation.window_failures {
            return Err(ObjectError::Window(e));
        }
        let records = evaluation.records;
        Ok(match evaluation.file_type {
            FileType::Log => ObjectOutcome::LogFile {
                records,
                matches: evaluation.matches,
                alerts: published,
                already_published,
            },
            FileType::Insights => ObjectOutcome::InsightFile {
                records,
                alerts: published,
                already_published,
            },
        })
    }

    /// Runs the rules over a log file: one planned alert per rule at its threshold.
    async fn evaluate_log_file(
        &self,
        object: &ObjectRef,
        file: FileContext,
    ) -> Result<Evaluation, ObjectError> {
        let body = open_object(&self.s3, object).await?.into_blocking_reader();
        let reader = RecordReader::open(body, self.limits);
        let rules = self.rules.clone();
        let max_events = self.config.max_events_per_alert;
        let scan = tokio::task::spawn_blocking(move || scan_log_file(reader, &rules, max_events))
            .await
            .map_err(|e| ObjectError::Internal(format!("rule evaluation task failed: {e}")))?;
        let all_rules = self.rules.rules();
        let alerts = plan_alerts(&scan, &self.rules, &file)
            .into_iter()
            .map(|p| PlannedAlert {
                id: rule_alert_id(&all_rules[p.rule_index].id),
                message: p.message,
            })
            .collect();
        // Bounded cardinality: one line per rule that matched, dimension = the rule id.
        for (rule, m) in all_rules
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
        // Rules with a period: the matches go to their windows across files (crate::window).
        // Only a file read to its end: a contribution is counted once and never corrected.
        let window_failures = match scan.read_error {
            Some(_) => None,
            None => {
                let version = WorkKey::new(FUNCTION, object).version;
                crate::window::add_file_to_windows(
                    &self.ledger,
                    &*self.publisher,
                    &self.rules,
                    &scan,
                    &file,
                    &version,
                )
                .await
                .err()
            }
        };
        Ok(Evaluation {
            file_type: FileType::Log,
            records: scan.records_evaluated,
            matches: scan.total_matches(),
            alerts,
            read_error: scan.read_error,
            window_failures,
        })
    }

    /// Reads an Insights file: one planned alert per starting insight.
    async fn evaluate_insights_file(
        &self,
        object: &ObjectRef,
        file: FileContext,
    ) -> Result<Evaluation, ObjectError> {
        let body = open_object(&self.s3, object).await?.into_blocking_reader();
        let reader = RecordReader::open(body, self.limits);
        let scan = tokio::task::spawn_blocking(move || scan_insights_file(reader, &file))
            .await
            .map_err(|e| ObjectError::Internal(format!("insights task failed: {e}")))?;
        let mut ids: Vec<String> = scan
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| insight_alert_id(a, i))
            .collect();
        disambiguate(&mut ids);
        let alerts = ids
            .into_iter()
            .zip(scan.alerts)
            .map(|(id, message)| PlannedAlert { id, message })
            .collect::<Vec<_>>();
        Ok(Evaluation {
            file_type: FileType::Insights,
            records: scan.records_evaluated,
            matches: alerts.len() as u64,
            alerts,
            read_error: scan.read_error,
            window_failures: None,
        })
    }

    /// Publishes every planned alert no earlier attempt published (one failure does not stop
    /// the others; an alert that went out unrecorded does: the table is failing).
    async fn publish_missing(
        &self,
        attempt: &mut Attempt<'_, T>,
        alerts: &[PlannedAlert],
        uri: &str,
    ) -> PublishTally {
        let mut tally = PublishTally::default();
        for a in alerts {
            let rule_id = &a.message.attributes.rule_id;
            match attempt.publish(&*self.publisher, &a.id, &a.message).await {
                Ok(Sent::Published { message_id }) => {
                    tally.published += 1;
                    tracing::info!(object = %uri, %rule_id, alert_id = %a.id, %message_id,
                        subject = %a.message.subject, "alert published");
                }
                Ok(Sent::AlreadyPublished) => {
                    tally.already_published += 1;
                    tracing::info!(object = %uri, %rule_id, alert_id = %a.id,
                        "alert already published by an earlier attempt: not sent again");
                }
                Err(OnceError::Publish(e)) => {
                    tracing::error!(object = %uri, %rule_id, error = %e, "alert could not be published");
                    tally.refused += usize::from(e.refused);
                    tally.failures.push(format!("{rule_id}: {e}"));
                }
                Err(e @ OnceError::NotRecorded { .. }) => {
                    tracing::error!(object = %uri, %rule_id, error = %e, "alert published but not recorded");
                    tally.published += 1;
                    tally.unrecorded = Some(e);
                    break;
                }
            }
        }
        tally
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

fn already_processed(uri: &str, outcome: String) -> ObjectOutcome {
    tracing::info!(object = %uri, %outcome,
        "file version already processed (a repeated delivery): nothing published again");
    count_already_processed(FUNCTION, uri);
    ObjectOutcome::AlreadyProcessed { outcome }
}

/// What the completed record keeps: enough to tell a repeated delivery's log what was done.
fn outcome_summary(outcome: &ObjectOutcome) -> String {
    match outcome {
        ObjectOutcome::LogFile {
            records,
            matches,
            alerts,
            already_published,
        } => json!({"records": records, "matches": matches,
            "alerts": alerts + already_published}),
        ObjectOutcome::InsightFile {
            records,
            alerts,
            already_published,
        } => json!({"records": records, "alerts": alerts + already_published}),
        ObjectOutcome::AlreadyProcessed { .. } | ObjectOutcome::Skipped { .. } => json!({}),
    }
    .to_string()
}

fn emit_file_metrics(evaluation: &Evaluation, tally: &PublishTally, uri: &str) {
    let line = MetricLine::new(METRIC_NAMESPACE).dimension("Function", FUNCTION);
    let line = match evaluation.file_type {
        FileType::Log => line
            .count("FilesProcessed", 1)
            .count("RecordsEvaluated", evaluation.records)
            .count("RecordsMatched", evaluation.matches),
        FileType::Insights => line
            .count("InsightFilesProcessed", 1)
            .count("RecordsEvaluated", evaluation.records)
            .count("InsightsStarted", evaluation.matches),
    };
    line.count("AlertsPublished", tally.published as u64)
        .count("AlertsAlreadyPublished", tally.already_published as u64)
        .count("PublishFailures", tally.failures.len() as u64)
        .property("object", uri)
        .emit();
}

impl PublishTally {
    /// A file is done only when every alert is out and the whole file was read; otherwise it
    /// fails, so Lambda retries it (and the retry publishes only what is missing). An alert that
    /// went out unrecorded comes first (the table is failing), then failed publishes, then a
    /// read error. `Ok((published now, published before))`.
    fn into_result(
        self,
        total: usize,
        read_error: Option<RecordsError>,
        records: u64,
    ) -> Result<(usize, usize), ObjectError> {
        if let Some(e) = self.unrecorded {
            return Err(ObjectError::Unrecorded(e));
        }
        if !self.failures.is_empty() {
            return Err(ObjectError::Publish {
                failed: self.failures.len(),
                total,
                detail: self.failures.join("; "),
                refused: self.refused == self.failures.len(),
            });
        }
        if let Some(e) = read_error {
            return Err(ObjectError::Read {
                records,
                alerts: self.published + self.already_published,
                transient: records_error_transient(&e),
                detail: e.to_string(),
            });
        }
        Ok((self.published, self.already_published))
    }
}
