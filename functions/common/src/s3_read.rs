//! Reading objects from S3 as a stream, with errors classified for the caller's retry decision.

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio_util::io::SyncIoBridge;
use trailwatch_shared::trigger::ObjectRef;

/// Why an object could not be read. The distinction matters for security verdicts: only
/// `NotFound` may ever be reported as "missing"; `AccessDenied` and `Transient` are
/// infrastructure problems that fail the invocation so Lambda retries it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("access denied to s3://{bucket}/{key}: {detail}")]
    AccessDenied {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("transient error reading s3://{bucket}/{key}: {detail}")]
    Transient {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("error reading s3://{bucket}/{key}: {detail}")]
    Other {
        bucket: String,
        key: String,
        detail: String,
    },
}

impl FetchError {
    /// Classifies any SDK error by HTTP status and error code.
    pub fn classify<E>(bucket: &str, key: &str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let bucket = bucket.to_owned();
        let key = key.to_owned();
        let detail = aws_sdk_s3::error::DisplayErrorContext(err).to_string();
        let (code, status) = match err {
            SdkError::ServiceError(se) => (
                se.err().code().map(str::to_owned),
                Some(se.raw().status().as_u16()),
            ),
            SdkError::ResponseError(_)
            | SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_) => {
                return FetchError::Transient {
                    bucket,
                    key,
                    detail,
                };
            }
            _ => (None, None),
        };
        match (code.as_deref(), status) {
            // A 404 too, but a missing bucket is a configuration problem, never evidence that
            // an object was deleted.
            (Some("NoSuchBucket"), _) => FetchError::Other {
                detail: format!("bucket {bucket} does not exist"),
                bucket,
                key,
            },
            (Some("NoSuchKey" | "NotFound" | "NoSuchVersion"), _) | (_, Some(404)) => {
                FetchError::NotFound { bucket, key }
            }
            (Some("AccessDenied" | "AllAccessDisabled" | "KMS.AccessDeniedException"), _)
            | (_, Some(403)) => FetchError::AccessDenied {
                bucket,
                key,
                detail,
            },
            (Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout"), _) => {
                FetchError::Transient {
                    bucket,
                    key,
                    detail,
                }
            }
            (_, Some(s)) if s >= 500 || s == 429 => FetchError::Transient {
                bucket,
                key,
                detail,
            },
            _ => FetchError::Other {
                bucket,
                key,
                detail,
            },
        }
    }

    /// Whether retrying later can help (drives Lambda's retry through a failed invocation).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FetchError::Transient { .. } | FetchError::AccessDenied { .. }
        )
    }
}

/// An object being read: its metadata and a body that has not been consumed yet.
pub struct ObjectBody {
    pub object: ObjectRef,
    /// User metadata (`x-amz-meta-*` without the prefix).
    pub metadata: HashMap<String, String>,
    pub content_length: Option<i64>,
    body: aws_sdk_s3::primitives::ByteStream,
}

impl ObjectBody {
    /// A blocking `Read` over the streaming body, for use inside `spawn_blocking`: decompression
    /// and parsing run on a blocking thread while the download proceeds on the runtime, so the
    /// two overlap and memory stays bounded by the read buffers. Must be called from within the
    /// Tokio runtime (it captures the current handle).
    pub fn into_blocking_reader(self) -> impl Read + Send + 'static {
        SyncIoBridge::new(self.body.into_async_read())
    }
}

/// Starts a GetObject for `object` (pinned to its version when the trigger gave one).
pub async fn open_object(
    s3: &aws_sdk_s3::Client,
    object: &ObjectRef,
) -> Result<ObjectBody, FetchError> {
    let out = s3
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .send()
        .await
        .map_err(|e| FetchError::classify(&object.bucket, &object.key, &e))?;
    Ok(ObjectBody {
        object: object.clone(),
        metadata: out.metadata.clone().unwrap_or_default(),
        content_length: out.content_length,
        body: out.body,
    })
}
