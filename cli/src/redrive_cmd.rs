//! `trailwatch redrive QUEUE_URL`: re-invokes the work kept in a function's failure queue.
//!
//! Lambda's on-failure destination stores, for each event that exhausted its retries, a record
//! with the function ARN (`requestContext.functionArn`) and the original event
//! (`requestPayload`). Redriving invokes the function again asynchronously with that event and
//! deletes the message only once Lambda has accepted the invocation, so nothing is lost if the
//! command stops half-way.

use std::process::ExitCode;

use anyhow::{Context, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;

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

pub fn run(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(redrive(args))
}

async fn redrive(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let sdk = trailwatch_lambda_common::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let limit = args.max_messages.unwrap_or(usize::MAX);
    let (mut redriven, mut failed) = (0usize, 0usize);
    while redriven + failed < limit {
        let batch = sqs
            .receive_message()
            .queue_url(&args.queue_url)
            .max_number_of_messages(10.min((limit - redriven - failed) as i32))
            .wait_time_seconds(1)
            .visibility_timeout(60)
            .send()
            .await
            .context("ReceiveMessage")?;
        let messages = batch.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body().unwrap_or_default();
            let record = match parse_failure_record(body) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("skipping message {}: {e:#}", m.message_id().unwrap_or("?"));
                    failed += 1;
                    continue;
                }
            };
            let function = args
                .function
                .clone()
                .unwrap_or_else(|| record.function_arn.clone());
            println!(
                "{} {} ({}) -> {function}",
                if args.dry_run {
                    "would redrive"
                } else {
                    "redrive"
                },
                m.message_id().unwrap_or("?"),
                record.condition.as_deref().unwrap_or("failed")
            );
            if args.dry_run {
                redriven += 1;
                continue;
            }
            let invoked = lambda
                .invoke()
                .function_name(&function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(record.payload.to_string()))
                .send()
                .await;
            match invoked {
                Ok(_) => {
                    if let Some(handle) = m.receipt_handle() {
                        sqs.delete_message()
                            .queue_url(&args.queue_url)
                            .receipt_handle(handle)
                            .send()
                            .await
                            .context("DeleteMessage")?;
                    }
                    redriven += 1;
                }
                Err(e) => {
                    eprintln!(
                        "invoke {function} failed (message kept): {}",
                        aws_sdk_lambda::error::DisplayErrorContext(&e)
                    );
                    failed += 1;
                }
            }
        }
        if args.dry_run {
            break; // received messages become visible again after the timeout; don't loop on them
        }
    }
    println!("{redriven} redriven, {failed} failed or skipped");
    if failed > 0 {
        bail!("{failed} message(s) could not be redriven; they stay in the queue");
    }
    Ok(ExitCode::SUCCESS)
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
}
