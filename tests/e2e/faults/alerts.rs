//! Alerts as the topic published them, with an identity that says which alert it is (the same
//! alert published twice has the same identity), and the no-loss / no-duplicate check shared by
//! the alerter and the verifier.

use std::collections::BTreeMap;

use serde_json::Value;
use trailwatch_e2e::alerts::{drain_envelopes, named_topic_with_queue};
use trailwatch_e2e::faults::Exchange;

use super::harness::{CellResult, counts};

/// Which alert a published message is: its subject and what it is about (the log file and rule
/// for a rule match, the digest for a verification alert), from the machine-readable document
/// an `sqs` subscriber receives.
fn identity(subject: &str, doc: &str) -> String {
    let doc: Value = serde_json::from_str(doc).unwrap_or_default();
    let about = [
        &doc["log_file"]["key"],
        &doc["rule"]["id"],
        &doc["digest"]["key"],
        &doc["digest"],
        &doc["object"],
    ]
    .iter()
    .filter_map(|v| v.as_str())
    .collect::<Vec<_>>()
    .join(" ");
    format!("{subject} | {about}")
}

/// A topic for one cell with an SQS queue subscribed to it; returns (topic ARN, queue URL).
pub(crate) async fn topic_with_queue(cfg: &aws_config::SdkConfig, id: &str) -> (String, String) {
    let name = format!("alerts-{id}");
    named_topic_with_queue(cfg, &name, &name).await
}

/// The identities of every alert delivered to the cell's queue.
pub(crate) async fn published(cfg: &aws_config::SdkConfig, queue_url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(cfg);
    drain_envelopes(&sqs, queue_url)
        .await
        .iter()
        .map(|e| {
            identity(
                e["Subject"].as_str().unwrap_or_default(),
                e["Message"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The identity of the alert a Publish request carried (form body: `Subject=…&Message=…`).
fn published_by(e: &Exchange) -> Option<String> {
    let body = std::str::from_utf8(e.body.as_ref()?).ok()?;
    let mut subject = None;
    let mut message = None;
    for pair in body.split('&') {
        let (k, v) = pair.split_once('=')?;
        let v = form_decode(v);
        match k {
            "Subject" => subject = Some(v),
            "Message" => message = Some(v),
            _ => {}
        }
    }
    // The structured message: the `sqs` entry is what the queue receives.
    let structured: Value = serde_json::from_str(&message?).ok()?;
    Some(identity(&subject?, structured["sqs"].as_str()?))
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every expected alert published (when the delivery completed), none that the fault-free run
/// did not publish (a transient fault is never a finding), and none twice — except the one
/// whose Publish answer was lost, at most once more.
pub(crate) fn check_alerts(
    cell: &mut CellResult,
    completed: bool,
    expected: &[String],
    got: &[String],
    exchanges: &[Exchange],
) {
    let got_counts = counts(got.iter().cloned());
    let want_counts: BTreeMap<String, usize> = counts(expected.iter().cloned());
    if completed {
        let missing: Vec<&String> = want_counts
            .keys()
            .filter(|k| !got_counts.contains_key(*k))
            .collect();
        cell.check(missing.is_empty(), || {
            format!("{} alerts lost: {missing:?}", missing.len())
        });
    }
    let unexpected: Vec<&String> = got_counts
        .keys()
        .filter(|k| !want_counts.contains_key(*k))
        .collect();
    cell.check(unexpected.is_empty(), || {
        format!("alerts the fault-free run did not raise: {unexpected:?}")
    });
    let dropped: Vec<String> = exchanges
        .iter()
        .filter(|e| e.fault.is_some_and(|f| f.answer_lost()) && e.call.operation == "Publish")
        .filter_map(published_by)
        .collect();
    let mut duplicates = 0;
    let mut outside = Vec::new();
    for (id, n) in &got_counts {
        let want = want_counts.get(id).copied().unwrap_or(1);
        if *n > want {
            duplicates += n - want;
            let window = usize::from(dropped.contains(id));
            if *n > want + window {
                outside.push(id.clone());
            }
        }
    }
    if duplicates > 0 && outside.is_empty() {
        cell.note(format!(
            "{duplicates} alert published twice: the one whose Publish answer was lost (the window)"
        ));
    }
    cell.check(outside.is_empty(), || {
        format!(
            "{duplicates} duplicate alerts ({} outside the one-lost-answer window): {outside:?}",
            outside.len()
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(completed: bool, expected: &[&str], got: &[&str]) -> Vec<String> {
        let mut cell = CellResult::new("alerter", "sns Publish", "test");
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        check_alerts(&mut cell, completed, &owned(expected), &owned(got), &[]);
        cell.violations
    }

    #[test]
    fn lost_unexpected_and_duplicate_alerts_are_each_reported() {
        assert!(checked(true, &["a", "b"], &["a", "b"]).is_empty());
        assert!(checked(true, &["a", "b"], &["a"])[0].contains("1 alerts lost"));
        assert!(
            checked(false, &["a", "b"], &["a"]).is_empty(),
            "a failed delivery is in the failure queue, not lost"
        );
        assert!(checked(true, &["a"], &["a", "tamper"])[0].contains("did not raise"));
        assert!(checked(true, &["a"], &["a", "a"])[0].contains("1 duplicate alerts"));
    }

    #[test]
    fn form_values_decode() {
        assert_eq!(form_decode("a+b%2Fc%3D"), "a b/c=");
        assert_eq!(form_decode("100%"), "100%");
    }
}
