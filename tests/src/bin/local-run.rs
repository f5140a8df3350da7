//! `tests/local-run`: the whole of trailwatch on this machine, with no AWS account.
//!
//! Starts moto_server on 127.0.0.1, creates what the template would (bucket, log group, alert
//! topic with a queue subscribed so the e-mails can be shown), delivers bundled real CloudTrail
//! files and a signed digest chain (local test key; one log file tampered after signing), sends
//! each function the events S3 would send through the real binaries under the Lambda runtime API
//! emulator, and prints a report. Everything it starts is stopped when it ends, on failure, and
//! on Ctrl-C / SIGTERM.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use trailwatch_e2e::{LambdaWatch, Moto, events, fixture, gzip, time};
use trailwatch_shared::digest::testkit::{ChainOptions, TestChain, TestKey, TrailLayout};

const BUCKET: &str = "trailwatch-local-trail";
const LOG_GROUP: &str = "/trailwatch/cloudtrail";
/// Real files (tests/fixtures/cloudtrail, see PROVENANCE.md), re-dated to yesterday.
const REAL_FILES: [(&str, &str); 4] = [
    (
        "218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json",
        "2023-07-10",
    ),
    (
        "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json",
        "2023-07-10",
    ),
    (
        "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json",
        "2023-07-10",
    ),
    (
        "218007301253_CloudTrail_us-east-1_20230710T1230Z_AvIajGd5rkz6vTy4.json",
        "2023-07-10",
    ),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let work = tokio::spawn(run());
    let abort = work.abort_handle();
    tokio::select! {
        result = work => result.context("local run panicked")?,
        _ = shutdown_signal() => {
            // Aborting drops the run's guards, which kill moto and the functions by PID.
            abort.abort();
            tokio::time::sleep(Duration::from_millis(300)).await;
            bail!("interrupted; everything started has been stopped")
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run() -> anyhow::Result<()> {
    let workdir = tempfile::tempdir()?;
    println!("trailwatch local run — moto_server + the real function binaries, no AWS account\n");
    let moto = Moto::start();
    println!("local AWS (moto) on {}", moto.endpoint());
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);

    // What the template creates.
    s3.create_bucket().bucket(BUCKET).send().await?;
    logs.create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await?;
    // The state table (exactly-once processing), as the template declares it.
    let state_env = moto.with_state_table().await;
    let topic = sns.create_topic().name("trailwatch-alerts").send().await?;
    let topic_arn = topic.topic_arn().context("topic arn")?.to_owned();
    // A subscribed queue, as a machine subscriber would have (the e-mail text is read from
    // moto's record of each publish).
    sqs.create_queue().queue_name("alert-inbox").send().await?;
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:alert-inbox";
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await?;

    // Real CloudTrail log files, delivered where CloudTrail would put them.
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));
    let mut log_keys = Vec::new();
    for (name, old_day) in REAL_FILES {
        let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{name}")))?
            .replace(&format!("\"{old_day}T"), &format!("\"{day}T"));
        let (account, rest) = name
            .split_once("_CloudTrail_us-east-1_")
            .context("fixture name")?;
        let key = format!(
            "AWSLogs/{account}/CloudTrail/us-east-1/{folder}/{account}_CloudTrail_us-east-1_{compact}{}.gz",
            &rest[8..]
        );
        s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(gzip(text.as_bytes()).into())
            .send()
            .await?;
        log_keys.push(key);
    }
    println!("delivered {} real CloudTrail log files", log_keys.len());

    // A digest chain signed with a local test key, then one of its log files tampered with.
    let layout = TrailLayout {
        bucket: BUCKET.into(),
        account: "123456789012".into(),
        trail_name: "management-events".into(),
        ..TrailLayout::default()
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let start = now - now % 3600 - 4 * 3600;
    let options = ChainOptions {
        start,
        logs_per_digest: vec![3, 3, 3],
        log_bytes: 20_000,
        window: 3600,
    };
    let chain = TestChain::build(layout, TestKey::generate(), &options);
    for object in chain.objects() {
        s3.put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_metadata(Some(object.metadata.clone()))
            .body(object.bytes.clone().into())
            .send()
            .await?;
    }
    let tampered = &chain.logs[4];
    let mut forged = tampered.content.clone();
    let at = forged
        .windows(9)
        .position(|w| w == b"eventName")
        .context("a record")?;
    forged[at + 12] ^= 0x01; // one byte of one event name
    s3.put_object()
        .bucket(BUCKET)
        .key(&tampered.key)
        .body(gzip(&forged).into())
        .send()
        .await?;
    let keys_file = workdir.path().join("public-keys.json");
    let entries: Vec<Value> = chain
        .keys
        .iter()
        .map(|k| k.list_public_keys_entry(start - 86_400, now + 86_400))
        .collect();
    std::fs::write(&keys_file, json!({ "PublicKeyList": entries }).to_string())?;
    println!(
        "delivered a signed chain of {} digests over {} log files; tampered after signing: {}\n",
        chain.digests.len(),
        chain.logs.len(),
        tampered.key
    );

    // The three functions, as the real binaries under the Lambda runtime API emulator.
    let mut env = moto.env();
    env.push(("LOG_GROUP_NAME".into(), LOG_GROUP.into()));
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    env.push(("PUBLIC_KEYS_FILE".into(), keys_file.display().to_string()));
    env.extend(state_env);
    // Every alert also as a Security Hub finding (the template's SecurityHubFindings=true).
    aws_sdk_securityhub::Client::new(&cfg)
        .enable_security_hub()
        .send()
        .await?;
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    env.push((
        "SECURITY_HUB_PRODUCT_ARN".into(),
        SECURITY_HUB_PRODUCT_ARN.into(),
    ));
    let forwarder = LambdaWatch::start("forwarder", &env);
    let alerter = LambdaWatch::start("alerter", &env);
    let verifier = LambdaWatch::start("digest-verifier", &env);

    // Every log file's event twice: the second delivery finds the file completed in the state
    // table and is skipped (no event forwarded twice, no alert published twice).
    for round in ["first delivery", "repeated delivery"] {
        for key in &log_keys {
            let event = events::eventbridge_object_created(BUCKET, key);
            forwarder
                .invoke(&event)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("forwarder, {round}"))?;
            alerter
                .invoke(&event)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("alerter, {round}"))?;
        }
    }
    println!(
        "sent each log file's event to the forwarder and the alerter twice (EventBridge delivers \
         at least once); the repeats find the file completed in the state table\n"
    );
    for digest in &chain.digests {
        let event = events::eventbridge_object_created(BUCKET, &digest.key);
        verifier
            .invoke(&event)
            .map_err(anyhow::Error::msg)
            .context("digest-verifier")?;
    }

    report_forwarded(&logs, &forwarder.stdout_so_far()).await?;
    report_alerts(&moto)?;
    report_verdicts(&verifier.stdout_so_far());
    report_findings(moto.endpoint())?;
    report_state_table(&cfg).await?;
    drop((forwarder, alerter, verifier, moto));
    println!("\nall local processes stopped.");
    Ok(())
}

/// Per log stream: what the forwarder's EMF lines say it forwarded, and what CloudWatch Logs holds.
async fn report_forwarded(
    logs: &aws_sdk_cloudwatchlogs::Client,
    forwarder_stdout: &str,
) -> anyhow::Result<()> {
    println!("== forwarder: records in CloudWatch Logs group {LOG_GROUP}");
    let mut per_stream: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for line in forwarder_stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(stream) = v["logStream"].as_str() {
            let e = per_stream.entry(stream.to_owned()).or_default();
            e.0 += v["RecordsIn"].as_u64().unwrap_or(0);
            e.1 += v["RecordsForwarded"].as_u64().unwrap_or(0);
            e.2 += v["RecordsRejected"].as_u64().unwrap_or(0)
                + v["RecordsFiltered"].as_u64().unwrap_or(0);
        }
    }
    for (stream, (records_in, forwarded, not_sent)) in &per_stream {
        let stored = trailwatch_e2e::read_log_stream(logs, LOG_GROUP, stream)
            .await?
            .len();
        println!(
            "  {stream}: {forwarded} forwarded of {records_in} records in ({not_sent} filtered or rejected); {stored} events stored"
        );
    }
    Ok(())
}

fn report_alerts(moto: &Moto) -> anyhow::Result<()> {
    let sent = moto.sent_notifications();
    println!("\n== alerts published to SNS ({})", sent.len());
    for n in &sent {
        // What an e-mail subscriber reads: the `email` text of the JSON message structure.
        let structured: Value =
            serde_json::from_str(&n.message).context("MessageStructure json")?;
        let text = structured["email"].as_str().unwrap_or(&n.message);
        println!("  {}", n.subject);
        for line in text.lines().filter(|l| !l.trim().is_empty()).take(4) {
            println!("      {line}");
        }
    }
    Ok(())
}

fn report_verdicts(verifier_stdout: &str) {
    println!("\n== digest verdicts");
    for line in verifier_stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let f = &v["fields"];
        if let Some(verdict) = f["verdict"].as_str() {
            let object = f["object"].as_str().unwrap_or_default();
            let name = object.rsplit('/').next().unwrap_or(object);
            println!(
                "  {verdict:<4} {name} {}",
                f["codes"].as_str().unwrap_or("")
            );
        }
    }
}

/// moto's account and region: the default product the functions import findings into.
const SECURITY_HUB_PRODUCT_ARN: &str =
    "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";

/// The Security Hub findings the alerts became (one per alert). Read on a thread with a 16 MiB
/// stack: the SDK's GetFindings deserializer needs more than a default thread has in a debug build.
fn report_findings(endpoint: String) -> anyhow::Result<()> {
    let lines = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || -> anyhow::Result<Vec<String>> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let cfg = trailwatch_e2e::sdk_config_for(&endpoint).await;
                let hub = aws_sdk_securityhub::Client::new(&cfg);
                let page = hub.get_findings().max_results(100).send().await?;
                Ok(page
                    .findings()
                    .iter()
                    .map(|f| {
                        format!(
                            "{:<8} {}  {}",
                            f.severity()
                                .and_then(|s| s.label())
                                .map(|l| l.as_str())
                                .unwrap_or("?"),
                            f.id().unwrap_or("?"),
                            f.title().unwrap_or("")
                        )
                    })
                    .collect())
            })
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the Security Hub report panicked"))??;
    println!("\n== Security Hub findings ({})", lines.len());
    for line in lines {
        println!("  {line}");
    }
    Ok(())
}

/// The state table's records per function and status (what a repeated delivery found).
async fn report_state_table(cfg: &aws_config::SdkConfig) -> anyhow::Result<()> {
    let ddb = aws_sdk_dynamodb::Client::new(cfg);
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(trailwatch_e2e::STATE_TABLE)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items() {
            let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned();
            let kind = pk
                .as_deref()
                .and_then(|pk| pk.split('#').next())
                .unwrap_or("?")
                .to_owned();
            let status = item
                .get("status")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_else(|| "counter".to_owned());
            *counts.entry((kind, status)).or_default() += 1;
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    println!(
        "\n== state table {} (records per function and status)",
        trailwatch_e2e::STATE_TABLE
    );
    for ((kind, status), n) in &counts {
        println!("  {kind:<16} {status:<12} {n}");
    }
    Ok(())
}
