//! Streaming reader of CloudTrail log files: gzip (detected by magic bytes, concatenated members
//! accepted) or plain JSON, `{"Records":[…]}` split into records without holding the file.
//!
//! Memory is bounded by the largest record: decompressed bytes pass through one reusable buffer
//! that only has to hold the record being cut out (it grows up to
//! [`ReaderLimits::max_record_bytes`], never with the file).
//!
//! Each record is returned as its exact bytes (checked to be UTF-8 and structurally sound JSON: see
//! `scan.rs` for what that covers) with its top-level `eventTime` as Unix milliseconds. Other
//! top-level keys of the file are skipped; a duplicated `Records` key yields the records of both
//! arrays (losing events is worse than reading a strange file); several JSON documents one after
//! the other (e.g. `cat a.json.gz b.json.gz`) are read in turn, each must have `Records`.

mod background;
mod event_time;
mod input;
#[cfg(test)]
mod proptests;
mod scan;
#[cfg(test)]
mod tests;
mod values;
mod workers;

use std::io::Read;

use background::Overlapped;
pub use event_time::parse_event_time;
pub use input::Encoding;
use input::{Input, InputError};
use scan::Scanner;

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

/// Why reading a log file stopped. Records returned before the error stay valid.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The underlying reader (file, S3 body stream) failed: an infrastructure problem, not a
    /// property of the file.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// The input starts like gzip but the stream is damaged (bad deflate data, CRC or length,
    /// truncated member); holds the decoder's message.
    #[error("corrupt gzip data: {0}")]
    Gzip(String),
    /// The decompressed stream grew past [`ReaderLimits::max_decompressed_bytes`] (gzip bomb).
    #[error("decompressed size exceeds the limit of {limit} bytes (gzip bomb?)")]
    TooLarge {
        /// The [`ReaderLimits::max_decompressed_bytes`] that was reached.
        limit: u64,
    },
    /// One record is larger than [`ReaderLimits::max_record_bytes`].
    #[error("record {index} exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// 0-based position of the record in the file (counted across all documents).
        index: u64,
        /// The [`ReaderLimits::max_record_bytes`] it exceeds.
        limit: usize,
    },
    /// The input is not a CloudTrail log file at all: empty, not JSON, a JSON array, or an object
    /// without a `Records` array; says which.
    #[error("not a CloudTrail log file: {0}")]
    NotCloudTrail(String),
    /// The input is a CloudTrail file but its JSON is broken or truncated after some point.
    #[error("malformed JSON at byte {offset}: {detail}")]
    Malformed {
        /// Offset of the offending byte in the decompressed stream, 0-based.
        offset: u64,
        /// What was expected there, or what is wrong (invalid UTF-8, truncated record, …).
        detail: String,
    },
}

/// Decompressed data is read in pieces of this size: small enough to stay in cache between
/// decompression and scanning, large enough to keep per-call overheads negligible.
const READ_CHUNK: usize = 64 * 1024;
const INITIAL_BUFFER: usize = 4 * READ_CHUNK;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the splitter is in the file's JSON structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Before the first byte of the input (a UTF-8 BOM may follow).
    FileStart,
    /// Before a top-level document (only whitespace seen since the previous one, if any).
    DocumentStart {
        first: bool,
    },
    /// Inside the top-level object, before a key; `after_comma` forbids a closing brace.
    TopKey {
        after_comma: bool,
    },
    /// After a top-level value: a comma or the closing brace.
    TopAfterValue,
    /// Inside `Records`: `first` allows `]`, otherwise an element must follow a comma.
    RecordsElement {
        first: bool,
    },
    /// After a record: a comma or the closing bracket.
    RecordsAfterElement,
    Finished,
    Failed,
}

/// Splits one CloudTrail log file (gzip or plain JSON) into its records, streaming: call
/// [`RecordReader::next_record`] until it returns `Ok(None)`. Open one with
/// [`RecordReader::open`].
pub struct RecordReader<R: Read> {
    input: Source<R>,
    limits: ReaderLimits,
    /// Decompressed bytes; `buf[pos..filled]` not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// Decompressed offset of `buf[0]`, for error messages.
    buf_offset: u64,
    end_of_input: bool,
    decompressed: u64,
    position: Position,
    saw_records: bool,
    scanner: Scanner,
    records_read: u64,
    event_time_key: memchr::memmem::Finder<'static>,
}

/// Where the splitter's decompressed bytes come from.
enum Source<R> {
    /// Inflated on the reading thread.
    Here(Input<R>),
    /// The head inflated on the reading thread, the rest (if any) on a worker thread.
    Overlapped(Overlapped),
}

impl<R: Read> Source<R> {
    /// Reads decompressed bytes; `Ok(0)` only at the true end of the input.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        match self {
            Source::Here(input) => input.read(buf),
            Source::Overlapped(overlapped) => overlapped.read(buf),
        }
    }

    fn raw_bytes(&self) -> u64 {
        match self {
            Source::Here(input) => input.raw_bytes(),
            Source::Overlapped(overlapped) => overlapped.raw_bytes(),
        }
    }

    fn encoding(&self) -> Option<Encoding> {
        match self {
            Source::Here(input) => input.encoding(),
            Source::Overlapped(overlapped) => overlapped.encoding(),
        }
    }
}

impl<R: Read + Send + 'static> RecordReader<R> {
    /// The records of a log file or S3 body: the way to read one.
    ///
    /// Decides where to inflate: when a second core is there, the first 64 KiB of decompressed
    /// bytes are inflated on the reading thread, and only an input that goes on past them
    /// continues on a kept worker thread, so that inflating overlaps splitting and evaluating
    /// (most delivery files end within the head, and a thread would only cost them). On one core
    /// everything is inflated on the reading thread. Records, counts and errors are the same
    /// either way.
    ///
    /// Nothing is read here: a reader opened on an async task can be read in `spawn_blocking`.
    pub fn open(input: R, limits: ReaderLimits) -> Self {
        let source = if background::background_inflate_pays() {
            Source::Overlapped(Overlapped::new(input))
        } else {
            Source::Here(Input::new(input))
        };
        Self::from_source(source, limits)
    }
}

impl<R: Read> RecordReader<R> {
    /// The records of `input`, inflated on the reading thread only: for input in memory or
    /// borrowed (tests, benchmarks of one thread). Files and S3 bodies are read through
    /// [`RecordReader::open`].
    pub fn new(input: R, limits: ReaderLimits) -> Self {
        Self::from_source(Source::Here(Input::new(input)), limits)
    }

    fn from_source(input: Source<R>, limits: ReaderLimits) -> Self {
        Self {
            input,
            limits,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            buf_offset: 0,
            end_of_input: false,
            decompressed: 0,
            position: Position::FileStart,
            saw_records: false,
            scanner: Scanner::default(),
            records_read: 0,
            event_time_key: memchr::memmem::Finder::new(event_time::EVENT_TIME_KEY),
        }
    }

    /// The next record, `Ok(None)` after the closing `]}`.
    ///
    /// After an error the reader stays failed: further calls return an error, never records.
    pub fn next_record(&mut self) -> Result<Option<RawRecord<'_>>, RecordsError> {
        match self.advance_to_record() {
            Ok(Some((start, end))) => {
                // `records_read` counts records returned: a record refused below is not one.
                let index = self.records_read;
                // Borrows only `buf` (and the scanner), so `position` stays writable.
                let record = build_record(
                    &self.buf[start..end],
                    &self.scanner.top_level,
                    &self.event_time_key,
                )
                .map_err(|valid_up_to| RecordsError::Malformed {
                    offset: self.buf_offset + (start + valid_up_to) as u64,
                    detail: format!("record {index} is not valid UTF-8"),
                });
                match record {
                    Ok(record) => {
                        self.records_read += 1;
                        Ok(Some(record))
                    }
                    Err(e) => {
                        self.position = Position::Failed;
                        Err(e)
                    }
                }
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.position = Position::Failed;
                Err(e)
            }
        }
    }

    /// Decompressed bytes consumed so far.
    pub fn decompressed_bytes(&self) -> u64 {
        self.decompressed
    }

    /// Bytes taken from the underlying reader so far (compressed bytes for gzip input).
    pub fn input_bytes(&self) -> u64 {
        self.input.raw_bytes()
    }

    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.records_read
    }

    /// The input's encoding, once the first bytes were read.
    pub fn encoding(&self) -> Option<Encoding> {
        self.input.encoding()
    }

    /// Walks the structure up to the next record; returns its span in `buf`.
    fn advance_to_record(&mut self) -> Result<Option<(usize, usize)>, RecordsError> {
        loop {
            match self.position {
                Position::FileStart => {
                    self.skip_bom()?;
                    self.position = Position::DocumentStart { first: true };
                }
                Position::DocumentStart { first } => match self.next_significant()? {
                    None if first => {
                        let what = if self.decompressed == 0 {
                            "empty input (zero bytes)"
                        } else {
                            "no JSON content (only whitespace)"
                        };
                        return Err(RecordsError::NotCloudTrail(what.into()));
                    }
                    None => {
                        self.position = Position::Finished;
                    }
                    Some(b'{') => {
                        self.pos += 1;
                        self.saw_records = false;
                        self.position = Position::TopKey { after_comma: false };
                    }
                    Some(b'[') if first => {
                        return Err(RecordsError::NotCloudTrail(
                            "the file is a JSON array, not an object with \"Records\"".into(),
                        ));
                    }
                    Some(byte) if first => {
                        return Err(RecordsError::NotCloudTrail(format!(
                            "not JSON: unexpected byte 0x{byte:02x} at offset {}",
                            self.offset(self.pos)
                        )));
                    }
                    Some(_) => {
                        return Err(self.malformed(
                            self.pos,
                            "unexpected data after the end of the JSON document",
                        ));
                    }
                },
                Position::TopKey { after_comma } => match self.next_significant()? {
                    Some(b'"') => {
                        self.pos += 1;
                        let is_records = self.read_key_is_records()?;
                        self.expect_byte(b':', "expected ':' after a key")?;
                        if is_records {
                            self.expect_byte(b'[', "\"Records\" is not an array")
                                .map_err(|e| match e {
                                    RecordsError::Malformed { .. } => RecordsError::NotCloudTrail(
                                        "the \"Records\" value is not an array".into(),
                                    ),
                                    other => other,
                                })?;
                            self.saw_records = true;
                            self.position = Position::RecordsElement { first: true };
                        } else {
                            self.skip_value()?;
                            self.position = Position::TopAfterValue;
                        }
                    }
                    Some(b'}') if !after_comma => self.end_document()?,
                    Some(_) => return Err(self.malformed(self.pos, "expected a key")),
                    None => return Err(self.truncated("the top-level object")),
                },
                Position::TopAfterValue => match self.next_significant()? {
                    Some(b',') => {
                        self.pos += 1;
                        self.position = Position::TopKey { after_comma: true };
                    }
                    Some(b'}') => self.end_document()?,
                    Some(_) => return Err(self.malformed(self.pos, "expected ',' or '}'")),
                    None => return Err(self.truncated("the top-level object")),
                },
                Position::RecordsElement { first } => match self.next_significant()? {
                    Some(b'{') => {
                        let span = self.cut_record()?;
                        self.position = Position::RecordsAfterElement;
                        return Ok(Some(span));
                    }
                    Some(b']') if first => {
                        self.pos += 1;
                        self.position = Position::TopAfterValue;
                    }
                    Some(_) => {
                        return Err(self.malformed(
                            self.pos,
                            "an element of \"Records\" is not a JSON object",
                        ));
                    }
                    None => return Err(self.truncated("\"Records\"")),
                },
                Position::RecordsAfterElement => match self.next_significant()? {
                    Some(b',') => {
                        self.pos += 1;
                        self.position = Position::RecordsElement { first: false };
                    }
                    Some(b']') => {
                        self.pos += 1;
                        self.position = Position::TopAfterValue;
                    }
                    Some(_) => {
                        return Err(self.malformed(self.pos, "expected ',' or ']' after a record"));
                    }
                    None => return Err(self.truncated("\"Records\"")),
                },
                Position::Finished => return Ok(None),
                Position::Failed => {
                    return Err(RecordsError::Malformed {
                        offset: self.offset(self.pos),
                        detail: "reading already failed".into(),
                    });
                }
            }
        }
    }

    fn end_document(&mut self) -> Result<(), RecordsError> {
        self.pos += 1;
        if !self.saw_records {
            return Err(RecordsError::NotCloudTrail(
                "the JSON object has no \"Records\" key".into(),
            ));
        }
        self.position = Position::DocumentStart { first: false };
        Ok(())
    }
}

/// A record from its bytes: UTF-8 check (the error is the length of the valid prefix) and
/// `eventTime`.
fn build_record<'a>(
    bytes: &'a [u8],
    top_level: &[usize],
    event_time_key: &memchr::memmem::Finder<'_>,
) -> Result<RawRecord<'a>, usize> {
    // SIMD validation first; std only to locate the fault of an invalid record.
    let json = match simdutf8::basic::from_utf8(bytes) {
        Ok(json) => json,
        Err(_) => std::str::from_utf8(bytes).map_err(|e| e.valid_up_to())?,
    };
    let event_time_ms = event_time::top_level_event_time(bytes, top_level, event_time_key);
    Ok(RawRecord {
        json,
        event_time_ms,
    })
}
