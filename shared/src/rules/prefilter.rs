//! A test on the raw text, before any scan, that no JSON rule of a set can match a record: the
//! common case (in a real trail 85–90 % of records match no Security Hub rule), for a fraction
//! of the scan's cost.
//!
//! A record may match only if one of these holds (otherwise the prefilter says "no"):
//! - a rule indexed on `eventName` / `eventSource` lists a value that some `"eventName": "…"`
//!   (or `"eventSource"`) member of the record has, at any depth: extra candidates only cost a
//!   scan, so nesting need not be told apart;
//! - the raw text contains a needle of a rule evaluated on every record: a fixed part of a
//!   string its expression requires (`$.errorCode = "AccessDenied*"` needs `AccessDenied`);
//! - the record is unusual: a `\u` escape anywhere (it could spell any key or value), or an
//!   indexed member whose value is not a plain string.
//!
//! The prefilter is only built when every always-evaluated JSON rule has needles; a rule set
//! with one that has none (`$.a NOT EXISTS`, `$.b != "x"`) scans every record.

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem::Finder;

use super::compiled::Index;
use crate::pattern::json::projection::LiteralMap;
use crate::pattern::json::{Atom, Expr, Test};
use crate::pattern::value::{Literal, Op, StrMatch};

#[derive(Debug)]
pub(super) struct Prefilter {
    /// `\u` and the needles of the always-evaluated rules in one automaton, so the record is
    /// searched once for all of them (for a handful of needles a SIMD "Teddy" search). Measured:
    /// `\u` searched apart (memchr for `\`, then memmem) costs more, not less.
    scan_if_found: AhoCorasick,
    /// `"eventName"` / `"eventSource"`, when some rule is indexed on it. Searched on their own:
    /// in one automaton with the needles, every `"event…` key of a record would stop it.
    name_key: Option<Finder<'static>>,
    source_key: Option<Finder<'static>>,
}

impl Prefilter {
    /// `always`: the expressions (with their atoms) of the JSON rules evaluated on every record.
    pub(super) fn build<'a>(
        always: impl IntoIterator<Item = (&'a Expr, &'a [Atom])>,
        index: &Index,
    ) -> Option<Self> {
        let mut needles: Vec<String> = Vec::new();
        for (expr, atoms) in always {
            needles.extend(required_needles(expr, atoms)?);
        }
        needles.sort_unstable();
        needles.dedup();
        needles.push(r"\u".to_owned());
        let scan_if_found = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&needles)
            .ok()?;
        let key = |map: &LiteralMap, name: &str| {
            (!map.is_empty()).then(|| Finder::new(format!("\"{name}\"").as_bytes()).into_owned())
        };
        Some(Prefilter {
            scan_if_found,
            name_key: key(&index.by_name, "eventName"),
            source_key: key(&index.by_source, "eventSource"),
        })
    }

    /// False only if no JSON rule of the set can match `record`.
    pub(super) fn may_match(&self, record: &str, index: &Index) -> bool {
        let b = record.as_bytes();
        let listed = |key: &Option<Finder<'static>>, map: &LiteralMap| {
            key.as_ref().is_some_and(|k| {
                let len = k.needle().len();
                k.find_iter(b)
                    .any(|at| member_listed(record, at + len, map))
            })
        };
        // A leftmost-first search finds a match whenever some needle occurs.
        self.scan_if_found.is_match(b)
            || listed(&self.name_key, &index.by_name)
            || listed(&self.source_key, &index.by_source)
    }
}

/// Whether the quoted key ending at `after` is a member whose value `map` lists, or is unusual
/// (a value other than a plain string). A key occurrence not followed by `:` is no member in
/// valid JSON (an invalid record matches no JSON rule anyway).
fn member_listed(record: &str, after: usize, map: &LiteralMap) -> bool {
    let b = record.as_bytes();
    let mut i = after;
    let skip_ws = |i: &mut usize| {
        while b
            .get(*i)
            .is_some_and(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
        {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    skip_ws(&mut i);
    if b.get(i) != Some(&b'"') {
        return true;
    }
    let body = &b[i + 1..];
    match memchr::memchr2(b'"', b'\\', body) {
        // Between two ASCII quotes: char boundaries, so no UTF-8 check is needed.
        Some(end) if body[end] == b'"' => record
            .get(i + 1..i + 1 + end)
            .is_none_or(|value| map.contains_key(value)),
        _ => true,
    }
}

/// Strings one of which the raw text of a record must contain for `expr` to hold, or `None`.
fn required_needles(expr: &Expr, atoms: &[Atom]) -> Option<Vec<String>> {
    match expr {
        Expr::Atom(a) => match &atoms[*a as usize].test {
            Test::Cmp(Op::Eq, Literal::Str(m)) => {
                let core = match m {
                    StrMatch::Exact(t) | StrMatch::Prefix(t) | StrMatch::Suffix(t) => t.as_bytes(),
                    StrMatch::Contains(f) => f.needle(),
                    StrMatch::Any => return None,
                };
                usable_needle(core).map(|n| vec![n])
            }
            _ => None,
        },
        // Any operand's needles will do: the fewest, then the longest.
        Expr::And(xs) => xs
            .iter()
            .filter_map(|x| required_needles(x, atoms))
            .min_by_key(|n| {
                let shortest = n.iter().map(String::len).min().unwrap_or(0);
                (n.len(), usize::MAX - shortest)
            }),
        Expr::Or(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(required_needles(x, atoms)?);
            }
            Some(all)
        }
    }
}

/// A value's fixed part appears verbatim in the raw JSON unless an escape spells one of its
/// characters: `\u` (the prefilter gives up on records with one) or the short escapes, which
/// only stand for `"`, `\`, `/` and control characters. Parts with those are not needles; nor
/// are parts too short to be selective.
fn usable_needle(core: &[u8]) -> Option<String> {
    let ok = core.len() >= 3
        && !core
            .iter()
            .any(|&c| matches!(c, b'"' | b'\\' | b'/' | 0..=0x1f));
    ok.then(|| String::from_utf8_lossy(core).into_owned())
}

#[cfg(test)]
mod tests {
    use crate::rules::{BUILTIN_SET_NAMES, CompiledRules, builtin_set};

    /// Every built-in set gets a prefilter: without one the alerter scans every record, about
    /// twice the cost per record (bench/README.md). A rule added without a needle or an index
    /// literal must fail here rather than slow every deployment silently.
    #[test]
    fn every_builtin_set_has_a_prefilter() {
        for name in BUILTIN_SET_NAMES {
            let rules = CompiledRules::compile(builtin_set(name).unwrap()).unwrap();
            assert!(rules.has_prefilter(), "{name}");
        }
    }

    #[test]
    fn a_rule_that_can_hold_on_absence_disables_it() {
        let mut defs = builtin_set("security-hub").unwrap();
        defs[0].pattern = r#"{ $.errorCode NOT EXISTS }"#.into();
        assert!(!CompiledRules::compile(defs).unwrap().has_prefilter());
    }
}
