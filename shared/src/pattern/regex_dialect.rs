//! AWS's filter-pattern regex dialect (`docs/specs/filter-patterns.md` R1–R4, A7), translated to
//! the `regex` crate.
//!
//! AWS accepts a small, documented subset and rejects everything else, so the translation
//! validates every character rather than passing the text through: a regex that AWS would reject
//! must be rejected here too (a silently different regex is a missed or false alert).

use regex::{Regex, RegexBuilder};

/// Compiled regexes are bounded so that a hostile pattern cannot take the function's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Characters allowed between the `%` delimiters (R2). The space is not in AWS's list but the
/// doc's own example `%^starting|^initializing|^shutting down%` uses one, so we accept it
/// (A7, doubtful case dbt-037: best estimate "allowed").
fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":_#=@/;,- ^$?[]{}|\\*+.".contains(c)
}

/// A translation failure: byte offset inside the regex body and a message.
pub(crate) type TranslateError = (usize, String);

/// Validates `body` (the text between the `%` delimiters) and compiles it for unanchored search.
pub(crate) fn compile(body: &str) -> Result<Regex, TranslateError> {
    let translated = translate(body)?;
    RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            (
                0,
                format!("regex is not valid: {}", first_line(&e.to_string())),
            )
        })
}

fn first_line(s: &str) -> String {
    // regex errors render a multi-line caret diagram; the last line carries the reason.
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or(s)
        .to_owned()
}

// ASCII classes: AWS defines \d as [0-9] and \w as [a-zA-Z_0-9]; Rust's are Unicode-aware.
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
// Java's \s: [ \t\n\x0B\f\r].
const SPACE: &str = "\\t\\n\\x0B\\x0C\\r ";

fn translate(body: &str) -> Result<String, TranslateError> {
    if let Some((i, c)) = body.char_indices().find(|&(_, c)| !is_allowed(c)) {
        let what = if c.is_ascii() {
            format!("character '{c}'")
        } else {
            format!("non-ASCII character '{c}'")
        };
        return Err((
            i,
            format!(
                "{what} is not allowed in a regex (allowed: letters, digits, space, : _ # = @ / ; , - \
                 and the operators ^ $ ? [ ] {{ }} | \\ * + .; write other ASCII symbols as \\xhh, e.g. \\x28 for '(')"
            ),
        ));
    }
    // Every character is ASCII from here on, so byte indexing is character indexing.
    let b = body.as_bytes();
    let mut out = String::with_capacity(body.len() + 8);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let (esc, len) = escape(b, i)?;
                match esc {
                    Escape::Class { set, negated } => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(set);
                        out.push(']');
                    }
                    Escape::Literal(c) => push_literal(&mut out, c),
                }
                i += len;
            }
            b'[' => i = class(b, i, &mut out)?,
            b'{' => i = counted(b, i, &mut out)?,
            // Outside a class or a quantifier these are literals in Java's dialect.
            c @ (b']' | b'}' | b'#' | b'-') => {
                push_literal(&mut out, c);
                i += 1;
            }
            c => {
                out.push(char::from(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: u8) {
    out.push_str(&regex::escape(char::from(c).encode_utf8(&mut [0; 4])));
}

enum Escape {
    Class { set: &'static str, negated: bool },
    Literal(u8),
}

/// Parses the escape at `b[i] == '\\'`; returns it and its length.
fn escape(b: &[u8], i: usize) -> Result<(Escape, usize), TranslateError> {
    let Some(&c) = b.get(i + 1) else {
        return Err((i, "a regex cannot end with a lone '\\'".to_owned()));
    };
    let class = |set, negated| Ok((Escape::Class { set, negated }, 2));
    match c {
        b'd' => class(DIGIT, false),
        b'D' => class(DIGIT, true),
        b'w' => class(WORD, false),
        b'W' => class(WORD, true),
        b's' => class(SPACE, false),
        b'S' => class(SPACE, true),
        b'x' => {
            let hex = b
                .get(i + 2..i + 4)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let Some(hex) = hex else {
                return Err((
                    i,
                    "'\\x' must be followed by two hexadecimal digits".to_owned(),
                ));
            };
            let v = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("00"), 16).unwrap_or(0);
            if !v.is_ascii() {
                return Err((i, "'\\x' escapes only ASCII characters (00-7F); multi-byte characters are not supported".to_owned()));
            }
            Ok((Escape::Literal(v), 4))
        }
        c if c.is_ascii_alphanumeric() => Err((
            i,
            format!(
                "unsupported escape '\\{}' (supported: \\d \\D \\s \\S \\w \\W \\xhh and escaped symbols)",
                char::from(c)
            ),
        )),
        c => Ok((Escape::Literal(c), 2)),
    }
}

/// Character class starting at `b[start] == '['`; returns the index after the closing `]`.
fn class(b: &[u8], start: usize, out: &mut String) -> Result<usize, TranslateError> {
    let mut i = start + 1;
    let mut body = String::new();
    let negated = b.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = b.get(i) else {
            return Err((start, "unclosed character class: expected ']'".to_owned()));
        };
        if c == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, len) = class_atom(b, i)?;
        i += len;
        match lo {
            Escape::Class {
                set,
                negated: false,
            } => body.push_str(set),
            Escape::Class { set, negated: true } => {
                // Nested class: Rust supports [[^0-9]x].
                body.push_str("[^");
                body.push_str(set);
                body.push(']');
            }
            Escape::Literal(lo) => {
                let is_range = b.get(i) == Some(&b'-') && b.get(i + 1).is_some_and(|&n| n != b']');
                if is_range {
                    let (hi, hi_len) = class_atom(b, i + 1)?;
                    let Escape::Literal(hi) = hi else {
                        return Err((
                            i,
                            "a character range cannot end with a class escape".to_owned(),
                        ));
                    };
                    if hi < lo {
                        return Err((
                            i,
                            format!(
                                "invalid character range '{}-{}'",
                                char::from(lo),
                                char::from(hi)
                            ),
                        ));
                    }
                    push_class_literal(&mut body, lo);
                    body.push('-');
                    push_class_literal(&mut body, hi);
                    i += 1 + hi_len;
                } else {
                    push_class_literal(&mut body, lo);
                }
            }
        }
    }
    out.push_str(if negated { "[^" } else { "[" });
    out.push_str(&body);
    out.push(']');
    Ok(i)
}

fn class_atom(b: &[u8], i: usize) -> Result<(Escape, usize), TranslateError> {
    match b.get(i) {
        Some(b'\\') => escape(b, i),
        Some(&c) => Ok((Escape::Literal(c), 1)),
        None => Err((i, "unclosed character class: expected ']'".to_owned())),
    }
}

fn push_class_literal(body: &mut String, c: u8) {
    // Inside a Rust class `[`, `&&`, `--`, `~~`, `^` and `-` have meanings; escape all symbols.
    if c.is_ascii_punctuation() {
        body.push('\\');
    }
    body.push(char::from(c));
}

/// `{m}`, `{m,}`, `{,n}`, `{m,n}` (spaces allowed around the numbers, A7). `{,n}` is rewritten
/// to `{0,n}` because older regex engines reject it.
fn counted(b: &[u8], start: usize, out: &mut String) -> Result<usize, TranslateError> {
    let Some(len) = b[start..].iter().position(|&c| c == b'}') else {
        return Err((start, "unclosed quantifier: expected '}'".to_owned()));
    };
    let inner = std::str::from_utf8(&b[start + 1..start + len]).unwrap_or("");
    let bad = || {
        (
            start,
            format!("invalid quantifier '{{{inner}}}': expected {{m}}, {{m,}}, {{,n}} or {{m,n}}"),
        )
    };
    let num = |s: &str| -> Result<Option<u32>, TranslateError> {
        let s = s.trim_matches(' ');
        if s.is_empty() {
            return Ok(None);
        }
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u32>().map(Some).map_err(|_| bad())
    };
    let (m, n) = match inner.split_once(',') {
        None => {
            let m = num(inner)?.ok_or_else(bad)?;
            (Some(m), Some(m))
        }
        Some((m, n)) => (num(m)?, num(n)?),
    };
    match (m, n, inner.contains(',')) {
        (Some(m), Some(_), false) => out.push_str(&format!("{{{m}}}")),
        (None, None, _) => return Err(bad()),
        (m, Some(n), true) => {
            let m = m.unwrap_or(0);
            if m > n {
                return Err((
                    start,
                    format!("invalid quantifier '{{{inner}}}': minimum exceeds maximum"),
                ));
            }
            out.push_str(&format!("{{{m},{n}}}"));
        }
        (Some(m), None, true) => out.push_str(&format!("{{{m},}}")),
        _ => return Err(bad()),
    }
    Ok(start + len + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(re: &str, text: &str) -> bool {
        compile(re)
            .unwrap_or_else(|e| panic!("{re}: {e:?}"))
            .is_match(text)
    }

    #[test]
    fn r3_operators() {
        assert!(ok("a{,2}b", "b"));
        assert!(ok("^a{,2}b$", "aab"));
        assert!(!ok("^a{,2}b$", "aaab"));
        assert!(ok("a{2,}", "xaay"));
        assert!(ok("a{2, 3}", "aa"));
        assert!(ok("[^0-9]", "a"));
        assert!(!ok("^[^0-9]+$", "a1"));
        assert!(ok("\\x28", "("));
        assert!(ok("[\\d-]", "-"));
        assert!(ok("[a\\]]", "]"));
        assert!(ok("\\.\\*", ".*"));
    }

    #[test]
    fn r3_ascii_classes() {
        // AWS \d and \w are ASCII only; Rust's default classes would accept these.
        assert!(!ok("\\d", "\u{0663}"));
        assert!(!ok("\\w", "é"));
        assert!(ok("\\W", "é"));
        assert!(ok("\\s", "\t"));
        assert!(!ok("\\S", " "));
    }

    #[test]
    fn r2_rejections() {
        for bad in [
            "a(b)", "é", "a!", "\\q", "[abc", "a{x}", "a{3,1}", "\\x4", "\\xff", "a\\", "{,}",
            "a{2",
        ] {
            assert!(compile(bad).is_err(), "{bad} should be rejected");
        }
    }
}
