//! Byte strings a record's raw text must contain for a JSON condition to hold: the basis of the
//! rule prefilter, which skips the projection scan for records that cannot match any rule.
//!
//! Soundness rests on how CloudTrail writes JSON: keys are never escaped, and the characters we
//! accept in a needle (ASCII letters, digits, space, `.`, `-`, `_`, `:`) are never written as
//! `\u` escapes by AWS's serializers (Gson escapes only `< > & = '`, some writers `/`). A needle
//! with any other character is not used, so the prefilter then cannot exclude the rule.

use super::ast::{Atom, Expr, Step, Test};
use crate::pattern::value::{Literal, Op, StrMatch};

/// Substrings of which at least one must occur in the record for the condition to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needles {
    pub(crate) strings: Vec<String>,
    /// Built from values (selective) rather than key names (weak).
    pub(crate) from_values: bool,
}

fn safe(s: &str) -> bool {
    s.len() >= 3
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'-' | b'_' | b':'))
}

/// What one atom requires, if anything.
fn atom_needle(atom: &Atom) -> Option<Needles> {
    let value = match &atom.test {
        Test::Cmp(Op::Eq, Literal::Str(m)) => match m {
            StrMatch::Exact(t) | StrMatch::Prefix(t) | StrMatch::Suffix(t) => Some(t.to_string()),
            StrMatch::Contains(f) => std::str::from_utf8(f.needle()).ok().map(str::to_owned),
            StrMatch::Any => None,
        },
        _ => None,
    };
    if let Some(v) = value.filter(|v| safe(v)) {
        return Some(Needles {
            strings: vec![v],
            from_values: true,
        });
    }
    // Every other test except NOT EXISTS needs the selected node to exist, so its key is there.
    if matches!(atom.test, Test::NotExists) {
        return None;
    }
    match atom.steps.last() {
        Some(Step::Key(k)) if safe(k) => Some(Needles {
            strings: vec![format!("\"{k}\"")],
            from_values: false,
        }),
        _ => None,
    }
}

/// What `expr` requires: for `&&` the most selective operand's needles (each operand is
/// necessary), for `||` the union (every operand must require something).
pub(crate) fn required_needles(expr: &Expr, atoms: &[Atom]) -> Option<Needles> {
    match expr {
        Expr::Atom(a) => atom_needle(&atoms[*a as usize]),
        Expr::And(xs) => xs
            .iter()
            .filter_map(|x| required_needles(x, atoms))
            .min_by_key(|n| (!n.from_values, n.strings.len())),
        Expr::Or(xs) => {
            let mut all = Needles {
                strings: Vec::new(),
                from_values: true,
            };
            for x in xs {
                let n = required_needles(x, atoms)?;
                all.from_values &= n.from_values;
                all.strings.extend(n.strings);
            }
            all.strings.sort();
            all.strings.dedup();
            Some(all)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::pattern::FilterPattern;

    fn needles(p: &str) -> Option<(Vec<String>, bool)> {
        let p = FilterPattern::parse(p).unwrap();
        let j = p.json().unwrap();
        super::required_needles(&j.expr, &j.atoms).map(|n| (n.strings, n.from_values))
    }

    #[test]
    fn picks_values_then_keys() {
        assert_eq!(
            needles(r#"{ $.eventName = "StopLogging" }"#),
            Some((vec!["StopLogging".into()], true))
        );
        assert_eq!(
            needles(
                r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#
            ),
            Some((
                vec!["AccessDenied".into(), "UnauthorizedOperation".into()],
                true
            ))
        );
        assert_eq!(
            needles(r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS }"#),
            Some((vec!["Root".into()], true))
        );
        assert_eq!(
            needles(r#"{ $.readOnly IS FALSE }"#),
            Some((vec!["\"readOnly\"".into()], false))
        );
    }

    #[test]
    fn requires_nothing_when_the_pattern_can_hold_without_text() {
        assert_eq!(needles(r#"{ $.x NOT EXISTS }"#), None);
        assert_eq!(needles(r#"{ $.a = "x" || $.b NOT EXISTS }"#), None);
        // Characters that a JSON writer may escape are not trusted.
        assert_eq!(needles(r#"{ $.a[*] = "a/b" }"#), None);
        assert_eq!(needles(r#"{ $.* = "ab" }"#), None);
    }
}
