//! Benchmark: `trailwatch verify` over a chain of 24 digests x 40 log files of ~1 MB each
//! (uncompressed) served by moto S3. Prints wall time, MB/s (uncompressed and as stored) and the
//! concurrency used.
//!
//! cargo build --release -p trailwatch-cli
//! cargo run --release -p trailwatch-e2e --example digest_bench -- [--digests 24] [--logs 40]
//!     [--log-bytes 1000000] [--concurrency 16,4,1] [--trailwatch target/release/trailwatch]

use std::process::Command;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt, stream};
use trailwatch_e2e::Moto;
use trailwatch_shared::digest::testkit::{ChainOptions, TestChain, TestKey, TrailLayout, iso};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let digests: usize = arg("--digests", "24").parse()?;
    let logs: usize = arg("--logs", "40").parse()?;
    let log_bytes: usize = arg("--log-bytes", "1000000").parse()?;
    let concurrencies: Vec<u16> = arg("--concurrency", "16,4,1")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let exe = std::env::current_exe()?;
    let default_bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("trailwatch"))
        .unwrap_or_default();
    let trailwatch = arg("--trailwatch", &default_bin.to_string_lossy());
    anyhow::ensure!(
        std::path::Path::new(&trailwatch).is_file(),
        "{trailwatch} not found: cargo build --release -p trailwatch-cli"
    );

    let t = Instant::now();
    let options = ChainOptions {
        logs_per_digest: vec![logs; digests],
        log_bytes,
        ..ChainOptions::default()
    };
    let chain = TestChain::build(TrailLayout::default(), TestKey::generate(), &options);
    let objects = chain.objects();
    let uncompressed: usize = chain.logs.iter().map(|l| l.content.len()).sum::<usize>()
        + chain.digests.iter().map(|d| d.content.len()).sum::<usize>();
    let stored: usize = objects.iter().map(|o| o.bytes.len()).sum();
    println!(
        "generated {digests} digests x {logs} logs: {} objects, {:.1} MB uncompressed, {:.1} MB stored ({:.1} s)",
        objects.len(),
        uncompressed as f64 / 1e6,
        stored as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket()
        .bucket(&chain.layout.bucket)
        .send()
        .await?;
    let t = Instant::now();
    stream::iter(objects)
        .map(|o| {
            let s3 = s3.clone();
            async move {
                s3.put_object()
                    .bucket(&o.bucket)
                    .key(&o.key)
                    .set_metadata(Some(o.metadata))
                    .body(o.bytes.into())
                    .send()
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    println!("uploaded to moto in {:.1} s", t.elapsed().as_secs_f64());

    let keys = tempfile::NamedTempFile::new()?;
    let entries: Vec<_> = chain
        .keys
        .iter()
        .map(|k| k.list_public_keys_entry(1_770_000_000, 1_790_000_000))
        .collect();
    std::fs::write(
        keys.path(),
        serde_json::json!({ "PublicKeyList": entries }).to_string(),
    )?;
    let request = chain.default_request();
    for concurrency in concurrencies {
        let t = Instant::now();
        let out = Command::new(&trailwatch)
            .envs(moto.env())
            .args([
                "verify",
                "--json",
                "--bucket",
                &request.bucket,
                "--account-id",
                &request.account,
            ])
            .args([
                "--region",
                &request.region,
                "--start-time",
                &iso(request.start),
                "--end-time",
                &iso(request.end),
            ])
            .arg("--public-keys")
            .arg(keys.path())
            .args(["--concurrency", &concurrency.to_string()])
            .output()?;
        let wall = t.elapsed().as_secs_f64();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| anyhow::anyhow!("{e}: {}", String::from_utf8_lossy(&out.stderr)))?;
        println!(
            "trailwatch verify --concurrency {concurrency:>2}: {} ({} digests, {} logs) in {wall:.2} s = {:.0} MB/s uncompressed, {:.1} MB/s stored",
            report["verdict"],
            report["digests_checked"],
            report["logs_checked"],
            uncompressed as f64 / 1e6 / wall,
            stored as f64 / 1e6 / wall
        );
    }
    Ok(())
}
