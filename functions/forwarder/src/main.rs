//! Composition root: configuration and clients once, then the Lambda runtime loop.
#![forbid(unsafe_code)]

use std::sync::Arc;

use forwarder::sink::CloudWatchSink;
use forwarder::{Forwarder, ForwarderConfig};
use trailwatch_lambda_common::state::Store;
use trailwatch_lambda_common::{init_tracing, load_sdk_config, s3_client};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let config = ForwarderConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let forwarder = Arc::new(Forwarder {
        sink: Arc::new(CloudWatchSink::new(logs, config.log_group.clone())),
        s3: s3_client(&sdk),
        state: Arc::new(Store::from_env(&sdk)?),
        config,
    });
    trailwatch_lambda_common::runtime::serve(forwarder, |forwarder, payload| async move {
        forwarder.handle(payload).await
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
