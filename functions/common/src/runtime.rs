//! The Lambda runtime loop every function runs: JSON in, JSON out, state built once.
//!
//! Each invocation runs inside a task-local [`Invocation`] (its deadline and request id), so code
//! deep in a handler (the state table's lease, its owner tokens) knows them without threading the
//! Lambda context through every signature.

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::intake::InvocationError;

/// Lambda's maximum timeout: the longest any invocation can still be running.
pub const MAX_INVOCATION_MS: i64 = 15 * 60 * 1000;

/// What the current invocation is: set by [`serve`] around each handler future.
#[derive(Debug, Clone)]
struct Invocation {
    /// When Lambda stops the invocation, ms since the Unix epoch.
    deadline_ms: i64,
    request_id: String,
}

tokio::task_local! {
    static INVOCATION: Invocation;
}

/// Serves invocations with `handle(state, payload)` until the runtime stops. `state` is built
/// once by `main` (configuration, SDK clients, caches) and shared by all invocations.
///
/// A failed invocation is answered with the error's own `errorType` (see
/// [`InvocationError::error_type`]): it is what the failure queue's record shows.
pub async fn serve<S, F, Fut>(state: Arc<S>, handle: F) -> Result<(), lambda_runtime::Error>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, InvocationError>> + Send,
{
    let handle = Arc::new(handle);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (state, handle) = (state.clone(), handle.clone());
        let invocation = Invocation {
            deadline_ms: i64::try_from(event.context.deadline).unwrap_or(i64::MAX),
            request_id: event.context.request_id.clone(),
        };
        INVOCATION.scope(invocation, async move {
            handle(state, event.payload)
                .await
                .map_err(lambda_runtime::Diagnostic::from)
        })
    }))
    .await
}

/// The current invocation's deadline (ms since the Unix epoch); `None` outside an invocation
/// (unit tests, the CLI) or in a task spawned without the task-local (`tokio::spawn` does not
/// inherit it: use [`with_current_invocation`]).
pub fn invocation_deadline_ms() -> Option<i64> {
    INVOCATION.try_with(|i| i.deadline_ms).ok()
}

/// The current invocation's request id; `None` outside an invocation.
pub fn invocation_request_id() -> Option<String> {
    INVOCATION.try_with(|i| i.request_id.clone()).ok()
}

/// Wraps `fut` so it sees the current invocation (if any), for futures handed to `tokio::spawn`.
pub fn with_current_invocation<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let current = INVOCATION.try_with(Clone::clone).ok();
    async move {
        match current {
            Some(inv) => INVOCATION.scope(inv, fut).await,
            None => fut.await,
        }
    }
}

/// Until when a claim made now holds: the invocation's deadline when known (after it Lambda has
/// stopped this attempt, so another may take over), else `now + 15 minutes`, Lambda's maximum
/// timeout (no invocation can outlive it). A deadline that is not a time within the next 15
/// minutes is not trusted: `cargo lambda watch` sends the timeout itself (`600000`, relative),
/// which read as an absolute time would be in 1970 and give every claim an expired lease, so two
/// concurrent duplicates would both be processed.
pub fn lease_until_ms(now_ms: i64) -> i64 {
    let max = now_ms.saturating_add(MAX_INVOCATION_MS);
    match invocation_deadline_ms() {
        Some(deadline) if deadline > now_ms && deadline <= max => deadline,
        _ => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outside_an_invocation_nothing_is_known_and_the_lease_is_the_maximum_timeout() {
        assert_eq!(invocation_deadline_ms(), None);
        assert_eq!(invocation_request_id(), None);
        assert_eq!(lease_until_ms(1_000), 1_000 + 900_000);
    }

    #[tokio::test]
    async fn inside_an_invocation_its_deadline_bounds_the_lease_also_in_spawned_tasks() {
        let inv = Invocation {
            deadline_ms: 5_000,
            request_id: "req-1".into(),
        };
        INVOCATION
            .scope(inv, async {
                assert_eq!(invocation_deadline_ms(), Some(5_000));
                assert_eq!(invocation_request_id().as_deref(), Some("req-1"));
                assert_eq!(lease_until_ms(1_000), 5_000);
                // A plain spawn loses the task-local; the wrapper carries it.
                let plain = tokio::spawn(async { invocation_deadline_ms() });
                assert_eq!(plain.await.unwrap(), None);
                let carried =
                    tokio::spawn(with_current_invocation(async { invocation_deadline_ms() }));
                assert_eq!(carried.await.unwrap(), Some(5_000));
            })
            .await;
    }

    #[tokio::test]
    async fn a_deadline_that_is_not_a_time_in_the_next_15_minutes_is_not_trusted() {
        let now = 1_765_000_000_000;
        for (deadline, expected) in [
            // cargo lambda watch: the relative timeout, read as 1970.
            (600_000, now + 900_000),
            // Already past.
            (now - 1, now + 900_000),
            // Beyond any Lambda timeout.
            (now + 3_600_000, now + 900_000),
            // A real deadline: kept (negative control).
            (now + 60_000, now + 60_000),
        ] {
            let inv = Invocation {
                deadline_ms: deadline,
                request_id: "r".into(),
            };
            let lease = INVOCATION.scope(inv, async { lease_until_ms(now) }).await;
            assert_eq!(lease, expected, "deadline {deadline}");
        }
    }
}
