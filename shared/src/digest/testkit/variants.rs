//! The variant classes of spec §8, each a tampered (or deliberately unusual) chain plus the strict
//! verdict and the exact set of finding codes `verify_range` must give.

use super::TestKey;
use super::chain::{
    ChainOptions, TestChain, TestObject, TrailLayout, gzip, gzip_level, iso, signing_message,
};
use crate::digest::check::{META_BACKFILL_TIMESTAMP, META_SIGNATURE, META_SIGNATURE_ALGORITHM};
use crate::digest::findings::{FindingCode, Verdict};
use crate::digest::gzip::sha256;
use crate::digest::keys::PublicKeyRecord;
use crate::digest::range::RangeRequest;
use crate::digest::store::{MemoryStore, StaticKeySource, StoredObject};
use FindingCode::*;
use flate2::Compression;
use serde_json::{Value, json};

/// One verification of a variant and what it must give.
#[derive(Debug, Clone)]
pub struct VariantRun {
    pub request: RangeRequest,
    pub verdict: Verdict,
    /// The exact set of distinct finding codes (sorted).
    pub codes: Vec<FindingCode>,
}

/// A variant: stored objects, published keys per region, and the expected runs.
#[derive(Debug, Clone)]
pub struct VariantCase {
    pub name: &'static str,
    pub description: &'static str,
    pub chains: Vec<TestChain>,
    /// Keys CloudTrail publishes, per region.
    pub published: Vec<(String, TestKey)>,
    pub runs: Vec<VariantRun>,
}

impl VariantCase {
    pub fn objects(&self) -> Vec<TestObject> {
        self.chains.iter().flat_map(TestChain::objects).collect()
    }

    pub fn store(&self) -> MemoryStore {
        let mut store = MemoryStore::default();
        for o in self.objects() {
            store.put(
                &o.bucket,
                &o.key,
                StoredObject {
                    bytes: o.bytes,
                    metadata: o.metadata,
                },
            );
        }
        store
    }

    pub fn key_source(&self) -> StaticKeySource {
        self.published
            .iter()
            .fold(StaticKeySource::default(), |s, (region, key)| {
                s.with_region(region, vec![key.record()])
            })
    }

    pub fn published_records(&self, region: &str) -> Vec<PublicKeyRecord> {
        self.published
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, k)| k.record())
            .collect()
    }

    /// A `ListPublicKeys` response body with `region`'s keys (for `--public-keys`).
    pub fn list_public_keys_json(&self, region: &str) -> Value {
        let keys: Vec<Value> = self
            .published
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, k)| k.list_public_keys_entry(1_770_000_000, 1_790_000_000))
            .collect();
        json!({ "PublicKeyList": keys })
    }
}

/// Keys shared by all variants of one generation run (RSA generation is the slow part).
struct Keys {
    genuine: TestKey,
    rotated: TestKey,
    attacker: TestKey,
    eu: TestKey,
}

/// Every variant, generated fresh (new RSA keys each call).
pub fn all_variants() -> Vec<VariantCase> {
    let keys = Keys {
        genuine: TestKey::generate(),
        rotated: TestKey::generate(),
        attacker: TestKey::generate(),
        eu: TestKey::generate(),
    };
    let base = TestChain::build(
        TrailLayout::default(),
        keys.genuine.clone(),
        &ChainOptions::default(),
    );
    BUILDERS
        .iter()
        .map(|(name, build)| {
            let mut case = build(&keys, base.clone());
            case.name = name;
            for run in &mut case.runs {
                run.codes.sort();
                run.codes.dedup();
            }
            case
        })
        .collect()
}

/// One variant by name.
pub fn variant(name: &str) -> Option<VariantCase> {
    all_variants().into_iter().find(|v| v.name == name)
}

type Builder = fn(&Keys, TestChain) -> VariantCase;

fn single(
    description: &'static str,
    keys: &Keys,
    chain: TestChain,
    verdict: Verdict,
    codes: &[FindingCode],
) -> VariantCase {
    let request = chain.default_request();
    one_run(description, keys, chain, request, verdict, codes)
}

fn one_run(
    description: &'static str,
    keys: &Keys,
    chain: TestChain,
    request: RangeRequest,
    verdict: Verdict,
    codes: &[FindingCode],
) -> VariantCase {
    let region = chain.layout.region.clone();
    let mut published = vec![(region.clone(), keys.genuine.clone())];
    if chain.keys.len() > 1 && chain.keys[1].fingerprint() == keys.rotated.fingerprint() {
        published.push((region, keys.rotated.clone()));
    }
    VariantCase {
        name: "",
        description,
        chains: vec![chain],
        published,
        runs: vec![VariantRun {
            request,
            verdict,
            codes: codes.to_vec(),
        }],
    }
}

fn log_of(chain: &TestChain, digest: usize, nth: usize) -> usize {
    chain.logs_of(digest)[nth]
}

fn with_extra_member(object: &[u8]) -> Vec<u8> {
    let mut v = object.to_vec();
    v.extend(gzip(b"{\"Records\":[{\"eventName\":\"Hidden\"}]}"));
    v
}

const BUILDERS: &[(&str, Builder)] = &[
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
        let content = super::chain::log_content(&c.layout, time, 2_000, 999);
        c.extra.push(TestObject {
            bucket: c.layout.bucket.clone(),
            key,
            bytes: gzip(&content),
            metadata: Default::default(),
        });
        single(
            "a log file no digest lists",
            k,
            c,
            Verdict::Warn,
            &[LogUnreferenced],
        )
    }),
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
    ("digest_deleted_middle", |k, mut c| {
        c.digests[3].stored = false;
        single(
            "empty digest #3 removed",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing],
        )
    }),
    ("digest_and_logs_deleted_middle", |k, mut c| {
        c.digests[2].stored = false;
        for l in c.logs_of(2) {
            c.logs[l].stored = false;
        }
        single(
            "digest #2 and its logs removed",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing],
        )
    }),
    ("digest_deleted_first", |k, mut c| {
        c.digests[0].stored = false;
        single(
            "starting digest removed",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing],
        )
    }),
    ("digest_deleted_head", |k, mut c| {
        let request = c.default_request();
        c.digests[5].stored = false;
        for l in c.logs_of(5) {
            c.logs[l].stored = false;
        }
        one_run(
            "newest digest and its logs removed",
            k,
            c,
            request,
            Verdict::Fail,
            &[ChainHeadStale],
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
    ("digest_prev_signature_mismatch", |k, mut c| {
        c.digests[3].doc["previousDigestSignature"] = json!("ab".repeat(256));
        c.seal(3);
        c.relink_after(3);
        single(
            "signed with a wrong previousDigestSignature",
            k,
            c,
            Verdict::Fail,
            &[ChainPrevSignatureMismatch],
        )
    }),
    ("digest_prev_hash_mismatch", |k, mut c| {
        c.digests[3].doc["previousDigestHashValue"] = json!("00".repeat(32));
        c.seal(3);
        c.relink_after(3);
        single(
            "signed with a wrong previousDigestHashValue",
            k,
            c,
            Verdict::Fail,
            &[ChainPrevHashMismatch],
        )
    }),
    ("digest_moved_key", |k, mut c| {
        let end = c.span().0 + 3 * 3600 - 1;
        c.digests[2].key = c.layout.digest_key(end, false);
        single(
            "digest #2 renamed one second earlier",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing, DigestMoved],
        )
    }),
    ("digest_copied_other_key", |k, mut c| {
        let head = c.digests[5].clone();
        let end = c.span().1 + 60;
        c.extra.push(TestObject {
            bucket: head.bucket,
            key: c.layout.digest_key(end, false),
            bytes: head.object,
            metadata: head.metadata,
        });
        single(
            "head copied to a newer key",
            k,
            c,
            Verdict::Fail,
            &[DigestMoved],
        )
    }),
    ("digest_other_bucket", |k, mut c| {
        let other = "copied-trail-bucket".to_owned();
        for d in &mut c.digests {
            d.bucket = other.clone();
        }
        for l in &mut c.logs {
            l.bucket = other.clone();
        }
        let mut request = c.default_request();
        request.bucket = other;
        one_run(
            "whole tree copied to another bucket",
            k,
            c,
            request,
            Verdict::Fail,
            &[DigestMoved],
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
    ("gap_restart", |k, _| {
        let options = ChainOptions {
            logs_per_digest: vec![3, 2, 4],
            ..ChainOptions::default()
        };
        let mut c = TestChain::build(TrailLayout::default(), k.genuine.clone(), &options);
        let restart = c.span().1 + 5 * 3600 + 13 * 60 + 26;
        for i in 0..3 {
            let start = restart + i * 3600;
            c.push_digest(start, start + 3600, 2, 4_000, i == 0);
        }
        single(
            "StopLogging, restart 5h13m later with a new chain",
            k,
            c,
            Verdict::Pass,
            &[ChainRestart],
        )
    }),
    ("key_rotation", |k, mut c| {
        c.keys.push(k.rotated.clone());
        c.digests[4].signer = 1;
        c.digests[5].signer = 1;
        c.seal(4);
        c.relink_after(4);
        single(
            "#4 and #5 signed by a second published key",
            k,
            c,
            Verdict::Pass,
            &[],
        )
    }),
    ("pubkey_spki", |k, _| {
        let mut spki = k.genuine.clone();
        spki.publish_spki = true;
        let c = TestChain::build(
            TrailLayout::default(),
            spki.clone(),
            &ChainOptions::default(),
        );
        let request = c.default_request();
        let mut case = one_run(
            "key published as SPKI DER",
            k,
            c,
            request,
            Verdict::Pass,
            &[KeySpkiEncoding],
        );
        case.published = vec![("us-east-1".into(), spki)];
        case
    }),
    ("time_window_partial", |k, c| {
        let (start, _) = c.span();
        let request = c
            .layout
            .request(start + 2 * 3600 + 60, start + 4 * 3600 + 300);
        one_run(
            "window covers #2..#3 (#4 by the +1 h rule)",
            k,
            c,
            request,
            Verdict::Pass,
            &[],
        )
    }),
    ("prefixed", |k, _| {
        let layout = TrailLayout {
            prefix: Some("security/cloudtrail".into()),
            ..TrailLayout::default()
        };
        let c = TestChain::build(layout, k.genuine.clone(), &ChainOptions::default());
        single("S3KeyPrefix security/cloudtrail", k, c, Verdict::Pass, &[])
    }),
    ("org_trail", |k, _| {
        let layout = TrailLayout {
            organization_id: Some("o-exampleorgid".into()),
            account: "210987654321".into(),
            trail_name: "org-trail".into(),
            ..TrailLayout::default()
        };
        let c = TestChain::build(layout, k.genuine.clone(), &ChainOptions::default());
        single(
            "organization trail, member account",
            k,
            c,
            Verdict::Pass,
            &[],
        )
    }),
    ("backfill", |k, mut c| {
        let (start, end) = c.span();
        c.push_backfill(start + 3600, start + 2 * 3600, end + 60);
        single("plus one _backfill digest", k, c, Verdict::Pass, &[])
    }),
    ("backfill_missing_generation_ts", |k, mut c| {
        let (start, end) = c.span();
        let i = c.push_backfill(start + 3600, start + 2 * 3600, end + 60);
        c.digests[i].metadata.remove(META_BACKFILL_TIMESTAMP);
        single(
            "backfill digest without its generation timestamp",
            k,
            c,
            Verdict::Fail,
            &[DigestBackfillMetadata],
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
    ("time_discontinuity", |k, mut c| {
        let shifted = c.digests[4].doc["digestStartTime"]
            .as_str()
            .map(str::to_owned)
            .unwrap();
        let t =
            time::OffsetDateTime::parse(&shifted, &time::format_description::well_known::Rfc3339)
                .unwrap();
        c.digests[4].doc["digestStartTime"] = json!(iso(t.unix_timestamp() + 600));
        c.seal(4);
        c.relink_after(4);
        single(
            "signed digest starts 10 min after its predecessor ends",
            k,
            c,
            Verdict::Warn,
            &[ChainTimeDiscontinuity],
        )
    }),
    ("multi_region", |k, c| {
        let eu_layout = TrailLayout {
            region: "eu-west-1".into(),
            ..TrailLayout::default()
        };
        let eu = TestChain::build(eu_layout, k.eu.clone(), &ChainOptions::default());
        multi_region(
            "us-east-1 and eu-west-1 chains, each with its own key",
            k,
            c,
            eu,
            &[],
        )
    }),
    ("multi_region_wrong_region_key", |k, c| {
        let eu_layout = TrailLayout {
            region: "eu-west-1".into(),
            ..TrailLayout::default()
        };
        let eu = TestChain::build(eu_layout, k.genuine.clone(), &ChainOptions::default());
        multi_region(
            "eu-west-1 signed with the us-east-1 key",
            k,
            c,
            eu,
            &[DigestKeyNotFound],
        )
    }),
];

fn multi_region(
    description: &'static str,
    k: &Keys,
    us: TestChain,
    eu: TestChain,
    eu_codes: &[FindingCode],
) -> VariantCase {
    let eu_verdict = if eu_codes.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    VariantCase {
        name: "",
        description,
        runs: vec![
            VariantRun {
                request: us.default_request(),
                verdict: Verdict::Pass,
                codes: vec![],
            },
            VariantRun {
                request: eu.default_request(),
                verdict: eu_verdict,
                codes: eu_codes.to_vec(),
            },
        ],
        chains: vec![us, eu],
        published: vec![
            ("us-east-1".into(), k.genuine.clone()),
            ("eu-west-1".into(), k.eu.clone()),
        ],
    }
}
