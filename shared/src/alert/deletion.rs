//! The alert for a CloudTrail file deleted from the trail bucket: one CRITICAL alert per deleted
//! log file, digest or Insights file, raised by the digest verifier as S3 reports the deletion.
//!
//! CloudTrail never deletes what it delivered, so every such deletion is either a retention rule
//! (the notice's reason says `Lifecycle Expiration`) or someone removing evidence. The alert names
//! the object, the version (or the delete marker), who deleted it and from where as the event
//! says, and what was lost: the kind of file, account, region and hour from its key.

use serde_json::json;
use time::OffsetDateTime;

use super::message::{AlertAttributes, AlertKind, AlertMessage, MachineBody, assemble};
use super::{SCHEMA_VERSION, clean_subject};
use crate::layout::{ObjectKind, classify};
use crate::trigger::{DeletionNotice, DeletionType};

/// The `rule_id` attribute of a deletion alert.
pub const RULE_ID: &str = "OBJECT_DELETED";
/// The severity of every deletion alert: evidence is gone or hidden.
pub const SEVERITY: &str = "CRITICAL";
/// Longest value copied from the event into the alert; longer ones are cut (and marked), so a
/// forged field cannot push the publish past SNS's limit.
pub(super) const MAX_FIELD_CHARS: usize = 1024;

/// What kind of CloudTrail file was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostKind {
    /// A log file (`…/CloudTrail/<region>/…`): the events it held.
    LogFile,
    /// A digest file (`…/CloudTrail-Digest/<region>/…`): the signed proof over an hour of logs.
    Digest,
    /// An Insights file (`…/CloudTrail-Insight/<region>/…`).
    InsightFile,
}

impl LostKind {
    /// As people say it: `log file`, `digest file`, `Insights file`.
    pub fn as_str(self) -> &'static str {
        match self {
            LostKind::LogFile => "log file",
            LostKind::Digest => "digest file",
            LostKind::InsightFile => "Insights file",
        }
    }

    /// As the machine-readable body names it: `log_file`, `digest`, `insights_file`.
    pub fn code(self) -> &'static str {
        match self {
            LostKind::LogFile => "log_file",
            LostKind::Digest => "digest",
            LostKind::InsightFile => "insights_file",
        }
    }
}

/// What a deleted key held, as its path and name say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostObject {
    /// Log file, digest or Insights file.
    pub kind: LostKind,
    /// The account whose activity the file recorded.
    pub account: String,
    /// The region folder of the key.
    pub region: String,
    /// The hour of the key's timestamp (delivery time, or a digest's end time), as
    /// `YYYY-MM-DD HH:00 UTC`.
    pub hour: String,
    /// The trail name (digests only: their name carries it).
    pub trail: Option<String>,
}

/// What the deleted `key` held, or `None` when it is not a CloudTrail log, digest or Insights
/// file (those deletions are counted, not alerted).
pub fn lost_object(key: &str) -> Option<LostObject> {
    let (kind, location, trail) = match classify(key) {
        ObjectKind::LogFile(log) => (LostKind::LogFile, log.location, None),
        ObjectKind::Digest(digest) => (LostKind::Digest, digest.location, Some(digest.trail_name)),
        ObjectKind::InsightFile(insight) => (LostKind::InsightFile, insight.location, None),
        ObjectKind::Other(_) => return None,
    };
    Some(LostObject {
        kind,
        account: location.account,
        region: location.region,
        hour: hour_text(location.time),
        trail,
    })
}

/// `2024-01-02 03:00 UTC` for any second of that hour.
pub(super) fn hour_text(unix_seconds: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix_seconds - unix_seconds.rem_euclid(3600)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:00 UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour()
        ),
        Err(_) => format!("{unix_seconds} (Unix seconds)"),
    }
}

/// `value` cut to [`MAX_FIELD_CHARS`] characters, saying so.
pub(super) fn clip(value: &str) -> String {
    match value.char_indices().nth(MAX_FIELD_CHARS) {
        Some((end, _)) => format!("{}… [cut: {} bytes]", &value[..end], value.len()),
        None => value.to_owned(),
    }
}

pub(super) fn or_absent(value: Option<&str>) -> String {
    value.map_or_else(|| "(not in the event)".to_owned(), clip)
}

/// The version line: the deleted version, the delete marker, or none (unversioned bucket).
pub fn version_text(notice: &DeletionNotice) -> String {
    match (&notice.deletion_type, notice.version_id.as_deref()) {
        (DeletionType::DeleteMarkerCreated, Some(id)) => format!("delete marker {}", clip(id)),
        (DeletionType::DeleteMarkerCreated, None) => "delete marker".to_owned(),
        (_, Some(id)) => clip(id),
        (_, None) => "none (unversioned bucket)".to_owned(),
    }
}

/// `[CRITICAL] CloudTrail log file deleted: 123456789012 us-east-1 2024-01-02 03:00 UTC`.
pub fn subject(lost: &LostObject) -> String {
    clean_subject(&format!(
        "[{SEVERITY}] CloudTrail {} deleted: {} {} {}",
        lost.kind.as_str(),
        lost.account,
        lost.region,
        lost.hour
    ))
}

/// What to do, for this kind of deletion of this kind of file.
pub fn next_steps(notice: &DeletionNotice, lost: &LostObject) -> String {
    let uri = format!("s3://{}/{}", notice.bucket, notice.key);
    let mut out = match &notice.deletion_type {
        DeletionType::DeleteMarkerCreated => format!(
            "The data is still in the bucket as a noncurrent version, hidden by the delete marker: \
             remove the marker to restore it (aws s3api delete-object --bucket {} --key <key> \
             --version-id <marker version>).",
            notice.bucket
        ),
        _ => format!(
            "Look for an earlier version of {uri} (aws s3api list-object-versions --bucket {} \
             --prefix <key>); without one the content is gone.",
            notice.bucket
        ),
    };
    out.push_str(match lost.kind {
        LostKind::Digest => {
            " Without this digest the log files it lists can no longer be proven unaltered, and \
             the next digest's link points to nothing."
        }
        LostKind::LogFile => {
            " The events in this file are no longer in the trail bucket; the digest that lists \
             it will report it missing."
        }
        LostKind::InsightFile => " The Insights events in this file are no longer in the bucket.",
    });
    out.push_str(
        " Find who deleted it (the requester and request id above, CloudTrail S3 data events or \
         server access logs), check the rest of the hour with `trailwatch verify`, and deny \
         s3:DeleteObject under AWSLogs/ to everyone but a break-glass role.",
    );
    out
}

/// The text e-mail readers see.
pub fn body(notice: &DeletionNotice, lost: &LostObject) -> String {
    let uri = format!("s3://{}/{}", notice.bucket, notice.key);
    let trail = lost
        .trail
        .as_deref()
        .map(|t| format!("\nTrail:         {}", clip(t)))
        .unwrap_or_default();
    format!(
        "A CloudTrail {kind} was deleted from the trail bucket. CloudTrail never deletes what it \
         delivered.\n\n\
         Object:        {object}\n\
         Version:       {version}\n\
         Deletion type: {deletion_type}\n\
         Reason:        {reason}\n\
         Requester:     {requester}\n\
         Source IP:     {source_ip}\n\
         Request id:    {request_id}\n\
         Deleted at:    {time}\n\n\
         What was lost: the {kind} of account {account}, region {region}, hour {hour}{trail}\n\n\
         Next: {next}\n",
        kind = lost.kind.as_str(),
        object = clip(&uri),
        version = version_text(notice),
        deletion_type = clip(notice.deletion_type.as_str()),
        reason = or_absent(notice.reason.as_deref()),
        requester = or_absent(notice.requester.as_deref()),
        source_ip = or_absent(notice.source_ip.as_deref()),
        request_id = or_absent(notice.request_id.as_deref()),
        time = or_absent(notice.event_time.as_deref()),
        account = lost.account,
        region = lost.region,
        hour = lost.hour,
        next = next_steps(notice, lost),
    )
}

/// The whole SNS message: subject, text, machine-readable body and the attributes `rule_id`
/// ([`RULE_ID`]), `severity` ([`SEVERITY`]), `account` and `region` (from the key).
pub fn build(notice: &DeletionNotice, lost: &LostObject) -> AlertMessage {
    let attributes = AlertAttributes {
        rule_id: RULE_ID.into(),
        severity: SEVERITY.into(),
        account: lost.account.clone(),
        region: lost.region.clone(),
        finding_codes: None,
    };
    assemble(
        AlertKind::ObjectDeleted,
        subject(lost),
        &body(notice, lost),
        &DeletionJson { notice, lost },
        attributes,
    )
}

/// The machine-readable document for queue, Lambda and HTTP(S) subscribers.
struct DeletionJson<'a> {
    notice: &'a DeletionNotice,
    lost: &'a LostObject,
}

impl MachineBody for DeletionJson<'_> {
    fn render(&self, _max_escaped_bytes: usize) -> String {
        // Every field copied from the event is clipped to MAX_FIELD_CHARS, so the document stays
        // far below any budget `assemble` gives a single alert.
        let n = self.notice;
        let opt = |v: &Option<String>| v.as_deref().map(clip);
        json!({
            "schema": SCHEMA_VERSION,
            "source": "trailwatch.digest-verifier",
            "rule_id": RULE_ID,
            "severity": SEVERITY,
            "object": clip(&format!("s3://{}/{}", n.bucket, n.key)),
            "bucket": clip(&n.bucket),
            "key": clip(&n.key),
            "version_id": opt(&n.version_id),
            "delete_marker": n.deletion_type == DeletionType::DeleteMarkerCreated,
            "deletion_type": clip(n.deletion_type.as_str()),
            "reason": opt(&n.reason),
            "requester": opt(&n.requester),
            "source_ip": opt(&n.source_ip),
            "request_id": opt(&n.request_id),
            "sequencer": opt(&n.sequencer),
            "event_time": opt(&n.event_time),
            "lost": {
                "kind": self.lost.kind.code(),
                "account": self.lost.account,
                "region": self.lost.region,
                "hour": self.lost.hour,
                "trail": self.lost.trail.as_deref().map(clip),
            },
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG_KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0305Z_aaaaaaaaaaaaaaaa.json.gz";
    const DIGEST_KEY: &str = "AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_org_trail_us-east-1_20240102T030405Z.json.gz";
    const INSIGHT_KEY: &str = "prefix/AWSLogs/123456789012/CloudTrail-Insight/ap-southeast-4/2024/01/02/123456789012_CloudTrail-Insight_ap-southeast-4_20240102T2359Z_0123456789abcdef.json.gz";

    fn notice(key: &str, deletion_type: DeletionType, version: Option<&str>) -> DeletionNotice {
        DeletionNotice {
            bucket: "trail-bucket".into(),
            key: key.into(),
            version_id: version.map(str::to_owned),
            deletion_type,
            reason: Some("DeleteObject".into()),
            requester: Some("123456789012".into()),
            source_ip: Some("203.0.113.9".into()),
            request_id: Some("0BH729840619AG5K".into()),
            sequencer: Some("617f0837b476e463".into()),
            event_time: Some("2024-01-02T04:10:00Z".into()),
            item_id: None,
        }
    }

    #[test]
    fn what_was_lost_comes_from_the_key() {
        assert_eq!(
            lost_object(LOG_KEY),
            Some(LostObject {
                kind: LostKind::LogFile,
                account: "123456789012".into(),
                region: "us-east-1".into(),
                hour: "2024-01-02 03:00 UTC".into(),
                trail: None,
            })
        );
        assert_eq!(
            lost_object(DIGEST_KEY),
            Some(LostObject {
                kind: LostKind::Digest,
                account: "123456789012".into(),
                region: "eu-west-1".into(),
                hour: "2024-01-02 03:00 UTC".into(),
                trail: Some("org_trail".into()),
            })
        );
        let insight = lost_object(INSIGHT_KEY).unwrap();
        assert_eq!(insight.kind, LostKind::InsightFile);
        assert_eq!(insight.region, "ap-southeast-4");
        assert_eq!(insight.hour, "2024-01-02 23:00 UTC");
        for other in [
            "notes/readme.txt",
            "AWSLogs/123456789012/CloudTrail/",
            "AWSLogs/123456789012/Config/us-east-1/2024/1/2/ConfigSnapshot/x.json.gz",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/not-a-log.json.gz",
        ] {
            assert_eq!(lost_object(other), None, "{other}");
        }
    }

    #[test]
    fn subjects_name_the_kind_account_region_and_hour() {
        let log = lost_object(LOG_KEY).unwrap();
        assert_eq!(
            subject(&log),
            "[CRITICAL] CloudTrail log file deleted: 123456789012 us-east-1 2024-01-02 03:00 UTC"
        );
        assert_eq!(
            subject(&lost_object(DIGEST_KEY).unwrap()),
            "[CRITICAL] CloudTrail digest file deleted: 123456789012 eu-west-1 2024-01-02 03:00 UTC"
        );
        let s = subject(&lost_object(INSIGHT_KEY).unwrap());
        assert!(s.len() <= 99 && s.is_ascii(), "{s}");
        let forged = LostObject {
            region: "é\n".repeat(200),
            ..log
        };
        let s = subject(&forged);
        assert!(s.len() <= 99 && s.is_ascii() && !s.contains('\n'), "{s}");
    }

    #[test]
    fn the_alert_names_object_version_requester_ip_type_and_what_was_lost() {
        let n = notice(LOG_KEY, DeletionType::PermanentlyDeleted, Some("v-1"));
        let lost = lost_object(LOG_KEY).unwrap();
        let m = build(&n, &lost);
        let envelope: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let email = envelope["email"].as_str().unwrap();
        for needle in [
            &format!("s3://trail-bucket/{LOG_KEY}"),
            "Version:       v-1",
            "Deletion type: Permanently Deleted",
            "Requester:     123456789012",
            "Source IP:     203.0.113.9",
            "Request id:    0BH729840619AG5K",
            "the log file of account 123456789012, region us-east-1, hour 2024-01-02 03:00 UTC",
            "list-object-versions",
        ] {
            assert!(email.contains(needle), "{needle:?} not in:\n{email}");
        }
        assert_eq!(
            m.attributes.pairs(),
            vec![
                ("rule_id", "OBJECT_DELETED"),
                ("severity", "CRITICAL"),
                ("account", "123456789012"),
                ("region", "us-east-1"),
            ]
        );
        let machine: serde_json::Value =
            serde_json::from_str(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(envelope["http"], envelope["sqs"]);
        assert_eq!(machine["schema"], 1);
        assert_eq!(machine["rule_id"], "OBJECT_DELETED");
        assert_eq!(machine["version_id"], "v-1");
        assert_eq!(machine["delete_marker"], false);
        assert_eq!(machine["source_ip"], "203.0.113.9");
        assert_eq!(machine["lost"]["kind"], "log_file");
        assert_eq!(machine["lost"]["hour"], "2024-01-02 03:00 UTC");
    }

    #[test]
    fn a_delete_marker_and_a_lifecycle_expiration_say_so() {
        let mut n = notice(DIGEST_KEY, DeletionType::DeleteMarkerCreated, Some("dm-7"));
        let lost = lost_object(DIGEST_KEY).unwrap();
        let text = body(&n, &lost);
        assert!(text.contains("Version:       delete marker dm-7"), "{text}");
        assert!(text.contains("noncurrent version"), "{text}");
        assert!(text.contains("Trail:         org_trail"), "{text}");
        assert!(text.contains("can no longer be proven unaltered"), "{text}");

        n.deletion_type = DeletionType::PermanentlyDeleted;
        n.version_id = None;
        n.reason = Some("Lifecycle Expiration".into());
        n.source_ip = None;
        n.requester = Some("s3.amazonaws.com".into());
        let text = body(&n, &lost);
        assert!(
            text.contains("Version:       none (unversioned bucket)"),
            "{text}"
        );
        assert!(
            text.contains("Reason:        Lifecycle Expiration"),
            "{text}"
        );
        assert!(text.contains("Source IP:     (not in the event)"), "{text}");
    }

    #[test]
    fn forged_huge_fields_are_cut_and_the_publish_fits() {
        let mut n = notice(LOG_KEY, DeletionType::PermanentlyDeleted, None);
        n.requester = Some("\"x\u{1}".repeat(300_000));
        n.source_ip = Some("é".repeat(300_000));
        let m = build(&n, &lost_object(LOG_KEY).unwrap());
        assert!(m.publish_bytes() < 64 * 1024, "{}", m.publish_bytes());
        assert!(!m.text_truncated);
        assert!(m.text.contains("[cut: 900000 bytes]"), "{}", &m.text[..400]);
    }
}
