//! One validating pass over a JSON message, guided by the projection trie.
//!
//! Only the nodes a selector reaches are decoded; every other subtree is skipped by an iterative
//! validating skipper (so a malformed message is still "not JSON", J1) that allocates nothing.
//! Strings are borrowed from the message unless they contain escapes.

use super::projection::DNode;
use crate::pattern::value::Scalar;

/// Deeper nesting is treated as "not a JSON event" (serde_json, which most producers of our input
/// use, stops at 128; CloudTrail records are far shallower).
const MAX_DEPTH: usize = 512;

struct Invalid;

type Res<T> = Result<T, Invalid>;

struct Scanner<'t, 'n, F> {
    b: &'t [u8],
    s: &'t str,
    i: usize,
    nodes: &'n [DNode],
    on_leaf: F,
    depth: usize,
}

/// Scans `message`, calling `on_leaf(slot, Some(scalar))` for every scalar and
/// `on_leaf(slot, None)` for every container a selector reaches. Returns false if the message
/// is not one JSON object (surrounding whitespace allowed).
pub(crate) fn scan<F>(nodes: &[DNode], message: &str, on_leaf: F) -> bool
where
    F: FnMut(u32, Option<Scalar<'_>>),
{
    let mut s = Scanner {
        b: message.as_bytes(),
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

impl<'t, F> Scanner<'t, '_, F>
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

    /// Skips one value, validating it, without recursion.
    fn skip_value(&mut self) -> Res<()> {
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

/// Index of the first byte at or after `i` that is `"`, `\\` or a control character (< 0x20),
/// or `b.len()`. Eight bytes at a time: CloudTrail strings are short, so a SIMD search's setup
/// cost per string would dominate.
#[inline]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES << 7;
    while let Some(chunk) = b.get(i..i + 8) {
        let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // Per byte: "is zero" after XOR with the quote / backslash, or "borrows" when 0x20 is
        // subtracted. The lowest flagged byte is exact (higher ones may be false positives).
        let flagged = ((v ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES)
            | (v ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES)
            | v.wrapping_sub(ONES * 0x20))
            & !v
            & HIGH;
        if flagged != 0 {
            return i + (flagged.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

/// Decodes a validated JSON string body with escapes. Lone surrogates become U+FFFD.
fn decode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let Some(off) = memchr::memchr(b'\\', &b[i..]) else {
            out.push_str(std::str::from_utf8(&b[i..]).unwrap_or_default());
            break;
        };
        out.push_str(std::str::from_utf8(&b[i..i + off]).unwrap_or_default());
        i += off;
        let esc = b.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        match esc {
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(b, i);
                i += 4;
                let c = if (0xD800..0xDC00).contains(&hi)
                    && b.get(i) == Some(&b'\\')
                    && b.get(i + 1) == Some(&b'u')
                {
                    let lo = hex4(b, i + 2);
                    if (0xDC00..0xE000).contains(&lo) {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    } else {
                        None
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(c.unwrap_or('\u{FFFD}'));
            }
            c => out.push(char::from(c)),
        }
    }
    out
}

fn hex4(b: &[u8], i: usize) -> u32 {
    b.get(i..i + 4)
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0xFFFD)
}

#[cfg(test)]
mod tests {
    use super::skip_plain;

    #[test]
    fn skip_plain_finds_the_first_special_byte() {
        for text in [
            "",
            "abc",
            "abcdefgh",
            "abcdefghijklmnop",
            "é€😀 plain text long enough",
        ] {
            assert_eq!(skip_plain(text.as_bytes(), 0), text.len(), "{text}");
        }
        for (text, at) in [
            ("a\"", 1),
            ("abcdefgh\\x", 8),
            ("abcdefg\u{1}\"", 7),
            ("\u{1f}", 0),
            ("0123456789\"\\", 10),
        ] {
            assert_eq!(skip_plain(text.as_bytes(), 0), at, "{text:?}");
        }
        // Every position within and across 8-byte words, with high bytes around.
        for pos in 0..20 {
            for special in [b'"', b'\\', 0x00, 0x1f] {
                let mut v = vec![0xC3u8; 24];
                v[pos] = special;
                assert_eq!(skip_plain(&v, 0), pos);
            }
        }
    }
}
