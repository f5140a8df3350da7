//! `backfill report JOB`: the completion report, summarised.
//!
//! S3 writes `PREFIX/job-JOB/manifest.json` (User Guide, "Examples: S3 Batch Operations completion
//! reports"): `Format` `Report_CSV_20180820` and `Results`, one CSV file per
//! `TaskExecutionStatus` with its `Bucket` and `Key`. Each CSV row is `Bucket, Key, VersionId,
//! TaskStatus, …, ResultMessage`; the guide's schema line names `ErrorCode, HTTPStatusCode` in
//! that order while its Lambda example row has `200,PermanentFailure`, so the two columns are told
//! apart by content (the HTTP status is a number).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
    #[error("the job has no completion report configured")]
    NoReport,
    #[error("reading s3://{bucket}/{key}: {detail}")]
    Read {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("s3://{bucket}/{key} is not a completion report manifest: {detail}")]
    Manifest {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("s3://{bucket}/{key} line {line}: {detail}")]
    Row {
        bucket: String,
        key: String,
        line: usize,
        detail: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReportManifest {
    pub(crate) format: String,
    pub(crate) results: Vec<ResultFile>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ResultFile {
    /// Informational: each row carries its own task's status.
    #[allow(dead_code)]
    pub(crate) task_execution_status: String,
    pub(crate) bucket: String,
    pub(crate) key: String,
}

/// One row of a result file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskRow {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) task_status: String,
    pub(crate) result_code: String,
    pub(crate) http_status: String,
    pub(crate) message: String,
}

/// A task row from its CSV fields.
pub(crate) fn task_row(fields: &[String]) -> Result<TaskRow, String> {
    if fields.len() < 7 {
        return Err(format!("{} fields, 7 expected", fields.len()));
    }
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (code, http) = if numeric(&fields[4]) && !numeric(&fields[5]) {
        (&fields[5], &fields[4])
    } else {
        (&fields[4], &fields[5])
    };
    Ok(TaskRow {
        bucket: fields[0].clone(),
        key: fields[1].clone(),
        task_status: fields[3].clone(),
        result_code: code.clone(),
        http_status: http.clone(),
        // A message holding an unquoted comma is still one message.
        message: fields[6..].join(","),
    })
}

/// Splits CSV text (RFC 4180: `"` quotes, `""` inside quotes) into rows of fields.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// (task status, result code, result string): what a failure is grouped by.
pub(crate) type Cause = (String, String, String);

/// Failures grouped by cause (→ count and the first key seen); successes counted (and grouped by result string for the verifier's
/// verdicts and the alerter's counts).
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) rows: usize,
    pub(crate) succeeded: usize,
    pub(crate) failed: usize,
    pub(crate) causes: BTreeMap<Cause, (usize, String)>,
}

impl Summary {
    pub(crate) fn add(&mut self, row: TaskRow) {
        self.rows += 1;
        if row.task_status.eq_ignore_ascii_case("succeeded") {
            self.succeeded += 1;
            return;
        }
        self.failed += 1;
        let entry = self
            .causes
            .entry((row.task_status, row.result_code, row.message))
            .or_insert((0, row.key));
        entry.0 += 1;
    }

    /// Causes, most frequent first.
    fn ranked(&self) -> Vec<(&Cause, &(usize, String))> {
        let mut causes: Vec<_> = self.causes.iter().collect();
        causes.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        causes
    }

    pub(crate) fn json(&self, job: &str, location: &str) -> Value {
        json!({
            "jobId": job,
            "report": location,
            "tasks": self.rows,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "failuresByCause": self.ranked().iter().map(|((status, code, message), (count, key))| json!({
                "taskStatus": status,
                "resultCode": code,
                "resultString": message,
                "count": count,
                "exampleKey": key,
            })).collect::<Vec<_>>(),
        })
    }

    pub(crate) fn render(&self, job: &str, location: &str) -> String {
        let mut out = format!(
            "job {job}: {} task(s) in the report {location}: {} succeeded, {} failed\n",
            self.rows, self.succeeded, self.failed
        );
        for ((_, code, message), (count, key)) in self.ranked() {
            out.push_str(&format!(
                "{count:>8}  {code}  {message}\n          e.g. {key}\n"
            ));
        }
        out
    }
}

pub(crate) async fn read_text(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<String, ReportError> {
    let read_error = |detail: String| ReportError::Read {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        detail,
    };
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| read_error(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| read_error(e.to_string()))?
        .into_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|e| read_error(e.to_string()))
}

/// Reads the report's manifest and every result file it names.
pub(crate) async fn summarise(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    manifest_key: &str,
) -> Result<Summary, ReportError> {
    let text = read_text(s3, bucket, manifest_key).await?;
    let manifest: ReportManifest =
        serde_json::from_str(&text).map_err(|e| ReportError::Manifest {
            bucket: bucket.to_owned(),
            key: manifest_key.to_owned(),
            detail: e.to_string(),
        })?;
    if manifest.format != "Report_CSV_20180820" {
        return Err(ReportError::Manifest {
            bucket: bucket.to_owned(),
            key: manifest_key.to_owned(),
            detail: format!("format {:?}, Report_CSV_20180820 expected", manifest.format),
        });
    }
    let mut summary = Summary::default();
    for file in &manifest.results {
        let csv = read_text(s3, &file.bucket, &file.key).await?;
        for (index, fields) in parse_csv(&csv).into_iter().enumerate() {
            if fields.iter().all(|f| f.is_empty()) {
                continue;
            }
            let row = task_row(&fields).map_err(|detail| ReportError::Row {
                bucket: file.bucket.clone(),
                key: file.key.clone(),
                line: index + 1,
                detail,
            })?;
            summary.add(row);
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_in_either_column_order_and_quoted_messages_kept_whole() {
        let text = "b,k1,,failed,200,PermanentFailure,\"Lambda returned function error: {\"\"errorMessage\"\":\"\"a, b\"\"}\"\n\
                    b,k2,,succeeded,200,,\"records=3 alerts=0\"\n\
                    b,k3,,failed,PermanentFailure,200,object not found\n";
        let rows: Vec<TaskRow> = parse_csv(text)
            .iter()
            .map(|f| task_row(f).unwrap())
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].result_code, "PermanentFailure");
        assert_eq!(rows[0].http_status, "200");
        assert_eq!(
            rows[0].message,
            "Lambda returned function error: {\"errorMessage\":\"a, b\"}"
        );
        assert_eq!(rows[2].result_code, "PermanentFailure");
        let mut summary = Summary::default();
        for r in rows {
            summary.add(r);
        }
        assert_eq!((summary.rows, summary.succeeded, summary.failed), (3, 1, 2));
        assert_eq!(summary.causes.len(), 2);
        assert!(task_row(&["a".into(), "b".into()]).is_err());
    }
}
