//! trailwatch digest-verifier: each new CloudTrail digest file is verified strictly (signature,
//! algorithm, key, every listed log, link to the previous digest) and any error raises one SNS
//! alert; each deleted CloudTrail log, digest or Insights file raises one CRITICAL alert, and so
//! does each one written over an earlier version.
//!
//! A composition root: verification is `trailwatch_shared::digest`, the alert document
//! `trailwatch_shared::alert::digest`, and the S3 store, key source and SNS publisher are
//! `trailwatch_lambda_common` (where `trailwatch verify` uses them too). Each alert goes out
//! once whatever the deliveries and retries: [`alert_ids`] names the units of work and alerts the
//! state table records.
#![forbid(unsafe_code)]

pub mod alert_ids;
pub mod config;
pub mod deletion;
pub mod handler;
pub mod overwrite;
pub mod range_check;
pub mod s3_folders;
pub mod task_summary;

pub use config::VerifierConfig;
pub use deletion::DeletionOutcome;
pub use handler::{DigestVerifier, HandlerError, ObjectError, ObjectOutcome};
pub use overwrite::OverwriteOutcome;
