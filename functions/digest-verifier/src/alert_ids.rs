//! What the state table records for the verifier's alerts, so that each goes out once
//! (`trailwatch_lambda_common::sns::once`): the unit of work each alert belongs to, and the
//! alert's id within it. Every unit's key starts with `digest-verifier#`, the prefix the role's
//! `dynamodb:LeadingKeys` condition allows.
//!
//! | alert | unit of work (version part of the key) | alert id |
//! |---|---|---|
//! | digest verdict | the digest version (`v:…` / `e:…`, [`WorkKey::new`]) | [`finding_set_id`] |
//! | deletion | `del:v:<version or delete marker id>`, else `del:s:<sequencer>`, else `del:r:<request id>` | `deleted` |
//! | overwrite | `ow:v:<the new version id>` | `overwritten` |
//! | range check (window end fixed by the payload) | `range:<end>:<finding set>`, key = the chain's digest folder | `range` |
//!
//! A digest verified again (a retry after a failed publish, a redrive) with the same findings
//! does not alert again; different findings (a log unreadable before is readable now) are a
//! different set, so a new alert.

use trailwatch_lambda_common::state::WorkKey;
use trailwatch_shared::digest::{VerificationReport, sha256};
use trailwatch_shared::trigger::{DeletionNotice, ObjectRef};

use crate::handler::FUNCTION;

/// The id of a deletion alert within its unit.
pub const DELETED: &str = "deleted";
/// The id of an overwrite alert within its unit.
pub const OVERWRITTEN: &str = "overwritten";

/// `findings:<sorted distinct codes>:<SHA-256 of the sorted findings, 32 hex digits>`: the same
/// for two verifications that found exactly the same things, whatever their order.
pub fn finding_set_id(report: &VerificationReport) -> String {
    let mut codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut lines: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{}\t{}\t{}", f.code.as_str(), f.object, f.detail))
        .collect();
    lines.sort_unstable();
    let hash = sha256(lines.join("\n").as_bytes());
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("findings:{}:{hex}", codes.join(","))
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty() && *s != "null")
}

/// The unit of one deletion, or `None` when the notice names neither a version, a sequencer nor
/// a request (then the alert is published without a record: a repeat is better than a miss).
pub fn deletion_work(notice: &DeletionNotice) -> Option<WorkKey> {
    let version = if let Some(v) = nonempty(&notice.version_id) {
        format!("del:v:{v}")
    } else if let Some(s) = nonempty(&notice.sequencer) {
        format!("del:s:{s}")
    } else {
        format!("del:r:{}", nonempty(&notice.request_id)?)
    };
    Some(WorkKey {
        function: FUNCTION,
        bucket: notice.bucket.clone(),
        key: notice.key.clone(),
        version,
    })
}

/// The unit of the overwrite check of one created version (the check runs only with one).
pub fn overwrite_work(object: &ObjectRef, version_id: &str) -> WorkKey {
    WorkKey {
        function: FUNCTION,
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version: format!("ow:v:{version_id}"),
    }
}

/// The unit of one chain's range check alert over the window ending `end`, for one finding set
/// (a retry that finds something else is another unit, so its alert is not lost). `location` is
/// the chain's `s3://bucket/…/CloudTrail-Digest/<region>/`.
pub fn range_work(location: &str, end: i64, report: &VerificationReport) -> WorkKey {
    let rest = location.strip_prefix("s3://").unwrap_or(location);
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    WorkKey {
        function: FUNCTION,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version: format!("range:{end}:{}", finding_set_id(report)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwatch_shared::digest::{Finding, FindingCode};
    use trailwatch_shared::trigger::DeletionType;

    fn finding(code: FindingCode, object: &str, detail: &str) -> Finding {
        Finding::new(code, object, detail)
    }

    #[test]
    fn the_same_findings_give_the_same_id_and_different_ones_another() {
        let a = finding(FindingCode::LogHashMismatch, "s3://b/l1", "hash x");
        let b = finding(FindingCode::LogMissing, "s3://b/l2", "gone");
        let one = VerificationReport::new(vec![a.clone(), b.clone()], 1, 2);
        let same = VerificationReport::new(vec![b.clone(), a.clone()], 1, 2);
        assert_eq!(finding_set_id(&one), finding_set_id(&same));
        assert!(
            finding_set_id(&one).starts_with("findings:LOG_HASH_MISMATCH,LOG_MISSING:"),
            "{}",
            finding_set_id(&one)
        );
        let other_detail = VerificationReport::new(
            vec![a, finding(FindingCode::LogMissing, "s3://b/l3", "gone")],
            1,
            2,
        );
        assert_ne!(finding_set_id(&one), finding_set_id(&other_detail));
        let fewer = VerificationReport::new(vec![b], 1, 2);
        assert_ne!(finding_set_id(&one), finding_set_id(&fewer));
    }

    fn notice(
        version: Option<&str>,
        sequencer: Option<&str>,
        request: Option<&str>,
    ) -> DeletionNotice {
        DeletionNotice {
            bucket: "b".into(),
            key: "k".into(),
            version_id: version.map(str::to_owned),
            deletion_type: DeletionType::PermanentlyDeleted,
            reason: None,
            requester: None,
            source_ip: None,
            request_id: request.map(str::to_owned),
            sequencer: sequencer.map(str::to_owned),
            event_time: None,
            item_id: None,
        }
    }

    #[test]
    fn a_deletion_is_named_by_its_version_else_its_sequencer_else_its_request() {
        let key = |n: DeletionNotice| deletion_work(&n).map(|w| w.partition_key());
        assert_eq!(
            key(notice(Some("v1"), Some("s"), Some("r"))).as_deref(),
            Some("digest-verifier#s3://b/k#del:v:v1")
        );
        assert_eq!(
            key(notice(Some("null"), Some("s"), Some("r"))).as_deref(),
            Some("digest-verifier#s3://b/k#del:s:s")
        );
        assert_eq!(
            key(notice(None, None, Some("r"))).as_deref(),
            Some("digest-verifier#s3://b/k#del:r:r")
        );
        assert_eq!(key(notice(None, None, None)), None);
    }
}
