//! Overwrites reported by S3 (EventBridge `Object Created`, S3 `ObjectCreated:*`) of a CloudTrail
//! log, digest or Insights key: CloudTrail never writes a key twice, so a key that already had
//! another version (an older one, or a delete marker) was written over. That raises one CRITICAL
//! alert (`trailwatch_shared::alert::overwrite`). The check lists the key's versions
//! (ListObjectVersions, `s3:ListBucketVersions`); without a version id in the event (unversioned
//! bucket) no check is possible, and the skip is counted. A refused listing is a
//! `trailwatch.PermissionDenied` error; a failed publish fails the object, so Lambda retries it.

use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_shared::alert::deletion::{LostObject, lost_object};
use trailwatch_shared::alert::overwrite as alert;
use trailwatch_shared::digest::{DigestStore, PublicKeySource, VerifyError};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::trigger::ObjectRef;

use crate::handler::{DigestVerifier, FUNCTION, METRIC_NAMESPACE, ObjectError};

/// What the overwrite check found for one created object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverwriteOutcome {
    /// Not a CloudTrail log, digest or Insights file: no check.
    NotCloudTrail,
    /// The event carries no version id (unversioned bucket), or `OVERWRITE_CHECK` is false: no
    /// check; counted (`OverwriteCheckSkipped`).
    Skipped,
    /// The event's version is the only one: a first write.
    FirstWrite,
    /// Another version existed: the alert was published.
    Alerted {
        /// What the key holds.
        affected: LostObject,
        /// How many other versions (or delete markers) the listing showed.
        earlier: usize,
        /// The SNS message id.
        message_id: String,
    },
}

impl<S: DigestStore, K: PublicKeySource, A: AlertPublisher> DigestVerifier<S, K, A> {
    /// Alerts when a created CloudTrail file's key already had another version.
    pub async fn check_overwrite(
        &self,
        object: &ObjectRef,
    ) -> Result<OverwriteOutcome, ObjectError> {
        let Some(affected) = lost_object(&object.key) else {
            return Ok(OverwriteOutcome::NotCloudTrail);
        };
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        let skip_reason = if object.version_id.is_none() {
            Some("no version id in the event (unversioned bucket)")
        } else if !self.config.overwrite_check {
            Some("OVERWRITE_CHECK is false")
        } else {
            None
        };
        if let Some(reason) = skip_reason {
            tracing::info!(object = %uri, %reason, "overwrite check skipped");
            MetricLine::new(METRIC_NAMESPACE)
                .dimension("Function", FUNCTION)
                .count("OverwriteCheckSkipped", 1)
                .property("object", uri)
                .property("skipReason", reason.to_owned())
                .emit();
            return Ok(OverwriteOutcome::Skipped);
        }
        let versions = self
            .store
            .list_versions(&object.bucket, &object.key)
            .await
            .map_err(|e| VerifyError::from_store(e, uri.clone()))?;
        let earlier = alert::earlier_versions(object, &versions);
        if earlier.is_empty() {
            tracing::debug!(object = %uri, "first write of a CloudTrail file");
            return Ok(OverwriteOutcome::FirstWrite);
        }
        let message_id = self
            .alerts
            .publish(&alert::build(object, &earlier, &affected))
            .await?;
        tracing::warn!(
            object = %uri, kind = affected.kind.as_str(),
            version = object.version_id.as_deref().unwrap_or("-"), earlier = earlier.len(),
            requester = object.requester.as_deref().unwrap_or("-"),
            source_ip = object.source_ip.as_deref().unwrap_or("-"),
            %message_id, "CloudTrail file overwritten: alert published"
        );
        MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", FUNCTION)
            .count("OverwritesAlerted", 1)
            .count("AlertsPublished", 1)
            .property("object", uri)
            .property("affected", affected.kind.code())
            .emit();
        Ok(OverwriteOutcome::Alerted {
            affected,
            earlier: earlier.len(),
            message_id,
        })
    }
}
