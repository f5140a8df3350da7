//! `trailwatch redrive QUEUE_URL`: re-invokes the work kept in a function's failure queue.
//!
//! Lambda's on-failure destination stores, for each event that exhausted its retries, a record
//! with the function ARN (`requestContext.functionArn`) and the original event
//! (`requestPayload`). Redriving invokes the function again asynchronously with that event and
//! deletes the message only once Lambda has accepted the invocation, so nothing is lost if the
//! command stops half-way.
//!
//! The forwarder's queue can hold files older than CloudWatch Logs' 14-day window (the queue keeps
//! messages 14 days, on top of the time the file took to fail). Re-invoking the forwarder for them
//! forwards nothing, so such objects are reported (key, age) and not redriven (see [`expiry`]).
//! A message whose objects are all expired stays in the queue unless `--drop-expired`; a message
//! with both kinds is redriven for the current objects, and its expired objects are put back in the
//! queue as a record of their own (or dropped with `--drop-expired`), so that after a run the queue
//! holds exactly what was not redriven. Every message read is counted once:
//! `read = redriven + expired + failed`.

mod expiry;

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use anyhow::{Context, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use expiry::{ExpiredObject, Plan};

#[derive(clap::Args)]
pub struct RedriveArgs {
    /// URL of the failure queue (a stack output: ForwarderFailureQueueUrl, …).
    queue_url: String,
    /// Invoke this function instead of the one recorded in each message.
    #[arg(long)]
    function: Option<String>,
    /// Show what would be re-invoked; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Stop after this many messages (default: until the queue is empty).
    #[arg(long)]
    max_messages: Option<usize>,
    /// Delete the messages of forwarder objects older than the 14-day CloudWatch Logs window
    /// (default: keep them in the queue). Their events stay in S3 either way.
    #[arg(long)]
    drop_expired: bool,
    /// Whether the invoked function is the forwarder, whose objects past the CloudWatch Logs
    /// window are not redriven: `auto` recognises it by name (`…ForwarderFunction…`).
    #[arg(long, value_enum, default_value_t = FunctionKind::Auto)]
    function_kind: FunctionKind,
    /// One JSON object on stdout (counts, expired objects, failures) instead of lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FunctionKind {
    /// The forwarder when the function's name contains "forwarder".
    Auto,
    /// Every record is the forwarder's (a function deployed under another name).
    Forwarder,
    /// Never the forwarder: every record is redriven as recorded.
    Other,
}

impl FunctionKind {
    fn is_forwarder(self, function: &str) -> bool {
        match self {
            FunctionKind::Auto => expiry::looks_like_forwarder(function),
            FunctionKind::Forwarder => true,
            FunctionKind::Other => false,
        }
    }
}

/// What one failure-queue message asks to redo.
#[derive(Debug, PartialEq)]
pub struct FailedInvocation {
    pub function_arn: String,
    pub payload: Value,
    pub condition: Option<String>,
}

/// Reads an on-failure destination record.
pub fn parse_failure_record(body: &str) -> anyhow::Result<FailedInvocation> {
    let v: Value = serde_json::from_str(body).context("message body is not JSON")?;
    let function_arn = v["requestContext"]["functionArn"]
        .as_str()
        .context("no requestContext.functionArn: not a Lambda on-failure record")?
        .to_owned();
    let payload = v
        .get("requestPayload")
        .cloned()
        .context("no requestPayload")?;
    let condition = v["requestContext"]["condition"].as_str().map(str::to_owned);
    Ok(FailedInvocation {
        function_arn,
        payload,
        condition,
    })
}

/// The function to invoke for a record and what to send it.
fn plan_record(record: &FailedInvocation, args: &RedriveArgs, now: i64) -> (String, Plan) {
    let function = args
        .function
        .clone()
        .unwrap_or_else(|| record.function_arn.clone());
    let plan = if args.function_kind.is_forwarder(&function) {
        expiry::plan(&record.payload, now)
    } else {
        Plan::Unchanged
    };
    (function, plan)
}

/// The same on-failure record naming only `payload`'s objects, marked with the message it came
/// from: what stays in the queue for a message's expired objects once the others are redriven.
fn remainder_record(body: &str, payload: Value, from_message: &str) -> anyhow::Result<String> {
    let mut v: Value = serde_json::from_str(body).context("message body is not JSON")?;
    let Some(object) = v.as_object_mut() else {
        bail!("message body is not a JSON object");
    };
    object.insert("requestPayload".into(), payload);
    object.insert(
        "trailwatchRedrive".into(),
        json!({ "expiredRemainderOf": from_message }),
    );
    Ok(v.to_string())
}

/// How one message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Invoked (and deleted); `part` when some of its objects were expired and left out.
    Redriven { part: bool },
    /// Every object past the window: not invoked.
    Expired,
    /// Unreadable, or an AWS call failed: the message stays in the queue.
    Failed,
}

#[derive(Debug, Serialize)]
struct ExpiredReport {
    message_id: String,
    #[serde(flatten)]
    object: ExpiredObject,
    file_time_utc: String,
    age: String,
}

#[derive(Debug, Serialize)]
struct FailureReport {
    message_id: String,
    error: String,
}

/// The run's counts; `messages_read == redriven + expired + failed` always holds.
#[derive(Debug, Default, Serialize)]
struct Summary {
    dry_run: bool,
    /// What happens to messages (or parts of messages) holding only expired objects.
    expired_messages: &'static str,
    messages_read: usize,
    redriven: usize,
    /// Of `redriven`: messages invoked for only their current objects.
    redriven_in_part: usize,
    expired: usize,
    failed: usize,
    expired_objects: Vec<ExpiredReport>,
    failures: Vec<FailureReport>,
}

impl Summary {
    fn record(&mut self, outcome: Outcome) {
        self.messages_read += 1;
        match outcome {
            Outcome::Redriven { part } => {
                self.redriven += 1;
                self.redriven_in_part += usize::from(part);
            }
            Outcome::Expired => self.expired += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    fn fail(&mut self, message_id: &str, error: String) -> Outcome {
        eprintln!("message {message_id}: {error}");
        self.failures.push(FailureReport {
            message_id: message_id.to_owned(),
            error,
        });
        Outcome::Failed
    }

    fn add_expired(&mut self, message_id: &str, expired: &[ExpiredObject]) {
        self.expired_objects
            .extend(expired.iter().map(|object| ExpiredReport {
                message_id: message_id.to_owned(),
                file_time_utc: utc(object.file_time),
                age: expiry::human_age(object.age_seconds),
                object: object.clone(),
            }));
    }

    fn line(&self) -> String {
        let would = if self.dry_run { "would be " } else { "" };
        format!(
            "{} message(s) read: {} {would}redriven ({} in part), {} expired past the 14-day \
             CloudWatch Logs window ({} object(s); {would}{}), {} failed or skipped (kept)",
            self.messages_read,
            self.redriven,
            self.redriven_in_part,
            self.expired,
            self.expired_objects.len(),
            self.expired_messages,
            self.failed,
        )
    }
}

fn utc(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn run(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(redrive(args))
}

/// How long a received message stays hidden: long enough that the run does not meet the messages
/// it keeps again; they are made visible again when the run ends (see [`release`]).
const VISIBILITY_SECS: i32 = 300;

struct Clients {
    sqs: aws_sdk_sqs::Client,
    lambda: aws_sdk_lambda::Client,
}

async fn redrive(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let sdk = trailwatch_lambda_common::load_sdk_config().await;
    let aws = Clients {
        sqs: aws_sdk_sqs::Client::new(&sdk),
        lambda: aws_sdk_lambda::Client::new(&sdk),
    };
    let limit = args.max_messages.unwrap_or(usize::MAX);
    // One time for the whole run, so that every file is judged against the same window.
    let now = unix_now();
    let mut summary = Summary {
        dry_run: args.dry_run,
        expired_messages: if args.drop_expired {
            "deleted"
        } else {
            "kept in the queue"
        },
        ..Summary::default()
    };
    // Messages already handled (and the remainders this run put back): a kept message can be
    // received again and must not be counted or acted on twice.
    let mut seen: HashSet<String> = HashSet::new();
    // Messages left in the queue, by id, with their latest receipt handle.
    let mut kept: HashMap<String, String> = HashMap::new();
    while summary.messages_read < limit {
        let batch = aws
            .sqs
            .receive_message()
            .queue_url(&args.queue_url)
            .max_number_of_messages(10.min(limit - summary.messages_read) as i32)
            .wait_time_seconds(1)
            .visibility_timeout(VISIBILITY_SECS)
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = batch.messages();
        // Only an empty answer ends the run: every message is then handled or hidden by it.
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let id = m.message_id().unwrap_or("?").to_owned();
            let stays = if seen.insert(id.clone()) {
                let outcome = handle_message(&aws, &args, m, now, &mut summary, &mut seen).await;
                summary.record(outcome);
                args.dry_run
                    || outcome == Outcome::Failed
                    || (outcome == Outcome::Expired && !args.drop_expired)
            } else {
                true
            };
            if stays && let Some(handle) = m.receipt_handle() {
                kept.insert(id, handle.to_owned());
            }
        }
    }
    release(&aws, &args, &kept).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.line());
    }
    if summary.failed > 0 {
        bail!(
            "{} message(s) could not be redriven; they stay in the queue",
            summary.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Plans one message, says what it does, and (unless dry-run) does it.
async fn handle_message(
    aws: &Clients,
    args: &RedriveArgs,
    m: &aws_sdk_sqs::types::Message,
    now: i64,
    summary: &mut Summary,
    seen: &mut HashSet<String>,
) -> Outcome {
    let id = m.message_id().unwrap_or("?");
    let body = m.body().unwrap_or_default();
    let record = match parse_failure_record(body) {
        Ok(r) => r,
        Err(e) => return summary.fail(id, format!("skipped: {e:#}")),
    };
    let (function, plan) = plan_record(&record, args, now);
    let condition = record.condition.as_deref().unwrap_or("failed");
    if !args.json {
        print_plan(args, id, condition, &function, &plan, now);
    }
    if args.dry_run {
        summary.add_expired(id, plan.expired());
        return match plan {
            Plan::Unchanged => Outcome::Redriven { part: false },
            Plan::Part { .. } => Outcome::Redriven { part: true },
            Plan::Expired { .. } => Outcome::Expired,
        };
    }
    let (payload, part) = match &plan {
        Plan::Unchanged => (&record.payload, false),
        Plan::Part { payload, .. } => (payload, true),
        Plan::Expired { expired } => {
            if args.drop_expired
                && let Err(e) = delete(aws, args, m).await
            {
                return summary.fail(id, format!("expired, but {e:#}"));
            }
            summary.add_expired(id, expired);
            return Outcome::Expired;
        }
    };
    if let Err(e) = invoke(aws, &function, payload).await {
        return summary.fail(id, format!("{e:#} (message kept)"));
    }
    if part && !args.drop_expired {
        // Put the expired objects back before the original goes, so the queue never loses them.
        let remainder = expiry::s3_notification(
            &plan
                .expired()
                .iter()
                .map(|e| e.object.clone())
                .collect::<Vec<_>>(),
        );
        let requeued = match remainder_record(body, remainder, id) {
            Ok(text) => requeue(aws, args, text).await,
            Err(e) => Err(e),
        };
        match requeued {
            Ok(new_id) => {
                seen.insert(new_id);
            }
            Err(e) => {
                return summary.fail(
                    id,
                    format!(
                        "current objects redriven, but the expired ones could not be put back \
                         ({e:#}); message kept, so its current objects are redriven again next time"
                    ),
                );
            }
        }
    }
    if let Err(e) = delete(aws, args, m).await {
        return summary.fail(
            id,
            format!("redriven, but {e:#}; the message stays and will be redriven again"),
        );
    }
    summary.add_expired(id, plan.expired());
    Outcome::Redriven { part }
}

fn print_plan(
    args: &RedriveArgs,
    id: &str,
    condition: &str,
    function: &str,
    plan: &Plan,
    now: i64,
) {
    let would = if args.dry_run { "would " } else { "" };
    let expired_fate = match (args.drop_expired, args.dry_run) {
        (true, false) => "deleted",
        (true, true) => "would be deleted",
        (false, false) => "kept in the queue",
        (false, true) => "would be kept in the queue",
    };
    match plan {
        Plan::Unchanged => println!("{would}redrive {id} ({condition}) -> {function}"),
        Plan::Part {
            current, expired, ..
        } => println!(
            "{would}redrive {id} ({condition}) -> {function}: {current} object(s); {} past the \
             14-day CloudWatch Logs window not redriven ({expired_fate})",
            expired.len()
        ),
        Plan::Expired { expired } => println!(
            "expired {id} ({condition}): {} object(s) past the 14-day CloudWatch Logs window, \
             not redriven ({expired_fate})",
            expired.len()
        ),
    }
    for e in plan.expired() {
        println!(
            "  expired s3://{}/{} (delivered {}, {} before this run at {}): events are in S3 only",
            e.bucket,
            e.key,
            utc(e.file_time),
            expiry::human_age(e.age_seconds),
            utc(now),
        );
    }
}

async fn invoke(aws: &Clients, function: &str, payload: &Value) -> anyhow::Result<()> {
    aws.lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "invoke {function} failed: {}",
                aws_sdk_lambda::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

async fn delete(
    aws: &Clients,
    args: &RedriveArgs,
    m: &aws_sdk_sqs::types::Message,
) -> anyhow::Result<()> {
    let handle = m
        .receipt_handle()
        .context("DeleteMessage: the message has no receipt handle")?;
    aws.sqs
        .delete_message()
        .queue_url(&args.queue_url)
        .receipt_handle(handle)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "DeleteMessage failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

/// Makes the messages this run left in the queue visible again at once, so that a run right after
/// (a dry run followed by the real one, or `--drop-expired`) sees them. Best effort: a message
/// not released reappears when its visibility timeout ends.
async fn release(aws: &Clients, args: &RedriveArgs, kept: &HashMap<String, String>) {
    for (id, handle) in kept {
        let changed = aws
            .sqs
            .change_message_visibility()
            .queue_url(&args.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await;
        if let Err(e) = changed {
            eprintln!(
                "message {id} stays hidden up to {VISIBILITY_SECS}s: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            );
        }
    }
}

/// Sends a message to the queue; returns its id.
async fn requeue(aws: &Clients, args: &RedriveArgs, body: String) -> anyhow::Result<String> {
    let sent = aws
        .sqs
        .send_message()
        .queue_url(&args.queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "SendMessage failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(sent.message_id().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_on_failure_destination_record() {
        let body = r#"{"version":"1.0","timestamp":"2024-01-01T00:00:00.000Z",
            "requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:fwd:$LATEST",
                "condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload":{"detail-type":"Object Created","detail":{"bucket":{"name":"b"}}},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "responsePayload":{"errorMessage":"boom"}}"#;
        let r = parse_failure_record(body).unwrap();
        assert_eq!(
            r.function_arn,
            "arn:aws:lambda:us-east-1:123456789012:function:fwd:$LATEST"
        );
        assert_eq!(r.payload["detail"]["bucket"]["name"], "b");
        assert_eq!(r.condition.as_deref(), Some("RetriesExhausted"));
    }

    #[test]
    fn refuses_messages_that_are_not_failure_records() {
        assert!(parse_failure_record("not json").is_err());
        assert!(parse_failure_record(r#"{"Records":[]}"#).is_err());
    }

    /// 2024-03-01T12:00Z (the old key's delivery time) + 14 days + the margin + 1 second.
    const NOW: i64 = 1_709_294_400 + expiry::LOGS_WINDOW_SECS + expiry::EXPIRY_MARGIN_SECS + 1;
    const OLD: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/01/123456789012_CloudTrail_us-east-1_20240301T1200Z_abcdefABCDEF0123.json.gz";
    const NEW: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/14/123456789012_CloudTrail_us-east-1_20240314T1200Z_ffffffffffffffff.json.gz";
    const FORWARDER: &str =
        "arn:aws:lambda:us-east-1:123456789012:function:tw-ForwarderFunction-Ab1:$LATEST";
    const ALERTER: &str = "arn:aws:lambda:us-east-1:123456789012:function:tw-AlerterFunction-Cd2";

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: RedriveArgs,
    }

    fn args(extra: &[&str]) -> RedriveArgs {
        use clap::Parser;
        let argv = ["redrive", "https://sqs.example/q"].iter().chain(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    fn record(function_arn: &str, keys: &[&str]) -> FailedInvocation {
        let records: Vec<Value> = keys
            .iter()
            .map(|k| {
                json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                       "s3": {"bucket": {"name": "b"}, "object": {"key": k}}})
            })
            .collect();
        FailedInvocation {
            function_arn: function_arn.into(),
            payload: json!({ "Records": records }),
            condition: Some("RetriesExhausted".into()),
        }
    }

    #[test]
    fn forwarder_records_are_split_by_age() {
        let (function, plan) = plan_record(&record(FORWARDER, &[OLD, NEW]), &args(&[]), NOW);
        assert_eq!(function, FORWARDER);
        assert!(matches!(plan, Plan::Part { current: 1, .. }), "{plan:?}");
        assert_eq!(plan.expired().len(), 1);
        assert_eq!(plan.expired()[0].key, OLD);
        let (_, plan) = plan_record(&record(FORWARDER, &[OLD]), &args(&[]), NOW);
        assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
    }

    #[test]
    fn other_functions_records_are_untouched() {
        let (function, plan) = plan_record(&record(ALERTER, &[OLD, NEW]), &args(&[]), NOW);
        assert_eq!((function.as_str(), plan), (ALERTER, Plan::Unchanged));
        // Told it is not the forwarder, even a forwarder-named function is redriven as recorded.
        let (_, plan) = plan_record(
            &record(FORWARDER, &[OLD]),
            &args(&["--function-kind", "other"]),
            NOW,
        );
        assert_eq!(plan, Plan::Unchanged);
    }

    #[test]
    fn the_function_invoked_decides_whether_records_are_the_forwarders() {
        let (function, plan) = plan_record(
            &record(ALERTER, &[OLD]),
            &args(&["--function", "my-forwarder"]),
            NOW,
        );
        assert_eq!(function, "my-forwarder");
        assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
        let (_, plan) = plan_record(
            &record(ALERTER, &[OLD]),
            &args(&["--function-kind", "forwarder"]),
            NOW,
        );
        assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        use clap::Parser;
        let bad = Cli::try_parse_from(["redrive", "q", "--function-kind", "alerter"]);
        assert!(bad.is_err());
    }

    #[test]
    fn counts_reconcile() {
        let mut s = Summary::default();
        for outcome in [
            Outcome::Redriven { part: false },
            Outcome::Redriven { part: true },
            Outcome::Expired,
            Outcome::Expired,
            Outcome::Failed,
        ] {
            s.record(outcome);
        }
        assert_eq!(
            (
                s.messages_read,
                s.redriven,
                s.redriven_in_part,
                s.expired,
                s.failed
            ),
            (5, 2, 1, 2, 1)
        );
        assert_eq!(s.messages_read, s.redriven + s.expired + s.failed);
    }

    #[test]
    fn summary_reports_expired_objects_with_key_and_age() {
        let mut s = Summary {
            expired_messages: "kept in the queue",
            ..Summary::default()
        };
        let (_, plan) = plan_record(&record(FORWARDER, &[OLD]), &args(&[]), NOW);
        s.add_expired("m1", plan.expired());
        s.record(Outcome::Expired);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["messages_read"], 1);
        assert_eq!(v["expired"], 1);
        assert_eq!(v["expired_messages"], "kept in the queue");
        let o = &v["expired_objects"][0];
        assert_eq!(o["message_id"], "m1");
        assert_eq!(o["bucket"], "b");
        assert_eq!(o["key"], OLD);
        assert_eq!(o["file_time_utc"], "2024-03-01T12:00:00Z");
        assert_eq!(o["age_seconds"], 14 * 86_400 + 3601);
        assert_eq!(o["age"], "14d 1h 0m");
        assert_eq!(
            s.line(),
            "1 message(s) read: 0 redriven (0 in part), 1 expired past the 14-day CloudWatch \
             Logs window (1 object(s); kept in the queue), 0 failed or skipped (kept)"
        );
    }

    #[test]
    fn remainder_record_names_only_the_expired_objects() {
        let body = json!({
            "requestContext": {"functionArn": FORWARDER, "condition": "RetriesExhausted"},
            "requestPayload": record(FORWARDER, &[OLD, NEW]).payload,
        })
        .to_string();
        let (_, plan) = plan_record(&parse_failure_record(&body).unwrap(), &args(&[]), NOW);
        let objects: Vec<_> = plan.expired().iter().map(|e| e.object.clone()).collect();
        let text = remainder_record(&body, expiry::s3_notification(&objects), "m1").unwrap();
        let again = parse_failure_record(&text).unwrap();
        assert_eq!(again.function_arn, FORWARDER);
        let trigger = trailwatch_shared::trigger::decode(&again.payload).unwrap();
        let keys: Vec<_> = trigger
            .items
            .iter()
            .map(|i| i.object.key.as_str())
            .collect();
        assert_eq!(keys, vec![OLD]);
        // Read again by a later run, the remainder is all expired: never redriven.
        let (_, plan) = plan_record(&again, &args(&[]), NOW);
        assert!(matches!(plan, Plan::Expired { .. }), "{plan:?}");
        assert!(remainder_record("[1]", json!({}), "m1").is_err());
    }
}
