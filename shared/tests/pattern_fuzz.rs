//! Property tests: the parser and the evaluator never panic, whatever the pattern or message,
//! and the projection scanner agrees with a full `serde_json::Value` evaluation.

use proptest::prelude::*;
use serde_json::Value;
use trailwatch_shared::pattern::FilterPattern;

/// Characters that drive the parsers into their interesting branches.
const PATTERN_ALPHABET: &[&str] = &[
    "{", "}", "[", "]", "(", ")", "$", ".", "*", "\"", "'", "%", "=", "!", "<", ">", "&", "|",
    "&&", "||", "?", "-", ",", " ", "\\", "a", "b", "Z", "0", "9", "_", "$.", "$.a", "[*]", "[0]",
    ".*", "...", " IS ", "NULL", "TRUE", "FALSE", " NOT ", "EXISTS", "\\x28", "\\d", "{,2}",
    "{1,}", "é", "\n", "e3", "+1",
];

const JSON_ALPHABET: &[&str] = &[
    "{", "}", "[", "]", ":", ",", "\"", "\\", "\\u", "D800", "a", "1", "-", ".", "e", "true",
    "null", " ", "é", "\"a\":", "\u{1}",
];

fn from_alphabet(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 0..max).prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "x y", "é", "a\"b", "1", "*"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(vec!["a", "b", "c"]), inner, 0..4)
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(pattern in any::<String>(), message in any::<String>()) {
        if let Ok(p) = FilterPattern::parse(&pattern) {
            let _ = p.matches(&message);
        }
    }

    #[test]
    fn pattern_like_text_never_panics(pattern in from_alphabet(PATTERN_ALPHABET, 24), message in from_alphabet(JSON_ALPHABET, 24)) {
        if let Ok(p) = FilterPattern::parse(&pattern) {
            let _ = p.matches(&message);
            let _ = p.matches("{\"a\":{\"b\":[1,\"x\",null]},\"b\":true}");
        }
    }

    #[test]
    fn json_like_messages_never_panic(message in from_alphabet(JSON_ALPHABET, 40)) {
        for p in ["{ $.a = 1 }", "{ $.a.* = * }", "{ $.a[*] NOT EXISTS }", "{ $.a IS NULL || $.b != \"x\" }", "a", "[x, ...]"] {
            let _ = FilterPattern::parse(p).unwrap().matches(&message);
        }
    }

    /// The scanner (projection, skipping) against a reference evaluation on a full `Value`.
    #[test]
    fn projection_agrees_with_a_full_parse(event in json_value(), key in prop::sample::select(vec!["a", "b", "c"]),
                                           inner in prop::sample::select(vec!["a", "b", "c"]),
                                           lit in prop::sample::select(vec!["a", "1", "x y", "é"])) {
        let Value::Object(map) = &event else { return Ok(()) };
        let text = serde_json::to_string(&event).unwrap();
        let pretty = serde_json::to_string_pretty(&event).unwrap();
        let node = map.get(key).and_then(|v| v.get(inner));
        let scalar_text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let cases = [
            (format!("{{ $.{key}.{inner} NOT EXISTS }}"), node.is_none()),
            (format!("{{ $.{key}.{inner} IS NULL }}"), node.is_some_and(Value::is_null)),
            (format!("{{ $.{key}.{inner} = * }}"), node.is_some_and(|v| scalar_text(v).is_some())),
            (format!("{{ $.{key}.{inner} = \"{lit}\" }}"), node.and_then(scalar_text).is_some_and(|t| t == lit)),
            (format!("{{ $.{key}.{inner} != \"{lit}\" }}"), node.and_then(scalar_text).is_some_and(|t| t != lit)),
            (format!("{{ $.{key}[*] = \"{lit}\" }}"),
                map.get(key).and_then(Value::as_array).is_some_and(|a| a.iter().filter_map(scalar_text).any(|t| t == lit))),
            (format!("{{ $.{key}.* = \"{lit}\" }}"),
                map.get(key).and_then(Value::as_object).is_some_and(|o| o.values().filter_map(scalar_text).any(|t| t == lit))),
        ];
        for (pattern, expected) in cases {
            let p = FilterPattern::parse(&pattern).unwrap();
            prop_assert_eq!(p.matches(&text), expected, "{} on {}", pattern, text);
            prop_assert_eq!(p.matches(&pretty), expected, "{} on pretty {}", pattern, text);
        }
    }
}
