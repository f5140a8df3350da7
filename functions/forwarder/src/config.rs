//! Forwarder configuration, read once at cold start. Anything invalid stops the cold start with
//! a message naming the variable.

use std::sync::Arc;
use trailwatch_lambda_common::config::{
    ConfigError, concurrency_env, optional_env, parse_env, required_env,
};

use trailwatch_shared::pattern::FilterPattern;
use trailwatch_shared::records::ReaderLimits;

use crate::stream_name::{DEFAULT_TEMPLATE, StreamNameTemplate};

#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    /// `LOG_GROUP_NAME` (required): the destination log group.
    pub log_group: String,
    /// `LOG_STREAM_NAME`: stream name template.
    pub stream_template: StreamNameTemplate,
    /// `FORWARD_PATTERN`: only records matching it are forwarded; empty or unset forwards all.
    pub forward_pattern: Option<Arc<FilterPattern>>,
    /// `MAX_CONCURRENCY`: objects of one event processed at once (default 4).
    pub max_concurrency: usize,
    /// `MAX_DECOMPRESSED_MB`: refuse files that inflate beyond this (default 2048).
    pub limits: ReaderLimits,
    /// `STATE_TTL_DAYS`: how long the state table remembers a forwarded object version, seconds.
    pub state_ttl_secs: i64,
}

impl ForwarderConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let log_group = required_env("LOG_GROUP_NAME")?;
        let template =
            optional_env("LOG_STREAM_NAME")?.unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned());
        let stream_template =
            StreamNameTemplate::parse(&template).map_err(|e| ConfigError::Invalid {
                name: "LOG_STREAM_NAME",
                reason: e.to_string(),
            })?;
        let forward_pattern = match optional_env("FORWARD_PATTERN")? {
            None => None,
            Some(p) => Some(Arc::new(FilterPattern::parse(&p).map_err(|e| {
                ConfigError::Invalid {
                    name: "FORWARD_PATTERN",
                    reason: e.to_string(),
                }
            })?)),
        };
        let max_mb: u64 = parse_env("MAX_DECOMPRESSED_MB", 2048)?;
        Ok(Self {
            log_group,
            stream_template,
            forward_pattern,
            max_concurrency: concurrency_env("MAX_CONCURRENCY", 4)?,
            limits: ReaderLimits {
                max_decompressed_bytes: max_mb << 20,
                ..ReaderLimits::default()
            },
            state_ttl_secs: trailwatch_lambda_common::state::record_ttl_secs()?,
        })
    }
}
