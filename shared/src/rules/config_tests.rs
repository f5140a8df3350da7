use super::*;
use crate::rules::Severity;

const GUARDDUTY: &str = r#"{"id": "team:guardduty-deleted", "title": "GuardDuty detector deleted",
  "pattern": "{ $.eventSource = guardduty.amazonaws.com && $.eventName = DeleteDetector }",
  "severity": "critical", "description": "Detection was switched off."}"#;

#[test]
fn rule_sets_parse_with_none_and_defaults() {
    assert_eq!(
        RuleSetSelection::parse("").unwrap(),
        RuleSetSelection::default()
    );
    assert_eq!(
        RuleSetSelection::parse("none").unwrap(),
        RuleSetSelection::None
    );
    assert_eq!(
        RuleSetSelection::parse("NONE").unwrap(),
        RuleSetSelection::None
    );
    assert_eq!(
        RuleSetSelection::parse(" security-hub , cis-1.4.0,security-hub").unwrap(),
        RuleSetSelection::Sets(vec!["security-hub".into(), "cis-1.4.0".into()])
    );
    let e = RuleSetSelection::parse("security-hub,cis-9").unwrap_err();
    assert!(e.contains("\"cis-9\"") && e.contains("security-hub"), "{e}");
    assert!(RuleSetSelection::parse("none,security-hub").is_err());
}

/// A custom document through the one path: parsed, then loaded (validated by `compile`).
fn load_custom(text: &str) -> Result<LoadedRules, RuleConfigError> {
    let custom = parse_rules("CUSTOM_RULES", text)?;
    load_rules(&RuleSetSelection::None, &[("CUSTOM_RULES".into(), custom)])
}

#[test]
fn custom_rules_as_array_or_rules_object_with_defaults() {
    let arr = load_custom(&format!("[{GUARDDUTY}]")).unwrap();
    let obj = load_custom(&format!(r#"{{"rules": [{GUARDDUTY}]}}"#)).unwrap();
    assert_eq!(arr.rules(), obj.rules());
    let r = &arr.rules()[0];
    assert_eq!(r.id, "team:guardduty-deleted");
    assert_eq!(
        r.severity,
        Severity::Critical,
        "severity is read in any case"
    );
    assert_eq!(r.threshold, 1);
    assert!(r.enabled);
    assert_eq!(
        r.description.as_deref(),
        Some("Detection was switched off.")
    );
    let minimal = load_custom(
        r#"[{"id":" x ","pattern":"AccessDenied","severity":" High ","threshold":5,"description":" ","title":null}]"#,
    )
    .unwrap();
    let m = &minimal.rules()[0];
    assert_eq!(
        (m.id.as_str(), m.title.as_str(), m.threshold, m.severity),
        ("x", "x", 5, Severity::High),
        "id trimmed, title defaults to the id"
    );
    assert_eq!(m.description, None, "a blank description is dropped");
    assert_eq!(
        serde_json::to_value(m).unwrap()["severity"],
        "HIGH",
        "one canonical form out"
    );
}

#[test]
fn documents_that_are_not_rule_lists_fail_naming_the_source() {
    let cases: &[(&str, &[&str])] = &[
        ("{not json", &["CUSTOM_RULES", "not valid JSON"]),
        (
            r#"{"rule": []}"#,
            &["CUSTOM_RULES", "expected a JSON array"],
        ),
        (r#""x""#, &["a string"]),
    ];
    for (text, needles) in cases {
        let e = load_custom(text).unwrap_err().to_string();
        for n in *needles {
            assert!(e.contains(n), "{text}: {e:?} lacks {n:?}");
        }
    }
}

/// Every invalid rule fails naming the source, the rule's id and the field, whether the reader
/// (structure) or `compile` (meaning) rejects it.
#[test]
fn invalid_rules_fail_naming_the_source_the_id_and_the_field() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"[{"id":"bad-sev","pattern":"x","severity":"URGENT"}]"#,
            &[
                "rule #1",
                "\"bad-sev\"",
                "severity: \"URGENT\" is not one of LOW, MEDIUM, HIGH, CRITICAL",
            ],
        ),
        (
            r#"[{"id":"num-sev","pattern":"x","severity":3}]"#,
            &["\"num-sev\"", "severity: invalid type"],
        ),
        (
            r#"[{"id":"no-pattern","severity":"LOW"}]"#,
            &["\"no-pattern\"", "missing field `pattern`"],
        ),
        (
            r#"[{"id":"bad-pattern","pattern":"{ $.eventName = ","severity":"HIGH"}]"#,
            &["rule \"bad-pattern\": pattern: ", "column"],
        ),
        (
            r#"[{"id":"off-and-bad","pattern":"{ broken","severity":"HIGH","enabled":false}]"#,
            &["rule \"off-and-bad\": pattern: "],
        ),
        (
            r#"[{"id":"dup","pattern":"x","severity":"LOW"},{"id":"dup","pattern":"y","severity":"LOW"}]"#,
            &["rule \"dup\": id: is used by more than one rule"],
        ),
        (
            r#"[{"id":"zero","pattern":"x","severity":"LOW","threshold":0}]"#,
            &["rule \"zero\": threshold: must be at least 1"],
        ),
        (
            r#"[{"id":"neg","pattern":"x","severity":"LOW","threshold":-1}]"#,
            &["\"neg\"", "threshold: invalid value"],
        ),
        (
            r#"[{"id":"typo","pattern":"x","severity":"LOW","treshold":2}]"#,
            &["\"typo\"", "unknown field `treshold`"],
        ),
        (
            r#"[{"id":"t","pattern":"x","severity":"LOW","title":7}]"#,
            &["\"t\"", "title: invalid type"],
        ),
        (
            r#"[{"id":"e","pattern":"x","severity":"LOW","enabled":"no"}]"#,
            &["\"e\"", "enabled: invalid type"],
        ),
        (
            r#"[{"pattern":"x","severity":"LOW"}]"#,
            &["rule #1 (no id)", "missing field `id`"],
        ),
        (
            r#"[{"id":" ","pattern":"x","severity":"LOW"}]"#,
            &["rule \" \": id: must be 1 to 256 printable characters"],
        ),
    ];
    for (text, needles) in cases {
        let e = load_custom(text).unwrap_err().to_string();
        assert!(e.starts_with("CUSTOM_RULES: "), "{text}: {e:?}");
        for n in *needles {
            assert!(e.contains(n), "{text}: {e:?} lacks {n:?}");
        }
    }
}

#[test]
fn default_set_loads_security_hub_in_order() {
    let loaded = load_rules(&RuleSetSelection::default(), &[]).unwrap();
    let ids: Vec<&str> = loaded.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 14, "{ids:?}");
    assert_eq!(ids[0], "SecurityHub:CloudWatch.1");
    assert_eq!(ids[13], "SecurityHub:CloudWatch.14");
    assert!(loaded.rules().iter().all(|r| r.threshold >= 1 && r.enabled));
    assert!(
        loaded
            .sources
            .iter()
            .all(|s| s == "built-in rule set security-hub")
    );
}

#[test]
fn custom_rules_add_to_replace_and_disable_builtins() {
    let custom = parse_rules(
        "CUSTOM_RULES",
        &format!(
            r#"[{GUARDDUTY},
               {{"id":"SecurityHub:CloudWatch.2","title":"Unauthorized API calls (noisy)","pattern":"{{ $.errorCode = \"AccessDenied*\" }}","severity":"low","threshold":20}},
               {{"id":"SecurityHub:CloudWatch.10","pattern":"x","severity":"LOW","enabled":false}}]"#
        ),
    )
    .unwrap();
    let loaded = load_rules(
        &RuleSetSelection::default(),
        &[("CUSTOM_RULES".into(), custom)],
    )
    .unwrap();
    let ids: Vec<&str> = loaded.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 14, "13 built-ins left + 1 custom: {ids:?}");
    assert!(!ids.contains(&"SecurityHub:CloudWatch.10"));
    assert_eq!(
        ids[1], "SecurityHub:CloudWatch.2",
        "a replaced rule keeps its place"
    );
    assert_eq!(loaded.rules()[1].threshold, 20);
    assert_eq!(loaded.rules()[1].severity, Severity::Low);
    assert_eq!(loaded.sources[1], "CUSTOM_RULES");
    assert_eq!(*ids.last().unwrap(), "team:guardduty-deleted");
}

#[test]
fn a_builtin_id_replaced_twice_is_a_duplicate_naming_the_second_source() {
    let one = r#"[{"id":"SecurityHub:CloudWatch.2","pattern":"x","severity":"LOW"}]"#;
    let a = parse_rules("CUSTOM_RULES", one).unwrap();
    let b = parse_rules("s3://b/rules.json", one).unwrap();
    let e = load_rules(
        &RuleSetSelection::default(),
        &[("CUSTOM_RULES".into(), a), ("s3://b/rules.json".into(), b)],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "s3://b/rules.json: rule \"SecurityHub:CloudWatch.2\": id: is used by more than one rule"
    );
}

#[test]
fn the_same_custom_id_from_two_sources_is_an_error() {
    let a = parse_rules("CUSTOM_RULES", &format!("[{GUARDDUTY}]")).unwrap();
    let b = parse_rules("s3://b/rules.json", &format!("[{GUARDDUTY}]")).unwrap();
    let e = load_rules(
        &RuleSetSelection::None,
        &[("CUSTOM_RULES".into(), a), ("s3://b/rules.json".into(), b)],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("s3://b/rules.json")
            && e.contains("\"team:guardduty-deleted\": id: is used by more than one rule"),
        "{e}"
    );
}

#[test]
fn unknown_builtin_set_is_an_error() {
    let e = load_rules(&RuleSetSelection::Sets(vec!["cis-9".into()]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"cis-9\"") && e.contains("security-hub"), "{e}");
}

/// The built-in sets and a custom file take one path: a built-in document given as a custom
/// file yields the same compiled rules, and a custom copy of one built-in rule compiles to the
/// same rule.
#[test]
fn builtin_json_and_a_custom_file_take_the_same_path() {
    for name in rules::BUILTIN_SET_NAMES {
        let builtin = load_rules(&RuleSetSelection::Sets(vec![(*name).into()]), &[]).unwrap();
        let path = format!("{}/data/rule-sets/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let custom = parse_rules(&path, &text).unwrap();
        let as_custom = load_rules(&RuleSetSelection::None, &[(path.clone(), custom)]).unwrap();
        assert_eq!(builtin.rules(), as_custom.rules(), "{name}");
        assert!(!builtin.rules().is_empty());
    }

    // One built-in rule, written by hand in a custom file (lower-case severity, defaults left
    // out), compiles to exactly the built-in rule.
    let builtin = load_rules(&RuleSetSelection::default(), &[]).unwrap();
    let cw5 = builtin
        .rules()
        .iter()
        .find(|r| r.id == "SecurityHub:CloudWatch.5")
        .unwrap();
    let custom_text = serde_json::json!([{
        "id": cw5.id, "title": cw5.title, "pattern": cw5.pattern,
        "severity": cw5.severity.as_str().to_lowercase(), "description": cw5.description,
    }])
    .to_string();
    let custom = load_custom(&custom_text).unwrap();
    assert_eq!(custom.rules(), std::slice::from_ref(cw5));
    let record = r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging"}"#;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    custom.compiled.evaluate(record, &mut a);
    builtin.compiled.evaluate(record, &mut b);
    assert_eq!(a, [0]);
    assert_eq!(builtin.rules()[b[0]].id, cw5.id);
}

#[test]
fn no_rules_at_all_is_allowed() {
    let loaded = load_rules(&RuleSetSelection::None, &[]).unwrap();
    assert!(loaded.rules().is_empty());
}

/// The example in the README's rule format section is a valid document, and does what it says.
#[test]
fn the_readme_example_loads() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md beside the workspace");
    let section = &readme[readme
        .find("**Rule format.**")
        .expect("rule format section")..];
    let start = section.find("```json\n").expect("a json example") + "```json\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let custom = parse_rules("README", example).unwrap();
    let loaded = load_rules(&RuleSetSelection::default(), &[("README".into(), custom)]).unwrap();
    let ids: Vec<&str> = loaded.rules().iter().map(|r| r.id.as_str()).collect();
    assert!(!ids.contains(&"SecurityHub:CloudWatch.10"), "{ids:?}");
    assert_eq!(ids.last(), Some(&"team:guardduty-deleted"));
    assert_eq!(loaded.rules()[1].threshold, 20);
    assert_eq!(loaded.rules()[1].severity, Severity::Low);
}

/// `period` turns the threshold into a windowed one; only metric alarm periods are accepted.
#[test]
fn period_accepts_metric_alarm_periods_only_and_names_the_rule() {
    let with_period = |p: &str| {
        load_custom(&format!(
            r#"[{{"id":"burst","pattern":"x","severity":"LOW","threshold":5,"period":{p}}}]"#
        ))
    };
    for ok in [10u64, 30, 60, 120, 300, 3600, 86_400] {
        let loaded = with_period(&ok.to_string()).unwrap();
        assert_eq!(loaded.rules()[0].period, Some(ok), "period {ok}");
        assert_eq!(loaded.rules()[0].threshold, 5);
    }
    for bad in [0u64, 1, 20, 45, 59, 90, 61, 86_460, 172_800] {
        let e = with_period(&bad.to_string()).unwrap_err().to_string();
        let want = format!(
            "CUSTOM_RULES: rule \"burst\": period: {bad} seconds is not a metric alarm period: \
             must be 10, 30 or a multiple of 60 from 60 to 86400"
        );
        assert_eq!(e, want, "period {bad}");
    }
    for (bad, needle) in [
        ("-300", "period: invalid value"),
        ("\"300\"", "period: invalid type"),
    ] {
        let e = with_period(bad).unwrap_err().to_string();
        assert!(e.contains("\"burst\"") && e.contains(needle), "{bad}: {e}");
    }
    // A disabled rule is still checked.
    let e =
        load_custom(r#"[{"id":"off","pattern":"x","severity":"LOW","period":7,"enabled":false}]"#)
            .unwrap_err();
    assert!(
        e.to_string().contains("rule \"off\": period: 7 seconds"),
        "{e}"
    );
    // Negative control: no period is a per-file rule, as before.
    assert_eq!(
        load_custom(&format!("[{GUARDDUTY}]")).unwrap().rules()[0].period,
        None
    );
}

/// Built-in sets have no period and keep their serialized form: `period` is written only when set.
#[test]
fn period_is_absent_from_builtin_rules_and_their_serialized_form() {
    for name in rules::BUILTIN_SET_NAMES {
        for r in rules::builtin_set(name).unwrap() {
            assert_eq!(r.period, None, "{name} {}", r.id);
            let json = serde_json::to_string(&r).unwrap();
            assert!(!json.contains(r#""period":"#), "{json}");
        }
    }
    let windowed = parse_rules(
        "t",
        r#"[{"id":"w","pattern":"x","severity":"LOW","threshold":5,"period":300}]"#,
    )
    .unwrap();
    let json = serde_json::to_string(&windowed[0]).unwrap();
    assert!(json.contains(r#""period":300"#), "{json}");
    assert_eq!(parse_rules("t", &format!("[{json}]")).unwrap(), windowed);
}
