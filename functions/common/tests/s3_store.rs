//! The S3 store's reading of a refused GetObject. Real S3 answers a GetObject of a missing key
//! with 403 unless the role may list the whole bucket, and the template lets the verifier list
//! only under `AWSLogs/` (an `s3:prefix` condition). The store lists exactly that key to tell a
//! deleted log (a finding) from a refused read (an error). moto cannot produce this sequence
//! under IAM enforcement (its SigV4 check rejects the SDK's encoded `prefix`), so the SDK's own
//! mocks play S3 here.

use aws_sdk_s3::error::ErrorMetadata;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::list_objects_v2::{ListObjectsV2Error, ListObjectsV2Output};
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use trailwatch_lambda_common::s3_store::S3DigestStore;
use trailwatch_shared::digest::{DigestStore, StoreError};

const BUCKET: &str = "trail";
const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/14/111122223333_CloudTrail_us-east-1_20260314T0921Z_a.json.gz";

fn refused<E>(make: fn(ErrorMetadata) -> E) -> E {
    make(
        ErrorMetadata::builder()
            .code("AccessDenied")
            .message("Access Denied")
            .build(),
    )
}

/// A store whose GetObject of `KEY` is refused and whose listing of `KEY` answers `listing`.
fn store(listing: Result<Vec<&'static str>, ()>) -> S3DigestStore {
    let get = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some(KEY))
        .then_error(|| refused(GetObjectError::generic));
    let list = match listing {
        Ok(keys) => mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| r.bucket() == Some(BUCKET) && r.prefix() == Some(KEY))
            .then_output(move || {
                ListObjectsV2Output::builder()
                    .set_contents(Some(
                        keys.iter()
                            .map(|k| Object::builder().key(*k).build())
                            .collect(),
                    ))
                    .build()
            }),
        Err(()) => mock!(aws_sdk_s3::Client::list_objects_v2)
            .then_error(|| refused(ListObjectsV2Error::generic)),
    };
    S3DigestStore::new(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get, &list]))
}

async fn read(store: &S3DigestStore) -> Result<(), StoreError> {
    store.get_object(BUCKET, KEY, None).await.map(|_| ())?;
    store.read_object(BUCKET, KEY, |_| ()).await
}

#[tokio::test]
async fn a_refused_read_of_a_key_the_listing_does_not_show_is_missing() {
    let store = store(Ok(vec![]));
    assert_eq!(
        store.get_object(BUCKET, KEY, None).await.err(),
        Some(StoreError::NotFound)
    );
    assert_eq!(
        store.read_object(BUCKET, KEY, |_| ()).await.err(),
        Some(StoreError::NotFound)
    );
}

#[tokio::test]
async fn a_key_that_only_shares_the_prefix_does_not_make_the_object_exist() {
    // Listing by prefix also returns longer keys: only an exact match means "there".
    let longer: &'static str = Box::leak(format!("{KEY}.bak").into_boxed_str());
    let store = store(Ok(vec![longer]));
    assert_eq!(read(&store).await.err(), Some(StoreError::NotFound));
}

#[tokio::test]
async fn a_refused_read_of_a_listed_key_stays_refused() {
    let store = store(Ok(vec![KEY]));
    match read(&store).await {
        Err(StoreError::AccessDenied(message)) => assert!(
            message.contains(&format!(
                "permission denied: s3:GetObject on s3://{BUCKET}/{KEY}"
            )),
            "{message}"
        ),
        other => panic!("expected AccessDenied, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_listing_leaves_the_read_refused_never_missing() {
    let store = store(Err(()));
    assert!(
        matches!(read(&store).await, Err(StoreError::AccessDenied(_))),
        "a read that cannot be confirmed as missing is an error, not a finding"
    );
}

fn answering(code: &'static str, status: u16) -> S3DigestStore {
    let get = mock!(aws_sdk_s3::Client::get_object).then_http_response(move || {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            aws_smithy_types::body::SdkBody::from(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>refused</Message></Error>"
            )),
        )
    });
    S3DigestStore::new(mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]))
}

#[tokio::test]
async fn an_archived_or_customer_key_object_is_unreadable_not_denied_nor_transient() {
    for (code, status) in [("InvalidObjectState", 403), ("InvalidRequest", 400)] {
        let store = answering(code, status);
        match store.read_object(BUCKET, KEY, |_| ()).await {
            Err(StoreError::Unreadable(why)) => assert!(why.contains(code), "{why}"),
            other => panic!("{code}: {other:?}"),
        }
    }
    // Negative controls: a 503 stays transient, a plain 403 AccessDenied stays a refusal.
    assert!(matches!(
        answering("SlowDown", 503)
            .read_object(BUCKET, KEY, |_| ())
            .await,
        Err(StoreError::Infrastructure(_))
    ));
}

#[tokio::test]
async fn the_digest_is_read_at_the_version_the_event_names() {
    let body = |bytes: &'static [u8]| {
        move || {
            aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
                .body(aws_sdk_s3::primitives::ByteStream::from_static(bytes))
                .build()
        }
    };
    let named = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.version_id() == Some("v-123"))
        .then_output(body(b"signed by CloudTrail"));
    let current = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.version_id().is_none())
        .then_output(body(b"overwritten"));
    let store = S3DigestStore::new(mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&named, &current]
    ));
    let object = store.get_object(BUCKET, KEY, Some("v-123")).await.unwrap();
    assert_eq!(object.bytes, b"signed by CloudTrail");
    // Negative control: without the version, the current (overwritten) object is read.
    let object = store.get_object(BUCKET, KEY, None).await.unwrap();
    assert_eq!(object.bytes, b"overwritten");
}
