//! The two kinds of message `trailwatch redrive` reads, and what each asks to redo.
//!
//! - A Lambda on-failure destination record (the functions' failure queues): a JSON document with
//!   the function ARN (`requestContext.functionArn`) and the original event (`requestPayload`).
//! - An EventBridge dead letter (the rules' shared dead-letter queue): the body is the event
//!   EventBridge could not deliver, unchanged, and EventBridge adds the SQS message attributes
//!   `RULE_ARN`, `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION` and
//!   `RETRY_ATTEMPTS` (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html>).
//!   The function to invoke is the target's ARN.
//!
//! A message is an EventBridge dead letter when it carries one of those attributes; without them
//! (a message copied by hand, or moved by a tool that dropped its attributes) a body shaped like an
//! EventBridge event is one too, but then only `--function` says which function to invoke.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

/// The attributes EventBridge sets on a dead-lettered message.
pub(super) const RULE_ARN: &str = "RULE_ARN";
pub(super) const TARGET_ARN: &str = "TARGET_ARN";
pub(super) const ERROR_CODE: &str = "ERROR_CODE";
pub(super) const ERROR_MESSAGE: &str = "ERROR_MESSAGE";
pub(super) const EXHAUSTED_RETRY_CONDITION: &str = "EXHAUSTED_RETRY_CONDITION";
pub(super) const RETRY_ATTEMPTS: &str = "RETRY_ATTEMPTS";

/// What EventBridge says about a dead-lettered event. Every field is optional: the attributes are
/// reported as found, and a missing one is shown as missing rather than guessed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(super) struct DeadLetter {
    pub rule_arn: Option<String>,
    pub target_arn: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exhausted_retry_condition: Option<String>,
    pub retry_attempts: Option<String>,
}

impl DeadLetter {
    /// The EventBridge attributes of a message; `None` when it carries none of them.
    pub(super) fn from_attributes(attributes: &BTreeMap<String, String>) -> Option<Self> {
        let get = |name: &str| attributes.get(name).cloned();
        let dead_letter = DeadLetter {
            rule_arn: get(RULE_ARN),
            target_arn: get(TARGET_ARN),
            error_code: get(ERROR_CODE),
            error_message: get(ERROR_MESSAGE),
            exhausted_retry_condition: get(EXHAUSTED_RETRY_CONDITION),
            retry_attempts: get(RETRY_ATTEMPTS),
        };
        (dead_letter != DeadLetter::default()).then_some(dead_letter)
    }

    /// Why delivery failed, in one line: `EventBridge ERROR_FROM_TARGET: … (MaximumRetryAttempts,
    /// 185 retries)`.
    pub(super) fn reason(&self) -> String {
        let mut text = format!(
            "EventBridge {}",
            self.error_code.as_deref().unwrap_or("(no ERROR_CODE)")
        );
        if let Some(message) = &self.error_message {
            text.push_str(&format!(": {message}"));
        }
        match (&self.exhausted_retry_condition, &self.retry_attempts) {
            (Some(c), Some(n)) => text.push_str(&format!(" ({c}, {n} retries)")),
            (Some(c), None) => text.push_str(&format!(" ({c})")),
            (None, Some(n)) => text.push_str(&format!(" ({n} retries)")),
            (None, None) => {}
        }
        text
    }
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Origin {
    /// A Lambda on-failure destination record, with its `requestContext.condition`.
    OnFailure { condition: Option<String> },
    /// An EventBridge rule's dead-letter queue.
    EventRule(DeadLetter),
}

/// What one queue message asks to redo.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FailedInvocation {
    /// The function recorded in the message; `None` for a dead letter without a Lambda
    /// `TARGET_ARN` (then only `--function` names one).
    pub function_arn: Option<String>,
    pub payload: Value,
    pub origin: Origin,
}

impl FailedInvocation {
    /// Why the event is in the queue, for the per-message lines.
    pub(super) fn condition(&self) -> String {
        match &self.origin {
            Origin::OnFailure { condition } => condition.as_deref().unwrap_or("failed").to_owned(),
            Origin::EventRule(dead_letter) => dead_letter.reason(),
        }
    }

    /// The function to invoke: `--function`, else the one the message names.
    pub(super) fn function(&self, chosen: Option<&str>) -> anyhow::Result<String> {
        if let Some(function) = chosen {
            return Ok(function.to_owned());
        }
        if let Some(function) = &self.function_arn {
            return Ok(function.clone());
        }
        match &self.origin {
            Origin::EventRule(DeadLetter {
                target_arn: Some(target),
                ..
            }) => bail!("TARGET_ARN {target} is not a Lambda function; pass --function"),
            _ => bail!(
                "EventBridge dead letter without a TARGET_ARN attribute: pass --function to say \
                 which function to invoke"
            ),
        }
    }
}

/// Reads a message of either kind; `attributes` are its SQS message attributes (string values).
pub(super) fn parse_message(
    body: &str,
    attributes: &BTreeMap<String, String>,
) -> anyhow::Result<FailedInvocation> {
    if let Some(dead_letter) = DeadLetter::from_attributes(attributes) {
        return parse_dead_letter(body, dead_letter);
    }
    let v: Value = serde_json::from_str(body).context(
        "message body is not JSON (and no EventBridge attributes): neither a Lambda on-failure \
         record nor an EventBridge dead letter",
    )?;
    if v.get("requestContext").is_some() {
        return failure_record(&v);
    }
    if looks_like_eventbridge_event(&v) {
        return Ok(FailedInvocation {
            function_arn: None,
            payload: v,
            origin: Origin::EventRule(DeadLetter::default()),
        });
    }
    bail!(
        "neither a Lambda on-failure record (requestContext.functionArn, requestPayload) nor an \
         EventBridge dead letter (TARGET_ARN attribute, or an EventBridge event as body)"
    )
}

/// Reads an on-failure destination record.
fn failure_record(v: &Value) -> anyhow::Result<FailedInvocation> {
    let function_arn = v["requestContext"]["functionArn"]
        .as_str()
        .context("no requestContext.functionArn: not a Lambda on-failure record")?
        .to_owned();
    let payload = v
        .get("requestPayload")
        .cloned()
        .context("no requestPayload")?;
    let condition = v["requestContext"]["condition"].as_str().map(str::to_owned);
    Ok(FailedInvocation {
        function_arn: Some(function_arn),
        payload,
        origin: Origin::OnFailure { condition },
    })
}

/// The body is what EventBridge tried to deliver, so it is redriven as it is; it only has to be
/// JSON, since Lambda takes nothing else as a payload.
fn parse_dead_letter(body: &str, dead_letter: DeadLetter) -> anyhow::Result<FailedInvocation> {
    let payload: Value = serde_json::from_str(body)
        .with_context(|| format!("{}, but the body is not JSON", dead_letter.reason()))?;
    let function_arn = dead_letter
        .target_arn
        .clone()
        .filter(|arn| is_lambda_function_arn(arn));
    Ok(FailedInvocation {
        function_arn,
        payload,
        origin: Origin::EventRule(dead_letter),
    })
}

/// The envelope of every EventBridge event (`source`, `detail-type`, `detail`).
pub(super) fn looks_like_eventbridge_event(v: &Value) -> bool {
    v["source"].is_string() && v["detail-type"].is_string() && v["detail"].is_object()
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`: a rule's target can be
/// another service, which `lambda:Invoke` cannot redrive.
pub(super) fn is_lambda_function_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() >= 7
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty()
}

/// What stays in the queue for a message's expired objects once the others are redriven:
/// `payload` (naming only them) in an on-failure record for `function`, marked with the message
/// it came from. A dead letter becomes such a record too, because a message sent back carries no
/// EventBridge attributes and the record keeps the function to invoke in its body.
pub(super) fn remainder_record(
    body: &str,
    record: &FailedInvocation,
    function: &str,
    payload: Value,
    from_message: &str,
) -> anyhow::Result<String> {
    let mut v = match &record.origin {
        Origin::OnFailure { .. } => {
            serde_json::from_str(body).context("message body is not JSON")?
        }
        Origin::EventRule(dead_letter) => json!({
            "requestContext": { "functionArn": function, "condition": dead_letter.reason() },
        }),
    };
    let Some(object) = v.as_object_mut() else {
        bail!("message body is not a JSON object");
    };
    object.insert("requestPayload".into(), payload);
    object.insert(
        "trailwatchRedrive".into(),
        json!({ "expiredRemainderOf": from_message }),
    );
    Ok(v.to_string())
}

#[cfg(test)]
mod tests;
