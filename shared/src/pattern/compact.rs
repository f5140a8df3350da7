//! Compact re-serialisation of a JSON log event, as the conformance corpus feeds object events:
//! `json.dumps(e, separators=(",", ":"), ensure_ascii=False)`. Key order and number text are
//! kept; strings are re-escaped the way Python writes them.

/// Re-serialises valid JSON text compactly. Returns `None` if `json` is not valid JSON.
pub fn compact_json(json: &str) -> Option<String> {
    // Validate first with serde_json (exact grammar), then rewrite token by token.
    serde_json::from_str::<serde::de::IgnoredAny>(json).ok()?;
    let b = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b'"' => {
                let end = string_end(b, i)?;
                let s: String = serde_json::from_str(&json[i..end]).ok()?;
                push_python_string(&mut out, &s);
                i = end;
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'\n' | b'\r' | b'\t' | b'"') {
                    i += 1;
                }
                out.push_str(&json[start..i]);
            }
        }
    }
    Some(out)
}

fn string_end(b: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn push_python_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::compact_json;

    #[test]
    fn keeps_order_and_rewrites_escapes() {
        let got = compact_json(
            "{ \"b\" : [1, 2.50, \"\\u00e9\\/\\u0001\"], \"a\" : {\"x\\\"y\" : null} }",
        )
        .unwrap();
        assert_eq!(
            got,
            "{\"b\":[1,2.50,\"é/\\u0001\"],\"a\":{\"x\\\"y\":null}}"
        );
        assert!(compact_json("{").is_none());
    }
}
