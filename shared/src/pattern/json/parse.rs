//! Parser for JSON patterns (`docs/specs/filter-patterns.md` J1–J11, R5, R6, J4 quotas, E1).
//!
//! Grammar (precedence `()` > `&&` > `||`, J9):
//! ```text
//! pattern   := ws '{' ws or ws '}' ws
//! or        := and ( '||' and )*
//! and       := primary ( '&&' primary )*
//! primary   := '(' ws or ws ')' | condition
//! condition := selector ws ( op ws value | 'IS' ws ('NULL'|'TRUE'|'FALSE') | 'NOT' ws 'EXISTS' )
//! selector  := '$.' first ( '.' seg | '[' bracket ']' )*
//! ```

use super::ast::{Atom, Expr, Step, Test};
use crate::pattern::cursor::Cursor;
use crate::pattern::error::PatternError;
use crate::pattern::value::Op;
use crate::pattern::{limits, parse_value};

pub(crate) struct Parsed {
    pub(crate) atoms: Vec<Atom>,
    pub(crate) expr: Expr,
}

struct Parser<'a> {
    c: Cursor<'a>,
    atoms: Vec<Atom>,
    wildcard_selectors: usize,
    regexes: usize,
}

pub(crate) fn parse(src: &str) -> Result<Parsed, PatternError> {
    let mut p = Parser {
        c: Cursor::new(src),
        atoms: Vec::new(),
        wildcard_selectors: 0,
        regexes: 0,
    };
    p.c.skip_ws();
    if !p.c.eat("{") {
        return Err(p.c.expected("'{'"));
    }
    let expr = p.or()?;
    p.c.skip_ws();
    if !p.c.eat("}") {
        let what = if p.c.at_end() {
            "a closing '}'"
        } else {
            "'&&', '||' or a closing '}'"
        };
        return Err(p.c.expected(what));
    }
    p.c.skip_ws();
    if !p.c.at_end() {
        return Err(p.c.expected("nothing after the closing '}'"));
    }
    Ok(Parsed {
        atoms: p.atoms,
        expr,
    })
}

impl Parser<'_> {
    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut terms = vec![self.and()?];
        loop {
            self.c.skip_ws();
            if self.c.eat("||") {
                terms.push(self.and()?);
            } else {
                self.reject_single('|')?;
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Or(flatten(terms, true))
        })
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut terms = vec![self.primary()?];
        loop {
            self.c.skip_ws();
            if self.c.eat("&&") {
                terms.push(self.primary()?);
            } else {
                self.reject_single('&')?;
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::And(flatten(terms, false))
        })
    }

    fn reject_single(&self, op: char) -> Result<(), PatternError> {
        if self.c.peek() == Some(op) {
            return Err(self
                .c
                .error(format!("expected '{op}{op}', found a single '{op}'")));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Expr, PatternError> {
        self.c.skip_ws();
        if self.c.peek() == Some('(') {
            let open = self.c.pos();
            self.c.bump();
            let inner = self.or()?;
            self.c.skip_ws();
            if !self.c.eat(")") {
                if self.c.at_end() || self.c.peek() == Some('}') {
                    return Err(self
                        .c
                        .error_at(open, "unbalanced parentheses: this '(' is never closed"));
                }
                return Err(self.c.expected("')', '&&' or '||'"));
            }
            return Ok(inner);
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Expr, PatternError> {
        let start = self.c.pos();
        if !self.c.starts_with("$") {
            return Err(self.c.expected("a selector starting with '$.' or '('"));
        }
        let steps = self.selector()?;
        let wildcards = steps
            .iter()
            .filter(|s| matches!(s, Step::AnyField | Step::AnyElement))
            .count();
        if wildcards > 1 {
            return Err(self.c.error_at(
                start,
                "a selector may contain at most one wildcard ([*] or .*)",
            ));
        }
        if wildcards == 1 {
            self.wildcard_selectors += 1;
            if self.wildcard_selectors > limits::MAX_WILDCARD_SELECTORS {
                return Err(self.c.error_at(
                    start,
                    format!(
                        "a filter pattern may contain at most {} wildcard selectors",
                        limits::MAX_WILDCARD_SELECTORS
                    ),
                ));
            }
        }
        self.c.skip_ws();
        let test = self.test()?;
        let id =
            u32::try_from(self.atoms.len()).map_err(|_| self.c.error("too many conditions"))?;
        self.atoms.push(Atom { steps, test });
        Ok(Expr::Atom(id))
    }

    fn test(&mut self) -> Result<Test, PatternError> {
        let at = self.c.pos();
        if self.keyword("IS") {
            self.c.skip_ws();
            if self.keyword("NULL") {
                return Ok(Test::IsNull);
            }
            if self.keyword("TRUE") {
                return Ok(Test::IsTrue);
            }
            if self.keyword("FALSE") {
                return Ok(Test::IsFalse);
            }
            if self.keyword("NOT") {
                return Err(self.c.error_at(
                    at,
                    "'IS NOT' is not supported (J8); use '= *' or 'NOT EXISTS' instead",
                ));
            }
            return Err(self.c.expected("NULL, TRUE or FALSE after IS"));
        }
        if self.keyword("NOT") {
            self.c.skip_ws();
            if self.keyword("EXISTS") {
                return Ok(Test::NotExists);
            }
            return Err(self.c.expected("EXISTS after NOT"));
        }
        if self.keyword("EXISTS") {
            return Err(self.c.error_at(
                at,
                "'EXISTS' is not supported (J8); use '= *' to test that a property is present",
            ));
        }
        let op = self.op()?;
        self.c.skip_ws();
        let lit = parse_value(&mut self.c, op, is_json_value_end, &mut self.regexes)?;
        Ok(Test::Cmp(op, lit))
    }

    /// An upper-case keyword followed by a non-word character (keywords are case sensitive:
    /// doubtful case dbt-022, best estimate "lower-case is an error").
    fn keyword(&mut self, kw: &str) -> bool {
        let rest = self.c.rest();
        if rest.starts_with(kw)
            && !rest[kw.len()..].starts_with(|ch: char| ch.is_alphanumeric() || ch == '_')
        {
            self.c.eat(kw);
            true
        } else {
            false
        }
    }

    fn op(&mut self) -> Result<Op, PatternError> {
        let at = self.c.pos();
        let op = if self.c.eat("!=") {
            Op::Ne
        } else if self.c.eat("<=") {
            Op::Le
        } else if self.c.eat(">=") {
            Op::Ge
        } else if self.c.eat("=") {
            Op::Eq
        } else if self.c.eat("<") {
            Op::Lt
        } else if self.c.eat(">") {
            Op::Gt
        } else {
            return Err(self.c.expected(
                "an operator (= != < > <= >=), IS NULL, IS TRUE, IS FALSE or NOT EXISTS",
            ));
        };
        // `==`, `=<`, `<>` and the like are not operators (dbt-021 best estimate: rejected).
        if self.c.peek().is_some_and(|ch| "=<>!".contains(ch)) {
            return Err(self.c.error_at(
                at,
                format!(
                    "unknown operator; expected one of = != < > <= >=, found {}",
                    {
                        let mut probe = Cursor::new(self.c.src());
                        probe.set_pos(at);
                        probe.found()
                    }
                ),
            ));
        }
        Ok(op)
    }

    fn selector(&mut self) -> Result<Vec<Step>, PatternError> {
        let c = &mut self.c;
        if !c.eat("$.") {
            return Err(c.expected("a selector starting with '$.'"));
        }
        let mut steps = Vec::new();
        // After "$." comes a name, `*` or a bracket.
        steps.push(dot_segment(c)?);
        loop {
            match c.peek() {
                Some('.') => {
                    c.bump();
                    steps.push(dot_segment(c)?);
                }
                Some('[') => steps.push(bracket(c)?),
                _ => break,
            }
        }
        Ok(steps)
    }
}

/// Segment after a `.`: a name, `*`, or a bracket (`$.['a.b']`).
fn dot_segment(c: &mut Cursor<'_>) -> Result<Step, PatternError> {
    match c.peek() {
        Some('*') => {
            c.bump();
            Ok(Step::AnyField)
        }
        Some('[') => bracket(c),
        _ => {
            let name = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if name.is_empty() {
                return Err(c.expected("a property name (letters, digits, '-' and '_'; use ['name'] for other characters)"));
            }
            Ok(Step::Key(name.into()))
        }
    }
}

/// `[n]`, `[*]`, `['key']` or `["key"]`.
fn bracket(c: &mut Cursor<'_>) -> Result<Step, PatternError> {
    let open = c.pos();
    c.bump();
    let step = match c.peek() {
        Some('*') => {
            c.bump();
            Step::AnyElement
        }
        Some(q @ ('\'' | '"')) => {
            c.bump();
            let key = c.take_while(|ch| ch != q);
            if !c.eat(&q.to_string()) {
                return Err(c.error_at(
                    open,
                    format!("unterminated bracket key: expected a closing {q}"),
                ));
            }
            Step::Key(key.into())
        }
        Some(ch) if ch.is_ascii_digit() => {
            let digits = c.take_while(|ch| ch.is_ascii_digit());
            let n = digits
                .parse::<usize>()
                .map_err(|_| c.error_at(open, "array index too large"))?;
            Step::Index(n)
        }
        _ => return Err(c.expected("an array index, '*' or a quoted key inside '[ ]'")),
    };
    if !c.eat("]") {
        return Err(c.expected("']'"));
    }
    Ok(step)
}

/// An unquoted JSON value ends at whitespace, a parenthesis or brace, or `&&`/`||` (A3).
fn is_json_value_end(ch: char) -> bool {
    ch.is_whitespace() || matches!(ch, ')' | '(' | '}' | '{' | '&' | '|')
}

fn flatten(terms: Vec<Expr>, or: bool) -> Vec<Expr> {
    let mut out = Vec::with_capacity(terms.len());
    for t in terms {
        match t {
            Expr::Or(xs) if or => out.extend(xs),
            Expr::And(xs) if !or => out.extend(xs),
            t => out.push(t),
        }
    }
    out
}
