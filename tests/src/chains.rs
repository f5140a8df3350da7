//! Generated digest chains (shared's testkit) as the end-to-end tests use them.

use trailwatch_shared::digest::testkit::{VariantCase, all_variants};

/// The chain variant `name` (`clean`, `log_modified`, `digest_bomb`, …).
pub fn variant(name: &str) -> VariantCase {
    all_variants()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no digest variant named {name}"))
}

/// The variant's published keys for `region` as a `ListPublicKeys` body in a temp file: what
/// `PUBLIC_KEYS_FILE` points the verifier at (moto has no ListPublicKeys).
pub fn public_keys_file(case: &VariantCase, region: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), case.list_public_keys_json(region).to_string())
        .expect("write the key file");
    file
}
