//! Unit tests for JSON patterns, one per rule id J1–J11 (see `tests.rs` for the others).

use super::FilterPattern;

fn m(pattern: &str, message: &str) -> bool {
    FilterPattern::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .matches(message)
}

fn rejected(pattern: &str) -> String {
    match FilterPattern::parse(pattern) {
        Ok(_) => panic!("{pattern} should be rejected"),
        Err(e) => e.to_string(),
    }
}

pub(super) const TRAIL: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null,"ThisFlag":true,"cluster.name":"c","cluster":{"name":"nested"}}"#;

#[test]
fn j1_json_patterns_need_a_json_event() {
    assert!(!m(
        r#"{ $.eventName = "ConsoleLogin" }"#,
        "ConsoleLogin eventName=ConsoleLogin"
    ));
    assert!(!m(
        "{ $.a = 1 }",
        "2024-05-02T09:14:27Z\tid\tINFO\t{\"a\": 1}"
    ));
    assert!(
        !m("{ $.a NOT EXISTS }", r#"[{"b":1}]"#),
        "dbt-038: a top-level array is not a JSON event"
    );
    assert!(!m("{ $.a = 1 }", r#"{"a":1} trailing"#));
    assert!(!m("{ $.a = 1 }", r#"{"a":1,}"#));
    assert!(m("{ $.a = 1 }", " \n{\"a\" : 1}\n "));
    rejected(r#"{ $.eventName = "ConsoleLogin" "#);
}

#[test]
fn j2_selectors() {
    assert!(m(r#"{ $.arrayKey[0] = "value" }"#, TRAIL));
    assert!(m("{ $.objectList[1].id = 2 }", TRAIL));
    assert!(m(r#"{ $.['cluster.name'] = "c" }"#, TRAIL));
    assert!(
        m(r#"{ $.cluster.name = "nested" }"#, TRAIL),
        "dotted selectors always nest"
    );
    assert!(!m(r#"{ $.cluster.name = "c" }"#, TRAIL));
    assert!(m("{ $.c[0][1] = 2 }", r#"{"c":[[1,2],[3]]}"#));
    rejected(r#"{ eventName = "x" }"#);
    rejected("{ $.@timestamp = * }");
    rejected("{ $.a. = 1 }");
    rejected("{ $.a[x] = 1 }");
}

#[test]
fn j3_containers_and_missing_paths_never_compare() {
    assert!(!m(r#"{ $.arrayKey = "value" }"#, TRAIL));
    assert!(!m(r#"{ $.arrayKey != "value" }"#, TRAIL));
    assert!(!m(r#"{ $.objectList[0] = "a" }"#, TRAIL));
    assert!(!m(r#"{ $.arrayKey[2] = "value" }"#, TRAIL));
    assert!(!m(r#"{ $.eventType[0] = "UpdateTrail" }"#, TRAIL));
    assert!(!m("{ $.cluster != 1 }", TRAIL));
}

#[test]
fn j4_wildcard_selectors_and_quotas() {
    assert!(m(r#"{ $.objectList[*].name = "b" }"#, TRAIL));
    assert!(!m(r#"{ $.arrayKey[*] = "nothing" }"#, TRAIL));
    assert!(m(r"{ $.* = %^111\.% }", TRAIL));
    // A9 / dbt-017: "some element differs".
    assert!(m(
        r#"{ $.tags[*] != "prod" }"#,
        r#"{"tags":["prod","dev"]}"#
    ));
    assert!(rejected("{ $.a[*].b[*] = 1 }").contains("one wildcard"));
    assert!(
        rejected("{ $.a[*] = 1 || $.b[*] = 2 || $.c[*] = 3 || $.d[*] = 4 }").contains("3 wildcard")
    );
    assert!(m(
        "{ $.a[*] = 1 || $.b[*] = 2 || $.c[*] = 3 }",
        r#"{"c":[3]}"#
    ));
}

#[test]
fn j5_string_comparison() {
    assert!(m(r#"{ $.eventType = "UpdateTrail" }"#, TRAIL));
    assert!(!m(r#"{ $.eventType = "Update" }"#, TRAIL));
    assert!(!m(r#"{ $.eventType = "updatetrail" }"#, TRAIL));
    assert!(m("{$.eventType=UpdateTrail}", TRAIL));
    assert!(m(
        "{ $.s = kms.amazonaws.com }",
        r#"{"s":"kms.amazonaws.com"}"#
    ));
    assert!(m("{ $.sourceIPAddress != 123.123.* }", TRAIL));
    assert!(m(r#"{ $.msg = "say \"hi\"" }"#, r#"{"msg":"say \"hi\""}"#));
    assert!(
        m(r#"{ $.msg = "é" }"#, r#"{"msg":"\u00e9"}"#),
        "escaped JSON strings are decoded"
    );
}

#[test]
fn j6_wildcard_values() {
    assert!(m(r#"{ $.eventType = "Update*" }"#, TRAIL));
    assert!(m(r#"{ $.eventType = "*Trail" }"#, TRAIL));
    assert!(m(r#"{ $.eventType = "*dateTr*" }"#, TRAIL));
    assert!(m("{ $.eventType = * }", TRAIL));
    assert!(m(r#"{ $.eventType = "*" }"#, TRAIL));
    assert!(!m("{ $.missing = * }", TRAIL));
    assert!(
        !m("{ $.SomeObject = * }", TRAIL),
        "dbt-023: null has no value"
    );
    assert!(m("{ $.x = * }", r#"{"x":""}"#));
    assert!(
        m(r#"{ $.e = "AccessDenied*" }"#, r#"{"e":"AccessDenied"}"#),
        "A5: * matches nothing"
    );
    assert!(
        !m(r#"{ $.e = "Con*Login" }"#, r#"{"e":"ConsoleLogin"}"#),
        "A4: a middle * is literal"
    );
    assert!(m("{ $.status = 4* }", r#"{"status":404}"#), "dbt-033");
}

#[test]
fn j7_numbers() {
    let ev =
        r#"{"latency":50,"errorCode":400,"number":[1000,0.001],"ratio":-2.5,"s":"10","t":"ten"}"#;
    assert!(m("{ $.latency > +49 }", ev));
    assert!(!m("{ $.latency < 50 }", ev));
    assert!(m("{ $.latency <= 50 && $.latency >= 50 }", ev));
    assert!(m("{ $.errorCode != 500 }", ev));
    assert!(m("{ $.number[0] < 10e3 }", ev));
    assert!(m("{ $.number[1] < 10e-3 }", ev));
    assert!(m("{ $.number[0] = 1e+3 }", ev));
    assert!(m("{ $.ratio > -3 }", ev));
    assert!(m("{ $.ratio = -2.50 }", ev));
    assert!(
        m("{ $.s > 5 }", ev),
        "dbt-013: numeric strings compare as numbers"
    );
    assert!(!m("{ $.t > 5 }", ev), "dbt-014");
    assert!(
        !m(r#"{ $.number[0] = "1e3" }"#, ev),
        "a quoted 1e3 is a string"
    );
    assert!(m(r#"{ $.errorCode = "400" }"#, ev), "dbt-012");
    assert!(rejected(r#"{ $.a > "abc" }"#).contains("need a number"));
    rejected("{ $.a > abc }");
}

#[test]
fn j8_is_and_not_exists() {
    assert!(m("{ $.SomeObject IS NULL }", TRAIL));
    assert!(!m("{ $.Other IS NULL }", TRAIL));
    assert!(m("{ $.Other NOT EXISTS }", TRAIL));
    assert!(!m("{ $.SomeObject NOT EXISTS }", TRAIL), "null exists");
    assert!(m("{ $.ThisFlag IS TRUE }", TRAIL));
    assert!(!m("{ $.ThisFlag IS FALSE }", TRAIL));
    assert!(!m("{ $.flag IS TRUE }", r#"{"flag":"true"}"#), "dbt-034");
    assert!(rejected("{ $.SomeObject IS NOT NULL }").contains("IS NOT"));
    assert!(rejected("{ $.SomeObject EXISTS }").contains("EXISTS"));
    rejected("{ $.x is null }");
    rejected(r#"{ $.flag IS "yes" }"#);
}

#[test]
fn j9_precedence_and_parentheses() {
    let ev = r#"{"a":1,"b":2,"c":3}"#;
    // A || B && C = A || (B && C)
    assert!(m("{ $.a = 1 || $.b = 0 && $.c = 0 }", ev));
    assert!(!m("{ ($.a = 1 || $.b = 0) && $.c = 0 }", ev));
    assert!(m("{ (($.a = 1) || ($.b = 2)) }", ev));
    assert!(m("{ ((($.a = 1))) && ($.b = 2 || ($.c = 9)) }", ev));
    rejected("{ ($.a = 1 }");
    rejected("{ $.a = 1) }");
    rejected("{ () }");
    rejected("{ $.a = 1 & $.b = 2 }");
    rejected("{ $.a = 1 || }");
    rejected("{}");
}

#[test]
fn j10_absent_properties_never_compare() {
    for p in [
        "{ $.x = 1 }",
        "{ $.x = * }",
        "{ $.x < 1 }",
        "{ $.x > 1 }",
        r#"{ $.x = "a*" }"#,
        "{ $.x = %a% }",
    ] {
        assert!(!m(p, r#"{"y":1}"#), "{p}");
    }
}

#[test]
fn j11_not_equal_on_absent_field_is_false() {
    assert!(!m(
        r#"{ $.userIdentity.invokedBy != "x" }"#,
        r#"{"userIdentity":{"type":"Root"}}"#
    ));
    assert!(m(
        r#"{ ($.x NOT EXISTS) || ($.x != "v") }"#,
        r#"{"userIdentity":{"type":"Root"}}"#
    ));
}

#[test]
fn deep_nesting_within_the_length_limit_is_handled() {
    let depth = 500;
    let p = format!("{{{}$.a=1{}}}", "(".repeat(depth), ")".repeat(depth));
    assert!(p.chars().count() <= 1024);
    assert!(m(&p, r#"{"a":1}"#));
    let deep_selector = format!("{{ $.{} = 1 }}", vec!["a"; 500].join("."));
    let deep_event = format!("{}1{}", r#"{"a":"#.repeat(500), "}".repeat(500));
    assert!(m(&deep_selector, &deep_event));
    // Deeper than the scanner's limit: not treated as a JSON event, and no stack overflow.
    let deeper = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000));
    assert!(!m("{ $.b NOT EXISTS }", &deeper));
    assert!(!m(&deep_selector, &deeper));
}
