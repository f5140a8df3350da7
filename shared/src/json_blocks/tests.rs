use super::*;

#[test]
fn finds_quotes_and_backslashes_at_every_offset() {
    for len in 0..40 {
        for at in 0..len {
            for special in [b'"', b'\\'] {
                let mut text = vec![b'a'; len];
                text[at] = special;
                // bytes that differ from the targets by one bit or by borrow must not match
                for (i, b) in text.iter_mut().enumerate() {
                    if i != at && i % 3 == 0 {
                        *b = [0x00, 0x21, 0x23, 0x5b, 0x5d, 0xa2, 0xdc, 0xff][i % 8];
                    }
                }
                assert_eq!(
                    find_quote_or_backslash(&text, 0),
                    Some(at),
                    "len {len} at {at}"
                );
                assert_eq!(find_quote_or_backslash(&text, at + 1), None);
            }
        }
    }
}
