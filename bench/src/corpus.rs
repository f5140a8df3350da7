//! The corpus as the benchmark uses it: the 24 delivery files and the big file, in memory.
//!
//! make-corpus tiles real records from 2017–2024; a real delivery file holds a few minutes of
//! events, and the forwarder rejects events older than 14 days. So that every path does its full
//! work, the benchmark uses a copy in which each top-level-looking `"eventTime":"YYYY-MM-DD` date is
//! replaced by `2026-11-22` (same length; the time of day is kept), gzipped again at level 6 like
//! make-corpus does. The copy is cached beside the corpus (`.bench-dated/`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;

/// The date every record is moved to, and a "now" at which none is too old or in the future.
pub(crate) const DATED_DAY: &[u8; 10] = b"2026-11-22";
pub(crate) const NOW_MS: i64 = 1_795_392_000_000 + 3_600_000; // 2026-11-23T01:00:00Z

pub(crate) struct File {
    pub path: PathBuf,
    pub gzip: std::sync::Arc<[u8]>,
}

pub(crate) struct Corpus {
    pub name: String,
    pub files: Vec<File>,
    pub uncompressed_bytes: u64,
    pub records: u64,
}

impl Corpus {
    pub(crate) fn compressed_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.gzip.len() as u64).sum()
    }
}

pub(crate) fn load(dir: &Path) -> Result<Vec<Corpus>> {
    let mut delivery = Vec::new();
    let mut big = Vec::new();
    collect(dir, &mut delivery, &mut big)?;
    delivery.sort();
    big.sort();
    if delivery.is_empty() {
        bail!(
            "no *.json.gz under {} (build it with ../shared/bench/make-corpus)",
            dir.display()
        );
    }
    let mut sets = vec![set(
        dir,
        format!("{} x delivery files", delivery.len()),
        &delivery,
    )?];
    if !big.is_empty() {
        sets.push(set(dir, "big file".into(), &big)?);
    }
    Ok(sets)
}

fn collect(dir: &Path, delivery: &mut Vec<PathBuf>, big: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        } else if path.is_dir() {
            collect(&path, delivery, big)?;
        } else if name.ends_with(".json.gz") {
            if path.components().any(|c| c.as_os_str() == "big") {
                big.push(path);
            } else {
                delivery.push(path);
            }
        }
    }
    Ok(())
}

fn set(root: &Path, name: String, paths: &[PathBuf]) -> Result<Corpus> {
    let mut files = Vec::new();
    let (mut uncompressed_bytes, mut records) = (0, 0);
    for path in paths {
        let dated = dated_copy(root, path)?;
        let gzip: std::sync::Arc<[u8]> = std::fs::read(&dated)?.into();
        let mut reader =
            trailwatch_shared::records::RecordReader::new(&gzip[..], Default::default());
        while reader.next_record()?.is_some() {
            records += 1;
        }
        uncompressed_bytes += reader.decompressed_bytes();
        files.push(File { path: dated, gzip });
    }
    Ok(Corpus {
        name,
        files,
        uncompressed_bytes,
        records,
    })
}

/// The dated copy of one corpus file (made once, then reused).
fn dated_copy(root: &Path, path: &Path) -> Result<PathBuf> {
    let relative = path.strip_prefix(root)?;
    let out = root.join(".bench-dated").join(relative);
    if out.exists() && out.metadata()?.modified()? >= path.metadata()?.modified()? {
        return Ok(out);
    }
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path)?).read_to_end(&mut text)?;
    redate(&mut text);
    std::fs::create_dir_all(out.parent().expect("a file has a parent"))?;
    let partial = out.with_extension("partial");
    let mut encoder = GzEncoder::new(std::fs::File::create(&partial)?, Compression::new(6));
    encoder.write_all(&text)?;
    encoder.finish()?.sync_all()?;
    std::fs::rename(&partial, &out)?;
    Ok(out)
}

fn redate(text: &mut [u8]) {
    const KEY: &[u8] = b"\"eventTime\":\"";
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&text[from..], KEY) {
        let date = from + at + KEY.len();
        let looks_like_date = text.get(date..date + 10).is_some_and(|d| {
            d.iter().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
        });
        if looks_like_date {
            text[date..date + 10].copy_from_slice(DATED_DAY);
        }
        from = date;
    }
}
