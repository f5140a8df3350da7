//! Composition root: configuration, clients and the key cache once, then the Lambda runtime loop.
#![forbid(unsafe_code)]

use std::sync::Arc;

use digest_verifier::s3_folders::S3TrailFolders;
use digest_verifier::{DigestVerifier, VerifierConfig, range_check};
use trailwatch_lambda_common::key_source::{CloudTrailKeySource, KeySource};
use trailwatch_lambda_common::s3_store::S3DigestStore;
use trailwatch_lambda_common::security_hub::{SecurityHubPublisher, WithSecurityHub};
use trailwatch_lambda_common::sns::SnsPublisher;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::{Store, record_ttl_secs};
use trailwatch_lambda_common::{init_tracing, load_sdk_config, s3_client};

/// Everything built once: the verifier of single digests and the trail's folder lister.
struct Service {
    verifier: DigestVerifier<S3DigestStore, KeySource, WithSecurityHub<SnsPublisher>>,
    folders: S3TrailFolders,
}

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
    let s3 = s3_client(&sdk);
    // The state table (STATE_TABLE), once: which alerts of which digest, deletion and overwrite
    // are out.
    let ledger = AlertLedger::new(Store::from_env(&sdk)?, record_ttl_secs()?);
    let state = Arc::new(Service {
        verifier: DigestVerifier {
            store: S3DigestStore::new(s3.clone()),
            // SNS, and each alert as a Security Hub finding too when SECURITY_HUB_FINDINGS=true.
            alerts: WithSecurityHub::new(
                SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn.clone()),
                SecurityHubPublisher::from_env(&sdk, "digest-verifier")?,
            ),
            keys,
            ledger,
            config,
        },
        folders: S3TrailFolders::new(s3),
    });
    // The hourly schedule's range check, or objects from S3 events.
    trailwatch_lambda_common::runtime::serve(state, |state, payload| async move {
        match range_check::request(&payload) {
            // Boxed: the range check's future is deep (every chain, every digest, every log);
            // inline, its type would exceed the compiler's layout depth and bloat the other arm.
            Some(request) => {
                Box::pin(range_check::run(&state.verifier, &state.folders, request?)).await
            }
            None => state.verifier.handle(payload).await,
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
