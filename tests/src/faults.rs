//! A fault-injecting HTTP proxy in front of `moto_server`: the function binaries get the proxy as
//! their AWS endpoint while the test's own SDK clients talk to moto directly, so a test can make
//! one chosen call of one service fail the way AWS fails (throttling, 5xx, a reset connection, a
//! stalled answer, an answer lost after the work was done, a body cut half-way) and then check
//! what the function made of it.
//!
//! Every request is identified as (service, operation) — S3 from the SigV4 credential scope and
//! its method, path and query; JSON protocols from `X-Amz-Target`; query protocols (SNS) from the
//! form body's `Action` — and recorded with the fault it got, if any. Rules say which occurrences
//! of which call get which fault; the rest is forwarded unchanged, response bodies streamed.

mod classify;
mod proxy;
mod render;
mod rules;

pub use classify::{Call, Protocol, identify};
pub use proxy::FaultProxy;
pub use rules::{Fault, Occurrence, Rule};

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Order of arrival, from 0.
    pub seq: u64,
    pub call: Call,
    /// The request path (S3: `/bucket/key`), for assertions about which object was read.
    pub path: String,
    /// The fault injected into this exchange; `None` when it was forwarded untouched.
    pub fault: Option<Fault>,
    /// The request body of JSON and query calls (a PutLogEvents batch, a Publish), kept so a
    /// test can tell which events or alerts an exchange carried; `None` for S3.
    pub body: Option<bytes::Bytes>,
}

/// A canned answer the proxy gives itself for a call moto does not implement (CloudTrail's
/// `ListPublicKeys`): faults apply to it like to any forwarded call.
#[derive(Debug, Clone)]
pub struct Stub {
    pub service: String,
    pub operation: String,
    pub content_type: String,
    pub body: String,
}
