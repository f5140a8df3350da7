//! Reads the IAM policies `template.yaml` gives a function, with every intrinsic resolved to the
//! physical names of a test, so that tests check the permissions the template really grants
//! instead of a hand-copied policy that drifts from it.
//!
//! Only what the template uses in and around policies is resolved: `Ref` (parameters, resources,
//! pseudo parameters), `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, `Fn::Join`, `Fn::Select`, `Fn::Split`,
//! and the conditions `Fn::Equals`/`Not`/`And`/`Or`/`Condition`. Anything else is an error that
//! names it: a reader that passed an unknown intrinsic through would let a test compare a policy
//! against a string like `{"Fn::FindInMap": ...}` and prove nothing.
//!
//! This file is the public API: the bindings a test gives and a function's policy documents.
//! - `yaml`: the YAML template as CloudFormation's JSON form ([`parse_template`]).
//! - `resolve`: the [`Resolver`] of intrinsics.
//! - `conditions`: the template's `Conditions`, and whether a conditional resource exists.

mod conditions;
mod resolve;
#[cfg(test)]
mod tests;
mod yaml;

pub use resolve::Resolver;
pub use yaml::parse_template;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;

/// Physical values the template's intrinsics resolve to in a test.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub partition: String,
    pub region: String,
    pub account_id: String,
    pub stack_name: String,
    /// Parameter values; parameters not given take the template's Default.
    pub parameters: BTreeMap<String, String>,
    /// Logical id -> what !Ref gives and what !GetAtt X.Attr gives.
    pub resources: BTreeMap<String, ResourceValues>,
}

/// What a resource's `!Ref` and `!GetAtt` give.
#[derive(Debug, Clone, Default)]
pub struct ResourceValues {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

impl ResourceValues {
    /// A resource whose `!Ref` gives `reference` and whose attributes are `attributes`.
    pub fn new(reference: impl Into<String>, attributes: &[(&str, &str)]) -> Self {
        Self {
            reference: reference.into(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// The IAM policy documents ({"Version": "2012-10-17", "Statement": [...]}) the template gives
/// the function `function_logical_id` (its SAM `Policies` list: inline statements; fail clearly
/// on a managed-policy name or SAM policy template you cannot resolve), with every intrinsic
/// resolved, `Fn::If` decided by the template's `Conditions` evaluated on the parameters, and
/// `AWS::NoValue` entries removed.
///
/// Not included: the `AWSLambdaBasicExecutionRole` managed policy SAM attaches to every function
/// role it creates (logs:CreateLogGroup/CreateLogStream/PutLogEvents on `*`), since it is not in
/// the template.
pub fn function_policies(
    template: &Path,
    function_logical_id: &str,
    bindings: &Bindings,
) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("reading {}", template.display()))?;
    let doc = parse_template(&text).with_context(|| format!("parsing {}", template.display()))?;
    policies_of(&doc, function_logical_id, bindings)
        .with_context(|| format!("{}: policies of {function_logical_id}", template.display()))
}

/// [`function_policies`] on a template already parsed with [`parse_template`].
pub fn policies_of(
    doc: &Value,
    function_logical_id: &str,
    bindings: &Bindings,
) -> Result<Vec<Value>> {
    let function = doc
        .pointer(&format!("/Resources/{function_logical_id}"))
        .ok_or_else(|| anyhow!("no resource {function_logical_id} in the template"))?;
    let kind = function.get("Type").and_then(Value::as_str).unwrap_or("");
    ensure!(
        kind == "AWS::Serverless::Function",
        "{function_logical_id} is a {kind:?}, not an AWS::Serverless::Function"
    );
    let properties = function.get("Properties").cloned().unwrap_or(Value::Null);
    // With Role set SAM ignores Policies: the permissions would be somewhere this reader does not look.
    ensure!(
        properties.get("Role").is_none(),
        "{function_logical_id} names its own Role; its Policies are not what it gets"
    );
    let Some(policies) = properties.get("Policies") else {
        return Ok(Vec::new());
    };
    let resolver = Resolver::new(doc, bindings);
    let path = format!("Resources.{function_logical_id}.Properties.Policies");
    let resolved = resolver
        .resolve(policies, &path)?
        .unwrap_or(Value::Array(Vec::new()));
    // SAM takes one policy, or a list of them.
    let list = match resolved {
        Value::Array(items) => items,
        one => vec![one],
    };
    list.into_iter()
        .enumerate()
        .map(|(i, policy)| policy_document(policy, &format!("{path}[{i}]")))
        .collect()
}

/// One entry of a SAM `Policies` list as an IAM policy document, or why it cannot be one here.
fn policy_document(policy: Value, path: &str) -> Result<Value> {
    match policy {
        Value::String(name) => bail!(
            "{path}: managed policy {name:?} is not in the template, so its statements cannot be read"
        ),
        Value::Object(mut map) if map.contains_key("Statement") => {
            let statements = match map.remove("Statement") {
                Some(Value::Array(s)) => s,
                Some(one @ Value::Object(_)) => vec![one],
                other => bail!("{path}.Statement is neither a statement nor a list: {other:?}"),
            };
            let version = map
                .remove("Version")
                .unwrap_or_else(|| Value::String("2012-10-17".into()));
            ensure!(
                map.is_empty(),
                "{path}: unexpected keys beside Statement: {:?}",
                map.keys()
            );
            Ok(serde_json::json!({ "Version": version, "Statement": statements }))
        }
        Value::Object(map) if map.len() == 1 => {
            let name = map.keys().next().expect("one key");
            bail!("{path}: SAM policy template {name} is not resolved by this reader")
        }
        other => bail!("{path}: not a policy document: {other}"),
    }
}
