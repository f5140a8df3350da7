//! `moto_server` as the local AWS.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use trailwatch_shared::digest::testkit::TestObject;

use crate::{free_port, require_tool, wait_for_port};

pub(crate) const MOTO_INSTALL: &str = "pip install 'moto[server]==5.2.1'";

/// A running `moto_server`, killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts `moto_server` with its DynamoDB requests serialized (see [`ATOMIC_DYNAMODB`]).
    pub fn start() -> Moto {
        let bin = require_tool("moto_server", MOTO_INSTALL);
        let port = free_port();
        let mut command = match script_interpreter(&bin) {
            Some(python) => {
                let mut c = Command::new(python);
                c.args(["-c", ATOMIC_DYNAMODB]);
                c
            }
            None => {
                eprintln!(
                    "warning: {} is not a Python script; DynamoDB conditional writes in it are \
                     not atomic under concurrency",
                    bin.display()
                );
                Command::new(&bin)
            }
        };
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let moto = Moto { child, port };
        wait_for_port(port, Duration::from_secs(30), "moto_server");
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a process (a function binary) that should talk to this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        aws_env(&self.endpoint())
    }

    /// SDK configuration pointed at this moto, with static test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }

    /// An S3 client with path-style addressing (moto needs it).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3_client_for(&self.endpoint()).await
    }

    /// The digest verifier's environment against this moto: alerts to `topic_arn`, the trail's
    /// public keys from `keys` (a [`crate::chains::public_keys_file`]).
    pub fn verifier_env(
        &self,
        topic_arn: &str,
        keys: &tempfile::NamedTempFile,
    ) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("ALERT_TOPIC_ARN".into(), topic_arn.into()));
        env.push((
            "PUBLIC_KEYS_FILE".into(),
            keys.path().to_string_lossy().into_owned(),
        ));
        env
    }

    /// Creates the SNS topic `name`; returns its ARN.
    pub async fn create_topic(&self, name: &str) -> String {
        aws_sdk_sns::Client::new(&self.sdk_config().await)
            .create_topic()
            .name(name)
            .send()
            .await
            .unwrap()
            .topic_arn
            .expect("CreateTopic returns the topic's ARN")
    }

    /// Every item of the state table (`STATE_TABLE`; a test's items are few: one scan page).
    pub async fn state_table_items(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
            .scan()
            .table_name(STATE_TABLE)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// What the forwarder reads from and writes to: `bucket` and the log group `group`, created,
    /// with an S3 and a CloudWatch Logs client.
    pub async fn bucket_and_log_group(
        &self,
        bucket: &str,
        group: &str,
    ) -> (aws_sdk_s3::Client, aws_sdk_cloudwatchlogs::Client) {
        let s3 = self.s3().await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.sdk_config().await);
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        logs.create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap();
        (s3, logs)
    }
}

/// `moto_server` with one lock around every DynamoDB request. DynamoDB applies a conditional
/// write atomically per item; moto's threaded server checks the condition and writes without a
/// lock, so two concurrent claims of one record could both succeed there (observed: 2 of 16
/// concurrent claims acquired, a window counted twice). Serializing DynamoDB requests restores
/// the guarantee the state table relies on; other services keep moto's concurrency.
pub(crate) const ATOMIC_DYNAMODB: &str = r#"
import sys, threading
from moto.dynamodb.responses import DynamoHandler
_lock = threading.Lock()
_call_action = DynamoHandler.call_action
def _serialized(self):
    with _lock:
        return _call_action(self)
DynamoHandler.call_action = _serialized
from moto.server import main
sys.exit(main(sys.argv[1:]))
"#;

/// The interpreter a `#!`-script runs with, when it is Python (the `moto_server` pip installs).
fn script_interpreter(script: &std::path::Path) -> Option<std::path::PathBuf> {
    let head = std::fs::read(script).ok()?;
    let first = head.split(|b| *b == b'\n').next()?;
    let shebang = std::str::from_utf8(first).ok()?.strip_prefix("#!")?.trim();
    let mut words = shebang.split_whitespace();
    let program = words.next()?;
    // `#!/usr/bin/env python3` or `#!/path/to/venv/bin/python3`.
    let python = if program.ends_with("/env") {
        words.next()?
    } else {
        program
    };
    python
        .contains("python")
        .then(|| std::path::PathBuf::from(python))
}

/// Environment for a process (a function binary, the CLI, awscli) that should talk to the local
/// AWS at `endpoint`.
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        // awscli reads this one, not AWS_REGION.
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// SDK configuration pointed at the local AWS at `endpoint`, with static test credentials.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "trailwatch-e2e",
        ))
        .load()
        .await
}

/// An S3 client for the local AWS at `endpoint`, with path-style addressing (moto needs it).
pub async fn s3_client_for(endpoint: &str) -> aws_sdk_s3::Client {
    let cfg = sdk_config_for(endpoint).await;
    let conf = aws_sdk_s3::config::Builder::from(&cfg)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Puts `body` at `bucket`/`key` as it is (gzip it first for a log file or digest).
pub async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// Creates `bucket` with versioning on (what `CreateTrail=true` deploys: an overwritten log or
/// digest keeps the version CloudTrail wrote, and events name it).
pub async fn create_versioned_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Uploads test objects with their user metadata, creating their buckets as needed.
pub async fn upload_objects(s3: &aws_sdk_s3::Client, objects: Vec<TestObject>) {
    use futures::{StreamExt, TryStreamExt, stream};
    let buckets: BTreeSet<String> = objects.iter().map(|o| o.bucket.clone()).collect();
    for b in buckets {
        // Already there is fine: several uploads may share a bucket.
        let _ = s3.create_bucket().bucket(&b).send().await;
    }
    stream::iter(objects)
        .map(|o| async move {
            s3.put_object()
                .bucket(&o.bucket)
                .key(&o.key)
                .set_metadata(Some(o.metadata))
                .body(o.bytes.into())
                .send()
                .await
                .map(|_| ())
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("upload to moto");
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message an SNS topic published, as moto recorded it.
#[derive(Debug, Clone)]
pub struct SentNotification {
    pub topic_arn: String,
    pub subject: String,
    /// The `Message` parameter (for `MessageStructure: json`, the JSON envelope as a string).
    pub message: String,
}

impl Moto {
    /// Every message published to any topic, from moto's state API: what an e-mail subscriber
    /// would receive, which an SQS subscriber cannot show for `MessageStructure: json` publishes.
    pub fn sent_notifications(&self) -> Vec<SentNotification> {
        let body = http_get(&self.endpoint(), "/moto-api/data.json");
        let data: serde_json::Value = serde_json::from_str(&body).expect("moto-api data.json");
        let mut out = Vec::new();
        for topic in data["sns"]["Topic"].as_array().into_iter().flatten() {
            let arn = topic["arn"].as_str().unwrap_or_default();
            for n in topic["sent_notifications"].as_array().into_iter().flatten() {
                out.push(SentNotification {
                    topic_arn: arn.to_owned(),
                    message: n[1].as_str().unwrap_or_default().to_owned(),
                    subject: n[2].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        out
    }
}

/// A plain HTTP/1.0 GET (moto's state API is not an AWS service the SDK can call).
fn http_get(endpoint: &str, path: &str) -> String {
    http_request(endpoint, "GET", path, "")
}

/// A plain HTTP/1.0 POST to moto's state API.
pub(crate) fn http_post(endpoint: &str, path: &str, body: &str) -> String {
    http_request(endpoint, "POST", path, body)
}

fn http_request(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to moto");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_owned()
}

/// The name the e2e tests and the local run give the state table.
pub const STATE_TABLE: &str = "trailwatch-state";

/// Creates the state table as `template.yaml` declares it (partition key `pk` only, on-demand,
/// TTL on `expiresAt`). Already there is fine: several functions of one test share it.
pub async fn create_state_table(sdk: &SdkConfig, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let created = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(e) => panic!(
            "create state table {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        ),
    }
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expiresAt")
                .build()
                .expect("TTL specification"),
        )
        .send()
        .await
        .map(|_| ())
        .or_else(|e| {
            // Enabling TTL twice is refused ("TimeToLive is already enabled"): fine.
            let msg = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
            if msg.contains("already enabled") {
                Ok(())
            } else {
                Err(msg)
            }
        })
        .unwrap_or_else(|e| panic!("enable TTL on {name}: {e}"));
}

impl Moto {
    /// Creates the state table [`STATE_TABLE`] in this moto and returns the environment a
    /// function binary needs to use it (`STATE_TABLE`), to add to [`Moto::env`].
    pub async fn with_state_table(&self) -> Vec<(String, String)> {
        create_state_table(&self.sdk_config().await, STATE_TABLE).await;
        vec![("STATE_TABLE".into(), STATE_TABLE.into())]
    }
}
