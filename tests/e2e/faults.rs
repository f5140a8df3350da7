//! Fault injection for all three functions (issue 17, item 6): each function binary runs with a
//! fault proxy as its AWS endpoint (`trailwatch_e2e::faults`), one fault per cell on one of its
//! dependencies; the event is delivered again as Lambda's retries and a redrive would, until it
//! succeeds or four deliveries were made; then the invariants are checked:
//!
//! - every delivered object ends completed (exact counts) or failed with a cause naming it;
//! - no event lost, no duplicate in CloudWatch Logs beyond the one batch whose PutLogEvents
//!   answer was lost ("forward, drop answer");
//! - no alert lost, none twice beyond the one whose Publish answer was lost, none the fault-free
//!   run did not raise (a transient fault is never a tamper verdict; verdicts are compared too);
//! - counts reconcile on every EMF file line (in = forwarded + filtered + rejected).
//!
//! Run with `--nocapture` to see the fault × function → outcome table it prints. Cells run
//! concurrently (one moto per function, one proxy, bucket or topic and state table per cell).

#[path = "faults/alerter.rs"]
mod alerter;
#[path = "faults/alerts.rs"]
mod alerts;
#[path = "faults/forwarder.rs"]
mod forwarder;
#[path = "faults/harness.rs"]
mod harness;
#[path = "faults/proxy_checks.rs"]
mod proxy_checks;
#[path = "faults/table.rs"]
mod table;
#[path = "faults/verifier.rs"]
mod verifier;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, stream};
use harness::{
    CellResult, FaultCase, cut_body, forward_then_drop, forward_then_stall, transient_faults,
};
use trailwatch_e2e::Moto;
use trailwatch_e2e::faults::{Exchange, Fault, Occurrence, Rule};

/// Cells in flight at once: most of a cell's time is the SDK's retry backoff, not CPU.
const CONCURRENCY: usize = 10;

/// One cell: a function, a dependency (service + operation) and a fault.
struct Spec {
    function: &'static str,
    dependency: String,
    case: FaultCase,
    rules: Vec<Rule>,
}

fn specs(
    function: &'static str,
    service: &str,
    operation: &str,
    cases: Vec<FaultCase>,
) -> Vec<Spec> {
    cases
        .into_iter()
        .map(|case| Spec {
            function,
            dependency: format!("{service} {operation}"),
            rules: vec![case.rule(service, operation)],
            case,
        })
        .collect()
}

/// Pins every spec's rule to requests whose path (S3 key) or body (a Publish) contains `part`,
/// so that all attempts of one call meet the fault even when the function makes several such
/// calls at once (otherwise five failures spread over five objects never exhaust a retry budget).
fn pinned(specs: Vec<Spec>, on_path: Option<&str>, on_body: Option<&str>) -> Vec<Spec> {
    specs
        .into_iter()
        .map(|mut s| {
            s.rules = s
                .rules
                .into_iter()
                .map(|mut r| {
                    if let Some(p) = on_path {
                        r = r.on_path(p);
                    }
                    if let Some(b) = on_body {
                        r = r.on_body(b);
                    }
                    r
                })
                .collect();
            s
        })
        .collect()
}

/// The state-table calls a fault-free run made, as cells; a function that makes none has not
/// implemented issue 17's state table yet, which is itself a failed requirement.
fn state_table_specs(
    function: &'static str,
    baseline: &[Exchange],
    pin: Option<&str>,
    missing: &mut Vec<CellResult>,
) -> Vec<Spec> {
    let ops: Vec<String> = baseline
        .iter()
        .filter(|e| e.call.service == "dynamodb")
        .map(|e| e.call.operation.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if ops.is_empty() {
        let mut cell = CellResult::new(function, "dynamodb (state table)", "any");
        cell.violations.push(
            "the fault-free run made no DynamoDB call: the function does not use STATE_TABLE \
             (exactly-once processing, issue 17 items 2-4)"
                .into(),
        );
        missing.push(cell);
    }
    let mut out = Vec::new();
    for op in ops {
        let mut cases = transient_faults(1);
        cases.push(forward_then_drop(1));
        cases.push(forward_then_stall(1));
        // Pinned to one object's records (its key is in the request), so that five faults
        // meet one call's five attempts rather than five objects' first attempts.
        out.extend(pinned(specs(function, "dynamodb", &op, cases), None, pin));
    }
    out
}

/// One cell with a seeded 15 % fault chance on every call the fault-free run made.
fn chaos(function: &'static str, baseline: &[Exchange]) -> Spec {
    let calls: std::collections::BTreeSet<(String, String)> = baseline
        .iter()
        .map(|e| (e.call.service.clone(), e.call.operation.clone()))
        .collect();
    let rules: Vec<Rule> = calls
        .iter()
        .enumerate()
        .map(|(i, (service, operation))| {
            let fault = if i % 2 == 0 {
                Fault::ServerError
            } else {
                Fault::Reset
            };
            let when = Occurrence::Probability {
                per_mille: 150,
                seed: 17 + i as u64,
            };
            Rule::new(service, operation, when, fault)
        })
        .collect();
    Spec {
        function,
        dependency: "every call".into(),
        case: FaultCase {
            label: "15 % 5xx or reset (seeded)",
            when: Occurrence::Every,
            fault: Fault::ServerError,
        },
        rules,
    }
}

/// FAULTS_DUMP=<dir> keeps each cell's function output (logs, EMF) as `<dir>/<cell>.log`, for
/// investigating a cell.
fn dump(cell: &CellResult, id: &str, delivery: &harness::Delivery) {
    if let Some(dir) = std::env::var_os("FAULTS_DUMP") {
        let name = format!("{id}-{}.log", cell.function);
        let text = format!(
            "{} / {} / {}: {}\n{}",
            cell.function,
            cell.dependency,
            cell.fault,
            delivery.path(),
            delivery.stdout
        );
        std::fs::write(std::path::Path::new(&dir).join(name), text).expect("write the dump");
    }
}

/// How many calls of each (service, operation) a run made.
fn call_counts(exchanges: &[Exchange]) -> BTreeMap<String, usize> {
    harness::counts(
        exchanges
            .iter()
            .map(|e| format!("{} {}", e.call.service, e.call.operation)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_matrix_of_all_three_functions() {
    let started = Instant::now();
    let (fwd_moto, alr_moto, ver_moto) = (Moto::start(), Moto::start(), Moto::start());
    let file = Arc::new(forwarder::trail_file());
    let files = Arc::new(alerter::files());
    let chain = verifier::upload_chain(&ver_moto).await;

    // The fault-free runs: the reference every cell is compared with.
    let (fwd_base, alr_base, ver_base) = tokio::join!(
        forwarder::run(&fwd_moto, "base", &file, vec![]),
        alerter::run(&alr_moto, "base", &files, vec![]),
        verifier::run(&ver_moto, "base", &chain, vec![]),
    );
    assert_eq!(
        fwd_base.delivery.path(),
        "ok",
        "{}",
        fwd_base.delivery.stdout
    );
    assert_eq!(
        alr_base.delivery.path(),
        "ok",
        "{}",
        alr_base.delivery.stdout
    );
    assert_eq!(
        ver_base.delivery.path(),
        "ok",
        "{}",
        ver_base.delivery.stdout
    );
    // Negative controls: the reference is not empty, so "same as the reference" means something.
    assert_eq!(
        fwd_base.stored.len(),
        file.records.len(),
        "fault-free run forwards every record"
    );
    assert_eq!(
        alr_base.alerts.len(),
        5,
        "two files, five alerts: {:?}",
        alr_base.alerts
    );
    assert_eq!(
        ver_base.alerts.len(),
        1,
        "one tampered digest: {:?}",
        ver_base.alerts
    );
    let mut baseline_cells = Vec::new();
    let mut cell = CellResult::new("forwarder", "(none)", "fault-free reference");
    forwarder::check(&mut cell, &file, &fwd_base);
    cell.violations
        .retain(|v| !v.starts_with("the fault never fired"));
    baseline_cells.push(cell);
    let mut cell = CellResult::new("alerter", "(none)", "fault-free reference");
    alerter::check(&mut cell, &files, &alr_base, &alr_base);
    cell.violations
        .retain(|v| !v.starts_with("the fault never fired"));
    baseline_cells.push(cell);
    let mut cell = CellResult::new("digest-verifier", "(none)", "fault-free reference");
    verifier::check(&mut cell, &chain, &ver_base, &ver_base);
    cell.violations
        .retain(|v| !v.starts_with("the fault never fired"));
    baseline_cells.push(cell);
    let put_log_events = fwd_base
        .exchanges
        .iter()
        .filter(|e| e.call.operation == "PutLogEvents")
        .count();
    assert!(
        put_log_events >= 2,
        "the file needs several batches to fault the second one"
    );

    let mut all = Vec::new();
    let mut cells = Vec::new();
    // Forwarder.
    let mut s3_faults = transient_faults(1);
    s3_faults.push(cut_body(file.gz.len() * 6 / 10));
    all.extend(specs("forwarder", "s3", "GetObject", s3_faults));
    let mut put_faults = transient_faults(2);
    put_faults.push(forward_then_drop(2));
    put_faults.push(forward_then_stall(2));
    all.extend(specs("forwarder", "logs", "PutLogEvents", put_faults));
    all.extend(specs(
        "forwarder",
        "logs",
        "CreateLogStream",
        vec![forward_then_drop(1)],
    ));
    all.extend(state_table_specs(
        "forwarder",
        &fwd_base.exchanges,
        None,
        &mut cells,
    ));
    // Alerter.
    let mut s3_faults = transient_faults(1);
    s3_faults.push(cut_body(files.smallest_gz() / 2));
    all.extend(pinned(
        specs("alerter", "s3", "GetObject", s3_faults),
        Some(alerter::PINNED_FILE),
        None,
    ));
    // One alert (StopLogging, CloudWatch.5) of five published at once.
    let mut publish_faults = transient_faults(1);
    publish_faults.push(forward_then_drop(1));
    publish_faults.push(forward_then_stall(1));
    all.extend(pinned(
        specs("alerter", "sns", "Publish", publish_faults),
        None,
        Some("CloudWatch.5"),
    ));
    all.extend(state_table_specs(
        "alerter",
        &alr_base.exchanges,
        Some(alerter::PINNED_FILE),
        &mut cells,
    ));
    // Digest verifier.
    // A log file the chain lists: a failed read of it must stay an error, never LOG_UNREADABLE
    // or LOG_HASH_MISMATCH; and the digest whose verdict is FAIL.
    let mut s3_faults = transient_faults(1);
    s3_faults.push(cut_body(100));
    all.extend(pinned(
        specs("digest-verifier", "s3", "GetObject", s3_faults),
        Some(&chain.listed_log),
        None,
    ));
    if ver_base
        .exchanges
        .iter()
        .any(|e| e.call.operation == "ListObjectVersions")
    {
        all.extend(specs(
            "digest-verifier",
            "s3",
            "ListObjectVersions",
            transient_faults(1),
        ));
    }
    all.extend(specs(
        "digest-verifier",
        "cloudtrail",
        "ListPublicKeys",
        transient_faults(1),
    ));
    let mut publish_faults = transient_faults(1);
    publish_faults.push(forward_then_drop(1));
    publish_faults.push(forward_then_stall(1));
    all.extend(specs("digest-verifier", "sns", "Publish", publish_faults));
    all.extend(state_table_specs(
        "digest-verifier",
        &ver_base.exchanges,
        Some(chain.alerting_digest()),
        &mut cells,
    ));

    // Chaos: every call of every dependency a fault-free run made fails with a seeded 15 %
    // chance (5xx or reset, alternating by dependency), all at once.
    for (function, base) in [
        ("forwarder", &fwd_base.exchanges),
        ("alerter", &alr_base.exchanges),
        ("digest-verifier", &ver_base.exchanges),
    ] {
        all.push(chaos(function, base));
    }

    // FAULTS_ONLY=<text> runs only the cells whose "function / dependency / fault" contains it
    // (while investigating one cell); the table's header says so.
    let only = std::env::var("FAULTS_ONLY").ok();
    if let Some(only) = &only {
        all.retain(|s| {
            format!("{} / {} / {}", s.function, s.dependency, s.case.label).contains(only.as_str())
        });
        cells.clear();
    }
    let total = all.len();
    let results: Vec<CellResult> = stream::iter(all.into_iter().enumerate())
        .map(|(i, spec)| {
            let (fwd_moto, alr_moto, ver_moto) = (&fwd_moto, &alr_moto, &ver_moto);
            let (file, files, chain) = (&file, &files, &chain);
            let (alr_base, ver_base) = (&alr_base, &ver_base);
            async move {
                let id = format!("c{i}");
                let mut cell = CellResult::new(spec.function, &spec.dependency, spec.case.label);
                match spec.function {
                    "forwarder" => {
                        let run = forwarder::run(fwd_moto, &id, file, spec.rules).await;
                        dump(&cell, &id, &run.delivery);
                        forwarder::check(&mut cell, file, &run);
                    }
                    "alerter" => {
                        let run = alerter::run(alr_moto, &id, files, spec.rules).await;
                        dump(&cell, &id, &run.delivery);
                        alerter::check(&mut cell, files, alr_base, &run);
                    }
                    _ => {
                        let run = verifier::run(ver_moto, &id, chain, spec.rules).await;
                        dump(&cell, &id, &run.delivery);
                        verifier::check(&mut cell, chain, ver_base, &run);
                    }
                }
                cell
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    cells.extend(baseline_cells);
    cells.extend(results);
    // Table order: by function's dependency list as built, stable.
    let order = |c: &CellResult| {
        (
            c.dependency != "(none)",
            c.dependency.clone(),
            c.fault.clone(),
        )
    };
    cells.sort_by_key(order);

    println!(
        "\nFault × function → outcome ({total} cells + reference{}, {:.0} s):\n{}",
        only.as_deref()
            .map(|o| format!(", only cells matching FAULTS_ONLY={o:?}"))
            .unwrap_or_default(),
        started.elapsed().as_secs_f64(),
        table::render(&cells)
    );
    for (function, base) in [
        ("forwarder", &fwd_base.exchanges),
        ("alerter", &alr_base.exchanges),
        ("digest-verifier", &ver_base.exchanges),
    ] {
        println!(
            "calls of the fault-free {function} run: {:?}",
            call_counts(base)
        );
    }
    for (function, base, files) in [
        ("forwarder", &fwd_base.exchanges, 1),
        ("alerter", &alr_base.exchanges, files.objects.len()),
        ("digest-verifier", &ver_base.exchanges, chain.digests.len()),
    ] {
        let writes = base.iter().filter(|e| e.call.service == "dynamodb").count();
        println!(
            "state table requests of the fault-free {function} run: {writes} for {files} files \
             ({:.1} per file, {} per 1,000 files)",
            writes as f64 / files as f64,
            writes * 1000 / files
        );
    }
    let failed: Vec<&CellResult> = cells.iter().filter(|c| !c.violations.is_empty()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} cells broke an invariant (table above)",
        failed.len(),
        cells.len()
    );
}

/// Negative control: the same event delivered twice to fresh environments without the state
/// table (what the functions did before issue 17) must break the duplicate checks; otherwise
/// their passing in the matrix proves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_report_duplicates_when_nothing_deduplicates() {
    use forwarder::Redelivery::TwiceWithoutState;
    let moto = Moto::start();
    let file = Arc::new(forwarder::trail_file());
    let files = alerter::files();
    let (fwd, alr_base, alr) = tokio::join!(
        forwarder::run_as(&moto, "neg", &file, vec![], TwiceWithoutState),
        alerter::run(&moto, "neg-base", &files, vec![]),
        alerter::run_as(&moto, "neg", &files, vec![], TwiceWithoutState),
    );
    assert_eq!(fwd.delivery.path(), "ok→ok", "{}", fwd.delivery.stdout);
    assert_eq!(alr.delivery.path(), "ok→ok", "{}", alr.delivery.stdout);

    let mut cell = CellResult::new("forwarder", "(none)", "delivered twice, no state");
    forwarder::check(&mut cell, &file, &fwd);
    assert!(
        cell.violations
            .iter()
            .any(|v| v.contains(&format!("{} duplicate events", file.records.len()))),
        "every record stored twice must be reported: {:?}",
        cell.violations
    );
    let mut cell = CellResult::new("alerter", "(none)", "delivered twice, no state");
    alerter::check(&mut cell, &files, &alr_base, &alr);
    assert!(
        cell.violations
            .iter()
            .any(|v| v.contains(&format!("{} duplicate alerts", alr_base.alerts.len()))),
        "every alert published twice must be reported: {:?}",
        cell.violations
    );
}
