use std::sync::Mutex;

use trailwatch_shared::alert::{AlertAttributes, AlertKind};

use super::*;

/// Records every call; refuses the findings whose ids are listed, `refusals` times each.
#[derive(Default)]
struct FakeHub {
    calls: Mutex<Vec<Vec<String>>>,
    refuse: Vec<String>,
    refusals: u32,
    refused_so_far: Mutex<u32>,
    fail_call: bool,
}

impl FindingsApi for FakeHub {
    async fn batch_import(&self, findings: &[Finding]) -> Result<Vec<FailedFinding>, ImportError> {
        assert!(
            findings.len() <= MAX_FINDINGS_PER_CALL,
            "{}",
            findings.len()
        );
        self.calls
            .lock()
            .unwrap()
            .push(findings.iter().map(|f| f.id.clone()).collect());
        if self.fail_call {
            return Err(ImportError::Call {
                product_arn: "p".into(),
                detail: "AccessDeniedException".into(),
                refused: true,
            });
        }
        let mut so_far = self.refused_so_far.lock().unwrap();
        if *so_far >= self.refusals {
            return Ok(Vec::new());
        }
        *so_far += 1;
        Ok(findings
            .iter()
            .filter(|f| self.refuse.contains(&f.id))
            .map(|f| FailedFinding {
                id: f.id.clone(),
                code: "InvalidInput".into(),
                message: "nope".into(),
            })
            .collect())
    }
}

/// Counts publishes; fails when told to.
#[derive(Default)]
struct FakeSns {
    published: Mutex<u32>,
}

impl AlertPublisher for FakeSns {
    async fn publish(&self, _alert: &AlertMessage) -> Result<String, PublishError> {
        *self.published.lock().unwrap() += 1;
        Ok("m-1".into())
    }
}

fn target() -> ImportTarget {
    ImportTarget::from_product_arn(
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default",
    )
    .unwrap()
}

fn alert(rule: &str) -> AlertMessage {
    AlertMessage {
        kind: AlertKind::RuleMatch,
        subject: format!("[HIGH] {rule}: 1 event in 123456789012 us-east-1"),
        text: String::new(),
        machine_json: serde_json::json!({
            "log_file": {"bucket": "b", "key": "AWSLogs/k.json.gz"},
            "rule": {"id": rule, "title": "t"},
            "match_count": 1
        })
        .to_string(),
        message: "{}".into(),
        attributes: AlertAttributes {
            rule_id: rule.into(),
            severity: "HIGH".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            finding_codes: None,
        },
        text_truncated: false,
    }
}

fn findings(n: usize) -> Vec<Finding> {
    (0..n)
        .map(|i| asff::finding(&alert(&format!("r{i}")), &target(), now()))
        .collect()
}

#[tokio::test]
async fn findings_go_in_calls_of_at_most_100() {
    let hub = SecurityHubPublisher::new(FakeHub::default(), target(), "test");
    hub.import(&findings(250)).await.unwrap();
    let calls = hub.api.calls.lock().unwrap();
    assert_eq!(
        calls.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 50]
    );
}

#[tokio::test]
async fn refused_findings_are_retried_alone_then_succeed() {
    let all = findings(3);
    let api = FakeHub {
        refuse: vec![all[1].id.clone()],
        refusals: 2,
        ..FakeHub::default()
    };
    let hub = SecurityHubPublisher::new(api, target(), "test");
    hub.import(&all).await.unwrap();
    let calls = hub.api.calls.lock().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1], [all[1].id.clone()], "only the refused one again");
    assert_eq!(calls[2], [all[1].id.clone()]);
}

#[tokio::test]
async fn a_finding_refused_on_every_attempt_fails_the_import_and_sns_is_not_sent() {
    let all = findings(1);
    let api = FakeHub {
        refuse: vec![all[0].id.clone()],
        refusals: u32::MAX,
        ..FakeHub::default()
    };
    let hub = SecurityHubPublisher::new(api, target(), "test");
    let err = hub.import(&all).await.unwrap_err();
    assert!(matches!(&err, ImportError::Refused { failed, .. } if failed.len() == 1));
    assert_eq!(
        hub.api.calls.lock().unwrap().len(),
        MAX_IMPORT_ATTEMPTS as usize
    );

    let fan_out = WithSecurityHub::new(FakeSns::default(), Some(hub));
    let err = fan_out.publish(&alert("r0")).await.unwrap_err();
    assert!(err.detail.contains("refused 1 finding"), "{err}");
    assert!(
        !err.refused,
        "an invalid finding is not a missing permission"
    );
    assert_eq!(
        *fan_out.alerts.published.lock().unwrap(),
        0,
        "SNS only after the import"
    );
}

#[tokio::test]
async fn an_iam_refusal_is_a_permission_error_naming_the_action() {
    let api = FakeHub {
        fail_call: true,
        ..FakeHub::default()
    };
    let fan_out = WithSecurityHub::new(
        FakeSns::default(),
        Some(SecurityHubPublisher::new(api, target(), "test")),
    );
    let err = fan_out.publish(&alert("r0")).await.unwrap_err();
    assert!(err.refused);
    assert!(
        err.to_string().contains("securityhub:BatchImportFindings"),
        "{err}"
    );
    assert_eq!(*fan_out.alerts.published.lock().unwrap(), 0);
}

#[tokio::test]
async fn both_are_sent_and_without_security_hub_only_sns() {
    let fan_out = WithSecurityHub::new(
        FakeSns::default(),
        Some(SecurityHubPublisher::new(
            FakeHub::default(),
            target(),
            "test",
        )),
    );
    assert_eq!(fan_out.publish(&alert("r0")).await.unwrap(), "m-1");
    assert_eq!(*fan_out.alerts.published.lock().unwrap(), 1);
    let hub = fan_out.security_hub.as_ref().unwrap();
    assert_eq!(hub.api.calls.lock().unwrap().len(), 1);

    let sns_only: WithSecurityHub<FakeSns, FakeHub> =
        WithSecurityHub::new(FakeSns::default(), None);
    sns_only.publish(&alert("r0")).await.unwrap();
    assert_eq!(*sns_only.alerts.published.lock().unwrap(), 1);
}

#[test]
fn the_flag_and_product_arn_are_checked_at_cold_start() {
    let arn = "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default";
    assert_eq!(target_from("", Some(arn)).unwrap(), None);
    assert_eq!(target_from("false", None).unwrap(), None);
    assert_eq!(target_from("true", Some(arn)).unwrap(), Some(target()));
    assert!(matches!(
        target_from("true", None),
        Err(SecurityHubConfigError::MissingProductArn)
    ));
    assert!(matches!(
        target_from("yes", Some(arn)),
        Err(SecurityHubConfigError::Flag(_))
    ));
    assert!(matches!(
        target_from(
            "true",
            Some("arn:aws:securityhub:eu-west-1:111122223333:hub/default")
        ),
        Err(SecurityHubConfigError::ProductArn(_))
    ));
}

#[test]
fn the_sdk_finding_carries_every_field() {
    let f = &findings(1)[0];
    let sdk = to_sdk(f);
    assert_eq!(sdk.id(), Some(f.id.as_str()));
    assert_eq!(sdk.schema_version(), Some("2018-10-08"));
    assert_eq!(
        sdk.severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("HIGH")
    );
    assert_eq!(sdk.resources().len(), f.resources.len());
    assert_eq!(sdk.resources()[0].r#type(), Some("AwsS3Object"));
    assert_eq!(
        sdk.product_fields().map(|p| p.len()),
        Some(f.product_fields.len())
    );
    assert_eq!(sdk.types(), f.types.as_slice());
    assert_eq!(sdk.created_at(), Some(f.created_at.as_str()));
    let provider = sdk.finding_provider_fields().unwrap();
    assert_eq!(provider.types(), f.types.as_slice());
    assert_eq!(
        provider
            .severity()
            .and_then(|s| s.label())
            .map(|l| l.as_str()),
        Some("HIGH")
    );
}
