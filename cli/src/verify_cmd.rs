//! `trailwatch verify`: a faster, stricter `aws cloudtrail validate-logs`. Lists the digests of
//! one account/region between two times, verifies them and their logs in parallel, follows and
//! checks the chain, flags a stale head and unreferenced logs.
//!
//! Exit status: 0 PASS or WARN, 1 FAIL, 2 usage or infrastructure error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use aws_config::Region;
use clap::Args;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trailwatch_lambda_common::key_source::{CloudTrailKeySource, KeySource};
use trailwatch_lambda_common::s3_store::S3DigestStore;
use trailwatch_lambda_common::{load_sdk_config, s3_client};
use trailwatch_shared::digest::{
    DigestStore, ObjectVersion, RangeRequest, StoreError, StoredObject, Verdict,
    VerificationReport, verify_range,
};

use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Bucket the trail delivers to.
    #[arg(long)]
    pub bucket: String,
    /// Account whose digests are verified (the member account for organization trails).
    #[arg(long = "account-id")]
    pub account_id: String,
    /// Region whose digest chain is verified (its keys are fetched there).
    #[arg(long)]
    pub region: String,
    /// Organization id, for organization trails (`AWSLogs/<o-id>/<account>/…`).
    #[arg(long = "organization-id")]
    pub organization_id: Option<String>,
    /// The trail's S3 key prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only this trail's digests (default: every trail delivering under the prefix).
    #[arg(long = "trail-name")]
    pub trail_name: Option<String>,
    /// Start of the range: RFC 3339 (`2026-03-14T07:00:00Z`), a date, or Unix seconds.
    #[arg(long = "start-time", value_parser = parse_time)]
    pub start_time: i64,
    /// End of the range, same formats.
    #[arg(long = "end-time", value_parser = parse_time)]
    pub end_time: i64,
    /// A `ListPublicKeys` response body (JSON) used instead of calling CloudTrail.
    #[arg(long = "public-keys")]
    pub public_keys: Option<PathBuf>,
    /// Objects fetched and hashed at once. The report is the same at any value (findings are
    /// sorted).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// One JSON object on stdout instead of human-readable lines (and no progress line).
    #[arg(long)]
    pub json: bool,
}

/// Accepts RFC 3339, `YYYY-MM-DD` (midnight UTC) and Unix seconds.
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(dt.unix_timestamp());
    }
    let date_only = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(t, &date_only) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    Err(format!(
        "{text:?} is not an RFC 3339 time (2026-03-14T07:00:00Z), a date (2026-03-14) or Unix seconds"
    ))
}

fn iso(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if args.start_time >= args.end_time {
        bail!("--start-time must be before --end-time");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let progress = Progress::on_stderr("objects read", args.json);
    let report = runtime.block_on(verify(&args, &progress));
    progress.finish();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_human(&args, &report);
    }
    Ok(match report.verdict {
        Verdict::Fail => ExitCode::from(1),
        Verdict::Pass | Verdict::Warn => ExitCode::SUCCESS,
    })
}

async fn verify(args: &VerifyArgs, progress: &Progress) -> anyhow::Result<VerificationReport> {
    let region_from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let mut sdk = load_sdk_config().await;
    if !region_from_env {
        sdk = sdk
            .into_builder()
            .region(Region::new(args.region.clone()))
            .build();
    }
    let keys = match &args.public_keys {
        Some(path) => KeySource::from_file(&path.to_string_lossy())
            .map_err(|e| anyhow::anyhow!("--public-keys {e}"))?,
        None => KeySource::Api(Box::new(CloudTrailKeySource::new(sdk.clone()))),
    };
    let store = Counted {
        inner: S3DigestStore::new(s3_client(&sdk)),
        progress,
    };
    let request = RangeRequest {
        bucket: args.bucket.clone(),
        prefix: args
            .prefix
            .clone()
            .map(|p| p.trim_matches('/').to_owned())
            .filter(|p| !p.is_empty()),
        organization_id: args.organization_id.clone(),
        account: args.account_id.clone(),
        region: args.region.clone(),
        trail_name: args.trail_name.clone(),
        start: args.start_time,
        end: args.end_time,
        concurrency: usize::from(args.concurrency),
    };
    Ok(verify_range(&store, &keys, &request).await?)
}

/// A store that counts the objects verification has read, for the progress line. Verification
/// learns how many logs there are only from the digests it reads, so the line is a count, not a
/// share of a total.
struct Counted<'a, S> {
    inner: S,
    progress: &'a Progress,
}

impl<S: DigestStore> DigestStore for Counted<'_, S> {
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<StoredObject, StoreError> {
        let result = self.inner.get_object(bucket, key, version_id).await;
        self.progress.inc(1);
        result
    }

    async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(bucket, prefix).await
    }

    async fn read_object<T, F>(&self, bucket: &str, key: &str, consume: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn std::io::Read) -> T + Send + 'static,
    {
        let result = self.inner.read_object(bucket, key, consume).await;
        self.progress.inc(1);
        result
    }

    async fn list_versions(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<ObjectVersion>, StoreError> {
        self.inner.list_versions(bucket, key).await
    }
}

fn print_human(args: &VerifyArgs, report: &VerificationReport) {
    let location = match (&args.prefix, &args.organization_id) {
        (Some(p), Some(o)) => format!("s3://{}/{p}/AWSLogs/{o}/{}", args.bucket, args.account_id),
        (Some(p), None) => format!("s3://{}/{p}/AWSLogs/{}", args.bucket, args.account_id),
        (None, Some(o)) => format!("s3://{}/AWSLogs/{o}/{}", args.bucket, args.account_id),
        (None, None) => format!("s3://{}/AWSLogs/{}", args.bucket, args.account_id),
    };
    println!(
        "Verifying {location} region {} between {} and {}",
        args.region,
        iso(args.start_time),
        iso(args.end_time)
    );
    for f in &report.findings {
        println!(
            "{:<7} {:<30} {}\n        {}",
            f.severity.as_str(),
            f.code.as_str(),
            f.object,
            f.detail
        );
    }
    let count = |s: trailwatch_shared::digest::FindingSeverity| {
        report.findings.iter().filter(|f| f.severity == s).count()
    };
    use trailwatch_shared::digest::FindingSeverity::*;
    println!(
        "{}: {} digest files and {} log files checked; {} errors, {} warnings, {} info",
        report.verdict,
        report.digests_checked,
        report.logs_checked,
        count(Error),
        count(Warning),
        count(Info)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        assert_eq!(parse_time("2026-03-14T07:12:09Z"), Ok(1_773_472_329));
        assert_eq!(parse_time("2026-03-14T08:12:09+01:00"), Ok(1_773_472_329));
        assert_eq!(parse_time("1773472329"), Ok(1_773_472_329));
        assert_eq!(parse_time("2026-03-14"), Ok(1_773_446_400));
        assert!(parse_time("yesterday").is_err());
    }
}
