//! Configuration, read once at cold start; anything invalid stops the cold start with a message
//! naming the variable.

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
}

impl VerifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: required_env("ALERT_TOPIC_ARN")?,
            alert_on_warn: parse_env("ALERT_ON_WARN", false)?,
            max_concurrency: concurrency_env("MAX_CONCURRENCY", 8)?,
            public_keys_file: optional_env("PUBLIC_KEYS_FILE")?,
        })
    }
}
