//! The invocation handler: decode the trigger, forward each CloudTrail file, emit metrics.

use std::sync::Arc;

use serde_json::{Value, json};
use trailwatch_lambda_common::failure::{ObjectFailure, records_error_transient};
use trailwatch_lambda_common::intake::run_items;
use trailwatch_lambda_common::runtime::{invocation_deadline_ms, lease_until_ms};
use trailwatch_lambda_common::s3_read::{FetchError, open_object};
use trailwatch_lambda_common::state::{
    Claim, StateError, StateStore, Store, WorkKey, new_owner_token,
};
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::records::RecordReader;
use trailwatch_shared::trigger::{ObjectRef, decode};

use crate::config::ForwarderConfig;
use crate::pipeline::{FileCounts, FileJob, ForwardError, Resume, forward_records};
use crate::sink::LogSink;
use crate::stream_name::StreamKind;

pub const METRIC_NAMESPACE: &str = "trailwatch";
/// This function's name in the state table's keys (`WorkKey::function`).
pub const STATE_FUNCTION: &str = "forwarder";

/// Everything built once at cold start and shared by all invocations.
pub struct Forwarder<L: LogSink, S: StateStore = Store> {
    pub config: ForwarderConfig,
    pub s3: aws_sdk_s3::Client,
    pub sink: Arc<L>,
    /// Which object versions were forwarded, and how far an interrupted one got.
    pub state: Arc<S>,
}

pub use trailwatch_lambda_common::intake::InvocationError as HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error(transparent)]
    State(#[from] StateError),
    /// Another invocation holds the object's lease (a duplicate delivery processed at the same
    /// time): never forward it twice at once. Retryable: once that lease ends the object is
    /// either completed (a retry skips it) or released (a retry resumes it).
    #[error(
        "s3://{bucket}/{key} is being processed by another invocation until {until} \
         (lease expiry, ms since the epoch: {lease_until_ms}); retry after it"
    )]
    InProgress {
        bucket: String,
        key: String,
        lease_until_ms: i64,
        until: String,
    },
}

impl ObjectFailure for ObjectError {
    fn permission_denied(&self) -> bool {
        match self {
            ObjectError::Fetch(e) => e.permission_denied(),
            ObjectError::Forward(ForwardError::Sink(e)) => e.refused,
            ObjectError::Forward(ForwardError::Checkpoint { source, .. }) => {
                source.permission_denied()
            }
            ObjectError::Forward(_) => false,
            ObjectError::State(e) => e.permission_denied(),
            ObjectError::InProgress { .. } => false,
        }
    }

    /// A missing object and a corrupt or non-CloudTrail file are permanent; a lease held
    /// elsewhere, running out of time and the unclassified rest are retried.
    fn transient(&self) -> bool {
        match self {
            ObjectError::Fetch(e) => e.transient(),
            ObjectError::Forward(ForwardError::Read { source, .. }) => {
                records_error_transient(source)
            }
            ObjectError::Forward(ForwardError::Checkpoint { source, .. }) => source.transient(),
            ObjectError::State(e) => e.transient(),
            _ => !self.permission_denied(),
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    Forwarded {
        stream: String,
        counts: FileCounts,
    },
    Skipped {
        reason: String,
    },
    /// A repeated delivery of an object version already forwarded: nothing sent (counted as
    /// `FilesAlreadyProcessed`). `outcome` is what the completed attempt recorded.
    AlreadyProcessed {
        outcome: String,
    },
}

impl<L: LogSink, S: StateStore> Forwarder<L, S> {
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let trigger = decode(&payload)?;
        let response = run_items(trigger, self.config.max_concurrency, |object| async move {
            self.process_object(&object).await
        })
        .await?;
        Ok(response)
    }

    /// Forwards one object version exactly once: skips it (counted) when it is not a CloudTrail
    /// log/Insights file or was forwarded before, refuses it while another invocation holds it,
    /// and otherwise resumes after the records an earlier attempt's checkpoint accounts for.
    pub async fn process_object(&self, object: &ObjectRef) -> Result<ObjectOutcome, ObjectError> {
        let (location, kind) = match classify(&object.key) {
            ObjectKind::LogFile(f) => (f.location, StreamKind::Management),
            ObjectKind::InsightFile(f) => (f.location, StreamKind::Insights),
            other => {
                let reason = match other {
                    ObjectKind::Digest(_) => "digest file".to_owned(),
                    ObjectKind::Other(r) => format!("{r:?}"),
                    _ => unreachable!("log and insight files handled above"),
                };
                tracing::info!(bucket = %object.bucket, key = %object.key, %reason, "skipped: not a CloudTrail log file");
                MetricLine::new(METRIC_NAMESPACE)
                    .dimension("Function", "forwarder")
                    .count("FilesSkipped", 1)
                    .property("object", format!("s3://{}/{}", object.bucket, object.key))
                    .property("skipReason", reason.clone())
                    .emit();
                return Ok(ObjectOutcome::Skipped { reason });
            }
        };
        let stream = self.config.stream_template.render(&location, kind);
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        let work = WorkKey::new(STATE_FUNCTION, object);
        let owner = new_owner_token();
        let now = now_ms();
        let lease_until = lease_until_ms(now);
        let progress = match self.state.claim(&work, &owner, lease_until, now).await {
            Ok(Claim::Acquired(progress)) => progress,
            Ok(Claim::Completed { outcome }) => {
                tracing::info!(object = %uri, version = %work.version, %outcome,
                    "skipped: this object version was forwarded before (repeated delivery)");
                MetricLine::new(METRIC_NAMESPACE)
                    .dimension("Function", "forwarder")
                    .count("FilesAlreadyProcessed", 1)
                    .property("object", uri)
                    .property("objectVersion", work.version.clone())
                    .property("outcome", outcome.clone())
                    .emit();
                return Ok(ObjectOutcome::AlreadyProcessed { outcome });
            }
            Ok(Claim::InProgress { lease_until_ms }) => {
                let e = ObjectError::InProgress {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    lease_until_ms,
                    until: rfc3339_ms(lease_until_ms),
                };
                emit_failure(&uri, &e, None);
                return Err(e);
            }
            Err(e) => {
                let e = ObjectError::State(e);
                emit_failure(&uri, &e, None);
                return Err(e);
            }
        };
        if progress.records_done > 0 {
            tracing::info!(object = %uri, records_done = progress.records_done,
                attempt = progress.attempts, "resuming after an earlier attempt's checkpoint");
        }
        let (counts, result) = self
            .forward(
                object,
                &stream,
                location.time * 1000,
                &work,
                &owner,
                progress.records_done,
            )
            .await;
        let result = match result {
            Ok(()) => {
                let expires_at_secs = now_ms() / 1000 + self.config.state_ttl_secs;
                self.state
                    .complete(&work, &owner, &outcome_json(&counts), expires_at_secs)
                    .await
                    .map_err(ObjectError::State)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                emit_file_metrics(&uri, &stream, &counts);
                tracing::info!(object = %uri, %stream, records_in = counts.records_in,
                    resumed_after = counts.resumed_after,
                    forwarded = counts.forwarded, filtered = counts.filtered,
                    rejected = counts.rejected, batches = counts.batches, "file forwarded");
                Ok(ObjectOutcome::Forwarded { stream, counts })
            }
            Err(e) => {
                // Give the lease up so a retry resumes at once (after the last checkpoint)
                // instead of waiting for the lease to expire. Not when it was lost already.
                let lost = matches!(
                    e,
                    ObjectError::State(StateError::LeaseLost(_))
                        | ObjectError::Forward(ForwardError::Checkpoint {
                            source: StateError::LeaseLost(_),
                            ..
                        })
                );
                if !lost && let Err(release) = self.state.release(&work, &owner).await {
                    tracing::warn!(object = %uri, error = %release,
                        "releasing the lease failed: a retry waits until it expires");
                }
                tracing::warn!(object = %uri, records_in = counts.records_in,
                    forwarded = counts.forwarded, filtered = counts.filtered,
                    rejected = counts.rejected, records_done = counts.records_done,
                    "file failed; a retry resumes after records_done");
                emit_failure(&uri, &e, Some(&counts));
                Err(e)
            }
        }
    }

    async fn forward(
        &self,
        object: &ObjectRef,
        stream: &str,
        fallback_time_ms: i64,
        work: &WorkKey,
        owner: &str,
        records_done: u64,
    ) -> (FileCounts, Result<(), ObjectError>) {
        let body = match open_object(&self.s3, object).await {
            Ok(body) => body,
            Err(e) => {
                let counts = FileCounts {
                    resumed_after: records_done,
                    records_done,
                    ..FileCounts::default()
                };
                return (counts, Err(e.into()));
            }
        };
        let pattern = self.config.forward_pattern.clone();
        let job = FileJob {
            stream: stream.to_owned(),
            keep: move |json: &str| pattern.as_ref().is_none_or(|p| p.matches(json)),
            fallback_time_ms,
            now_ms: now_ms(),
        };
        let reader = RecordReader::open(body.into_blocking_reader(), self.config.limits);
        let state = &*self.state;
        let resume = Resume {
            records_done,
            checkpoint: move |done| state.checkpoint(work, owner, done),
            stop_sending_at_ms: stop_sending_at_ms(now_ms()),
        };
        let (counts, result) = forward_records(self.sink.clone(), reader, job, resume).await;
        (counts, result.map_err(ObjectError::from))
    }
}

/// How long before the invocation's deadline the forwarder stops sending: enough for one
/// PutLogEvents with the SDK's retries and the checkpoint after it, and the release.
pub const STOP_BEFORE_DEADLINE_MS: i64 = 20_000;

/// When to stop sending: [`STOP_BEFORE_DEADLINE_MS`] before the invocation's deadline. None
/// outside an invocation, or when the deadline is not a time ahead by more than the margin (an
/// emulator's relative deadline, or a timeout so short that stopping would forward nothing).
fn stop_sending_at_ms(now_ms: i64) -> Option<i64> {
    invocation_deadline_ms()
        .filter(|deadline| *deadline > now_ms + STOP_BEFORE_DEADLINE_MS)
        .map(|deadline| deadline - STOP_BEFORE_DEADLINE_MS)
}

/// The outcome stored with a completed object version: what its last attempt counted.
fn outcome_json(c: &FileCounts) -> String {
    json!({
        "recordsIn": c.records_in,
        "resumedAfter": c.resumed_after,
        "records": c.records_done,
        "forwarded": c.forwarded,
        "filtered": c.filtered,
        "rejected": c.rejected,
        "batches": c.batches,
    })
    .to_string()
}

fn emit_failure(uri: &str, e: &ObjectError, counts: Option<&FileCounts>) {
    let mut line = MetricLine::new(METRIC_NAMESPACE)
        .dimension("Function", "forwarder")
        .count("FilesFailed", 1)
        .property("object", uri)
        .property("error", e.to_string());
    if let Some(c) = counts {
        line = line
            .property("recordsIn", c.records_in)
            .property("recordsForwarded", c.forwarded)
            .property("recordsFiltered", c.filtered)
            .property("recordsRejected", c.rejected)
            .property("resumedAfterRecords", c.resumed_after)
            // Absolute: leading records of the file done (resumedAfterRecords included).
            .property("recordsDone", c.records_done);
    }
    line.emit();
}

/// `ms` since the epoch as an RFC 3339 UTC time, for messages people read.
fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

fn emit_file_metrics(uri: &str, stream: &str, c: &FileCounts) {
    MetricLine::new(METRIC_NAMESPACE)
        .dimension("Function", "forwarder")
        .count("FilesProcessed", 1)
        .count("RecordsIn", c.records_in)
        .count("RecordsForwarded", c.forwarded)
        .count("RecordsFiltered", c.filtered)
        .count("RecordsRejected", c.rejected)
        .count("Batches", c.batches)
        .count("BytesForwarded", c.bytes_forwarded)
        .property("object", uri)
        .property("logStream", stream)
        .property("rejectedTooOld", c.rejected_too_old)
        .property("rejectedTooNew", c.rejected_too_new)
        .property("rejectedTooLarge", c.rejected_too_large)
        .property("rejectedByService", c.rejected_by_service)
        .property("resumedAfterRecords", c.resumed_after)
        .property("recordsWithoutEventTime", c.without_event_time)
        .emit();
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn lease_expiry_reads_as_utc_time() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }
}
