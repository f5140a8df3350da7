//! Issue 17 "Done when", forwarder part: the same objects delivered three times (one
//! EventBridge event twice, a forced timeout half-way through a large file, then a redrive of
//! both) leave each event exactly once in CloudWatch Logs. The real binary runs under the Lambda
//! runtime API emulator with the state table in moto and a fault proxy in front of moto; the
//! "timeout" is a PutLogEvents call that never answers, after which the environment is stopped
//! (as Lambda stops an invocation that outlives its timeout). Also: two SQS messages for one
//! object in one batch, processed concurrently, forward it once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use forwarder::sink::CloudWatchSink;
use forwarder::stream_name::{DEFAULT_TEMPLATE, StreamNameTemplate};
use forwarder::{Forwarder, ForwarderConfig};
use serde_json::{Value, json};
use trailwatch_e2e::faults::{Fault, FaultProxy, Occurrence, Rule};
use trailwatch_e2e::{
    LambdaWatch, Moto, STATE_TABLE, events, fixture, gzip, put_object, raw_records, time,
};
use trailwatch_lambda_common::state::{DynamoStateStore, Store};

const BUCKET: &str = "trail-bucket";
const GROUP: &str = "/trailwatch/e2e";
const STREAM: &str = "218007301253_CloudTrail_us-east-1";
const INVICTUS: &str = "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json";
/// The PutLogEvents call (of the large file) that never answers: batches before it are
/// acknowledged and checkpointed, so the timeout hits half-way through the file.
const STALLED_BATCH: u32 = 4;
/// How long the timed-out invocation runs before its environment is stopped: ample for the
/// batches before the stalled one (the test checks they were sent).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(20);

/// A CloudTrail file's text and its records' exact raw texts.
struct TrailFile {
    key: String,
    text: String,
    records: Vec<String>,
}

/// The real Invictus file re-dated to `day` (CloudWatch Logs refuses events older than 14 days).
fn invictus_records(day: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{INVICTUS}"))).unwrap();
    raw_records(&text.replace("\"2023-07-10T", &format!("\"{day}T")))
}

fn key(day: &str, time_and_id: &str) -> String {
    let folder = day.replace('-', "/");
    let compact = day.replace('-', "");
    format!(
        "AWSLogs/218007301253/CloudTrail/us-east-1/{folder}/218007301253_CloudTrail_us-east-1_{compact}T{time_and_id}.json.gz"
    )
}

/// The real file as delivered.
fn small_file(day: &str) -> TrailFile {
    let records = invictus_records(day);
    TrailFile {
        key: key(day, "1145Z_7xgocspSowgK0Gto"),
        text: format!("{{\"Records\":[{}]}}", records.join(",")),
        records,
    }
}

/// The real records tiled to about `mb` MB, each with an event id of its own (so a duplicate
/// is a duplicate of one event, not of a record that legitimately repeats).
fn large_file(day: &str, mb: usize, tag: &str) -> TrailFile {
    let base = invictus_records(day);
    let mut records = Vec::new();
    let mut bytes = 0;
    while bytes < mb << 20 {
        let i = records.len();
        let r = &base[i % base.len()];
        let start = r
            .find("\"eventID\":\"")
            .expect("every record has an eventID")
            + 11;
        let end = start + r[start..].find('"').unwrap();
        let record = format!("{}{tag}-{i:08}{}", &r[..start], &r[end..]);
        bytes += record.len();
        records.push(record);
    }
    TrailFile {
        key: key(day, &format!("1150Z_{tag}Large0000000")[..22]),
        text: format!("{{\"Records\":[{}]}}", records.join(",")),
        records,
    }
}

/// Messages that are not each exactly once: `(first 60 chars, times seen)`, sorted; a record
/// missing counts as seen 0 times.
fn not_exactly_once(got: &[(i64, String)], expected: &[&TrailFile]) -> Vec<(String, i64)> {
    let mut seen: BTreeMap<&str, i64> = BTreeMap::new();
    for f in expected {
        for r in &f.records {
            *seen.entry(r.as_str()).or_default() -= 1;
        }
    }
    for (_, m) in got {
        *seen.entry(m.as_str()).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(m, n)| (m.chars().take(60).collect(), n + 1))
        .collect()
}

async fn setup(moto: &Moto) -> (aws_sdk_s3::Client, aws_sdk_cloudwatchlogs::Client) {
    moto.bucket_and_log_group(BUCKET, GROUP).await
}

async fn put(s3: &aws_sdk_s3::Client, file: &TrailFile) {
    put_object(s3, BUCKET, &file.key, gzip(file.text.as_bytes())).await;
}

/// EMF lines of one kind (`FilesProcessed`, `FilesAlreadyProcessed`, ...) in a function's stdout.
fn emf(stdout: &str, metric: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some() && v.get(metric).is_some())
        .collect()
}

/// The state table's record of the forwarder's work on `key` (items are few: a scan is fine).
async fn work_item(moto: &Moto, key: &str) -> Option<Value> {
    moto.state_table_items()
        .await
        .into_iter()
        .find(|item| {
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with("forwarder#") && pk.contains(key))
        })
        .map(|item| {
            let fields: serde_json::Map<String, Value> = item
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        aws_sdk_dynamodb::types::AttributeValue::S(s) => json!(s),
                        aws_sdk_dynamodb::types::AttributeValue::N(n) => {
                            json!(n.parse::<i64>().unwrap())
                        }
                        other => json!(format!("{other:?}")),
                    };
                    (k, v)
                })
                .collect();
            Value::Object(fields)
        })
}

/// What three deliveries left behind.
struct Run {
    got: Vec<(i64, String)>,
    small: TrailFile,
    large: TrailFile,
    /// Records of the large file its timed-out attempt checkpointed (from its work record).
    checkpointed: Option<i64>,
    /// stdout of the redrive's environment.
    redrive_stdout: String,
}

/// Delivers a small and a large file three times: the small file's event twice, the large
/// file's event with its `STALLED_BATCH`-th PutLogEvents never answered until the function is
/// stopped, then both events again as a redrive from the failure queue, in a fresh environment.
async fn deliver_three_times(with_state_table: bool) -> Run {
    let moto = Moto::start();
    let (s3, logs) = setup(&moto).await;
    let day = time::yesterday();
    let small = small_file(&day);
    let large = large_file(&day, 12, if with_state_table { "once" } else { "ctrl" });
    put(&s3, &small).await;
    put(&s3, &large).await;

    let proxy = FaultProxy::start(&moto.endpoint());
    let mut env = proxy.env();
    env.push(("LOG_GROUP_NAME".into(), GROUP.into()));
    if with_state_table {
        env.extend(moto.with_state_table().await);
    }
    let small_event = events::eventbridge_object_created(BUCKET, &small.key);
    let large_event = events::eventbridge_object_created(BUCKET, &large.key);

    // (a) EventBridge delivers the same event twice.
    let first = LambdaWatch::start("forwarder", &env);
    for delivery in 1..=2 {
        let response = first.invoke(&small_event).expect("invoke");
        assert_eq!(response["status"], "ok", "delivery {delivery}: {response}");
    }

    // (b) A forced timeout half-way through the large file.
    proxy.set_rules(vec![Rule::new(
        "logs",
        "PutLogEvents",
        Occurrence::Nth(STALLED_BATCH),
        Fault::Stall(Duration::from_secs(300)),
    )]);
    let answer = first.invoke_within(&large_event, FUNCTION_TIMEOUT);
    assert!(
        answer.is_none(),
        "the invocation should still be waiting on the stalled PutLogEvents: {answer:?}"
    );
    assert_eq!(
        proxy.injected().len(),
        1,
        "the stalled batch was reached before the timeout"
    );
    let first_stdout = first.stop_and_collect_stdout(); // Lambda stops the environment
    // Within one environment even the in-memory store (no STATE_TABLE) recognises it.
    assert_eq!(
        emf(&first_stdout, "FilesAlreadyProcessed").len(),
        1,
        "the repeated event is skipped: {first_stdout}"
    );
    let checkpointed = if with_state_table {
        let item = work_item(&moto, &large.key)
            .await
            .expect("the large file's work record");
        assert_eq!(item["status"], json!("in_progress"), "{item}");
        let done = item["recordsDone"]
            .as_i64()
            .expect("a checkpoint was written");
        assert!(
            done > 0 && (done as usize) < large.records.len(),
            "half-way: {done} of {} records checkpointed",
            large.records.len()
        );
        // The lease runs until the killed invocation's deadline; a redrive comes after it. The
        // emulator's deadline header is not an absolute time, so make sure it is in the past
        // as it is by the time a real redrive or retry arrives.
        expire_lease(&moto, &item).await;
        Some(done)
    } else {
        None
    };

    // (c) A redrive: both events again, in a fresh environment (the failure queue's records).
    proxy.set_rules(Vec::new());
    let redrive = LambdaWatch::start("forwarder", &env);
    for event in [&small_event, &large_event] {
        let response = redrive.invoke(event).expect("redrive");
        assert_eq!(response["status"], "ok", "{response}");
    }
    let redrive_stdout = redrive.stop_and_collect_stdout();
    let got = trailwatch_e2e::read_log_stream(&logs, GROUP, STREAM)
        .await
        .expect("read the stream");
    Run {
        got,
        small,
        large,
        checkpointed,
        redrive_stdout,
    }
}

/// Sets the work record's lease expiry to the past when it is not already.
async fn expire_lease(moto: &Moto, item: &Value) {
    let lease = item["leaseUntil"].as_i64().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    if lease <= now {
        return;
    }
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    ddb.update_item()
        .table_name(STATE_TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(item["pk"].as_str().unwrap().into()),
        )
        .update_expression("SET leaseUntil = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N((now - 1).to_string()),
        )
        .send()
        .await
        .expect("expire the lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_deliveries_leave_each_event_once_in_cloudwatch_logs() {
    let run = deliver_three_times(true).await;
    assert_eq!(
        not_exactly_once(&run.got, &[&run.small, &run.large]),
        vec![],
        "every event of both files exactly once"
    );
    assert_eq!(
        run.got.len(),
        run.small.records.len() + run.large.records.len()
    );

    // The redrive skipped the small file and resumed the large one after its checkpoint.
    let skipped = emf(&run.redrive_stdout, "FilesAlreadyProcessed");
    assert_eq!(skipped.len(), 1, "{}", run.redrive_stdout);
    assert!(
        skipped[0]["object"]
            .as_str()
            .unwrap()
            .ends_with(&run.small.key)
    );
    let processed = emf(&run.redrive_stdout, "FilesProcessed");
    assert_eq!(processed.len(), 1, "{}", run.redrive_stdout);
    let m = &processed[0];
    let checkpointed = run.checkpointed.unwrap();
    assert_eq!(m["resumedAfterRecords"], json!(checkpointed));
    assert_eq!(
        m["RecordsIn"],
        json!(run.large.records.len() as i64 - checkpointed)
    );
    assert_eq!(m["RecordsIn"], m["RecordsForwarded"], "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_the_state_table_the_same_deliveries_duplicate() {
    let run = deliver_three_times(false).await;
    let wrong = not_exactly_once(&run.got, &[&run.small, &run.large]);
    assert!(
        !wrong.is_empty(),
        "the check must see duplicates when nothing remembers what was sent"
    );
    assert!(
        wrong.iter().all(|(_, n)| *n >= 2),
        "duplicates, nothing lost: {:?}",
        &wrong[..wrong.len().min(5)]
    );
}

/// Two SQS messages for one object in one batch, processed concurrently by one invocation: one
/// claims it, the other is refused as in progress (its message fails and comes back later, then
/// is skipped) or finds it completed. Through the handler, with the DynamoDB store on moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_messages_for_one_object_in_one_batch_forward_it_once() {
    let moto = Moto::start();
    let (s3, logs) = setup(&moto).await;
    let day = time::yesterday();
    let file = large_file(&day, 3, "conc");
    put(&s3, &file).await;
    let cfg = moto.sdk_config().await;
    trailwatch_e2e::create_state_table(&cfg, STATE_TABLE).await;
    let forwarder = Forwarder {
        sink: Arc::new(CloudWatchSink::new(logs.clone(), GROUP.into())),
        s3,
        state: Arc::new(Store::Dynamo(DynamoStateStore::new(
            aws_sdk_dynamodb::Client::new(&cfg),
            STATE_TABLE,
            86_400,
        ))),
        config: ForwarderConfig {
            log_group: GROUP.into(),
            stream_template: StreamNameTemplate::parse(DEFAULT_TEMPLATE).unwrap(),
            forward_pattern: None,
            max_concurrency: 4,
            limits: Default::default(),
            state_ttl_secs: 86_400,
        },
    };
    let message = |id: &str| {
        json!({
            "messageId": id, "receiptHandle": "h", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1",
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "x",
            "body": events::eventbridge_object_created(BUCKET, &file.key).to_string(),
        })
    };
    let response = forwarder
        .handle(json!({"Records": [message("m1"), message("m2")]}))
        .await
        .unwrap();
    let failures = response["batchItemFailures"].as_array().unwrap().clone();
    // Both claims are issued together and the file takes longer than a claim: the second
    // finds the first's lease (never both forwarding, never a wait).
    assert_eq!(
        failures.len(),
        1,
        "one forwards it, the other is refused as in progress: {response}"
    );
    // SQS delivers a failed message again: it is now skipped as completed.
    for failed in &failures {
        let id = failed["itemIdentifier"].as_str().unwrap();
        let again = forwarder
            .handle(json!({"Records": [message(id)]}))
            .await
            .unwrap();
        assert_eq!(again["batchItemFailures"], json!([]), "{again}");
    }
    let got = trailwatch_e2e::read_log_stream(&logs, GROUP, STREAM)
        .await
        .unwrap();
    assert_eq!(not_exactly_once(&got, &[&file]), vec![]);
}
