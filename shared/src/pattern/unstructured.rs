//! Unstructured term patterns (`docs/specs/filter-patterns.md` U1–U9): terms, quoted phrases, `?`
//! terms, `-` exclusions and `%regex%` terms, all searched in the raw message bytes.

use memchr::memmem::Finder;
use regex::Regex;

use super::cursor::Cursor;
use super::error::PatternError;
use super::regex_dialect;

/// One term, ready to search a message.
#[derive(Debug, Clone)]
enum Term {
    /// A substring (U2): plain terms and quoted phrases. The finder is built once, at parse time.
    Substring(Box<Finder<'static>>),
    Regex(Regex),
    /// A quoted phrase made only of whitespace, e.g. `" "`. The doc gives `" "` as "match
    /// everything" (U8, A1); doubtful case dbt-009 best estimate: it matches every event, even one
    /// without a space.
    Everything,
}

impl Term {
    fn is_in(&self, message: &str) -> bool {
        match self {
            Term::Substring(f) => f.find(message.as_bytes()).is_some(),
            Term::Regex(re) => re.is_match(message),
            Term::Everything => true,
        }
    }
}

/// A compiled term list.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermPattern {
    required: Vec<Term>,
    excluded: Vec<Term>,
    /// Empty whenever `required` or `excluded` is not (U5).
    optional: Vec<Term>,
}

impl TermPattern {
    pub(crate) fn parse(src: &str) -> Result<Self, PatternError> {
        let mut c = Cursor::new(src);
        let mut p = TermPattern::default();
        loop {
            c.skip_ws();
            let Some(first) = c.peek() else { break };
            let start = c.pos();
            let kind = match first {
                '?' | '-' => {
                    c.bump();
                    if c.peek().is_none_or(char::is_whitespace) {
                        return Err(c.error_at(start, format!("expected a term after '{first}'")));
                    }
                    first
                }
                _ => '+',
            };
            let term = term(&mut c)?;
            match kind {
                '?' => p.optional.push(term),
                '-' => p.excluded.push(term),
                _ => p.required.push(term),
            }
        }
        // U5: when ?-terms are mixed with plain terms or exclusions, all ?-terms are ignored
        // (the current doc's explicit note). AWS CDK's anyTermGroup assumes an OR of AND-groups
        // instead (A2); doubtful case dbt-010 best estimate follows the doc.
        if !p.required.is_empty() || !p.excluded.is_empty() {
            p.optional.clear();
        }
        Ok(p)
    }

    pub(crate) fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| t.is_in(message))
            && !self.excluded.iter().any(|t| t.is_in(message))
            && (self.optional.is_empty() || self.optional.iter().any(|t| t.is_in(message)))
    }
}

fn term(c: &mut Cursor<'_>) -> Result<Term, PatternError> {
    let start = c.pos();
    let t = match c.peek() {
        Some('"') => {
            let phrase = c.quoted()?;
            if phrase.chars().all(char::is_whitespace) && !phrase.is_empty() {
                Term::Everything
            } else {
                Term::Substring(Box::new(Finder::new(phrase.as_bytes()).into_owned()))
            }
        }
        Some('%') => {
            // A regex runs to the next '%' ('%' itself is not an allowed regex character), so
            // it may contain spaces (A7).
            c.bump();
            let body = c.take_while(|ch| ch != '%');
            if !c.eat("%") {
                return Err(c.error_at(start, "unterminated regex: expected a closing '%'"));
            }
            let body_start = start + 1;
            let re = regex_dialect::compile(body)
                .map_err(|(at, msg)| c.error_at(body_start + at, msg))?;
            Term::Regex(re)
        }
        _ => {
            // An unquoted term is everything up to the next whitespace, punctuation included
            // (A10; dbt-029 best estimate: `ERROR:` searches "ERROR:").
            let word = c.take_while(|ch| !ch.is_whitespace());
            Term::Substring(Box::new(Finder::new(word.as_bytes()).into_owned()))
        }
    };
    if c.peek().is_some_and(|ch| !ch.is_whitespace()) {
        return Err(c.expected("whitespace between terms"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        TermPattern::parse(p).unwrap().matches(msg)
    }

    #[test]
    fn u5_optional_terms_ignored_when_mixed() {
        assert!(m("?ERROR ?WARN INFO", "INFO only"));
        assert!(!m("?ERROR ?WARN INFO", "ERROR only"));
        assert!(m("?ERROR -INFO", "nothing here"));
        assert!(m("?ERROR ?WARN", "a WARN"));
        assert!(!m("?ERROR ?WARN", "an INFO"));
    }

    #[test]
    fn u6_exclusions() {
        assert!(m("-ERROR", "fine"));
        assert!(!m("-ERROR", "ERRORS"));
        assert!(!m(
            r#"ERROR -"MISSING ARGUMENTS""#,
            "[ERROR 419] MISSING ARGUMENTS"
        ));
        assert!(m(r#"ERROR -"MISSING ARGUMENTS""#, "[ERROR 419] MISSING"));
    }

    #[test]
    fn u7_phrases_and_escapes() {
        assert!(m(r#""say \"hi\"""#, r#"they say "hi" loudly"#));
        assert!(m(r#""a b""#, "xa by"));
        assert!(!m(r#""a b""#, "a  b"));
    }

    #[test]
    fn regex_terms_mix_with_plain_terms() {
        // dbt-028 best estimate: a regex is one more term of the list.
        assert!(m(r"ERROR %5\d\d%", "[ERROR 500] INTERNAL"));
        assert!(!m(r"ERROR %5\d\d%", "[ERROR 400] INTERNAL"));
    }

    #[test]
    fn malformed_term_lists() {
        for bad in ["-", "ERROR ?", r#""open"#, "%abc", r#""a"b"#, "%(x)%"] {
            assert!(TermPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
