//! Alerts exactly once, end to end: the real `alerter` and `digest-verifier` binaries under the
//! Lambda runtime API emulator, moto's SNS, SQS and S3, and the state table in moto's DynamoDB.
//! Each object is delivered three times (the same event twice, then a redrive: the failure
//! record's event invoked again), across a cold start too, and SNS must hold each alert once:
//! - the alerter: a log file raising four rule alerts; a file whose first read breaks half-way
//!   (its first part's alert goes out, the invocation fails) and whose retry reads it whole
//!   (the three other alerts go out, the first one not again);
//! - the verifier: a tampered chain (one LOG_HASH_MISMATCH digest) and a deleted log file (its
//!   OBJECT_DELETED alert, and the LOG_MISSING of the digest that lists it).
//! - the verifier's scheduled range check (`scheduledTime` fixes the window): run three times, one
//!   CHAIN_HEAD_STALE alert.
//!
//! Negative control: the same deliveries to a container without the state table publish again.

use std::collections::BTreeMap;

use serde_json::Value;
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, events, fixture, gzip, upload_objects};

const BUCKET: &str = "trail-bucket";
const PREFIX: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/";
const ATTACK: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";
/// The same records under another name: the file whose first read breaks.
const BROKEN: &str = "218007301253_CloudTrail_us-east-1_20230710T1210Z_BrokenOnce00000a.json";
/// The four Security Hub rules the attack file raises.
const ATTACK_RULES: [&str; 4] = [
    "SecurityHub:CloudWatch.2",
    "SecurityHub:CloudWatch.4",
    "SecurityHub:CloudWatch.5",
    "SecurityHub:CloudWatch.8",
];

/// A moto with the state table, an alert topic and the queue subscribed to it.
struct World {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    topic_arn: String,
    queue_url: String,
    /// `STATE_TABLE` for the functions.
    state_env: Vec<(String, String)>,
}

async fn world() -> World {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;
    let _ = s3.create_bucket().bucket(BUCKET).send().await;
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    let state_env = moto.with_state_table().await;
    World {
        sqs: aws_sdk_sqs::Client::new(&cfg),
        moto,
        s3,
        topic_arn,
        queue_url,
        state_env,
    }
}

impl World {
    /// The environment of a function container: moto, the topic, and the state table or not.
    fn env(&self, with_table: bool, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.push(("ALERT_TOPIC_ARN".into(), self.topic_arn.clone()));
        if with_table {
            env.extend(self.state_env.iter().cloned());
        }
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    }

    async fn put(&self, key: &str, body: &[u8]) {
        self.s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(gzip(body).into())
            .send()
            .await
            .unwrap();
    }

    /// How many messages the topic published so far (moto's own record of SNS Publish calls).
    fn sns_published(&self) -> usize {
        let moto = &self.moto;
        tokio::task::block_in_place(|| moto.sent_notifications())
            .iter()
            .filter(|n| n.topic_arn == self.topic_arn)
            .count()
    }

    /// The alerts delivered to the queue since the last call, as `rule_id object` labels.
    async fn delivered(&self) -> Vec<String> {
        let mut labels: Vec<String> = drain_envelopes(&self.sqs, &self.queue_url)
            .await
            .iter()
            .map(label)
            .collect();
        labels.sort();
        labels
    }
}

/// `rule_id object`: the rule (or finding codes) and the file the alert is about.
fn label(envelope: &Value) -> String {
    let rule_id = envelope["MessageAttributes"]["rule_id"]["Value"]
        .as_str()
        .unwrap_or("?");
    let doc: Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
    let object = [&doc["log_file"]["key"], &doc["digest"], &doc["object"]]
        .into_iter()
        .find_map(|v| v.as_str())
        .unwrap_or("?");
    let object = object.rsplit('/').next().unwrap_or(object);
    format!("{rule_id} {object}")
}

fn labels(rules: &[&str], file: &str) -> Vec<String> {
    let mut v: Vec<String> = rules.iter().map(|r| format!("{r} {file}.gz")).collect();
    v.sort();
    v
}

/// Counts of each label: every value must be 1.
fn repeats(labels: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for l in labels {
        *counts.entry(l.as_str()).or_insert(0) += 1;
    }
    counts.retain(|_, n| *n > 1);
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerter_publishes_each_alert_once_across_duplicates_a_broken_read_and_a_redrive() {
    let w = world().await;
    let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{ATTACK}"))).unwrap();
    let attack_key = format!("{PREFIX}{ATTACK}.gz");
    w.put(&attack_key, text.as_bytes()).await;
    let event = events::s3_put(BUCKET, &[&attack_key]);

    let watch = LambdaWatch::start("alerter", &w.env(true, &[]));
    // The same event twice (EventBridge delivers at least once), then the redrive.
    for delivery in 0..3 {
        let r = watch.invoke(&event).expect("alerter invocation");
        assert_eq!(r["status"], "ok", "delivery {delivery}: {r}");
    }
    let got = w.delivered().await;
    assert_eq!(got, labels(&ATTACK_RULES, ATTACK), "each rule's alert once");
    assert_eq!(w.sns_published(), 4);

    // A file whose first read breaks inside the CreateTrail record (records 0..=10 read): the
    // bucket policy alert of that part goes out and the invocation fails. The retry reads the
    // whole file (the same object version: the event's ETag names it): the three other alerts.
    let broken_key = format!("{PREFIX}{BROKEN}.gz");
    let cut = text.find("\"eventName\":\"CreateTrail\"").unwrap();
    w.put(&broken_key, &text.as_bytes()[..cut]).await;
    let broken_event = events::s3_put(BUCKET, &[&broken_key]);
    let err = watch
        .invoke(&broken_event)
        .expect_err("a file that cannot be read to its end fails the invocation");
    assert!(err.contains("could not be read to its end"), "{err}");
    assert_eq!(
        w.delivered().await,
        labels(&["SecurityHub:CloudWatch.8"], BROKEN)
    );
    w.put(&broken_key, text.as_bytes()).await;
    for _ in 0..2 {
        watch.invoke(&broken_event).expect("the retry succeeds");
    }
    assert_eq!(
        w.delivered().await,
        labels(
            &[
                "SecurityHub:CloudWatch.2",
                "SecurityHub:CloudWatch.4",
                "SecurityHub:CloudWatch.5"
            ],
            BROKEN
        ),
        "the rest of the file's alerts, the first one not again"
    );
    assert_eq!(w.sns_published(), 8);
    let stdout = watch.stop_and_collect_stdout();
    assert!(
        stdout.contains("\"FilesAlreadyProcessed\""),
        "repeated deliveries are counted: {stdout}"
    );
    assert!(stdout.contains("\"AlertsAlreadyPublished\":1"), "{stdout}");

    // A cold start (a new container): the table, not the process, remembers.
    let fresh = LambdaWatch::start("alerter", &w.env(true, &[]));
    fresh.invoke(&event).expect("redrive after a cold start");
    fresh
        .invoke(&broken_event)
        .expect("redrive after a cold start");
    assert!(w.delivered().await.is_empty());
    assert_eq!(w.sns_published(), 8);
    drop(fresh);

    // Negative control: a container without the state table publishes the same alerts again.
    let forgetful = LambdaWatch::start("alerter", &w.env(false, &[]));
    forgetful.invoke(&event).expect("without the table");
    assert_eq!(w.delivered().await, labels(&ATTACK_RULES, ATTACK));
    assert_eq!(w.sns_published(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_publishes_each_tamper_and_deletion_alert_once() {
    let w = world().await;
    // log_modified: digest #1 lists a log whose bytes changed; the other digests are clean.
    let case = variant("log_modified");
    upload_objects(&w.s3, case.objects()).await;
    let keys = public_keys_file(&case, "us-east-1");
    let keys_env = [(
        "PUBLIC_KEYS_FILE",
        keys.path().to_string_lossy().into_owned(),
    )];
    let digests = case.stored_digests();
    let digest_keys: Vec<&str> = digests.iter().map(|(_, k)| k.as_str()).collect();
    let bucket = digests[0].0.clone();
    let digests_event = events::s3_put(&bucket, &digest_keys);
    let chain = &case.chains[0];
    let deleted_log = &chain.logs[0];
    w.s3.delete_object()
        .bucket(&bucket)
        .key(&deleted_log.key)
        .send()
        .await
        .unwrap();
    let deletion_event = events::eventbridge_object_deleted(
        &bucket,
        &deleted_log.key,
        Some("marker-1"),
        "Delete Marker Created",
    );
    let tamper = format!(
        "LOG_HASH_MISMATCH {}",
        digests[1].1.rsplit('/').next().unwrap()
    );
    let deletion = format!(
        "OBJECT_DELETED {}",
        deleted_log.key.rsplit('/').next().unwrap()
    );
    // The deletion is real, so the digest that lists the log finds it missing: a third alert.
    let lister = (0..chain.digests.len())
        .find(|d| chain.logs_of(*d).contains(&0))
        .expect("a digest lists the first log");
    let missing = format!(
        "LOG_MISSING {}",
        chain.digests[lister].key.rsplit('/').next().unwrap()
    );

    let watch = LambdaWatch::start("digest-verifier", &w.env(true, &keys_env));
    for delivery in 0..3 {
        let r = watch.invoke(&digests_event).expect("verifier invocation");
        assert_eq!(r["status"], "ok", "delivery {delivery}: {r}");
        let r = watch.invoke(&deletion_event).expect("deletion invocation");
        assert_eq!(r["status"], "ok", "delivery {delivery}: {r}");
    }
    let got = w.delivered().await;
    assert!(repeats(&got).is_empty(), "{got:#?}");
    let mut expected = vec![tamper, deletion, missing];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(w.sns_published(), 3);
    let stdout = watch.stop_and_collect_stdout();
    assert!(stdout.contains("\"FilesAlreadyProcessed\""), "{stdout}");
    assert!(stdout.contains("\"DeletionsAlreadyAlerted\""), "{stdout}");

    // A cold start with the table: nothing again.
    let fresh = LambdaWatch::start("digest-verifier", &w.env(true, &keys_env));
    fresh.invoke(&digests_event).expect("redrive");
    fresh.invoke(&deletion_event).expect("redrive");
    assert!(w.delivered().await.is_empty());
    drop(fresh);

    // Negative control: without the table, the same deliveries alert again.
    let forgetful = LambdaWatch::start("digest-verifier", &w.env(false, &keys_env));
    forgetful.invoke(&digests_event).expect("without the table");
    forgetful
        .invoke(&deletion_event)
        .expect("without the table");
    assert_eq!(w.delivered().await, expected);
    assert_eq!(w.sns_published(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_range_check_retried_and_redriven_alerts_once() {
    let w = world().await;
    // digest_deleted_head: the newest digest is gone, so the chain head is stale.
    let case = variant("digest_deleted_head");
    upload_objects(&w.s3, case.objects()).await;
    let run = &case.runs[0].request;
    let keys = public_keys_file(&case, &run.region);
    let keys_env = [(
        "PUBLIC_KEYS_FILE",
        keys.path().to_string_lossy().into_owned(),
    )];
    // What the schedule sends: its scheduled time, the window ending the delivery slack before.
    let scheduled_time = trailwatch_shared::digest::testkit::iso(
        run.end + digest_verifier::range_check::DELIVERY_SLACK_SECS,
    );
    let hours = (run.end - run.start + 3599) / 3600;
    let payload = serde_json::json!({"trailwatchRangeCheck": {
        "bucket": run.bucket, "prefix": run.prefix, "hours": hours,
        "scheduledTime": scheduled_time
    }});
    let watch = LambdaWatch::start("digest-verifier", &w.env(true, &keys_env));
    for attempt in 0..3 {
        let r = watch.invoke(&payload).expect("range check");
        assert_eq!(r["rangeCheck"]["end"], run.end, "attempt {attempt}: {r}");
    }
    let got = w.delivered().await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("CHAIN_HEAD_STALE "), "{got:?}");
    assert_eq!(w.sns_published(), 1);
    let stdout = watch.stop_and_collect_stdout();
    assert!(
        stdout.contains("\"RangeAlertsAlreadyPublished\""),
        "{stdout}"
    );

    // Negative control: without the table, the repeat alerts again.
    let forgetful = LambdaWatch::start("digest-verifier", &w.env(false, &keys_env));
    forgetful
        .invoke(&payload)
        .expect("range check without the table");
    assert_eq!(w.delivered().await.len(), 1);
    assert_eq!(w.sns_published(), 2);
}
