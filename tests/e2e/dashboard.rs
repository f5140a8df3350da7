//! The CloudWatch dashboard of `template.yaml` shows only metrics the functions really emit.
//!
//! The body is read from the template (`!Sub` resolved with placeholder names) and every metric
//! its widgets show is collected, the ones inside `SEARCH` expressions included. The metrics the
//! functions emit are collected from the EMF lines the three real binaries print while they
//! process small inputs against moto (a log file twice, a folder marker, a damaged file; an
//! attack file, an Insights file, a digest, a damaged file; a chain with a modified log, an overwrite, a
//! deletion, a range check). A dashboard metric no function emits, or emits with other
//! dimensions, would be a graph that stays empty while something is wrong.

#[path = "dashboard/body.rs"]
mod body;
#[path = "dashboard/emf.rs"]
mod emf;
#[path = "insights/query_fields.rs"]
mod query_fields;

use std::collections::{BTreeMap, BTreeSet};

use body::{DimensionValue, ShownMetric, dashboard_body, log_widgets, placeholder, shown_metrics};
use emf::{Emitted, EmittedMetric, unemitted};
use serde_json::{Value, json};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, events, fixture, gzip, time, upload_objects};
use trailwatch_shared::digest::FindingCode;
use trailwatch_shared::metrics::MetricLine;

const FUNCTIONS: [(&str, &str, &str, &str); 3] = [
    // (Function dimension value, function, failure queue, log group) logical ids
    (
        "forwarder",
        "ForwarderFunction",
        "ForwarderFailureQueue",
        "ForwarderLogGroup",
    ),
    (
        "alerter",
        "AlerterFunction",
        "AlerterFailureQueue",
        "AlerterLogGroup",
    ),
    (
        "digest-verifier",
        "DigestVerifierFunction",
        "DigestVerifierFailureQueue",
        "DigestVerifierLogGroup",
    ),
];

/// What the issue asks the dashboard to show of each function's own metrics.
const REQUIRED: &[(&str, &str)] = &[
    ("forwarder", "FilesProcessed"),
    ("forwarder", "FilesSkipped"),
    ("forwarder", "FilesFailed"),
    ("forwarder", "FilesAlreadyProcessed"),
    ("forwarder", "RecordsIn"),
    ("forwarder", "RecordsForwarded"),
    ("forwarder", "RecordsFiltered"),
    ("forwarder", "RecordsRejected"),
    ("alerter", "FilesProcessed"),
    ("alerter", "FilesFailed"),
    ("alerter", "AlertsPublished"),
    ("alerter", "RuleMatches"),
    ("digest-verifier", "DigestsVerified"),
    ("digest-verifier", "AlertsPublished"),
    ("digest-verifier", "RangeChecksCompleted"),
    ("digest-verifier", "LOG_HASH_MISMATCH"),
];

fn template_text() -> String {
    std::fs::read_to_string(trailwatch_e2e::workspace_root().join("template.yaml"))
        .expect("read template.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trailwatch_metric_on_the_dashboard_is_one_the_functions_emit() {
    let body = dashboard_body(&template_text()).expect("the dashboard body");
    let shown = shown_metrics(&body).expect("the dashboard's metrics");

    let moto = Moto::start();
    let mut emitted = Emitted::default();
    for (function, stdout) in [
        ("forwarder", run_forwarder(&moto).await),
        ("alerter", run_alerter(&moto).await),
        ("digest-verifier", run_digest_verifier(&moto).await),
    ] {
        let documents = emitted.read(&stdout).expect("valid EMF");
        assert!(documents > 0, "{function} printed no EMF line:\n{stdout}");
    }
    add_finding_codes(&mut emitted.metrics);

    let problems = unemitted(&shown, &emitted.metrics, "trailwatch");
    assert!(
        problems.is_empty(),
        "dashboard metrics the functions do not emit:\n{}\n\nemitted:\n{}",
        problems.join("\n"),
        describe(&emitted.metrics)
    );

    for (function, name) in REQUIRED {
        assert!(
            shown.iter().any(|m| m.namespace == "trailwatch"
                && m.name == *name
                && m.dimensions.get("Function")
                    == Some(&DimensionValue::Exact(function.to_string()))),
            "the dashboard does not show {function} {name}"
        );
    }
    check_aws_metrics(&shown);
    check_log_widgets(&body, &emitted);

    let checked: BTreeSet<String> = shown
        .iter()
        .filter(|m| m.namespace == "trailwatch")
        .map(|m| format!("{} {:?}", m.name, m.dimensions))
        .collect();
    eprintln!(
        "{} trailwatch metrics checked:\n{}",
        checked.len(),
        checked.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Finding codes are metric names (one per code a report holds, dimension `Function`), so a
/// run shows only the codes its inputs raise. Once the runs have shown the mechanism (a code
/// emitted by the verifier), every other code of `FindingCode::ALL` is emitted the same way by
/// the same loop (`for code in report.codes()`), with the dimensions seen.
fn add_finding_codes(metrics: &mut BTreeSet<EmittedMetric>) {
    let codes: BTreeSet<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
    let observed: Vec<&EmittedMetric> = metrics
        .iter()
        .filter(|m| codes.contains(m.name.as_str()))
        .collect();
    eprintln!(
        "finding codes the runs emitted: {:?}",
        observed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>()
    );
    let seen: BTreeSet<BTreeMap<String, String>> =
        observed.iter().map(|m| m.dimensions.clone()).collect();
    assert_eq!(
        seen.len(),
        1,
        "the runs emit finding codes with one dimension set: {seen:?}"
    );
    let dimensions = seen.into_iter().next().unwrap();
    for code in codes {
        metrics.insert(EmittedMetric {
            namespace: "trailwatch".into(),
            name: code.into(),
            dimensions: dimensions.clone(),
        });
    }
}

/// AWS/Lambda errors, throttles and duration of each function, and the depth of each failure
/// queue, by the names this stack gives them.
fn check_aws_metrics(shown: &[ShownMetric]) {
    let exact = |k: &str, v: String| BTreeMap::from([(k.to_owned(), DimensionValue::Exact(v))]);
    for (_, function, queue, _) in FUNCTIONS {
        for name in ["Errors", "Throttles", "Duration"] {
            assert!(
                shown.iter().any(|m| m.namespace == "AWS/Lambda"
                    && m.name == name
                    && m.dimensions == exact("FunctionName", placeholder(function))),
                "the dashboard does not show AWS/Lambda {name} of {function}"
            );
        }
        assert!(
            shown.iter().any(|m| m.namespace == "AWS/SQS"
                && m.name == "ApproximateNumberOfMessagesVisible"
                && m.dimensions == exact("QueueName", format!("{}.QueueName", placeholder(queue)))),
            "the dashboard does not show the depth of {queue}"
        );
    }
    let functions: BTreeSet<String> = FUNCTIONS.iter().map(|f| placeholder(f.1)).collect();
    for m in shown.iter().filter(|m| m.namespace == "AWS/Lambda") {
        let Some(DimensionValue::Exact(name)) = m.dimensions.get("FunctionName") else {
            panic!("{m:?} has no FunctionName");
        };
        assert!(
            functions.contains(name) && m.dimensions.len() == 1,
            "{m:?} is not one of this stack's functions"
        );
    }
    for m in shown.iter().filter(|m| m.namespace == "AWS/SQS") {
        let Some(DimensionValue::Exact(name)) = m.dimensions.get("QueueName") else {
            panic!("{m:?} has no QueueName");
        };
        assert!(
            name.starts_with('<') && name.ends_with(">.QueueName"),
            "{m:?} is not a queue of this stack"
        );
    }
    let namespaces: BTreeSet<&str> = shown.iter().map(|m| m.namespace.as_str()).collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["AWS/Lambda", "AWS/SQS", "trailwatch"]),
        "namespaces shown"
    );
}

/// Each log widget reads the functions' own log groups, and only fields their EMF documents
/// carry.
fn check_log_widgets(body: &Value, emitted: &Emitted) {
    let widgets = log_widgets(body).unwrap();
    assert!(!widgets.is_empty(), "the dashboard has log widgets");
    for w in widgets {
        let read =
            query_fields::query_fields(&w.query).unwrap_or_else(|e| panic!("{:?}: {e:#}", w.title));
        assert!(!read.sources.is_empty(), "{:?} names no log group", w.title);
        let mut keys = BTreeSet::new();
        for source in &read.sources {
            let (function, ..) = FUNCTIONS
                .iter()
                .find(|f| placeholder(f.3) == *source)
                .unwrap_or_else(|| panic!("{:?}: {source} is not a function's log group", w.title));
            keys.extend(emitted.document_keys.get(*function).into_iter().flatten());
        }
        let missing: Vec<&String> = read.fields.iter().filter(|f| !keys.contains(f)).collect();
        assert!(
            missing.is_empty(),
            "{:?} reads fields no EMF document of {:?} has: {missing:?}",
            w.title,
            read.sources
        );
    }
}

fn describe(metrics: &BTreeSet<EmittedMetric>) -> String {
    metrics
        .iter()
        .map(|m| format!("{} {} {:?}", m.namespace, m.name, m.dimensions))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok(response: Result<Value, String>, what: &str) {
    let response = response.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(response["status"], "ok", "{what}: {response}");
}

/// `data` gzipped and cut in the middle: a log file that breaks part-way.
async fn put_truncated(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8]) {
    let mut bytes = gzip(data);
    bytes.truncate(bytes.len() / 2);
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
}

/// A real log file (twice: the second is a redelivery), a folder marker, a damaged file.
async fn run_forwarder(moto: &Moto) -> String {
    const BUCKET: &str = "forwarder-bucket";
    const GROUP: &str = "/trailwatch/dashboard";
    let s3 = moto.s3().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
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
    s3.put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(gzip(text.as_bytes()).into())
        .send()
        .await
        .unwrap();

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

/// An attack file (twice), an Insights file, a digest (skipped), a damaged file.
async fn run_alerter(moto: &Moto) -> String {
    const BUCKET: &str = "alerter-bucket";
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let topic_arn = aws_sdk_sns::Client::new(&moto.sdk_config().await)
        .create_topic()
        .name("dashboard-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
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
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }

    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
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
    watch.stop_and_collect_stdout()
}

/// A chain whose first digest lists a modified log (every digest of it), an overwritten log, a
/// deleted log, an object that is no digest, and the hourly range check over the chain.
async fn run_digest_verifier(moto: &Moto) -> String {
    let s3 = moto.s3().await;
    let case = variant("log_modified");
    let chain = &case.chains[0];
    let bucket = chain.layout.bucket.clone();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    upload_objects(&s3, case.objects()).await;
    let topic_arn = aws_sdk_sns::Client::new(&moto.sdk_config().await)
        .create_topic()
        .name("dashboard-digest-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let run = &case.runs[0].request;
    let keys = public_keys_file(&case, &run.region);
    let mut env = moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    env.push((
        "PUBLIC_KEYS_FILE".into(),
        keys.path().to_string_lossy().into(),
    ));
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
    s3.put_object()
        .bucket(&bucket)
        .key(log)
        .body(b"{\"Records\":[]}".to_vec().into())
        .send()
        .await
        .unwrap();
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
    watch.stop_and_collect_stdout()
}

// ------------------------------------------------------------------ the checker's own tests

/// EMF lines as the functions print them (shared's MetricLine).
fn emitted_by(lines: &[MetricLine]) -> Emitted {
    let stdout: String = lines
        .iter()
        .map(|l| l.to_json(1_700_000_000_000) + "\n")
        .collect();
    let mut emitted = Emitted::default();
    assert_eq!(emitted.read(&stdout).unwrap(), lines.len());
    emitted
}

fn sample_emitted() -> Emitted {
    emitted_by(&[
        MetricLine::new("trailwatch")
            .dimension("Function", "forwarder")
            .count("FilesProcessed", 1)
            .count("RecordsIn", 7),
        MetricLine::new("trailwatch")
            .dimension("Function", "alerter")
            .dimension("RuleId", "SecurityHub:CloudWatch.5")
            .count("RuleMatches", 2),
    ])
}

fn body_with(metrics: Value) -> Value {
    json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 6, "height": 6,
                        "properties": {"title": "t", "region": "eu-west-1", "metrics": metrics}}]})
}

fn problems_of(metrics: Value) -> Vec<String> {
    let shown = shown_metrics(&body_with(metrics)).unwrap();
    assert!(!shown.is_empty());
    unemitted(&shown, &sample_emitted().metrics, "trailwatch")
}

#[test]
fn metrics_the_functions_emit_pass() {
    let problems = problems_of(json!([
        ["trailwatch", "FilesProcessed", "Function", "forwarder", {"stat": "Sum"}],
        [".", "RecordsIn", ".", "."],
        [{"expression": "SEARCH('{trailwatch,Function,RuleId} Function=\"alerter\" MetricName=\"RuleMatches\"', 'Sum', 300)", "id": "e1"}],
        ["AWS/Lambda", "Errors", "FunctionName", "f"]
    ]));
    assert!(problems.is_empty(), "{problems:?}");
}

/// Negative controls: a misspelt name, a wrong dimension value, a missing dimension, a
/// misspelt name inside a SEARCH, a SEARCH over the wrong dimension set.
#[test]
fn a_misspelt_or_misdimensioned_metric_fails_the_check() {
    for (metrics, expected) in [
        (
            json!([["trailwatch", "FilesProcesed", "Function", "forwarder"]]),
            "no function emits",
        ),
        (
            json!([["trailwatch", "FilesProcessed", "Function", "alerter"]]),
            "emitted with",
        ),
        (
            json!([["trailwatch", "RuleMatches", "Function", "alerter"]]),
            "emitted with",
        ),
        (
            json!([[{"expression": "SEARCH('{trailwatch,Function,RuleId} Function=\"alerter\" MetricName=\"RuleMatch\"', 'Sum', 300)"}]]),
            "no function emits",
        ),
        (
            json!([[{"expression": "SEARCH('{trailwatch,Function} Function=\"alerter\" MetricName=\"RuleMatches\"', 'Sum', 300)"}]]),
            "emitted with",
        ),
    ] {
        let problems = problems_of(metrics.clone());
        assert_eq!(problems.len(), 1, "{metrics}: {problems:?}");
        assert!(problems[0].contains(expected), "{metrics}: {problems:?}");
    }
}

#[test]
fn a_search_the_checker_cannot_pin_down_is_an_error() {
    for expression in [
        "SEARCH('trailwatch RuleMatches', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} Function=\"alerter\"', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} Files', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} NOT MetricName=\"X\"', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} RuleId=\"x\" MetricName=\"RuleMatches\"', 'Sum', 300)",
        "m1 + m2",
    ] {
        let body = body_with(json!([[{"expression": expression}]]));
        assert!(shown_metrics(&body).is_err(), "{expression} was accepted");
    }
}

#[test]
fn the_template_dashboard_body_is_json_naming_this_stacks_resources() {
    let body = dashboard_body(&template_text()).unwrap();
    let text = body.to_string();
    assert!(!text.contains("${"), "an unresolved substitution: {text}");
    let shown = shown_metrics(&body).unwrap();
    let codes: BTreeSet<&str> = shown
        .iter()
        .filter(|m| m.widget.contains("findings by code"))
        .map(|m| m.name.as_str())
        .collect();
    let all: BTreeSet<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all, "the findings widget shows every finding code");
}
