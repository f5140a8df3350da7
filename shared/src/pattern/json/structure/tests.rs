use super::Structure;

/// The end serde_json finds for the first value of `text`.
fn serde_end(text: &str) -> usize {
    let mut de = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    de.next().expect("a value").expect("valid JSON");
    de.byte_offset()
}

/// Where a value starting at `at` ends, through the index.
fn end_of(s: &Structure, text: &[u8], at: usize) -> Option<usize> {
    match text[at] {
        b'"' => s.string_close(at + 1).map(|(close, _)| close + 1),
        b'{' | b'[' => s.container_end(at),
        _ => None,
    }
}

#[test]
fn ends_match_a_real_parser_across_block_boundaries() {
    let values = [
        r#"{"a":"}\"]","b":[1,{"c":null}],"d":"\\"}"#,
        r#"[[[[]]],{"x":"[[[["},"\\\\\""]"#,
        r#"{"k\"ey":{"nested":{"deep":["a","b\\","c\""]}},"e":{}}"#,
        r#""just a string with \" and \\ and ]}""#,
        r#""\\\\\\\"\\""#,
        r#"["\\",{"\"":"\\\""}]"#,
    ];
    let mut s = Structure::default();
    for v in values {
        for pad in 0..140 {
            // A prefix shifts the value across every block alignment; a suffix follows it.
            for pad_kind in [" ", "\\\\"] {
                let prefix = if pad_kind == " " {
                    " ".repeat(pad)
                } else {
                    // Backslash pairs inside a string before the value: escapes in earlier blocks.
                    format!("[\"{}\",", "\\\\".repeat(pad / 2))
                };
                let text = format!("{prefix}{v} ,\"after\"]");
                s.build(text.as_bytes());
                let at = prefix.len();
                assert_eq!(
                    end_of(&s, text.as_bytes(), at),
                    Some(at + serde_end(&text[at..])),
                    "{text}"
                );
            }
        }
    }
}

#[test]
fn long_containers_span_many_blocks() {
    let long = format!(
        r#"{{"a":[{}],"b":"{}","c":"{}"}}"#,
        (0..200)
            .map(|i| format!(r#"{{"i":{i},"s":"x]}}"}}"#))
            .collect::<Vec<_>>()
            .join(","),
        "q".repeat(300),
        r#"\"\\"#.repeat(40)
    );
    let mut s = Structure::default();
    s.build(long.as_bytes());
    assert_eq!(s.container_end(0), Some(long.len()));
    let c = long.find(r#""c":"#).unwrap() + 4;
    assert_eq!(s.string_close(c + 1), Some((long.len() - 2, true)));
    let b = long.find(r#""b":"#).unwrap() + 4;
    assert_eq!(s.string_close(b + 1), Some((b + 301, false)));
}

#[test]
fn truncated_or_broken_input_gives_none_without_panicking() {
    let mut s = Structure::default();
    for text in ["{", "[", "{\"a\":[1,2", "{]]]", "[\"\\", "\"abc\\"] {
        let padded = format!("{text}{}", "[".repeat(70));
        for t in [text, padded.as_str()] {
            s.build(t.as_bytes());
            let _ = end_of(&s, t.as_bytes(), 0);
        }
    }
    s.build(b"{\"a\":[1,2");
    assert_eq!(s.container_end(0), None);
    s.build(b"\"abc\\\"");
    assert_eq!(s.string_close(1), None);
    s.build(b"");
    assert_eq!(s.container_end(0), None);
}
