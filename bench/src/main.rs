//! trailwatch benchmark: the cost of each hot path next to plain decompression of the same bytes,
//! in one run, over a corpus made by `../shared/bench/make-corpus` (see `bench/run.sh`).
//!
//! usage: trailwatch-bench CORPUS_DIR [--repeat N]
//!        trailwatch-bench --peak-rss MODE FILE   (child mode: stream FILE, print peak RSS)
//!
//! Rows are timed on compressed bytes held in memory (so disk speed does not blur the ratios);
//! peak RSS is measured in a child process that streams the 200 MB file from disk.
#![forbid(unsafe_code)]

mod corpus;
mod paths;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use corpus::Corpus;
use paths::{Outcome, Path as BenchPath};
use trailwatch_shared::rules::CompiledRules;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, mode, file] if flag == "--peak-rss" => peak_rss_child(mode, Path::new(file)),
        [dir] => run(Path::new(dir), 3),
        [dir, flag, n] if flag == "--repeat" => run(Path::new(dir), n.parse()?),
        _ => bail!("usage: trailwatch-bench CORPUS_DIR [--repeat N] | --peak-rss MODE FILE"),
    }
}

fn run(dir: &Path, repeat: usize) -> Result<()> {
    let sets = corpus::load(dir)?;
    let rules = paths::security_hub_rules()?;
    println!("{}", machine_line());
    println!(
        "flate2 backend: {}; best of {repeat} passes of >= {} MB each; MB = 10^6 bytes of \
         uncompressed JSON; CPU = user+system time of all threads",
        paths::BACKEND,
        PASS_BYTES / 1_000_000
    );
    for set in &sets {
        println!();
        println!(
            "## {} — {} file(s), {:.1} MB uncompressed, {:.1} MB gzip, {} records",
            set.name,
            set.files.len(),
            set.uncompressed_bytes as f64 / 1e6,
            set.compressed_bytes() as f64 / 1e6,
            set.records
        );
        println!(
            "| path | MB/s | records/s | vs decompression | CPU MB/s | vs decompression (CPU) | check |"
        );
        println!("|---|---:|---:|---:|---:|---:|---|");
        // Passes are interleaved (every row once, then every row again, …): when the shared
        // machine slows down for a while, all rows see it, not just the ones measured then.
        let mut bests: Vec<Option<Best>> = BenchPath::ALL.iter().map(|_| None).collect();
        for _ in 0..repeat.max(1) {
            for (path, best) in BenchPath::ALL.into_iter().zip(&mut bests) {
                let pass = timed_pass(set, path, &rules)?;
                *best = Some(match best.take() {
                    None => pass,
                    Some(b) => Best {
                        wall: b.wall.min(pass.wall),
                        cpu: b.cpu.min(pass.cpu),
                        outcome: b.outcome,
                    },
                });
            }
        }
        let mut base = None;
        for (path, best) in BenchPath::ALL.into_iter().zip(bests) {
            let best = best.expect("at least one pass");
            let (wall, cpu) = (best.wall.as_secs_f64(), best.cpu.as_secs_f64());
            let (base_wall, base_cpu) = *base.get_or_insert((wall, cpu));
            let mb = set.uncompressed_bytes as f64 / 1e6;
            println!(
                "| {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {} |",
                path.label(),
                mb / wall,
                set.records as f64 / wall,
                base_wall / wall,
                mb / cpu,
                base_cpu / cpu,
                best.outcome.check(set)
            );
        }
    }
    if let Some(big) = sets.iter().find(|s| s.name.starts_with("big")) {
        println!();
        println!(
            "## peak RSS, streaming {} from disk (child process, VmHWM)",
            big.files[0].path.display()
        );
        println!("| mode | peak RSS MB | records |");
        println!("|---|---:|---:|");
        for mode in ["decompress", "reader", "alerter", "forwarder"] {
            let (rss_kb, records) = run_child(mode, &big.files[0].path)?;
            println!("| {mode} | {:.1} | {records} |", rss_kb as f64 / 1024.0);
        }
    }
    Ok(())
}

/// Uncompressed bytes one timed pass covers at least.
const PASS_BYTES: u64 = 400_000_000;

struct Best {
    /// Wall-clock time (of the fastest pass, once the best is kept).
    wall: Duration,
    /// Least CPU time (all threads of the process) over the passes.
    cpu: Duration,
    outcome: Outcome,
}

/// One timed pass. The machine may be shared: the caller keeps the minimum over passes (the
/// least disturbed one); CPU time is not inflated by waiting for a core.
///
/// A pass goes over the set as many times as it takes to cover [`PASS_BYTES`], so that the CPU
/// clock's 10 ms ticks stay small next to it; the times returned are per round over the set.
fn timed_pass(set: &Corpus, path: BenchPath, rules: &CompiledRules) -> Result<Best> {
    let rounds = PASS_BYTES.div_ceil(set.uncompressed_bytes.max(1)).max(1) as u32;
    let cpu_start = process_cpu_time()?;
    let start = Instant::now();
    let mut outcome = path.run(set, rules)?;
    for _ in 1..rounds {
        outcome = path.run(set, rules)?;
    }
    let wall = start.elapsed() / rounds;
    let cpu = process_cpu_time()?.saturating_sub(cpu_start) / rounds;
    Ok(Best { wall, cpu, outcome })
}

/// User + system CPU time of this process, threads that already exited included
/// (`/proc/self/stat`, in clock ticks of 1/100 s: the runs are long enough for that).
fn process_cpu_time() -> Result<Duration> {
    const TICKS_PER_SECOND: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_name = stat
        .rsplit_once(')')
        .context("malformed /proc/self/stat")?
        .1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15
    let ticks: u64 = fields
        .get(11..13)
        .context("short /proc/self/stat")?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

fn run_child(mode: &str, file: &PathBuf) -> Result<(u64, u64)> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["--peak-rss", mode])
        .arg(file)
        .output()?;
    if !out.status.success() {
        bail!(
            "child {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout)?;
    let field = |name: &str| -> Result<u64> {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .with_context(|| format!("child output lacks {name}: {text}"))?
            .parse()
            .map_err(Into::into)
    };
    Ok((field("vmhwm_kb=")?, field("records=")?))
}

/// Child mode: stream one file from disk through one path, then report the peak RSS.
fn peak_rss_child(mode: &str, file: &Path) -> Result<()> {
    let records = paths::stream_file(mode, file)?;
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .to_string();
    println!("records={records} vmhwm_kb={hwm}");
    Ok(())
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    format!("machine: {cpu}, {cores} cores available, load average {load}")
}
