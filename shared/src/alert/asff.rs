//! One alert as an AWS Security Finding Format (ASFF) finding, for Security Hub's
//! `BatchImportFindings`. Pure: no SDK; the publisher in `functions/common` sends what this
//! builds.
//!
//! The finding is built from the [`AlertMessage`] alone — its kind, attributes, e-mail text and
//! machine-readable body (a versioned contract, `"schema": 1`) — so every alert the functions
//! publish can become a finding without a second alert model. What the mapping relies on:
//!
//! - **`Id`** names the alert's identity, never its content: the log file and rule (rule match),
//!   the rule, account, region and window (windowed rule), the Insights file and insight, the
//!   digest and its finding-code set (digest verdict), the object and its version (deletion,
//!   overwrite). A retry or a re-verification therefore imports the same `Id`, which Security Hub
//!   treats as an update of the finding, not a second one. Hashed (SHA-256), so that an S3 key of
//!   any length gives an `Id` within ASFF's 512 characters.
//! - **`CreatedAt`** is when the activity happened, read from the alert (the earliest matching
//!   event, the window start, the deletion time, the file's key time), so it is the same on every
//!   import of the same alert; **`UpdatedAt`** is the import time (Security Hub ignores an import
//!   whose `UpdatedAt` is not later than the stored one).
//! - **`AwsAccountId`** is the account that imports (the default product's account): Security Hub
//!   accepts findings through the default product ARN only for the caller's own account. The
//!   account whose activity is reported (an organization trail's member) is in `ProductFields`
//!   and the resources.
//! - Every text is bounded to ASFF's limits (`Title` 256, `Description` 1024, remediation 512,
//!   `ProductFields` 50 entries of at most 2 KiB), whatever an event or a forged digest carries.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::event_summary::EventSummary;
use super::message::{AlertKind, AlertMessage};
use crate::layout::{ObjectKind, classify};

/// `SchemaVersion` of every finding.
pub const ASFF_SCHEMA_VERSION: &str = "2018-10-08";
/// ASFF limit of `Title` (AwsSecurityFinding in the Security Hub API reference).
pub const MAX_TITLE_CHARS: usize = 256;
/// ASFF limit of `Description`.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// ASFF limit of `Remediation.Recommendation.Text`.
pub const MAX_RECOMMENDATION_CHARS: usize = 512;
/// ASFF limit of `ProductFields` entries.
pub const MAX_PRODUCT_FIELDS: usize = 50;
/// ASFF limit of one `ProductFields` value (2048 characters; bytes here, which is stricter).
pub const MAX_PRODUCT_FIELD_VALUE_BYTES: usize = 2048;
/// ASFF limit of one `ProductFields` key.
pub const MAX_PRODUCT_FIELD_KEY_CHARS: usize = 128;
/// Matching events described one by one in `ProductFields` (5 fields each); the rest are counted.
pub const MAX_EVENTS_IN_FINDING: usize = 6;
/// Digest findings listed one by one in `ProductFields`; the rest are counted.
pub const MAX_DIGEST_FINDINGS_LISTED: usize = 12;
/// `GeneratorId` of the digest verifier's findings (verdicts, deletions, overwrites).
pub const DIGEST_VERIFIER_GENERATOR: &str = "trailwatch/digest-verifier";

/// The CIS rule sets (and Security Hub's CloudWatch controls, which are the same patterns).
pub const TYPE_CIS: &str = "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";
/// Tampering with the audit trail: failed digests, deleted or overwritten CloudTrail files,
/// monitoring switched off.
pub const TYPE_DEFENSE_EVASION: &str = "TTPs/Defense Evasion";
/// A deleted CloudTrail file: evidence destroyed.
pub const TYPE_DATA_DESTRUCTION: &str = "Effects/Data Destruction";
/// A custom rule's match.
pub const TYPE_UNUSUAL_USER: &str = "Unusual Behaviors/User";
/// A CloudTrail Insights insight.
pub const TYPE_UNUSUAL_APPLICATION: &str = "Unusual Behaviors/Application/CloudTrail Insights";
/// A digest verdict of WARN: an integrity gap, not proven tampering.
pub const TYPE_INTEGRITY_WARNING: &str =
    "Software and Configuration Checks/AWS Security Best Practices/CloudTrail log file integrity";

/// Event names that switch off or blind monitoring: a rule match on one is defense evasion as
/// well as a CIS check.
const EVASION_EVENT_NAMES: &[&str] = &[
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "PutInsightSelectors",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
    "DeleteDeliveryChannel",
    "DeleteFlowLogs",
    "DisableKey",
    "ScheduleKeyDeletion",
];

/// Where findings are imported: the account, region and partition of the default product ARN
/// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTarget {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The region of the Security Hub the findings go to (the function's).
    pub region: String,
    /// The importing account: each finding's `AwsAccountId`.
    pub account: String,
}

/// A product ARN that is not an account's default product.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "not a Security Hub default product ARN (arn:<partition>:securityhub:<region>:<account>:product/<account>/default): {0:?}"
)]
pub struct ProductArnError(pub String);

impl ImportTarget {
    /// `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }

    /// The target of a default product ARN (as the template passes it); anything else is an
    /// error, so a typo fails the cold start instead of every import.
    pub fn from_product_arn(arn: &str) -> Result<Self, ProductArnError> {
        let err = || ProductArnError(arn.to_owned());
        let parts: Vec<&str> = arn.split(':').collect();
        let ["arn", partition, "securityhub", region, account, resource] = parts.as_slice() else {
            return Err(err());
        };
        let expected = format!("product/{account}/default");
        let is_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        if !is_account || *resource != expected || partition.is_empty() || region.is_empty() {
            return Err(err());
        }
        Ok(Self {
            partition: (*partition).to_owned(),
            region: (*region).to_owned(),
            account: (*account).to_owned(),
        })
    }
}

/// One ASFF finding, serialized with ASFF's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// [`ASFF_SCHEMA_VERSION`].
    pub schema_version: String,
    /// `trailwatch/<kind>/<hash of the alert's identity>`: the same for every import of one alert.
    pub id: String,
    /// The importing account's default product.
    pub product_arn: String,
    /// `trailwatch`.
    pub product_name: String,
    /// `trailwatch`.
    pub company_name: String,
    /// The rule id, or [`DIGEST_VERIFIER_GENERATOR`].
    pub generator_id: String,
    /// The importing account.
    pub aws_account_id: String,
    /// ASFF taxonomy types (namespace/category[/classifier]).
    pub types: Vec<String>,
    /// When the reported activity happened; stable across imports.
    pub created_at: String,
    /// When this import was built.
    pub updated_at: String,
    /// The alert's severity.
    pub severity: Severity,
    /// Severity and types again, where Security Hub takes a provider's updates of them from
    /// (top-level `Severity` and `Types` of an existing finding belong to its users).
    pub finding_provider_fields: FindingProviderFields,
    /// At most [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// At most [`MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// What to do.
    pub remediation: Remediation,
    /// The S3 object and bucket, and the trail where the key names it (at least one).
    pub resources: Vec<Resource>,
    /// At most [`MAX_PRODUCT_FIELDS`] entries, keys prefixed `trailwatch/`.
    pub product_fields: BTreeMap<String, String>,
    /// `ACTIVE`.
    pub record_state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
/// `Severity`.
pub struct Severity {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: String,
    /// The severity as the alert states it.
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
/// `FindingProviderFields`.
pub struct FindingProviderFields {
    /// Same as the top-level `Severity`.
    pub severity: Severity,
    /// Same as the top-level `Types`.
    pub types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
/// `Remediation`.
pub struct Remediation {
    /// `Recommendation`.
    pub recommendation: Recommendation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
/// `Remediation.Recommendation`.
pub struct Recommendation {
    /// At most [`MAX_RECOMMENDATION_CHARS`] characters.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
/// One entry of `Resources`.
pub struct Resource {
    /// `AwsS3Object`, `AwsS3Bucket`, `AwsCloudTrailTrail` or `Other`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The resource's ARN (or a description for `Other`).
    pub id: String,
    /// The partition of the ARN.
    pub partition: String,
    /// The resource's region (the trail's home region; else the importing region).
    pub region: String,
}

impl Finding {
    /// The finding as ASFF JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One matching event, as much as the alert says of it.
#[derive(Debug, Default, Clone)]
struct EventFacts {
    time: Option<String>,
    action: Option<String>,
    name: Option<String>,
    principal: Option<String>,
    source_ip: Option<String>,
    event_id: Option<String>,
}

/// Builds the finding for `alert`, imported into `target` at `now`.
pub fn finding(alert: &AlertMessage, target: &ImportTarget, now: OffsetDateTime) -> Finding {
    let body: Value = serde_json::from_str(&alert.machine_json).unwrap_or(Value::Null);
    let a = &alert.attributes;
    let mut fields = ProductFields::default();
    fields.put("Kind", kind_code(alert.kind));
    fields.put("AlertSubject", &alert.subject);
    fields.put("ActivityAccount", &a.account);
    fields.put("ActivityRegion", &a.region);
    fields.put("RuleId", &a.rule_id);
    let (bucket, key) = object_of(alert.kind, &body);
    if !bucket.is_empty() {
        fields.put("Object", &format!("s3://{bucket}/{key}"));
    }
    let version = text(&body, &["version_id"]).or_else(|| text(&body, &["log_file", "version_id"]));
    if let Some(v) = &version {
        fields.put("ObjectVersion", v);
    }

    let events = events_of(alert.kind, &body);
    let (identity, generator, types, title, description, recommendation, created_hint) = match alert
        .kind
    {
        AlertKind::RuleMatch | AlertKind::RuleWindow => {
            let rule_title = text(&body, &["rule", "title"]).unwrap_or_else(|| a.rule_id.clone());
            let count = body.get("match_count").and_then(Value::as_u64);
            let window_start = body.pointer("/window/start_unix").and_then(Value::as_i64);
            let identity = match window_start {
                Some(start) if alert.kind == AlertKind::RuleWindow => {
                    vec![
                        a.rule_id.clone(),
                        a.account.clone(),
                        a.region.clone(),
                        start.to_string(),
                    ]
                }
                _ => vec![
                    bucket.clone(),
                    key.clone(),
                    version.clone().unwrap_or_default(),
                    a.rule_id.clone(),
                ],
            };
            if let Some(c) = count {
                fields.put("MatchCount", &c.to_string());
            }
            if let Some(w) = body.get("window")
                && let (Some(s), Some(e)) = (text(w, &["start"]), text(w, &["end"]))
            {
                fields.put("Window", &format!("{s} to {e}"));
            }
            let why = text(&body, &["rule", "description"]);
            let events_phrase = match count {
                Some(1) => "1 matching event".to_owned(),
                Some(n) => format!("{n} matching events"),
                None => "matching events".to_owned(),
            };
            let description = format!(
                "trailwatch rule {} ({}) fired: {events_phrase} in account {} region {}{}. {}",
                a.rule_id,
                rule_title,
                a.account,
                a.region,
                if bucket.is_empty() {
                    String::new()
                } else {
                    format!(" (log file s3://{bucket}/{key})")
                },
                why.clone().unwrap_or_default()
            );
            let recommendation = why.unwrap_or_else(|| {
                "Review the matching events (principal, source IP, event names in the finding's \
                     product fields) and confirm each change was authorized."
                    .to_owned()
            });
            let title = format!(
                "{rule_title} ({}, {} {})",
                events_phrase, a.account, a.region
            );
            let created = window_start.and_then(unix_rfc3339);
            (
                identity,
                a.rule_id.clone(),
                rule_types(&a.rule_id, &events),
                title,
                description,
                recommendation,
                created,
            )
        }
        AlertKind::Insight => {
            let insight_id = text(&body, &["shared_event_id"])
                .or_else(|| text(&body, &["event_id"]))
                .unwrap_or_default();
            let state = text(&body, &["state"]).unwrap_or_else(|| "Start".into());
            let insight_type = text(&body, &["insight_type"]).unwrap_or_default();
            let api = [text(&body, &["event_source"]), text(&body, &["event_name"])]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            fields.put("InsightType", &insight_type);
            fields.put("InsightId", &insight_id);
            for (name, path) in [
                ("InsightAverage", "insight_average"),
                ("BaselineAverage", "baseline_average"),
            ] {
                if let Some(v) = body.get(path).filter(|v| !v.is_null()) {
                    fields.put(name, &v.to_string());
                }
            }
            let description = format!(
                "CloudTrail Insights reported unusual activity ({insight_type}) for {api} in \
                     account {} region {}.",
                a.account, a.region
            );
            (
                vec![bucket.clone(), key.clone(), insight_id, state],
                a.rule_id.clone(),
                vec![TYPE_UNUSUAL_APPLICATION.to_owned()],
                strip_severity(&alert.subject),
                description,
                "Compare the insight's API call or error rate with its baseline and find the \
                     principals behind the spike (CloudTrail event history for the insight's time \
                     window)."
                    .to_owned(),
                None,
            )
        }
        AlertKind::DigestVerdict => {
            let codes = a.finding_codes.clone().unwrap_or_default();
            let verdict = text(&body, &["verdict"]).unwrap_or_default();
            fields.put("Verdict", &verdict);
            fields.put("FindingCodes", &codes);
            if let Some(trail) = text(&body, &["trail"]) {
                fields.put("Trail", &trail);
            }
            let listed = body
                .get("findings")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = body
                .get("findings_total")
                .and_then(Value::as_u64)
                .unwrap_or(listed.len() as u64);
            fields.put("FindingsTotal", &total.to_string());
            for (n, f) in listed.iter().take(MAX_DIGEST_FINDINGS_LISTED).enumerate() {
                let line = format!(
                    "{} [{}] {}: {}",
                    text(f, &["code"]).unwrap_or_default(),
                    text(f, &["severity"]).unwrap_or_default(),
                    text(f, &["object"]).unwrap_or_default(),
                    text(f, &["detail"]).unwrap_or_default()
                );
                fields.put(&format!("DigestFinding{}", n + 1), &line);
            }
            let types = if verdict == "FAIL" {
                vec![TYPE_DEFENSE_EVASION.to_owned()]
            } else {
                vec![TYPE_INTEGRITY_WARNING.to_owned()]
            };
            let meaning = if verdict == "FAIL" {
                "the stored logs or digests do not match what CloudTrail signed"
            } else {
                "an integrity gap to explain (no proof of tampering)"
            };
            let description = format!(
                "CloudTrail digest s3://{bucket}/{key} was verified with verdict {verdict} and \
                 finding codes {codes}: {meaning}. Account {} region {}.",
                a.account, a.region
            );
            (
                vec![bucket.clone(), key.clone(), codes],
                DIGEST_VERIFIER_GENERATOR.to_owned(),
                types,
                strip_severity(&alert.subject),
                description,
                next_line(&alert.text).unwrap_or_else(|| {
                    "Run `trailwatch verify` over the digest's hour and inspect the objects' \
                         versions and writers."
                        .to_owned()
                }),
                None,
            )
        }
        AlertKind::ObjectDeleted | AlertKind::ObjectOverwritten => {
            let deleted = alert.kind == AlertKind::ObjectDeleted;
            for (name, path) in [
                ("Requester", "requester"),
                ("SourceIp", "source_ip"),
                ("RequestId", "request_id"),
                ("DeletionType", "deletion_type"),
                ("Reason", "reason"),
                ("EventTime", "event_time"),
            ] {
                if let Some(v) = text(&body, &[path]) {
                    fields.put(name, &v);
                }
            }
            let affected = body.get("lost").or_else(|| body.get("affected"));
            if let Some(trail) = affected.and_then(|l| text(l, &["trail"])) {
                fields.put("Trail", &trail);
            }
            let marker = body.get("delete_marker").and_then(Value::as_bool) == Some(true);
            let what = if deleted { "deleted" } else { "overwritten" };
            let description = format!(
                "A CloudTrail file was {what} in the trail bucket: s3://{bucket}/{key} (version \
                     {}). CloudTrail never deletes or rewrites what it delivered. Requester {}, \
                     source IP {}.",
                version.as_deref().unwrap_or("none"),
                text(&body, &["requester"]).unwrap_or_else(|| "unknown".into()),
                text(&body, &["source_ip"]).unwrap_or_else(|| "unknown".into()),
            );
            let mut types = vec![TYPE_DEFENSE_EVASION.to_owned()];
            if deleted {
                types.push(TYPE_DATA_DESTRUCTION.to_owned());
            }
            (
                vec![
                    bucket.clone(),
                    key.clone(),
                    version.clone().unwrap_or_default(),
                    marker.to_string(),
                ],
                DIGEST_VERIFIER_GENERATOR.to_owned(),
                types,
                strip_severity(&alert.subject),
                description,
                next_line(&alert.text).unwrap_or_else(|| {
                    "List the object's versions, find the writer in S3 data events or server \
                         access logs, and restrict writes under AWSLogs/ to CloudTrail."
                        .to_owned()
                }),
                text(&body, &["event_time"]),
            )
        }
    };

    put_events(
        &mut fields,
        &events,
        body.get("match_count").and_then(Value::as_u64),
    );
    let created = created_hint
        .as_deref()
        .and_then(normalized_time)
        .or_else(|| earliest(&events))
        .or_else(|| key_time(&key))
        .filter(|t| *t <= now)
        .unwrap_or(now);

    let severity = severity(&a.severity);
    let mut id_input = vec![kind_code(alert.kind).to_owned()];
    id_input.extend(identity);
    Finding {
        schema_version: ASFF_SCHEMA_VERSION.to_owned(),
        id: format!(
            "trailwatch/{}/{}",
            kind_code(alert.kind),
            identity_hash(&id_input)
        ),
        product_arn: target.product_arn(),
        product_name: "trailwatch".to_owned(),
        company_name: "trailwatch".to_owned(),
        generator_id: clip_chars(&generator, 512),
        aws_account_id: target.account.clone(),
        finding_provider_fields: FindingProviderFields {
            severity: severity.clone(),
            types: types.clone(),
        },
        types,
        created_at: rfc3339(created),
        updated_at: rfc3339(now),
        severity,
        title: non_blank(clip_chars(&title, MAX_TITLE_CHARS), "trailwatch alert"),
        description: non_blank(
            clip_chars(&description, MAX_DESCRIPTION_CHARS),
            "trailwatch alert",
        ),
        remediation: Remediation {
            recommendation: Recommendation {
                text: non_blank(
                    clip_chars(&recommendation, MAX_RECOMMENDATION_CHARS),
                    "See the alert.",
                ),
            },
        },
        resources: resources(target, &bucket, &key, &a.region, &fields),
        product_fields: fields.0,
        record_state: "ACTIVE".to_owned(),
    }
}

fn kind_code(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::RuleMatch => "rule-match",
        AlertKind::RuleWindow => "rule-window",
        AlertKind::Insight => "insight",
        AlertKind::DigestVerdict => "digest-verdict",
        AlertKind::ObjectDeleted => "object-deleted",
        AlertKind::ObjectOverwritten => "object-overwritten",
    }
}

/// `LOW`/`MEDIUM`/`HIGH`/`CRITICAL` as they are; anything else `INFORMATIONAL`.
fn severity(original: &str) -> Severity {
    let label = match original {
        "LOW" | "MEDIUM" | "HIGH" | "CRITICAL" => original,
        _ => "INFORMATIONAL",
    };
    Severity {
        label: label.to_owned(),
        original: clip_chars(original, 64),
    }
}

/// CIS for the CIS and Security Hub CloudWatch rule sets (their patterns are the benchmark's);
/// defense evasion as well when a matching event switches monitoring off; otherwise unusual user
/// behaviour (a custom rule).
fn rule_types(rule_id: &str, events: &[EventFacts]) -> Vec<String> {
    let mut types = Vec::new();
    if rule_id.starts_with("CIS-") || rule_id.starts_with("SecurityHub:CloudWatch.") {
        types.push(TYPE_CIS.to_owned());
    }
    let evasion = events
        .iter()
        .filter_map(|e| e.name.as_deref())
        .any(|n| EVASION_EVENT_NAMES.contains(&n));
    if evasion {
        types.push(TYPE_DEFENSE_EVASION.to_owned());
    }
    if types.is_empty() {
        types.push(TYPE_UNUSUAL_USER.to_owned());
    }
    types
}

/// The bucket and key the alert is about, from its body.
fn object_of(kind: AlertKind, body: &Value) -> (String, String) {
    let (b, k): (&[&str], &[&str]) = match kind {
        AlertKind::RuleMatch | AlertKind::RuleWindow => {
            (&["log_file", "bucket"], &["log_file", "key"])
        }
        AlertKind::Insight => (&["insights_file", "bucket"], &["insights_file", "key"]),
        AlertKind::ObjectDeleted | AlertKind::ObjectOverwritten => (&["bucket"], &["key"]),
        AlertKind::DigestVerdict => {
            let uri = text(body, &["digest"]).unwrap_or_default();
            let rest = uri.strip_prefix("s3://").unwrap_or(&uri);
            return match rest.split_once('/') {
                Some((b, k)) if uri.starts_with("s3://") => (b.to_owned(), k.to_owned()),
                _ => (String::new(), uri.clone()),
            };
        }
    };
    (
        text(body, b).unwrap_or_default(),
        text(body, k).unwrap_or_default(),
    )
}

/// The matching events the body carries: verbatim records (rule match), their stubs when too
/// large, or a window's samples.
fn events_of(kind: AlertKind, body: &Value) -> Vec<EventFacts> {
    let mut out = Vec::new();
    match kind {
        AlertKind::RuleMatch => {
            for record in body
                .get("records")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(record_facts(record));
            }
            for stub in body
                .get("records_too_large")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(EventFacts {
                    time: text(stub, &["eventTime"]),
                    action: text(stub, &["eventName"]),
                    name: text(stub, &["eventName"]),
                    event_id: text(stub, &["eventID"]),
                    ..EventFacts::default()
                });
            }
        }
        AlertKind::RuleWindow => {
            for s in body
                .get("samples")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let action = text(s, &["action"]);
                out.push(EventFacts {
                    time: text(s, &["eventTime"]),
                    name: action
                        .as_deref()
                        .and_then(|a| a.rsplit(' ').next())
                        .map(str::to_owned),
                    action,
                    principal: text(s, &["principal"]),
                    source_ip: text(s, &["sourceIPAddress"]),
                    event_id: text(s, &["eventID"]),
                });
            }
        }
        AlertKind::Insight => {
            if let Some(record) = body.get("record").filter(|r| r.is_object()) {
                out.push(record_facts(record));
            }
        }
        AlertKind::DigestVerdict | AlertKind::ObjectDeleted | AlertKind::ObjectOverwritten => {}
    }
    out
}

/// The facts of one verbatim CloudTrail record, read as the e-mail's event summary reads them.
fn record_facts(record: &Value) -> EventFacts {
    let s = EventSummary::from_record(&record.to_string());
    EventFacts {
        time: s.event_time.clone(),
        action: s.action_line(),
        name: s.event_name.clone(),
        principal: s.principal_line(),
        source_ip: s.source_ip.clone(),
        event_id: s.event_id.clone(),
    }
}

/// `Event<n>Time`, `Event<n>Action`, `Event<n>Principal`, `Event<n>SourceIp`, `Event<n>Id` for
/// the first [`MAX_EVENTS_IN_FINDING`] events, then how many more the alert counted.
fn put_events(fields: &mut ProductFields, events: &[EventFacts], match_count: Option<u64>) {
    for (n, e) in events.iter().take(MAX_EVENTS_IN_FINDING).enumerate() {
        let n = n + 1;
        for (name, value) in [
            ("Time", &e.time),
            ("Action", &e.action),
            ("Principal", &e.principal),
            ("SourceIp", &e.source_ip),
            ("Id", &e.event_id),
        ] {
            if let Some(v) = value {
                fields.put(&format!("Event{n}{name}"), v);
            }
        }
    }
    let shown = events.len().min(MAX_EVENTS_IN_FINDING) as u64;
    let total = match_count.unwrap_or(events.len() as u64).max(shown);
    if total > shown {
        fields.put("EventsNotListed", &(total - shown).to_string());
    }
}

fn resources(
    target: &ImportTarget,
    bucket: &str,
    key: &str,
    activity_region: &str,
    fields: &ProductFields,
) -> Vec<Resource> {
    let p = &target.partition;
    let resource = |kind: &str, id: String| Resource {
        kind: kind.to_owned(),
        id: clip_chars(&id, 2048),
        partition: p.clone(),
        region: target.region.clone(),
    };
    let mut out = Vec::new();
    if !bucket.is_empty() {
        out.push(resource(
            "AwsS3Object",
            format!("arn:{p}:s3:::{bucket}/{key}"),
        ));
        out.push(resource("AwsS3Bucket", format!("arn:{p}:s3:::{bucket}")));
    }
    // The trail, where the key names it (digests: `…_CloudTrail-Digest_<region>_<trail>_<home
    // region>_…`); its ARN is in the trail's home region and the key's account.
    if let ObjectKind::Digest(d) = classify(key) {
        out.push(Resource {
            region: d.home_region.clone(),
            ..resource(
                "AwsCloudTrailTrail",
                format!(
                    "arn:{p}:cloudtrail:{}:{}:trail/{}",
                    d.home_region, d.location.account, d.trail_name
                ),
            )
        });
    } else if let Some(trail) = fields.0.get("trailwatch/Trail") {
        out.push(resource("Other", format!("CloudTrail trail {trail}")));
    }
    if out.is_empty() {
        let region = if activity_region.is_empty() {
            "unknown"
        } else {
            activity_region
        };
        out.push(resource("Other", format!("trailwatch {key} ({region})")));
    }
    out
}

/// The bounded `ProductFields` map: keys `trailwatch/<name>`, values cut to 2 KiB, at most
/// [`MAX_PRODUCT_FIELDS`] entries (later ones dropped), empty values skipped.
#[derive(Debug, Default)]
struct ProductFields(BTreeMap<String, String>);

impl ProductFields {
    fn put(&mut self, name: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() || self.0.len() >= MAX_PRODUCT_FIELDS {
            return;
        }
        let key = clip_chars(&format!("trailwatch/{name}"), MAX_PRODUCT_FIELD_KEY_CHARS);
        self.0
            .insert(key, clip_bytes(value, MAX_PRODUCT_FIELD_VALUE_BYTES));
    }
}

/// The string at `path` in `v` (numbers as their text); `None` when absent, null or blank.
fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first `Next:` line of the e-mail text: the builders' advice for the alert.
fn next_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("Next:"))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

/// The subject without its `[SEVERITY] ` prefix.
fn strip_severity(subject: &str) -> String {
    match subject.strip_prefix('[').and_then(|s| s.split_once("] ")) {
        Some((_, rest)) => rest.to_owned(),
        None => subject.to_owned(),
    }
}

fn earliest(events: &[EventFacts]) -> Option<OffsetDateTime> {
    events
        .iter()
        .filter_map(|e| e.time.as_deref().and_then(normalized_time))
        .min()
}

/// A timestamp from an event (attacker-influenced text), parsed; `None` when it is not RFC 3339.
fn normalized_time(t: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// The time in a CloudTrail key's name (delivery time of a log file, end time of a digest).
fn key_time(key: &str) -> Option<OffsetDateTime> {
    let secs = match classify(key) {
        ObjectKind::LogFile(f) => f.location.time,
        ObjectKind::Digest(d) => d.location.time,
        ObjectKind::InsightFile(i) => i.location.time,
        ObjectKind::Other(_) => return None,
    };
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

fn unix_rfc3339(secs: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs).ok().map(rfc3339)
}

/// `2024-01-02T03:04:05.678Z`: UTC, milliseconds (a format ASFF accepts).
fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// SHA-256 of the parts (NUL-separated, so no two part lists collide), first 128 bits in hex.
fn identity_hash(parts: &[String]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p.as_bytes());
        ctx.update(&[0]);
    }
    hex::encode(&ctx.finish().as_ref()[..16])
}

/// At most `max` characters, on one line (control characters as spaces), `...` marking a cut.
fn clip_chars(s: &str, max: usize) -> String {
    let count = s.chars().count();
    let clean = |c: char| if c.is_control() { ' ' } else { c };
    if count <= max {
        return s.chars().map(clean).collect();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).map(clean).collect();
    out.push_str("...");
    out
}

/// At most `max` bytes, on a character boundary, `...` marking a cut.
fn clip_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn non_blank(s: String, fallback: &str) -> String {
    if s.trim().is_empty() {
        fallback.to_owned()
    } else {
        s
    }
}

#[cfg(test)]
#[path = "asff_tests.rs"]
mod tests;
