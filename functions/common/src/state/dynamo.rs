//! The state table in DynamoDB: every method is one conditional `UpdateItem` (plus, only when a
//! condition fails and the table did not return the item, one strongly consistent `GetItem`), so
//! the semantics are those of [`super::memory::MemoryStateStore`] with DynamoDB doing the locking.
//!
//! Table: partition key `pk` (S) only. Work items (`pk` = [`WorkKey::partition_key`]): `status`
//! (`in_progress` | `failed` | `completed`), `owner`, `leaseUntil` (N, ms), `recordsDone` (N),
//! `published` (SS), `attempts` (N), `outcome` (S), `expiresAt` (N, Unix seconds, the table's
//! TTL attribute, set on every write so that abandoned in-progress records expire too). Window
//! items (`pk` = [`WindowKey::partition_key`]): `count` (N), `contributions` (SS), `samples`
//! (L of S), `expiresAt`.
//!
//! Calls made (the functions' IAM statement grants exactly these): `dynamodb:UpdateItem`,
//! `dynamodb:GetItem`.
//!
//! A lease that ends at `now` is over (`leaseUntil <= :now`), exactly as in the memory store.
//!
//! Window contributions: every id a window has counted is kept in its `contributions` set, and
//! each write to the window costs one write unit per KB of the whole item. Give a short id: a
//! 64-bit hash of the work key (16 hex characters) is enough (a collision needs about 2^32
//! files in one window), where a SHA-256 hex string is 64 characters; a window item stays far
//! below DynamoDB's 400 KB item limit either way (thousands of files per window).

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Claim, Progress, StateError, StateStore, WindowKey, WindowTotal, WorkKey};

type Item = HashMap<String, AttributeValue>;

const IN_PROGRESS: &str = "in_progress";
const FAILED: &str = "failed";
const COMPLETED: &str = "completed";

/// The condition every write by a lease holder carries.
const OWNED: &str = "#status = :in_progress AND #owner = :owner";

/// How often `claim` re-asks after a failed condition whose item (read afterwards) had become
/// claimable again: only a release racing the claim does that, and it cannot repeat forever.
const CLAIM_ROUNDS: usize = 3;

/// A [`super::StateStore`] on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
    /// How long a work record is kept after its last write (TTL), seconds.
    record_ttl_secs: i64,
}

impl DynamoStateStore {
    pub fn new(client: Client, table: impl Into<String>, record_ttl_secs: i64) -> Self {
        Self {
            client,
            table: table.into(),
            record_ttl_secs,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn expires_at(&self, now_secs: i64) -> AttributeValue {
        n(now_secs.saturating_add(self.record_ttl_secs))
    }

    /// An `UpdateItem` on `pk` with the attribute names every expression here uses.
    fn update(&self, pk: String) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#expiresAt", "expiresAt")
    }

    /// A write by the lease holder `owner`: `update_expression` applied only while it holds the
    /// lease; otherwise [`StateError::LeaseLost`]. `ends_in`: the status this write leaves
    /// (`complete`, `release`): when the condition fails because the record already shows that
    /// status under this owner, the write had been applied by an earlier try of the same call
    /// (the SDK retries a request whose answer was lost) and it is `Ok`, not a lost lease.
    async fn owned_write(
        &self,
        operation: &'static str,
        work: &WorkKey,
        owner: &str,
        ends_in: Option<&str>,
        update: impl FnOnce(UpdateItemFluentBuilder) -> UpdateItemFluentBuilder,
    ) -> Result<(), StateError> {
        let pk = work.partition_key();
        let request = self
            .update(pk.clone())
            .condition_expression(OWNED)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":expiresAt", self.expires_at(now_secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let held = match update(request).send().await {
            Ok(_) => return Ok(()),
            Err(e) => match conditional_check_failed(&e) {
                Some(Some(item)) => Some(item.clone()),
                Some(None) if ends_in.is_some() => self.read(operation, pk.clone()).await?,
                Some(None) => None,
                None => return Err(classify(operation, e)),
            },
        };
        let applied_before = ends_in.is_some_and(|status| {
            held.as_ref().is_some_and(|item| {
                string(item, "status") == Some(status) && string(item, "owner") == Some(owner)
            })
        });
        if applied_before {
            Ok(())
        } else {
            Err(StateError::LeaseLost(pk))
        }
    }

    /// The item `pk` as a strongly consistent read sees it.
    async fn read(&self, operation: &'static str, pk: String) -> Result<Option<Item>, StateError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| classify(operation, e))
    }

    /// One conditional claim: `Ok(Some(answer))`, or `Ok(None)` when the condition failed but
    /// the item read afterwards was claimable (a release raced us): ask again.
    async fn claim_once(
        &self,
        work: &WorkKey,
        owner: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Claim>, StateError> {
        let pk = work.partition_key();
        let result = self
            .update(pk.clone())
            .update_expression(
                "SET #status = :in_progress, #owner = :owner, #leaseUntil = :lease, \
                 #expiresAt = :expiresAt ADD #attempts :one",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :failed OR (#status = :in_progress \
                 AND (#leaseUntil <= :now OR #owner = :owner))",
            )
            .expression_attribute_names("#leaseUntil", "leaseUntil")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":failed", s(FAILED))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":lease", n(lease_until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expiresAt", self.expires_at(now_ms.div_euclid(1000)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let held = match result {
            Ok(out) => {
                return Ok(Some(Claim::Acquired(progress(
                    &out.attributes.unwrap_or_default(),
                ))));
            }
            Err(e) => match conditional_check_failed(&e) {
                Some(Some(item)) => item.clone(),
                // The table did not return the item: read it.
                Some(None) => match self.read("claim", pk).await? {
                    Some(item) => item,
                    None => return Ok(None),
                },
                None => return Err(classify("claim", e)),
            },
        };
        Ok(match string(&held, "status") {
            Some(COMPLETED) => Some(Claim::Completed {
                outcome: string(&held, "outcome").unwrap_or_default().to_owned(),
            }),
            Some(IN_PROGRESS) if number(&held, "leaseUntil").is_some_and(|l| l > now_ms) => {
                Some(Claim::InProgress {
                    lease_until_ms: number(&held, "leaseUntil").unwrap_or_default(),
                })
            }
            // Failed, expired or ours by the time of the fallback read: claim again.
            _ => None,
        })
    }
}

impl StateStore for DynamoStateStore {
    async fn claim(
        &self,
        work: &WorkKey,
        owner: &str,
        lease_until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, StateError> {
        for _ in 0..CLAIM_ROUNDS {
            if let Some(answer) = self.claim_once(work, owner, lease_until_ms, now_ms).await? {
                return Ok(answer);
            }
        }
        Err(StateError::Unavailable {
            operation: "claim",
            detail: format!(
                "{}: the record changed under {CLAIM_ROUNDS} claims in a row",
                work.partition_key()
            ),
        })
    }

    async fn checkpoint(
        &self,
        work: &WorkKey,
        owner: &str,
        records_done: u64,
    ) -> Result<(), StateError> {
        self.owned_write("checkpoint", work, owner, None, |r| {
            r.update_expression("SET #recordsDone = :done, #expiresAt = :expiresAt")
                .expression_attribute_names("#recordsDone", "recordsDone")
                .expression_attribute_values(":done", n(records_done))
        })
        .await
    }

    async fn record_published(
        &self,
        work: &WorkKey,
        owner: &str,
        alert_id: &str,
    ) -> Result<(), StateError> {
        self.owned_write("record_published", work, owner, None, |r| {
            r.update_expression("ADD #published :alert SET #expiresAt = :expiresAt")
                .expression_attribute_names("#published", "published")
                .expression_attribute_values(
                    ":alert",
                    AttributeValue::Ss(vec![alert_id.to_owned()]),
                )
        })
        .await
    }

    async fn complete(
        &self,
        work: &WorkKey,
        owner: &str,
        outcome: &str,
        expires_at_secs: i64,
    ) -> Result<(), StateError> {
        self.owned_write("complete", work, owner, Some(COMPLETED), |r| {
            // The caller's expiry replaces the default one set in `owned_write`.
            r.update_expression(
                "SET #status = :completed, #outcome = :outcome, #expiresAt = :expiresAt",
            )
            .expression_attribute_names("#outcome", "outcome")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":outcome", s(outcome))
            .expression_attribute_values(":expiresAt", n(expires_at_secs))
        })
        .await
    }

    async fn release(&self, work: &WorkKey, owner: &str) -> Result<(), StateError> {
        self.owned_write("release", work, owner, Some(FAILED), |r| {
            r.update_expression("SET #status = :failed, #expiresAt = :expiresAt")
                .expression_attribute_values(":failed", s(FAILED))
        })
        .await
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
        let pk = window.partition_key();
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .update_expression("ADD #count :n, #contributions :c SET #expiresAt = :expiresAt")
            .condition_expression(
                "attribute_not_exists(#contributions) OR NOT contains(#contributions, :cid)",
            )
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#contributions", "contributions")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":c", AttributeValue::Ss(vec![contribution.to_owned()]))
            .expression_attribute_values(":cid", s(contribution))
            .expression_attribute_values(":expiresAt", n(expires_at_secs))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let item = match counted {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) => {
                // Already counted (a retry of the same contribution): report the window as is.
                let item = match conditional_check_failed(&e) {
                    Some(Some(item)) => item.clone(),
                    Some(None) => self.read("add_to_window", pk).await?.unwrap_or_default(),
                    None => return Err(classify("add_to_window", e)),
                };
                let after = unsigned(&item, "count");
                let mut kept = list(&item, "samples");
                kept.truncate(max_samples);
                return Ok(WindowTotal {
                    before: after,
                    after,
                    samples: kept,
                });
            }
        };
        let after = unsigned(&item, "count");
        let mut kept = list(&item, "samples");
        let room = max_samples.saturating_sub(kept.len());
        if room > 0 && !samples.is_empty() {
            let appended: Vec<String> = samples.into_iter().take(room).collect();
            kept = self
                .append_samples(pk, &appended, max_samples, expires_at_secs)
                .await?
                .unwrap_or(kept);
        }
        kept.truncate(max_samples);
        Ok(WindowTotal {
            before: after.saturating_sub(count),
            after,
            samples: kept,
        })
    }
}

impl DynamoStateStore {
    /// Appends `samples` to a window's list while it holds fewer than `max_samples`: the list
    /// after the append, or `None` when it was already full (concurrent contributors may each
    /// append their room, so the stored list can exceed the cap by at most one call's samples;
    /// readers cut it to the cap).
    async fn append_samples(
        &self,
        pk: String,
        samples: &[String],
        max_samples: usize,
        expires_at_secs: i64,
    ) -> Result<Option<Vec<String>>, StateError> {
        let appended = AttributeValue::L(samples.iter().map(|v| s(v.as_str())).collect());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression(
                "SET #samples = list_append(if_not_exists(#samples, :empty), :s), \
                 #expiresAt = :expiresAt",
            )
            .condition_expression("attribute_not_exists(#samples) OR size(#samples) < :max")
            .expression_attribute_names("#samples", "samples")
            .expression_attribute_names("#expiresAt", "expiresAt")
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":s", appended)
            .expression_attribute_values(":max", n(max_samples))
            .expression_attribute_values(":expiresAt", n(expires_at_secs))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(list(&out.attributes.unwrap_or_default(), "samples"))),
            Err(e) if conditional_check_failed(&e).is_some() => Ok(None),
            Err(e) => Err(classify("add_to_window", e)),
        }
    }
}

/// `Some(item the table returned, if any)` when `err` is a failed condition.
fn conditional_check_failed(
    err: &SdkError<UpdateItemError, HttpResponse>,
) -> Option<Option<&Item>> {
    match err.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(e)) => Some(e.item()),
        _ => None,
    }
}

/// A failed call other than a failed condition: a refusal (the role's policy) or transient.
fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    if crate::failure::is_refused(&err) {
        StateError::Refused { operation, detail }
    } else {
        StateError::Unavailable { operation, detail }
    }
}

fn progress(item: &Item) -> Progress {
    Progress {
        records_done: unsigned(item, "recordsDone"),
        published: match item.get("published") {
            Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
            _ => BTreeSet::new(),
        },
        attempts: u32::try_from(unsigned(item, "attempts")).unwrap_or(u32::MAX),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn unsigned(item: &Item, name: &str) -> u64 {
    number(item, name)
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

fn list(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect(),
        _ => Vec::new(),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_what_the_table_holds_and_defaults_what_it_lacks() {
        let mut item = Item::new();
        assert_eq!(progress(&item), Progress::default());
        item.insert("recordsDone".into(), n(7));
        item.insert("attempts".into(), n(2));
        item.insert("published".into(), AttributeValue::Ss(vec!["r1".into()]));
        let p = progress(&item);
        assert_eq!((p.records_done, p.attempts), (7, 2));
        assert_eq!(p.published, BTreeSet::from(["r1".to_owned()]));
    }
}
