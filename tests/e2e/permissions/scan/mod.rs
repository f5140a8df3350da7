//! Finds the AWS SDK operations each function's code calls: fluent calls `.op_name()` whose name
//! is an operation of an SDK crate the function (or `functions/common`) depends on, in the
//! function's sources and the common modules it uses, outside tests, comments and strings. The
//! operation names come from the SDK crates' own sources (`src/client/*.rs`), so a call to any
//! operation is seen, not only the ones the table knows.
//!
//! - `strip`: blanks comments, strings and `#[cfg(test)]` items, so only code is searched.
//! - `sources`: the files a function's code is (its crate, and the `functions/common` modules
//!   it uses).

mod sources;
mod strip;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use trailwatch_e2e::workspace_root;

use crate::table::{FUNCTIONS, Function};
use sources::{common_files_used, paths_after, rust_files};
use strip::{strip_comments_and_strings, strip_test_items};

/// SDK crate (without `aws-sdk-`) and operation name -> where the code calls it.
pub(crate) type Operations = BTreeMap<(String, String), Vec<String>>;

pub(crate) fn operations_by_function() -> Result<BTreeMap<Function, Operations>> {
    let root = workspace_root();
    let metadata = trailwatch_e2e::cargo_metadata()?;
    let mut out = BTreeMap::new();
    for f in FUNCTIONS {
        let catalog = sdk_catalog(&metadata, &[f.crate_dir(), "trailwatch-lambda-common"])?;
        let mut files = rust_files(&root.join("functions").join(f.crate_dir()).join("src"))?;
        files.extend(common_files_used(
            &root.join("functions/common/src"),
            &files,
        )?);
        let mut ops = Operations::new();
        for file in files {
            for (name, line) in fluent_calls(&file)? {
                if let Some(sdks) = catalog.get(&name) {
                    ensure!(
                        sdks.len() == 1,
                        "{}:{line}: .{name}() is an operation of {sdks:?}",
                        file.display()
                    );
                    let place = format!(
                        "{}:{line}",
                        file.strip_prefix(&root).unwrap_or(&file).display()
                    );
                    ops.entry(sdks[0].clone()).or_default().push(place);
                }
            }
        }
        out.insert(f, ops);
    }
    Ok(out)
}

/// Method name -> [(sdk, Operation)] for the `aws-sdk-*` crates the given packages depend on.
pub(crate) fn sdk_catalog(
    metadata: &Value,
    packages: &[&str],
) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let all = metadata["packages"].as_array().context("packages")?;
    let package = |name: &str| -> Result<&Value> {
        let found: Vec<&Value> = all.iter().filter(|p| p["name"] == name).collect();
        ensure!(found.len() == 1, "{} packages named {name}", found.len());
        Ok(found[0])
    };
    let mut sdks = BTreeSet::new();
    for name in packages {
        for dep in package(name)?["dependencies"]
            .as_array()
            .context("dependencies")?
        {
            let dep = dep["name"].as_str().unwrap_or_default();
            if dep.starts_with("aws-sdk-") {
                sdks.insert(dep.to_owned());
            }
        }
    }
    let mut catalog: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for sdk in sdks {
        let manifest = package(&sdk)?["manifest_path"]
            .as_str()
            .context("manifest_path")?;
        let client_dir = Path::new(manifest).parent().unwrap().join("src/client");
        let short = sdk.trim_start_matches("aws-sdk-").to_owned();
        for file in
            std::fs::read_dir(&client_dir).with_context(|| format!("{}", client_dir.display()))?
        {
            let path = file?.path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
            for (method, operation) in client_operations(&text) {
                catalog
                    .entry(method)
                    .or_default()
                    .push((short.clone(), operation));
            }
        }
    }
    ensure!(
        catalog.contains_key("get_object"),
        "no SDK operations found: is the SDK source layout different?"
    );
    Ok(catalog)
}

/// `pub fn get_object(&self) -> crate::operation::get_object::builders::GetObjectFluentBuilder`
/// -> ("get_object", "GetObject").
fn client_operations(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("pub fn ") else {
            continue;
        };
        let Some((method, rest)) = rest.split_once("(&self) -> crate::operation::") else {
            continue;
        };
        let Some(builder) = rest.split("::builders::").nth(1) else {
            continue;
        };
        if let Some(op) = builder
            .split_whitespace()
            .next()
            .and_then(|b| b.strip_suffix("FluentBuilder"))
        {
            out.push((method.to_owned(), op.to_owned()));
        }
    }
    out
}

/// `.name()` calls with no arguments, with their line numbers, in code outside tests.
pub(crate) fn fluent_calls(file: &Path) -> Result<Vec<(String, usize)>> {
    let text = std::fs::read_to_string(file)?;
    let code = strip_test_items(&strip_comments_and_strings(&text));
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            let rest = code[end..].trim_start();
            if end > start && rest.starts_with('(') && rest[1..].trim_start().starts_with(')') {
                let line = code[..i].matches('\n').count() + 1;
                out.push((code[start..end].to_owned(), line));
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    Ok(out)
}

// The helpers' tests live here, so that they keep their names (`scan::…`).

#[test]
fn stripping_keeps_code_and_drops_comments_strings_and_tests() {
    let src = "let a = s3.get_object(); // .publish()\nlet s = \"x.publish()\"; let c = '\\''; let r = r#\".put_log_events()\"#;\n/* .list_public_keys() */ fn f<'a>() {}\n#[cfg(test)]\nmod tests { fn t() { c.head_object(); } }\nlet b = c.list_objects_v2();";
    let code = strip_test_items(&strip_comments_and_strings(src));
    assert!(code.contains("s3.get_object()"));
    assert!(code.contains("c.list_objects_v2()"));
    assert!(code.contains("fn f<'a>()"));
    for gone in [
        "publish",
        "put_log_events",
        "list_public_keys",
        "head_object",
    ] {
        assert!(!code.contains(gone), "{gone} in {code}");
    }
    assert_eq!(
        code.lines().count(),
        src.lines().count(),
        "line numbers kept"
    );
}

#[test]
fn paths_after_reads_groups_and_single_paths() {
    let code = "use trailwatch_lambda_common::{init_tracing, sns::{self, PublishError}, config::X};\nuse trailwatch_lambda_common::s3_read::open_object;";
    assert_eq!(
        paths_after(code, "trailwatch_lambda_common::"),
        ["init_tracing", "sns", "config", "s3_read"]
    );
}
