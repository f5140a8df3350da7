//! Values on the right of a comparison, and how they compare with what the event holds.
//!
//! One comparison routine serves JSON patterns (against a JSON scalar) and space-delimited
//! patterns (against a field's text), so both follow the same coercion rules.

use memchr::memmem::Finder;
use regex::Regex;

/// `= != < > <= >=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    pub(crate) fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }
}

/// A string with `*` wildcards at its ends (J6). A `*` in the middle is a literal character
/// (A4: the 2014–2020 doc says `Ev*ent` only matches "Ev*ent"; doubtful cases dbt-007/008, best
/// estimate "literal"). A `*` may match the empty string (A5, dbt-004..006: `AccessDenied*`
/// matches S3's plain `AccessDenied`, which the CIS unauthorized-API patterns rely on).
#[derive(Debug, Clone)]
pub(crate) enum StrMatch {
    Any,
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<Finder<'static>>),
}

impl StrMatch {
    pub(crate) fn from_wildcard(text: &str) -> Self {
        let lead = text.starts_with('*');
        let trail = text.ends_with('*');
        let core = text.trim_start_matches('*').trim_end_matches('*');
        match (lead, trail) {
            _ if core.is_empty() && (lead || trail) => StrMatch::Any,
            (false, false) => StrMatch::Exact(core.into()),
            (false, true) => StrMatch::Prefix(core.into()),
            (true, false) => StrMatch::Suffix(core.into()),
            (true, true) => StrMatch::Contains(Box::new(Finder::new(core.as_bytes()).into_owned())),
        }
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        match self {
            StrMatch::Any => true,
            StrMatch::Exact(t) => s == &**t,
            StrMatch::Prefix(t) => s.starts_with(&**t),
            StrMatch::Suffix(t) => s.ends_with(&**t),
            StrMatch::Contains(f) => f.find(s.as_bytes()).is_some(),
        }
    }
}

/// The value side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Literal {
    /// `*` or `"*"`: the property is present with a value (J6).
    Present,
    /// A quoted string, or an unquoted token that is not a number (A3).
    Str(StrMatch),
    /// An unquoted number in any documented form (J7): `400`, `+49`, `-2.5`, `1e-3`, `10e3`.
    Num(f64),
    /// `%regex%`: unanchored search within the value (R6, R7).
    Regex(Regex),
}

/// A scalar the event holds at a selected place.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    /// A JSON number, as its exact text.
    Num(&'a str),
    Bool(bool),
    Null,
}

impl<'a> Scalar<'a> {
    /// The text string comparisons see. A JSON number compares by its text (so `= "404"` and
    /// `= 4*` match the number 404, doubtful cases dbt-012/dbt-033, best estimate "match"); a
    /// boolean by `true`/`false` (undocumented; IS TRUE/IS FALSE are the documented forms).
    pub(crate) fn text(self) -> Option<&'a str> {
        match self {
            Scalar::Str(s) | Scalar::Num(s) => Some(s),
            Scalar::Bool(true) => Some("true"),
            Scalar::Bool(false) => Some("false"),
            Scalar::Null => None,
        }
    }

    /// The number a numeric comparison sees: a JSON number, or a string spelling a number
    /// (type coercion is undocumented, A8; dbt-011/013 best estimate "coerce", dbt-014 "a
    /// non-numeric string never satisfies a numeric comparison").
    fn number(self) -> Option<f64> {
        match self {
            Scalar::Num(s) => s.parse().ok(),
            Scalar::Str(s) if is_number(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// J7 number syntax: optional sign, digits with an optional fraction, optional exponent.
/// (Rust's `f64::from_str` also takes "inf" and "NaN", which are not numbers here.)
pub(crate) fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Does `value` satisfy `op literal`? Null never satisfies a comparison, `!=` included (J3, and
/// dbt-023: `= *` on null is false). Objects, arrays and absent fields never reach this function.
pub(crate) fn compare(op: Op, literal: &Literal, value: Scalar<'_>) -> bool {
    let Some(text) = value.text() else {
        return false;
    };
    let equal = match literal {
        Literal::Present => true,
        Literal::Str(m) => m.is_match(text),
        // A regex searches the value's text; for a number its JSON text (dbt-025, best estimate).
        Literal::Regex(re) => re.is_match(text),
        Literal::Num(n) => {
            let Some(v) = value.number() else {
                // A value that is not a number is not equal to a number, and never ordered.
                return op == Op::Ne;
            };
            return match op {
                Op::Eq => v == *n,
                Op::Ne => v != *n,
                Op::Lt => v < *n,
                Op::Gt => v > *n,
                Op::Le => v <= *n,
                Op::Ge => v >= *n,
            };
        }
    };
    match op {
        Op::Eq => equal,
        Op::Ne => !equal,
        // The parser only pairs ordering operators with numbers.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_form() {
        for s in [
            "1", "+1000", "-3", "55.5", "1e-3", "1e+3", "10e3", "1E3", ".5", "5.",
        ] {
            assert!(is_number(s), "{s}");
        }
        for s in [
            "", "+", "e3", "1e", "1.2.3", "inf", "NaN", "0x10", "1_000", "4*",
        ] {
            assert!(!is_number(s), "{s}");
        }
    }

    #[test]
    fn wildcards_at_the_ends_only() {
        assert!(StrMatch::from_wildcard("Update*").is_match("UpdateTrail"));
        assert!(StrMatch::from_wildcard("Update*").is_match("Update"));
        assert!(StrMatch::from_wildcard("*Trail").is_match("UpdateTrail"));
        assert!(StrMatch::from_wildcard("*dateTr*").is_match("UpdateTrail"));
        assert!(!StrMatch::from_wildcard("Con*Login").is_match("ConsoleLogin"));
        assert!(StrMatch::from_wildcard("Con*Login").is_match("Con*Login"));
        assert!(StrMatch::from_wildcard("**").is_match(""));
    }

    #[test]
    fn null_never_compares() {
        let lit = Literal::Str(StrMatch::from_wildcard("x"));
        assert!(!compare(Op::Eq, &lit, Scalar::Null));
        assert!(!compare(Op::Ne, &lit, Scalar::Null));
        assert!(!compare(Op::Eq, &Literal::Present, Scalar::Null));
    }
}
