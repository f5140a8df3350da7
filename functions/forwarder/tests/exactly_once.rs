//! Exactly-once forwarding without AWS: the pipeline's checkpoints against the in-memory state
//! store and a sink that records every batch (and fails when told to), and the handler's claim
//! decisions (a completed object version is skipped, a leased one refused) before any read.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use forwarder::batch::LogEvent;
use forwarder::handler::{ObjectError, STATE_FUNCTION};
use forwarder::pipeline::{FileCounts, FileJob, ForwardError, Resume, forward_records};
use forwarder::sink::{LogSink, SinkError, SinkReport};
use forwarder::stream_name::{DEFAULT_TEMPLATE, StreamNameTemplate};
use forwarder::{Forwarder, ForwarderConfig, ObjectOutcome};
use trailwatch_lambda_common::state::memory::MemoryStateStore;
use trailwatch_lambda_common::state::{Claim, StateError, StateStore, WorkKey};
use trailwatch_shared::records::{ReaderLimits, RecordReader};
use trailwatch_shared::trigger::ObjectRef;

const STREAM: &str = "123456789012_CloudTrail_us-east-1";
const NOW_MS: i64 = 1_700_000_000_000;

/// Every batch it was given, in order; fails the put numbered `fail_at` (1-based) once.
#[derive(Default)]
struct RecordingSink {
    batches: Mutex<Vec<Vec<String>>>,
    puts: AtomicUsize,
    fail_at: Option<usize>,
}

impl RecordingSink {
    fn failing_at(put: usize) -> Self {
        Self {
            fail_at: Some(put),
            ..Self::default()
        }
    }

    fn messages(&self) -> Vec<String> {
        self.batches.lock().unwrap().concat()
    }

    fn batch_count(&self) -> usize {
        self.batches.lock().unwrap().len()
    }
}

impl LogSink for RecordingSink {
    async fn put(&self, stream: &str, batch: Vec<LogEvent>) -> Result<SinkReport, SinkError> {
        let n = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_at == Some(n) {
            return Err(SinkError {
                operation: "PutLogEvents",
                group: "g".into(),
                stream: stream.into(),
                detail: "injected failure".into(),
                refused: false,
            });
        }
        let len = batch.len();
        self.batches
            .lock()
            .unwrap()
            .push(batch.into_iter().map(|e| e.message).collect());
        Ok(SinkReport {
            accepted: len,
            rejected: 0,
        })
    }
}

/// `n` records of about `pad` bytes each, one second apart; records whose number is a multiple
/// of `filter_every` carry `"drop":true` (filtered by [`job`]).
fn records(n: usize, pad: usize, filter_every: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let drop = filter_every > 0 && i % filter_every == filter_every - 1;
            let secs = NOW_MS / 1000 - 3600 + i as i64;
            format!(
                r#"{{"eventVersion":"1.08","eventTime":"{}","eventName":"E{i}","drop":{drop},"pad":"{}"}}"#,
                rfc3339(secs),
                "x".repeat(pad)
            )
        })
        .collect()
}

fn rfc3339(secs: i64) -> String {
    // NOW_MS is 2023-11-14T22:13:20Z; records stay within that day.
    let day_start = 1_699_920_000;
    let s = secs - day_start;
    format!(
        "2023-11-14T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

fn file(records: &[String]) -> Vec<u8> {
    format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
}

fn reader(bytes: Vec<u8>) -> RecordReader<Cursor<Vec<u8>>> {
    RecordReader::open(Cursor::new(bytes), ReaderLimits::default())
}

fn job() -> FileJob<impl Fn(&str) -> bool + Send + 'static> {
    FileJob {
        stream: STREAM.into(),
        keep: |json: &str| !json.contains("\"drop\":true"),
        fallback_time_ms: NOW_MS,
        now_ms: NOW_MS,
    }
}

fn work() -> WorkKey {
    WorkKey::new(STATE_FUNCTION, &object())
}

fn object() -> ObjectRef {
    ObjectRef {
        bucket: "trail".into(),
        key: "AWSLogs/123456789012/CloudTrail/us-east-1/2023/11/14/123456789012_CloudTrail_us-east-1_20231114T2210Z_abcdefghijklmnop.json.gz".into(),
        size: None,
        version_id: Some("v1".into()),
        requester: None,
        source_ip: None,
        etag: Some("\"e1\"".into()),
    }
}

/// A checkpointing store: the real in-memory store, or one that forgets every checkpoint
/// (the negative control: what forwarding without checkpoints would do on a retry).
struct Store {
    inner: MemoryStateStore,
    forget_checkpoints: bool,
    checkpoints: Mutex<Vec<u64>>,
}

impl Store {
    fn new(forget_checkpoints: bool) -> Self {
        Self {
            inner: MemoryStateStore::new(),
            forget_checkpoints,
            checkpoints: Mutex::new(Vec::new()),
        }
    }
}

/// One attempt as the handler makes it: claim, forward from the checkpoint, complete or release.
async fn attempt<S: LogSink>(
    sink: Arc<S>,
    store: &Store,
    owner: &str,
    bytes: Vec<u8>,
) -> (FileCounts, Result<(), ForwardError>) {
    let work = work();
    let Claim::Acquired(progress) = store
        .inner
        .claim(&work, owner, NOW_MS + 900_000, NOW_MS)
        .await
        .unwrap()
    else {
        panic!("not acquired")
    };
    let resume = Resume {
        records_done: progress.records_done,
        stop_sending_at_ms: None,
        checkpoint: |done: u64| {
            let work = work.clone();
            async move {
                store.checkpoints.lock().unwrap().push(done);
                if store.forget_checkpoints {
                    Ok(())
                } else {
                    store.inner.checkpoint(&work, owner, done).await
                }
            }
        },
    };
    let (counts, result) = forward_records(sink, reader(bytes), job(), resume).await;
    match &result {
        Ok(()) => store.inner.complete(&work, owner, "{}", 0).await.unwrap(),
        Err(_) => store.inner.release(&work, owner).await.unwrap(),
    }
    (counts, result)
}

/// How many times each message was sent, for the messages sent more than once.
fn duplicates(messages: &[String]) -> Vec<(String, usize)> {
    let mut seen: HashMap<&String, usize> = HashMap::new();
    for m in messages {
        *seen.entry(m).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(m, n)| (m[..40].to_owned(), n))
        .collect()
}

fn kept(records: &[String]) -> Vec<String> {
    records
        .iter()
        .filter(|r| !r.contains("\"drop\":true"))
        .cloned()
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A sink failure at batch 3, then a retry: the retry starts at batch 3, so across both runs
/// every kept record was sent exactly once; checkpoints were written in order.
async fn fail_then_retry(forget_checkpoints: bool) -> (Vec<String>, Vec<String>, Store) {
    // ~100 KB records: about ten per 1 MiB batch; every 7th filtered.
    let recs = records(60, 100_000, 7);
    let store = Store::new(forget_checkpoints);
    let first = Arc::new(RecordingSink::failing_at(3));
    let (counts, result) = attempt(first.clone(), &store, "attempt-1", file(&recs)).await;
    assert!(matches!(result, Err(ForwardError::Sink(_))), "{result:?}");
    assert_eq!(first.batch_count(), 2, "batches 1 and 2 acknowledged");
    assert_eq!(counts.batches, 2);

    let second = Arc::new(RecordingSink::default());
    let (counts2, result) = attempt(second.clone(), &store, "attempt-2", file(&recs)).await;
    result.unwrap();
    assert!(counts2.reconciles(), "{counts2:?}");
    assert_eq!(counts2.records_done, recs.len() as u64);
    if !forget_checkpoints {
        assert_eq!(counts2.resumed_after, counts.records_done);
        assert_eq!(
            counts.records_done + counts2.records_in,
            recs.len() as u64,
            "the retry accounts for exactly the records the first attempt did not"
        );
    }
    let mut all = first.messages();
    all.extend(second.messages());
    (all, kept(&recs), store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_sink_failure_sends_only_the_batches_not_acknowledged() {
    let (all, kept, store) = fail_then_retry(false).await;
    assert_eq!(duplicates(&all), vec![], "no record sent twice");
    assert_eq!(sorted(all), sorted(kept), "every kept record sent");
    let checkpoints = store.checkpoints.lock().unwrap().clone();
    assert!(
        checkpoints.windows(2).all(|w| w[0] < w[1]),
        "checkpoints strictly increase: {checkpoints:?}"
    );
    assert_eq!(checkpoints.last(), Some(&60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_checkpoints_the_retry_duplicates() {
    let (all, kept, _) = fail_then_retry(true).await;
    let dups = duplicates(&all);
    assert!(
        !dups.is_empty(),
        "the duplicate check must catch a retry from the start"
    );
    assert!(all.len() > kept.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_error_sends_what_was_read_before_it_then_fails() {
    let recs = records(25, 100_000, 5);
    let mut bytes = file(&recs);
    // Cut the file inside record 21 (index 20): 20 complete records precede the error.
    let cut = String::from_utf8_lossy(&bytes).find("\"E20\"").unwrap();
    bytes.truncate(cut);
    let store = Store::new(false);
    let sink = Arc::new(RecordingSink::default());
    let (counts, result) = attempt(sink.clone(), &store, "a", bytes).await;
    assert!(
        matches!(
            result,
            Err(ForwardError::Read {
                records_read: 20,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(counts.records_in, 20);
    assert!(counts.reconciles(), "{counts:?}");
    assert_eq!(counts.filtered, 4);
    assert_eq!(
        sorted(sink.messages()),
        sorted(kept(&recs[..20])),
        "every complete record read before the error was sent"
    );
    // The last batch was acknowledged and checkpointed: a retry resumes after record 20.
    assert_eq!(store.inner.progress(&work()).unwrap().records_done, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checkpoint_stops_the_file_before_the_next_batch() {
    let recs = records(40, 100_000, 0);
    let sink = Arc::new(RecordingSink::default());
    let calls = AtomicUsize::new(0);
    let resume = Resume {
        records_done: 0,
        stop_sending_at_ms: None,
        checkpoint: |_done: u64| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if n == 1 {
                Err(StateError::LeaseLost("w".into()))
            } else {
                Ok(())
            })
        },
    };
    let (counts, result) = forward_records(sink.clone(), reader(file(&recs)), job(), resume).await;
    assert!(
        matches!(result, Err(ForwardError::Checkpoint { .. })),
        "{result:?}"
    );
    assert_eq!(
        sink.batch_count(),
        2,
        "nothing sent after the failed checkpoint"
    );
    assert_eq!(counts.records_done, 10, "only the first checkpoint counts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_deadline_no_batch_is_started_and_the_checkpoint_stands() {
    let recs = records(30, 100_000, 0);
    for (stop_at, sent_batches) in [(Some(0), 0), (Some(i64::MAX), 2), (None, 2)] {
        let sink = Arc::new(RecordingSink::default());
        let resume = Resume {
            // Resumed after the first batch's ten records.
            records_done: 10,
            stop_sending_at_ms: stop_at,
            checkpoint: |_done: u64| std::future::ready(Ok(())),
        };
        let (counts, result) =
            forward_records(sink.clone(), reader(file(&recs)), job(), resume).await;
        assert_eq!(sink.batch_count(), sent_batches, "stop at {stop_at:?}");
        if sent_batches == 0 {
            assert!(
                matches!(result, Err(ForwardError::OutOfTime { records_done: 10 })),
                "{result:?}"
            );
            assert_eq!(counts.records_done, 10, "the earlier checkpoint stands");
        } else {
            result.unwrap();
            assert_eq!(counts.records_done, 30);
        }
    }
}

// The handler's claim decisions, before any S3 read: its S3 client points at a closed port, so
// reaching `open_object` would fail the object with a fetch error instead.

fn forwarder(state: Arc<MemoryStateStore>) -> Forwarder<RecordingSink, MemoryStateStore> {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    Forwarder {
        config: ForwarderConfig {
            log_group: "g".into(),
            stream_template: StreamNameTemplate::parse(DEFAULT_TEMPLATE).unwrap(),
            forward_pattern: None,
            max_concurrency: 4,
            limits: ReaderLimits::default(),
            state_ttl_secs: 86_400,
        },
        s3,
        sink: Arc::new(RecordingSink::default()),
        state,
    }
}

#[tokio::test]
async fn a_repeated_delivery_of_a_completed_object_is_skipped_without_reading() {
    let state = Arc::new(MemoryStateStore::new());
    state.claim(&work(), "earlier", i64::MAX, 0).await.unwrap();
    state
        .complete(&work(), "earlier", r#"{"forwarded":3}"#, 0)
        .await
        .unwrap();
    let f = forwarder(state);
    let outcome = f.process_object(&object()).await.unwrap();
    assert_eq!(
        outcome,
        ObjectOutcome::AlreadyProcessed {
            outcome: r#"{"forwarded":3}"#.into()
        }
    );
    assert_eq!(f.sink.batch_count(), 0);
}

#[tokio::test]
async fn an_object_leased_by_another_invocation_is_refused_as_in_progress() {
    let state = Arc::new(MemoryStateStore::new());
    let until = 4_102_444_800_000; // 2100-01-01
    state.claim(&work(), "other", until, 0).await.unwrap();
    let f = forwarder(state.clone());
    let err = f.process_object(&object()).await.unwrap_err();
    assert!(
        matches!(err, ObjectError::InProgress { lease_until_ms, .. } if lease_until_ms == until),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("being processed by another invocation until 2100-01-01T00:00:00.000Z"),
        "{text}"
    );
    // The other invocation's lease is untouched (not released by the refused attempt).
    assert!(matches!(
        state.claim(&work(), "third", until, 1).await,
        Ok(Claim::InProgress { .. })
    ));
}

#[tokio::test]
async fn negative_control_a_free_object_is_read() {
    // Without a claim, the same call reaches S3 (the closed port): the two tests above did
    // not pass only because nothing was attempted.
    let f = forwarder(Arc::new(MemoryStateStore::new()));
    let err = f.process_object(&object()).await.unwrap_err();
    assert!(matches!(err, ObjectError::Fetch(_)), "{err:?}");
}
