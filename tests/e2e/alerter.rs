//! Alerter end to end: real CloudTrail files in moto S3, the alerter (through its handler and as
//! the real binary under the Lambda runtime API), alerts read back from an SQS queue subscribed
//! to moto's SNS topic (what `sqs` subscribers get) and from moto's record of the topic's
//! notifications (the structured message with the e-mail text).
//!
//! Expected alerts per file were worked out independently of the engine (a hand translation of
//! the 14 Security Hub patterns run over the fixtures in Python), so an engine or alerter bug
//! shows up as a count or rule mismatch here.

use std::collections::BTreeMap;
use std::sync::Arc;

use alerter::config::AlerterConfig;
use alerter::handler::{Alerter, ObjectOutcome};
use serde_json::{Value, json};
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::{LambdaWatch, Moto, events, fixture, gzip, put_object};
use trailwatch_lambda_common::sns::SnsPublisher;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::MemoryStateStore;
use trailwatch_shared::records::ReaderLimits;
use trailwatch_shared::rules::config::{RuleSetSelection, load_rules};
use trailwatch_shared::trigger::ObjectRef;

const BUCKET: &str = "trail-bucket";
const PREFIX: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/";
/// StopLogging (CloudWatch.5), AccessDenied / UnauthorizedOperation (CloudWatch.2), an IAM policy
/// change (CloudWatch.4) and a bucket policy change (CloudWatch.8).
const ATTACK: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";
/// A successful console login of an IAM user without MFA (CloudWatch.3).
const NO_MFA: &str = "218007301253_CloudTrail_us-east-1_20230710T1225Z_4iD2boYSOwmb6sWd.json";
/// A console login *with* MFA and 62 other records: no Security Hub rule may fire.
const QUIET: &str = "218007301253_CloudTrail_us-east-1_20230710T1230Z_AvIajGd5rkz6vTy4.json";

struct World {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    topic_arn: String,
    queue_url: String,
}

async fn world() -> World {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    World {
        moto,
        s3,
        sns,
        sqs,
        topic_arn,
        queue_url,
    }
}

async fn put_fixture(w: &World, name: &str) -> String {
    let body = std::fs::read(fixture(&format!("cloudtrail/{name}"))).unwrap();
    let key = format!("{PREFIX}{name}.gz");
    put_object(&w.s3, BUCKET, &key, gzip(&body)).await;
    key
}

/// One alert as an SQS subscriber receives it (the SNS envelope around the `sqs` document).
#[derive(Debug)]
struct Received {
    subject: String,
    doc: Value,
    attributes: BTreeMap<String, String>,
}

async fn drain_queue(w: &World) -> Vec<Received> {
    let mut out: Vec<Received> = drain_envelopes(&w.sqs, &w.queue_url)
        .await
        .into_iter()
        .map(|envelope| {
            assert_eq!(envelope["Type"], "Notification");
            assert_eq!(envelope["TopicArn"], w.topic_arn.as_str());
            let doc: Value = serde_json::from_str(envelope["Message"].as_str().unwrap())
                .expect("the sqs protocol gets the machine-readable JSON document");
            let attributes = envelope["MessageAttributes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    assert_eq!(v["Type"], "String");
                    (k.clone(), v["Value"].as_str().unwrap().to_owned())
                })
                .collect();
            Received {
                subject: envelope["Subject"].as_str().unwrap().to_owned(),
                doc,
                attributes,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.doc["log_file"]["key"].to_string(), rule_id(a))
            .cmp(&(b.doc["log_file"]["key"].to_string(), rule_id(b)))
    });
    out
}

fn rule_id(r: &Received) -> String {
    r.attributes.get("rule_id").cloned().unwrap_or_default()
}

/// The structured messages the topic published (moto keeps them), keyed by subject: these carry
/// the `default` / `email` text an e-mail subscriber reads.
async fn published_texts(w: &World) -> BTreeMap<String, Value> {
    let moto_notifications = {
        let moto = &w.moto;
        tokio::task::block_in_place(|| moto.sent_notifications())
    };
    moto_notifications
        .into_iter()
        .map(|n| {
            let structured: Value =
                serde_json::from_str(&n.message).expect("MessageStructure json");
            (n.subject, structured)
        })
        .collect()
}

fn handler_state(
    w: &World,
    topic_arn: &str,
    rules: trailwatch_shared::rules::config::LoadedRules,
) -> Alerter<SnsPublisher, MemoryStateStore> {
    let config =
        AlerterConfig::from_lookup(|k| (k == "ALERT_TOPIC_ARN").then(|| topic_arn.to_owned()))
            .unwrap();
    Alerter {
        s3: w.s3.clone(),
        publisher: Arc::new(SnsPublisher::new(w.sns.clone(), topic_arn)),
        rules: Arc::new(rules),
        limits: ReaderLimits::default(),
        ledger: Arc::new(AlertLedger::new(MemoryStateStore::new(), 86_400)),
        config,
    }
}

/// What every alert must look like, whatever the rule.
fn assert_well_formed(r: &Received) {
    assert!(
        r.subject.len() <= 99 && r.subject.is_ascii() && !r.subject.contains(['\n', '\r']),
        "{}",
        r.subject
    );
    assert_eq!(r.attributes.len(), 4, "{:?}", r.attributes);
    assert_eq!(
        r.attributes["rule_id"],
        r.doc["rule"]["id"].as_str().unwrap()
    );
    assert_eq!(
        r.attributes["severity"],
        r.doc["rule"]["severity"].as_str().unwrap()
    );
    assert_eq!(r.attributes["account"], "218007301253");
    assert_eq!(r.attributes["region"], "us-east-1");
    assert_eq!(r.doc["source"], "trailwatch");
    assert_eq!(r.doc["schema"], 1);
    assert_eq!(r.doc["kind"], "rule_match");
    assert_eq!(r.doc["log_file"]["bucket"], BUCKET);
    let count = r.doc["match_count"].as_u64().unwrap();
    let included = r.doc["records_included"].as_u64().unwrap();
    assert_eq!(included, count.min(10));
    assert_eq!(r.doc["records_omitted"].as_u64().unwrap(), count - included);
    assert_eq!(r.doc["records"].as_array().unwrap().len() as u64, included);
    let severity = r.attributes["severity"].as_str();
    assert!(
        r.subject.starts_with(&format!("[{severity}] ")),
        "{}",
        r.subject
    );
    assert!(
        r.subject.ends_with("in 218007301253 us-east-1"),
        "{}",
        r.subject
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_publishes_one_message_per_triggered_rule_per_file() {
    let w = world().await;
    let attack = put_fixture(&w, ATTACK).await;
    let no_mfa = put_fixture(&w, NO_MFA).await;
    let quiet = put_fixture(&w, QUIET).await;
    // Not CloudTrail log files: skipped and counted, never failed.
    put_object(&w.s3, BUCKET, PREFIX, Vec::new()).await;
    let state = handler_state(
        &w,
        &w.topic_arn,
        load_rules(&RuleSetSelection::default(), &[]).unwrap(),
    );

    let response = state
        .handle(events::s3_put(BUCKET, &[&attack, &no_mfa, &quiet, PREFIX]))
        .await
        .unwrap();
    assert_eq!(response["status"], "ok", "{response}");

    let got = drain_queue(&w).await;
    let summary: Vec<(String, String, u64)> = got
        .iter()
        .map(|r| {
            (
                r.doc["log_file"]["key"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
                rule_id(r),
                r.doc["match_count"].as_u64().unwrap(),
            )
        })
        .collect();
    let f = |name: &str| format!("{name}.gz");
    assert_eq!(
        summary,
        vec![
            (f(ATTACK), "SecurityHub:CloudWatch.2".into(), 16),
            (f(ATTACK), "SecurityHub:CloudWatch.4".into(), 1),
            (f(ATTACK), "SecurityHub:CloudWatch.5".into(), 4),
            (f(ATTACK), "SecurityHub:CloudWatch.8".into(), 1),
            (f(NO_MFA), "SecurityHub:CloudWatch.3".into(), 1),
        ],
        "exactly one message per triggered rule per file, none for the quiet file"
    );
    for r in &got {
        assert_well_formed(r);
        assert_eq!(
            r.doc["records_evaluated"],
            if r.doc["log_file"]["key"] == attack.as_str() {
                55
            } else {
                12
            }
        );
    }

    // CloudWatch.5: the StopLogging calls are among the embedded records, verbatim.
    let stop = &got[2];
    assert!(
        stop.subject.starts_with("[")
            && stop
                .subject
                .contains(" CloudWatch.5 CloudTrail configuration changes: 4 events in "),
        "{}",
        stop.subject
    );
    let names: Vec<&str> = stop.doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "StopLogging").count(),
        2,
        "{names:?}"
    );

    // CloudWatch.2: 16 matches, 10 embedded, the rest counted.
    let denied = &got[0];
    assert_eq!(denied.doc["records_omitted"], 6);
    for rec in denied.doc["records"].as_array().unwrap() {
        let code = rec["errorCode"].as_str().unwrap();
        assert!(
            code.starts_with("AccessDenied") || code.ends_with("UnauthorizedOperation"),
            "{code}"
        );
    }

    // CloudWatch.3: the login without MFA.
    let login = &got[4];
    let rec = &login.doc["records"][0];
    assert_eq!(rec["eventName"], "ConsoleLogin");
    assert_eq!(rec["additionalEventData"]["MFAUsed"], "No");
    assert_eq!(rec["responseElements"]["ConsoleLogin"], "Success");

    // The e-mail text (default and email keys) as published.
    let texts = published_texts(&w).await;
    assert_eq!(texts.len(), 5, "{:?}", texts.keys());
    let denied_text = &texts[&denied.subject];
    assert_eq!(denied_text["default"], denied_text["email"]);
    let body = denied_text["email"].as_str().unwrap();
    for needle in [
        "Rule:      SecurityHub:CloudWatch.2 (",
        "Account:   218007301253",
        "Region:    us-east-1",
        &format!("Log file:  s3://{BUCKET}/{attack}"),
        "Matches:   16 of 55 records in this file",
        "Matching events (10 of 16 shown):",
        "... and 6 more matching events in this log file (not shown).",
        "   principal:  ",
        "   eventID:    ",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in:\n{body}");
    }
    for key in ["sqs", "lambda", "https"] {
        let doc: Value = serde_json::from_str(denied_text[key].as_str().unwrap()).unwrap();
        assert_eq!(doc, denied.doc, "{key} subscribers get the same document");
    }
    let login_text = texts[&login.subject]["email"].as_str().unwrap();
    assert!(
        login_text.contains("signin.amazonaws.com ConsoleLogin"),
        "{login_text}"
    );
    assert!(!login_text.contains("more matching"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_that_fails_fails_the_invocation() {
    let w = world().await;
    let attack = put_fixture(&w, ATTACK).await;
    let missing_topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let state = handler_state(
        &w,
        missing_topic,
        load_rules(&RuleSetSelection::default(), &[]).unwrap(),
    );
    let err = state
        .handle(events::s3_put(BUCKET, &[&attack]))
        .await
        .expect_err("publish failure must fail the invocation");
    let text = err.to_string();
    assert!(
        text.contains(&attack) && text.contains("4 alert(s) could not be published"),
        "{text}"
    );

    // A quiet file needs no publish, so it succeeds even with a broken topic.
    let quiet = put_fixture(&w, QUIET).await;
    let outcome = state
        .process_object(&ObjectRef {
            bucket: BUCKET.into(),
            key: quiet,
            size: None,
            version_id: None,
            requester: None,
            source_ip: None,
            etag: None,
        })
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ObjectOutcome::LogFile {
            records: 63,
            matches: 0,
            alerts: 0,
            already_published: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_file_still_alerts_for_what_was_read_then_fails() {
    let w = world().await;
    let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{ATTACK}"))).unwrap();
    // Cut just after the last StopLogging record: the JSON is unterminated.
    let cut = text.rfind("\"eventName\":\"StopLogging\"").unwrap() + 2000;
    let key = format!("{PREFIX}{ATTACK}.gz");
    put_object(&w.s3, BUCKET, &key, gzip(&text.as_bytes()[..cut])).await;
    let state = handler_state(
        &w,
        &w.topic_arn,
        load_rules(&RuleSetSelection::default(), &[]).unwrap(),
    );
    let err = state
        .handle(events::s3_put(BUCKET, &[&key]))
        .await
        .expect_err("damaged file fails");
    assert!(
        err.to_string().contains("could not be read to its end"),
        "{err}"
    );
    let got = drain_queue(&w).await;
    let stop = got
        .iter()
        .find(|r| rule_id(r) == "SecurityHub:CloudWatch.5")
        .expect("StopLogging alert despite the damage");
    assert!(stop.doc["file_read_error"].is_string(), "{}", stop.doc);
    let texts = published_texts(&w).await;
    assert!(
        texts[&stop.subject]["email"]
            .as_str()
            .unwrap()
            .contains("WARNING: the log file could not be read to its end")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_under_lambda_runtime_api_alerts_with_builtin_and_s3_custom_rules() {
    let w = world().await;
    let attack = put_fixture(&w, ATTACK).await;
    // Custom rules from S3 at cold start: StopLogging twice in a file is CRITICAL; CloudWatch.2
    // re-tuned to a threshold the file does not reach; CloudWatch.8 switched off.
    let rules = json!({"rules": [
        {"id": "team:stop-logging", "title": "Trail stopped twice",
         "pattern": "{ $.eventSource = cloudtrail.amazonaws.com && $.eventName = StopLogging }",
         "severity": "CRITICAL", "threshold": 2, "description": "Someone is blinding the audit trail."},
        {"id": "SecurityHub:CloudWatch.2", "title": "Unauthorized API calls (burst)",
         "pattern": "{ ($.errorCode = \"*UnauthorizedOperation\") || ($.errorCode = \"AccessDenied*\") }",
         "severity": "LOW", "threshold": 17},
        {"id": "SecurityHub:CloudWatch.8", "pattern": "{ $.eventSource = s3.amazonaws.com }", "severity": "LOW", "enabled": false}
    ]});
    put_object(
        &w.s3,
        "trail-bucket",
        "config/rules.json",
        rules.to_string().into_bytes(),
    )
    .await;

    let mut env = w.moto.env();
    env.push(("ALERT_TOPIC_ARN".into(), w.topic_arn.clone()));
    env.push((
        "CUSTOM_RULES_S3_URI".into(),
        "s3://trail-bucket/config/rules.json".into(),
    ));
    env.push(("MAX_EVENTS_PER_ALERT".into(), "3".into()));
    let watch = LambdaWatch::start("alerter", &env);
    let response = watch
        .invoke(&events::eventbridge_object_created(BUCKET, &attack))
        .expect("invoke");
    assert_eq!(response["status"], "ok", "{response}");

    let got = drain_queue(&w).await;
    let ids: Vec<String> = got.iter().map(rule_id).collect();
    assert_eq!(
        ids,
        [
            "SecurityHub:CloudWatch.4",
            "SecurityHub:CloudWatch.5",
            "team:stop-logging"
        ]
    );
    for r in &got {
        assert_well_formed_max(r, 3);
    }
    let custom = &got[2];
    assert_eq!(custom.attributes["severity"], "CRITICAL");
    assert_eq!(custom.doc["match_count"], 2);
    assert_eq!(
        custom.subject,
        "[CRITICAL] team:stop-logging Trail stopped twice: 2 events in 218007301253 us-east-1"
    );
    let five = &got[1];
    assert_eq!(five.doc["records_included"], 3);
    assert_eq!(five.doc["records_omitted"], 1);

    // EMF: the file line and one line per matching rule, dimension = rule id.
    let stdout = watch.stop_and_collect_stdout();
    let emf: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    let file_line = emf
        .iter()
        .find(|v| v.get("FilesProcessed").is_some())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(file_line["RecordsEvaluated"], 55);
    assert_eq!(file_line["AlertsPublished"], 3);
    assert_eq!(file_line["PublishFailures"], 0);
    let per_rule: BTreeMap<String, u64> = emf
        .iter()
        .filter(|v| v.get("RuleId").is_some())
        .map(|v| {
            (
                v["RuleId"].as_str().unwrap().to_owned(),
                v["RuleMatches"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_rule.get("SecurityHub:CloudWatch.2"),
        Some(&16),
        "matches counted below threshold too: {per_rule:?}"
    );
    assert_eq!(per_rule.get("team:stop-logging"), Some(&2));
    assert!(
        !per_rule.contains_key("SecurityHub:CloudWatch.8"),
        "disabled rule never evaluated"
    );
}

fn assert_well_formed_max(r: &Received, max: u64) {
    assert!(r.subject.len() <= 99 && r.subject.is_ascii());
    let count = r.doc["match_count"].as_u64().unwrap();
    assert_eq!(r.doc["records_included"].as_u64().unwrap(), count.min(max));
    assert_eq!(r.attributes["account"], "218007301253");
}

#[test]
fn binary_fails_cold_start_naming_the_invalid_rule_and_the_parser_error() {
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(trailwatch_e2e::function_binary("alerter"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_REGION", "us-east-1");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "cold start must fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let stderr = run(&[]);
    assert!(stderr.contains("ALERT_TOPIC_ARN"), "{stderr}");
    let topic = ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t");
    let stderr = run(&[
        topic,
        (
            "CUSTOM_RULES",
            r#"[{"id":"team:broken","pattern":"{ $.eventName = ","severity":"HIGH"}]"#,
        ),
    ]);
    assert!(
        stderr.contains("CUSTOM_RULES")
            && stderr.contains("team:broken")
            && stderr.contains("invalid pattern"),
        "{stderr}"
    );
    let stderr = run(&[topic, ("RULE_SETS", "security-hub,cis-9.9")]);
    assert!(
        stderr.contains("RULE_SETS") && stderr.contains("cis-9.9"),
        "{stderr}"
    );
}

/// An Insights record in the documented trail shape (no real Insights file is in the corpus).
fn insight_record(state: &str, event_id: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventTime": "2024-07-10T01:42:00Z", "awsRegion": "us-east-1",
        "eventID": event_id, "eventType": "AwsCloudTrailInsight", "recipientAccountId": "123456789012",
        "sharedEventID": "99999999-8888-7777-6666-555555555555", "eventCategory": "Insight",
        "insightDetails": {
            "state": state, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "insightType": "ApiCallRateInsight",
            "insightContext": {"statistics": {"baseline": {"average": 0.05}, "insight": {"average": 12.5},
                                              "insightDuration": 4, "baselineDuration": 10080}}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insights_file_alerts_once_per_starting_insight() {
    let w = world().await;
    let key = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/07/10/123456789012_CloudTrail-Insight_us-east-1_20240710T0145Z_FiT5gcVkXjDfw1bn.json.gz";
    let file =
        json!({"Records": [insight_record("Start", "e-start"), insight_record("End", "e-end")]});
    w.s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(gzip(file.to_string().as_bytes()).into())
        .send()
        .await
        .unwrap();
    let state = handler_state(
        &w,
        &w.topic_arn,
        load_rules(&RuleSetSelection::default(), &[]).unwrap(),
    );
    let outcome = state
        .process_object(&ObjectRef {
            bucket: BUCKET.into(),
            key: key.into(),
            size: None,
            version_id: None,
            requester: None,
            source_ip: None,
            etag: None,
        })
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ObjectOutcome::InsightFile {
            records: 2,
            alerts: 1,
            already_published: 0
        }
    );
    let got = drain_queue(&w).await;
    assert_eq!(got.len(), 1, "the End record does not alert");
    let r = &got[0];
    assert_eq!(
        r.subject,
        "[MEDIUM] Insight RunInstances calls 12.5/min (baseline 0.05) in 123456789012 us-east-1"
    );
    assert_eq!(
        r.attributes["rule_id"],
        "CloudTrailInsight:ApiCallRateInsight"
    );
    assert_eq!(r.attributes["severity"], "MEDIUM");
    assert_eq!(r.doc["kind"], "insight");
    assert_eq!(r.doc["insight_average"], 12.5);
    assert_eq!(r.doc["baseline_average"], 0.05);
    assert_eq!(r.doc["record"]["eventID"], "e-start");
    let texts = published_texts(&w).await;
    let body = texts[&r.subject]["email"].as_str().unwrap();
    assert!(
        body.contains("API:       ec2.amazonaws.com RunInstances")
            && body.contains("Ratio:     250x the baseline"),
        "{body}"
    );
}

/// `trailwatch scan` prints the alerts the function sends: same subjects, same e-mail text,
/// byte for byte, whether it reads the S3 prefix or the local file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_cli_prints_exactly_the_alerts_the_function_publishes() {
    let w = world().await;
    let attack = put_fixture(&w, ATTACK).await;
    let state = handler_state(
        &w,
        &w.topic_arn,
        load_rules(&RuleSetSelection::default(), &[]).unwrap(),
    );
    state
        .handle(events::s3_put(BUCKET, &[&attack]))
        .await
        .unwrap();
    let published = published_texts(&w).await;
    assert_eq!(published.len(), 4);

    let cli = trailwatch_e2e::function_binary("trailwatch");
    let run = |args: Vec<String>| {
        let out = std::process::Command::new(&cli)
            .arg("scan")
            .args(args)
            .envs(w.moto.env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (stdout, stderr) =
        tokio::task::block_in_place(|| run(vec![format!("s3://{BUCKET}/AWSLogs/")]));
    assert!(
        stderr.contains(
            "scanned 1 file(s) (0 skipped, 0 unreadable), 55 record(s); 4 alert(s) would be sent"
        ),
        "{stderr}"
    );
    let printed = parse_scan_output(&stdout);
    assert_eq!(printed.len(), 4);
    for (subject, text) in &printed {
        let sent = published
            .get(subject)
            .unwrap_or_else(|| panic!("{subject} was not published"));
        assert_eq!(
            sent["email"].as_str().unwrap(),
            text,
            "scan prints the e-mail text the function sends"
        );
    }

    // A local copy of the same file: same alerts; account and region from the file name.
    let local = fixture(&format!("cloudtrail/{ATTACK}"));
    let (stdout, _) = tokio::task::block_in_place(|| run(vec![local.display().to_string()]));
    let local_subjects: Vec<String> = parse_scan_output(&stdout)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        local_subjects,
        printed.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()
    );
}

/// `(subject, e-mail text)` per alert printed by `trailwatch scan`.
fn parse_scan_output(stdout: &str) -> Vec<(String, String)> {
    stdout
        .split("==== alert ")
        .skip(1)
        .map(|block| {
            let subject = block
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .expect("Subject line")
                .to_owned();
            // Header lines, a blank line, then the text, then one separating newline.
            let text = &block[block.find("\n\n").expect("blank line after the header") + 2..];
            (subject, text.strip_suffix('\n').unwrap_or(text).to_owned())
        })
        .collect()
}
