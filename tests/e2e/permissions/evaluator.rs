//! A small evaluator of identity-based policies: Allow/Deny, Action/NotAction,
//! Resource/NotResource with `*`/`?` wildcards, and the string/ARN/Bool condition operators
//! (with `IfExists`). Anything else is an error, never a guess.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;

use crate::table::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    ExplicitDeny,
    /// No statement allows it (IAM's implicit deny).
    NotAllowed,
}

pub(crate) fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    }
}

pub(crate) fn evaluate(policies: &[Value], req: &Request) -> Result<Decision> {
    let mut allowed = false;
    for policy in policies {
        for statement in statements(policy) {
            if statement_applies(statement, req)? {
                match effect(statement)? {
                    "Deny" => return Ok(Decision::ExplicitDeny),
                    _ => allowed = true,
                }
            }
        }
    }
    Ok(if allowed {
        Decision::Allow
    } else {
        Decision::NotAllowed
    })
}

fn effect(statement: &Value) -> Result<&str> {
    match statement.get("Effect").and_then(Value::as_str) {
        Some(e @ ("Allow" | "Deny")) => Ok(e),
        other => bail!("statement {statement}: Effect {other:?}"),
    }
}

/// The Allow statement split into one statement per action, for "is this action used".
pub(crate) fn per_action(statement: &Value) -> Vec<Value> {
    if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return Vec::new();
    }
    let actions = strings(statement.get("Action")).unwrap_or_default();
    actions
        .into_iter()
        .map(|a| {
            let mut one = statement.clone();
            one["Action"] = Value::String(a);
            one
        })
        .collect()
}

/// Whether the statement's Action, Resource and Condition all match the request.
pub(crate) fn statement_applies(statement: &Value, req: &Request) -> Result<bool> {
    let Value::Object(map) = statement else {
        bail!("a statement must be a mapping: {statement}");
    };
    for key in map.keys() {
        ensure!(
            [
                "Sid",
                "Effect",
                "Action",
                "NotAction",
                "Resource",
                "NotResource",
                "Condition"
            ]
            .contains(&key.as_str()),
            "statement {statement}: {key} is not evaluated here (an identity policy has no Principal)"
        );
    }
    let action = match (map.get("Action"), map.get("NotAction")) {
        (Some(a), None) => any_glob(&strings(Some(a))?, &req.action, true),
        (None, Some(a)) => !any_glob(&strings(Some(a))?, &req.action, true),
        _ => bail!("statement {statement}: needs exactly one of Action and NotAction"),
    };
    let resource = match (map.get("Resource"), map.get("NotResource")) {
        (Some(r), None) => any_glob(&strings(Some(r))?, &req.resource, false),
        (None, Some(r)) => !any_glob(&strings(Some(r))?, &req.resource, false),
        _ => bail!("statement {statement}: needs exactly one of Resource and NotResource"),
    };
    if !(action && resource) {
        return Ok(false);
    }
    match map.get("Condition") {
        None => Ok(true),
        Some(Value::Object(ops)) => {
            for (op, keys) in ops {
                if !condition(op, keys, &req.context).with_context(|| format!("in {statement}"))? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Some(other) => bail!("Condition must be a mapping: {other}"),
    }
}

/// One condition operator block; every key in it must hold.
fn condition(op: &str, keys: &Value, context: &BTreeMap<String, String>) -> Result<bool> {
    // Set operators on a multivalued key (dynamodb:LeadingKeys). A request here carries one
    // value per key (a single-item call has one leading key). IAM: ForAllValues holds when every
    // value matches, and also when the key is absent (vacuously); ForAnyValue needs one match.
    let (set_op, op) = match op.split_once(':') {
        Some((q @ ("ForAllValues" | "ForAnyValue"), rest)) => (Some(q), rest),
        Some(_) => bail!("condition operator {op} is not supported by this evaluator"),
        None => (None, op),
    };
    if let Some(q) = set_op {
        let Value::Object(map) = keys else {
            bail!("{op}: expected a mapping of keys");
        };
        for key in map.keys() {
            let present = context.keys().any(|k| k.eq_ignore_ascii_case(key));
            if !present {
                if q == "ForAnyValue" {
                    return Ok(false);
                }
                continue;
            }
            let one = Value::Object(std::iter::once((key.clone(), map[key].clone())).collect());
            if !condition(op, &one, context)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let (base, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let Value::Object(keys) = keys else {
        bail!("{op}: expected a mapping of keys");
    };
    let negated = matches!(
        base,
        "StringNotEquals" | "StringNotLike" | "ArnNotEquals" | "ArnNotLike"
    );
    let matches: fn(&[String], &str) -> bool = match base {
        "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => {
            |e, v| e.iter().any(|x| x == v)
        }
        "StringEqualsIgnoreCase" | "Bool" => |e, v| e.iter().any(|x| x.eq_ignore_ascii_case(v)),
        "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => |e, v| any_glob(e, v, false),
        _ => bail!("condition operator {op} is not supported by this evaluator"),
    };
    for (key, expected) in keys {
        let expected = strings(Some(expected))?;
        let actual = context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str());
        // A key the request lacks fails a positive operator and satisfies a negated one.
        let holds = match actual {
            None => if_exists || negated,
            Some(v) => matches(&expected, v) != negated,
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn strings(value: Option<&Value>) -> Result<Vec<String>> {
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Bool(b)) => Ok(vec![b.to_string()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("not a string: {v}"))
            })
            .collect(),
        other => bail!("expected a string or a list of strings, found {other:?}"),
    }
}

fn any_glob(patterns: &[String], value: &str, ignore_case: bool) -> bool {
    patterns.iter().any(|p| {
        if ignore_case {
            glob(
                p.to_ascii_lowercase().as_bytes(),
                value.to_ascii_lowercase().as_bytes(),
            )
        } else {
            glob(p.as_bytes(), value.as_bytes())
        }
    })
}

/// IAM's wildcards: `*` any run of characters (also none), `?` exactly one.
pub(crate) fn glob(pattern: &[u8], value: &[u8]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((sp, sv)) = star {
            p = sp + 1;
            v = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}
