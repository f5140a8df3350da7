//! trailwatch alerter: CloudTrail log files in S3 -> filter-pattern rules -> SNS alerts.
//!
//! The pure parts (subject, e-mail text, machine-readable JSON, SNS size bounds) are public so
//! that `trailwatch scan` prints exactly the alerts the function would send.
#![forbid(unsafe_code)]

pub mod ascii;
pub mod event_summary;
pub mod message;
pub mod rule_alert;
pub mod subject;
