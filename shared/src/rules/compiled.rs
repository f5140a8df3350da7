//! A rule set compiled for evaluation: a raw-text prefilter, one shared projection for all JSON
//! rules (the record is scanned once, whatever the number of rules) and an index by
//! `eventName` / `eventSource`.

use std::collections::HashSet;

use super::Rule;
use super::prefilter::Prefilter;
use crate::pattern::json::projection::{Bits, LiteralMap, exact_text};
use crate::pattern::json::{Expr, Projection, Step, is_json_object};
use crate::pattern::value::Scalar;
use crate::pattern::{FilterPattern, PatternError};

/// Why [`CompiledRules::compile`] rejected a rule: every error names the rule's id and the field.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A field holds a value no rule may have.
    #[error("rule {id:?}: {field}: {reason}")]
    Invalid {
        /// Where the rule is in the list given to `compile` (0-based).
        position: usize,
        /// The rule's id, as written.
        id: String,
        /// The field at fault: `id`, `threshold` or `period`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The pattern does not parse.
    #[error("rule {id:?}: pattern: invalid pattern {pattern:?}: {source}")]
    Pattern {
        /// Where the rule is in the list given to `compile` (0-based).
        position: usize,
        /// The rule's id.
        id: String,
        /// The pattern, as written.
        pattern: String,
        /// The parser's error (with the column).
        #[source]
        source: PatternError,
    },
}

impl RuleError {
    /// Where the rejected rule is in the list given to `compile` (0-based).
    pub fn position(&self) -> usize {
        match self {
            RuleError::Invalid { position, .. } | RuleError::Pattern { position, .. } => *position,
        }
    }

    /// The rejected rule's id.
    pub fn id(&self) -> &str {
        match self {
            RuleError::Invalid { id, .. } | RuleError::Pattern { id, .. } => id,
        }
    }

    /// The field at fault: `id`, `pattern`, `threshold` or `period`.
    pub fn field(&self) -> &'static str {
        match self {
            RuleError::Invalid { field, .. } => field,
            RuleError::Pattern { .. } => "pattern",
        }
    }
}

/// Longest id accepted: the id is an SNS message attribute and a metric dimension value.
const MAX_ID_CHARS: usize = 256;

/// How one rule is evaluated.
#[derive(Debug)]
enum Eval {
    /// JSON rule: its expression over the shared projection, atom ids offset by `atom_base`.
    Json { expr: Expr, atom_base: u32 },
    /// Unstructured or space-delimited rule: on the raw record text.
    Text,
}

/// Which rules a record must evaluate, by the literal values they require.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Slot of `$.eventName` / `$.eventSource` in the projection, when some rule is indexed on it.
    name_slot: Option<u32>,
    source_slot: Option<u32>,
    pub(super) by_name: LiteralMap,
    pub(super) by_source: LiteralMap,
    /// Rules evaluated on every record.
    always: Vec<u32>,
}

/// A validated rule set, its enabled rules compiled for evaluation.
#[derive(Debug)]
pub struct CompiledRules {
    rules: Vec<Rule>,
    patterns: Vec<FilterPattern>,
    evals: Vec<Eval>,
    projection: Projection,
    index: Index,
    /// `None` when some always-evaluated rule gives it nothing to look for.
    prefilter: Option<Prefilter>,
}

impl CompiledRules {
    /// The one validation of rules, built-in or custom. Checks every rule, enabled or not, and
    /// fails on the first invalid one, naming its id and the field: an id that is blank, longer
    /// than 256 characters, holds a control character or is used twice; a threshold of 0;
    /// a period that is not a metric alarm period ([`super::valid_period`]); a pattern that does
    /// not parse. Normalises what it keeps: the id trimmed, a blank title
    /// replaced by the id, a blank description dropped. Disabled rules are then dropped.
    pub fn compile(rules: Vec<Rule>) -> Result<Self, RuleError> {
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        let mut patterns = Vec::new();
        for (position, rule) in rules.into_iter().enumerate() {
            let invalid = |field, reason: &str| RuleError::Invalid {
                position,
                id: rule.id.clone(),
                field,
                reason: reason.to_owned(),
            };
            let id = rule.id.trim();
            if id.is_empty()
                || id.chars().count() > MAX_ID_CHARS
                || id.chars().any(char::is_control)
            {
                return Err(invalid(
                    "id",
                    &format!("must be 1 to {MAX_ID_CHARS} printable characters"),
                ));
            }
            if !seen.insert(id.to_owned()) {
                return Err(invalid("id", "is used by more than one rule"));
            }
            if rule.threshold == 0 {
                return Err(invalid("threshold", "must be at least 1"));
            }
            if let Some(period) = rule.period
                && !super::valid_period(period)
            {
                return Err(invalid(
                    "period",
                    &format!(
                        "{period} seconds is not a metric alarm period: must be 10, 30 or a \
                         multiple of 60 from 60 to 86400"
                    ),
                ));
            }
            let pattern =
                FilterPattern::parse(&rule.pattern).map_err(|source| RuleError::Pattern {
                    position,
                    id: rule.id.clone(),
                    pattern: rule.pattern.clone(),
                    source,
                })?;
            if !rule.enabled {
                continue;
            }
            let id = id.to_owned();
            kept.push(Rule {
                title: match rule.title.trim() {
                    "" => id.clone(),
                    _ => rule.title,
                },
                description: rule.description.filter(|d| !d.trim().is_empty()),
                id,
                ..rule
            });
            patterns.push(pattern);
        }
        let rules = kept;

        // One projection over the atoms of every JSON rule.
        let mut all_atoms = Vec::new();
        let mut evals = Vec::with_capacity(patterns.len());
        for p in &patterns {
            match p.json() {
                Some(j) => {
                    let atom_base = u32::try_from(all_atoms.len()).expect("atom count fits u32");
                    all_atoms.extend(j.atoms.iter().cloned());
                    evals.push(Eval::Json {
                        expr: j.expr.clone(),
                        atom_base,
                    });
                }
                None => evals.push(Eval::Text),
            }
        }
        let projection = Projection::build(&all_atoms);

        let name_path = [Step::Key("eventName".into())];
        let source_path = [Step::Key("eventSource".into())];
        let mut index = Index {
            name_slot: projection.slot_of(&name_path),
            source_slot: projection.slot_of(&source_path),
            ..Index::default()
        };
        for (i, (p, eval)) in patterns.iter().zip(&evals).enumerate() {
            let i = i as u32;
            let atoms = p.json().map(|j| j.atoms.as_slice()).unwrap_or_default();
            let literals = |path: &[Step]| match eval {
                Eval::Json { expr, .. } => required_literals(expr, atoms, path),
                Eval::Text => None,
            };
            if let Some(names) = literals(&name_path) {
                for n in names {
                    index.by_name.entry(n.into()).or_default().push(i);
                }
            } else if let Some(sources) = literals(&source_path) {
                for s in sources {
                    index.by_source.entry(s.into()).or_default().push(i);
                }
            } else {
                index.always.push(i);
            }
        }
        for list in index
            .by_name
            .values_mut()
            .chain(index.by_source.values_mut())
        {
            list.sort_unstable();
            list.dedup();
        }
        let always_json = index
            .always
            .iter()
            .filter_map(|&i| match &evals[i as usize] {
                Eval::Json { expr, .. } => {
                    Some((expr, patterns[i as usize].json()?.atoms.as_slice()))
                }
                Eval::Text => None,
            });
        let prefilter = Prefilter::build(always_json, &index);
        Ok(CompiledRules {
            rules,
            patterns,
            evals,
            projection,
            index,
            prefilter,
        })
    }

    /// The enabled rules, normalised, in order; `evaluate` reports indices into this slice.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The compiled pattern of rule `i`.
    pub fn pattern(&self, i: usize) -> &FilterPattern {
        &self.patterns[i]
    }

    /// Whether records that can match no JSON rule are ruled out before any scan (see
    /// [`super::prefilter`]); false when an always-evaluated rule gives it nothing to look for.
    pub fn has_prefilter(&self) -> bool {
        self.prefilter.is_some()
    }

    /// How many rules are enabled.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is enabled.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates every rule on one record (its raw JSON text, or any log message). `matched` is
    /// cleared, then receives the indices of the matching rules in ascending order.
    ///
    /// First a prefilter on the raw text ([`super::prefilter`]) rules out most records without
    /// scanning them. Otherwise the record is scanned once for all JSON rules, without
    /// validation, and validated only if a JSON rule matches; rules that require a literal
    /// `eventName` (or `eventSource`) value other than the record's are not evaluated at all.
    pub fn evaluate(&self, record_json: &str, matched: &mut Vec<usize>) {
        matched.clear();
        let prefiltered = match &self.prefilter {
            Some(p) if !p.may_match(record_json, &self.index) => {
                // No JSON rule can match: only the text rules remain.
                for (i, eval) in self.evals.iter().enumerate() {
                    if matches!(eval, Eval::Text) && self.patterns[i].matches(record_json) {
                        matched.push(i);
                    }
                }
                return;
            }
            Some(_) => true,
            None => false,
        };
        let n = self.rules.len();
        let mut candidates = Bits::new(n);
        for &r in &self.index.always {
            candidates.set(r as usize);
        }
        let mut state = self.projection.new_state();
        let index = &self.index;
        let on_leaf = |slot, value: Scalar<'_>| {
            let map = if Some(slot) == index.name_slot {
                &index.by_name
            } else if Some(slot) == index.source_slot {
                &index.by_source
            } else {
                return;
            };
            if let Some(rules) = value.text().and_then(|t| map.get(t)) {
                for &r in rules {
                    candidates.set(r as usize);
                }
            }
        };
        // Which scan: a record the prefilter let through nearly always matches (in a real
        // trail, 98 % of them), so validating while scanning beats an unvalidated scan plus a
        // validation. Without a prefilter most records match nothing: then validation is
        // deferred to the few that match, the unvalidated scan's "no" being already exact.
        let (is_json, mut validated) = if prefiltered {
            let is_json = self.projection.scan(record_json, &mut state, on_leaf);
            (is_json, Some(is_json))
        } else {
            let is_json = self
                .projection
                .scan_unvalidated(record_json, &mut state, on_leaf);
            (is_json, None)
        };
        for (i, eval) in self.evals.iter().enumerate() {
            let hit = match eval {
                Eval::Text => self.patterns[i].matches(record_json),
                Eval::Json { expr, atom_base } => {
                    is_json
                        && candidates.get(i)
                        && expr.eval(&|a| self.projection.holds(&state, atom_base + a))
                        && *validated.get_or_insert_with(|| is_json_object(record_json))
                }
            };
            if hit {
                matched.push(i);
            }
        }
    }
}

/// The finite set of values `path` must hold (as an exact `=` literal) for `expr` to be true,
/// or `None` if the expression can hold without one.
///
/// For `&&` we take the smallest requirement of one operand rather than intersecting them: with
/// wildcard or duplicate-key records a selector can reach several nodes, and an intersection
/// could then exclude a record that does match. A union for `||` needs every operand constrained.
fn required_literals<'a>(
    expr: &Expr,
    atoms: &'a [crate::pattern::json::Atom],
    path: &[Step],
) -> Option<Vec<&'a str>> {
    match expr {
        Expr::Atom(a) => {
            let atom = &atoms[*a as usize];
            if atom.steps == path {
                exact_text(&atom.test).map(|t| vec![t])
            } else {
                None
            }
        }
        Expr::And(xs) => xs
            .iter()
            .filter_map(|x| required_literals(x, atoms, path))
            .min_by_key(Vec::len),
        Expr::Or(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(required_literals(x, atoms, path)?);
            }
            Some(all)
        }
    }
}
