//! Forwarding one CloudTrail file: read and split records on a blocking thread, cut batches
//! there, and send them from the async side while the next batch is being prepared.
//!
//! Resumable: records are numbered in file order (the reader is deterministic, so an attempt
//! sees the same records in the same order as every other attempt). Each batch carries
//! `records_done`, the number of leading records of the file its acknowledgement accounts for
//! (its own events and every record filtered or rejected before the next batch's first event);
//! after the acknowledgement the caller's checkpoint stores it, and a later attempt skips that
//! many records. Checkpoints are written in file order, one at a time, after the acknowledgement
//! and before the next batch is sent: a crash, or an acknowledgement lost in transit, between
//! PutLogEvents and the checkpoint write therefore repeats at most the one batch in question.

use std::io::Read;
use std::sync::Arc;

use std::future::Future;

use tokio::sync::mpsc;
use trailwatch_lambda_common::state::StateError;
use trailwatch_shared::records::{RecordReader, RecordsError};

use crate::batch::{Batcher, LogEvent, RejectReason, check_event};
use crate::sink::{LogSink, SinkError};

/// What happened to the records of one file in one attempt.
/// `records_in = forwarded + filtered + rejected` once the attempt succeeded, or failed on a read
/// error (what was read before the error is still sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Records this attempt accounted for: those after the resume point.
    pub records_in: u64,
    /// Leading records skipped because an earlier attempt's acknowledged batches accounted for
    /// them (its checkpoint); not part of `records_in`.
    pub resumed_after: u64,
    /// Leading records of the file accounted for when the attempt ended: the last checkpoint
    /// (`resumed_after` plus every record up to the last acknowledged batch), or the whole file.
    pub records_done: u64,
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
    /// The checkpoint after an acknowledged batch was not stored: stop rather than widen the
    /// window a retry would repeat.
    #[error("checkpoint after {records_done} record(s) not stored: {source}")]
    Checkpoint {
        records_done: u64,
        source: StateError,
    },
    /// Too little of the invocation was left to send another batch: a retry resumes after the
    /// last checkpoint.
    #[error(
        "stopped before the invocation's deadline after {records_done} record(s) of the file; \
         a retry resumes there"
    )]
    OutOfTime { records_done: u64 },
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

/// A batch ready to send and what its acknowledgement accounts for.
struct Batch {
    events: Vec<LogEvent>,
    /// Leading records of the file done once this batch is acknowledged.
    records_done: u64,
}

/// Where an attempt starts and how it records its progress.
pub struct Resume<C> {
    /// Leading records an earlier attempt accounted for (its last checkpoint): skipped.
    pub records_done: u64,
    /// Called after each acknowledged batch with the new `records_done`, in file order, awaited
    /// before the next batch is sent.
    pub checkpoint: C,
    /// No batch is sent at or after this time (ms since the epoch): the attempt stops at a batch
    /// boundary, everything it sent checkpointed, rather than be stopped by the invocation's
    /// timeout in the middle of a call whose outcome would then be unknown.
    pub stop_sending_at_ms: Option<i64>,
}

/// A [`Resume`] from the start of the file that records nothing (benchmarks, one-shot runs).
pub fn from_start() -> Resume<impl FnMut(u64) -> std::future::Ready<Result<(), StateError>>> {
    Resume {
        records_done: 0,
        checkpoint: |_| std::future::ready(Ok(())),
        stop_sending_at_ms: None,
    }
}

/// Forwards every record of `reader` (see [`RecordReader::open`]) to `sink`, from the start,
/// without checkpoints.
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
    let (counts, result) = forward_records(sink, reader, job, from_start()).await;
    result.map(|()| counts)
}

/// Forwards the records of `reader` after `resume.records_done` to `sink`, checkpointing after
/// each acknowledged batch. Returns what this attempt did, and its error if it failed. A read
/// error part-way sends every record read before it (and checkpoints it) before failing.
pub async fn forward_records<S, R, F, C, CFut>(
    sink: Arc<S>,
    reader: RecordReader<R>,
    job: FileJob<F>,
    resume: Resume<C>,
) -> (FileCounts, Result<(), ForwardError>)
where
    S: LogSink,
    R: Read + Send + 'static,
    F: Fn(&str) -> bool + Send + 'static,
    C: FnMut(u64) -> CFut,
    CFut: Future<Output = Result<(), StateError>>,
{
    let Resume {
        records_done: skip,
        mut checkpoint,
        stop_sending_at_ms,
    } = resume;
    // Two batches in flight at most: bounded memory, and the reader stays one batch ahead.
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let stream = job.stream.clone();
    let producer = tokio::task::spawn_blocking(move || produce(reader, job, skip, tx));

    let mut sent = FileCounts {
        records_done: skip,
        ..FileCounts::default()
    };
    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        if stop_sending_at_ms.is_some_and(|t| now_ms() >= t) {
            failure = Some(ForwardError::OutOfTime {
                records_done: sent.records_done,
            });
            break;
        }
        let bytes: u64 = batch.events.iter().map(|e| e.message.len() as u64).sum();
        let len = batch.events.len() as u64;
        match sink.put(&stream, batch.events).await {
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
                if let Err(source) = checkpoint(batch.records_done).await {
                    failure = Some(ForwardError::Checkpoint {
                        records_done: batch.records_done,
                        source,
                    });
                    break;
                }
                sent.records_done = batch.records_done;
            }
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        }
    }
    drop(rx); // stops the producer early if the sink failed
    let (mut counts, read_error) = match producer.await {
        Ok(produced) => produced,
        Err(e) => (
            FileCounts::default(),
            Some(ForwardError::Internal(e.to_string())),
        ),
    };
    counts.forwarded = sent.forwarded;
    counts.batches = sent.batches;
    counts.bytes_forwarded = sent.bytes_forwarded;
    counts.rejected_by_service = sent.rejected_by_service;
    counts.rejected += sent.rejected_by_service;
    counts.records_done = sent.records_done;
    // A sink or checkpoint failure stopped the producer: it is the cause, not "sink stopped".
    if let Some(e) = failure.or(read_error) {
        return (counts, Err(e));
    }
    // Records filtered or rejected after the last batch are done now that the file is.
    counts.records_done = counts.resumed_after + counts.records_in;
    (counts, Ok(()))
}

/// The blocking half: skip what an earlier attempt did, split, filter, check limits, batch.
/// Returns the counts of what was read and the read error that ended it early, if any (the
/// batch pending at the error is still sent: every complete record read before it counts).
fn produce<R: Read, F: Fn(&str) -> bool>(
    mut reader: RecordReader<R>,
    job: FileJob<F>,
    skip: u64,
    tx: mpsc::Sender<Batch>,
) -> (FileCounts, Option<ForwardError>) {
    let mut counts = FileCounts::default();
    let mut batcher = Batcher::new();
    // Records read so far, skipped ones included: the number of the current record.
    let mut read: u64 = 0;
    let mut read_error = None;
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(source) => {
                read_error = Some(ForwardError::Read {
                    records_read: read,
                    source,
                });
                break;
            }
        };
        read += 1;
        if read <= skip {
            counts.resumed_after += 1;
            continue;
        }
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
        if let Some(full) = batcher.push(event) {
            // Everything before the current record (which starts the next batch) is in `full`
            // or was filtered/rejected: done once `full` is acknowledged.
            let batch = Batch {
                events: full,
                records_done: read - 1,
            };
            if tx.blocking_send(batch).is_err() {
                counts.decompressed_bytes = reader.decompressed_bytes();
                return (counts, Some(ForwardError::Internal("sink stopped".into())));
            }
        }
    }
    if let Some(last) = batcher.take() {
        let batch = Batch {
            events: last,
            records_done: read,
        };
        if tx.blocking_send(batch).is_err() && read_error.is_none() {
            read_error = Some(ForwardError::Internal("sink stopped".into()));
        }
    }
    counts.decompressed_bytes = reader.decompressed_bytes();
    if skip > read && read_error.is_none() {
        // The checkpoint names more records than the file has: not the file it was written for.
        read_error = Some(ForwardError::Internal(format!(
            "checkpoint says {skip} record(s) done but the file has {read}"
        )));
    }
    (counts, read_error)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
