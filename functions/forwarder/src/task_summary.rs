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
}
