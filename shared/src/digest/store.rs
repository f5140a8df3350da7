//! What verification needs from storage and from CloudTrail's key service, as traits so that the
//! logic runs against S3 + `ListPublicKeys` in production and against memory in tests.
//!
//! The futures are `Send` and the traits name no runtime: the S3 implementation decides how to
//! keep blocking work (gunzip + SHA-256 of large logs) off the async executor.

use super::keys::PublicKeyRecord;
use std::collections::HashMap;
use std::future::Future;
use std::io::Read;

/// An object read whole (digests are small), with its user metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredObject {
    /// The object body as stored (for a digest or log: the gzip-compressed bytes).
    pub bytes: Vec<u8>,
    /// S3 user metadata, keys lowercase and without `x-amz-meta-` (`signature`,
    /// `signature-algorithm`, `backfill-generation-timestamp`).
    pub metadata: HashMap<String, String>,
}

/// A storage failure. The kinds must stay apart: only `NotFound` may become a "missing" finding;
/// `Infrastructure` always aborts verification (the caller retries). `AccessDenied` of a digest
/// aborts too (a permission to fix), while a listed log that refuses to be read (`AccessDenied`
/// or `Unreadable`) is a `LOG_UNREADABLE` finding: its digest is authentic and the log must be
/// readable, so an attacker who re-encrypts or archives it must not silence the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No object at that key (S3 `NoSuchKey`): the only failure that may become a finding.
    #[error("not found")]
    NotFound,
    /// The read was refused; holds which permission the request needed.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// Any other failure (throttling, network, 5xx, a broken body stream); holds its description.
    #[error("storage unavailable: {0}")]
    Infrastructure(String),
    /// The store answered a permanent refusal about the object itself, not about the caller's
    /// permissions (S3 400 `InvalidRequest` for an SSE-C object read without its key, 403
    /// `InvalidObjectState` for an archived object); retrying does not help. Holds the answer.
    #[error("object unreadable: {0}")]
    Unreadable(String),
}

/// One version of a key, as S3 lists it (ListObjectVersions): an object version or a delete
/// marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The version id (`null` for an object written before versioning was enabled).
    pub version_id: String,
    /// When the version was written (ISO-8601 as S3 says it), if listed.
    pub last_modified: Option<String>,
    /// Whether this version is a delete marker.
    pub delete_marker: bool,
}

/// A failure of the public key source (throttling, network): always infrastructure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("public keys unavailable: {0}")]
pub struct KeySourceError(pub String);

/// Read access to the trail bucket.
pub trait DigestStore: Sync {
    /// The whole object and its metadata; exactly `version_id` when given, else the current
    /// version. Implementations read at most [`MAX_DIGEST_COMPRESSED_BYTES`] + 1 bytes of the
    /// body (only digests are read whole), so that a planted object cannot exhaust memory.
    ///
    /// [`MAX_DIGEST_COMPRESSED_BYTES`]: super::MAX_DIGEST_COMPRESSED_BYTES
    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<StoredObject, StoreError>> + Send;

    /// Every key under `prefix` (all pages), in any order.
    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Streams the object through `consume` where blocking reads are allowed (a blocking thread
    /// for S3). Errors of the stream surface through the reader as `io::Error`s.
    fn read_object<T, F>(
        &self,
        bucket: &str,
        key: &str,
        consume: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Read) -> T + Send + 'static;

    /// Every version and delete marker of exactly `key` (not of other keys under it as a
    /// prefix), newest first as far as the store knows. A store that keeps one version per
    /// object (memory, tests) knows of no other version and answers an empty list.
    fn list_versions(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<ObjectVersion>, StoreError>> + Send {
        let _ = (bucket, key);
        std::future::ready(Ok(Vec::new()))
    }
}

/// CloudTrail's published keys.
pub trait PublicKeySource: Sync {
    /// Keys of `region` that may have signed a digest ending at `at` (Unix seconds) with
    /// `fingerprint`. Returning more keys than needed is fine; the caller selects and cross-checks.
    fn public_keys(
        &self,
        region: &str,
        fingerprint: &str,
        at: i64,
    ) -> impl Future<Output = Result<Vec<PublicKeyRecord>, KeySourceError>> + Send;
}

/// A fixed key list per region (tests, `PUBLIC_KEYS_FILE`, `--public-keys`).
#[derive(Debug, Clone, Default)]
pub struct StaticKeySource {
    by_region: HashMap<String, Vec<PublicKeyRecord>>,
    any_region: Vec<PublicKeyRecord>,
}

impl StaticKeySource {
    /// Keys that only `region` publishes.
    pub fn with_region(mut self, region: &str, keys: Vec<PublicKeyRecord>) -> Self {
        self.by_region
            .entry(region.to_owned())
            .or_default()
            .extend(keys);
        self
    }

    /// Keys served for every region (a key file given for one verification run).
    pub fn for_every_region(keys: Vec<PublicKeyRecord>) -> Self {
        Self {
            by_region: HashMap::new(),
            any_region: keys,
        }
    }
}

impl PublicKeySource for StaticKeySource {
    fn public_keys(
        &self,
        region: &str,
        _fingerprint: &str,
        _at: i64,
    ) -> impl Future<Output = Result<Vec<PublicKeyRecord>, KeySourceError>> + Send {
        let mut keys = self.any_region.clone();
        keys.extend(self.by_region.get(region).cloned().unwrap_or_default());
        std::future::ready(Ok(keys))
    }
}

/// An in-memory bucket set, for tests and tools. Errors can be injected per object.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    objects: HashMap<(String, String), StoredObject>,
    failures: HashMap<(String, String), StoreError>,
}

impl MemoryStore {
    /// Stores `object` at `bucket`/`key`, replacing any object there.
    pub fn put(&mut self, bucket: &str, key: &str, object: StoredObject) {
        self.objects
            .insert((bucket.to_owned(), key.to_owned()), object);
    }

    /// Deletes the object (later reads give `NotFound`) and returns it.
    pub fn remove(&mut self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.objects.remove(&(bucket.to_owned(), key.to_owned()))
    }

    /// The stored object, for changing its bytes or metadata in place (simulated tampering).
    pub fn get_mut(&mut self, bucket: &str, key: &str) -> Option<&mut StoredObject> {
        self.objects.get_mut(&(bucket.to_owned(), key.to_owned()))
    }

    /// Makes every read of this object fail with `error` (it is still listed).
    pub fn fail(&mut self, bucket: &str, key: &str, error: StoreError) {
        self.failures
            .insert((bucket.to_owned(), key.to_owned()), error);
    }

    /// Every stored `(bucket, key)` and its object, in no particular order.
    pub fn objects(&self) -> impl Iterator<Item = (&(String, String), &StoredObject)> {
        self.objects.iter()
    }

    fn lookup(&self, bucket: &str, key: &str) -> Result<&StoredObject, StoreError> {
        let id = (bucket.to_owned(), key.to_owned());
        if let Some(e) = self.failures.get(&id) {
            return Err(e.clone());
        }
        self.objects.get(&id).ok_or(StoreError::NotFound)
    }
}

/// Holds one version per object: a `version_id` is accepted and the stored object returned.
impl DigestStore for MemoryStore {
    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&str>,
    ) -> impl Future<Output = Result<StoredObject, StoreError>> + Send {
        std::future::ready(self.lookup(bucket, key).cloned())
    }

    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        let keys = self
            .objects
            .keys()
            .chain(self.failures.keys())
            .filter(|(b, k)| b == bucket && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        std::future::ready(Ok(keys))
    }

    fn read_object<T, F>(
        &self,
        bucket: &str,
        key: &str,
        consume: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Read) -> T + Send + 'static,
    {
        let result = self
            .lookup(bucket, key)
            .map(|object| consume(&mut std::io::Cursor::new(object.bytes.as_slice())));
        std::future::ready(result)
    }
}
