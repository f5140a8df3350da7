//! Verification of every digest of one account/region between two times (`trailwatch verify`):
//! the digests and their logs, the links between them, a stale head, and unreferenced logs.

use super::chain::{PreviousState, fetch_previous, link_findings, restart_finding};
use super::check::{DigestCheck, DigestTarget, MAX_DIGEST_BYTES, check_digest_object};
use super::findings::{Finding, FindingCode, s3_uri};
use super::gzip::gunzip_member;
use super::logs::{plan_log_checks, run_log_checks};
use super::model::ParsedDigest;
use super::store::{DigestStore, PublicKeySource, StoreError};
use super::{VerificationReport, VerifyError};
use crate::layout::{KeyLocation, ObjectKind, classify};
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// The newest digest may end at most this long before the end of the range (one hourly digest
/// plus 15 minutes of delivery slack).
pub const HEAD_STALE_AFTER_SECS: i64 = 3600 + 15 * 60;
/// Log names carry the delivery minute and may straddle a digest boundary: the window in which
/// unreferenced logs are flagged is shrunk by this much at each end.
pub const UNREFERENCED_GRACE_SECS: i64 = 5 * 60;
/// Logs delivered before the end of the range can be listed by the next hour's digest.
const LISTING_SLACK_SECS: i64 = 3600;

/// What to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// The trail bucket to list digests and logs in.
    pub bucket: String,
    /// `S3KeyPrefix`, without a trailing `/`.
    pub prefix: Option<String>,
    /// Set for organization trails (`AWSLogs/<o-id>/<account>/…`).
    pub organization_id: Option<String>,
    /// The account whose digests are verified (`AWSLogs/<account>/…`).
    pub account: String,
    /// The region folder the digests and logs sit in (`CloudTrail-Digest/<region>/`).
    pub region: String,
    /// Only digests of this trail (all trails delivering to the prefix when `None`).
    pub trail_name: Option<String>,
    /// Unix seconds.
    pub start: i64,
    /// End of the range, Unix seconds. Digests named up to one hour later are verified too, since
    /// logs delivered before the end can be listed by the next hour's digest.
    pub end: i64,
    /// How many objects (digests, logs) are read at the same time; 0 counts as 1.
    pub concurrency: usize,
}

impl RangeRequest {
    /// `[prefix/]AWSLogs/[o-id/]account/<kind>/region/`.
    fn base(&self, kind: &str) -> String {
        let mut base = String::new();
        if let Some(p) = self
            .prefix
            .as_deref()
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| !p.is_empty())
        {
            base.push_str(p);
            base.push('/');
        }
        base.push_str("AWSLogs/");
        if let Some(o) = &self.organization_id {
            base.push_str(o);
            base.push('/');
        }
        format!("{base}{}/{kind}/{}/", self.account, self.region)
    }

    fn matches(&self, loc: &KeyLocation) -> bool {
        let prefix = self
            .prefix
            .as_deref()
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| !p.is_empty());
        loc.prefix.as_deref() == prefix
            && loc.organization_id == self.organization_id
            && loc.account == self.account
            && loc.region == self.region
    }
}

/// Lists, verifies and cross-checks the range. Storage or key-service failures abort with an
/// error (exit status 2 in the CLI), never with findings.
pub async fn verify_range<S: DigestStore, K: PublicKeySource>(
    store: &S,
    keys: &K,
    request: &RangeRequest,
) -> Result<VerificationReport, VerifyError> {
    let concurrency = request.concurrency.max(1);
    let (listed, other_trails) = list_digests(store, request).await?;
    let mut checks: Vec<(i64, DigestCheck)> = stream::iter(listed)
        .map(|(time, target)| async move {
            check_digest_object(store, keys, &target)
                .await
                .map(|c| (time, c))
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    checks.sort_by(|a, b| (a.0, &a.1.target.key).cmp(&(b.0, &b.1.target.key)));
    let digests_checked = checks.len();

    let mut findings: Vec<Finding> = checks
        .iter()
        .flat_map(|(_, c)| c.findings.clone())
        .collect();
    let (log_checks, plan_findings) = plan_log_checks(checks.iter().map(|(_, c)| c));
    findings.extend(plan_findings);
    let logs_checked = log_checks.len();
    findings.extend(run_log_checks(store, log_checks, concurrency).await?);
    findings.extend(chain_findings(store, &checks, concurrency).await?);
    findings.extend(head_findings(request, &checks));
    let other_references =
        other_trail_references(store, &request.bucket, other_trails, concurrency).await?;
    findings.extend(unreferenced_logs(store, request, &checks, &other_references).await?);
    Ok(VerificationReport::new(
        findings,
        digests_checked,
        logs_checked,
    ))
}

/// Digest keys whose name time (= digest end) lies in `[start, end + 1h]`, listed per day folder
/// so that long histories are not listed whole: the requested trail's, and other trails' that
/// deliver to the same folders (their logs share the `CloudTrail/` folder).
async fn list_digests<S: DigestStore>(
    store: &S,
    request: &RangeRequest,
) -> Result<(Vec<(i64, DigestTarget)>, Vec<String>), VerifyError> {
    let base = request.base("CloudTrail-Digest");
    let last = request.end.saturating_add(LISTING_SLACK_SECS);
    let keys = list_day_folders(store, request, &base, request.start, last).await?;
    let mut ours = Vec::new();
    let mut others = Vec::new();
    for key in keys {
        let ObjectKind::Digest(d) = classify(&key) else {
            continue;
        };
        if !request.matches(&d.location) || !(request.start..=last).contains(&d.location.time) {
            continue;
        }
        if request
            .trail_name
            .as_ref()
            .is_some_and(|t| *t != d.trail_name)
        {
            others.push(key);
            continue;
        }
        let target = DigestTarget {
            bucket: request.bucket.clone(),
            key,
            region: d.location.region,
            backfill: d.backfill,
            version_id: None,
        };
        ours.push((d.location.time, target));
    }
    Ok((ours, others))
}

/// The log keys that other trails' digests list (read leniently; these digests are not verified).
async fn other_trail_references<S: DigestStore>(
    store: &S,
    bucket: &str,
    keys: Vec<String>,
    concurrency: usize,
) -> Result<Vec<String>, VerifyError> {
    let per_digest: Vec<Vec<String>> = stream::iter(keys)
        .map(|key| async move {
            let object = match store.get_object(bucket, &key, None).await {
                Ok(o) => o,
                Err(StoreError::NotFound | StoreError::Unreadable(_)) => return Ok(Vec::new()),
                Err(e) => return Err(VerifyError::from_store(e, s3_uri(bucket, &key))),
            };
            Ok(gunzip_member(&object.bytes, MAX_DIGEST_BYTES)
                .map(|g| {
                    ParsedDigest::parse(&g.content)
                        .log_references
                        .into_iter()
                        .map(|(_, k)| k)
                        .collect()
                })
                .unwrap_or_default())
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(per_digest.into_iter().flatten().collect())
}

async fn list_day_folders<S: DigestStore>(
    store: &S,
    request: &RangeRequest,
    base: &str,
    from: i64,
    to: i64,
) -> Result<Vec<String>, VerifyError> {
    let mut prefixes = Vec::new();
    let mut day = day_start(from);
    while day <= to {
        prefixes.push(format!("{base}{}/", day_folder(day)));
        day += 86_400;
    }
    let lists: Vec<Vec<String>> = stream::iter(prefixes)
        .map(|prefix| async move {
            store
                .list_keys(&request.bucket, &prefix)
                .await
                .map_err(|e| VerifyError::from_store(e, s3_uri(&request.bucket, &prefix)))
        })
        .buffer_unordered(request.concurrency.max(1))
        .try_collect()
        .await?;
    Ok(lists.into_iter().flatten().collect())
}

fn day_start(t: i64) -> i64 {
    t.div_euclid(86_400) * 86_400
}

fn day_folder(t: i64) -> String {
    let date = OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.date())
        .unwrap_or(time::Date::MIN);
    format!(
        "{:04}/{:02}/{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Unix seconds as RFC 3339 (`2024-01-02T03:04:05Z`); the number itself if out of range.
pub fn format_time(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Links between authentic digests and their predecessors, and restarts in mid-range.
async fn chain_findings<S: DigestStore>(
    store: &S,
    checks: &[(i64, DigestCheck)],
    concurrency: usize,
) -> Result<Vec<Finding>, VerifyError> {
    let by_location: HashMap<(&str, &str), &DigestCheck> = checks
        .iter()
        .map(|(_, c)| ((c.target.bucket.as_str(), c.target.key.as_str()), c))
        .collect();
    let mut findings = Vec::new();
    let mut to_fetch = Vec::new();
    for (time, check) in checks {
        let (true, Some(doc)) = (check.authentic, check.document.as_ref()) else {
            continue;
        };
        let uri = check.target.uri();
        match &doc.previous {
            None => {
                // The oldest digest of the range may simply be where the chain begins.
                let trail = trail_of(&check.target.key);
                let older_exists = checks.iter().any(|(t, c)| {
                    t < time
                        && c.target.backfill == check.target.backfill
                        && c.exists
                        && trail_of(&c.target.key) == trail
                });
                if older_exists {
                    findings.push(restart_finding(&uri, doc));
                }
            }
            Some(link) => match by_location.get(&(link.bucket.as_str(), link.object.as_str())) {
                // The predecessor's own findings already explain any mismatch.
                Some(prev) if prev.exists && prev.has_errors() => {}
                Some(prev) => findings.extend(link_findings(
                    &uri,
                    doc,
                    link,
                    &PreviousState::of_check(prev),
                )),
                // Owned, so the fetches below are `Send` futures for any caller (a Lambda
                // handler must be; closures over borrowed tuples are not provably so).
                None => to_fetch.push((uri, doc.clone(), link.clone())),
            },
        }
    }
    let fetched: Vec<Vec<Finding>> = stream::iter(to_fetch)
        .map(|(uri, doc, link)| async move {
            let previous = fetch_previous(store, &link).await?;
            Ok::<_, VerifyError>(link_findings(&uri, &doc, &link, &previous))
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    findings.extend(fetched.into_iter().flatten());
    Ok(findings)
}

/// The trail name in a digest key (digests of several trails can share a prefix).
fn trail_of(key: &str) -> Option<String> {
    match classify(key) {
        ObjectKind::Digest(d) => Some(d.trail_name),
        _ => None,
    }
}

/// The newest authentic digest of each trail must end close to the end of the range (a trail
/// that stopped delivering next to one that did not is still noticed); no digest at all is never
/// a success.
fn head_findings(request: &RangeRequest, checks: &[(i64, DigestCheck)]) -> Vec<Finding> {
    let mut newest: HashMap<Option<String>, (i64, &DigestCheck)> = HashMap::new();
    for (_, c) in checks
        .iter()
        .filter(|(_, c)| c.authentic && !c.target.backfill)
    {
        let Some(end) = c.document.as_ref().map(|d| d.end) else {
            continue;
        };
        let entry = newest.entry(trail_of(&c.target.key)).or_insert((end, c));
        if end > entry.0 {
            *entry = (end, c);
        }
    }
    if newest.is_empty() {
        if checks.iter().all(|(_, c)| !c.exists) {
            return vec![Finding::new(
                FindingCode::DigestMissing,
                s3_uri(&request.bucket, &request.base("CloudTrail-Digest")),
                format!(
                    "no digest files between {} and {}",
                    format_time(request.start),
                    format_time(request.end)
                ),
            )];
        }
        return Vec::new();
    }
    newest
        .into_values()
        .filter(|(end, _)| end + HEAD_STALE_AFTER_SECS < request.end)
        .map(|(end, check)| {
            Finding::new(
                FindingCode::ChainHeadStale,
                check.target.uri(),
                format!(
                    "the newest digest ends at {}, {} min before the end of the range {}: later digests are missing or delivery stopped",
                    format_time(end),
                    (request.end - end) / 60,
                    format_time(request.end)
                ),
            )
        })
        .collect()
}

/// Log files of the account/region inside the digests' window (shrunk by the grace period at
/// each end) that no digest lists.
async fn unreferenced_logs<S: DigestStore>(
    store: &S,
    request: &RangeRequest,
    checks: &[(i64, DigestCheck)],
    other_references: &[String],
) -> Result<Vec<Finding>, VerifyError> {
    let in_place_docs = checks.iter().filter_map(|(_, c)| {
        let doc = c.document.as_ref()?;
        let in_place = doc.s3_bucket == c.target.bucket && doc.s3_object == c.target.key;
        (in_place && !c.target.backfill).then_some(doc)
    });
    let (Some(window_start), Some(window_end)) =
        in_place_docs.fold((None::<i64>, None::<i64>), |(s, e), d| {
            (
                Some(s.map_or(d.start, |s| s.min(d.start))),
                Some(e.map_or(d.end, |e| e.max(d.end))),
            )
        })
    else {
        return Ok(Vec::new());
    };
    let (from, to) = (
        window_start + UNREFERENCED_GRACE_SECS,
        window_end - UNREFERENCED_GRACE_SECS,
    );
    if from > to {
        return Ok(Vec::new());
    }
    // Referenced by any digest that names it, authentic or not: an unverifiable digest is already
    // an error, and its logs are not "unreferenced".
    let referenced: HashSet<&str> = checks
        .iter()
        .flat_map(|(_, c)| c.log_references.iter().map(|(_, key)| key.as_str()))
        .chain(other_references.iter().map(String::as_str))
        .collect();
    let base = request.base("CloudTrail");
    let keys = list_day_folders(store, request, &base, from, to).await?;
    let mut findings: Vec<Finding> = keys
        .iter()
        .filter(|key| match classify(key) {
            ObjectKind::LogFile(l) => {
                request.matches(&l.location) && (from..=to).contains(&l.location.time)
            }
            _ => false,
        })
        .filter(|key| !referenced.contains(key.as_str()))
        .map(|key| {
            Finding::new(
                FindingCode::LogUnreferenced,
                s3_uri(&request.bucket, key),
                format!(
                    "no digest between {} and {} lists this log file",
                    format_time(window_start),
                    format_time(window_end)
                ),
            )
        })
        .collect();
    findings.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(findings)
}
