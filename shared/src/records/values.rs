//! Value-level reading for [`RecordReader`]: cutting out a record, reading a top-level key,
//! skipping other values, and the buffer that holds the bytes (refilled and compacted so that only
//! the value being cut out has to stay in memory).

use std::io::Read;

use super::input::InputError;
use super::scan::{Fault, Step};
use super::{INITIAL_BUFFER, READ_CHUNK, RecordReader, RecordsError, UTF8_BOM};

impl<R: Read> RecordReader<R> {
    /// Cuts out the record whose `{` is at `pos`; returns its span and leaves `pos` after it.
    pub(super) fn cut_record(&mut self) -> Result<(usize, usize), RecordsError> {
        let index = self.records_read;
        let limit = self.limits.max_record_bytes;
        let mut start = self.pos;
        self.scanner.start(b'{', true);
        let mut resume = start + 1;
        loop {
            let step = self.scanner.scan(&self.buf[..self.filled], start, resume);
            match step.map_err(|f| self.fault(f))? {
                Step::Complete(end) => {
                    if end - start > limit {
                        return Err(RecordsError::RecordTooLarge { index, limit });
                    }
                    self.pos = end;
                    return Ok((start, end));
                }
                Step::NeedMore(at) => {
                    if self.filled - start > limit {
                        return Err(RecordsError::RecordTooLarge { index, limit });
                    }
                    let shift = self.refill(start)?;
                    start -= shift;
                    resume = at - shift;
                    if self.end_of_input {
                        return Err(self.truncated(&format!("record {index}")));
                    }
                }
            }
        }
    }

    /// Reads a top-level key (its opening quote consumed); true when it is `Records`.
    pub(super) fn read_key_is_records(&mut self) -> Result<bool, RecordsError> {
        let mut start = self.pos - 1;
        self.scanner.start(b'"', false);
        let mut resume = self.pos;
        loop {
            let step = self.scanner.scan(&self.buf[..self.filled], start, resume);
            match step.map_err(|f| self.fault(f))? {
                Step::Complete(end) => {
                    self.pos = end;
                    let raw = &self.buf[start..end];
                    if raw == b"\"Records\"" {
                        return Ok(true);
                    }
                    // An escaped spelling of the same key is the same key.
                    return Ok(raw.contains(&b'\\')
                        && serde_json::from_slice::<String>(raw).is_ok_and(|k| k == "Records"));
                }
                Step::NeedMore(at) => {
                    if self.filled - start > self.limits.max_record_bytes {
                        return Err(self.malformed(start, "top-level key is too long"));
                    }
                    let shift = self.refill(start)?;
                    start -= shift;
                    resume = at - shift;
                    if self.end_of_input {
                        return Err(self.truncated("a top-level key"));
                    }
                }
            }
        }
    }

    /// Skips a top-level value other than `Records` without keeping its bytes.
    pub(super) fn skip_value(&mut self) -> Result<(), RecordsError> {
        let Some(first) = self.next_significant()? else {
            return Err(self.truncated("a top-level value"));
        };
        match first {
            b'{' | b'[' | b'"' => {
                self.scanner.start(first, false);
                let mut resume = self.pos + 1;
                loop {
                    let step = self
                        .scanner
                        .scan(&self.buf[..self.filled], self.pos, resume);
                    match step.map_err(|f| self.fault(f))? {
                        Step::Complete(end) => {
                            self.pos = end;
                            return Ok(());
                        }
                        Step::NeedMore(at) => {
                            // Keep nothing already scanned (positions are relative to `at`).
                            self.pos = at;
                            let shift = self.refill(at)?;
                            resume = at - shift;
                            if self.end_of_input {
                                return Err(self.truncated("a top-level value"));
                            }
                        }
                    }
                }
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => loop {
                while self.pos < self.filled {
                    if !matches!(self.buf[self.pos], b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E')
                    {
                        return Ok(());
                    }
                    self.pos += 1;
                }
                self.refill(self.pos)?;
                if self.end_of_input {
                    return Ok(());
                }
            },
            _ => Err(self.malformed(self.pos, "expected a JSON value")),
        }
    }

    pub(super) fn skip_bom(&mut self) -> Result<(), RecordsError> {
        while self.filled - self.pos < UTF8_BOM.len() && !self.end_of_input {
            self.refill(self.pos)?;
        }
        if self.buf[self.pos..self.filled].starts_with(UTF8_BOM) {
            self.pos += UTF8_BOM.len();
        }
        Ok(())
    }

    /// The next byte that is not JSON whitespace (not consumed), reading more as needed;
    /// `None` at the end of the input.
    #[inline]
    pub(super) fn next_significant(&mut self) -> Result<Option<u8>, RecordsError> {
        loop {
            while self.pos < self.filled {
                let byte = self.buf[self.pos];
                if !matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
                    return Ok(Some(byte));
                }
                self.pos += 1;
            }
            if self.end_of_input {
                return Ok(None);
            }
            self.refill(self.pos)?;
        }
    }

    pub(super) fn expect_byte(&mut self, want: u8, detail: &str) -> Result<(), RecordsError> {
        match self.next_significant()? {
            Some(byte) if byte == want => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.malformed(self.pos, detail)),
            None => Err(self.truncated("the top-level object")),
        }
    }

    /// Reads more input, keeping `buf[keep..]`; returns by how much positions moved down.
    /// Sets `end_of_input` when the input is exhausted.
    pub(super) fn refill(&mut self, keep: usize) -> Result<usize, RecordsError> {
        let mut shift = 0;
        if self.buf.len() - self.filled < READ_CHUNK {
            if keep > 0 {
                self.buf.copy_within(keep..self.filled, 0);
                self.filled -= keep;
                self.pos = self.pos.saturating_sub(keep);
                self.buf_offset += keep as u64;
                shift = keep;
            }
            if self.buf.len() - self.filled < READ_CHUNK {
                let wanted = (self.filled + READ_CHUNK)
                    .max(INITIAL_BUFFER)
                    .next_power_of_two();
                self.buf.resize(wanted, 0);
            }
        }
        let room = &mut self.buf[self.filled..self.filled + READ_CHUNK];
        let n = self.input.read(room).map_err(|e| match e {
            InputError::Io(e) => RecordsError::Io(e),
            InputError::Gzip(e) => RecordsError::Gzip(e.to_string()),
        })?;
        if n == 0 {
            self.end_of_input = true;
        }
        self.filled += n;
        self.decompressed += n as u64;
        if self.decompressed > self.limits.max_decompressed_bytes {
            return Err(RecordsError::TooLarge {
                limit: self.limits.max_decompressed_bytes,
            });
        }
        Ok(shift)
    }

    pub(super) fn offset(&self, at: usize) -> u64 {
        self.buf_offset + at as u64
    }

    pub(super) fn fault(&self, fault: Fault) -> RecordsError {
        self.malformed(fault.position, fault.detail)
    }

    pub(super) fn malformed(&self, at: usize, detail: &str) -> RecordsError {
        RecordsError::Malformed {
            offset: self.offset(at),
            detail: detail.to_string(),
        }
    }

    pub(super) fn truncated(&self, inside: &str) -> RecordsError {
        RecordsError::Malformed {
            offset: self.offset(self.filled),
            detail: format!("unexpected end of input inside {inside}"),
        }
    }
}
