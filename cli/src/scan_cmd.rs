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

use anyhow::{Context as _, bail};
use trailwatch_shared::alert::AlertMessage;
use trailwatch_shared::alert::insights::scan_insights_file;
use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::{plan_alerts, scan_log_file};
use trailwatch_shared::alert::window_alert::WindowBacktest;
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::config::{LoadedRules, RuleSetSelection, load_rules, parse_rules};

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
    /// Print the machine-readable JSON (what SQS/Lambda/HTTPS subscribers get) after each alert.
    #[arg(long)]
    pub json: bool,
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
    let rules = load_rules(&selection, &custom)?;
    if rules.rules().is_empty() {
        eprintln!("note: no rules selected; only Insights files can raise alerts");
    }
    let mut totals = Totals::default();
    let mut out = std::io::stdout().lock();
    let s3_inputs: Vec<&String> = args
        .inputs
        .iter()
        .filter(|i| i.starts_with("s3://"))
        .collect();
    if !s3_inputs.is_empty() {
        if args.inputs.len() != 1 {
            bail!("give either local files or one s3://bucket/prefix, not both");
        }
        scan_s3_prefix(s3_inputs[0], &rules, &args, &mut totals, &mut out).await?;
    } else {
        for input in &args.inputs {
            for path in local_files(Path::new(input))? {
                scan_local(&path, &rules, &args, &mut totals, &mut out)?;
            }
        }
    }
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

fn scan_local(
    path: &str,
    rules: &LoadedRules,
    args: &ScanArgs,
    totals: &mut Totals,
    out: &mut impl Write,
) -> anyhow::Result<()> {
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
    totals.files += 1;
    if is_insight {
        let scan = scan_insights_file(RecordReader::open(open()?, ReaderLimits::default()), &file);
        totals.records += scan.records_evaluated;
        print_alerts(out, &file, scan.alerts.iter(), args.json, totals)?;
        report_read_error(
            path,
            scan.read_error.as_ref().map(ToString::to_string),
            totals,
        );
        return Ok(());
    }
    let scan = scan_log_file(
        RecordReader::open(open()?, ReaderLimits::default()),
        rules,
        usize::from(args.max_events),
    );
    if file.account.is_empty() {
        // Neither the key nor the name says whose file this is: use the first record.
        if let Some((account, region)) = &scan.first_record_origin {
            file.account = account.clone().unwrap_or_else(|| "unknown".into());
            file.region = region.clone().unwrap_or_else(|| "unknown".into());
        }
    }
    totals.records += scan.records_evaluated;
    let planned = plan_alerts(&scan, rules, &file);
    let window_alerts = totals.windows.add_file(&scan, rules, &file);
    print_alerts(
        out,
        &file,
        planned.iter().map(|p| &p.message).chain(&window_alerts),
        args.json,
        totals,
    )?;
    report_read_error(
        path,
        scan.read_error.as_ref().map(ToString::to_string),
        totals,
    );
    Ok(())
}

async fn scan_s3_prefix(
    uri: &str,
    rules: &LoadedRules,
    args: &ScanArgs,
    totals: &mut Totals,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // `s3://bucket` and `s3://bucket/` scan the whole bucket.
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{uri}: no bucket (s3://bucket/prefix)");
    }
    let sdk = trailwatch_lambda_common::load_sdk_config().await;
    let s3 = trailwatch_lambda_common::s3_client(&sdk);
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing {uri}"))?;
        for obj in page.contents() {
            let Some(key) = obj.key() else { continue };
            let object = trailwatch_shared::trigger::ObjectRef {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                size: None,
                version_id: None,
                requester: None,
                source_ip: None,
                etag: None,
            };
            let location = match classify(key) {
                ObjectKind::LogFile(f) => (f.location, false),
                ObjectKind::InsightFile(f) => (f.location, true),
                _ => {
                    totals.skipped += 1;
                    continue;
                }
            };
            let file = FileContext {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                account: location.0.account,
                region: location.0.region,
            };
            let body = trailwatch_lambda_common::s3_read::open_object(&s3, &object)
                .await
                .with_context(|| format!("reading s3://{bucket}/{key}"))?;
            let reader = RecordReader::open(body.into_blocking_reader(), ReaderLimits::default());
            totals.files += 1;
            let (messages, records, read_error) = if location.1 {
                let scan = tokio::task::block_in_place(|| scan_insights_file(reader, &file));
                (
                    scan.alerts,
                    scan.records_evaluated,
                    scan.read_error.map(|e| e.to_string()),
                )
            } else {
                // The reader bridges to the async download, so it must run off the runtime threads.
                let scan = tokio::task::block_in_place(|| {
                    scan_log_file(reader, rules, usize::from(args.max_events))
                });
                let planned = plan_alerts(&scan, rules, &file);
                let window_alerts = totals.windows.add_file(&scan, rules, &file);
                (
                    planned
                        .into_iter()
                        .map(|p| p.message)
                        .chain(window_alerts)
                        .collect(),
                    scan.records_evaluated,
                    scan.read_error.map(|e| e.to_string()),
                )
            };
            totals.records += records;
            print_alerts(out, &file, messages.iter(), args.json, totals)?;
            report_read_error(&file.uri(), read_error, totals);
        }
    }
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
