//! The Lambda runtime loop every function runs: JSON in, JSON out, state built once.

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// Serves invocations with `handle(state, payload)` until the runtime stops. `state` is built
/// once by `main` (configuration, SDK clients, caches) and shared by all invocations.
pub async fn serve<S, F, Fut, E>(state: Arc<S>, handle: F) -> Result<(), lambda_runtime::Error>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, E>> + Send,
    E: std::error::Error + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (state, handle) = (state.clone(), handle.clone());
        async move {
            handle(state, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
