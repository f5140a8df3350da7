//! S3 Batch Operations `LambdaInvoke` jobs.
//!
//! Schema 1.0 names the bucket by ARN (`tasks[].s3BucketArn`), 2.0 by name (`tasks[].s3Bucket`,
//! plus `job.userArguments`) — API reference `LambdaInvokeOperation`: "Ensure that your Lambda
//! function code expects InvocationSchemaVersion 2.0 and uses bucket name rather than bucket ARN".
//!
//! Key encoding: the S3 User Guide page "Invoke AWS Lambda function" (batch-ops-invoke-lambda)
//! states "keys from S3 Batch Operations are URL encoded … it's important that you URL decode the
//! key" and its sample functions decode `s3Key` (`urllib.unquote`, and `unquote_plus` in the
//! manifest example). The page shows only a 1.0 request and says nothing different for 2.0; the key
//! comes from the job's manifest either way, so both versions get the same form-URL decoding as S3
//! notifications (`+` is a space). A key holding a literal `+` arrives as `%2B`.

use serde::Deserialize;
use serde_json::Value;

use super::{ObjectRef, Trigger, TriggerError, TriggerSource, WorkItem, decode_s3_key};

const SHAPE: &str = "S3 Batch Operations";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchJobEvent {
    invocation_schema_version: String,
    invocation_id: String,
    tasks: Vec<BatchTask>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchTask {
    task_id: String,
    s3_key: String,
    s3_version_id: Option<String>,
    /// Schema 1.0.
    s3_bucket_arn: Option<String>,
    /// Schema 2.0.
    s3_bucket: Option<String>,
}

pub(super) fn decode(payload: &Value) -> Result<Trigger, TriggerError> {
    let malformed = |detail: String| TriggerError::Malformed {
        shape: SHAPE,
        detail,
    };
    let job = BatchJobEvent::deserialize(payload).map_err(|error| malformed(error.to_string()))?;
    // The response must echo the version; answering a schema we do not know could misreport tasks.
    if !matches!(job.invocation_schema_version.as_str(), "1.0" | "2.0") {
        return Err(malformed(format!(
            "unsupported invocationSchemaVersion {:?} (1.0 and 2.0 are known)",
            job.invocation_schema_version
        )));
    }
    if job.tasks.is_empty() {
        return Err(malformed("`tasks` is empty".into()));
    }
    let mut items = Vec::with_capacity(job.tasks.len());
    for (index, task) in job.tasks.into_iter().enumerate() {
        let bucket = match (task.s3_bucket, task.s3_bucket_arn) {
            (Some(name), _) => name,
            (None, Some(arn)) => bucket_from_arn(&arn).ok_or_else(|| {
                malformed(format!(
                    "task {index}: `s3BucketArn` {arn:?} is not an S3 bucket ARN"
                ))
            })?,
            (None, None) => {
                return Err(malformed(format!(
                    "task {index} has neither `s3Bucket` nor `s3BucketArn`"
                )));
            }
        };
        if bucket.is_empty() {
            return Err(malformed(format!("task {index}: empty bucket name")));
        }
        let key = decode_s3_key(&task.s3_key)
            .map_err(|error| malformed(format!("task {index}: {error}")))?;
        if key.is_empty() {
            return Err(malformed(format!("task {index}: empty `s3Key`")));
        }
        items.push(WorkItem {
            object: ObjectRef {
                bucket,
                key,
                size: None,
                version_id: task.s3_version_id.filter(|id| !id.is_empty()),
                requester: None,
                source_ip: None,
                etag: None,
            },
            item_id: Some(task.task_id),
        });
    }
    Ok(Trigger {
        source: TriggerSource::S3Batch {
            invocation_id: job.invocation_id,
            invocation_schema_version: job.invocation_schema_version,
        },
        items,
        deletions: Vec::new(),
        ignored_messages: 0,
        failed_messages: Vec::new(),
    })
}

/// `arn:aws:s3:::bucket` → `bucket`. Bucket names cannot contain `:`, so the text after the last
/// `:` is the name (the User Guide sample even shows `arn:aws:s3:us-east-1:0123456788:bucket`).
fn bucket_from_arn(arn: &str) -> Option<String> {
    if !arn.starts_with("arn:") {
        return None;
    }
    let name = arn.rsplit(':').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}
