//! CloudWatch Embedded Metric Format (EMF) lines, printed on stdout where the Lambda log agent
//! turns them into metrics without an API call.

use serde_json::{Map, Value, json};

/// One EMF document: a namespace, optional dimensions, and counters.
#[derive(Debug, Clone)]
pub struct MetricLine {
    namespace: &'static str,
    dimensions: Vec<(String, String)>,
    counts: Vec<(&'static str, u64)>,
    properties: Map<String, Value>,
}

impl MetricLine {
    /// An empty document whose metrics go to the CloudWatch namespace `namespace`.
    pub fn new(namespace: &'static str) -> Self {
        Self {
            namespace,
            dimensions: Vec::new(),
            counts: Vec::new(),
            properties: Map::new(),
        }
    }

    /// A dimension. Keep cardinality bounded (function name, rule id, finding code — never a key).
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimensions.push((name.into(), value.into()));
        self
    }

    /// A counter metric `name` (unit `Count`) with `value`, e.g. records read or alerts sent.
    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.counts.push((name, value));
        self
    }

    /// A property that is logged with the metrics but is not a metric (e.g. the object key).
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    /// The EMF JSON document, stamped with `timestamp_ms`.
    pub fn to_json(&self, timestamp_ms: i64) -> String {
        let mut doc = self.properties.clone();
        for (k, v) in &self.dimensions {
            doc.insert(k.clone(), Value::String(v.clone()));
        }
        for (k, v) in &self.counts {
            doc.insert((*k).to_owned(), json!(v));
        }
        let dims: Vec<&str> = self.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        let metrics: Vec<Value> = self
            .counts
            .iter()
            .map(|(k, _)| json!({"Name": k, "Unit": "Count"}))
            .collect();
        doc.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dims],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(doc).to_string()
    }

    /// Prints the line on stdout, where Lambda's log agent picks EMF up.
    pub fn emit(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        println!("{}", self.to_json(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_count_and_dimension() {
        let line = MetricLine::new("trailwatch")
            .dimension("Function", "forwarder")
            .count("RecordsIn", 7)
            .count("RecordsForwarded", 5)
            .property("object", "s3://b/k")
            .to_json(1_700_000_000_000);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["RecordsIn"], 7);
        assert_eq!(v["Function"], "forwarder");
        assert_eq!(v["object"], "s3://b/k");
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "trailwatch");
        assert_eq!(cw["Dimensions"][0][0], "Function");
        assert_eq!(cw["Metrics"].as_array().unwrap().len(), 2);
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
