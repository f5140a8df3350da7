//! Deletions reported by S3 (EventBridge `Object Deleted`, S3 `ObjectRemoved:*`): a deleted
//! CloudTrail log, digest or Insights file raises one CRITICAL alert
//! (`trailwatch_shared::alert::deletion`); any other deleted key is logged and counted.
//! A failed publish fails the deletion, so Lambda retries it. The alert goes out once per
//! deletion event (unit `del:…`, [`crate::alert_ids::deletion_work`]): the same notice delivered
//! again, or retried after the publish, is skipped and counted (`DeletionsAlreadyAlerted`).

use trailwatch_lambda_common::sns::AlertPublisher;
use trailwatch_lambda_common::state::StateStore;
use trailwatch_shared::alert::deletion::{self as alert, LostObject};
use trailwatch_shared::digest::{DigestStore, PublicKeySource};
use trailwatch_shared::layout::{ObjectKind, classify};
use trailwatch_shared::metrics::MetricLine;
use trailwatch_shared::trigger::DeletionNotice;

use crate::alert_ids::{DELETED, deletion_work};
use crate::handler::{DigestVerifier, FUNCTION, METRIC_NAMESPACE, ObjectError};

/// What happened to one deletion notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionOutcome {
    /// A CloudTrail file was deleted: the alert was published.
    Alerted {
        /// What the key held.
        lost: LostObject,
        /// The SNS message id.
        message_id: String,
    },
    /// A repeated delivery (or retry) of a deletion already alerted: not alerted again.
    AlreadyAlerted {
        /// What the key held.
        lost: LostObject,
    },
    /// Not a CloudTrail log, digest or Insights file: logged and counted only.
    Counted {
        /// Why the key is not one of ours (the layout's skip reason).
        reason: String,
    },
}

impl<S: DigestStore, K: PublicKeySource, A: AlertPublisher, T: StateStore>
    DigestVerifier<S, K, A, T>
{
    /// Alerts on the deletion of a CloudTrail file; counts any other deletion.
    pub async fn process_deletion(
        &self,
        notice: &DeletionNotice,
    ) -> Result<DeletionOutcome, ObjectError> {
        let uri = format!("s3://{}/{}", notice.bucket, notice.key);
        let Some(lost) = alert::lost_object(&notice.key) else {
            let reason = match classify(&notice.key) {
                ObjectKind::Other(r) => r.as_str().to_owned(),
                _ => "not a CloudTrail file".to_owned(),
            };
            tracing::info!(object = %uri, %reason,
                deletion_type = notice.deletion_type.as_str(),
                "deletion of an object that is not a CloudTrail file: counted, not alerted");
            MetricLine::new(METRIC_NAMESPACE)
                .dimension("Function", FUNCTION)
                .count("DeletionsIgnored", 1)
                .property("object", uri)
                .property("skipReason", reason.clone())
                .emit();
            return Ok(DeletionOutcome::Counted { reason });
        };
        let alert = alert::build(notice, &lost);
        let message_id = match deletion_work(notice) {
            None => {
                tracing::warn!(object = %uri,
                    "deletion notice names no version, sequencer or request: published without a record, a repeat would alert again");
                self.alerts.publish(&alert).await?
            }
            Some(work) => {
                let unit = format!("the deletion of {uri}");
                match self.publish_once(work, DELETED, &alert, &unit).await? {
                    Some(message_id) => message_id,
                    None => return Ok(already_alerted(&uri, lost)),
                }
            }
        };
        tracing::warn!(
            object = %uri, lost = lost.kind.as_str(), version = %alert::version_text(notice),
            deletion_type = notice.deletion_type.as_str(),
            requester = notice.requester.as_deref().unwrap_or("-"),
            source_ip = notice.source_ip.as_deref().unwrap_or("-"),
            %message_id, "CloudTrail file deleted: alert published"
        );
        MetricLine::new(METRIC_NAMESPACE)
            .dimension("Function", FUNCTION)
            .count("DeletionsAlerted", 1)
            .count("AlertsPublished", 1)
            .property("object", uri)
            .property("lost", lost.kind.code())
            .property("deletionType", notice.deletion_type.as_str().to_owned())
            .emit();
        Ok(DeletionOutcome::Alerted { lost, message_id })
    }
}

fn already_alerted(uri: &str, lost: LostObject) -> DeletionOutcome {
    tracing::info!(object = %uri, "deletion already alerted (a repeated delivery): not alerted again");
    MetricLine::new(METRIC_NAMESPACE)
        .dimension("Function", FUNCTION)
        .count("DeletionsAlreadyAlerted", 1)
        .property("object", uri)
        .emit();
    DeletionOutcome::AlreadyAlerted { lost }
}
