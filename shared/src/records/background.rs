//! Decompression on a second thread, so that inflating the next chunk overlaps splitting and
//! evaluating the current one: gunzip is the largest single cost of reading a log file, and once
//! a second vCPU is there (Lambda gives more than one above 1,769 MB) the whole pipeline takes
//! about as long as gunzip alone instead of gunzip plus evaluation.
//!
//! The producer thread runs the same [`Input`] as the reader (magic-byte detection, concatenated
//! members, error classification) and hands over decompressed chunks through a bounded channel:
//! memory stays at a few chunks, and a consumer that stops early ends the thread. Chunks go back
//! to the producer once read: a fresh 256 KiB buffer per chunk is an `mmap`, a zeroing and 64
//! page faults, which cost the inflate thread a fifth of its time.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::input::{Input, InputError};

/// Decompressed bytes per hand-over: small enough that a typical delivery file (well under a MB)
/// spans several, so inflating and splitting overlap from the start; large enough that channel
/// hand-overs stay rare (one per ~50 µs of inflate).
const CHUNK: usize = 64 * 1024;
/// Chunks in flight: decompression runs at most this far ahead.
const DEPTH: usize = 8;
/// Decompressed bytes [`overlap_inflate`] inflates on the reading thread before it decides
/// whether a thread pays: one chunk, so a large file's pipeline fills as fast as before.
const HEAD: usize = CHUNK;

/// A failure of the producer, carried through `io::Error` so the reader can classify it.
#[derive(Debug)]
pub(super) struct BackgroundFault {
    /// The gzip stream was corrupt (as opposed to the source failing).
    pub gzip: bool,
    pub error: io::Error,
}

impl std::fmt::Display for BackgroundFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for BackgroundFault {}

/// The decompressed bytes of an input: the head inflated on the reading thread, then the chunks
/// a worker thread hands over (if the input went on past the head).
struct BackgroundInflate {
    rx: Receiver<Result<Vec<u8>, BackgroundFault>>,
    /// Read chunks, returned to the producer for reuse.
    spent: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

/// Whether a second core is there to make a second thread worthwhile.
fn background_inflate_pays() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// `input` inflated on a second thread when a second core is there and the input is large
/// enough for it to pay, else on the reading thread: hand the result to
/// [`super::RecordReader::new`] either way.
///
/// Nothing is read here (callers build it on an async task and read it in `spawn_blocking`).
/// The first read inflates the first [`HEAD`] decompressed bytes on the reading thread. Most
/// delivery files end within them, and for those a thread, its channels and buffers are pure
/// overhead (measured on 400 files of 50 KB: 0.08 s with a thread each, 0.05 s without); a
/// larger input continues on a thread from where the head stopped. A thread that cannot be
/// started is reported as a read error.
pub fn overlap_inflate<R: Read + Send + 'static>(input: R) -> Box<dyn Read + Send> {
    if !background_inflate_pays() {
        return Box::new(input);
    }
    Box::new(Overlapped::new(input))
}

enum Overlapped<R> {
    Unstarted(Option<R>),
    Started(Box<dyn Read + Send>),
}

impl<R> Overlapped<R> {
    fn new(input: R) -> Self {
        Overlapped::Unstarted(Some(input))
    }
}

impl<R: Read + Send + 'static> Read for Overlapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Overlapped::Unstarted(input) = self {
            let input = input.take().expect("an unstarted input is present");
            *self = Overlapped::Started(start(Input::new(input)));
        }
        match self {
            Overlapped::Started(reader) => reader.read(buf),
            Overlapped::Unstarted(_) => unreachable!("started above"),
        }
    }
}

/// Inflates the head of `input` on this thread, then the rest (if any) on a new one.
fn start<R: Read + Send + 'static>(mut input: Input<R>) -> Box<dyn Read + Send> {
    let (tx, rx) = sync_channel(DEPTH);
    let (spent, reuse) = sync_channel(DEPTH + 2);
    // Grown a chunk at a time: zeroing a whole head for a 50 KB file costs more than its records.
    let mut head = Vec::new();
    let outcome = loop {
        let start = head.len();
        head.resize(start + CHUNK, 0);
        let (filled, outcome) = fill(&mut input, &mut head[start..]);
        head.truncate(start + filled);
        match outcome {
            Ok(false) if head.len() < HEAD => continue,
            other => break other,
        }
    };
    match outcome {
        Ok(false) => {
            let spawned =
                super::workers::run(Box::new(move |spare| produce(input, tx, reuse, spare)));
            if let Err(e) = spawned {
                return Box::new(FailedStart(Some(e)));
            }
        }
        // The whole input is in the head: dropping `tx` ends the stream after it.
        Ok(true) => drop(tx),
        // Delivered after the head's bytes, as the thread would have.
        Err(fault) => {
            let _ = tx.send(Err(fault));
        }
    }
    Box::new(BackgroundInflate {
        rx,
        spent,
        chunk: head,
        pos: 0,
        done: false,
    })
}

/// The thread could not be started: report it as a read error.
struct FailedStart(Option<io::Error>);

impl Read for FailedStart {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("inflate thread not started")))
    }
}

/// Fills `chunk` from `input` (fewer, larger hand-overs); returns the bytes filled and whether
/// the input ended, or the fault that stopped it.
fn fill<R: Read>(input: &mut Input<R>, chunk: &mut [u8]) -> (usize, Result<bool, BackgroundFault>) {
    let mut filled = 0;
    loop {
        match input.read(&mut chunk[filled..]) {
            Ok(0) => return (filled, Ok(true)),
            Ok(n) => {
                filled += n;
                if filled == chunk.len() {
                    return (filled, Ok(false));
                }
            }
            Err(InputError::Gzip(error)) => {
                return (filled, Err(BackgroundFault { gzip: true, error }));
            }
            Err(InputError::Io(error)) => {
                return (filled, Err(BackgroundFault { gzip: false, error }));
            }
        }
    }
}

/// Inflates `input` into chunks for the reader. `spare`: buffers kept from earlier inputs,
/// drawn on first and given back to at the end (with those the reader returned by then).
fn produce<R: Read>(
    mut input: Input<R>,
    tx: SyncSender<Result<Vec<u8>, BackgroundFault>>,
    reuse: Receiver<Vec<u8>>,
    spare: &mut Vec<Vec<u8>>,
) {
    loop {
        let mut chunk = reuse
            .try_recv()
            .ok()
            .or_else(|| spare.pop())
            .unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let (filled, outcome) = fill(&mut input, &mut chunk);
        let ended = match outcome {
            Ok(false) => false,
            Ok(true) => true,
            Err(fault) => {
                if filled > 0 {
                    chunk.truncate(filled);
                    let _ = tx.send(Ok(chunk));
                }
                let _ = tx.send(Err(fault));
                break;
            }
        };
        if filled > 0 {
            chunk.truncate(filled);
            if tx.send(Ok(chunk)).is_err() {
                break; // the reader is gone
            }
        } else {
            spare.push(chunk);
        }
        if ended {
            break; // dropping tx is the end of input
        }
    }
    drop(tx);
    // Keep what came back (at most a job's worth) for the next input.
    spare.extend(reuse.try_iter().take(DEPTH + 2));
    spare.truncate(DEPTH + 2);
}

impl Read for BackgroundInflate {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.chunk, chunk);
                    if spent.capacity() > 0 {
                        // Full only if the producer is gone; then the chunk is just dropped.
                        let _ = self.spent.try_send(spent);
                    }
                    self.pos = 0;
                }
                Ok(Err(fault)) => {
                    self.done = true;
                    return Err(io::Error::other(fault));
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ReaderLimits, RecordReader, RecordsError};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn file(records: usize) -> Vec<u8> {
        let body: Vec<String> = (0..records)
            .map(|i| {
                format!(
                    r#"{{"eventTime":"2024-01-01T00:00:00Z","eventName":"E{i}","pad":"{}"}}"#,
                    "x".repeat(i % 500)
                )
            })
            .collect();
        format!(r#"{{"Records":[{}]}}"#, body.join(",")).into_bytes()
    }

    fn read_all<R: Read>(r: R) -> Result<Vec<String>, RecordsError> {
        let mut reader = RecordReader::new(r, ReaderLimits::default());
        let mut out = Vec::new();
        while let Some(rec) = reader.next_record()? {
            out.push(rec.json.to_owned());
        }
        Ok(out)
    }

    #[test]
    fn gives_the_same_records_as_the_direct_reader() {
        let plain = file(5_000); // several chunks
        let gz = gzip(&plain);
        let direct = read_all(&gz[..]).unwrap();
        let background = read_all(Overlapped::new(std::io::Cursor::new(gz))).unwrap();
        assert_eq!(direct.len(), 5_000);
        assert_eq!(direct, background);
        let plain_bg = read_all(Overlapped::new(std::io::Cursor::new(plain))).unwrap();
        assert_eq!(direct, plain_bg);
    }

    /// Small inputs stay on the caller's thread, large ones continue on a thread after the head:
    /// the records and the error classes must not tell the difference.
    #[test]
    fn overlap_inflate_gives_the_same_records_and_errors_small_or_large() {
        for records in [3, 100, 5_000] {
            let plain = file(records);
            let gz = gzip(&plain);
            let direct = read_all(&gz[..]).unwrap();
            let overlapped = read_all(overlap_inflate(std::io::Cursor::new(gz.clone()))).unwrap();
            assert_eq!(direct.len(), records);
            assert_eq!(direct, overlapped, "{records} records");
            let mut truncated = gz;
            truncated.truncate(truncated.len() * 2 / 3);
            let err = read_all(overlap_inflate(std::io::Cursor::new(truncated))).unwrap_err();
            assert!(matches!(err, RecordsError::Gzip(_)), "{records}: {err:?}");
        }
        assert!(file(100).len() < HEAD && file(5_000).len() > 2 * HEAD);
    }

    /// Inflate threads are kept and reused between inputs: many inputs one after the other and
    /// more at once than workers are kept must each get their own bytes, none mixed up.
    #[test]
    fn reused_workers_keep_inputs_apart() {
        let files: Vec<Vec<u8>> = (0..12).map(|k| gzip(&file(1_000 + 300 * k))).collect();
        let expected: Vec<Vec<String>> = files.iter().map(|g| read_all(&g[..]).unwrap()).collect();
        for (g, want) in files.iter().zip(&expected) {
            let got = read_all(overlap_inflate(std::io::Cursor::new(g.clone()))).unwrap();
            assert_eq!(&got, want);
        }
        std::thread::scope(|scope| {
            for (g, want) in files.iter().zip(&expected) {
                scope.spawn(move || {
                    let got = read_all(overlap_inflate(std::io::Cursor::new(g.clone()))).unwrap();
                    assert_eq!(&got, want);
                });
            }
        });
    }

    /// The functions build the reader on an async task and read it in `spawn_blocking`: a read
    /// in the constructor would block the async runtime (and panic in tokio's bridge).
    #[test]
    fn overlap_inflate_reads_nothing_until_read() {
        struct MustNotRead;
        impl Read for MustNotRead {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("read before the first read of the returned reader");
            }
        }
        drop(overlap_inflate(MustNotRead));
    }

    #[test]
    fn a_truncated_gzip_is_still_a_gzip_error() {
        let mut gz = gzip(&file(2_000));
        gz.truncate(gz.len() / 2);
        let err = read_all(Overlapped::new(std::io::Cursor::new(gz))).unwrap_err();
        assert!(matches!(err, RecordsError::Gzip(_)), "{err:?}");
    }

    #[test]
    fn a_failing_source_is_an_io_error() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "network down",
                ))
            }
        }
        let err = read_all(Overlapped::new(Broken)).unwrap_err();
        assert!(matches!(err, RecordsError::Io(_)), "{err:?}");
        let err = read_all(overlap_inflate(Broken)).unwrap_err();
        assert!(matches!(err, RecordsError::Io(_)), "{err:?}");
    }
}
