//! Configuration, read once at cold start; anything invalid stops the cold start with a message
//! naming the variable. `STATE_TABLE` and `STATE_TTL_DAYS` (the state table that makes each
//! alert go out once) are read by `state::Store::from_env` in `main`.

use trailwatch_lambda_common::config::{
    ConfigError, concurrency_env, optional_env, parse_env, required_env,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// `ALERT_TOPIC_ARN` (required).
    pub topic_arn: String,
    /// `ALERT_ON_WARN`: also alert when the worst finding is a warning (default false).
    pub alert_on_warn: bool,
    /// `MAX_CONCURRENCY`: log files hashed at once per digest (default 8).
    pub max_concurrency: usize,
    /// `PUBLIC_KEYS_FILE`: a `ListPublicKeys` response body used instead of the API.
    pub public_keys_file: Option<String>,
    /// `OVERWRITE_CHECK`: list the versions of every created CloudTrail file to detect an
    /// overwrite (default true). The template never sets it; `false` exists only for a test S3
    /// that cannot serve the listing (moto under IAM enforcement rejects the SDK's encoded
    /// `prefix` in its SigV4 check: tests/e2e/iam.rs), and each skipped check is still counted.
    pub overwrite_check: bool,
}

impl VerifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: required_env("ALERT_TOPIC_ARN")?,
            alert_on_warn: parse_env("ALERT_ON_WARN", false)?,
            max_concurrency: concurrency_env("MAX_CONCURRENCY", 8)?,
            public_keys_file: optional_env("PUBLIC_KEYS_FILE")?,
            overwrite_check: parse_env("OVERWRITE_CHECK", true)?,
        })
    }
}
