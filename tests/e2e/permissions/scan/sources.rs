//! The source files a function's code is: the `.rs` files of its crate outside tests, and the
//! files of the `functions/common` modules they use (through re-exports, and transitively).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

use super::strip::{strip_comments_and_strings, strip_test_items};

/// The `.rs` files under `dir`, without test files (`*_tests.rs`, `tests.rs`, `tests/`).
pub(super) fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if path.is_dir() {
            if name != "tests" {
                out.extend(rust_files(&path)?);
            }
        } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") && name != "tests.rs" {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The files of the `functions/common` modules that `files` use, and the modules those use.
pub(super) fn common_files_used(common_src: &Path, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let lib = strip_comments_and_strings(&std::fs::read_to_string(common_src.join("lib.rs"))?);
    let reexports = reexports(&lib);
    let mut pending: Vec<String> = Vec::new();
    for file in files {
        let code = strip_test_items(&strip_comments_and_strings(&std::fs::read_to_string(file)?));
        for first in paths_after(&code, "trailwatch_lambda_common::") {
            pending.push(reexports.get(&first).cloned().unwrap_or(first));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    while let Some(module) = pending.pop() {
        if !seen.insert(module.clone()) {
            continue;
        }
        let module_files = module_files(common_src, &module).with_context(|| {
            format!(
                "trailwatch_lambda_common::{module} is no module or re-export of functions/common"
            )
        })?;
        for file in &module_files {
            let code =
                strip_test_items(&strip_comments_and_strings(&std::fs::read_to_string(file)?));
            pending.extend(
                paths_after(&code, "crate::")
                    .into_iter()
                    .map(|m| reexports.get(&m).cloned().unwrap_or(m)),
            );
        }
        out.extend(module_files);
    }
    Ok(out)
}

fn module_files(src: &Path, module: &str) -> Result<Vec<PathBuf>> {
    let file = src.join(format!("{module}.rs"));
    let dir = src.join(module);
    let mut out = Vec::new();
    if file.is_file() {
        out.push(file);
    }
    if dir.is_dir() {
        out.extend(rust_files(&dir)?);
    }
    if out.is_empty() {
        // An item of lib.rs itself (`crate::SOME_CONST`): lib.rs is what is used.
        let lib = src.join("lib.rs");
        let code = strip_comments_and_strings(&std::fs::read_to_string(&lib)?);
        let defines = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == module);
        ensure!(
            defines,
            "no {module}.rs, {module}/ or item {module} in {}",
            src.display()
        );
        out.push(lib);
    }
    Ok(out)
}

/// `pub use logging::init_tracing;` / `pub use sdk::{a, b};` -> name -> module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = path.split_once("::") else {
            continue;
        };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.trim().rsplit(" as ").next().unwrap_or_default().trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    out
}

/// The first segment of each path after `prefix` (`prefix{a::b, c}` gives a and c).
pub(super) fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (pos, _) in code.match_indices(prefix) {
        let rest = &code[pos + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || c != '{' {
                    item.push(c);
                }
            }
            out.extend(first_segment(&item));
        } else {
            out.extend(first_segment(rest));
        }
    }
    out
}

fn first_segment(path: &str) -> Option<String> {
    let ident: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty() && ident != "self").then_some(ident)
}
