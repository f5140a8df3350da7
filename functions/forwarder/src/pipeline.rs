//! Forwarding one CloudTrail file: read and split records on a blocking thread, cut batches
//! there, and send them from the async side while the next batch is being prepared.

use std::io::Read;
use std::sync::Arc;

use tokio::sync::mpsc;
use trailwatch_shared::records::{RecordReader, RecordsError};

use crate::batch::{Batcher, LogEvent, RejectReason, check_event};
use crate::sink::{LogSink, SinkError};

/// What happened to the records of one file. `records_in = forwarded + filtered + rejected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    pub records_in: u64,
    pub forwarded: u64,
    pub filtered: u64,
    /// Not sent (per-event limits) or refused by the service.
    pub rejected: u64,
    pub rejected_too_old: u64,
    pub rejected_too_new: u64,
    pub rejected_too_large: u64,
    pub rejected_by_service: u64,
    /// Records without a usable top-level `eventTime` (stamped with the file's time instead).
    pub without_event_time: u64,
    pub batches: u64,
    pub bytes_forwarded: u64,
    pub decompressed_bytes: u64,
}

impl FileCounts {
    pub fn reconciles(&self) -> bool {
        self.records_in == self.forwarded + self.filtered + self.rejected
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("reading the file failed after {records_read} record(s): {source}")]
    Read {
        records_read: u64,
        source: RecordsError,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Parameters for one file.
pub struct FileJob<F> {
    pub stream: String,
    /// Keeps a record (`true`) or counts it as filtered; `FORWARD_PATTERN` in production.
    pub keep: F,
    /// Timestamp for records without `eventTime`: the file's delivery time from its key.
    pub fallback_time_ms: i64,
    /// "Now" for the 14-day / 2-hour window.
    pub now_ms: i64,
}

/// Forwards every record of `reader` (see [`RecordReader::open`]) to `sink`.
pub async fn forward_file<S, R, F>(
    sink: Arc<S>,
    reader: RecordReader<R>,
    job: FileJob<F>,
) -> Result<FileCounts, ForwardError>
where
    S: LogSink,
    R: Read + Send + 'static,
    F: Fn(&str) -> bool + Send + 'static,
{
    // Two batches in flight at most: bounded memory, and the reader stays one batch ahead.
    let (tx, mut rx) = mpsc::channel::<Vec<LogEvent>>(2);
    let stream = job.stream.clone();
    let producer = tokio::task::spawn_blocking(move || produce(reader, job, tx));

    let mut sent = FileCounts::default();
    let mut sink_error = None;
    while let Some(batch) = rx.recv().await {
        let bytes: u64 = batch.iter().map(|e| e.message.len() as u64).sum();
        let len = batch.len() as u64;
        match sink.put(&stream, batch).await {
            Ok(report) => {
                sent.batches += 1;
                sent.forwarded += report.accepted as u64;
                sent.rejected_by_service += report.rejected as u64;
                if report.rejected == 0 {
                    sent.bytes_forwarded += bytes;
                } else {
                    // Which bytes were refused is not reported; count the share accepted.
                    sent.bytes_forwarded += bytes * report.accepted as u64 / len.max(1);
                }
            }
            Err(e) => {
                sink_error = Some(e);
                break;
            }
        }
    }
    drop(rx); // stops the producer early if the sink failed
    let produced = producer
        .await
        .map_err(|e| ForwardError::Internal(e.to_string()))?;
    if let Some(e) = sink_error {
        return Err(e.into());
    }
    let mut counts = produced?;
    counts.forwarded = sent.forwarded;
    counts.batches = sent.batches;
    counts.bytes_forwarded = sent.bytes_forwarded;
    counts.rejected_by_service = sent.rejected_by_service;
    counts.rejected += sent.rejected_by_service;
    Ok(counts)
}

/// The blocking half: split, filter, check limits, batch.
fn produce<R: Read, F: Fn(&str) -> bool>(
    mut reader: RecordReader<R>,
    job: FileJob<F>,
    tx: mpsc::Sender<Vec<LogEvent>>,
) -> Result<FileCounts, ForwardError> {
    let mut counts = FileCounts::default();
    let mut batcher = Batcher::new();
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(source) => {
                return Err(ForwardError::Read {
                    records_read: counts.records_in,
                    source,
                });
            }
        };
        counts.records_in += 1;
        if !(job.keep)(record.json) {
            counts.filtered += 1;
            continue;
        }
        let timestamp_ms = record.event_time_ms.unwrap_or_else(|| {
            counts.without_event_time += 1;
            job.fallback_time_ms
        });
        if let Err(reason) = check_event(timestamp_ms, record.json.len(), job.now_ms) {
            counts.rejected += 1;
            match reason {
                RejectReason::TooOld => counts.rejected_too_old += 1,
                RejectReason::TooNew => counts.rejected_too_new += 1,
                RejectReason::TooLarge => counts.rejected_too_large += 1,
            }
            tracing::warn!(
                stream = %job.stream,
                reason = reason.as_str(),
                event_time_ms = timestamp_ms,
                bytes = record.json.len(),
                "record not forwarded"
            );
            continue;
        }
        let event = LogEvent {
            timestamp_ms,
            message: record.json.to_owned(),
        };
        if let Some(full) = batcher.push(event)
            && tx.blocking_send(full).is_err()
        {
            return Err(ForwardError::Internal("sink stopped".into()));
        }
    }
    if let Some(last) = batcher.take()
        && tx.blocking_send(last).is_err()
    {
        return Err(ForwardError::Internal("sink stopped".into()));
    }
    counts.decompressed_bytes = reader.decompressed_bytes();
    Ok(counts)
}
