//! Alert rules: a filter pattern with an id, a severity and advice, and the built-in CIS /
//! Security Hub rule sets. [`CompiledRules`] evaluates a whole set on one record in one pass.
//!
//! There is one rule model. A [`Rule`] is what a rule document holds — the built-in sets
//! (`shared/data/rule-sets/*.json`, embedded in the binary) and the alerter's custom rules alike —
//! and every rule takes one path: [`config::parse_rules`] reads a document (its structure: fields,
//! types, severities), then [`CompiledRules::compile`] checks what the rules mean (ids, thresholds,
//! patterns), normalises them and drops the disabled ones. [`config::load_rules`] puts built-in
//! sets and custom documents together on that path. The format is documented in the README
//! ("Configuration reference", rule format).

mod builtin;
mod compiled;
pub mod config;
mod prefilter;

pub use builtin::{BUILTIN_SET_NAMES, builtin_set};
pub use compiled::{CompiledRules, RuleError};

use serde::{Deserialize, Deserializer, Serialize};

/// How urgent a match is. Ordered: `Low < Medium < High < Critical`.
///
/// Read case-insensitively (`"high"`, `"High"`, `"HIGH"`); always written, shown in alerts and
/// sent as the SNS `severity` attribute in its canonical upper-case form ([`Severity::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Worth a look when convenient.
    Low,
    /// Worth a review; often noisy one by one, meaningful in bursts.
    Medium,
    /// A change that grants access or destroys protection.
    High,
    /// The highest privilege in use, or monitoring being switched off.
    Critical,
}

impl Severity {
    /// Every severity, in ascending order.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The canonical form: `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Reads a severity in any letter case, surrounding spaces ignored; the error says what is
    /// accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| format!("{text:?} is not one of LOW, MEDIUM, HIGH, CRITICAL"))
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)
            .map_err(|e| serde::de::Error::custom(format!("severity: {e}")))?;
        Severity::parse(&text).map_err(|e| serde::de::Error::custom(format!("severity: {e}")))
    }
}

/// One rule, in the one format shared by the built-in sets and custom rules (the alerter's
/// `CUSTOM_RULES` / `CUSTOM_RULES_S3_URI`, `trailwatch scan --custom-rules`):
///
/// ```json
/// {"id": "team:guardduty-deleted", "title": "GuardDuty detector deleted",
///  "pattern": "{ $.eventSource = guardduty.amazonaws.com && $.eventName = DeleteDetector }",
///  "severity": "CRITICAL", "threshold": 1, "description": "Why it matters, what to do.",
///  "enabled": true}
/// ```
///
/// `id`, `pattern` and `severity` are required. Deserializing checks only the structure (every
/// field has its type, no unknown field, a known severity; a type error names its field);
/// [`CompiledRules::compile`] checks the rest and normalises. Unknown fields are rejected so that
/// a misspelt field does not silently change a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Names the rule in alerts, SNS attributes and metrics; unique in a rule set. A custom rule
    /// with a built-in rule's id replaces it. Compiled: trimmed, 1..=256 printable characters.
    #[serde(deserialize_with = "field::id")]
    pub id: String,
    /// One line shown in alerts. Compiled: defaults to the id when missing or blank.
    #[serde(default, deserialize_with = "field::title")]
    pub title: String,
    /// A CloudWatch Logs filter pattern (see [`crate::pattern`]); compiled even when the rule is
    /// disabled, so that a rule is valid or not whatever its `enabled`.
    #[serde(deserialize_with = "field::pattern")]
    pub pattern: String,
    /// How urgent a match is.
    pub severity: Severity,
    /// Matches needed before the rule alerts; at least 1 (the default). Without `period`, counted
    /// within one log file; with it, over the period's window across files.
    #[serde(default = "default_threshold", deserialize_with = "field::threshold")]
    pub threshold: u64,
    /// Seconds: when set, `threshold` counts matches over fixed windows of this length (aligned on
    /// multiples of the period since the Unix epoch, like a CloudWatch metric alarm's period),
    /// by each event's `eventTime`, per account and region, across files and invocations; the rule
    /// then alerts once per window that reaches the threshold (see
    /// [`crate::alert::window_alert`]), never per file. Compiled: 10, 30 or a multiple of 60 from
    /// 60 to 86400 ([`valid_period`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "field::period"
    )]
    pub period: Option<u64>,
    /// Why the rule matters and what to do when it fires. Compiled: a blank one is dropped.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "field::description"
    )]
    pub description: Option<String>,
    /// Disabled rules are checked, then dropped by [`CompiledRules::compile`]; default true.
    #[serde(default = "default_enabled", deserialize_with = "field::enabled")]
    pub enabled: bool,
}

/// Whether `secs` is a period a rule may have: 10, 30, or a multiple of 60 from 60 to 86400 —
/// the periods a CloudWatch metric alarm accepts (so an alarm a user moves here keeps its
/// period), capped at one day, the longest one alarm evaluation covers. The cap also bounds what
/// a window holds in the state table (one contribution id per log file that matched within it).
pub fn valid_period(secs: u64) -> bool {
    matches!(secs, 10 | 30) || (secs.is_multiple_of(60) && (60..=86_400).contains(&secs))
}

fn default_threshold() -> u64 {
    1
}

fn default_enabled() -> bool {
    true
}

/// Field deserializers whose type errors name the field (serde's own say only "invalid type").
mod field {
    use serde::{Deserialize, Deserializer, de::Error as _};

    macro_rules! named {
        ($($name:ident: $ty:ty),* $(,)?) => {$(
            pub(super) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                <$ty>::deserialize(d)
                    .map_err(|e| D::Error::custom(format!(concat!(stringify!($name), ": {}"), e)))
            }
        )*};
    }

    named!(
        id: String,
        pattern: String,
        threshold: u64,
        period: Option<u64>,
        description: Option<String>,
        enabled: bool,
    );

    /// `null` reads as no title, like a missing one.
    pub(super) fn title<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Option::<String>::deserialize(d)
            .map(Option::unwrap_or_default)
            .map_err(|e| D::Error::custom(format!("title: {e}")))
    }
}
