//! Alert rules: a filter pattern with an id, a severity and advice, and the built-in CIS /
//! Security Hub rule sets. [`CompiledRules`] evaluates a whole set on one record in one pass.

mod builtin;
mod compiled;
pub mod config;
mod prefilter;

pub use builtin::{BUILTIN_SET_NAMES, builtin_set};
pub use compiled::{CompiledRules, RuleError};

use serde::{Deserialize, Serialize};

/// How urgent a match is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule, as written in JSON (the alerter's `CUSTOM_RULES`) or built in.
///
/// ```json
/// {"id": "my-stop-logging", "title": "CloudTrail stopped", "pattern": "{ $.eventName = StopLogging }",
///  "severity": "CRITICAL", "threshold": 1, "description": "…", "enabled": true}
/// ```
/// Unknown fields are rejected so that a misspelt field does not silently change a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    pub title: String,
    /// A CloudWatch Logs filter pattern (see [`crate::pattern`]).
    pub pattern: String,
    pub severity: Severity,
    /// Matches needed (within the alerter's window) before an alert; at least 1.
    #[serde(default = "default_threshold")]
    pub threshold: u32,
    /// Why the rule matters and what to do when it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Disabled rules are dropped by [`CompiledRules::compile`].
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_threshold() -> u32 {
    1
}

fn default_enabled() -> bool {
    true
}
