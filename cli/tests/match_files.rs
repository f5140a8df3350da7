//! `trailwatch match` on CloudTrail files: plain and gzip, a pattern or a rule set, counts, and
//! a broken file reported without stopping the others.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STOP: &str = r#"{"eventVersion":"1.09","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{"type":"IAMUser"},"requestParameters":{"name":"t"}}"#;
const LOGIN: &str = r#"{"eventVersion":"1.08","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","userIdentity":{"type":"IAMUser"},"additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}}"#;
const LIST: &str = r#"{"eventVersion":"1.08","eventName":"ListBuckets","eventSource":"s3.amazonaws.com","userIdentity":{"type":"IAMUser"}}"#;

fn trailwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(args)
        .output()
        .expect("run trailwatch")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

struct Files {
    _dir: tempfile::TempDir,
    plain: PathBuf,
    gz: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{{\"Records\":[{STOP},{LOGIN},{LIST}]}}");
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, &body).unwrap();
    // The same records, pretty-printed across lines, gzip-compressed.
    let pretty = format!("{{\n  \"Records\": [\n    {STOP},\n    {LIST}\n  ]\n}}\n");
    let gz = dir.path().join("delivery.json.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(pretty.as_bytes()).unwrap();
    enc.finish().unwrap();
    Files {
        _dir: dir,
        plain,
        gz,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn pattern_prints_matching_records_verbatim() {
    let f = files();
    let out = trailwatch(&[
        "match",
        "--pattern",
        "{ $.eventName = StopLogging }",
        s(&f.plain),
        s(&f.gz),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), format!("{STOP}\n{STOP}\n"));
}

#[test]
fn count_prints_per_file_and_total() {
    let f = files();
    let out = trailwatch(&[
        "match",
        "--count",
        "--pattern",
        "IAMUser",
        s(&f.plain),
        s(&f.gz),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        format!("{}\t3\t3\n{}\t2\t2\ntotal\t5\t5\n", s(&f.plain), s(&f.gz))
    );
}

#[test]
fn rules_print_which_rules_matched() {
    let f = files();
    let out = trailwatch(&["match", "--rules", "security-hub", s(&f.plain)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["rules"],
        serde_json::json!(["SecurityHub:CloudWatch.5"])
    );
    assert_eq!(lines[0]["record"]["eventName"], "StopLogging");
    assert_eq!(
        lines[1]["rules"],
        serde_json::json!(["SecurityHub:CloudWatch.3"])
    );

    let out = trailwatch(&[
        "match",
        "--rules",
        "security-hub",
        "--count",
        s(&f.plain),
        s(&f.gz),
    ]);
    let text = stdout(&out);
    assert!(text.contains("SecurityHub:CloudWatch.5\t2\n"), "{text}");
    assert!(text.contains("SecurityHub:CloudWatch.3\t1\n"), "{text}");
    assert!(text.contains("SecurityHub:CloudWatch.1\t0\n"), "{text}");
    assert!(text.ends_with("records\t5\n"), "{text}");
}

#[test]
fn a_broken_file_is_reported_and_the_others_still_processed() {
    let f = files();
    let broken = f.plain.with_file_name("broken.json");
    std::fs::write(&broken, "this is not CloudTrail").unwrap();
    let out = trailwatch(&[
        "match",
        "--count",
        "--pattern",
        "IAMUser",
        s(&broken),
        s(&f.plain),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.json"), "{err}");
    assert!(stdout(&out).contains(&format!("{}\t3\t3\n", s(&f.plain))));
}

#[test]
fn an_invalid_pattern_is_rejected_with_its_position() {
    let out = trailwatch(&["match", "--pattern", "{ $.a IS NOT NULL }", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("column") && err.contains("IS NOT"), "{err}");
}

#[test]
fn a_closed_output_pipe_stops_quietly() {
    use std::process::Stdio;
    let f = files();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["match", "--pattern", "IAMUser"])
        .args(std::iter::repeat_n(s(&f.plain), 2000))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
