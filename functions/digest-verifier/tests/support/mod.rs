//! What the verifier's integration tests share: the recording alert sink, the configuration,
//! the trail bucket's names and EventBridge's "Object Deleted" event. Each test file uses part.
#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use digest_verifier::VerifierConfig;
use serde_json::{Value, json};
use trailwatch_lambda_common::sns::{AlertPublisher, PublishError};
use trailwatch_shared::alert::AlertMessage;

pub(crate) const BUCKET: &str = "trail-bucket";
pub(crate) const LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/02/123456789012_CloudTrail_us-east-1_20240102T0305Z_aaaaaaaaaaaaaaaa.json.gz";

/// Records every alert; fails every publish (a throttled, not refused, SNS call) while `fail`
/// is set.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) sent: Mutex<Vec<AlertMessage>>,
    pub(crate) fail: AtomicBool,
}

impl Recorder {
    /// A recorder whose publishes fail from the start when `fail`.
    pub(crate) fn failing(fail: bool) -> Self {
        Recorder {
            fail: AtomicBool::new(fail),
            ..Recorder::default()
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// Each alert's finding codes, in publish order.
    pub(crate) fn codes(&self) -> Vec<Option<String>> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.attributes.finding_codes.clone())
            .collect()
    }
}

impl AlertPublisher for Recorder {
    async fn publish(&self, alert: &AlertMessage) -> Result<String, PublishError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(PublishError {
                topic_arn: "t".into(),
                detail: "throttled".into(),
                refused: false,
            });
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(alert.clone());
        Ok(format!("msg-{}", sent.len()))
    }
}

/// The configuration of a deployed verifier, with the overwrite check on.
pub(crate) fn config() -> VerifierConfig {
    VerifierConfig {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
        alert_on_warn: false,
        max_concurrency: 4,
        public_keys_file: None,
        overwrite_check: true,
    }
}

/// EventBridge "Object Deleted" of `key` in `BUCKET`, as the S3 User Guide shows it
/// (ev-events.html), with the delete marker's version id `marker`.
pub(crate) fn object_deleted(key: &str, marker: &str) -> Value {
    json!({
        "version": "0", "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
        "detail-type": "Object Deleted", "source": "aws.s3", "account": "123456789012",
        "time": "2024-01-02T04:10:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{BUCKET}")],
        "detail": {"version": "0", "bucket": {"name": BUCKET},
                   "object": {"key": key, "etag": "d41d8cd98f00b204e9800998ecf8427e",
                              "version-id": marker, "sequencer": "617f0837b476e463"},
                   "request-id": "0BH729840619AG5K", "requester": "123456789012",
                   "source-ip-address": "1.2.3.4", "reason": "DeleteObject",
                   "deletion-type": "Delete Marker Created"}
    })
}
