//! The state table in memory: unit tests, and runs without a table. Same semantics as DynamoDB's
//! conditional writes (every method is one atomic step under a lock).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Claim, Progress, StateError, StateStore, WindowKey, WindowTotal, WorkKey};

#[derive(Debug, Clone)]
enum Status {
    InProgress { owner: String, lease_until_ms: i64 },
    Failed,
    Completed { outcome: String },
}

#[derive(Debug, Clone)]
struct Record {
    status: Status,
    progress: Progress,
}

#[derive(Debug, Default)]
struct Window {
    count: u64,
    contributions: BTreeSet<String>,
    samples: Vec<String>,
}

/// A [`StateStore`] held in memory.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    work: Mutex<HashMap<String, Record>>,
    windows: Mutex<HashMap<String, Window>>,
    fail_completions: AtomicBool,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The progress recorded for `work`, if any (tests).
    pub fn progress(&self, work: &WorkKey) -> Option<Progress> {
        let map = self.work.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&work.partition_key()).map(|r| r.progress.clone())
    }

    /// While `fail` is set, every `complete` fails as a throttled DynamoDB write would (tests:
    /// an attempt that did its work, then could not record it, as if it had crashed).
    pub fn fail_completions(&self, fail: bool) {
        self.fail_completions.store(fail, Ordering::SeqCst);
    }

    fn with_owned<T>(
        &self,
        work: &WorkKey,
        owner: &str,
        f: impl FnOnce(&mut Record) -> T,
    ) -> Result<T, StateError> {
        let mut map = self.work.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&work.partition_key()) {
            Some(r) if matches!(&r.status, Status::InProgress { owner: o, .. } if o == owner) => {
                Ok(f(r))
            }
            _ => Err(StateError::LeaseLost(work.partition_key())),
        }
    }
}

impl StateStore for MemoryStateStore {
    async fn claim(
        &self,
        work: &WorkKey,
        owner: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, StateError> {
        let mut map = self.work.lock().unwrap_or_else(|p| p.into_inner());
        let record = map.entry(work.partition_key()).or_insert_with(|| Record {
            status: Status::Failed,
            progress: Progress::default(),
        });
        match &record.status {
            Status::Completed { outcome } => Ok(Claim::Completed {
                outcome: outcome.clone(),
            }),
            Status::InProgress {
                owner: o,
                lease_until_ms: until,
            } if *until > now_ms && o != owner => Ok(Claim::InProgress {
                lease_until_ms: *until,
            }),
            _ => {
                record.status = Status::InProgress {
                    owner: owner.to_owned(),
                    lease_until_ms,
                };
                record.progress.attempts += 1;
                Ok(Claim::Acquired(record.progress.clone()))
            }
        }
    }

    async fn checkpoint(
        &self,
        work: &WorkKey,
        owner: &str,
        records_done: u64,
    ) -> Result<(), StateError> {
        self.with_owned(work, owner, |r| r.progress.records_done = records_done)
    }

    async fn record_published(
        &self,
        work: &WorkKey,
        owner: &str,
        alert_id: &str,
    ) -> Result<(), StateError> {
        self.with_owned(work, owner, |r| {
            r.progress.published.insert(alert_id.to_owned());
        })
    }

    async fn complete(
        &self,
        work: &WorkKey,
        owner: &str,
        outcome: &str,
        _expires_at_secs: i64,
    ) -> Result<(), StateError> {
        if self.fail_completions.load(Ordering::SeqCst) {
            return Err(StateError::Unavailable {
                operation: "UpdateItem",
                detail: "ProvisionedThroughputExceededException".into(),
            });
        }
        self.with_owned(work, owner, |r| {
            r.status = Status::Completed {
                outcome: outcome.to_owned(),
            }
        })
    }

    async fn release(&self, work: &WorkKey, owner: &str) -> Result<(), StateError> {
        self.with_owned(work, owner, |r| r.status = Status::Failed)
    }

    async fn add_to_window(
        &self,
        window: &WindowKey,
        contribution: &str,
        count: u64,
        samples: Vec<String>,
        max_samples: usize,
        _expires_at_secs: i64,
    ) -> Result<WindowTotal, StateError> {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = map.entry(window.partition_key()).or_default();
        let before = w.count;
        if w.contributions.insert(contribution.to_owned()) {
            w.count += count;
            let room = max_samples.saturating_sub(w.samples.len());
            w.samples.extend(samples.into_iter().take(room));
        }
        Ok(WindowTotal {
            before: if w.count == before { w.count } else { before },
            after: w.count,
            samples: w.samples.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work() -> WorkKey {
        WorkKey {
            function: "forwarder",
            bucket: "b".into(),
            key: "k".into(),
            version: "v:1".into(),
        }
    }

    #[tokio::test]
    async fn a_completed_unit_is_not_claimed_again() {
        let s = MemoryStateStore::new();
        assert!(matches!(
            s.claim(&work(), "a", 100, 0).await,
            Ok(Claim::Acquired(_))
        ));
        s.complete(&work(), "a", "{}", 0).await.unwrap();
        assert_eq!(
            s.claim(&work(), "b", 100, 0).await,
            Ok(Claim::Completed {
                outcome: "{}".into()
            })
        );
    }

    #[tokio::test]
    async fn a_live_lease_blocks_others_and_an_expired_one_is_taken_over_with_progress() {
        let s = MemoryStateStore::new();
        s.claim(&work(), "a", 100, 0).await.unwrap();
        s.checkpoint(&work(), "a", 7).await.unwrap();
        assert_eq!(
            s.claim(&work(), "b", 200, 50).await,
            Ok(Claim::InProgress {
                lease_until_ms: 100
            })
        );
        let Ok(Claim::Acquired(p)) = s.claim(&work(), "b", 300, 150).await else {
            panic!("expired lease not taken over")
        };
        assert_eq!((p.records_done, p.attempts), (7, 2));
        // The first owner lost its lease: its writes are refused.
        assert_eq!(
            s.checkpoint(&work(), "a", 9).await,
            Err(StateError::LeaseLost(work().partition_key()))
        );
    }

    #[tokio::test]
    async fn a_window_counts_each_contribution_once() {
        let s = MemoryStateStore::new();
        let w = WindowKey {
            rule_id: "r".into(),
            account: "1".into(),
            region: "us-east-1".into(),
            period_secs: 300,
            window_start: 0,
        };
        let t = s
            .add_to_window(&w, "f1", 3, vec!["a".into()], 2, 0)
            .await
            .unwrap();
        assert_eq!((t.before, t.after), (0, 3));
        let t = s
            .add_to_window(&w, "f1", 3, vec!["a".into()], 2, 0)
            .await
            .unwrap();
        assert_eq!((t.before, t.after), (3, 3));
        let t = s
            .add_to_window(&w, "f2", 2, vec!["b".into(), "c".into()], 2, 0)
            .await
            .unwrap();
        assert_eq!((t.before, t.after, t.samples.len()), (3, 5, 2));
    }
}
