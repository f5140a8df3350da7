//! SDK configuration, loaded once per process before `lambda_runtime::run`.

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};

/// Loads the SDK configuration from the standard sources (environment, profile, container and
/// instance credentials). Endpoints follow the SDK's standard `AWS_ENDPOINT_URL` /
/// `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same binary runs against AWS and a local
/// stand-in. Retries: standard mode with 5 attempts, so throttling and 5xx are retried with
/// exponential backoff and jitter before an error reaches our code.
pub async fn load_sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(5));
    let config = loader.load().await;
    if config.region().is_some() {
        config
    } else {
        // Lambda always sets AWS_REGION; a developer machine may not. Default like the CLI does.
        config
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build()
    }
}

/// An S3 client; path-style addressing when a custom endpoint is configured, because local
/// stand-ins (moto, MinIO) cannot serve virtual-hosted bucket names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint =
        config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}
