//! The sink's retry policy (see `sink.rs`): it adds attempts of its own only for answers that
//! say nothing was stored (throttling), never for an answer that leaves the outcome open (5xx),
//! which would multiply a batch the service may already hold. CloudWatch Logs is played by the
//! SDK's mocks with the SDK's own retries off, so every call counted is one of the sink's.

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::operation::create_log_stream::CreateLogStreamOutput;
use aws_sdk_cloudwatchlogs::operation::put_log_events::PutLogEventsOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use forwarder::batch::LogEvent;
use forwarder::sink::{CloudWatchSink, LogSink};

fn json_error(code: &str) -> String {
    format!(r#"{{"__type":"{code}","message":"injected by the test"}}"#)
}

fn sink(put: &Rule) -> CloudWatchSink {
    let create =
        mock!(Client::create_log_stream).then_output(|| CreateLogStreamOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::MatchAny,
        [&create, put],
        |c| c.retry_config(RetryConfig::disabled())
    );
    CloudWatchSink::new(client, "group".into())
}

fn batch() -> Vec<LogEvent> {
    vec![LogEvent {
        timestamp_ms: 1,
        message: "{}".into(),
    }]
}

#[tokio::test]
async fn throttling_is_sent_again_by_the_sink() {
    let put = mock!(Client::put_log_events)
        .sequence()
        .http_status(400, Some(json_error("ThrottlingException")))
        .times(2)
        .output(|| PutLogEventsOutput::builder().build())
        .build();
    let report = sink(&put).put("s", batch()).await.expect("third attempt");
    assert_eq!(report.accepted, 1);
    assert_eq!(put.num_calls(), 3, "two refusals, then the batch");
}

#[tokio::test]
async fn an_answer_that_leaves_the_outcome_open_is_not_sent_again_by_the_sink() {
    for (status, code) in [
        (503, "ServiceUnavailableException"),
        (500, "InternalFailure"),
    ] {
        let put = mock!(Client::put_log_events)
            .sequence()
            .http_status(status, Some(json_error(code)))
            .output(|| PutLogEventsOutput::builder().build())
            .build();
        let err = sink(&put)
            .put("s", batch())
            .await
            .expect_err("fails after one attempt");
        assert_eq!(put.num_calls(), 1, "{code}: sent once");
        assert!(!err.refused, "{code} is a fault, not a refusal");
        assert!(err.to_string().contains("PutLogEvents"), "{err}");
    }
}
