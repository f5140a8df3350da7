//! Composition root: configuration, clients and the key cache once, then the Lambda runtime loop.
#![forbid(unsafe_code)]

use std::sync::Arc;

use digest_verifier::{DigestVerifier, VerifierConfig};
use trailwatch_lambda_common::key_source::{CloudTrailKeySource, KeySource};
use trailwatch_lambda_common::s3_store::S3DigestStore;
use trailwatch_lambda_common::sns::SnsPublisher;
use trailwatch_lambda_common::{init_tracing, load_sdk_config, s3_client};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let config = VerifierConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let keys = match &config.public_keys_file {
        Some(path) => {
            KeySource::from_file(path).map_err(|e| anyhow::anyhow!("PUBLIC_KEYS_FILE: {e}"))?
        }
        None => KeySource::Api(Box::new(CloudTrailKeySource::new(sdk.clone()))),
    };
    let state = Arc::new(DigestVerifier {
        store: S3DigestStore::new(s3_client(&sdk)),
        alerts: SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn.clone()),
        keys,
        config,
    });
    trailwatch_lambda_common::runtime::serve(state, |state, payload| async move {
        state.handle(payload).await
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
