//! The [`Resolver`]: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, `Fn::Join`, `Fn::Select` and
//! `Fn::Split` against one template and one set of bindings, `AWS::NoValue` dropped; and the
//! helpers that read an intrinsic's arguments.

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Map, Value};

use super::{Bindings, ResourceValues};

/// Resolves intrinsics against one template and one set of bindings.
pub struct Resolver<'a> {
    pub(super) template: &'a Value,
    bindings: &'a Bindings,
}

impl<'a> Resolver<'a> {
    pub fn new(template: &'a Value, bindings: &'a Bindings) -> Self {
        Self { template, bindings }
    }

    /// Resolves every intrinsic in `value`; `None` is `AWS::NoValue` (the caller drops the entry).
    /// `path` names where `value` is, for the errors.
    pub fn resolve(&self, value: &Value, path: &str) -> Result<Option<Value>> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.extend(self.resolve(item, &format!("{path}[{i}]"))?);
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) => match intrinsic(map) {
                Some((name, arg)) => self.intrinsic(name, arg, &format!("{path}.{name}")),
                None => {
                    let mut out = Map::new();
                    for (k, v) in map {
                        if let Some(v) = self.resolve(v, &format!("{path}.{k}"))? {
                            out.insert(k.clone(), v);
                        }
                    }
                    Ok(Some(Value::Object(out)))
                }
            },
            scalar => Ok(Some(scalar.clone())),
        }
    }

    /// `resolve` for a place where `AWS::NoValue` makes no sense.
    fn resolve_present(&self, value: &Value, path: &str) -> Result<Value> {
        self.resolve(value, path)?
            .ok_or_else(|| anyhow!("{path}: AWS::NoValue where a value is needed"))
    }

    pub(super) fn resolve_string(&self, value: &Value, path: &str) -> Result<String> {
        scalar_string(&self.resolve_present(value, path)?)
            .ok_or_else(|| anyhow!("{path}: expected a string"))
    }

    fn intrinsic(&self, name: &str, arg: &Value, path: &str) -> Result<Option<Value>> {
        match name {
            "Ref" => self.reference(as_str(arg, path)?, path),
            "Fn::GetAtt" => self.get_att(arg, path).map(|s| Some(Value::String(s))),
            "Fn::Sub" => self.sub(arg, path).map(|s| Some(Value::String(s))),
            "Fn::If" => self.fn_if(arg, path),
            "Fn::Join" => self.join(arg, path).map(|s| Some(Value::String(s))),
            "Fn::Select" => self.select(arg, path).map(Some),
            "Fn::Split" => self.split(arg, path).map(Some),
            other => bail!("{path}: intrinsic {other} is not supported by this reader"),
        }
    }

    /// `Ref`: a pseudo parameter, a parameter or a resource.
    fn reference(&self, name: &str, path: &str) -> Result<Option<Value>> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        self.reference_string(name, path)
            .map(|s| Some(Value::String(s)))
    }

    fn reference_string(&self, name: &str, path: &str) -> Result<String> {
        if let Some(pseudo) = name.strip_prefix("AWS::") {
            return self.pseudo(pseudo, path);
        }
        if let Some(param) = self.template.pointer(&format!("/Parameters/{name}")) {
            return self.parameter(name, param, path);
        }
        if self
            .template
            .pointer(&format!("/Resources/{name}"))
            .is_some()
        {
            self.check_resource_exists(name, path)?;
            return Ok(self.binding(name, path)?.reference.clone());
        }
        bail!("{path}: Ref to {name:?}, which is no parameter, resource or pseudo parameter")
    }

    fn pseudo(&self, name: &str, path: &str) -> Result<String> {
        let b = self.bindings;
        Ok(match name {
            "Partition" => b.partition.clone(),
            "Region" => b.region.clone(),
            "AccountId" => b.account_id.clone(),
            "StackName" => b.stack_name.clone(),
            _ => bail!("{path}: pseudo parameter AWS::{name} is not supported by this reader"),
        })
    }

    /// A parameter's value: the binding, else the template's Default (CloudFormation passes every
    /// parameter as a string, so a numeric Default becomes its decimal text).
    fn parameter(&self, name: &str, param: &Value, path: &str) -> Result<String> {
        if let Some(v) = self.bindings.parameters.get(name) {
            return Ok(v.clone());
        }
        let default = param
            .get("Default")
            .ok_or_else(|| anyhow!("{path}: parameter {name} has no binding and no Default"))?;
        scalar_string(default).ok_or_else(|| anyhow!("{path}: Default of {name} is not a scalar"))
    }

    fn binding(&self, logical_id: &str, path: &str) -> Result<&'a ResourceValues> {
        self.bindings
            .resources
            .get(logical_id)
            .ok_or_else(|| anyhow!("{path}: resource {logical_id} has no binding"))
    }

    /// `Fn::GetAtt`: `"A.B"` or `[A, B]`; the attribute is what comes after the first dot, since
    /// attribute names may hold dots themselves (`Endpoint.Address`).
    fn get_att(&self, arg: &Value, path: &str) -> Result<String> {
        let (resource, attribute) = match arg {
            Value::String(s) => s
                .split_once('.')
                .map(|(r, a)| (r.to_string(), a.to_string()))
                .ok_or_else(|| anyhow!("{path}: {s:?} is not RESOURCE.ATTRIBUTE"))?,
            Value::Array(parts) if parts.len() == 2 => (
                as_str(&parts[0], path)?.to_string(),
                self.resolve_string(&parts[1], &format!("{path}[1]"))?,
            ),
            other => bail!("{path}: expected \"A.B\" or [A, B], found {other}"),
        };
        self.attribute(&resource, &attribute, path)
    }

    fn attribute(&self, resource: &str, attribute: &str, path: &str) -> Result<String> {
        ensure!(
            self.template
                .pointer(&format!("/Resources/{resource}"))
                .is_some(),
            "{path}: GetAtt of {resource}.{attribute}, and there is no resource {resource}"
        );
        self.check_resource_exists(resource, path)?;
        self.binding(resource, path)?
            .attributes
            .get(attribute)
            .cloned()
            .ok_or_else(|| {
                anyhow!("{path}: resource {resource} has no binding for attribute {attribute}")
            })
    }

    /// `Fn::Sub`: a string, or `[string, {name: value}]`. `${X}` is a variable, a parameter, a
    /// resource or pseudo parameter; `${A.B}` an attribute; `${!X}` the literal `${X}`.
    fn sub(&self, arg: &Value, path: &str) -> Result<String> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(parts) if parts.len() == 2 => {
                let text = as_str(&parts[0], path)?;
                let Value::Object(vars) = &parts[1] else {
                    bail!("{path}[1]: the variables of a Fn::Sub must be a mapping");
                };
                let mut resolved = Map::new();
                for (name, v) in vars {
                    let value = self.resolve_string(v, &format!("{path}[1].{name}"))?;
                    resolved.insert(name.clone(), Value::String(value));
                }
                (text, resolved)
            }
            other => bail!("{path}: expected a string or [string, {{vars}}], found {other}"),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| anyhow!("{path}: unclosed ${{ in {text:?}"))?;
            let name = &after[..end];
            match name.strip_prefix('!') {
                Some(literal) => {
                    out.push_str("${");
                    out.push_str(literal);
                    out.push('}');
                }
                None => out.push_str(&self.sub_variable(name.trim(), &vars, path)?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_variable(&self, name: &str, vars: &Map<String, Value>, path: &str) -> Result<String> {
        if let Some(v) = vars.get(name) {
            return Ok(v.as_str().expect("resolved to strings").to_string());
        }
        if name.starts_with("AWS::") {
            return self.reference_string(name, path);
        }
        match name.split_once('.') {
            Some((resource, attribute)) => self.attribute(resource, attribute, path),
            None => self.reference_string(name, path),
        }
    }

    /// `Fn::If`: only the branch the condition picks is resolved, as CloudFormation does (the
    /// other may name a resource that is not created).
    fn fn_if(&self, arg: &Value, path: &str) -> Result<Option<Value>> {
        let [condition, then, otherwise] = as_array::<3>(arg, path)?;
        let name = as_str(condition, path)?;
        if self.condition(name, path, &mut Vec::new())? {
            self.resolve(then, &format!("{path}[1]"))
        } else {
            self.resolve(otherwise, &format!("{path}[2]"))
        }
    }

    fn join(&self, arg: &Value, path: &str) -> Result<String> {
        let [delimiter, list] = as_array::<2>(arg, path)?;
        let delimiter = as_str(delimiter, path)?;
        let items = self.resolve_list(list, &format!("{path}[1]"))?;
        Ok(items.join(delimiter))
    }

    fn select(&self, arg: &Value, path: &str) -> Result<Value> {
        let [index, list] = as_array::<2>(arg, path)?;
        let index = self.resolve_string(index, &format!("{path}[0]"))?;
        let index: usize = index
            .parse()
            .with_context(|| format!("{path}[0]: index {index:?} is not a number"))?;
        let items = self.resolve_list(list, &format!("{path}[1]"))?;
        let len = items.len();
        items
            .into_iter()
            .nth(index)
            .map(Value::String)
            .ok_or_else(|| anyhow!("{path}: index {index} out of a list of {len}"))
    }

    fn split(&self, arg: &Value, path: &str) -> Result<Value> {
        let [delimiter, source] = as_array::<2>(arg, path)?;
        let delimiter = as_str(delimiter, path)?;
        ensure!(!delimiter.is_empty(), "{path}: empty delimiter");
        let source = self.resolve_string(source, &format!("{path}[1]"))?;
        Ok(Value::Array(
            source
                .split(delimiter)
                .map(|s| Value::String(s.into()))
                .collect(),
        ))
    }

    /// A list of strings, written out or given by an intrinsic (`Fn::Split`).
    fn resolve_list(&self, list: &Value, path: &str) -> Result<Vec<String>> {
        match self.resolve_present(list, path)? {
            Value::Array(items) => items
                .iter()
                .map(|v| scalar_string(v).ok_or_else(|| anyhow!("{path}: {v} is not a string")))
                .collect(),
            other => bail!("{path}: expected a list, found {other}"),
        }
    }
}

/// The intrinsic a one-key mapping is (`Ref` or `Fn::*`), with its argument.
pub(super) fn intrinsic(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    if map.len() != 1 {
        return None;
    }
    let (k, v) = map.iter().next()?;
    (k == "Ref" || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

pub(super) fn as_str<'v>(value: &'v Value, path: &str) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| anyhow!("{path}: expected a literal string, found {value}"))
}

pub(super) fn as_array<'v, const N: usize>(value: &'v Value, path: &str) -> Result<&'v [Value; N]> {
    value
        .as_array()
        .and_then(|items| <&[Value; N]>::try_from(items.as_slice()).ok())
        .ok_or_else(|| anyhow!("{path}: expected a list of {N}, found {value}"))
}

/// A scalar as CloudFormation passes it to a string context.
fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
