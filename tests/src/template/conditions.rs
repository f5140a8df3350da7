//! The template's `Conditions` (`Fn::Equals`/`Not`/`And`/`Or`/`Condition`), evaluated on the
//! parameters, and the check that a resource with a `Condition` is created before it is used.

use anyhow::{Result, anyhow, bail, ensure};
use serde_json::Value;

use super::resolve::{Resolver, as_array, as_str, intrinsic};

impl Resolver<'_> {
    /// A reference to a resource whose Condition is false fails the deployment; here too.
    pub(super) fn check_resource_exists(&self, logical_id: &str, path: &str) -> Result<()> {
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
