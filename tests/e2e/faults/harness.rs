//! Running one cell of the matrix: a function binary whose AWS endpoint is a fault proxy, an
//! event delivered again and again as Lambda's retries and a redrive would, and what came out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use trailwatch_e2e::LambdaWatch;
use trailwatch_e2e::faults::{Exchange, Fault, FaultProxy, Occurrence, Rule};

/// Stands in for the function's Lambda timeout (300 s / 900 s in template.yaml): longer than the
/// SDK's worst retry backoff (1 + 2 + 4 + 8 s for 5 attempts), so only a stall reaches it.
pub(crate) const INVOCATION_TIMEOUT: Duration = Duration::from_secs(20);
/// A stalled answer: the SDK sets no operation or attempt timeout, so a stall lasts until the
/// invocation times out.
pub(crate) const STALL: Duration = Duration::from_secs(600);
/// Lambda retries a timed-out asynchronous invocation a minute or more after its deadline; the
/// deadline the runtime proxy sets starts a little after the harness's clock, so the retry waits
/// this long (scaled down) to come after it, as in AWS.
pub(crate) const RETRY_AFTER_TIMEOUT: Duration = Duration::from_secs(2);
/// Deliveries of one event: the first, Lambda's two asynchronous retries, one redrive.
pub(crate) const MAX_DELIVERIES: usize = 4;

/// What one invocation returned.
#[derive(Debug, Clone)]
pub(crate) enum Attempt {
    Ok(#[allow(dead_code)] Value),
    /// The invocation's error document (what the failure queue keeps as the cause).
    Failed(String),
    /// No answer within [`INVOCATION_TIMEOUT`]: Lambda stops the environment and retries.
    TimedOut,
}

/// Every delivery of one event and everything the function printed meanwhile.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) stdout: String,
}

impl Delivery {
    pub(crate) fn completed(&self) -> bool {
        matches!(self.attempts.last(), Some(Attempt::Ok(_)))
    }

    /// `ok`, `err → ok`, `timeout → ok`, `err ×4` …: the path to the end state.
    pub(crate) fn path(&self) -> String {
        let names: Vec<&str> = self
            .attempts
            .iter()
            .map(|a| match a {
                Attempt::Ok(_) => "ok",
                Attempt::Failed(_) => "err",
                Attempt::TimedOut => "timeout",
            })
            .collect();
        names.join("→")
    }

    pub(crate) fn errors(&self) -> Vec<&str> {
        self.attempts
            .iter()
            .filter_map(|a| match a {
                Attempt::Failed(e) => Some(e.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The EMF metric lines (JSON lines with an `_aws` member) of every attempt, in order.
    pub(crate) fn emf_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }
}

/// Starts `function` with `env` and delivers `event` until it succeeds or [`MAX_DELIVERIES`]
/// were made. A timed-out invocation's environment is discarded and a fresh one started, as
/// Lambda does. Blocking.
pub(crate) fn deliver(function: &str, env: &[(String, String)], event: &Value) -> Delivery {
    let mut attempts = Vec::new();
    let mut stdout = String::new();
    let mut watch = Environment::start(function, env);
    while attempts.len() < MAX_DELIVERIES {
        match watch.invoke_within(event, INVOCATION_TIMEOUT) {
            Some(Ok(v)) => {
                attempts.push(Attempt::Ok(v));
                break;
            }
            Some(Err(e)) => attempts.push(Attempt::Failed(e)),
            None => {
                attempts.push(Attempt::TimedOut);
                stdout.push_str(&watch.stop_and_collect_stdout());
                std::thread::sleep(RETRY_AFTER_TIMEOUT);
                watch = Environment::start(function, env);
            }
        }
    }
    stdout.push_str(&watch.stop_and_collect_stdout());
    Delivery { attempts, stdout }
}

/// A Lambda execution environment: the emulator and the function, with a runtime-API proxy
/// between them that gives each invocation a real deadline ([`INVOCATION_TIMEOUT`] from its
/// start), as Lambda does. The state table's lease is that deadline, so a retry after a timeout
/// can take over the object, as it does in AWS (where the retry comes a minute or more later).
struct Environment {
    watch: LambdaWatch,
    _runtime_front: FaultProxy,
}

impl Environment {
    fn start(function: &str, env: &[(String, String)]) -> Environment {
        let port = trailwatch_e2e::free_port();
        let front = FaultProxy::start(&format!("http://127.0.0.1:{port}"));
        front.set_invocation_timeout(INVOCATION_TIMEOUT);
        let mut env = env.to_vec();
        env.push((
            "AWS_LAMBDA_RUNTIME_API".into(),
            format!("{}/.rt/{function}", front.endpoint()),
        ));
        Environment {
            watch: LambdaWatch::start_on(function, &env, port),
            _runtime_front: front,
        }
    }

    fn invoke_within(&self, event: &Value, deadline: Duration) -> Option<Result<Value, String>> {
        self.watch.invoke_within(event, deadline)
    }

    fn stop_and_collect_stdout(self) -> String {
        self.watch.stop_and_collect_stdout()
    }
}

/// Delivers `event` `times` times, each to a fresh environment (a duplicate delivery landing on
/// another instance), whatever the outcome. Blocking.
pub(crate) fn deliver_fresh(
    function: &str,
    env: &[(String, String)],
    event: &Value,
    times: usize,
) -> Delivery {
    let mut attempts = Vec::new();
    let mut stdout = String::new();
    for _ in 0..times {
        let watch = Environment::start(function, env);
        attempts.push(match watch.invoke_within(event, INVOCATION_TIMEOUT) {
            Some(Ok(v)) => Attempt::Ok(v),
            Some(Err(e)) => Attempt::Failed(e),
            None => Attempt::TimedOut,
        });
        stdout.push_str(&watch.stop_and_collect_stdout());
    }
    Delivery { attempts, stdout }
}

/// A kind of fault and which occurrences of the call get it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultCase {
    pub(crate) label: &'static str,
    pub(crate) when: Occurrence,
    pub(crate) fault: Fault,
}

impl FaultCase {
    pub(crate) fn rule(&self, service: &str, operation: &str) -> Rule {
        Rule::new(service, operation, self.when, self.fault)
    }
}

/// The transient faults every dependency gets, starting at the `from`-th call (2: after one
/// call succeeded, e.g. a batch acknowledged before the fault; the interesting case for
/// duplicates).
pub(crate) fn transient_faults(from: u32) -> Vec<FaultCase> {
    vec![
        FaultCase {
            label: "throttle ×2 (SDK retries)",
            when: Occurrence::Window { from, count: 2 },
            fault: Fault::Throttle,
        },
        FaultCase {
            label: "5xx ×2 (SDK retries)",
            when: Occurrence::Window { from, count: 2 },
            fault: Fault::ServerError,
        },
        FaultCase {
            label: "5xx ×5 (SDK retries exhausted)",
            when: Occurrence::Window { from, count: 5 },
            fault: Fault::ServerError,
        },
        FaultCase {
            label: "reset ×2",
            when: Occurrence::Window { from, count: 2 },
            fault: Fault::Reset,
        },
        FaultCase {
            label: "stall → invocation timeout",
            when: Occurrence::Nth(from),
            fault: Fault::Stall(STALL),
        },
    ]
}

/// The ambiguous fault: the call succeeded, its answer was lost, the SDK retries it.
pub(crate) fn forward_then_drop(from: u32) -> FaultCase {
    FaultCase {
        label: "forward, drop answer",
        when: Occurrence::Nth(from),
        fault: Fault::ForwardThenDrop,
    }
}

/// The answer of a call that succeeded is held back until the invocation times out.
pub(crate) fn forward_then_stall(from: u32) -> FaultCase {
    FaultCase {
        label: "forward, stall answer (timeout)",
        when: Occurrence::Nth(from),
        fault: Fault::ForwardThenStall(STALL),
    }
}

/// A read error mid-stream: the body is cut after `after_bytes`.
pub(crate) fn cut_body(after_bytes: usize) -> FaultCase {
    FaultCase {
        label: "body cut mid-stream",
        when: Occurrence::Nth(1),
        fault: Fault::CutBody { after_bytes },
    }
}

/// What a cell found: its row and column in the table, how it ended, and every broken invariant.
#[derive(Debug, Clone)]
pub(crate) struct CellResult {
    pub(crate) function: &'static str,
    pub(crate) dependency: String,
    pub(crate) fault: String,
    pub(crate) path: String,
    pub(crate) violations: Vec<String>,
    /// What happened that is within the invariants but worth reading (how many calls were
    /// faulted, duplicates inside the stated window).
    pub(crate) notes: Vec<String>,
}

impl CellResult {
    pub(crate) fn new(function: &'static str, dependency: &str, fault: &str) -> Self {
        Self {
            function,
            dependency: dependency.to_owned(),
            fault: fault.to_owned(),
            path: String::new(),
            violations: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub(crate) fn check(&mut self, ok: bool, violation: impl FnOnce() -> String) {
        if !ok {
            self.violations.push(violation());
        }
    }
}

/// How often each item occurs.
pub(crate) fn counts<T: Ord + Clone>(items: impl IntoIterator<Item = T>) -> BTreeMap<T, usize> {
    let mut out = BTreeMap::new();
    for i in items {
        *out.entry(i).or_insert(0) += 1;
    }
    out
}

/// Common end-state checks: the fault fired (else the cell proves nothing), and a delivery that
/// never completed failed with a cause naming each object.
pub(crate) fn check_end_state(
    cell: &mut CellResult,
    exchanges: &[Exchange],
    delivery: &Delivery,
    objects: &[&str],
) {
    cell.path = delivery.path();
    let faulted: BTreeMap<String, usize> = counts(
        exchanges
            .iter()
            .filter(|e| e.fault.is_some())
            .map(|e| e.call.operation.clone()),
    );
    cell.check(!faulted.is_empty(), || {
        "the fault never fired: the function made no such call".into()
    });
    for (operation, n) in &faulted {
        let calls = exchanges
            .iter()
            .filter(|e| &e.call.operation == operation)
            .count();
        cell.note(format!("{n} of {calls} {operation} calls faulted"));
    }
    for e in delivery.errors() {
        cell.check(objects.iter().any(|o| e.contains(o)), || {
            format!("an invocation error names no delivered object: {}", clip(e))
        });
    }
    if !delivery.completed() {
        if let Some(last) = delivery.errors().last() {
            cell.note(format!(
                "ended failed (failure queue), cause: {}",
                clip(last)
            ));
        }
        cell.check(!delivery.errors().is_empty(), || {
            format!(
                "never completed and never failed with a cause ({})",
                delivery.path()
            )
        });
    }
}

pub(crate) fn clip(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}
