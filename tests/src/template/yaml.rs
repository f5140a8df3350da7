//! YAML -> JSON: the template as CloudFormation's JSON form, short-form tags made long.

use anyhow::{Result, anyhow, bail, ensure};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value};

/// Parses a CloudFormation YAML template into JSON, turning the short-form tags into the long
/// form CloudFormation's JSON uses (`!Ref X` -> `{"Ref": "X"}`, `!Sub s` -> `{"Fn::Sub": s}`,
/// `!Condition C` -> `{"Condition": "C"}`), so the resolver handles one form only.
pub fn parse_template(text: &str) -> Result<Value> {
    let docs = Yaml::load_from_str(text).map_err(|e| anyhow!("YAML: {e}"))?;
    ensure!(
        docs.len() == 1,
        "expected one YAML document, found {}",
        docs.len()
    );
    yaml_to_json(&docs[0])
}

fn yaml_to_json(node: &Yaml) -> Result<Value> {
    Ok(match node {
        Yaml::Value(scalar) => scalar_to_json(scalar)?,
        Yaml::Representation(text, _, _) => Value::String(text.to_string()),
        Yaml::Sequence(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect::<Result<_>>()?)
        }
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match yaml_to_json(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, inner) => {
            let inner = yaml_to_json(inner)?;
            if tag.is_yaml_core_schema() {
                inner
            } else {
                ensure!(
                    tag.handle == "!",
                    "unsupported tag {}{}",
                    tag.handle,
                    tag.suffix
                );
                let key = match tag.suffix.as_str() {
                    "Ref" | "Condition" => tag.suffix.clone(),
                    other => format!("Fn::{other}"),
                };
                serde_json::json!({ key: inner })
            }
        }
        Yaml::Alias(_) => bail!("YAML aliases are not supported (CloudFormation rejects them too)"),
        Yaml::BadValue => bail!("a YAML value that does not parse"),
    })
}

fn scalar_to_json(scalar: &Scalar) -> Result<Value> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            .ok_or_else(|| anyhow!("non-finite number {f}"))?,
        Scalar::String(s) => Value::String(s.to_string()),
    })
}
