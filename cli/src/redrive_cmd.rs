//! `trailwatch redrive QUEUE_URL`: re-invokes the work kept in a failure or dead-letter queue.
//!
//! Two kinds of message are redriven (see [`record`]): Lambda on-failure destination records (the
//! functions' failure queues), which name the function and the original event, and EventBridge
//! dead letters (the rules' shared dead-letter queue), whose body is the event and whose
//! `TARGET_ARN` attribute names the function. Redriving invokes the function again asynchronously
//! with that event and deletes the message only once Lambda has accepted the invocation, so
//! nothing is lost if the command stops half-way. A message of neither kind is kept and counted
//! as failed.
//!
//! The forwarder's queues can hold files older than CloudWatch Logs' 14-day window (the queues
//! keep messages 14 days, on top of the time the file took to fail). Re-invoking the forwarder for
//! them forwards nothing, so such objects are reported (key, age) and not redriven (see
//! [`expiry`]), whichever kind of message names them. A message whose objects are all expired
//! stays in the queue unless `--drop-expired`; a message with both kinds is redriven for the
//! current objects, and its expired objects are put back in the queue as a record of their own (or
//! dropped with `--drop-expired`), so that after a run the queue holds exactly what was not
//! redriven. Every message read is counted once: `read = redriven + expired + failed`.

mod calls;
mod expiry;
mod record;
mod summary;

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use anyhow::bail;
use time::OffsetDateTime;

use calls::Clients;
use expiry::Plan;
use record::{DeadLetter, FailedInvocation, Origin};
use summary::{Outcome, Summary, utc};

#[derive(clap::Args)]
pub(crate) struct RedriveArgs {
    /// URL of the failure or dead-letter queue (a stack output: ForwarderFailureQueueUrl, …,
    /// EventRuleDeadLetterQueueUrl).
    queue_url: String,
    /// Invoke this function instead of the one recorded in each message (`requestContext`
    /// function or `TARGET_ARN`).
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
    /// One JSON object on stdout (counts, expired objects, failures, EventBridge dead letters)
    /// instead of lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FunctionKind {
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

/// The function to invoke for a record and what to send it; an error when no function is known.
fn plan_record(
    record: &FailedInvocation,
    args: &RedriveArgs,
    now: i64,
) -> anyhow::Result<(String, Plan)> {
    let function = record.function(args.function.as_deref())?;
    let plan = if args.function_kind.is_forwarder(&function) {
        expiry::plan(&record.payload, now)
    } else {
        Plan::Unchanged
    };
    Ok((function, plan))
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn run(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(redrive(args))
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
        let max = 10.min(limit - summary.messages_read) as i32;
        let messages = calls::receive(&aws, &args.queue_url, max).await?;
        // Only an empty answer ends the run: every message is then handled or hidden by it.
        if messages.is_empty() {
            break;
        }
        for m in &messages {
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
    calls::release(&aws, &args.queue_url, &kept).await;
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

/// Reads one message, redrives it (see [`redrive_record`]) and reports a dead letter's outcome
/// with EventBridge's reason.
async fn handle_message(
    aws: &Clients,
    args: &RedriveArgs,
    m: &aws_sdk_sqs::types::Message,
    now: i64,
    summary: &mut Summary,
    seen: &mut HashSet<String>,
) -> Outcome {
    let id = m.message_id().unwrap_or("?");
    let attributes = calls::string_attributes(m);
    let record = match record::parse_message(m.body().unwrap_or_default(), &attributes) {
        Ok(r) => r,
        Err(e) => {
            let outcome = summary.fail(id, format!("skipped: {e:#}"));
            // A dead letter whose body cannot be read still shows why EventBridge gave up on it.
            if let Some(dead_letter) = DeadLetter::from_attributes(&attributes) {
                summary.record_dead_letter(id, dead_letter, outcome);
            }
            return outcome;
        }
    };
    let outcome = redrive_record(aws, args, m, &record, now, summary, seen).await;
    if let Origin::EventRule(dead_letter) = &record.origin {
        summary.record_dead_letter(id, dead_letter.clone(), outcome);
    }
    outcome
}

/// Plans one message, says what it does, and (unless dry-run) does it.
async fn redrive_record(
    aws: &Clients,
    args: &RedriveArgs,
    m: &aws_sdk_sqs::types::Message,
    record: &FailedInvocation,
    now: i64,
    summary: &mut Summary,
    seen: &mut HashSet<String>,
) -> Outcome {
    let id = m.message_id().unwrap_or("?");
    let condition = record.condition();
    let (function, plan) = match plan_record(record, args, now) {
        Ok(planned) => planned,
        Err(e) => return summary.fail(id, format!("skipped ({condition}): {e:#}")),
    };
    if !args.json {
        print_plan(args, id, &condition, &function, &plan, now);
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
                && let Err(e) = calls::delete(aws, &args.queue_url, m).await
            {
                return summary.fail(id, format!("expired, but {e:#}"));
            }
            summary.add_expired(id, expired);
            return Outcome::Expired;
        }
    };
    if let Err(e) = calls::invoke(aws, &function, payload).await {
        return summary.fail(id, format!("{e:#} (message kept)"));
    }
    if part && !args.drop_expired {
        // Put the expired objects back before the original goes, so the queue never loses them.
        let objects: Vec<_> = plan.expired().iter().map(|e| e.object.clone()).collect();
        let remainder = expiry::s3_notification(&objects);
        let body = m.body().unwrap_or_default();
        let requeued = match record::remainder_record(body, record, &function, remainder, id) {
            Ok(text) => calls::requeue(aws, &args.queue_url, text).await,
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
    if let Err(e) = calls::delete(aws, &args.queue_url, m).await {
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

#[cfg(test)]
mod tests;
