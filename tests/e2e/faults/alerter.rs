//! The alerter's cells: two real files (five alerts between them) in one S3 notification, faults
//! on S3, SNS and DynamoDB, alerts read back from moto's record of the topic.

use std::collections::BTreeMap;

use trailwatch_e2e::faults::{Exchange, FaultProxy, Rule};
use trailwatch_e2e::{Moto, create_state_table, events, fixture, gzip};

use super::alerts::{check_alerts, published, topic_with_queue};
use super::forwarder::Redelivery;
use super::harness::{CellResult, Delivery, check_end_state, deliver, deliver_fresh};

const PREFIX: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/";
/// StopLogging, AccessDenied, an IAM policy change and a bucket policy change.
const ATTACK: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";
/// A console login without MFA.
const NO_MFA: &str = "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json";

/// The file the S3 faults are pinned to (a part of its key).
pub(crate) const PINNED_FILE: &str = "UljXNp9xLp8nsAGc";

pub(crate) struct AlerterFiles {
    /// (key, gzipped body)
    pub(crate) objects: Vec<(String, Vec<u8>)>,
}

pub(crate) fn files() -> AlerterFiles {
    AlerterFiles {
        objects: [ATTACK, NO_MFA]
            .iter()
            .map(|name| {
                let body = std::fs::read(fixture(&format!("cloudtrail/{name}"))).unwrap();
                (format!("{PREFIX}{name}.gz"), gzip(&body))
            })
            .collect(),
    }
}

impl AlerterFiles {
    /// The smaller file's size: a cut before it is a cut inside every file.
    pub(crate) fn smallest_gz(&self) -> usize {
        self.objects.iter().map(|(_, b)| b.len()).min().unwrap_or(0)
    }
}

pub(crate) struct AlerterRun {
    pub(crate) delivery: Delivery,
    pub(crate) exchanges: Vec<Exchange>,
    pub(crate) alerts: Vec<String>,
}

pub(crate) async fn run(
    moto: &Moto,
    id: &str,
    files: &AlerterFiles,
    rules: Vec<Rule>,
) -> AlerterRun {
    run_as(moto, id, files, rules, Redelivery::UntilSuccess).await
}

pub(crate) async fn run_as(
    moto: &Moto,
    id: &str,
    files: &AlerterFiles,
    rules: Vec<Rule>,
    redelivery: Redelivery,
) -> AlerterRun {
    let s3 = moto.s3().await;
    let cfg = moto.sdk_config().await;
    let bucket = format!("alr-{id}");
    let table = format!("state-alr-{id}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, body) in &files.objects {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
    }
    let (topic_arn, queue_url) = topic_with_queue(&cfg, &format!("alr-{id}")).await;
    create_state_table(&cfg, &table).await;

    let proxy = FaultProxy::start(&moto.endpoint());
    proxy.set_rules(rules);
    let mut env = proxy.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    if redelivery == Redelivery::UntilSuccess {
        env.push(("STATE_TABLE".into(), table));
    }
    let keys: Vec<&str> = files.objects.iter().map(|(k, _)| k.as_str()).collect();
    let event = events::s3_put(&bucket, &keys);
    let delivery = tokio::task::spawn_blocking(move || match redelivery {
        Redelivery::UntilSuccess => deliver("alerter", &env, &event),
        Redelivery::TwiceWithoutState => deliver_fresh("alerter", &env, &event, 2),
    })
    .await
    .expect("delivery thread");
    let alerts = published(&cfg, &queue_url).await;
    AlerterRun {
        delivery,
        exchanges: proxy.exchanges(),
        alerts,
    }
}

/// Records evaluated per file (by key: each cell has its own bucket), from the EMF file lines
/// (the last line per object wins).
pub(crate) fn evaluated(delivery: &Delivery) -> BTreeMap<String, u64> {
    delivery
        .emf_lines()
        .iter()
        .filter(|l| l.get("FilesProcessed").is_some())
        .filter_map(|l| {
            Some((
                key_of(l["object"].as_str()?),
                l["RecordsEvaluated"].as_u64()?,
            ))
        })
        .collect()
}

pub(crate) fn check(
    cell: &mut CellResult,
    files: &AlerterFiles,
    baseline: &AlerterRun,
    run: &AlerterRun,
) {
    let keys: Vec<&str> = files.objects.iter().map(|(k, _)| k.as_str()).collect();
    check_end_state(cell, &run.exchanges, &run.delivery, &keys);
    check_alerts(
        cell,
        run.delivery.completed(),
        &baseline.alerts,
        &run.alerts,
        &run.exchanges,
    );
    // Every file evaluated completely: the same record count as the fault-free run.
    if run.delivery.completed() {
        let want = evaluated(&baseline.delivery);
        let got = evaluated(&run.delivery);
        cell.check(got == want, || {
            format!("records evaluated per file {got:?}, fault-free {want:?}")
        });
    }
}

/// `s3://bucket/key` → `key`.
fn key_of(uri: &str) -> String {
    let rest = uri.trim_start_matches("s3://");
    rest.split_once('/').map_or(rest, |(_, k)| k).to_owned()
}
