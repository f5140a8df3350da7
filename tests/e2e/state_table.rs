//! The DynamoDB state store against a real `moto_server`: every semantic the memory store
//! promises (each scenario runs on both stores and must answer the same), the races DynamoDB's
//! conditional writes decide (16 concurrent claims, concurrent window contributions), the TTL
//! attribute on every item, and the error classes.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use trailwatch_e2e::{Moto, create_state_table};
use trailwatch_lambda_common::state::{
    Claim, DynamoStateStore, MemoryStateStore, Progress, StateError, StateStore, WindowKey, WorkKey,
};

const TABLE: &str = "state-test";
const TTL_SECS: i64 = 15 * 86_400;

struct Fixture {
    _moto: Moto,
    ddb: aws_sdk_dynamodb::Client,
    store: DynamoStateStore,
}

async fn fixture() -> Fixture {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    create_state_table(&sdk, TABLE).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStateStore::new(ddb.clone(), TABLE, TTL_SECS);
    Fixture {
        _moto: moto,
        ddb,
        store,
    }
}

fn work(key: &str) -> WorkKey {
    WorkKey {
        function: "forwarder",
        bucket: "trail".into(),
        key: key.into(),
        version: "v:1".into(),
    }
}

fn window() -> WindowKey {
    WindowKey {
        rule_id: "console-login-failures".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        period_secs: 300,
        window_start: 1_700_000_100,
    }
}

async fn item(f: &Fixture, pk: String) -> HashMap<String, AttributeValue> {
    f.ddb
        .get_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S(pk))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
        .expect("item exists")
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing or not a number in {item:?}"))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The lifecycle every function relies on, as a list of answers: claim, live lease refused,
/// checkpoint, expired lease taken over with progress, stale owner refused, publish records,
/// release and resume, same owner re-claims, complete, a repeated delivery is skipped.
async fn lifecycle<S: StateStore>(s: &S, w: &WorkKey) -> Vec<String> {
    let mut log = Vec::new();
    let mut note = |what: &str, v: &dyn std::fmt::Debug| log.push(format!("{what}: {v:?}"));
    note("a claims", &s.claim(w, "a", 1_000, 0).await);
    note("b during a's lease", &s.claim(w, "b", 2_000, 500).await);
    note("a checkpoints 7", &s.checkpoint(w, "a", 7).await);
    note("a publishes r1", &s.record_published(w, "a", "r1").await);
    note("b at a's lease end", &s.claim(w, "b", 3_000, 1_000).await);
    note("stale a checkpoints", &s.checkpoint(w, "a", 9).await);
    note("stale a publishes", &s.record_published(w, "a", "r2").await);
    note("stale a completes", &s.complete(w, "a", "{}", 0).await);
    note("stale a releases", &s.release(w, "a").await);
    note("b publishes r2", &s.record_published(w, "b", "r2").await);
    note(
        "b publishes r2 again",
        &s.record_published(w, "b", "r2").await,
    );
    note("b checkpoints 12", &s.checkpoint(w, "b", 12).await);
    note("b releases", &s.release(w, "b").await);
    note("b's write after release", &s.checkpoint(w, "b", 13).await);
    note("c claims at once", &s.claim(w, "c", 9_000, 1_100).await);
    note("c claims again", &s.claim(w, "c", 9_500, 1_200).await);
    note(
        "c completes",
        &s.complete(w, "c", r#"{"sent":12}"#, 99).await,
    );
    note("d after completion", &s.claim(w, "d", 20_000, 30_000).await);
    note("c after completion", &s.claim(w, "c", 20_000, 30_000).await);
    note("c writes after completion", &s.checkpoint(w, "c", 14).await);
    log
}

#[tokio::test]
async fn the_lifecycle_answers_exactly_as_the_memory_store_does() {
    let f = fixture().await;
    let w = work("lifecycle.json.gz");
    let memory = lifecycle(&MemoryStateStore::new(), &w).await;
    let dynamo = lifecycle(&f.store, &w).await;
    assert_eq!(dynamo, memory);
    // Negative control: the comparison is not vacuous, the scenario does reach every answer.
    let expected_progress = Progress {
        records_done: 12,
        published: ["r1".to_owned(), "r2".to_owned()].into(),
        attempts: 4,
    };
    let joined = memory.join("\n");
    for wanted in [
        format!(
            "a claims: Ok(Acquired({:?}))",
            Progress {
                attempts: 1,
                ..Progress::default()
            }
        ),
        "b during a's lease: Ok(InProgress { lease_until_ms: 1000 })".to_owned(),
        "stale a checkpoints: Err(LeaseLost(".to_owned(),
        "b's write after release: Err(LeaseLost(".to_owned(),
        format!("c claims again: Ok(Acquired({expected_progress:?}))"),
        r#"d after completion: Ok(Completed { outcome: "{\"sent\":12}" })"#.to_owned(),
    ] {
        assert!(joined.contains(&wanted), "{wanted} not in\n{joined}");
    }
    // A claim after a release resumes the progress: c's first claim saw b's checkpoint.
    assert!(
        joined.contains("c claims at once: Ok(Acquired(Progress { records_done: 12"),
        "{joined}"
    );
}

#[tokio::test]
async fn every_write_sets_the_ttl_attribute_and_complete_sets_the_callers_expiry() {
    let f = fixture().await;
    let w = work("ttl.json.gz");
    let now_ms = now_secs() * 1000;
    f.store
        .claim(&w, "a", now_ms + 60_000, now_ms)
        .await
        .unwrap();
    let claimed = item(&f, w.partition_key()).await;
    let expires = num(&claimed, "expiresAt");
    assert!(
        (now_secs() + TTL_SECS - 5..=now_secs() + TTL_SECS + 5).contains(&expires),
        "claim's expiresAt {expires} is not now + TTL"
    );
    assert_eq!(num(&claimed, "leaseUntil"), now_ms + 60_000);
    assert_eq!(claimed["status"].as_s().unwrap(), "in_progress");
    assert_eq!(claimed["owner"].as_s().unwrap(), "a");
    f.store.checkpoint(&w, "a", 5).await.unwrap();
    assert_eq!(num(&item(&f, w.partition_key()).await, "recordsDone"), 5);
    f.store.complete(&w, "a", "{}", 1_234).await.unwrap();
    let done = item(&f, w.partition_key()).await;
    assert_eq!(num(&done, "expiresAt"), 1_234);
    assert_eq!(done["status"].as_s().unwrap(), "completed");

    f.store
        .add_to_window(&window(), "f1", 1, vec!["s".into()], 3, 4_321)
        .await
        .unwrap();
    assert_eq!(
        num(&item(&f, window().partition_key()).await, "expiresAt"),
        4_321
    );
}

#[tokio::test]
async fn sixteen_concurrent_claims_of_one_unit_acquire_it_exactly_once() {
    let f = fixture().await;
    let store = Arc::new(f.store.clone());
    let w = work("race.json.gz");
    let answers = join_all((0..16).map(|i| {
        let (store, w) = (store.clone(), w.clone());
        tokio::spawn(async move { store.claim(&w, &format!("owner-{i}"), 60_000, 0).await })
    }))
    .await;
    let answers: Vec<Claim> = answers
        .into_iter()
        .map(|a| a.expect("task").expect("claim"))
        .collect();
    let acquired = answers
        .iter()
        .filter(|a| matches!(a, Claim::Acquired(_)))
        .count();
    let in_progress = answers
        .iter()
        .filter(|a| {
            matches!(
                a,
                Claim::InProgress {
                    lease_until_ms: 60_000
                }
            )
        })
        .count();
    assert_eq!((acquired, in_progress), (1, 15), "{answers:?}");
    assert_eq!(num(&item(&f, w.partition_key()).await, "attempts"), 1);
}

#[tokio::test]
async fn a_window_counts_each_contribution_once_as_the_memory_store_does() {
    let f = fixture().await;
    let memory = MemoryStateStore::new();
    let w = window();
    let steps: [(&str, u64, Vec<String>); 4] = [
        ("f1", 3, vec!["a".into()]),
        ("f1", 3, vec!["a".into()]),
        ("f2", 2, vec!["b".into(), "c".into()]),
        ("f3", 4, vec!["d".into()]),
    ];
    for (contribution, count, samples) in steps {
        let m = memory
            .add_to_window(&w, contribution, count, samples.clone(), 2, 0)
            .await
            .unwrap();
        let d = f
            .store
            .add_to_window(&w, contribution, count, samples, 2, 0)
            .await
            .unwrap();
        assert_eq!(d, m, "contribution {contribution}");
    }
    let last = f
        .store
        .add_to_window(&w, "f3", 4, vec![], 2, 0)
        .await
        .unwrap();
    assert_eq!((last.before, last.after, last.samples.len()), (9, 9, 2));
    assert_eq!(last.samples, ["a", "b"]);
}

#[tokio::test]
async fn concurrent_window_contributions_are_counted_once_and_the_samples_cap_holds() {
    let f = fixture().await;
    let store = Arc::new(f.store.clone());
    let w = window();
    const MAX: usize = 5;
    // 12 distinct contributions (files), each delivered twice at the same time; contribution i
    // counts i + 1 matches and brings 2 samples.
    let tasks = (0..24).map(|n| {
        let (store, w) = (store.clone(), w.clone());
        let i = n % 12;
        tokio::spawn(async move {
            let samples = vec![format!("f{i}-a"), format!("f{i}-b")];
            let total = store
                .add_to_window(&w, &format!("f{i}"), i + 1, samples, MAX, 0)
                .await
                .expect("add to window");
            (i, total)
        })
    });
    let totals: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|t| t.expect("task"))
        .collect();
    let expected: u64 = (1..=12).sum();
    let stored = item(&f, w.partition_key()).await;
    assert_eq!(num(&stored, "count") as u64, expected);
    // Each contribution's increment appears exactly once among the answers.
    let increments: u64 = totals.iter().map(|(_, t)| t.after - t.before).sum();
    assert_eq!(increments, expected, "{totals:?}");
    for (i, t) in &totals {
        assert!(
            t.after - t.before == 0 || t.after - t.before == i + 1,
            "{t:?}"
        );
        assert!(t.samples.len() <= MAX, "{t:?}");
    }
    // The stored list exceeds the cap by at most one call's samples (concurrent appenders).
    let kept = stored["samples"].as_l().unwrap().len();
    assert!((MAX..=MAX + 2).contains(&kept), "{kept} samples stored");

    // Sequentially the cap is exact: a later contribution appends nothing to a full list.
    let t = store
        .add_to_window(&w, "late", 1, vec!["late".into()], MAX, 0)
        .await
        .unwrap();
    assert_eq!((t.before, t.after), (expected, expected + 1));
    assert!(!t.samples.contains(&"late".to_owned()), "{t:?}");
    assert_eq!(t.samples.len(), MAX);
}

#[tokio::test]
async fn a_missing_table_is_unavailable_not_refused_and_not_a_lost_lease() {
    let f = fixture().await;
    let missing = DynamoStateStore::new(f.ddb.clone(), "no-such-table", TTL_SECS);
    let w = work("missing.json.gz");
    assert!(matches!(
        missing.claim(&w, "a", 1_000, 0).await,
        Err(StateError::Unavailable {
            operation: "claim",
            ..
        })
    ));
    assert!(matches!(
        missing.checkpoint(&w, "a", 1).await,
        Err(StateError::Unavailable {
            operation: "checkpoint",
            ..
        })
    ));
    // Negative control: the same calls on the real table succeed.
    assert!(matches!(
        f.store.claim(&w, "a", 1_000, 0).await,
        Ok(Claim::Acquired(_))
    ));
    assert_eq!(f.store.checkpoint(&w, "a", 1).await, Ok(()));
}

/// The cost, measured: the real forwarder and alerter binaries, through a recording proxy in
/// front of moto, on the bundled real CloudTrail files, each delivered twice. Every DynamoDB call
/// is counted and reconciled with the calls the code promises per file: forwarder = claim + one
/// checkpoint per acknowledged PutLogEvents + complete; alerter = claim + one record per alert
/// published + complete; a repeated delivery = one refused claim; no GetItem (moto returns the
/// item with a failed condition, as DynamoDB does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_calls_per_file_measured_through_the_real_binaries() {
    use trailwatch_e2e::faults::FaultProxy;
    use trailwatch_e2e::{LambdaWatch, events, fixture, gzip, put_object, time};

    const BUCKET: &str = "trail";
    const LOG_GROUP: &str = "/trailwatch/cloudtrail";
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let state_env = moto.with_state_table().await;
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    aws_sdk_cloudwatchlogs::Client::new(&sdk)
        .create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .unwrap();
    let topic_arn = moto.create_topic("alerts").await;
    let day = time::yesterday();
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(fixture("cloudtrail")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || !name.contains("_CloudTrail_us-east-1_2023") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"2023-07-10T", &format!("\"{day}T"));
        let key = format!("AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/{name}.gz");
        put_object(&s3, BUCKET, &key, gzip(text.as_bytes())).await;
        keys.push(key);
    }
    assert!(keys.len() >= 4, "the bundled real files: {keys:?}");
    let files = keys.len();

    let proxy = FaultProxy::start(&moto.endpoint());
    let mut env = proxy.env();
    env.extend(state_env);
    env.push(("LOG_GROUP_NAME".into(), LOG_GROUP.into()));
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    let count = |op: &str| proxy.count("dynamodb", op);

    let mut lines = Vec::new();
    for function in ["forwarder", "alerter"] {
        let watch = LambdaWatch::start(function, &env);
        let before = (count("UpdateItem"), count("GetItem"));
        let (puts0, publishes0) = (
            proxy.count("logs", "PutLogEvents"),
            proxy.count("sns", "Publish"),
        );
        for key in &keys {
            let r = watch.invoke(&events::eventbridge_object_created(BUCKET, key));
            assert!(r.is_ok(), "{function} {key}: {r:?}");
        }
        let first = (count("UpdateItem") - before.0, count("GetItem") - before.1);
        // The record's owner is the invocation's request id (runtime's task-local reached the
        // store), and its lease the invocation's deadline, not a fallback.
        let items = moto.state_table_items().await;
        let mine: Vec<_> = items
            .iter()
            .filter(|i| {
                i["pk"]
                    .as_s()
                    .is_ok_and(|pk| pk.starts_with(&format!("{function}#")))
            })
            .collect();
        assert_eq!(mine.len(), files, "one record per file");
        for item in mine {
            let owner = item["owner"].as_s().unwrap();
            assert!(
                !owner.starts_with("local/") && owner.split('/').count() == 3,
                "{function}: owner {owner} is not REQUEST_ID/PROCESS/N"
            );
            let lease = num(item, "leaseUntil");
            let now_ms = now_secs() * 1000;
            assert!(
                lease > now_ms - 60_000 && lease <= now_ms + 901_000,
                "{function}: lease {lease} vs now {now_ms}"
            );
        }
        let puts = proxy.count("logs", "PutLogEvents") - puts0;
        let publishes = proxy.count("sns", "Publish") - publishes0;
        for key in &keys {
            let r = watch.invoke(&events::eventbridge_object_created(BUCKET, key));
            assert!(r.is_ok(), "{function} repeat {key}: {r:?}");
        }
        let repeat = (
            count("UpdateItem") - before.0 - first.0,
            count("GetItem") - before.1 - first.1,
        );
        watch.stop_and_collect_stdout();
        // Repeats send nothing.
        assert_eq!(proxy.count("logs", "PutLogEvents") - puts0, puts);
        assert_eq!(proxy.count("sns", "Publish") - publishes0, publishes);
        let (per_file_extra, what) = match function {
            "forwarder" => (puts, "checkpoints (one per PutLogEvents)"),
            _ => (publishes, "published-alert records (one per Publish)"),
        };
        assert_eq!(
            first.0,
            2 * files + per_file_extra,
            "{function}: claim + complete per file + {what}"
        );
        assert_eq!(first.1, 0, "{function}: no GetItem");
        assert_eq!(
            repeat,
            (files, 0),
            "{function}: one refused claim per repeat"
        );
        lines.push(format!(
            "{function}: {files} files: {} UpdateItem ({files} claims, {per_file_extra} {what}, \
             {files} completions) = {:.2} writes per file; repeated delivery: {} UpdateItem = \
             {:.2} per file; GetItem: {}",
            first.0,
            first.0 as f64 / files as f64,
            repeat.0,
            repeat.0 as f64 / files as f64,
            first.1 + repeat.1
        ));
    }
    println!("{}", lines.join("\n"));
}

/// The verifier's cost, measured like the forwarder's: the real binary through the recording
/// proxy on a signed chain in which one listed log was modified (one FAIL digest), each digest
/// delivered twice: claim + complete per digest, one published-alert record per alert, one
/// refused claim per repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_dynamodb_calls_per_digest_measured_through_the_real_binary() {
    use trailwatch_e2e::chains::{public_keys_file, variant};
    use trailwatch_e2e::faults::FaultProxy;
    use trailwatch_e2e::{LambdaWatch, events, upload_objects};

    let moto = Moto::start();
    let state_env = moto.with_state_table().await;
    let topic_arn = moto.create_topic("alerts").await;
    let case = variant("log_modified");
    upload_objects(&moto.s3().await, case.objects()).await;
    let keys = public_keys_file(&case, "us-east-1");
    let proxy = FaultProxy::start(&moto.endpoint());
    let mut env = proxy.env();
    env.extend(state_env);
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    env.push((
        "PUBLIC_KEYS_FILE".into(),
        keys.path().to_string_lossy().to_string(),
    ));
    let digests = case.stored_digests();
    let watch = LambdaWatch::start("digest-verifier", &env);
    for (bucket, key) in digests.iter().chain(digests.iter()) {
        let r = watch.invoke(&events::s3_put(bucket, &[key]));
        assert!(r.is_ok(), "{key}: {r:?}");
    }
    watch.stop_and_collect_stdout();
    let (updates, reads) = (
        proxy.count("dynamodb", "UpdateItem"),
        proxy.count("dynamodb", "GetItem"),
    );
    let publishes = proxy.count("sns", "Publish");
    let n = digests.len();
    assert_eq!(publishes, 1, "one alert for the one failing digest, once");
    assert_eq!(
        updates,
        2 * n + publishes + n,
        "claim + complete per digest, a record per alert, a refused claim per repeat"
    );
    assert_eq!(reads, 0);
    println!(
        "digest-verifier: {n} digests delivered twice: {updates} UpdateItem ({n} claims, {n} \
         completions, {publishes} published-alert record, {n} refused repeats) = {:.2} writes \
         per digest on first delivery; GetItem: {reads}",
        (2 * n + publishes) as f64 / n as f64
    );
}
