//! Which objects of a forwarder failure record are past CloudWatch Logs' 14-day window.
//!
//! CloudWatch Logs refuses events older than 14 days (the forwarder counts them as rejected), and
//! a failure queue keeps messages for up to 14 days. Re-invoking the forwarder for a log file whose
//! events are all past the window forwards nothing, so redrive reports such objects instead.
//!
//! The age of a file comes from the delivery time in its key (`…_YYYYMMDDTHHMMZ_…`), parsed by
//! [`trailwatch_shared::layout::classify`]. A file's events are at most about a minute newer
//! than that time (the name is cut to the minute; events are written before the file is delivered)
//! and may be up to ~15 minutes older. A file is called expired only when its time is older than
//! the window plus [`EXPIRY_MARGIN_SECS`], so that a file which still holds a forwardable event
//! (or a clock that is a little off) is always redriven: calling a current file expired would lose
//! events, while redriving a file whose events turn out too old only costs an invocation.

use serde::Serialize;
use serde_json::{Value, json};
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::trigger::{ObjectRef, decode};

/// CloudWatch Logs' PutLogEvents refuses events older than this (the forwarder's `MAX_AGE_MS`).
pub(super) const LOGS_WINDOW_SECS: i64 = 14 * 24 * 3600;
/// Extra age before a file counts as expired; see the module comment.
pub(super) const EXPIRY_MARGIN_SECS: i64 = 3600;

/// An object whose events are all older than the CloudWatch Logs window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct ExpiredObject {
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The delivery time from the key, Unix seconds.
    pub file_time: i64,
    /// `now - file_time` when the record was read.
    pub age_seconds: i64,
    #[serde(skip)]
    pub object: ObjectRef,
}

/// What to do with one failure record's payload.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plan {
    /// Invoke with the recorded payload as it is: not the forwarder, no object past the window,
    /// or a payload that does not decode completely (the function decides, as before).
    Unchanged,
    /// Some objects are past the window: invoke with `payload`, which names only the others.
    Part {
        payload: Value,
        current: usize,
        expired: Vec<ExpiredObject>,
    },
    /// Every object is past the window: nothing to invoke.
    Expired { expired: Vec<ExpiredObject> },
}

impl Plan {
    pub(super) fn expired(&self) -> &[ExpiredObject] {
        match self {
            Plan::Unchanged => &[],
            Plan::Part { expired, .. } | Plan::Expired { expired } => expired,
        }
    }
}

/// Whether a file delivered at `file_time` can no longer have any event CloudWatch Logs accepts.
pub(super) fn file_is_expired(file_time: i64, now: i64) -> bool {
    now.saturating_sub(file_time) > LOGS_WINDOW_SECS + EXPIRY_MARGIN_SECS
}

/// The function name in a Lambda ARN (`arn:…:function:NAME[:qualifier]`), partial ARN
/// (`ACCOUNT:function:NAME`) or plain name (`NAME[:qualifier]`).
pub(super) fn function_name(function: &str) -> &str {
    let name = match function.split_once(":function:") {
        Some((_, rest)) => rest,
        None => function,
    };
    name.split(':').next().unwrap_or(name)
}

/// The stack's forwarder is `<stack>-ForwarderFunction-<suffix>` (CloudFormation names it after
/// the logical id); anything else named like a forwarder is treated the same way.
pub(super) fn looks_like_forwarder(function: &str) -> bool {
    function_name(function)
        .to_ascii_lowercase()
        .contains("forwarder")
}

/// Splits a forwarder payload's objects into those still forwardable and those past the window.
///
/// Only a payload that decodes completely is split: rebuilding one with undecodable messages would
/// drop them, so such a payload (and one without objects) is redriven unchanged.
pub(super) fn plan(payload: &Value, now: i64) -> Plan {
    let Ok(trigger) = decode(payload) else {
        return Plan::Unchanged;
    };
    if !trigger.failed_messages.is_empty() {
        return Plan::Unchanged;
    }
    let (mut current, mut expired) = (Vec::new(), Vec::new());
    for item in trigger.items {
        match expired_object(&item.object, now) {
            Some(old) => expired.push(old),
            None => current.push(item.object),
        }
    }
    if expired.is_empty() {
        Plan::Unchanged
    } else if current.is_empty() {
        Plan::Expired { expired }
    } else {
        Plan::Part {
            payload: s3_notification(&current),
            current: current.len(),
            expired,
        }
    }
}

/// Only files the forwarder forwards carry a time it would judge; digests, folder markers and
/// unparseable keys are left to the forwarder (it skips them).
fn expired_object(object: &ObjectRef, now: i64) -> Option<ExpiredObject> {
    let file_time = match classify(&object.key) {
        ObjectKind::LogFile(f) => f.location.time,
        ObjectKind::InsightFile(f) => f.location.time,
        ObjectKind::Digest(_) | ObjectKind::Other(_) => return None,
    };
    file_is_expired(file_time, now).then(|| ExpiredObject {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version_id: object.version_id.clone(),
        file_time,
        age_seconds: now - file_time,
        object: object.clone(),
    })
}

/// An S3 event notification naming `objects`: a shape every function decodes, which carries
/// several objects, their sizes and version ids in one invocation.
pub(super) fn s3_notification(objects: &[ObjectRef]) -> Value {
    let records: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut object = json!({ "key": encode_s3_key(&o.key) });
            if let Some(size) = o.size {
                object["size"] = json!(size);
            }
            if let Some(version) = &o.version_id {
                object["versionId"] = json!(version);
            }
            json!({
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": { "bucket": { "name": o.bucket }, "object": object },
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Form-URL encoding as S3 notifications carry keys: the inverse of
/// [`trailwatch_shared::trigger::decode_s3_key`] (a space becomes `+`, so a `+` must be escaped).
pub(super) fn encode_s3_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `15d 3h 7m`: an age a person reads at a glance.
pub(super) fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    format!("{}d {}h {}m", s / 86_400, s % 86_400 / 3600, s % 3600 / 60)
}

#[cfg(test)]
mod tests;
