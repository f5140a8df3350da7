//! Running the rules over one CloudTrail log file (blocking; the function calls it inside
//! `spawn_blocking`, `trailwatch scan` directly), and turning the result into alerts.
//!
//! Each record is parsed once by the compiled rules; a rule's matches are counted, and the first
//! `MAX_EVENTS_PER_ALERT` are kept for the alert. Memory stays bounded whatever the file holds:
//! kept records are capped in number, in size each
//! ([`MAX_EMBEDDED_RECORD_BYTES`](super::rule_alert::MAX_EMBEDDED_RECORD_BYTES)) and in total
//! per rule ([`MAX_KEPT_BYTES_PER_RULE`]); beyond that only a short summary is kept.

use std::io::Read;

use super::event_summary::EventSummary;
use super::message::AlertMessage;
use super::rule_alert::{FileContext, FileStats, MatchSample, RuleMatches, rule_alert};
use super::window_alert::WindowedMatches;
use crate::records::{RecordReader, RecordsError};
use crate::rules::config::LoadedRules;

/// Verbatim record bytes kept per rule and file; an SNS message cannot carry more anyway.
pub const MAX_KEPT_BYTES_PER_RULE: usize = 512 * 1024;

/// What one file produced.
#[derive(Debug, Default)]
pub struct FileScan {
    /// How many records were read from the file and evaluated against every rule.
    pub records_evaluated: u64,
    /// Indexed like `LoadedRules::rules()`.
    pub per_rule: Vec<RuleMatches>,
    /// Rules with a `period`: their matches placed in windows by `eventTime`
    /// ([`super::window_alert`]); empty for the other rules. Indexed like `per_rule`.
    pub windowed: Vec<WindowedMatches>,
    /// Why reading stopped before the end of the file, if it did. The counts cover the records
    /// read before.
    pub read_error: Option<RecordsError>,
    /// `recipientAccountId` and `awsRegion` of the first record, for files whose key does not
    /// say (local files given to `trailwatch scan`).
    pub first_record_origin: Option<(Option<String>, Option<String>)>,
}

impl FileScan {
    /// Matches per rule, summed over all rules.
    pub fn total_matches(&self) -> u64 {
        self.per_rule.iter().map(|m| m.count).sum()
    }
}

/// Reads every record of `reader` (see [`RecordReader::open`]) and evaluates every rule on it.
pub fn scan_log_file<R: Read>(
    mut reader: RecordReader<R>,
    rules: &LoadedRules,
    max_events: usize,
) -> FileScan {
    let mut scan = FileScan {
        per_rule: vec![RuleMatches::default(); rules.rules().len()],
        windowed: vec![WindowedMatches::default(); rules.rules().len()],
        ..FileScan::default()
    };
    let periods: Vec<Option<u64>> = rules.rules().iter().map(|r| r.period).collect();
    let mut kept_bytes = vec![0usize; rules.rules().len()];
    let mut matched: Vec<usize> = Vec::with_capacity(rules.rules().len());
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                scan.read_error = Some(e);
                break;
            }
        };
        scan.records_evaluated += 1;
        if scan.first_record_origin.is_none() {
            let s = EventSummary::from_record(record.json);
            scan.first_record_origin = Some((s.recipient_account_id, s.aws_region));
        }
        matched.clear();
        rules.compiled.evaluate(record.json, &mut matched);
        for &i in &matched {
            let Some(m) = scan.per_rule.get_mut(i) else {
                continue;
            };
            m.count += 1;
            if let (Some(Some(period)), Some(w)) = (periods.get(i), scan.windowed.get_mut(i)) {
                w.add(record.json, *period);
            }
            if m.samples.len() < max_events {
                let sample = if kept_bytes[i] + record.json.len() <= MAX_KEPT_BYTES_PER_RULE {
                    MatchSample::from_record(record.json)
                } else {
                    MatchSample::summary_only(record.json)
                };
                kept_bytes[i] += sample.raw.as_ref().map_or(0, |r| r.get().len());
                m.samples.push(sample);
            }
        }
    }
    scan
}

/// One alert to publish, with the rule it belongs to.
#[derive(Debug, Clone)]
pub struct PlannedAlert {
    /// Position of the rule among the loaded rules: the same index as in [`FileScan::per_rule`].
    pub rule_index: usize,
    /// The alert, ready to publish.
    pub message: AlertMessage,
}

/// The alerts `scan` raises: one per rule without a period whose matches reached its threshold.
/// A rule with a period never alerts per file: its threshold is over a window, across files
/// (`functions/alerter/src/window.rs`).
pub fn plan_alerts(scan: &FileScan, rules: &LoadedRules, file: &FileContext) -> Vec<PlannedAlert> {
    let read_error = scan.read_error.as_ref().map(ToString::to_string);
    let stats = FileStats {
        records_evaluated: scan.records_evaluated,
        read_error: read_error.as_deref(),
    };
    rules
        .rules()
        .iter()
        .zip(&scan.per_rule)
        .enumerate()
        .filter(|(_, (rule, m))| rule.period.is_none() && m.count > 0 && m.count >= rule.threshold)
        .map(|(i, (rule, m))| PlannedAlert {
            rule_index: i,
            message: rule_alert(rule, file, m, stats),
        })
        .collect()
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
