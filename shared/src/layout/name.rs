//! The file-name part of a CloudTrail key, and the `YYYY/MM/DD` folders.

use time::{Date, Month, PrimitiveDateTime, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameKind {
    LogFile,
    Digest,
    InsightFile,
}

#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) account: String,
    pub(super) region: String,
    /// The date part of the name's timestamp (must equal the folder date).
    pub(super) date: Date,
    pub(super) unix_time: i64,
    pub(super) rest: ParsedName,
}

#[derive(Debug)]
pub(super) enum ParsedName {
    LogFile {
        unique_id: String,
    },
    InsightFile {
        unique_id: String,
    },
    Digest {
        trail_name: String,
        home_region: String,
        backfill: bool,
        timestamp: String,
    },
}

/// `YYYY/MM/DD` folders: exactly 4, 2 and 2 digits forming a real date.
pub(super) fn parse_folder_date(year: &str, month: &str, day: &str) -> Option<Date> {
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    date_from_digits(year, month, day)
}

pub(super) fn parse(kind: NameKind, file: &str) -> Option<Parsed> {
    match kind {
        NameKind::LogFile => parse_log_like(file, super::LOG_FOLDER)
            .map(|(parsed, unique_id)| parsed.with_rest(ParsedName::LogFile { unique_id })),
        NameKind::InsightFile => parse_log_like(file, super::INSIGHT_FOLDER)
            .map(|(parsed, unique_id)| parsed.with_rest(ParsedName::InsightFile { unique_id })),
        NameKind::Digest => parse_digest(file),
    }
}

/// What a name says before its kind-specific part is known.
struct Common {
    account: String,
    region: String,
    date: Date,
    unix_time: i64,
}

impl Common {
    fn with_rest(self, rest: ParsedName) -> Parsed {
        Parsed {
            account: self.account,
            region: self.region,
            date: self.date,
            unix_time: self.unix_time,
            rest,
        }
    }
}

/// `<acct>_<kind>_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz` (or `.json`: an uncompressed copy).
fn parse_log_like(file: &str, kind: &str) -> Option<(Common, String)> {
    let stem = file
        .strip_suffix(".json.gz")
        .or_else(|| file.strip_suffix(".json"))?;
    let mut parts = stem.split('_');
    let (account, name_kind, region, timestamp, unique_id) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || name_kind != kind || !is_unique_id(unique_id) {
        return None;
    }
    let (date, unix_time) = parse_timestamp(timestamp, false)?;
    let common = Common {
        account: account.to_owned(),
        region: region.to_owned(),
        date,
        unix_time,
    };
    Some((common, unique_id.to_owned()))
}

/// The random part. AWS documents 16 alphanumerics; any length from 8 to 64 is accepted so that a
/// change on AWS's side does not make every file a skipped "malformed" one.
fn is_unique_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `<acct>_CloudTrail-Digest_<src>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz`.
/// The trail name may hold `_`, so the home region and timestamp are taken from the right and the
/// account, kind and source region from the left (neither a region nor an account holds `_`).
fn parse_digest(file: &str) -> Option<Parsed> {
    let stem = file.strip_suffix(".json.gz")?;
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let (stem, timestamp) = stem.rsplit_once('_')?;
    let (stem, home_region) = stem.rsplit_once('_')?;
    let mut parts = stem.splitn(4, '_');
    let (account, kind, region, trail_name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if kind != super::DIGEST_FOLDER || !is_trail_name(trail_name) || !super::is_region(home_region)
    {
        return None;
    }
    let (date, unix_time) = parse_timestamp(timestamp, true)?;
    let common = Common {
        account: account.to_owned(),
        region: region.to_owned(),
        date,
        unix_time,
    };
    Some(common.with_rest(ParsedName::Digest {
        trail_name: trail_name.to_owned(),
        home_region: home_region.to_owned(),
        backfill,
        timestamp: timestamp.to_owned(),
    }))
}

/// Trail names: letters, digits, `.`, `_`, `-` (CloudTrail's naming rule; length not re-checked).
fn is_trail_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `YYYYMMDDTHHmmZ` (log and Insights files, minute precision) or `YYYYMMDDTHHMMSSZ` (digests),
/// as a real UTC date-time: its date and its Unix seconds.
fn parse_timestamp(text: &str, with_seconds: bool) -> Option<(Date, i64)> {
    let body = text.strip_suffix('Z')?;
    let (date, clock) = body.split_once('T')?;
    let clock_len = if with_seconds { 6 } else { 4 };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // Checked before slicing: byte offsets are only char boundaries in ASCII text.
    if date.len() != 8 || clock.len() != clock_len || !digits(date) || !digits(clock) {
        return None;
    }
    let date = date_from_digits(&date[0..4], &date[4..6], &date[6..8])?;
    let hour = clock[0..2].parse().ok()?;
    let minute = clock[2..4].parse().ok()?;
    let second = if with_seconds {
        clock[4..6].parse().ok()?
    } else {
        0
    };
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some((
        date,
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    ))
}

fn date_from_digits(year: &str, month: &str, day: &str) -> Option<Date> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(year) && all_digits(month) && all_digits(day)) {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}
