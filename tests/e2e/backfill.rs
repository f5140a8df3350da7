//! `trailwatch backfill` against moto (S3) and the S3 Batch Operations stand-in
//! (`trailwatch_e2e::batch_ops`): the CreateJob request each command sends, its idempotency
//! token, `status` from the job's counters, `report` from a completion report in the documented
//! format, the forwarder's 14-day refusal; then the schema 2.0 invocations such a job makes,
//! built from its manifest rows, run through the real alerter and digest-verifier binaries.

use std::process::{Command, Output};

use serde_json::{Value, json};
use trailwatch_e2e::alerts::topic_with_queue;
use trailwatch_e2e::batch_ops::RecordedJob;
use trailwatch_e2e::batch_ops::{BatchOps, ManifestSource, parse_create_job};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, events, function_binary, upload_objects};
use trailwatch_shared::digest::testkit::VariantCase;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/trailwatch-BatchOperationsRole";
const REPORTS: &str = "backfill-reports";

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:trailwatch-{name}")
}

struct World {
    moto: Moto,
    ops: BatchOps,
    s3: aws_sdk_s3::Client,
    case: VariantCase,
}

async fn world() -> World {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let case = variant("clean");
    upload_objects(&s3, case.objects()).await;
    s3.create_bucket().bucket(REPORTS).send().await.unwrap();
    World {
        moto,
        ops: BatchOps::start(),
        s3,
        case,
    }
}

fn iso(t: i64) -> String {
    trailwatch_shared::digest::testkit::iso(t)
}

/// Midnight UTC of the day holding `t`.
fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(86_400)
}

impl World {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(function_binary("trailwatch"))
            .envs(self.moto.env())
            .envs(self.ops.env())
            .arg("backfill")
            .args(args)
            .output()
            .expect("run trailwatch")
    }

    /// `backfill start --json` for `function` over `[start, end)` of the chain's account and
    /// region; `extra` appended.
    fn start(&self, function: &str, start: i64, end: i64, extra: &[&str]) -> Output {
        self.start_as(&["start", "--json"], function, start, end, extra)
    }

    /// The same `backfill start` without `--json`: the lines an operator reads.
    fn start_text(&self, function: &str, start: i64, end: i64, extra: &[&str]) -> Output {
        self.start_as(&["start"], function, start, end, extra)
    }

    fn start_as(
        &self,
        command: &[&str],
        function: &str,
        start: i64,
        end: i64,
        extra: &[&str],
    ) -> Output {
        let r = &self.case.runs[0].request;
        let arn = function_arn(function);
        let (s, e) = (iso(start), iso(end));
        let mut args = command.to_vec();
        args.extend_from_slice(&[
            "--function",
            function,
            "--function-arn",
            &arn,
            "--role-arn",
            ROLE,
            "--account",
            ACCOUNT,
            "--bucket",
            &r.bucket,
            "--start-time",
            &s,
            "--end-time",
            &e,
            "--report-bucket",
            REPORTS,
            "--report-prefix",
            "runs",
        ]);
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn day_folder(t: i64) -> String {
    iso(t)[..10].replace('-', "/") + "/"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_day_range_uses_the_generator_and_a_repeat_returns_the_same_job() {
    let w = world().await;
    let r = &w.case.runs[0].request;
    let day = day_start(r.start);
    let (account, region) = (r.account.as_str(), r.region.as_str());
    let out = w.start(
        "digest-verifier",
        day,
        day + 86_400,
        &["--account-id", account, "--region", region],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = json_of(&out);
    let jobs = w.ops.jobs();
    assert_eq!(jobs.len(), 1, "{:?}", w.ops.rejections());
    let job = &jobs[0];
    eprintln!("CreateJob as the stand-in recorded it:\n{}", job.xml);
    assert_eq!(first["jobId"], job.job_id.as_str());
    let req = &job.request;
    assert_eq!(req.account, ACCOUNT);
    assert_eq!(req.function_arn, function_arn("digest-verifier"));
    assert_eq!(req.invocation_schema_version, "2.0");
    assert_eq!(req.role_arn, ROLE);
    assert!(req.confirmation_required, "no --confirm: the job waits");
    assert_eq!(req.report_bucket, format!("arn:aws:s3:::{REPORTS}"));
    assert_eq!(req.report_prefix.as_deref(), Some("runs"));
    assert_eq!(req.report_scope, "AllTasks");
    let token = &req.client_request_token;
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    let user: Value = serde_json::from_str(&req.user_arguments["trailwatchBackfill"]).unwrap();
    assert_eq!(user["function"], "digest-verifier");
    assert_eq!(user["token"], token.as_str());
    // One day is one folder: the generator, the exact prefix, no creation-time trim.
    let expected_prefix = format!(
        "AWSLogs/{account}/CloudTrail-Digest/{region}/{}",
        day_folder(day)
    );
    assert_eq!(
        req.manifest,
        ManifestSource::Generator {
            source_bucket: format!("arn:aws:s3:::{}", r.bucket),
            match_any_prefix: vec![expected_prefix.clone()],
            created_after: None,
            created_before: None,
            enable_manifest_output: true,
            output_bucket: Some(format!("arn:aws:s3:::{REPORTS}")),
            output_prefix: Some("runs/manifests".into()),
        }
    );
    // The prefix holds the chain's digests (what the job would list), and only digests.
    let listed =
        w.s3.list_objects_v2()
            .bucket(&r.bucket)
            .prefix(&expected_prefix)
            .send()
            .await
            .unwrap();
    assert!(
        listed.key_count().unwrap_or(0) > 0,
        "the day's digests are under the prefix"
    );

    // The same command again: the same token, so the same job (not a second one).
    let again = json_of(&w.start(
        "digest-verifier",
        day,
        day + 86_400,
        &["--account-id", account, "--region", region],
    ));
    assert_eq!(again["jobId"], first["jobId"]);
    assert_eq!(again["clientRequestToken"], first["clientRequestToken"]);
    assert_eq!(w.ops.create_requests(), 2);
    assert_eq!(w.ops.jobs().len(), 1);
    // The same again without --json: the lines an operator reads.
    let text_out = w.start_text(
        "digest-verifier",
        day,
        day + 86_400,
        &["--account-id", account, "--region", region],
    );
    let text = String::from_utf8_lossy(&text_out.stdout);
    eprintln!("start screen:\n{text}");
    assert!(
        text.contains(&format!("job {} created", job.job_id)),
        "{text}"
    );
    assert!(
        text.contains(&format!("s3://{}/{expected_prefix}", r.bucket)),
        "{text}"
    );
    assert!(text.contains("waits for confirmation"), "{text}");
    assert_eq!(
        w.ops.jobs().len(),
        1,
        "the same request again: the same job"
    );

    // Another range is another job, with another token.
    let other = json_of(&w.start(
        "digest-verifier",
        day - 86_400,
        day,
        &["--account-id", account, "--region", region],
    ));
    assert_ne!(other["jobId"], first["jobId"]);
    assert_ne!(other["clientRequestToken"], first["clientRequestToken"]);
    assert_eq!(w.ops.jobs().len(), 2);

    // --manifest generator over two days: the common folder, trimmed by creation time to the
    // two days (midnight to midnight).
    let forced = json_of(&w.start(
        "digest-verifier",
        day,
        day + 2 * 86_400,
        &[
            "--account-id",
            account,
            "--region",
            region,
            "--manifest",
            "generator",
        ],
    ));
    let job = w
        .ops
        .jobs()
        .into_iter()
        .find(|j| j.job_id == forced["jobId"])
        .unwrap();
    let ManifestSource::Generator {
        match_any_prefix,
        created_after,
        created_before,
        ..
    } = &job.request.manifest
    else {
        panic!("a generator: {:?}", job.request.manifest);
    };
    let common = format!(
        "AWSLogs/{account}/CloudTrail-Digest/{region}/{}",
        &day_folder(day)[..8]
    );
    assert_eq!(match_any_prefix, &[common]);
    assert_eq!(created_after.as_deref(), Some(iso(day).as_str()));
    assert_eq!(
        created_before.as_deref(),
        Some(iso(day + 2 * 86_400).as_str())
    );
    // Without an account and a region there is no single prefix: refused before any call.
    let calls = w.ops.create_requests();
    let refused = w.start(
        "digest-verifier",
        day,
        day + 86_400,
        &["--manifest", "generator"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--account-id and --region"));
    assert_eq!(w.ops.create_requests(), calls);

    // --confirm: the job runs without waiting.
    let confirmed = json_of(&w.start(
        "digest-verifier",
        day,
        day + 86_400,
        &["--account-id", account, "--region", region, "--confirm"],
    ));
    assert_eq!(confirmed["confirmationRequired"], false);
    let job = w
        .ops
        .jobs()
        .into_iter()
        .find(|j| j.job_id == confirmed["jobId"])
        .unwrap();
    assert!(!job.request.confirmation_required);
}

/// Reads the CSV manifest a listed job names: (bucket, decoded key) rows.
async fn manifest_rows(
    s3: &aws_sdk_s3::Client,
    object_arn: &str,
) -> (Vec<(String, String)>, String) {
    let (bucket, key) = object_arn
        .strip_prefix("arn:aws:s3:::")
        .and_then(|r| r.split_once('/'))
        .expect("object ARN");
    let obj = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let etag = obj.e_tag().unwrap().to_owned();
    let body = obj.body.collect().await.unwrap().into_bytes();
    let rows = String::from_utf8(body.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let (b, k) = l.split_once(',').expect("bucket,key");
            (b.to_owned(), percent_decode(k))
        })
        .collect();
    (rows, etag)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_day_range_is_a_listed_csv_manifest_named_by_etag() {
    let w = world().await;
    let r = &w.case.runs[0].request;
    let day = day_start(r.start);
    // Two days, no account or region: every account and region is listed, day by day.
    let out = w.start("alerter", day - 86_400, day + 86_400, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json_of(&out);
    assert_eq!(doc["manifest"]["kind"], "listing", "{doc}");
    let jobs = w.ops.jobs();
    assert_eq!(jobs.len(), 1, "{:?}", w.ops.rejections());
    let ManifestSource::Csv {
        object_arn,
        etag,
        fields,
    } = &jobs[0].request.manifest
    else {
        panic!("a CSV manifest: {:?}", jobs[0].request.manifest);
    };
    assert_eq!(fields, &["Bucket", "Key"]);
    let (rows, stored_etag) = manifest_rows(&w.s3, object_arn).await;
    assert_eq!(etag, &stored_etag, "the job names the manifest as written");
    // Exactly the log files of the two day folders, nothing of CloudTrail-Digest.
    let root = format!("AWSLogs/{}/CloudTrail/{}/", r.account, r.region);
    let mut expected = keys_under(
        &w.s3,
        &r.bucket,
        &format!("{root}{}", day_folder(day - 86_400)),
    )
    .await;
    expected.extend(keys_under(&w.s3, &r.bucket, &format!("{root}{}", day_folder(day))).await);
    assert!(!expected.is_empty(), "the chain has log files that day");
    let mut got: Vec<String> = rows.iter().map(|(_, k)| k.clone()).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(rows.iter().all(|(b, _)| b == &r.bucket));
    assert_eq!(doc["manifest"]["objects"], expected.len());

    // The same command again: the manifest it wrote is reused, not listed and rewritten (a job
    // reading it by ETag would fail), so the request is the same and so is the job — even after
    // a new object arrived in the range.
    let late = format!("{root}{}{}_late.json.gz", day_folder(day), r.account);
    w.s3.put_object()
        .bucket(&r.bucket)
        .key(&late)
        .body(b"late".to_vec().into())
        .send()
        .await
        .unwrap();
    let again = json_of(&w.start("alerter", day - 86_400, day + 86_400, &[]));
    assert_eq!(again["jobId"], doc["jobId"]);
    assert_eq!(again["manifest"]["etag"], doc["manifest"]["etag"]);
    assert_eq!(w.ops.jobs().len(), 1);
    let (rows_again, etag_again) = manifest_rows(&w.s3, object_arn).await;
    assert_eq!((rows_again.len(), &etag_again), (rows.len(), etag));
    // Negative control: another range lists again and sees the new object.
    let wider = json_of(&w.start("alerter", day - 2 * 86_400, day + 86_400, &[]));
    assert_ne!(wider["jobId"], doc["jobId"]);
    assert_eq!(wider["manifest"]["objects"], expected.len() + 1);

    // A range with no objects starts no job (a job over nothing would fail to read its
    // manifest): a clear error, no CreateJob.
    let empty = w.start("alerter", day + 40 * 86_400, day + 41 * 86_400, &[]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no objects"));
    assert_eq!(w.ops.create_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_report_read_the_job_back() {
    let w = world().await;
    let r = &w.case.runs[0].request;
    let day = day_start(r.start);
    let start = json_of(&w.start(
        "alerter",
        day,
        day + 86_400,
        &["--account-id", &r.account, "--region", &r.region],
    ));
    let job = start["jobId"].as_str().unwrap().to_owned();

    // Before the job has read its manifest: no total yet.
    let s = json_of(&w.run(&["status", &job, "--account", ACCOUNT, "--json"]));
    assert_eq!(s["status"], "Suspended");
    assert!(s["tasks"]["total"].is_null(), "{s}");

    w.ops.set_progress(&job, "Active", 1000, 612, 3, 125);
    let s = json_of(&w.run(&["status", &job, "--account", ACCOUNT, "--json"]));
    assert_eq!(
        s["tasks"],
        json!({"total": 1000, "succeeded": 612, "failed": 3, "remaining": 385})
    );
    assert_eq!(s["elapsedActiveSeconds"], 125);
    assert_eq!(s["report"], format!("s3://{REPORTS}/runs/job-{job}/"));
    let screen = w.run(&["status", &job, "--account", ACCOUNT]);
    let text = String::from_utf8_lossy(&screen.stdout);
    eprintln!("status screen:\n{text}");
    assert!(
        text.contains("612 succeeded, 3 failed, 1000 total (61.5 % done)"),
        "{text}"
    );
    assert!(
        !text.contains('['),
        "no bar when stdout is not a terminal: {text}"
    );
    // On a terminal (a pseudo-terminal from `script`) the bar is drawn: 24 cells succeeded,
    // 1 failed, 15 to do of 40.
    let script = trailwatch_e2e::require_tool("script", "apt-get install bsdutils");
    let command = format!(
        "{} backfill status {job} --account {ACCOUNT}",
        function_binary("trailwatch").display()
    );
    let tty = Command::new(&script)
        .envs(w.moto.env())
        .envs(w.ops.env())
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("run script");
    let screen = String::from_utf8_lossy(&tty.stdout).replace('\r', "");
    eprintln!("status screen on a terminal:\n{screen}");
    let bar = format!("[{}x{}]", "#".repeat(24), ".".repeat(15));
    assert!(screen.contains(&bar), "{screen:?}");
    // Negative control: a job the stand-in does not know.
    let missing = w.run(&["status", "no-such-job", "--account", ACCOUNT]);
    assert_eq!(missing.status.code(), Some(2));

    // The completion report as S3 writes it: manifest.json naming one CSV per task status.
    let base = format!("runs/job-{job}");
    let ok_csv = format!(
        "{b},AWSLogs/a.json.gz,,succeeded,200,,\"records=12 alerts=0\"\n{b},AWSLogs/b.json.gz,,succeeded,200,,\"records=3 alerts=1\"\n",
        b = r.bucket
    );
    let failed_csv = format!(
        "{b},AWSLogs/gone1.json.gz,,failed,200,PermanentFailure,\"object not found: NoSuchKey\"\n\
         {b},AWSLogs/gone2.json.gz,,failed,200,PermanentFailure,\"object not found: NoSuchKey\"\n\
         {b},AWSLogs/slow.json.gz,,failed,200,TemporaryFailure,\"Lambda returned function error: {{\"\"errorMessage\"\":\"\"Task timed out after 60.00 seconds\"\"}}\"\n",
        b = r.bucket
    );
    let manifest = json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-12-07T06:10:00.000Z",
        "Results": [
            {"TaskExecutionStatus": "succeeded", "Bucket": REPORTS, "MD5Checksum": "x", "Key": format!("{base}/results/ok.csv")},
            {"TaskExecutionStatus": "failed", "Bucket": REPORTS, "MD5Checksum": "y", "Key": format!("{base}/results/failed.csv")},
        ],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    for (key, body) in [
        (format!("{base}/manifest.json"), manifest.to_string()),
        (format!("{base}/results/ok.csv"), ok_csv),
        (format!("{base}/results/failed.csv"), failed_csv),
    ] {
        w.s3.put_object()
            .bucket(REPORTS)
            .key(key)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let out = w.run(&["report", &job, "--account", ACCOUNT, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures are reported with exit 1"
    );
    let rep = json_of(&out);
    assert_eq!(
        (
            rep["tasks"].as_u64(),
            rep["succeeded"].as_u64(),
            rep["failed"].as_u64()
        ),
        (Some(5), Some(2), Some(3))
    );
    let causes = rep["failuresByCause"].as_array().unwrap();
    assert_eq!(causes.len(), 2, "{rep}");
    assert_eq!(causes[0]["resultCode"], "PermanentFailure");
    assert_eq!(causes[0]["count"], 2);
    assert_eq!(causes[0]["resultString"], "object not found: NoSuchKey");
    assert_eq!(causes[1]["resultCode"], "TemporaryFailure");
    assert!(
        causes[1]["resultString"]
            .as_str()
            .unwrap()
            .contains("Task timed out")
    );
    let text = w.run(&["report", &job, "--account", ACCOUNT]);
    eprintln!("report screen:\n{}", String::from_utf8_lossy(&text.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_backfill_older_than_the_logs_window_is_refused() {
    let w = world().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = w.start(
        "forwarder",
        now - 20 * 86_400,
        now - 19 * 86_400,
        &["--account-id", ACCOUNT, "--region", "us-east-1"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("14 days") && stderr.contains("--function alerter"),
        "{stderr}"
    );
    assert_eq!(w.ops.create_requests(), 0, "refused before any call");
    // The job runs over whole day folders: a start inside the window whose day began outside
    // it is refused too (which of the two depends on the time of day the test runs at).
    let start = now - (14 * 86_400 - 7 * 3_600);
    let day_outside = now - day_start(start) > 14 * 86_400 - 6 * 3_600;
    let edge = w.start(
        "forwarder",
        start,
        start + 3_600,
        &["--account-id", ACCOUNT, "--region", "us-east-1"],
    );
    assert_eq!(
        edge.status.success(),
        !day_outside,
        "{}",
        String::from_utf8_lossy(&edge.stderr)
    );
    let before = w.ops.jobs().len();
    // Negative control: yesterday is inside the window and starts a job.
    let day = day_start(now) - 86_400;
    let ok = w.start(
        "forwarder",
        day,
        day + 86_400,
        &["--account-id", ACCOUNT, "--region", "us-east-1"],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(w.ops.jobs().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_refuses_what_aws_would_refuse() {
    let w = world().await;
    let r = &w.case.runs[0].request;
    let day = day_start(r.start);
    let _ = w.start(
        "alerter",
        day,
        day + 86_400,
        &["--account-id", &r.account, "--region", &r.region],
    );
    let good = w.ops.jobs()[0].xml.clone();
    assert!(parse_create_job(ACCOUNT, &good).is_ok());
    let prefix_start = good.find("<MatchAnyPrefix>").unwrap() + "<MatchAnyPrefix>".len();
    let broken: Vec<(&str, String)> = vec![
        ("no report", cut(&good, "<Report>", "</Report>")),
        ("no token", cut(&good, "<ClientRequestToken>", "</ClientRequestToken>")),
        ("no role", cut(&good, "<RoleArn>", "</RoleArn>")),
        ("no operation", cut(&good, "<Operation>", "</Operation>")),
        ("no manifest", cut(&good, "<ManifestGenerator>", "</ManifestGenerator>")),
        ("two prefixes", {
            let mut x = good.clone();
            x.insert_str(prefix_start, "<member>AWSLogs/</member>");
            x
        }),
        ("schema 1.0 with user arguments", good.replace("<InvocationSchemaVersion>2.0<", "<InvocationSchemaVersion>1.0<")),
        ("both manifest kinds", good.replace("<ManifestGenerator>", "<Manifest><Spec><Format>S3BatchOperations_CSV_20180820</Format></Spec></Manifest><ManifestGenerator>")),
    ];
    for (what, xml) in broken {
        assert_ne!(xml, good, "{what}: the mutation changed nothing");
        assert!(
            parse_create_job(ACCOUNT, &xml).is_err(),
            "{what} accepted:\n{xml}"
        );
    }
    // Through the CLI: a role ARN that is not one is refused, and the CLI says so (exit 2).
    let out = w.run(&[
        "start",
        "--function",
        "alerter",
        "--function-arn",
        &function_arn("alerter"),
        "--role-arn",
        "not-a-role",
        "--account",
        ACCOUNT,
        "--bucket",
        &r.bucket,
        "--account-id",
        &r.account,
        "--region",
        &r.region,
        "--start-time",
        &iso(day),
        "--end-time",
        &iso(day + 86_400),
        "--report-bucket",
        REPORTS,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InvalidRequest"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cut(xml: &str, open: &str, close: &str) -> String {
    let a = xml.find(open).unwrap_or_else(|| panic!("{open} in {xml}"));
    let b = xml[a..].find(close).unwrap() + a + close.len();
    format!("{}{}", &xml[..a], &xml[b..])
}

/// A well-formed key of the same kind as the first one that S3 does not hold (a file named in a
/// manifest and deleted since).
fn missing_sibling(keys: &[String]) -> String {
    let first = &keys[0];
    let stem = first.strip_suffix(".json.gz").expect("a .json.gz key");
    // A digest name ends in its delivery time (`…T081209Z`): change the seconds' last digit.
    let at = if stem.ends_with('Z') {
        stem.len() - 2
    } else {
        stem.len() - 1
    };
    let c = stem.as_bytes()[at];
    let other = if c.is_ascii_digit() {
        char::from(b'0' + (c - b'0' + 1) % 10)
    } else if c == b'Z' {
        'Y'
    } else {
        'Z'
    };
    let gone = format!("{}{other}{}.json.gz", &stem[..at], &stem[at + 1..]);
    assert!(!keys.contains(&gone));
    gone
}

/// The keys a job would run over: a listed job's CSV rows, or what the generator would list (its
/// one prefix; no creation-time trim is asked for here, which the test checks).
async fn job_keys(s3: &aws_sdk_s3::Client, job: &RecordedJob) -> (String, Vec<String>) {
    match &job.request.manifest {
        ManifestSource::Csv { object_arn, .. } => {
            let (rows, _) = manifest_rows(s3, object_arn).await;
            let bucket = rows[0].0.clone();
            (bucket, rows.into_iter().map(|(_, k)| k).collect())
        }
        ManifestSource::Generator {
            source_bucket,
            match_any_prefix,
            created_after,
            created_before,
            ..
        } => {
            assert!(created_after.is_none() && created_before.is_none());
            let bucket = source_bucket
                .strip_prefix("arn:aws:s3:::")
                .unwrap()
                .to_owned();
            let keys = keys_under(s3, &bucket, &match_any_prefix[0]).await;
            (bucket, keys)
        }
    }
}

/// The schema 2.0 invocations the job makes: its user arguments, `tasks_per_invocation` tasks
/// each (Batch Operations sends one today; the functions take several), keys URL-encoded.
fn invocations(
    job: &RecordedJob,
    bucket: &str,
    keys: &[String],
    tasks_per_invocation: usize,
) -> Vec<Value> {
    keys.chunks(tasks_per_invocation)
        .enumerate()
        .map(|(n, chunk)| {
            let tasks: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, key)| events::batch_task(&format!("t{n}-{i}"), bucket, key))
                .collect();
            json!({
                "invocationSchemaVersion": job.request.invocation_schema_version,
                "invocationId": format!("inv-{n}"),
                "job": {"id": job.job_id, "userArguments": job.request.user_arguments},
                "tasks": tasks,
            })
        })
        .collect()
}

/// Runs every invocation and returns (key, resultCode, resultString) per task.
fn run_tasks(watch: &LambdaWatch, invocations: &[Value]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for inv in invocations {
        let response = watch
            .invoke(inv)
            .expect("a batch invocation is answered, not failed");
        assert_eq!(response["invocationId"], inv["invocationId"], "{response}");
        assert_eq!(response["invocationSchemaVersion"], "2.0", "{response}");
        let results = response["results"].as_array().expect("results");
        let tasks = inv["tasks"].as_array().unwrap();
        assert_eq!(
            results.len(),
            tasks.len(),
            "one result per task: {response}"
        );
        for task in tasks {
            let r = results
                .iter()
                .find(|r| r["taskId"] == task["taskId"])
                .unwrap_or_else(|| panic!("no result for {}: {response}", task["taskId"]));
            out.push((
                task["s3Key"].as_str().unwrap().to_owned(),
                r["resultCode"].as_str().unwrap().to_owned(),
                r["resultString"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_invocations_run_through_the_real_functions() {
    let w = world().await;
    let r = w.case.runs[0].request.clone();
    let day = day_start(r.start);
    let (topic_arn, _queue) = topic_with_queue(&w.moto.sdk_config().await).await;

    // Alerter: a listed job over two days (every account and region).
    let out = w.start("alerter", day - 86_400, day + 86_400, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = w.ops.jobs().pop().unwrap();
    let (bucket, mut keys) = job_keys(&w.s3, &job).await;
    let listed = keys.len();
    assert!(listed > 0);
    // A key the manifest names but S3 no longer holds (deleted after the listing).
    let gone = missing_sibling(&keys);
    keys.push(gone.clone());
    let mut env = w.moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    let watch = LambdaWatch::start("alerter", &env);
    let results = run_tasks(&watch, &invocations(&job, &bucket, &keys, 4));
    drop(watch);
    assert_eq!(results.len(), listed + 1, "every manifest row is a task");
    for (key, code, text) in &results {
        if *key == events::batch_url_encode(&gone) {
            assert_eq!(code, "PermanentFailure", "{key}: {text}");
        } else {
            assert_eq!(code, "Succeeded", "{key}: {text}");
        }
    }

    // Digest verifier: the generator job of the chain's day (the prefix it would list).
    let out = w.start(
        "digest-verifier",
        day,
        day + 86_400,
        &["--account-id", &r.account, "--region", &r.region],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = w.ops.jobs().pop().unwrap();
    let (bucket, mut keys) = job_keys(&w.s3, &job).await;
    let listed = keys.len();
    assert!(
        listed > 0 && keys.iter().all(|k| k.contains("/CloudTrail-Digest/")),
        "{keys:?}"
    );
    let gone = missing_sibling(&keys);
    keys.push(gone.clone());
    let key_file = public_keys_file(&w.case, &r.region);
    let env = w.moto.verifier_env(&topic_arn, &key_file);
    let watch = LambdaWatch::start("digest-verifier", &env);
    let results = run_tasks(&watch, &invocations(&job, &bucket, &keys, 3));
    drop(watch);
    assert_eq!(results.len(), listed + 1);
    for (key, code, text) in &results {
        if *key == events::batch_url_encode(&gone) {
            // A digest the manifest names and S3 lacks is not a failed task but the verifier's
            // finding: verified, FAIL, alerted (the job must not retry evidence away).
            assert_eq!(code, "Succeeded", "{key}: {text}");
            assert!(
                text.contains("FAIL") && text.contains("DIGEST_MISSING"),
                "{key}: {text}"
            );
        } else {
            assert_eq!(code, "Succeeded", "a clean chain's digest: {key}: {text}");
            assert!(text.contains("verdict PASS"), "{key}: {text}");
        }
    }
    eprintln!("digest-verifier task results: {results:#?}");
}
