//! Composition root: configuration and clients once, then the Lambda runtime loop.
#![forbid(unsafe_code)]

use std::sync::Arc;

use forwarder::sink::CloudWatchSink;
use forwarder::{Forwarder, ForwarderConfig};
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
    trailwatch_lambda_common::runtime::serve(state, |state, payload| async move {
        state.handle(payload).await
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
