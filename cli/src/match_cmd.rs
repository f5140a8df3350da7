//! `trailwatch match`: evaluate a filter pattern or a built-in rule set on CloudTrail log files,
//! or answer pattern/event pairs line by line (`--jsonl`, the conformance protocol).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use serde_json::value::RawValue;
use trailwatch_shared::pattern::{FilterPattern, compact_json};
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::rules::{BUILTIN_SET_NAMES, CompiledRules, builtin_set};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Output:
  --pattern P           each matching record on one line (its JSON as in the file; records that
                        span several lines are printed without the line breaks)
  --rules NAME          each matching record as {\"rules\":[ids…],\"record\":<record>}
  --count               instead: per file `PATH<TAB>MATCHED<TAB>RECORDS` and a `total` line;
                        with --rules, `RULE_ID<TAB>MATCHES` per rule and `records<TAB>N`
  --jsonl               each stdin line {\"pattern\": P, \"event\": E} (E a JSON object/array,
                        matched as its compact serialisation, or a string, the raw message)
                        gives one stdout line {\"match\": true|false} or {\"error\": MESSAGE}

Exit status: 0 when every file was read, 2 when a file could not be read (reported on stderr;
the other files are still processed).")]
pub(crate) struct MatchArgs {
    /// A CloudWatch Logs filter pattern, e.g. '{ $.eventName = "StopLogging" }'.
    #[arg(short, long, required_unless_present_any = ["rules", "jsonl"], conflicts_with = "rules")]
    pattern: Option<String>,

    /// Run a built-in rule set instead of one pattern.
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(BUILTIN_SET_NAMES))]
    rules: Option<String>,

    /// Print only counts.
    #[arg(long)]
    count: bool,

    /// Conformance mode: pattern/event pairs on stdin, one answer per line on stdout.
    #[arg(long, conflicts_with_all = ["pattern", "rules", "count", "files"])]
    jsonl: bool,

    /// CloudTrail log files, gzip-compressed or plain ({"Records":[…]}).
    #[arg(value_name = "FILE", required_unless_present = "jsonl")]
    files: Vec<PathBuf>,
}

pub(crate) fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    let result = if args.jsonl {
        jsonl(io::stdin().lock(), &mut io::stdout().lock())
    } else {
        let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        write_matches(&args, &mut out).and_then(|all_read| {
            out.flush()?;
            Ok(if all_read {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        })
    };
    match result {
        // The reader went away (`| head`): stop quietly, as other command-line tools do.
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

/// Runs --pattern or --rules; says whether every file was read.
fn write_matches(args: &MatchArgs, out: &mut impl Write) -> anyhow::Result<bool> {
    let ok = match (&args.pattern, &args.rules) {
        (Some(p), _) => {
            let pattern = FilterPattern::parse(p).map_err(|e| anyhow::anyhow!("{e}"))?;
            match_pattern(&pattern, &args.files, args.count, out)?
        }
        (None, Some(name)) => {
            let set = builtin_set(name).with_context(|| format!("unknown rule set {name}"))?;
            let rules = CompiledRules::compile(set).context("compiling the built-in rule set")?;
            match_rules(&rules, &args.files, args.count, out)?
        }
        (None, None) => anyhow::bail!("give --pattern, --rules or --jsonl"),
    };
    Ok(ok)
}

/// Why a file was not processed to its end.
enum FileError {
    /// The file could not be read (reported, the other files are still processed).
    Read(anyhow::Error),
    /// Writing the output failed: nothing more can be reported, stop.
    Write(io::Error),
}

/// Calls `f` on every record of `path`; returns the number of records.
fn for_each_record(
    path: &Path,
    mut f: impl FnMut(&str) -> io::Result<()>,
) -> Result<u64, FileError> {
    let file = File::open(path)
        .map_err(|e| FileError::Read(anyhow::anyhow!("{}: cannot open: {e}", path.display())))?;
    let mut reader = RecordReader::open(
        BufReader::with_capacity(1 << 16, file),
        ReaderLimits::default(),
    );
    let mut n = 0;
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                n += 1;
                f(record.json).map_err(FileError::Write)?;
            }
            Ok(None) => return Ok(n),
            Err(e) => {
                return Err(FileError::Read(anyhow::anyhow!(
                    "{}: record {}: {e}",
                    path.display(),
                    n + 1
                )));
            }
        }
    }
}

/// The number of records of a file read to its end; `None` (after reporting on stderr) for a
/// file that could not be read; an error when the output cannot be written.
fn report(result: Result<u64, FileError>) -> io::Result<Option<u64>> {
    match result {
        Ok(n) => Ok(Some(n)),
        Err(FileError::Read(e)) => {
            eprintln!("trailwatch: {e:#}");
            Ok(None)
        }
        Err(FileError::Write(e)) => Err(e),
    }
}

fn match_pattern(
    pattern: &FilterPattern,
    files: &[PathBuf],
    count: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut all_ok = true;
    let (mut total_matched, mut total_records) = (0u64, 0u64);
    for path in files {
        let mut matched = 0u64;
        let records = report(for_each_record(path, |json| {
            if pattern.matches(json) {
                matched += 1;
                if !count {
                    writeln!(out, "{}", one_line(json))?;
                }
            }
            Ok(())
        }))?;
        all_ok &= records.is_some();
        total_matched += matched;
        total_records += records.unwrap_or(0);
        if count {
            writeln!(
                out,
                "{}\t{matched}\t{}",
                path.display(),
                records.unwrap_or(0)
            )?;
        }
    }
    if count {
        writeln!(out, "total\t{total_matched}\t{total_records}")?;
    }
    Ok(all_ok)
}

fn match_rules(
    rules: &CompiledRules,
    files: &[PathBuf],
    count: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut all_ok = true;
    let mut per_rule = vec![0u64; rules.len()];
    let mut records = 0u64;
    let mut matched = Vec::new();
    for path in files {
        let n = report(for_each_record(path, |json| {
            rules.evaluate(json, &mut matched);
            for &i in &matched {
                per_rule[i] += 1;
            }
            if !count && !matched.is_empty() {
                let ids: Vec<&str> = matched
                    .iter()
                    .map(|&i| rules.rules()[i].id.as_str())
                    .collect();
                writeln!(
                    out,
                    "{{\"rules\":{},\"record\":{}}}",
                    serde_json::to_string(&ids)?,
                    one_line(json)
                )?;
            }
            Ok(())
        }))?;
        all_ok &= n.is_some();
        records += n.unwrap_or(0);
    }
    if count {
        for (rule, n) in rules.rules().iter().zip(&per_rule) {
            writeln!(out, "{}\t{n}", rule.id)?;
        }
        writeln!(out, "records\t{records}")?;
    }
    Ok(all_ok)
}

/// A record on one line: verbatim unless it spans lines, then without the insignificant
/// whitespace (string contents are never touched).
fn one_line(json: &str) -> Cow<'_, str> {
    if !json.contains(['\n', '\r']) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in json.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            if ch == '"' {
                in_string = true;
            }
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

#[derive(Deserialize)]
struct JsonlCase {
    pattern: String,
    event: Box<RawValue>,
}

/// The conformance protocol: one answer line per non-blank input line, in order, flushed as
/// soon as it is written (so a harness may feed lines one at a time).
fn jsonl(input: impl BufRead, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let mut cache: HashMap<String, Result<FilterPattern, String>> = HashMap::new();
    for line in input.lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<JsonlCase>(&line) {
            Err(e) => error_line(&format!("bad input line: {e}")),
            Ok(case) => {
                if cache.len() > 4096 {
                    cache.clear();
                }
                let pattern = cache
                    .entry(case.pattern)
                    .or_insert_with_key(|p| FilterPattern::parse(p).map_err(|e| e.to_string()));
                match pattern {
                    Err(msg) => error_line(msg),
                    Ok(p) => match event_message(&case.event) {
                        Some(msg) => format!("{{\"match\": {}}}", p.matches(&msg)),
                        None => error_line("event is not valid JSON"),
                    },
                }
            }
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A string event is the raw message; any other JSON is matched as its compact serialisation.
fn event_message(event: &RawValue) -> Option<String> {
    let raw = event.get();
    if raw.starts_with('"') {
        serde_json::from_str(raw).ok()
    } else {
        compact_json(raw)
    }
}

fn error_line(msg: &str) -> String {
    format!(
        "{{\"error\": {}}}",
        serde_json::Value::String(msg.to_owned())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_keeps_strings_verbatim() {
        assert_eq!(one_line("{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(
            one_line("{\n  \"a b\": \"x \\\" y\",\n  \"c\": [1, 2]\n}"),
            "{\"a b\":\"x \\\" y\",\"c\":[1,2]}"
        );
    }

    #[test]
    fn jsonl_answers_each_line_in_order() {
        let input = concat!(
            "{\"pattern\": \"ERROR\", \"event\": \"an ERROR\"}\n",
            "\n",
            "{\"pattern\": \"{ $.a = 1 }\", \"event\": {\"a\": 1}}\n",
            "{\"pattern\": \"{ $.a IS NOT NULL }\", \"event\": {\"a\": 1}}\n",
            "{\"pattern\": \"x\", \"event\": \"y\"}\n",
            "not json\n",
        );
        let mut out = Vec::new();
        jsonl(input.as_bytes(), &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], serde_json::json!({"match": true}));
        assert_eq!(lines[1], serde_json::json!({"match": true}));
        assert!(lines[2]["error"].as_str().unwrap().contains("IS NOT"));
        assert_eq!(lines[3], serde_json::json!({"match": false}));
        assert!(
            lines[4]["error"]
                .as_str()
                .unwrap()
                .starts_with("bad input line")
        );
    }
}
