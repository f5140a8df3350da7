//! [`TrailFolders`] over S3: ListObjectsV2 with `Delimiter: /` gives the folders under a prefix
//! (common prefixes) without listing the objects in them. S3 authorizes it as `s3:ListBucket`
//! with `s3:prefix` = the prefix, which the template grants under `AWSLogs/`.

use trailwatch_lambda_common::s3_list::child_folders;
use trailwatch_lambda_common::s3_read::{FetchError, S3Request};
use trailwatch_lambda_common::s3_store::store_error;
use trailwatch_shared::digest::StoreError;

use crate::range_check::TrailFolders;

/// Lists the trail bucket's folders.
#[derive(Debug, Clone)]
pub struct S3TrailFolders {
    s3: aws_sdk_s3::Client,
}

impl S3TrailFolders {
    /// Lists with `s3`.
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }
}

impl TrailFolders for S3TrailFolders {
    async fn folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        child_folders(&self.s3, bucket, prefix).await.map_err(|e| {
            store_error(FetchError::classify(
                bucket,
                prefix,
                S3Request::ListObjects { prefix },
                &e,
            ))
        })
    }
}
