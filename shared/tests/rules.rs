//! Built-in rule sets and `CompiledRules`: real CloudTrail records, and the index and shared
//! projection checked against evaluating each pattern on its own.

use serde_json::value::RawValue;
use trailwatch_shared::pattern::{FilterPattern, compact_json};
use trailwatch_shared::rules::{
    BUILTIN_SET_NAMES, CompiledRules, Rule, RuleError, Severity, builtin_set,
};

/// Copies of real CloudTrail files (see each folder's `PROVENANCE.md`).
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cloudtrail");

/// The records of a CloudTrail file (`{"Records":[…]}`) or of a JSON array of records, verbatim.
fn records(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path}: {e} (the shared data folder is required)"));
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "Records")]
        records: Vec<Box<RawValue>>,
    }
    let raw: Vec<Box<RawValue>> = match serde_json::from_str::<File>(&text) {
        Ok(f) => f.records,
        Err(_) => serde_json::from_str(&text).expect("file is {\"Records\":[…]} or an array"),
    };
    raw.into_iter().map(|r| r.get().to_owned()).collect()
}

fn all_enabled(set: &str) -> Vec<Rule> {
    builtin_set(set)
        .unwrap()
        .into_iter()
        .map(|r| Rule { enabled: true, ..r })
        .collect()
}

fn matched_ids(rules: &CompiledRules, record: &str) -> Vec<String> {
    let mut m = Vec::new();
    rules.evaluate(record, &mut m);
    m.iter().map(|&i| rules.rules()[i].id.clone()).collect()
}

#[test]
fn every_builtin_set_compiles_with_sane_metadata() {
    let expected_sizes = [
        ("security-hub", 14),
        ("cis-1.2.0", 14),
        ("cis-1.4.0", 16),
        ("cis-3.0.0", 16),
    ];
    for (name, size) in expected_sizes {
        assert!(BUILTIN_SET_NAMES.contains(&name));
        let set = builtin_set(name).unwrap();
        assert_eq!(set.len(), size, "{name}");
        for r in &set {
            assert!(
                r.description.as_deref().is_some_and(|d| d.len() > 40),
                "{} needs advice",
                r.id
            );
            assert_eq!(r.threshold, 1);
        }
        CompiledRules::compile(set.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        CompiledRules::compile(all_enabled(name))
            .unwrap_or_else(|e| panic!("{name} (all enabled): {e}"));
    }
    assert!(builtin_set("cis-9.9").is_err());
    let sh = builtin_set("security-hub").unwrap();
    let sev = |id: &str| sh.iter().find(|r| r.id == id).unwrap().severity;
    assert_eq!(sev("SecurityHub:CloudWatch.1"), Severity::Critical);
    assert_eq!(sev("SecurityHub:CloudWatch.5"), Severity::Critical);
    assert_eq!(sev("SecurityHub:CloudWatch.2"), Severity::Medium);
    // The over-broad CIS v1.4.0 4.1 and the alternative MFA patterns ship disabled.
    let cis14 = CompiledRules::compile(builtin_set("cis-1.4.0").unwrap()).unwrap();
    assert_eq!(cis14.len(), 14);
    assert!(
        cis14
            .rules()
            .iter()
            .all(|r| r.id != "CIS-1.4.0:4.1" && !r.id.ends_with("-alt"))
    );
}

#[test]
fn cloudwatch_5_matches_a_real_stop_logging_record() {
    let rules = CompiledRules::compile(builtin_set("security-hub").unwrap()).unwrap();
    let recs = records(&format!(
        "{DATA}/stratus-red-team-detonation-logs/aws.defense-evasion.cloudtrail-stop.json"
    ));
    let stop: Vec<&String> = recs
        .iter()
        .filter(|r| r.contains("\"StopLogging\""))
        .collect();
    assert!(!stop.is_empty());
    for r in stop {
        assert!(matched_ids(&rules, r).contains(&"SecurityHub:CloudWatch.5".to_owned()));
    }
}

#[test]
fn cloudwatch_3_matches_a_console_login_without_mfa() {
    let rules = CompiledRules::compile(builtin_set("security-hub").unwrap()).unwrap();
    let recs = records(&format!(
        "{DATA}/stratus-red-team-detonation-logs/aws.initial-access.console-login-without-mfa.json"
    ));
    assert_eq!(recs.len(), 1);
    assert_eq!(
        matched_ids(&rules, &recs[0]),
        vec!["SecurityHub:CloudWatch.3".to_owned()]
    );
    // The same record with MFA used does not match.
    let with_mfa = recs[0].replace("\"MFAUsed\": \"No\"", "\"MFAUsed\": \"Yes\"");
    assert_ne!(with_mfa, recs[0]);
    assert!(matched_ids(&rules, &with_mfa).is_empty());
}

/// Rules that exercise the index: eventSource-only, intersections, text rules, wildcards.
fn tricky_rules() -> Vec<Rule> {
    let rule = |id: &str, pattern: &str| Rule {
        id: id.into(),
        title: id.into(),
        pattern: pattern.into(),
        severity: Severity::Low,
        threshold: 1,
        period: None,
        description: None,
        enabled: true,
    };
    vec![
        rule("source-only", "{ $.eventSource = sts.amazonaws.com }"),
        rule(
            "and-two-names",
            "{ $.eventName = GetCallerIdentity && $.eventName = ListBuckets }",
        ),
        rule(
            "name-or-free",
            "{ $.eventName = ListBuckets || $.readOnly IS FALSE }",
        ),
        rule("name-wildcard", "{ $.eventName = \"Describe*\" }"),
        rule(
            "any-field",
            "{ $.* = \"us-east-1\" && $.eventName = DescribeInstances }",
        ),
        rule("resources", "{ $.resources[*].type = \"AWS::S3::Bucket\" }"),
        rule("terms", "AccessDenied -HeadBucket"),
        rule("regex-term", "%arn:aws:iam::[0-9]+:user/%"),
        rule("delimited", "[first, ...]"),
        rule(
            "not-exists",
            "{ $.errorCode NOT EXISTS && $.eventName != GetCallerIdentity }",
        ),
        rule("numeric", "{ $.requestParameters.maxResults > 10 }"),
    ]
}

/// The compiled set (shared projection + index) must give exactly what each pattern gives alone.
fn assert_same_as_individual(rules: &CompiledRules, record: &str) -> usize {
    let mut m = Vec::new();
    rules.evaluate(record, &mut m);
    let individual: Vec<usize> = (0..rules.len())
        .filter(|&i| rules.pattern(i).matches(record))
        .collect();
    assert_eq!(
        m,
        individual,
        "record: {}",
        &record[..record.len().min(300)]
    );
    m.len()
}

#[test]
fn index_gives_the_same_results_as_every_rule_alone_on_real_records() {
    let mut sets: Vec<(String, CompiledRules)> = BUILTIN_SET_NAMES
        .iter()
        .map(|n| {
            (
                n.to_string(),
                CompiledRules::compile(all_enabled(n)).unwrap(),
            )
        })
        .collect();
    sets.push((
        "tricky".into(),
        CompiledRules::compile(tricky_rules()).unwrap(),
    ));
    let mut all = Vec::new();
    for n in BUILTIN_SET_NAMES {
        all.extend(all_enabled(n));
    }
    sets.push(("all-60".into(), CompiledRules::compile(all).unwrap()));

    let dir = format!("{DATA}/invictus-ir-aws-dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut n_records = 0;
    let mut hits = vec![0usize; sets.len()];
    for f in &files {
        for r in records(f.to_str().unwrap()) {
            n_records += 1;
            for (k, (_, set)) in sets.iter().enumerate() {
                hits[k] += assert_same_as_individual(set, &r);
            }
        }
    }
    assert_eq!(n_records, 2900);
    for ((name, _), h) in sets.iter().zip(&hits) {
        assert!(
            *h > 0,
            "set {name} matched nothing: the comparison would be vacuous"
        );
    }
}

/// The prefilter (raw-text test before the scan) must not hide a match, whatever the spelling.
#[test]
fn prefilter_never_hides_a_match_on_unusual_spellings() {
    let rules = CompiledRules::compile(builtin_set("security-hub").unwrap()).unwrap();
    let must_match = [
        r#"{"eventName":"CreateTrail"}"#,
        r#"{ "eventName" :	"CreateTrail" }"#,
        r#"{"event\u004eame":"CreateTrail"}"#,
        r#"{"eventName":"Create\u0054rail"}"#,
        r#"{"eventName":"DescribeTrails","eventName":"CreateTrail"}"#,
        r#"{"requestParameters":{"eventName":"x"},"eventName":"StopLogging"}"#,
        r#"{"userIdentity":{"type":"Root"},"eventType":"AwsApiCall"}"#,
        r#"{"userIdentity":{"type":"R\u006fot"},"eventType":"AwsApiCall"}"#,
        r#"{"errorCode":"Client.UnauthorizedOperation"}"#,
        r#"{"errorCode":"AccessDenied"}"#,
        r#"{"errorCode":"Access\u0044enied"}"#,
        r#"{"eventSource":"kms.amazonaws.com","eventName":"ScheduleKeyDeletion"}"#,
        r#"{"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"},"userIdentity":{"type":"IAMUser"}}"#,
    ];
    for record in must_match {
        assert!(
            assert_same_as_individual(&rules, record) > 0,
            "no rule matched {record}"
        );
    }
    let must_not = [
        r#"{"eventName":"Create\/Trail"}"#,
        r#"{"eventName":5,"errorCode":7}"#,
        r#"{"note":"\"eventName\":\"CreateTrail\""}"#,
        r#"{"eventName":"CreateTrail""#,
        r#"{"eventName":"CreateTrail",}"#,
        r#"{"userIdentity":{"type":"Root"},"eventType":"AwsApiCall""#,
        r#"{"eventName":"DescribeTrails","errorCode":"NoSuchEntity"}"#,
    ];
    for record in must_not {
        assert_eq!(assert_same_as_individual(&rules, record), 0, "{record}");
    }
}

#[test]
fn shared_projection_agrees_with_each_corpus_pattern() {
    #[derive(serde::Deserialize)]
    struct Case {
        pattern: String,
        event: Box<RawValue>,
    }
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/filter-corpus.json"
    ))
    .unwrap();
    let cases: Vec<Case> = serde_json::from_str(&text).unwrap();
    let mut defs = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        if FilterPattern::parse(&c.pattern).is_ok() {
            defs.push(Rule {
                id: format!("case-{i}"),
                title: String::new(),
                pattern: c.pattern.clone(),
                severity: Severity::Low,
                threshold: 1,
                period: None,
                description: None,
                enabled: true,
            });
        }
    }
    let rules = CompiledRules::compile(defs).unwrap();
    let mut total = 0;
    for c in &cases {
        let raw = c.event.get();
        let msg = if raw.starts_with('"') {
            serde_json::from_str(raw).unwrap()
        } else {
            compact_json(raw).unwrap()
        };
        total += assert_same_as_individual(&rules, &msg);
    }
    assert!(total > 100);
}

#[test]
fn compile_errors_name_the_rule_and_the_field() {
    let mut defs = builtin_set("security-hub").unwrap();
    defs[3].pattern = "{ $.eventName = }".into();
    let err = CompiledRules::compile(defs).unwrap_err();
    assert!(
        matches!(&err, RuleError::Pattern { id, position: 3, .. } if id == "SecurityHub:CloudWatch.4"),
        "{err}"
    );
    assert_eq!(
        (err.id(), err.field()),
        ("SecurityHub:CloudWatch.4", "pattern")
    );
    assert!(
        err.to_string()
            .starts_with("rule \"SecurityHub:CloudWatch.4\": pattern: ")
            && err.to_string().contains("column"),
        "{err}"
    );

    let mut defs = builtin_set("security-hub").unwrap();
    defs[1].id = defs[0].id.clone();
    let err = CompiledRules::compile(defs).unwrap_err();
    assert_eq!(
        (err.id(), err.field(), err.position()),
        ("SecurityHub:CloudWatch.1", "id", 1)
    );

    let mut defs = builtin_set("security-hub").unwrap();
    defs[2].threshold = 0;
    let err = CompiledRules::compile(defs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rule \"SecurityHub:CloudWatch.3\": threshold: must be at least 1"
    );

    // A disabled rule is checked like any other, then dropped.
    let mut defs = builtin_set("security-hub").unwrap();
    defs[0].enabled = false;
    assert_eq!(CompiledRules::compile(defs.clone()).unwrap().len(), 13);
    defs[0].pattern = "{ broken".into();
    let err = CompiledRules::compile(defs).unwrap_err();
    assert_eq!(
        (err.id(), err.field()),
        ("SecurityHub:CloudWatch.1", "pattern")
    );
}

#[test]
fn rules_deserialize_with_defaults_any_severity_case_and_reject_unknown_fields() {
    let r: Rule =
        serde_json::from_str(r#"{"id":"x","title":"X","pattern":"{ $.a = 1 }","severity":"HIGH"}"#)
            .unwrap();
    assert_eq!(
        (r.threshold, r.enabled, r.description.as_deref(), r.severity),
        (1, true, None, Severity::High)
    );
    for written in ["high", "High", " hIGH "] {
        let r: Rule = serde_json::from_str(&format!(
            r#"{{"id":"x","pattern":"","severity":"{written}"}}"#
        ))
        .unwrap();
        assert_eq!(r.severity, Severity::High, "{written}");
    }
    let e = serde_json::from_str::<Rule>(r#"{"id":"x","pattern":"","severity":"urgent"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("severity: \"urgent\" is not one of LOW, MEDIUM, HIGH, CRITICAL"),
        "{e}"
    );
    assert!(
        serde_json::from_str::<Rule>(
            r#"{"id":"x","title":"X","pattern":"","severity":"LOW","treshold":2}"#
        )
        .is_err()
    );
    for s in Severity::ALL {
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
        assert_eq!(Severity::parse(&s.as_str().to_lowercase()), Ok(s));
    }
}

/// The built-in documents keep the published patterns and titles verbatim, in published order
/// (`data/cis-rules.json`, see `data/PROVENANCE.md`).
#[test]
fn builtin_patterns_and_titles_are_the_published_ones() {
    #[derive(serde::Deserialize)]
    struct Published {
        id: String,
        title: String,
        pattern: String,
    }
    let published: Vec<Published> =
        serde_json::from_str(include_str!("../data/cis-rules.json")).unwrap();
    let mut covered = 0;
    for (name, prefix) in [
        ("security-hub", "SecurityHub:CloudWatch."),
        ("cis-1.2.0", "CIS-1.2.0:"),
        ("cis-1.4.0", "CIS-1.4.0:"),
        ("cis-3.0.0", "CIS-3.0.0:"),
    ] {
        let ours: Vec<(String, String, String)> = builtin_set(name)
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.title, r.pattern))
            .collect();
        let theirs: Vec<(String, String, String)> = published
            .iter()
            .filter(|p| p.id.starts_with(prefix))
            .map(|p| (p.id.clone(), p.title.clone(), p.pattern.clone()))
            .collect();
        assert_eq!(ours, theirs, "{name}");
        covered += ours.len();
    }
    assert_eq!(
        covered,
        published.len(),
        "every published pattern is in a set"
    );
}
