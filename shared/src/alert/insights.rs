//! CloudTrail Insights files (`…/CloudTrail-Insight/…`): one alert per insight that starts.
//!
//! CloudTrail writes two records per insight, `Start` and `End`, sharing a `sharedEventID`. The
//! start is the news (unusual API call or error rate right now); the end only closes it, so it
//! is counted, not alerted. Trails write the state as `insightDetails.state`; event data stores
//! as `insightState` — both are read.

use std::fmt::Write as _;
use std::io::Read;

use serde_json::{Value, json};

use super::ascii::fold_to_ascii_line;
use super::event_summary::one_line_capped;
use super::message::{
    AlertAttributes, AlertKind, AlertMessage, MachineBody, SCHEMA_VERSION, assemble,
    json_string_len,
};
use super::rule_alert::FileContext;
use super::subject::fit_subject;
use crate::records::{RecordReader, RecordsError};

/// Insights flag anomalies, not confirmed misuse: MEDIUM, so that "page on HIGH/CRITICAL"
/// filter policies do not page on them while e-mail subscribers still see them.
pub const INSIGHT_SEVERITY: &str = "MEDIUM";

/// What one Insights file produced.
#[derive(Debug, Default)]
pub struct InsightScan {
    /// Records read from the file (`Start`, `End` and anything else).
    pub records_evaluated: u64,
    /// One alert per `Start` insight, in file order.
    pub alerts: Vec<AlertMessage>,
    /// `End` records (and records that are not insights), counted only.
    pub not_alerted: u64,
    /// Why reading stopped before the end of the file, if it did; the alerts cover the records read
    /// before.
    pub read_error: Option<RecordsError>,
}

/// Reads an Insights file (see [`RecordReader::open`]) and builds an alert for every insight
/// that starts.
pub fn scan_insights_file<R: Read>(mut reader: RecordReader<R>, file: &FileContext) -> InsightScan {
    let mut scan = InsightScan::default();
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                scan.records_evaluated += 1;
                match insight_alert(record.json, file) {
                    Some(alert) => scan.alerts.push(alert),
                    None => scan.not_alerted += 1,
                }
            }
            Ok(None) => break,
            Err(e) => {
                scan.read_error = Some(e);
                break;
            }
        }
    }
    scan
}

/// The alert for one Insights record, or `None` when it is not a starting insight.
pub fn insight_alert(record_json: &str, file: &FileContext) -> Option<AlertMessage> {
    let record: Value = serde_json::from_str(record_json).ok()?;
    let details = record.get("insightDetails")?;
    let state = details
        .get("state")
        .or_else(|| record.get("insightState"))
        .and_then(Value::as_str)?;
    if !state.eq_ignore_ascii_case("Start") {
        return None;
    }
    let insight = Insight::read(&record, details);
    let rate_word = if insight.insight_type.contains("Error") {
        "error rate"
    } else {
        "call rate"
    };
    let head = format!("[{INSIGHT_SEVERITY}] Insight");
    let unit = if rate_word == "error rate" {
        "errors"
    } else {
        "calls"
    };
    let title = format!("{} {unit}", insight.event_name);
    let tail = format!(
        " {}/min (baseline {}) in {} {}",
        rate(insight.observed),
        rate(insight.baseline),
        fold_to_ascii_line(&file.account),
        fold_to_ascii_line(&file.region)
    );
    let subject = fit_subject(
        &fold_to_ascii_line(&head),
        &fold_to_ascii_line(&title),
        &tail,
    );
    let text = render_text(&subject, &insight, file, rate_word);
    let machine = InsightJson {
        insight: &insight,
        file,
        record: &record,
    };
    let attributes = AlertAttributes {
        rule_id: format!("CloudTrailInsight:{}", insight.insight_type),
        severity: INSIGHT_SEVERITY.to_owned(),
        account: file.account.clone(),
        region: file.region.clone(),
        finding_codes: None,
    };
    Some(assemble(
        AlertKind::Insight,
        subject,
        &text,
        &machine,
        attributes,
    ))
}

/// One `attributions` entry: the attribute (`userIdentityArn`, `userAgent`, `errorCode`) and its
/// top values with their per-minute averages during the unusual activity.
type Attribution = (String, Vec<(String, Option<f64>)>);

struct Insight {
    insight_type: String,
    event_source: String,
    event_name: String,
    error_code: Option<String>,
    observed: Option<f64>,
    baseline: Option<f64>,
    insight_duration: Option<f64>,
    baseline_duration: Option<f64>,
    event_time: Option<String>,
    event_id: Option<String>,
    shared_event_id: Option<String>,
    /// `(attribute, [(value, average)])` for the unusual period, as CloudTrail lists them.
    attributions: Vec<Attribution>,
}

impl Insight {
    fn read(record: &Value, details: &Value) -> Self {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(|t| one_line_capped(t, 256));
        let stats = details.pointer("/insightContext/statistics");
        let num = |path: &str| stats.and_then(|s| s.pointer(path)).and_then(Value::as_f64);
        let attributions = details
            .pointer("/insightContext/attributions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|a| {
                        let name = a.get("attribute")?.as_str()?.to_owned();
                        let values = a
                            .get("insight")?
                            .as_array()?
                            .iter()
                            .take(5)
                            .map(|v| {
                                let value = match v.get("value") {
                                    Some(Value::String(t)) => one_line_capped(t, 256),
                                    Some(other) => other.to_string(),
                                    None => "?".to_owned(),
                                };
                                (value, v.get("average").and_then(Value::as_f64))
                            })
                            .collect();
                        Some((name, values))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            insight_type: s(details.get("insightType"))
                .unwrap_or_else(|| "UnknownInsight".to_owned()),
            event_source: s(details.get("eventSource")).unwrap_or_default(),
            event_name: s(details.get("eventName")).unwrap_or_else(|| "(unknown API)".to_owned()),
            error_code: s(details.get("errorCode")),
            observed: num("/insight/average"),
            baseline: num("/baseline/average"),
            insight_duration: num("/insightDuration"),
            baseline_duration: num("/baselineDuration"),
            event_time: s(record.get("eventTime")),
            event_id: s(record.get("eventID")),
            shared_event_id: s(record.get("sharedEventID")),
            attributions,
        }
    }
}

/// A per-minute rate for people: few digits, no exponent for ordinary values.
fn rate(value: Option<f64>) -> String {
    match value {
        None => "?".to_owned(),
        Some(0.0) => "0".to_owned(),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 0.01 => trim_zeros(format!("{v:.3}")),
        Some(v) => format!("{v:.2e}"),
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn render_text(subject: &str, i: &Insight, file: &FileContext, rate_word: &str) -> String {
    let unit = if rate_word == "error rate" {
        "errors"
    } else {
        "calls"
    };
    let mut t = String::with_capacity(2048);
    let _ = writeln!(t, "{subject}\n");
    let _ = writeln!(
        t,
        "CloudTrail Insights detected an unusual API {rate_word}.\n"
    );
    let _ = writeln!(t, "Insight:   {} (start)", i.insight_type);
    let _ = writeln!(t, "API:       {} {}", i.event_source, i.event_name);
    if let Some(code) = &i.error_code {
        let _ = writeln!(t, "Error code: {code}");
    }
    let _ = writeln!(
        t,
        "Observed:  {} {unit} per minute (start of the unusual activity)",
        rate(i.observed)
    );
    let baseline_window = i
        .baseline_duration
        .map(|m| format!(" over the preceding {m:.0} minutes"))
        .unwrap_or_default();
    let _ = writeln!(
        t,
        "Baseline:  {} {unit} per minute{baseline_window}",
        rate(i.baseline)
    );
    if let (Some(o), Some(b)) = (i.observed, i.baseline)
        && b > 0.0
    {
        let _ = writeln!(t, "Ratio:     {:.0}x the baseline", o / b);
    }
    if let Some(d) = i.insight_duration {
        let _ = writeln!(t, "Duration:  {d:.0} minute(s) so far");
    }
    if let Some(time) = &i.event_time {
        let _ = writeln!(t, "Started:   {time}");
    }
    let _ = writeln!(t, "Account:   {}", file.account);
    let _ = writeln!(t, "Region:    {}", file.region);
    let _ = writeln!(t, "Insights file: {}", file.uri());
    if let Some(id) = &i.shared_event_id {
        let _ = writeln!(
            t,
            "sharedEventID: {id} (the insight's End record carries the same id)"
        );
    }
    if let Some(id) = &i.event_id {
        let _ = writeln!(t, "eventID:   {id}");
    }
    if !i.attributions.is_empty() {
        let _ = writeln!(t, "\nTop contributors during the unusual activity:");
        for (attribute, values) in &i.attributions {
            let list: Vec<String> = values
                .iter()
                .map(|(v, avg)| format!("{v} ({}/min)", rate(*avg)))
                .collect();
            let _ = writeln!(t, "  {attribute}: {}", list.join(", "));
        }
    }
    let _ = writeln!(
        t,
        "\n--\nSent by trailwatch alerter. Each alert is sent once per file version: a retried or \
         repeated delivery of the file does not send it again (only a crash between the publish \
         and its record in the state table can)."
    );
    t
}

struct InsightJson<'a> {
    insight: &'a Insight,
    file: &'a FileContext,
    record: &'a Value,
}

impl MachineBody for InsightJson<'_> {
    fn render(&self, max_escaped_bytes: usize) -> String {
        let i = self.insight;
        let mut doc = json!({
            "schema": SCHEMA_VERSION,
            "source": "trailwatch",
            "kind": "insight",
            "insight_type": i.insight_type,
            "state": "Start",
            "event_source": i.event_source,
            "event_name": i.event_name,
            "error_code": i.error_code,
            "insight_average": i.observed,
            "baseline_average": i.baseline,
            "insight_duration_minutes": i.insight_duration,
            "baseline_duration_minutes": i.baseline_duration,
            "account": self.file.account,
            "region": self.file.region,
            "insights_file": {"bucket": self.file.bucket, "key": self.file.key, "uri": self.file.uri()},
            "event_id": i.event_id,
            "shared_event_id": i.shared_event_id,
            "record": self.record,
        });
        let full = doc.to_string();
        if json_string_len(&full) <= max_escaped_bytes {
            return full;
        }
        // Never the case for real insights (a few KB); keep the figures, drop the record.
        doc["record"] = Value::Null;
        doc["record_omitted"] = Value::Bool(true);
        doc.to_string()
    }
}

#[cfg(test)]
#[path = "insights_tests.rs"]
mod tests;
