//! The table test: every AWS SDK operation each deployed function makes, the IAM request(s) it
//! causes, and proof that the policies `template.yaml` gives that function allow exactly those.
//!
//! Why a table as well as the IAM-enforced end-to-end tests: moto evaluates resource ARNs only
//! for S3 (and SQS, IAM, STS), cannot verify the SDK's SNS signature and lacks ListPublicKeys,
//! and nothing in moto models `kms:ViaService`. Here every request is evaluated against the
//! template's own statements (read by `trailwatch_e2e::template`, never copied), with a small IAM
//! evaluator, in deployments with and without a created trail, a KMS key, a custom-rules object
//! and an encrypted alert topic.
//!
//! The table is kept honest from both sides: the operations are found in the functions' code
//! (a new SDK call without a row fails), a row whose operation the code no longer makes fails,
//! and a granted action that no row needs fails (least privilege stays least).
//!
//! - `deployments`: the parameter sets the stack is checked in, and what its intrinsics resolve to.
//! - `table`: the rows, each SDK operation of each function and the IAM requests it causes.
//! - `controls`: the negative controls, requests no function may be allowed.
//! - `evaluator`: a small IAM evaluator of identity-based policies.
//! - `scan`: finds the SDK operations each function's code really calls.

mod backfill;
mod controls;
mod deployments;
mod evaluator;
mod scan;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use trailwatch_e2e::template::function_policies;
use trailwatch_e2e::workspace_root;

use controls::negative_controls;
use deployments::{DEPLOYMENTS, Deployment};
use table::{FUNCTIONS, Function, Request, request, table};

/// The template checked: `template.yaml`, or the file `TRAILWATCH_TEMPLATE` names (to see this
/// test fail on a changed copy, e.g. one without s3:GetObjectVersion, without editing the real one).
fn template_path() -> PathBuf {
    std::env::var_os("TRAILWATCH_TEMPLATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("template.yaml"))
}

fn policies(d: &Deployment, f: Function) -> Vec<Value> {
    function_policies(&template_path(), f.logical_id(), &d.bindings())
        .unwrap_or_else(|e| panic!("{} in deployment {:?}: {e:#}", f.logical_id(), d.name))
}

#[test]
fn the_code_makes_exactly_the_operations_in_the_table() {
    let found = scan::operations_by_function().expect("scanning the functions' code");
    let mut problems = Vec::new();
    for f in FUNCTIONS {
        let in_code: BTreeMap<(String, String), Vec<String>> =
            found.get(&f).cloned().unwrap_or_default();
        // Every deployment's rows together: a row may exist only when a parameter is set.
        let in_table: BTreeSet<(String, String)> = DEPLOYMENTS
            .iter()
            .flat_map(table)
            .filter(|r| r.function == f)
            .map(|r| (r.sdk.to_owned(), r.operation.to_owned()))
            .collect();
        for (op, places) in &in_code {
            if !in_table.contains(op) {
                problems.push(format!(
                    "{f:?} calls {}::{} ({}) and the table has no row for it: add the row with the \
                     IAM action and resource it needs, and the permission to template.yaml",
                    op.0,
                    op.1,
                    places.join(", ")
                ));
            }
        }
        for op in &in_table {
            if !in_code.contains_key(op) {
                problems.push(format!(
                    "{f:?}: the table has {}::{} but the code no longer calls it",
                    op.0, op.1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_template_allows_every_row() {
    let mut problems = Vec::new();
    for d in &DEPLOYMENTS {
        for f in FUNCTIONS {
            let policies = policies(d, f);
            for row in table(d).iter().filter(|r| r.function == f) {
                for req in &row.requests {
                    match evaluator::evaluate(&policies, req) {
                        Ok(evaluator::Decision::Allow) => {}
                        other => problems.push(format!(
                            "[{}] {f:?} {}::{} ({}): {} on {} {:?} is {other:?}",
                            d.name,
                            row.sdk,
                            row.operation,
                            row.case,
                            req.action,
                            req.resource,
                            req.context
                        )),
                    }
                }
            }
        }
    }
    print_table();
    assert!(
        problems.is_empty(),
        "the template denies what the code needs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_template_denies_the_negative_controls() {
    let mut problems = Vec::new();
    for d in &DEPLOYMENTS {
        for f in FUNCTIONS {
            let policies = policies(d, f);
            for (what, req) in negative_controls(d, f) {
                match evaluator::evaluate(&policies, &req) {
                    Ok(evaluator::Decision::Allow) => problems.push(format!(
                        "[{}] {f:?} may {what}: {} on {} {:?}",
                        d.name, req.action, req.resource, req.context
                    )),
                    Ok(_) => {}
                    Err(e) => problems.push(format!("[{}] {f:?} {what}: {e:#}", d.name)),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Least privilege from the other side: each action of each Allow statement must be needed by
/// some row of that function, in the deployment that has the statement.
#[test]
fn every_granted_action_is_needed_by_a_row() {
    let mut problems = Vec::new();
    for d in &DEPLOYMENTS {
        for f in FUNCTIONS {
            let rows = table(d);
            let requests: Vec<&Request> = rows
                .iter()
                .filter(|r| r.function == f)
                .flat_map(|r| &r.requests)
                .collect();
            for policy in policies(d, f) {
                for statement in evaluator::statements(&policy) {
                    for single in evaluator::per_action(statement) {
                        let used = requests
                            .iter()
                            .any(|req| evaluator::statement_applies(&single, req).unwrap_or(false));
                        if !used {
                            problems.push(format!("[{}] {f:?}: no row needs {}", d.name, single));
                        }
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "granted but not needed by the code:\n{}",
        problems.join("\n")
    );
}

/// The evaluator itself, on hand-written policies: wildcards, conditions, explicit Deny.
#[test]
fn the_evaluator_allows_and_denies_as_iam_does() {
    use evaluator::Decision::*;
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*AWSLogs/*"},
        {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "arn:aws:logs:r:a:log-group:g:*"},
        {"Effect": "Allow", "Action": "logs:CreateLogStream", "Resource": "arn:aws:logs:r:a:log-group:g"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
         "Condition": {"StringLike": {"s3:prefix": ["AWSLogs/*"]}}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.r.amazonaws.com"}}},
        {"Effect": "Deny", "Action": "s3:GetObjectVersion", "Resource": "*"}
    ]});
    let eval = |action: &str, resource: &str, ctx: &[(&str, &str)]| {
        evaluator::evaluate(
            std::slice::from_ref(&policy),
            &request(action, resource, ctx),
        )
        .unwrap()
    };
    assert_eq!(
        eval("s3:GetObject", "arn:aws:s3:::b/x/AWSLogs/k", &[]),
        Allow
    );
    assert_eq!(
        eval("S3:getobject", "arn:aws:s3:::b/AWSLogs/k", &[]),
        Allow,
        "actions ignore case"
    );
    assert_eq!(
        eval("s3:GetObject", "arn:aws:s3:::b/other/k", &[]),
        NotAllowed
    );
    assert_eq!(
        eval("s3:GetObjectVersion", "arn:aws:s3:::b/AWSLogs/k", &[]),
        ExplicitDeny
    );
    assert_eq!(
        eval("s3:PutObject", "arn:aws:s3:::b/AWSLogs/k", &[]),
        NotAllowed
    );
    let stream = "arn:aws:logs:r:a:log-group:g:log-stream:s";
    assert_eq!(eval("logs:PutLogEvents", stream, &[]), Allow);
    // The bare log-group ARN does not match the stream ARN AWS authorizes against.
    assert_eq!(eval("logs:CreateLogStream", stream, &[]), NotAllowed);
    assert_eq!(
        eval(
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &[("s3:prefix", "AWSLogs/1/")]
        ),
        Allow
    );
    assert_eq!(
        eval(
            "s3:ListBucket",
            "arn:aws:s3:::b",
            &[("s3:prefix", "secrets/")]
        ),
        NotAllowed
    );
    assert_eq!(
        eval("s3:ListBucket", "arn:aws:s3:::b", &[]),
        NotAllowed,
        "a missing key fails StringLike"
    );
    assert_eq!(
        eval(
            "kms:Decrypt",
            "k",
            &[("kms:viaservice", "s3.r.amazonaws.com")]
        ),
        Allow,
        "keys ignore case"
    );
    assert_eq!(eval("kms:Decrypt", "k", &[]), NotAllowed);
    let leading = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Action": ["dynamodb:UpdateItem"], "Resource": "arn:aws:dynamodb:r:a:table/t",
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["forwarder#*"]}}}]});
    let ddb = |ctx: &[(&str, &str)]| {
        evaluator::evaluate(
            std::slice::from_ref(&leading),
            &request("dynamodb:UpdateItem", "arn:aws:dynamodb:r:a:table/t", ctx),
        )
        .unwrap()
    };
    assert_eq!(
        ddb(&[("dynamodb:LeadingKeys", "forwarder#s3://b/k#-")]),
        Allow
    );
    assert_eq!(
        ddb(&[("dynamodb:LeadingKeys", "alerter#s3://b/k#-")]),
        NotAllowed
    );
    assert_eq!(
        ddb(&[]),
        Allow,
        "ForAllValues holds vacuously without the key (IAM's documented pitfall; DynamoDB's \
         item calls always send it)"
    );
    let unknown = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]});
    let err = evaluator::evaluate(&[unknown], &request("s3:GetObject", "x", &[])).unwrap_err();
    assert!(err.to_string().contains("DateGreaterThan"), "{err}");
}

fn print_table() {
    println!("function | operation | case | action | resource | context");
    for row in table(&DEPLOYMENTS[0]) {
        for req in &row.requests {
            println!(
                "{:?} | {}::{} | {} | {} | {} | {:?}",
                row.function,
                row.sdk,
                row.operation,
                row.case,
                req.action,
                req.resource,
                req.context
            );
        }
    }
}
