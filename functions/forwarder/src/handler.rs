//! The invocation handler: decode the trigger, forward each CloudTrail file, emit metrics.

use std::sync::Arc;

use serde_json::Value;
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::intake::run_items;
use trailwatch_lambda_common::s3_read::{FetchError, open_object};
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::records::RecordReader;
use trailwatch_shared::trigger::{ObjectRef, decode};

use crate::config::ForwarderConfig;
use crate::pipeline::{FileCounts, FileJob, ForwardError, forward_file};
use crate::sink::LogSink;
use crate::stream_name::StreamKind;

pub const METRIC_NAMESPACE: &str = "trailwatch";

/// Everything built once at cold start and shared by all invocations.
pub struct Forwarder<S: LogSink> {
    pub config: ForwarderConfig,
    pub s3: aws_sdk_s3::Client,
    pub sink: Arc<S>,
}

pub use trailwatch_lambda_common::intake::InvocationError as HandlerError;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

impl ObjectFailure for ObjectError {
    fn permission_denied(&self) -> bool {
        match self {
            ObjectError::Fetch(e) => e.permission_denied(),
            ObjectError::Forward(ForwardError::Sink(e)) => e.refused,
            ObjectError::Forward(_) => false,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOutcome {
    Forwarded { stream: String, counts: FileCounts },
    Skipped { reason: String },
}

impl<S: LogSink> Forwarder<S> {
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let trigger = decode(&payload)?;
        let response = run_items(trigger, self.config.max_concurrency, |object| async move {
            self.process_object(&object).await.map(|_| ())
        })
        .await?;
        Ok(response)
    }

    /// Forwards one object, or skips it (counted) when it is not a CloudTrail log/Insights file.
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
        let result = self.forward(object, &stream, location.time * 1000).await;
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        match result {
            Ok(counts) => {
                emit_file_metrics(&uri, &stream, &counts);
                tracing::info!(object = %uri, %stream, records_in = counts.records_in,
                    forwarded = counts.forwarded, filtered = counts.filtered,
                    rejected = counts.rejected, batches = counts.batches, "file forwarded");
                Ok(ObjectOutcome::Forwarded { stream, counts })
            }
            Err(e) => {
                MetricLine::new(METRIC_NAMESPACE)
                    .dimension("Function", "forwarder")
                    .count("FilesFailed", 1)
                    .property("object", uri)
                    .property("error", e.to_string())
                    .emit();
                Err(e)
            }
        }
    }

    async fn forward(
        &self,
        object: &ObjectRef,
        stream: &str,
        fallback_time_ms: i64,
    ) -> Result<FileCounts, ObjectError> {
        let body = open_object(&self.s3, object).await?;
        let pattern = self.config.forward_pattern.clone();
        let job = FileJob {
            stream: stream.to_owned(),
            keep: move |json: &str| pattern.as_ref().is_none_or(|p| p.matches(json)),
            fallback_time_ms,
            now_ms: now_ms(),
        };
        let reader = RecordReader::open(body.into_blocking_reader(), self.config.limits);
        Ok(forward_file(self.sink.clone(), reader, job).await?)
    }
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
        .property("recordsWithoutEventTime", c.without_event_time)
        .emit();
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
