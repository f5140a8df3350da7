//! Windowed thresholds: a rule with a `period` counts its matches over fixed windows, across log
//! files and invocations, and alerts once per window that reaches its `threshold` — what a
//! CloudWatch metric alarm on a metric filter does ("≥ 5 failed console sign-ins in 5 minutes").
//!
//! - Windows are aligned like a metric alarm's periods: a window starts at
//!   `floor(t / period) * period` (Unix seconds) and lasts `period` seconds.
//! - A match is placed by its own `eventTime`, not by when its file arrived: a file holds about
//!   5–15 minutes of events and may straddle windows, so one file can add to several windows.
//! - Counters are per rule, account (`recipientAccountId`, else the file's account) and region
//!   (`awsRegion`, else the file's region).
//! - A match without a readable `eventTime` (CloudTrail always writes one) cannot be placed: it
//!   is counted as undated, logged and left out; so are matches beyond
//!   [`MAX_WINDOWS_PER_RULE_AND_FILE`] distinct windows of one file (memory stays bounded).
//!
//! This module is pure: [`WindowedMatches`] is what one file contributes (filled by
//! [`scan_log_file`](super::scan::scan_log_file)), [`window_alert`] is the alert. Adding to the
//! counters (the state table, once per file version) and deciding when to publish is the
//! alerter's (`functions/alerter/src/window.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::event_summary::{EventSummary, one_line_capped};
use super::message::{
    AlertAttributes, AlertKind, AlertMessage, MachineBody, SCHEMA_VERSION, assemble,
    json_string_len,
};
use super::rule_alert::FileContext;
use super::subject::{alert_subject, events_phrase};
use crate::records::parse_event_time;
use crate::rules::Rule;

/// Sample events a window keeps for its alert (the state table holds at most this many).
pub const MAX_WINDOW_SAMPLES: usize = 10;
/// Distinct windows one file may add to per rule; a CloudTrail file spans minutes, so this is
/// reached only by a file that is not one (matches beyond it are counted as overflow).
pub const MAX_WINDOWS_PER_RULE_AND_FILE: usize = 256;

/// Where a match is counted: account, region and window start (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowSlot {
    /// `recipientAccountId`, or empty when the record has none (the file's account is used).
    pub account: String,
    /// `awsRegion`, or empty when the record has none (the file's region is used).
    pub region: String,
    /// A multiple of the period.
    pub window_start: i64,
}

/// One file's matches in one window.
#[derive(Debug, Clone, Default)]
pub struct SlotMatches {
    /// Matches of the file in the window.
    pub count: u64,
    /// The first matches in file order, at most [`MAX_WINDOW_SAMPLES`].
    pub samples: Vec<EventSummary>,
}

/// One windowed rule's matches in one file, placed in their windows.
#[derive(Debug, Clone, Default)]
pub struct WindowedMatches {
    /// Matches per window, in window order.
    pub slots: BTreeMap<WindowSlot, SlotMatches>,
    /// Matches without a readable `eventTime`: not counted in any window.
    pub undated: u64,
    /// Matches beyond [`MAX_WINDOWS_PER_RULE_AND_FILE`] windows: not counted in any window.
    pub overflow: u64,
}

/// The fields that place a match; read leniently (a field of another type counts as missing).
#[derive(Deserialize)]
struct Placement<'a> {
    #[serde(rename = "eventTime", borrow)]
    event_time: Option<&'a RawValue>,
    #[serde(rename = "recipientAccountId", borrow)]
    account: Option<&'a RawValue>,
    #[serde(rename = "awsRegion", borrow)]
    region: Option<&'a RawValue>,
}

fn string_of(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?.get();
    raw.starts_with('"')
        .then(|| serde_json::from_str::<String>(raw).ok())
        .flatten()
}

/// The start of the window of `period` seconds that holds `unix_secs`.
pub fn window_start(unix_secs: i64, period: u64) -> i64 {
    let period = i64::try_from(period.max(1)).unwrap_or(i64::MAX);
    unix_secs - unix_secs.rem_euclid(period)
}

impl WindowedMatches {
    /// Places one matching record (its JSON text) in its window of `period` seconds.
    pub fn add(&mut self, record_json: &str, period: u64) {
        let placement = serde_json::from_str::<Placement<'_>>(record_json).ok();
        let Some((placement, event_ms)) = placement.and_then(|p| {
            let time = string_of(p.event_time)?;
            let ms = parse_event_time(time.as_bytes())?;
            Some((p, ms))
        }) else {
            self.undated += 1;
            return;
        };
        let slot = WindowSlot {
            account: string_of(placement.account).unwrap_or_default(),
            region: string_of(placement.region).unwrap_or_default(),
            window_start: window_start(event_ms.div_euclid(1000), period),
        };
        if !self.slots.contains_key(&slot) && self.slots.len() >= MAX_WINDOWS_PER_RULE_AND_FILE {
            self.overflow += 1;
            return;
        }
        let m = self.slots.entry(slot).or_default();
        m.count += 1;
        if m.samples.len() < MAX_WINDOW_SAMPLES {
            m.samples.push(EventSummary::from_record(record_json));
        }
    }

    /// Matches placed in a window.
    pub fn placed(&self) -> u64 {
        self.slots.values().map(|m| m.count).sum()
    }

    /// What the file adds to each window: a slot without account or region takes the file's,
    /// and slots that then name the same window are merged.
    pub fn contributions(&self, period: u64, file: &FileContext) -> Vec<Contribution> {
        let mut merged: BTreeMap<WindowSlot, Contribution> = BTreeMap::new();
        let uri = file.uri();
        for (slot, m) in &self.slots {
            let or_file = |v: &str, f: &str| if v.is_empty() { f } else { v }.to_owned();
            let resolved = WindowSlot {
                account: or_file(&slot.account, &file.account),
                region: or_file(&slot.region, &file.region),
                window_start: slot.window_start,
            };
            let c = merged
                .entry(resolved.clone())
                .or_insert_with(|| Contribution {
                    account: resolved.account,
                    region: resolved.region,
                    period,
                    window_start: resolved.window_start,
                    count: 0,
                    samples: Vec::new(),
                });
            c.count += m.count;
            for s in &m.samples {
                if c.samples.len() < MAX_WINDOW_SAMPLES {
                    c.samples.push(WindowSample::new(s, &uri));
                }
            }
        }
        merged.into_values().collect()
    }
}

/// What one file adds to one window of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// The window's account (the record's `recipientAccountId`, else the file's).
    pub account: String,
    /// The window's region (the record's `awsRegion`, else the file's).
    pub region: String,
    /// The rule's period, seconds.
    pub period: u64,
    /// Start of the window, Unix seconds, a multiple of `period`.
    pub window_start: i64,
    /// Matches of the file in the window (all of them).
    pub count: u64,
    /// The first of them, at most [`MAX_WINDOW_SAMPLES`].
    pub samples: Vec<WindowSample>,
}

impl Contribution {
    /// The window's end (exclusive), Unix seconds.
    pub fn window_end(&self) -> i64 {
        self.window_start
            .saturating_add(i64::try_from(self.period).unwrap_or(i64::MAX))
    }
}

/// One sample event as a window keeps it (in the state table, as compact JSON): the triage
/// fields of [`EventSummary`] and the log file it came from (the window spans files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WindowSample {
    /// `eventTime`, as written.
    #[serde(rename = "eventTime", default)]
    pub event_time: Option<String>,
    /// `eventSource eventName`.
    #[serde(default)]
    pub action: Option<String>,
    /// The principal's type and ARN (see [`EventSummary::principal_line`]).
    #[serde(default)]
    pub principal: Option<String>,
    /// `sourceIPAddress`.
    #[serde(rename = "sourceIPAddress", default)]
    pub source_ip: Option<String>,
    /// `userAgent`.
    #[serde(rename = "userAgent", default)]
    pub user_agent: Option<String>,
    /// `errorCode: errorMessage`.
    #[serde(default)]
    pub error: Option<String>,
    /// `eventID`, to look the event up.
    #[serde(rename = "eventID", default)]
    pub event_id: Option<String>,
    /// `s3://bucket/key` of the log file holding the event.
    #[serde(rename = "logFile", default)]
    pub log_file: String,
}

/// Longest text kept from a stored sample that is not a [`WindowSample`] (never written by us).
const MAX_FOREIGN_SAMPLE_CHARS: usize = 512;

impl WindowSample {
    /// The sample of one summarised match of `log_file` (`s3://…`).
    pub fn new(s: &EventSummary, log_file: &str) -> Self {
        Self {
            event_time: s.event_time.clone(),
            action: s.action_line(),
            principal: s.principal_line(),
            source_ip: s.source_ip.clone(),
            user_agent: s.user_agent.clone(),
            error: s.error_line(),
            event_id: s.event_id.clone(),
            log_file: one_line_capped(log_file, 2048),
        }
    }

    /// The stored form: compact JSON (each field is already one line of at most 512 characters).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored sample; text that is not one is shown as the action, capped, never an error.
    pub fn from_stored(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| Self {
            action: Some(one_line_capped(text, MAX_FOREIGN_SAMPLE_CHARS)),
            ..Self::default()
        })
    }
}

/// A short stable id of one object version, the window's contribution id: a retried or
/// re-delivered file adds to a window once. The first 128 bits of SHA-256 over
/// `bucket/key#version`, in hex.
pub fn contribution_id(bucket: &str, key: &str, version: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{bucket}/{key}#{version}").as_bytes(),
    );
    hex::encode(&digest.as_ref()[..16])
}

/// The window alert's id for exactly-once publishing: `RULE@WINDOW_START`.
pub fn window_alert_id(rule_id: &str, window_start: i64) -> String {
    format!("{rule_id}@{window_start}")
}

/// `5 min`, `10 s`, `2 h`, `1 d`: a period as the subject says it.
pub fn period_phrase(period: u64) -> String {
    match period {
        p if p.is_multiple_of(86_400) => format!("{} d", p / 86_400),
        p if p.is_multiple_of(3600) => format!("{} h", p / 3600),
        p if p.is_multiple_of(60) => format!("{} min", p / 60),
        p => format!("{p} s"),
    }
}

/// `2023-07-10T12:00:00Z`; out of range times as Unix seconds.
fn utc(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix_secs} (Unix seconds)"))
}

/// The window that reached its threshold, as the alert reports it.
#[derive(Debug, Clone, Copy)]
pub struct WindowReport<'a> {
    /// The window's account.
    pub account: &'a str,
    /// The window's region.
    pub region: &'a str,
    /// The window's length, seconds.
    pub period: u64,
    /// Start of the window, Unix seconds.
    pub window_start: i64,
    /// The window's count when the alert was built (at least the threshold).
    pub count: u64,
    /// The window's samples, oldest contribution first.
    pub samples: &'a [WindowSample],
    /// The log file whose matches were being added when the alert was built (the one that
    /// reached the threshold, or a retry of one already counted).
    pub log_file: &'a FileContext,
}

impl WindowReport<'_> {
    fn window_end(&self) -> i64 {
        self.window_start
            .saturating_add(i64::try_from(self.period).unwrap_or(i64::MAX))
    }
}

/// Builds the alert for `rule` (compiled, with a period) whose window reached its threshold.
pub fn window_alert(rule: &Rule, w: &WindowReport<'_>) -> AlertMessage {
    let period = rule.period.unwrap_or(w.period);
    let what = format!("{} in {}", events_phrase(w.count), period_phrase(period));
    let subject = alert_subject(
        rule.severity.as_str(),
        &rule.id,
        &rule.title,
        &what,
        w.account,
        w.region,
    );
    let text = render_text(&subject, rule, w);
    let attributes = AlertAttributes {
        rule_id: rule.id.clone(),
        severity: rule.severity.as_str().to_owned(),
        account: w.account.to_owned(),
        region: w.region.to_owned(),
        finding_codes: None,
    };
    assemble(
        AlertKind::RuleWindow,
        subject,
        &text,
        &WindowJson { rule, w },
        attributes,
    )
}

fn render_text(subject: &str, rule: &Rule, w: &WindowReport<'_>) -> String {
    let mut t = String::with_capacity(2048 + w.samples.len() * 1024);
    let _ = writeln!(t, "{subject}\n");
    let _ = writeln!(t, "Rule:      {} ({})", rule.id, rule.severity);
    let _ = writeln!(t, "Title:     {}", one_line_capped(&rule.title, 1024));
    if let Some(d) = rule.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(t, "Why:       {}", one_line_capped(d, 4096));
    }
    let _ = writeln!(t, "Account:   {}", w.account);
    let _ = writeln!(t, "Region:    {}", w.region);
    let _ = writeln!(
        t,
        "Window:    {} to {} UTC ({} s, events placed by their eventTime)",
        utc(w.window_start),
        utc(w.window_end()),
        w.period
    );
    let _ = writeln!(
        t,
        "Matches:   {} in this window, across log files (alert threshold: {} in {} s)",
        w.count, rule.threshold, w.period
    );
    // Usually the file whose matches reached the threshold; after a failed publish, possibly
    // a retried file counted earlier (the totals cannot tell which), hence the neutral label.
    let _ = writeln!(t, "Alerted on log file: {}", w.log_file.uri());
    if !w.samples.is_empty() {
        let _ = writeln!(
            t,
            "\nSample events ({} of {}, the first kept for this window):",
            w.samples.len(),
            w.count
        );
    }
    for (n, s) in w.samples.iter().enumerate() {
        render_sample(&mut t, n + 1, s);
    }
    let _ = writeln!(
        t,
        "\n--\nSent by trailwatch alerter: one alert per window that reaches the threshold. \
         Matches added to this window later are counted but not alerted again."
    );
    t
}

fn render_sample(t: &mut String, n: usize, s: &WindowSample) {
    let when = s.event_time.as_deref().unwrap_or("(no eventTime)");
    let what = s.action.as_deref().unwrap_or("(no eventSource/eventName)");
    let _ = writeln!(t, "\n{n}. {when}  {what}");
    let field = |t: &mut String, label: &str, value: &Option<String>| {
        if let Some(v) = value {
            let _ = writeln!(t, "   {label:<11} {v}");
        }
    };
    field(t, "principal:", &s.principal);
    field(t, "source IP:", &s.source_ip);
    field(t, "user agent:", &s.user_agent);
    field(t, "error:", &s.error);
    field(t, "eventID:", &s.event_id);
    if !s.log_file.is_empty() {
        let _ = writeln!(t, "   {:<11} {}", "log file:", s.log_file);
    }
}

/// The machine-readable document for `sqs`, `lambda` and `https` subscribers.
struct WindowJson<'a> {
    rule: &'a Rule,
    w: &'a WindowReport<'a>,
}

#[derive(Serialize)]
struct WindowDoc<'a> {
    schema: u32,
    source: &'static str,
    kind: &'static str,
    rule: WindowDocRule<'a>,
    account: &'a str,
    region: &'a str,
    window: WindowDocWindow,
    match_count: u64,
    log_file: WindowDocFile<'a>,
    samples_included: usize,
    samples: &'a [WindowSample],
}

#[derive(Serialize)]
struct WindowDocRule<'a> {
    id: &'a str,
    title: &'a str,
    description: Option<&'a str>,
    severity: &'a str,
    threshold: u64,
    period: u64,
}

#[derive(Serialize)]
struct WindowDocWindow {
    start: String,
    end: String,
    start_unix: i64,
    period_secs: u64,
}

#[derive(Serialize)]
struct WindowDocFile<'a> {
    bucket: &'a str,
    key: &'a str,
    uri: String,
}

impl WindowJson<'_> {
    fn doc(&self, samples: usize) -> WindowDoc<'_> {
        let w = self.w;
        let shown = &w.samples[..samples.min(w.samples.len())];
        WindowDoc {
            schema: SCHEMA_VERSION,
            source: "trailwatch",
            kind: "rule_window",
            rule: WindowDocRule {
                id: &self.rule.id,
                title: &self.rule.title,
                description: self.rule.description.as_deref(),
                severity: self.rule.severity.as_str(),
                threshold: self.rule.threshold,
                period: w.period,
            },
            account: w.account,
            region: w.region,
            window: WindowDocWindow {
                start: utc(w.window_start),
                end: utc(w.window_end()),
                start_unix: w.window_start,
                period_secs: w.period,
            },
            match_count: w.count,
            log_file: WindowDocFile {
                bucket: &w.log_file.bucket,
                key: &w.log_file.key,
                uri: w.log_file.uri(),
            },
            samples_included: shown.len(),
            samples: shown,
        }
    }
}

impl MachineBody for WindowJson<'_> {
    fn render(&self, max_escaped_bytes: usize) -> String {
        // Samples are few and each is bounded (one-line fields of at most 512 characters), so
        // dropping them from the end until the document fits costs a few renders at most.
        for n in (0..=self.w.samples.len()).rev() {
            let doc = serde_json::to_string(&self.doc(n)).unwrap_or_default();
            if json_string_len(&doc) <= max_escaped_bytes {
                return doc;
            }
        }
        // Even without samples the document is too large (a huge title or description): send
        // the counts and identifiers only.
        let w = self.w;
        let minimal = serde_json::json!({
            "schema": SCHEMA_VERSION,
            "source": "trailwatch",
            "kind": "rule_window",
            "rule": {"id": self.rule.id, "severity": self.rule.severity.as_str(),
                     "threshold": self.rule.threshold, "period": w.period},
            "account": w.account,
            "region": w.region,
            "window": {"start_unix": w.window_start, "period_secs": w.period},
            "match_count": w.count,
            "samples_included": 0,
            "truncated": true,
        })
        .to_string();
        if json_string_len(&minimal) <= max_escaped_bytes {
            minimal
        } else {
            format!(
                r#"{{"kind":"rule_window","schema":{SCHEMA_VERSION},"source":"trailwatch","match_count":{},"truncated":true}}"#,
                w.count
            )
        }
    }
}

/// Windows counted in memory over the files given, for back-testing windowed rules against
/// history (`trailwatch scan`): the alerter's decision (a window alerts on the file whose matches
/// bring it to the threshold) without the state table. Each file is assumed given once.
#[derive(Debug, Default)]
pub struct WindowBacktest {
    /// Count and samples per rule id and window.
    windows: BTreeMap<(String, WindowSlot), (u64, Vec<WindowSample>)>,
}

impl WindowBacktest {
    /// Adds the windowed matches of one scanned file; returns the window alerts it raises.
    pub fn add_file(
        &mut self,
        scan: &super::scan::FileScan,
        rules: &crate::rules::config::LoadedRules,
        file: &FileContext,
    ) -> Vec<AlertMessage> {
        let mut alerts = Vec::new();
        for (rule, windowed) in rules.rules().iter().zip(&scan.windowed) {
            let Some(period) = rule.period else { continue };
            for c in windowed.contributions(period, file) {
                let slot = WindowSlot {
                    account: c.account.clone(),
                    region: c.region.clone(),
                    window_start: c.window_start,
                };
                let (count, samples) = self.windows.entry((rule.id.clone(), slot)).or_default();
                let before = *count;
                *count += c.count;
                let room = MAX_WINDOW_SAMPLES.saturating_sub(samples.len());
                samples.extend(c.samples.iter().take(room).cloned());
                if before < rule.threshold && rule.threshold <= *count {
                    alerts.push(window_alert(
                        rule,
                        &WindowReport {
                            account: &c.account,
                            region: &c.region,
                            period,
                            window_start: c.window_start,
                            count: *count,
                            samples,
                            log_file: file,
                        },
                    ));
                }
            }
        }
        alerts
    }
}

#[cfg(test)]
#[path = "window_alert_tests.rs"]
mod tests;
