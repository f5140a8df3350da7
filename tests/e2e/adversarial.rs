//! Attacks on the digest verifier itself, end to end through the real `digest-verifier` binary
//! against moto: each must end in a tamper alert with the right finding code, never only in a
//! failure queue and never in a PASS. (A listed log the role may not read, under moto's IAM
//! enforcement, is in iam.rs: `digest_verifier_reports_a_refused_read_of_a_listed_log_as_log_unreadable`.)

use serde_json::Value;
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, create_versioned_bucket, events, upload_objects};
use trailwatch_shared::digest::testkit::{
    ChainOptions, TestChain, TestKey, TrailLayout, VariantCase, gzip,
};
use trailwatch_shared::digest::{MAX_DIGEST_BYTES, META_SIGNATURE};

/// What one verification of one digest gave.
struct Outcome {
    response: Result<Value, String>,
    alerts: Vec<Value>,
    log: String,
    peak_rss_kib: Option<u64>,
}

impl Outcome {
    fn codes(&self) -> Vec<String> {
        self.alerts
            .iter()
            .map(|a| {
                a["MessageAttributes"]["finding_codes"]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn subject(&self) -> &str {
        self.alerts[0]["Subject"].as_str().unwrap_or_default()
    }

    fn verdict(&self) -> Option<String> {
        self.log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v.get("verdict")?.as_str().map(str::to_owned))
    }
}

/// Uploads `case` (already tampered with as the attack needs) to a versioned bucket, then runs
/// the binary on digest `index` with the EventBridge event S3 sends, version-id included.
async fn verify(case: &VariantCase, index: usize) -> Outcome {
    verify_with(case, index, Keys::File).await
}

/// Where the binary gets CloudTrail's public keys.
enum Keys {
    /// The case's keys for us-east-1 in a `PUBLIC_KEYS_FILE` (moto has no ListPublicKeys).
    File,
    /// `ListPublicKeys` at an endpoint nothing answers on: what the call does for a region that
    /// does not exist (no such host), for every region.
    Unreachable,
}

async fn verify_with(case: &VariantCase, index: usize, keys: Keys) -> Outcome {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    let s3 = moto.s3().await;
    let bucket = case.chains[0].layout.bucket.clone();
    create_versioned_bucket(&s3, &bucket).await;
    upload_objects(&s3, case.objects()).await;
    let key = case.chains[0].digests[index].key.clone();
    let version = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .version_id
        .expect("versioned bucket");

    let key_file = public_keys_file(case, "us-east-1");
    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    match keys {
        Keys::File => env.push((
            "PUBLIC_KEYS_FILE".into(),
            key_file.path().to_string_lossy().into(),
        )),
        Keys::Unreachable => env.push((
            "AWS_ENDPOINT_URL_CLOUDTRAIL".into(),
            format!("http://127.0.0.1:{}", closed_port()),
        )),
    }
    let watch = LambdaWatch::start("digest-verifier", &env);
    let response = watch.invoke(&events::eventbridge_object_version_created(
        &bucket, &key, &version,
    ));
    let peak_rss_kib = watch.function_peak_rss_kib();
    let log = watch.stop_and_collect_stdout();
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let alerts = drain_envelopes(&sqs, &queue_url).await;
    Outcome {
        response,
        alerts,
        log,
        peak_rss_kib,
    }
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The attack ended in a verdict (not an infrastructure error) and one tamper alert carrying
/// `code`.
fn assert_alerted(o: &Outcome, code: &str) {
    assert_eq!(
        o.response.as_ref().map(|r| r["status"].clone()),
        Ok(Value::from("ok")),
        "a verdict, not a failure queue:\n{}",
        o.log
    );
    assert_eq!(o.verdict().as_deref(), Some("FAIL"), "{}", o.log);
    assert_eq!(o.alerts.len(), 1, "one tamper alert: {:#?}", o.alerts);
    assert!(
        o.codes()[0].split(',').any(|c| c == code),
        "{code} in {:?}",
        o.codes()
    );
    assert!(
        o.subject()
            .starts_with("[CRITICAL] CloudTrail tampering suspected:"),
        "{}",
        o.subject()
    );
    println!("ALERT {code}: {} | codes {}", o.subject(), o.codes()[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_bomb_is_a_finding_within_the_functions_memory() {
    let bomb = verify(&variant("digest_bomb"), 2).await;
    assert_alerted(&bomb, "DIGEST_TOO_LARGE");
    // Negative control: the same digest, intact, passes; its peak is the baseline.
    let clean = verify(&variant("clean"), 2).await;
    assert_eq!(clean.verdict().as_deref(), Some("PASS"), "{}", clean.log);
    assert!(clean.alerts.is_empty());

    let (bomb_kib, clean_kib) = (bomb.peak_rss_kib.unwrap(), clean.peak_rss_kib.unwrap());
    println!(
        "digest bomb ({} MiB inflated): peak RSS {bomb_kib} KiB; clean digest: {clean_kib} KiB",
        MAX_DIGEST_BYTES >> 20
    );
    // The function has 1024 MB; the cap keeps the bomb to one inflated buffer (16 MiB).
    assert!(bomb_kib < 128 * 1024, "peak RSS {bomb_kib} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_bomb_far_past_the_cap_still_stays_small() {
    // 1 GiB of JSON whitespace (about 1 MB compressed): decompression stops at the cap.
    let mut case = variant("clean");
    let chain = &mut case.chains[0];
    let mut content = chain.digests[2].content.clone();
    content.resize(content.len() + (1 << 30), b' ');
    chain.digests[2].object = gzip(&content);
    drop(content);
    let o = verify(&case, 2).await;
    assert_alerted(&o, "DIGEST_TOO_LARGE");
    let kib = o.peak_rss_kib.unwrap();
    println!("digest bomb (1 GiB inflated): peak RSS {kib} KiB");
    assert!(kib < 128 * 1024, "peak RSS {kib} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_region_is_a_claim_finding() {
    let o = verify(&variant("digest_forged_region"), 2).await;
    assert_alerted(&o, "DIGEST_CLAIM_MISMATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_end_time_is_a_claim_and_time_finding() {
    let o = verify(&variant("digest_forged_end_time"), 2).await;
    assert_alerted(&o, "DIGEST_CLAIM_MISMATCH");
    assert_alerted(&o, "DIGEST_TIME_IMPLAUSIBLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_forged_field_still_publishes_an_alert_that_lists_it() {
    // digestS3Bucket forged to 1 MB: DIGEST_MOVED quotes it; the signature no longer verifies.
    let mut case = variant("clean");
    let chain = &mut case.chains[0];
    chain.digests[2].doc["digestS3Bucket"] = Value::from("a".repeat(1 << 20));
    chain.rewrite(2);
    let o = verify(&case, 2).await;
    assert_alerted(&o, "DIGEST_MOVED");
    let message = o.alerts[0]["Message"].as_str().unwrap();
    assert!(message.len() < 256 * 1024, "{} bytes", message.len());
    let doc: Value = serde_json::from_str(message).unwrap();
    let moved = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "DIGEST_MOVED")
        .expect("the finding is listed, not only counted");
    assert!(
        moved["detail"].as_str().unwrap().contains("bytes in all]"),
        "{moved}"
    );
    println!("1 MB field: SQS message {} bytes", message.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_named_in_the_event_is_verified_not_a_later_overwrite() {
    // Overwritten right after delivery with an altered signature: the event's version is what
    // CloudTrail wrote and passes; the overwrite (the newer version) is what a latest read sees.
    let case = variant("clean");
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    let s3 = moto.s3().await;
    let chain = &case.chains[0];
    let bucket = chain.layout.bucket.clone();
    create_versioned_bucket(&s3, &bucket).await;
    upload_objects(&s3, case.objects()).await;
    let d = &chain.digests[2];
    let head = |s3: aws_sdk_s3::Client| {
        let (bucket, key) = (bucket.clone(), d.key.clone());
        async move {
            s3.head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .version_id
                .unwrap()
        }
    };
    let original = head(s3.clone()).await;
    let mut metadata = d.metadata.clone();
    metadata.insert(META_SIGNATURE.into(), "00".repeat(256));
    s3.put_object()
        .bucket(&bucket)
        .key(&d.key)
        .set_metadata(Some(metadata))
        .body(d.object.clone().into())
        .send()
        .await
        .unwrap();
    let overwrite = head(s3.clone()).await;
    assert_ne!(original, overwrite);

    let keys = public_keys_file(&case, "us-east-1");
    let env = moto.verifier_env(&topic_arn, &keys);
    let watch = LambdaWatch::start("digest-verifier", &env);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let first = watch.invoke(&events::eventbridge_object_version_created(
        &bucket, &d.key, &original,
    ));
    assert_eq!(first.map(|r| r["status"].clone()), Ok(Value::from("ok")));
    // The original passes verification: the only alert is the overwrite check's (the key has
    // another version, the overwrite), never a digest verdict.
    let rule_ids = |alerts: &[Value]| {
        let mut ids: Vec<String> = alerts
            .iter()
            .map(|a| {
                a["MessageAttributes"]["rule_id"]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        ids.sort();
        ids
    };
    let alerts = drain_envelopes(&sqs, &queue_url).await;
    assert_eq!(rule_ids(&alerts), ["OBJECT_OVERWRITTEN"], "{alerts:#?}");
    // Negative control: the overwrite's version is the altered object.
    let second = watch.invoke(&events::eventbridge_object_version_created(
        &bucket, &d.key, &overwrite,
    ));
    assert_eq!(second.map(|r| r["status"].clone()), Ok(Value::from("ok")));
    let alerts = drain_envelopes(&sqs, &queue_url).await;
    watch.stop_and_collect_stdout();
    assert_eq!(alerts.len(), 2, "overwrite and verdict: {alerts:#?}");
    let verdict = alerts
        .iter()
        .find(|a| a["MessageAttributes"]["finding_codes"]["Value"].is_string())
        .expect("the digest verdict alert");
    assert!(
        verdict["MessageAttributes"]["finding_codes"]["Value"]
            .as_str()
            .unwrap()
            .contains("DIGEST_SIGNATURE_INVALID")
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["MessageAttributes"]["rule_id"]["Value"] == "OBJECT_OVERWRITTEN"),
        "{alerts:#?}"
    );
}

/// A region forged consistently (key folder, file name and `digestS3Object` all say `zz-fake-9`)
/// passes the claim checks; its keys cannot be fetched (no such endpoint), which must end in a
/// finding, not in the failure queue as an outage would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistently_forged_region_is_a_finding_not_an_outage() {
    let mut case = variant("clean");
    let forged = TestChain::build(
        TrailLayout {
            region: "zz-fake-9".into(),
            home_region: "zz-fake-9".into(),
            ..case.chains[0].layout.clone()
        },
        TestKey::generate(),
        &ChainOptions::default(),
    );
    case.chains = vec![forged];
    let o = verify_with(&case, 2, Keys::Unreachable).await;
    assert_alerted(&o, "DIGEST_REGION_UNKNOWN");

    // Negative control: the same unreachable key service for a real region is an outage — the
    // object fails (retried, then the failure queue) and no verdict or alert is given.
    let real = verify_with(&variant("clean"), 2, Keys::Unreachable).await;
    let err = real
        .response
        .as_ref()
        .expect_err("an outage fails the object");
    assert!(err.contains("ListPublicKeys"), "{err}");
    assert!(real.alerts.is_empty(), "{:#?}", real.alerts);
    assert_eq!(real.verdict(), None, "{}", real.log);
}
