//! What exactly-once forwarding costs in state-table writes: runs the forwarder's pipeline over
//! every CloudTrail file under a directory (e.g. one `../shared/bench/make-corpus` wrote) with a
//! counting sink, counting the writes a file makes — one claim, one checkpoint per acknowledged
//! batch, one completion — and prints writes per MB forwarded.
//!
//! Files are `*.json.gz` or plain `*.json` (the record reader takes both). make-corpus tiles real
//! records with their original (old) dates, which PutLogEvents' 14-day window would refuse, so
//! re-date them to the key's day first:
//!
//! ```text
//! ../shared/bench/make-corpus /tmp/fwd-corpus --files 24 --mb-per-file 4 --big-mb 50
//! mkdir -p /tmp/fwd-plain && cd /tmp/fwd-corpus && for f in $(find . -name '*.json.gz'); do
//!   n=$(basename $f .gz); d=$(echo $n | cut -d_ -f4 | cut -c1-8)
//!   zcat $f | sed -E "s/\"eventTime\":\"[0-9-]{10}T/\"eventTime\":\"${d:0:4}-${d:4:2}-${d:6:2}T/g" \
//!     > /tmp/fwd-plain/$n; done
//! cargo run -p forwarder --example checkpoint_cost -- /tmp/fwd-plain
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use forwarder::pipeline::{FileJob, Resume, forward_records};
use forwarder::sink::CountingSink;
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::records::{ReaderLimits, RecordReader};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.to_string_lossy().ends_with(".json.gz")
            || path.to_string_lossy().ends_with(".json")
        {
            out.push(path);
        }
    }
}

#[tokio::main]
async fn main() {
    let dir = std::env::args().nth(1).expect("usage: checkpoint_cost DIR");
    let mut paths = Vec::new();
    files(Path::new(&dir), &mut paths);
    paths.sort();
    let (mut claims, mut checkpoints, mut completions) = (0u64, 0u64, 0u64);
    let (mut decompressed, mut forwarded_bytes, mut records, mut forwarded) = (0, 0, 0, 0);
    println!("file\tMB\tbatches\tcheckpoints\twrites\twrites/MB");
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy();
        let name = if name.ends_with(".json") {
            format!("{name}.gz")
        } else {
            name.into_owned()
        };
        // "Now" is the end of the key's day: records dated that day (make-corpus keeps the real
        // records' old dates; re-date them to the key's day first, see the README) are all
        // within PutLogEvents' window.
        let day = name
            .split('_')
            .nth(3)
            .map(|t| &t[..8])
            .unwrap_or("00000000");
        let key = format!(
            "AWSLogs/123456789012/CloudTrail/us-east-1/{}/{}/{}/{name}",
            &day[..4],
            &day[4..6],
            &day[6..]
        );
        let now_ms = match classify(&key) {
            ObjectKind::LogFile(f) => (f.location.time - f.location.time % 86_400 + 86_400) * 1000,
            other => panic!("{name} is not a CloudTrail log file: {other:?}"),
        };
        let sink = Arc::new(CountingSink::default());
        let written = AtomicU64::new(0);
        let resume = Resume {
            records_done: 0,
            stop_sending_at_ms: None,
            checkpoint: |_done: u64| {
                written.fetch_add(1, Ordering::Relaxed);
                std::future::ready(Ok(()))
            },
        };
        let job = FileJob {
            stream: "s".into(),
            keep: |_: &str| true,
            fallback_time_ms: now_ms,
            now_ms,
        };
        let reader = RecordReader::open(
            std::fs::File::open(path).expect("open"),
            ReaderLimits::default(),
        );
        let (counts, result) = forward_records(sink, reader, job, resume).await;
        result.expect("forwarded");
        assert!(counts.reconciles() && counts.rejected == 0, "{counts:?}");
        let file_checkpoints = written.load(Ordering::Relaxed);
        let file_writes = 1 + file_checkpoints + 1;
        let mb = counts.bytes_forwarded as f64 / 1e6;
        println!(
            "{name}\t{mb:.1}\t{}\t{file_checkpoints}\t{file_writes}\t{:.2}",
            counts.batches,
            file_writes as f64 / mb
        );
        claims += 1;
        completions += 1;
        checkpoints += file_checkpoints;
        decompressed += counts.decompressed_bytes;
        forwarded_bytes += counts.bytes_forwarded;
        records += counts.records_in;
        forwarded += counts.forwarded;
    }
    let writes = claims + checkpoints + completions;
    let mb = forwarded_bytes as f64 / 1e6;
    println!(
        "\n{} files, {records} records ({forwarded} forwarded), {:.1} MB decompressed, {mb:.1} MB forwarded",
        paths.len(),
        decompressed as f64 / 1e6
    );
    println!(
        "state writes: {claims} claims + {checkpoints} checkpoints + {completions} completions = {writes}"
    );
    println!(
        "writes per MB forwarded: {:.3} (checkpoints alone: {:.3}); per file: {:.1}",
        writes as f64 / mb,
        checkpoints as f64 / mb,
        writes as f64 / paths.len() as f64
    );
}
