//! What verifying one object did, in the words of an S3 Batch Operations task's result string
//! (`trailwatch_lambda_common::task_result`), one row of the job's completion report.
//!
//! A digest that is missing or unreadable is a verdict (`DIGEST_MISSING`, `DIGEST_FORMAT`, …,
//! alerted), not a failed task: the task did its job, and the report row says FAIL.

use std::fmt;

use crate::handler::ObjectOutcome;

impl fmt::Display for ObjectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectOutcome::Verified {
                report,
                alerted,
                already_published,
            } => {
                let codes = report.codes();
                let codes = if codes.is_empty() {
                    "no findings".to_owned()
                } else {
                    codes
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let alert = match (alerted, already_published) {
                    (true, _) => "alert published",
                    (false, true) => "alert published by an earlier attempt",
                    (false, false) => "no alert",
                };
                write!(
                    f,
                    "verdict {}: {codes}; {} logs checked; {alert}",
                    report.verdict.as_str(),
                    report.logs_checked
                )
            }
            ObjectOutcome::AlreadyProcessed { outcome } => {
                write!(f, "already processed: {outcome}")
            }
            ObjectOutcome::Skipped { reason } => {
                write!(f, "skipped: not a CloudTrail digest file ({reason})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_and_repeated_objects_say_so() {
        let skipped = ObjectOutcome::Skipped {
            reason: "log file".into(),
        };
        assert_eq!(
            skipped.to_string(),
            "skipped: not a CloudTrail digest file (log file)"
        );
        let again = ObjectOutcome::AlreadyProcessed {
            outcome: r#"{"verdict":"PASS"}"#.into(),
        };
        assert_eq!(
            again.to_string(),
            r#"already processed: {"verdict":"PASS"}"#
        );
    }
}
