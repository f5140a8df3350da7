//! Running a function's per-object work over a decoded trigger, and answering the trigger the
//! way its source expects: an error (so Lambda retries and the on-failure destination keeps the
//! event) for direct invocations, `batchItemFailures` for SQS, per-task results for S3 Batch
//! ([`crate::task_result`]: the object's summary when it succeeded, its failure's class and text
//! when not).

use std::fmt::Display;
use std::future::Future;

use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use trailwatch_shared::trigger::{DeletionNotice, ObjectRef, Trigger, TriggerError, TriggerSource};

use crate::failure::ObjectFailure;
use crate::task_result::TaskResult;

/// Objects that could not be processed; returned as the invocation's error.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} object(s) failed: {}", failures.len(), failures.join("; "))]
pub struct ItemsFailed {
    pub total: usize,
    pub failures: Vec<String>,
    /// How many of the failures are permissions the role lacks.
    pub permission_denied: usize,
}

/// Why an invocation failed: what Lambda records as the failure record's `responsePayload`.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Items(#[from] ItemsFailed),
}

impl InvocationError {
    /// The failure record's `errorType`, so that an operator (or a filter on the failure queue)
    /// tells a role that lacks a permission from a fault at a glance.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvocationError::Trigger(_) => "trailwatch.UnrecognisedTrigger",
            InvocationError::Items(items)
                if items.permission_denied > 0
                    && items.permission_denied == items.failures.len() =>
            {
                "trailwatch.PermissionDenied"
            }
            InvocationError::Items(_) => "trailwatch.ObjectsFailed",
        }
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// One object's failure as the answer to the trigger needs it.
struct Failed {
    text: String,
    permission_denied: bool,
    transient: bool,
}

/// Runs `work` on every object of `trigger`, at most `concurrency` at a time. Deletion notices
/// are not work for these functions: they are logged, counted in the response, and acknowledged.
/// `work`'s `Ok` value says what was done with the object (an S3 Batch task's result string).
///
/// Returns the response payload, or [`ItemsFailed`] when the source has no per-item answer and
/// some object failed (Lambda then retries the whole event; work must be idempotent or
/// at-least-once by design).
pub async fn run_items<F, Fut, O, E>(
    trigger: Trigger,
    concurrency: usize,
    work: F,
) -> Result<Value, ItemsFailed>
where
    F: Fn(ObjectRef) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    O: Display,
    E: ObjectFailure,
{
    run_items_and_deletions(trigger, concurrency, work, |notice| async move {
        tracing::info!(bucket = %notice.bucket, key = %notice.key,
            deletion_type = notice.deletion_type.as_str(),
            "deletion notice ignored: this function acts on created objects only");
        Ok(())
    })
    .await
}

/// [`run_items`] for a function that also acts on deletions: `on_deletion` runs on every
/// [`DeletionNotice`] (sharing the `concurrency` limit with `work`), and a failed deletion fails
/// its SQS message or the invocation exactly as a failed object does.
pub async fn run_items_and_deletions<F, Fut, O, D, DFut, E>(
    trigger: Trigger,
    concurrency: usize,
    work: F,
    on_deletion: D,
) -> Result<Value, ItemsFailed>
where
    F: Fn(ObjectRef) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    O: Display,
    D: Fn(DeletionNotice) -> DFut,
    DFut: Future<Output = Result<(), E>>,
    E: ObjectFailure,
{
    if trigger.source == TriggerSource::TestEvent {
        tracing::info!("s3:TestEvent acknowledged; nothing to do");
        return Ok(json!({"status": "test-event"}));
    }
    for bad in &trigger.failed_messages {
        tracing::error!(message_id = %bad.item_id, reason = %bad.reason, "undecodable SQS message");
    }
    let undecodable: Vec<String> = trigger
        .failed_messages
        .iter()
        .map(|m| m.item_id.clone())
        .collect();
    let total = trigger.items.len() + trigger.deletions.len();
    let deletions = trigger.deletions.len();
    let work_items = trigger.items.into_iter().map(|item| {
        let fut = work(item.object.clone());
        async move {
            let result = fut.await.map(|done| done.to_string());
            (item.item_id, item.object, result)
        }
        .left_future()
    });
    let deletion_items = trigger.deletions.into_iter().map(|notice| {
        let (item_id, object) = (
            notice.item_id.clone(),
            ObjectRef {
                bucket: notice.bucket.clone(),
                key: notice.key.clone(),
                size: None,
                version_id: notice.version_id.clone(),
                requester: None,
                source_ip: None,
                etag: None,
            },
        );
        let fut = on_deletion(notice);
        async move {
            let result = fut.await.map(|()| "deletion notice handled".to_owned());
            (item_id, object, result)
        }
        .right_future()
    });
    let results: Vec<(Option<String>, ObjectRef, Result<String, Failed>)> =
        futures::stream::iter(work_items.chain(deletion_items))
            .map(|fut| async move {
                let (item_id, object, result) = fut.await;
                let result = result.map_err(|e| Failed {
                    text: e.to_string(),
                    permission_denied: e.permission_denied(),
                    transient: e.transient(),
                });
                (item_id, object, result)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;

    for (_, object, result) in &results {
        if let Err(e) = result {
            tracing::error!(bucket = %object.bucket, key = %object.key, error = %e.text,
                permission_denied = e.permission_denied, transient = e.transient, "object failed");
        }
    }

    match trigger.source {
        TriggerSource::Sqs => {
            // One message may carry several objects: it fails if any of them failed.
            let mut failed: Vec<String> = results
                .iter()
                .filter(|(_, _, r)| r.is_err())
                .filter_map(|(id, _, _)| id.clone())
                .chain(undecodable)
                .collect();
            failed.sort();
            failed.dedup();
            let failures: Vec<Value> = failed
                .iter()
                .map(|id| json!({"itemIdentifier": id}))
                .collect();
            Ok(json!({"batchItemFailures": failures}))
        }
        TriggerSource::S3Batch {
            invocation_id,
            invocation_schema_version,
        } => {
            // Batch Operations retries a temporary failure; a permanent one (a refusal, a
            // missing or corrupt object) would only fail again.
            let results: Vec<Value> = results
                .into_iter()
                .map(|(id, _, r)| {
                    let task = match r {
                        Ok(summary) => TaskResult::succeeded(summary),
                        Err(e) => TaskResult::from_failure(e.transient, e.text),
                    };
                    json!({"taskId": id, "resultCode": task.code.as_str(),
                        "resultString": task.text})
                })
                .collect();
            Ok(json!({
                "invocationSchemaVersion": invocation_schema_version,
                "treatMissingKeysAs": "PermanentFailure",
                "invocationId": invocation_id,
                "results": results,
            }))
        }
        _ => {
            let failed: Vec<(ObjectRef, Failed)> = results
                .into_iter()
                .filter_map(|(_, o, r)| r.err().map(|e| (o, e)))
                .collect();
            if failed.is_empty() {
                return Ok(
                    json!({"status": "ok", "objects": total - deletions, "deletions": deletions,
                        "ignored": trigger.ignored_messages}),
                );
            }
            Err(ItemsFailed {
                total,
                permission_denied: failed.iter().filter(|(_, e)| e.permission_denied).count(),
                failures: failed
                    .into_iter()
                    .map(|(o, e)| format!("s3://{}/{}: {}", o.bucket, o.key, e.text))
                    .collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwatch_shared::trigger::{DeletionType, FailedMessage, WorkItem};

    fn item(key: &str, id: Option<&str>) -> WorkItem {
        WorkItem {
            object: ObjectRef {
                bucket: "b".into(),
                key: key.into(),
                size: None,
                version_id: None,
                requester: None,
                source_ip: None,
                etag: None,
            },
            item_id: id.map(str::to_owned),
        }
    }

    fn trigger(source: TriggerSource, items: Vec<WorkItem>) -> Trigger {
        Trigger {
            source,
            items,
            deletions: vec![],
            ignored_messages: 0,
            failed_messages: vec![],
        }
    }

    async fn fail_on_bad(o: ObjectRef) -> Result<String, String> {
        if o.key.contains("denied") {
            return Err(format!("{} refused", o.key));
        }
        if o.key.contains("bad") {
            Err(format!("{} broke", o.key))
        } else {
            Ok(format!("read {}", o.key))
        }
    }

    #[tokio::test]
    async fn direct_invocation_fails_when_any_object_fails() {
        let t = trigger(
            TriggerSource::S3Notification,
            vec![item("good", None), item("bad", None)],
        );
        let err = run_items(t, 2, fail_on_bad).await.unwrap_err();
        assert_eq!(err.failures.len(), 1);
        assert!(err.to_string().contains("s3://b/bad: bad broke"), "{err}");
        let ok = trigger(TriggerSource::EventBridge, vec![item("good", None)]);
        assert_eq!(run_items(ok, 2, fail_on_bad).await.unwrap()["status"], "ok");
    }

    fn deletion(key: &str, id: Option<&str>) -> DeletionNotice {
        DeletionNotice {
            bucket: "b".into(),
            key: key.into(),
            version_id: None,
            deletion_type: DeletionType::PermanentlyDeleted,
            reason: None,
            requester: None,
            source_ip: None,
            request_id: None,
            sequencer: None,
            event_time: None,
            item_id: id.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn deletions_are_never_work_for_run_items_only_counted() {
        let mut t = trigger(TriggerSource::EventBridge, vec![item("good", None)]);
        t.deletions.push(deletion("bad-if-read", None));
        let v = run_items(t, 2, fail_on_bad).await.unwrap();
        assert_eq!(
            v,
            json!({"status": "ok", "objects": 1, "deletions": 1, "ignored": 0})
        );
    }

    #[tokio::test]
    async fn a_failed_deletion_fails_its_sqs_message() {
        let mut t = trigger(TriggerSource::Sqs, vec![item("good", Some("m1"))]);
        t.deletions.push(deletion("bad", Some("m2")));
        t.deletions.push(deletion("fine", Some("m3")));
        let v = run_items_and_deletions(t, 2, fail_on_bad, |n: DeletionNotice| async move {
            if n.key == "bad" {
                Err(format!("{} alert not published", n.key))
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        assert_eq!(v, json!({"batchItemFailures": [{"itemIdentifier": "m2"}]}));
    }

    #[tokio::test]
    async fn sqs_reports_only_failed_and_undecodable_messages() {
        let mut t = trigger(
            TriggerSource::Sqs,
            vec![
                item("good", Some("m1")),
                item("bad", Some("m2")),
                item("bad2", Some("m2")),
            ],
        );
        t.failed_messages.push(FailedMessage {
            item_id: "m3".into(),
            reason: "not JSON".into(),
        });
        let v = run_items(t, 3, fail_on_bad).await.unwrap();
        assert_eq!(
            v,
            json!({"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]})
        );
    }

    #[tokio::test]
    async fn s3_batch_answers_per_task() {
        let t = trigger(
            TriggerSource::S3Batch {
                invocation_id: "inv".into(),
                invocation_schema_version: "1.0".into(),
            },
            vec![item("good", Some("t1")), item("bad", Some("t2"))],
        );
        let v = run_items(t, 1, fail_on_bad).await.unwrap();
        assert_eq!(v["invocationId"], "inv");
        assert_eq!(
            v["results"],
            json!([
                {"taskId": "t1", "resultCode": "Succeeded", "resultString": "read good"},
                // A plain string is an unclassified failure: retried, so nothing is lost.
                {"taskId": "t2", "resultCode": "TemporaryFailure", "resultString": "bad broke"},
            ])
        );
    }

    #[tokio::test]
    async fn test_event_is_acknowledged_without_work() {
        let t = trigger(TriggerSource::TestEvent, vec![]);
        let v = run_items(t, 1, |_o: ObjectRef| async {
            Err::<String, _>(String::from("must not run"))
        })
        .await
        .unwrap();
        assert_eq!(v["status"], "test-event");
    }

    /// A failure that says it is a missing permission.
    #[derive(Debug)]
    struct Refused(String);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "permission denied: {}", self.0)
        }
    }

    impl ObjectFailure for Refused {
        fn permission_denied(&self) -> bool {
            true
        }
    }

    async fn refuse_denied(o: ObjectRef) -> Result<&'static str, Refused> {
        if o.key.contains("denied") {
            Err(Refused(o.key))
        } else {
            Ok("done")
        }
    }

    #[tokio::test]
    async fn a_refused_object_is_a_permanent_batch_failure_and_a_permission_error_type() {
        let t = trigger(
            TriggerSource::S3Batch {
                invocation_id: "inv".into(),
                invocation_schema_version: "2.0".into(),
            },
            vec![item("denied", Some("t1")), item("good", Some("t2"))],
        );
        let v = run_items(t, 1, refuse_denied).await.unwrap();
        assert_eq!(v["results"][0]["resultCode"], "PermanentFailure", "{v}");
        assert_eq!(v["results"][1]["resultCode"], "Succeeded", "{v}");

        let direct = trigger(TriggerSource::EventBridge, vec![item("denied", None)]);
        let err = InvocationError::from(run_items(direct, 1, refuse_denied).await.unwrap_err());
        assert_eq!(err.error_type(), "trailwatch.PermissionDenied");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert!(
            diagnostic
                .error_message
                .contains("s3://b/denied: permission denied: denied")
        );

        // A mix is not all permissions: the other failure may be a fault worth retrying.
        let mixed = trigger(
            TriggerSource::EventBridge,
            vec![item("denied", None), item("bad", None)],
        );
        let err = run_items(mixed, 2, fail_on_bad).await.unwrap_err();
        assert_eq!(
            err.permission_denied, 0,
            "plain strings are never permission errors"
        );
        assert_eq!(
            InvocationError::from(err).error_type(),
            "trailwatch.ObjectsFailed"
        );
    }

    /// Failures of each class a function reports, classified as their types do.
    #[derive(Debug)]
    enum Classified {
        Missing,
        Corrupt,
        Refused,
        Throttled,
        LeasedElsewhere,
        Huge,
    }

    impl std::fmt::Display for Classified {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Classified::Huge => f.write_str(&"x".repeat(5000)),
                other => write!(f, "{other:?}"),
            }
        }
    }

    impl ObjectFailure for Classified {
        fn permission_denied(&self) -> bool {
            matches!(self, Classified::Refused)
        }
        fn transient(&self) -> bool {
            matches!(self, Classified::Throttled | Classified::LeasedElsewhere)
        }
    }

    #[tokio::test]
    async fn each_failure_class_gets_its_batch_result_code_and_text() {
        let keys = [
            "ok",
            "missing",
            "corrupt",
            "refused",
            "throttled",
            "leased",
            "huge",
            "skip",
        ];
        let t = trigger(
            TriggerSource::S3Batch {
                invocation_id: "inv".into(),
                invocation_schema_version: "2.0".into(),
            },
            keys.iter().map(|k| item(k, Some(k))).collect(),
        );
        let v = run_items(t, 3, |o: ObjectRef| async move {
            match o.key.as_str() {
                "ok" => Ok("forwarded 2 of 2 records to s (0 filtered, 0 rejected)".to_owned()),
                "skip" => Ok("skipped: digest file".to_owned()),
                "missing" => Err(Classified::Missing),
                "corrupt" => Err(Classified::Corrupt),
                "refused" => Err(Classified::Refused),
                "throttled" => Err(Classified::Throttled),
                "leased" => Err(Classified::LeasedElsewhere),
                _ => Err(Classified::Huge),
            }
        })
        .await
        .unwrap();
        let results = v["results"].as_array().unwrap();
        let by_task = |task: &str| {
            results
                .iter()
                .find(|r| r["taskId"] == task)
                .unwrap_or_else(|| panic!("no result for {task}: {v}"))
        };
        for (task, code) in [
            ("ok", "Succeeded"),
            ("skip", "Succeeded"),
            ("missing", "PermanentFailure"),
            ("corrupt", "PermanentFailure"),
            ("refused", "PermanentFailure"),
            ("throttled", "TemporaryFailure"),
            ("leased", "TemporaryFailure"),
            ("huge", "PermanentFailure"),
        ] {
            assert_eq!(by_task(task)["resultCode"], code, "{task}: {v}");
        }
        assert_eq!(results.len(), keys.len(), "one result per task");
        assert_eq!(
            by_task("ok")["resultString"],
            "forwarded 2 of 2 records to s (0 filtered, 0 rejected)"
        );
        assert_eq!(by_task("missing")["resultString"], "Missing");
        let huge = by_task("huge")["resultString"].as_str().unwrap();
        assert!(
            huge.len() <= crate::task_result::MAX_RESULT_STRING_BYTES && huge.ends_with('…'),
            "{}",
            huge.len()
        );
        assert_eq!(v["treatMissingKeysAs"], "PermanentFailure");
        assert_eq!(v["invocationSchemaVersion"], "2.0");
    }
}
