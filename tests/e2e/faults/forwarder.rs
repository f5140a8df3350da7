//! The forwarder's cells: a file large enough for several PutLogEvents batches, faults on S3,
//! CloudWatch Logs and DynamoDB, and the stream read back.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use trailwatch_e2e::faults::{Exchange, FaultProxy, Rule};
use trailwatch_e2e::{Moto, create_state_table, events, gzip, put_object, time};

use super::harness::{CellResult, Delivery, check_end_state, clip, counts, deliver, deliver_fresh};

const ACCOUNT: &str = "218007301253";
const STREAM: &str = "218007301253_CloudTrail_us-east-1";
/// ~420 bytes each: about 2,400 per 1 MiB PutLogEvents batch, so three batches.
const RECORDS: usize = 6_000;

/// The file every forwarder cell delivers (each into its own bucket and log group).
pub(crate) struct TrailFile {
    pub(crate) key: String,
    pub(crate) gz: Vec<u8>,
    /// Every record's raw text: what CloudWatch Logs must hold, each once.
    pub(crate) records: Vec<String>,
}

pub(crate) fn trail_file() -> TrailFile {
    let day = time::yesterday();
    let (folder, compact) = (day.replace('-', "/"), day.replace('-', ""));
    let records: Vec<String> = (0..RECORDS)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "AssumedRole", "accountId": ACCOUNT,
                                 "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/reader/s{i}")},
                "eventTime": format!("{day}T12:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "203.0.113.7",
                "userAgent": "[aws-sdk-rust/1.3]",
                "requestParameters": {"bucketName": "data", "key": format!("reports/{i:06}.csv"),
                                      "padding": "x".repeat(60)},
                "eventID": format!("fault-suite-{i:08}"),
                "readOnly": true,
                "eventType": "AwsApiCall",
                "recipientAccountId": ACCOUNT,
            })
            .to_string()
        })
        .collect();
    let text = format!("{{\"Records\":[{}]}}", records.join(","));
    TrailFile {
        key: format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{folder}/{ACCOUNT}_CloudTrail_us-east-1_{compact}T1200Z_FaultSuite000001.json.gz"
        ),
        gz: gzip(text.as_bytes()),
        records,
    }
}

/// What one forwarder run left behind.
pub(crate) struct ForwarderRun {
    pub(crate) delivery: Delivery,
    pub(crate) exchanges: Vec<Exchange>,
    pub(crate) stored: Vec<String>,
}

/// Runs the forwarder of cell `id` with `rules` on its calls.
pub(crate) async fn run(
    moto: &Moto,
    id: &str,
    file: &Arc<TrailFile>,
    rules: Vec<Rule>,
) -> ForwarderRun {
    run_as(moto, id, file, rules, Redelivery::UntilSuccess).await
}

/// How the event is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redelivery {
    /// Again after each failure, up to the bound (Lambda's retries, a redrive).
    UntilSuccess,
    /// Twice to fresh environments, without the state table: the negative control (nothing can
    /// recognise the second delivery, so the checks must report its duplicates).
    TwiceWithoutState,
}

pub(crate) async fn run_as(
    moto: &Moto,
    id: &str,
    file: &Arc<TrailFile>,
    rules: Vec<Rule>,
    redelivery: Redelivery,
) -> ForwarderRun {
    let s3 = moto.s3().await;
    let cfg = moto.sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let bucket = format!("fwd-{id}");
    let group = format!("/faults/fwd-{id}");
    let table = format!("state-fwd-{id}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    put_object(&s3, &bucket, &file.key, file.gz.clone()).await;
    logs.create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    create_state_table(&cfg, &table).await;

    let proxy = FaultProxy::start(&moto.endpoint());
    proxy.set_rules(rules);
    let mut env = proxy.env();
    env.push(("LOG_GROUP_NAME".into(), group.clone()));
    if redelivery == Redelivery::UntilSuccess {
        env.push(("STATE_TABLE".into(), table));
    }
    let event = events::s3_put(&bucket, &[&file.key]);
    let delivery = tokio::task::spawn_blocking(move || match redelivery {
        Redelivery::UntilSuccess => deliver("forwarder", &env, &event),
        Redelivery::TwiceWithoutState => deliver_fresh("forwarder", &env, &event, 2),
    })
    .await
    .expect("delivery thread");
    // No stream at all is a valid answer when nothing was forwarded.
    let stored = trailwatch_e2e::read_log_stream(&logs, &group, STREAM)
        .await
        .map(|events| events.into_iter().map(|(_, m)| m).collect())
        .unwrap_or_default();
    ForwarderRun {
        delivery,
        exchanges: proxy.exchanges(),
        stored,
    }
}

/// The invariants of one forwarder cell.
pub(crate) fn check(cell: &mut CellResult, file: &TrailFile, run: &ForwarderRun) {
    let injected: Vec<&Exchange> = run.exchanges.iter().filter(|e| e.fault.is_some()).collect();
    check_end_state(cell, &run.exchanges, &run.delivery, &[&file.key]);

    let stored = counts(run.stored.iter().cloned());
    let expected: BTreeSet<&String> = file.records.iter().collect();
    if run.delivery.completed() {
        let missing = expected
            .iter()
            .filter(|r| !stored.contains_key(**r))
            .count();
        cell.check(missing == 0, || {
            format!("{missing} of {} events lost", file.records.len())
        });
    }
    let foreign = stored.keys().filter(|m| !expected.contains(m)).count();
    cell.check(foreign == 0, || {
        format!("{foreign} stored events are not records of the file")
    });

    // Duplicates: none, except the one batch whose acknowledgement was lost (the stated window).
    let duplicated: Vec<(&String, usize)> = stored
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(m, n)| (m, *n))
        .collect();
    let dropped_batch: BTreeSet<String> = injected
        .iter()
        .filter(|e| e.fault.is_some_and(|f| f.answer_lost()) && e.call.operation == "PutLogEvents")
        .flat_map(|e| batch_messages(e))
        .collect();
    let extra: usize = duplicated.iter().map(|(_, n)| n - 1).sum();
    let outside_window = duplicated
        .iter()
        .filter(|(m, n)| *n > 2 || !dropped_batch.contains(*m))
        .count();
    if extra > 0 && outside_window == 0 {
        cell.note(format!(
            "{extra} events stored twice: the batch whose PutLogEvents answer was lost (the window)"
        ));
    }
    cell.check(outside_window == 0, || {
        format!(
            "{extra} duplicate events in CloudWatch Logs ({outside_window} outside the window of \
             the one batch whose answer was lost)"
        )
    });

    // Counts reconcile on every file line: what was read is forwarded, filtered or rejected;
    // a failed attempt's checkpoint (records done) is what it forwarded, filtered or rejected;
    // and over the file's life the completing line plus the records it resumed after are the
    // file's records, each accounted for once.
    let lines = run.delivery.emf_lines();
    let n = |l: &Value, k: &str| l[k].as_u64().unwrap_or(0);
    for l in lines.iter().filter(|l| l.get("FilesProcessed").is_some()) {
        cell.check(
            n(l, "RecordsIn")
                == n(l, "RecordsForwarded") + n(l, "RecordsFiltered") + n(l, "RecordsRejected"),
            || format!("counts do not reconcile: {}", clip(&l.to_string())),
        );
    }
    let mut last_done = 0;
    for l in lines.iter().filter(|l| l.get("FilesFailed").is_some()) {
        if let Some(done) = l.get("recordsDone").and_then(Value::as_u64) {
            let accounted =
                n(l, "recordsForwarded") + n(l, "recordsFiltered") + n(l, "recordsRejected");
            cell.check(done <= accounted, || {
                format!(
                    "a failed attempt's checkpoint counts records it did not account for: {}",
                    clip(&l.to_string())
                )
            });
            last_done = last_done.max(done);
        }
    }
    if run.delivery.completed() {
        let last = lines
            .iter()
            .rev()
            .find(|l| l.get("FilesProcessed").is_some());
        let total = file.records.len() as u64;
        cell.check(
            last.is_some_and(|l| {
                n(l, "RecordsIn") + n(l, "resumedAfterRecords") == total
                    && n(l, "RecordsForwarded") + n(l, "resumedAfterRecords") == total
            }),
            || {
                format!(
                    "the completing run and the records it resumed after are not the file's {total} \
                     records: {}",
                    last.map(|l| clip(&l.to_string()))
                        .unwrap_or_else(|| "no line".into())
                )
            },
        );
        if let Some(l) = last {
            let resumed = n(l, "resumedAfterRecords");
            cell.check(resumed <= last_done || last_done == 0, || {
                format!(
                    "resumed after {resumed} records, more than a failed attempt checkpointed \
                     ({last_done})"
                )
            });
        }
    }
}

/// The messages of a PutLogEvents request body.
fn batch_messages(e: &Exchange) -> Vec<String> {
    let Some(body) = &e.body else {
        return Vec::new();
    };
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    v["logEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ev| ev["message"].as_str().map(str::to_owned))
        .collect()
}
