//! Overwrites reported by S3 (EventBridge `Object Created`, S3 `ObjectCreated:*`) of a CloudTrail
//! log, digest or Insights key: CloudTrail never writes a key twice, so a key that already had
//! another version (an older one, or a delete marker) was written over. That raises one CRITICAL
//! alert (`trailwatch_shared::alert::overwrite`). The check lists the key's versions
//! (ListObjectVersions, `s3:ListBucketVersions`); without a version id in the event (unversioned
//! bucket) no check is possible, and the skip is counted. A refused listing is a
//! `trailwatch.PermissionDenied` error; a failed publish fails the object, so Lambda retries it.
//! The alert goes out once per overwriting version (unit `ow:v:…`,
//! [`crate::alert_ids::overwrite_work`]): a repeated delivery is skipped and counted
//! (`OverwritesAlreadyAlerted`).

use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_lambda_common::state::StateStore;
use trailwatch_shared::alert::deletion::{LostObject, lost_object};
use trailwatch_shared::alert::overwrite as alert;
use trailwatch_shared::digest::{DigestStore, PublicKeySource, VerifyError};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::trigger::ObjectRef;

use crate::alert_ids::{OVERWRITTEN, overwrite_work};
use crate::handler::{DigestVerifier, FUNCTION, METRIC_NAMESPACE, ObjectError};

/// What the overwrite check found for one created object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverwriteOutcome {
    /// Not a CloudTrail log, digest or Insights file: no check.
    NotCloudTrail,
    /// The event carries no version id (unversioned bucket), or `OVERWRITE_CHECK` is false: no
    /// check; counted (`OverwriteCheckSkipped`).
    Skipped,
    /// A repeated delivery of an overwrite already alerted: not alerted again.
    AlreadyAlerted {
        /// What the key holds.
        affected: LostObject,
    },
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

impl<S: DigestStore, K: PublicKeySource, A: AlertPublisher, T: StateStore>
    DigestVerifier<S, K, A, T>
{
    /// Alerts when a created CloudTrail file's key already had another version.
    pub async fn check_overwrite(
        &self,
        object: &ObjectRef,
    ) -> Result<OverwriteOutcome, ObjectError> {
        let Some(affected) = lost_object(&object.key) else {
            return Ok(OverwriteOutcome::NotCloudTrail);
        };
        let uri = format!("s3://{}/{}", object.bucket, object.key);
        let checked_version = match (object.version_id.as_deref(), self.config.overwrite_check) {
            (None, _) => Err("no version id in the event (unversioned bucket)"),
            (Some(_), false) => Err("OVERWRITE_CHECK is false"),
            (Some(v), true) => Ok(v),
        };
        let version_id = match checked_version {
            Ok(v) => v,
            Err(reason) => {
                tracing::info!(object = %uri, %reason, "overwrite check skipped");
                MetricLine::new(METRIC_NAMESPACE)
                    .dimension("Function", FUNCTION)
                    .count("OverwriteCheckSkipped", 1)
                    .property("object", uri)
                    .property("skipReason", reason.to_owned())
                    .emit();
                return Ok(OverwriteOutcome::Skipped);
            }
        };
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
        let alert = alert::build(object, &earlier, &affected);
        let work = overwrite_work(object, version_id);
        let unit = format!("the overwrite check of {uri}");
        let Some(message_id) = self.publish_once(work, OVERWRITTEN, &alert, &unit).await? else {
            tracing::info!(object = %uri, "overwrite already alerted (a repeated delivery): not alerted again");
            MetricLine::new(METRIC_NAMESPACE)
                .dimension("Function", FUNCTION)
                .count("OverwritesAlreadyAlerted", 1)
                .property("object", uri)
                .emit();
            return Ok(OverwriteOutcome::AlreadyAlerted { affected });
        };
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
