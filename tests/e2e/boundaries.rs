//! The architecture's boundaries, checked rather than promised:
//! - `trailwatch-shared` (CloudTrail knowledge) has no AWS SDK crate anywhere in its dependency
//!   tree, so it stays usable and testable without AWS;
//! - the CLI depends on `trailwatch-shared` and `functions/common`, never on a function crate (a
//!   function crate is a composition root, not a library for its siblings);
//! - no workspace member declares a dependency its code does not use (what `cargo machete` checks,
//!   done here offline from `cargo metadata` and the sources; a dependency declared only to turn
//!   on a feature is listed in `[package.metadata.cargo-machete] ignored`, with a comment saying
//!   why, the convention `cargo machete` itself reads).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn metadata() -> Value {
    trailwatch_e2e::cargo_metadata().expect("cargo metadata")
}

/// Package id → (name, ids of its normal and build dependencies) from the resolve graph.
fn normal_graph(meta: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let id = node["id"].as_str().unwrap().to_owned();
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null() || k["kind"] == "build")
                })
                .map(|d| d["pkg"].as_str().unwrap().to_owned())
                .collect();
            (id.clone(), (names[id.as_str()].to_owned(), deps))
        })
        .collect()
}

/// Names of every package `name` depends on, transitively, through normal and build edges.
fn transitive_normal_deps(meta: &Value, name: &str) -> BTreeSet<String> {
    let graph = normal_graph(meta);
    let start = graph
        .iter()
        .find(|(_, (n, _))| n == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("{name} is a workspace member"));
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    let mut names = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let (_, deps) = &graph[&id];
        for dep in deps {
            names.insert(graph[dep].0.clone());
            stack.push(dep.clone());
        }
    }
    names
}

fn is_aws_sdk(name: &str) -> bool {
    name.starts_with("aws-sdk-")
        || name == "aws-config"
        || name.starts_with("aws-smithy-")
        || name == "aws-runtime"
        || name == "aws-credential-types"
        || name == "aws-types"
}

#[test]
fn the_shared_crate_has_no_aws_sdk_in_its_dependency_tree() {
    let deps = transitive_normal_deps(&metadata(), "trailwatch-shared");
    let sdk: Vec<&String> = deps.iter().filter(|n| is_aws_sdk(n)).collect();
    assert!(sdk.is_empty(), "trailwatch-shared depends on {sdk:?}");
    // The check sees SDK crates where they are: the functions' common crate has them.
    let common = transitive_normal_deps(&metadata(), "trailwatch-lambda-common");
    assert!(common.iter().any(|n| is_aws_sdk(n)), "negative control");
}

#[test]
fn the_cli_depends_on_no_function_crate() {
    let deps = transitive_normal_deps(&metadata(), "trailwatch-cli");
    let functions: Vec<&str> = ["forwarder", "alerter", "digest-verifier"]
        .into_iter()
        .filter(|f| deps.contains(*f))
        .collect();
    assert!(
        functions.is_empty(),
        "trailwatch-cli depends on the function crate(s) {functions:?}: move what it needs to \
         trailwatch-shared (no SDK) or functions/common (AWS glue)"
    );
    assert!(deps.contains("trailwatch-shared") && deps.contains("trailwatch-lambda-common"));
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `code` refers to the crate `ident` (a path, a `use`, or an `extern crate`).
fn mentions(code: &str, ident: &str) -> bool {
    let bytes = code.as_bytes();
    code.match_indices(ident).any(|(at, _)| {
        let before_ok = at == 0 || {
            let c = bytes[at - 1];
            !(c.is_ascii_alphanumeric() || c == b'_')
        };
        let rest = &code[at + ident.len()..];
        before_ok && (rest.starts_with("::") || rest.starts_with(';') || rest.starts_with(" as "))
    })
}

/// Package name → the name its library is used by in code (`md-5` → `md5`).
fn library_names(meta: &Value) -> BTreeMap<String, String> {
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let lib = p["targets"].as_array()?.iter().find(|t| {
                t["kind"].as_array().is_some_and(|k| {
                    k.iter()
                        .any(|k| k != "bin" && k != "test" && k != "example")
                })
            })?;
            Some((
                p["name"].as_str()?.to_owned(),
                lib["name"].as_str()?.replace('-', "_"),
            ))
        })
        .collect()
}

/// (package, dependency) pairs whose crate no source of the package refers to.
fn unused_dependencies(meta: &Value) -> Vec<(String, String)> {
    let libraries = library_names(meta);
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut unused = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        if !members.contains(package["id"].as_str().unwrap()) {
            continue;
        }
        let name = package["name"].as_str().unwrap();
        let root = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf();
        let ignored: BTreeSet<&str> = package["metadata"]["cargo-machete"]["ignored"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut files = Vec::new();
        for dir in ["src", "tests", "examples", "benches", "e2e"] {
            rust_files(&root.join(dir), &mut files);
        }
        let code: String = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let mut seen = BTreeSet::new();
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["rename"]
                .as_str()
                .unwrap_or_else(|| dep["name"].as_str().unwrap());
            // A package's dev-dependency on itself only turns on features for its own tests.
            if dep_name == name || ignored.contains(dep_name) || !seen.insert(dep_name) {
                continue;
            }
            let ident = match dep["rename"].as_str() {
                Some(rename) => rename.replace('-', "_"),
                None => libraries
                    .get(dep_name)
                    .cloned()
                    .unwrap_or_else(|| dep_name.replace('-', "_")),
            };
            if !mentions(&code, &ident) {
                unused.push((name.to_owned(), dep_name.to_owned()));
            }
        }
    }
    unused
}

#[test]
fn every_declared_dependency_is_used() {
    let unused = unused_dependencies(&metadata());
    assert!(
        unused.is_empty(),
        "declared but unused (remove them, or list a feature-only dependency in \
         [package.metadata.cargo-machete] ignored with the reason): {unused:?}"
    );
}

#[test]
fn the_crate_reference_scanner_can_tell_use_from_mere_words() {
    assert!(mentions("use serde_json::Value;", "serde_json"));
    assert!(mentions("let v = serde_json::from_str(s);", "serde_json"));
    assert!(mentions("extern crate md5;", "md5"));
    assert!(!mentions("// serde_json is fast", "serde_json"));
    assert!(!mentions("use my_serde_json::X;", "serde_json"));
    assert!(!mentions("tokio_util", "tokio"));
}
