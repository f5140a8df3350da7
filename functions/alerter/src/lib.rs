//! trailwatch alerter: CloudTrail log files in S3 -> filter-pattern rules -> SNS alerts.
//!
//! A composition root: the rules, the scan and every alert it raises are built in
//! `trailwatch_shared` (`rules::config`, `alert`), so that `trailwatch scan` prints exactly what
//! the function sends; publishing is `trailwatch_lambda_common::sns`. What is left here:
//! - [`config`] / [`rules_source`]: the environment and the custom-rules object, read at cold start.
//! - [`handler`]: the Lambda handler (claim, fetch, scan, publish once, metrics, failure
//!   semantics); [`alert_ids`]: the stable id of each alert, what the state table records.
//! - [`window`]: rules with a `period`: matches added to window counters across files, one
//!   alert per window that reaches its threshold.
#![forbid(unsafe_code)]

pub mod alert_ids;
pub mod config;
pub mod handler;
pub mod rules_source;
pub mod task_summary;
pub mod window;
