//! Variants about log files: content, compression, references.

use super::*;

pub(super) const VARIANTS: &[(&str, Builder)] = &[
    ("clean", |k, c| {
        single("untouched chain", k, c, Verdict::Pass, &[])
    }),
    ("log_modified", |k, mut c| {
        let l = log_of(&c, 1, 2);
        let text = String::from_utf8(c.logs[l].content.clone())
            .unwrap()
            .replacen("CreateUser", "ListUsers", 1)
            .replacen("PutBucketPolicy", "GetBucketPolicy", 1);
        c.logs[l].object = gzip(text.as_bytes());
        single(
            "record edited, re-gzipped",
            k,
            c,
            Verdict::Fail,
            &[LogHashMismatch],
        )
    }),
    ("log_deleted", |k, mut c| {
        let l = log_of(&c, 2, 0);
        c.logs[l].stored = false;
        single("a listed log removed", k, c, Verdict::Fail, &[LogMissing])
    }),
    ("log_recompressed", |k, mut c| {
        let l = log_of(&c, 1, 0);
        c.logs[l].object = gzip_level(&c.logs[l].content, Compression::best());
        single("same JSON, other gzip", k, c, Verdict::Pass, &[])
    }),
    ("log_not_gzip", |k, mut c| {
        let l = log_of(&c, 1, 1);
        c.logs[l].object = c.logs[l].content.clone();
        single("log stored uncompressed", k, c, Verdict::Fail, &[LogFormat])
    }),
    ("log_trailing_gzip_member", |k, mut c| {
        let l = log_of(&c, 4, 0);
        c.logs[l].object = with_extra_member(&c.logs[l].object);
        single(
            "second gzip member appended to a log",
            k,
            c,
            Verdict::Fail,
            &[LogTrailingData],
        )
    }),
    ("log_listed_twice", |k, mut c| {
        let first = c.digests[2].doc["logFiles"][0].clone();
        c.digests[2].doc["logFiles"]
            .as_array_mut()
            .unwrap()
            .push(first);
        c.seal(2);
        c.relink_after(2);
        single(
            "a signed digest lists a log twice",
            k,
            c,
            Verdict::Warn,
            &[LogDuplicateReference],
        )
    }),
    ("log_extra_unlisted", |k, mut c| {
        let time = c.logs[log_of(&c, 2, 1)].time + 120;
        let key = c.layout.log_key(time, "XtraUnlisted0001");
        let content = crate::digest::testkit::log_content(&c.layout, time, 2_000, 999);
        c.extra.push(TestObject {
            bucket: c.layout.bucket.clone(),
            key,
            bytes: gzip(&content),
            metadata: Default::default(),
        });
        // FAIL, not the spec's WARN: an injected file is tampering (trailwatch is stricter).
        single(
            "a log file no digest lists",
            k,
            c,
            Verdict::Fail,
            &[LogUnreferenced],
        )
    }),
    ("ctl_log_hash_over_gzip", |k, mut c| {
        let l = log_of(&c, 2, 0);
        c.digests[2].doc["logFiles"][0]["hashValue"] =
            json!(hex::encode(sha256(&c.logs[l].object)));
        c.seal(2);
        c.relink_after(2);
        single(
            "hashValue of the gzip bytes",
            k,
            c,
            Verdict::Fail,
            &[LogHashMismatch],
        )
    }),
    ("log_hash_algorithm", |k, mut c| {
        c.digests[1].doc["logFiles"][0]["hashAlgorithm"] = json!("MD5");
        c.seal(1);
        c.relink_after(1);
        single(
            "signed digest lists a log hash that is not SHA-256",
            k,
            c,
            Verdict::Fail,
            &[LogHashAlgorithm],
        )
    }),
];
