//! `trailwatch backfill`: the Batch Operations role the template creates, and the calls the CLI
//! makes with the operator's credentials.
//!
//! The role's rows are what a job does as that role (User Guide "Granting permissions for Batch
//! Operations"): invoke the function it names, read a listed manifest, write the completion report
//! and the generator's manifest, list the trail bucket for the generator. They are evaluated
//! against the role's own statements in every deployment, with negative controls (it must not read
//! or write trail objects, write outside the report prefix, or invoke anything else), and every
//! granted action must serve a row.
//!
//! The operator's rows are the CLI's SDK calls, found in `cli/src/backfill_cmd*` as the functions'
//! are: a new call without a row fails, and README "Backfilling history" must name each row's IAM
//! action, since the operator's policy is theirs to write from it.

use std::collections::BTreeSet;

use serde_json::Value;
use trailwatch_e2e::template::{Bindings, Resolver, ResourceValues, parse_template};
use trailwatch_e2e::workspace_root;

use crate::deployments::{ACCOUNT, DEPLOYMENTS, Deployment, REGION};
use crate::evaluator::{self, Decision, statements};
use crate::table::{Request, request, s3_object_arn};

const REPORT_BUCKET: &str = "trailwatch-test-batchoperationsreportbucket-9z8y7x";
const PREFIX: &str = "trailwatch-backfill";
const FUNCTIONS: [&str; 3] = [
    "ForwarderFunction",
    "AlerterFunction",
    "DigestVerifierFunction",
];

fn function_arn(logical_id: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:trailwatch-test-{logical_id}-AbC123")
}

fn bindings(d: &Deployment) -> Bindings {
    let mut b = d.bindings();
    b.resources.insert(
        "BatchOperationsReportBucket".into(),
        ResourceValues::new(
            REPORT_BUCKET,
            &[("Arn", &format!("arn:aws:s3:::{REPORT_BUCKET}"))],
        ),
    );
    for f in FUNCTIONS {
        b.resources.insert(
            f.into(),
            ResourceValues::new(
                format!("trailwatch-test-{f}-AbC123"),
                &[("Arn", &function_arn(f))],
            ),
        );
    }
    b
}

/// The role's resolved properties in deployment `d`.
fn role(d: &Deployment) -> Value {
    // TRAILWATCH_TEMPLATE, like the functions' checks: a changed copy shows this test failing.
    let text = std::fs::read_to_string(crate::template_path()).unwrap();
    let doc = parse_template(&text).unwrap();
    let b = bindings(d);
    let props = doc
        .pointer("/Resources/BatchOperationsRole/Properties")
        .expect("template.yaml has BatchOperationsRole");
    Resolver::new(&doc, &b)
        .resolve(props, "Resources.BatchOperationsRole.Properties")
        .unwrap()
        .unwrap()
}

fn role_policies(d: &Deployment) -> Vec<Value> {
    role(d)["Policies"]
        .as_array()
        .expect("inline policies")
        .iter()
        .map(|p| p["PolicyDocument"].clone())
        .collect()
}

/// What a backfill job does as the role, case by case.
fn job_rows(d: &Deployment) -> Vec<(&'static str, Request)> {
    let report = |key: &str| s3_object_arn(REPORT_BUCKET, &format!("{PREFIX}/{key}"));
    let mut rows = Vec::new();
    for f in FUNCTIONS {
        rows.push((
            "invoke the function",
            request("lambda:InvokeFunction", function_arn(f), &[]),
        ));
        rows.push((
            "invoke a version or alias of it",
            request(
                "lambda:InvokeFunction",
                format!("{}:live", function_arn(f)),
                &[],
            ),
        ));
    }
    let manifest = report("manifests/0f3c.csv");
    rows.push((
        "read a listed manifest",
        request("s3:GetObject", manifest.clone(), &[]),
    ));
    rows.push((
        "read a listed manifest's version",
        request("s3:GetObjectVersion", manifest, &[]),
    ));
    rows.push((
        "write the completion report",
        request("s3:PutObject", report("job-1a2b/results/6217b0.csv"), &[]),
    ));
    rows.push((
        "write the report's manifest.json",
        request("s3:PutObject", report("job-1a2b/manifest.json"), &[]),
    ));
    rows.push((
        "write the generated manifest",
        request(
            "s3:PutObject",
            report("manifests/job-1a2b/manifest.json"),
            &[],
        ),
    ));
    rows.push((
        "find the report bucket's region",
        request(
            "s3:GetBucketLocation",
            format!("arn:aws:s3:::{REPORT_BUCKET}"),
            &[],
        ),
    ));
    rows.push((
        "list the trail bucket (manifest generator)",
        request("s3:ListBucket", format!("arn:aws:s3:::{}", d.bucket()), &[]),
    ));
    rows
}

fn controls(d: &Deployment) -> Vec<(&'static str, Request)> {
    let trail_object = s3_object_arn(
        d.bucket(),
        "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/14/x.json.gz",
    );
    vec![
        (
            "read a trail object (the functions do, with their roles)",
            request("s3:GetObject", trail_object.clone(), &[]),
        ),
        (
            "write a trail object",
            request("s3:PutObject", trail_object.clone(), &[]),
        ),
        (
            "delete a trail object",
            request("s3:DeleteObject", trail_object, &[]),
        ),
        (
            "write outside the report prefix",
            request(
                "s3:PutObject",
                s3_object_arn(REPORT_BUCKET, "elsewhere/x.csv"),
                &[],
            ),
        ),
        (
            "delete a report",
            request(
                "s3:DeleteObject",
                s3_object_arn(REPORT_BUCKET, &format!("{PREFIX}/job-1/manifest.json")),
                &[],
            ),
        ),
        (
            "list another bucket",
            request("s3:ListBucket", "arn:aws:s3:::someone-elses-bucket", &[]),
        ),
        (
            "invoke another function",
            request(
                "lambda:InvokeFunction",
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:payroll"),
                &[],
            ),
        ),
    ]
}

#[test]
fn the_batch_operations_role_allows_a_jobs_calls_and_nothing_more() {
    let mut problems = Vec::new();
    for d in &DEPLOYMENTS {
        let policies = role_policies(d);
        for (what, req) in job_rows(d) {
            let decision = evaluator::evaluate(&policies, &req).unwrap();
            if decision != Decision::Allow {
                problems.push(format!(
                    "[{}] {what}: {} on {} is {decision:?}",
                    d.name, req.action, req.resource
                ));
            }
        }
        for (what, req) in controls(d) {
            let decision = evaluator::evaluate(&policies, &req).unwrap();
            if decision == Decision::Allow {
                problems.push(format!(
                    "[{}] the role may {what}: {} on {}",
                    d.name, req.action, req.resource
                ));
            }
        }
        // Least privilege: every granted action serves a row.
        let used: BTreeSet<String> = job_rows(d).into_iter().map(|(_, r)| r.action).collect();
        for policy in &policies {
            for statement in statements(policy) {
                let actions = match &statement["Action"] {
                    Value::String(a) => vec![a.clone()],
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    other => panic!("Action {other}"),
                };
                for a in actions {
                    if !used.contains(&a) {
                        problems.push(format!(
                            "[{}] {a} is granted and no job row needs it",
                            d.name
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_batch_operations_of_this_account_may_assume_the_role() {
    for d in &DEPLOYMENTS {
        let trust = &role(d)["AssumeRolePolicyDocument"];
        let statements = statements(trust);
        assert_eq!(statements.len(), 1, "{trust}");
        let s = statements[0];
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Action"], "sts:AssumeRole");
        assert_eq!(
            s["Principal"],
            serde_json::json!({"Service": "batchoperations.s3.amazonaws.com"})
        );
        // The confused-deputy guard: another account's job cannot pass this role.
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:SourceAccount"], ACCOUNT,
            "{trust}"
        );
    }
}

/// The CLI's backfill calls with the operator's credentials: SDK operation -> IAM action(s).
const OPERATOR_ROWS: [(&str, &str, &[&str]); 5] = [
    ("s3control", "CreateJob", &["s3:CreateJob", "iam:PassRole"]),
    ("s3control", "DescribeJob", &["s3:DescribeJob"]),
    ("s3", "ListObjectsV2", &["s3:ListBucket"]),
    ("s3", "PutObject", &["s3:PutObject"]),
    ("s3", "GetObject", &["s3:GetObject"]),
];

#[test]
fn the_backfill_cli_makes_exactly_the_operator_calls_in_its_table_and_the_readme_names_them() {
    let root = workspace_root();
    let metadata = trailwatch_e2e::cargo_metadata().unwrap();
    let catalog = crate::scan::sdk_catalog(&metadata, &["trailwatch-cli"]).unwrap();
    let mut files = vec![root.join("cli/src/backfill_cmd.rs")];
    for entry in std::fs::read_dir(root.join("cli/src/backfill_cmd")).unwrap() {
        files.push(entry.unwrap().path());
    }
    // The manifest listing goes through the shared S3 listing helper: its calls are the CLI's.
    let uses_s3_list = files
        .iter()
        .any(|f| std::fs::read_to_string(f).unwrap().contains("s3_list::"));
    if uses_s3_list {
        files.push(root.join("functions/common/src/s3_list.rs"));
    }
    let mut in_code = BTreeSet::new();
    for file in &files {
        for (name, _) in crate::scan::fluent_calls(file).unwrap() {
            if let Some(ops) = catalog.get(&name) {
                for (sdk, op) in ops {
                    in_code.insert((sdk.clone(), op.clone()));
                }
            }
        }
    }
    let in_table: BTreeSet<(String, String)> = OPERATOR_ROWS
        .iter()
        .map(|(s, o, _)| (s.to_string(), o.to_string()))
        .collect();
    assert_eq!(
        in_code, in_table,
        "the CLI's backfill SDK calls and the operator rows differ"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## Backfilling history")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a 'Backfilling history' section");
    for (_, op, actions) in OPERATOR_ROWS {
        for a in actions {
            assert!(
                section.contains(&format!("`{a}`")),
                "README 'Backfilling history' does not name {a} ({op})"
            );
        }
    }
}
