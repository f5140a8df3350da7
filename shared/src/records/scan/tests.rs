use super::*;

fn scan_all(text: &[u8]) -> Result<Step, Fault> {
    let mut s = Scanner::default();
    s.start(text[0], true);
    s.scan(text, 0, 1)
}

/// Pads `inner` so that it straddles block boundaries in every way.
fn with_padding(inner: &str, pad: usize) -> String {
    format!(r#"{{"p":"{}","v":{inner}}}"#, "x".repeat(pad))
}

#[test]
fn finds_the_end_of_values() {
    assert_eq!(scan_all(br#"{"a":"}\"]"}xx"#), Ok(Step::Complete(12)));
    assert_eq!(
        scan_all(br#"{"a":[1,{"b":null}]} "#),
        Ok(Step::Complete(20))
    );
    assert_eq!(scan_all(br#""ab\\"c"#), Ok(Step::Complete(6)));
    assert_eq!(scan_all(br#"[true,false,-1.5e+3]"#), Ok(Step::Complete(20)));
}

#[test]
fn block_and_byte_paths_agree_at_every_alignment() {
    let inner = r#"{"a":"}]{[\"","b":[1,{"c":"x\\"}],"d":"{[","e":{}}"#;
    for pad in 0..140 {
        let text = with_padding(inner, pad);
        let mut padded = text.clone().into_bytes();
        padded.extend_from_slice(&[b' '; 70]);
        padded.extend_from_slice(b"{\"next\":1}");
        assert_eq!(
            scan_all(&padded),
            Ok(Step::Complete(text.len())),
            "pad {pad}"
        );
    }
}

#[test]
fn asks_for_more_and_resumes() {
    let text = with_padding(r#"{"a":"x\"y","b":[1,2],"c":"}}]]"}"#, 100);
    let text = text.as_bytes();
    for split in 1..text.len() {
        let mut s = Scanner::default();
        s.start(b'{', true);
        let Step::NeedMore(at) = s.scan(&text[..split], 0, 1).unwrap() else {
            panic!("complete too early at split {split}");
        };
        assert!(at <= split);
        assert_eq!(
            s.scan(text, 0, at),
            Ok(Step::Complete(text.len())),
            "split {split}"
        );
    }
}

#[test]
fn rejects_mismatched_brackets_wherever_they_are() {
    assert_eq!(scan_all(br#"{"a":[}"#).unwrap_err().position, 6);
    assert_eq!(scan_all(br#"{"a":]"#).unwrap_err().position, 5);
    for pad in 0..80 {
        let text = with_padding(r#"[1,{"x":2]]"#, pad);
        let at = text.find("2]").unwrap() + 1;
        assert_eq!(
            scan_all(text.as_bytes()).unwrap_err().position,
            at,
            "pad {pad}"
        );
    }
}

#[test]
fn maps_the_outermost_level() {
    let text = br#"{"x":{"eventTime":1},"eventTime":"t","y":["eventTime"]}"#;
    let mut s = Scanner::default();
    s.start(b'{', true);
    assert_eq!(s.scan(text, 0, 1), Ok(Step::Complete(text.len())));
    // [1,5) before {…}, [20,41) between it and [...], an empty [54,54) before the final brace
    assert_eq!(s.top_level, vec![1, 5, 20, 41, 54, 54]);
    assert_eq!(&text[20..41], br#","eventTime":"t","y":"#);
}

proptest::proptest! {
    #[test]
    fn ends_where_a_json_parser_ends(
        value in crate::records::proptests::json_value(),
        pad in 0usize..130,
        split in 0usize..4000,
    ) {
        let inner = serde_json::to_string(&value).unwrap();
        let text = with_padding(&inner, pad);
        let mut bytes = text.clone().into_bytes();
        bytes.extend_from_slice(b",{\"after\":[]}");
        let mut s = Scanner::default();
        s.start(b'{', true);
        let split = split.min(bytes.len());
        let first = s.scan(&bytes[..split.max(1)], 0, 1).unwrap();
        let step = match first {
            Step::NeedMore(at) => s.scan(&bytes, 0, at).unwrap(),
            done => done,
        };
        proptest::prop_assert_eq!(step, Step::Complete(text.len()));
    }
}
