//! The deployments the template is checked in: the parameters that change which statements
//! exist (a created or adopted trail bucket, a KMS key, a custom-rules object, an encrypted
//! alert topic), and the physical names the template's intrinsics resolve to in each.

use std::collections::BTreeMap;

use trailwatch_e2e::template::{Bindings, ResourceValues};

pub(crate) const PARTITION: &str = "aws";
pub(crate) const REGION: &str = "eu-west-1";
pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const STACK: &str = "trailwatch-test";
pub(crate) const CREATED_BUCKET: &str = "trailwatch-test-trailbucket-1x2y3z";
pub(crate) const ADOPTED_BUCKET: &str = "org-cloudtrail-logs";
pub(crate) const LOG_GROUP: &str = "/trailwatch/cloudtrail";
pub(crate) const TOPIC_ARN: &str =
    "arn:aws:sns:eu-west-1:111122223333:trailwatch-test-AlertTopic-AbC123";
pub(crate) const TRAIL_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555";
pub(crate) const TOPIC_KEY_ARN: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/66666666-7777-8888-9999-000000000000";
pub(crate) const RULES_BUCKET: &str = "security-config";
pub(crate) const RULES_KEY: &str = "trailwatch/rules.json";
pub(crate) const STATE_TABLE: &str = "trailwatch-test-StateTable-1A2B3C4D5E6F";
pub(crate) const STATE_TABLE_ARN: &str =
    "arn:aws:dynamodb:eu-west-1:111122223333:table/trailwatch-test-StateTable-1A2B3C4D5E6F";
/// The account's default Security Hub product: where SecurityHubFindings=true imports findings.
pub(crate) const SECURITY_HUB_PRODUCT_ARN: &str =
    "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default";

/// One way of deploying the stack: the parameters that change which statements exist.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deployment {
    pub name: &'static str,
    pub create_trail: bool,
    pub kms_key: bool,
    pub custom_rules_object: bool,
    pub encrypt_alert_topic: bool,
    pub security_hub_findings: bool,
}

pub(crate) const DEPLOYMENTS: [Deployment; 3] = [
    Deployment {
        name: "created trail, KMS key, custom-rules object, encrypted topic",
        create_trail: true,
        kms_key: true,
        custom_rules_object: true,
        encrypt_alert_topic: true,
        security_hub_findings: true,
    },
    Deployment {
        name: "adopted bucket, KMS key, custom-rules object",
        create_trail: false,
        kms_key: true,
        custom_rules_object: true,
        encrypt_alert_topic: false,
        security_hub_findings: false,
    },
    Deployment {
        name: "defaults (created trail, nothing optional)",
        create_trail: true,
        kms_key: false,
        custom_rules_object: false,
        encrypt_alert_topic: false,
        security_hub_findings: false,
    },
];

impl Deployment {
    pub(crate) fn bucket(&self) -> &'static str {
        if self.create_trail {
            CREATED_BUCKET
        } else {
            ADOPTED_BUCKET
        }
    }

    /// What the intrinsics resolve to. The log group's Arn is what CloudFormation's
    /// `Fn::GetAtt LogGroup.Arn` really returns: the log-group ARN with a trailing `:*`.
    pub(crate) fn bindings(&self) -> Bindings {
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
            "SecurityHubFindings",
            if self.security_hub_findings {
                "true"
            } else {
                "false"
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
        resources.insert(
            "StateTable".to_owned(),
            ResourceValues::new(STATE_TABLE, &[("Arn", STATE_TABLE_ARN)]),
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
