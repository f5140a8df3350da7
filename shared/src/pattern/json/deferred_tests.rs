//! Deferred validation (unvalidated scan, then validation only on a match) must answer exactly
//! like validating every byte first, on valid and on broken messages alike.

use proptest::prelude::*;

use crate::pattern::FilterPattern;

/// Patterns that exercise absence (`NOT EXISTS`, `!=`), wildcards, indexes and nested keys.
const PATTERNS: &[&str] = &[
    r#"{ $.eventName = "ConsoleLogin" }"#,
    r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
    r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#,
    r#"{ $.a NOT EXISTS }"#,
    r#"{ $.a != "x" }"#,
    r#"{ $.a.* = "x" }"#,
    r#"{ $.a[*] = 1 || $.b[1].c IS NULL }"#,
    r#"{ $.k"ey = * }"#,
    r#"{ $.a.b = %^x% }"#,
];

fn check(message: &str) -> Result<(), TestCaseError> {
    for p in PATTERNS {
        let Ok(pattern) = FilterPattern::parse(p) else {
            continue;
        };
        let json = pattern.json().expect("a JSON pattern");
        prop_assert_eq!(
            json.matches(message),
            json.matches_validating(message),
            "{} on {:?}",
            p,
            message
        );
    }
    Ok(())
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\\"",
    "\\\\",
    "\\u0041",
    "\"a\":",
    "\"b\":",
    "\"eventType\":",
    "\"x\"",
    "1",
    "-",
    "1e",
    "tru",
    "true",
    "null",
    " ",
    "\u{1}",
    "é",
    "\"pad pad pad pad pad pad pad pad pad pad pad pad pad pad\"",
];

fn message() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|p| p.concat())
}

/// Real records, then broken in one place: truncated, or one byte replaced by a structural one.
fn real_records() -> Vec<String> {
    let text = include_str!(
        "../../../tests/data/cloudtrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json"
    );
    let file: serde_json::Value = serde_json::from_str(text).expect("a CloudTrail file");
    file["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .take(40)
        .map(|r| r.to_string())
        .collect()
}

#[test]
fn real_records_and_their_broken_variants_agree() {
    let records = real_records();
    assert!(records.len() >= 10);
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &(
                0..records.len(),
                any::<prop::sample::Index>(),
                prop::sample::select(b"{}[]\",:\\ x0".to_vec()),
                any::<bool>(),
            ),
            |(r, at, byte, truncate)| {
                let rec = &records[r];
                check(rec)?;
                let at = at.index(rec.len());
                let broken = if truncate {
                    rec[..at].to_owned()
                } else {
                    let mut b = rec.clone().into_bytes();
                    if b[at].is_ascii() {
                        b[at] = byte;
                    }
                    String::from_utf8(b).expect("ASCII swapped for ASCII")
                };
                check(&broken)
            },
        )
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_like_messages_agree(m in message()) {
        check(&m)?;
        // The same inside a valid wrapper, shifted so its parts straddle 64-byte blocks.
        check(&format!(r#"{{"pad":"{}","a":{m}}}"#, "p".repeat(m.len() % 64)))?;
        check(&format!(r#"{{"a":[{m}],"b":[0,{{"c":null}}]}}"#))?;
    }
}
