//! The negative controls: requests each function must NOT be allowed, proof that the evaluator
//! can say no and that the template grants no more than the table needs.

use crate::deployments::{
    ACCOUNT, Deployment, LOG_GROUP, REGION, RULES_BUCKET, SECURITY_HUB_PRODUCT_ARN, STACK,
    STATE_TABLE_ARN, TOPIC_ARN, TRAIL_KEY_ARN,
};
use crate::table::{
    Function, Request, log_key, log_stream_arn, request, s3_kms_decrypt, s3_object_arn, state_item,
    work_item,
};

/// Requests each function must NOT be allowed: proof that the evaluator can say no and that the
/// template grants no more than the table needs.
pub(crate) fn negative_controls(d: &Deployment, f: Function) -> Vec<(&'static str, Request)> {
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
    // The state table: only UpdateItem and GetItem, only on the function's own items.
    let own = work_item(f.crate_dir(), bucket, &log_key());
    out.extend([
        (
            "delete a state item",
            state_item("dynamodb:DeleteItem", &own).remove(0),
        ),
        (
            "put a state item (overwrite without a condition)",
            state_item("dynamodb:PutItem", &own).remove(0),
        ),
        (
            "scan the state table",
            request("dynamodb:Scan", STATE_TABLE_ARN, &[]),
        ),
        (
            "query the state table",
            state_item("dynamodb:Query", &own).remove(0),
        ),
        (
            "update an item of another table",
            request(
                "dynamodb:UpdateItem",
                "arn:aws:dynamodb:eu-west-1:111122223333:table/other",
                &[("dynamodb:LeadingKeys", own.as_str())],
            ),
        ),
        (
            "delete the state table",
            request("dynamodb:DeleteTable", STATE_TABLE_ARN, &[]),
        ),
    ]);
    let others: &[&str] = match f {
        Function::Forwarder => &["alerter", "digest-verifier", "window"],
        Function::Alerter => &["forwarder", "digest-verifier"],
        Function::DigestVerifier => &["forwarder", "alerter", "window"],
    };
    for other in others {
        let theirs = if *other == "window" {
            "window#r#111122223333#eu-west-1#300#0".to_owned()
        } else {
            work_item(other, bucket, &log_key())
        };
        for action in ["dynamodb:UpdateItem", "dynamodb:GetItem"] {
            out.push((
                "touch another function's state items",
                state_item(action, &theirs).remove(0),
            ));
        }
    }
    // Security Hub: only BatchImportFindings, only into the account's own default product, and
    // only when SecurityHubFindings=true.
    out.extend([
        (
            "import findings into another account's product",
            request(
                "securityhub:BatchImportFindings",
                "arn:aws:securityhub:eu-west-1:444455556666:product/444455556666/default",
                &[],
            ),
        ),
        (
            "import findings as a partner product",
            request(
                "securityhub:BatchImportFindings",
                "arn:aws:securityhub:eu-west-1::product/crowdstrike/crowdstrike-falcon",
                &[],
            ),
        ),
        (
            "change a finding's workflow (BatchUpdateFindings)",
            request(
                "securityhub:BatchUpdateFindings",
                format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:hub/default"),
                &[],
            ),
        ),
        (
            "read the hub's findings",
            request(
                "securityhub:GetFindings",
                format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:hub/default"),
                &[],
            ),
        ),
    ]);
    if !d.security_hub_findings || f == Function::Forwarder {
        out.push((
            "import findings without SecurityHubFindings (or as the forwarder)",
            request(
                "securityhub:BatchImportFindings",
                SECURITY_HUB_PRODUCT_ARN,
                &[],
            ),
        ));
    }
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
                "list versions outside AWSLogs/",
                request(
                    "s3:ListBucketVersions",
                    format!("arn:aws:s3:::{bucket}"),
                    &[("s3:prefix", "secrets/")],
                ),
            ));
            out.push((
                "list every version in the bucket",
                request(
                    "s3:ListBucketVersions",
                    format!("arn:aws:s3:::{bucket}"),
                    &[],
                ),
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
