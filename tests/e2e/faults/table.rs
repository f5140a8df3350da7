//! The closing table: fault × function → outcome, printed by the suite itself.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::harness::CellResult;

pub(crate) const FUNCTIONS: [&str; 3] = ["forwarder", "alerter", "digest-verifier"];

/// Rows in first-seen order of (dependency, fault); a column per function; `ok` / `FAIL` with
/// the invocation path (`err→ok`: failed once, completed on Lambda's retry). Violations (FAIL)
/// and notes listed below, numbered.
pub(crate) fn render(cells: &[CellResult]) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut at: BTreeMap<(String, String, &str), &CellResult> = BTreeMap::new();
    for c in cells {
        let row = (c.dependency.clone(), c.fault.clone());
        if !rows.contains(&row) {
            rows.push(row.clone());
        }
        at.insert((row.0, row.1, c.function), c);
    }
    let mut out = String::new();
    let mut notes = Vec::new();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(10).max(10);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(5).max(5);
    let w = 26;
    let _ = write!(out, "| {:w0$} | {:w1$} |", "dependency", "fault");
    for f in FUNCTIONS {
        let _ = write!(out, " {f:w$} |");
    }
    out.push('\n');
    let _ = write!(out, "|{}|{}|", "-".repeat(w0 + 2), "-".repeat(w1 + 2));
    for _ in FUNCTIONS {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    out.push('\n');
    for (dep, fault) in &rows {
        let _ = write!(out, "| {dep:w0$} | {fault:w1$} |");
        for f in FUNCTIONS {
            let text = match at.get(&(dep.clone(), fault.clone(), f)) {
                None => "n/a".to_owned(),
                Some(c) => {
                    let first = notes.len() + 1;
                    for v in &c.violations {
                        notes.push(format!("FAIL {f} / {dep} / {fault}: {v}"));
                    }
                    for n in &c.notes {
                        notes.push(format!("{f} / {dep} / {fault}: {n}"));
                    }
                    let verdict = if c.violations.is_empty() {
                        "ok"
                    } else {
                        "FAIL"
                    };
                    if notes.len() >= first {
                        format!("{verdict} {} [{first}]", c.path)
                    } else {
                        format!("{verdict} {}", c.path)
                    }
                }
            };
            let _ = write!(out, " {text:w$} |");
        }
        out.push('\n');
    }
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(out, "[{}] {n}", i + 1);
    }
    out
}
