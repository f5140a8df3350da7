//! Telling a missing permission apart from every other failure, for those who act on it: the
//! operator reading a log line or a failure record, and S3 Batch Operations deciding whether to
//! retry a task.
//!
//! A refused call is not transient: retrying it (Lambda's two retries, SQS redelivery, a Batch
//! Operations retry) cannot help until the role's policy changes. It is never evidence about the
//! trail either: the digest verifier reports it as an error, not a finding.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// An object's failure, as the intake needs to know it.
pub trait ObjectFailure: std::fmt::Display {
    /// Whether the failure is an AWS call the function's role was not allowed to make.
    fn permission_denied(&self) -> bool;

    /// Whether a retry of the same object may succeed: S3 Batch Operations retries a task
    /// answered `TemporaryFailure` and gives up on a `PermanentFailure`.
    ///
    /// The default treats everything but a refusal as transient: a failure nobody classified
    /// costs at most the job's few retries, while one wrongly called permanent is never retried
    /// and its object's alerts or records are lost until someone reruns the job. Types that know
    /// a failure no retry can fix (a missing object, a corrupt file) say so.
    fn transient(&self) -> bool {
        !self.permission_denied()
    }
}

impl ObjectFailure for String {
    fn permission_denied(&self) -> bool {
        false
    }
}

/// Whether reading a file's records failed for a reason a retry can fix: only the underlying
/// stream (an S3 body cut off, a reset). Damaged gzip, malformed JSON, a file that is not a
/// CloudTrail file or exceeds the reader's limits is the same on every read.
pub fn records_error_transient(e: &trailwatch_shared::records::RecordsError) -> bool {
    matches!(e, trailwatch_shared::records::RecordsError::Io(_))
}

/// Whether an SDK error is a refusal: an error code of one (see [`is_refusal`]) or an HTTP 403,
/// which AWS's JSON services use for every authorization failure, expired and unknown
/// credentials included (none of which a retry fixes).
pub fn is_refused<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => {
            is_refusal(se.err().code()) || se.raw().status().as_u16() == 403
        }
        _ => false,
    }
}

/// Whether an AWS error code is a refusal by IAM or by a key, bucket or topic policy. S3 answers
/// some refusals with a bare 403 and is classified in `s3_read`.
pub fn is_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "AccessDenied"
                | "AccessDeniedException"
                // SNS
                | "AuthorizationError"
                | "KMSAccessDenied"
                | "KMSAccessDeniedException"
                | "KMS.AccessDeniedException"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_each_service_are_recognised_and_throttling_is_not() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "AuthorizationError",
        ] {
            assert!(is_refusal(Some(code)), "{code}");
        }
        for code in [
            None,
            Some("ThrottlingException"),
            Some("ResourceNotFoundException"),
        ] {
            assert!(!is_refusal(code), "{code:?}");
        }
    }

    #[test]
    fn only_a_failing_stream_is_a_transient_read_error() {
        use trailwatch_shared::records::RecordsError;
        let io = RecordsError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        assert!(records_error_transient(&io));
        for permanent in [
            RecordsError::Gzip("invalid deflate data".into()),
            RecordsError::NotCloudTrail("empty".into()),
            RecordsError::TooLarge { limit: 1 },
            RecordsError::Malformed {
                offset: 3,
                detail: "truncated".into(),
            },
        ] {
            assert!(!records_error_transient(&permanent), "{permanent}");
        }
    }

    #[test]
    fn unclassified_failures_are_transient_and_refusals_are_not() {
        assert!(String::from("anything").transient());
        struct Refused;
        impl std::fmt::Display for Refused {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("refused")
            }
        }
        impl ObjectFailure for Refused {
            fn permission_denied(&self) -> bool {
                true
            }
        }
        assert!(!Refused.transient());
    }
}
