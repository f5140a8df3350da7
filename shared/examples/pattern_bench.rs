//! Micro-benchmark: the 14 Security Hub rules on one CloudTrail record, next to parsing that
//! record into a `serde_json::Value` (what a naive evaluator does before looking at any rule).
//!
//! ```text
//! cargo run --release -p trailwatch-shared --example pattern_bench [FILE_OR_DIR…]
//! ```
//! Inputs are uncompressed CloudTrail files (`{"Records":[…]}`) or JSON arrays of records;
//! default: the copy of the invictus-ir dataset in `shared/tests/data/cloudtrail/`.
//! Single-threaded; numbers are the best of 5 runs over all records.
//!
//! With `--pipeline DIR` it instead runs, over the `.gz` files under DIR (e.g. the output of
//! `../shared/bench/make-corpus`), gunzip alone, gunzip + split (`RecordReader`) and gunzip +
//! split + the 14 Security Hub rules, in the same run.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use trailwatch_shared::pattern::FilterPattern;
use trailwatch_shared::rules::{CompiledRules, builtin_set};

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if args.first().is_some_and(|a| a.as_os_str() == "--pipeline") {
        pipeline(args.get(1).expect("--pipeline DIR"));
        return;
    }
    let inputs = if args.is_empty() {
        vec![PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/cloudtrail/invictus-ir-aws-dataset/CloudTrail"
        ))]
    } else {
        args
    };
    let mut records = Vec::new();
    for input in &inputs {
        collect(input, &mut records);
    }
    let bytes: usize = records.iter().map(String::len).sum();
    println!(
        "{} records, {:.1} MB, mean {} bytes/record",
        records.len(),
        bytes as f64 / 1e6,
        bytes / records.len().max(1)
    );

    let set = builtin_set("security-hub").expect("built-in set");
    let rules = CompiledRules::compile(set.clone()).expect("compiles");
    let patterns: Vec<FilterPattern> = set
        .iter()
        .map(|r| FilterPattern::parse(&r.pattern).unwrap())
        .collect();

    if let Some(passes) = std::env::var_os("PATTERN_BENCH_PROFILE") {
        // Only the rule-set evaluation, for `perf record` or `valgrind --tool=callgrind`
        // (PATTERN_BENCH_PROFILE=N passes, default 200).
        let passes: usize = passes.to_str().and_then(|p| p.parse().ok()).unwrap_or(200);
        let mut matched = Vec::new();
        let mut n = 0;
        for _ in 0..passes {
            for r in &records {
                rules.evaluate(r, &mut matched);
                n += matched.len();
            }
        }
        println!("{n}");
        return;
    }
    let report = |name: &str, d: Duration, matches: usize| {
        let s = d.as_secs_f64();
        println!(
            "{name:<48} {:>8.0} ns/record {:>9.0} records/s {:>8.1} MB/s   ({matches} matches)",
            s * 1e9 / records.len() as f64,
            records.len() as f64 / s,
            bytes as f64 / 1e6 / s
        );
    };

    let (d, n) = best_of(5, || {
        records
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(r).is_ok() as usize)
            .sum()
    });
    report("serde_json::from_str::<Value>", d, n);
    let (d, n) = best_of(5, || {
        records
            .iter()
            .map(|r| serde_json::from_str::<serde::de::IgnoredAny>(r).is_ok() as usize)
            .sum()
    });
    report("serde_json validate only (IgnoredAny)", d, n);
    let mut matched = Vec::new();
    let (d, n) = best_of(5, || {
        records
            .iter()
            .map(|r| {
                rules.evaluate(r, &mut matched);
                matched.len()
            })
            .sum()
    });
    report("CompiledRules::evaluate (14 Security Hub rules)", d, n);
    let (d, n) = best_of(5, || {
        records
            .iter()
            .map(|r| patterns.iter().filter(|p| p.matches(r)).count())
            .sum()
    });
    report("14 x FilterPattern::matches (separate scans)", d, n);
    let skip = FilterPattern::parse("{ $.zzz = 1 }").unwrap();
    let (d, n) = best_of(5, || records.iter().filter(|r| skip.matches(r)).count());
    report("JSON pattern on an absent key (scan cost)", d, n);
    let one = FilterPattern::parse("AccessDenied").unwrap();
    let (d, n) = best_of(5, || records.iter().filter(|r| one.matches(r)).count());
    report("unstructured term 'AccessDenied'", d, n);
}

fn best_of(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut out = 0;
    for _ in 0..runs {
        let t = Instant::now();
        out = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn collect(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read dir")
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
        return;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "Records")]
        records: Vec<Box<RawValue>>,
    }
    let raw: Vec<Box<RawValue>> = match serde_json::from_str::<File>(&text) {
        Ok(f) => f.records,
        Err(_) => serde_json::from_str(&text).unwrap_or_default(),
    };
    out.extend(raw.into_iter().map(|r| r.get().to_owned()));
}

/// gunzip, split and evaluate over in-memory `.gz` files (disk reads excluded).
fn pipeline(dir: &Path) {
    use std::io::Read;
    use trailwatch_shared::records::{ReaderLimits, RecordReader};

    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(
                std::fs::read_dir(&p)
                    .expect("read dir")
                    .map(|e| e.unwrap().path()),
            );
        } else if p.extension().is_some_and(|e| e == "gz") {
            paths.push(p);
        }
    }
    paths.sort();
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let rules = CompiledRules::compile(builtin_set("security-hub").unwrap()).unwrap();
    let mut out_bytes = 0u64;
    let (d_gunzip, _) = best_of(3, || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        for f in &files {
            let mut dec = flate2::read::MultiGzDecoder::new(&f[..]);
            loop {
                let n = dec.read(&mut buf).expect("gunzip");
                if n == 0 {
                    break;
                }
                total += n;
            }
        }
        out_bytes = total as u64;
        total
    });
    let (d_split, n_records) = best_of(3, || {
        let mut n = 0;
        for f in &files {
            let mut r = RecordReader::new(&f[..], ReaderLimits::default());
            while let Some(rec) = r.next_record().expect("records") {
                black_box(rec.json);
                n += 1;
            }
        }
        n
    });
    let mut matched = Vec::new();
    let (d_rules, n_matches) = best_of(3, || {
        let mut n = 0;
        for f in &files {
            let mut r = RecordReader::new(&f[..], ReaderLimits::default());
            while let Some(rec) = r.next_record().expect("records") {
                rules.evaluate(rec.json, &mut matched);
                n += matched.len();
            }
        }
        n
    });
    let mb = out_bytes as f64 / 1e6;
    println!(
        "{} files, {n_records} records, {mb:.1} MB uncompressed",
        files.len()
    );
    for (name, d) in [
        ("gunzip alone", d_gunzip),
        ("gunzip + split", d_split),
        ("gunzip + split + 14 rules", d_rules),
    ] {
        let s = d.as_secs_f64();
        println!(
            "{name:<28} {:>8.1} MB/s {:>10.0} records/s   {:.2}x of gunzip alone",
            mb / s,
            n_records as f64 / s,
            d_gunzip.as_secs_f64() / s
        );
    }
    println!("({n_matches} rule matches)");
}
