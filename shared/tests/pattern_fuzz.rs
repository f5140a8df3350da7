//! Property tests: the parser and the evaluator never panic, whatever the pattern or message; a
//! rejected pattern's error column lies inside the pattern; a JSON pattern matches only messages
//! that are valid JSON; every generated valid pattern parses and agrees with a full
//! `serde_json::Value` evaluation, and every pattern of a listed invalid family is rejected.

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

/// The parser's promise for a rejected pattern: a 1-based character column inside the pattern
/// (or just after its end, for "found the end of the pattern").
fn column_inside(e: &trailwatch_shared::pattern::PatternError, pattern: &str) -> bool {
    (1..=pattern.chars().count() + 1).contains(&e.column())
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
        match FilterPattern::parse(&pattern) {
            Ok(p) => {
                let _ = p.matches(&message);
            }
            Err(e) => prop_assert!(column_inside(&e, &pattern), "{:?}: {}", pattern, e),
        }
    }

    #[test]
    fn pattern_like_text_never_panics(pattern in from_alphabet(PATTERN_ALPHABET, 24), message in from_alphabet(JSON_ALPHABET, 24)) {
        match FilterPattern::parse(&pattern) {
            Ok(p) => {
                let _ = p.matches(&message);
                let _ = p.matches("{\"a\":{\"b\":[1,\"x\",null]},\"b\":true}");
            }
            Err(e) => prop_assert!(column_inside(&e, &pattern), "{:?}: {}", pattern, e),
        }
    }

    /// A JSON pattern only ever matches a JSON event: a message that `serde_json` rejects
    /// (truncated, trailing text, bad literals, lone surrogates…) matches none of them.
    #[test]
    fn json_like_messages_never_panic(message in from_alphabet(JSON_ALPHABET, 40)) {
        let valid_json = serde_json::from_str::<Value>(&message).is_ok();
        for p in ["{ $.a = 1 }", "{ $.a.* = * }", "{ $.a[*] NOT EXISTS }", "{ $.a IS NULL || $.b != \"x\" }", "a", "[x, ...]"] {
            let matched = FilterPattern::parse(p).unwrap().matches(&message);
            if p.starts_with('{') {
                prop_assert!(!matched || valid_json, "{} matched the invalid JSON {:?}", p, message);
            }
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

/// Simple JSON patterns over a small vocabulary, so that random sets share selectors. Every one
/// is valid: the tests fail if one does not parse. (At most two `%regex%` atoms: a third is over
/// the documented quota, R5, which is the `TooManyRegexes` invalid family.)
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
        .prop_map(|(mut atoms, ors)| {
            for a in atoms.iter_mut().filter(|a| a.contains('%')).skip(2) {
                *a = a.replace("= %^x%", "= \"a\"");
            }
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
        use trailwatch_shared::rules::{CompiledRules, Rule, Severity};
        // Every generated pattern is valid: a rejected one fails `compile` and so the test.
        let defs: Vec<Rule> = patterns.iter().enumerate().map(|(i, p)| Rule {
            id: format!("r{i}"), title: String::new(), pattern: p.clone(), severity: Severity::Low,
            threshold: 1, period: None, description: None, enabled: true,
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

/// The invalid families: each turns a valid `small_json_pattern` into one that the documentation
/// rejects (`docs/specs/filter-patterns.md` E1, J8, R5). No other generated pattern may fail to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvalidFamily {
    /// The closing `}` removed: `{ $.a = 1`.
    UnbalancedBrace,
    /// An opening `(` that is never closed: `{ ($.a = 1 }`.
    UnbalancedParenthesis,
    /// The first selector without its `$.`: `{ a = 1 }`.
    SelectorWithoutDollar,
    /// A comparison without its value: `{ $.a = 1 && $.b = }`.
    MissingValue,
    /// `&&` with nothing after it: `{ $.a = 1 && }`.
    DanglingOperator,
    /// `IS NOT NULL`, which AWS rejects (J8): `{ $.a = 1 && $.b IS NOT NULL }`.
    IsNot,
    /// A bare `EXISTS` (only `NOT EXISTS` exists, J8): `{ $.a = 1 || $.b EXISTS }`.
    BareExists,
    /// More than two regular expressions in one pattern (R5): three more appended.
    TooManyRegexes,
}

impl InvalidFamily {
    const ALL: [InvalidFamily; 8] = [
        Self::UnbalancedBrace,
        Self::UnbalancedParenthesis,
        Self::SelectorWithoutDollar,
        Self::MissingValue,
        Self::DanglingOperator,
        Self::IsNot,
        Self::BareExists,
        Self::TooManyRegexes,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::UnbalancedBrace => "unbalanced brace",
            Self::UnbalancedParenthesis => "unbalanced parenthesis",
            Self::SelectorWithoutDollar => "selector without $.",
            Self::MissingValue => "missing value",
            Self::DanglingOperator => "dangling operator",
            Self::IsNot => "IS NOT",
            Self::BareExists => "bare EXISTS",
            Self::TooManyRegexes => "more than two regular expressions",
        }
    }

    /// `valid` is `{ a1 op a2 … }` as `small_json_pattern` writes it.
    fn apply(self, valid: &str) -> String {
        let body = valid
            .strip_prefix("{ ")
            .and_then(|b| b.strip_suffix(" }"))
            .unwrap();
        match self {
            Self::UnbalancedBrace => format!("{{ {body}"),
            Self::UnbalancedParenthesis => format!("{{ ({body} }}"),
            Self::SelectorWithoutDollar => format!("{{ {} }}", body.replacen("$.", "", 1)),
            Self::MissingValue => format!("{{ {body} && $.b = }}"),
            Self::DanglingOperator => format!("{{ {body} && }}"),
            Self::IsNot => format!("{{ {body} && $.b IS NOT NULL }}"),
            Self::BareExists => format!("{{ {body} || $.b EXISTS }}"),
            Self::TooManyRegexes => {
                format!("{{ {body} && $.a = %x% && $.b = %y% && $.c = %z% }}")
            }
        }
    }
}

/// A generated pattern and, if it was made invalid on purpose, its family.
#[derive(Debug, Clone)]
struct GeneratedPattern {
    pattern: String,
    invalid: Option<InvalidFamily>,
}

/// Mostly valid patterns, one in four made invalid by a listed family.
fn generated_pattern() -> impl Strategy<Value = GeneratedPattern> {
    prop_oneof![
        3 => small_json_pattern().prop_map(|pattern| GeneratedPattern { pattern, invalid: None }),
        1 => (small_json_pattern(), prop::sample::select(InvalidFamily::ALL.to_vec())).prop_map(
            |(valid, family)| GeneratedPattern { pattern: family.apply(&valid), invalid: Some(family) }
        ),
    ]
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

    /// The engine (projection scan, wildcards, precedence) against the reference semantics. A
    /// valid pattern that does not parse fails; so does an invalid one that parses.
    #[test]
    fn engine_agrees_with_reference_semantics(case in generated_pattern(), event in json_value_with_x()) {
        let parsed = FilterPattern::parse(&case.pattern);
        match (case.invalid, parsed) {
            (None, Ok(p)) => {
                let text = serde_json::to_string(&event).unwrap();
                let expected = reference_pattern(&event, &case.pattern);
                prop_assert_eq!(p.matches(&text), expected, "{} on {}", case.pattern, text);
            }
            (None, Err(e)) => prop_assert!(false, "valid pattern {} rejected: {}", case.pattern, e),
            (Some(family), Ok(_)) => {
                prop_assert!(false, "{} ({}) parsed; it must be rejected", case.pattern, family.name());
            }
            (Some(family), Err(e)) => prop_assert!(
                column_inside(&e, &case.pattern),
                "{} ({}): {}", case.pattern, family.name(), e
            ),
        }
    }

    /// Each listed invalid family is generated and rejected (not just allowed to be).
    #[test]
    fn every_invalid_family_is_rejected(valid in small_json_pattern(), family in prop::sample::select(InvalidFamily::ALL.to_vec())) {
        let pattern = family.apply(&valid);
        prop_assert!(FilterPattern::parse(&valid).is_ok(), "valid pattern {} rejected", valid);
        prop_assert!(FilterPattern::parse(&pattern).is_err(), "{} ({}) parsed", pattern, family.name());
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
