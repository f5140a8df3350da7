//! The run's counts and per-message reports (the `--json` object and the closing line).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::expiry::{self, ExpiredObject};
use super::record::DeadLetter;

/// How one message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Invoked (and deleted); `part` when some of its objects were expired and left out.
    Redriven { part: bool },
    /// Every object past the window: not invoked.
    Expired,
    /// Unreadable, or an AWS call failed: the message stays in the queue.
    Failed,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Redriven { .. } => "redriven",
            Outcome::Expired => "expired",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ExpiredReport {
    message_id: String,
    #[serde(flatten)]
    object: ExpiredObject,
    file_time_utc: String,
    age: String,
}

#[derive(Debug, Serialize)]
pub(super) struct FailureReport {
    pub message_id: String,
    pub error: String,
}

/// One EventBridge dead letter: what became of it and why EventBridge could not deliver it, so
/// that the cause (a missing permission, a deleted function, throttling) is seen before redriving.
#[derive(Debug, Serialize)]
pub(super) struct DeadLetterReport {
    pub message_id: String,
    /// `redriven`, `expired` or `failed` (as counted; "would be" in a dry run).
    pub outcome: &'static str,
    #[serde(flatten)]
    pub attributes: DeadLetter,
}

/// The run's counts; `messages_read == redriven + expired + failed` always holds.
#[derive(Debug, Default, Serialize)]
pub(super) struct Summary {
    pub dry_run: bool,
    /// What happens to messages (or parts of messages) holding only expired objects.
    pub expired_messages: &'static str,
    pub messages_read: usize,
    pub redriven: usize,
    /// Of `redriven`: messages invoked for only their current objects.
    pub redriven_in_part: usize,
    pub expired: usize,
    pub failed: usize,
    pub expired_objects: Vec<ExpiredReport>,
    pub failures: Vec<FailureReport>,
    /// Of `messages_read`: the EventBridge dead letters, each counted in one of the three counts.
    pub eventbridge_dead_letters: Vec<DeadLetterReport>,
}

impl Summary {
    pub(super) fn record(&mut self, outcome: Outcome) {
        self.messages_read += 1;
        match outcome {
            Outcome::Redriven { part } => {
                self.redriven += 1;
                self.redriven_in_part += usize::from(part);
            }
            Outcome::Expired => self.expired += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    pub(super) fn record_dead_letter(
        &mut self,
        message_id: &str,
        dead_letter: DeadLetter,
        outcome: Outcome,
    ) {
        self.eventbridge_dead_letters.push(DeadLetterReport {
            message_id: message_id.to_owned(),
            outcome: outcome.name(),
            attributes: dead_letter,
        });
    }

    pub(super) fn fail(&mut self, message_id: &str, error: String) -> Outcome {
        eprintln!("message {message_id}: {error}");
        self.failures.push(FailureReport {
            message_id: message_id.to_owned(),
            error,
        });
        Outcome::Failed
    }

    pub(super) fn add_expired(&mut self, message_id: &str, expired: &[ExpiredObject]) {
        self.expired_objects
            .extend(expired.iter().map(|object| ExpiredReport {
                message_id: message_id.to_owned(),
                file_time_utc: utc(object.file_time),
                age: expiry::human_age(object.age_seconds),
                object: object.clone(),
            }));
    }

    pub(super) fn line(&self) -> String {
        let would = if self.dry_run { "would be " } else { "" };
        let mut line = format!(
            "{} message(s) read: {} {would}redriven ({} in part), {} expired past the 14-day \
             CloudWatch Logs window ({} object(s); {would}{}), {} failed or skipped (kept)",
            self.messages_read,
            self.redriven,
            self.redriven_in_part,
            self.expired,
            self.expired_objects.len(),
            self.expired_messages,
            self.failed,
        );
        if !self.eventbridge_dead_letters.is_empty() {
            line.push_str(&format!(
                "; {} of the messages were EventBridge dead letters",
                self.eventbridge_dead_letters.len()
            ));
        }
        line
    }
}

pub(super) fn utc(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}
