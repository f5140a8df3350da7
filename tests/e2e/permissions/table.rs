//! The table: every AWS SDK operation each deployed function makes, in each case that changes
//! what AWS authorizes, and the IAM request(s) (action, resource ARN, context keys) it causes.

use std::collections::BTreeMap;

use crate::deployments::{
    ACCOUNT, Deployment, LOG_GROUP, REGION, RULES_BUCKET, RULES_KEY, SECURITY_HUB_PRODUCT_ARN,
    STACK, STATE_TABLE_ARN, TOPIC_ARN, TOPIC_KEY_ARN, TRAIL_KEY_ARN,
};

/// A deployed function: its crate folder under `functions/` and its logical id in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Function {
    Forwarder,
    Alerter,
    DigestVerifier,
}

pub(crate) const FUNCTIONS: [Function; 3] = [
    Function::Forwarder,
    Function::Alerter,
    Function::DigestVerifier,
];

impl Function {
    pub(crate) fn crate_dir(self) -> &'static str {
        match self {
            Function::Forwarder => "forwarder",
            Function::Alerter => "alerter",
            Function::DigestVerifier => "digest-verifier",
        }
    }

    pub(crate) fn logical_id(self) -> &'static str {
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
pub(crate) struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

pub(crate) fn request(
    action: &str,
    resource: impl Into<String>,
    context: &[(&str, &str)],
) -> Request {
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
pub(crate) struct Row {
    pub function: Function,
    /// The SDK crate without `aws-sdk-` (`s3`, `sns`, `cloudwatchlogs`, `cloudtrail`).
    pub sdk: &'static str,
    /// The operation as the SDK names it (`GetObject`).
    pub operation: &'static str,
    pub case: &'static str,
    pub requests: Vec<Request>,
}

pub(crate) fn s3_object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

pub(crate) fn log_key() -> String {
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
pub(crate) fn s3_kms_decrypt(d: &Deployment) -> Option<Request> {
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
pub(crate) fn log_stream_arn(group: &str, stream: &str) -> String {
    format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{stream}")
}

/// A call on one item of the state table: DynamoDB authorizes it against the table ARN, with the
/// item's partition key as `dynamodb:LeadingKeys` (the Service Authorization Reference lists
/// that key for GetItem and UpdateItem); the template's condition lets each function touch only
/// keys starting with its own name.
pub(crate) fn state_item(action: &str, partition_key: &str) -> Vec<Request> {
    vec![request(
        action,
        STATE_TABLE_ARN,
        &[("dynamodb:LeadingKeys", partition_key)],
    )]
}

/// A work record's partition key as `WorkKey::partition_key` writes it.
pub(crate) fn work_item(function: &str, bucket: &str, key: &str) -> String {
    format!("{function}#s3://{bucket}/{key}#v:3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
}

/// The state-table rows of one function: every DynamoStateStore call (UpdateItem for claim,
/// checkpoint, record_published, complete, release and window counters; GetItem after a failed
/// condition that returned no item) on each kind of item the function owns.
fn state_rows(f: Function, items: &[(&'static str, String)]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (case, pk) in items {
        rows.push(row(
            f,
            "dynamodb",
            "UpdateItem",
            case,
            state_item("dynamodb:UpdateItem", pk),
        ));
        rows.push(row(
            f,
            "dynamodb",
            "GetItem",
            case,
            state_item("dynamodb:GetItem", pk),
        ));
    }
    rows
}

pub(crate) fn table(d: &Deployment) -> Vec<Row> {
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
        // ------------------------------------------------ digest-verifier (digests at the event's version)
        row(
            DigestVerifier,
            "s3",
            "GetObject",
            "the digest file from an EventBridge event (version-id)",
            get_object(d, bucket, &digest_key(), version),
        ),
        row(
            DigestVerifier,
            "s3",
            "GetObject",
            "the digest file from an S3 notification (no version)",
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
            "s3",
            "ListObjectVersions",
            "overwrite check of a created CloudTrail file (prefix = the key)",
            // Authorized as s3:ListBucketVersions on the bucket, its prefix as s3:prefix.
            vec![request(
                "s3:ListBucketVersions",
                format!("arn:aws:s3:::{bucket}"),
                &[("s3:prefix", &log_key())],
            )],
        ),
        row(
            DigestVerifier,
            "s3",
            "ListObjectVersions",
            "overwrite check under a trail's key prefix",
            vec![request(
                "s3:ListBucketVersions",
                format!("arn:aws:s3:::{bucket}"),
                &[("s3:prefix", &format!("team-a/{}", digest_key()))],
            )],
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
    rows.extend(state_rows(
        Forwarder,
        &[(
            "its work record of a log file",
            work_item("forwarder", bucket, &log_key()),
        )],
    ));
    rows.extend(state_rows(
        Alerter,
        &[
            (
                "its work record of a log file",
                work_item("alerter", bucket, &log_key()),
            ),
            (
                "a window's alert record",
                "alerter#s3:///window#console-login-failures#111122223333#eu-west-1#300#1765065600#-"
                    .to_owned(),
            ),
            (
                "a window counter",
                "window#console-login-failures#111122223333#eu-west-1#300#1765065600".to_owned(),
            ),
        ],
    ));
    rows.extend(state_rows(
        DigestVerifier,
        &[(
            "its work record of a digest",
            work_item("digest-verifier", bucket, &digest_key()),
        )],
    ));
    // SecurityHubFindings=true: each alert also imported as a finding, into the account's default
    // product (BatchImportFindings' resource type is the product).
    if d.security_hub_findings {
        for f in [Alerter, DigestVerifier] {
            rows.push(row(
                f,
                "securityhub",
                "BatchImportFindings",
                "an alert as a finding in the account's default product",
                vec![request(
                    "securityhub:BatchImportFindings",
                    SECURITY_HUB_PRODUCT_ARN,
                    &[],
                )],
            ));
        }
    }
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
