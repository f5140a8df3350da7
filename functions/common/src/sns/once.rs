//! Alerts exactly once per unit of work, whatever the deliveries and retries: a unit is one
//! function's handling of one object version (a log file, a digest), of one deletion or of one
//! overwrite ([`WorkKey`]). The state table records which alerts of a unit were published (each
//! by a stable id the caller gives); an attempt publishes only the others, records each right
//! after SNS accepted it, and marks the unit completed once every alert is out. A repeated
//! delivery of a completed unit publishes nothing; a retry after a partial failure publishes only
//! what is missing.
//!
//! Residual window, stated honestly: if the attempt dies (timeout, crash) or the state write
//! fails between SNS's acceptance of an alert and the record of it, the next attempt publishes
//! that one alert again. That is at most one repeated alert per unit and failure, only in that
//! gap — never a lost alert. SNS has no idempotency token for standard topics that could close it.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use trailwatch_shared::alert::AlertMessage;

use super::{AlertPublisher, PublishError};
use crate::failure::ObjectFailure;
use crate::runtime::lease_until_ms;
use crate::state::{Claim, StateError, StateStore, WorkKey, new_owner_token};

/// The state store, and how long a unit's record is kept after it completed.
#[derive(Debug)]
pub struct AlertLedger<T> {
    /// Also the store other state (e.g. window counters) lives in.
    pub store: T,
    /// Seconds a completed record lives (the table's TTL): longer than any redrive can come.
    pub record_ttl_secs: i64,
}

/// The answer to [`AlertLedger::claim`].
#[derive(Debug)]
pub enum Claimed<'a, T> {
    /// This invocation holds the unit: publish through the attempt, then complete or release it.
    Acquired(Attempt<'a, T>),
    /// Done before (a repeated delivery): nothing to publish; skip it and count it.
    Completed { outcome: String },
    /// Another invocation holds it right now: fail the object so it is retried later.
    InProgress { lease_until_ms: i64 },
}

/// What [`Attempt::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// SNS accepted it (the message id) and the state table recorded it.
    Published { message_id: String },
    /// An earlier attempt published it: not sent again.
    AlreadyPublished,
}

/// Why [`Attempt::publish`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// SNS did not accept the alert: nothing was sent, a retry sends it.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// SNS accepted the alert but the state table did not record it (a lost lease or a table
    /// fault): a retry may publish this one alert again (the residual window).
    #[error(
        "alert {alert_id} was published (SNS message {message_id}) but could not be recorded, so a retry may publish it again: {source}"
    )]
    NotRecorded {
        alert_id: String,
        message_id: String,
        source: StateError,
    },
}

impl ObjectFailure for OnceError {
    fn permission_denied(&self) -> bool {
        match self {
            OnceError::Publish(e) => e.refused,
            OnceError::NotRecorded { source, .. } => source.permission_denied(),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl<T: StateStore> AlertLedger<T> {
    pub fn new(store: T, record_ttl_secs: i64) -> Self {
        Self {
            store,
            record_ttl_secs,
        }
    }

    /// Claims `work` for this invocation, until its deadline (outside Lambda: 15 minutes).
    pub async fn claim(&self, work: WorkKey) -> Result<Claimed<'_, T>, StateError> {
        let owner = new_owner_token();
        let now = now_ms();
        let claim = self
            .store
            .claim(&work, &owner, lease_until_ms(now), now)
            .await?;
        Ok(match claim {
            Claim::Acquired(progress) => Claimed::Acquired(Attempt {
                ledger: self,
                work,
                owner,
                published: progress.published,
                attempts: progress.attempts,
            }),
            Claim::Completed { outcome } => Claimed::Completed { outcome },
            Claim::InProgress { lease_until_ms } => Claimed::InProgress { lease_until_ms },
        })
    }
}

/// One invocation's hold on a unit of work.
#[derive(Debug)]
pub struct Attempt<'a, T> {
    ledger: &'a AlertLedger<T>,
    work: WorkKey,
    owner: String,
    /// Ids published by earlier attempts and by this one.
    published: BTreeSet<String>,
    attempts: u32,
}

impl<T: StateStore> Attempt<'_, T> {
    pub fn work(&self) -> &WorkKey {
        &self.work
    }

    /// How many times the unit was claimed, this claim included (1 on a first delivery).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn is_published(&self, alert_id: &str) -> bool {
        self.published.contains(alert_id)
    }

    /// Publishes `alert` unless an attempt already published `alert_id`, and records it. The id
    /// must name the alert stably across attempts (a rule id, an insight id, a finding set),
    /// never anything that changes with how far an attempt got.
    pub async fn publish<P: AlertPublisher + ?Sized>(
        &mut self,
        publisher: &P,
        alert_id: &str,
        alert: &AlertMessage,
    ) -> Result<Sent, OnceError> {
        if self.published.contains(alert_id) {
            return Ok(Sent::AlreadyPublished);
        }
        let message_id = publisher.publish(alert).await?;
        self.ledger
            .store
            .record_published(&self.work, &self.owner, alert_id)
            .await
            .map_err(|source| OnceError::NotRecorded {
                alert_id: alert_id.to_owned(),
                message_id: message_id.clone(),
                source,
            })?;
        self.published.insert(alert_id.to_owned());
        Ok(Sent::Published { message_id })
    }

    /// Marks the unit completed with `outcome` (a short JSON summary): later deliveries skip it.
    pub async fn complete(&self, outcome: &str) -> Result<(), StateError> {
        let expires_at_secs = now_ms() / 1000 + self.ledger.record_ttl_secs;
        self.ledger
            .store
            .complete(&self.work, &self.owner, outcome, expires_at_secs)
            .await
    }

    /// Ends the attempt with `result`: completes the unit when it is `Ok` (the summary of the
    /// outcome is what a repeated delivery will see), releases it when it is `Err` or when the
    /// completion itself fails, so that the retry can claim it at once.
    pub async fn finish<O, E: From<StateError>>(
        &self,
        result: Result<O, E>,
        summary: impl FnOnce(&O) -> String,
    ) -> Result<O, E> {
        let result = match result {
            Ok(outcome) => match self.complete(&summary(&outcome)).await {
                Ok(()) => Ok(outcome),
                Err(e) => Err(E::from(e)),
            },
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.release().await;
        }
        result
    }

    /// Gives the unit up after a failure (its published ids are kept), so that Lambda's retry
    /// can claim it at once instead of waiting for the lease to expire. Best effort: a failed
    /// release only delays the retry until the lease's expiry, so it is logged, not returned.
    pub async fn release(&self) {
        if let Err(e) = self.ledger.store.release(&self.work, &self.owner).await {
            tracing::warn!(work = %self.work.partition_key(), error = %e,
                "could not release the unit of work: a retry waits for the lease to expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::state::MemoryStateStore;
    use trailwatch_shared::alert::{AlertAttributes, AlertKind};

    /// Records what it published; fails the ids listed in `fail`.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<String>>,
        fail: Mutex<BTreeSet<String>>,
    }

    impl AlertPublisher for Recorder {
        async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
            if self.fail.lock().unwrap().contains(&alert.subject) {
                return Err(PublishError {
                    topic_arn: "t".into(),
                    detail: "throttled".into(),
                    refused: false,
                });
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push(alert.subject.clone());
            Ok(format!("m{}", sent.len()))
        }
    }

    fn alert(subject: &str) -> AlertMessage {
        AlertMessage {
            kind: AlertKind::RuleMatch,
            subject: subject.into(),
            text: String::new(),
            machine_json: "{}".into(),
            message: "{}".into(),
            attributes: AlertAttributes {
                rule_id: subject.into(),
                severity: "HIGH".into(),
                account: "1".into(),
                region: "r".into(),
                finding_codes: None,
            },
            text_truncated: false,
        }
    }

    fn work() -> WorkKey {
        WorkKey {
            function: "alerter",
            bucket: "b".into(),
            key: "k".into(),
            version: "v:1".into(),
        }
    }

    async fn run(ledger: &AlertLedger<MemoryStateStore>, p: &Recorder) -> Result<(), OnceError> {
        let Claimed::Acquired(mut attempt) = ledger.claim(work()).await.unwrap() else {
            panic!("not acquired")
        };
        let mut failed = None;
        for id in ["a", "b", "c"] {
            if let Err(e) = attempt.publish(p, id, &alert(id)).await {
                failed = Some(e);
            }
        }
        match failed {
            Some(e) => {
                attempt.release().await;
                Err(e)
            }
            None => {
                attempt.complete("{}").await.unwrap();
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn a_retry_publishes_only_what_failed_and_a_completed_unit_nothing() {
        let ledger = AlertLedger::new(MemoryStateStore::new(), 60);
        let p = Recorder::default();
        p.fail.lock().unwrap().insert("b".into());
        assert!(run(&ledger, &p).await.is_err());
        assert_eq!(*p.sent.lock().unwrap(), ["a", "c"]);
        p.fail.lock().unwrap().clear();
        run(&ledger, &p).await.unwrap();
        assert_eq!(*p.sent.lock().unwrap(), ["a", "c", "b"]);
        assert!(matches!(
            ledger.claim(work()).await.unwrap(),
            Claimed::Completed { .. }
        ));
        assert_eq!(p.sent.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn without_the_record_every_attempt_publishes_again() {
        // Negative control: two ledgers (no shared memory) both publish everything.
        let p = Recorder::default();
        run(&AlertLedger::new(MemoryStateStore::new(), 60), &p)
            .await
            .unwrap();
        run(&AlertLedger::new(MemoryStateStore::new(), 60), &p)
            .await
            .unwrap();
        assert_eq!(p.sent.lock().unwrap().len(), 6);
    }

    #[tokio::test]
    async fn a_publish_after_the_lease_was_lost_is_reported_as_not_recorded() {
        let ledger = AlertLedger::new(MemoryStateStore::new(), 60);
        let p = Recorder::default();
        let Claimed::Acquired(mut attempt) = ledger.claim(work()).await.unwrap() else {
            panic!()
        };
        // Another invocation takes the unit over (as after this one's lease expired).
        ledger.store.release(&work(), &attempt.owner).await.unwrap();
        let Claimed::Acquired(_other) = ledger.claim(work()).await.unwrap() else {
            panic!()
        };
        let e = attempt.publish(&p, "a", &alert("a")).await.unwrap_err();
        assert!(
            matches!(
                &e,
                OnceError::NotRecorded {
                    source: StateError::LeaseLost(_),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("may publish it again"), "{e}");
    }
}
