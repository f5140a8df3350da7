//! The hourly range check end to end: generated chains in moto S3, the real `digest-verifier`
//! binary invoked with the schedule's payload (and an injected end of window, the test's clock),
//! verdicts read from its answer and alerts from moto's record of the topic.
//!
//! Each case is an attack that no new object announces: the newest digest deleted (tail
//! truncation), a log file injected that no digest lists, delivery stopped.

use serde_json::{Value, json};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::{LambdaWatch, Moto, SentNotification, upload_objects};
use trailwatch_shared::digest::testkit::VariantCase;

/// What one range check answered and published.
struct Checked {
    response: Value,
    alerts: Vec<SentNotification>,
    log: String,
}

/// Uploads `case`, then runs the range check with the window of the case's first run, ending
/// `late_by` seconds after that run's end (the delay of the schedule's clock).
async fn range_check(case: &VariantCase, late_by: i64, alert_on_warn: bool) -> Checked {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    upload_objects(&s3, case.objects()).await;
    let topic_arn = moto.create_topic("alerts").await;
    let run = &case.runs[0].request;
    let keys = public_keys_file(case, &run.region);

    let mut env = moto.verifier_env(&topic_arn, &keys);
    env.push(("ALERT_ON_WARN".into(), alert_on_warn.to_string()));
    let watch = LambdaWatch::start("digest-verifier", &env);
    let end = run.end + late_by;
    let hours = (end - run.start + 3599) / 3600;
    let payload = json!({"trailwatchRangeCheck": {
        "bucket": run.bucket, "prefix": run.prefix, "hours": hours, "end": end
    }});
    let response = watch.invoke(&payload).expect("the range check completes");
    let log = watch.stop_and_collect_stdout();
    Checked {
        response,
        alerts: moto.sent_notifications(),
        log,
    }
}

/// (account, region, verdict, codes) of each chain the check verified.
fn chains(checked: &Checked) -> Vec<(String, String, String, Vec<String>)> {
    checked.response["rangeCheck"]["chains"]
        .as_array()
        .unwrap_or_else(|| panic!("no chains in {}", checked.response))
        .iter()
        .map(|c| {
            (
                c["account"].as_str().unwrap().to_owned(),
                c["region"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
                c["codes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn completed(log: &str) -> bool {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|v| v.get("RangeChecksCompleted") == Some(&json!(1)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intact_chain_passes_silently_and_the_heartbeat_is_counted() {
    let checked = range_check(&variant("clean"), 0, true).await;
    let chains = chains(&checked);
    assert_eq!(chains.len(), 1, "{}", checked.response);
    assert_eq!(chains[0].2, "PASS", "{chains:?}");
    assert!(checked.alerts.is_empty(), "{:?}", checked.alerts);
    assert!(
        completed(&checked.log),
        "RangeChecksCompleted emitted:\n{}",
        checked.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_newest_digest_is_a_stale_chain_head() {
    let checked = range_check(&variant("digest_deleted_head"), 0, false).await;
    let chains = chains(&checked);
    assert_eq!(chains[0].2, "FAIL", "{chains:?}");
    assert!(
        chains[0].3.contains(&"CHAIN_HEAD_STALE".to_owned()),
        "{chains:?}"
    );
    assert_eq!(checked.alerts.len(), 1, "{:?}", checked.alerts);
    assert!(
        checked.alerts[0].subject.starts_with("[CRITICAL]"),
        "{}",
        checked.alerts[0].subject
    );
    assert!(checked.alerts[0].message.contains("CHAIN_HEAD_STALE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_delivery_is_noticed_by_the_schedule() {
    // The same intact chain, checked two hours after its last digest: nothing was deleted, but
    // nothing arrived either (StopLogging, a deleted trail, notifications switched off).
    let checked = range_check(&variant("clean"), 2 * 3600, false).await;
    let chains = chains(&checked);
    assert_eq!(chains[0].2, "FAIL", "{chains:?}");
    assert!(
        chains[0].3.contains(&"CHAIN_HEAD_STALE".to_owned()),
        "{chains:?}"
    );
    assert_eq!(checked.alerts.len(), 1, "{:?}", checked.alerts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_log_file_is_found() {
    let checked = range_check(&variant("log_extra_unlisted"), 0, true).await;
    let chains = chains(&checked);
    assert!(
        chains[0].3.contains(&"LOG_UNREFERENCED".to_owned()),
        "{chains:?}"
    );
    assert_ne!(chains[0].2, "PASS");
    assert_eq!(checked.alerts.len(), 1, "{:?}", checked.alerts);
    assert!(checked.alerts[0].message.contains("XtraUnlisted0001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chain_of_an_organization_trail_is_found() {
    let case = variant("org_trail");
    let checked = range_check(&case, 0, true).await;
    let chains = chains(&checked);
    assert!(!chains.is_empty(), "{}", checked.response);
    assert!(chains.iter().all(|c| c.2 == "PASS"), "{chains:?}");
}

#[test]
fn a_malformed_range_check_is_refused_naming_the_field() {
    let moto = Moto::start();
    let mut env = moto.env();
    env.push((
        "ALERT_TOPIC_ARN".into(),
        "arn:aws:sns:us-east-1:123456789012:t".into(),
    ));
    let watch = LambdaWatch::start("digest-verifier", &env);
    let error = watch
        .invoke(&json!({"trailwatchRangeCheck": {"bucket": "b", "hours": 0}}))
        .expect_err("hours 0 is refused");
    let document: Value = serde_json::from_str(&error).unwrap();
    assert_eq!(document["errorType"], "trailwatch.UnrecognisedTrigger");
    assert!(document["errorMessage"].as_str().unwrap().contains("hours"));
}
