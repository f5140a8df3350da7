//! Composition root: configuration and clients once, then the Lambda runtime loop.
#![forbid(unsafe_code)]

use std::sync::Arc;

use forwarder::sink::CloudWatchSink;
use forwarder::{Forwarder, ForwarderConfig};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use trailwatch_lambda_common::{init_tracing, load_sdk_config, s3_client};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let config = ForwarderConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let state = Arc::new(Forwarder {
        sink: Arc::new(CloudWatchSink::new(logs, config.log_group.clone())),
        s3: s3_client(&sdk),
        config,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move {
            state
                .handle(event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
