//! `backfill status JOB`: DescribeJob's counters as a screen (a bar when stdout is a terminal) or
//! one JSON object.

use aws_sdk_s3control::types::JobDescriptor;
use serde_json::{Value, json};

/// The counters a status shows, taken from DescribeJob's `ProgressSummary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) job_id: String,
    pub(crate) status: String,
    pub(crate) total: Option<i64>,
    pub(crate) succeeded: i64,
    pub(crate) failed: i64,
    pub(crate) elapsed_active_secs: Option<i64>,
    pub(crate) report: Option<String>,
    pub(crate) failure_reasons: Vec<String>,
    pub(crate) status_update_reason: Option<String>,
}

impl Progress {
    pub(crate) fn from_job(job: &JobDescriptor) -> Progress {
        let summary = job.progress_summary();
        Progress {
            job_id: job.job_id().unwrap_or_default().to_owned(),
            status: job
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "Unknown".into()),
            // Absent until the job has read its manifest (New, Preparing).
            total: summary.and_then(|s| s.total_number_of_tasks()),
            succeeded: summary
                .and_then(|s| s.number_of_tasks_succeeded())
                .unwrap_or(0),
            failed: summary
                .and_then(|s| s.number_of_tasks_failed())
                .unwrap_or(0),
            elapsed_active_secs: summary
                .and_then(|s| s.timers())
                .and_then(|t| t.elapsed_time_in_active_seconds()),
            report: job.report().filter(|r| r.enabled()).map(|r| {
                let bucket = r.bucket().unwrap_or_default();
                let bucket = bucket.rsplit(':').next().unwrap_or(bucket);
                format!(
                    "s3://{bucket}/{}/job-{}/",
                    r.prefix().unwrap_or_default().trim_end_matches('/'),
                    job.job_id().unwrap_or_default()
                )
            }),
            failure_reasons: job
                .failure_reasons()
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f.failure_code().unwrap_or("?"),
                        f.failure_reason().unwrap_or("")
                    )
                })
                .collect(),
            status_update_reason: job.status_update_reason().map(str::to_owned),
        }
    }

    pub(crate) fn done(&self) -> i64 {
        self.succeeded + self.failed
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "jobId": self.job_id,
            "status": self.status,
            "tasks": {
                "total": self.total,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "remaining": self.total.map(|t| (t - self.done()).max(0)),
            },
            "elapsedActiveSeconds": self.elapsed_active_secs,
            "report": self.report,
            "failureReasons": self.failure_reasons,
            "statusUpdateReason": self.status_update_reason,
        })
    }

    /// The screen: a bar line only when `bar` (stdout is a terminal).
    pub(crate) fn render(&self, bar: bool) -> String {
        let mut out = format!("job {}  {}\n", self.job_id, self.status);
        match self.total {
            Some(total) => {
                let pct = if total > 0 {
                    100.0 * self.done() as f64 / total as f64
                } else {
                    100.0
                };
                out.push_str(&format!(
                    "tasks: {} succeeded, {} failed, {} total ({pct:.1} % done)\n",
                    self.succeeded, self.failed, total
                ));
                if bar {
                    out.push_str(&text_bar(self.succeeded, self.failed, total, 40));
                    out.push('\n');
                }
            }
            None => out.push_str("tasks: not known yet (the job is reading its manifest)\n"),
        }
        if let Some(s) = self.elapsed_active_secs {
            out.push_str(&format!("active for {}m {:02}s\n", s / 60, s % 60));
        }
        if let Some(r) = &self.report {
            out.push_str(&format!("report: {r}\n"));
        }
        if let Some(r) = &self.status_update_reason {
            out.push_str(&format!("status reason: {r}\n"));
        }
        for f in &self.failure_reasons {
            out.push_str(&format!("job failure: {f}\n"));
        }
        if self.status == "Suspended" {
            out.push_str(
                "the job waits for confirmation: aws s3control update-job-status \
                 --account-id ACCOUNT --job-id JOB --requested-job-status Ready\n",
            );
        }
        out
    }
}

/// `[#####xx.....]`: `#` succeeded, `x` failed, `.` to do.
pub(crate) fn text_bar(succeeded: i64, failed: i64, total: i64, width: usize) -> String {
    let cells = |n: i64| -> usize {
        if total <= 0 {
            0
        } else {
            ((n.clamp(0, total) as f64 / total as f64) * width as f64).round() as usize
        }
    };
    let ok = cells(succeeded);
    let bad = cells(succeeded + failed).saturating_sub(ok).min(width - ok);
    format!(
        "[{}{}{}]",
        "#".repeat(ok),
        "x".repeat(bad),
        ".".repeat(width - ok - bad)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_succeeded_failed_and_remaining_in_proportion() {
        assert_eq!(text_bar(5, 2, 10, 10), "[#####xx...]");
        assert_eq!(text_bar(0, 0, 10, 10), "[..........]");
        assert_eq!(text_bar(10, 0, 10, 10), "[##########]");
        assert_eq!(text_bar(0, 0, 0, 4), "[....]");
    }
}
