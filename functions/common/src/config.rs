//! Configuration from the environment. Every error names the variable, so a bad deployment
//! fails at cold start with a message an operator can act on.

use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A required, non-empty variable.
pub fn required_env(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(ConfigError::Missing { name }),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            name,
            reason: "not valid UTF-8".to_owned(),
        }),
    }
}

/// An optional variable; empty counts as unset (CloudFormation cannot omit a variable easily).
pub fn optional_env(name: &'static str) -> Result<Option<String>, ConfigError> {
    match required_env(name) {
        Ok(v) => Ok(Some(v)),
        Err(ConfigError::Missing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An optional variable parsed with `FromStr`, or `default` when unset.
pub fn parse_env<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match optional_env(name)? {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: format!("{v:?}: {e}"),
        }),
    }
}

/// A concurrency setting: a positive integer with a sane ceiling.
pub fn concurrency_env(name: &'static str, default: usize) -> Result<usize, ConfigError> {
    let n: usize = parse_env(name, default)?;
    if n == 0 || n > 256 {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{n} is not in 1..=256"),
        });
    }
    Ok(n)
}
