//! The structural index of a message for the unvalidated scan: per 64-byte block, the quotes
//! that delimit strings (escaped ones removed), the backslashes, and the brackets outside
//! strings. Built in one SIMD pass (simdjson's stage 1, reduced to what the scanner asks), it
//! turns "where does this string end" and "where does this skipped object end" — most of the
//! work on a CloudTrail record, whose bulk is `requestParameters`, `responseElements`,
//! `resources` and long strings — into bit scans instead of byte loops.
//!
//! Answers are exact for valid JSON; on invalid JSON they are some position or `None`, never a
//! panic. A match found on an unvalidated scan is only reported once the message has been
//! validated (see [`super::scan::is_json_object`]).

use crate::json_blocks::{BLOCK, Masks};

#[derive(Debug, Default, Clone, Copy)]
struct Block {
    quotes: u64,
    backslashes: u64,
    open: u64,
    close: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Structure {
    blocks: Vec<Block>,
    len: usize,
    any_backslash: bool,
}

/// Above this, the index's memory is given back after use (records are rarely this big).
const KEEP_BYTES: usize = 1 << 20;

impl Structure {
    pub(crate) fn build(&mut self, b: &[u8]) {
        self.blocks.clear();
        self.blocks.reserve(b.len().div_ceil(BLOCK));
        self.len = b.len();
        self.any_backslash = false;
        let mut in_string = false;
        // The next block's first byte is escaped (a block ended on an unescaped backslash).
        let mut carry = false;
        let mut chunks = b.chunks_exact(BLOCK);
        let mut classify = |block: &[u8; BLOCK], blocks: &mut Vec<Block>| {
            let masks = Masks::of(block);
            let mut quotes = masks.quote;
            if masks.backslash != 0 || carry {
                let escaped = escaped_bytes(masks.backslash, &mut carry);
                quotes &= !escaped;
            }
            let masks = Masks {
                quote: quotes,
                ..masks
            };
            let inside = masks.strings(&mut in_string);
            blocks.push(Block {
                quotes,
                backslashes: masks.backslash,
                open: masks.open & !inside,
                close: masks.close & !inside,
            });
        };
        for chunk in &mut chunks {
            classify(chunk.try_into().expect("a full block"), &mut self.blocks);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Padded with spaces, which change nothing.
            let mut padded = [b' '; BLOCK];
            padded[..rest.len()].copy_from_slice(rest);
            classify(&padded, &mut self.blocks);
        }
        self.any_backslash = self.blocks.iter().any(|k| k.backslashes != 0);
    }

    /// Gives back the memory of an unusually large message.
    pub(crate) fn release(&mut self) {
        if self.blocks.capacity() * size_of::<Block>() > KEEP_BYTES {
            self.blocks = Vec::new();
        }
    }

    /// First position `>= from` whose bit is set in `field` of the blocks.
    #[inline]
    fn next_bit(&self, from: usize, field: impl Fn(&Block) -> u64) -> Option<usize> {
        let mut w = from / BLOCK;
        let mut bits = field(self.blocks.get(w)?) & (!0u64 << (from % BLOCK));
        while bits == 0 {
            w += 1;
            bits = field(self.blocks.get(w)?);
        }
        let at = w * BLOCK + bits.trailing_zeros() as usize;
        (at < self.len).then_some(at)
    }

    /// Position of the closing quote of the string whose body starts at `body`, and whether the
    /// body holds a backslash (escapes to decode).
    #[inline]
    pub(crate) fn string_close(&self, body: usize) -> Option<(usize, bool)> {
        let close = self.next_bit(body, |k| k.quotes)?;
        let escaped = self.any_backslash
            && self
                .next_bit(body, |k| k.backslashes)
                .is_some_and(|b| b < close);
        Some((close, escaped))
    }

    /// End (exclusive) of the object or array opening at `start`. A block with fewer closing
    /// brackets than the open depth cannot hold the end: only its counts matter.
    pub(crate) fn container_end(&self, start: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut w = start / BLOCK;
        let mut from = !0u64 << (start % BLOCK);
        loop {
            let block = self.blocks.get(w)?;
            let (opens, closes) = (block.open & from, block.close & from);
            let (n_open, n_close) = (opens.count_ones() as usize, closes.count_ones() as usize);
            if n_close < depth {
                depth = depth + n_open - n_close;
            } else {
                let mut brackets = opens | closes;
                while brackets != 0 {
                    let at = brackets.trailing_zeros();
                    brackets &= brackets - 1;
                    if opens >> at & 1 == 1 {
                        depth += 1;
                    } else {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(w * BLOCK + at as usize + 1);
                        }
                    }
                }
            }
            from = !0;
            w += 1;
        }
    }
}

/// Bytes of a block escaped by a backslash (the byte after each backslash that is not itself
/// escaped). `carry`: in, whether byte 0 is escaped by the previous block; out, whether the
/// next block's byte 0 is. Backslashes are rare in CloudTrail text, so a loop over them is
/// cheaper than simdjson's carry arithmetic would be to get right.
#[inline]
fn escaped_bytes(backslashes: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    let mut pending = backslashes & !escaped;
    *carry = false;
    while pending != 0 {
        let at = pending.trailing_zeros();
        pending &= pending - 1;
        if at == 63 {
            *carry = true;
        } else {
            escaped |= 1 << (at + 1);
            // An escaped backslash escapes nothing.
            pending &= !(1 << (at + 1));
        }
    }
    escaped
}

#[cfg(test)]
mod tests;
