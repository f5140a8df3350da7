//! The alert document, and its SNS publish assembled within SNS's size limit.
//!
//! Every alert is published with `MessageStructure: json`: the e-mail text under `default` and
//! `email`, and one machine-readable JSON document (as a string, as SNS requires) under the
//! protocols of [`AlertKind::machine_protocols`]. The text appears twice and the JSON three or
//! four times, each escaped once more inside the envelope, and SNS counts the whole request
//! (message, subject, attributes) against 256 KiB. So the sizes here are computed on the escaped
//! form, exactly as serde_json writes it, and [`assemble`] checks the final envelope before
//! handing it out.

use serde_json::{Map, Value};

/// SNS's limit for one publish: message, subject and attributes together (256 KiB).
pub const SNS_MAX_PUBLISH_BYTES: usize = 256 * 1024;
/// Room left for what we cannot measure exactly (request framing SNS may count).
const SAFETY_MARGIN_BYTES: usize = 1024;
/// The e-mail text is cut beyond this many escaped bytes: a reader gains nothing past it, and
/// the machine-readable copies need the room.
pub const MAX_TEXT_ESCAPED_BYTES: usize = 64 * 1024;
/// `{"default":…,"email":…,"sqs":…,"lambda":…,"https":…}` without the five values' contents.
const ENVELOPE_OVERHEAD_BYTES: usize = 64;

/// The version of the machine-readable JSON body, sent as its `"schema"` field so that a
/// subscriber can tell a body it understands from a later one. Raised when a field changes
/// meaning or goes away; a new field does not raise it.
pub const SCHEMA_VERSION: u32 = 1;

/// What an alert reports; decides where the JSON body goes and what a cut text points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A rule reached its threshold in one log file.
    RuleMatch,
    /// A rule with a period reached its threshold in one window, across log files.
    RuleWindow,
    /// A CloudTrail Insights insight started.
    Insight,
    /// A digest file failed (or warned) verification.
    DigestVerdict,
    /// A CloudTrail log, digest or Insights file was deleted from the trail bucket.
    ObjectDeleted,
    /// A CloudTrail log, digest or Insights file was written over an earlier version.
    ObjectOverwritten,
}

impl AlertKind {
    /// The SNS protocols that get the JSON body instead of the e-mail text.
    pub fn machine_protocols(self) -> &'static [&'static str] {
        match self {
            AlertKind::RuleMatch | AlertKind::RuleWindow | AlertKind::Insight => {
                &["sqs", "lambda", "https"]
            }
            // Digest verdicts have always been sent as JSON to plain `http` endpoints too, and
            // rule alerts never were: subscribers rely on each, so both stay as they are.
            AlertKind::DigestVerdict => &["sqs", "lambda", "https", "http"],
            // Published by the digest verifier to the same subscribers as its verdicts.
            AlertKind::ObjectDeleted | AlertKind::ObjectOverwritten => {
                &["sqs", "lambda", "https", "http"]
            }
        }
    }

    /// Where a reader finds what a cut e-mail text left out.
    fn full_record_hint(self) -> &'static str {
        match self {
            AlertKind::RuleMatch | AlertKind::Insight => {
                "The log file named above holds every event."
            }
            AlertKind::RuleWindow => "The log files of the window hold every event.",
            AlertKind::DigestVerdict => "Run `trailwatch verify` for every finding.",
            AlertKind::ObjectDeleted | AlertKind::ObjectOverwritten => {
                "The object's versions and the bucket's data events hold the rest."
            }
        }
    }
}

/// SNS message attributes, for subscription filter policies (e.g. page only on CRITICAL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertAttributes {
    /// The rule id; for a digest verdict its most severe finding code.
    pub rule_id: String,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`: the rule's severity for a rule match,
    /// [`INSIGHT_SEVERITY`] for an insight, CRITICAL (FAIL) or MEDIUM (WARN) for a digest verdict.
    ///
    /// [`INSIGHT_SEVERITY`]: crate::alert::insights::INSIGHT_SEVERITY
    pub severity: String,
    /// The account whose activity is reported (from the object's key).
    pub account: String,
    /// The region of the log, Insights or digest file (from the object's key).
    pub region: String,
    /// Digest verdicts only: every finding code, sorted, comma separated.
    pub finding_codes: Option<String>,
}

impl AlertAttributes {
    /// `(name, value)` pairs, all of SNS data type `String`. Empty values (SNS rejects them)
    /// become `unknown`.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        fn non_empty(v: &str) -> &str {
            if v.is_empty() { "unknown" } else { v }
        }
        let mut pairs = vec![
            ("rule_id", non_empty(&self.rule_id)),
            ("severity", non_empty(&self.severity)),
            ("account", non_empty(&self.account)),
            ("region", non_empty(&self.region)),
        ];
        if let Some(codes) = &self.finding_codes {
            pairs.push(("finding_codes", non_empty(codes)));
        }
        pairs
    }

    fn wire_bytes(&self) -> usize {
        self.pairs()
            .iter()
            .map(|(k, v)| k.len() + v.len() + "String".len())
            .sum()
    }
}

/// Everything one `sns:Publish` sends.
#[derive(Debug, Clone)]
pub struct AlertMessage {
    /// What the alert reports (rule match, insight, digest verdict).
    pub kind: AlertKind,
    /// Printable ASCII, at most [`MAX_SUBJECT_CHARS`](crate::alert::subject::MAX_SUBJECT_CHARS)
    /// characters, no line breaks.
    pub subject: String,
    /// The e-mail text as sent (possibly truncated, with a note saying so).
    pub text: String,
    /// The machine-readable JSON document (with `"schema"`) as sent to the protocols of
    /// [`AlertKind::machine_protocols`].
    pub machine_json: String,
    /// The `Message` parameter: the `MessageStructure: json` envelope.
    pub message: String,
    /// The SNS message attributes subscribers filter on.
    pub attributes: AlertAttributes,
    /// Whether the text had to be cut to fit.
    pub text_truncated: bool,
}

impl AlertMessage {
    /// Bytes SNS counts for this publish (message + subject + attributes).
    pub fn publish_bytes(&self) -> usize {
        self.message.len() + self.subject.len() + self.attributes.wire_bytes()
    }
}

/// Builds the machine-readable JSON for a given budget: it must return a document whose
/// *escaped* length ([`json_string_len`]) is at most the budget, dropping detail as needed, and
/// whose `"schema"` field is [`SCHEMA_VERSION`].
pub trait MachineBody {
    /// The JSON document, cut down so that its escaped length is at most `max_escaped_bytes`.
    fn render(&self, max_escaped_bytes: usize) -> String;
}

/// Assembles the publish: cuts the text if needed, gives the rest of the budget to the
/// machine-readable copies, and verifies the total.
pub fn assemble(
    kind: AlertKind,
    subject: String,
    text: &str,
    machine: &dyn MachineBody,
    attributes: AlertAttributes,
) -> AlertMessage {
    let protocols = kind.machine_protocols();
    let budget = SNS_MAX_PUBLISH_BYTES.saturating_sub(
        subject.len() + attributes.wire_bytes() + SAFETY_MARGIN_BYTES + ENVELOPE_OVERHEAD_BYTES,
    );
    let mut text_cap = MAX_TEXT_ESCAPED_BYTES.min(budget / 4);
    loop {
        let (text_sent, text_truncated) = truncate_to_escaped_len(kind, text, text_cap);
        let text_len = json_string_len(&text_sent);
        let machine_cap = budget.saturating_sub(2 * text_len) / protocols.len();
        let machine_json = machine.render(machine_cap);
        let mut envelope = Map::new();
        envelope.insert("default".into(), Value::from(text_sent.as_str()));
        envelope.insert("email".into(), Value::from(text_sent.as_str()));
        for protocol in protocols {
            envelope.insert((*protocol).into(), Value::from(machine_json.as_str()));
        }
        let message = Value::Object(envelope).to_string();
        let out = AlertMessage {
            kind,
            subject: subject.clone(),
            text: text_sent,
            machine_json,
            message,
            attributes: attributes.clone(),
            text_truncated,
        };
        if out.publish_bytes() + SAFETY_MARGIN_BYTES <= SNS_MAX_PUBLISH_BYTES || text_cap < 1024 {
            return out;
        }
        // A MachineBody that overshot its budget: give it more room by halving the text.
        text_cap /= 2;
    }
}

/// Length of `s` as a JSON string literal, quotes included, exactly as serde_json writes it.
pub fn json_string_len(s: &str) -> usize {
    2 + s.bytes().map(escaped_byte_len).sum::<usize>()
}

fn escaped_byte_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0x00..=0x1f => 6,
        _ => 1,
    }
}

/// `text` cut so that its JSON string literal is at most `max_escaped` bytes, on a UTF-8
/// character boundary (preferring a line end), followed by a note saying what was cut and where
/// the rest is.
pub fn truncate_to_escaped_len(kind: AlertKind, text: &str, max_escaped: usize) -> (String, bool) {
    if json_string_len(text) <= max_escaped {
        return (text.to_owned(), false);
    }
    let hint = kind.full_record_hint();
    let note_for = |omitted: usize| {
        format!(
            "\n\n[trailwatch: this message was cut here to fit the 256 KiB SNS limit; {omitted} more bytes \
             were not sent. {hint}]\n"
        )
    };
    // Reserve room for the note with the widest possible number; a budget too small for the
    // note (never the case for SNS sizes) gets the bare cut.
    let reserve = json_string_len(&note_for(text.len())) - 2;
    let with_note = max_escaped >= reserve + 2;
    let room = if with_note {
        max_escaped - reserve
    } else {
        max_escaped
    };
    let mut used = 2;
    let mut cut = 0;
    for (i, c) in text.char_indices() {
        let mut buf = [0u8; 4];
        let w: usize = c.encode_utf8(&mut buf).bytes().map(escaped_byte_len).sum();
        if used + w > room {
            break;
        }
        used += w;
        cut = i + c.len_utf8();
    }
    // End on a whole line when one is close, so an event is not cut mid-field.
    if let Some(nl) = text[..cut].rfind('\n')
        && cut - nl < 2048
    {
        cut = nl;
    }
    let mut out = String::with_capacity(cut + reserve);
    out.push_str(&text[..cut]);
    if with_note {
        out.push_str(&note_for(text.len() - cut));
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(String);
    impl MachineBody for Fixed {
        fn render(&self, max: usize) -> String {
            assert!(
                json_string_len(&self.0) <= max,
                "test body larger than budget {max}"
            );
            self.0.clone()
        }
    }

    fn attrs() -> AlertAttributes {
        AlertAttributes {
            rule_id: "SecurityHub:CloudWatch.2".into(),
            severity: "MEDIUM".into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            finding_codes: None,
        }
    }

    #[test]
    fn escaped_length_matches_serde_json_exactly() {
        for s in [
            "",
            "plain",
            "quote\" back\\slash",
            "nl\ncr\rtab\t",
            "\u{0}\u{1f}\u{8}\u{c}",
            "é漢🚨",
            "\u{7f}",
        ] {
            assert_eq!(
                json_string_len(s),
                serde_json::to_string(s).unwrap().len(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn small_messages_are_sent_whole_in_every_protocol_key() {
        let m = assemble(
            AlertKind::RuleMatch,
            "[LOW] x: 1 event in a r".into(),
            "body\ntext",
            &Fixed(r#"{"a":1}"#.into()),
            attrs(),
        );
        assert!(!m.text_truncated);
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert_eq!(v["default"], "body\ntext");
        assert_eq!(v["email"], "body\ntext");
        for k in ["sqs", "lambda", "https"] {
            let inner: serde_json::Value = serde_json::from_str(v[k].as_str().unwrap()).unwrap();
            assert_eq!(inner["a"], 1);
        }
        assert_eq!(v.as_object().unwrap().len(), 5);
    }

    #[test]
    fn truncation_respects_utf8_boundaries_and_says_so() {
        // Multi-byte characters and escapes everywhere, so any byte-based cut would split one.
        let text = "é\"漢\n🚨".repeat(40_000);
        for cap in [1000usize, 4096, 65_536] {
            let (out, cut) = truncate_to_escaped_len(AlertKind::RuleMatch, &text, cap);
            assert!(cut);
            assert!(
                json_string_len(&out) <= cap,
                "cap {cap}: {}",
                json_string_len(&out)
            );
            assert!(out.contains("cut here to fit the 256 KiB SNS limit"));
            // A String is valid UTF-8 by construction; check the kept part is a prefix of the input.
            let kept = &out[..out.find("\n\n[trailwatch").unwrap()];
            assert!(text.starts_with(kept));
        }
    }

    #[test]
    fn a_budget_smaller_than_the_note_still_holds() {
        let (out, cut) = truncate_to_escaped_len(AlertKind::RuleMatch, &"é\n".repeat(100), 21);
        assert!(cut);
        assert!(json_string_len(&out) <= 21);
        assert!(out.starts_with("é"));
    }

    #[test]
    fn huge_text_is_cut_and_the_whole_publish_fits_the_sns_limit() {
        let text = "x\"y\\z é\n".repeat(200_000); // ~2 MB, heavy escaping
        let m = assemble(
            AlertKind::RuleMatch,
            "[HIGH] s".into(),
            &text,
            &Fixed("{}".into()),
            attrs(),
        );
        assert!(m.text_truncated);
        assert!(m.publish_bytes() <= SNS_MAX_PUBLISH_BYTES);
        assert!(m.message.len() <= SNS_MAX_PUBLISH_BYTES);
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert!(
            v["email"]
                .as_str()
                .unwrap()
                .ends_with("holds every event.]\n")
        );
    }

    #[test]
    fn attributes_are_never_empty() {
        let a = AlertAttributes {
            rule_id: "r".into(),
            severity: "LOW".into(),
            account: String::new(),
            region: String::new(),
            finding_codes: None,
        };
        let pairs = a.pairs();
        assert_eq!(pairs[2], ("account", "unknown"));
        assert_eq!(pairs[3], ("region", "unknown"));
        assert_eq!(
            pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            ["rule_id", "severity", "account", "region"]
        );
        let digest = AlertAttributes {
            finding_codes: Some("LOG_MISSING".into()),
            ..a
        };
        assert_eq!(digest.pairs()[4], ("finding_codes", "LOG_MISSING"));
    }

    #[test]
    fn digest_verdicts_also_go_to_http_as_json() {
        let m = assemble(
            AlertKind::DigestVerdict,
            "[CRITICAL] s".into(),
            "text",
            &Fixed(r#"{"a":1}"#.into()),
            attrs(),
        );
        let v: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 6);
        assert_eq!(v["http"], v["sqs"]);
        let (cut, _) = truncate_to_escaped_len(AlertKind::DigestVerdict, &"x\n".repeat(9000), 4096);
        assert!(
            cut.ends_with("Run `trailwatch verify` for every finding.]\n"),
            "{cut}"
        );
    }
}
