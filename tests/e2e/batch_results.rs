//! S3 Batch Operations per-task results through the real function binaries (schema 2.0
//! invocations, as a `LambdaInvoke` job built from a manifest sends them) against moto: what a
//! job's completion report will say for a good object, a missing key, a corrupt gzip and an
//! object that is not the function's kind of file, and that only a transient fault (an
//! unreachable SNS endpoint) is a `TemporaryFailure` the job retries.

use serde_json::{Value, json};
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, fixture, free_port, gzip, time, upload_objects};

const BUCKET: &str = "trail-bucket";
const GROUP: &str = "/trailwatch/e2e";
const ATTACK: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";

/// A schema 2.0 invocation: one task per key, keys URL-encoded as Batch Operations sends them.
fn batch_invocation(bucket: &str, keys: &[&str]) -> Value {
    let tasks: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            json!({"taskId": format!("task-{i}"), "s3Bucket": bucket,
                "s3Key": url_encode(key), "s3VersionId": null})
        })
        .collect();
    json!({
        "invocationSchemaVersion": "2.0",
        "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
        "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce", "userArguments": {}},
        "tasks": tasks,
    })
}

fn url_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `(resultCode, resultString)` of each task, in task order, after checking the envelope.
fn task_results(response: &Value, tasks: usize) -> Vec<(String, String)> {
    assert_eq!(response["invocationSchemaVersion"], "2.0", "{response}");
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), tasks, "one result per task: {response}");
    (0..tasks)
        .map(|i| {
            let r = results
                .iter()
                .find(|r| r["taskId"] == format!("task-{i}"))
                .unwrap_or_else(|| panic!("no result for task-{i}: {response}"));
            let text = r["resultString"].as_str().unwrap().to_owned();
            assert!(text.len() <= 1024, "bounded result string: {}", text.len());
            (r["resultCode"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

fn log_key(day: &str, name: &str) -> String {
    format!(
        "AWSLogs/218007301253/CloudTrail/us-east-1/{}/{name}.gz",
        day.replace('-', "/")
    )
}

fn record_count(text: &str) -> usize {
    serde_json::from_str::<Value>(text).unwrap()["Records"]
        .as_array()
        .unwrap()
        .len()
}

/// The log file re-dated to yesterday (CloudWatch Logs takes it), a truncated gzip and a report
/// that is not a CloudTrail file, in moto; returns (good key, corrupt key, other key, records).
async fn put_objects(s3: &aws_sdk_s3::Client) -> (String, String, String, usize) {
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let day = time::yesterday();
    let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{ATTACK}")))
        .unwrap()
        .replace("\"2023-07-10T", &format!("\"{day}T"));
    let records = record_count(&text);
    let good = log_key(&day, &ATTACK.replace("20230710", &day.replace('-', "")));
    // Another account: the records before the damage go to that account's stream, not the
    // good file's.
    let corrupt = log_key(&day, &ATTACK.replace("20230710", &day.replace('-', "")))
        .replace("218007301253", "111122223333")
        .replace("UljXNp9xLp8nsAGc", "CorruptGzip00000");
    let mut cut = gzip(text.as_bytes());
    cut.truncate(cut.len() / 2);
    let other = "exports/report.csv".to_owned();
    for (key, body) in [
        (&good, gzip(text.as_bytes())),
        (&corrupt, cut),
        (&other, b"a,b\n".to_vec()),
    ] {
        s3.put_object()
            .bucket(BUCKET)
            .key(key.as_str())
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    (good, corrupt, other, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarder_tasks_report_records_forwarded_and_permanent_failures() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await);
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let (good, corrupt, other, records) = put_objects(&s3).await;
    let missing = good.replace("UljXNp9xLp8nsAGc", "NeverDelivered00");

    let mut env = moto.env();
    env.push(("LOG_GROUP_NAME".into(), GROUP.into()));
    let watch = LambdaWatch::start("forwarder", &env);
    let keys = [
        good.as_str(),
        missing.as_str(),
        corrupt.as_str(),
        other.as_str(),
    ];
    let response = watch
        .invoke(&batch_invocation(BUCKET, &keys))
        .expect("a Batch invocation answers per task, never fails as a whole");
    let results = task_results(&response, keys.len());
    eprintln!("task results: {results:#?}");

    assert_eq!(
        results[0],
        (
            "Succeeded".to_owned(),
            format!(
                "forwarded {records} of {records} records to 218007301253_CloudTrail_us-east-1 \
                 (0 filtered, 0 rejected)"
            )
        )
    );
    assert_eq!(results[1].0, "PermanentFailure", "{:?}", results[1]);
    assert!(results[1].1.contains("does not exist"), "{:?}", results[1]);
    assert_eq!(results[2].0, "PermanentFailure", "{:?}", results[2]);
    assert!(
        results[2].1.contains("corrupt gzip data"),
        "{:?}",
        results[2]
    );
    assert_eq!(results[3].0, "Succeeded", "{:?}", results[3]);
    assert!(
        results[3]
            .1
            .starts_with("skipped: not a CloudTrail log file"),
        "{:?}",
        results[3]
    );

    // The result string is what happened: the stream holds exactly that many records.
    let got = trailwatch_e2e::read_log_stream(&logs, GROUP, "218007301253_CloudTrail_us-east-1")
        .await
        .unwrap();
    assert_eq!(got.len(), records);

    // Negative control: the same good task again is a repeated delivery, not a second forward.
    let again = watch
        .invoke(&batch_invocation(BUCKET, &[good.as_str()]))
        .unwrap();
    let again = task_results(&again, 1);
    assert_eq!(again[0].0, "Succeeded");
    assert_ne!(again[0].1, results[0].1, "{:?}", again[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerter_tasks_report_alerts_published_and_permanent_failures() {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    let (good, corrupt, other, records) = put_objects(&s3).await;
    let missing = good.replace("UljXNp9xLp8nsAGc", "NeverDelivered00");

    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    let watch = LambdaWatch::start("alerter", &env);
    let keys = [
        good.as_str(),
        missing.as_str(),
        corrupt.as_str(),
        other.as_str(),
    ];
    let response = watch.invoke(&batch_invocation(BUCKET, &keys)).unwrap();
    let results = task_results(&response, keys.len());
    eprintln!("task results: {results:#?}");

    let published = drain_envelopes(&aws_sdk_sqs::Client::new(&cfg), &queue_url).await;
    assert_eq!(results[0].0, "Succeeded", "{:?}", results[0]);
    // The summary reconciles with the file and with what reached the topic (the corrupt file's
    // first half raises its own alerts, counted in its failure text).
    let prefix = format!("{records} records, ");
    assert!(results[0].1.starts_with(&prefix), "{:?}", results[0]);
    let alerts_of_good: usize = results[0]
        .1
        .split(", ")
        .find_map(|part| part.strip_suffix(" alerts published"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("alert count in {:?}", results[0]));
    let alerts_of_corrupt: usize = results[2]
        .1
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("alert count in {:?}", results[2]));
    assert_eq!(
        published.len(),
        alerts_of_good + alerts_of_corrupt,
        "{results:?}"
    );
    assert!(alerts_of_good > 0, "the fixture raises alerts: {results:?}");

    assert_eq!(results[1].0, "PermanentFailure", "{:?}", results[1]);
    assert!(results[1].1.contains("does not exist"), "{:?}", results[1]);
    assert_eq!(results[2].0, "PermanentFailure", "{:?}", results[2]);
    assert!(
        results[2].1.contains("corrupt gzip data"),
        "{:?}",
        results[2]
    );
    assert_eq!(
        results[3],
        (
            "Succeeded".to_owned(),
            "skipped: not a CloudTrail log or Insights file (NotCloudTrail)".to_owned()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_tasks_report_verdicts_and_an_unreachable_topic_is_temporary() {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    // log_modified: the second digest's log was changed after delivery (LOG_HASH_MISMATCH).
    let case = variant("log_modified");
    upload_objects(&s3, case.objects()).await;
    let keys_file = public_keys_file(&case, "us-east-1");
    let digests = case.stored_digests();
    let bucket = digests[0].0.clone();
    let (clean, tampered) = (digests[0].1.clone(), digests[1].1.clone());
    // Digest keys of the same trail ending in 2100: never delivered, and one stored damaged.
    let layout = &case.chains[0].layout;
    let missing = layout.digest_key(4_102_444_800, false);
    let corrupt = layout.digest_key(4_102_448_400, false);
    let log = case.chains[0].logs[0].key.clone();
    s3.put_object()
        .bucket(&bucket)
        .key(&corrupt)
        .body(
            gzip(b"{\"not\": \"a digest\"")
                .split_at(10)
                .0
                .to_vec()
                .into(),
        )
        .send()
        .await
        .unwrap();

    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    env.push((
        "PUBLIC_KEYS_FILE".into(),
        keys_file.path().to_string_lossy().into_owned(),
    ));
    let mut unreachable = env.clone();
    // Nothing listens there: every Publish fails to connect (after the SDK's retries).
    unreachable.push((
        "AWS_ENDPOINT_URL_SNS".into(),
        format!("http://127.0.0.1:{}", free_port()),
    ));

    // A transient fault first: the tampered digest cannot be alerted on, so the task is retried.
    let down = LambdaWatch::start("digest-verifier", &unreachable);
    let response = down
        .invoke(&batch_invocation(&bucket, &[tampered.as_str()]))
        .unwrap();
    let results = task_results(&response, 1);
    eprintln!("task results with SNS unreachable: {results:#?}");
    assert_eq!(results[0].0, "TemporaryFailure", "{:?}", results[0]);
    drop(down);

    // Negative control: the same task with SNS reachable succeeds and alerts.
    let watch = LambdaWatch::start("digest-verifier", &env);
    let keys = [
        clean.as_str(),
        tampered.as_str(),
        missing.as_str(),
        corrupt.as_str(),
        log.as_str(),
    ];
    let response = watch.invoke(&batch_invocation(&bucket, &keys)).unwrap();
    let results = task_results(&response, keys.len());
    eprintln!("task results: {results:#?}");
    let codes: Vec<&str> = results.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["Succeeded"; 5], "{results:#?}");
    assert!(
        results[0].1.starts_with("verdict PASS: ")
            && results[0].1.ends_with(" logs checked; no alert"),
        "{:?}",
        results[0]
    );
    assert!(
        results[1]
            .1
            .starts_with("verdict FAIL: LOG_HASH_MISMATCH; ")
            && results[1].1.ends_with("; alert published"),
        "{:?}",
        results[1]
    );
    // A missing or unreadable digest is a verdict the verifier alerts on, not a failed task.
    assert!(
        results[2].1.starts_with("verdict FAIL: ") && results[2].1.contains("DIGEST_MISSING"),
        "{:?}",
        results[2]
    );
    assert!(
        results[3].1.starts_with("verdict FAIL: "),
        "{:?}",
        results[3]
    );
    assert_eq!(
        results[4].1, "skipped: not a CloudTrail digest file (log file)",
        "{:?}",
        results[4]
    );
    let alerts = drain_envelopes(&aws_sdk_sqs::Client::new(&cfg), &queue_url).await;
    let alerted = results
        .iter()
        .filter(|(_, text)| text.ends_with("; alert published"))
        .count();
    assert_eq!(alerts.len(), alerted, "{results:#?}");
}
