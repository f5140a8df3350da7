//! One test per rule id of `docs/specs/filter-patterns.md` §2, and for the ambiguities of its §3
//! where we chose a behaviour (JSON rules J1–J11 are in `json_tests.rs`). M1–M5, L2, L3 and L5
//! concern metric-filter resources and API calls, not pattern evaluation, and have no engine
//! behaviour to test. S5 (extracted `$name` values) is metric-filter output and is not implemented.

use super::FilterPattern;
use super::json_tests::TRAIL;

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

#[test]
fn classification_by_first_non_blank_character() {
    use super::Syntax;
    let syntax = |p: &str| FilterPattern::parse(p).unwrap().syntax();
    assert_eq!(syntax("  { $.a = 1 }"), Syntax::Json);
    assert_eq!(syntax(" [a, b]"), Syntax::SpaceDelimited);
    assert_eq!(syntax("%abc%"), Syntax::Unstructured);
    assert_eq!(syntax("ERROR"), Syntax::Unstructured);
}

#[test]
fn u1_case_sensitive() {
    assert!(m("ERROR", "an ERROR"));
    assert!(!m("error", "an ERROR"));
}

#[test]
fn u2_substring_anywhere() {
    assert!(m("ERROR", "Exiting with ERRORCODE: -1"));
    assert!(m("AUTHORIZED", "UNAUTHORIZED"));
    assert!(m("AccessDenied", r#"{"errorCode":"AccessDenied"}"#));
}

#[test]
fn u3_terms_and_in_any_order() {
    assert!(m("ARGUMENTS ERROR", "[ERROR 419] MISSING ARGUMENTS"));
    assert!(!m("ERROR ARGUMENTS", "[ERROR 400] BAD REQUEST"));
}

#[test]
fn u4_optional_terms_or() {
    assert!(m("?ERROR ?ARGUMENTS", "[ERROR 400] BAD REQUEST"));
    assert!(!m("?ERROR ?ARGUMENTS", "[INFO] REQUEST FAILED"));
}

#[test]
fn u5_optional_terms_ignored_when_mixed() {
    assert!(m("?ERROR ?ARGUMENTS REQUEST", "[INFO] REQUEST FAILED"));
    assert!(!m(
        "?ERROR ?ARGUMENTS REQUEST",
        "[ERROR 419] MISSING ARGUMENTS"
    ));
    // A2 / dbt-010: the CDK "OR of AND-groups" reading is not followed.
    assert!(!m(
        r#"?"ERROR" "MainThread" ?"WARN" "Deadlock""#,
        "WARN Deadlock detected"
    ));
}

#[test]
fn u6_exclusions() {
    assert!(m("ERROR -ARGUMENTS", "[ERROR 400] BAD REQUEST"));
    assert!(!m("ERROR -ARGUMENTS", "[ERROR 419] MISSING ARGUMENTS"));
    assert!(m("-ERROR", "all good"));
    assert!(!m("-ERROR", "Exiting with ERRORCODE: -1"));
}

#[test]
fn u7_quoted_phrases() {
    assert!(m(
        r#""INTERNAL SERVER ERROR""#,
        "[ERROR 500] INTERNAL SERVER ERROR"
    ));
    assert!(!m(
        r#""SERVER INTERNAL ERROR""#,
        "[ERROR 500] INTERNAL SERVER ERROR"
    ));
    assert!(m(r#""[ERROR 400]""#, "[ERROR 400] BAD REQUEST"));
    assert!(m(r#""a \"quoted\" word""#, r#"with a "quoted" word"#));
    // A10 / dbt-029: an unquoted term with punctuation is searched as written.
    assert!(m("ERROR:", "ERROR: disk full"));
}

#[test]
fn u8_empty_pattern_matches_everything() {
    assert!(m("", "anything"));
    assert!(m("   ", ""));
    assert!(m(r#"" ""#, "with space"));
    // A1 / dbt-009: the doc's `" "` is "match everything", even without a space.
    assert!(m(r#"" ""#, "NoSpacesInThisMessage"));
}

#[test]
fn u9_numeric_terms() {
    assert!(m("error 404", "error 404 not found"));
    assert!(m("4321", "job finished in 4321 ms"));
}

#[test]
fn r1_regex_is_an_unanchored_search() {
    assert!(m("%AUTHORIZED%", "UNAUTHORIZED REQUEST"));
    assert!(!m("%^AUTHORIZED%", "UNAUTHORIZED REQUEST"));
}

#[test]
fn r2_allowed_characters_only() {
    assert!(rejected("%something!%").contains("'!'"));
    rejected("%(ERROR|WARN)%");
    assert!(rejected("%café%").contains("non-ASCII"));
    assert!(m(r"%\x28%", "call foo(bar)"));
    // A7 / dbt-037: a space is accepted.
    assert!(m("%shutting down%", "system shutting down now"));
}

#[test]
fn r3_operators() {
    assert!(m("%^[hc]at%", "cat sat"));
    assert!(m("%10.10.0.1%", "10010,051"));
    assert!(!m(r"%10\.10\.0\.1%", "10010,051"));
    assert!(m("%a{3,5}%", "caaab"));
    assert!(!m("%a{3,5}%", "baab"));
    assert!(m("%^x{,2}y$%", "xxy"));
    assert!(!m("%^x{,2}y$%", "xxxy"));
    assert!(m("%colou?r%", "the colour"));
    assert!(!m("%ab+c%", "xacx"));
    assert!(!m(
        "%^starting|^initializing|^shutting down%",
        "skipping initializing cache"
    ));
    assert!(m(r"%^\w+\s\d+$%", "abc_9 42"));
    assert!(!m(r"%^\d$%", "\u{0663}"), "\\d is ASCII only");
    assert!(m(r"%[^0-9]%", "a"));
}

#[test]
fn r4_regex_case_sensitive() {
    assert!(!m("%ERROR%", "error while reading"));
    assert!(m("%[Ee]rror%", "error while reading"));
}

#[test]
fn r5_regex_quota() {
    assert!(m(r#"{ $.a = %x% && $.b = %y% }"#, r#"{"a":"x","b":"y"}"#));
    assert!(rejected("{ $.a = %x% && $.b = %y% && $.c = %z% }").contains("at most 2"));
    rejected("[a=%x%, b=%y%, c=%z%]");
    // The quota is for JSON and space-delimited patterns; term lists are not limited.
    assert!(m("%a% %b% %c%", "abc"));
}

#[test]
fn r6_regex_json_values() {
    assert!(m("{ $.eventType = %Trail% }", TRAIL));
    assert!(!m("{ $.eventType = %^Trail% }", TRAIL));
    assert!(m("{ $.eventType != %^Get% }", TRAIL));
    assert!(m("{ $.arrayKey[*] = %val.{2}% }", TRAIL));
    rejected("{ $.eventType > %Trail% }");
    // dbt-025: a regex searches a number's text.
    assert!(m(r"{ $.code = %^4\d\d$% }", r#"{"code":404}"#));
}

#[test]
fn r7_regex_in_delimited_fields() {
    let line =
        "127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534";
    assert!(m(
        r"[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request, status_code, bytes]",
        line
    ));
    assert!(!m(
        r"[ip=%^10\.%, user, username, timestamp, request, status_code, bytes]",
        line
    ));
}

const APACHE: &str =
    "127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534";

#[test]
fn s1_fields_with_brackets_and_quotes() {
    assert!(m(
        "[ip, user, username, timestamp, request, status_code, bytes]",
        APACHE
    ));
    assert!(m(
        "[ip, user, username, timestamp = *13:25*, request = \"GET*\", status_code, bytes]",
        APACHE
    ));
}

#[test]
fn s2_ellipsis() {
    assert!(m("[..., status_code = 404, bytes]", APACHE));
    assert!(m("[ip, user, ..., status_code, bytes = 1534]", APACHE));
    assert!(m("[ip = 127.0.0.1, ...]", APACHE));
    assert!(
        !m("[..., status_code = 404]", APACHE),
        "with ... the last field is the last word"
    );
}

#[test]
fn s3_field_conditions() {
    assert!(m(
        "[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]",
        APACHE
    ));
    assert!(m(
        "[ip, user, username, timestamp, request, status_code = 404 || status_code = 410, bytes]",
        APACHE
    ));
    assert!(m(
        "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
        APACHE
    ));
    assert!(!m(
        "[ip, user, username, timestamp, request, status_code = 2*, bytes]",
        APACHE
    ));
    assert!(m(
        "[w1!=ERROR && w1!=WARNING, w2]",
        "INFO 09/25/2014 12:00:00 GET"
    ));
    assert!(!m("[w1!=ERROR && w1!=WARNING, w2]", "ERROR 09/25/2014"));
    rejected("[a = 1 || b = 2, c]");
    rejected("[a, b");
    rejected("[a, , b]");
}

#[test]
fn s4_first_word_and_field_counts() {
    assert!(m(
        "[w1=ERROR, w2]",
        "ERROR 09/25/2014 12:00:02 Failed to process request"
    ));
    assert!(!m(
        "[w1=ERROR, w2]",
        "WARNING 09/25/2014 12:00:02 Invalid user request"
    ));
    assert!(m("[w1=ERROR || w1=WARNING, w2]", "WARNING 09/25/2014"));
    assert!(
        !m("[w1=ERROR, w2]", "ERROR"),
        "dbt-027: fewer fields than the pattern"
    );
    assert!(
        !m("[w1!=ERROR&&w1!=WARN, w2]", "ERROR WARN message"),
        "dbt-035"
    );
}

#[test]
fn l1_length_limit_in_characters() {
    let fits = format!("\"{}\"", "é".repeat(1022));
    assert_eq!(fits.chars().count(), 1024);
    assert!(
        FilterPattern::parse(&fits).is_ok(),
        "1024 characters (2046 bytes) is allowed"
    );
    let long = format!("\"{}\"", "a".repeat(1023));
    assert!(rejected(&long).contains("1024"));
}

#[test]
fn e1_errors_name_a_1_based_column_and_what_was_expected() {
    let e = FilterPattern::parse("{ $.eventName = }").unwrap_err();
    assert_eq!(e.column(), 17);
    assert!(e.message().contains("expected a value"), "{e}");
    let e = FilterPattern::parse("{ $.a = 1 ").unwrap_err();
    assert!(e.message().contains("'}'"), "{e}");
    let e = FilterPattern::parse("{ $.a == 1 }").unwrap_err();
    assert_eq!(e.column(), 7, "{e}");
    let e = FilterPattern::parse("{ $.é = 1 }").unwrap_err();
    assert_eq!(e.column(), 5, "columns count characters: {e}");
}

#[test]
fn evaluation_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FilterPattern>();
}
