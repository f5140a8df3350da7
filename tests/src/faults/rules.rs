//! Which occurrences of which call get which fault.

use std::time::Duration;

use super::classify::Call;

/// What goes wrong with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The service's throttling answer: S3 `503 SlowDown`, JSON `400 ThrottlingException`
    /// (DynamoDB: `ProvisionedThroughputExceededException`), SNS `400 Throttling`. Not forwarded.
    Throttle,
    /// A server error: S3 `500 InternalError`, JSON and SNS `503 ServiceUnavailable`. Not forwarded.
    ServerError,
    /// The connection closes without an answer; the request never reached the service.
    Reset,
    /// No answer for this long (then a reset); the request never reached the service. The SDK
    /// sets no attempt timeout, so only the invocation's timeout bounds it.
    Stall(Duration),
    /// Forwarded and answered by the service, then the connection closes before the answer
    /// reaches the caller: the work was done but the caller cannot know (the case that makes
    /// retries duplicate).
    ForwardThenDrop,
    /// Forwarded and answered by the service, then the answer is held back this long (then the
    /// connection closes): the work was done and the caller times out waiting — a Lambda
    /// timeout between the service's acknowledgement and the caller's checkpoint.
    ForwardThenStall(Duration),
    /// Forwarded; the answer's body is cut after this many bytes (a read error mid-stream).
    CutBody { after_bytes: usize },
    /// Forwarded after this delay (slow but successful).
    Delay(Duration),
}

impl Fault {
    /// Whether the service did the work but the caller never learnt it (the ambiguous faults
    /// whose retry may repeat the work once).
    pub fn answer_lost(&self) -> bool {
        matches!(self, Fault::ForwardThenDrop | Fault::ForwardThenStall(_))
    }

    /// A short name for tables and messages.
    pub fn label(&self) -> String {
        match self {
            Fault::Throttle => "throttle".into(),
            Fault::ServerError => "5xx".into(),
            Fault::Reset => "reset".into(),
            Fault::Stall(_) => "stall (timeout)".into(),
            Fault::ForwardThenDrop => "forward, drop answer".into(),
            Fault::ForwardThenStall(_) => "forward, stall answer (timeout)".into(),
            Fault::CutBody { after_bytes } => format!("body cut at {after_bytes} B"),
            Fault::Delay(d) => format!("delay {d:?}"),
        }
    }
}

/// Which of the matching calls (counted from 1, in arrival order) get the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    Nth(u32),
    /// The first k.
    FirstK(u32),
    /// `count` calls from the `from`-th on (e.g. every attempt at the second batch).
    Window {
        from: u32,
        count: u32,
    },
    Every,
    /// Each with probability `per_mille`/1000, drawn from a generator seeded with `seed`, so a
    /// run is reproducible for a given arrival order.
    Probability {
        per_mille: u32,
        seed: u64,
    },
}

/// A fault for some occurrences of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub service: String,
    pub operation: String,
    /// Only requests whose path contains this (S3: a bucket or key part); `None`: all.
    pub path_contains: Option<String>,
    /// Only requests whose body contains this (one Publish among several: a rule id); `None`: all.
    pub body_contains: Option<String>,
    pub when: Occurrence,
    pub fault: Fault,
}

impl Rule {
    pub fn new(service: &str, operation: &str, when: Occurrence, fault: Fault) -> Rule {
        Rule {
            service: service.into(),
            operation: operation.into(),
            path_contains: None,
            body_contains: None,
            when,
            fault,
        }
    }

    /// Restricts the rule to requests whose path contains `part`.
    pub fn on_path(mut self, part: &str) -> Rule {
        self.path_contains = Some(part.into());
        self
    }

    /// Restricts the rule to requests whose body contains `part` (pins a fault to one call
    /// among concurrent ones, so that all its attempts meet it).
    pub fn on_body(mut self, part: &str) -> Rule {
        self.body_contains = Some(part.into());
        self
    }

    fn matches(&self, call: &Call, path: &str, body: &[u8]) -> bool {
        call.service == self.service
            && call.operation == self.operation
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self
                .body_contains
                .as_deref()
                .is_none_or(|p| body.windows(p.len().max(1)).any(|w| w == p.as_bytes()))
    }
}

/// Rules with their per-rule occurrence counters and random state.
#[derive(Debug, Default)]
pub(crate) struct RuleSet {
    rules: Vec<(Rule, u32, u64)>,
}

impl RuleSet {
    pub(crate) fn new(rules: Vec<Rule>) -> RuleSet {
        RuleSet {
            rules: rules
                .into_iter()
                .map(|r| {
                    let seed = match r.when {
                        Occurrence::Probability { seed, .. } => seed.max(1),
                        _ => 1,
                    };
                    (r, 0, seed)
                })
                .collect(),
        }
    }

    /// The fault for this request, if a rule fires. Every matching rule counts the request; the
    /// first that fires wins.
    pub(crate) fn decide(&mut self, call: &Call, path: &str, body: &[u8]) -> Option<Fault> {
        let mut chosen = None;
        for (rule, seen, rng) in &mut self.rules {
            if !rule.matches(call, path, body) {
                continue;
            }
            *seen += 1;
            let fires = match rule.when {
                Occurrence::Nth(n) => *seen == n,
                Occurrence::FirstK(k) => *seen <= k,
                Occurrence::Window { from, count } => (from..from + count).contains(seen),
                Occurrence::Every => true,
                Occurrence::Probability { per_mille, .. } => {
                    // xorshift64: reproducible, no dependency.
                    *rng ^= *rng << 13;
                    *rng ^= *rng >> 7;
                    *rng ^= *rng << 17;
                    (*rng % 1000) < u64::from(per_mille)
                }
            };
            if fires && chosen.is_none() {
                chosen = Some(rule.fault);
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Protocol;

    fn call(service: &str, op: &str) -> Call {
        Call {
            service: service.into(),
            operation: op.into(),
            protocol: Protocol::Json,
        }
    }

    #[test]
    fn nth_fires_once_on_the_right_call_and_never_on_others() {
        let mut set = RuleSet::new(vec![Rule::new(
            "logs",
            "PutLogEvents",
            Occurrence::Nth(2),
            Fault::Throttle,
        )]);
        let put = call("logs", "PutLogEvents");
        let other = call("logs", "CreateLogStream");
        let sns = call("sns", "PutLogEvents");
        assert_eq!(set.decide(&other, "/", b""), None);
        assert_eq!(set.decide(&sns, "/", b""), None);
        assert_eq!(set.decide(&put, "/", b""), None, "first occurrence passes");
        assert_eq!(
            set.decide(&other, "/", b""),
            None,
            "other calls do not count"
        );
        assert_eq!(set.decide(&put, "/", b""), Some(Fault::Throttle));
        assert_eq!(set.decide(&put, "/", b""), None);
    }

    #[test]
    fn first_k_every_and_path_filters() {
        let get = Call {
            service: "s3".into(),
            operation: "GetObject".into(),
            protocol: Protocol::S3,
        };
        let mut set = RuleSet::new(vec![
            Rule::new("s3", "GetObject", Occurrence::FirstK(2), Fault::Reset).on_path("digest"),
        ]);
        assert_eq!(set.decide(&get, "/b/log.json.gz", b""), None);
        assert_eq!(set.decide(&get, "/b/digest-1", b""), Some(Fault::Reset));
        assert_eq!(set.decide(&get, "/b/digest-2", b""), Some(Fault::Reset));
        assert_eq!(set.decide(&get, "/b/digest-3", b""), None);
        let mut window = RuleSet::new(vec![Rule::new(
            "s3",
            "GetObject",
            Occurrence::Window { from: 2, count: 2 },
            Fault::Throttle,
        )]);
        let fired: Vec<bool> = (0..4)
            .map(|_| window.decide(&get, "/x", b"").is_some())
            .collect();
        assert_eq!(fired, [false, true, true, false]);
        let publish = Call {
            service: "sns".into(),
            operation: "Publish".into(),
            protocol: Protocol::Query,
        };
        let mut pinned = RuleSet::new(vec![
            Rule::new("sns", "Publish", Occurrence::Every, Fault::Reset).on_body("CloudWatch.5"),
        ]);
        assert_eq!(pinned.decide(&publish, "/", b"Subject=CloudWatch.2"), None);
        assert_eq!(
            pinned.decide(&publish, "/", b"Subject=CloudWatch.5+x"),
            Some(Fault::Reset)
        );
        let mut every = RuleSet::new(vec![Rule::new(
            "s3",
            "GetObject",
            Occurrence::Every,
            Fault::ServerError,
        )]);
        assert!((0..5).all(|_| every.decide(&get, "/x", b"") == Some(Fault::ServerError)));
    }

    #[test]
    fn probability_is_reproducible_for_a_seed_and_near_its_rate() {
        let put = call("logs", "PutLogEvents");
        let draw = |seed| {
            let mut set = RuleSet::new(vec![Rule::new(
                "logs",
                "PutLogEvents",
                Occurrence::Probability {
                    per_mille: 250,
                    seed,
                },
                Fault::Throttle,
            )]);
            (0..2000)
                .map(|_| set.decide(&put, "/", b"").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7), "same seed, same faults");
        assert_ne!(draw(7), draw(8), "another seed, other faults");
        let fired = draw(7).iter().filter(|f| **f).count();
        assert!((400..600).contains(&fired), "about 25 % of 2000: {fired}");
    }
}
