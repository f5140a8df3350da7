//! The stable id of each alert a file raises: what the state table records once it is published,
//! so that a retry or a repeated delivery of the same file version does not publish it again.
//!
//! An id must be the same on every attempt at the file and must not depend on how much of the
//! file an attempt read (a read error part-way leaves a shorter scan): a rule alert is named by
//! its rule alone, an Insights alert by the insight's `sharedEventID` (or `eventID`) and state.
//! Consequence, accepted: when a first attempt read only part of a file and published a rule's
//! alert (marked partial), a retry that reads further does not publish that rule again with the
//! longer event list; the alerts of rules that reach their threshold only in the rest are
//! published, as are insights that start there.

use serde_json::Value;
use trailwatch_shared::alert::AlertMessage;

/// `rule:<rule id>`: one alert per rule and file.
pub fn rule_alert_id(rule_id: &str) -> String {
    format!("rule:{rule_id}")
}

/// `insight:<sharedEventID>:Start` (else the `eventID`, else the insight's position among the
/// file's starting insights), from the alert's machine-readable body.
pub fn insight_alert_id(alert: &AlertMessage, position: usize) -> String {
    let body: Value = serde_json::from_str(&alert.machine_json).unwrap_or(Value::Null);
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let state = text("state").unwrap_or("Start");
    match text("shared_event_id").or_else(|| text("event_id")) {
        Some(id) => format!("insight:{id}:{state}"),
        None => format!("insight:#{position}:{state}"),
    }
}

/// Makes ids unique within one file by suffixing repeats (`…#2`, `…#3`): two records that share
/// an id are both alerted, and the suffix depends only on the records before, so it is stable.
pub fn disambiguate(ids: &mut [String]) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for id in ids.iter_mut() {
        let n = seen.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            id.push_str(&format!("#{n}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwatch_shared::alert::{AlertAttributes, AlertKind};

    fn insight(body: Value) -> AlertMessage {
        AlertMessage {
            kind: AlertKind::Insight,
            subject: "s".into(),
            text: String::new(),
            machine_json: body.to_string(),
            message: "{}".into(),
            attributes: AlertAttributes {
                rule_id: "CloudTrailInsight:ApiCallRateInsight".into(),
                severity: "MEDIUM".into(),
                account: "1".into(),
                region: "r".into(),
                finding_codes: None,
            },
            text_truncated: false,
        }
    }

    #[test]
    fn an_insight_is_named_by_its_shared_event_id_else_its_event_id_else_its_position() {
        let full =
            serde_json::json!({"state": "Start", "shared_event_id": "s-1", "event_id": "e-1"});
        assert_eq!(insight_alert_id(&insight(full), 0), "insight:s-1:Start");
        let no_shared =
            serde_json::json!({"state": "Start", "shared_event_id": null, "event_id": "e-1"});
        assert_eq!(
            insight_alert_id(&insight(no_shared), 0),
            "insight:e-1:Start"
        );
        let bare = serde_json::json!({"state": "Start"});
        assert_eq!(insight_alert_id(&insight(bare), 3), "insight:#3:Start");
        assert_eq!(
            rule_alert_id("SecurityHub:CloudWatch.5"),
            "rule:SecurityHub:CloudWatch.5"
        );
    }

    #[test]
    fn repeated_ids_get_a_stable_suffix() {
        let mut ids = vec!["a".to_owned(), "b".into(), "a".into(), "a".into()];
        disambiguate(&mut ids);
        assert_eq!(ids, ["a", "b", "a#2", "a#3"]);
    }
}
