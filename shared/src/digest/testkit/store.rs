//! A memory store with the two behaviours the plain `MemoryStore` lacks, for tests that need a
//! versioned bucket or a connection that drops mid-read: one test double instead of a
//! hand-written `DigestStore` wrapper in each test file.

use crate::digest::store::{DigestStore, MemoryStore, ObjectVersion, StoreError, StoredObject};
use std::future::Future;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of a cut object read before the connection "resets".
const CUT_AFTER_BYTES: u64 = 40;

/// Wraps a `MemoryStore`: every listing of versions answers `versions` (and is counted), and
/// reads of the `cut_key` object fail after 40 bytes like a dropped connection.
#[derive(Debug)]
pub struct TestStore {
    /// The objects and the per-object read failures.
    pub inner: MemoryStore,
    /// What every listing of versions answers.
    pub versions: Result<Vec<ObjectVersion>, StoreError>,
    /// The key whose reads break part-way, if any.
    pub cut_key: Option<String>,
    listings: AtomicUsize,
}

impl TestStore {
    /// `inner` with no other versions and no cut reads: behaves as `inner`.
    pub fn new(inner: MemoryStore) -> Self {
        TestStore {
            inner,
            versions: Ok(Vec::new()),
            cut_key: None,
            listings: AtomicUsize::new(0),
        }
    }

    /// Answers every `list_versions` with `versions`.
    pub fn with_versions(mut self, versions: Result<Vec<ObjectVersion>, StoreError>) -> Self {
        self.versions = versions;
        self
    }

    /// Breaks every read of `key` part-way through.
    pub fn cutting_reads_of(mut self, key: &str) -> Self {
        self.cut_key = Some(key.to_owned());
        self
    }

    /// How many times versions were listed.
    pub fn listings(&self) -> usize {
        self.listings.load(Ordering::SeqCst)
    }
}

impl DigestStore for TestStore {
    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<StoredObject, StoreError>> + Send {
        self.inner.get_object(bucket, key, version_id)
    }

    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        self.inner.list_keys(bucket, prefix)
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
        let cut = self.cut_key.as_deref() == Some(key);
        self.inner.read_object(bucket, key, move |r| {
            if !cut {
                return consume(r);
            }
            let mut head = Vec::new();
            // A read error here would be the memory cursor's; none can occur.
            let _ = r.take(CUT_AFTER_BYTES).read_to_end(&mut head);
            let failing = io::Cursor::new(head).chain(ConnectionReset);
            consume(&mut { failing })
        })
    }

    fn list_versions(
        &self,
        _bucket: &str,
        _key: &str,
    ) -> impl Future<Output = Result<Vec<ObjectVersion>, StoreError>> + Send {
        self.listings.fetch_add(1, Ordering::SeqCst);
        std::future::ready(self.versions.clone())
    }
}

/// A reader whose every read fails as a reset connection does.
struct ConnectionReset;

impl Read for ConnectionReset {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ))
    }
}
