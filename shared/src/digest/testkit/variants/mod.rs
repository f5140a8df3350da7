//! The variant classes of `docs/specs/digest-validation.md` §8, each a tampered (or deliberately
//! unusual) chain plus the strict verdict and the exact set of finding codes `verify_range` must
//! give.

mod chain;
mod logs;
mod signatures;

use super::TestKey;
use super::chain::{
    ChainOptions, TestChain, TestObject, TrailLayout, gzip, gzip_level, iso, signing_message,
};
use crate::digest::check::{META_BACKFILL_TIMESTAMP, META_SIGNATURE, META_SIGNATURE_ALGORITHM};
use crate::digest::findings::{FindingCode, Verdict};
use crate::digest::gzip::sha256;
use crate::digest::keys::PublicKeyRecord;
use crate::digest::range::RangeRequest;
use crate::digest::store::{MemoryStore, StaticKeySource};
use FindingCode::*;
use flate2::Compression;
use serde_json::{Value, json};

/// One verification of a variant and what it must give.
#[derive(Debug, Clone)]
pub struct VariantRun {
    /// The range to verify (trail, region, start and end in Unix seconds).
    pub request: RangeRequest,
    /// The strict verdict `verify_range` must give (the "strict" column of spec §8).
    pub verdict: Verdict,
    /// The exact set of distinct finding codes (sorted).
    pub codes: Vec<FindingCode>,
}

/// A variant: stored objects, published keys per region, and the expected runs.
#[derive(Debug, Clone)]
pub struct VariantCase {
    /// The variant's name in spec §8 (e.g. `log_modified`).
    pub name: &'static str,
    /// What was tampered with or is unusual, in a few words.
    pub description: &'static str,
    /// The chains whose objects are stored: one, or one per region for the multi-region
    /// variants; `stored_digests` uses the first.
    pub chains: Vec<TestChain>,
    /// Keys CloudTrail publishes, per region.
    pub published: Vec<(String, TestKey)>,
    /// The verifications to run and their expected results (one per region checked).
    pub runs: Vec<VariantRun>,
}

impl VariantCase {
    /// (bucket, key) of the first chain's digests that are stored, in chain order: what S3
    /// would announce to the verifier.
    pub fn stored_digests(&self) -> Vec<(String, String)> {
        self.chains[0]
            .digests
            .iter()
            .filter(|d| d.stored)
            .map(|d| (d.bucket.clone(), d.key.clone()))
            .collect()
    }

    /// Every stored object of all chains.
    pub fn objects(&self) -> Vec<TestObject> {
        self.chains.iter().flat_map(TestChain::objects).collect()
    }

    /// A new in-memory store holding the stored objects of all chains.
    pub fn store(&self) -> MemoryStore {
        let mut store = MemoryStore::default();
        for chain in &self.chains {
            chain.add_to(&mut store);
        }
        store
    }

    /// A key source publishing `published`: each key only in its region.
    pub fn key_source(&self) -> StaticKeySource {
        self.published
            .iter()
            .fold(StaticKeySource::default(), |s, (region, key)| {
                s.with_region(region, vec![key.record()])
            })
    }

    /// The key records CloudTrail publishes in `region` (none for other regions).
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
    [logs::VARIANTS, signatures::VARIANTS, chain::VARIANTS]
        .iter()
        .flat_map(|group| group.iter())
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
