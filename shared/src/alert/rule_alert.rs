//! The alert for one rule that reached its threshold in one log file: subject, e-mail text and
//! machine-readable JSON. Pure: the same code serves the function and `trailwatch scan`.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::value::RawValue;

use super::event_summary::{EventSummary, one_line_capped};
use super::message::{
    AlertAttributes, AlertKind, AlertMessage, MachineBody, SCHEMA_VERSION, assemble,
    json_string_len,
};
use super::subject::{alert_subject, events_phrase};
use crate::rules::Rule;

/// Where the log file is and whose activity it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContext {
    /// The bucket holding the log file; empty for a local file given to `trailwatch scan`.
    pub bucket: String,
    /// The log file's object key, or the local file's path.
    pub key: String,
    /// The account whose activity the file records (from its key; empty when unknown).
    pub account: String,
    /// The region whose activity the file records (from its key; empty when unknown).
    pub region: String,
}

impl FileContext {
    /// `s3://bucket/key`; for a local file (`trailwatch scan`, empty bucket) its path.
    pub fn uri(&self) -> String {
        if self.bucket.is_empty() {
            self.key.clone()
        } else {
            format!("s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// Records larger than this are summarised, not embedded, in the machine-readable JSON: one
/// would not fit an SNS message next to the text anyway.
pub const MAX_EMBEDDED_RECORD_BYTES: usize = 64 * 1024;

/// One matching record kept for the alert.
#[derive(Debug, Clone)]
pub struct MatchSample {
    /// The triage fields of the record, shown in the e-mail text and the JSON.
    pub summary: EventSummary,
    /// The record verbatim; `None` when it exceeds [`MAX_EMBEDDED_RECORD_BYTES`], the per-rule
    /// memory budget was spent, or it is not JSON.
    pub raw: Option<Box<RawValue>>,
    /// Length of the record's JSON text in bytes, shown when the record is not embedded.
    pub raw_bytes: usize,
}

impl MatchSample {
    /// A sample from one matching record's JSON text: its summary, plus the record verbatim when
    /// it is valid JSON of at most [`MAX_EMBEDDED_RECORD_BYTES`].
    pub fn from_record(json: &str) -> Self {
        let raw = if json.len() <= MAX_EMBEDDED_RECORD_BYTES {
            RawValue::from_string(json.to_owned()).ok()
        } else {
            None
        };
        Self {
            summary: EventSummary::from_record(json),
            raw,
            raw_bytes: json.len(),
        }
    }

    /// A sample without the verbatim record (the per-rule memory budget is spent).
    pub fn summary_only(json: &str) -> Self {
        Self {
            summary: EventSummary::from_record(json),
            raw: None,
            raw_bytes: json.len(),
        }
    }
}

/// What one file produced for one rule.
#[derive(Debug, Clone, Default)]
pub struct RuleMatches {
    /// How many records of the file matched the rule (all of them, not only the kept samples).
    pub count: u64,
    /// The first matches, in file order, at most `MAX_EVENTS_PER_ALERT`.
    pub samples: Vec<MatchSample>,
}

/// Counts for the file as a whole, shown in the alert.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileStats<'a> {
    /// How many records of the file were read and evaluated.
    pub records_evaluated: u64,
    /// Set when the file could not be read to its end: the alert covers the part before.
    pub read_error: Option<&'a str>,
}

/// Builds the alert for `rule` (as compiled: see `CompiledRules::rules`) from its matches in
/// `file`.
pub fn rule_alert(
    rule: &Rule,
    file: &FileContext,
    matches: &RuleMatches,
    stats: FileStats<'_>,
) -> AlertMessage {
    let subject = alert_subject(
        rule.severity.as_str(),
        &rule.id,
        &rule.title,
        &events_phrase(matches.count),
        &file.account,
        &file.region,
    );
    let text = render_text(&subject, rule, file, matches, stats);
    let machine = RuleJson {
        rule,
        file,
        matches,
        stats,
    };
    let attributes = AlertAttributes {
        rule_id: rule.id.clone(),
        severity: rule.severity.as_str().to_owned(),
        account: file.account.clone(),
        region: file.region.clone(),
        finding_codes: None,
    };
    assemble(AlertKind::RuleMatch, subject, &text, &machine, attributes)
}

fn render_text(
    subject: &str,
    rule: &Rule,
    file: &FileContext,
    matches: &RuleMatches,
    stats: FileStats<'_>,
) -> String {
    let mut t = String::with_capacity(2048 + matches.samples.len() * 1024);
    let _ = writeln!(t, "{subject}\n");
    let _ = writeln!(t, "Rule:      {} ({})", rule.id, rule.severity);
    let _ = writeln!(t, "Title:     {}", one_line_capped(&rule.title, 1024));
    if let Some(d) = rule.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(t, "Why:       {}", one_line_capped(d, 4096));
    }
    let _ = writeln!(t, "Account:   {}", file.account);
    let _ = writeln!(t, "Region:    {}", file.region);
    let _ = writeln!(t, "Log file:  {}", file.uri());
    let _ = writeln!(
        t,
        "Matches:   {} of {} records in this file (alert threshold: {})",
        matches.count, stats.records_evaluated, rule.threshold
    );
    if let Some(err) = stats.read_error {
        let _ = writeln!(
            t,
            "\nWARNING: the log file could not be read to its end ({}). Only the records before the \
             damage were evaluated; the file has been left for the on-failure destination.",
            one_line_capped(err, 1024)
        );
    }
    let shown = matches.samples.len();
    if shown > 0 {
        let _ = writeln!(t, "\nMatching events ({shown} of {} shown):", matches.count);
    }
    for (n, sample) in matches.samples.iter().enumerate() {
        render_event(&mut t, n + 1, &sample.summary);
    }
    let more = matches.count.saturating_sub(shown as u64);
    if more > 0 {
        let _ = writeln!(
            t,
            "\n... and {more} more matching {} in this log file (not shown).",
            if more == 1 { "event" } else { "events" }
        );
    }
    let _ = writeln!(
        t,
        "\n--\nSent by trailwatch alerter. Each alert is sent once per file version: a retried or \
         repeated delivery of the file does not send it again (only a crash between the publish \
         and its record in the state table can)."
    );
    t
}

fn render_event(t: &mut String, n: usize, s: &EventSummary) {
    let when = s.event_time.as_deref().unwrap_or("(no eventTime)");
    let what = s
        .action_line()
        .unwrap_or_else(|| "(no eventSource/eventName)".to_owned());
    let _ = writeln!(t, "\n{n}. {when}  {what}");
    if let Some(reason) = &s.unreadable {
        let _ = writeln!(
            t,
            "   (record could not be summarised: {})",
            one_line_capped(reason, 256)
        );
    }
    let field = |t: &mut String, label: &str, value: Option<String>| {
        if let Some(v) = value {
            let _ = writeln!(t, "   {label:<11} {v}");
        }
    };
    field(t, "principal:", s.principal_line());
    field(t, "source IP:", s.source_ip.clone());
    field(t, "user agent:", s.user_agent.clone());
    field(t, "error:", s.error_line());
    field(t, "eventID:", s.event_id.clone());
}

/// The machine-readable document for `sqs`, `lambda` and `https` subscribers.
struct RuleJson<'a> {
    rule: &'a Rule,
    file: &'a FileContext,
    matches: &'a RuleMatches,
    stats: FileStats<'a>,
}

#[derive(Serialize)]
struct RuleDoc<'a> {
    schema: u32,
    source: &'static str,
    kind: &'static str,
    rule: RuleDocRule<'a>,
    account: &'a str,
    region: &'a str,
    log_file: LogFileDoc<'a>,
    records_evaluated: u64,
    file_read_error: Option<&'a str>,
    match_count: u64,
    /// Matching records embedded below, verbatim.
    records_included: usize,
    /// Matches not embedded (beyond MAX_EVENTS_PER_ALERT, too large, or beyond the size limit).
    records_omitted: u64,
    records: Vec<&'a RawValue>,
    /// Kept matches not embedded verbatim (too large, or the per-rule memory budget was spent),
    /// identified so they can be looked up.
    records_too_large: Vec<TooLarge<'a>>,
}

#[derive(Serialize)]
struct RuleDocRule<'a> {
    id: &'a str,
    title: &'a str,
    description: Option<&'a str>,
    severity: &'a str,
    threshold: u64,
}

#[derive(Serialize)]
struct LogFileDoc<'a> {
    bucket: &'a str,
    key: &'a str,
    uri: String,
}

#[derive(Serialize)]
struct TooLarge<'a> {
    #[serde(rename = "eventID")]
    event_id: Option<&'a str>,
    #[serde(rename = "eventTime")]
    event_time: Option<&'a str>,
    #[serde(rename = "eventName")]
    event_name: Option<&'a str>,
    bytes: usize,
}

impl RuleJson<'_> {
    fn doc(&self, embed: usize, stubs: usize) -> RuleDoc<'_> {
        let embedded: Vec<&RawValue> = self
            .matches
            .samples
            .iter()
            .filter_map(|s| s.raw.as_deref())
            .take(embed)
            .collect();
        let too_large: Vec<TooLarge<'_>> = self
            .matches
            .samples
            .iter()
            .filter(|s| s.raw.is_none())
            .take(stubs)
            .map(|s| TooLarge {
                event_id: s.summary.event_id.as_deref(),
                event_time: s.summary.event_time.as_deref(),
                event_name: s.summary.event_name.as_deref(),
                bytes: s.raw_bytes,
            })
            .collect();
        RuleDoc {
            schema: SCHEMA_VERSION,
            source: "trailwatch",
            kind: "rule_match",
            rule: RuleDocRule {
                id: &self.rule.id,
                title: &self.rule.title,
                description: self.rule.description.as_deref(),
                severity: self.rule.severity.as_str(),
                threshold: self.rule.threshold,
            },
            account: &self.file.account,
            region: &self.file.region,
            log_file: LogFileDoc {
                bucket: &self.file.bucket,
                key: &self.file.key,
                uri: self.file.uri(),
            },
            records_evaluated: self.stats.records_evaluated,
            file_read_error: self.stats.read_error,
            match_count: self.matches.count,
            records_included: embedded.len(),
            records_omitted: self.matches.count.saturating_sub(embedded.len() as u64),
            records: embedded,
            records_too_large: too_large,
        }
    }
}

impl MachineBody for RuleJson<'_> {
    fn render(&self, max_escaped_bytes: usize) -> String {
        let stubs = self
            .matches
            .samples
            .iter()
            .filter(|s| s.raw.is_none())
            .count();
        let fits = |s: &String| json_string_len(s) <= max_escaped_bytes;
        // Size the prefix of records that fits from each record's escaped length (escaping is
        // per character, so lengths add up), then render; a few renders at most, whatever
        // MAX_EVENTS_PER_ALERT is.
        let base = json_string_len(&serde_json::to_string(&self.doc(0, stubs)).unwrap_or_default());
        let mut total = base + 64; // the counts' digits may grow
        let mut embed = 0;
        for raw in self.matches.samples.iter().filter_map(|s| s.raw.as_deref()) {
            let add = json_string_len(raw.get()) - 2 + 1; // without quotes, plus a comma
            if total + add > max_escaped_bytes {
                break;
            }
            total += add;
            embed += 1;
        }
        for embed in (0..=embed).rev() {
            let doc = serde_json::to_string(&self.doc(embed, stubs)).unwrap_or_default();
            if fits(&doc) {
                return doc;
            }
        }
        // Even with no records the document is too large (huge description or title): send the
        // counts and identifiers only.
        let minimal = serde_json::json!({
            "schema": SCHEMA_VERSION,
            "source": "trailwatch",
            "kind": "rule_match",
            "rule": {"id": self.rule.id, "severity": self.rule.severity.as_str()},
            "account": self.file.account,
            "region": self.file.region,
            "log_file": {"bucket": self.file.bucket, "key": self.file.key},
            "match_count": self.matches.count,
            "records_included": 0,
            "records_omitted": self.matches.count,
            "truncated": true,
        })
        .to_string();
        if fits(&minimal) {
            minimal
        } else {
            format!(
                r#"{{"kind":"rule_match","schema":{SCHEMA_VERSION},"source":"trailwatch","truncated":true}}"#
            )
        }
    }
}

#[cfg(test)]
#[path = "rule_alert_tests.rs"]
mod tests;
