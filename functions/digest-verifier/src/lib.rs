//! trailwatch digest-verifier: each new CloudTrail digest file is verified strictly (signature,
//! algorithm, key, every listed log, link to the previous digest) and any error raises one SNS
//! alert. The S3 store and key sources are public so the `trailwatch verify` CLI reuses them.
#![forbid(unsafe_code)]

pub mod alert;
pub mod config;
pub mod handler;
pub mod key_source;
pub mod s3_store;

pub use config::VerifierConfig;
pub use handler::{
    AlertSink, DigestVerifier, HandlerError, ObjectError, ObjectOutcome, SnsAlertSink,
};
pub use key_source::{CloudTrailKeySource, KeySource};
pub use s3_store::S3DigestStore;
