//! Security Hub findings end to end: the real alerter and digest-verifier binaries with
//! `SECURITY_HUB_FINDINGS=true` against moto's Security Hub (BatchImportFindings, GetFindings).
//!
//! What a bug would break: one finding per alert (count, `GeneratorId`, severity and types as the
//! alert says), a redelivery or re-verification that updates the finding (same `Id`, `UpdatedAt`
//! later, `CreatedAt` unchanged) instead of adding one, nothing imported when the flag is off or
//! when the state table says the file's alerts are already out.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_securityhub::types::AwsSecurityFinding;
use serde_json::{Value, json};
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, events, fixture, gzip, put_object, upload_objects};

const BUCKET: &str = "trail-bucket";
const PREFIX: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/";
/// StopLogging (CloudWatch.5), AccessDenied (CloudWatch.2), an IAM policy change (CloudWatch.4),
/// a bucket policy change (CloudWatch.8).
const ATTACK: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";
/// A console login without MFA (CloudWatch.3).
const NO_MFA: &str = "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json";
/// moto's account and the tests' region: the default product the functions import into.
const PRODUCT_ARN: &str = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";
const CIS: &str = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";

/// Runs `test` on a runtime whose threads have 16 MiB stacks: the SDK's GetFindings
/// deserializer (ASFF's resource details are hundreds of inline optional structures) overflows a
/// test thread's 2 MiB in a debug build.
fn on_big_stacks(test: impl std::future::Future<Output = ()> + Send + 'static) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(16 << 20)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async { tokio::spawn(test).await })
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
}

async fn hub(moto: &Moto) -> aws_sdk_securityhub::Client {
    let client = aws_sdk_securityhub::Client::new(&moto.sdk_config().await);
    client
        .enable_security_hub()
        .send()
        .await
        .expect("enable Security Hub in moto");
    client
}

/// Every finding in the hub, by `Id`.
async fn findings(hub: &aws_sdk_securityhub::Client) -> BTreeMap<String, AwsSecurityFinding> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = hub
            .get_findings()
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .expect("GetFindings");
        for f in page.findings() {
            let id = f.id().expect("every finding has an Id").to_owned();
            assert!(
                out.insert(id.clone(), f.clone()).is_none(),
                "{id} listed twice"
            );
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

/// A moto with Security Hub enabled and the alert topic with a queue subscribed to it.
struct HubWorld {
    moto: Moto,
    hub: aws_sdk_securityhub::Client,
    s3: aws_sdk_s3::Client,
    topic_arn: String,
    queue_url: String,
}

/// A `HubWorld`; with `trail_bucket`, the trail bucket the fixtures go to is created too.
async fn hub_world(trail_bucket: bool) -> HubWorld {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let hub = hub(&moto).await;
    let s3 = moto.s3().await;
    if trail_bucket {
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    }
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    HubWorld {
        moto,
        hub,
        s3,
        topic_arn,
        queue_url,
    }
}

fn env(moto: &Moto, topic_arn: &str, security_hub: bool) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.into()));
    if security_hub {
        env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
        env.push(("SECURITY_HUB_PRODUCT_ARN".into(), PRODUCT_ARN.into()));
    }
    env
}

async fn put_fixture(s3: &aws_sdk_s3::Client, name: &str) -> String {
    let body = std::fs::read(fixture(&format!("cloudtrail/{name}"))).unwrap();
    let key = format!("{PREFIX}{name}.gz");
    put_object(s3, BUCKET, &key, gzip(&body)).await;
    key
}

/// (rule_id, severity) of each alert delivered to the queue, sorted.
async fn alerts(moto: &Moto, queue_url: &str) -> Vec<(String, String)> {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let mut out: Vec<(String, String)> = drain_envelopes(&sqs, queue_url)
        .await
        .iter()
        .map(|e| {
            let attr = |n: &str| {
                e["MessageAttributes"][n]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            (attr("rule_id"), attr("severity"))
        })
        .collect();
    out.sort();
    out
}

fn generator_and_severity(f: &AwsSecurityFinding) -> (String, String) {
    (
        f.generator_id().unwrap_or_default().to_owned(),
        f.severity()
            .and_then(|s| s.label())
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default(),
    )
}

fn by_generator<'a>(
    all: &'a BTreeMap<String, AwsSecurityFinding>,
    generator: &str,
) -> &'a AwsSecurityFinding {
    let mut matching = all.values().filter(|f| f.generator_id() == Some(generator));
    let f = matching
        .next()
        .unwrap_or_else(|| panic!("no finding from {generator}"));
    assert!(matching.next().is_none(), "two findings from {generator}");
    f
}

/// The finding as ASFF JSON (the fields trailwatch sets), for the closing note.
fn as_json(f: &AwsSecurityFinding) -> Value {
    json!({
        "SchemaVersion": f.schema_version(),
        "Id": f.id(),
        "ProductArn": f.product_arn(),
        "GeneratorId": f.generator_id(),
        "AwsAccountId": f.aws_account_id(),
        "Types": f.types(),
        "CreatedAt": f.created_at(),
        "UpdatedAt": f.updated_at(),
        "Severity": {
            "Label": f.severity().and_then(|s| s.label()).map(|l| l.as_str()),
            "Original": f.severity().and_then(|s| s.original()),
        },
        "Title": f.title(),
        "Description": f.description(),
        "Remediation": {"Recommendation": {"Text": f.remediation().and_then(|r| r.recommendation()).and_then(|r| r.text())}},
        "Resources": f.resources().iter().map(|r| json!({
            "Type": r.r#type(), "Id": r.id(), "Partition": r.partition().map(|p| p.as_str()), "Region": r.region(),
        })).collect::<Vec<_>>(),
        "ProductFields": f.product_fields(),
        "RecordState": f.record_state().map(|s| s.as_str()),
    })
}

#[test]
fn alerter_imports_one_finding_per_alert_and_a_redelivery_updates_them() {
    on_big_stacks(alerter_imports_one_finding_per_alert_and_a_redelivery_updates_them_run());
}

async fn alerter_imports_one_finding_per_alert_and_a_redelivery_updates_them_run() {
    let HubWorld {
        moto,
        hub,
        s3,
        topic_arn,
        queue_url,
    } = hub_world(true).await;
    let attack = put_fixture(&s3, ATTACK).await;
    let no_mfa = put_fixture(&s3, NO_MFA).await;

    let watch = LambdaWatch::start("alerter", &env(&moto, &topic_arn, true));
    for key in [&attack, &no_mfa] {
        watch.invoke_ok(&events::eventbridge_object_created(BUCKET, key), "invoke");
    }
    let sent = alerts(&moto, &queue_url).await;
    let first = findings(&hub).await;
    let mut imported: Vec<(String, String)> = first.values().map(generator_and_severity).collect();
    imported.sort();
    assert_eq!(
        imported, sent,
        "one finding per SNS alert, same rule and severity"
    );
    assert_eq!(
        sent.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        [
            "SecurityHub:CloudWatch.2",
            "SecurityHub:CloudWatch.3",
            "SecurityHub:CloudWatch.4",
            "SecurityHub:CloudWatch.5",
            "SecurityHub:CloudWatch.8",
        ]
    );
    for f in first.values() {
        assert!(
            f.id().unwrap().starts_with("trailwatch/rule-match/"),
            "{f:?}"
        );
        assert_eq!(f.product_arn(), Some(PRODUCT_ARN));
        assert_eq!(f.aws_account_id(), Some("123456789012"));
        assert_eq!(f.schema_version(), Some("2018-10-08"));
        assert!(f.types().iter().any(|t| t == CIS), "{:?}", f.types());
        assert_eq!(f.resources()[0].r#type(), Some("AwsS3Object"));
        assert!(f.created_at() < f.updated_at());
    }
    let stop = by_generator(&first, "SecurityHub:CloudWatch.5");
    assert_eq!(stop.types(), [CIS, "TTPs/Defense Evasion"]);
    assert_eq!(
        stop.resources()[0].id(),
        Some(format!("arn:aws:s3:::{BUCKET}/{attack}").as_str())
    );
    // The matching events, one by one: action, principal, source IP.
    let fields = stop.product_fields().unwrap();
    assert_eq!(fields["trailwatch/MatchCount"], "4");
    assert!(
        (1..=4).any(|n| fields[&format!("trailwatch/Event{n}Action")]
            == "cloudtrail.amazonaws.com StopLogging"),
        "{fields:?}"
    );
    assert!(fields["trailwatch/Event1Principal"].starts_with("IAMUser arn:aws:iam::"));
    assert_eq!(fields["trailwatch/Event1SourceIp"], "192.168.10.20");
    assert!(
        stop.created_at().unwrap().starts_with("2023-07-10T"),
        "the event's time"
    );
    println!(
        "one finding as imported:\n{}",
        serde_json::to_string_pretty(&as_json(stop)).unwrap()
    );
    drop(watch);

    // Redelivery to a fresh process (no state table: its memory store is empty, as after a lost
    // record): the alerts go out again, and each finding is updated, not added.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let watch = LambdaWatch::start("alerter", &env(&moto, &topic_arn, true));
    watch.invoke_ok(
        &events::eventbridge_object_created(BUCKET, &attack),
        "redeliver",
    );
    let resent = alerts(&moto, &queue_url).await;
    assert_eq!(resent.len(), 4, "{resent:?}");
    let second = findings(&hub).await;
    assert_eq!(
        second.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "same Ids, no new finding"
    );
    let mut updated = 0;
    for (id, before) in &first {
        let after = &second[id];
        assert_eq!(
            after.created_at(),
            before.created_at(),
            "CreatedAt stays: {id}"
        );
        if after.generator_id() == Some("SecurityHub:CloudWatch.3") {
            assert_eq!(
                after.updated_at(),
                before.updated_at(),
                "the other file's finding"
            );
        } else {
            assert!(
                after.updated_at() > before.updated_at(),
                "UpdatedAt moves: {id}"
            );
            updated += 1;
        }
    }
    assert_eq!(updated, 4);
}

#[test]
fn with_the_state_table_a_repeated_delivery_imports_nothing_again() {
    on_big_stacks(with_the_state_table_a_repeated_delivery_imports_nothing_again_run());
}

async fn with_the_state_table_a_repeated_delivery_imports_nothing_again_run() {
    let HubWorld {
        moto,
        hub,
        s3,
        topic_arn,
        queue_url,
    } = hub_world(true).await;
    let attack = put_fixture(&s3, ATTACK).await;
    let mut env = env(&moto, &topic_arn, true);
    env.extend(moto.with_state_table().await);
    let watch = LambdaWatch::start("alerter", &env);
    let event = events::eventbridge_object_created(BUCKET, &attack);
    watch.invoke(&event).expect("first delivery");
    assert_eq!(alerts(&moto, &queue_url).await.len(), 4);
    let first = findings(&hub).await;
    assert_eq!(first.len(), 4);
    watch.invoke(&event).expect("repeated delivery");
    assert!(
        alerts(&moto, &queue_url).await.is_empty(),
        "no SNS alert again"
    );
    let second = findings(&hub).await;
    let stamps = |m: &BTreeMap<String, AwsSecurityFinding>| -> Vec<(String, Option<String>)> {
        m.iter()
            .map(|(id, f)| (id.clone(), f.updated_at().map(str::to_owned)))
            .collect()
    };
    assert_eq!(stamps(&second), stamps(&first), "no import either");
}

#[test]
fn digest_verifier_imports_a_tamper_finding_and_a_re_verification_updates_it() {
    on_big_stacks(digest_verifier_imports_a_tamper_finding_and_a_re_verification_updates_it_run());
}

async fn digest_verifier_imports_a_tamper_finding_and_a_re_verification_updates_it_run() {
    let HubWorld {
        moto,
        hub,
        s3,
        topic_arn,
        queue_url,
    } = hub_world(false).await;
    // digest_deleted_middle: #3 is gone, so #4's link points to nothing; #5 is clean.
    let case = variant("digest_deleted_middle");
    upload_objects(&s3, case.objects()).await;
    let keys = public_keys_file(&case, "us-east-1");
    let mut env = env(&moto, &topic_arn, true);
    env.push((
        "PUBLIC_KEYS_FILE".into(),
        keys.path().to_string_lossy().into_owned(),
    ));
    let chain = &case.chains[0];
    let (clean, broken) = (&chain.digests[5], &chain.digests[4]);

    let watch = LambdaWatch::start("digest-verifier", &env);
    watch.invoke_ok(
        &events::eventbridge_object_created(&clean.bucket, &clean.key),
        "invoke clean",
    );
    assert!(
        findings(&hub).await.is_empty(),
        "no finding for a clean digest"
    );
    watch.invoke_ok(
        &events::eventbridge_object_created(&broken.bucket, &broken.key),
        "invoke broken",
    );
    assert_eq!(
        alerts(&moto, &queue_url).await,
        [("DIGEST_MISSING".to_owned(), "CRITICAL".to_owned())]
    );
    let first = findings(&hub).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let f = first.values().next().unwrap();
    assert!(f.id().unwrap().starts_with("trailwatch/digest-verdict/"));
    assert_eq!(f.generator_id(), Some("trailwatch/digest-verifier"));
    assert_eq!(generator_and_severity(f).1, "CRITICAL");
    assert_eq!(f.types(), ["TTPs/Defense Evasion"]);
    let fields = f.product_fields().unwrap();
    assert_eq!(fields["trailwatch/FindingCodes"], "DIGEST_MISSING");
    assert_eq!(fields["trailwatch/Verdict"], "FAIL");
    assert!(
        f.resources()
            .iter()
            .any(|r| r.r#type() == Some("AwsCloudTrailTrail")),
        "the trail is named: {:?}",
        f.resources()
    );
    assert_eq!(
        f.resources()[0].id(),
        Some(format!("arn:aws:s3:::{}/{}", broken.bucket, broken.key).as_str())
    );
    println!(
        "the digest finding:\n{}",
        serde_json::to_string_pretty(&as_json(f)).unwrap()
    );
    drop(watch);

    // Re-verification by a fresh process: the same finding, updated.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let watch = LambdaWatch::start("digest-verifier", &env);
    watch
        .invoke(&events::eventbridge_object_created(
            &broken.bucket,
            &broken.key,
        ))
        .expect("re-verify");
    let second = findings(&hub).await;
    assert_eq!(
        second.keys().collect::<BTreeSet<_>>(),
        first.keys().collect::<BTreeSet<_>>()
    );
    let after = second.values().next().unwrap();
    assert_eq!(after.created_at(), f.created_at());
    assert!(after.updated_at() > f.updated_at());
}

/// Negative control: the same run with the flag off imports nothing, though the alerts go out —
/// so the findings above come from the flag, not from something else writing to the hub.
#[test]
fn switched_off_nothing_is_imported_and_the_alerts_still_go_out() {
    on_big_stacks(switched_off_nothing_is_imported_and_the_alerts_still_go_out_run());
}

async fn switched_off_nothing_is_imported_and_the_alerts_still_go_out_run() {
    let HubWorld {
        moto,
        hub,
        s3,
        topic_arn,
        queue_url,
    } = hub_world(true).await;
    let attack = put_fixture(&s3, ATTACK).await;
    let watch = LambdaWatch::start("alerter", &env(&moto, &topic_arn, false));
    watch.invoke_ok(
        &events::eventbridge_object_created(BUCKET, &attack),
        "invoke",
    );
    assert_eq!(alerts(&moto, &queue_url).await.len(), 4);
    assert!(findings(&hub).await.is_empty());
}
