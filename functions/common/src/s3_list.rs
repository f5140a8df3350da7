//! ListObjectsV2 walks over every page, shared by the functions and the CLI. S3 authorizes both
//! as `s3:ListBucket` with `s3:prefix` = the prefix. Errors are the SDK's: each caller classifies
//! them for its own retry or report.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// A refused or failed ListObjectsV2 page.
pub type ListError = SdkError<ListObjectsV2Error, HttpResponse>;

/// The names one level below `prefix` (`Delimiter: /`, common prefixes): the accounts under
/// `AWSLogs/`, the regions under `CloudTrail/`; the objects in them are not listed.
pub async fn child_folders(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, ListError> {
    let mut names = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        names.extend(page?.common_prefixes().iter().filter_map(|p| {
            p.prefix()
                .and_then(|full| full.strip_prefix(prefix))
                .map(|name| name.trim_end_matches('/').to_owned())
                .filter(|name| !name.is_empty())
        }));
    }
    Ok(names)
}

/// Every key under `prefix`, in listing order.
pub async fn keys_under(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, ListError> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page?
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}
