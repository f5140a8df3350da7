//! Which rules the alerter runs: built-in sets plus custom rules, validated as a whole at cold
//! start so that a bad rule stops the deployment instead of silently never alerting.
//!
//! Custom rules (`CUSTOM_RULES` inline, or the object at `CUSTOM_RULES_S3_URI`) are JSON, either
//! an array of rules or an object `{"rules": [...]}` (both accepted in both places):
//!
//! ```json
//! [{"id": "team:guardduty-disabled", "title": "GuardDuty detector deleted",
//!   "pattern": "{ $.eventSource = guardduty.amazonaws.com && $.eventName = DeleteDetector }",
//!   "severity": "CRITICAL", "threshold": 1, "description": "Why it matters / what to do",
//!   "enabled": true}]
//! ```
//!
//! `id`, `pattern` and `severity` (`LOW|MEDIUM|HIGH|CRITICAL`) are required; `title` defaults to
//! the id, `threshold` (matches in one file needed to alert) to 1, `enabled` to true. A custom
//! rule whose id equals a built-in rule's id replaces it, so a built-in can be re-tuned
//! (threshold, severity) or switched off (`"enabled": false`). Two custom rules with one id,
//! unknown fields, or a pattern the engine rejects fail cold start with a message naming the rule.

use crate::pattern::FilterPattern;
use crate::rules::{self, CompiledRules, RuleDef, Severity};
use serde::Deserialize;
use serde_json::Value;

/// `RULE_SETS`: the built-in sets to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSetSelection {
    None,
    Sets(Vec<String>),
}

impl Default for RuleSetSelection {
    fn default() -> Self {
        Self::Sets(vec!["security-hub".to_owned()])
    }
}

impl RuleSetSelection {
    /// A comma list of set names, or `none`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let names: Vec<String> = text
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Self::default());
        }
        if names.iter().any(|n| n.eq_ignore_ascii_case("none")) {
            return if names.len() == 1 {
                Ok(Self::None)
            } else {
                Err(format!(
                    "{text:?}: `none` cannot be combined with rule sets"
                ))
            };
        }
        let mut sets: Vec<String> = Vec::new();
        for name in names {
            let known = rules::BUILTIN_SET_NAMES
                .iter()
                .find(|k| k.eq_ignore_ascii_case(&name));
            match known {
                Some(k) if !sets.iter().any(|s| s == k) => sets.push((*k).to_owned()),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "unknown rule set {name:?} (known: {}, or none)",
                        rules::BUILTIN_SET_NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(Self::Sets(sets))
    }
}

/// One rule as the alerter holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub id: String,
    pub title: String,
    pub pattern: String,
    pub severity: Severity,
    pub threshold: u64,
    pub description: Option<String>,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleConfigError {
    #[error("{source_name}: not valid JSON: {detail}")]
    Json { source_name: String, detail: String },
    #[error(
        "{source_name}: expected a JSON array of rules or an object {{\"rules\": [...]}}, found {found}"
    )]
    Shape {
        source_name: String,
        found: &'static str,
    },
    #[error("{source_name}: rule #{index} ({id}): {detail}")]
    Rule {
        source_name: String,
        index: usize,
        id: String,
        detail: String,
    },
    #[error("{source_name}: rule id {id:?} is defined twice")]
    Duplicate { source_name: String, id: String },
    #[error("rules could not be compiled: {0}")]
    Compile(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomRuleJson {
    id: String,
    #[serde(default)]
    title: Option<String>,
    pattern: String,
    severity: String,
    #[serde(default)]
    threshold: Option<u64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// Parses custom rules from `text`; `source_name` (`CUSTOM_RULES`, `s3://…`) goes in errors.
pub fn parse_custom_rules(source_name: &str, text: &str) -> Result<Vec<RuleSpec>, RuleConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| RuleConfigError::Json {
        source_name: source_name.to_owned(),
        detail: e.to_string(),
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut obj)
            if obj.len() == 1 && obj.get("rules").is_some_and(Value::is_array) =>
        {
            match obj.remove("rules") {
                Some(Value::Array(items)) => items,
                _ => unreachable!("checked above"),
            }
        }
        other => {
            let found = match other {
                Value::Object(_) => "an object without a single \"rules\" array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(RuleConfigError::Shape {
                source_name: source_name.to_owned(),
                found,
            });
        }
    };
    let mut out: Vec<RuleSpec> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        let id_for_errors = item
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| "no id".to_owned(), |s| format!("{s:?}"));
        let fail = |detail: String| RuleConfigError::Rule {
            source_name: source_name.to_owned(),
            index,
            id: id_for_errors.clone(),
            detail,
        };
        let raw: CustomRuleJson = serde_json::from_value(item).map_err(|e| fail(e.to_string()))?;
        let spec = validate(raw).map_err(fail)?;
        if out.iter().any(|r| r.id == spec.id) {
            return Err(RuleConfigError::Duplicate {
                source_name: source_name.to_owned(),
                id: spec.id,
            });
        }
        out.push(spec);
    }
    Ok(out)
}

fn validate(raw: CustomRuleJson) -> Result<RuleSpec, String> {
    let id = raw.id.trim().to_owned();
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        // The id is an SNS attribute and a metric dimension value: keep it short and printable.
        return Err("id must be 1..=256 printable characters".to_owned());
    }
    let severity = parse_severity(&raw.severity)?;
    let threshold = raw.threshold.unwrap_or(1);
    if threshold == 0 {
        return Err("threshold must be at least 1".to_owned());
    }
    FilterPattern::parse(&raw.pattern).map_err(|e| format!("invalid pattern: {e}"))?;
    Ok(RuleSpec {
        title: raw
            .title
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| id.clone()),
        id,
        pattern: raw.pattern,
        severity,
        threshold,
        description: raw.description.filter(|d| !d.trim().is_empty()),
        enabled: raw.enabled.unwrap_or(true),
    })
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    match text.trim().to_ascii_uppercase().as_str() {
        "LOW" => Ok(Severity::Low),
        "MEDIUM" => Ok(Severity::Medium),
        "HIGH" => Ok(Severity::High),
        "CRITICAL" => Ok(Severity::Critical),
        _ => Err(format!(
            "severity {text:?} is not one of LOW, MEDIUM, HIGH, CRITICAL"
        )),
    }
}

/// `LOW` / `MEDIUM` / `HIGH` / `CRITICAL`.
pub fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The rules in force: compiled for evaluation, with the specs in the same order (index `i` of
/// an evaluation result is `specs[i]`).
pub struct LoadedRules {
    pub compiled: CompiledRules,
    pub specs: Vec<RuleSpec>,
}

impl std::fmt::Debug for LoadedRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRules")
            .field("ids", &self.specs.iter().map(|r| &r.id).collect::<Vec<_>>())
            .finish()
    }
}

/// Built-in sets, then custom rule sources in order (later sources override earlier ids only
/// when they are built-in; two custom definitions of one id are an error). Disabled rules are
/// dropped before compiling.
pub fn load_rules(
    selection: &RuleSetSelection,
    custom: &[(String, Vec<RuleSpec>)],
) -> Result<LoadedRules, RuleConfigError> {
    let mut specs: Vec<RuleSpec> = Vec::new();
    if let RuleSetSelection::Sets(names) = selection {
        for name in names {
            let set = rules::builtin_set(name).ok_or_else(|| {
                RuleConfigError::Compile(format!("unknown built-in rule set {name:?}"))
            })?;
            for def in set {
                let spec = spec_from_def(def);
                if !specs.iter().any(|s| s.id == spec.id) {
                    specs.push(spec);
                }
            }
        }
    }
    let builtin_count = specs.len();
    let mut custom_ids: Vec<&str> = Vec::new();
    for (source_name, rules) in custom {
        for rule in rules {
            if custom_ids.contains(&rule.id.as_str()) {
                return Err(RuleConfigError::Duplicate {
                    source_name: source_name.clone(),
                    id: rule.id.clone(),
                });
            }
            custom_ids.push(&rule.id);
            match specs[..builtin_count].iter_mut().find(|s| s.id == rule.id) {
                Some(builtin) => {
                    tracing::info!(rule_id = %rule.id, source = %source_name, "custom rule replaces the built-in rule of the same id");
                    *builtin = rule.clone();
                }
                None => specs.push(rule.clone()),
            }
        }
    }
    specs.retain(|s| s.enabled);
    let compiled = CompiledRules::compile(specs.iter().map(def_from_spec).collect())
        .map_err(|e| RuleConfigError::Compile(e.to_string()))?;
    Ok(LoadedRules { compiled, specs })
}

fn spec_from_def(def: RuleDef) -> RuleSpec {
    RuleSpec {
        id: def.id,
        title: def.title,
        pattern: def.pattern,
        severity: def.severity,
        threshold: u64::from(def.threshold).max(1),
        description: def.description,
        enabled: def.enabled,
    }
}

fn def_from_spec(spec: &RuleSpec) -> RuleDef {
    RuleDef {
        id: spec.id.clone(),
        title: spec.title.clone(),
        pattern: spec.pattern.clone(),
        severity: spec.severity,
        threshold: spec.threshold.try_into().unwrap_or(u32::MAX),
        description: spec.description.clone(),
        enabled: spec.enabled,
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
