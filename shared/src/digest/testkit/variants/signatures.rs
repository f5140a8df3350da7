//! Variants about one digest object: format, signature, algorithm, key.

use super::*;

pub(super) const VARIANTS: &[(&str, Builder)] = &[
    ("digest_modified", |k, mut c| {
        let l = log_of(&c, 2, 1);
        let forged = String::from_utf8(c.logs[l].content.clone())
            .unwrap()
            .replacen("AssumeRole", "GetCallerIdentity", 1);
        c.logs[l].content = forged.into_bytes();
        c.logs[l].object = gzip(&c.logs[l].content);
        let pos = c.digests[2].doc["logFiles"]
            .as_array()
            .unwrap()
            .iter()
            .position(|e| e["s3Object"] == json!(c.logs[l].key))
            .unwrap();
        c.digests[2].doc["logFiles"][pos]["hashValue"] =
            json!(hex::encode(sha256(&c.logs[l].content)));
        c.rewrite(2);
        single(
            "log forged and the digest's hashValue updated",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureInvalid],
        )
    }),
    ("digest_recompressed", |k, mut c| {
        c.digests[2].object = gzip_level(&c.digests[2].content, Compression::fast());
        single("same digest JSON, other gzip", k, c, Verdict::Pass, &[])
    }),
    ("digest_trailing_data", |k, mut c| {
        c.digests[2].object = with_extra_member(&c.digests[2].object);
        single(
            "second gzip member appended to a digest",
            k,
            c,
            Verdict::Fail,
            &[DigestTrailingData],
        )
    }),
    ("digest_signature_altered", |k, mut c| {
        let sig = c.digests[2].metadata.get_mut(META_SIGNATURE).unwrap();
        let last = sig.pop().unwrap();
        sig.push(if last == '0' { '1' } else { '0' });
        single(
            "last hex digit of the signature changed",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureInvalid],
        )
    }),
    ("digest_signature_missing", |k, mut c| {
        c.digests[2].metadata.remove(META_SIGNATURE);
        c.digests[2].metadata.remove(META_SIGNATURE_ALGORITHM);
        single(
            "signature metadata removed",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureMissing],
        )
    }),
    ("digest_signature_nonhex", |k, mut c| {
        c.digests[2]
            .metadata
            .insert(META_SIGNATURE.into(), "zz".repeat(256));
        single(
            "signature metadata not hexadecimal",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureInvalid],
        )
    }),
    ("digest_sigalg_metadata_changed", |k, mut c| {
        c.digests[2]
            .metadata
            .insert(META_SIGNATURE_ALGORITHM.into(), "MD5withRSA".into());
        single(
            "MD5withRSA in the metadata",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureAlgorithm],
        )
    }),
    ("digest_other_hash_signature", |k, mut c| {
        // Stand-in for digest_sha1_signature (aws-lc-rs cannot sign with SHA-1; a SHA-1 test
        // that signs with openssl lives in tests/digest_sha1.rs): genuine key, another hash.
        let message = signing_message(&c.digests[2].doc, &sha256(&c.digests[2].content));
        let sig = hex::encode(k.genuine.sign_sha512(message.as_bytes()));
        c.digests[2].metadata.insert(META_SIGNATURE.into(), sig);
        c.relink_after(2);
        single(
            "genuine key, SHA512withRSA",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureAlgorithm],
        )
    }),
    ("digest_corrupt_gzip", |k, mut c| {
        let len = c.digests[2].object.len();
        c.digests[2].object.truncate(len / 2);
        single(
            "truncated digest object",
            k,
            c,
            Verdict::Fail,
            &[DigestFormat, LogUnreferenced],
        )
    }),
    ("digest_missing_field", |k, mut c| {
        c.digests[2]
            .doc
            .as_object_mut()
            .unwrap()
            .remove("digestStartTime");
        c.rewrite(2);
        single(
            "digestStartTime removed",
            k,
            c,
            Verdict::Fail,
            &[DigestFormat],
        )
    }),
    ("digest_missing_logfiles_field", |k, mut c| {
        c.digests[3].doc.as_object_mut().unwrap().remove("logFiles");
        c.seal(3);
        c.relink_after(3);
        single(
            "validly signed digest without logFiles",
            k,
            c,
            Verdict::Fail,
            &[DigestFormat],
        )
    }),
    ("digest_wrong_key_unknown_fp", |k, mut c| {
        c.keys.push(k.attacker.clone());
        c.digests[2].signer = c.keys.len() - 1;
        c.seal(2);
        single(
            "re-signed with an attacker key and its fingerprint",
            k,
            c,
            Verdict::Fail,
            &[DigestKeyNotFound],
        )
    }),
    ("digest_wrong_key_forged_fp", |k, mut c| {
        c.keys.push(k.attacker.clone());
        c.digests[2].signer = c.keys.len() - 1;
        c.seal(2);
        c.digests[2].doc["digestPublicKeyFingerprint"] = json!(k.genuine.fingerprint());
        let parsed_before = c.digests[2].metadata.clone();
        c.rewrite(2);
        // Re-sign the rewritten content with the attacker key, keeping the genuine fingerprint.
        let message = signing_message(&c.digests[2].doc, &sha256(&c.digests[2].content));
        let mut meta = parsed_before;
        meta.insert(
            META_SIGNATURE.into(),
            hex::encode(k.attacker.sign_sha256(message.as_bytes())),
        );
        c.digests[2].metadata = meta;
        single(
            "attacker key, genuine fingerprint",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureInvalid],
        )
    }),
    ("ctl_digest_hash_over_gzip", |k, mut c| {
        let message = signing_message(&c.digests[2].doc, &sha256(&c.digests[2].object));
        c.digests[2].metadata.insert(
            META_SIGNATURE.into(),
            hex::encode(k.genuine.sign_sha256(message.as_bytes())),
        );
        c.relink_after(2);
        single(
            "digest signed over its gzip bytes",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureInvalid],
        )
    }),
    ("ctl_first_prev_sig_empty", |k, mut c| {
        let mut doc = c.digests[0].doc.clone();
        doc["previousDigestSignature"] = json!("");
        let message = signing_message(&doc, &sha256(&c.digests[0].content));
        c.digests[0].metadata.insert(
            META_SIGNATURE.into(),
            hex::encode(k.genuine.sign_sha256(message.as_bytes())),
        );
        c.relink_after(0);
        single(
            "starting digest signed with \"\" instead of null",
            k,
            c,
            Verdict::Fail,
            &[DigestSignatureInvalid],
        )
    }),
    ("digest_bomb", |k, mut c| {
        // The genuine JSON followed by whitespace: valid JSON, but it inflates past the cap
        // (16 MiB from about 16 KB), and is refused before it is parsed.
        let mut content = c.digests[2].content.clone();
        content.resize(
            content.len() + crate::digest::MAX_DIGEST_BYTES as usize + 1,
            b' ',
        );
        c.digests[2].object = gzip(&content);
        single(
            "digest that inflates past the size cap",
            k,
            c,
            Verdict::Fail,
            &[DigestTooLarge, LogUnreferenced],
        )
    }),
    ("digest_forged_region", |k, mut c| {
        let key = c.digests[2].key.clone();
        let forged = key
            .replace(
                "/CloudTrail-Digest/us-east-1/",
                "/CloudTrail-Digest/eu-west-1/",
            )
            .replace(
                "_CloudTrail-Digest_us-east-1_",
                "_CloudTrail-Digest_eu-west-1_",
            );
        c.digests[2].doc["digestS3Object"] = json!(forged);
        c.seal(2);
        c.relink_after(2);
        single(
            "digestS3Object names another region than the key it is stored at",
            k,
            c,
            Verdict::Fail,
            // The successor, re-linked, names the forged key, where nothing is stored.
            &[DigestClaimMismatch, DigestMissing, DigestMoved],
        )
    }),
    ("digest_forged_end_time", |k, mut c| {
        c.digests[2].doc["digestEndTime"] = json!("2099-01-01T00:00:00Z");
        c.seal(2);
        c.relink_after(2);
        single(
            "digestEndTime in the far future, not the time its key names",
            k,
            c,
            Verdict::Fail,
            // The range takes the forged end as the newest verified one: the real head looks stale.
            &[ChainHeadStale, DigestClaimMismatch, DigestTimeImplausible],
        )
    }),
    ("digest_time_reversed", |k, mut c| {
        let end = &c.digests[2].doc["digestEndTime"];
        let end = time::OffsetDateTime::parse(
            end.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp();
        c.digests[2].doc["digestStartTime"] = json!(iso(end + 3600));
        c.seal(2);
        c.relink_after(2);
        single(
            "digestStartTime after digestEndTime",
            k,
            c,
            Verdict::Fail,
            &[DigestTimeImplausible],
        )
    }),
];
