//! The digest verifier's cells: a six-digest chain in which one digest lists a modified log
//! (one tamper alert), faults on S3, CloudTrail ListPublicKeys (answered by the proxy: moto has
//! none), SNS and DynamoDB. The fault-free run's verdicts and alerts are the reference: a
//! transient fault must never change a verdict.

use std::collections::BTreeMap;

use trailwatch_e2e::chains::variant;
use trailwatch_e2e::faults::{Exchange, FaultProxy, Rule, Stub};
use trailwatch_e2e::{Moto, create_state_table, events, upload_objects};

use super::alerts::{check_alerts, published, topic_with_queue};
use super::harness::{CellResult, Delivery, check_end_state, deliver};

pub(crate) struct Chain {
    pub(crate) bucket: String,
    pub(crate) digests: Vec<String>,
    pub(crate) public_keys: String,
    /// A log file a digest lists (not a digest): S3 faults are pinned to it.
    pub(crate) listed_log: String,
}

/// The chain, uploaded once: every verifier cell reads the same objects (each cell has its own
/// state table and topic, so cells do not see each other's work).
pub(crate) async fn upload_chain(moto: &Moto) -> Chain {
    let case = variant("log_modified");
    let objects = case.objects();
    let listed_log = objects
        .iter()
        .map(|o| o.key.clone())
        .find(|k| k.contains("/CloudTrail/") && k.ends_with(".json.gz"))
        .expect("the chain has log files");
    upload_objects(&moto.s3().await, objects).await;
    let digests = case.stored_digests();
    Chain {
        bucket: digests[0].0.clone(),
        digests: digests.into_iter().map(|(_, k)| k).collect(),
        public_keys: case.list_public_keys_json("us-east-1").to_string(),
        listed_log,
    }
}

impl Chain {
    /// The file name of the digest whose verdict is FAIL (it lists the modified log).
    pub(crate) fn alerting_digest(&self) -> &str {
        let key = &self.digests[1];
        key.rsplit('/').next().unwrap_or(key)
    }
}

pub(crate) struct VerifierRun {
    pub(crate) delivery: Delivery,
    pub(crate) exchanges: Vec<Exchange>,
    pub(crate) alerts: Vec<String>,
}

pub(crate) async fn run(moto: &Moto, id: &str, chain: &Chain, rules: Vec<Rule>) -> VerifierRun {
    let cfg = moto.sdk_config().await;
    let table = format!("state-ver-{id}");
    let (topic_arn, queue_url) = topic_with_queue(&cfg, &format!("ver-{id}")).await;
    create_state_table(&cfg, &table).await;
    let proxy = FaultProxy::start(&moto.endpoint());
    proxy.add_stub(Stub {
        service: "cloudtrail".into(),
        operation: "ListPublicKeys".into(),
        content_type: "application/x-amz-json-1.1".into(),
        body: chain.public_keys.clone(),
    });
    proxy.set_rules(rules);
    let mut env = proxy.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    env.push(("STATE_TABLE".into(), table));
    env.push(("MAX_CONCURRENCY".into(), "4".into()));
    let keys: Vec<&str> = chain.digests.iter().map(String::as_str).collect();
    let event = events::s3_put(&chain.bucket, &keys);
    let delivery = tokio::task::spawn_blocking(move || deliver("digest-verifier", &env, &event))
        .await
        .expect("delivery thread");
    let alerts = published(&cfg, &queue_url).await;
    VerifierRun {
        delivery,
        exchanges: proxy.exchanges(),
        alerts,
    }
}

/// Every verdict line (object → verdicts, in order) of a delivery.
pub(crate) fn verdicts(delivery: &Delivery) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in delivery.emf_lines() {
        if let (Some(o), Some(v)) = (l["object"].as_str(), l["verdict"].as_str()) {
            out.entry(o.to_owned()).or_default().push(v.to_owned());
        }
    }
    out
}

pub(crate) fn check(
    cell: &mut CellResult,
    chain: &Chain,
    baseline: &VerifierRun,
    run: &VerifierRun,
) {
    let keys: Vec<&str> = chain.digests.iter().map(String::as_str).collect();
    check_end_state(cell, &run.exchanges, &run.delivery, &keys);
    check_alerts(
        cell,
        run.delivery.completed(),
        &baseline.alerts,
        &run.alerts,
        &run.exchanges,
    );
    // A transient fault never changes a verdict, in any attempt.
    let want = verdicts(&baseline.delivery);
    for (object, got) in verdicts(&run.delivery) {
        let expected = want.get(&object).and_then(|v| v.first());
        cell.check(got.iter().all(|v| Some(v) == expected), || {
            format!("verdicts {got:?} for {object}, fault-free {expected:?}")
        });
    }
    if run.delivery.completed() {
        let got = verdicts(&run.delivery);
        let unverified: Vec<&String> = want.keys().filter(|o| !got.contains_key(*o)).collect();
        // A digest a completed delivery skips as done before must have its verdict from then.
        cell.check(unverified.is_empty(), || {
            format!("digests without a verdict: {unverified:?}")
        });
    }
}
