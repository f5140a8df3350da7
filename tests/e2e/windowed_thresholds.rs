//! Windowed thresholds end to end: the real alerter binary under the Lambda runtime API, small
//! CloudTrail files in moto S3, the window counters in a moto DynamoDB state table, alerts read
//! back from an SQS queue subscribed to moto's SNS topic.
//!
//! A custom rule "≥ 5 failed ConsoleLogin in 300 s" over several files, each below the threshold,
//! delivered to separate invocations of two separate containers (so the count can only come from
//! the table), one of them delivered twice: exactly one alert, with the count, the window and
//! the samples. A file in the next window adds nothing to it. Negative control: the same rule
//! without a state table refuses to start (a window in one container's memory would count
//! per container, silently).

use serde_json::{Value, json};
use trailwatch_e2e::alerts::{drain_envelopes, topic_with_queue};
use trailwatch_e2e::{LambdaWatch, Moto, events, gzip};

const BUCKET: &str = "trail-bucket";
const ACCOUNT: &str = "111122223333";
/// 2024-01-01T00:00:00Z, a multiple of 300.
const WINDOW: i64 = 1_704_067_200;

fn rules() -> String {
    json!([{
        "id": "team:failed-logins", "title": "Failed console sign-ins", "severity": "MEDIUM",
        "pattern": "{ $.eventName = ConsoleLogin && $.errorMessage = \"Failed authentication\" }",
        "threshold": 5, "period": 300,
        "description": "Password guessing against the console: check the source IP."
    }])
    .to_string()
}

fn login(offset: i64, n: usize, failed: bool) -> Value {
    let mut record = json!({
        "eventVersion": "1.09", "eventTime": format!("2024-01-01T00:{:02}:{:02}Z", offset / 60, offset % 60),
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": ACCOUNT},
        "sourceIPAddress": "203.0.113.7", "userAgent": "Mozilla/5.0",
        "responseElements": {"ConsoleLogin": if failed { "Failure" } else { "Success" }},
        "eventID": format!("ev-{n}"), "eventType": "AwsConsoleSignIn"
    });
    if failed {
        record["errorMessage"] = json!("Failed authentication");
    }
    record
}

/// Puts a small log file (its records at `offsets`, failed sign-ins numbered from `first`, plus
/// one successful sign-in) and returns its key.
async fn put_file(
    s3: &aws_sdk_s3::Client,
    stamp: &str,
    suffix: &str,
    offsets: &[i64],
    first: usize,
) -> String {
    let mut records: Vec<Value> = offsets
        .iter()
        .enumerate()
        .map(|(i, &o)| login(o, first + i, true))
        .collect();
    records.push(login(offsets[0], 0, false));
    let body = json!({ "Records": records }).to_string();
    let key = format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/01/01/{ACCOUNT}_CloudTrail_us-east-1_20240101T{stamp}Z_{suffix}.json.gz"
    );
    s3.put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(gzip(body.as_bytes()).into())
        .send()
        .await
        .unwrap();
    key
}

fn invoke(watch: &LambdaWatch, key: &str) {
    let response = watch
        .invoke(&events::eventbridge_object_created(BUCKET, key))
        .expect("invoke");
    assert_eq!(response["status"], "ok", "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_sign_ins_in_300_s_across_files_raise_one_alert_with_count_and_window() {
    let moto = Moto::start();
    let cfg = moto.sdk_config().await;
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let (topic_arn, queue_url) = topic_with_queue(&cfg).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let mut env = moto.env();
    env.extend(moto.with_state_table().await);
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn.clone()));
    env.push(("CUSTOM_RULES".into(), rules()));
    env.push(("RULE_SETS".into(), "none".into()));

    // Two failed sign-ins per file, all in the window 00:00-00:05; f4 is in the next window.
    let f1 = put_file(&s3, "0005", "aaaaaaaaaaaaaaa1", &[10, 20], 1).await;
    let f2 = put_file(&s3, "0005", "aaaaaaaaaaaaaaa2", &[100, 110], 3).await;
    let f3 = put_file(&s3, "0005", "aaaaaaaaaaaaaaa3", &[200, 299], 5).await;
    let f4 = put_file(&s3, "0010", "aaaaaaaaaaaaaaa4", &[300, 310], 7).await;

    // First container: f1, f1 again (a repeated delivery), f2: 4 distinct matches, no alert.
    let first = LambdaWatch::start("alerter", &env);
    invoke(&first, &f1);
    invoke(&first, &f1);
    invoke(&first, &f2);
    let stdout = first.stop_and_collect_stdout();
    assert!(
        stdout.contains("window contribution"),
        "one log line per window contribution:\n{stdout}"
    );
    assert!(
        drain_envelopes(&sqs, &queue_url).await.is_empty(),
        "4 matches < 5 must not alert"
    );

    // Second container (fresh memory): f4 (next window), then f3 reaches 6 in the first window.
    let second = LambdaWatch::start("alerter", &env);
    invoke(&second, &f4);
    invoke(&second, &f3);
    invoke(&second, &f2); // a late repeat: already counted, the alert is out
    let stdout = second.stop_and_collect_stdout();
    let got = drain_envelopes(&sqs, &queue_url).await;
    assert_eq!(got.len(), 1, "exactly one alert: {got:#?}\n{stdout}");
    let envelope = &got[0];
    let subject = envelope["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!(
            "[MEDIUM] team:failed-logins Failed console sign-ins: 6 events in 5 min in {ACCOUNT} us-east-1"
        )
    );
    let attributes = &envelope["MessageAttributes"];
    assert_eq!(attributes["rule_id"]["Value"], "team:failed-logins");
    assert_eq!(attributes["account"]["Value"], ACCOUNT);
    let doc: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(doc["kind"], "rule_window");
    assert_eq!(doc["match_count"], 6);
    assert_eq!(doc["rule"]["threshold"], 5);
    assert_eq!(doc["window"]["start"], "2024-01-01T00:00:00Z");
    assert_eq!(doc["window"]["end"], "2024-01-01T00:05:00Z");
    assert_eq!(doc["window"]["start_unix"], WINDOW);
    assert_eq!(doc["log_file"]["key"], f3.as_str());
    let sample_ids: Vec<&str> = doc["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(sample_ids, ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5", "ev-6"]);
    assert!(stdout.contains("window alert published"), "{stdout}");

    // In the table: a counter per window the files fell in, and the alert's unit of work only
    // for the window that reached the threshold.
    let items = moto.state_table_items().await;
    let keys: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("pk")?.as_s().ok().cloned())
        .filter(|k| k.contains("window#"))
        .collect();
    let counter = |start: i64| format!("window#team:failed-logins#{ACCOUNT}#us-east-1#300#{start}");
    for want in [
        counter(WINDOW),
        counter(WINDOW + 300),
        format!("alerter#s3:///{}#-", counter(WINDOW)),
    ] {
        assert!(keys.contains(&want), "{want} not in {keys:#?}");
    }
    assert_eq!(
        keys.len(),
        3,
        "no alert unit for the window below its threshold: {keys:#?}"
    );

    // `trailwatch scan` over the same files (in key order, as S3 lists them) back-tests the rule
    // with the same decision: one window alert, after f3, with the very JSON the function sent.
    let rules_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(rules_file.path(), rules()).unwrap();
    let cli = trailwatch_e2e::function_binary("trailwatch");
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(&cli)
            .args(["scan", "--rules", "none", "--json", "--custom-rules"])
            .arg(rules_file.path())
            .arg(format!("s3://{BUCKET}/AWSLogs/"))
            .envs(moto.env())
            .output()
            .unwrap()
    });
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("4 file(s)") && stderr.contains("1 alert(s) would be sent"),
        "{stderr}"
    );
    assert!(stdout.contains(&format!("Subject: {subject}")), "{stdout}");
    let printed_json = stdout
        .split("---- machine-readable JSON (sqs/lambda/https)\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("the alert's JSON");
    assert_eq!(serde_json::from_str::<Value>(printed_json).unwrap(), doc);
}

#[test]
fn a_windowed_rule_without_a_state_table_refuses_to_start() {
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(trailwatch_e2e::function_binary("alerter"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .env("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t")
            .env("RULE_SETS", "none");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[("CUSTOM_RULES", &rules())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "cold start must fail: {stderr}");
    assert!(
        stderr.contains("rule \"team:failed-logins\" has a period")
            && stderr.contains("STATE_TABLE must be set"),
        "{stderr}"
    );
    // Negative control: the same rule without its period passes that check (the binary then
    // fails on the runtime API, which is not there, for that reason only).
    let per_file = rules()
        .replace(r#","period":300"#, "")
        .replace(r#""period":300,"#, "");
    assert!(!per_file.contains("period"), "{per_file}");
    let out = run(&[("CUSTOM_RULES", &per_file)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("has a period"), "{stderr}");
}
