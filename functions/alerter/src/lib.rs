//! trailwatch alerter: CloudTrail log files in S3 -> filter-pattern rules -> SNS alerts.
//!
//! - [`config`] / [`rules_config`] / [`rules_source`]: environment and rules, checked at cold start.
//! - [`scan`]: the rules over one log file (blocking, bounded memory) and the alerts it raises.
//! - [`insights`]: one alert per starting CloudTrail Insights insight.
//! - [`rule_alert`], [`subject`], [`message`], [`event_summary`], [`ascii`]: pure message building
//!   (subject, e-mail text, machine-readable JSON, SNS size bounds).
//! - [`handler`] / [`publish`]: the Lambda handler and SNS publishing.
//!
//! The pure parts are public so that `trailwatch scan` prints exactly the alerts the function
//! would send.
#![forbid(unsafe_code)]

pub mod ascii;
pub mod config;
pub mod event_summary;
pub mod handler;
pub mod insights;
pub mod message;
pub mod publish;
pub mod rule_alert;
pub mod rules_config;
pub mod rules_source;
pub mod scan;
pub mod subject;
