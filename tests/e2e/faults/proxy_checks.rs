//! The proxy itself, through real SDK clients with retries off (so each fault is seen as sent):
//! a rule fires on the right call and only there, each fault looks to the SDK as AWS's would,
//! and everything else passes through unchanged (negative controls).

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use trailwatch_e2e::Moto;
use trailwatch_e2e::faults::{Fault, FaultProxy, Occurrence, Rule, Stub};

async fn clients(
    endpoint: &str,
) -> (
    aws_sdk_s3::Client,
    aws_sdk_cloudwatchlogs::Client,
    aws_sdk_sns::Client,
) {
    let cfg = trailwatch_e2e::sdk_config_for(endpoint)
        .await
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        )
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    );
    (
        s3,
        aws_sdk_cloudwatchlogs::Client::new(&cfg),
        aws_sdk_sns::Client::new(&cfg),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_fire_on_the_named_call_only_and_faults_look_like_aws() {
    let moto = Moto::start();
    let direct = moto.s3().await;
    direct
        .create_bucket()
        .bucket("proxy-check")
        .send()
        .await
        .unwrap();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    direct
        .put_object()
        .bucket("proxy-check")
        .key("big.bin")
        .body(big.clone().into())
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint());
    let (s3, logs, sns) = clients(&proxy.endpoint()).await;

    // Negative control: no rule, everything passes, bodies intact, every call recorded.
    let listed = s3
        .list_objects_v2()
        .bucket("proxy-check")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
    let got = s3
        .get_object()
        .bucket("proxy-check")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &big[..]
    );
    assert!(proxy.injected().is_empty());
    let ops: Vec<String> = proxy
        .exchanges()
        .iter()
        .map(|e| e.call.operation.clone())
        .collect();
    assert_eq!(ops, ["ListObjectsV2", "GetObject"]);

    // S3: the second GetObject only is SlowDown; ListObjectsV2 in between does not count.
    proxy.set_rules(vec![Rule::new(
        "s3",
        "GetObject",
        Occurrence::Nth(2),
        Fault::Throttle,
    )]);
    let get = || s3.get_object().bucket("proxy-check").key("big.bin").send();
    assert!(get().await.is_ok());
    s3.list_objects_v2()
        .bucket("proxy-check")
        .send()
        .await
        .unwrap();
    let err = get().await.expect_err("the second GetObject is throttled");
    assert_eq!(err.code(), Some("SlowDown"));
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 503);
    assert!(get().await.is_ok(), "only the second");
    let injected = proxy.injected();
    assert_eq!(injected.len(), 1);
    assert_eq!(injected[0].call.operation, "GetObject");
    assert_eq!(injected[0].path, "/proxy-check/big.bin");

    proxy.set_rules(vec![Rule::new(
        "s3",
        "GetObject",
        Occurrence::Every,
        Fault::ServerError,
    )]);
    assert_eq!(get().await.expect_err("500").code(), Some("InternalError"));

    // A body cut mid-stream: the headers arrive, the body read fails short.
    proxy.set_rules(vec![Rule::new(
        "s3",
        "GetObject",
        Occurrence::Nth(1),
        Fault::CutBody {
            after_bytes: 100_000,
        },
    )]);
    let cut = get().await.expect("headers arrive");
    assert!(cut.body.collect().await.is_err(), "the body ends early");

    // A reset: no answer at all, not a service error.
    proxy.set_rules(vec![Rule::new(
        "s3",
        "GetObject",
        Occurrence::Nth(1),
        Fault::Reset,
    )]);
    let err = get().await.expect_err("reset");
    assert!(err.raw_response().is_none(), "{err:?}");

    // A stall outlasts the client's attempt timeout; a delay does not.
    proxy.set_rules(vec![Rule::new(
        "s3",
        "GetObject",
        Occurrence::Nth(1),
        Fault::Stall(Duration::from_secs(30)),
    )]);
    let t = Instant::now();
    assert!(get().await.is_err());
    assert!(t.elapsed() < Duration::from_secs(10));
    proxy.set_rules(vec![Rule::new(
        "s3",
        "GetObject",
        Occurrence::Nth(1),
        Fault::Delay(Duration::from_millis(400)),
    )]);
    let t = Instant::now();
    assert!(get().await.is_ok());
    assert!(t.elapsed() >= Duration::from_millis(400));

    // JSON protocol: CloudWatch Logs throttling and 503, only on PutLogEvents.
    logs.create_log_group()
        .log_group_name("g")
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name("g")
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    let put = |m: &'static str| {
        logs.put_log_events()
            .log_group_name("g")
            .log_stream_name("s")
            .log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(chrono_now_ms())
                    .message(m)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    proxy.set_rules(vec![
        Rule::new("logs", "PutLogEvents", Occurrence::Nth(1), Fault::Throttle),
        Rule::new(
            "logs",
            "PutLogEvents",
            Occurrence::Nth(2),
            Fault::ServerError,
        ),
        Rule::new(
            "logs",
            "PutLogEvents",
            Occurrence::Nth(3),
            Fault::ForwardThenDrop,
        ),
    ]);
    logs.describe_log_groups()
        .send()
        .await
        .expect("other calls pass");
    assert_eq!(
        put("a").await.expect_err("throttled").code(),
        Some("ThrottlingException")
    );
    let e = put("b").await.expect_err("503");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 503);
    let e = put("c").await.expect_err("the answer is lost");
    assert!(e.raw_response().is_none(), "{e:?}");
    put("d").await.expect("the rules are spent");
    let stored = trailwatch_e2e::read_log_stream(
        &aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await),
        "g",
        "s",
    )
    .await
    .unwrap();
    let messages: Vec<&str> = stored.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        messages,
        ["c", "d"],
        "the dropped call reached moto; the refused ones did not"
    );
    let dropped = proxy
        .injected()
        .into_iter()
        .find(|e| e.fault == Some(Fault::ForwardThenDrop))
        .unwrap();
    assert!(String::from_utf8_lossy(dropped.body.as_ref().unwrap()).contains("\"c\""));

    // Query protocol: SNS Publish throttled as SNS does.
    let topic = moto.create_topic("t").await;
    proxy.set_rules(vec![Rule::new(
        "sns",
        "Publish",
        Occurrence::Nth(1),
        Fault::Throttle,
    )]);
    let e = sns
        .publish()
        .topic_arn(&topic)
        .message("m")
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(e.code(), Some("Throttling"));
    sns.publish()
        .topic_arn(&topic)
        .message("m")
        .send()
        .await
        .unwrap();
    assert!(
        proxy
            .exchanges()
            .iter()
            .any(|e| e.call.service == "sns" && e.call.operation == "Publish")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stub_answers_what_moto_lacks_and_faults_apply_to_it() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint());
    proxy.add_stub(Stub {
        service: "cloudtrail".into(),
        operation: "ListPublicKeys".into(),
        content_type: "application/x-amz-json-1.1".into(),
        body: r#"{"PublicKeyList":[{"Fingerprint":"ab","Value":"AQID","ValidityStartTime":1770000000,"ValidityEndTime":1790000000}]}"#.into(),
    });
    let cfg = trailwatch_e2e::sdk_config_for(&proxy.endpoint())
        .await
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let ct = aws_sdk_cloudtrail_client(&cfg);
    let keys = ct.list_public_keys().send().await.expect("stubbed");
    let key = &keys.public_key_list()[0];
    assert_eq!(key.fingerprint(), Some("ab"));
    assert_eq!(key.value().unwrap().as_ref(), &[1, 2, 3]);
    proxy.set_rules(vec![Rule::new(
        "cloudtrail",
        "ListPublicKeys",
        Occurrence::Nth(1),
        Fault::Throttle,
    )]);
    let e = ct.list_public_keys().send().await.expect_err("throttled");
    assert_eq!(e.code(), Some("ThrottlingException"));
}

fn aws_sdk_cloudtrail_client(cfg: &aws_config::SdkConfig) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(cfg)
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
