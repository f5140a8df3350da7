//! The dashboard of `template.yaml` as CloudWatch will read it: the `DashboardBody` `!Sub`
//! resolved with placeholder names, parsed as JSON, and every metric its widgets show —
//! explicit metric rows (with the `"."` shorthand) and the metrics inside `SEARCH(...)`
//! expressions — plus the queries of its log widgets.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use trailwatch_e2e::template::{Bindings, Resolver, ResourceValues, parse_template};

/// What a resource resolves to in the dashboard body under test: `<LogicalId>` for `!Ref`,
/// `<LogicalId>.<Attribute>` for `!GetAtt` of `QueueName` and `Arn`.
pub(crate) fn placeholder(logical_id: &str) -> String {
    format!("<{logical_id}>")
}

/// A dimension value a widget asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DimensionValue {
    Exact(String),
    /// A SEARCH schema dimension no term pins: any value (e.g. every `RuleId`).
    Any,
}

/// One metric a widget shows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ShownMetric {
    pub(crate) widget: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) dimensions: BTreeMap<String, DimensionValue>,
}

/// One log widget's query.
#[derive(Debug, Clone)]
pub(crate) struct LogWidget {
    pub(crate) title: String,
    pub(crate) query: String,
}

/// The body of the template's one `AWS::CloudWatch::Dashboard`, substituted and parsed.
pub(crate) fn dashboard_body(template_text: &str) -> Result<Value> {
    let template = parse_template(template_text)?;
    let resources = template["Resources"]
        .as_object()
        .ok_or_else(|| anyhow!("the template has no Resources"))?;
    let dashboards: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Dashboard")
        .map(|(id, _)| id)
        .collect();
    ensure!(
        dashboards.len() == 1,
        "expected one AWS::CloudWatch::Dashboard, found {dashboards:?}"
    );
    let id = dashboards[0];
    let mut bindings = Bindings {
        partition: "aws".into(),
        region: "eu-west-1".into(),
        account_id: "111122223333".into(),
        stack_name: "trailwatch-test".into(),
        ..Default::default()
    };
    for logical_id in resources.keys() {
        let p = placeholder(logical_id);
        let queue_name = format!("{p}.QueueName");
        let arn = format!("{p}.Arn");
        bindings.resources.insert(
            logical_id.clone(),
            ResourceValues::new(p, &[("QueueName", &queue_name), ("Arn", &arn)]),
        );
    }
    let raw = &template["Resources"][id]["Properties"]["DashboardBody"];
    let path = format!("Resources.{id}.Properties.DashboardBody");
    let text = Resolver::new(&template, &bindings)
        .resolve(raw, &path)?
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| anyhow!("{path} does not resolve to a string"))?;
    serde_json::from_str(&text).with_context(|| format!("{path} is not JSON once substituted"))
}

/// Every metric the body's metric widgets show.
pub(crate) fn shown_metrics(body: &Value) -> Result<Vec<ShownMetric>> {
    let mut out = Vec::new();
    for (i, widget) in widgets(body)?.iter().enumerate() {
        if widget["type"] != "metric" {
            continue;
        }
        let title = widget["properties"]["title"]
            .as_str()
            .map_or_else(|| format!("widget {i}"), str::to_owned);
        let rows = widget["properties"]["metrics"]
            .as_array()
            .ok_or_else(|| anyhow!("{title}: no metrics"))?;
        let mut previous: Vec<Value> = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let where_ = format!("{title}, metric {r}");
            let row = row
                .as_array()
                .ok_or_else(|| anyhow!("{where_}: not an array"))?;
            if let [Value::Object(o)] = row.as_slice() {
                let expression = o["expression"]
                    .as_str()
                    .ok_or_else(|| anyhow!("{where_}: an options-only row without expression"))?;
                out.extend(search_metrics(expression, &title).context(where_)?);
                continue;
            }
            let (metric, _options) = match row.last() {
                Some(Value::Object(_)) => (&row[..row.len() - 1], row.last()),
                _ => (&row[..], None),
            };
            // "." repeats the previous row's value at the same position.
            let mut parts = Vec::with_capacity(metric.len());
            for (k, v) in metric.iter().enumerate() {
                let v = if v == "." {
                    previous
                        .get(k)
                        .cloned()
                        .ok_or_else(|| anyhow!("{where_}: \".\" with nothing above it"))?
                } else {
                    v.clone()
                };
                parts.push(v);
            }
            previous = parts.clone();
            let strings: Vec<String> = parts
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| anyhow!("{where_}: a non-string in {parts:?}"))?;
            ensure!(
                strings.len() >= 2 && strings.len().is_multiple_of(2),
                "{where_}: expected namespace, name and dimension pairs: {strings:?}"
            );
            let dimensions = strings[2..]
                .chunks(2)
                .map(|kv| (kv[0].clone(), DimensionValue::Exact(kv[1].clone())))
                .collect();
            out.push(ShownMetric {
                widget: title.clone(),
                namespace: strings[0].clone(),
                name: strings[1].clone(),
                dimensions,
            });
        }
    }
    Ok(out)
}

/// The body's log widgets.
pub(crate) fn log_widgets(body: &Value) -> Result<Vec<LogWidget>> {
    let mut out = Vec::new();
    for widget in widgets(body)? {
        if widget["type"] != "log" {
            continue;
        }
        let title = widget["properties"]["title"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let query = widget["properties"]["query"]
            .as_str()
            .ok_or_else(|| anyhow!("log widget {title:?} has no query"))?
            .to_owned();
        out.push(LogWidget { title, query });
    }
    Ok(out)
}

fn widgets(body: &Value) -> Result<&Vec<Value>> {
    body["widgets"]
        .as_array()
        .ok_or_else(|| anyhow!("the body has no widgets list"))
}

/// The metrics of every `SEARCH('…', …)` in a metric-math expression. Only the forms this
/// checker can pin down are accepted: a `{Namespace,Dim,…}` schema, then `Key="value"` terms
/// and parenthesised `MetricName="a" OR MetricName="b"` groups; a free-text term or a SEARCH
/// without `MetricName` is an error (it could show metrics no one checked).
pub(crate) fn search_metrics(expression: &str, widget: &str) -> Result<Vec<ShownMetric>> {
    let mut out = Vec::new();
    let mut rest = expression;
    let mut found = false;
    while let Some(at) = rest.find("SEARCH(") {
        found = true;
        let after = rest[at + "SEARCH(".len()..].trim_start();
        let inner = after
            .strip_prefix('\'')
            .ok_or_else(|| anyhow!("SEARCH's first argument is not a quoted string"))?;
        let end = inner
            .find('\'')
            .ok_or_else(|| anyhow!("unclosed SEARCH string"))?;
        out.extend(parse_search(&inner[..end], widget)?);
        rest = &inner[end + 1..];
    }
    ensure!(found, "expression without SEARCH: {expression:?}");
    Ok(out)
}

fn parse_search(search: &str, widget: &str) -> Result<Vec<ShownMetric>> {
    let search = search.trim();
    let schema_text = search
        .strip_prefix('{')
        .and_then(|s| s.split_once('}'))
        .ok_or_else(|| anyhow!("SEARCH without a {{Namespace,Dimension}} schema: {search:?}"))?;
    let (schema, terms) = schema_text;
    let mut schema = schema.split(',').map(str::trim);
    let namespace = schema
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| anyhow!("empty schema"))?
        .to_owned();
    let mut dimensions: BTreeMap<String, DimensionValue> = schema
        .map(|d| (d.to_owned(), DimensionValue::Any))
        .collect();
    let mut names: Vec<String> = Vec::new();
    for group in split_terms(terms)? {
        let mut key_of_group = None;
        for term in group.split(" OR ") {
            let (key, value) = term
                .trim()
                .split_once('=')
                .ok_or_else(|| anyhow!("unsupported SEARCH term {term:?}"))?;
            let value = value.trim().trim_matches('"').to_owned();
            match key_of_group {
                None => key_of_group = Some(key),
                Some(k) => ensure!(k == key, "an OR group mixes {k:?} and {key:?}"),
            }
            if key == "MetricName" {
                names.push(value);
            } else {
                ensure!(
                    dimensions.contains_key(key),
                    "term {term:?} names a dimension outside the schema"
                );
                ensure!(
                    !group.contains(" OR "),
                    "OR over dimension values is not read by this checker: {group:?}"
                );
                dimensions.insert(key.to_owned(), DimensionValue::Exact(value));
            }
        }
    }
    if names.is_empty() {
        bail!("SEARCH without MetricName terms shows whatever exists: {search:?}");
    }
    Ok(names
        .into_iter()
        .map(|name| ShownMetric {
            widget: widget.to_owned(),
            namespace: namespace.clone(),
            name,
            dimensions: dimensions.clone(),
        })
        .collect())
}

/// Top-level terms separated by spaces (implicit AND); a parenthesised group stays whole.
fn split_terms(terms: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut depth, mut quoted) = (0u32, false);
    for c in terms.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| anyhow!("unbalanced ) in {terms:?}"))?;
            }
            ' ' if !quoted && depth == 0 => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    ensure!(depth == 0 && !quoted, "unbalanced SEARCH terms {terms:?}");
    if !current.is_empty() {
        out.push(current);
    }
    for t in &out {
        ensure!(
            t.contains('='),
            "free-text SEARCH term {t:?} is not read by this checker"
        );
        ensure!(
            !t.contains(" AND ") && !t.starts_with("NOT"),
            "unsupported SEARCH term {t:?}"
        );
    }
    Ok(out)
}
