//! S3 key layout: what a key is and what it says (spec: specs/digest-validation.md §1).
//!
//! INTERFACE (fixed; the implementation fills it in).

use serde::Serialize;

/// Fields common to every CloudTrail object key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyLocation {
    /// `S3KeyPrefix` without the joining `/`; `None` when the key starts with `AWSLogs/`.
    pub prefix: Option<String>,
    pub organization_id: Option<String>,
    pub account: String,
    pub region: String,
    /// `YYYY/MM/DD` folder date + the name's timestamp, as Unix seconds (UTC).
    pub time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFileRef {
    pub location: KeyLocation,
    /// The 16-character random part of the name.
    pub unique_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestRef {
    pub location: KeyLocation,
    /// Trail name (may contain `_`; parsed from the right).
    pub trail_name: String,
    /// Trail's home region (differs from `location.region` for multi-region and org trails).
    pub home_region: String,
    pub backfill: bool,
    /// `YYYYMMDDTHHMMSSZ` as in the name.
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InsightFileRef {
    pub location: KeyLocation,
    pub unique_id: String,
}

/// Why an object is not ours to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SkipReason {
    FolderMarker,
    ConfigSnapshot,
    /// `CloudTrail/` etc. path but a name that does not fit.
    MalformedName,
    NotCloudTrail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ObjectKind {
    LogFile(LogFileRef),
    Digest(DigestRef),
    InsightFile(InsightFileRef),
    Other(SkipReason),
}

pub fn classify(_key: &str) -> ObjectKind {
    todo!("intake helper")
}
