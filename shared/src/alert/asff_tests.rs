use super::*;
use crate::alert::deletion;
use crate::alert::digest::{self, AlertContext};
use crate::alert::event_summary::EventSummary;
use crate::alert::rule_alert::{FileContext, FileStats, MatchSample, RuleMatches, rule_alert};
use crate::alert::window_alert::{WindowReport, WindowSample, window_alert};
use crate::digest::{Finding as DigestFinding, FindingCode, VerificationReport};
use crate::rules::{Rule, Severity as RuleSeverity};
use crate::trigger::{DeletionNotice, DeletionType};
use time::macros::datetime;

const STOP_LOGGING: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDATFQR7NSC5AU2ZV3IE","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027","userName":"bert-jan"},"eventTime":"2023-07-10T12:00:42Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"192.168.10.20","userAgent":"aws-cli","requestParameters":{"name":"t"},"responseElements":null,"eventID":"9790ee84-ed2b-4866-83d1-f32af0dd4cd2","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"123837392027"}"#;
const LOG_KEY: &str = "AWSLogs/123837392027/CloudTrail/us-east-1/2023/07/10/123837392027_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json.gz";
const DIGEST_KEY: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/02/123456789012_CloudTrail-Digest_us-east-1_main-trail_eu-west-1_20240102T030405Z.json.gz";
const NOW: OffsetDateTime = datetime!(2026-12-07 05:00:00.250 UTC);

fn target() -> ImportTarget {
    ImportTarget::from_product_arn(
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default",
    )
    .unwrap()
}

fn rule(id: &str, description: Option<String>) -> Rule {
    Rule {
        id: id.into(),
        title: "[CloudWatch.5] Ensure a log metric filter and alarm exist for CloudTrail configuration changes".into(),
        pattern: "{ $.eventSource = cloudtrail.amazonaws.com }".into(),
        severity: RuleSeverity::High,
        threshold: 1,
        period: None,
        description,
        enabled: true,
    }
}

fn file(key: &str) -> FileContext {
    FileContext {
        bucket: "trail-bucket".into(),
        key: key.into(),
        account: "123837392027".into(),
        region: "us-east-1".into(),
    }
}

fn rule_finding(rule_id: &str, key: &str, records: &[&str], now: OffsetDateTime) -> Finding {
    let matches = RuleMatches {
        count: records.len() as u64,
        samples: records
            .iter()
            .map(|r| MatchSample::from_record(r))
            .collect(),
    };
    let alert = rule_alert(
        &rule(
            rule_id,
            Some("Stopping a trail blinds the audit log.".into()),
        ),
        &file(key),
        &matches,
        FileStats {
            records_evaluated: 10,
            read_error: None,
        },
    );
    finding(&alert, &target(), now)
}

fn digest_alert(codes: &[FindingCode]) -> AlertMessage {
    let findings = codes
        .iter()
        .map(|c| DigestFinding::new(*c, "s3://trail-bucket/AWSLogs/x.json.gz", "hash differs"))
        .collect();
    digest::build(
        &VerificationReport::new(findings, 1, 3),
        &AlertContext {
            digest: &format!("s3://trail-bucket/{DIGEST_KEY}"),
            account: "123456789012",
            region: "us-east-1",
            trail: "main-trail",
        },
    )
}

fn deletion_alert(version: &str) -> AlertMessage {
    let notice = DeletionNotice {
        bucket: "trail-bucket".into(),
        key: LOG_KEY.into(),
        version_id: Some(version.into()),
        deletion_type: DeletionType::PermanentlyDeleted,
        reason: Some("DeleteObject".into()),
        requester: Some("123837392027".into()),
        source_ip: Some("203.0.113.9".into()),
        request_id: Some("0BH729840619AG5K".into()),
        sequencer: None,
        event_time: Some("2023-07-10T13:10:00Z".into()),
        item_id: None,
    };
    let lost = deletion::lost_object(LOG_KEY).unwrap();
    deletion::build(&notice, &lost)
}

/// Every ASFF limit this module promises, on one finding.
fn assert_valid(f: &Finding) {
    let j = f.to_json();
    for field in [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
    ] {
        assert!(!j[field].is_null(), "{field} missing: {j}");
    }
    assert_eq!(j["SchemaVersion"], "2018-10-08");
    assert!(f.id.len() <= 512 && f.generator_id.chars().count() <= 512);
    assert_eq!(f.aws_account_id.len(), 12);
    assert!(f.title.chars().count() <= MAX_TITLE_CHARS && !f.title.trim().is_empty());
    assert!(f.description.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert!(f.remediation.recommendation.text.chars().count() <= MAX_RECOMMENDATION_CHARS);
    assert!(f.product_fields.len() <= MAX_PRODUCT_FIELDS);
    for (k, v) in &f.product_fields {
        assert!(k.chars().count() <= MAX_PRODUCT_FIELD_KEY_CHARS, "{k}");
        assert!(
            v.len() <= MAX_PRODUCT_FIELD_VALUE_BYTES,
            "{k}: {} bytes",
            v.len()
        );
    }
    assert!(!f.resources.is_empty() && f.resources.len() <= 32);
    assert!(!f.types.is_empty());
    for t in &f.types {
        let parts = t.split('/').count();
        assert!(
            (2..=3).contains(&parts),
            "{t}: namespace/category[/classifier]"
        );
    }
    for t in [&f.created_at, &f.updated_at] {
        assert!(OffsetDateTime::parse(t, &Rfc3339).is_ok(), "{t}");
    }
    assert!(f.created_at <= f.updated_at);
}

#[test]
fn a_rule_alert_becomes_a_complete_actionable_finding() {
    let f = rule_finding("SecurityHub:CloudWatch.5", LOG_KEY, &[STOP_LOGGING], NOW);
    assert_valid(&f);
    assert_eq!(
        f.product_arn,
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    );
    assert_eq!(f.aws_account_id, "111122223333", "the importing account");
    assert_eq!(f.generator_id, "SecurityHub:CloudWatch.5");
    assert_eq!(f.severity.label, "HIGH");
    assert_eq!(f.types, [TYPE_CIS, TYPE_DEFENSE_EVASION]);
    assert_eq!(f.finding_provider_fields.types, f.types);
    assert_eq!(f.finding_provider_fields.severity, f.severity);
    assert_eq!(f.created_at, "2023-07-10T12:00:42.000Z", "the event's time");
    assert_eq!(f.updated_at, "2026-12-07T05:00:00.250Z");
    assert_eq!(
        f.remediation.recommendation.text,
        "Stopping a trail blinds the audit log."
    );
    let pf = &f.product_fields;
    assert_eq!(
        pf["trailwatch/Event1Action"],
        "cloudtrail.amazonaws.com StopLogging"
    );
    assert_eq!(
        pf["trailwatch/Event1Principal"],
        "IAMUser arn:aws:iam::123837392027:user/bert-jan"
    );
    assert_eq!(pf["trailwatch/Event1SourceIp"], "192.168.10.20");
    assert_eq!(pf["trailwatch/Event1Time"], "2023-07-10T12:00:42Z");
    assert_eq!(pf["trailwatch/ActivityAccount"], "123837392027");
    assert_eq!(
        pf["trailwatch/Object"],
        format!("s3://trail-bucket/{LOG_KEY}")
    );
    assert_eq!(f.resources[0].kind, "AwsS3Object");
    assert_eq!(
        f.resources[0].id,
        format!("arn:aws:s3:::trail-bucket/{LOG_KEY}")
    );
    assert_eq!(f.resources[1].id, "arn:aws:s3:::trail-bucket");
}

#[test]
fn the_id_is_stable_across_builds_and_differs_per_rule_and_file() {
    let first = rule_finding("SecurityHub:CloudWatch.5", LOG_KEY, &[STOP_LOGGING], NOW);
    let later = NOW + time::Duration::minutes(5);
    let retry = rule_finding("SecurityHub:CloudWatch.5", LOG_KEY, &[STOP_LOGGING], later);
    assert_eq!(first.id, retry.id);
    assert_eq!(
        first.created_at, retry.created_at,
        "CreatedAt does not move"
    );
    assert_ne!(first.updated_at, retry.updated_at, "UpdatedAt does");
    // Negative controls: another rule, another file.
    let other_rule = rule_finding("CIS-1.4.0:4.5", LOG_KEY, &[STOP_LOGGING], NOW);
    assert_ne!(first.id, other_rule.id);
    let other_file = rule_finding(
        "SecurityHub:CloudWatch.5",
        &LOG_KEY.replace("UljXNp9xLp8nsAGc", "AAAAAAAAAAAAAAAA"),
        &[STOP_LOGGING],
        NOW,
    );
    assert_ne!(first.id, other_file.id);
}

#[test]
fn a_custom_rule_without_evasion_events_is_unusual_user_behaviour() {
    let record = STOP_LOGGING.replace("StopLogging", "ListBuckets");
    let f = rule_finding("custom:list", LOG_KEY, &[&record], NOW);
    assert_eq!(f.types, [TYPE_UNUSUAL_USER]);
}

#[test]
fn digest_verdicts_are_defense_evasion_with_the_trail_and_a_stable_id_per_finding_set() {
    let a = digest_alert(&[FindingCode::LogHashMismatch, FindingCode::LogMissing]);
    let f = finding(&a, &target(), NOW);
    assert_valid(&f);
    assert_eq!(f.severity.label, "CRITICAL");
    assert_eq!(f.types, [TYPE_DEFENSE_EVASION]);
    assert_eq!(f.generator_id, DIGEST_VERIFIER_GENERATOR);
    assert_eq!(
        f.created_at, "2024-01-02T03:04:05.000Z",
        "the digest's end time"
    );
    assert!(f.resources.iter().any(|r| r.kind == "AwsCloudTrailTrail"
        && r.id == "arn:aws:cloudtrail:eu-west-1:123456789012:trail/main-trail"
        && r.region == "eu-west-1"));
    assert_eq!(
        f.product_fields["trailwatch/FindingCodes"],
        "LOG_HASH_MISMATCH,LOG_MISSING"
    );
    assert!(f.product_fields["trailwatch/DigestFinding1"].starts_with("LOG_"));
    assert!(!f.remediation.recommendation.text.is_empty());
    // A re-verification with the same findings updates; another finding set is another finding.
    let again = finding(&a, &target(), NOW + time::Duration::hours(1));
    assert_eq!(f.id, again.id);
    let other = finding(&digest_alert(&[FindingCode::LogMissing]), &target(), NOW);
    assert_ne!(f.id, other.id);
    // WARN only: MEDIUM and not tampering.
    let warn = finding(
        &digest_alert(&[FindingCode::LogDuplicateReference]),
        &target(),
        NOW,
    );
    assert_eq!(warn.severity.label, "MEDIUM");
    assert_eq!(warn.types, [TYPE_INTEGRITY_WARNING]);
    assert!(
        warn.description.contains("verdict WARN"),
        "{}",
        warn.description
    );
    assert!(
        f.description
            .contains("do not match what CloudTrail signed")
    );
}

#[test]
fn a_window_alert_is_named_by_rule_and_window_not_by_the_file_that_reached_it() {
    let samples: Vec<WindowSample> = (0..3)
        .map(|i| {
            WindowSample::new(
                &EventSummary::from_record(STOP_LOGGING),
                &format!("s3://b/f{i}"),
            )
        })
        .collect();
    let build = |key: &str, start: i64, count: u64| {
        let f = file(key);
        let alert = window_alert(
            &Rule {
                period: Some(300),
                ..rule("team:stops", None)
            },
            &WindowReport {
                account: "123837392027",
                region: "us-east-1",
                period: 300,
                window_start: start,
                count,
                samples: &samples,
                log_file: &f,
            },
        );
        finding(&alert, &target(), NOW)
    };
    let f = build(LOG_KEY, 1_688_990_400, 3);
    assert_valid(&f);
    assert!(f.id.starts_with("trailwatch/rule-window/"));
    assert_eq!(
        f.created_at, "2023-07-10T12:00:00.000Z",
        "the window's start"
    );
    assert_eq!(
        f.product_fields["trailwatch/Event1SourceIp"],
        "192.168.10.20"
    );
    assert_eq!(f.types, [TYPE_DEFENSE_EVASION], "StopLogging samples");
    // Reached again through another file with a higher count: the same window, the same finding.
    assert_eq!(f.id, build("AWSLogs/other.json.gz", 1_688_990_400, 5).id);
    // Negative control: the next window is another finding.
    assert_ne!(f.id, build(LOG_KEY, 1_688_990_700, 3).id);
}

#[test]
fn deletions_are_named_by_object_version() {
    let f = finding(&deletion_alert("v1"), &target(), NOW);
    assert_valid(&f);
    assert_eq!(f.types, [TYPE_DEFENSE_EVASION, TYPE_DATA_DESTRUCTION]);
    assert_eq!(f.created_at, "2023-07-10T13:10:00.000Z");
    assert_eq!(f.product_fields["trailwatch/Requester"], "123837392027");
    assert_eq!(f.product_fields["trailwatch/SourceIp"], "203.0.113.9");
    assert_eq!(f.product_fields["trailwatch/ObjectVersion"], "v1");
    assert_eq!(f.id, finding(&deletion_alert("v1"), &target(), NOW).id);
    assert_ne!(f.id, finding(&deletion_alert("v2"), &target(), NOW).id);
}

#[test]
fn a_megabyte_field_stays_within_every_limit() {
    let huge = "é".repeat(1 << 20);
    let record = STOP_LOGGING
        .replace("192.168.10.20", &huge)
        .replace("bert-jan\"", &format!("{huge}\""));
    let big_rule = Rule {
        title: huge.clone(),
        description: Some(huge.clone()),
        ..rule("SecurityHub:CloudWatch.5", None)
    };
    let many: Vec<String> = (0..40).map(|_| record.clone()).collect();
    let matches = RuleMatches {
        count: 40,
        samples: many.iter().map(|r| MatchSample::from_record(r)).collect(),
    };
    let alert = rule_alert(&big_rule, &file(LOG_KEY), &matches, FileStats::default());
    let f = finding(&alert, &target(), NOW);
    assert_valid(&f);
    // The body dropped what did not fit the SNS budget; the finding still names the rule.
    assert_eq!(f.generator_id, "SecurityHub:CloudWatch.5");
    assert!(f.title.contains("SecurityHub:CloudWatch.5") || f.title.ends_with("..."));
    // A forged digest field of 1 MB: still bounded.
    let forged = DigestFinding::new(FindingCode::DigestMoved, huge.clone(), huge.clone());
    let a = digest::build(
        &VerificationReport::new(vec![forged], 1, 1),
        &AlertContext {
            digest: &format!("s3://trail-bucket/{DIGEST_KEY}"),
            account: "123456789012",
            region: "us-east-1",
            trail: &huge,
        },
    );
    assert_valid(&finding(&a, &target(), NOW));
}

#[test]
fn events_beyond_the_listed_ones_are_counted() {
    let records: Vec<String> = (0..9)
        .map(|i| STOP_LOGGING.replace("12:00:42", &format!("12:00:0{i}")))
        .collect();
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    let f = rule_finding("SecurityHub:CloudWatch.5", LOG_KEY, &refs, NOW);
    assert!(f.product_fields.contains_key("trailwatch/Event6Time"));
    assert!(!f.product_fields.contains_key("trailwatch/Event7Time"));
    assert_eq!(f.product_fields["trailwatch/EventsNotListed"], "3");
    assert_eq!(
        f.created_at, "2023-07-10T12:00:00.000Z",
        "the earliest event"
    );
}

#[test]
fn a_forged_event_time_or_a_future_one_does_not_become_created_at() {
    let forged = STOP_LOGGING.replace("2023-07-10T12:00:42Z", "yesterday");
    let f = rule_finding("SecurityHub:CloudWatch.5", LOG_KEY, &[&forged], NOW);
    assert_eq!(
        f.created_at, "2023-07-10T12:05:00.000Z",
        "the key's delivery time"
    );
    let future = STOP_LOGGING.replace("2023-07-10T12:00:42Z", "2099-01-01T00:00:00Z");
    let f = rule_finding("SecurityHub:CloudWatch.5", LOG_KEY, &[&future], NOW);
    assert!(f.created_at <= f.updated_at);
}

#[test]
fn product_arns_other_than_a_default_product_are_refused() {
    assert_eq!(
        target().product_arn(),
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    );
    for bad in [
        "",
        "arn:aws:securityhub:eu-west-1:111122223333:product/444455556666/default",
        "arn:aws:securityhub:eu-west-1:111122223333:hub/default",
        "arn:aws:sns:eu-west-1:111122223333:product/111122223333/default",
        "arn:aws:securityhub:eu-west-1:1111:product/1111/default",
    ] {
        assert!(ImportTarget::from_product_arn(bad).is_err(), "{bad}");
    }
    let cn = ImportTarget::from_product_arn(
        "arn:aws-cn:securityhub:cn-north-1:111122223333:product/111122223333/default",
    )
    .unwrap();
    assert_eq!(cn.partition, "aws-cn");
}

#[test]
fn severities_outside_the_four_labels_are_informational() {
    assert_eq!(severity("CRITICAL").label, "CRITICAL");
    assert_eq!(severity("INFO").label, "INFORMATIONAL");
    assert_eq!(severity("").label, "INFORMATIONAL");
}
