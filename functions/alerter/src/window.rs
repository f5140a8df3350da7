//! Windowed thresholds across files (rules with a `period`; the counting model is
//! `trailwatch_shared::alert::window_alert`): after a log file was read to its end, its matches
//! are added to the state table's window counters, and a window that reaches its rule's
//! threshold raises one alert.
//!
//! Per log file and windowed rule, for each window the file's matches fall in:
//! 1. `add_to_window(window, contribution = the object version's id, count, samples)`: counted
//!    once per file version, however often the file is delivered or retried.
//! 2. Whether this file must see to the window's alert:
//!    - the count crossed the threshold now (`before < threshold <= after`): this file reached it;
//!    - the file was counted before (`before == after`, a retry or a repeated delivery) and the
//!      window is at or over the threshold: this file may be the one that reached it and failed to
//!      publish, and the totals cannot tell — so it checks;
//!    - otherwise (below the threshold, or a new contribution to a window already over it): no.
//! 3. The window's alert is its own unit of work in the state table ([`window_work`]: a record
//!    per rule, account, region and window, with a lease, the published alert id and completion,
//!    through the same [`AlertLedger`] as the per-file alerts). Claimed: publish the alert (id
//!    `RULE@WINDOW_START`) unless recorded, then complete. Completed: it is out, nothing to do.
//!    Held by another invocation right now: fail this file (retried later) rather than trust an
//!    attempt that may still fail.
//!
//! So the alert is published once per window, whichever file crosses it, and never lost: a file
//! whose publish failed fails, and its retry (already counted, window over the threshold) finds
//! the window's unit not completed and publishes. Residual windows, stated honestly:
//! - a crash or failed state write between SNS's acceptance and the record repeats that alert
//!   once (as for per-file alerts);
//! - a file that cannot be read to its end adds nothing to any window (a partial count could
//!   never be corrected: the contribution is counted once); it fails and its retry adds the
//!   whole file. A file that never reads to its end (it lands in the failure queue) is not
//!   counted;
//! - counters and the window's unit expire `STATE_TTL_DAYS` after the window (the failure
//!   queues keep events 14 days); a redrive after that counts the file afresh.

use serde_json::json;
use trailwatch_lambda_common::failure::ObjectFailure;
use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_lambda_common::sns::once::{AlertLedger, Claimed, OnceError, Sent};
use trailwatch_lambda_common::state::{StateError, StateStore, WindowKey, WindowTotal, WorkKey};
use trailwatch_shared::alert::rule_alert::FileContext;
use trailwatch_shared::alert::scan::FileScan;
use trailwatch_shared::alert::window_alert::{
    Contribution, MAX_WINDOW_SAMPLES, WindowReport, WindowSample, contribution_id, window_alert,
    window_alert_id,
};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::rules::Rule;
use trailwatch_shared::rules::config::LoadedRules;

const FUNCTION: &str = "alerter";

/// A rule with a period needs counters shared by every container: the state table. Without it
/// (`STATE_TABLE` unset: memory), each container would count alone and a window would silently
/// never reach its threshold, so cold start fails instead, naming the rule.
#[derive(Debug, thiserror::Error)]
#[error(
    "rule {rule_id:?} has a period: windowed thresholds count across files and invocations in the \
     state table, so STATE_TABLE must be set (or remove the rule's period)"
)]
pub struct NeedsStateTable {
    pub rule_id: String,
}

/// `Err` when a rule has a period and the store is not shared (`shared_store` false).
pub fn require_state_table(rules: &LoadedRules, shared_store: bool) -> Result<(), NeedsStateTable> {
    match rules.rules().iter().find(|r| r.period.is_some()) {
        Some(rule) if !shared_store => Err(NeedsStateTable {
            rule_id: rule.id.clone(),
        }),
        _ => Ok(()),
    }
}

/// The unit of work of one window's alert: `alerter#s3:///window#RULE#ACCOUNT#REGION#PERIOD#START#-`
/// (no bucket: it names no object, and so never collides with a file's record; it starts with
/// the function's name, as the table policy's `dynamodb:LeadingKeys` condition requires).
pub fn window_work(window: &WindowKey) -> WorkKey {
    WorkKey {
        function: FUNCTION,
        bucket: String::new(),
        key: window.partition_key(),
        version: "-".to_owned(),
    }
}

/// What adding one file to its windows did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WindowTally {
    /// Windows this file version was added to now.
    pub contributions: usize,
    /// Windows that had counted this file version before (a retry or a repeated delivery).
    pub already_counted: usize,
    /// Window alerts this attempt published.
    pub alerts_published: usize,
    /// Window alerts found already published (by this file's earlier attempt or another file).
    pub alerts_already_out: usize,
    /// Matches of windowed rules not placed in a window (no readable eventTime, or too many
    /// windows in one file).
    pub matches_unplaced: u64,
}

/// Why a file's windows could not all be brought up to date; the file fails and is retried
/// (its contributions already counted are not counted again).
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// The state table failed (counter, or the window alert's record).
    #[error("window {window}: state table: {source}")]
    State {
        window: String,
        #[source]
        source: StateError,
    },
    /// The window alert could not be published (or went out unrecorded).
    #[error("window alert {alert_id}: {source}")]
    Publish {
        alert_id: String,
        #[source]
        source: OnceError,
    },
    /// Another invocation holds the window alert's unit right now.
    #[error(
        "window alert {alert_id} is being published by another invocation (lease until {lease_until_ms} ms); retried later"
    )]
    InProgress {
        alert_id: String,
        lease_until_ms: i64,
    },
}

impl ObjectFailure for WindowError {
    fn permission_denied(&self) -> bool {
        match self {
            WindowError::State { source, .. } => source.permission_denied(),
            WindowError::Publish { source, .. } => source.permission_denied(),
            WindowError::InProgress { .. } => false,
        }
    }
}

/// The failures of one file's windows (each window is attempted, whatever the others did).
#[derive(Debug, thiserror::Error)]
#[error("{} of the file's window update(s) failed: {}", .errors.len(), join(.errors))]
pub struct WindowFailures {
    pub errors: Vec<WindowError>,
    /// What did succeed, for the metrics.
    pub tally: WindowTally,
}

fn join(errors: &[WindowError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ObjectFailure for WindowFailures {
    /// Only when every failure was a refusal: one transient fault makes the retry worth it.
    fn permission_denied(&self) -> bool {
        !self.errors.is_empty() && self.errors.iter().all(ObjectFailure::permission_denied)
    }
}

/// Adds `scan`'s windowed matches (a file read to its end) to their windows and publishes the
/// alert of every window this file must see to (module documentation). `version` names the
/// object version (`WorkKey::version`).
pub async fn add_file_to_windows<P: AlertPublisher + ?Sized, T: StateStore>(
    ledger: &AlertLedger<T>,
    publisher: &P,
    rules: &LoadedRules,
    scan: &FileScan,
    file: &FileContext,
    version: &str,
) -> Result<WindowTally, WindowFailures> {
    let mut tally = WindowTally::default();
    let mut errors = Vec::new();
    let contribution = contribution_id(&file.bucket, &file.key, version);
    for (rule, windowed) in rules.rules().iter().zip(&scan.windowed) {
        let Some(period) = rule.period else { continue };
        let unplaced = windowed.undated + windowed.overflow;
        if unplaced > 0 {
            tracing::warn!(object = %file.uri(), rule_id = %rule.id, undated = windowed.undated,
                overflow = windowed.overflow, "matches of a windowed rule not placed in a window");
            tally.matches_unplaced += unplaced;
        }
        for c in windowed.contributions(period, file) {
            if let Err(e) =
                add_one(ledger, publisher, rule, &c, file, &contribution, &mut tally).await
            {
                tracing::error!(object = %file.uri(), rule_id = %rule.id, window_start = c.window_start,
                    error = %e, "window not brought up to date");
                errors.push(e);
            }
        }
    }
    emit_metrics(&tally, file);
    if errors.is_empty() {
        Ok(tally)
    } else {
        Err(WindowFailures { errors, tally })
    }
}

async fn add_one<P: AlertPublisher + ?Sized, T: StateStore>(
    ledger: &AlertLedger<T>,
    publisher: &P,
    rule: &Rule,
    c: &Contribution,
    file: &FileContext,
    contribution: &str,
    tally: &mut WindowTally,
) -> Result<(), WindowError> {
    let window = WindowKey {
        rule_id: rule.id.clone(),
        account: c.account.clone(),
        region: c.region.clone(),
        period_secs: c.period,
        window_start: c.window_start,
    };
    let samples = c.samples.iter().map(WindowSample::to_stored).collect();
    let expires_at = c.window_end().saturating_add(ledger.record_ttl_secs);
    let total = ledger
        .store
        .add_to_window(
            &window,
            contribution,
            c.count,
            samples,
            MAX_WINDOW_SAMPLES,
            expires_at,
        )
        .await
        .map_err(|source| WindowError::State {
            window: window.partition_key(),
            source,
        })?;
    let counted_now = total.after > total.before;
    if counted_now {
        tally.contributions += 1;
    } else {
        tally.already_counted += 1;
    }
    let must_check = if counted_now {
        total.before < rule.threshold && rule.threshold <= total.after
    } else {
        total.after >= rule.threshold
    };
    tracing::info!(object = %file.uri(), rule_id = %rule.id, account = %c.account, region = %c.region,
        window_start = c.window_start, period = c.period, matches = c.count, counted_now,
        before = total.before, after = total.after, threshold = rule.threshold,
        alert = must_check, "window contribution");
    if must_check {
        see_to_alert(ledger, publisher, rule, &window, &total, file, tally).await?;
    }
    Ok(())
}

/// Publishes the window's alert unless its unit says it is out.
async fn see_to_alert<P: AlertPublisher + ?Sized, T: StateStore>(
    ledger: &AlertLedger<T>,
    publisher: &P,
    rule: &Rule,
    window: &WindowKey,
    total: &WindowTotal,
    file: &FileContext,
    tally: &mut WindowTally,
) -> Result<(), WindowError> {
    let alert_id = window_alert_id(&rule.id, window.window_start);
    let state_error = |source| WindowError::State {
        window: window.partition_key(),
        source,
    };
    let mut attempt = match ledger
        .claim(window_work(window))
        .await
        .map_err(state_error)?
    {
        Claimed::Acquired(attempt) => attempt,
        Claimed::Completed { .. } => {
            tally.alerts_already_out += 1;
            return Ok(());
        }
        Claimed::InProgress { lease_until_ms } => {
            return Err(WindowError::InProgress {
                alert_id,
                lease_until_ms,
            });
        }
    };
    let samples: Vec<WindowSample> = total
        .samples
        .iter()
        .map(|s| WindowSample::from_stored(s))
        .collect();
    let message = window_alert(
        rule,
        &WindowReport {
            account: &window.account,
            region: &window.region,
            period: window.period_secs,
            window_start: window.window_start,
            count: total.after,
            samples: &samples,
            log_file: file,
        },
    );
    let sent = match attempt.publish(publisher, &alert_id, &message).await {
        Ok(sent) => sent,
        Err(source) => {
            attempt.release().await;
            return Err(WindowError::Publish { alert_id, source });
        }
    };
    match &sent {
        Sent::Published { message_id } => {
            tally.alerts_published += 1;
            tracing::info!(rule_id = %rule.id, alert_id = %alert_id, message_id = %message_id,
                count = total.after, subject = %message.subject, "window alert published");
        }
        Sent::AlreadyPublished => tally.alerts_already_out += 1,
    }
    let outcome = json!({"alert_id": alert_id, "count": total.after, "log_file": file.uri()});
    if let Err(source) = attempt.complete(&outcome.to_string()).await {
        // The alert is out and recorded: a retry finds it published and only completes.
        attempt.release().await;
        return Err(state_error(source));
    }
    Ok(())
}

fn emit_metrics(tally: &WindowTally, file: &FileContext) {
    if *tally == WindowTally::default() {
        return;
    }
    MetricLine::new(crate::handler::METRIC_NAMESPACE)
        .dimension("Function", FUNCTION)
        .count("WindowContributions", tally.contributions as u64)
        .count("WindowContributionsRepeated", tally.already_counted as u64)
        .count("WindowAlerts", tally.alerts_published as u64)
        .count("WindowMatchesUnplaced", tally.matches_unplaced)
        .property("object", file.uri())
        .emit();
}
