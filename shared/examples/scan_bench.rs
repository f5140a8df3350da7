//! Throughput of the alerter's per-file work against decompression + split alone, same run.
//!
//! ```text
//! python3 ../shared/bench/make-corpus /tmp/corpus --files 8 --mb-per-file 8
//! cargo run --release -p trailwatch-shared --example scan_bench -- /tmp/corpus [security-hub]
//! ```
//! Reads every `*.json.gz` under the folder into memory first (no disk in the timing), then for
//! each pass: (1) gunzip + split with `RecordReader` only; (2) the same plus `CompiledRules::evaluate`
//! on every record; (3) `scan_log_file` (gunzip + split + every rule on every record + counting and
//! sampling for alerts) + `plan_alerts` (building every alert message).

use std::path::Path;
use std::time::Instant;

use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::{plan_alerts, scan_log_file};
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::config::{RuleSetSelection, load_rules};

fn collect(dir: &Path, out: &mut Vec<Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read corpus dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.to_string_lossy().ends_with(".json.gz") {
            out.push(std::fs::read(&p).expect("read file"));
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: scan_bench CORPUS_DIR [RULE_SETS]");
    let sets = args.next().unwrap_or_else(|| "security-hub".into());
    let rules =
        load_rules(&RuleSetSelection::parse(&sets).expect("rule sets"), &[]).expect("rules");
    let mut files = Vec::new();
    collect(Path::new(&dir), &mut files);
    assert!(!files.is_empty(), "no .json.gz files under {dir}");
    let file = FileContext {
        bucket: "bench".into(),
        key: "k".into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };

    for pass in 1..=3 {
        let t = Instant::now();
        let (mut records, mut bytes) = (0u64, 0u64);
        for f in &files {
            let mut r = RecordReader::new(&f[..], ReaderLimits::default());
            while let Some(_rec) = r.next_record().expect("valid corpus") {
                records += 1;
            }
            bytes += r.decompressed_bytes();
        }
        let base = t.elapsed().as_secs_f64();

        // The rule engine alone on the same records (what sampling and alert building add is
        // the difference to the next measurement).
        let t = Instant::now();
        let mut matched = Vec::new();
        let mut engine_matches = 0u64;
        for f in &files {
            let mut r = RecordReader::new(&f[..], ReaderLimits::default());
            while let Some(rec) = r.next_record().expect("valid corpus") {
                matched.clear();
                rules.compiled.evaluate(rec.json, &mut matched);
                engine_matches += matched.len() as u64;
            }
        }
        let engine = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let (mut matches, mut alerts) = (0u64, 0usize);
        for f in &files {
            let scan = scan_log_file(
                RecordReader::new(&f[..], ReaderLimits::default()),
                &rules,
                10,
            );
            assert!(scan.read_error.is_none());
            matches += scan.total_matches();
            alerts += plan_alerts(&scan, &rules, &file).len();
        }
        let full = t.elapsed().as_secs_f64();
        let mb = bytes as f64 / 1e6;
        assert_eq!(engine_matches, matches);
        println!(
            "pass {pass}: {} files, {records} records, {mb:.1} MB decompressed | gunzip+split {:.0} MB/s {:.0} rec/s | \
             +rules {:.0} MB/s | alerter scan ({} rules) {:.0} MB/s {:.0} rec/s, {matches} matches, {alerts} alerts | ratio {:.2}",
            files.len(),
            mb / base,
            records as f64 / base,
            mb / engine,
            rules.rules().len(),
            mb / full,
            records as f64 / full,
            base / full
        );
    }
}
