//! End-to-end test harness: a real local AWS stand-in (`moto_server`) on a free loopback port,
//! SDK clients pointed at it, and the real function binaries run under `cargo lambda watch`'s
//! Lambda runtime API emulator and invoked with `cargo lambda invoke`.
//!
//! Every process started here listens on 127.0.0.1 only and is killed (by PID) when its guard
//! drops, also when a test fails.

pub mod alerts;
pub mod batch_ops;
pub mod chains;
pub mod events;
pub mod faults;
pub mod iam;
mod lambda;
mod moto;
pub mod template;
pub mod time;

pub use lambda::{LambdaWatch, function_binary};
pub use moto::{
    Moto, STATE_TABLE, SentNotification, aws_env, create_state_table, create_versioned_bucket,
    put_object, s3_client_for, sdk_config_for, upload_objects,
};

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A fixture under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(rel)
}

/// Gzips `data` the way CloudTrail delivers files.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("in-memory gzip");
    enc.finish().expect("in-memory gzip")
}

/// The records of a CloudTrail log file's text, each byte for byte as the file has it (what
/// the forwarder must send, unchanged).
pub fn raw_records(text: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct File<'a> {
        #[serde(borrow, rename = "Records")]
        records: Vec<&'a serde_json::value::RawValue>,
    }
    let parsed: File = serde_json::from_str(text).expect("a CloudTrail log file");
    parsed.records.iter().map(|r| r.get().to_owned()).collect()
}

/// Finds an executable on PATH, or fails the test with how to install it (never a silent skip).
pub fn require_tool(name: &str, install_hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not on PATH; install it with: {install_hint} (the README's test command does this)"
    );
}

/// A free TCP port on 127.0.0.1 (bound then released; the race is acceptable for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16, timeout: std::time::Duration, what: &str) {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within {timeout:?}");
}

/// `cargo metadata` of the workspace, resolved offline (`tests/run-tests` fetches every package
/// first): the boundary and permission tests read the dependency graph and the SDK crates'
/// sources from it.
pub fn cargo_metadata() -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Every event of a CloudWatch Logs stream, oldest first, as (timestamp ms, message): what the
/// forwarder delivered. Pages until the forward token stops moving.
pub async fn read_log_stream(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
) -> anyhow::Result<Vec<(i64, String)>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await?;
        let events = page.events();
        out.extend(events.iter().map(|e| {
            (
                e.timestamp().unwrap_or_default(),
                e.message().unwrap_or_default().to_owned(),
            )
        }));
        let next = page.next_forward_token().map(str::to_owned);
        if events.is_empty() || next == token {
            return Ok(out);
        }
        token = next;
    }
}
