//! Where batches go: CloudWatch Logs in production, a counting sink in benchmarks.
//!
//! Retries and duplicates. A PutLogEvents call whose answer is lost (a timeout or a dropped
//! connection after the request was sent, a 5xx after the service stored the events) may have
//! succeeded; sending it again then stores its events twice: PutLogEvents has no idempotency
//! token. The SDK's standard retries (5 attempts) already re-send in those cases, and a failed
//! object is retried by Lambda or a redrive from its last checkpoint, which re-sends the
//! unacknowledged batch too: one lost acknowledgement can repeat that one batch, never more.
//! This sink therefore adds attempts of its own only where the service refused the call before
//! storing anything: `ThrottlingException` (a rate refusal) and `ResourceNotFoundException`
//! (the stream is re-created first). An ambiguous failure is returned after the SDK's attempts,
//! so one batch is not multiplied by our attempts on top of the SDK's during an outage, and the
//! object fails with the cause (its retry resumes after the checkpoint).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use crate::batch::{LogEvent, rejected_by_service};

/// What the destination did with one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReport {
    pub accepted: usize,
    /// Refused by the service (`rejectedLogEventsInfo`).
    pub rejected: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{operation} to {group}/{stream} failed: {}{detail}", refusal_text(.refused, .operation, .group, .stream))]
pub struct SinkError {
    /// `CreateLogStream` or `PutLogEvents`.
    pub operation: &'static str,
    pub group: String,
    pub stream: String,
    pub detail: String,
    /// CloudWatch Logs refused the call: a missing permission, not a fault.
    pub refused: bool,
}

fn refusal_text(refused: &bool, operation: &str, group: &str, stream: &str) -> String {
    if *refused {
        format!(
            "permission denied: the role needs logs:{operation} on the log group {group} \
             (arn:…:log-group:{group}:log-stream:{stream}): "
        )
    } else {
        String::new()
    }
}

pub trait LogSink: Send + Sync + 'static {
    /// Sends one batch (already within every API limit, sorted by time) to `stream`.
    fn put(
        &self,
        stream: &str,
        batch: Vec<LogEvent>,
    ) -> impl Future<Output = Result<SinkReport, SinkError>> + Send;
}

/// CloudWatch Logs `PutLogEvents`, creating the stream on first use.
pub struct CloudWatchSink {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    /// Streams known to exist, kept across invocations of a warm container.
    known_streams: Mutex<HashSet<String>>,
}

/// Extra attempts on top of the SDK's own retries, for refusals only (see the module doc): a
/// longer throttling episode, or a stream deleted under us.
const EXTRA_ATTEMPTS: u32 = 3;

impl CloudWatchSink {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: String) -> Self {
        Self {
            client,
            group,
            known_streams: Mutex::new(HashSet::new()),
        }
    }

    fn err<E>(
        &self,
        operation: &'static str,
        stream: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> SinkError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        SinkError {
            operation,
            group: self.group.clone(),
            stream: stream.to_owned(),
            detail: aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e).to_string(),
            refused: trailwatch_lambda_common::failure::is_refused(e),
        }
    }

    async fn ensure_stream(&self, stream: &str) -> Result<(), SinkError> {
        match self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Another invocation created it first: that is the outcome we wanted.
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => Ok(()),
            Err(e) => Err(self.err("CreateLogStream", stream, &e)),
        }?;
        self.known_streams
            .lock()
            .expect("poisoned")
            .insert(stream.to_owned());
        Ok(())
    }
}

impl LogSink for CloudWatchSink {
    async fn put(&self, stream: &str, batch: Vec<LogEvent>) -> Result<SinkReport, SinkError> {
        let len = batch.len();
        let events: Vec<InputLogEvent> = batch
            .into_iter()
            .map(|e| {
                InputLogEvent::builder()
                    .timestamp(e.timestamp_ms)
                    .message(e.message)
                    .build()
                    .expect("timestamp and message are set")
            })
            .collect();
        if !self
            .known_streams
            .lock()
            .expect("poisoned")
            .contains(stream)
        {
            self.ensure_stream(stream).await?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .put_log_events()
                .log_group_name(&self.group)
                .log_stream_name(stream)
                .set_log_events(Some(events.clone()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    let rejected = out
                        .rejected_log_events_info()
                        .map(|r| {
                            rejected_by_service(
                                len,
                                r.too_new_log_event_start_index(),
                                r.too_old_log_event_end_index(),
                                r.expired_log_event_end_index(),
                            )
                        })
                        .unwrap_or(0);
                    if rejected > 0 {
                        tracing::warn!(stream, rejected, info = ?out.rejected_log_events_info(),
                            "CloudWatch Logs rejected events of a batch");
                    }
                    return Ok(SinkReport {
                        accepted: len - rejected,
                        rejected,
                    });
                }
                Err(e)
                    if e.code() == Some("ResourceNotFoundException")
                        && attempt <= EXTRA_ATTEMPTS =>
                {
                    // The stream was deleted, or never existed although we thought so.
                    self.ensure_stream(stream).await?;
                }
                Err(e) if refused_before_storing(&e) && attempt <= EXTRA_ATTEMPTS => {
                    let delay = Duration::from_millis(200 * 2u64.pow(attempt));
                    tracing::warn!(stream, attempt, ?delay, error = %aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e), "PutLogEvents retry");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(self.err("PutLogEvents", stream, &e)),
            }
        }
    }
}

/// Whether the service refused the call without storing any event, so that sending it again
/// cannot duplicate: throttling. Timeouts, dropped connections, unreadable answers and 5xx are
/// ambiguous (the events may be stored) and are not retried here beyond the SDK's attempts.
fn refused_before_storing<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ServiceError(se) => matches!(
            se.err().code(),
            Some("ThrottlingException" | "LimitExceededException")
        ),
        _ => false,
    }
}

/// Counts what it is given; for benchmarks of the forwarder path without the network.
#[derive(Debug, Default)]
pub struct CountingSink {
    pub events: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    pub batches: std::sync::atomic::AtomicU64,
}

impl LogSink for CountingSink {
    async fn put(&self, _stream: &str, batch: Vec<LogEvent>) -> Result<SinkReport, SinkError> {
        use std::sync::atomic::Ordering::Relaxed;
        let bytes: usize = batch.iter().map(|e| e.message.len()).sum();
        self.events.fetch_add(batch.len() as u64, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
        Ok(SinkReport {
            accepted: batch.len(),
            rejected: 0,
        })
    }
}
