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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::input::{Encoding, Input, InputError};

/// Decompressed bytes per hand-over: small enough that a typical delivery file (well under a MB)
/// spans several, so inflating and splitting overlap from the start; large enough that channel
/// hand-overs stay rare (one per ~50 µs of inflate).
const CHUNK: usize = 64 * 1024;
/// Chunks in flight: decompression runs at most this far ahead.
const DEPTH: usize = 8;
/// Decompressed bytes [`Overlapped`] inflates on the reading thread before it decides
/// whether a thread pays: one chunk, so a large file's pipeline fills as fast as before.
const HEAD: usize = CHUNK;

/// What the worker hands over: decompressed bytes, or the classified failure that stopped it
/// (delivered after the bytes that came before it).
type Delivery = Result<Vec<u8>, InputError>;

/// Whether a second core is there to make a second thread worthwhile.
pub(super) fn background_inflate_pays() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Decompressed bytes of an input whose inflating may continue on a worker thread: the source
/// [`super::RecordReader::open`] gives the splitter when a second core is there.
///
/// Nothing is read until the first read (callers open the reader on an async task and read it
/// in `spawn_blocking`). The first read inflates the first [`HEAD`] decompressed bytes on the
/// reading thread. Most delivery files end within them, and for those a thread, its channels and
/// buffers are pure overhead (measured on 400 files of 50 KB: 0.08 s with a thread each, 0.05 s
/// without); a larger input continues on a kept worker thread from where the head stopped. A
/// thread that cannot be started is reported as a read error of the source.
pub(super) struct Overlapped {
    state: State,
    encoding: Option<Encoding>,
    /// Bytes the worker took from the caller's reader, as of the last chunk it handed over.
    raw_bytes: Arc<AtomicU64>,
}

/// Inflates an input's head on the reading thread and starts its worker if it goes on; given
/// the counter of raw bytes to keep up to date, returns the source and the input's encoding.
type Begin = Box<dyn FnOnce(&Arc<AtomicU64>) -> (Started, Option<Encoding>) + Send>;

enum State {
    /// Nothing read yet: inflates the head and decides, once.
    Unstarted(Option<Begin>),
    Started(Started),
}

enum Started {
    Inflating(BackgroundInflate),
    /// The worker thread could not be started: the error, once.
    Failed(Option<io::Error>),
}

impl Overlapped {
    pub(super) fn new<R: Read + Send + 'static>(input: R) -> Self {
        Overlapped {
            state: State::Unstarted(Some(Box::new(move |raw_bytes: &Arc<AtomicU64>| {
                start(Input::new(input), raw_bytes)
            }))),
            encoding: None,
            raw_bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reads decompressed bytes; `Ok(0)` only at the true end of the input.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        if let State::Unstarted(begin) = &mut self.state {
            let begin = begin.take().expect("an unstarted input is started once");
            let (started, encoding) = begin(&self.raw_bytes);
            self.encoding = encoding;
            self.state = State::Started(started);
        }
        match &mut self.state {
            State::Started(Started::Inflating(inflate)) => inflate.read(buf),
            State::Started(Started::Failed(error)) => {
                Err(InputError::Io(error.take().unwrap_or_else(|| {
                    io::Error::other("inflate thread not started")
                })))
            }
            State::Unstarted(_) => unreachable!("started above"),
        }
    }

    pub(super) fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }

    /// Bytes taken from the caller's reader (compressed bytes for gzip input), as of the
    /// decompressed bytes handed over so far.
    pub(super) fn raw_bytes(&self) -> u64 {
        self.raw_bytes.load(Ordering::Acquire)
    }
}

/// The decompressed bytes of an input: the head inflated on the reading thread, then the chunks
/// a worker thread hands over (if the input went on past the head).
struct BackgroundInflate {
    rx: Receiver<Delivery>,
    /// Read chunks, returned to the producer for reuse.
    spent: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

/// Inflates the head of `input` on this thread, then the rest (if any) on a worker; returns
/// the source of the decompressed bytes and the input's encoding (known once the head is read).
fn start<R: Read + Send + 'static>(
    mut input: Input<R>,
    raw_bytes: &Arc<AtomicU64>,
) -> (Started, Option<Encoding>) {
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
    let encoding = input.encoding();
    raw_bytes.store(input.raw_bytes(), Ordering::Release);
    match outcome {
        Ok(false) => {
            let counter = Arc::clone(raw_bytes);
            let spawned = super::workers::run(Box::new(move |spare| {
                produce(input, tx, reuse, spare, &counter)
            }));
            if let Err(e) = spawned {
                return (Started::Failed(Some(e)), encoding);
            }
        }
        // The whole input is in the head: dropping `tx` ends the stream after it.
        Ok(true) => drop(tx),
        // Delivered after the head's bytes, as the thread would have.
        Err(fault) => {
            let _ = tx.send(Err(fault));
        }
    }
    let inflate = BackgroundInflate {
        rx,
        spent,
        chunk: head,
        pos: 0,
        done: false,
    };
    (Started::Inflating(inflate), encoding)
}

/// Fills `chunk` from `input` (fewer, larger hand-overs); returns the bytes filled and whether
/// the input ended, or the classified failure that stopped it.
fn fill<R: Read>(input: &mut Input<R>, chunk: &mut [u8]) -> (usize, Result<bool, InputError>) {
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
            Err(fault) => return (filled, Err(fault)),
        }
    }
}

/// Inflates `input` into chunks for the reader. `spare`: buffers kept from earlier inputs,
/// drawn on first and given back to at the end (with those the reader returned by then).
fn produce<R: Read>(
    mut input: Input<R>,
    tx: SyncSender<Delivery>,
    reuse: Receiver<Vec<u8>>,
    spare: &mut Vec<Vec<u8>>,
    raw_bytes: &AtomicU64,
) {
    loop {
        let mut chunk = reuse
            .try_recv()
            .ok()
            .or_else(|| spare.pop())
            .unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let (filled, outcome) = fill(&mut input, &mut chunk);
        // Before the hand-over: the channel makes it visible to the reader with the chunk.
        raw_bytes.store(input.raw_bytes(), Ordering::Release);
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

impl BackgroundInflate {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
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
                    return Err(fault);
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
    use crate::records::{ReaderLimits, RecordReader, RecordsError, Source};
    use std::io::{Cursor, Write};

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

    /// A reader that always goes through the worker path, whatever the machine's cores.
    fn overlapped<R: Read + Send + 'static>(input: R) -> RecordReader<R> {
        RecordReader::from_source(
            Source::Overlapped(Overlapped::new(input)),
            ReaderLimits::default(),
        )
    }

    fn records_of<R: Read>(mut reader: RecordReader<R>) -> Result<Vec<String>, RecordsError> {
        let mut out = Vec::new();
        while let Some(rec) = reader.next_record()? {
            out.push(rec.json.to_owned());
        }
        Ok(out)
    }

    fn read_all<R: Read>(r: R) -> Result<Vec<String>, RecordsError> {
        records_of(RecordReader::new(r, ReaderLimits::default()))
    }

    fn open_all(bytes: Vec<u8>) -> Result<Vec<String>, RecordsError> {
        records_of(RecordReader::open(
            Cursor::new(bytes),
            ReaderLimits::default(),
        ))
    }

    #[test]
    fn gives_the_same_records_as_the_direct_reader() {
        let plain = file(5_000); // several chunks
        let gz = gzip(&plain);
        let direct = read_all(&gz[..]).unwrap();
        let background = records_of(overlapped(Cursor::new(gz))).unwrap();
        assert_eq!(direct.len(), 5_000);
        assert_eq!(direct, background);
        let plain_bg = records_of(overlapped(Cursor::new(plain))).unwrap();
        assert_eq!(direct, plain_bg);
    }

    /// Small inputs stay on the caller's thread, large ones continue on a thread after the head:
    /// the records and the error classes must not tell the difference.
    #[test]
    fn open_gives_the_same_records_and_errors_small_or_large() {
        for records in [3, 100, 5_000] {
            let plain = file(records);
            let gz = gzip(&plain);
            let direct = read_all(&gz[..]).unwrap();
            assert_eq!(direct.len(), records);
            assert_eq!(direct, open_all(gz.clone()).unwrap(), "{records} records");
            assert_eq!(
                direct,
                records_of(overlapped(Cursor::new(gz.clone()))).unwrap(),
                "{records} records"
            );
            let mut truncated = gz;
            truncated.truncate(truncated.len() * 2 / 3);
            let err = open_all(truncated.clone()).unwrap_err();
            assert!(matches!(err, RecordsError::Gzip(_)), "{records}: {err:?}");
            let err = records_of(overlapped(Cursor::new(truncated))).unwrap_err();
            assert!(matches!(err, RecordsError::Gzip(_)), "{records}: {err:?}");
        }
        assert!(file(100).len() < HEAD && file(5_000).len() > 2 * HEAD);
    }

    /// The counts and the encoding of an overlapped reader are those of the input, not of the
    /// decompressed bytes the worker hands over.
    #[test]
    fn counts_bytes_and_encoding_on_both_sides() {
        for records in [3, 5_000] {
            let plain = file(records);
            let gz = gzip(&plain);
            for (input, encoding) in [(&gz, Encoding::Gzip), (&plain, Encoding::Plain)] {
                let mut reader = overlapped(Cursor::new(input.clone()));
                assert_eq!((reader.encoding(), reader.input_bytes()), (None, 0));
                while reader.next_record().unwrap().is_some() {}
                assert_eq!(reader.encoding(), Some(encoding), "{records}");
                assert_eq!(reader.input_bytes(), input.len() as u64, "{records}");
                assert_eq!(reader.decompressed_bytes(), plain.len() as u64, "{records}");
            }
        }
    }

    /// Inflate threads are kept and reused between inputs: many inputs one after the other and
    /// more at once than workers are kept must each get their own bytes, none mixed up.
    #[test]
    fn reused_workers_keep_inputs_apart() {
        let files: Vec<Vec<u8>> = (0..12).map(|k| gzip(&file(1_000 + 300 * k))).collect();
        let expected: Vec<Vec<String>> = files.iter().map(|g| read_all(&g[..]).unwrap()).collect();
        for (g, want) in files.iter().zip(&expected) {
            let got = records_of(overlapped(Cursor::new(g.clone()))).unwrap();
            assert_eq!(&got, want);
        }
        std::thread::scope(|scope| {
            for (g, want) in files.iter().zip(&expected) {
                scope.spawn(move || {
                    let got = records_of(overlapped(Cursor::new(g.clone()))).unwrap();
                    assert_eq!(&got, want);
                });
            }
        });
    }

    /// The functions open the reader on an async task and read it in `spawn_blocking`: a read
    /// in the constructor would block the async runtime (and panic in tokio's bridge).
    #[test]
    fn open_reads_nothing_until_read() {
        struct MustNotRead;
        impl Read for MustNotRead {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("read before the first read of the returned reader");
            }
        }
        drop(RecordReader::open(MustNotRead, ReaderLimits::default()));
        drop(overlapped(MustNotRead));
    }

    #[test]
    fn a_truncated_gzip_is_still_a_gzip_error() {
        let mut gz = gzip(&file(2_000));
        gz.truncate(gz.len() / 2);
        let err = records_of(overlapped(Cursor::new(gz))).unwrap_err();
        assert!(matches!(err, RecordsError::Gzip(_)), "{err:?}");
    }

    /// A failing source is a read error, with the source's message, on either path.
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
        let direct = read_all(Broken).unwrap_err();
        assert_eq!(direct.to_string(), "read error: network down");
        for err in [
            records_of(overlapped(Broken)).unwrap_err(),
            records_of(RecordReader::open(Broken, ReaderLimits::default())).unwrap_err(),
        ] {
            assert!(matches!(err, RecordsError::Io(_)), "{err:?}");
            assert_eq!(err.to_string(), direct.to_string());
        }
    }
}
