//! The three functions with exactly the permissions `template.yaml` gives them, under IAM
//! enforcement, against a versioned trail bucket.
//!
//! For each function the harness reads the role's policies from the template (intrinsics
//! resolved to this test's bucket, topic, log group and queues), creates that role in moto,
//! assumes it, switches moto's IAM enforcement on and runs the real binary under the Lambda
//! runtime API with the role's temporary credentials. The events carry `version-id` as
//! EventBridge sends them for a versioned bucket (what `CreateTrail=true` deploys), and once they
//! do not (an S3 notification from an unversioned bucket).
//!
//! Negative controls drop one action from the template's policies and show the function fails
//! with a permission error naming the bucket, the key and the action — not a verdict, not an
//! alert, not "missing".
//!
//! What moto cannot enforce is stated in `trailwatch_e2e::iam::for_moto` and covered by the
//! permission table test (`e2e/permissions.rs`). SNS is served by a second moto that does not
//! enforce IAM: moto's SigV4 check rejects the Rust SDK's SNS `Publish` (SignatureDoesNotMatch)
//! under enforcement, so `sns:Publish` is proven by the table test and the alert's arrival here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use trailwatch_e2e::chains::{public_keys_file, variant};
use trailwatch_e2e::iam::{RoleCredentials, for_moto, role_with_policies, without_action};
use trailwatch_e2e::template::{Bindings, ResourceValues, function_policies};
use trailwatch_e2e::{
    LambdaWatch, Moto, STATE_TABLE, create_state_table, create_versioned_bucket, events, fixture,
    gzip, time, upload_objects,
};
use trailwatch_shared::digest::testkit::VariantCase;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const LOG_GROUP: &str = "/trailwatch/cloudtrail";
const TOPIC: &str = "trailwatch-alerts";
const CONFIG_BUCKET: &str = "trailwatch-config";
const RULES_KEY: &str = "rules/custom.json";
const PREFIX: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/";
/// StopLogging, an IAM policy change, a bucket policy change, AccessDenied calls.
const ATTACK: &str = "218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json";
const QUIET: &str = "218007301253_CloudTrail_us-east-1_20230710T1230Z_AvIajGd5rkz6vTy4.json";

fn template() -> PathBuf {
    trailwatch_e2e::workspace_root().join("template.yaml")
}

/// The local AWS: `aws` enforces IAM once switched on; `sns` is the alert topic's home.
struct World {
    aws: Moto,
    sns: Moto,
    s3: aws_sdk_s3::Client,
    bucket: String,
    topic_arn: String,
}

async fn world(bucket: &str) -> World {
    let aws = Moto::start();
    let sns_moto = Moto::start();
    let s3 = aws.s3().await;
    create_versioned_bucket(&s3, bucket).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&aws.sdk_config().await);
    logs.create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .unwrap();
    // The state table, as the stack creates it: every function claims its work there (under
    // the role's dynamodb:UpdateItem / GetItem), so exactly-once runs under enforcement too.
    create_state_table(&aws.sdk_config().await, STATE_TABLE).await;
    let topic_arn = sns_moto.create_topic(TOPIC).await;
    World {
        aws,
        sns: sns_moto,
        s3,
        bucket: bucket.to_owned(),
        topic_arn,
    }
}

impl World {
    /// What the template's intrinsics resolve to in this world (`CreateTrail=true`, so the trail
    /// bucket is the stack's `TrailBucket`).
    fn bindings(&self, parameters: &[(&str, &str)]) -> Bindings {
        let arn =
            |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}");
        let queue = |name: &str| {
            ResourceValues::new(
                format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"),
                &[("Arn", &arn("sqs", name)), ("QueueName", name)],
            )
        };
        let mut resources = BTreeMap::new();
        resources.insert(
            "TrailBucket".into(),
            ResourceValues::new(
                self.bucket.clone(),
                &[("Arn", &format!("arn:aws:s3:::{}", self.bucket))],
            ),
        );
        resources.insert(
            "AlertTopic".into(),
            ResourceValues::new(self.topic_arn.clone(), &[("TopicName", TOPIC)]),
        );
        resources.insert(
            "CloudTrailLogGroup".into(),
            ResourceValues::new(
                LOG_GROUP,
                &[("Arn", &arn("logs", &format!("log-group:{LOG_GROUP}:*")))],
            ),
        );
        resources.insert(
            "StateTable".into(),
            ResourceValues::new(
                STATE_TABLE,
                &[("Arn", &arn("dynamodb", &format!("table/{STATE_TABLE}")))],
            ),
        );
        for q in [
            "ForwarderFailureQueue",
            "AlerterFailureQueue",
            "DigestVerifierFailureQueue",
        ] {
            resources.insert(q.into(), queue(q));
        }
        Bindings {
            partition: "aws".into(),
            region: REGION.into(),
            account_id: ACCOUNT.into(),
            stack_name: "trailwatch".into(),
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            resources,
        }
    }

    /// The function's policies as the template writes them, resolved for this world.
    fn template_policies(&self, function: &str, parameters: &[(&str, &str)]) -> Vec<Value> {
        function_policies(&template(), function, &self.bindings(parameters))
            .unwrap_or_else(|e| panic!("{function}'s policies from template.yaml: {e:#}"))
    }

    /// The function's policies as the template writes them, without the DynamoDB statement that
    /// lets it claim a file or digest in the state table.
    fn template_policies_without_state_table(
        &self,
        function: &str,
        parameters: &[(&str, &str)],
    ) -> Vec<Value> {
        without_action(
            &without_action(
                &self.template_policies(function, parameters),
                "dynamodb:UpdateItem",
            ),
            "dynamodb:GetItem",
        )
    }

    /// Runs `function` with `env` on each of `events` in turn while moto enforces IAM (and
    /// stops enforcing before returning); the invocations' results in order and the function's log.
    fn run_enforced(
        &self,
        function: &str,
        env: &[(String, String)],
        events: &[Value],
    ) -> (Vec<Result<Value, String>>, String) {
        self.aws.enforce_iam(true);
        let watch = LambdaWatch::start(function, env);
        let results = events.iter().map(|event| watch.invoke(event)).collect();
        let log = watch.stop_and_collect_stdout();
        self.aws.enforce_iam(false);
        (results, log)
    }

    /// Runs `function` once on `event` under enforcement, where a permission is missing: the
    /// invocation must fail (`failure` says why it should) with a PermissionDenied document.
    fn run_refused(
        &self,
        function: &str,
        env: &[(String, String)],
        event: Value,
        failure: &str,
    ) -> Refusal {
        let (mut results, log) = self.run_enforced(function, env, &[event]);
        let error = results.remove(0).expect_err(failure);
        let document = permission_denied_document(&error, &log);
        Refusal {
            error,
            document,
            log,
        }
    }

    /// Uploads the attack fixture as CloudTrail wrote it; returns its key and version.
    async fn put_attack(&self) -> (String, String) {
        let key = format!("{PREFIX}{ATTACK}.gz");
        let raw = std::fs::read(fixture(&format!("cloudtrail/{ATTACK}"))).unwrap();
        let version = self.put(&key, &raw).await;
        (key, version)
    }

    /// A role with `policies` (adapted to what moto evaluates), assumed.
    async fn role(&self, name: &str, policies: &[Value]) -> RoleCredentials {
        let moto_policies: Vec<Value> = policies.iter().map(for_moto).collect();
        role_with_policies(&self.aws, name, &moto_policies).await
    }

    /// The environment of a function running as `role`: every AWS call goes to the enforcing
    /// moto with the role's credentials, except SNS (see the module comment).
    fn function_env(
        &self,
        role: &RoleCredentials,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut env = role.apply_to(&self.aws.env());
        env.push(("AWS_ENDPOINT_URL_SNS".into(), self.sns.endpoint()));
        env.push(("STATE_TABLE".into(), STATE_TABLE.into()));
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    }

    /// Uploads `body` gzipped at `key`; returns the version S3 gave it.
    async fn put(&self, key: &str, body: &[u8]) -> String {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(gzip(body).into())
            .send()
            .await
            .unwrap()
            .version_id
            .expect("a versioned bucket returns the version written")
    }
}

/// A real log file re-dated to yesterday, so CloudWatch Logs accepts its events.
fn redated(name: &str) -> String {
    let text = std::fs::read_to_string(fixture(&format!("cloudtrail/{name}"))).unwrap();
    text.replace("\"2023-07-10T", &format!("\"{}T", time::yesterday()))
}

fn record_count(text: &str) -> usize {
    serde_json::from_str::<Value>(text).unwrap()["Records"]
        .as_array()
        .unwrap()
        .len()
}

/// An invocation refused for a missing permission: its error text, that text's document, and
/// the function's log.
struct Refusal {
    error: String,
    document: Value,
    log: String,
}

impl Refusal {
    /// The document's `errorMessage`: what the failure record tells the operator.
    fn message(&self) -> &str {
        self.document["errorMessage"].as_str().unwrap_or_default()
    }
}

/// The error document of an invocation that failed for a missing permission; asserts it says so
/// (`errorType`, which tells a missing permission from a fault).
fn permission_denied_document(error: &str, log: &str) -> Value {
    let document: Value = serde_json::from_str(error)
        .unwrap_or_else(|e| panic!("the error document is JSON ({e}): {error}"));
    assert_eq!(
        document["errorType"], "trailwatch.PermissionDenied",
        "{document}\n{log}"
    );
    document
}

/// Asserts a refused read is reported as a permission error that an operator can act on: the
/// bucket, the key and the IAM action, in the invocation's error document (what Lambda keeps in
/// the failure record as `responsePayload`, with `errorType` telling a missing permission from a
/// fault) and in the function's log.
fn assert_permission_error(error: &str, log: &str, bucket: &str, key: &str, action: &str) {
    let document = permission_denied_document(error, log);
    let expected = format!("permission denied: {action} on s3://{bucket}/{key}");
    let message = document["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(&expected),
        "the failure record must say `{expected}`: {message}"
    );
    assert!(
        log.lines().any(|l| l.contains(&expected)
            && l.contains("object failed")
            && l.contains("\"permission_denied\":true")),
        "the function log must say `{expected}`:\n{log}"
    );
}

// ------------------------------------------------------------------------ forwarder ---------

async fn forwarded_messages(w: &World, stream: &str) -> usize {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&w.aws.sdk_config().await);
    trailwatch_e2e::read_log_stream(&logs, LOG_GROUP, stream)
        .await
        .expect("read the log stream")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarder_forwards_every_record_with_the_templates_permissions() {
    let w = world("trail-forwarder").await;
    let versioned = format!("{PREFIX}{ATTACK}.gz");
    let plain = format!("{PREFIX}{QUIET}.gz");
    let (a, q) = (redated(ATTACK), redated(QUIET));
    let version = w.put(&versioned, a.as_bytes()).await;
    w.put(&plain, q.as_bytes()).await;

    let role = w
        .role("forwarder", &w.template_policies("ForwarderFunction", &[]))
        .await;
    let (results, log) = w.run_enforced(
        "forwarder",
        &w.function_env(&role, &[("LOG_GROUP_NAME", LOG_GROUP)]),
        &[
            events::eventbridge_object_version_created(&w.bucket, &versioned, &version),
            events::s3_put(&w.bucket, &[&plain]),
        ],
    );
    let [response, notification]: [Result<Value, String>; 2] =
        results.try_into().expect("two invocations");

    assert_eq!(
        response.as_ref().map(|r| r["status"].clone()),
        Ok(json!("ok")),
        "{log}"
    );
    assert_eq!(
        notification.map(|r| r["status"].clone()),
        Ok(json!("ok")),
        "{log}"
    );
    let stream = "218007301253_CloudTrail_us-east-1";
    assert_eq!(
        forwarded_messages(&w, stream).await,
        record_count(&a) + record_count(&q),
        "every record of both files, once"
    );
}

/// What the forwarder did, running as the template's role without `action`, with a log file
/// announced once with its version (EventBridge) and once without (S3 notification).
struct DeniedRun {
    w: World,
    key: String,
    versioned: Result<Value, String>,
    plain: Result<Value, String>,
    log: String,
}

async fn forwarder_without(bucket: &str, action: &str) -> DeniedRun {
    let w = world(bucket).await;
    let key = format!("{PREFIX}{ATTACK}.gz");
    let version = w.put(&key, redated(ATTACK).as_bytes()).await;
    let policies = without_action(&w.template_policies("ForwarderFunction", &[]), action);
    let role = w.role("forwarder-without", &policies).await;
    let (results, log) = w.run_enforced(
        "forwarder",
        &w.function_env(&role, &[("LOG_GROUP_NAME", LOG_GROUP)]),
        &[
            events::eventbridge_object_version_created(&w.bucket, &key, &version),
            events::s3_put(&w.bucket, &[&key]),
        ],
    );
    let [versioned, plain]: [Result<Value, String>; 2] =
        results.try_into().expect("two invocations");
    DeniedRun {
        w,
        key,
        versioned,
        plain,
        log,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarder_without_get_object_version_reports_the_missing_permission() {
    let run = forwarder_without("trail-forwarder-denied", "s3:GetObjectVersion").await;
    let error = run
        .versioned
        .expect_err("a refused read fails the invocation (Lambda retries, then the failure queue)");
    assert_permission_error(
        &error,
        &run.log,
        &run.w.bucket,
        &run.key,
        "s3:GetObjectVersion",
    );
    // The same object without a version is still readable: only the versioned read is refused.
    assert_eq!(
        run.plain.map(|r| r["status"].clone()),
        Ok(json!("ok")),
        "{}",
        run.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarder_without_put_log_events_reports_the_missing_permission() {
    let run = forwarder_without("trail-forwarder-no-logs", "logs:PutLogEvents").await;
    let (key, log, result) = (run.key, run.log, run.versioned);
    let error = result.expect_err("a refused PutLogEvents fails the invocation");
    let document = permission_denied_document(&error, &log);
    let message = document["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(&key)
            && message.contains("permission denied: the role needs logs:PutLogEvents on the log group /trailwatch/cloudtrail"),
        "{message}"
    );
    assert!(log.contains("\"permission_denied\":true"), "{log}");
}

/// The state table is needed: without the template's DynamoDB statement the forwarder cannot
/// claim the file, and fails with a permission error before forwarding anything (no event
/// forwarded without exactly-once bookkeeping, so a retry after the fix sends each event once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarder_without_the_state_table_statement_fails_with_permission_denied() {
    let w = world("trail-forwarder-no-state").await;
    let key = format!("{PREFIX}{ATTACK}.gz");
    let version = w.put(&key, redated(ATTACK).as_bytes()).await;
    let policies = w.template_policies_without_state_table("ForwarderFunction", &[]);
    let role = w.role("forwarder-no-state", &policies).await;
    let refusal = w.run_refused(
        "forwarder",
        &w.function_env(&role, &[("LOG_GROUP_NAME", LOG_GROUP)]),
        events::eventbridge_object_version_created(&w.bucket, &key, &version),
        "a refused claim fails the invocation",
    );
    assert!(
        refusal.message().contains("state table refused claim"),
        "{}",
        refusal.document
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&w.aws.sdk_config().await);
    let forwarded = match trailwatch_e2e::read_log_stream(
        &logs,
        LOG_GROUP,
        "218007301253_CloudTrail_us-east-1",
    )
    .await
    {
        Ok(events) => events.len(),
        Err(e) if format!("{e:?}").contains("ResourceNotFound") => 0,
        Err(e) => panic!("read the log stream: {e:?}"),
    };
    assert_eq!(forwarded, 0, "nothing forwarded without the claim");
}

// ------------------------------------------------------------------------ alerter -----------

fn custom_rules() -> Value {
    json!({"rules": [{
        "id": "team:stop-logging", "title": "Trail stopped",
        "pattern": "{ $.eventSource = cloudtrail.amazonaws.com && $.eventName = StopLogging }",
        "severity": "CRITICAL", "threshold": 1
    }]})
}

fn alerter_parameters() -> Vec<(&'static str, String)> {
    vec![(
        "CustomRulesS3Uri",
        format!("s3://{CONFIG_BUCKET}/{RULES_KEY}"),
    )]
}

async fn alerter_world(bucket: &str) -> World {
    let w = world(bucket).await;
    w.s3.create_bucket()
        .bucket(CONFIG_BUCKET)
        .send()
        .await
        .unwrap();
    w.s3.put_object()
        .bucket(CONFIG_BUCKET)
        .key(RULES_KEY)
        .body(custom_rules().to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    w
}

fn alerter_env(w: &World, role: &RoleCredentials) -> Vec<(String, String)> {
    let rules_uri = format!("s3://{CONFIG_BUCKET}/{RULES_KEY}");
    w.function_env(
        role,
        &[
            ("ALERT_TOPIC_ARN", &w.topic_arn),
            ("CUSTOM_RULES_S3_URI", &rules_uri),
        ],
    )
}

fn params<'a>(p: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    p.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Without the template's DynamoDB statement the alerter cannot claim the file: a permission
/// error, and no alert (an alert without its published-alert record would repeat on every retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerter_without_the_state_table_statement_fails_with_permission_denied() {
    let w = alerter_world("trail-alerter-no-state").await;
    let (key, version) = w.put_attack().await;
    let p = alerter_parameters();
    let policies = w.template_policies_without_state_table("AlerterFunction", &params(&p));
    let role = w.role("alerter-no-state", &policies).await;
    let refusal = w.run_refused(
        "alerter",
        &alerter_env(&w, &role),
        events::eventbridge_object_version_created(&w.bucket, &key, &version),
        "a refused claim fails the invocation",
    );
    assert!(
        refusal.message().contains("state table refused"),
        "{}",
        refusal.document
    );
    assert!(
        w.sns.sent_notifications().is_empty(),
        "no alert without the claim"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerter_reads_its_rules_and_alerts_with_the_templates_permissions() {
    let w = alerter_world("trail-alerter").await;
    let (key, version) = w.put_attack().await;
    let p = alerter_parameters();
    let role = w
        .role(
            "alerter",
            &w.template_policies("AlerterFunction", &params(&p)),
        )
        .await;
    w.aws.enforce_iam(true);
    // The custom rules are read from S3 at cold start, under enforcement too.
    let watch = LambdaWatch::start("alerter", &alerter_env(&w, &role));
    let versioned = watch.invoke(&events::eventbridge_object_version_created(
        &w.bucket, &key, &version,
    ));
    let first = w.sns.sent_notifications().len();
    let plain = watch.invoke(&events::s3_put(&w.bucket, &[&key]));
    let log = watch.stop_and_collect_stdout();
    w.aws.enforce_iam(false);

    assert_eq!(
        versioned.map(|r| r["status"].clone()),
        Ok(json!("ok")),
        "{log}"
    );
    assert_eq!(plain.map(|r| r["status"].clone()), Ok(json!("ok")), "{log}");
    let sent = w.sns.sent_notifications();
    let subjects: Vec<&str> = sent.iter().map(|n| n.subject.as_str()).collect();
    assert!(
        first > 0,
        "the versioned read raised alerts: {subjects:?}\n{log}"
    );
    assert_eq!(
        sent.len(),
        2 * first,
        "the same alerts from both event shapes: {subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("team:stop-logging")),
        "the custom rule read from S3 under enforcement fired: {subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("] CloudWatch.5 ")),
        "a built-in rule fired: {subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerter_without_get_object_version_reports_the_missing_permission() {
    let w = alerter_world("trail-alerter-denied").await;
    let (key, version) = w.put_attack().await;
    let p = alerter_parameters();
    let policies = without_action(
        &w.template_policies("AlerterFunction", &params(&p)),
        "s3:GetObjectVersion",
    );
    let role = w.role("alerter-no-version", &policies).await;
    let Refusal { error, log, .. } = w.run_refused(
        "alerter",
        &alerter_env(&w, &role),
        events::eventbridge_object_version_created(&w.bucket, &key, &version),
        "a refused read fails the invocation",
    );

    assert_permission_error(&error, &log, &w.bucket, &key, "s3:GetObjectVersion");
    assert!(
        w.sns.sent_notifications().is_empty(),
        "no alert from a file that was not read"
    );
}

/// SecurityHubFindings=true: with the template's statement every alert is also a finding; without
/// it the import is refused, the file fails as a permission error naming the action, and no SNS
/// alert goes out (the finding is imported first, so a retry sends both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerter_imports_findings_with_the_templates_permissions_and_not_without_them() {
    // Boxed: the Security Hub SDK's futures are large, and a test thread's stack is 2 MiB.
    Box::pin(alerter_security_hub_run()).await;
}

async fn alerter_security_hub_run() {
    let product_arn = format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default");
    let mut p = alerter_parameters();
    p.push(("SecurityHubFindings", "true".into()));
    for with_statement in [true, false] {
        let w = alerter_world(if with_statement {
            "trail-alerter-hub"
        } else {
            "trail-alerter-hub-denied"
        })
        .await;
        let hub = aws_sdk_securityhub::Client::new(&w.aws.sdk_config().await);
        hub.enable_security_hub().send().await.unwrap();
        let (key, version) = w.put_attack().await;
        let mut policies = w.template_policies("AlerterFunction", &params(&p));
        if !with_statement {
            policies = without_action(&policies, "securityhub:BatchImportFindings");
        }
        let role = w.role("alerter-hub", &policies).await;
        let mut env = alerter_env(&w, &role);
        env.push(("SECURITY_HUB_FINDINGS".into(), "true".into()));
        env.push(("SECURITY_HUB_PRODUCT_ARN".into(), product_arn.clone()));
        let (mut results, log) = w.run_enforced(
            "alerter",
            &env,
            &[events::eventbridge_object_version_created(
                &w.bucket, &key, &version,
            )],
        );
        let result = results.remove(0);
        let findings = hub
            .get_findings()
            .max_results(100)
            .send()
            .await
            .unwrap()
            .findings()
            .len();
        let alerts = w.sns.sent_notifications().len();
        if with_statement {
            assert_eq!(
                result.map(|r| r["status"].clone()),
                Ok(json!("ok")),
                "{log}"
            );
            assert!(alerts > 0, "{log}");
            assert_eq!(findings, alerts, "one finding per alert");
        } else {
            let error = result.expect_err("a refused import fails the invocation");
            permission_denied_document(&error, &log);
            assert!(
                error.contains("securityhub:BatchImportFindings"),
                "the failure names the action: {error}"
            );
            assert_eq!((findings, alerts), (0, 0), "neither a finding nor an alert");
        }
    }
}

// ------------------------------------------------------------------------ digest-verifier ---

/// A chain of `case` uploaded to a versioned bucket, its key file, and a verifier role.
async fn verifier_world(
    case: &VariantCase,
    drop_action: Option<&str>,
    denied_reads: &[&str],
) -> (World, tempfile::NamedTempFile, RoleCredentials) {
    let digests = case.stored_digests();
    let w = world(&digests[0].0).await;
    upload_objects(&w.s3, case.objects()).await;
    let keys = public_keys_file(case, REGION);
    let mut policies = w.template_policies("DigestVerifierFunction", &[]);
    if let Some(action) = drop_action {
        policies = without_action(&policies, action);
    }
    if !denied_reads.is_empty() {
        policies.push(deny_reads(&w.bucket, denied_reads));
    }
    let role = w.role("digest-verifier", &policies).await;
    (w, keys, role)
}

/// A policy refusing `s3:GetObject` on `keys`: how S3 answers a log the role may not read.
fn deny_reads(bucket: &str, keys: &[&str]) -> Value {
    let resources: Vec<String> = keys
        .iter()
        .map(|k| format!("arn:aws:s3:::{bucket}/{k}"))
        .collect();
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": resources}
    ]})
}

/// Runs the verifier as `role` on every stored digest of `case`, under enforcement; returns the
/// invocation results and the function's log.
async fn verify_all(
    w: &World,
    case: &VariantCase,
    role: &RoleCredentials,
    keys: &tempfile::NamedTempFile,
) -> (Vec<Result<Value, String>>, String) {
    let events: Vec<Value> = case
        .stored_digests()
        .iter()
        .map(|(bucket, key)| events::s3_put(bucket, &[key]))
        .collect();
    w.run_enforced("digest-verifier", &verifier_env(w, role, keys), &events)
}

fn verifier_env(
    w: &World,
    role: &RoleCredentials,
    keys: &tempfile::NamedTempFile,
) -> Vec<(String, String)> {
    let keys = keys.path().to_string_lossy().to_string();
    w.function_env(
        role,
        &[
            ("ALERT_TOPIC_ARN", &w.topic_arn),
            ("PUBLIC_KEYS_FILE", &keys),
            // The overwrite check (ListObjectVersions, prefix = the key) is not tested under IAM
            // enforcement: moto's SigV4 check rejects the SDK's percent-encoded `prefix`
            // (SignatureDoesNotMatch), so it is switched off here. Its IAM request
            // (s3:ListBucketVersions with s3:prefix) is proven by the permission table
            // (e2e/permissions), and the check itself by e2e/digest.rs against moto without IAM.
            ("OVERWRITE_CHECK", "false"),
        ],
    )
}

/// The version S3 gave an uploaded object (what EventBridge would name).
async fn version_of(w: &World, bucket: &str, key: &str) -> String {
    w.s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .version_id
        .expect("versioned bucket")
}

/// The verdicts the verifier logged, by digest key.
fn verdicts(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some() && v.get("verdict").is_some())
        .map(|v| {
            (
                v["object"].as_str().unwrap_or_default().to_owned(),
                v["verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_verifier_gives_verdicts_and_alerts_with_the_templates_permissions() {
    let case = variant("log_modified");
    let (w, keys, role) = verifier_world(&case, None, &[]).await;
    let digests = case.stored_digests();
    let mut versions = Vec::new();
    for (bucket, key) in &digests {
        versions.push(version_of(&w, bucket, key).await);
    }
    // Half the digests as EventBridge sends them for a versioned bucket, half as S3
    // notifications without a version.
    let events: Vec<Value> = digests
        .iter()
        .enumerate()
        .map(|(i, (bucket, key))| {
            if i % 2 == 0 {
                events::eventbridge_object_version_created(bucket, key, &versions[i])
            } else {
                events::s3_put(bucket, &[key])
            }
        })
        .collect();
    let (results, log) =
        w.run_enforced("digest-verifier", &verifier_env(&w, &role, &keys), &events);

    for r in &results {
        assert_eq!(
            r.as_ref().map(|r| r["status"].clone()),
            Ok(json!("ok")),
            "{log}"
        );
    }
    let verdicts = verdicts(&log);
    assert_eq!(
        verdicts.len(),
        digests.len(),
        "a verdict per digest: {verdicts:?}\n{log}"
    );
    let failing = format!("s3://{}/{}", digests[1].0, digests[1].1);
    for (object, verdict) in &verdicts {
        let want = if *object == failing { "FAIL" } else { "PASS" };
        assert_eq!(verdict, want, "{object}");
    }
    let sent = w.sns.sent_notifications();
    assert_eq!(
        sent.len(),
        1,
        "one alert, for the digest whose log changed: {sent:?}"
    );
    assert!(
        sent[0].message.contains("LOG_HASH_MISMATCH"),
        "{}",
        sent[0].message
    );
}

/// Without the template's DynamoDB statement the verifier cannot claim the digest: a permission
/// error, no verdict and no alert (a refused state table is never evidence about the trail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_verifier_without_the_state_table_statement_fails_with_permission_denied() {
    let case = variant("clean");
    let (w, keys, _) = verifier_world(&case, None, &[]).await;
    let policies = w.template_policies_without_state_table("DigestVerifierFunction", &[]);
    let role = w.role("digest-verifier-no-state", &policies).await;
    let digests = case.stored_digests();
    let (bucket, key) = &digests[0];
    let Refusal { error, log, .. } = w.run_refused(
        "digest-verifier",
        &verifier_env(&w, &role, &keys),
        events::s3_put(bucket, &[key]),
        "a refused claim fails the invocation",
    );
    assert!(error.contains("state table refused"), "{error}");
    assert!(
        verdicts(&log).is_empty(),
        "no verdict without the claim:\n{log}"
    );
    assert!(
        w.sns.sent_notifications().is_empty(),
        "a refused state table is not reported as tampering"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_verifier_without_get_object_reports_an_error_not_tampering() {
    // An S3 notification names no version: the digest is read with s3:GetObject.
    let case = variant("clean");
    let (w, keys, role) = verifier_world(&case, Some("s3:GetObject"), &[]).await;
    let digests = case.stored_digests();
    let (bucket, key) = &digests[0];
    let Refusal { error, log, .. } = w.run_refused(
        "digest-verifier",
        &verifier_env(&w, &role, &keys),
        events::s3_put(bucket, &[key]),
        "an unreadable digest fails the invocation",
    );
    assert!(
        error.contains(key)
            && error.contains("s3:GetObject ")
            && error.contains("permission denied"),
        "the error names the digest and the action: {error}"
    );
    assert!(
        verdicts(&log).is_empty(),
        "no verdict from a digest that was not read:\n{log}"
    );
    assert!(
        w.sns.sent_notifications().is_empty(),
        "a refused read is not reported as tampering"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_verifier_without_get_object_version_reports_an_error_not_tampering() {
    // An EventBridge event names the version: the digest is read with s3:GetObjectVersion.
    let case = variant("clean");
    let (w, keys, role) = verifier_world(&case, Some("s3:GetObjectVersion"), &[]).await;
    let digests = case.stored_digests();
    let (bucket, key) = &digests[0];
    let version = version_of(&w, bucket, key).await;
    let Refusal { error, log, .. } = w.run_refused(
        "digest-verifier",
        &verifier_env(&w, &role, &keys),
        events::eventbridge_object_version_created(bucket, key, &version),
        "a digest whose version cannot be read fails the invocation",
    );
    assert!(
        error.contains(key) && error.contains("s3:GetObjectVersion"),
        "the error names the digest and the action: {error}"
    );
    assert!(
        verdicts(&log).is_empty(),
        "no verdict from a digest that was not read:\n{log}"
    );
    assert!(
        w.sns.sent_notifications().is_empty(),
        "a refused read of the digest is not reported as tampering"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_verifier_reports_a_refused_read_of_a_listed_log_as_log_unreadable() {
    // A 403 on a log that is there (a foreign KMS key, a bucket policy, a role without the read):
    // the digest is authentic and lists it, so the log must be readable: LOG_UNREADABLE and a
    // tamper alert, never LOG_MISSING and never only a failure queue. The store confirms a 403
    // with a listing of the key; under moto that listing is itself refused (its SigV4 check
    // rejects the SDK's encoded `prefix`), so the read stays refused; the listing's decisions
    // (absent: missing; present or refused: refused) are tested against the SDK's mocks in
    // functions/common/tests/s3_store.rs.
    let case = variant("clean");
    let refused = &case.chains[0].logs[0];
    assert!(refused.stored);
    let (w, keys, role) = verifier_world(&case, None, &[&refused.key]).await;
    let (results, log) = verify_all(&w, &case, &role, &keys).await;

    assert!(
        results.iter().all(Result::is_ok),
        "no invocation fails: {results:?}\n{log}"
    );
    let verdicts = verdicts(&log);
    let failing: Vec<&String> = verdicts
        .iter()
        .filter(|(_, v)| *v != "PASS")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        failing.len(),
        1,
        "only the digest listing that log: {verdicts:?}"
    );
    assert_eq!(verdicts[failing[0]], "FAIL");
    let sent = w.sns.sent_notifications();
    assert_eq!(sent.len(), 1, "one tamper alert: {sent:?}");
    let message = &sent[0].message;
    assert!(
        message.contains("LOG_UNREADABLE")
            && message.contains(&refused.key)
            && message.contains("kms:Decrypt")
            && !message.contains("LOG_MISSING"),
        "{message}"
    );
}
