//! The three real binaries on small inputs against moto, each run touching every path that
//! prints an EMF line the dashboard may show: what they print on stdout is what the dashboard
//! test checks the dashboard against.

use serde_json::{Value, json};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{
    LambdaWatch, Moto, create_versioned_bucket, events, fixture, free_port, gzip, put_object, time,
    upload_objects,
};

fn ok(response: Result<Value, String>, what: &str) {
    let response = response.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(response["status"], "ok", "{what}: {response}");
}

/// Security Hub switched on but unreachable (nothing listens on the port its endpoint names):
/// every import fails after the SDK's retries and is counted (`SecurityHubImportFailures`), and
/// the alert is then not published, so the invocation fails.
fn security_hub_down(env: &mut Vec<(String, String)>) {
    env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
    env.push((
        "SECURITY_HUB_PRODUCT_ARN".into(),
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default".into(),
    ));
    env.push((
        "AWS_ENDPOINT_URL_SECURITYHUB".into(),
        format!("http://127.0.0.1:{}", free_port()),
    ));
    // One attempt per call: the SDK's backoff against a closed port only makes the test slow.
    env.push(("AWS_MAX_ATTEMPTS".into(), "1".into()));
}

/// `data` gzipped and cut in the middle: a log file that breaks part-way.
async fn put_truncated(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) {
    let mut bytes = gzip(data);
    bytes.truncate(bytes.len() / 2);
    put_object(s3, bucket, key, bytes).await;
}

/// A real log file (twice: the second is a redelivery), a folder marker, a damaged file.
pub(crate) async fn run_forwarder(moto: &Moto) -> String {
    const BUCKET: &str = "forwarder-bucket";
    const GROUP: &str = "/trailwatch/dashboard";
    let (s3, _logs) = moto.bucket_and_log_group(BUCKET, GROUP).await;
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));
    let text = std::fs::read_to_string(fixture(
        "cloudtrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json",
    ))
    .unwrap()
    .replace("\"2023-07-10T", &format!("\"{day}T"));
    let dir = format!("AWSLogs/218007301253/CloudTrail/us-east-1/{folder}");
    let key =
        format!("{dir}/218007301253_CloudTrail_us-east-1_{compact}T1145Z_7xgocspSowgK0Gto.json.gz");
    put_object(&s3, BUCKET, &key, gzip(text.as_bytes())).await;

    let mut env = moto.env();
    env.push(("LOG_GROUP_NAME".into(), GROUP.into()));
    let watch = LambdaWatch::start("forwarder", &env);
    let created = |k: &str| events::eventbridge_object_created(BUCKET, k);
    ok(watch.invoke(&created(&key)), "log file");
    ok(watch.invoke(&created(&key)), "redelivered log file");
    ok(watch.invoke(&created("AWSLogs/")), "folder marker");
    // A truncated gzip fails the file (a missing object is a skip: deleted since the event).
    let damaged =
        format!("{dir}/218007301253_CloudTrail_us-east-1_{compact}T1150Z_DamagedFile00001.json.gz");
    put_truncated(&s3, BUCKET, &damaged, text.as_bytes()).await;
    watch
        .invoke(&created(&damaged))
        .expect_err("a damaged file fails the invocation");
    watch.stop_and_collect_stdout()
}

/// An attack file (twice; a built-in rule set and a rule with a period), an Insights file, a
/// digest (skipped), a damaged file.
pub(crate) async fn run_alerter(moto: &Moto) -> String {
    const BUCKET: &str = "alerter-bucket";
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let topic_arn = moto.create_topic("dashboard-alerts").await;
    let attack = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";
    let dir = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10";
    let attack_key = format!("{dir}/{attack}.gz");
    let text = std::fs::read(fixture(&format!("cloudtrail/{attack}"))).unwrap();
    let insight = json!({"Records": [{
        "eventVersion": "1.08", "eventTime": "2024-07-10T01:42:00Z", "awsRegion": "us-east-1",
        "eventID": "e-start", "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
        "sharedEventID": "99999999-8888-7777-6666-555555555555", "eventCategory": "Insight",
        "insightDetails": {
            "state": "Start", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "insightType": "ApiCallRateInsight",
            "insightContext": {"statistics": {"baseline": {"average": 0.05}, "insight": {"average": 12.5},
                                              "insightDuration": 4, "baselineDuration": 10080}}
        }
    }]});
    let insight_key = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/07/10/123456789012_CloudTrail-Insight_us-east-1_20240710T0145Z_FiT5gcVkXjDfw1bn.json.gz";
    for (key, bytes) in [
        (attack_key.as_str(), gzip(&text)),
        (insight_key, gzip(insight.to_string().as_bytes())),
    ] {
        put_object(&s3, BUCKET, key, bytes).await;
    }

    // A rule with a period (its windows live in the state table): the trail stopped in 5 minutes.
    let windowed = json!([{
        "id": "team:trail-stopped-window", "title": "Trail stopped", "severity": "HIGH",
        "pattern": "{ $.eventSource = cloudtrail.amazonaws.com && $.eventName = StopLogging }",
        "threshold": 1, "period": 300
    }]);
    let mut env = moto.env();
    env.extend(moto.with_state_table().await);
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    env.push(("CUSTOM_RULES".into(), windowed.to_string()));
    let watch = LambdaWatch::start("alerter", &env);
    let created = |k: &str| events::eventbridge_object_created(BUCKET, k);
    ok(watch.invoke(&created(&attack_key)), "attack file");
    ok(
        watch.invoke(&created(&attack_key)),
        "redelivered attack file",
    );
    ok(watch.invoke(&created(insight_key)), "Insights file");
    let digest = "AWSLogs/218007301253/CloudTrail-Digest/us-east-1/2023/07/10/218007301253_CloudTrail-Digest_us-east-1_trail_us-east-1_20230710T120000Z.json.gz";
    ok(watch.invoke(&created(digest)), "digest file");
    let damaged =
        format!("{dir}/218007301253_CloudTrail_us-east-1_20230710T1210Z_DamagedFile00002.json.gz");
    put_truncated(&s3, BUCKET, &damaged, &text).await;
    watch
        .invoke(&created(&damaged))
        .expect_err("a damaged file fails the invocation");
    let mut stdout = watch.stop_and_collect_stdout();

    // The attack file again in a fresh container (memory state) whose Security Hub is down, with
    // one rule (each refused alert is retried with backoff before the file fails).
    let one_rule = json!([{
        "id": "team:trail-stopped", "title": "Trail stopped", "severity": "HIGH",
        "pattern": "{ $.eventName = StopLogging }", "threshold": 1
    }]);
    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    env.push(("RULE_SETS".into(), "none".into()));
    env.push(("CUSTOM_RULES".into(), one_rule.to_string()));
    security_hub_down(&mut env);
    let watch = LambdaWatch::start("alerter", &env);
    watch
        .invoke(&created(&attack_key))
        .expect_err("an alert Security Hub refused fails the invocation");
    stdout.push_str(&watch.stop_and_collect_stdout());
    stdout
}

/// A chain whose first digest lists a modified log (every digest of it), an overwritten log, a
/// deleted log, an object that is no digest, and the hourly range check over the chain.
pub(crate) async fn run_digest_verifier(moto: &Moto) -> String {
    let s3 = moto.s3().await;
    let case = variant("log_modified");
    let chain = &case.chains[0];
    let bucket = chain.layout.bucket.clone();
    create_versioned_bucket(&s3, &bucket).await;
    upload_objects(&s3, case.objects()).await;
    let topic_arn = moto.create_topic("dashboard-digest-alerts").await;
    let run = &case.runs[0].request;
    let keys = public_keys_file(&case, &run.region);
    let mut env = moto.verifier_env(&topic_arn, &keys);
    let watch = LambdaWatch::start("digest-verifier", &env);

    for digest in &chain.digests {
        ok(
            watch.invoke(&events::eventbridge_object_created(
                &digest.bucket,
                &digest.key,
            )),
            "digest",
        );
    }
    // A log file written a second time: an overwrite.
    let log = &chain.logs[1].key;
    put_object(&s3, &bucket, log, b"{\"Records\":[]}".to_vec()).await;
    let second = s3
        .head_object()
        .bucket(&bucket)
        .key(log)
        .send()
        .await
        .unwrap()
        .version_id
        .expect("versioned bucket");
    ok(
        watch.invoke(&events::eventbridge_object_version_created(
            &bucket, log, &second,
        )),
        "overwritten log",
    );
    // A log file deleted.
    let deleted = &chain.logs[2].key;
    s3.delete_object()
        .bucket(&bucket)
        .key(deleted)
        .send()
        .await
        .unwrap();
    ok(
        watch.invoke(&events::eventbridge_object_deleted(
            &bucket,
            deleted,
            None,
            "Delete Marker Created",
        )),
        "deleted log",
    );
    ok(
        watch.invoke(&events::eventbridge_object_created(
            &bucket,
            "exports/report.csv",
        )),
        "not a digest",
    );
    let hours = (run.end - run.start + 3599) / 3600;
    let range = json!({"trailwatchRangeCheck": {
        "bucket": run.bucket, "prefix": run.prefix, "hours": hours, "end": run.end
    }});
    ok(watch.invoke(&range), "range check");
    let mut stdout = watch.stop_and_collect_stdout();

    // The failing digest again with Security Hub down.
    security_hub_down(&mut env);
    let watch = LambdaWatch::start("digest-verifier", &env);
    let failing = &chain.digests[1];
    watch
        .invoke(&events::eventbridge_object_created(
            &failing.bucket,
            &failing.key,
        ))
        .expect_err("a tamper alert Security Hub refused fails the invocation");
    stdout.push_str(&watch.stop_and_collect_stdout());
    stdout
}
