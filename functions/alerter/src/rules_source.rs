//! Reading the custom-rules document named by `CUSTOM_RULES_S3_URI` at cold start.

use std::io::Read;

use trailwatch_lambda_common::s3_read::{FetchError, open_object};
use trailwatch_shared::trigger::ObjectRef;

use crate::config::S3Location;

/// A rules document is a few kilobytes; anything this large is a mistake, not rules.
pub const MAX_RULES_DOCUMENT_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RulesSourceError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    #[error("larger than {MAX_RULES_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// The document's text.
pub async fn read_rules_object(
    s3: &aws_sdk_s3::Client,
    location: &S3Location,
) -> Result<String, RulesSourceError> {
    let object = ObjectRef {
        bucket: location.bucket.clone(),
        key: location.key.clone(),
        size: None,
        version_id: None,
        requester: None,
        source_ip: None,
        etag: None,
    };
    let reader = open_object(s3, &object).await?.into_blocking_reader();
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, RulesSourceError> {
        let mut buf = Vec::new();
        reader
            .take(MAX_RULES_DOCUMENT_BYTES + 1)
            .read_to_end(&mut buf)?;
        if buf.len() as u64 > MAX_RULES_DOCUMENT_BYTES {
            return Err(RulesSourceError::TooLarge);
        }
        Ok(buf)
    })
    .await
    .map_err(|e| RulesSourceError::Io(std::io::Error::other(e.to_string())))??;
    String::from_utf8(bytes).map_err(|_| RulesSourceError::NotUtf8)
}
