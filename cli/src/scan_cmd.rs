//! `trailwatch scan`: run the alerter's rules over local CloudTrail files or an S3 prefix and
//! print the alerts the function would send (back-testing a rule against history).
//!
//! The alerts come from the code the alerter publishes with (`trailwatch_shared::alert`), so
//! what is printed here is byte for byte the subject and e-mail text the function publishes.
//! Rules with a `period` are counted over windows across the files given, in the order scanned
//! (`WindowBacktest`): a window alerts after the file that brings it to the threshold, as the
//! alerter does when the files arrive in that order.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::insights::{InsightScan, scan_insights_file};
use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::{FileScan, plan_alerts, scan_log_file};
use trailwatch_shared::alert::window_alert::WindowBacktest;
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::config::{LoadedRules, RuleSetSelection, load_rules, parse_rules};

use crate::progress::Progress;

#[derive(Debug, clap::Args)]
pub(crate) struct ScanArgs {
    /// Built-in rule sets, comma separated (security-hub, cis-1.2.0, cis-1.4.0, cis-3.0.0), or `none`.
    #[arg(long, default_value = "security-hub")]
    pub rules: String,
    /// A JSON file of custom rules: an array, or {"rules": [...]} (same format as CUSTOM_RULES).
    #[arg(long, value_name = "FILE")]
    pub custom_rules: Option<PathBuf>,
    /// Events shown per alert (the function's MAX_EVENTS_PER_ALERT).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub max_events: u16,
    /// Print the machine-readable JSON (what SQS/Lambda/HTTPS subscribers get) after each alert
    /// (and draw no progress line).
    #[arg(long)]
    pub json: bool,
    /// Files read and evaluated at once. The output is the same at any value: files are
    /// accounted in input order (name order for folders, listing order for S3).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// CloudTrail log or Insights files (gzip or plain JSON), folders (every *.json / *.json.gz
    /// below, e.g. a downloaded AWSLogs/ tree), or one s3://bucket/prefix.
    #[arg(required = true, value_name = "FILE|s3://bucket/prefix")]
    pub inputs: Vec<String>,
}

/// Totals over a scan, printed at the end (on stderr, so stdout is only alerts).
#[derive(Debug, Default)]
struct Totals {
    files: u64,
    skipped: u64,
    records: u64,
    alerts: u64,
    unreadable: u64,
    /// Rules with a period: their windows, counted over the files in the order scanned.
    windows: WindowBacktest,
}

/// A file to scan.
enum Source {
    Local(String),
    S3 { bucket: String, key: String },
}

/// One file's scan. Files are read and evaluated `--concurrency` at a time, then accounted
/// (window counts, totals, output) one by one in input order, so the output and the window
/// alerts are the same at any concurrency.
enum Scanned {
    Log {
        file: FileContext,
        scan: FileScan,
    },
    Insights {
        file: FileContext,
        scan: InsightScan,
    },
    /// An S3 object that is not a CloudTrail log or Insights file.
    Skipped,
}

pub(crate) fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    // Multi-threaded: S3 bodies are read through a blocking bridge off the runtime threads.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_async(args))
}

async fn run_async(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let selection =
        RuleSetSelection::parse(&args.rules).map_err(|e| anyhow::anyhow!("--rules: {e}"))?;
    let mut custom = Vec::new();
    if let Some(path) = &args.custom_rules {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--custom-rules: cannot read {}", path.display()))?;
        let name = path.display().to_string();
        custom.push((name.clone(), parse_rules(&name, &text)?));
    }
    let rules = Arc::new(load_rules(&selection, &custom)?);
    if rules.rules().is_empty() {
        eprintln!("note: no rules selected; only Insights files can raise alerts");
    }
    let mut totals = Totals::default();
    let mut out = std::io::stdout().lock();
    let progress = Progress::on_stderr("files", args.json);
    let s3_inputs: Vec<&String> = args
        .inputs
        .iter()
        .filter(|i| i.starts_with("s3://"))
        .collect();
    let scanner = Scanner {
        rules: rules.clone(),
        max_events: usize::from(args.max_events),
        s3: None,
    };
    let concurrency = usize::from(args.concurrency);
    if !s3_inputs.is_empty() {
        if args.inputs.len() != 1 {
            bail!("give either local files or one s3://bucket/prefix, not both");
        }
        let (bucket, prefix) = split_s3_uri(s3_inputs[0])?;
        let sdk = trailwatch_lambda_common::load_sdk_config().await;
        let s3 = trailwatch_lambda_common::s3_client(&sdk);
        let scanner = Scanner {
            s3: Some(s3.clone()),
            ..scanner
        };
        let sources = list_s3(s3, bucket, prefix, s3_inputs[0].clone(), &progress);
        let scans = sources
            .map(|source| {
                let scanner = &scanner;
                async move { scanner.scan(source?).await }
            })
            .buffered(concurrency);
        account_all(scans, &rules, &args, &mut totals, &mut out, &progress).await?;
    } else {
        let mut sources = Vec::new();
        for input in &args.inputs {
            sources.extend(
                local_files(Path::new(input))?
                    .into_iter()
                    .map(Source::Local),
            );
        }
        progress.set_total(sources.len() as u64);
        let scans = futures::stream::iter(sources)
            .map(|source| scanner.scan(source))
            .buffered(concurrency);
        account_all(scans, &rules, &args, &mut totals, &mut out, &progress).await?;
    }
    progress.finish();
    eprintln!(
        "scanned {} file(s) ({} skipped, {} unreadable), {} record(s); {} alert(s) would be sent",
        totals.files, totals.skipped, totals.unreadable, totals.records, totals.alerts
    );
    Ok(if totals.unreadable > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `s3://bucket/prefix` → (bucket, prefix); `s3://bucket` and `s3://bucket/` scan the whole
/// bucket.
fn split_s3_uri(uri: &str) -> anyhow::Result<(String, String)> {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{uri}: no bucket (s3://bucket/prefix)");
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// The objects under the prefix, page by page as the listing goes (a history of millions of
/// objects is never held at once); each page adds to the progress total.
fn list_s3<'a>(
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    uri: String,
    progress: &'a Progress,
) -> impl futures::Stream<Item = anyhow::Result<Source>> + 'a {
    let pages = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    futures::stream::unfold(Some(pages), move |pages| {
        let uri = uri.clone();
        async move {
            let mut pages = pages?;
            match pages.next().await? {
                Ok(page) => {
                    let keys: Vec<String> = page
                        .contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned))
                        .collect();
                    Some((Ok(keys), Some(pages)))
                }
                Err(e) => Some((
                    Err(anyhow::Error::new(e).context(format!("listing {uri}"))),
                    None,
                )),
            }
        }
    })
    .map(move |page| match page {
        Ok(keys) => {
            progress.add_total(keys.len() as u64);
            let bucket = bucket.clone();
            futures::stream::iter(
                keys.into_iter()
                    .map(move |key| {
                        Ok(Source::S3 {
                            bucket: bucket.clone(),
                            key,
                        })
                    })
                    .collect::<Vec<_>>(),
            )
            .left_stream()
        }
        Err(e) => futures::stream::iter([Err(e)]).right_stream(),
    })
    .flatten()
}

/// What reading and evaluating one file needs (shared by the concurrent scans).
struct Scanner {
    rules: Arc<LoadedRules>,
    max_events: usize,
    s3: Option<aws_sdk_s3::Client>,
}

impl Scanner {
    async fn scan(&self, source: Source) -> anyhow::Result<Scanned> {
        let (rules, max_events) = (self.rules.clone(), self.max_events);
        match source {
            Source::Local(path) => {
                tokio::task::spawn_blocking(move || scan_local(&path, &rules, max_events))
                    .await
                    .context("scan task failed")?
            }
            Source::S3 { bucket, key } => {
                let s3 = self.s3.as_ref().context("no S3 client")?;
                let (location, insights) = match classify(&key) {
                    ObjectKind::LogFile(f) => (f.location, false),
                    ObjectKind::InsightFile(f) => (f.location, true),
                    _ => return Ok(Scanned::Skipped),
                };
                let object = trailwatch_shared::trigger::ObjectRef {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    size: None,
                    version_id: None,
                    requester: None,
                    source_ip: None,
                    etag: None,
                };
                let body = trailwatch_lambda_common::s3_read::open_object(s3, &object)
                    .await
                    .with_context(|| format!("reading s3://{bucket}/{key}"))?;
                // Created on the runtime (it captures the handle), read on a blocking thread:
                // the reader bridges to the async download.
                let body = body.into_blocking_reader();
                let file = FileContext {
                    bucket,
                    key,
                    account: location.account,
                    region: location.region,
                };
                tokio::task::spawn_blocking(move || {
                    let reader = RecordReader::open(body, ReaderLimits::default());
                    if insights {
                        let scan = scan_insights_file(reader, &file);
                        Scanned::Insights { file, scan }
                    } else {
                        let scan = scan_log_file(reader, &rules, max_events);
                        Scanned::Log { file, scan }
                    }
                })
                .await
                .context("scan task failed")
            }
        }
    }
}

fn scan_local(path: &str, rules: &LoadedRules, max_events: usize) -> anyhow::Result<Scanned> {
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .with_context(|| format!("cannot open {path}"))
    };
    let mut file = FileContext {
        bucket: String::new(),
        key: path.to_owned(),
        account: String::new(),
        region: String::new(),
    };
    let kind = classify(path);
    let is_insight =
        matches!(kind, ObjectKind::InsightFile(_)) || path.contains("CloudTrail-Insight");
    if let ObjectKind::LogFile(f) = &kind {
        (file.account, file.region) = (f.location.account.clone(), f.location.region.clone());
    } else if let ObjectKind::InsightFile(f) = &kind {
        (file.account, file.region) = (f.location.account.clone(), f.location.region.clone());
    } else if let Some((account, region)) = origin_from_file_name(path) {
        (file.account, file.region) = (account, region);
    }
    if is_insight {
        let scan = scan_insights_file(RecordReader::open(open()?, ReaderLimits::default()), &file);
        return Ok(Scanned::Insights { file, scan });
    }
    let scan = scan_log_file(
        RecordReader::open(open()?, ReaderLimits::default()),
        rules,
        max_events,
    );
    if file.account.is_empty() {
        // Neither the key nor the name says whose file this is: use the first record.
        if let Some((account, region)) = &scan.first_record_origin {
            file.account = account.clone().unwrap_or_else(|| "unknown".into());
            file.region = region.clone().unwrap_or_else(|| "unknown".into());
        }
    }
    Ok(Scanned::Log { file, scan })
}

/// Accounts every scan in input order: window counts, totals, alerts printed, read errors.
async fn account_all(
    scans: impl futures::Stream<Item = anyhow::Result<Scanned>>,
    rules: &LoadedRules,
    args: &ScanArgs,
    totals: &mut Totals,
    out: &mut impl Write,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut scans = std::pin::pin!(scans);
    while let Some(scanned) = scans.next().await {
        account(scanned?, rules, args, totals, out, progress)?;
        progress.inc(1);
    }
    Ok(())
}

fn account(
    scanned: Scanned,
    rules: &LoadedRules,
    args: &ScanArgs,
    totals: &mut Totals,
    out: &mut impl Write,
    progress: &Progress,
) -> anyhow::Result<()> {
    let (file, messages, read_error) = match scanned {
        Scanned::Skipped => {
            totals.skipped += 1;
            return Ok(());
        }
        Scanned::Insights { file, scan } => {
            totals.records += scan.records_evaluated;
            (file, scan.alerts, scan.read_error.map(|e| e.to_string()))
        }
        Scanned::Log { file, scan } => {
            totals.records += scan.records_evaluated;
            let planned = plan_alerts(&scan, rules, &file);
            let window_alerts = totals.windows.add_file(&scan, rules, &file);
            let messages = planned
                .into_iter()
                .map(|p| p.message)
                .chain(window_alerts)
                .collect();
            (file, messages, scan.read_error.map(|e| e.to_string()))
        }
    };
    totals.files += 1;
    if !messages.is_empty() || read_error.is_some() {
        progress.clear();
    }
    print_alerts(out, &file, messages.iter(), args.json, totals)?;
    report_read_error(&file.uri(), read_error, totals);
    Ok(())
}

fn print_alerts<'a>(
    out: &mut impl Write,
    file: &FileContext,
    alerts: impl Iterator<Item = &'a AlertMessage>,
    json: bool,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    for alert in alerts {
        totals.alerts += 1;
        writeln!(out, "==== alert {} | {}", totals.alerts, file.uri())?;
        writeln!(out, "Subject: {}", alert.subject)?;
        for (k, v) in alert.attributes.pairs() {
            writeln!(out, "Attribute {k}: {v}")?;
        }
        writeln!(out)?;
        write!(out, "{}", alert.text)?;
        if json {
            writeln!(
                out,
                "\n---- machine-readable JSON (sqs/lambda/https)\n{}",
                alert.machine_json
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `input` itself when it is a file; every `*.json` / `*.json.gz` below it, in name order, when
/// it is a folder.
fn local_files(input: &Path) -> anyhow::Result<Vec<String>> {
    if !input.is_dir() {
        return Ok(vec![input.display().to_string()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![input.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path.to_string_lossy();
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".json") || name.ends_with(".json.gz") {
                found.push(name.into_owned());
            }
        }
    }
    found.sort();
    Ok(found)
}

fn report_read_error(what: &str, error: Option<String>, totals: &mut Totals) {
    if let Some(e) = error {
        totals.unreadable += 1;
        eprintln!(
            "warning: {what}: could not be read to its end: {e} (alerts above cover the records before)"
        );
    }
}

/// `123456789012_CloudTrail_us-east-1_20230710T1205Z_x.json(.gz)` names its account and region
/// even outside the `AWSLogs/…` tree.
fn origin_from_file_name(path: &str) -> Option<(String, String)> {
    let name = path.rsplit(['/', '\\']).next()?;
    let mut parts = name.split('_');
    let account = parts.next()?;
    let kind = parts.next()?;
    let region = parts.next()?;
    // Older names run the timestamp into the region (`us-east-1-20200930T2200.json`).
    let region = region
        .split('-')
        .take_while(|p| !(p.len() >= 8 && p.bytes().take(8).all(|b| b.is_ascii_digit())))
        .collect::<Vec<_>>()
        .join("-");
    (account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && kind.starts_with("CloudTrail")
        && !region.is_empty())
    .then(|| (account.to_owned(), region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_for_json_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir
            .path()
            .join("AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02");
        std::fs::create_dir_all(&sub).unwrap();
        for name in ["b.json.gz", "a.json", "notes.txt"] {
            std::fs::write(sub.join(name), b"{}").unwrap();
        }
        std::fs::write(dir.path().join("top.json"), b"{}").unwrap();
        let files = local_files(dir.path()).unwrap();
        let names: Vec<&str> = files
            .iter()
            .map(|f| f.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["a.json", "b.json.gz", "top.json"]);
        let single = sub.join("notes.txt");
        assert_eq!(
            local_files(&single).unwrap(),
            vec![single.display().to_string()]
        );
    }

    #[test]
    fn account_and_region_from_delivery_file_names() {
        assert_eq!(
            origin_from_file_name(
                "x/218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json"
            ),
            Some(("218007301253".into(), "us-east-1".into()))
        );
        // flaws-style name: the region runs into the timestamp.
        assert_eq!(
            origin_from_file_name("811596193553_CloudTrail_us-east-1-20200930T2200.json"),
            Some(("811596193553".into(), "us-east-1".into()))
        );
        assert_eq!(
            origin_from_file_name("123456789012_CloudTrail_us-gov-west-1_20230710T1205Z_x.json.gz"),
            Some(("123456789012".into(), "us-gov-west-1".into()))
        );
        assert_eq!(origin_from_file_name("records.json"), None);
        assert_eq!(
            origin_from_file_name("12345_CloudTrail_us-east-1_x.json"),
            None
        );
    }
}
