//! The CloudWatch Logs filter-pattern language, compiled once and evaluated per log event.
//!
//! Behaviour follows `docs/specs/filter-patterns.md` (rule ids U*, R*, J*, S*, L*, E* of its §2
//! and A* of its §3 are cited in the code). The syntax is chosen by the first non-blank character
//! (§2.0): `{` JSON, `[` space-delimited, anything else an unstructured term list (where `%regex%`
//! is one kind of term).
//!
//! Where the AWS documentation is silent (`docs/specs/filter-patterns.md` §3) the engine follows
//! the best estimates of `shared/tests/data/filter-corpus-doubtful.json`, each noted in the code
//! where it is implemented:
//!
//! | question | behaviour | cases |
//! |---|---|---|
//! | `!=` on an absent field | false | dbt-001..003 |
//! | `*` matching zero characters; `*` in the middle | yes; literal | dbt-004..008 |
//! | `" "` | matches every event | dbt-009 |
//! | `?` terms mixed with other terms | ignored (doc), not CDK's OR of groups | dbt-010 |
//! | number vs numeric string, quoted number vs JSON number | compared as numbers / by text | dbt-011..016 |
//! | `[*] != x` | some element differs | dbt-017 |
//! | selector alone, `>` with a string, `IS "x"`, `==`, lower-case keywords, `$.@x` | rejected | dbt-018..022, 032 |
//! | `= *` on null / on `""` | false / true | dbt-023/024 |
//! | regex or `4*` against a JSON number | on the number's text | dbt-025, 033 |
//! | space-delimited: more event fields than pattern fields | the last field takes the rest (**not** dbt-026, which contradicts the doc's `[w1=ERROR, w2]` example) | dbt-026/027 |
//! | regex as a term among others; unquoted `ERROR:` | allowed, searched as written | dbt-028/029 |
//! | text before JSON, top-level array | not a JSON event | dbt-031, 038 |
//! | booleans compared with `=` (undocumented, not in the corpus) | by their text `true`/`false` | — |
//! | the same key twice in one object (undocumented) | any occurrence may satisfy a condition | — |
//!
//! Errors: [`PatternError`] gives a 1-based character column and what was expected there.
//!
//! ```
//! use trailwatch_shared::pattern::FilterPattern;
//! let p = FilterPattern::parse(r#"{ $.eventName = "StopLogging" }"#).unwrap();
//! assert!(p.matches(r#"{"eventName":"StopLogging"}"#));
//! assert!(FilterPattern::parse("{ $.x IS NOT NULL }").is_err());
//! ```

mod compact;
mod cursor;
mod delimited;
mod error;
pub(crate) mod json;
mod regex_dialect;
mod unstructured;
pub(crate) mod value;

pub use compact::compact_json;
pub use error::PatternError;

use cursor::Cursor;
use delimited::DelimitedPattern;
use json::JsonPattern;
use unstructured::TermPattern;
use value::{Literal, Op, StrMatch};

/// Documented limits (L1, R5, J4).
pub mod limits {
    /// L1: a filter pattern has at most 1024 characters.
    pub const MAX_PATTERN_CHARS: usize = 1024;
    /// R5: at most 2 regular expressions per JSON or space-delimited pattern.
    pub const MAX_REGEXES: usize = 2;
    /// J4: at most 3 selectors with a wildcard per pattern (and 1 wildcard per selector).
    pub const MAX_WILDCARD_SELECTORS: usize = 3;
}

/// A compiled filter pattern. Parse once, then call [`FilterPattern::matches`] per event; it
/// is `Send + Sync` and evaluation does not allocate in the common case.
#[derive(Debug)]
pub struct FilterPattern {
    text: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Terms(TermPattern),
    Json(JsonPattern),
    Delimited(DelimitedPattern),
}

/// Which of the three syntaxes a pattern uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// A list of terms searched in the raw message (anything not starting with `{` or `[`,
    /// including `%regex%` terms and `?` alternatives).
    Unstructured,
    /// `{ $.selector op value … }`: conditions on fields of a JSON event (what CloudTrail rules
    /// use).
    Json,
    /// `[field1, field2 = value, …]`: conditions on the space-separated fields of the message.
    SpaceDelimited,
}

impl FilterPattern {
    /// Parses and validates a pattern exactly as CloudWatch Logs would accept it.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        if pattern.chars().count() > limits::MAX_PATTERN_CHARS {
            let at = pattern
                .char_indices()
                .nth(limits::MAX_PATTERN_CHARS)
                .map_or(pattern.len(), |(i, _)| i);
            return Err(PatternError::at(
                pattern,
                at,
                format!(
                    "a filter pattern has at most {} characters (L1)",
                    limits::MAX_PATTERN_CHARS
                ),
            ));
        }
        let kind = match pattern.trim_start().chars().next() {
            Some('{') => Kind::Json(JsonPattern::parse(pattern)?),
            Some('[') => Kind::Delimited(DelimitedPattern::parse(pattern)?),
            _ => Kind::Terms(TermPattern::parse(pattern)?),
        };
        Ok(FilterPattern {
            text: pattern.to_owned(),
            kind,
        })
    }

    /// Does one log event's message match? For CloudTrail the message is one record's JSON text.
    pub fn matches(&self, message: &str) -> bool {
        match &self.kind {
            Kind::Terms(t) => t.matches(message),
            Kind::Json(j) => j.matches(message),
            Kind::Delimited(d) => d.matches(message),
        }
    }

    /// The pattern text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which of the three syntaxes the pattern uses, chosen by its first non-blank character.
    pub fn syntax(&self) -> Syntax {
        match self.kind {
            Kind::Terms(_) => Syntax::Unstructured,
            Kind::Json(_) => Syntax::Json,
            Kind::Delimited(_) => Syntax::SpaceDelimited,
        }
    }

    /// The JSON program, for rule sets that share one projection across patterns.
    pub(crate) fn json(&self) -> Option<&JsonPattern> {
        match &self.kind {
            Kind::Json(j) => Some(j),
            _ => None,
        }
    }
}

impl std::fmt::Display for FilterPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The value after an operator, in JSON and space-delimited patterns. `is_end` says where an
/// unquoted value stops; `regexes` counts regexes against the R5 quota.
pub(crate) fn parse_value(
    c: &mut Cursor<'_>,
    op: Op,
    is_end: fn(char) -> bool,
    regexes: &mut usize,
) -> Result<Literal, PatternError> {
    let start = c.pos();
    let ordering = !op.is_equality();
    let lit = match c.peek() {
        Some('%') => {
            if ordering {
                return Err(c.error("a regex value only takes '=' or '!='"));
            }
            *regexes += 1;
            if *regexes > limits::MAX_REGEXES {
                return Err(c.error(format!(
                    "a JSON or space-delimited pattern may contain at most {} regular expressions (R5)",
                    limits::MAX_REGEXES
                )));
            }
            c.bump();
            let body = c.take_while(|ch| ch != '%');
            if !c.eat("%") {
                return Err(c.error_at(start, "unterminated regex: expected a closing '%'"));
            }
            Literal::Regex(
                regex_dialect::compile(body)
                    .map_err(|(at, msg)| c.error_at(start + 1 + at, msg))?,
            )
        }
        Some('"') => {
            let s = c.quoted()?;
            if ordering {
                // Strings only take = and != (doubtful case dbt-019, best estimate "error").
                return Err(c.error_at(
                    start,
                    "'<', '>', '<=' and '>=' need a number, found a quoted string",
                ));
            }
            if s == "*" {
                Literal::Present
            } else {
                Literal::Str(StrMatch::from_wildcard(&s))
            }
        }
        _ => {
            let token = c.take_while(|ch| !is_end(ch));
            if token.is_empty() {
                return Err(c.expected("a value"));
            }
            if let Some(bad) = token.chars().find(|ch| "\"'()[]{}=!<>%\\,".contains(*ch)) {
                return Err(c.error_at(
                    start,
                    format!("unquoted value contains '{bad}'; put the value in double quotes"),
                ));
            }
            if token.starts_with('$') {
                return Err(c.error_at(
                    start,
                    "expected a value; comparing two selectors is not supported",
                ));
            }
            if value::is_number(token) {
                // J7: an unquoted number compares as a number.
                Literal::Num(
                    token
                        .parse()
                        .map_err(|_| c.error_at(start, "number out of range"))?,
                )
            } else if ordering {
                return Err(c.error_at(
                    start,
                    format!("'<', '>', '<=' and '>=' need a number, found '{token}'"),
                ));
            } else if token == "*" {
                Literal::Present
            } else {
                // A3: unquoted non-numeric values compare as strings, with end wildcards.
                Literal::Str(StrMatch::from_wildcard(token))
            }
        }
    };
    Ok(lit)
}

#[cfg(test)]
mod json_tests;
#[cfg(test)]
mod tests;
