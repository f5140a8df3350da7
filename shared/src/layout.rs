//! S3 key layout: what a key is and what it says (spec: `docs/specs/digest-validation.md` §1).
//!
//! INTERFACE (fixed; the implementation fills it in).
//!
//! ```text
//! [<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz
//! [<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail-Insight/<region>/YYYY/MM/DD/<acct>_CloudTrail-Insight_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz
//! [<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail-Digest/<src>/YYYY/MM/DD/<acct>_CloudTrail-Digest_<src>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz
//! ```
//! Keys are parsed from the right: the part after `AWSLogs/` has a fixed number of segments, so a
//! prefix may hold any number of `/` (or even the word `AWSLogs`). The folders, the name and the
//! account / region / date they repeat must agree, else the key is [`SkipReason::MalformedName`].

mod name;
mod regions;
#[cfg(test)]
mod tests;

pub use regions::{KNOWN_REGIONS, is_known_region};

use serde::Serialize;

use name::{NameKind, ParsedName};

/// Fields common to every CloudTrail object key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyLocation {
    /// `S3KeyPrefix` without the joining `/`; `None` when the key starts with `AWSLogs/`.
    pub prefix: Option<String>,
    /// The `o-…` segment of an organization trail (`AWSLogs/<o-id>/<acct>/…`); `None` for a trail
    /// of one account.
    pub organization_id: Option<String>,
    /// The 12-digit account id the object belongs to (the folder after `AWSLogs/[<o-id>/]`,
    /// repeated at the start of the name).
    pub account: String,
    /// The region folder: where the events were recorded (log and Insights files), or the region
    /// that delivered and signed the digest.
    pub region: String,
    /// `YYYY/MM/DD` folder date + the name's timestamp, as Unix seconds (UTC).
    pub time: i64,
}

/// A CloudTrail log file key (`…/CloudTrail/<region>/…`): one delivery of management and data
/// events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFileRef {
    /// Prefix, account, region and delivery time of the file.
    pub location: KeyLocation,
    /// The 16-character random part of the name.
    pub unique_id: String,
}

/// A digest file key (`…/CloudTrail-Digest/<region>/…`): the signed hourly list of delivered log
/// files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestRef {
    /// Prefix, account, region and end time of the digest (the name's timestamp is its
    /// `digestEndTime`).
    pub location: KeyLocation,
    /// Trail name (may contain `_`; parsed from the right).
    pub trail_name: String,
    /// Trail's home region (differs from `location.region` for multi-region and org trails).
    pub home_region: String,
    /// The name ends in `_backfill`: a digest CloudTrail generated later to cover a gap; it forms
    /// its own chain.
    pub backfill: bool,
    /// `YYYYMMDDTHHMMSSZ` as in the name.
    pub timestamp: String,
}

/// A CloudTrail Insights file key (`…/CloudTrail-Insight/<region>/…`): Insights events about
/// unusual API call or error rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InsightFileRef {
    /// Prefix, account, region and delivery time of the file.
    pub location: KeyLocation,
    /// The random part of the name (alphanumeric; 16 characters as AWS documents it).
    pub unique_id: String,
}

/// Why an object is not ours to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SkipReason {
    /// The key ends in `/`: an empty "folder" object created by the console or a sync tool.
    FolderMarker,
    /// An AWS Config object (snapshot, history, `ConfigWritabilityCheckFile`): Config delivers into
    /// the same `AWSLogs/<acct>/` tree.
    ConfigSnapshot,
    /// `CloudTrail/` etc. path but a name that does not fit.
    MalformedName,
    /// Nothing in the key says CloudTrail: another service's or a user's object in the bucket.
    NotCloudTrail,
}

impl SkipReason {
    /// A stable lower-case name, for log fields and metric dimensions.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::FolderMarker => "folder_marker",
            SkipReason::ConfigSnapshot => "config_snapshot",
            SkipReason::MalformedName => "malformed_name",
            SkipReason::NotCloudTrail => "not_cloudtrail",
        }
    }
}

/// What an S3 key in a trail bucket holds, and what its path and name say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ObjectKind {
    /// A log file: its records are read and evaluated against the rules.
    LogFile(LogFileRef),
    /// A digest file: verified for tampering, not evaluated.
    Digest(DigestRef),
    /// An Insights file: its events are summarised into Insights alerts.
    InsightFile(InsightFileRef),
    /// Anything else: skipped, with the reason (logged and counted).
    Other(SkipReason),
}

/// The folder after `<acct>/` that says what a CloudTrail key holds.
const LOG_FOLDER: &str = "CloudTrail";
const DIGEST_FOLDER: &str = "CloudTrail-Digest";
const INSIGHT_FOLDER: &str = "CloudTrail-Insight";

/// Says what `key` (decoded, as S3 stores it) is. Never fails: a key that is not a well-formed
/// CloudTrail key is [`ObjectKind::Other`] with the reason.
pub fn classify(key: &str) -> ObjectKind {
    if key.ends_with('/') {
        return ObjectKind::Other(SkipReason::FolderMarker);
    }
    let segments: Vec<&str> = key.split('/').collect();
    if is_config_key(&segments) {
        return ObjectKind::Other(SkipReason::ConfigSnapshot);
    }
    match parse(&segments) {
        Some(kind) => kind,
        None if mentions_cloudtrail(&segments) => ObjectKind::Other(SkipReason::MalformedName),
        None => ObjectKind::Other(SkipReason::NotCloudTrail),
    }
}

/// AWS Config delivers to the same `AWSLogs/<acct>/` tree (snapshots, history, the write check).
fn is_config_key(segments: &[&str]) -> bool {
    let Some(logs) = segments.iter().position(|s| *s == "AWSLogs") else {
        return false;
    };
    let after = &segments[logs + 1..];
    after
        .iter()
        .any(|s| matches!(*s, "Config" | "ConfigSnapshot" | "ConfigHistory"))
        || after
            .last()
            .is_some_and(|name| name.starts_with("ConfigWritabilityCheckFile"))
}

/// A key CloudTrail would have written, but which does not parse: counted as malformed, not foreign.
fn mentions_cloudtrail(segments: &[&str]) -> bool {
    let name = segments.last().copied().unwrap_or_default();
    let folder = segments
        .iter()
        .position(|s| *s == "AWSLogs")
        .is_some_and(|logs| {
            segments[logs + 1..]
                .iter()
                .any(|s| matches!(*s, LOG_FOLDER | DIGEST_FOLDER | INSIGHT_FOLDER))
        });
    folder || name.contains("_CloudTrail_") || name.contains("_CloudTrail-")
}

/// `…AWSLogs/[o-id/]acct/<kind>/<region>/YYYY/MM/DD/<name>`, checked against itself.
fn parse(segments: &[&str]) -> Option<ObjectKind> {
    // From the right: name, DD, MM, YYYY, region, kind folder, account, then o-id? and AWSLogs.
    let n = segments.len();
    if n < 8 {
        return None;
    }
    let [account, folder, region, year, month, day, file] = segments[n - 7..] else {
        return None;
    };
    let (organization_id, logs_index) = if segments[n - 8] == "AWSLogs" {
        (None, n - 8)
    } else if n >= 9 && segments[n - 9] == "AWSLogs" && is_organization_id(segments[n - 8]) {
        (Some(segments[n - 8].to_owned()), n - 9)
    } else {
        return None;
    };
    let prefix = (logs_index > 0).then(|| segments[..logs_index].join("/"));
    let kind = match folder {
        LOG_FOLDER => NameKind::LogFile,
        DIGEST_FOLDER => NameKind::Digest,
        INSIGHT_FOLDER => NameKind::InsightFile,
        _ => return None,
    };
    if !is_account(account) || !is_region(region) {
        return None;
    }
    let folder_date = name::parse_folder_date(year, month, day)?;
    let parsed = name::parse(kind, file)?;
    // The name repeats what the folders say; any disagreement is not something CloudTrail writes.
    if parsed.account != account || parsed.region != region || parsed.date != folder_date {
        return None;
    }
    let location = KeyLocation {
        prefix,
        organization_id,
        account: account.to_owned(),
        region: region.to_owned(),
        time: parsed.unix_time,
    };
    Some(match parsed.rest {
        ParsedName::LogFile { unique_id } => ObjectKind::LogFile(LogFileRef {
            location,
            unique_id,
        }),
        ParsedName::InsightFile { unique_id } => ObjectKind::InsightFile(InsightFileRef {
            location,
            unique_id,
        }),
        ParsedName::Digest {
            trail_name,
            home_region,
            backfill,
            timestamp,
        } => ObjectKind::Digest(DigestRef {
            location,
            trail_name,
            home_region,
            backfill,
            timestamp,
        }),
    })
}

/// `o-` followed by 10 to 32 lower-case letters or digits (Organizations' id pattern).
pub fn is_organization_id(segment: &str) -> bool {
    segment.strip_prefix("o-").is_some_and(|id| {
        (10..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Twelve ASCII digits.
pub fn is_account(segment: &str) -> bool {
    segment.len() == 12 && segment.bytes().all(|b| b.is_ascii_digit())
}

/// A region code such as `us-east-1`, `us-gov-west-1`, `cn-north-1`: lower-case words joined by
/// `-`, ending in a number. Deliberately not a fixed list, so new regions are not skipped.
pub fn is_region(segment: &str) -> bool {
    let mut parts = segment.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((number, middle)) = rest.split_last() else {
        return false;
    };
    !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

impl DigestRef {
    /// Parses a digest key; `None` when the key is not a well-formed digest key.
    pub fn parse(key: &str) -> Option<DigestRef> {
        match classify(key) {
            ObjectKind::Digest(digest) => Some(digest),
            _ => None,
        }
    }

    /// The S3 key this digest has: the inverse of [`DigestRef::parse`].
    pub fn key(&self) -> String {
        let location = &self.location;
        // The folders repeat the timestamp's date. `get` so that a hand-built, invalid timestamp
        // gives a key that will not be found instead of a panic.
        let part = |range: std::ops::Range<usize>| self.timestamp.get(range).unwrap_or_default();
        let (year, month, day) = (part(0..4), part(4..6), part(6..8));
        format!(
            "{folder}{year}/{month}/{day}/{account}_{DIGEST_FOLDER}_{region}_{trail}_{home}_{ts}{backfill}.json.gz",
            folder = digest_key_prefix(
                location.prefix.as_deref(),
                location.organization_id.as_deref(),
                &location.account,
                &location.region,
            ),
            account = location.account,
            region = location.region,
            trail = self.trail_name,
            home = self.home_region,
            ts = self.timestamp,
            backfill = if self.backfill { "_backfill" } else { "" },
        )
    }
}

/// `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail-Digest/<region>/`: where one region's digests of
/// one account are listed. The trailing `/` keeps `us-east-1` from also matching `us-east-10`.
pub fn digest_key_prefix(
    prefix: Option<&str>,
    organization_id: Option<&str>,
    account: &str,
    region: &str,
) -> String {
    folder_prefix(prefix, organization_id, account, DIGEST_FOLDER, region)
}

/// `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail/<region>/`: where one region's log files are listed.
pub fn log_key_prefix(
    prefix: Option<&str>,
    organization_id: Option<&str>,
    account: &str,
    region: &str,
) -> String {
    folder_prefix(prefix, organization_id, account, LOG_FOLDER, region)
}

/// `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail-Insight/<region>/`.
pub fn insight_key_prefix(
    prefix: Option<&str>,
    organization_id: Option<&str>,
    account: &str,
    region: &str,
) -> String {
    folder_prefix(prefix, organization_id, account, INSIGHT_FOLDER, region)
}

/// The prefix is joined with one `/` exactly as CloudTrail (and the CLI) do; an empty prefix is
/// the same as none (CloudTrail's `S3KeyPrefix` cannot be empty).
fn folder_prefix(
    prefix: Option<&str>,
    organization_id: Option<&str>,
    account: &str,
    folder: &str,
    region: &str,
) -> String {
    let mut out = String::new();
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        out.push_str(prefix);
        out.push('/');
    }
    out.push_str("AWSLogs/");
    if let Some(org) = organization_id {
        out.push_str(org);
        out.push('/');
    }
    out.push_str(account);
    out.push('/');
    out.push_str(folder);
    out.push('/');
    out.push_str(region);
    out.push('/');
    out
}

/// Unix seconds → the `YYYYMMDDTHHMMSSZ` form digest names use (e.g. to build the key a trail's
/// digest would have at some time, as a listing start marker). `None` outside years 0–9999.
pub fn digest_timestamp(unix_seconds: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_seconds).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}
