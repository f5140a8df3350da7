//! What a backfill covers, decided before any call: the key-layout prefixes of the range, which
//! manifest fits, the forwarder's CloudWatch Logs window, and the job's idempotency token.
//!
//! CloudTrail writes `[P/]AWSLogs/[o-id/]ACCOUNT/CloudTrail[-Digest]/REGION/YYYY/MM/DD/…`, so a
//! range of whole UTC days is a list of day folders. The manifest generator accepts exactly one
//! prefix (API reference `KeyNameConstraint`: "Each KeyNameConstraint filter accepts an array of
//! strings with a length of 1 string"), so it covers a range exactly only when one folder is the
//! range: one day, one whole month, one whole year. Any other range is either a listed CSV
//! manifest (exact, the default) or, on request, the generator over the range's common prefix
//! trimmed by object creation time (`CreatedAfter`/`CreatedBefore`), which is only as right as
//! the objects' creation time is their delivery time (not so for copied or restored objects).

use time::{Date, Duration, OffsetDateTime};

/// Which of our functions a job invokes, and which folder of the trail it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TargetFunction {
    Alerter,
    DigestVerifier,
    Forwarder,
}

impl TargetFunction {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TargetFunction::Alerter => "alerter",
            TargetFunction::DigestVerifier => "digest-verifier",
            TargetFunction::Forwarder => "forwarder",
        }
    }

    /// The digest verifier reads digest files; the alerter and the forwarder read log files.
    pub(crate) fn folder(self) -> &'static str {
        match self {
            TargetFunction::DigestVerifier => "CloudTrail-Digest",
            _ => "CloudTrail",
        }
    }
}

/// CloudWatch Logs refuses events older than 14 days (PutLogEvents: "The log events are older
/// than 14 days" → `tooOldLogEventEndIndex`): a forwarder run over older files sends nothing.
pub(crate) const LOGS_WINDOW_SECS: i64 = 14 * 86_400;
/// The job is queued, prepared and run before the oldest file is forwarded: a file this close to
/// the edge would fall out of the window while the job runs.
pub(crate) const JOB_MARGIN_SECS: i64 = 6 * 3_600;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PlanError {
    #[error("--start-time must be before --end-time")]
    EmptyRange,
    #[error(
        "a forwarder backfill cannot start at {start}: CloudWatch Logs refuses events older than \
         14 days, so files older than {oldest} (14 days less {margin_h} h for the job to run) would \
         be read and forward nothing. Their events stay in S3: run the rules over them with \
         `backfill start --function alerter`, verify them with `--function digest-verifier`, or \
         query them where they are (Athena, CloudTrail Lake)."
    )]
    ForwarderTooOld {
        start: String,
        oldest: String,
        margin_h: i64,
    },
    #[error("--manifest generator needs --account-id and --region (the key layout's prefix)")]
    GeneratorNeedsLayout,
    #[error("a time outside the representable range: {0}")]
    Time(i64),
}

/// Where a trail's objects sit: everything before the day folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) prefix: Option<String>,
    pub(crate) organization_id: Option<String>,
}

impl Layout {
    /// `[P/]AWSLogs/[o-id/]`.
    pub(crate) fn logs_root(&self) -> String {
        let mut root = String::new();
        if let Some(p) = self.prefix.as_deref().map(|p| p.trim_matches('/'))
            && !p.is_empty()
        {
            root.push_str(p);
            root.push('/');
        }
        root.push_str("AWSLogs/");
        if let Some(o) = &self.organization_id {
            root.push_str(o);
            root.push('/');
        }
        root
    }

    /// `[P/]AWSLogs/[o-id/]ACCOUNT/FOLDER/REGION/`.
    pub(crate) fn region_root(&self, account: &str, folder: &str, region: &str) -> String {
        format!("{}{account}/{folder}/{region}/", self.logs_root())
    }
}

/// The UTC days the range `[start, end)` touches, first and last.
pub(crate) fn day_span(start: i64, end: i64) -> Result<(Date, Date), PlanError> {
    if start >= end {
        return Err(PlanError::EmptyRange);
    }
    let first = OffsetDateTime::from_unix_timestamp(start)
        .map_err(|_| PlanError::Time(start))?
        .date();
    let last = OffsetDateTime::from_unix_timestamp(end - 1)
        .map_err(|_| PlanError::Time(end))?
        .date();
    Ok((first, last))
}

/// One `YYYY/MM/DD/` folder per day of the span, under `region_root`.
pub(crate) fn day_prefixes(region_root: &str, first: Date, last: Date) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        out.push(format!("{region_root}{}", day_folder(day)));
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

fn day_folder(day: Date) -> String {
    format!(
        "{:04}/{:02}/{:02}/",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The single folder that holds exactly the span's days, when there is one: the day, the whole
/// month, or the whole year.
pub(crate) fn exact_folder(first: Date, last: Date) -> Option<String> {
    if first == last {
        return Some(day_folder(first));
    }
    let month_end = |d: Date| d.next_day().is_none_or(|n| n.month() != d.month());
    if first.year() == last.year()
        && first.month() == last.month()
        && first.day() == 1
        && month_end(last)
    {
        return Some(format!(
            "{:04}/{:02}/",
            first.year(),
            u8::from(first.month())
        ));
    }
    if first.year() == last.year()
        && first.ordinal() == 1
        && last.next_day().is_none_or(|n| n.year() != last.year())
    {
        return Some(format!("{:04}/", first.year()));
    }
    None
}

/// The longest common prefix of the span's folders (`YYYY/`, `YYYY/MM/`, … or empty), the
/// narrowest single prefix that holds the whole span.
pub(crate) fn common_folder(first: Date, last: Date) -> String {
    let (a, b) = (day_folder(first), day_folder(last));
    let common: usize = a
        .split_inclusive('/')
        .zip(b.split_inclusive('/'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len())
        .sum();
    a[..common].to_owned()
}

/// Midnight UTC starting `day`, and the one after `last` (the generator's creation-time trim).
pub(crate) fn created_window(first: Date, last: Date) -> (i64, i64) {
    let after = first.midnight().assume_utc().unix_timestamp();
    let before = (last.midnight().assume_utc() + Duration::days(1)).unix_timestamp();
    (after, before)
}

/// Refuses a forwarder backfill that reaches past CloudWatch Logs' window.
pub(crate) fn check_forwarder_window(start: i64, now: i64) -> Result<(), PlanError> {
    let oldest = now - LOGS_WINDOW_SECS + JOB_MARGIN_SECS;
    if start < oldest {
        return Err(PlanError::ForwarderTooOld {
            start: iso(start),
            oldest: iso(oldest),
            margin_h: JOB_MARGIN_SECS / 3_600,
        });
    }
    Ok(())
}

/// `ClientRequestToken` (1–64 characters): the SHA-256 of every field that makes the job what it
/// is, in hex. The same command gives the same token, so S3 answers a repeat with the job it
/// already created instead of starting a second one; any other range, function, bucket,
/// manifest or report location gives another token.
pub(crate) fn request_token(fields: &[(&str, &str)]) -> String {
    let mut canonical = String::new();
    for (name, value) in fields {
        // Length-prefixed, so that no two different field lists hash the same text.
        canonical.push_str(&format!("{}:{name}={}:{value};", name.len(), value.len()));
    }
    trailwatch_shared::digest::sha256(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Unix seconds as RFC 3339, as the verifier writes times.
pub(crate) use trailwatch_shared::digest::format_time as iso;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn ts(d: OffsetDateTime) -> i64 {
        d.unix_timestamp()
    }

    #[test]
    fn a_range_is_the_days_it_touches_end_exclusive() {
        let (first, last) = day_span(
            ts(datetime!(2026-03-30 23:00 UTC)),
            ts(datetime!(2026-04-02 00:00 UTC)),
        )
        .unwrap();
        assert_eq!(
            (first, last),
            (date!(2026 - 03 - 30), date!(2026 - 04 - 01))
        );
        let layout = Layout {
            prefix: Some("p/".into()),
            organization_id: Some("o-abc".into()),
        };
        let root = layout.region_root("111122223333", "CloudTrail", "eu-west-1");
        assert_eq!(
            day_prefixes(&root, first, last),
            [
                "p/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2026/03/30/",
                "p/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2026/03/31/",
                "p/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2026/04/01/",
            ]
        );
        assert_eq!(day_span(5, 5), Err(PlanError::EmptyRange));
    }

    #[test]
    fn one_folder_fits_a_day_a_whole_month_or_a_whole_year_only() {
        let d =
            |y, m, dd| Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), dd).unwrap();
        assert_eq!(
            exact_folder(d(2026, 3, 4), d(2026, 3, 4)).as_deref(),
            Some("2026/03/04/")
        );
        assert_eq!(
            exact_folder(d(2026, 2, 1), d(2026, 2, 28)).as_deref(),
            Some("2026/02/")
        );
        assert_eq!(
            exact_folder(d(2026, 1, 1), d(2026, 12, 31)).as_deref(),
            Some("2026/")
        );
        // Negative controls: one day short of the month or year, two days.
        assert_eq!(exact_folder(d(2026, 2, 1), d(2026, 2, 27)), None);
        assert_eq!(exact_folder(d(2026, 1, 1), d(2026, 12, 30)), None);
        assert_eq!(exact_folder(d(2026, 3, 4), d(2026, 3, 5)), None);
        assert_eq!(common_folder(d(2026, 3, 4), d(2026, 3, 25)), "2026/03/");
        assert_eq!(common_folder(d(2026, 3, 4), d(2026, 3, 5)), "2026/03/");
        assert_eq!(common_folder(d(2025, 12, 30), d(2026, 1, 2)), "");
        assert_eq!(
            created_window(d(2026, 3, 4), d(2026, 3, 5)),
            (
                ts(datetime!(2026-03-04 00:00 UTC)),
                ts(datetime!(2026-03-06 00:00 UTC))
            )
        );
    }

    #[test]
    fn the_forwarder_is_refused_past_the_logs_window_less_the_job_margin() {
        let now = ts(datetime!(2026-12-07 06:00 UTC));
        assert!(check_forwarder_window(now - 86_400, now).is_ok());
        let edge = now - LOGS_WINDOW_SECS + JOB_MARGIN_SECS;
        assert!(check_forwarder_window(edge, now).is_ok());
        let err = check_forwarder_window(edge - 1, now).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("14 days") && text.contains("--function alerter"),
            "{text}"
        );
    }

    #[test]
    fn the_token_is_stable_and_names_every_field() {
        let a = request_token(&[("function", "alerter"), ("start", "1")]);
        assert_eq!(a.len(), 64);
        assert_eq!(a, request_token(&[("function", "alerter"), ("start", "1")]));
        assert_ne!(a, request_token(&[("function", "alerter"), ("start", "2")]));
        // Field boundaries count: "ab"+"c" is not "a"+"bc".
        assert_ne!(
            request_token(&[("x", "ab"), ("y", "c")]),
            request_token(&[("x", "a"), ("y", "bc")])
        );
    }
}
