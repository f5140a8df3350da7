//! The Lambda runtime loop every function runs: JSON in, JSON out, state built once.

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::intake::InvocationError;

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
        async move {
            handle(state, event.payload)
                .await
                .map_err(lambda_runtime::Diagnostic::from)
        }
    }))
    .await
}
