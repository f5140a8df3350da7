//! Error answers in each protocol's own shape, so the SDK sees the error code AWS would send
//! (and classifies it for retry exactly as it would in AWS).

use super::classify::{Call, Protocol};
use super::rules::Fault;

/// An error answer: status, headers, body.
pub(crate) struct ErrorAnswer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The answer for a fault that answers (`Throttle`, `ServerError`); `None` for the others.
pub(crate) fn error_answer(call: &Call, fault: Fault) -> Option<ErrorAnswer> {
    let (status, code, message) = match (fault, call.protocol, call.service.as_str()) {
        (Fault::Throttle, Protocol::S3, _) => (503, "SlowDown", "Please reduce your request rate."),
        (Fault::ServerError, Protocol::S3, _) => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        (Fault::Throttle, _, "dynamodb") => (
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        (Fault::Throttle, Protocol::Query, _) => (400, "Throttling", "Rate exceeded"),
        (Fault::Throttle, _, _) => (400, "ThrottlingException", "Rate exceeded"),
        (Fault::ServerError, _, _) => (503, "ServiceUnavailable", "Service unavailable"),
        _ => return None,
    };
    let request_id = "fault-injected-0000";
    Some(match call.protocol {
        Protocol::S3 => ErrorAnswer {
            status,
            headers: vec![
                ("content-type", "application/xml".into()),
                ("x-amz-request-id", request_id.into()),
            ],
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            ),
        },
        Protocol::Query => ErrorAnswer {
            status,
            headers: vec![
                ("content-type", "text/xml".into()),
                ("x-amzn-requestid", request_id.into()),
            ],
            body: format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>{request_id}</RequestId>\
                 </ErrorResponse>",
                if status < 500 { "Sender" } else { "Receiver" }
            ),
        },
        Protocol::Json | Protocol::Unknown => ErrorAnswer {
            status,
            headers: vec![
                ("content-type", "application/x-amz-json-1.1".into()),
                ("x-amzn-errortype", code.into()),
                ("x-amzn-requestid", request_id.into()),
            ],
            body: format!(
                "{{\"__type\":\"{}\",\"message\":\"{message}\"}}",
                if call.service == "dynamodb" {
                    format!("com.amazonaws.dynamodb.v20120810#{code}")
                } else {
                    code.to_owned()
                }
            ),
        },
    })
}
