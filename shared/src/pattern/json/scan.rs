//! One pass over a JSON message, guided by the projection trie.
//!
//! Only the nodes a selector reaches are decoded; every other subtree is skipped. Two modes:
//! - validating: an iterative validating skipper (a malformed message is "not JSON", J1) that
//!   allocates nothing;
//! - unvalidated: strings end and skipped subtrees are jumped over by bit scans of the message's
//!   structural index ([`super::structure`]), and nothing is checked. The values seen are exact
//!   for a valid message; the caller validates before it reports a match.
//!
//! Strings are borrowed from the message unless they contain escapes.

use super::projection::DNode;
use std::cell::RefCell;

use super::strings::{decode, skip_plain};
use super::structure::Structure;
use crate::pattern::value::Scalar;

/// Deeper nesting is treated as "not a JSON event" (serde_json, which most producers of our input
/// use, stops at 128; CloudTrail records are far shallower).
const MAX_DEPTH: usize = 512;

struct Invalid;

type Res<T> = Result<T, Invalid>;

struct Scanner<'t, 'n, F, const VALIDATE: bool> {
    b: &'t [u8],
    /// Built for unvalidated scans only.
    structure: &'t Structure,
    s: &'t str,
    i: usize,
    nodes: &'n [DNode],
    on_leaf: F,
    depth: usize,
}

/// Scans `message`, calling `on_leaf(slot, Some(scalar))` for every scalar and
/// `on_leaf(slot, None)` for every container a selector reaches. With `VALIDATE`, returns false
/// if the message is not one JSON object (surrounding whitespace allowed); without, false only
/// for some messages that are not, and the values passed to `on_leaf` are exact only for a
/// valid message.
pub(crate) fn scan<F, const VALIDATE: bool>(nodes: &[DNode], message: &str, on_leaf: F) -> bool
where
    F: FnMut(u32, Option<Scalar<'_>>),
{
    if VALIDATE {
        return scan_with::<F, true>(nodes, message, &Structure::default(), on_leaf);
    }
    thread_local! {
        // One index per thread, reused from record to record.
        static STRUCTURE: RefCell<Structure> = RefCell::default();
    }
    STRUCTURE.with(|cell| {
        let mut owned = None;
        let mut guard = cell.try_borrow_mut();
        let structure = match guard.as_deref_mut() {
            Ok(s) => s,
            // A scan inside a scan's callback: use a fresh index.
            Err(_) => owned.insert(Structure::default()),
        };
        structure.build(message.as_bytes());
        let found = scan_with::<F, false>(nodes, message, structure, on_leaf);
        structure.release();
        found
    })
}

fn scan_with<F, const VALIDATE: bool>(
    nodes: &[DNode],
    message: &str,
    structure: &Structure,
    on_leaf: F,
) -> bool
where
    F: FnMut(u32, Option<Scalar<'_>>),
{
    let mut s = Scanner::<F, VALIDATE> {
        b: message.as_bytes(),
        structure,
        s: message,
        i: 0,
        nodes,
        on_leaf,
        depth: 0,
    };
    s.ws();
    // J1: only a JSON object is a JSON log event. A top-level array or scalar is not (doubtful
    // case dbt-038, best estimate "no match"); neither is text before the JSON (dbt-031).
    if s.peek() != Some(b'{') {
        return false;
    }
    if s.value(Some(0)).is_err() {
        return false;
    }
    s.ws();
    s.i == s.b.len()
}

/// Whether `message` is one JSON object (J1), surrounding whitespace allowed.
pub(crate) fn is_json_object(message: &str) -> bool {
    scan::<_, true>(&[DNode::default()], message, |_, _| {})
}

impl<'t, F, const VALIDATE: bool> Scanner<'t, '_, F, VALIDATE>
where
    F: FnMut(u32, Option<Scalar<'_>>),
{
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Res<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn leaves(&mut self, node: u32, v: Option<Scalar<'_>>) {
        for &slot in &self.nodes[node as usize].leaves {
            (self.on_leaf)(slot, v);
        }
    }

    /// A value at a position some selector may reach (`node`), or none (`None`: skip it).
    fn value(&mut self, node: Option<u32>) -> Res<()> {
        self.ws();
        let Some(n) = node else {
            return self.skip_value();
        };
        let has_leaves = !self.nodes[n as usize].leaves.is_empty();
        match self.peek().ok_or(Invalid)? {
            b'{' => {
                if has_leaves {
                    self.leaves(n, None);
                }
                if self.nodes[n as usize].wants_object() {
                    self.object(n)
                } else {
                    self.skip_value()
                }
            }
            b'[' => {
                if has_leaves {
                    self.leaves(n, None);
                }
                if self.nodes[n as usize].wants_array() {
                    self.array(n)
                } else {
                    self.skip_value()
                }
            }
            b'"' => {
                let (start, end, escaped) = self.string()?;
                if has_leaves {
                    if escaped {
                        let decoded = decode(&self.b[start..end]);
                        self.leaves(n, Some(Scalar::Str(&decoded)));
                    } else {
                        let s = self.s;
                        self.leaves(n, Some(Scalar::Str(&s[start..end])));
                    }
                }
                Ok(())
            }
            _ => {
                let v = self.scalar()?;
                if has_leaves {
                    self.leaves(n, Some(v));
                }
                Ok(())
            }
        }
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(Invalid)
        } else {
            Ok(())
        }
    }

    fn object(&mut self, n: u32) -> Res<()> {
        self.enter()?;
        self.i += 1; // '{'
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(Invalid);
            }
            let (start, end, escaped) = self.string()?;
            let node = &self.nodes[n as usize];
            let next = if escaped {
                node.key(decode(&self.b[start..end]).as_bytes())
            } else {
                node.key(&self.b[start..end])
            };
            self.expect(b':')?;
            self.value(next)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    fn array(&mut self, n: u32) -> Res<()> {
        self.enter()?;
        self.i += 1; // '['
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            let next = self.nodes[n as usize].index(index);
            self.value(next)?;
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// A number, `true`, `false` or `null` at the cursor.
    fn scalar(&mut self) -> Res<Scalar<'t>> {
        match self.peek().ok_or(Invalid)? {
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                self.number()?;
                let s = self.s;
                Ok(Scalar::Num(&s[start..self.i]))
            }
            _ => Err(Invalid),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Res<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Res<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Invalid),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(Invalid);
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(Invalid);
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// A string at the cursor (on `"`): returns the content's byte range and whether it has
    /// escapes. Validates escapes and rejects raw control characters, as JSON requires.
    fn string(&mut self) -> Res<(usize, usize, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        if !VALIDATE {
            let (close, escaped) = self.structure.string_close(start).ok_or(Invalid)?;
            self.i = close + 1;
            return Ok((start, close, escaped));
        }
        loop {
            self.i = skip_plain(self.b, self.i);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok((start, self.i - 1, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    match self.b.get(self.i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                        Some(b'u') => {
                            let hex = self.b.get(self.i + 2..self.i + 6).ok_or(Invalid)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Invalid);
                            }
                            self.i += 6;
                        }
                        _ => return Err(Invalid),
                    }
                }
                // End of input, or a raw control character (not allowed in a JSON string).
                _ => return Err(Invalid),
            }
        }
    }

    /// Skips one value (validating it, in that mode), without recursion.
    fn skip_value(&mut self) -> Res<()> {
        if !VALIDATE {
            match self.peek().ok_or(Invalid)? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => self.i = self.structure.container_end(self.i).ok_or(Invalid)?,
                // A number or a literal: up to the next delimiter.
                _ => {
                    let rest = &self.b[self.i..];
                    self.i += rest
                        .iter()
                        .position(|&c| {
                            matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                        })
                        .unwrap_or(rest.len());
                }
            }
            return Ok(());
        }
        // Bit d of `kinds` says whether open container d is an object.
        let mut kinds = [0u64; MAX_DEPTH / 64];
        let mut depth = 0usize;
        let base = self.depth;
        'value: loop {
            self.ws();
            match self.peek().ok_or(Invalid)? {
                c @ (b'{' | b'[') => {
                    self.i += 1;
                    self.ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        if base + depth + 1 > MAX_DEPTH {
                            return Err(Invalid);
                        }
                        let (w, bit) = (depth / 64, 1u64 << (depth % 64));
                        if c == b'{' {
                            kinds[w] |= bit;
                            self.key_colon()?;
                        } else {
                            kinds[w] &= !bit;
                        }
                        depth += 1;
                        continue 'value;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                _ => {
                    self.scalar()?;
                }
            }
            // A value is complete: close containers or move to the next member.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let top = depth - 1;
                let is_object = kinds[top / 64] & (1 << (top % 64)) != 0;
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if is_object {
                            self.key_colon()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if is_object => {
                        self.i += 1;
                        depth -= 1;
                    }
                    Some(b']') if !is_object => {
                        self.i += 1;
                        depth -= 1;
                    }
                    _ => return Err(Invalid),
                }
            }
        }
    }

    fn key_colon(&mut self) -> Res<()> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(Invalid);
        }
        self.string()?;
        self.expect(b':')
    }
}
