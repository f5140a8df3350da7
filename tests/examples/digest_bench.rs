//! Benchmark: `trailwatch verify` over a chain of 24 digests x 40 log files of ~1 MB each
//! (uncompressed) served by moto S3. Prints wall time, MB/s (uncompressed and as stored) and the
//! concurrency used.
//!
//! cargo build --release -p trailwatch-cli
//! cargo run --release -p trailwatch-e2e --example digest_bench -- [--digests 24] [--logs 40]
//!     [--log-bytes 1000000] [--concurrency 16,4,1] [--trailwatch target/release/trailwatch]
//!     [--awscli]
//!
//! `--awscli` also times `aws cloudtrail validate-logs` (awscli v1) over the same chain; moto then
//! runs with a `ListPublicKeys` stub (moto does not implement that call).

use std::process::Command;
use std::time::Instant;

use trailwatch_e2e::{Moto, aws_env, s3_client_for, upload_objects};
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
    let with_awscli = std::env::args().any(|a| a == "--awscli");
    let stub_keys = tempfile::NamedTempFile::new()?;
    std::fs::write(
        stub_keys.path(),
        serde_json::Value::Array(entries).to_string(),
    )?;
    let moto = if with_awscli {
        start_moto_with_key_stub(stub_keys.path())?
    } else {
        Server::Harness(Moto::start())
    };
    let s3 = moto.s3().await;
    let t = Instant::now();
    upload_objects(&s3, objects).await;
    println!("uploaded to moto in {:.1} s", t.elapsed().as_secs_f64());

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
    if with_awscli {
        let layout = &chain.layout;
        let t = Instant::now();
        let out = Command::new("aws")
            .envs(moto.env())
            .args(["cloudtrail", "validate-logs", "--region", &layout.region])
            .arg("--trail-arn")
            .arg(format!(
                "arn:aws:cloudtrail:{}:{}:trail/{}",
                layout.home_region, layout.account, layout.trail_name
            ))
            .args([
                "--s3-bucket",
                &layout.bucket,
                "--account-id",
                &layout.account,
            ])
            .args([
                "--start-time",
                &iso(request.start),
                "--end-time",
                &iso(request.end),
            ])
            .output()?;
        let wall = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("files valid") || l.contains("INVALID"))
            .collect();
        println!(
            "aws cloudtrail validate-logs (awscli v1, sequential): rc {:?} {summary:?} in {wall:.2} s = {:.0} MB/s uncompressed, {:.1} MB/s stored",
            out.status.code(),
            uncompressed as f64 / 1e6 / wall,
            stored as f64 / 1e6 / wall
        );
        if !out.status.success() {
            println!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(())
}

/// The local AWS: the harness's moto, or moto with a `ListPublicKeys` stub for awscli.
enum Server {
    Harness(Moto),
    Stub {
        child: std::process::Child,
        port: u16,
        _launcher: tempfile::NamedTempFile,
    },
}

impl Server {
    fn endpoint(&self) -> String {
        match self {
            Server::Harness(m) => m.endpoint(),
            Server::Stub { port, .. } => format!("http://127.0.0.1:{port}"),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        aws_env(&self.endpoint())
    }

    async fn s3(&self) -> aws_sdk_s3::Client {
        s3_client_for(&self.endpoint()).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Stub { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// moto_server with a `ListPublicKeys` stub serving `keys` (a JSON list of PublicKey entries).
fn start_moto_with_key_stub(keys: &std::path::Path) -> anyhow::Result<Server> {
    let launcher = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(
        launcher.path(),
        r#"import json, os, sys
from moto.cloudtrail.responses import CloudTrailResponse
def list_public_keys(self):
    return json.dumps({"PublicKeyList": json.load(open(os.environ["MOTO_CT_KEYS_FILE"]))})
CloudTrailResponse.list_public_keys = list_public_keys
from moto.server import main
sys.exit(main(sys.argv[1:]))
"#,
    )?;
    let moto_server =
        trailwatch_e2e::require_tool("moto_server", "pip install 'moto[server]==5.2.1'");
    let python = moto_server.with_file_name("python3");
    let port = trailwatch_e2e::free_port();
    let child = Command::new(python)
        .arg(launcher.path())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_CT_KEYS_FILE", keys)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let server = Server::Stub {
        child,
        port,
        _launcher: launcher,
    };
    trailwatch_e2e::wait_for_port(port, std::time::Duration::from_secs(30), "moto (stubbed)");
    Ok(server)
}
