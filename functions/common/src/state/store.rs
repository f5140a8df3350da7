//! The state store a function runs with, chosen once at cold start from the environment.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{
    Claim, DynamoStateStore, MemoryStateStore, StateError, StateStore, WindowKey, WindowTotal,
    WorkKey,
};
use crate::config::{ConfigError, optional_env, parse_env};

/// Default record lifetime: the failure queues keep messages 14 days, so a redrive on the last
/// day still finds the record and skips or resumes the work; one day more for the redrive itself.
pub const DEFAULT_STATE_TTL_DAYS: i64 = 15;

/// The state table (`STATE_TABLE` set) or, without one, memory: repeated deliveries are then
/// recognised only within one container.
#[derive(Debug)]
pub enum Store {
    Dynamo(DynamoStateStore),
    Memory(MemoryStateStore),
}

impl Store {
    /// `STATE_TABLE` set: the DynamoDB store on that table, records kept `STATE_TTL_DAYS`
    /// (default 15). Unset: memory, with a warning.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Store, ConfigError> {
        let ttl = record_ttl_secs()?;
        match optional_env("STATE_TABLE")? {
            Some(table) => Ok(Store::Dynamo(DynamoStateStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table.trim(),
                ttl,
            ))),
            None => {
                tracing::warn!(
                    "STATE_TABLE not set: repeated deliveries are only recognised within this container"
                );
                Ok(Store::Memory(MemoryStateStore::new()))
            }
        }
    }
}

/// How long a work record is kept after its last write, seconds: `STATE_TTL_DAYS` days (1..=365,
/// default 15).
pub fn record_ttl_secs() -> Result<i64, ConfigError> {
    let days: i64 = parse_env("STATE_TTL_DAYS", DEFAULT_STATE_TTL_DAYS)?;
    if !(1..=365).contains(&days) {
        return Err(ConfigError::Invalid {
            name: "STATE_TTL_DAYS",
            reason: format!("{days} is not in 1..=365"),
        });
    }
    Ok(days * 86_400)
}

/// A token unique to one claim: the invocation's request id (for the logs: which invocation
/// holds the work), this process (Lambda retries an asynchronous invocation with the same request
/// id, possibly in a fresh container whose counter starts again) and a process-wide counter (one
/// invocation claims many objects). Outside an invocation `local` stands for the request id.
pub fn new_owner_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PROCESS: OnceLock<String> = OnceLock::new();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let process = PROCESS.get_or_init(|| {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{}-{started}", std::process::id())
    });
    let request_id = crate::runtime::invocation_request_id().unwrap_or_else(|| "local".to_owned());
    format!("{request_id}/{process}/{n}")
}

/// Calls the same `StateStore` method on whichever store this is.
macro_rules! on_store {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            Store::Dynamo($s) => $call.await,
            Store::Memory($s) => $call.await,
        }
    };
}

impl StateStore for Store {
    async fn claim(
        &self,
        work: &WorkKey,
        owner: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, StateError> {
        on_store!(self, s => s.claim(work, owner, lease_until_ms, now_ms))
    }

    async fn checkpoint(
        &self,
        work: &WorkKey,
        owner: &str,
        records_done: u64,
    ) -> Result<(), StateError> {
        on_store!(self, s => s.checkpoint(work, owner, records_done))
    }

    async fn record_published(
        &self,
        work: &WorkKey,
        owner: &str,
        alert_id: &str,
    ) -> Result<(), StateError> {
        on_store!(self, s => s.record_published(work, owner, alert_id))
    }

    async fn complete(
        &self,
        work: &WorkKey,
        owner: &str,
        outcome: &str,
        expires_at_secs: i64,
    ) -> Result<(), StateError> {
        on_store!(self, s => s.complete(work, owner, outcome, expires_at_secs))
    }

    async fn release(&self, work: &WorkKey, owner: &str) -> Result<(), StateError> {
        on_store!(self, s => s.release(work, owner))
    }

    async fn add_to_window(
        &self,
        window: &WindowKey,
        contribution: &str,
        count: u64,
        samples: Vec<String>,
        max_samples: usize,
        expires_at_secs: i64,
    ) -> Result<WindowTotal, StateError> {
        on_store!(self, s => s.add_to_window(
            window,
            contribution,
            count,
            samples,
            max_samples,
            expires_at_secs,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tokens_are_unique_within_a_process() {
        let a = new_owner_token();
        let b = new_owner_token();
        assert_ne!(a, b);
        assert!(a.starts_with("local/"), "{a}");
        // Same process, next claim: only the counter differs.
        let (pa, pb) = (a.rsplit_once('/').unwrap().0, b.rsplit_once('/').unwrap().0);
        assert_eq!(pa, pb);
    }
}
