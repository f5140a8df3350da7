//! The DynamoDB state store's handling of answers moto never gives (moto always returns the
//! item with a failed condition; the semantics themselves are proven against moto in
//! `tests/e2e/state_table.rs`): a failed condition without the item is answered from a strongly
//! consistent GetItem, a release racing the claim is claimed again, a refusal is `Refused` (the
//! function fails with trailwatch.PermissionDenied) and throttling is `Unavailable`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::state::{
    Claim, DynamoStateStore, Progress, StateError, StateStore, WorkKey,
};

fn work() -> WorkKey {
    WorkKey {
        function: "forwarder",
        bucket: "trail".into(),
        key: "AWSLogs/1/CloudTrail/us-east-1/2026/12/07/f.json.gz".into(),
        version: "v:1".into(),
    }
}

fn item(fields: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn store(rules: &[&Rule]) -> DynamoStateStore {
    // No SDK retries: each rule is one answer, in order.
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    DynamoStateStore::new(client, "state", 86_400)
}

/// A failed condition without the item, as DynamoDB answers when
/// ReturnValuesOnConditionCheckFailure is not honoured.
fn condition_failed_without_item() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        )
    })
}

fn get_item_answers(found: HashMap<String, AttributeValue>) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|r| r.consistent_read() == Some(true))
        .then_output(move || {
            GetItemOutput::builder()
                .set_item(Some(found.clone()))
                .build()
        })
}

#[tokio::test]
async fn a_failed_claim_without_the_item_is_answered_from_a_consistent_read() {
    let update = condition_failed_without_item();
    let read = get_item_answers(item(&[
        ("status", s("completed")),
        ("outcome", s(r#"{"sent":3}"#)),
    ]));
    let store = store(&[&update, &read]);
    assert_eq!(
        store.claim(&work(), "b", 2_000, 1_000).await,
        Ok(Claim::Completed {
            outcome: r#"{"sent":3}"#.into()
        })
    );
    assert_eq!((update.num_calls(), read.num_calls()), (1, 1));

    let update = condition_failed_without_item();
    let read = get_item_answers(item(&[
        ("status", s("in_progress")),
        ("owner", s("a")),
        ("leaseUntil", n(5_000)),
    ]));
    let store = self::store(&[&update, &read]);
    assert_eq!(
        store.claim(&work(), "b", 2_000, 1_000).await,
        Ok(Claim::InProgress {
            lease_until_ms: 5_000
        })
    );
}

#[tokio::test]
async fn a_release_racing_the_claim_is_claimed_again() {
    let update = condition_failed_without_item();
    // By the time of the read the holder had released it: claimable, so the claim is retried.
    let read = get_item_answers(item(&[("status", s("failed")), ("recordsDone", n(7))]));
    let retried = mock!(aws_sdk_dynamodb::Client::update_item).then_output(|| {
        UpdateItemOutput::builder()
            .set_attributes(Some(item(&[
                ("status", s("in_progress")),
                ("recordsDone", n(7)),
                ("attempts", n(2)),
            ])))
            .build()
    });
    let store = store(&[&update, &read, &retried]);
    assert_eq!(
        store.claim(&work(), "b", 2_000, 1_000).await,
        Ok(Claim::Acquired(Progress {
            records_done: 7,
            attempts: 2,
            ..Progress::default()
        }))
    );
    assert_eq!(retried.num_calls(), 1);
}

#[tokio::test]
async fn a_refusal_is_refused_and_throttling_is_unavailable() {
    let refused = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: dynamodb:UpdateItem")
                .build(),
        )
    });
    let err = store(&[&refused])
        .checkpoint(&work(), "a", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Refused {
                operation: "checkpoint",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.permission_denied(), "a refusal is a missing permission");

    let throttled = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::generic(
            ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        )
    });
    let err = store(&[&throttled])
        .claim(&work(), "a", 2_000, 1_000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Unavailable {
                operation: "claim",
                ..
            }
        ),
        "{err:?}"
    );
    // Negative control: throttling is not a missing permission.
    assert!(!err.permission_denied());
}

fn condition_failed_with(old: HashMap<String, AttributeValue>) -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item).then_error(move || {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .set_item(Some(old.clone()))
                .build(),
        )
    })
}

#[tokio::test]
async fn a_failed_owned_write_is_a_lost_lease_unless_an_earlier_try_of_it_was_applied() {
    // A checkpoint whose condition fails: the lease is gone (no read needed).
    let update = condition_failed_without_item();
    assert_eq!(
        store(&[&update]).checkpoint(&work(), "stale", 9).await,
        Err(StateError::LeaseLost(work().partition_key()))
    );

    // complete's answer was lost and the SDK sent it again: the record already shows it
    // completed by this owner, so the retry is not a lost lease.
    let update = condition_failed_with(item(&[("status", s("completed")), ("owner", s("a"))]));
    assert_eq!(
        store(&[&update]).complete(&work(), "a", "{}", 0).await,
        Ok(())
    );
    let update = condition_failed_with(item(&[("status", s("failed")), ("owner", s("a"))]));
    assert_eq!(store(&[&update]).release(&work(), "a").await, Ok(()));

    // Negative controls: completed or released by someone else is a lost lease.
    let update = condition_failed_with(item(&[("status", s("completed")), ("owner", s("b"))]));
    assert_eq!(
        store(&[&update]).complete(&work(), "a", "{}", 0).await,
        Err(StateError::LeaseLost(work().partition_key()))
    );
    let update = condition_failed_with(item(&[("status", s("completed")), ("owner", s("a"))]));
    assert_eq!(
        store(&[&update]).release(&work(), "a").await,
        Err(StateError::LeaseLost(work().partition_key())),
        "a release is not applied by a completion"
    );
    // Without the item the record is read (consistently) before deciding.
    let update = condition_failed_without_item();
    let read = get_item_answers(item(&[
        ("status", s("in_progress")),
        ("owner", s("b")),
        ("leaseUntil", n(9_000)),
    ]));
    assert_eq!(
        store(&[&update, &read])
            .complete(&work(), "a", "{}", 0)
            .await,
        Err(StateError::LeaseLost(work().partition_key()))
    );
    assert_eq!(read.num_calls(), 1);
}
