//! Reading objects from S3 as a stream, with errors classified for the caller's retry decision.

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio_util::io::SyncIoBridge;
use trailwatch_shared::trigger::ObjectRef;

/// The S3 request that was refused, as IAM authorizes it: S3 checks a GetObject that names a
/// version against `s3:GetObjectVersion`, not `s3:GetObject`, and a ListObjectsV2 against
/// `s3:ListBucket` on the bucket (with `s3:prefix`). A permission error names the action the
/// role lacks, so the operator can fix the policy from the log line alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Request<'a> {
    GetObject {
        version_id: Option<&'a str>,
    },
    ListObjects {
        prefix: &'a str,
    },
    /// ListObjectVersions, authorized as `s3:ListBucketVersions` on the bucket (with `s3:prefix`).
    ListVersions {
        prefix: &'a str,
    },
}

impl S3Request<'_> {
    /// The IAM action S3 authorizes this request with.
    pub fn iam_action(&self) -> &'static str {
        match self {
            S3Request::GetObject { version_id: None } => "s3:GetObject",
            S3Request::GetObject {
                version_id: Some(_),
            } => "s3:GetObjectVersion",
            S3Request::ListObjects { .. } => "s3:ListBucket",
            S3Request::ListVersions { .. } => "s3:ListBucketVersions",
        }
    }

    /// What the role needs, in words an operator can paste into a policy review.
    fn needs(&self, bucket: &str, key: &str) -> String {
        match self {
            S3Request::GetObject { version_id } => format!(
                "the role needs {} on arn:aws:s3:::{bucket}/{key}{}, and kms:Decrypt on the \
                 bucket's key if the object is SSE-KMS encrypted",
                self.iam_action(),
                version_id
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default()
            ),
            S3Request::ListObjects { prefix } | S3Request::ListVersions { prefix } => format!(
                "the role needs {} on arn:aws:s3:::{bucket} for s3:prefix \"{prefix}\"",
                self.iam_action()
            ),
        }
    }
}

/// Why an object could not be read. The distinction matters for security verdicts: only
/// `NotFound` may ever be reported as "missing"; `AccessDenied` and `Transient` are
/// infrastructure problems that fail the invocation (Lambda retries it, then keeps the event in
/// the failure queue with this message) — never evidence of tampering.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    /// Not transient: retrying does not help until the policy changes. Fix the role, then
    /// `trailwatch redrive` the failure queue.
    #[error("permission denied: {action} on s3://{bucket}/{key} was refused; {needs}: {detail}")]
    AccessDenied {
        bucket: String,
        key: String,
        /// The IAM action the refused request needed (`s3:GetObjectVersion`, …).
        action: &'static str,
        needs: String,
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
    /// Classifies any SDK error by HTTP status and error code; `request` says what was asked
    /// (a `key` of a listing is its prefix).
    pub fn classify<E>(
        bucket: &str,
        key: &str,
        request: S3Request<'_>,
        err: &SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
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
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    detail,
                };
            }
            _ => (None, None),
        };
        Self::from_response(bucket, key, request, code.as_deref(), status, detail)
    }

    /// The classification itself, on what the service answered.
    pub fn from_response(
        bucket: &str,
        key: &str,
        request: S3Request<'_>,
        code: Option<&str>,
        status: Option<u16>,
        detail: String,
    ) -> Self {
        let bucket = bucket.to_owned();
        let key = key.to_owned();
        match (code, status) {
            // A 404 too, but a missing bucket is a configuration problem, never evidence that
            // an object was deleted.
            (Some("NoSuchBucket"), _) => FetchError::Other {
                detail: format!("bucket {bucket} does not exist"),
                bucket,
                key,
            },
            // 403s too, but about the request's credentials, not the role's permissions: a
            // policy change does not fix them, and they say nothing about the object.
            (
                Some(
                    "SignatureDoesNotMatch"
                    | "InvalidAccessKeyId"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "RequestTimeTooSkewed",
                ),
                _,
            ) => FetchError::Other {
                detail: format!("the request's credentials or signature were refused: {detail}"),
                bucket,
                key,
            },
            (Some("NoSuchKey" | "NotFound" | "NoSuchVersion"), _) | (_, Some(404)) => {
                FetchError::NotFound { bucket, key }
            }
            (Some("AccessDenied" | "AllAccessDisabled" | "KMS.AccessDeniedException"), _)
            | (_, Some(403)) => FetchError::AccessDenied {
                action: request.iam_action(),
                needs: request.needs(&bucket, &key),
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
}

impl crate::failure::ObjectFailure for FetchError {
    fn permission_denied(&self) -> bool {
        matches!(self, FetchError::AccessDenied { .. })
    }

    /// A missing object or version stays missing, a refusal stays refused until the policy
    /// changes; `Other` (a missing bucket, refused credentials, anything unrecognised) is
    /// retried, the conservative default.
    fn transient(&self) -> bool {
        !matches!(
            self,
            FetchError::NotFound { .. } | FetchError::AccessDenied { .. }
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
        .map_err(|e| {
            let request = S3Request::GetObject {
                version_id: object.version_id.as_deref(),
            };
            FetchError::classify(&object.bucket, &object.key, request, &e)
        })?;
    Ok(ObjectBody {
        object: object.clone(),
        metadata: out.metadata.clone().unwrap_or_default(),
        content_length: out.content_length,
        body: out.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(request: S3Request<'_>) -> FetchError {
        FetchError::from_response(
            "trail",
            "AWSLogs/1/CloudTrail/x.json.gz",
            request,
            Some("AccessDenied"),
            Some(403),
            "Access Denied".into(),
        )
    }

    #[test]
    fn a_refused_versioned_read_names_get_object_version() {
        let e = denied(S3Request::GetObject {
            version_id: Some("v1"),
        });
        assert!(
            matches!(
                e,
                FetchError::AccessDenied {
                    action: "s3:GetObjectVersion",
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.starts_with("permission denied: s3:GetObjectVersion on s3://trail/AWSLogs/1/CloudTrail/x.json.gz"), "{text}");
        assert!(text.contains("(version v1)"), "{text}");
    }

    #[test]
    fn each_request_names_its_own_action() {
        let plain = denied(S3Request::GetObject { version_id: None });
        assert!(
            plain
                .to_string()
                .contains("needs s3:GetObject on arn:aws:s3:::trail/")
        );
        let list = denied(S3Request::ListObjects { prefix: "AWSLogs/" });
        assert!(
            list.to_string()
                .contains("s3:ListBucket on arn:aws:s3:::trail for s3:prefix \"AWSLogs/\""),
            "{list}"
        );
        let versions = denied(S3Request::ListVersions {
            prefix: "AWSLogs/k",
        });
        assert!(
            versions.to_string().contains(
                "s3:ListBucketVersions on arn:aws:s3:::trail for s3:prefix \"AWSLogs/k\""
            ),
            "{versions}"
        );
        assert!(matches!(
            versions,
            FetchError::AccessDenied {
                action: "s3:ListBucketVersions",
                ..
            }
        ));
    }

    #[test]
    fn only_a_404_is_missing_and_a_403_never_is() {
        let get = S3Request::GetObject { version_id: None };
        let e = FetchError::from_response("b", "k", get, None, Some(404), String::new());
        assert!(matches!(e, FetchError::NotFound { .. }));
        let e = FetchError::from_response("b", "k", get, None, Some(403), String::new());
        assert!(matches!(e, FetchError::AccessDenied { .. }));
        let e = FetchError::from_response(
            "b",
            "k",
            get,
            Some("NoSuchBucket"),
            Some(404),
            String::new(),
        );
        assert!(
            matches!(e, FetchError::Other { .. }),
            "a missing bucket is not a missing object"
        );
        for code in [
            "ExpiredToken",
            "SignatureDoesNotMatch",
            "RequestTimeTooSkewed",
        ] {
            let e = FetchError::from_response("b", "k", get, Some(code), Some(403), String::new());
            assert!(
                matches!(e, FetchError::Other { .. }),
                "{code} is not a permission"
            );
        }
        let e =
            FetchError::from_response("b", "k", get, Some("SlowDown"), Some(503), String::new());
        assert!(matches!(e, FetchError::Transient { .. }));
    }
}
