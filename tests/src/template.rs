//! Reads the IAM policies `template.yaml` gives a function, with every intrinsic resolved to the
//! physical names of a test, so that tests check the permissions the template really grants
//! instead of a hand-copied policy that drifts from it.
//!
//! Only what the template uses in and around policies is resolved: `Ref` (parameters, resources,
//! pseudo parameters), `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, `Fn::Join`, `Fn::Select`, `Fn::Split`,
//! and the conditions `Fn::Equals`/`Not`/`And`/`Or`/`Condition`. Anything else is an error that
//! names it: a reader that passed an unknown intrinsic through would let a test compare a policy
//! against a string like `{"Fn::FindInMap": ...}` and prove nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value};

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

// ---------------------------------------------------------------- YAML -> JSON ----------------

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

// ---------------------------------------------------------------- resolver --------------------

/// Resolves intrinsics against one template and one set of bindings.
pub struct Resolver<'a> {
    template: &'a Value,
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

    fn resolve_string(&self, value: &Value, path: &str) -> Result<String> {
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

    /// A reference to a resource whose Condition is false fails the deployment; here too.
    fn check_resource_exists(&self, logical_id: &str, path: &str) -> Result<()> {
        let condition = self
            .template
            .pointer(&format!("/Resources/{logical_id}/Condition"));
        if let Some(condition) = condition {
            let name = as_str(condition, path)?;
            ensure!(
                self.condition(name, path, &mut Vec::new())?,
                "{path}: {logical_id} is not created (its condition {name} is false)"
            );
        }
        Ok(())
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

    // ------------------------------------------------------------ conditions ------------------

    /// The value of the template's condition `name`; `visiting` catches a cycle.
    pub fn condition(&self, name: &str, path: &str, visiting: &mut Vec<String>) -> Result<bool> {
        ensure!(
            !visiting.iter().any(|v| v == name),
            "{path}: condition {name} refers to itself through {visiting:?}"
        );
        let body = self
            .template
            .pointer(&format!("/Conditions/{name}"))
            .ok_or_else(|| anyhow!("{path}: no condition {name} in the template"))?;
        visiting.push(name.to_string());
        let value = self.condition_body(body, &format!("Conditions.{name}"), visiting);
        visiting.pop();
        value
    }

    fn condition_body(&self, body: &Value, path: &str, visiting: &mut Vec<String>) -> Result<bool> {
        let Value::Object(map) = body else {
            bail!("{path}: a condition must be Fn::Equals/Not/And/Or or Condition, found {body}");
        };
        let (name, arg) = intrinsic(map)
            .or_else(|| {
                map.get("Condition")
                    .filter(|_| map.len() == 1)
                    .map(|a| ("Condition", a))
            })
            .ok_or_else(|| anyhow!("{path}: not a condition function: {body}"))?;
        let path = format!("{path}.{name}");
        match name {
            "Fn::Equals" => {
                let [a, b] = as_array::<2>(arg, &path)?;
                Ok(self.resolve_string(a, &path)? == self.resolve_string(b, &path)?)
            }
            "Fn::Not" => {
                let [inner] = as_array::<1>(arg, &path)?;
                Ok(!self.condition_body(inner, &path, visiting)?)
            }
            "Fn::And" | "Fn::Or" => {
                let Value::Array(items) = arg else {
                    bail!("{path}: expected a list of conditions");
                };
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.condition_body(item, &path, visiting)?);
                }
                Ok(if name == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            "Condition" => self.condition(as_str(arg, &path)?, &path, visiting),
            other => bail!("{path}: {other} is not a condition function"),
        }
    }
}

/// The intrinsic a one-key mapping is (`Ref` or `Fn::*`), with its argument.
fn intrinsic(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    if map.len() != 1 {
        return None;
    }
    let (k, v) = map.iter().next()?;
    (k == "Ref" || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

fn as_str<'v>(value: &'v Value, path: &str) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| anyhow!("{path}: expected a literal string, found {value}"))
}

fn as_array<'v, const N: usize>(value: &'v Value, path: &str) -> Result<&'v [Value; N]> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small template that uses each intrinsic the reader supports.
    const TEMPLATE: &str = r#"
Parameters:
  Mode: { Type: String, Default: "on" }
  KeyArn: { Type: String, Default: "" }
  Days: { Type: Number, Default: 365 }
  Uri: { Type: String, Default: "s3://rules-bucket/path/rules.json" }
Conditions:
  IsOn: !Equals [!Ref Mode, "on"]
  HasKey: !Not [!Equals [!Ref KeyArn, ""]]
  OnAndKey: !And [!Condition IsOn, !Condition HasKey]
  OnOrKey: !Or [!Condition IsOn, !Condition HasKey]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Condition: IsOn
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: s3:GetObject
              Resource: !Sub "${Bucket.Arn}/${AWS::AccountId}/*"
"#;

    fn bindings() -> Bindings {
        let mut resources = BTreeMap::new();
        resources.insert(
            "Bucket".into(),
            ResourceValues::new("the-bucket", &[("Arn", "arn:aws:s3:::the-bucket")]),
        );
        resources.insert(
            "Topic".into(),
            ResourceValues::new(
                "arn:aws:sns:eu-west-1:123456789012:t",
                &[("TopicName", "t")],
            ),
        );
        Bindings {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            stack_name: "stack".into(),
            parameters: BTreeMap::new(),
            resources,
        }
    }

    /// Resolves `expr` (YAML) against TEMPLATE with `params` set.
    fn eval_with(expr: &str, params: &[(&str, &str)]) -> Result<Option<Value>> {
        let template = parse_template(TEMPLATE).unwrap();
        let mut b = bindings();
        for (k, v) in params {
            b.parameters.insert(k.to_string(), v.to_string());
        }
        let value = parse_template(&format!("v: {expr}")).unwrap()["v"].clone();
        Resolver::new(&template, &b).resolve(&value, "v")
    }

    fn eval(expr: &str) -> Value {
        eval_with(expr, &[]).unwrap().expect("a value")
    }

    fn error(expr: &str) -> String {
        format!("{:#}", eval_with(expr, &[]).expect_err("an error"))
    }

    #[test]
    fn short_form_tags_become_the_long_form() {
        let doc =
            parse_template("a: !Ref X\nb: !GetAtt A.B\nc: !Condition C\nd: !Sub [s, {}]").unwrap();
        assert_eq!(
            doc,
            json!({"a": {"Ref": "X"}, "b": {"Fn::GetAtt": "A.B"}, "c": {"Condition": "C"},
                   "d": {"Fn::Sub": ["s", {}]}})
        );
    }

    #[test]
    fn ref_gives_parameters_defaults_resources_and_pseudo_parameters() {
        assert_eq!(eval("!Ref Mode"), json!("on"));
        assert_eq!(
            eval_with("!Ref Mode", &[("Mode", "off")]).unwrap(),
            Some(json!("off"))
        );
        // A numeric Default is passed as its text, as CloudFormation passes every parameter.
        assert_eq!(eval("!Ref Days"), json!("365"));
        assert_eq!(
            eval("!Ref Topic"),
            json!("arn:aws:sns:eu-west-1:123456789012:t")
        );
        assert_eq!(eval("!Ref Bucket"), json!("the-bucket"));
        assert_eq!(
            eval(
                "[!Ref AWS::Partition, !Ref AWS::Region, !Ref AWS::AccountId, !Ref AWS::StackName]"
            ),
            json!(["aws", "eu-west-1", "123456789012", "stack"])
        );
    }

    #[test]
    fn get_att_in_both_forms() {
        assert_eq!(eval("!GetAtt Bucket.Arn"), json!("arn:aws:s3:::the-bucket"));
        assert_eq!(eval("!GetAtt [Topic, TopicName]"), json!("t"));
        assert_eq!(eval("{ \"Fn::GetAtt\": [Topic, TopicName] }"), json!("t"));
    }

    #[test]
    fn sub_in_both_forms_with_attributes_pseudo_parameters_and_literals() {
        assert_eq!(
            eval(
                "!Sub \"arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Topic.TopicName}\""
            ),
            json!("arn:aws:sns:eu-west-1:123456789012:t")
        );
        assert_eq!(
            eval("!Sub \"${Bucket}/${!Literal}\""),
            json!("the-bucket/${Literal}")
        );
        assert_eq!(
            eval("!Sub [\"${A}/${Bucket.Arn}\", { A: !If [IsOn, yes-on, no-off] }]"),
            json!("yes-on/arn:aws:s3:::the-bucket")
        );
    }

    #[test]
    fn join_select_split() {
        assert_eq!(eval("!Join [\"-\", [a, !Ref Mode, b]]"), json!("a-on-b"));
        assert_eq!(
            eval("!Select [1, !Split [\"s3://\", !Ref Uri]]"),
            json!("rules-bucket/path/rules.json")
        );
        assert_eq!(eval("!Select [\"0\", [x, y]]"), json!("x"));
        assert_eq!(eval("!Join [\"\", !Split [\"/\", a/b/c]]"), json!("abc"));
        assert!(error("!Select [2, [x, y]]").contains("index 2 out of a list of 2"));
    }

    #[test]
    fn a_condition_both_ways() {
        let expr = "!If [HasKey, !Ref KeyArn, none]";
        assert_eq!(eval(expr), json!("none"));
        let with_key = eval_with(expr, &[("KeyArn", "arn:aws:kms:eu-west-1:1:key/k")]).unwrap();
        assert_eq!(with_key, Some(json!("arn:aws:kms:eu-west-1:1:key/k")));
    }

    #[test]
    fn and_or_condition_functions() {
        let both = "[!If [OnAndKey, and, not-and], !If [OnOrKey, or, not-or]]";
        assert_eq!(eval(both), json!(["not-and", "or"]));
        let key = [("KeyArn", "k")];
        assert_eq!(eval_with(both, &key).unwrap(), Some(json!(["and", "or"])));
        let off = [("Mode", "off")];
        assert_eq!(
            eval_with(both, &off).unwrap(),
            Some(json!(["not-and", "not-or"]))
        );
    }

    #[test]
    fn the_branch_not_taken_is_not_resolved() {
        // With Mode=off the Bucket is not created: the other branch may not refer to it.
        let expr = "!If [IsOn, !Ref Bucket, !Ref Mode]";
        assert_eq!(
            eval_with(expr, &[("Mode", "off")]).unwrap(),
            Some(json!("off"))
        );
        let err = eval_with("!Ref Bucket", &[("Mode", "off")]).unwrap_err();
        assert!(format!("{err:#}").contains("IsOn is false"), "{err:#}");
    }

    #[test]
    fn no_value_entries_are_removed() {
        assert_eq!(
            eval("[a, !If [HasKey, b, !Ref AWS::NoValue], c]"),
            json!(["a", "c"])
        );
        assert_eq!(
            eval("{ keep: 1, drop: !Ref AWS::NoValue }"),
            json!({"keep": 1})
        );
        assert_eq!(eval_with("!Ref AWS::NoValue", &[]).unwrap(), None);
    }

    #[test]
    fn unknown_references_and_intrinsics_are_errors_that_name_them() {
        assert!(
            error("!Ref Nope").contains("\"Nope\""),
            "{}",
            error("!Ref Nope")
        );
        assert!(error("!Sub \"${Nope}\"").contains("\"Nope\""));
        assert!(error("!GetAtt Nope.Arn").contains("no resource Nope"));
        assert!(error("!GetAtt Topic.Nope").contains("attribute Nope"));
        assert!(error("!FindInMap [M, K, V]").contains("Fn::FindInMap"));
        assert!(error("!Ref AWS::URLSuffix").contains("AWS::URLSuffix"));
        assert!(error("!If [Nope, a, b]").contains("no condition Nope"));
    }

    #[test]
    fn a_resource_without_binding_is_an_error() {
        let template = parse_template(TEMPLATE).unwrap();
        let mut b = bindings();
        b.resources.remove("Topic");
        let err = Resolver::new(&template, &b)
            .resolve(&json!({"Ref": "Topic"}), "v")
            .unwrap_err();
        assert!(err.to_string().contains("Topic has no binding"), "{err}");
    }

    #[test]
    fn policies_of_a_function() {
        let template = parse_template(TEMPLATE).unwrap();
        let policies = policies_of(&template, "Fn", &bindings()).unwrap();
        assert_eq!(
            policies,
            vec![json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::the-bucket/123456789012/*"}]})]
        );
    }

    #[test]
    fn managed_policies_and_policy_templates_fail_clearly() {
        let named = TEMPLATE.replace(
            "        - Statement:",
            "        - AWSLambdaExecute\n        - Statement:",
        );
        let err = policies_of(&parse_template(&named).unwrap(), "Fn", &bindings()).unwrap_err();
        assert!(
            err.to_string()
                .contains("managed policy \"AWSLambdaExecute\""),
            "{err}"
        );
        let sam = TEMPLATE.replace(
            "        - Statement:",
            "        - S3ReadPolicy: { BucketName: b }\n        - Statement:",
        );
        let err = policies_of(&parse_template(&sam).unwrap(), "Fn", &bindings()).unwrap_err();
        assert!(
            err.to_string().contains("SAM policy template S3ReadPolicy"),
            "{err}"
        );
    }

    #[test]
    fn the_real_template_resolves_for_each_function() {
        let template = crate::workspace_root().join("template.yaml");
        let doc = parse_template(&std::fs::read_to_string(&template).unwrap()).unwrap();
        let mut b = bindings();
        // Every resource gets a binding with every attribute the template might ask for.
        for id in doc["Resources"].as_object().unwrap().keys() {
            let attrs = [("Arn", "arn:x"), ("QueueName", "q"), ("TopicName", "t")];
            b.resources
                .insert(id.clone(), ResourceValues::new(format!("ref-{id}"), &attrs));
        }
        for function in [
            "ForwarderFunction",
            "AlerterFunction",
            "DigestVerifierFunction",
        ] {
            let policies = function_policies(&template, function, &b).unwrap();
            assert!(!policies.is_empty(), "{function} has policies");
            let text = serde_json::to_string(&policies).unwrap();
            assert!(
                !text.contains("Fn::") && !text.contains("\"Ref\""),
                "{function}: {text}"
            );
        }
    }
}
