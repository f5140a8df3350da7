use super::*;

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

#[test]
fn custom_rules_as_array_or_rules_object_with_defaults() {
    let arr = parse_custom_rules("CUSTOM_RULES", &format!("[{GUARDDUTY}]")).unwrap();
    let obj = parse_custom_rules("s3://b/k", &format!(r#"{{"rules": [{GUARDDUTY}]}}"#)).unwrap();
    assert_eq!(arr, obj);
    let r = &arr[0];
    assert_eq!(r.id, "team:guardduty-deleted");
    assert_eq!(r.severity, Severity::Critical);
    assert_eq!(r.threshold, 1);
    assert!(r.enabled);
    assert_eq!(
        r.description.as_deref(),
        Some("Detection was switched off.")
    );
    let minimal = parse_custom_rules(
        "CUSTOM_RULES",
        r#"[{"id":"x","pattern":"AccessDenied","severity":"LOW","threshold":5}]"#,
    )
    .unwrap();
    assert_eq!(minimal[0].title, "x");
    assert_eq!(minimal[0].threshold, 5);
}

#[test]
fn invalid_rules_fail_naming_the_source_the_rule_and_the_reason() {
    let cases: &[(&str, &[&str])] = &[
        ("{not json", &["CUSTOM_RULES", "not valid JSON"]),
        (
            r#"{"rule": []}"#,
            &["CUSTOM_RULES", "expected a JSON array"],
        ),
        (r#""x""#, &["a string"]),
        (
            r#"[{"id":"bad-pattern","pattern":"{ $.eventName = ","severity":"HIGH"}]"#,
            &["rule #1", "\"bad-pattern\"", "invalid pattern"],
        ),
        (
            r#"[{"id":"a","pattern":"x","severity":"URGENT"}]"#,
            &["\"a\"", "URGENT", "LOW, MEDIUM, HIGH, CRITICAL"],
        ),
        (
            r#"[{"id":"a","pattern":"x","severity":"LOW","threshold":0}]"#,
            &["threshold must be at least 1"],
        ),
        (
            r#"[{"id":"a","pattern":"x","severity":"LOW","treshold":2}]"#,
            &["\"a\"", "unknown field `treshold`"],
        ),
        (
            r#"[{"pattern":"x","severity":"LOW"}]"#,
            &["rule #1 (no id)", "missing field `id`"],
        ),
        (
            r#"[{"id":" ","pattern":"x","severity":"LOW"}]"#,
            &["id must be"],
        ),
        (
            r#"[{"id":"a","pattern":"x","severity":"LOW"},{"id":"a","pattern":"y","severity":"LOW"}]"#,
            &["\"a\" is defined twice"],
        ),
    ];
    for (text, needles) in cases {
        let e = parse_custom_rules("CUSTOM_RULES", text)
            .unwrap_err()
            .to_string();
        for n in *needles {
            assert!(e.contains(n), "{text}: {e:?} lacks {n:?}");
        }
    }
}

#[test]
fn default_set_loads_security_hub_in_order() {
    let loaded = load_rules(&RuleSetSelection::default(), &[]).unwrap();
    let ids: Vec<&str> = loaded.specs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 14, "{ids:?}");
    assert_eq!(ids[0], "SecurityHub:CloudWatch.1");
    assert_eq!(ids[13], "SecurityHub:CloudWatch.14");
    assert!(loaded.specs.iter().all(|r| r.threshold >= 1 && r.enabled));
}

#[test]
fn custom_rules_add_to_replace_and_disable_builtins() {
    let custom = parse_custom_rules(
        "CUSTOM_RULES",
        &format!(
            r#"[{GUARDDUTY},
               {{"id":"SecurityHub:CloudWatch.2","title":"Unauthorized API calls (noisy)","pattern":"{{ $.errorCode = \"AccessDenied*\" }}","severity":"LOW","threshold":20}},
               {{"id":"SecurityHub:CloudWatch.10","pattern":"x","severity":"LOW","enabled":false}}]"#
        ),
    )
    .unwrap();
    let loaded = load_rules(
        &RuleSetSelection::default(),
        &[("CUSTOM_RULES".into(), custom)],
    )
    .unwrap();
    let ids: Vec<&str> = loaded.specs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 14, "13 built-ins left + 1 custom: {ids:?}");
    assert!(!ids.contains(&"SecurityHub:CloudWatch.10"));
    assert_eq!(
        ids[1], "SecurityHub:CloudWatch.2",
        "a replaced rule keeps its place"
    );
    assert_eq!(loaded.specs[1].threshold, 20);
    assert_eq!(loaded.specs[1].severity, Severity::Low);
    assert_eq!(*ids.last().unwrap(), "team:guardduty-deleted");
}

#[test]
fn the_same_custom_id_from_two_sources_is_an_error() {
    let a = parse_custom_rules("CUSTOM_RULES", &format!("[{GUARDDUTY}]")).unwrap();
    let b = parse_custom_rules("s3://b/rules.json", &format!("[{GUARDDUTY}]")).unwrap();
    let e = load_rules(
        &RuleSetSelection::None,
        &[("CUSTOM_RULES".into(), a), ("s3://b/rules.json".into(), b)],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("s3://b/rules.json") && e.to_string().contains("defined twice"),
        "{e}"
    );
}

#[test]
fn no_rules_at_all_is_allowed() {
    let loaded = load_rules(&RuleSetSelection::None, &[]).unwrap();
    assert!(loaded.specs.is_empty());
}
