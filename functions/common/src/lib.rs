//! AWS glue shared by the trailwatch functions and the CLI.
//!
//! Everything here touches the AWS SDK or the Lambda environment; CloudTrail knowledge lives in
//! `trailwatch_shared`, which has no SDK dependency.
#![forbid(unsafe_code)]

pub mod config;
pub mod failure;
pub mod intake;
pub mod key_source;
pub mod logging;
pub mod repeat_delivery;
pub mod runtime;
pub mod s3_list;
pub mod s3_read;
pub mod s3_store;
pub mod sdk;
pub mod security_hub;
pub mod sns;
pub mod state;
pub mod task_result;

pub use logging::init_tracing;
pub use sdk::{load_sdk_config, s3_client};
