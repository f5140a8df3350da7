//! Classification of JSON text in 64-byte blocks, shared by the record splitter
//! ([`crate::records`]) and the filter-pattern scanner ([`crate::pattern`]).
//!
//! A block is compared 16 bytes at a time (SSE2 on x86_64, NEON on aarch64, through `wide`) for
//! quotes, backslashes and brackets; the string regions of a block without backslashes follow
//! from a prefix-XOR of its quote bits (simdjson's idea). Blocks holding a backslash are left to
//! the callers' byte-wise paths: in CloudTrail text fewer than 1 % of blocks have one.

use wide::u8x16;

pub(crate) const BLOCK: usize = 64;

/// Bit i of each mask describes byte i of a block.
pub(crate) struct Masks {
    pub quote: u64,
    pub backslash: u64,
    /// `{` and `[` (all brackets for [`Masks::with_brackets_merged`]).
    pub open: u64,
    /// `}` and `]`.
    pub close: u64,
}

impl Masks {
    /// All four masks (the structural index needs opening and closing brackets apart).
    #[inline(always)]
    pub(crate) fn of(block: &[u8; BLOCK]) -> Self {
        Self::classify::<true>(block)
    }

    /// Quotes, backslashes and brackets of either kind together in `open` (`close` is 0): what
    /// the record splitter needs, one movemask less per 16 bytes.
    #[inline(always)]
    pub(crate) fn with_brackets_merged(block: &[u8; BLOCK]) -> Self {
        Self::classify::<false>(block)
    }

    #[inline(always)]
    fn classify<const APART: bool>(block: &[u8; BLOCK]) -> Self {
        let quote = u8x16::splat(b'"');
        let backslash = u8x16::splat(b'\\');
        // `[` | 0x20 == `{` and `]` | 0x20 == `}`; no other byte maps onto them.
        let case = u8x16::splat(0x20);
        let open = u8x16::splat(b'{');
        let close = u8x16::splat(b'}');
        let mut masks = Masks {
            quote: 0,
            backslash: 0,
            open: 0,
            close: 0,
        };
        for (k, chunk) in block.chunks_exact(16).enumerate() {
            let bytes: [u8; 16] = chunk.try_into().expect("16 bytes");
            let v = u8x16::from(bytes);
            let folded = v | case;
            let shift = 16 * k;
            masks.quote |= u64::from(v.simd_eq(quote).to_bitmask()) << shift;
            masks.backslash |= u64::from(v.simd_eq(backslash).to_bitmask()) << shift;
            if APART {
                masks.open |= u64::from(folded.simd_eq(open).to_bitmask()) << shift;
                masks.close |= u64::from(folded.simd_eq(close).to_bitmask()) << shift;
            } else {
                let either = folded.simd_eq(open) | folded.simd_eq(close);
                masks.open |= u64::from(either.to_bitmask()) << shift;
            }
        }
        masks
    }

    /// Bit i set: byte i is inside a string (opening quote included, closing one excluded), for
    /// a block without backslashes that starts inside a string or not. Updates `in_string` to
    /// the state after the block.
    #[inline(always)]
    pub(crate) fn strings(&self, in_string: &mut bool) -> u64 {
        let mut inside = prefix_xor(self.quote);
        if *in_string {
            inside = !inside;
        }
        *in_string = inside >> 63 == 1;
        inside
    }
}

/// Bit i of the result: parity of the set bits of `x` at positions 0..=i.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `word` equal to `byte`; exact for the lowest such byte (bits above
/// a match may be spurious, which is harmless since only the lowest one is used).
#[inline(always)]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Position of the first `"` or `\` in `buf[pos..]`, eight bytes at a time (strings in CloudTrail
/// records are short: a wider search's setup would cost more than it saves).
#[inline]
pub(crate) fn find_quote_or_backslash(buf: &[u8], mut pos: usize) -> Option<usize> {
    while let Some(chunk) = buf.get(pos..pos + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = bytes_equal(word, b'"') | bytes_equal(word, b'\\');
        if found != 0 {
            return Some(pos + (found.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    }
    buf.get(pos..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|i| pos + i)
}

#[cfg(test)]
mod tests;
