//! The byte source under the record splitter: gzip (detected by its magic bytes, concatenated
//! members accepted) or plain JSON, with errors of the underlying reader kept apart from errors of
//! the gzip stream so that a network failure is not reported as a corrupt file (or vice versa).

use std::io::{self, BufReader, Chain, Cursor, Read};

use flate2::bufread::MultiGzDecoder;

/// Compressed input is read in chunks of this size; S3 bodies deliver data in ~16–64 KiB pieces.
const COMPRESSED_BUFFER: usize = 64 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How a log file was encoded, known after the first bytes were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The input started with the gzip magic bytes `1f 8b` (how CloudTrail delivers log files); all
    /// concatenated members are read.
    Gzip,
    /// Uncompressed JSON (a file someone decompressed, or a hand-made test file).
    Plain,
}

/// The caller's reader, with a note of whether it failed and how many bytes it gave.
pub(super) struct Tracked<R> {
    inner: R,
    failed: bool,
    bytes: u64,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

type Peeked<R> = Chain<Cursor<Vec<u8>>, Tracked<R>>;

pub(super) enum Input<R> {
    /// Nothing read yet: the encoding is decided on the first read.
    Undetected(Option<Tracked<R>>),
    Gzip(Box<MultiGzDecoder<BufReader<Peeked<R>>>>),
    Plain(Peeked<R>),
}

/// A read failure, classified: what [`Input`] and the inflate worker of `background.rs` report,
/// and what `RecordReader` turns into [`super::RecordsError::Io`] or
/// [`super::RecordsError::Gzip`].
#[derive(Debug)]
pub(super) enum InputError {
    /// The caller's reader failed.
    Io(io::Error),
    /// The gzip stream is corrupt or truncated.
    Gzip(io::Error),
}

impl<R: Read> Input<R> {
    pub(super) fn new(inner: R) -> Self {
        Input::Undetected(Some(Tracked {
            inner,
            failed: false,
            bytes: 0,
        }))
    }

    pub(super) fn encoding(&self) -> Option<Encoding> {
        match self {
            Input::Undetected(_) => None,
            Input::Gzip(_) => Some(Encoding::Gzip),
            Input::Plain(_) => Some(Encoding::Plain),
        }
    }

    /// Bytes taken from the caller's reader (compressed bytes for gzip input).
    pub(super) fn raw_bytes(&self) -> u64 {
        match self {
            Input::Undetected(t) => t.as_ref().map_or(0, |t| t.bytes),
            Input::Gzip(d) => d.get_ref().get_ref().get_ref().1.bytes,
            Input::Plain(c) => c.get_ref().1.bytes,
        }
    }

    /// Reads decompressed bytes; `Ok(0)` only at the true end of the input.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        loop {
            let result = match self {
                Input::Undetected(tracked) => {
                    let tracked = tracked.take().expect("detection runs once");
                    *self = detect(tracked).map_err(InputError::Io)?;
                    continue;
                }
                Input::Gzip(decoder) => decoder.read(buf),
                Input::Plain(plain) => plain.read(buf),
            };
            match result {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.classify(e)),
            }
        }
    }

    fn classify(&self, e: io::Error) -> InputError {
        match self {
            Input::Gzip(d) if !d.get_ref().get_ref().get_ref().1.failed => InputError::Gzip(e),
            _ => InputError::Io(e),
        }
    }
}

/// Reads up to two bytes to look for the gzip magic, then chains them back in front.
fn detect<R: Read>(mut tracked: Tracked<R>) -> io::Result<Input<R>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match tracked.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let peeked = Cursor::new(head[..got].to_vec()).chain(tracked);
    Ok(if head[..got] == GZIP_MAGIC {
        let buffered = BufReader::with_capacity(COMPRESSED_BUFFER, peeked);
        Input::Gzip(Box::new(MultiGzDecoder::new(buffered)))
    } else {
        Input::Plain(peeked)
    })
}
