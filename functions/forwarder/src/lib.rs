//! trailwatch forwarder: each CloudTrail log file delivered to S3 is read as a stream, its records
//! (those matching `FORWARD_PATTERN`) are sent to CloudWatch Logs with `PutLogEvents`.
#![forbid(unsafe_code)]

pub mod batch;
pub mod config;
pub mod handler;
pub mod pipeline;
pub mod sink;
pub mod stream_name;
pub mod task_summary;

pub use config::ForwarderConfig;
pub use handler::{Forwarder, ObjectOutcome};
