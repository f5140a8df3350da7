//! Running a function's per-object work over a decoded trigger, and answering the trigger the
//! way its source expects: an error (so Lambda retries and the on-failure destination keeps the
//! event) for direct invocations, `batchItemFailures` for SQS, per-task results for S3 Batch.

use std::fmt::Display;
use std::future::Future;

use futures::StreamExt;
use serde_json::{Value, json};
use trailwatch_shared::trigger::{ObjectRef, Trigger, TriggerSource};

/// Objects that could not be processed; returned as the invocation's error.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} object(s) failed: {}", failures.len(), failures.join("; "))]
pub struct ItemsFailed {
    pub total: usize,
    pub failures: Vec<String>,
}

/// Runs `work` on every object of `trigger`, at most `concurrency` at a time.
///
/// Returns the response payload, or [`ItemsFailed`] when the source has no per-item answer and
/// some object failed (Lambda then retries the whole event; work must be idempotent or
/// at-least-once by design).
pub async fn run_items<F, Fut, E>(
    trigger: Trigger,
    concurrency: usize,
    work: F,
) -> Result<Value, ItemsFailed>
where
    F: Fn(ObjectRef) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    if trigger.source == TriggerSource::TestEvent {
        tracing::info!("s3:TestEvent acknowledged; nothing to do");
        return Ok(json!({"status": "test-event"}));
    }
    let total = trigger.items.len();
    let results: Vec<(Option<String>, ObjectRef, Result<(), String>)> =
        futures::stream::iter(trigger.items.into_iter().map(|item| {
            let fut = work(item.object.clone());
            async move {
                let result = fut.await.map_err(|e| e.to_string());
                (item.item_id, item.object, result)
            }
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    for (_, object, result) in &results {
        if let Err(e) = result {
            tracing::error!(bucket = %object.bucket, key = %object.key, error = %e, "object failed");
        }
    }

    match trigger.source {
        TriggerSource::Sqs => {
            // One message may carry several objects: it fails if any of them failed.
            let mut failed: Vec<String> = results
                .iter()
                .filter(|(_, _, r)| r.is_err())
                .filter_map(|(id, _, _)| id.clone())
                .collect();
            failed.sort();
            failed.dedup();
            let failures: Vec<Value> = failed
                .iter()
                .map(|id| json!({"itemIdentifier": id}))
                .collect();
            Ok(json!({"batchItemFailures": failures}))
        }
        TriggerSource::S3Batch {
            invocation_id,
            invocation_schema_version,
        } => {
            let results: Vec<Value> = results
                .iter()
                .map(|(id, _, r)| match r {
                    Ok(()) => {
                        json!({"taskId": id, "resultCode": "Succeeded", "resultString": "ok"})
                    }
                    Err(e) => {
                        json!({"taskId": id, "resultCode": "TemporaryFailure", "resultString": e})
                    }
                })
                .collect();
            Ok(json!({
                "invocationSchemaVersion": invocation_schema_version,
                "treatMissingKeysAs": "PermanentFailure",
                "invocationId": invocation_id,
                "results": results,
            }))
        }
        _ => {
            let failures: Vec<String> = results
                .into_iter()
                .filter_map(|(_, o, r)| {
                    r.err().map(|e| format!("s3://{}/{}: {e}", o.bucket, o.key))
                })
                .collect();
            if failures.is_empty() {
                Ok(json!({"status": "ok", "objects": total, "ignored": trigger.ignored_messages}))
            } else {
                Err(ItemsFailed { total, failures })
            }
        }
    }
}
