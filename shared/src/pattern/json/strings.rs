//! JSON string helpers for the scanner: finding a string's end, decoding escapes.

/// Index of the first byte at or after `i` that is `"`, `\\` or a control character (< 0x20),
/// or `b.len()`. Eight bytes at a time: CloudTrail strings are short, so a SIMD search's setup
/// cost per string would dominate.
#[inline]
pub(crate) fn skip_plain(b: &[u8], mut i: usize) -> usize {
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
pub(crate) fn decode(b: &[u8]) -> String {
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
