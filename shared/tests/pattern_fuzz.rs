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

/// Simple JSON patterns over a small vocabulary, so that random sets share selectors.
fn small_json_pattern() -> impl Strategy<Value = String> {
    let selector = prop::sample::select(vec![
        "$.a", "$.b", "$.a.b", "$.a[0]", "$.a[*]", "$.*", "$.b.*", "$.a[1].c",
    ]);
    let test = prop::sample::select(vec![
        "= \"a\"",
        "= a",
        "!= \"a\"",
        "= 1",
        "> 0",
        "= *",
        "IS NULL",
        "IS TRUE",
        "NOT EXISTS",
        "= %^x%",
        "= \"a*\"",
    ]);
    let atom = (selector, test).prop_map(|(s, t)| format!("{s} {t}"));
    (
        prop::collection::vec(atom, 1..4),
        prop::collection::vec(prop::bool::ANY, 3),
    )
        .prop_map(|(atoms, ors)| {
            let mut p = String::from("{ ");
            for (i, a) in atoms.iter().enumerate() {
                if i > 0 {
                    p.push_str(if ors[i - 1] { " || " } else { " && " });
                }
                p.push_str(a);
            }
            p.push_str(" }");
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// A rule set (one shared projection, index) answers exactly like each pattern alone.
    #[test]
    fn compiled_rules_agree_with_each_pattern(patterns in prop::collection::vec(small_json_pattern(), 1..8),
                                               events in prop::collection::vec(json_value(), 1..6)) {
        use trailwatch_shared::rules::{CompiledRules, RuleDef, Severity};
        let defs: Vec<RuleDef> = patterns.iter().enumerate().filter(|(_, p)| FilterPattern::parse(p).is_ok()).map(|(i, p)| RuleDef {
            id: format!("r{i}"), title: String::new(), pattern: p.clone(), severity: Severity::Low,
            threshold: 1, description: None, enabled: true,
        }).collect();
        let rules = CompiledRules::compile(defs).unwrap();
        let mut matched = Vec::new();
        for e in &events {
            let text = serde_json::to_string(e).unwrap();
            rules.evaluate(&text, &mut matched);
            let alone: Vec<usize> = (0..rules.len()).filter(|&i| rules.pattern(i).matches(&text)).collect();
            prop_assert_eq!(&matched, &alone, "{}", text);
        }
    }
}

/// Reference semantics on a full `Value`, written independently of the engine: the nodes a
/// selector reaches, and whether an atom holds.
fn reference_nodes<'v>(root: &'v Value, selector: &str) -> Vec<&'v Value> {
    let mut nodes = vec![root];
    let steps = selector.strip_prefix("$.").unwrap().replace('[', ".[");
    for step in steps.split('.').filter(|s| !s.is_empty()) {
        nodes = nodes
            .into_iter()
            .flat_map(|n| -> Vec<&Value> {
                match (step, n) {
                    ("*", Value::Object(m)) => m.values().collect(),
                    ("[*]", Value::Array(a)) => a.iter().collect(),
                    (s, Value::Array(a)) if s.starts_with('[') => a
                        .get(s.trim_matches(['[', ']']).parse::<usize>().unwrap())
                        .into_iter()
                        .collect(),
                    (s, Value::Object(m)) if !s.starts_with('[') && s != "*" => {
                        m.get(s).into_iter().collect()
                    }
                    _ => vec![],
                }
            })
            .collect();
    }
    nodes
}

fn reference_atom(root: &Value, atom: &str) -> bool {
    let (selector, test) = atom.split_once(' ').unwrap();
    let nodes = reference_nodes(root, selector);
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .filter(|_| s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))),
        _ => None,
    };
    let any = |f: &dyn Fn(&Value) -> bool| nodes.iter().any(|n| f(n));
    match test {
        "NOT EXISTS" => nodes.is_empty(),
        "IS NULL" => any(&|n| n.is_null()),
        "IS TRUE" => any(&|n| *n == Value::Bool(true)),
        "= *" => any(&|n| text(n).is_some()),
        "= \"a\"" | "= a" => any(&|n| text(n).is_some_and(|t| t == "a")),
        "!= \"a\"" => any(&|n| text(n).is_some_and(|t| t != "a")),
        "= \"a*\"" => any(&|n| text(n).is_some_and(|t| t.starts_with('a'))),
        "= %^x%" => any(&|n| text(n).is_some_and(|t| t.starts_with('x'))),
        "= 1" => any(&|n| num(n) == Some(1.0)),
        "> 0" => any(&|n| num(n).is_some_and(|v| v > 0.0)),
        other => panic!("no reference for {other}"),
    }
}

/// Evaluates "{ a1 op a2 op a3 }" with && binding tighter than ||.
fn reference_pattern(root: &Value, pattern: &str) -> bool {
    let body = pattern.trim_start_matches("{ ").trim_end_matches(" }");
    body.split(" || ")
        .any(|conj| conj.split(" && ").all(|atom| reference_atom(root, atom)))
}

/// Objects whose fields `a`, `b`, `c` are usually present, so selectors often reach values.
fn json_value_with_x() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1i64..3).prop_map(Value::from),
        prop::sample::select(vec!["a", "ab", "xy", "1", "0", "é", "b"]).prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(2, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(vec!["a", "b", "c"]), inner, 0..3)
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
        ]
    });
    prop::collection::vec(prop::option::weighted(0.8, value), 3).prop_map(|fields| {
        let mut m = serde_json::Map::new();
        for (k, v) in ["a", "b", "c"].into_iter().zip(fields) {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    /// The engine (projection scan, wildcards, precedence) against the reference semantics.
    #[test]
    fn engine_agrees_with_reference_semantics(pattern in small_json_pattern(), event in json_value_with_x()) {
        let Ok(p) = FilterPattern::parse(&pattern) else { return Ok(()) };
        let text = serde_json::to_string(&event).unwrap();
        let expected = reference_pattern(&event, &pattern);
        prop_assert_eq!(p.matches(&text), expected, "{} on {}", pattern, text);
    }
}

/// CloudTrail-like members whose values the Security Hub rules and their prefilter care about,
/// with escapes, nesting, duplicates and odd spacing.
fn trail_like_record() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "eventName",
        "eventSource",
        "errorCode",
        "errorMessage",
        "eventType",
        "type",
        "invokedBy",
        "event\\u004eame",
        "eventNam",
        "x",
        "eventName",
        "eventSource",
        "MFAUsed",
        "ConsoleLogin",
    ]);
    let value = prop::sample::select(vec![
        "\"CreateTrail\"",
        "\"StopLogging\"",
        "\"ConsoleLogin\"",
        "\"DisableKey\"",
        "\"PutBucketPolicy\"",
        "\"DescribeTrails\"",
        "\"kms.amazonaws.com\"",
        "\"s3.amazonaws.com\"",
        "\"AccessDenied\"",
        "\"Client.UnauthorizedOperation\"",
        "\"Root\"",
        "\"IAMUser\"",
        "\"AwsApiCall\"",
        "\"Create\\u0054rail\"",
        "\"Access\\u0044enied\"",
        "\"Failed authentication\"",
        "\"a\\\"b\"",
        "7",
        "null",
        "\"eventName\"",
        "\"No\"",
        "\"Success\"",
        "\"AccessDenied\"",
    ]);
    let space = prop::sample::select(vec!["", " ", "\n  "]);
    let member = (key, value, space);
    let object = |members: Vec<(&str, &str, &str)>| {
        let body: Vec<String> = members
            .iter()
            .map(|(k, v, s)| format!("{s}\"{k}\"{s}:{s}{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    };
    (
        prop::collection::vec(member.clone(), 0..7),
        prop::collection::vec(member.clone(), 0..4),
        prop::collection::vec(member, 0..3),
        prop::sample::select(vec![
            "userIdentity",
            "requestParameters",
            "additionalEventData",
        ]),
        any::<bool>(),
    )
        .prop_map(move |(top, nested, deeper, holder, truncate)| {
            let mut nested_text = object(nested);
            if !deeper.is_empty() {
                nested_text.insert_str(1, &format!("\"inner\":{},", object(deeper)));
            }
            let mut text = object(top);
            let at = text.len() - 1;
            let sep = if text.len() > 2 { "," } else { "" };
            text.insert_str(at, &format!("{sep}\"{holder}\":{nested_text}"));
            if truncate {
                text.truncate(text.len() - 1);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// The Security Hub set (prefilter, index, shared projection) answers exactly like each
    /// pattern evaluated alone, on records built to hit the prefilter's corner cases.
    #[test]
    fn security_hub_prefilter_hides_no_match(record in trail_like_record()) {
        use trailwatch_shared::rules::{CompiledRules, builtin_set};
        let rules = CompiledRules::compile(builtin_set("security-hub").unwrap()).unwrap();
        let mut matched = Vec::new();
        rules.evaluate(&record, &mut matched);
        let alone: Vec<usize> = (0..rules.len()).filter(|&i| rules.pattern(i).matches(&record)).collect();
        prop_assert_eq!(&matched, &alone, "{}", record);
    }
}
