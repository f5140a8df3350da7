//! The alert document: what trailwatch sends to SNS for a rule match, a starting CloudTrail
//! Insights insight, a digest verdict or a deleted CloudTrail file, built once here and used by
//! both functions and the `trailwatch` CLI (so `trailwatch scan` prints byte for byte what the
//! alerter publishes).
//!
//! One alert is an [`AlertMessage`]: a subject (printable ASCII, at most 99 characters, no line
//! breaks — SNS rejects anything else; [`clean_subject`] is the one cleaner), the e-mail text, a
//! machine-readable JSON body carrying `"schema": 1` ([`SCHEMA_VERSION`]), and the SNS message
//! attributes subscribers filter on. Sending it is AWS glue and lives in `functions/common`.
//!
//! - [`message`]: the document, its SNS envelope and the 256 KiB size budget.
//! - [`subject`] / [`ascii`]: the subject line.
//! - [`event_summary`]: the triage fields of one CloudTrail record.
//! - [`rule_alert`] / [`scan`]: rules over one log file and the alerts they raise.
//! - [`window_alert`]: rules with a `period`, counted over windows across files, and their alert.
//! - [`insights`]: one alert per starting Insights insight.
//! - [`digest`]: the alert for a digest that failed (or warned) verification.
//! - [`deletion`]: the alert for a CloudTrail log, digest or Insights file deleted from the bucket.
//! - [`overwrite`]: the alert for a CloudTrail log, digest or Insights file written over.
//! - [`asff`]: any alert as a Security Hub finding (ASFF), with a stable id per alert identity.

pub mod ascii;
pub mod asff;
pub mod deletion;
pub mod digest;
pub mod event_summary;
pub mod insights;
pub mod message;
pub mod overwrite;
pub mod rule_alert;
pub mod scan;
pub mod subject;
pub mod window_alert;

pub use message::{AlertAttributes, AlertKind, AlertMessage, SCHEMA_VERSION};
pub use subject::clean_subject;
