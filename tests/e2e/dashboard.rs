//! The CloudWatch dashboard of `template.yaml` shows only metrics the functions really emit.
//!
//! The body is read from the template (`!Sub` resolved with placeholder names) and every metric
//! its widgets show is collected, the ones inside `SEARCH` expressions included. The metrics the
//! functions emit are collected from the EMF lines the three real binaries print while they
//! process small inputs against moto (forwarder: a log file twice, a folder marker, a damaged
//! file; alerter: an attack file twice with a windowed rule, an Insights file, a digest, a
//! damaged file; digest verifier: a chain with a modified log, an overwrite, a deletion, a range
//! check; both alerting functions once more with Security Hub down). A dashboard metric no
//! function emits, or emits with other dimensions, would be a graph that stays empty while
//! something is wrong.

#[path = "dashboard/body.rs"]
mod body;
#[path = "dashboard/emf.rs"]
mod emf;
#[path = "insights/query_fields.rs"]
mod query_fields;
#[path = "dashboard/runs.rs"]
mod runs;

use std::collections::{BTreeMap, BTreeSet};

use body::{DimensionValue, ShownMetric, dashboard_body, log_widgets, placeholder, shown_metrics};
use emf::{Emitted, EmittedMetric, unemitted};
use runs::{run_alerter, run_digest_verifier, run_forwarder};
use serde_json::{Value, json};
use trailwatch_e2e::Moto;
use trailwatch_shared::digest::FindingCode;
use trailwatch_shared::metrics::MetricLine;

const FUNCTIONS: [(&str, &str, &str, &str); 3] = [
    // (Function dimension value, function, failure queue, log group) logical ids
    (
        "forwarder",
        "ForwarderFunction",
        "ForwarderFailureQueue",
        "ForwarderLogGroup",
    ),
    (
        "alerter",
        "AlerterFunction",
        "AlerterFailureQueue",
        "AlerterLogGroup",
    ),
    (
        "digest-verifier",
        "DigestVerifierFunction",
        "DigestVerifierFailureQueue",
        "DigestVerifierLogGroup",
    ),
];

/// What the issue asks the dashboard to show of each function's own metrics.
const REQUIRED: &[(&str, &str)] = &[
    ("forwarder", "FilesProcessed"),
    ("forwarder", "FilesSkipped"),
    ("forwarder", "FilesFailed"),
    ("forwarder", "FilesAlreadyProcessed"),
    ("forwarder", "RecordsIn"),
    ("forwarder", "RecordsForwarded"),
    ("forwarder", "RecordsFiltered"),
    ("forwarder", "RecordsRejected"),
    ("alerter", "FilesProcessed"),
    ("alerter", "FilesFailed"),
    ("alerter", "AlertsPublished"),
    ("alerter", "RuleMatches"),
    ("alerter", "WindowAlerts"),
    ("alerter", "SecurityHubImportFailures"),
    ("digest-verifier", "SecurityHubImportFailures"),
    ("digest-verifier", "DigestsVerified"),
    ("digest-verifier", "AlertsPublished"),
    ("digest-verifier", "RangeChecksCompleted"),
    ("digest-verifier", "LOG_HASH_MISMATCH"),
];

fn template_text() -> String {
    std::fs::read_to_string(trailwatch_e2e::workspace_root().join("template.yaml"))
        .expect("read template.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trailwatch_metric_on_the_dashboard_is_one_the_functions_emit() {
    let body = dashboard_body(&template_text()).expect("the dashboard body");
    let shown = shown_metrics(&body).expect("the dashboard's metrics");

    let moto = Moto::start();
    let mut emitted = Emitted::default();
    for (function, stdout) in [
        ("forwarder", run_forwarder(&moto).await),
        ("alerter", run_alerter(&moto).await),
        ("digest-verifier", run_digest_verifier(&moto).await),
    ] {
        let documents = emitted.read(&stdout).expect("valid EMF");
        assert!(documents > 0, "{function} printed no EMF line:\n{stdout}");
    }
    add_finding_codes(&mut emitted.metrics);

    let problems = unemitted(&shown, &emitted.metrics, "trailwatch");
    assert!(
        problems.is_empty(),
        "dashboard metrics the functions do not emit:\n{}\n\nemitted:\n{}",
        problems.join("\n"),
        describe(&emitted.metrics)
    );

    for (function, name) in REQUIRED {
        assert!(
            shown.iter().any(|m| m.namespace == "trailwatch"
                && m.name == *name
                && m.dimensions.get("Function")
                    == Some(&DimensionValue::Exact(function.to_string()))),
            "the dashboard does not show {function} {name}"
        );
    }
    check_aws_metrics(&shown);
    let problems = log_widget_problems(&body, &emitted);
    assert!(problems.is_empty(), "{problems:#?}");

    let checked: BTreeSet<String> = shown
        .iter()
        .filter(|m| m.namespace == "trailwatch")
        .map(|m| format!("{} {:?}", m.name, m.dimensions))
        .collect();
    eprintln!(
        "{} trailwatch metrics checked:\n{}",
        checked.len(),
        checked.into_iter().collect::<Vec<_>>().join("\n")
    );
    // For whoever extends the dashboard: what the functions emit that it does not show.
    let not_shown: Vec<String> = emitted
        .metrics
        .iter()
        .filter(|e| {
            !shown
                .iter()
                .any(|m| m.namespace == e.namespace && m.name == e.name)
        })
        .map(|e| format!("{} {:?}", e.name, e.dimensions))
        .collect();
    eprintln!("emitted, not on the dashboard:\n{}", not_shown.join("\n"));
}

/// Finding codes are metric names (one per code a report holds, dimension `Function`), so a
/// run shows only the codes its inputs raise. Once the runs have shown the mechanism (a code
/// emitted by the verifier), every other code of `FindingCode::ALL` is emitted the same way by
/// the same loop (`for code in report.codes()`), with the dimensions seen.
fn add_finding_codes(metrics: &mut BTreeSet<EmittedMetric>) {
    let codes: BTreeSet<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
    let observed: Vec<&EmittedMetric> = metrics
        .iter()
        .filter(|m| codes.contains(m.name.as_str()))
        .collect();
    eprintln!(
        "finding codes the runs emitted: {:?}",
        observed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>()
    );
    let seen: BTreeSet<BTreeMap<String, String>> =
        observed.iter().map(|m| m.dimensions.clone()).collect();
    assert_eq!(
        seen.len(),
        1,
        "the runs emit finding codes with one dimension set: {seen:?}"
    );
    let dimensions = seen.into_iter().next().unwrap();
    for code in codes {
        metrics.insert(EmittedMetric {
            namespace: "trailwatch".into(),
            name: code.into(),
            dimensions: dimensions.clone(),
        });
    }
}

/// AWS/Lambda errors, throttles and duration of each function, and the depth of each failure
/// queue, by the names this stack gives them.
fn check_aws_metrics(shown: &[ShownMetric]) {
    let exact = |k: &str, v: String| BTreeMap::from([(k.to_owned(), DimensionValue::Exact(v))]);
    for (_, function, queue, _) in FUNCTIONS {
        for name in ["Errors", "Throttles", "Duration"] {
            assert!(
                shown.iter().any(|m| m.namespace == "AWS/Lambda"
                    && m.name == name
                    && m.dimensions == exact("FunctionName", placeholder(function))),
                "the dashboard does not show AWS/Lambda {name} of {function}"
            );
        }
        assert!(
            shown.iter().any(|m| m.namespace == "AWS/SQS"
                && m.name == "ApproximateNumberOfMessagesVisible"
                && m.dimensions == exact("QueueName", format!("{}.QueueName", placeholder(queue)))),
            "the dashboard does not show the depth of {queue}"
        );
    }
    let functions: BTreeSet<String> = FUNCTIONS.iter().map(|f| placeholder(f.1)).collect();
    for m in shown.iter().filter(|m| m.namespace == "AWS/Lambda") {
        let Some(DimensionValue::Exact(name)) = m.dimensions.get("FunctionName") else {
            panic!("{m:?} has no FunctionName");
        };
        assert!(
            functions.contains(name) && m.dimensions.len() == 1,
            "{m:?} is not one of this stack's functions"
        );
    }
    for m in shown.iter().filter(|m| m.namespace == "AWS/SQS") {
        let Some(DimensionValue::Exact(name)) = m.dimensions.get("QueueName") else {
            panic!("{m:?} has no QueueName");
        };
        assert!(
            name.starts_with('<') && name.ends_with(">.QueueName"),
            "{m:?} is not a queue of this stack"
        );
    }
    let namespaces: BTreeSet<&str> = shown.iter().map(|m| m.namespace.as_str()).collect();
    assert_eq!(
        namespaces,
        BTreeSet::from(["AWS/Lambda", "AWS/SQS", "trailwatch"]),
        "namespaces shown"
    );
}

/// What is wrong with the log widgets (empty: nothing): each reads the functions' own log
/// groups, and only fields their EMF documents carry.
fn log_widget_problems(body: &Value, emitted: &Emitted) -> Vec<String> {
    let widgets = match log_widgets(body) {
        Ok(w) if !w.is_empty() => w,
        Ok(_) => return vec!["the dashboard has no log widget".into()],
        Err(e) => return vec![format!("{e:#}")],
    };
    let mut problems = Vec::new();
    for w in widgets {
        let read = match query_fields::query_fields(&w.query) {
            Ok(read) if !read.sources.is_empty() && !read.fields.is_empty() => read,
            Ok(_) => {
                problems.push(format!("{:?} names no log group or no field", w.title));
                continue;
            }
            Err(e) => {
                problems.push(format!("{:?}: {e:#}", w.title));
                continue;
            }
        };
        let mut keys = BTreeSet::new();
        for source in &read.sources {
            match FUNCTIONS.iter().find(|f| placeholder(f.3) == *source) {
                Some((function, ..)) => {
                    keys.extend(emitted.document_keys.get(*function).into_iter().flatten())
                }
                None => problems.push(format!(
                    "{:?}: {source} is not a function's log group",
                    w.title
                )),
            }
        }
        let missing: Vec<&String> = read.fields.iter().filter(|f| !keys.contains(f)).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{:?} reads fields no EMF document of {:?} has: {missing:?}",
                w.title, read.sources
            ));
        }
    }
    problems
}

fn describe(metrics: &BTreeSet<EmittedMetric>) -> String {
    metrics
        .iter()
        .map(|m| format!("{} {} {:?}", m.namespace, m.name, m.dimensions))
        .collect::<Vec<_>>()
        .join("\n")
}

// ------------------------------------------------------------------ the checker's own tests

/// EMF lines as the functions print them (shared's MetricLine).
fn emitted_by(lines: &[MetricLine]) -> Emitted {
    let stdout: String = lines
        .iter()
        .map(|l| l.to_json(1_700_000_000_000) + "\n")
        .collect();
    let mut emitted = Emitted::default();
    assert_eq!(emitted.read(&stdout).unwrap(), lines.len());
    emitted
}

fn sample_emitted() -> Emitted {
    emitted_by(&[
        MetricLine::new("trailwatch")
            .dimension("Function", "forwarder")
            .count("FilesProcessed", 1)
            .count("RecordsIn", 7),
        MetricLine::new("trailwatch")
            .dimension("Function", "alerter")
            .dimension("RuleId", "SecurityHub:CloudWatch.5")
            .count("RuleMatches", 2),
    ])
}

fn body_with(metrics: Value) -> Value {
    json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 6, "height": 6,
                        "properties": {"title": "t", "region": "eu-west-1", "metrics": metrics}}]})
}

fn problems_of(metrics: Value) -> Vec<String> {
    let shown = shown_metrics(&body_with(metrics)).unwrap();
    assert!(!shown.is_empty());
    unemitted(&shown, &sample_emitted().metrics, "trailwatch")
}

#[test]
fn metrics_the_functions_emit_pass() {
    let problems = problems_of(json!([
        ["trailwatch", "FilesProcessed", "Function", "forwarder", {"stat": "Sum"}],
        [".", "RecordsIn", ".", "."],
        [{"expression": "SEARCH('{trailwatch,Function,RuleId} Function=\"alerter\" MetricName=\"RuleMatches\"', 'Sum', 300)", "id": "e1"}],
        ["AWS/Lambda", "Errors", "FunctionName", "f"]
    ]));
    assert!(problems.is_empty(), "{problems:?}");
}

/// Negative controls: a misspelt name, a wrong dimension value, a missing dimension, a
/// misspelt name inside a SEARCH, a SEARCH over the wrong dimension set.
#[test]
fn a_misspelt_or_misdimensioned_metric_fails_the_check() {
    for (metrics, expected) in [
        (
            json!([["trailwatch", "FilesProcesed", "Function", "forwarder"]]),
            "no function emits",
        ),
        (
            json!([["trailwatch", "FilesProcessed", "Function", "alerter"]]),
            "emitted with",
        ),
        (
            json!([["trailwatch", "RuleMatches", "Function", "alerter"]]),
            "emitted with",
        ),
        (
            json!([[{"expression": "SEARCH('{trailwatch,Function,RuleId} Function=\"alerter\" MetricName=\"RuleMatch\"', 'Sum', 300)"}]]),
            "no function emits",
        ),
        (
            json!([[{"expression": "SEARCH('{trailwatch,Function} Function=\"alerter\" MetricName=\"RuleMatches\"', 'Sum', 300)"}]]),
            "emitted with",
        ),
    ] {
        let problems = problems_of(metrics.clone());
        assert_eq!(problems.len(), 1, "{metrics}: {problems:?}");
        assert!(problems[0].contains(expected), "{metrics}: {problems:?}");
    }
}

#[test]
fn a_search_the_checker_cannot_pin_down_is_an_error() {
    for expression in [
        "SEARCH('trailwatch RuleMatches', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} Function=\"alerter\"', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} Files', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} NOT MetricName=\"X\"', 'Sum', 300)",
        "SEARCH('{trailwatch,Function} RuleId=\"x\" MetricName=\"RuleMatches\"', 'Sum', 300)",
        "m1 + m2",
    ] {
        let body = body_with(json!([[{"expression": expression}]]));
        assert!(shown_metrics(&body).is_err(), "{expression} was accepted");
    }
}

#[test]
fn the_template_dashboard_body_is_json_naming_this_stacks_resources() {
    let body = dashboard_body(&template_text()).unwrap();
    let text = body.to_string();
    assert!(!text.contains("${"), "an unresolved substitution: {text}");
    let shown = shown_metrics(&body).unwrap();
    let codes: BTreeSet<&str> = shown
        .iter()
        .filter(|m| m.widget.contains("findings by code"))
        .map(|m| m.name.as_str())
        .collect();
    let all: BTreeSet<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all, "the findings widget shows every finding code");
}

/// Negative control of the log widgets' check: a misspelt field, a log group of no function.
#[test]
fn a_log_widget_reading_a_field_no_emf_document_has_fails_the_check() {
    let emitted = emitted_by(&[MetricLine::new("trailwatch")
        .dimension("Function", "digest-verifier")
        .count("DigestsVerified", 1)
        .property("verdict", "PASS")]);
    let widget = |query: &str| {
        json!({"widgets": [{"type": "log", "x": 0, "y": 0, "width": 6, "height": 6,
                            "properties": {"title": "v", "region": "eu-west-1", "query": query}}]})
    };
    let good = "SOURCE '<DigestVerifierLogGroup>' | filter ispresent(DigestsVerified) | stats sum(DigestsVerified) as n by verdict";
    assert_eq!(
        log_widget_problems(&widget(good), &emitted),
        Vec::<String>::new()
    );
    for bad in [
        good.replace("by verdict", "by Verdict"),
        good.replace("<DigestVerifierLogGroup>", "<ForwarderLogGroup>"),
        good.replace("<DigestVerifierLogGroup>", "/aws/lambda/other"),
    ] {
        let problems = log_widget_problems(&widget(&bad), &emitted);
        assert!(!problems.is_empty(), "{bad} passed");
    }
}
