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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::Value;
use trailwatch_e2e::template::{Bindings, ResourceValues, function_policies};
use trailwatch_e2e::workspace_root;

// ---------------------------------------------------------------- deployments -----------------

const PARTITION: &str = "aws";
const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "111122223333";
const STACK: &str = "trailwatch-test";
const CREATED_BUCKET: &str = "trailwatch-test-trailbucket-1x2y3z";
const ADOPTED_BUCKET: &str = "org-cloudtrail-logs";
const LOG_GROUP: &str = "/trailwatch/cloudtrail";
const TOPIC_ARN: &str = "arn:aws:sns:eu-west-1:111122223333:trailwatch-test-AlertTopic-AbC123";
const TRAIL_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555";
const TOPIC_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/66666666-7777-8888-9999-000000000000";
const RULES_BUCKET: &str = "security-config";
const RULES_KEY: &str = "trailwatch/rules.json";

/// One way of deploying the stack: the parameters that change which statements exist.
#[derive(Debug, Clone, Copy)]
struct Deployment {
    name: &'static str,
    create_trail: bool,
    kms_key: bool,
    custom_rules_object: bool,
    encrypt_alert_topic: bool,
}

const DEPLOYMENTS: [Deployment; 3] = [
    Deployment {
        name: "created trail, KMS key, custom-rules object, encrypted topic",
        create_trail: true,
        kms_key: true,
        custom_rules_object: true,
        encrypt_alert_topic: true,
    },
    Deployment {
        name: "adopted bucket, KMS key, custom-rules object",
        create_trail: false,
        kms_key: true,
        custom_rules_object: true,
        encrypt_alert_topic: false,
    },
    Deployment {
        name: "defaults (created trail, nothing optional)",
        create_trail: true,
        kms_key: false,
        custom_rules_object: false,
        encrypt_alert_topic: false,
    },
];

impl Deployment {
    fn bucket(&self) -> &'static str {
        if self.create_trail {
            CREATED_BUCKET
        } else {
            ADOPTED_BUCKET
        }
    }

    /// What the intrinsics resolve to. The log group's Arn is what CloudFormation's
    /// `Fn::GetAtt LogGroup.Arn` really returns: the log-group ARN with a trailing `:*`.
    fn bindings(&self) -> Bindings {
        let mut parameters = BTreeMap::new();
        let mut set = |k: &str, v: &str| parameters.insert(k.to_owned(), v.to_owned());
        set(
            "CreateTrail",
            if self.create_trail { "true" } else { "false" },
        );
        set(
            "ExistingBucketName",
            if self.create_trail {
                ""
            } else {
                ADOPTED_BUCKET
            },
        );
        set("LogGroupName", LOG_GROUP);
        set("KmsKeyArn", if self.kms_key { TRAIL_KEY_ARN } else { "" });
        let rules_uri = format!("s3://{RULES_BUCKET}/{RULES_KEY}");
        set(
            "CustomRulesS3Uri",
            if self.custom_rules_object {
                &rules_uri
            } else {
                ""
            },
        );
        set(
            "EncryptAlertTopic",
            if self.encrypt_alert_topic {
                "true"
            } else {
                "false"
            },
        );

        let mut resources = BTreeMap::new();
        resources.insert(
            "TrailBucket".to_owned(),
            ResourceValues::new(
                CREATED_BUCKET,
                &[("Arn", &format!("arn:aws:s3:::{CREATED_BUCKET}"))],
            ),
        );
        let log_group_arn = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*");
        resources.insert(
            "CloudTrailLogGroup".to_owned(),
            ResourceValues::new(LOG_GROUP, &[("Arn", &log_group_arn)]),
        );
        resources.insert(
            "AlertTopic".to_owned(),
            ResourceValues::new(
                TOPIC_ARN,
                &[("TopicName", "trailwatch-test-AlertTopic-AbC123")],
            ),
        );
        resources.insert(
            "AlertTopicKey".to_owned(),
            ResourceValues::new(
                TOPIC_KEY_ARN.rsplit('/').next().unwrap(),
                &[
                    ("Arn", TOPIC_KEY_ARN),
                    ("KeyId", TOPIC_KEY_ARN.rsplit('/').next().unwrap()),
                ],
            ),
        );
        Bindings {
            partition: PARTITION.into(),
            region: REGION.into(),
            account_id: ACCOUNT.into(),
            stack_name: STACK.into(),
            parameters,
            resources,
        }
    }
}

// ---------------------------------------------------------------- the table -------------------

/// A deployed function: its crate folder under `functions/` and its logical id in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Function {
    Forwarder,
    Alerter,
    DigestVerifier,
}

const FUNCTIONS: [Function; 3] = [
    Function::Forwarder,
    Function::Alerter,
    Function::DigestVerifier,
];

impl Function {
    fn crate_dir(self) -> &'static str {
        match self {
            Function::Forwarder => "forwarder",
            Function::Alerter => "alerter",
            Function::DigestVerifier => "digest-verifier",
        }
    }

    fn logical_id(self) -> &'static str {
        match self {
            Function::Forwarder => "ForwarderFunction",
            Function::Alerter => "AlerterFunction",
            Function::DigestVerifier => "DigestVerifierFunction",
        }
    }
}

/// One IAM authorization AWS makes for a call: action, resource ARN and the request's context
/// keys that the template's conditions may test.
#[derive(Debug, Clone)]
struct Request {
    action: String,
    resource: String,
    context: BTreeMap<String, String>,
}

fn request(action: &str, resource: impl Into<String>, context: &[(&str, &str)]) -> Request {
    Request {
        action: action.to_owned(),
        resource: resource.into(),
        context: context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A row: one SDK operation of one function, in one case, and what AWS authorizes for it.
#[derive(Debug, Clone)]
struct Row {
    function: Function,
    /// The SDK crate without `aws-sdk-` (`s3`, `sns`, `cloudwatchlogs`, `cloudtrail`).
    sdk: &'static str,
    /// The operation as the SDK names it (`GetObject`).
    operation: &'static str,
    case: &'static str,
    requests: Vec<Request>,
}

fn s3_object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

fn log_key() -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/12/07/{ACCOUNT}_CloudTrail_{REGION}_20261207T0005Z_Ab12Cd34Ef56Gh78.json.gz"
    )
}

/// An organization trail with an S3 key prefix: the template's `*AWSLogs/*` must cover it.
fn org_log_key() -> String {
    format!(
        "team-a/AWSLogs/o-abc123def4/{ACCOUNT}/CloudTrail/{REGION}/2026/12/07/{ACCOUNT}_CloudTrail_{REGION}_20261207T0005Z_Zz98Yy76Xx54Ww32.json.gz"
    )
}

fn digest_key() -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/12/07/{ACCOUNT}_CloudTrail-Digest_{REGION}_{STACK}-trail_{REGION}_20261207T010000Z.json.gz"
    )
}

/// What S3 adds when it decrypts an SSE-KMS object for the caller: a kms:Decrypt by the caller's
/// role, made via S3 (so `kms:ViaService` is S3 in the bucket's region).
fn s3_kms_decrypt(d: &Deployment) -> Option<Request> {
    d.kms_key.then(|| {
        request(
            "kms:Decrypt",
            TRAIL_KEY_ARN,
            &[
                ("kms:ViaService", &format!("s3.{REGION}.amazonaws.com")),
                ("kms:CallerAccount", ACCOUNT),
            ],
        )
    })
}

/// A GetObject of `key`: with a version id S3 authorizes `s3:GetObjectVersion`, without one
/// `s3:GetObject`; an SSE-KMS object also needs the kms:Decrypt S3 makes on the caller's behalf.
fn get_object(d: &Deployment, bucket: &str, key: &str, version: Option<&str>) -> Vec<Request> {
    let arn = s3_object_arn(bucket, key);
    let mut out = vec![match version {
        Some(v) => request("s3:GetObjectVersion", arn, &[("s3:versionid", v)]),
        None => request("s3:GetObject", arn, &[]),
    }];
    out.extend(s3_kms_decrypt(d));
    out
}

/// An SNS Publish; to a topic encrypted with a customer-managed key SNS also uses the key with
/// the publisher's permissions.
fn publish(d: &Deployment) -> Vec<Request> {
    let mut out = vec![request("sns:Publish", TOPIC_ARN, &[])];
    if d.encrypt_alert_topic {
        let via = format!("sns.{REGION}.amazonaws.com");
        let context = [
            ("kms:ViaService", via.as_str()),
            ("kms:CallerAccount", ACCOUNT),
        ];
        out.push(request("kms:GenerateDataKey", TOPIC_KEY_ARN, &context));
        out.push(request("kms:Decrypt", TOPIC_KEY_ARN, &context));
    }
    out
}

/// CloudWatch Logs authorizes both CreateLogStream and PutLogEvents against the log-stream ARN
/// `arn:…:log-group:NAME:log-stream:STREAM` (the Service Authorization Reference lists the
/// log-stream resource for PutLogEvents, and AccessDenied for CreateLogStream names the stream
/// ARN). A bare log-group ARN in a policy therefore matches neither; `NAME:*` matches both.
fn log_stream_arn(group: &str, stream: &str) -> String {
    format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{stream}")
}

fn table(d: &Deployment) -> Vec<Row> {
    use Function::*;
    let bucket = d.bucket();
    let version = Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY");
    let stream = format!("{ACCOUNT}_CloudTrail_{REGION}");
    let day_prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/12/07/");
    // ListObjectsV2 is authorized as s3:ListBucket on the bucket, with its prefix as s3:prefix.
    let list = |prefix: &str| {
        vec![request(
            "s3:ListBucket",
            format!("arn:aws:s3:::{bucket}"),
            &[("s3:prefix", prefix)],
        )]
    };
    let mut rows = vec![
        // ------------------------------------------------ forwarder
        row(
            Forwarder,
            "s3",
            "GetObject",
            "log file from an EventBridge event (version-id)",
            get_object(d, bucket, &log_key(), version),
        ),
        row(
            Forwarder,
            "s3",
            "GetObject",
            "log file from an S3 notification (no version)",
            get_object(d, bucket, &log_key(), None),
        ),
        row(
            Forwarder,
            "s3",
            "GetObject",
            "organization trail with a key prefix (version-id)",
            get_object(d, bucket, &org_log_key(), version),
        ),
        row(
            Forwarder,
            "cloudwatchlogs",
            "CreateLogStream",
            "stream for the account and region",
            vec![request(
                "logs:CreateLogStream",
                log_stream_arn(LOG_GROUP, &stream),
                &[],
            )],
        ),
        row(
            Forwarder,
            "cloudwatchlogs",
            "PutLogEvents",
            "forwarded events",
            vec![request(
                "logs:PutLogEvents",
                log_stream_arn(LOG_GROUP, &stream),
                &[],
            )],
        ),
        // ------------------------------------------------ alerter
        row(
            Alerter,
            "s3",
            "GetObject",
            "log file from an EventBridge event (version-id)",
            get_object(d, bucket, &log_key(), version),
        ),
        row(
            Alerter,
            "s3",
            "GetObject",
            "log file from an S3 notification (no version)",
            get_object(d, bucket, &log_key(), None),
        ),
        row(Alerter, "sns", "Publish", "an alert", publish(d)),
        // ------------------------------------------------ digest-verifier (reads without version ids)
        row(
            DigestVerifier,
            "s3",
            "GetObject",
            "the digest file",
            get_object(d, bucket, &digest_key(), None),
        ),
        row(
            DigestVerifier,
            "s3",
            "GetObject",
            "a log file the digest covers",
            get_object(d, bucket, &log_key(), None),
        ),
        row(
            DigestVerifier,
            "s3",
            "ListObjectsV2",
            "a day folder of logs or digests",
            list(&day_prefix),
        ),
        row(
            DigestVerifier,
            "s3",
            "ListObjectsV2",
            "confirming a 403 as missing (prefix = the key)",
            list(&log_key()),
        ),
        row(
            DigestVerifier,
            "s3",
            "ListObjectsV2",
            "a day folder under a trail's key prefix",
            list(&format!("team-a/{day_prefix}")),
        ),
        row(
            DigestVerifier,
            "cloudtrail",
            "ListPublicKeys",
            "the public keys of the digest's region",
            vec![request("cloudtrail:ListPublicKeys", "*", &[])],
        ),
        row(
            DigestVerifier,
            "sns",
            "Publish",
            "an integrity alert",
            publish(d),
        ),
    ];
    if d.custom_rules_object {
        rows.push(row(
            Alerter,
            "s3",
            "GetObject",
            "CUSTOM_RULES_S3_URI object at cold start (no version)",
            // Its own bucket: not encrypted with the trail bucket's KmsKeyArn (SSE-S3 assumed).
            vec![request(
                "s3:GetObject",
                s3_object_arn(RULES_BUCKET, RULES_KEY),
                &[],
            )],
        ));
    }
    rows
}

fn row(
    function: Function,
    sdk: &'static str,
    operation: &'static str,
    case: &'static str,
    requests: Vec<Request>,
) -> Row {
    Row {
        function,
        sdk,
        operation,
        case,
        requests,
    }
}

/// Requests each function must NOT be allowed: proof that the evaluator can say no and that the
/// template grants no more than the table needs.
fn negative_controls(d: &Deployment, f: Function) -> Vec<(&'static str, Request)> {
    let bucket = d.bucket();
    let log = s3_object_arn(bucket, &log_key());
    let mut out = vec![
        (
            "overwrite a log file",
            request("s3:PutObject", log.clone(), &[]),
        ),
        (
            "delete a log file",
            request("s3:DeleteObject", log.clone(), &[]),
        ),
        (
            "delete a log file version",
            request(
                "s3:DeleteObjectVersion",
                log.clone(),
                &[("s3:versionid", "v1")],
            ),
        ),
        (
            "read outside AWSLogs/",
            request(
                "s3:GetObject",
                s3_object_arn(bucket, "secrets/credentials.json"),
                &[],
            ),
        ),
        (
            "read another bucket",
            request(
                "s3:GetObject",
                s3_object_arn("someone-elses-bucket", &log_key()),
                &[],
            ),
        ),
        (
            "change the bucket policy",
            request("s3:PutBucketPolicy", format!("arn:aws:s3:::{bucket}"), &[]),
        ),
        (
            "decrypt with another key via S3",
            request(
                "kms:Decrypt",
                "arn:aws:kms:eu-west-1:111122223333:key/other",
                &[("kms:ViaService", "s3.eu-west-1.amazonaws.com")],
            ),
        ),
        // Not via S3: a direct kms:Decrypt call must not work with the trail key.
        (
            "decrypt with the trail key directly",
            request("kms:Decrypt", TRAIL_KEY_ARN, &[]),
        ),
        (
            "decrypt with the trail key via another service",
            request(
                "kms:Decrypt",
                TRAIL_KEY_ARN,
                &[("kms:ViaService", "sqs.eu-west-1.amazonaws.com")],
            ),
        ),
        (
            "publish to another topic",
            request(
                "sns:Publish",
                "arn:aws:sns:eu-west-1:111122223333:other-topic",
                &[],
            ),
        ),
        (
            "stop the trail",
            request(
                "cloudtrail:StopLogging",
                format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{STACK}-trail"),
                &[],
            ),
        ),
    ];
    if !d.kms_key {
        out.push((
            "decrypt via S3 when no KmsKeyArn is set",
            s3_kms_decrypt(&Deployment {
                kms_key: true,
                ..*d
            })
            .unwrap(),
        ));
    }
    // No control on logs:CreateLogGroup/CreateLogStream/PutLogEvents elsewhere: SAM attaches the
    // managed AWSLambdaBasicExecutionRole (those three actions on "*") to every role it creates,
    // so in a real account any function may write any log group whatever the template says.
    match f {
        Function::Forwarder => {
            out.push((
                "delete its log stream",
                request("logs:DeleteLogStream", log_stream_arn(LOG_GROUP, "s"), &[]),
            ));
            out.push(("publish alerts", request("sns:Publish", TOPIC_ARN, &[])));
            out.push((
                "list the bucket",
                request(
                    "s3:ListBucket",
                    format!("arn:aws:s3:::{bucket}"),
                    &[("s3:prefix", "AWSLogs/")],
                ),
            ));
        }
        Function::Alerter => {
            out.push((
                "read another object in the rules bucket",
                request(
                    "s3:GetObject",
                    s3_object_arn(RULES_BUCKET, "other/secret.json"),
                    &[],
                ),
            ));
            out.push((
                "list the bucket",
                request(
                    "s3:ListBucket",
                    format!("arn:aws:s3:::{bucket}"),
                    &[("s3:prefix", "AWSLogs/")],
                ),
            ));
        }
        Function::DigestVerifier => {
            out.push((
                "read a log file version (never needed)",
                request("s3:GetObjectVersion", log, &[("s3:versionid", "v1")]),
            ));
            out.push((
                "list outside AWSLogs/",
                request(
                    "s3:ListBucket",
                    format!("arn:aws:s3:::{bucket}"),
                    &[("s3:prefix", "secrets/")],
                ),
            ));
            out.push((
                "list the whole bucket",
                request("s3:ListBucket", format!("arn:aws:s3:::{bucket}"), &[]),
            ));
            out.push((
                "list another bucket",
                request(
                    "s3:ListBucket",
                    "arn:aws:s3:::someone-elses-bucket",
                    &[("s3:prefix", "AWSLogs/")],
                ),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------- tests -----------------------

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
                    match iam::evaluate(&policies, req) {
                        Ok(iam::Decision::Allow) => {}
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
                match iam::evaluate(&policies, &req) {
                    Ok(iam::Decision::Allow) => problems.push(format!(
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
                for statement in iam::statements(&policy) {
                    for single in iam::per_action(statement) {
                        let used = requests
                            .iter()
                            .any(|req| iam::statement_applies(&single, req).unwrap_or(false));
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
    use iam::Decision::*;
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
        iam::evaluate(
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
    let unknown = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]});
    let err = iam::evaluate(&[unknown], &request("s3:GetObject", "x", &[])).unwrap_err();
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

// ---------------------------------------------------------------- IAM evaluator ---------------

/// A small evaluator of identity-based policies: Allow/Deny, Action/NotAction,
/// Resource/NotResource with `*`/`?` wildcards, and the string/ARN/Bool condition operators
/// (with `IfExists`). Anything else is an error, never a guess.
mod iam {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Decision {
        Allow,
        ExplicitDeny,
        /// No statement allows it (IAM's implicit deny).
        NotAllowed,
    }

    pub fn statements(policy: &Value) -> Vec<&Value> {
        match policy.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one) => vec![one],
            None => Vec::new(),
        }
    }

    pub fn evaluate(policies: &[Value], req: &super::Request) -> Result<Decision> {
        let mut allowed = false;
        for policy in policies {
            for statement in statements(policy) {
                if statement_applies(statement, req)? {
                    match effect(statement)? {
                        "Deny" => return Ok(Decision::ExplicitDeny),
                        _ => allowed = true,
                    }
                }
            }
        }
        Ok(if allowed {
            Decision::Allow
        } else {
            Decision::NotAllowed
        })
    }

    fn effect(statement: &Value) -> Result<&str> {
        match statement.get("Effect").and_then(Value::as_str) {
            Some(e @ ("Allow" | "Deny")) => Ok(e),
            other => bail!("statement {statement}: Effect {other:?}"),
        }
    }

    /// The Allow statement split into one statement per action, for "is this action used".
    pub fn per_action(statement: &Value) -> Vec<Value> {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            return Vec::new();
        }
        let actions = strings(statement.get("Action")).unwrap_or_default();
        actions
            .into_iter()
            .map(|a| {
                let mut one = statement.clone();
                one["Action"] = Value::String(a);
                one
            })
            .collect()
    }

    /// Whether the statement's Action, Resource and Condition all match the request.
    pub fn statement_applies(statement: &Value, req: &super::Request) -> Result<bool> {
        let Value::Object(map) = statement else {
            bail!("a statement must be a mapping: {statement}");
        };
        for key in map.keys() {
            ensure!(
                [
                    "Sid",
                    "Effect",
                    "Action",
                    "NotAction",
                    "Resource",
                    "NotResource",
                    "Condition"
                ]
                .contains(&key.as_str()),
                "statement {statement}: {key} is not evaluated here (an identity policy has no Principal)"
            );
        }
        let action = match (map.get("Action"), map.get("NotAction")) {
            (Some(a), None) => any_glob(&strings(Some(a))?, &req.action, true),
            (None, Some(a)) => !any_glob(&strings(Some(a))?, &req.action, true),
            _ => bail!("statement {statement}: needs exactly one of Action and NotAction"),
        };
        let resource = match (map.get("Resource"), map.get("NotResource")) {
            (Some(r), None) => any_glob(&strings(Some(r))?, &req.resource, false),
            (None, Some(r)) => !any_glob(&strings(Some(r))?, &req.resource, false),
            _ => bail!("statement {statement}: needs exactly one of Resource and NotResource"),
        };
        if !(action && resource) {
            return Ok(false);
        }
        match map.get("Condition") {
            None => Ok(true),
            Some(Value::Object(ops)) => {
                for (op, keys) in ops {
                    if !condition(op, keys, &req.context)
                        .with_context(|| format!("in {statement}"))?
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Some(other) => bail!("Condition must be a mapping: {other}"),
        }
    }

    /// One condition operator block; every key in it must hold.
    fn condition(op: &str, keys: &Value, context: &BTreeMap<String, String>) -> Result<bool> {
        let (base, if_exists) = match op.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (op, false),
        };
        let Value::Object(keys) = keys else {
            bail!("{op}: expected a mapping of keys");
        };
        let negated = matches!(
            base,
            "StringNotEquals" | "StringNotLike" | "ArnNotEquals" | "ArnNotLike"
        );
        let matches: fn(&[String], &str) -> bool = match base {
            "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => {
                |e, v| e.iter().any(|x| x == v)
            }
            "StringEqualsIgnoreCase" | "Bool" => |e, v| e.iter().any(|x| x.eq_ignore_ascii_case(v)),
            "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => {
                |e, v| any_glob(e, v, false)
            }
            _ => bail!("condition operator {op} is not supported by this evaluator"),
        };
        for (key, expected) in keys {
            let expected = strings(Some(expected))?;
            let actual = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str());
            // A key the request lacks fails a positive operator and satisfies a negated one.
            let holds = match actual {
                None => if_exists || negated,
                Some(v) => matches(&expected, v) != negated,
            };
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn strings(value: Option<&Value>) -> Result<Vec<String>> {
        match value {
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Bool(b)) => Ok(vec![b.to_string()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| anyhow!("not a string: {v}"))
                })
                .collect(),
            other => bail!("expected a string or a list of strings, found {other:?}"),
        }
    }

    fn any_glob(patterns: &[String], value: &str, ignore_case: bool) -> bool {
        patterns.iter().any(|p| {
            if ignore_case {
                glob(
                    p.to_ascii_lowercase().as_bytes(),
                    value.to_ascii_lowercase().as_bytes(),
                )
            } else {
                glob(p.as_bytes(), value.as_bytes())
            }
        })
    }

    /// IAM's wildcards: `*` any run of characters (also none), `?` exactly one.
    pub fn glob(pattern: &[u8], value: &[u8]) -> bool {
        let (mut p, mut v) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while v < value.len() {
            if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == value[v]) {
                p += 1;
                v += 1;
            } else if p < pattern.len() && pattern[p] == b'*' {
                star = Some((p, v));
                p += 1;
            } else if let Some((sp, sv)) = star {
                p = sp + 1;
                v = sv + 1;
                star = Some((sp, sv + 1));
            } else {
                return false;
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }
}

// ---------------------------------------------------------------- finding the calls -----------

/// Finds the AWS SDK operations each function's code calls: fluent calls `.op_name()` whose name
/// is an operation of an SDK crate the function (or `functions/common`) depends on, in the
/// function's sources and the common modules it uses, outside tests, comments and strings. The
/// operation names come from the SDK crates' own sources (`src/client/*.rs`), so a call to any
/// operation is seen, not only the ones the table knows.
mod scan {
    use super::*;

    /// SDK crate (without `aws-sdk-`) and operation name -> where the code calls it.
    pub type Operations = BTreeMap<(String, String), Vec<String>>;

    pub fn operations_by_function() -> Result<BTreeMap<Function, Operations>> {
        let root = workspace_root();
        let metadata = cargo_metadata(&root)?;
        let mut out = BTreeMap::new();
        for f in FUNCTIONS {
            let catalog = sdk_catalog(&metadata, &[f.crate_dir(), "trailwatch-lambda-common"])?;
            let mut files = rust_files(&root.join("functions").join(f.crate_dir()).join("src"))?;
            files.extend(common_files_used(
                &root.join("functions/common/src"),
                &files,
            )?);
            let mut ops = Operations::new();
            for file in files {
                for (name, line) in fluent_calls(&file)? {
                    if let Some(sdks) = catalog.get(&name) {
                        ensure!(
                            sdks.len() == 1,
                            "{}:{line}: .{name}() is an operation of {sdks:?}",
                            file.display()
                        );
                        let place = format!(
                            "{}:{line}",
                            file.strip_prefix(&root).unwrap_or(&file).display()
                        );
                        ops.entry(sdks[0].clone()).or_default().push(place);
                    }
                }
            }
            out.insert(f, ops);
        }
        Ok(out)
    }

    fn cargo_metadata(root: &Path) -> Result<Value> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--offline",
                "--manifest-path",
            ])
            .arg(root.join("Cargo.toml"))
            .output()
            .context("running cargo metadata")?;
        ensure!(
            output.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    /// Method name -> [(sdk, Operation)] for the `aws-sdk-*` crates the given packages depend on.
    fn sdk_catalog(
        metadata: &Value,
        packages: &[&str],
    ) -> Result<BTreeMap<String, Vec<(String, String)>>> {
        let all = metadata["packages"].as_array().context("packages")?;
        let package = |name: &str| -> Result<&Value> {
            let found: Vec<&Value> = all.iter().filter(|p| p["name"] == name).collect();
            ensure!(found.len() == 1, "{} packages named {name}", found.len());
            Ok(found[0])
        };
        let mut sdks = BTreeSet::new();
        for name in packages {
            for dep in package(name)?["dependencies"]
                .as_array()
                .context("dependencies")?
            {
                let dep = dep["name"].as_str().unwrap_or_default();
                if dep.starts_with("aws-sdk-") {
                    sdks.insert(dep.to_owned());
                }
            }
        }
        let mut catalog: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for sdk in sdks {
            let manifest = package(&sdk)?["manifest_path"]
                .as_str()
                .context("manifest_path")?;
            let client_dir = Path::new(manifest).parent().unwrap().join("src/client");
            let short = sdk.trim_start_matches("aws-sdk-").to_owned();
            for file in std::fs::read_dir(&client_dir)
                .with_context(|| format!("{}", client_dir.display()))?
            {
                let path = file?.path();
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("{}", path.display()))?;
                for (method, operation) in client_operations(&text) {
                    catalog
                        .entry(method)
                        .or_default()
                        .push((short.clone(), operation));
                }
            }
        }
        ensure!(
            catalog.contains_key("get_object"),
            "no SDK operations found: is the SDK source layout different?"
        );
        Ok(catalog)
    }

    /// `pub fn get_object(&self) -> crate::operation::get_object::builders::GetObjectFluentBuilder`
    /// -> ("get_object", "GetObject").
    fn client_operations(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("pub fn ") else {
                continue;
            };
            let Some((method, rest)) = rest.split_once("(&self) -> crate::operation::") else {
                continue;
            };
            let Some(builder) = rest.split("::builders::").nth(1) else {
                continue;
            };
            if let Some(op) = builder
                .split_whitespace()
                .next()
                .and_then(|b| b.strip_suffix("FluentBuilder"))
            {
                out.push((method.to_owned(), op.to_owned()));
            }
        }
        out
    }

    /// `.name()` calls with no arguments, with their line numbers, in code outside tests.
    fn fluent_calls(file: &Path) -> Result<Vec<(String, usize)>> {
        let text = std::fs::read_to_string(file)?;
        let code = strip_test_items(&strip_comments_and_strings(&text));
        let bytes = code.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'.' {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                {
                    end += 1;
                }
                let rest = code[end..].trim_start();
                if end > start && rest.starts_with('(') && rest[1..].trim_start().starts_with(')') {
                    let line = code[..i].matches('\n').count() + 1;
                    out.push((code[start..end].to_owned(), line));
                }
                i = end.max(i + 1);
            } else {
                i += 1;
            }
        }
        Ok(out)
    }

    /// Blanks comments and the contents of string and char literals (keeping the newlines, so
    /// line numbers stay right): `.get_object()` in a doc comment or a message is not a call.
    pub fn strip_comments_and_strings(text: &str) -> String {
        let b = text.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        out.push(b' ');
                        i += 1;
                    }
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let mut depth = 0;
                    while i < b.len() {
                        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                            depth += 1;
                            out.extend_from_slice(b"  ");
                            i += 2;
                        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                            depth -= 1;
                            out.extend_from_slice(b"  ");
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        } else {
                            blank(&mut out, b[i]);
                            i += 1;
                        }
                    }
                }
                b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                    && (i == 0 || !is_ident(b[i - 1])) =>
                {
                    // Raw string r"..." / r#"..."#.
                    let mut j = i + 1;
                    while b.get(j) == Some(&b'#') {
                        j += 1;
                    }
                    if b.get(j) != Some(&b'"') {
                        out.push(b[i]);
                        i += 1;
                        continue;
                    }
                    let hashes = j - i - 1;
                    let close: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    out.extend(std::iter::repeat_n(b' ', j + 1 - i));
                    i = j + 1;
                    while i < b.len() && !b[i..].starts_with(&close) {
                        blank(&mut out, b[i]);
                        i += 1;
                    }
                    out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
                    i += close.len();
                }
                b'"' => {
                    out.push(b' ');
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        let skip = if b[i] == b'\\' { 2 } else { 1 };
                        for k in 0..skip {
                            if let Some(&c) = b.get(i + k) {
                                blank(&mut out, c);
                            }
                        }
                        i += skip;
                    }
                    out.push(b' ');
                    i += 1;
                }
                b'\'' => {
                    // A char literal ('x', '\n', '\''), else a lifetime ('a).
                    let len = if b.get(i + 1) == Some(&b'\\') {
                        b.get(i + 3..)
                            .and_then(|r| r.iter().position(|&c| c == b'\''))
                            .map(|p| p + 4)
                    } else {
                        let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                        (b.get(i + 1 + ch) == Some(&b'\'')).then_some(ch + 2)
                    };
                    match len {
                        Some(n) => {
                            out.extend(std::iter::repeat_n(b' ', n));
                            i += n;
                        }
                        None => {
                            out.push(b'\'');
                            i += 1;
                        }
                    }
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("only ASCII replaced ASCII")
    }

    fn is_ident(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_'
    }

    /// Blanks each item under `#[cfg(test)]` (a `mod tests { … }`, a helper fn, a `use`).
    pub fn strip_test_items(code: &str) -> String {
        let mut out = code.to_owned();
        let mut from = 0;
        while let Some(pos) = out[from..].find("#[cfg(test)]").map(|p| p + from) {
            let b = out.as_bytes();
            let mut i = pos;
            let mut depth = 0usize;
            let end = loop {
                match b.get(i) {
                    None => break b.len(),
                    Some(b'{') => depth += 1,
                    Some(b'}') if depth <= 1 => break i + 1,
                    Some(b'}') => depth -= 1,
                    Some(b';') if depth == 0 => break i + 1,
                    _ => {}
                }
                i += 1;
            };
            let blanked: String = out[pos..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            out.replace_range(pos..end, &blanked);
            from = end;
        }
        out
    }

    /// The `.rs` files under `dir`, without test files (`*_tests.rs`, `tests.rs`, `tests/`).
    fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if path.is_dir() {
                if name != "tests" {
                    out.extend(rust_files(&path)?);
                }
            } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") && name != "tests.rs" {
                out.push(path);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The files of the `functions/common` modules that `files` use, and the modules those use.
    fn common_files_used(common_src: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
        let lib = strip_comments_and_strings(&std::fs::read_to_string(common_src.join("lib.rs"))?);
        let reexports = reexports(&lib);
        let mut pending: Vec<String> = Vec::new();
        for file in files {
            let code =
                strip_test_items(&strip_comments_and_strings(&std::fs::read_to_string(file)?));
            for first in paths_after(&code, "trailwatch_lambda_common::") {
                pending.push(reexports.get(&first).cloned().unwrap_or(first));
            }
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(module) = pending.pop() {
            if !seen.insert(module.clone()) {
                continue;
            }
            let module_files = module_files(common_src, &module)
                .with_context(|| format!("trailwatch_lambda_common::{module} is no module or re-export of functions/common"))?;
            for file in &module_files {
                let code =
                    strip_test_items(&strip_comments_and_strings(&std::fs::read_to_string(file)?));
                pending.extend(
                    paths_after(&code, "crate::")
                        .into_iter()
                        .map(|m| reexports.get(&m).cloned().unwrap_or(m)),
                );
            }
            out.extend(module_files);
        }
        Ok(out)
    }

    fn module_files(src: &Path, module: &str) -> Result<Vec<PathBuf>> {
        let file = src.join(format!("{module}.rs"));
        let dir = src.join(module);
        let mut out = Vec::new();
        if file.is_file() {
            out.push(file);
        }
        if dir.is_dir() {
            out.extend(rust_files(&dir)?);
        }
        if out.is_empty() {
            // An item of lib.rs itself (`crate::SOME_CONST`): lib.rs is what is used.
            let lib = src.join("lib.rs");
            let code = strip_comments_and_strings(&std::fs::read_to_string(&lib)?);
            let defines = code
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == module);
            ensure!(
                defines,
                "no {module}.rs, {module}/ or item {module} in {}",
                src.display()
            );
            out.push(lib);
        }
        Ok(out)
    }

    /// `pub use logging::init_tracing;` / `pub use sdk::{a, b};` -> name -> module.
    fn reexports(lib: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for stmt in lib.split(';') {
            let Some(path) = stmt.trim().strip_prefix("pub use ") else {
                continue;
            };
            let Some((module, names)) = path.split_once("::") else {
                continue;
            };
            for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
                let name = name.trim().rsplit(" as ").next().unwrap_or_default().trim();
                if !name.is_empty() {
                    out.insert(name.to_owned(), module.trim().to_owned());
                }
            }
        }
        out
    }

    /// The first segment of each path after `prefix` (`prefix{a::b, c}` gives a and c).
    fn paths_after(code: &str, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (pos, _) in code.match_indices(prefix) {
            let rest = &code[pos + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.extend(first_segment(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 || c != '{' {
                        item.push(c);
                    }
                }
                out.extend(first_segment(&item));
            } else {
                out.extend(first_segment(rest));
            }
        }
        out
    }

    fn first_segment(path: &str) -> Option<String> {
        let ident: String = path
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!ident.is_empty() && ident != "self").then_some(ident)
    }

    #[test]
    fn stripping_keeps_code_and_drops_comments_strings_and_tests() {
        let src = "let a = s3.get_object(); // .publish()\nlet s = \"x.publish()\"; let c = '\\''; let r = r#\".put_log_events()\"#;\n/* .list_public_keys() */ fn f<'a>() {}\n#[cfg(test)]\nmod tests { fn t() { c.head_object(); } }\nlet b = c.list_objects_v2();";
        let code = strip_test_items(&strip_comments_and_strings(src));
        assert!(code.contains("s3.get_object()"));
        assert!(code.contains("c.list_objects_v2()"));
        assert!(code.contains("fn f<'a>()"));
        for gone in [
            "publish",
            "put_log_events",
            "list_public_keys",
            "head_object",
        ] {
            assert!(!code.contains(gone), "{gone} in {code}");
        }
        assert_eq!(
            code.lines().count(),
            src.lines().count(),
            "line numbers kept"
        );
    }

    #[test]
    fn paths_after_reads_groups_and_single_paths() {
        let code = "use trailwatch_lambda_common::{init_tracing, sns::{self, PublishError}, config::X};\nuse trailwatch_lambda_common::s3_read::open_object;";
        assert_eq!(
            paths_after(code, "trailwatch_lambda_common::"),
            ["init_tracing", "sns", "config", "s3_read"]
        );
    }
}
