//! Resumable structural scanner for one JSON value: finds where an object, array or string ends
//! while the bytes arrive piecewise, and where the outermost object's own level lies (for finding
//! its top-level `eventTime`).
//!
//! What it checks: brackets balance and match in kind, strings are closed. It does not check the
//! tokens between (literals, numbers, comma and colon placement): that would cost a full parser's
//! time on the hot path, and a consumer that interprets a record parses it anyway.
//!
//! Speed: 64-byte blocks are classified with 16-byte SIMD compares (quote, backslash, brackets),
//! the string regions follow from a prefix-XOR of the quote bits (simdjson's idea), and only the
//! brackets outside strings are visited one by one. A block holding a backslash, the buffer's tail
//! and string values go through the byte-wise path, which keeps the same state.

use crate::json_blocks::{BLOCK, Masks, find_quote_or_backslash};

/// Result of feeding the scanner the bytes available so far.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The value ends just before this buffer position.
    Complete(usize),
    /// More input is needed; bytes before this position are fully scanned.
    NeedMore(usize),
}

/// A structural fault at a buffer position.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fault {
    pub position: usize,
    pub detail: &'static str,
}

/// How the byte-wise path stopped.
enum Bytewise {
    Complete(usize),
    /// Reached the requested limit at this position (state saved).
    Reached(usize),
    NeedMore(usize),
}

/// Scanner state carried across buffer refills. Positions it remembers are relative to the start
/// of the value, so the caller may move the value within its buffer between calls.
#[derive(Default)]
pub(super) struct Scanner {
    /// Open brackets, innermost last.
    stack: Vec<u8>,
    in_string: bool,
    /// Whether to collect [`Self::top_level`].
    track_levels: bool,
    /// Relative `[start, end)` pairs, flattened: the stretches of the outermost object that are at
    /// its own level (outside nested values). A top-level key can only be in one of them.
    pub top_level: Vec<usize>,
}

impl Scanner {
    /// Starts on a value whose first byte (`{`, `[` or `"`) was already consumed; `track_levels`
    /// asks for [`Self::top_level`] (objects only).
    pub(super) fn start(&mut self, opener: u8, track_levels: bool) {
        self.stack.clear();
        self.top_level.clear();
        self.in_string = opener == b'"';
        self.track_levels = track_levels && opener == b'{';
        if !self.in_string {
            self.stack.push(opener);
        }
        if self.track_levels {
            self.top_level.push(1);
        }
    }

    /// Scans `buf[pos..]` for the end of the value that started at `buf[origin]`.
    pub(super) fn scan(
        &mut self,
        buf: &[u8],
        origin: usize,
        mut pos: usize,
    ) -> Result<Step, Fault> {
        loop {
            if !self.stack.is_empty() {
                while let Some(block) = buf.get(pos..pos + BLOCK) {
                    let block: &[u8; BLOCK] = block.try_into().expect("a full block");
                    match self.block(block, origin, pos)? {
                        Block::Complete(end) => return Ok(Step::Complete(end)),
                        Block::Scanned => pos += BLOCK,
                        Block::HasBackslash => break,
                    }
                }
            }
            // The byte-wise path: a block with a backslash, the tail of the buffer, a string.
            let limit = if self.stack.is_empty() {
                buf.len()
            } else {
                (pos + BLOCK).min(buf.len())
            };
            match self.bytewise(buf, origin, pos, limit)? {
                Bytewise::Complete(end) => return Ok(Step::Complete(end)),
                Bytewise::NeedMore(at) => return Ok(Step::NeedMore(at)),
                Bytewise::Reached(at) => pos = at,
            }
        }
    }

    /// One block at `pos`, unless it holds a backslash (escapes make quote parity unreliable).
    #[inline(always)]
    fn block(&mut self, block: &[u8; BLOCK], origin: usize, pos: usize) -> Result<Block, Fault> {
        let masks = Masks::with_brackets_merged(block);
        if masks.backslash != 0 {
            return Ok(Block::HasBackslash);
        }
        let inside = masks.strings(&mut self.in_string);
        let mut brackets = masks.open & !inside;
        while brackets != 0 {
            let i = brackets.trailing_zeros() as usize;
            brackets &= brackets - 1;
            if self.bracket(block[i], pos + i, origin)? == 0 {
                return Ok(Block::Complete(pos + i + 1));
            }
        }
        Ok(Block::Scanned)
    }

    /// Byte by byte from `pos` until `limit` is passed, the value ends, or the buffer does.
    fn bytewise(
        &mut self,
        buf: &[u8],
        origin: usize,
        mut pos: usize,
        limit: usize,
    ) -> Result<Bytewise, Fault> {
        loop {
            if pos >= limit {
                return Ok(if limit >= buf.len() {
                    Bytewise::NeedMore(pos)
                } else {
                    Bytewise::Reached(pos)
                });
            }
            if self.in_string {
                let Some(at) = find_quote_or_backslash(buf, pos) else {
                    return Ok(Bytewise::NeedMore(buf.len()));
                };
                if buf[at] == b'\\' {
                    if at + 1 >= buf.len() {
                        return Ok(Bytewise::NeedMore(at));
                    }
                    pos = at + 2;
                    continue;
                }
                self.in_string = false;
                pos = at + 1;
                if self.stack.is_empty() {
                    return Ok(Bytewise::Complete(pos));
                }
                continue;
            }
            let byte = buf[pos];
            if byte == b'"' {
                self.in_string = true;
            } else if matches!(byte, b'{' | b'[' | b'}' | b']')
                && self.bracket(byte, pos, origin)? == 0
            {
                return Ok(Bytewise::Complete(pos + 1));
            }
            pos += 1;
        }
    }

    /// A bracket outside strings at buffer position `at`; returns the new depth.
    #[inline(always)]
    fn bracket(&mut self, byte: u8, at: usize, origin: usize) -> Result<usize, Fault> {
        if byte == b'{' || byte == b'[' {
            self.stack.push(byte);
            if self.track_levels && self.stack.len() == 2 {
                self.top_level.push(at - origin);
            }
            return Ok(self.stack.len());
        }
        let want = if byte == b'}' { b'{' } else { b'[' };
        if self.stack.pop() != Some(want) {
            return Err(Fault {
                position: at,
                detail: "closing bracket does not match the open one",
            });
        }
        let depth = self.stack.len();
        if self.track_levels {
            match depth {
                1 => self.top_level.push(at + 1 - origin),
                0 => self.top_level.push(at - origin),
                _ => {}
            }
        }
        Ok(depth)
    }
}

enum Block {
    Complete(usize),
    Scanned,
    HasBackslash,
}

#[cfg(test)]
mod tests;
