//! The alerter's configuration, read once at cold start. Every error names the variable.
//!
//! | variable | meaning |
//! |---|---|
//! | `ALERT_TOPIC_ARN` | required: the SNS topic alerts are published to |
//! | `RULE_SETS` | comma list of built-in sets (default `security-hub`); `none` for no built-ins |
//! | `CUSTOM_RULES` | inline JSON: an array of rules, or `{"rules": [...]}` |
//! | `CUSTOM_RULES_S3_URI` | `s3://bucket/key` of a JSON document of the same shape, read at cold start |
//! | `MAX_EVENTS_PER_ALERT` | events shown per alert (default 10, 0..=100; more would not fit an e-mail) |
//! | `MAX_CONCURRENCY` | objects processed in parallel per invocation (default 4) |
//! | `STATE_TABLE` | the state table (read by `state::Store::from_env` in `main`): each alert once per file version; unset: memory, so repeats are recognised only within one container |
//! | `STATE_TTL_DAYS` | days a file's record is kept after its last write (default 15, 1..=365) |

use trailwatch_shared::rules::config::RuleSetSelection;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub const DEFAULT_MAX_EVENTS_PER_ALERT: usize = 10;
pub const DEFAULT_MAX_CONCURRENCY: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlerterConfig {
    pub topic_arn: String,
    pub rule_sets: RuleSetSelection,
    /// The `CUSTOM_RULES` JSON text, validated later together with the rule sets.
    pub custom_rules_inline: Option<String>,
    pub custom_rules_s3: Option<S3Location>,
    pub max_events_per_alert: usize,
    pub max_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl S3Location {
    /// `s3://bucket/key` (the key may contain `/`; it is taken verbatim, not URL-decoded).
    pub fn parse(uri: &str) -> Result<Self, String> {
        let rest = uri
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{uri:?} does not start with s3://"))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| format!("{uri:?} has no object key after the bucket"))?;
        if bucket.is_empty() || key.is_empty() {
            return Err(format!(
                "{uri:?} needs both a bucket and a key (s3://bucket/key)"
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl AlerterConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset: CloudFormation cannot easily omit a variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let topic_arn = get("ALERT_TOPIC_ARN").ok_or(ConfigError::Missing {
            name: "ALERT_TOPIC_ARN",
        })?;
        let topic_arn = topic_arn.trim().to_owned();
        if !topic_arn.starts_with("arn:") || !topic_arn.contains(":sns:") {
            return Err(ConfigError::Invalid {
                name: "ALERT_TOPIC_ARN",
                reason: format!(
                    "{topic_arn:?} is not an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)"
                ),
            });
        }
        let rule_sets = match get("RULE_SETS") {
            None => RuleSetSelection::default(),
            Some(v) => RuleSetSelection::parse(&v).map_err(|reason| ConfigError::Invalid {
                name: "RULE_SETS",
                reason,
            })?,
        };
        let custom_rules_s3 = get("CUSTOM_RULES_S3_URI")
            .map(|v| S3Location::parse(&v))
            .transpose()
            .map_err(|reason| ConfigError::Invalid {
                name: "CUSTOM_RULES_S3_URI",
                reason,
            })?;
        let max_events_per_alert = parse_bounded(
            &get,
            "MAX_EVENTS_PER_ALERT",
            DEFAULT_MAX_EVENTS_PER_ALERT,
            0,
            100,
        )?;
        let max_concurrency =
            parse_bounded(&get, "MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY, 1, 64)?;
        Ok(Self {
            topic_arn,
            rule_sets,
            custom_rules_inline: get("CUSTOM_RULES"),
            custom_rules_s3,
            max_events_per_alert,
            max_concurrency,
        })
    }
}

fn parse_bounded(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    let n: usize = raw.trim().parse().map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("{raw:?}: {e}"),
    })?;
    if n < min || n > max {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{n} is not in {min}..={max}"),
        });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:trailwatch-alerts";

    fn load(vars: &[(&str, &str)]) -> Result<AlerterConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AlerterConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = load(&[("ALERT_TOPIC_ARN", TOPIC)]).unwrap();
        assert_eq!(c.topic_arn, TOPIC);
        assert_eq!(
            c.rule_sets,
            RuleSetSelection::Sets(vec!["security-hub".into()])
        );
        assert_eq!(c.max_events_per_alert, 10);
        assert_eq!(c.max_concurrency, 4);
        assert_eq!(c.custom_rules_inline, None);
        assert_eq!(c.custom_rules_s3, None);
    }

    #[test]
    fn missing_or_bad_topic_names_the_variable() {
        let e = load(&[]).unwrap_err().to_string();
        assert!(
            e.contains("ALERT_TOPIC_ARN") && e.contains("required"),
            "{e}"
        );
        let e = load(&[("ALERT_TOPIC_ARN", "  ")]).unwrap_err().to_string();
        assert!(e.contains("ALERT_TOPIC_ARN"), "{e}");
        let e = load(&[("ALERT_TOPIC_ARN", "trailwatch-alerts")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ALERT_TOPIC_ARN") && e.contains("not an SNS topic ARN"),
            "{e}"
        );
    }

    #[test]
    fn every_setting_is_read_and_checked() {
        let c = load(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            ("RULE_SETS", " none "),
            ("CUSTOM_RULES", r#"[{"id":"x"}]"#),
            ("CUSTOM_RULES_S3_URI", "s3://rules-bucket/team/rules.json"),
            ("MAX_EVENTS_PER_ALERT", "0"),
            ("MAX_CONCURRENCY", "8"),
        ])
        .unwrap();
        assert_eq!(c.rule_sets, RuleSetSelection::None);
        assert_eq!(c.custom_rules_inline.as_deref(), Some(r#"[{"id":"x"}]"#));
        assert_eq!(
            c.custom_rules_s3,
            Some(S3Location {
                bucket: "rules-bucket".into(),
                key: "team/rules.json".into()
            })
        );
        assert_eq!(c.max_events_per_alert, 0);
        assert_eq!(c.max_concurrency, 8);
        for (name, value) in [
            ("MAX_EVENTS_PER_ALERT", "ten"),
            ("MAX_EVENTS_PER_ALERT", "101"),
            ("MAX_CONCURRENCY", "0"),
            ("CUSTOM_RULES_S3_URI", "https://bucket/key"),
            ("CUSTOM_RULES_S3_URI", "s3://bucket-only"),
            ("CUSTOM_RULES_S3_URI", "s3:///key"),
        ] {
            let e = load(&[("ALERT_TOPIC_ARN", TOPIC), (name, value)])
                .unwrap_err()
                .to_string();
            assert!(e.contains(name), "{name}={value}: {e}");
        }
    }
}
