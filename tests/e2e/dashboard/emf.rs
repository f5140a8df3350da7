//! What the functions really emit, read from their stdout: every CloudWatch Embedded Metric
//! Format document (a JSON line with `_aws.CloudWatchMetrics`), as (namespace, metric name,
//! dimension names and values) — and the check that a dashboard shows only such metrics.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, anyhow, ensure};
use serde_json::Value;

use crate::body::{DimensionValue, ShownMetric};

/// One metric as an EMF document declares it: CloudWatch files the value under the namespace,
/// the name and the dimension set with the document's values for those dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EmittedMetric {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) dimensions: BTreeMap<String, String>,
}

/// Everything read from a function's stdout.
#[derive(Debug, Default)]
pub(crate) struct Emitted {
    pub(crate) metrics: BTreeSet<EmittedMetric>,
    /// Top-level keys of the EMF documents per `Function` value: what a Logs Insights query of
    /// that function's log group can read from them.
    pub(crate) document_keys: BTreeMap<String, BTreeSet<String>>,
}

impl Emitted {
    /// Adds the EMF documents among `stdout`'s lines; other lines (logs) are ignored. A line
    /// with `_aws` that is not valid EMF is an error.
    pub(crate) fn read(&mut self, stdout: &str) -> Result<usize> {
        let mut documents = 0;
        for line in stdout.lines() {
            let Ok(doc) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(aws) = doc.get("_aws") else { continue };
            documents += 1;
            let directives = aws["CloudWatchMetrics"]
                .as_array()
                .ok_or_else(|| anyhow!("_aws without CloudWatchMetrics: {line}"))?;
            for directive in directives {
                let namespace = directive["Namespace"]
                    .as_str()
                    .ok_or_else(|| anyhow!("directive without Namespace: {line}"))?;
                let sets = directive["Dimensions"]
                    .as_array()
                    .ok_or_else(|| anyhow!("directive without Dimensions: {line}"))?;
                let names = directive["Metrics"]
                    .as_array()
                    .ok_or_else(|| anyhow!("directive without Metrics: {line}"))?;
                for set in sets {
                    let mut dimensions = BTreeMap::new();
                    for key in set.as_array().into_iter().flatten() {
                        let key = key
                            .as_str()
                            .ok_or_else(|| anyhow!("dimension name not a string: {line}"))?;
                        let value = doc[key].as_str().ok_or_else(|| {
                            anyhow!("dimension {key} has no string value: {line}")
                        })?;
                        dimensions.insert(key.to_owned(), value.to_owned());
                    }
                    for metric in names {
                        let name = metric["Name"]
                            .as_str()
                            .ok_or_else(|| anyhow!("metric without Name: {line}"))?;
                        ensure!(
                            doc.get(name).is_some_and(Value::is_number),
                            "metric {name} has no numeric value: {line}"
                        );
                        self.metrics.insert(EmittedMetric {
                            namespace: namespace.to_owned(),
                            name: name.to_owned(),
                            dimensions: dimensions.clone(),
                        });
                    }
                }
            }
            let function = doc["Function"].as_str().unwrap_or("").to_owned();
            self.document_keys.entry(function).or_default().extend(
                doc.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone()),
            );
        }
        Ok(documents)
    }
}

/// Why each shown metric of `namespace` is not one `emitted` holds (empty: all are).
pub(crate) fn unemitted(
    shown: &[ShownMetric],
    emitted: &BTreeSet<EmittedMetric>,
    namespace: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    for m in shown.iter().filter(|m| m.namespace == namespace) {
        let same_name: Vec<&EmittedMetric> = emitted
            .iter()
            .filter(|e| e.namespace == m.namespace && e.name == m.name)
            .collect();
        let fits = |e: &&EmittedMetric| {
            e.dimensions.len() == m.dimensions.len()
                && m.dimensions
                    .iter()
                    .all(|(k, v)| match (v, e.dimensions.get(k)) {
                        (_, None) => false,
                        (DimensionValue::Any, Some(_)) => true,
                        (DimensionValue::Exact(want), Some(got)) => want == got,
                    })
        };
        if same_name.is_empty() {
            problems.push(format!(
                "{:?}: {}/{} — no function emits this metric",
                m.widget, m.namespace, m.name
            ));
        } else if !same_name.iter().any(fits) {
            let seen: BTreeSet<&BTreeMap<String, String>> =
                same_name.iter().map(|e| &e.dimensions).collect();
            problems.push(format!(
                "{:?}: {}/{} with dimensions {:?} — it is emitted with {seen:?} only",
                m.widget, m.namespace, m.name, m.dimensions
            ));
        }
    }
    problems
}
