//! Which rules the alerter (and `trailwatch scan`) runs: built-in sets plus custom rules, all
//! read by [`parse_rules`] and validated together by [`CompiledRules::compile`] at cold start, so
//! that a bad rule stops the deployment instead of silently never alerting.
//!
//! A rule document is JSON, either an array of rules or an object `{"rules": [...]}`; each rule
//! is a [`Rule`] (the format, with its defaults, is documented there and in the README). The
//! built-in sets are such documents too (`shared/data/rule-sets/`). Custom documents come from
//! `CUSTOM_RULES` (inline), the object at `CUSTOM_RULES_S3_URI`, or `--custom-rules FILE`.
//!
//! [`load_rules`] puts them together: the selected built-in sets in order, then each custom rule
//! either replacing the built-in rule of the same id in place (to re-tune it, or switch it off
//! with `"enabled": false`) or appended. Two custom rules with one id are an error, like any
//! duplicate id. Every error names the document, the rule (its id) and the field.

use crate::rules::{self, CompiledRules, Rule, RuleError};
use serde_json::Value;

/// `RULE_SETS`: the built-in sets to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSetSelection {
    /// No built-in rules (`none`): only custom rules.
    None,
    /// These sets, by their names in [`rules::BUILTIN_SET_NAMES`], without repeats, in order.
    Sets(Vec<String>),
}

impl Default for RuleSetSelection {
    /// `security-hub`.
    fn default() -> Self {
        Self::Sets(vec!["security-hub".to_owned()])
    }
}

impl RuleSetSelection {
    /// A comma list of set names (any letter case), or `none`; empty means the default.
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

/// Why a rule document or the rules in force were rejected.
#[derive(Debug, thiserror::Error)]
pub enum RuleConfigError {
    /// The document is not JSON.
    #[error("{source_name}: not valid JSON: {detail}")]
    Json {
        /// Where the document came from (`CUSTOM_RULES`, `s3://…`, a path, a built-in set).
        source_name: String,
        /// The JSON parser's error.
        detail: String,
    },
    /// The document is JSON but neither an array nor `{"rules": [...]}`.
    #[error(
        "{source_name}: expected a JSON array of rules or an object {{\"rules\": [...]}}, found {found}"
    )]
    Shape {
        /// Where the document came from.
        source_name: String,
        /// What the document is instead.
        found: &'static str,
    },
    /// A rule could not be read as a [`Rule`]: a missing, unknown or mistyped field, or an
    /// unknown severity. The detail names the field.
    #[error("{source_name}: rule #{index} ({id}): {detail}")]
    Parse {
        /// Where the document came from.
        source_name: String,
        /// The rule's position in the document, from 1.
        index: usize,
        /// The rule's id, quoted, or `no id`.
        id: String,
        /// What is wrong, starting with the field's name.
        detail: String,
    },
    /// A rule was read but [`CompiledRules::compile`] rejected it (naming the id and the field).
    #[error("{source_name}: {error}")]
    Invalid {
        /// Where the rejected rule came from.
        source_name: String,
        /// Why it was rejected.
        error: RuleError,
    },
    /// A built-in set name that does not exist.
    #[error("unknown built-in rule set {0:?} (known: {known})", known = rules::BUILTIN_SET_NAMES.join(", "))]
    UnknownSet(String),
}

/// Reads a rule document (see the module documentation): its structure only, each rule as a
/// [`Rule`]. `source_name` (`CUSTOM_RULES`, `s3://…`, a path) names the document in errors.
/// Built-in sets and custom documents alike are read here; validation is
/// [`CompiledRules::compile`]'s (through [`load_rules`]).
pub fn parse_rules(source_name: &str, text: &str) -> Result<Vec<Rule>, RuleConfigError> {
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
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| "no id".to_owned(), |s| format!("{s:?}"));
            serde_json::from_value::<Rule>(item).map_err(|e| RuleConfigError::Parse {
                source_name: source_name.to_owned(),
                index: i + 1,
                id,
                detail: e.to_string(),
            })
        })
        .collect()
}

/// The rules in force: validated and compiled, with where each came from.
pub struct LoadedRules {
    /// The enabled rules, compiled; index `i` of an evaluation result is `compiled.rules()[i]`.
    pub compiled: CompiledRules,
    /// Where each enabled rule came from (`built-in rule set security-hub`, `CUSTOM_RULES`,
    /// `s3://…`), indexed like `compiled.rules()`.
    pub sources: Vec<String>,
}

impl LoadedRules {
    /// The enabled rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        self.compiled.rules()
    }
}

impl std::fmt::Debug for LoadedRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRules")
            .field(
                "ids",
                &self.rules().iter().map(|r| &r.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Built-in sets in order, then the custom documents in order (each `(source name, rules)` as
/// [`parse_rules`] read it): a custom rule replaces, in its place, the built-in rule of the same
/// id, or is appended. Then [`CompiledRules::compile`] validates the whole and drops the disabled
/// rules; its error is reported with the document the rule came from.
pub fn load_rules(
    selection: &RuleSetSelection,
    custom: &[(String, Vec<Rule>)],
) -> Result<LoadedRules, RuleConfigError> {
    let mut all: Vec<Rule> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    if let RuleSetSelection::Sets(names) = selection {
        for name in names {
            for rule in rules::builtin_set(name)? {
                all.push(rule);
                sources.push(format!("built-in rule set {name}"));
            }
        }
    }
    // Each built-in rule can be replaced once; a second custom rule with its id is appended,
    // and `compile` rejects the duplicate.
    let mut replaceable = vec![true; all.len()];
    for (source_name, rules) in custom {
        for rule in rules {
            let slot = replaceable
                .iter()
                .zip(&all)
                .position(|(&open, b)| open && b.id.trim() == rule.id.trim());
            match slot {
                Some(i) => {
                    tracing::info!(rule_id = %rule.id, source = %source_name, "custom rule replaces the built-in rule of the same id");
                    all[i] = rule.clone();
                    sources[i] = source_name.clone();
                    replaceable[i] = false;
                }
                None => {
                    all.push(rule.clone());
                    sources.push(source_name.clone());
                }
            }
        }
    }
    let enabled_sources = all
        .iter()
        .zip(&sources)
        .filter(|(r, _)| r.enabled)
        .map(|(_, s)| s.clone())
        .collect();
    let compiled = CompiledRules::compile(all).map_err(|error| RuleConfigError::Invalid {
        source_name: sources[error.position()].clone(),
        error,
    })?;
    Ok(LoadedRules {
        compiled,
        sources: enabled_sources,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
