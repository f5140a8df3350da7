//! `DigestStore` over S3: whole-object reads for digests, streamed reads (gunzip + SHA-256 on a
//! blocking thread) for logs, and paginated listing. S3 errors are classified so that only a
//! real 404 can become a "missing" finding, and a permanent refusal about the object itself
//! (archived, customer-key encrypted) is told apart from a transient fault.

use std::collections::HashMap;
use std::future::Future;
use std::io::Read;

use crate::s3_list::keys_under;
use crate::s3_read::{FetchError, S3Request};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio_util::io::SyncIoBridge;
use trailwatch_shared::digest::{
    DigestStore, MAX_DIGEST_COMPRESSED_BYTES, ObjectVersion, StoreError, StoredObject,
};

/// Reads the trail bucket through the S3 API.
#[derive(Debug, Clone)]
pub struct S3DigestStore {
    s3: aws_sdk_s3::Client,
}

impl S3DigestStore {
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }

    /// GetObject of exactly `version_id` when given (S3 authorizes that as
    /// `s3:GetObjectVersion`), else of the current version.
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<GetObjectOutput, StoreError> {
        let request = S3Request::GetObject { version_id };
        let sent = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await;
        match sent {
            Ok(out) => Ok(out),
            Err(e) => match object_refusal(&e) {
                Some(refusal) => Err(StoreError::Unreadable(refusal)),
                None => match FetchError::classify(bucket, key, request, &e) {
                    denied @ FetchError::AccessDenied { .. } => {
                        Err(self.confirm_denied(bucket, key, denied).await)
                    }
                    other => Err(store_error(other)),
                },
            },
        }
    }

    /// S3 answers a GetObject of a missing key with 403 unless the caller may list the whole
    /// bucket, and the template grants `s3:ListBucket` only under `AWSLogs/` (an `s3:prefix`
    /// condition, which S3's implicit check does not carry). A listing of exactly that key
    /// tells a deleted object (missing, a finding) from a refused read (an error, never a
    /// finding); if the listing is refused as well, the read stays refused.
    async fn confirm_denied(&self, bucket: &str, key: &str, denied: FetchError) -> StoreError {
        let listing = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await;
        match listing {
            Ok(page) if !page.contents().iter().any(|o| o.key() == Some(key)) => {
                StoreError::NotFound
            }
            Ok(_) => store_error(denied),
            Err(e) => {
                let request = S3Request::ListObjects { prefix: key };
                let refused = FetchError::classify(bucket, key, request, &e);
                tracing::warn!(%bucket, %key, error = %refused,
                    "a refused read could not be told from a missing object: the listing failed too");
                store_error(denied)
            }
        }
    }
}

/// Entries asked of one ListObjectVersions (the overwrite check): a delivered CloudTrail key
/// has one version, so a few entries show any other.
pub const VERSIONS_LISTED: i32 = 10;

/// Largest object read whole (digests only; logs are streamed): one byte more than a digest may
/// have, so that the verifier sees an oversized object as such (`DIGEST_TOO_LARGE`) while a
/// planted object of any size costs at most this much memory.
pub const MAX_WHOLE_OBJECT_BYTES: usize = MAX_DIGEST_COMPRESSED_BYTES + 1;

/// A permanent answer about the object itself rather than the caller's permissions: 403
/// `InvalidObjectState` (archived to Glacier / Deep Archive, must be restored first) and 400
/// `InvalidRequest` (stored with SSE-C: only the customer's key reads it). Retrying cannot help,
/// and CloudTrail never writes either: a listed log in this state was altered after delivery.
pub fn object_refusal(e: &SdkError<GetObjectError, HttpResponse>) -> Option<String> {
    let SdkError::ServiceError(se) = e else {
        return None;
    };
    let status = se.raw().status().as_u16();
    match se.err().code() {
        Some(code @ ("InvalidObjectState" | "InvalidRequest")) => Some(format!(
            "S3 answered {status} {code}: {}",
            se.err().message().unwrap_or("no message")
        )),
        _ => None,
    }
}

/// Maps the shared S3 error classification onto the verifier's three kinds.
pub fn store_error(e: FetchError) -> StoreError {
    match e {
        FetchError::NotFound { .. } => StoreError::NotFound,
        denied @ FetchError::AccessDenied { .. } => StoreError::AccessDenied(denied.to_string()),
        FetchError::Transient { detail, .. } | FetchError::Other { detail, .. } => {
            StoreError::Infrastructure(detail)
        }
    }
}

fn lowercase_keys(metadata: HashMap<String, String>) -> HashMap<String, String> {
    metadata
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

impl DigestStore for S3DigestStore {
    fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<StoredObject, StoreError>> + Send {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        async move {
            let version = version_id.map(str::to_owned);
            let out = self.get(&bucket, &key, version.as_deref()).await?;
            let metadata = lowercase_keys(out.metadata.clone().unwrap_or_default());
            // A digest is KBs; an object planted at a digest key must not exhaust memory. Past
            // the cap the bytes are cut, which the verifier reports as a malformed digest.
            let mut body = out.body;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    StoreError::Infrastructure(format!("reading the body failed: {e}"))
                })?;
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_WHOLE_OBJECT_BYTES {
                    bytes.truncate(MAX_WHOLE_OBJECT_BYTES);
                    break;
                }
            }
            Ok(StoredObject { bytes, metadata })
        }
    }

    fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        async move {
            keys_under(&self.s3, &bucket, &prefix).await.map_err(|e| {
                let request = S3Request::ListObjects { prefix: &prefix };
                store_error(FetchError::classify(&bucket, &prefix, request, &e))
            })
        }
    }

    /// One ListObjectVersions page with `Prefix` = the key and [`VERSIONS_LISTED`] entries:
    /// versions of the key itself sort first (newest first), so the page holds them; entries of
    /// longer keys under it are dropped. S3 authorizes it as `s3:ListBucketVersions`.
    fn list_versions(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<ObjectVersion>, StoreError>> + Send {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        async move {
            let page = self
                .s3
                .list_object_versions()
                .bucket(&bucket)
                .prefix(&key)
                .max_keys(VERSIONS_LISTED)
                .send()
                .await
                .map_err(|e| {
                    let request = S3Request::ListVersions { prefix: &key };
                    store_error(FetchError::classify(&bucket, &key, request, &e))
                })?;
            let when = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
                t.and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok())
            };
            let versions = page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(key.as_str()))
                .map(|v| ObjectVersion {
                    version_id: v.version_id().unwrap_or("null").to_owned(),
                    last_modified: when(v.last_modified()),
                    delete_marker: false,
                });
            let markers = page
                .delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key.as_str()))
                .map(|m| ObjectVersion {
                    version_id: m.version_id().unwrap_or("null").to_owned(),
                    last_modified: when(m.last_modified()),
                    delete_marker: true,
                });
            Ok(versions.chain(markers).collect())
        }
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
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        async move {
            let out = self.get(&bucket, &key, None).await?;
            // The bridge must be created on the runtime; the blocking thread then pulls the
            // download through gunzip + SHA-256 while the runtime keeps serving other reads.
            let mut reader = SyncIoBridge::new(out.body.into_async_read());
            tokio::task::spawn_blocking(move || consume(&mut reader))
                .await
                .map_err(|e| StoreError::Infrastructure(format!("hashing task failed: {e}")))
        }
    }
}
