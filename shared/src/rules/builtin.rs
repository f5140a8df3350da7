//! The built-in rule sets: rule documents in the same format as custom rules
//! (`shared/data/rule-sets/<name>.json`), embedded in the binary and read by the same
//! [`parse_rules`] as a custom document, then validated by the same [`CompiledRules::compile`].
//!
//! Their patterns are the published CIS / Security Hub patterns, verbatim (`data/cis-rules.json`,
//! see `data/PROVENANCE.md`; a test checks each one); titles are the published ones; severities,
//! descriptions and which rules ship disabled are chosen here. Severity policy: CRITICAL for an
//! attacker with the highest privilege (root) or monitoring being switched off (CloudTrail);
//! HIGH for a change that grants access or destroys protection (IAM policies, KMS keys, S3 bucket
//! policies, AWS Config, Organizations) or a console sign-in without MFA; MEDIUM for network
//! perimeter changes and failed or denied attempts, noisy one by one and meaningful in bursts
//! (use `threshold`).
//!
//! [`CompiledRules::compile`]: super::CompiledRules::compile

use super::Rule;
use super::config::{RuleConfigError, parse_rules};

/// Names accepted by [`builtin_set`], each with its document.
const SETS: [(&str, &str); 4] = [
    (
        "security-hub",
        include_str!("../../data/rule-sets/security-hub.json"),
    ),
    (
        "cis-1.2.0",
        include_str!("../../data/rule-sets/cis-1.2.0.json"),
    ),
    (
        "cis-1.4.0",
        include_str!("../../data/rule-sets/cis-1.4.0.json"),
    ),
    (
        "cis-3.0.0",
        include_str!("../../data/rule-sets/cis-3.0.0.json"),
    ),
];

/// Names accepted by [`builtin_set`] (and by the alerter's `RULE_SETS`).
pub const BUILTIN_SET_NAMES: &[&str] = &["security-hub", "cis-1.2.0", "cis-1.4.0", "cis-3.0.0"];

/// The rules of a built-in set, in published order, read by [`parse_rules`] like any custom
/// document (not yet validated: give them to `CompiledRules::compile`, or use
/// [`super::config::load_rules`]). Fails for an unknown name.
pub fn builtin_set(name: &str) -> Result<Vec<Rule>, RuleConfigError> {
    let (_, document) = SETS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| RuleConfigError::UnknownSet(name.to_owned()))?;
    parse_rules(&format!("built-in rule set {name}"), document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_a_document() {
        let names: Vec<&str> = SETS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, BUILTIN_SET_NAMES);
    }
}
