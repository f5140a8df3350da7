//! Digest verification end to end against moto: generated chains (fresh RSA keys, signatures in
//! object metadata) uploaded to moto S3, verified by the function's handler, by the real
//! `digest-verifier` binary under `cargo lambda watch`/`invoke`, and by `trailwatch verify --json`.
//! Alerts are read back from an SQS queue subscribed to the SNS topic.

use std::process::Command;

use digest_verifier::{DigestVerifier, VerifierConfig};
use serde_json::Value;
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{
    LambdaWatch, Moto, create_versioned_bucket, events, function_binary, upload_objects,
};
use trailwatch_lambda_common::key_source::KeySource;
use trailwatch_lambda_common::s3_store::S3DigestStore;
use trailwatch_lambda_common::sns::SnsPublisher;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::MemoryStateStore;
use trailwatch_shared::digest::testkit::{VariantCase, all_variants};

/// Every SNS envelope delivered to the queue so far.
async fn drain(moto: &Moto, queue_url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    drain_envelopes(&sqs, queue_url).await
}

fn attribute(envelope: &Value, name: &str) -> String {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_alerts_once_per_failing_digest_and_never_on_clean_ones() {
    let moto = Moto::start();
    let (topic_arn, queue_url) = topic_with_queue(&moto.sdk_config().await).await;
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;

    // log_modified: digest #1 lists a log whose content changed; the other five are clean.
    let case = variant("log_modified");
    upload_objects(&s3, case.objects()).await;
    let keys = public_keys_file(&case, "us-east-1");
    let verifier = DigestVerifier {
        config: VerifierConfig {
            topic_arn: topic_arn.clone(),
            alert_on_warn: false,
            max_concurrency: 8,
            public_keys_file: None,
            overwrite_check: true,
        },
        store: S3DigestStore::new(s3.clone()),
        keys: KeySource::from_file(&keys.path().to_string_lossy()).unwrap(),
        alerts: SnsPublisher::new(aws_sdk_sns::Client::new(&cfg), topic_arn),
        ledger: AlertLedger::new(MemoryStateStore::new(), 86_400),
    };
    let digests = case.stored_digests();
    let keys_only: Vec<&str> = digests.iter().map(|(_, k)| k.as_str()).collect();
    let bucket = &digests[0].0;
    let response = verifier
        .handle(events::s3_put(bucket, &keys_only))
        .await
        .unwrap();
    assert_eq!(response["status"], "ok", "{response}");

    let alerts = drain(&moto, &queue_url).await;
    assert_eq!(
        alerts.len(),
        1,
        "one alert for the one failing digest: {alerts:#?}"
    );
    let alert = &alerts[0];
    assert_eq!(
        alert["Subject"],
        "[CRITICAL] CloudTrail tampering suspected: 1 finding, 123456789012 us-east-1"
    );
    assert_eq!(attribute(alert, "rule_id"), "LOG_HASH_MISMATCH");
    assert_eq!(attribute(alert, "severity"), "CRITICAL");
    assert_eq!(attribute(alert, "account"), "123456789012");
    assert_eq!(attribute(alert, "region"), "us-east-1");
    let message = alert["Message"].as_str().unwrap();
    assert!(
        message.contains(&digests[1].1),
        "the alert names the failing digest: {message}"
    );

    // The same clean chain: silence.
    moto_reset(&moto).await;
    let (topic_arn, queue_url) = topic_with_queue(&moto.sdk_config().await).await;
    let clean = variant("clean");
    upload_objects(&s3, clean.objects()).await;
    let keys = public_keys_file(&clean, "us-east-1");
    let verifier = DigestVerifier {
        keys: KeySource::from_file(&keys.path().to_string_lossy()).unwrap(),
        alerts: SnsPublisher::new(aws_sdk_sns::Client::new(&cfg), topic_arn),
        ..verifier
    };
    let digests = clean.stored_digests();
    let keys_only: Vec<&str> = digests.iter().map(|(_, k)| k.as_str()).collect();
    verifier
        .handle(events::s3_put(&digests[0].0, &keys_only))
        .await
        .unwrap();
    assert!(
        drain(&moto, &queue_url).await.is_empty(),
        "a clean chain raises no alert"
    );
}

/// `POST /moto-api/reset`: a fresh, empty moto between variants.
async fn moto_reset(moto: &Moto) {
    use std::io::{Read, Write};
    let addr = moto.endpoint().trim_start_matches("http://").to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect to moto");
    write!(conn, "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "moto reset failed: {response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_under_cargo_lambda_alerts_on_a_broken_chain_only() {
    let moto = Moto::start();
    let (topic_arn, queue_url) = topic_with_queue(&moto.sdk_config().await).await;
    let s3 = moto.s3().await;
    // digest_deleted_middle: #3 is gone, so #4's link points to nothing; #5 is clean.
    let case = variant("digest_deleted_middle");
    upload_objects(&s3, case.objects()).await;
    let keys = public_keys_file(&case, "us-east-1");
    let mut env = moto.verifier_env(&topic_arn, &keys);
    env.push(("MAX_CONCURRENCY".into(), "4".into()));
    let watch = LambdaWatch::start("digest-verifier", &env);
    let chain = &case.chains[0];
    let (clean, broken) = (&chain.digests[5], &chain.digests[4]);

    watch.invoke_ok(
        &events::eventbridge_object_created(&clean.bucket, &clean.key),
        "invoke clean",
    );
    assert!(
        drain(&moto, &queue_url).await.is_empty(),
        "no alert for a clean digest"
    );

    watch.invoke_ok(
        &events::eventbridge_object_created(&broken.bucket, &broken.key),
        "invoke broken",
    );
    let alerts = drain(&moto, &queue_url).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(attribute(&alerts[0], "rule_id"), "DIGEST_MISSING");
    assert!(
        alerts[0]["Message"]
            .as_str()
            .unwrap()
            .contains(&chain.digests[3].key)
    );

    // A digest in a bucket that does not exist is an infrastructure error: the invocation
    // fails (Lambda retries) and nothing is reported as missing.
    let err = watch
        .invoke(&events::eventbridge_object_created(
            "no-such-bucket",
            &clean.key,
        ))
        .expect_err("a missing bucket fails the invocation");
    assert!(err.contains("no-such-bucket"), "{err}");
    assert!(drain(&moto, &queue_url).await.is_empty());

    let stdout = watch.stop_and_collect_stdout();
    assert!(
        stdout.contains("\"DigestsVerified\""),
        "EMF metrics are printed: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_alerts_once_per_deleted_log_and_digest_and_never_on_other_keys() {
    let moto = Moto::start();
    let (topic_arn, queue_url) = topic_with_queue(&moto.sdk_config().await).await;
    let s3 = moto.s3().await;
    let case = variant("clean");
    upload_objects(&s3, case.objects()).await;
    let chain = &case.chains[0];
    let (log, digest) = (&chain.logs[0], &chain.digests[1]);
    let bucket = &chain.layout.bucket;
    s3.put_object()
        .bucket(bucket)
        .key("exports/report.csv")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    // The deletions the events report really happen.
    for key in [&log.key, &digest.key, &"exports/report.csv".to_owned()] {
        s3.delete_object()
            .bucket(bucket)
            .key(key.as_str())
            .send()
            .await
            .unwrap();
    }
    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    let watch = LambdaWatch::start("digest-verifier", &env);

    for key in [&log.key, &digest.key] {
        let r = watch.invoke_ok(
            &events::eventbridge_object_deleted(bucket, key, None, "Permanently Deleted"),
            "invoke deletion",
        );
        assert_eq!(r["deletions"], 1, "{r}");
    }
    let alerts = drain(&moto, &queue_url).await;
    assert_eq!(alerts.len(), 2, "one alert per deleted object: {alerts:#?}");
    let account = &chain.layout.account;
    let region = &chain.layout.region;
    for (alert, (kind, key)) in alerts
        .iter()
        .zip([("log file", &log.key), ("digest file", &digest.key)])
    {
        let subject = alert["Subject"].as_str().unwrap();
        assert!(
            subject.starts_with(&format!(
                "[CRITICAL] CloudTrail {kind} deleted: {account} {region} "
            )) && subject.ends_with(":00 UTC")
                && subject.len() <= 99,
            "{subject}"
        );
        assert_eq!(attribute(alert, "rule_id"), "OBJECT_DELETED");
        assert_eq!(attribute(alert, "severity"), "CRITICAL");
        assert_eq!(attribute(alert, "account"), *account);
        assert_eq!(attribute(alert, "region"), *region);
        // The queue subscriber gets the machine-readable document.
        let doc: Value = serde_json::from_str(alert["Message"].as_str().unwrap()).unwrap();
        assert_eq!(doc["object"], format!("s3://{bucket}/{key}"), "{doc}");
        assert_eq!(doc["deletion_type"], "Permanently Deleted");
        assert_eq!(doc["requester"], "123456789012");
        assert_eq!(doc["source_ip"], "203.0.113.9");
        assert_eq!(doc["lost"]["account"], account.as_str());
    }

    // A deletion outside AWSLogs/ is counted, not alerted.
    watch.invoke_ok(
        &events::eventbridge_object_deleted(
            bucket,
            "exports/report.csv",
            None,
            "Permanently Deleted",
        ),
        "invoke other deletion",
    );
    assert!(drain(&moto, &queue_url).await.is_empty());

    let stdout = watch.stop_and_collect_stdout();
    assert!(stdout.contains("\"DeletionsAlerted\""), "{stdout}");
    assert!(stdout.contains("\"DeletionsIgnored\""), "{stdout}");
}

/// A fresh versioned bucket (what `CreateTrail=true` deploys), with the variant uploaded once.
async fn versioned_upload(s3: &aws_sdk_s3::Client, case: &VariantCase) {
    let bucket = &case.chains[0].layout.bucket;
    create_versioned_bucket(s3, bucket).await;
    upload_objects(s3, case.objects()).await;
}

/// The current version of `key`.
async fn current_version(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .version_id
        .expect("versioned bucket")
}

/// The EventBridge "Object Created" of `version`, written by someone other than CloudTrail.
fn created_by_someone(bucket: &str, key: &str, version: &str) -> Value {
    let mut event = events::eventbridge_object_version_created(bucket, key, version);
    event["detail"]["requester"] = "210987654321".into();
    event["detail"]["source-ip-address"] = "198.51.100.7".into();
    event
}

fn rule_ids(alerts: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts.iter().map(|a| attribute(a, "rule_id")).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_alerts_once_on_an_overwritten_log_and_never_on_a_first_write() {
    let moto = Moto::start();
    let (topic_arn, queue_url) = topic_with_queue(&moto.sdk_config().await).await;
    let s3 = moto.s3().await;
    let case = variant("clean");
    versioned_upload(&s3, &case).await;
    let chain = &case.chains[0];
    let bucket = &chain.layout.bucket;
    let log = &chain.logs[0];
    let first = current_version(&s3, bucket, &log.key).await;
    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    let watch = LambdaWatch::start("digest-verifier", &env);

    // The delivery itself: one version, no alert (and a log file gets no other work).
    watch.invoke_ok(
        &events::eventbridge_object_version_created(bucket, &log.key, &first),
        "invoke first write",
    );
    assert!(
        drain(&moto, &queue_url).await.is_empty(),
        "a first write is not an overwrite"
    );

    // Overwritten after delivery.
    s3.put_object()
        .bucket(bucket)
        .key(&log.key)
        .body(b"{\"Records\":[]}".to_vec().into())
        .send()
        .await
        .unwrap();
    let second = current_version(&s3, bucket, &log.key).await;
    assert_ne!(first, second);
    watch.invoke_ok(
        &created_by_someone(bucket, &log.key, &second),
        "invoke overwrite",
    );
    let alerts = drain(&moto, &queue_url).await;
    assert_eq!(rule_ids(&alerts), ["OBJECT_OVERWRITTEN"], "{alerts:#?}");
    let alert = &alerts[0];
    let (account, region) = (&chain.layout.account, &chain.layout.region);
    let subject = alert["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with(&format!(
            "[CRITICAL] CloudTrail log file overwritten: {account} {region} "
        )) && subject.ends_with(":00 UTC")
            && subject.len() <= 99,
        "{subject}"
    );
    assert_eq!(attribute(alert, "severity"), "CRITICAL");
    assert_eq!(attribute(alert, "account"), *account);
    assert_eq!(attribute(alert, "region"), *region);
    let doc: Value = serde_json::from_str(alert["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["object"], format!("s3://{bucket}/{}", log.key), "{doc}");
    assert_eq!(doc["version_id"], second.as_str(), "{doc}");
    assert_eq!(doc["earlier_version_count"], 1, "{doc}");
    assert_eq!(
        doc["earlier_versions"][0]["version_id"],
        first.as_str(),
        "{doc}"
    );
    assert_eq!(doc["earlier_versions"][0]["delete_marker"], false, "{doc}");
    assert!(
        doc["earlier_versions"][0]["last_modified"].is_string(),
        "{doc}"
    );
    assert_eq!(doc["requester"], "210987654321", "{doc}");
    assert_eq!(doc["source_ip"], "198.51.100.7", "{doc}");
    assert_eq!(doc["affected"]["kind"], "log_file", "{doc}");
    assert_eq!(doc["affected"]["account"], account.as_str(), "{doc}");

    // Without a version id (an unversioned bucket's event) no check is possible: counted only.
    watch.invoke_ok(
        &events::eventbridge_object_created(bucket, &log.key),
        "invoke without a version id",
    );
    assert!(drain(&moto, &queue_url).await.is_empty());

    let stdout = watch.stop_and_collect_stdout();
    assert!(stdout.contains("\"OverwritesAlerted\""), "{stdout}");
    assert!(stdout.contains("\"OverwriteCheckSkipped\""), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_alerts_on_an_overwritten_digest_and_verifies_the_events_version() {
    use trailwatch_shared::digest::META_SIGNATURE;
    let moto = Moto::start();
    let (topic_arn, queue_url) = topic_with_queue(&moto.sdk_config().await).await;
    let s3 = moto.s3().await;
    let case = variant("clean");
    versioned_upload(&s3, &case).await;
    let chain = &case.chains[0];
    let bucket = &chain.layout.bucket;
    let d = &chain.digests[2];
    let original = current_version(&s3, bucket, &d.key).await;
    let keys = public_keys_file(&case, "us-east-1");
    let env = moto.verifier_env(&topic_arn, &keys);
    let watch = LambdaWatch::start("digest-verifier", &env);

    // The delivered digest, first write: verified, passes, no alert.
    watch.invoke_ok(
        &events::eventbridge_object_version_created(bucket, &d.key, &original),
        "invoke first write",
    );
    assert!(
        drain(&moto, &queue_url).await.is_empty(),
        "a clean first write"
    );

    // Overwritten with a forged signature: the overwrite alert, and the event's version (the
    // forgery) verified and failed.
    let mut metadata = d.metadata.clone();
    metadata.insert(META_SIGNATURE.into(), "00".repeat(256));
    s3.put_object()
        .bucket(bucket)
        .key(&d.key)
        .set_metadata(Some(metadata))
        .body(d.object.clone().into())
        .send()
        .await
        .unwrap();
    let forged = current_version(&s3, bucket, &d.key).await;
    assert_ne!(original, forged);
    watch.invoke_ok(
        &created_by_someone(bucket, &d.key, &forged),
        "invoke overwrite",
    );
    let alerts = drain(&moto, &queue_url).await;
    assert_eq!(alerts.len(), 2, "overwrite and verdict: {alerts:#?}");
    let overwrite = alerts
        .iter()
        .find(|a| attribute(a, "rule_id") == "OBJECT_OVERWRITTEN")
        .expect("the overwrite alert");
    assert!(
        overwrite["Subject"]
            .as_str()
            .unwrap()
            .starts_with("[CRITICAL] CloudTrail digest file overwritten: "),
        "{overwrite}"
    );
    let doc: Value = serde_json::from_str(overwrite["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["version_id"], forged.as_str(), "{doc}");
    assert_eq!(
        doc["earlier_versions"][0]["version_id"],
        original.as_str(),
        "{doc}"
    );
    assert_eq!(doc["affected"]["kind"], "digest", "{doc}");
    let verdict = alerts
        .iter()
        .find(|a| attribute(a, "rule_id") != "OBJECT_OVERWRITTEN")
        .expect("the verdict alert");
    assert!(
        attribute(verdict, "finding_codes").contains("DIGEST_SIGNATURE_INVALID"),
        "{verdict}"
    );
    let stdout = watch.stop_and_collect_stdout();
    assert!(stdout.contains("\"DigestsVerified\""), "{stdout}");
}

/// Runs `trailwatch verify --json` for one run of a variant.
fn trailwatch_verify(moto: &Moto, case: &VariantCase, run: usize) -> (i32, Value) {
    let r = &case.runs[run].request;
    let keys = public_keys_file(case, &r.region);
    let iso = |t: i64| trailwatch_shared::digest::testkit::iso(t);
    let mut cmd = Command::new(function_binary("trailwatch"));
    cmd.envs(moto.env())
        .args([
            "verify",
            "--json",
            "--bucket",
            &r.bucket,
            "--account-id",
            &r.account,
            "--region",
            &r.region,
        ])
        .args(["--start-time", &iso(r.start), "--end-time", &iso(r.end)])
        .arg("--public-keys")
        .arg(keys.path())
        .args(["--concurrency", "8"]);
    if let Some(o) = &r.organization_id {
        cmd.args(["--organization-id", o]);
    }
    if let Some(p) = &r.prefix {
        cmd.args(["--prefix", p]);
    }
    if let Some(t) = &r.trail_name {
        cmd.args(["--trail-name", t]);
    }
    let out = cmd.output().expect("run trailwatch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}): {stdout}\n{}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailwatch_verify_json_gives_the_strict_verdict_for_every_variant_class() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in all_variants() {
        moto_reset(&moto).await;
        upload_objects(&s3, case.objects()).await;
        for (i, run) in case.runs.iter().enumerate() {
            runs += 1;
            let (code, json) = trailwatch_verify(&moto, &case, i);
            let mut codes: Vec<String> = json["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["code"].as_str().unwrap().to_owned())
                .collect();
            codes.sort();
            codes.dedup();
            // Both sides by code string (run.codes is in declaration order).
            let mut want: Vec<String> = run.codes.iter().map(|c| c.as_str().to_owned()).collect();
            want.sort();
            let want_exit = if run.verdict.as_str() == "FAIL" { 1 } else { 0 };
            let keys_ok = ["verdict", "findings", "digests_checked", "logs_checked"]
                .iter()
                .all(|k| json.get(k).is_some())
                && json["findings"].as_array().unwrap().iter().all(|f| {
                    ["code", "severity", "object", "detail"]
                        .iter()
                        .all(|k| f[k].is_string())
                });
            if json["verdict"] != run.verdict.as_str()
                || codes != want
                || code != want_exit
                || !keys_ok
            {
                failures.push(format!(
                    "{} run {i}: expected {} {want:?} exit {want_exit}, got {} {codes:?} exit {code}",
                    case.name,
                    run.verdict,
                    json["verdict"]
                ));
            }
        }
    }
    assert!(runs >= 46, "only {runs} runs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailwatch_verify_exit_status_2_on_infrastructure_errors() {
    let moto = Moto::start();
    let case = variant("clean");
    let keys = public_keys_file(&case, "us-east-1");
    let out = Command::new(function_binary("trailwatch"))
        .envs(moto.env())
        .args([
            "verify",
            "--bucket",
            "bucket-that-does-not-exist",
            "--account-id",
            "123456789012",
        ])
        .args([
            "--region",
            "us-east-1",
            "--start-time",
            "2026-03-14T07:00:00Z",
            "--end-time",
            "2026-03-14T13:30:00Z",
        ])
        .arg("--public-keys")
        .arg(keys.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("bucket-that-does-not-exist"));
    // And the human output of a clean run ends with the verdict line.
    let s3 = moto.s3().await;
    upload_objects(&s3, case.objects()).await;
    let r = &case.runs[0].request;
    let out = Command::new(function_binary("trailwatch"))
        .envs(moto.env())
        .args([
            "verify",
            "--bucket",
            &r.bucket,
            "--account-id",
            &r.account,
            "--region",
            &r.region,
        ])
        .args([
            "--start-time",
            &trailwatch_shared::digest::testkit::iso(r.start),
        ])
        .args([
            "--end-time",
            &trailwatch_shared::digest::testkit::iso(r.end),
        ])
        .arg("--public-keys")
        .arg(keys.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("PASS: 6 digest files and 24 log files checked"),
        "{stdout}"
    );
}
