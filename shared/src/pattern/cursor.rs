//! A byte-offset cursor over the pattern text, shared by the three sub-parsers.

use super::error::PatternError;

pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    pub(crate) fn src(&self) -> &'a str {
        self.src
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    pub(crate) fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Takes characters while `f` holds.
    pub(crate) fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    /// A short description of what stands at the cursor, for "expected X, found Y" messages.
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            None => "the end of the pattern".to_owned(),
            Some(_) => {
                let snippet: String = self.rest().chars().take(12).collect();
                format!("'{snippet}'")
            }
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> PatternError {
        PatternError::at(self.src, self.pos, message)
    }

    pub(crate) fn error_at(&self, at: usize, message: impl Into<String>) -> PatternError {
        PatternError::at(self.src, at, message)
    }

    /// "expected X, found Y" at the cursor.
    pub(crate) fn expected(&self, what: &str) -> PatternError {
        self.error(format!("expected {what}, found {}", self.found()))
    }

    /// Reads a double-quoted string starting at the cursor (which must be on `"`).
    /// `\"` stands for a quote and `\\` for a backslash (the escaping AWS CDK emits); any other
    /// backslash is kept literally.
    pub(crate) fn quoted(&mut self) -> Result<String, PatternError> {
        let open = self.pos;
        debug_assert_eq!(self.peek(), Some('"'));
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(
                        self.error_at(open, "unterminated quoted string: expected a closing '\"'")
                    );
                }
                Some('"') => return Ok(out),
                Some('\\') => match self.peek() {
                    Some(c @ ('"' | '\\')) => {
                        self.bump();
                        out.push(c);
                    }
                    _ => out.push('\\'),
                },
                Some(c) => out.push(c),
            }
        }
    }
}
