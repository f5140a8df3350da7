//! The SQS and Lambda calls redrive makes.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::Message;
use serde_json::Value;

/// How long a received message stays hidden: long enough that the run does not meet the messages
/// it keeps again; they are made visible again when the run ends (see [`release`]).
pub(super) const VISIBILITY_SECS: i32 = 300;

pub(super) struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub lambda: aws_sdk_lambda::Client,
}

/// Up to `max` messages with all their message attributes: an EventBridge dead letter is told
/// apart, and its target found, by them.
pub(super) async fn receive(
    aws: &Clients,
    queue_url: &str,
    max: i32,
) -> anyhow::Result<Vec<Message>> {
    let batch = aws
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .visibility_timeout(VISIBILITY_SECS)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ReceiveMessage failed: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(batch.messages.unwrap_or_default())
}

/// A message's attributes that have a string value (String and Number types); binary ones are
/// none of EventBridge's.
pub(super) fn string_attributes(m: &Message) -> BTreeMap<String, String> {
    m.message_attributes()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.string_value()?.to_owned())))
        .collect()
}

pub(super) async fn invoke(aws: &Clients, function: &str, payload: &Value) -> anyhow::Result<()> {
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

pub(super) async fn delete(aws: &Clients, queue_url: &str, m: &Message) -> anyhow::Result<()> {
    let handle = m
        .receipt_handle()
        .context("DeleteMessage: the message has no receipt handle")?;
    aws.sqs
        .delete_message()
        .queue_url(queue_url)
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
pub(super) async fn release(aws: &Clients, queue_url: &str, kept: &HashMap<String, String>) {
    for (id, handle) in kept {
        let changed = aws
            .sqs
            .change_message_visibility()
            .queue_url(queue_url)
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
pub(super) async fn requeue(
    aws: &Clients,
    queue_url: &str,
    body: String,
) -> anyhow::Result<String> {
    let sent = aws
        .sqs
        .send_message()
        .queue_url(queue_url)
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
