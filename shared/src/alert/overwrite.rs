//! The alert for a CloudTrail file written over in the trail bucket: one CRITICAL alert when a
//! log file, digest or Insights key that S3 reports as created already had an earlier version
//! (or a delete marker), raised by the digest verifier as S3 reports the write.
//!
//! CloudTrail never writes a key twice, so a second version of a delivered file is someone
//! replacing evidence. The alert names the object, the new version, the earlier version(s) with
//! their last-modified times, who wrote it and from where as the event says, and what was
//! affected: the kind of file, account, region and hour from its key. Same design as
//! [`super::deletion`], whose [`LostObject`] describes the affected file.

use serde_json::json;

use super::deletion::{LostKind, LostObject, clip, or_absent};
use super::message::{AlertAttributes, AlertKind, AlertMessage, MachineBody, assemble};
use super::{SCHEMA_VERSION, clean_subject};
use crate::digest::ObjectVersion;
use crate::trigger::ObjectRef;

/// The `rule_id` attribute of an overwrite alert.
pub const RULE_ID: &str = "OBJECT_OVERWRITTEN";
/// The severity of every overwrite alert: delivered evidence was replaced.
pub const SEVERITY: &str = "CRITICAL";
/// Earlier versions named in one alert; more are counted, not listed (the listing asks S3 for
/// a few entries only).
pub const MAX_EARLIER_LISTED: usize = 10;

/// The versions of `object.key` other than the event's (`object.version_id`): what the new
/// write overwrote. Empty for a first write.
pub fn earlier_versions(object: &ObjectRef, versions: &[ObjectVersion]) -> Vec<ObjectVersion> {
    versions
        .iter()
        .filter(|v| Some(v.version_id.as_str()) != object.version_id.as_deref())
        .cloned()
        .collect()
}

/// `[CRITICAL] CloudTrail log file overwritten: 123456789012 us-east-1 2024-01-02 03:00 UTC`.
pub fn subject(affected: &LostObject) -> String {
    clean_subject(&format!(
        "[{SEVERITY}] CloudTrail {} overwritten: {} {} {}",
        affected.kind.as_str(),
        affected.account,
        affected.region,
        affected.hour
    ))
}

fn version_line(v: &ObjectVersion) -> String {
    format!(
        "{}{}, last modified {}",
        if v.delete_marker {
            "delete marker "
        } else {
            ""
        },
        clip(&v.version_id),
        or_absent(v.last_modified.as_deref())
    )
}

/// What to do, for this kind of file.
pub fn next_steps(object: &ObjectRef, affected: &LostObject) -> String {
    let mut out = format!(
        "The delivered content is the earlier version listed above, if it is still there \
         (aws s3api list-object-versions --bucket {} --prefix <key>); compare it with the new \
         version and restore it by copying it over the key.",
        clip(&object.bucket)
    );
    out.push_str(match affected.kind {
        LostKind::Digest => {
            " The new version was verified as the event names it; a forged digest fails \
             verification in its own alert."
        }
        LostKind::LogFile => {
            " The digest that lists this file will report a hash mismatch for the new content; \
             run `trailwatch verify` over the hour."
        }
        LostKind::InsightFile => " The Insights events in the new version cannot be trusted.",
    });
    out.push_str(
        " Find who wrote it (the requester above, CloudTrail S3 data events or server access \
         logs), and deny s3:PutObject under AWSLogs/ to everyone but CloudTrail.",
    );
    out
}

/// The text e-mail readers see.
pub fn body(object: &ObjectRef, earlier: &[ObjectVersion], affected: &LostObject) -> String {
    let uri = format!("s3://{}/{}", object.bucket, object.key);
    let trail = affected
        .trail
        .as_deref()
        .map(|t| format!("\nTrail:            {}", clip(t)))
        .unwrap_or_default();
    let mut listed: Vec<String> = earlier
        .iter()
        .take(MAX_EARLIER_LISTED)
        .map(|v| format!("\n  - {}", version_line(v)))
        .collect();
    if earlier.len() > MAX_EARLIER_LISTED {
        listed.push(format!(
            "\n  - … and {} more",
            earlier.len() - MAX_EARLIER_LISTED
        ));
    }
    format!(
        "A CloudTrail {kind} was written over an earlier version in the trail bucket. CloudTrail \
         never writes a key twice.\n\n\
         Object:           {object}\n\
         New version:      {version}\n\
         Earlier versions: {count}{listed}\n\
         Requester:        {requester}\n\
         Source IP:        {source_ip}\n\n\
         What was affected: the {kind} of account {account}, region {region}, hour {hour}{trail}\n\n\
         Next: {next}\n",
        kind = affected.kind.as_str(),
        object = clip(&uri),
        version = or_absent(object.version_id.as_deref()),
        count = earlier.len(),
        listed = listed.concat(),
        requester = or_absent(object.requester.as_deref()),
        source_ip = or_absent(object.source_ip.as_deref()),
        account = affected.account,
        region = affected.region,
        hour = affected.hour,
        next = next_steps(object, affected),
    )
}

/// The whole SNS message: subject, text, machine-readable body and the attributes `rule_id`
/// ([`RULE_ID`]), `severity` ([`SEVERITY`]), `account` and `region` (from the key).
pub fn build(object: &ObjectRef, earlier: &[ObjectVersion], affected: &LostObject) -> AlertMessage {
    let attributes = AlertAttributes {
        rule_id: RULE_ID.into(),
        severity: SEVERITY.into(),
        account: affected.account.clone(),
        region: affected.region.clone(),
        finding_codes: None,
    };
    assemble(
        AlertKind::ObjectOverwritten,
        subject(affected),
        &body(object, earlier, affected),
        &OverwriteJson {
            object,
            earlier,
            affected,
        },
        attributes,
    )
}

/// The machine-readable document for queue, Lambda and HTTP(S) subscribers.
struct OverwriteJson<'a> {
    object: &'a ObjectRef,
    earlier: &'a [ObjectVersion],
    affected: &'a LostObject,
}

impl MachineBody for OverwriteJson<'_> {
    fn render(&self, _max_escaped_bytes: usize) -> String {
        // Every field copied from the event or the listing is clipped, and at most
        // MAX_EARLIER_LISTED versions are listed, so the document stays far below any budget.
        let o = self.object;
        let opt = |v: &Option<String>| v.as_deref().map(clip);
        let earlier: Vec<_> = self
            .earlier
            .iter()
            .take(MAX_EARLIER_LISTED)
            .map(|v| {
                json!({
                    "version_id": clip(&v.version_id),
                    "last_modified": opt(&v.last_modified),
                    "delete_marker": v.delete_marker,
                })
            })
            .collect();
        json!({
            "schema": SCHEMA_VERSION,
            "source": "trailwatch.digest-verifier",
            "rule_id": RULE_ID,
            "severity": SEVERITY,
            "object": clip(&format!("s3://{}/{}", o.bucket, o.key)),
            "bucket": clip(&o.bucket),
            "key": clip(&o.key),
            "version_id": opt(&o.version_id),
            "earlier_versions": earlier,
            "earlier_version_count": self.earlier.len(),
            "requester": opt(&o.requester),
            "source_ip": opt(&o.source_ip),
            "affected": {
                "kind": self.affected.kind.code(),
                "account": self.affected.account,
                "region": self.affected.region,
                "hour": self.affected.hour,
                "trail": self.affected.trail.as_deref().map(clip),
            },
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::deletion::lost_object;

    const LOG_KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0305Z_aaaaaaaaaaaaaaaa.json.gz";
    const DIGEST_KEY: &str = "AWSLogs/o-aa11bb22cc/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/123456789012_CloudTrail-Digest_eu-west-1_org_trail_us-east-1_20240102T030405Z.json.gz";

    fn object(key: &str, version: Option<&str>) -> ObjectRef {
        ObjectRef {
            bucket: "trail-bucket".into(),
            key: key.into(),
            size: Some(10),
            version_id: version.map(str::to_owned),
            requester: Some("AWS:AIDAEXAMPLE".into()),
            source_ip: Some("203.0.113.9".into()),
            etag: None,
        }
    }

    fn version(id: &str, marker: bool) -> ObjectVersion {
        ObjectVersion {
            version_id: id.into(),
            last_modified: Some("2024-01-02T03:06:00Z".into()),
            delete_marker: marker,
        }
    }

    #[test]
    fn only_versions_other_than_the_events_count() {
        let o = object(LOG_KEY, Some("v2"));
        assert!(earlier_versions(&o, &[version("v2", false)]).is_empty());
        assert!(earlier_versions(&o, &[]).is_empty());
        let earlier = earlier_versions(
            &o,
            &[
                version("v2", false),
                version("v1", false),
                version("dm", true),
            ],
        );
        assert_eq!(
            earlier
                .iter()
                .map(|v| v.version_id.as_str())
                .collect::<Vec<_>>(),
            ["v1", "dm"]
        );
    }

    #[test]
    fn the_subject_names_kind_account_region_and_hour() {
        assert_eq!(
            subject(&lost_object(LOG_KEY).unwrap()),
            "[CRITICAL] CloudTrail log file overwritten: 123456789012 us-east-1 2024-01-02 03:00 UTC"
        );
        let s = subject(&lost_object(DIGEST_KEY).unwrap());
        assert!(
            s.starts_with("[CRITICAL] CloudTrail digest file overwritten: "),
            "{s}"
        );
        assert!(s.len() <= 99 && s.is_ascii(), "{s}");
    }

    #[test]
    fn the_alert_names_object_versions_requester_ip_and_what_was_affected() {
        let o = object(LOG_KEY, Some("v2"));
        let earlier = vec![version("v1", false), version("dm-1", true)];
        let m = build(&o, &earlier, &lost_object(LOG_KEY).unwrap());
        let envelope: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let email = envelope["email"].as_str().unwrap();
        for needle in [
            &format!("s3://trail-bucket/{LOG_KEY}"),
            "New version:      v2",
            "Earlier versions: 2",
            "  - v1, last modified 2024-01-02T03:06:00Z",
            "  - delete marker dm-1, last modified",
            "Requester:        AWS:AIDAEXAMPLE",
            "Source IP:        203.0.113.9",
            "the log file of account 123456789012, region us-east-1, hour 2024-01-02 03:00 UTC",
            "hash mismatch",
        ] {
            assert!(email.contains(needle), "{needle:?} not in:\n{email}");
        }
        assert_eq!(
            m.attributes.pairs(),
            vec![
                ("rule_id", "OBJECT_OVERWRITTEN"),
                ("severity", "CRITICAL"),
                ("account", "123456789012"),
                ("region", "us-east-1"),
            ]
        );
        let machine: serde_json::Value =
            serde_json::from_str(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(envelope["http"], envelope["sqs"]);
        assert_eq!(machine["schema"], 1);
        assert_eq!(machine["rule_id"], "OBJECT_OVERWRITTEN");
        assert_eq!(machine["version_id"], "v2");
        assert_eq!(machine["earlier_version_count"], 2);
        assert_eq!(machine["earlier_versions"][0]["version_id"], "v1");
        assert_eq!(machine["earlier_versions"][1]["delete_marker"], true);
        assert_eq!(machine["requester"], "AWS:AIDAEXAMPLE");
        assert_eq!(machine["source_ip"], "203.0.113.9");
        assert_eq!(machine["affected"]["kind"], "log_file");
        assert_eq!(machine["affected"]["hour"], "2024-01-02 03:00 UTC");
    }

    #[test]
    fn a_digest_overwrite_names_the_trail_and_missing_fields_say_so() {
        let mut o = object(DIGEST_KEY, Some("v9"));
        o.requester = None;
        o.source_ip = None;
        let text = body(
            &o,
            &[version("v8", false)],
            &lost_object(DIGEST_KEY).unwrap(),
        );
        assert!(text.contains("Trail:            org_trail"), "{text}");
        assert!(
            text.contains("Requester:        (not in the event)"),
            "{text}"
        );
        assert!(
            text.contains("Source IP:        (not in the event)"),
            "{text}"
        );
        assert!(text.contains("verified as the event names it"), "{text}");
    }

    #[test]
    fn forged_huge_fields_and_many_versions_are_cut_and_the_publish_fits() {
        let mut o = object(LOG_KEY, Some("v"));
        o.requester = Some("\"x\u{1}".repeat(300_000));
        o.source_ip = Some("é".repeat(300_000));
        let earlier: Vec<_> = (0..50)
            .map(|i| ObjectVersion {
                version_id: format!("{i}{}", "v".repeat(5000)),
                last_modified: Some("t".repeat(5000)),
                delete_marker: false,
            })
            .collect();
        let m = build(&o, &earlier, &lost_object(LOG_KEY).unwrap());
        assert!(m.publish_bytes() < 200 * 1024, "{}", m.publish_bytes());
        assert!(!m.text_truncated);
        assert!(m.text.contains("[cut: 900000 bytes]"), "{}", &m.text[..400]);
        assert!(m.text.contains("… and 40 more"));
    }
}
