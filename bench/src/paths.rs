//! The measured paths. Each runs over every file of a set and says what it saw, so a row whose
//! work silently shrank (records lost, events rejected) shows up in the table's check column.

use std::io::{BufRead, BufReader, Read};
use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::{Result, bail};
use aws_lc_rs::digest;
use flate2::bufread::MultiGzDecoder;
use forwarder::pipeline::{FileJob, forward_file};
use forwarder::sink::CountingSink;
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::{CompiledRules, builtin_set};

use crate::corpus::{Corpus, NOW_MS};

/// The same chunk size the record reader asks the decoder for.
const CHUNK: usize = 64 * 1024;

pub(crate) const BACKEND: &str = "zlib-rs (flate2 features `zlib-rs`, `runtime_detection`)";

#[derive(Debug, Clone, Copy)]
pub(crate) enum Path {
    Decompress,
    Records,
    Forwarder,
    ForwarderOverlapped,
    Alerter,
    AlerterOverlapped,
    Digest,
}

/// What one pass over a set saw.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub bytes: u64,
    pub records: u64,
    /// Events handed to the sink (forwarder path).
    pub forwarded: Option<u64>,
    /// Rule matches (alerter path).
    pub matches: Option<u64>,
}

impl Outcome {
    /// "ok" when the pass saw the whole set; otherwise what differs.
    pub(crate) fn check(&self, set: &Corpus) -> String {
        let mut problems = Vec::new();
        if self.bytes != set.uncompressed_bytes {
            problems.push(format!(
                "bytes {} != {}",
                self.bytes, set.uncompressed_bytes
            ));
        }
        if self.records != 0 && self.records != set.records {
            problems.push(format!("records {} != {}", self.records, set.records));
        }
        if let Some(forwarded) = self.forwarded
            && forwarded != set.records
        {
            problems.push(format!("forwarded {forwarded} != {}", set.records));
        }
        let matches = self
            .matches
            .map(|m| format!(" ({m} rule matches)"))
            .unwrap_or_default();
        if problems.is_empty() {
            format!("ok{matches}")
        } else {
            problems.join("; ")
        }
    }
}

impl Path {
    pub(crate) const ALL: [Path; 7] = [
        Path::Decompress,
        Path::Records,
        Path::Forwarder,
        Path::ForwarderOverlapped,
        Path::Alerter,
        Path::AlerterOverlapped,
        Path::Digest,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Path::Decompress => "decompression alone (gunzip to a sink)",
            Path::Records => "records split (RecordReader)",
            Path::Forwarder => "forwarder path (forward_file -> CountingSink)",
            Path::ForwarderOverlapped => "forwarder path, inflate on a 2nd thread (as deployed)",
            Path::Alerter => "alerter path (security-hub rules)",
            Path::AlerterOverlapped => "alerter path, inflate on a 2nd thread (as deployed)",
            Path::Digest => "digest hashing (gunzip + SHA-256)",
        }
    }

    /// One pass over every file of the set.
    pub(crate) fn run(self, set: &Corpus, rules: &CompiledRules) -> Result<Outcome> {
        let mut total = Outcome::default();
        match self {
            Path::Forwarder => return forwarder_pass(set, false),
            Path::ForwarderOverlapped => return forwarder_pass(set, true),
            _ => {}
        }
        let mut matches = 0;
        for file in &set.files {
            let one = match self {
                Path::Decompress => decompress(&file.gzip[..])?,
                Path::Records => split(&file.gzip[..])?,
                Path::Alerter => alert(
                    RecordReader::new(&file.gzip[..], ReaderLimits::default()),
                    rules,
                )?,
                Path::AlerterOverlapped => alert(
                    RecordReader::open(
                        std::io::Cursor::new(file.gzip.clone()),
                        ReaderLimits::default(),
                    ),
                    rules,
                )?,
                Path::Digest => hash(&file.gzip[..])?,
                Path::Forwarder | Path::ForwarderOverlapped => unreachable!("handled above"),
            };
            total.bytes += one.bytes;
            total.records += one.records;
            matches += one.matches.unwrap_or(0);
        }
        if let Path::Alerter | Path::AlerterOverlapped = self {
            total.matches = Some(matches);
        }
        Ok(total)
    }
}

fn decompress(gzip: &[u8]) -> Result<Outcome> {
    let mut decoder = MultiGzDecoder::new(gzip);
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0;
    loop {
        match decoder.read(&mut buf)? {
            0 => break,
            n => bytes += n as u64,
        }
    }
    Ok(Outcome {
        bytes,
        ..Outcome::default()
    })
}

fn split<R: Read>(input: R) -> Result<Outcome> {
    let mut reader = RecordReader::new(input, ReaderLimits::default());
    let mut records = 0;
    let mut check = 0usize;
    while let Some(record) = reader.next_record()? {
        records += 1;
        // touch the result so nothing is optimised away
        check = check.wrapping_add(record.json.len()) ^ record.event_time_ms.unwrap_or(0) as usize;
    }
    std::hint::black_box(check);
    Ok(Outcome {
        bytes: reader.decompressed_bytes(),
        records,
        ..Outcome::default()
    })
}

/// The alerter's per-record work: every record through the compiled rule set.
pub(crate) fn security_hub_rules() -> Result<CompiledRules> {
    let defs = builtin_set("security-hub")?;
    Ok(CompiledRules::compile(defs)?)
}

fn alert<R: Read>(mut reader: RecordReader<R>, rules: &CompiledRules) -> Result<Outcome> {
    let mut matched = Vec::new();
    let (mut records, mut matches) = (0, 0);
    while let Some(record) = reader.next_record()? {
        records += 1;
        rules.evaluate(record.json, &mut matched);
        matches += matched.len() as u64;
    }
    Ok(Outcome {
        bytes: reader.decompressed_bytes(),
        records,
        matches: Some(matches),
        ..Outcome::default()
    })
}

fn hash(gzip: &[u8]) -> Result<Outcome> {
    let mut decoder = MultiGzDecoder::new(gzip);
    let mut context = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0;
    loop {
        match decoder.read(&mut buf)? {
            0 => break,
            n => {
                context.update(&buf[..n]);
                bytes += n as u64;
            }
        }
    }
    std::hint::black_box(context.finish());
    Ok(Outcome {
        bytes,
        ..Outcome::default()
    })
}

/// The forwarder's own pipeline (reader thread + batcher, async sender) with a counting sink,
/// on a runtime shaped like the Lambda one (multi-thread, 2 workers); `overlapped`: opened with
/// `RecordReader::open` like the handler does (as deployed), else inflated on the reading thread.
fn forwarder_pass(set: &Corpus, overlapped: bool) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sink = Arc::new(CountingSink::default());
    let mut total = Outcome::default();
    for file in &set.files {
        let input = std::io::Cursor::new(file.gzip.clone());
        let reader = if overlapped {
            RecordReader::open(input, ReaderLimits::default())
        } else {
            RecordReader::new(input, ReaderLimits::default())
        };
        let counts = runtime.block_on(forward_file(sink.clone(), reader, job()))?;
        total.bytes += counts.decompressed_bytes;
        total.records += counts.records_in;
    }
    total.forwarded = Some(sink.events.load(Relaxed));
    Ok(total)
}

fn job() -> FileJob<fn(&str) -> bool> {
    FileJob {
        stream: "bench".into(),
        keep: |_| true,
        fallback_time_ms: NOW_MS,
        now_ms: NOW_MS,
    }
}

/// Child mode for peak RSS: stream one file from disk through `mode`; returns records seen.
pub(crate) fn stream_file(mode: &str, file: &FsPath) -> Result<u64> {
    let open = || std::fs::File::open(file);
    Ok(match mode {
        "decompress" => {
            let out = decompress_read(BufReader::with_capacity(CHUNK, open()?))?;
            std::hint::black_box(out.bytes);
            0
        }
        "reader" => split(open()?)?.records,
        "alerter" => {
            alert(
                RecordReader::new(open()?, ReaderLimits::default()),
                &security_hub_rules()?,
            )?
            .records
        }
        "forwarder" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let sink = Arc::new(CountingSink::default());
            let reader = RecordReader::new(open()?, ReaderLimits::default());
            let counts = runtime.block_on(forward_file(sink.clone(), reader, job()))?;
            if sink.events.load(Relaxed) != counts.records_in {
                bail!(
                    "forwarded {} of {} records",
                    sink.events.load(Relaxed),
                    counts.records_in
                );
            }
            counts.records_in
        }
        other => bail!("unknown mode {other} (decompress, reader, alerter, forwarder)"),
    })
}

fn decompress_read<R: BufRead>(input: R) -> Result<Outcome> {
    let mut decoder = MultiGzDecoder::new(input);
    let mut buf = vec![0u8; CHUNK];
    let mut bytes = 0;
    while let n @ 1.. = decoder.read(&mut buf)? {
        bytes += n as u64;
    }
    Ok(Outcome {
        bytes,
        ..Outcome::default()
    })
}
