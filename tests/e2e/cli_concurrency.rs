//! `trailwatch scan` and `verify` with `--concurrency`: the output is the same at any
//! concurrency (files accounted in input order, findings sorted), a different input gives a
//! different output (so the comparison can fail), and a piped stderr gets no progress line.

use std::process::{Command, Output};

use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{Moto, fixture, function_binary, gzip, upload_objects};
use trailwatch_shared::digest::testkit::{VariantCase, iso};

const BUCKET: &str = "trail-bucket";

fn trailwatch(args: &[&str], env: &[(String, String)]) -> Output {
    let out = Command::new(function_binary("trailwatch"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run trailwatch");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Progress is drawn with `\r`; a pipe must never get it.
fn assert_no_progress(out: &Output) {
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains('\r'),
        "progress drawn into a pipe: {stderr:?}"
    );
}

/// The bundled real CloudTrail files under one account's prefix, in moto.
async fn put_fixtures(s3: &aws_sdk_s3::Client) -> Vec<String> {
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(fixture("cloudtrail")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("218007301253_") {
            continue;
        }
        let key = format!("AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/{name}.gz");
        s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(gzip(&std::fs::read(&path).unwrap()).into())
            .send()
            .await
            .unwrap();
        keys.push(key);
    }
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_prints_the_same_alerts_at_any_concurrency() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let keys = put_fixtures(&s3).await;
    assert_eq!(keys.len(), 5, "{keys:?}");
    let env = moto.env();
    let uri = format!("s3://{BUCKET}/AWSLogs/");
    let scan = |concurrency: &str, uri: &str| {
        let out = trailwatch(&["scan", "--concurrency", concurrency, uri], &env);
        assert_no_progress(&out);
        (text(&out.stdout), text(&out.stderr))
    };
    let (sequential, summary) = tokio::task::block_in_place(|| scan("1", &uri));
    assert!(
        summary.contains("scanned 5 file(s)") && sequential.matches("==== alert ").count() > 1,
        "{summary}\n{sequential}"
    );
    for concurrency in ["4", "16"] {
        let (parallel, parallel_summary) = tokio::task::block_in_place(|| scan(concurrency, &uri));
        assert_eq!(parallel, sequential, "--concurrency {concurrency}");
        assert_eq!(parallel_summary, summary, "--concurrency {concurrency}");
    }

    // Negative control: without the attack file the alerts differ.
    s3.delete_object()
        .bucket(BUCKET)
        .key(
            keys.iter()
                .find(|k| k.contains("UljXNp9xLp8nsAGc"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (fewer, _) = tokio::task::block_in_place(|| scan("8", &uri));
    assert_ne!(fewer, sequential);

    // Local files: the same, in name order.
    let folder = fixture("cloudtrail");
    let folder = folder.to_string_lossy();
    let (local_one, _) = tokio::task::block_in_place(|| scan("1", &folder));
    let (local_many, _) = tokio::task::block_in_place(|| scan("8", &folder));
    assert_eq!(local_many, local_one);
    assert!(local_one.contains("==== alert "), "{local_one}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_the_same_at_any_concurrency() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let env = moto.env();
    let report = |case: &VariantCase, concurrency: &str, json: bool| {
        let keys = public_keys_file(case, "us-east-1");
        let request = case.chains[0].default_request();
        let (start, end) = (iso(request.start), iso(request.end));
        let mut args = vec![
            "verify",
            "--bucket",
            &request.bucket,
            "--account-id",
            &request.account,
            "--region",
            &request.region,
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--concurrency",
            concurrency,
        ];
        let keys_path = keys.path().to_string_lossy().into_owned();
        args.extend(["--public-keys", &keys_path]);
        if json {
            args.push("--json");
        }
        let out = trailwatch(&args, &env);
        assert_no_progress(&out);
        text(&out.stdout)
    };
    // The variants share the testkit's default layout: one in the bucket at a time.
    let tampered = variant("log_modified");
    upload_objects(&s3, tampered.objects()).await;
    let sequential = tokio::task::block_in_place(|| report(&tampered, "1", true));
    assert!(sequential.contains("LOG_HASH_MISMATCH"), "{sequential}");
    for concurrency in ["4", "32"] {
        let parallel = tokio::task::block_in_place(|| report(&tampered, concurrency, true));
        assert_eq!(parallel, sequential, "--concurrency {concurrency}");
    }
    let human = tokio::task::block_in_place(|| report(&tampered, "8", false));
    assert!(human.starts_with("Verifying "), "{human}");

    // Negative control: the clean chain (same keys and layout) reports differently.
    let clean = variant("clean");
    upload_objects(&s3, clean.objects()).await;
    let clean_report = tokio::task::block_in_place(|| report(&clean, "8", true));
    assert_ne!(clean_report, sequential);
    assert!(
        !clean_report.contains("LOG_HASH_MISMATCH"),
        "{clean_report}"
    );
}

/// On a terminal (a pseudo-terminal from `script`) the line is drawn; with `--json` it is not.
#[test]
fn scan_draws_progress_on_a_terminal_only_without_json() {
    let script = trailwatch_e2e::require_tool("script", "apt-get install bsdutils");
    let cli = function_binary("trailwatch");
    let folder = fixture("cloudtrail");
    let on_terminal = |extra: &str| {
        let command = format!(
            "{} scan --concurrency 2 {extra} {} > /dev/null",
            cli.display(),
            folder.display()
        );
        let out = Command::new(&script)
            .args(["-qec", &command, "/dev/null"])
            .output()
            .expect("run script");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let drawn = on_terminal("");
    assert!(
        drawn.contains("\r[") && drawn.contains(" files, "),
        "{drawn:?}"
    );
    assert!(drawn.contains("/6 files"), "the total is known: {drawn:?}");
    let json = on_terminal("--json");
    // (The terminal itself turns each "\n" into "\r\n": look for the drawn line.)
    assert!(
        !json.contains("\r[") && !json.contains(" files, "),
        "{json:?}"
    );
    assert!(
        json.contains("scanned 6 file(s)"),
        "the summary still comes: {json:?}"
    );
}
