//! CloudTrail knowledge shared by the trailwatch functions and the `trailwatch` CLI.
//!
//! The crate has no AWS SDK dependency: the functions are composition roots that fetch bytes
//! from S3 and hand them here, so everything in this crate is tested without AWS.
//!
//! - [`trigger`]: every shape in which an S3 object reaches a function, decoded to [`trigger::ObjectRef`]s.
//! - [`layout`]: what an S3 key is (log file, digest, Insights file, other) and what it says.
//! - [`records`]: streaming gunzip + split of `{"Records":[…]}` into raw records.
//! - [`pattern`]: the CloudWatch Logs filter-pattern language, compiled once, evaluated per record.
//! - [`rules`]: alert rules, the built-in CIS / Security Hub rule sets, and the rules in force
//!   (built-in sets plus custom rules, [`rules::config`]).
//! - [`alert`]: the alert document (rule matches, Insights, digest verdicts) for SNS.
//! - [`digest`]: CloudTrail digest verification (signature, log hashes, chain).
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.
#![forbid(unsafe_code)]
// The crate is the project's shared vocabulary: every public item says what it means.
#![warn(missing_docs)]

pub mod alert;
pub mod digest;
mod json_blocks;
pub mod layout;
pub mod metrics;
pub mod pattern;
pub mod records;
pub mod rules;
pub mod trigger;
