//! Streaming reader of CloudTrail log files: gzip (detected by magic bytes, concatenated members
//! accepted) or plain JSON, `{"Records":[…]}` split into records without holding the file.
//!
//! INTERFACE (fixed; the implementation fills it in). Memory is bounded by the largest record.

use std::io::Read;

/// Bounds that protect a function from hostile or broken input.
#[derive(Debug, Clone, Copy)]
pub struct ReaderLimits {
    /// Decompressed bytes after which reading stops with [`RecordsError::TooLarge`] (gzip bombs).
    pub max_decompressed_bytes: u64,
    /// A single record larger than this stops reading with [`RecordsError::RecordTooLarge`].
    pub max_record_bytes: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 2 << 30,
            max_record_bytes: 32 << 20,
        }
    }
}

/// One record: its exact JSON text and its `eventTime`.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The record's exact bytes as they stand in the file (forwarded verbatim).
    pub json: &'a str,
    /// Top-level `eventTime` as Unix milliseconds; `None` when absent or unparseable.
    pub event_time_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt gzip data: {0}")]
    Gzip(String),
    #[error("decompressed size exceeds the limit of {limit} bytes (gzip bomb?)")]
    TooLarge { limit: u64 },
    #[error("record {index} exceeds the limit of {limit} bytes")]
    RecordTooLarge { index: u64, limit: usize },
    #[error("not a CloudTrail log file: {0}")]
    NotCloudTrail(String),
    #[error("malformed JSON at byte {offset}: {detail}")]
    Malformed { offset: u64, detail: String },
}

pub struct RecordReader<R: Read> {
    _input: R,
}

impl<R: Read> RecordReader<R> {
    pub fn new(_input: R, _limits: ReaderLimits) -> Self {
        todo!("records helper")
    }

    /// The next record, `Ok(None)` after the closing `]}`.
    pub fn next_record(&mut self) -> Result<Option<RawRecord<'_>>, RecordsError> {
        todo!("records helper")
    }

    /// Decompressed bytes consumed so far.
    pub fn decompressed_bytes(&self) -> u64 {
        todo!("records helper")
    }
}
