//! What forwarding one object did, in the words of an S3 Batch Operations task's result string
//! (`trailwatch_lambda_common::task_result`), one row of the job's completion report.

use std::fmt;

use crate::handler::ObjectOutcome;

impl fmt::Display for ObjectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectOutcome::Forwarded { stream, counts: c } => {
                write!(
                    f,
                    "forwarded {} of {} records to {stream} ({} filtered, {} rejected)",
                    c.forwarded, c.records_in, c.filtered, c.rejected
                )?;
                if c.resumed_after > 0 {
                    write!(
                        f,
                        "; resumed after {} records an earlier attempt sent",
                        c.resumed_after
                    )?;
                }
                Ok(())
            }
            ObjectOutcome::Skipped { reason } => {
                write!(f, "skipped: not a CloudTrail log file ({reason})")
            }
            ObjectOutcome::AlreadyProcessed { outcome } => {
                write!(f, "already processed: {outcome}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::FileCounts;

    #[test]
    fn the_summary_reconciles_the_counts_and_names_the_stream() {
        let counts = FileCounts {
            records_in: 10,
            forwarded: 7,
            filtered: 2,
            rejected: 1,
            ..FileCounts::default()
        };
        let done = ObjectOutcome::Forwarded {
            stream: "123/us-east-1/2024/01/02".into(),
            counts,
        };
        assert_eq!(
            done.to_string(),
            "forwarded 7 of 10 records to 123/us-east-1/2024/01/02 (2 filtered, 1 rejected)"
        );
        let resumed = ObjectOutcome::Forwarded {
            stream: "s".into(),
            counts: FileCounts {
                resumed_after: 4,
                ..counts
            },
        };
        assert!(
            resumed
                .to_string()
                .ends_with("; resumed after 4 records an earlier attempt sent")
        );
        let skipped = ObjectOutcome::Skipped {
            reason: "digest file".into(),
        };
        assert_eq!(
            skipped.to_string(),
            "skipped: not a CloudTrail log file (digest file)"
        );
    }

    /// The forwarder's failures as S3 Batch Operations gets them: `transient` means
    /// `TemporaryFailure` (retried), otherwise `PermanentFailure`.
    #[test]
    fn failures_no_retry_can_fix_are_permanent_and_faults_are_retried() {
        use crate::handler::ObjectError;
        use crate::pipeline::ForwardError;
        use crate::sink::SinkError;
        use trailwatch_lambda_common::failure::ObjectFailure;
        use trailwatch_lambda_common::s3_read::FetchError;
        use trailwatch_lambda_common::state::StateError;
        use trailwatch_shared::records::RecordsError;

        let (bucket, key) = (String::from("b"), String::from("k"));
        let read = |source| {
            ObjectError::Forward(ForwardError::Read {
                records_read: 3,
                source,
            })
        };
        let sink = |refused| {
            ObjectError::Forward(ForwardError::Sink(SinkError {
                operation: "PutLogEvents",
                group: "g".into(),
                stream: "s".into(),
                detail: "d".into(),
                refused,
            }))
        };
        let permanent = [
            ObjectError::Fetch(FetchError::NotFound {
                bucket: bucket.clone(),
                key: key.clone(),
            }),
            read(RecordsError::Gzip("invalid deflate data".into())),
            read(RecordsError::NotCloudTrail("no Records array".into())),
            sink(true),
            ObjectError::State(StateError::Refused {
                operation: "UpdateItem",
                detail: "AccessDeniedException".into(),
            }),
        ];
        for e in &permanent {
            assert!(!e.transient(), "permanent: {e}");
        }
        let transient = [
            ObjectError::Fetch(FetchError::Transient {
                bucket: bucket.clone(),
                key: key.clone(),
                detail: "SlowDown".into(),
            }),
            read(RecordsError::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "body cut",
            ))),
            sink(false),
            ObjectError::Forward(ForwardError::OutOfTime { records_done: 10 }),
            ObjectError::InProgress {
                bucket,
                key,
                lease_until_ms: 1,
                until: "t".into(),
            },
            ObjectError::State(StateError::Unavailable {
                operation: "UpdateItem",
                detail: "503".into(),
            }),
        ];
        for e in &transient {
            assert!(e.transient(), "transient: {e}");
        }
    }
}
