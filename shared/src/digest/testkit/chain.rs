//! A consistent digest chain with its logs, and the primitives the variants tamper with.

use super::TestKey;
use crate::digest::check::{META_BACKFILL_TIMESTAMP, META_SIGNATURE, META_SIGNATURE_ALGORITHM};
use crate::digest::gzip::sha256;
use crate::digest::model::SIGNATURE_ALGORITHM;
use crate::digest::range::RangeRequest;
use crate::digest::store::{MemoryStore, StaticKeySource, StoredObject};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where a trail delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailLayout {
    /// S3 bucket the trail delivers digests and logs to (`digestS3Bucket`, `s3Bucket`).
    pub bucket: String,
    /// The trail's `S3KeyPrefix`, put before `AWSLogs/` (joined with a single `/`); `None` for
    /// no prefix.
    pub prefix: Option<String>,
    /// Organization id (`o-…`) of an organization trail, inserted after `AWSLogs/`; `None` for
    /// an account trail.
    pub organization_id: Option<String>,
    /// 12-digit account id the digests are for (`awsAccountId`, and the `<acct>` of the keys;
    /// the member account for an organization trail).
    pub account: String,
    /// Region that delivers (and signs) this chain.
    pub region: String,
    /// The trail's home region: the `<home-region>` part of digest names, which differs from
    /// `region` for the other regions of a multi-region trail.
    pub home_region: String,
    /// Trail name, the `<trail-name>` part of digest names (may contain `_`).
    pub trail_name: String,
}

impl Default for TrailLayout {
    fn default() -> Self {
        TrailLayout {
            bucket: "aws-cloudtrail-logs-123456789012-5f0c2a9e".into(),
            prefix: None,
            organization_id: None,
            account: "123456789012".into(),
            region: "us-east-1".into(),
            home_region: "us-east-1".into(),
            trail_name: "management-events".into(),
        }
    }
}

impl TrailLayout {
    fn base(&self, kind: &str) -> String {
        let mut s = String::new();
        if let Some(p) = &self.prefix {
            s.push_str(p);
            s.push('/');
        }
        s.push_str("AWSLogs/");
        if let Some(o) = &self.organization_id {
            s.push_str(o);
            s.push('/');
        }
        format!("{s}{}/{kind}/{}/", self.account, self.region)
    }

    /// The digest key for a digest ending at `end`.
    pub fn digest_key(&self, end: i64, backfill: bool) -> String {
        let t = utc(end);
        format!(
            "{}{:04}/{:02}/{:02}/{}_CloudTrail-Digest_{}_{}_{}_{}{}.json.gz",
            self.base("CloudTrail-Digest"),
            t.year(),
            u8::from(t.month()),
            t.day(),
            self.account,
            self.region,
            self.trail_name,
            self.home_region,
            basic(end, true),
            if backfill { "_backfill" } else { "" }
        )
    }

    /// A log key delivered at `time` (minute resolution in the name).
    pub fn log_key(&self, time: i64, unique: &str) -> String {
        let t = utc(time);
        format!(
            "{}{:04}/{:02}/{:02}/{}_CloudTrail_{}_{}_{}.json.gz",
            self.base("CloudTrail"),
            t.year(),
            u8::from(t.month()),
            t.day(),
            self.account,
            self.region,
            basic(time, false),
            unique
        )
    }

    /// A range request over this trail.
    pub fn request(&self, start: i64, end: i64) -> RangeRequest {
        RangeRequest {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            organization_id: self.organization_id.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            trail_name: Some(self.trail_name.clone()),
            start,
            end,
            concurrency: 8,
        }
    }
}

fn utc(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).expect("valid time")
}

/// `YYYYMMDDTHHMMSSZ` (digests) or `YYYYMMDDTHHmmZ` (logs).
fn basic(t: i64, seconds: bool) -> String {
    let d = utc(t);
    let hm = format!(
        "{:04}{:02}{:02}T{:02}{:02}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute()
    );
    if seconds {
        format!("{hm}{:02}Z", d.second())
    } else {
        format!("{hm}Z")
    }
}

/// Unix seconds `t` as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`), the format of the digest's
/// time fields and of the backfill generation timestamp.
pub fn iso(t: i64) -> String {
    utc(t).format(&Rfc3339).expect("formattable")
}

/// 2026-03-14T07:12:09Z, the start of the fixture chain of `docs/specs/digest-validation.md` §8.
pub const FIXTURE_START: i64 = 1_773_472_329;

/// Shape of a generated chain.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// `digestStartTime` of the first digest.
    pub start: i64,
    /// Number of log files listed by each digest (its length is the number of digests).
    pub logs_per_digest: Vec<usize>,
    /// Approximate uncompressed size of each log file.
    pub log_bytes: usize,
    /// Window of each digest (CloudTrail: one hour).
    pub window: i64,
}

impl Default for ChainOptions {
    /// The fixture of `docs/specs/digest-validation.md` §8: 6 hourly digests, #0 starting, #3
    /// empty, 24 logs.
    fn default() -> Self {
        ChainOptions {
            start: FIXTURE_START,
            logs_per_digest: vec![5, 5, 5, 0, 5, 4],
            log_bytes: 6_000,
            window: 3600,
        }
    }
}

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestObject {
    /// Bucket the object is stored in.
    pub bucket: String,
    /// Object key within the bucket.
    pub key: String,
    /// The stored bytes (gzip for digests and logs, unless a variant stores something else).
    pub bytes: Vec<u8>,
    /// S3 user metadata, keys without the `x-amz-meta-` prefix (e.g. `signature`,
    /// `signature-algorithm`); empty for logs.
    pub metadata: HashMap<String, String>,
}

/// One CloudTrail digest file of a [`TestChain`]: its JSON document, where it is stored, who
/// signs it, and the derived bytes and metadata that variants may tamper with.
#[derive(Debug, Clone)]
pub struct TestDigest {
    /// Bucket the object is stored in (may differ from the document's `digestS3Bucket`).
    pub bucket: String,
    /// Where the object is stored (may differ from the document's `digestS3Object`).
    pub key: String,
    /// The digest JSON document (fields of spec §2); [`TestChain::seal`] or
    /// [`TestChain::rewrite`] turn edits into `content` and `object`.
    pub doc: Value,
    /// Index into `TestChain::keys` of the key that signs it.
    pub signer: usize,
    /// A `_backfill` digest: key suffix `_backfill`, `backfill-generation-timestamp` metadata,
    /// and skipped when chaining normal digests.
    pub backfill: bool,
    /// Decompressed bytes, gzip object, metadata: derived by `seal`/`rewrite`, then tampered.
    pub content: Vec<u8>,
    /// The stored object: gzip of `content` (or tampered bytes).
    pub object: Vec<u8>,
    /// S3 user metadata (`signature` as hex, `signature-algorithm`, and for backfill digests
    /// `backfill-generation-timestamp`), keys without the `x-amz-meta-` prefix.
    pub metadata: HashMap<String, String>,
    /// Present in storage.
    pub stored: bool,
}

/// One CloudTrail log file of a [`TestChain`].
#[derive(Debug, Clone)]
pub struct TestLog {
    /// Bucket the log is stored in (the digest entry's `s3Bucket` unless a variant moves it).
    pub bucket: String,
    /// Object key, the entry's `s3Object`: `…/CloudTrail/<region>/YYYY/MM/DD/` then
    /// `<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz`.
    pub key: String,
    /// Delivery time, Unix seconds (the key shows it to the minute). Its digest entry's
    /// `oldestEventTime` and `newestEventTime` are 5 and 1 minutes earlier.
    pub time: i64,
    /// Uncompressed `{"Records":[…]}` JSON, whose SHA-256 is the entry's `hashValue`.
    pub content: Vec<u8>,
    /// The stored object: gzip of `content` (or tampered bytes).
    pub object: Vec<u8>,
    /// Present in storage.
    pub stored: bool,
    /// Index of the digest that lists it (`None` for extra logs).
    pub digest: Option<usize>,
}

/// A generated chain: keys, digests and logs, all consistent until a variant tampers with them.
#[derive(Debug, Clone)]
pub struct TestChain {
    /// The trail that delivers the chain (bucket, prefix, account, regions, name).
    pub layout: TrailLayout,
    /// Signing keys; `keys[0]` signs by default and each digest's `signer` indexes this list.
    pub keys: Vec<TestKey>,
    /// Digests in delivery order (oldest first), backfill digests included.
    pub digests: Vec<TestDigest>,
    /// Log files of all digests, grouped by digest in delivery order (`TestLog::digest` says
    /// which digest lists each).
    pub logs: Vec<TestLog>,
    /// Further stored objects no digest models (e.g. an unlisted log or a digest copy).
    pub extra: Vec<TestObject>,
}

/// Gzips `data` as a single member at the default level (how the chain compresses digests
/// and logs).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_level(data, Compression::default())
}

pub(super) fn gzip_level(data: &[u8], level: Compression) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), level);
    e.write_all(data).expect("in-memory write");
    e.finish().expect("in-memory gzip")
}

impl TestChain {
    /// Builds a consistent chain signed by `key`.
    pub fn build(layout: TrailLayout, key: TestKey, options: &ChainOptions) -> TestChain {
        let mut chain = TestChain {
            layout,
            keys: vec![key],
            digests: Vec::new(),
            logs: Vec::new(),
            extra: Vec::new(),
        };
        for (i, &count) in options.logs_per_digest.iter().enumerate() {
            let start = options.start + i as i64 * options.window;
            chain.push_digest(
                start,
                start + options.window,
                count,
                options.log_bytes,
                false,
            );
        }
        chain
    }

    /// Appends a digest (and its logs) chained to the last non-backfill digest, or a starting
    /// digest when there is none or `restart` is set.
    pub fn push_digest(
        &mut self,
        start: i64,
        end: i64,
        log_count: usize,
        log_bytes: usize,
        restart: bool,
    ) -> usize {
        let index = self.digests.len();
        let mut entries = Vec::new();
        for j in 0..log_count {
            let time = start + 600 * (j as i64 + 1) - 37;
            let unique = unique_id(&format!("{}-{}-{index}-{j}", self.layout.region, start));
            let key = self.layout.log_key(time, &unique);
            let content = log_content(&self.layout, time, log_bytes, index * 1000 + j);
            entries.push(json!({
                "s3Bucket": self.layout.bucket,
                "s3Object": key,
                "hashValue": hex::encode(sha256(&content)),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": iso(time - 60),
                "oldestEventTime": iso(time - 300),
            }));
            self.logs.push(TestLog {
                bucket: self.layout.bucket.clone(),
                key,
                time,
                object: gzip(&content),
                content,
                stored: true,
                digest: Some(index),
            });
        }
        let key = self.layout.digest_key(end, false);
        let doc = json!({
            "awsAccountId": self.layout.account,
            "digestStartTime": iso(start),
            "digestEndTime": iso(end),
            "digestS3Bucket": self.layout.bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.keys[0].fingerprint(),
            "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
            "newestEventTime": if log_count == 0 { Value::Null } else { json!(iso(end - 120)) },
            "oldestEventTime": if log_count == 0 { Value::Null } else { json!(iso(start + 60)) },
            "previousDigestS3Bucket": null,
            "previousDigestS3Object": null,
            "previousDigestHashValue": null,
            "previousDigestHashAlgorithm": null,
            "previousDigestSignature": null,
            "logFiles": entries,
        });
        self.digests.push(TestDigest {
            bucket: self.layout.bucket.clone(),
            key,
            doc,
            signer: 0,
            backfill: false,
            content: Vec::new(),
            object: Vec::new(),
            metadata: HashMap::new(),
            stored: true,
        });
        let previous = (0..index).rev().find(|&p| !self.digests[p].backfill);
        match previous {
            Some(p) if !restart => self.link(index, p),
            _ => self.seal(index),
        }
        index
    }

    /// Adds a backfill digest for `[start, end]` (empty, starting), with its generation timestamp.
    pub fn push_backfill(&mut self, start: i64, end: i64, generated: i64) -> usize {
        let index = self.push_digest(start, end, 0, 0, true);
        let d = &mut self.digests[index];
        d.backfill = true;
        d.key = self.layout.digest_key(end, true);
        d.doc["digestS3Object"] = json!(d.key);
        d.metadata
            .insert(META_BACKFILL_TIMESTAMP.into(), iso(generated));
        self.seal(index);
        index
    }

    /// Sets digest `index`'s previous fields from digest `previous` and re-signs it.
    pub fn link(&mut self, index: usize, previous: usize) {
        let p = &self.digests[previous];
        let (bucket, key, hash, sig) = (
            p.doc["digestS3Bucket"].clone(),
            p.doc["digestS3Object"].clone(),
            hex::encode(sha256(&p.content)),
            p.metadata.get(META_SIGNATURE).cloned().unwrap_or_default(),
        );
        let doc = &mut self.digests[index].doc;
        doc["previousDigestS3Bucket"] = bucket;
        doc["previousDigestS3Object"] = key;
        doc["previousDigestHashValue"] = json!(hash);
        doc["previousDigestHashAlgorithm"] = json!("SHA-256");
        doc["previousDigestSignature"] = json!(sig);
        self.seal(index);
    }

    /// Re-links and re-signs every non-backfill digest after `index`, as CloudTrail would have
    /// if `index` had been delivered the way it now is.
    pub fn relink_after(&mut self, index: usize) {
        let mut previous = index;
        for j in index + 1..self.digests.len() {
            if self.digests[j].backfill {
                continue;
            }
            if !self.digests[j].doc["previousDigestS3Object"].is_null() {
                self.link(j, previous);
            }
            previous = j;
        }
    }

    /// Serializes digest `index`'s document, gzips it and signs it as CloudTrail does.
    pub fn seal(&mut self, index: usize) {
        self.rewrite(index);
        let key = self.keys[self.digests[index].signer].clone();
        let mut doc = self.digests[index].doc.clone();
        doc["digestPublicKeyFingerprint"] = json!(key.fingerprint());
        self.digests[index].doc = doc;
        self.rewrite(index);
        let d = &self.digests[index];
        let message = signing_message(&d.doc, &sha256(&d.content));
        let signature = hex::encode(key.sign_sha256(message.as_bytes()));
        let d = &mut self.digests[index];
        d.metadata.insert(META_SIGNATURE.into(), signature);
        d.metadata
            .insert(META_SIGNATURE_ALGORITHM.into(), SIGNATURE_ALGORITHM.into());
    }

    /// Re-serializes and re-gzips digest `index`'s document without touching its signature
    /// (what an attacker without the key can do).
    pub fn rewrite(&mut self, index: usize) {
        let d = &mut self.digests[index];
        d.content = serde_json::to_vec(&d.doc).expect("serializable");
        d.object = gzip(&d.content);
    }

    /// Indexes (into `logs`) of the logs that digest `digest` lists.
    pub fn logs_of(&self, digest: usize) -> Vec<usize> {
        (0..self.logs.len())
            .filter(|&i| self.logs[i].digest == Some(digest))
            .collect()
    }

    /// `digestStartTime` of the first digest and `digestEndTime` of the last one.
    pub fn span(&self) -> (i64, i64) {
        let times = |field: &str| {
            self.digests
                .iter()
                .filter(|d| !d.backfill)
                .filter_map(|d| {
                    d.doc[field]
                        .as_str()
                        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                })
                .map(|t| t.unix_timestamp())
                .collect::<Vec<_>>()
        };
        (
            times("digestStartTime").into_iter().min().unwrap_or(0),
            times("digestEndTime").into_iter().max().unwrap_or(0),
        )
    }

    /// The range the fixtures are verified over: the whole chain, ending 18 minutes after the
    /// last digest (inside the 1 h 15 min head allowance).
    pub fn default_request(&self) -> RangeRequest {
        let (start, end) = self.span();
        self.layout.request(start, end + 18 * 60)
    }

    /// Every stored object.
    pub fn objects(&self) -> Vec<TestObject> {
        let digests = self
            .digests
            .iter()
            .filter(|d| d.stored)
            .map(|d| TestObject {
                bucket: d.bucket.clone(),
                key: d.key.clone(),
                bytes: d.object.clone(),
                metadata: d.metadata.clone(),
            });
        let logs = self.logs.iter().filter(|l| l.stored).map(|l| TestObject {
            bucket: l.bucket.clone(),
            key: l.key.clone(),
            bytes: l.object.clone(),
            metadata: HashMap::new(),
        });
        digests
            .chain(logs)
            .chain(self.extra.iter().cloned())
            .collect()
    }

    /// Puts every stored object (see [`objects`](Self::objects)) into `store`, with its metadata.
    pub fn add_to(&self, store: &mut MemoryStore) {
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
    }

    /// A new in-memory store holding this chain's stored objects.
    pub fn store(&self) -> MemoryStore {
        let mut store = MemoryStore::default();
        self.add_to(&mut store);
        store
    }

    /// The keys CloudTrail publishes in this chain's region.
    pub fn published_keys(&self) -> Vec<crate::digest::PublicKeyRecord> {
        self.keys.iter().map(TestKey::record).collect()
    }

    /// A key source that publishes all of `keys` in the chain's delivering `region` (what
    /// `ListPublicKeys` would return there).
    pub fn key_source(&self) -> StaticKeySource {
        StaticKeySource::default().with_region(&self.layout.region, self.published_keys())
    }
}

/// The signing string of `docs/specs/digest-validation.md` §4, built from the JSON values even
/// when the document would not pass strict parsing (variants sign malformed documents too).
pub fn signing_message(doc: &Value, content_sha256: &[u8; 32]) -> String {
    let text = |field: &str| doc[field].as_str().unwrap_or("null").to_owned();
    format!(
        "{}\n{}/{}\n{}\n{}",
        text("digestEndTime"),
        text("digestS3Bucket"),
        text("digestS3Object"),
        hex::encode(content_sha256),
        text("previousDigestSignature")
    )
}

/// 16 alphanumeric characters derived from `seed`.
pub(super) fn unique_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    sha256(seed.as_bytes())
        .iter()
        .take(16)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A `{"Records":[…]}` file of roughly `bytes` bytes with varied, plausible records.
pub fn log_content(layout: &TrailLayout, time: i64, bytes: usize, seed: usize) -> Vec<u8> {
    const EVENTS: &[(&str, &str)] = &[
        ("iam.amazonaws.com", "CreateUser"),
        ("s3.amazonaws.com", "PutBucketPolicy"),
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("signin.amazonaws.com", "ConsoleLogin"),
        ("cloudtrail.amazonaws.com", "StopLogging"),
        ("kms.amazonaws.com", "Decrypt"),
    ];
    let mut out = String::from("{\"Records\":[");
    let mut n = 0usize;
    loop {
        let (source, name) = EVENTS[(seed + n) % EVENTS.len()];
        if n > 0 {
            out.push(',');
        }
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": format!("AIDA{:016}", seed * 7919 + n),
                "arn": format!("arn:aws:iam::{}:user/user-{}", layout.account, (seed + n) % 13),
                "accountId": layout.account, "userName": format!("user-{}", (seed + n) % 13)},
            "eventTime": iso(time - 240 + (n as i64 % 200)),
            "eventSource": source,
            "eventName": name,
            "awsRegion": layout.region,
            "sourceIPAddress": format!("198.51.100.{}", (seed * 31 + n) % 250),
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            "requestParameters": {"bucketName": format!("data-{}-{}", seed, n), "marker": unique_id(&format!("{seed}/{n}"))},
            "responseElements": null,
            "requestID": unique_id(&format!("req-{seed}-{n}")),
            "eventID": unique_id(&format!("evt-{seed}-{n}")),
            "readOnly": n.is_multiple_of(3),
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": layout.account,
            "eventCategory": "Management"
        });
        out.push_str(&record.to_string());
        n += 1;
        if out.len() >= bytes {
            break;
        }
    }
    out.push_str("]}");
    out.into_bytes()
}
