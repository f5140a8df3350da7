//! The CSV manifest of a backfill when the job's own generator does not fit: the objects of each
//! day folder, listed with ListObjectsV2 and written to the report bucket in the format
//! `S3BatchOperations_CSV_20180820` (`bucket,key`, keys URL-encoded as the User Guide's manifest
//! section requires). CreateJob then names the manifest by ARN and ETag, so the job reads exactly
//! the object that was written.

use aws_sdk_s3::primitives::ByteStream;
use trailwatch_lambda_common::s3_list;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestError {
    #[error("listing s3://{bucket}/{prefix}: {detail}")]
    List {
        bucket: String,
        prefix: String,
        detail: String,
    },
    #[error("writing the manifest s3://{bucket}/{key}: {detail}")]
    Write {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error(
        "reading the manifest s3://{bucket}/{key} (s3:GetObject, and s3:ListBucket on its bucket so that a missing one reads as missing): {detail}"
    )]
    Read {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("S3 answered without the manifest's ETag")]
    NoEtag,
}

/// A written manifest: where it is and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct WrittenManifest {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) etag: String,
    pub(crate) objects: usize,
}

/// The names one level below `prefix`: the accounts under `AWSLogs/`, the regions under
/// `CloudTrail/`.
pub(crate) async fn child_folders(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, ManifestError> {
    s3_list::child_folders(s3, bucket, prefix)
        .await
        .map_err(|e| list_error(bucket, prefix, e))
}

/// Every key under each of `prefixes`, in listing order.
pub(crate) async fn list_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefixes: &[String],
) -> Result<Vec<String>, ManifestError> {
    let mut keys = Vec::new();
    for prefix in prefixes {
        let under = s3_list::keys_under(s3, bucket, prefix)
            .await
            .map_err(|e| list_error(bucket, prefix, e))?;
        keys.extend(under);
    }
    Ok(keys)
}

fn list_error(bucket: &str, prefix: &str, e: impl std::error::Error) -> ManifestError {
    ManifestError::List {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        detail: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
    }
}

/// The manifest's text: one `bucket,key` line per object.
pub(crate) fn csv(bucket: &str, keys: &[String]) -> String {
    let mut out = String::with_capacity(keys.len() * 96);
    for key in keys {
        out.push_str(&url_encode(bucket));
        out.push(',');
        out.push_str(&url_encode(key));
        out.push('\n');
    }
    out
}

/// Percent-encodes everything but unreserved characters and `/`: a key's `,`, `"`, newline or
/// `+` cannot break the CSV or be read back as another key (the functions decode `%2B` as `+`).
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The manifest an earlier run of the same command wrote, if any. A repeated command must send
/// the same CreateJob request, and must not overwrite a manifest its job may be reading: the job
/// names it by ETag and fails on another one (new objects in the range since the first run would
/// change it).
pub(crate) async fn existing(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<WrittenManifest>, ManifestError> {
    let read_error = |detail: String| ManifestError::Read {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        detail,
    };
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => {
            return Err(read_error(
                aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            ));
        }
    };
    let etag = out.e_tag().ok_or(ManifestError::NoEtag)?.to_owned();
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| read_error(e.to_string()))?
        .into_bytes();
    let objects = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    Ok(Some(WrittenManifest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag,
        objects,
    }))
}

/// Writes the manifest and returns its ETag (quotes kept: CreateJob takes the ETag as S3 gave it).
pub(crate) async fn write(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: String,
    objects: usize,
) -> Result<WrittenManifest, ManifestError> {
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/csv")
        .body(ByteStream::from(body.into_bytes()))
        .send()
        .await
        .map_err(|e| ManifestError::Write {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            detail: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })?;
    let etag = put.e_tag().ok_or(ManifestError::NoEtag)?.to_owned();
    Ok(WrittenManifest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        etag,
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_encoded_so_no_key_breaks_a_row() {
        let keys = vec![
            "AWSLogs/1/CloudTrail/us-east-1/2026/03/04/a b+c,\"d\".json.gz".to_owned(),
            "plain/key.json.gz".to_owned(),
        ];
        let text = csv("trail-bucket", &keys);
        assert_eq!(
            text,
            "trail-bucket,AWSLogs/1/CloudTrail/us-east-1/2026/03/04/a%20b%2Bc%2C%22d%22.json.gz\n\
             trail-bucket,plain/key.json.gz\n"
        );
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.matches(',').count() == 1));
    }
}
