//! Processing state, so that at-least-once delivery (EventBridge, Lambda's retries, redrives,
//! timeouts half-way through a file) gives exactly-once output: one record per unit of work
//! (a function's processing of one object version) with a lease, progress (forwarder checkpoint,
//! alerts already published) and an outcome; and window counters for thresholds over time.
//!
//! The store is DynamoDB in production (`dynamo`, table `STATE_TABLE`) and memory in unit tests
//! (`memory`). Every write that changes a unit of work is conditional on the caller still holding
//! its lease, so two invocations never both make progress on one object.
//!
//! Lifecycle of a unit of work:
//! ```text
//!   (none) --claim--> in progress (owner, lease) --complete--> completed (outcome)   [skip later]
//!                          |  ^                         
//!                  release |  | claim (lease expired or released: progress kept, attempts + 1)
//!                          v  |
//!                         failed
//! ```

pub mod dynamo;
pub mod memory;
pub mod store;

pub use dynamo::DynamoStateStore;
pub use memory::MemoryStateStore;
pub use store::{Store, new_owner_token, record_ttl_secs};

use std::collections::BTreeSet;
use std::future::Future;

use trailwatch_shared::trigger::ObjectRef;

/// One function's processing of one version of one object: the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkKey {
    /// `forwarder`, `alerter` or `digest-verifier`: each function has its own records (and its
    /// role may touch only those: the table policy's `dynamodb:LeadingKeys` condition).
    pub function: &'static str,
    pub bucket: String,
    pub key: String,
    /// The object version: its version id, else its ETag, else `-` (an unversioned bucket whose
    /// trigger names no ETag: CloudTrail never writes a key twice).
    pub version: String,
}

impl WorkKey {
    pub fn new(function: &'static str, object: &ObjectRef) -> Self {
        let version = object
            .version_id
            .as_deref()
            .filter(|v| !v.is_empty() && *v != "null")
            .map(|v| format!("v:{v}"))
            .or_else(|| object.etag.as_deref().map(|e| format!("e:{e}")))
            .unwrap_or_else(|| "-".to_owned());
        Self {
            function,
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version,
        }
    }

    /// The table's partition key: `FUNCTION#s3://BUCKET/KEY#VERSION`. Starts with the function
    /// name, which the per-function IAM condition on `dynamodb:LeadingKeys` relies on.
    pub fn partition_key(&self) -> String {
        format!(
            "{}#s3://{}/{}#{}",
            self.function, self.bucket, self.key, self.version
        )
    }
}

/// What earlier attempts at a unit of work recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Forwarder: records of the file already accounted for (sent, filtered or rejected) by
    /// acknowledged batches; a retry resumes after them.
    pub records_done: u64,
    /// Alerter / verifier: ids of the alerts already published (e.g. a rule id); a retry
    /// publishes only the others.
    pub published: BTreeSet<String>,
    /// How many times the work was claimed, this claim included.
    pub attempts: u32,
}

/// The answer to [`StateStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the lease until its expiry; `Progress` is what earlier attempts left.
    Acquired(Progress),
    /// Done before (a repeated delivery): skip it and count it. `outcome` is what `complete`
    /// stored (a short JSON summary).
    Completed { outcome: String },
    /// Another invocation holds an unexpired lease: do not process it concurrently.
    InProgress { lease_until_ms: i64 },
}

/// A counter of matches for one rule over one fixed window (like a metric alarm's period:
/// windows start at multiples of the period since the Unix epoch), per account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowKey {
    pub rule_id: String,
    pub account: String,
    pub region: String,
    pub period_secs: u64,
    /// Start of the window, Unix seconds, a multiple of `period_secs`.
    pub window_start: i64,
}

impl WindowKey {
    /// The table's partition key: `window#RULE#ACCOUNT#REGION#PERIOD#START`.
    pub fn partition_key(&self) -> String {
        format!(
            "window#{}#{}#{}#{}#{}",
            self.rule_id, self.account, self.region, self.period_secs, self.window_start
        )
    }
}

/// A window's count after a contribution was added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowTotal {
    /// The count before this contribution (equal to `after` when it was already counted).
    pub before: u64,
    pub after: u64,
    /// Sample events (summaries) kept for the alert, at most the cap given, oldest first.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Another invocation took the work over (this one's lease expired): stop, write nothing more.
    #[error("lease on {0} lost: another invocation took the work over")]
    LeaseLost(String),
    /// The table refused the call: a permission the role lacks (not retried usefully).
    #[error("state table refused {operation}: {detail}")]
    Refused {
        operation: &'static str,
        detail: String,
    },
    /// Throttling, 5xx, timeouts: transient, the object is retried.
    #[error("state table {operation} failed: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
    },
}

impl crate::failure::ObjectFailure for StateError {
    fn permission_denied(&self) -> bool {
        matches!(self, StateError::Refused { .. })
    }
}

/// The state table. `owner` is a token unique to one attempt (one invocation's claim).
pub trait StateStore: Send + Sync + 'static {
    /// Claims `work` for `owner` until `lease_until_ms` (the invocation's deadline): creates the
    /// record, or takes over one whose lease expired or was released (keeping its progress).
    fn claim(
        &self,
        work: &WorkKey,
        owner: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<Claim, StateError>> + Send;

    /// Forwarder checkpoint: `records_done` records of the file are accounted for.
    fn checkpoint(
        &self,
        work: &WorkKey,
        owner: &str,
        records_done: u64,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Records that the alert `alert_id` of `work` was published.
    fn record_published(
        &self,
        work: &WorkKey,
        owner: &str,
        alert_id: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Marks `work` completed with `outcome`; the record expires at `expires_at_secs` (TTL).
    fn complete(
        &self,
        work: &WorkKey,
        owner: &str,
        outcome: &str,
        expires_at_secs: i64,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Gives the lease up after a failure, keeping the progress, so a retry resumes at once.
    fn release(
        &self,
        work: &WorkKey,
        owner: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Adds `count` to a window, once per `contribution` (a retry of the same file adds nothing),
    /// appending `samples` while the window holds fewer than `max_samples`.
    fn add_to_window(
        &self,
        window: &WindowKey,
        contribution: &str,
        count: u64,
        samples: Vec<String>,
        max_samples: usize,
        expires_at_secs: i64,
    ) -> impl Future<Output = Result<WindowTotal, StateError>> + Send;
}
