//! A memory store with what the plain `MemoryStore` lacks, for tests that need a versioned
//! bucket, a connection that drops mid-read or a count of overlapping reads: one test double
//! instead of a hand-written `DigestStore` wrapper in each test file.

use crate::digest::store::{DigestStore, MemoryStore, ObjectVersion, StoreError, StoredObject};
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// Bytes of a cut object read before the connection "resets".
const CUT_AFTER_BYTES: u64 = 40;

/// Wraps a `MemoryStore`: every listing of versions answers `versions` (and is counted), reads
/// of the `cut_key` object fail after 40 bytes like a dropped connection, and each read yields
/// once before it starts so that concurrent reads overlap (the most at once is kept).
#[derive(Debug)]
pub struct TestStore {
    /// The objects and the per-object read failures.
    pub inner: MemoryStore,
    /// What every listing of versions answers.
    pub versions: Result<Vec<ObjectVersion>, StoreError>,
    /// The key whose reads break part-way, if any.
    pub cut_key: Option<String>,
    listings: AtomicUsize,
    reads_in_flight: AtomicUsize,
    peak_reads: AtomicUsize,
}

impl TestStore {
    /// `inner` with no other versions and no cut reads: behaves as `inner`.
    pub fn new(inner: MemoryStore) -> Self {
        TestStore {
            inner,
            versions: Ok(Vec::new()),
            cut_key: None,
            listings: AtomicUsize::new(0),
            reads_in_flight: AtomicUsize::new(0),
            peak_reads: AtomicUsize::new(0),
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

    /// The most object reads that were in flight at once.
    pub fn peak_reads(&self) -> usize {
        self.peak_reads.load(Ordering::SeqCst)
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
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        async move {
            let now = self.reads_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak_reads.fetch_max(now, Ordering::SeqCst);
            YieldOnce(false).await;
            let result = self
                .inner
                .read_object(&bucket, &key, move |r| {
                    if !cut {
                        return consume(r);
                    }
                    let mut head = Vec::new();
                    // A read error here would be the memory cursor's; none can occur.
                    let _ = r.take(CUT_AFTER_BYTES).read_to_end(&mut head);
                    let failing = io::Cursor::new(head).chain(ConnectionReset);
                    consume(&mut { failing })
                })
                .await;
            self.reads_in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        }
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

/// Pending once (waking itself at once), then ready: lets other reads start in between.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
