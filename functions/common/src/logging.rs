//! Structured JSON logs on stdout, where Lambda collects them: one object a line.

/// Initialises `tracing` with JSON output. `RUST_LOG` / `AWS_LAMBDA_LOG_LEVEL` choose the level
/// (default `info`); the AWS SDK's own chatter is held at `warn`.
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},aws_smithy_runtime=warn,aws_config=warn,aws_sdk_s3=warn,hyper=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
