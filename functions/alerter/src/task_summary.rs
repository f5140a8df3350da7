//! What running the rules over one object did, in the words of an S3 Batch Operations task's
//! result string (`trailwatch_lambda_common::task_result`), one row of the job's completion
//! report.

use std::fmt;

use crate::handler::ObjectOutcome;

impl fmt::Display for ObjectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = |f: &mut fmt::Formatter<'_>, n: &usize| match n {
            0 => Ok(()),
            n => write!(f, " ({n} published by an earlier attempt)"),
        };
        match self {
            ObjectOutcome::LogFile {
                records,
                matches,
                alerts,
                already_published,
            } => {
                write!(
                    f,
                    "{records} records, {matches} rule matches, {alerts} alerts published"
                )?;
                before(f, already_published)
            }
            ObjectOutcome::InsightFile {
                records,
                alerts,
                already_published,
            } => {
                write!(
                    f,
                    "Insights file: {records} records, {alerts} insight alerts published"
                )?;
                before(f, already_published)
            }
            ObjectOutcome::AlreadyProcessed { outcome } => {
                write!(f, "already processed: {outcome}")
            }
            ObjectOutcome::Skipped { reason } => {
                write!(
                    f,
                    "skipped: not a CloudTrail log or Insights file ({reason})"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_records_and_alerts() {
        let log = ObjectOutcome::LogFile {
            records: 12,
            matches: 3,
            alerts: 2,
            already_published: 0,
        };
        assert_eq!(
            log.to_string(),
            "12 records, 3 rule matches, 2 alerts published"
        );
        let retried = ObjectOutcome::InsightFile {
            records: 4,
            alerts: 0,
            already_published: 1,
        };
        assert_eq!(
            retried.to_string(),
            "Insights file: 4 records, 0 insight alerts published (1 published by an earlier attempt)"
        );
    }

    /// The alerter's failures as S3 Batch Operations gets them: `transient` means
    /// `TemporaryFailure` (retried), otherwise `PermanentFailure`.
    #[test]
    fn failures_no_retry_can_fix_are_permanent_and_faults_are_retried() {
        use crate::handler::ObjectError;
        use trailwatch_lambda_common::failure::ObjectFailure;
        use trailwatch_lambda_common::s3_read::FetchError;

        let read = |transient| ObjectError::Read {
            records: 9,
            alerts: 1,
            detail: "corrupt gzip data".into(),
            transient,
        };
        let publish = |refused| ObjectError::Publish {
            failed: 1,
            total: 2,
            detail: "d".into(),
            refused,
        };
        let missing = ObjectError::Fetch(FetchError::NotFound {
            bucket: "b".into(),
            key: "k".into(),
        });
        for e in [missing, read(false), publish(true)] {
            assert!(!e.transient(), "permanent: {e}");
        }
        for e in [
            read(true),
            publish(false),
            ObjectError::InProgress { lease_until_ms: 1 },
            ObjectError::Internal("join error".into()),
        ] {
            assert!(e.transient(), "transient: {e}");
        }
    }
}
