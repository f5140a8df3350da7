//! `trailwatch match --jsonl` over the whole public corpus: the exact line protocol, in order.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::value::RawValue;

#[derive(serde::Deserialize, serde::Serialize)]
struct Case {
    id: String,
    pattern: String,
    event: Box<RawValue>,
    expected: serde_json::Value,
}

#[test]
fn jsonl_mode_answers_the_corpus() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/tests/data/filter-corpus.json"
    );
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut input = String::new();
    for c in &cases {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            pattern: &'a str,
            event: &'a RawValue,
        }
        // The corpus file is pretty-printed; a protocol line must be one line.
        let event =
            RawValue::from_string(trailwatch_shared::pattern::compact_json(c.event.get()).unwrap())
                .unwrap();
        input.push_str(
            &serde_json::to_string(&Line {
                pattern: &c.pattern,
                event: &event,
            })
            .unwrap(),
        );
        input.push('\n');
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["match", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "one answer line per input line");
    let mut failures = Vec::new();
    for (c, line) in cases.iter().zip(&lines) {
        let ok = match &c.expected {
            serde_json::Value::Bool(b) => *line == format!("{{\"match\": {b}}}"),
            _ => {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                v.as_object().is_some_and(|o| {
                    o.len() == 1 && o["error"].as_str().is_some_and(|m| !m.is_empty())
                })
            }
        };
        if !ok {
            failures.push(format!("{}: expected {}, got {line}", c.id, c.expected));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn match_help_describes_the_modes() {
    let out = Command::new(env!("CARGO_BIN_EXE_trailwatch"))
        .args(["match", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--pattern",
        "--rules",
        "--count",
        "--jsonl",
        "security-hub",
        "cis-3.0.0",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}
