//! The hourly range check: the heartbeat that notices what no new object announces.
//!
//! A digest is verified as it lands, but a deleted newest digest, a log no digest lists, or a
//! trail that stopped delivering announce nothing. EventBridge Scheduler therefore invokes the
//! verifier every hour with
//! `{"trailwatchRangeCheck": {"bucket": "B", "prefix": "P", "hours": 3}}`; for every account and
//! region found under the trail's prefix, the verifier runs the range verification that
//! `trailwatch verify` runs (shared's `verify_range`) over the last `hours` and alerts on its
//! findings: `CHAIN_HEAD_STALE` (no digest for more than 1 h 15 min), `DIGEST_MISSING` (none in
//! the window), chain gaps, `LOG_UNREFERENCED` (injected log files). Every completed check emits
//! `RangeChecksCompleted`, on which an alarm treats missing data as breaching: a schedule that
//! stopped running is noticed too.
//!
//! A repeat of the same window does not alert again on the same findings: when the window's end
//! is fixed by the payload (`end`, or `scheduledTime`: the schedule's
//! `<aws.scheduler.scheduled-time>`, the same for Lambda's retries and a redrive of that
//! invocation), each chain's alert is a unit of work `range:<end>:<finding set>` in the state
//! table (`crate::alert_ids`), published once. A window that ends "now" (a payload with neither)
//! differs on every run, so there is nothing to deduplicate and nothing is recorded.

use std::future::Future;

use serde::Deserialize;
use serde_json::{Value, json};
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::intake::{InvocationError, ItemsFailed};
use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_lambda_common::state::StateStore;
use trailwatch_shared::alert::digest::{self as alert, AlertContext};
use trailwatch_shared::digest::{
    DigestStore, PublicKeySource, RangeRequest, StoreError, Verdict, VerifyError, verify_range,
};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::records::parse_event_time;
use trailwatch_shared::trigger::TriggerError;

use crate::alert_ids::range_work;
use crate::handler::{DigestVerifier, METRIC_NAMESPACE};

/// The key of a range-check payload.
pub const PAYLOAD_KEY: &str = "trailwatchRangeCheck";
/// Digest delivery lags the hour it covers: the window ends this long before "now", so a digest
/// still on its way is not called stale.
pub const DELIVERY_SLACK_SECS: i64 = 10 * 60;
const MAX_HOURS: u32 = 7 * 24;

/// What the schedule asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeCheckRequest {
    /// The trail bucket.
    pub bucket: String,
    /// The trail's `S3KeyPrefix` (empty or absent for none).
    #[serde(default)]
    pub prefix: Option<String>,
    /// How many hours back the window reaches (default 3).
    #[serde(default = "default_hours")]
    pub hours: u32,
    /// End of the window in Unix seconds (default: `scheduledTime`, else now, minus the
    /// delivery slack). For replays and tests; the schedule leaves it out.
    #[serde(default)]
    pub end: Option<i64>,
    /// When the schedule fired, RFC 3339 (`2022-03-22T18:59:43Z`): the schedule's input sets it
    /// to `<aws.scheduler.scheduled-time>`, so every retry and redrive of one scheduled check
    /// covers the same window, and their alerts are deduplicated.
    #[serde(default, rename = "scheduledTime")]
    pub scheduled_time: Option<String>,
}

impl RangeCheckRequest {
    /// The window's end when the payload fixes it: `end`, else `scheduledTime` minus the slack.
    pub fn fixed_end(&self) -> Option<i64> {
        self.end.or_else(|| {
            let t = self.scheduled_time.as_deref()?;
            Some(parse_event_time(t.as_bytes())? / 1000 - DELIVERY_SLACK_SECS)
        })
    }
}

fn default_hours() -> u32 {
    3
}

/// The range-check request in `payload`, `None` when the payload is something else (an S3
/// event), or an error naming what is wrong with it.
pub fn request(payload: &Value) -> Option<Result<RangeCheckRequest, InvocationError>> {
    let body = payload.get(PAYLOAD_KEY)?;
    let malformed = |detail: String| {
        InvocationError::Trigger(TriggerError::Malformed {
            shape: "range check",
            detail,
        })
    };
    Some(
        serde_json::from_value::<RangeCheckRequest>(body.clone())
            .map_err(|e| malformed(e.to_string()))
            .and_then(|r| match r.hours {
                0 => Err(malformed("`hours` must be at least 1".into())),
                h if h > MAX_HOURS => {
                    Err(malformed(format!("`hours` must be at most {MAX_HOURS}")))
                }
                _ if r.bucket.is_empty() => Err(malformed("`bucket` is empty".into())),
                _ if let Some(t) = r.scheduled_time.as_deref()
                    && parse_event_time(t.as_bytes()).is_none() =>
                {
                    Err(malformed(format!(
                        "`scheduledTime` {t:?} is not an RFC 3339 time (2022-03-22T18:59:43Z)"
                    )))
                }
                _ => Ok(r),
            }),
    )
}

/// One account and region of the trail: where a chain of digests lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChainLocation {
    /// `o-…` for an organization trail.
    pub organization_id: Option<String>,
    /// The 12-digit account.
    pub account: String,
    /// The region folder under `CloudTrail-Digest/`.
    pub region: String,
}

/// Lists the "folders" (common prefixes) right under a prefix: how the accounts and regions of a
/// trail are found without listing every object.
pub trait TrailFolders: Sync {
    /// The child folder names under `prefix` (which ends in `/`), without the prefix or `/`.
    fn folders(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// `[prefix/]AWSLogs/`.
fn logs_root(prefix: Option<&str>) -> String {
    match prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(p) => format!("{p}/AWSLogs/"),
        None => "AWSLogs/".into(),
    }
}

fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Every account and region with a digest folder under the trail's prefix (organization trails:
/// `AWSLogs/o-…/<account>/`).
pub async fn discover<F: TrailFolders>(
    folders: &F,
    bucket: &str,
    prefix: Option<&str>,
) -> Result<Vec<ChainLocation>, StoreError> {
    let root = logs_root(prefix);
    let mut accounts: Vec<(Option<String>, String, String)> = Vec::new();
    for child in folders.folders(bucket, &root).await? {
        if is_account(&child) {
            accounts.push((None, child.clone(), format!("{root}{child}/")));
        } else if child.starts_with("o-") {
            for account in folders.folders(bucket, &format!("{root}{child}/")).await? {
                if is_account(&account) {
                    let base = format!("{root}{child}/{account}/");
                    accounts.push((Some(child.clone()), account, base));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (organization_id, account, base) in accounts {
        for region in folders
            .folders(bucket, &format!("{base}CloudTrail-Digest/"))
            .await?
        {
            out.push(ChainLocation {
                organization_id: organization_id.clone(),
                account: account.clone(),
                region,
            });
        }
    }
    out.sort();
    Ok(out)
}

/// A chain that could not be checked (storage or key-service failure): not a verdict.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {source}")]
struct ChainFailed {
    location: String,
    source: VerifyError,
}

impl ObjectFailure for ChainFailed {
    fn permission_denied(&self) -> bool {
        matches!(self.source, VerifyError::AccessDenied { .. })
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs the range check: every chain of the trail, one alert per chain that fails.
pub async fn run<S, K, A, T, F>(
    verifier: &DigestVerifier<S, K, A, T>,
    folders: &F,
    request: RangeCheckRequest,
) -> Result<Value, InvocationError>
where
    S: DigestStore,
    K: PublicKeySource,
    A: AlertPublisher,
    T: StateStore,
    F: TrailFolders,
{
    let prefix = request
        .prefix
        .as_deref()
        .map(|p| p.trim_matches('/').to_owned())
        .filter(|p| !p.is_empty());
    let fixed_end = request.fixed_end();
    let end = fixed_end.unwrap_or_else(|| now() - DELIVERY_SLACK_SECS);
    let start = end - i64::from(request.hours) * 3600;
    let chains = discover(folders, &request.bucket, prefix.as_deref())
        .await
        .map_err(|e| {
            let failure = ChainFailed {
                location: format!("s3://{}/{}", request.bucket, logs_root(prefix.as_deref())),
                source: VerifyError::from_store(e, "the trail's folders".into()),
            };
            items_failed(1, vec![failure])
        })?;
    let mut failures = Vec::new();
    let mut verdicts = Vec::new();
    for chain in &chains {
        let range = RangeRequest {
            bucket: request.bucket.clone(),
            prefix: prefix.clone(),
            organization_id: chain.organization_id.clone(),
            account: chain.account.clone(),
            region: chain.region.clone(),
            trail_name: None,
            start,
            end,
            concurrency: verifier.config.max_concurrency,
        };
        let location = format!(
            "s3://{}/{}{}/CloudTrail-Digest/{}/",
            request.bucket,
            logs_root(prefix.as_deref()),
            chain
                .organization_id
                .as_ref()
                .map(|o| format!("{o}/{}", chain.account))
                .unwrap_or_else(|| chain.account.clone()),
            chain.region
        );
        match verify_range(&verifier.store, &verifier.keys, &range).await {
            Ok(report) => {
                let window = Window {
                    hours: request.hours,
                    fixed_end,
                };
                let alerted = alert_if_wanted(verifier, &report, chain, &location, window)
                    .await
                    .map_err(|e| items_failed(chains.len(), vec![e]))?;
                emit_chain_metrics(chain, &location, &report, alerted);
                verdicts.push(json!({
                    "account": chain.account, "region": chain.region,
                    "verdict": report.verdict.as_str(),
                    "codes": report.codes().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                }));
            }
            Err(source) => {
                tracing::error!(%location, error = %source, "range check could not complete");
                failures.push(ChainFailed { location, source });
            }
        }
    }
    if !failures.is_empty() {
        return Err(items_failed(chains.len(), failures));
    }
    MetricLine::new(METRIC_NAMESPACE)
        .dimension("Function", "digest-verifier")
        .count("RangeChecksCompleted", 1)
        .count("ChainsChecked", chains.len() as u64)
        .property("bucket", request.bucket.clone())
        .property("windowStart", start)
        .property("windowEnd", end)
        .emit();
    Ok(json!({"status": "ok", "rangeCheck": {"start": start, "end": end, "chains": verdicts}}))
}

fn items_failed(total: usize, failures: Vec<ChainFailed>) -> InvocationError {
    InvocationError::Items(ItemsFailed {
        total,
        permission_denied: failures.iter().filter(|f| f.permission_denied()).count(),
        failures: failures.iter().map(ToString::to_string).collect(),
    })
}

/// The window a chain was checked over, as its alert needs it.
#[derive(Debug, Clone, Copy)]
struct Window {
    hours: u32,
    /// The end, when the payload fixed it (the alert is then deduplicated).
    fixed_end: Option<i64>,
}

/// Publishes the chain's alert when its verdict calls for one (once per fixed window and finding
/// set); returns whether it published.
async fn alert_if_wanted<S, K, A, T>(
    verifier: &DigestVerifier<S, K, A, T>,
    report: &trailwatch_shared::digest::VerificationReport,
    chain: &ChainLocation,
    location: &str,
    window: Window,
) -> Result<bool, ChainFailed>
where
    S: DigestStore,
    K: PublicKeySource,
    A: AlertPublisher,
    T: StateStore,
{
    let wanted = match report.verdict {
        Verdict::Fail => true,
        Verdict::Warn => verifier.config.alert_on_warn,
        Verdict::Pass => false,
    };
    if !wanted {
        return Ok(false);
    }
    let subject_object = format!("{location} (range check, last {} h)", window.hours);
    let ctx = AlertContext {
        digest: &subject_object,
        account: &chain.account,
        region: &chain.region,
        trail: "every trail under the prefix",
    };
    let message = alert::build(report, &ctx);
    let failed = |message: String| ChainFailed {
        location: location.to_owned(),
        source: VerifyError::Infrastructure {
            object: location.to_owned(),
            message,
        },
    };
    let message_id = match window.fixed_end {
        None => verifier
            .alerts
            .publish(&message)
            .await
            .map_err(|e| failed(e.to_string()))?,
        Some(end) => {
            let work = range_work(location, end, report);
            let unit = format!("the range check of {location} ending {end}");
            match verifier
                .publish_once(work, RANGE_ALERT, &message, &unit)
                .await
                .map_err(|e| failed(e.to_string()))?
            {
                Some(message_id) => message_id,
                None => {
                    tracing::info!(%location, end,
                        "range check alert already published for this window and findings: not sent again");
                    MetricLine::new(METRIC_NAMESPACE)
                        .dimension("Function", "digest-verifier")
                        .count("RangeAlertsAlreadyPublished", 1)
                        .property("chain", location)
                        .emit();
                    return Ok(false);
                }
            }
        }
    };
    tracing::warn!(%location, verdict = %report.verdict, %message_id, "range check alert published");
    Ok(true)
}

/// The id of a range check alert within its unit (the unit names the window and findings).
const RANGE_ALERT: &str = "range";

fn emit_chain_metrics(
    chain: &ChainLocation,
    location: &str,
    report: &trailwatch_shared::digest::VerificationReport,
    alerted: bool,
) {
    let mut line = MetricLine::new(METRIC_NAMESPACE)
        .dimension("Function", "digest-verifier")
        .count("RangeDigestsVerified", report.digests_checked as u64)
        .count("AlertsPublished", u64::from(alerted))
        .property("chain", location)
        .property("account", chain.account.clone())
        .property("region", chain.region.clone())
        .property("verdict", report.verdict.as_str());
    for code in report.codes() {
        let n = report.findings.iter().filter(|f| f.code == code).count();
        line = line.count(code.as_str(), n as u64);
    }
    line.emit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_range_check_payload_is_recognised_and_checked() {
        assert!(request(&json!({"Records": []})).is_none());
        let r = request(&json!({PAYLOAD_KEY: {"bucket": "b"}}))
            .unwrap()
            .unwrap();
        assert_eq!(r.hours, 3);
        assert_eq!(r.prefix, None);
        for bad in [
            json!({PAYLOAD_KEY: {"bucket": "b", "hours": 0}}),
            json!({PAYLOAD_KEY: {"bucket": "b", "hours": 10_000}}),
            json!({PAYLOAD_KEY: {"bucket": ""}}),
            json!({PAYLOAD_KEY: {"bucket": "b", "hour": 3}}),
            json!({PAYLOAD_KEY: "b"}),
        ] {
            let err = request(&bad).unwrap().unwrap_err();
            assert_eq!(err.error_type(), "trailwatch.UnrecognisedTrigger", "{bad}");
        }
    }

    /// Folders as a map from prefix to children.
    struct Tree(BTreeMap<String, Vec<String>>);

    impl TrailFolders for Tree {
        async fn folders(&self, _bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
            Ok(self.0.get(prefix).cloned().unwrap_or_default())
        }
    }

    #[tokio::test]
    async fn accounts_organizations_and_regions_are_discovered_under_the_prefix() {
        let tree = Tree(BTreeMap::from([
            (
                "team/AWSLogs/".to_owned(),
                vec![
                    "111122223333".into(),
                    "o-abc123".into(),
                    "not-an-account".into(),
                ],
            ),
            (
                "team/AWSLogs/111122223333/CloudTrail-Digest/".to_owned(),
                vec!["us-east-1".into(), "eu-west-1".into()],
            ),
            (
                "team/AWSLogs/o-abc123/".to_owned(),
                vec!["444455556666".into()],
            ),
            (
                "team/AWSLogs/o-abc123/444455556666/CloudTrail-Digest/".to_owned(),
                vec!["ap-south-1".into()],
            ),
        ]));
        let found = discover(&tree, "b", Some("/team/")).await.unwrap();
        let names: Vec<(Option<&str>, &str, &str)> = found
            .iter()
            .map(|c| {
                (
                    c.organization_id.as_deref(),
                    c.account.as_str(),
                    c.region.as_str(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (None, "111122223333", "eu-west-1"),
                (None, "111122223333", "us-east-1"),
                (Some("o-abc123"), "444455556666", "ap-south-1"),
            ]
        );
        assert!(discover(&tree, "b", None).await.unwrap().is_empty());
    }
}
