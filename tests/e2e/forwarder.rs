//! Forwarder end to end: real CloudTrail files in moto S3, the forwarder (through its handler and
//! as the real binary under the Lambda runtime API), records read back from moto's CloudWatch Logs.

use std::sync::Arc;

use forwarder::sink::CloudWatchSink;
use forwarder::stream_name::{DEFAULT_TEMPLATE, StreamNameTemplate};
use forwarder::{Forwarder, ForwarderConfig, ObjectOutcome};
use serde_json::{Value, json};
use trailwatch_e2e::{LambdaWatch, Moto, events, fixture, gzip, put_object, raw_records, time};
use trailwatch_lambda_common::state::memory::MemoryStateStore;

const BUCKET: &str = "trail-bucket";
const GROUP: &str = "/trailwatch/e2e";
const INVICTUS: &str = "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json";
const INVICTUS_MIXED: &str =
    "218007301253_CloudTrail_us-east-1_20230710T1205Z_SjF3IkuNXJkoHyar.json";
const FLAWS: &str = "811596193553_CloudTrail_us-east-1-20200930T2200.json";

/// A real file re-dated from `old_day` to `day` (YYYY-MM-DD) so CloudWatch Logs accepts it;
/// returns the bytes and the records' exact raw texts.
fn redated(name: &str, old_day: &str, day: &str) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{name}"))).unwrap();
    let text = text.replace(&format!("\"{old_day}T"), &format!("\"{day}T"));
    let raws = raw_records(&text);
    (text, raws)
}

async fn read_stream(logs: &aws_sdk_cloudwatchlogs::Client, stream: &str) -> Vec<(i64, String)> {
    trailwatch_e2e::read_log_stream(logs, GROUP, stream)
        .await
        .expect("read the log stream")
}

/// Every record exactly once, byte-identical, stamped with its eventTime, in time order.
fn assert_delivered(got: &[(i64, String)], expected: &[String]) {
    assert_eq!(got.len(), expected.len(), "event count");
    assert!(
        got.windows(2).all(|w| w[0].0 <= w[1].0),
        "events are in time order"
    );
    let mut got_msgs: Vec<&String> = got.iter().map(|(_, m)| m).collect();
    let mut want: Vec<&String> = expected.iter().collect();
    got_msgs.sort();
    want.sort();
    assert!(
        got_msgs == want,
        "messages must be the records, byte for byte, each once"
    );
    for (ts, msg) in got {
        let v: Value = serde_json::from_str(msg).unwrap();
        let event_time = v["eventTime"].as_str().unwrap();
        assert_eq!(
            *ts,
            time::parse_event_time_ms(event_time),
            "timestamp is eventTime"
        );
    }
}

async fn setup(moto: &Moto) -> (aws_sdk_s3::Client, aws_sdk_cloudwatchlogs::Client) {
    moto.bucket_and_log_group(BUCKET, GROUP).await
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    put_object(s3, BUCKET, key, body).await;
}

fn forwarder_state(
    s3: aws_sdk_s3::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
) -> Forwarder<CloudWatchSink, MemoryStateStore> {
    Forwarder {
        sink: Arc::new(CloudWatchSink::new(logs, GROUP.into())),
        s3,
        state: Arc::new(MemoryStateStore::new()),
        config: ForwarderConfig {
            log_group: GROUP.into(),
            stream_template: StreamNameTemplate::parse(DEFAULT_TEMPLATE).unwrap(),
            forward_pattern: None,
            max_concurrency: 4,
            limits: Default::default(),
            state_ttl_secs: 86_400,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_forwards_every_record_of_a_real_file_exactly_once() {
    let moto = Moto::start();
    let (s3, logs) = setup(&moto).await;
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));

    // A trail prefix with a space and non-ASCII characters: S3 events encode it ('+', %XX).
    let (body, records) = redated(INVICTUS, "2023-07-10", &day);
    let rest = format!(
        "AWSLogs/218007301253/CloudTrail/us-east-1/{folder}/218007301253_CloudTrail_us-east-1_{compact}T1145Z_7xgocspSowgK0Gto.json.gz"
    );
    put(
        &s3,
        &format!("team logs/Zürich/{rest}"),
        gzip(body.as_bytes()),
    )
    .await;
    put(&s3, "team logs/", Vec::new()).await;

    let state = forwarder_state(s3, logs.clone());
    let event = events::s3_put(
        BUCKET,
        &[&format!("team+logs/Z%C3%BCrich/{rest}"), "team+logs/"],
    );
    let response = state.handle(event).await.unwrap();
    assert_eq!(response["status"], "ok", "{response}");

    let got = read_stream(&logs, "218007301253_CloudTrail_us-east-1").await;
    assert_delivered(&got, &records);

    // The folder marker was skipped, not failed.
    let outcome = state
        .process_object(&trailwatch_shared::trigger::ObjectRef {
            bucket: BUCKET.into(),
            key: "team logs/".into(),
            size: Some(0),
            version_id: None,
            requester: None,
            source_ip: None,
            etag: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, ObjectOutcome::Skipped { .. }),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_fails_the_invocation_on_a_corrupt_file() {
    let moto = Moto::start();
    let (s3, logs) = setup(&moto).await;
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));
    let key = format!(
        "AWSLogs/218007301253/CloudTrail/us-east-1/{folder}/218007301253_CloudTrail_us-east-1_{compact}T1145Z_7xgocspSowgK0Gto.json.gz"
    );
    let (body, _) = redated(INVICTUS, "2023-07-10", &day);
    let mut gz = gzip(body.as_bytes());
    gz.truncate(gz.len() / 2);
    put(&s3, &key, gz).await;
    let state = forwarder_state(s3, logs);
    let err = state
        .handle(events::s3_put(BUCKET, &[&key]))
        .await
        .expect_err("truncated gzip fails");
    assert!(err.to_string().contains(&key), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_under_lambda_runtime_api_forwards_an_org_trail_file() {
    let moto = Moto::start();
    let (s3, logs) = setup(&moto).await;
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));

    let (text, mut records) = redated(FLAWS, "2020-09-30", &day);
    // One record keeps its 2020 date: CloudWatch Logs refuses it, so it is counted as rejected.
    let (original, original_records) = redated(FLAWS, "x", "x");
    let _ = original;
    let text = text.replacen(&records[0], &original_records[0], 1);
    records.remove(0);
    let key = format!(
        "AWSLogs/o-abcd123456/811596193553/CloudTrail/us-east-1/{folder}/811596193553_CloudTrail_us-east-1_{compact}T2200Z_AbCdEfGh12345678.json.gz"
    );
    put(&s3, &key, gzip(text.as_bytes())).await;

    let mut env = moto.env();
    env.push(("LOG_GROUP_NAME".into(), GROUP.into()));
    let watch = LambdaWatch::start("forwarder", &env);
    let response = watch
        .invoke(&events::eventbridge_object_created(BUCKET, &key))
        .expect("invoke");
    assert_eq!(response["status"], "ok", "{response}");

    let got = read_stream(&logs, "811596193553_CloudTrail_us-east-1").await;
    assert_delivered(&got, &records);

    // The file's EMF line reconciles: in = forwarded + filtered + rejected.
    let stdout = watch.stop_and_collect_stdout();
    let emf: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some() && v.get("FilesProcessed").is_some())
        .collect();
    assert_eq!(emf.len(), 1, "one EMF line per file: {stdout}");
    let m = &emf[0];
    assert_eq!(m["RecordsIn"], json!(94));
    assert_eq!(m["RecordsForwarded"], json!(93));
    assert_eq!(m["RecordsRejected"], json!(1));
    assert_eq!(m["RecordsFiltered"], json!(0));
    assert_eq!(m["rejectedTooOld"], json!(1));
}

#[test]
fn binary_fails_cold_start_naming_the_missing_variable() {
    let out = std::process::Command::new(trailwatch_e2e::function_binary("forwarder"))
        .env_remove("LOG_GROUP_NAME")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LOG_GROUP_NAME"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_with_forward_pattern_forwards_exactly_the_matching_records() {
    let moto = Moto::start();
    let (s3, logs) = setup(&moto).await;
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));
    let (text, records) = redated(INVICTUS_MIXED, "2023-07-10", &day);
    let key = format!(
        "AWSLogs/218007301253/CloudTrail/us-east-1/{folder}/218007301253_CloudTrail_us-east-1_{compact}T1205Z_SjF3IkuNXJkoHyar.json.gz"
    );
    put(&s3, &key, gzip(text.as_bytes())).await;
    let writes: Vec<String> = records
        .iter()
        .filter(|r| serde_json::from_str::<Value>(r).unwrap()["readOnly"] == json!(false))
        .cloned()
        .collect();
    assert!(
        !writes.is_empty() && writes.len() < records.len(),
        "the fixture mixes reads and writes"
    );

    let mut env = moto.env();
    env.push(("LOG_GROUP_NAME".into(), GROUP.into()));
    env.push(("FORWARD_PATTERN".into(), "{ $.readOnly IS FALSE }".into()));
    let watch = LambdaWatch::start("forwarder", &env);
    let response = watch
        .invoke(&events::s3_put(BUCKET, &[&key]))
        .expect("invoke");
    assert_eq!(response["status"], "ok", "{response}");

    let got = read_stream(&logs, "218007301253_CloudTrail_us-east-1").await;
    assert_delivered(&got, &writes);
    let stdout = watch.stop_and_collect_stdout();
    let m: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("FilesProcessed").is_some())
        .expect("EMF line");
    assert_eq!(m["RecordsIn"], json!(records.len()));
    assert_eq!(m["RecordsForwarded"], json!(writes.len()));
    assert_eq!(m["RecordsFiltered"], json!(records.len() - writes.len()));
    assert_eq!(m["RecordsRejected"], json!(0));
}

#[test]
fn binary_rejects_an_invalid_forward_pattern_at_cold_start() {
    let out = std::process::Command::new(trailwatch_e2e::function_binary("forwarder"))
        .env("LOG_GROUP_NAME", GROUP)
        .env("FORWARD_PATTERN", "{ $.eventName = ")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FORWARD_PATTERN"), "{stderr}");
}
