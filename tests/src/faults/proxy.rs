//! The proxy itself: hyper's HTTP/1 server in front, hyper's client to moto behind, on a runtime
//! of its own (so it serves the same whether the test is sync or async, and dies with it).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::classify::{Call, Protocol, identify};
use super::render::error_answer;
use super::rules::{Fault, Rule, RuleSet};
use super::{Exchange, Stub};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// A running fault-injecting proxy on 127.0.0.1; stops (its connections cut) when dropped.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    upstream: String,
    /// When set, the proxy stands in front of a Lambda runtime API: each invocation handed out
    /// (`GET …/runtime/invocation/next`) gets `Lambda-Runtime-Deadline-Ms` = now + this, an
    /// absolute deadline as Lambda sends (the emulator sends its timeout, relative).
    invocation_timeout: Mutex<Option<std::time::Duration>>,
    rules: Mutex<RuleSet>,
    stubs: Mutex<Vec<Stub>>,
    log: Mutex<Vec<Exchange>>,
    seq: AtomicU64,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Why the proxy closed a connection without answering (hyper closes it when the service fails).
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("connection reset by fault injection ({0})")]
    Injected(&'static str),
    #[error("reading the request: {0}")]
    Request(hyper::Error),
    #[error("forwarding to moto: {0}")]
    Upstream(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`http://127.0.0.1:PORT`, moto's endpoint).
    pub fn start(upstream: &str) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            invocation_timeout: Mutex::default(),
            rules: Mutex::default(),
            stubs: Mutex::default(),
            log: Mutex::default(),
            seq: AtomicU64::new(0),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let accept_shared = shared.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { handle(&shared, req).await }
                    });
                    // An error here is a connection the proxy closed on purpose, or the
                    // client going away (a killed function): nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            port,
            shared,
            runtime: Some(runtime),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a function binary that should reach AWS through this proxy.
    pub fn env(&self) -> Vec<(String, String)> {
        crate::aws_env(&self.endpoint())
    }

    /// Makes this proxy a Lambda runtime API front that gives every invocation the deadline
    /// now + `timeout` (see [`Shared::invocation_timeout`]).
    pub fn set_invocation_timeout(&self, timeout: std::time::Duration) {
        *lock(&self.shared.invocation_timeout) = Some(timeout);
    }

    /// Replaces the rules (occurrence counters start again from zero).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *lock(&self.shared.rules) = RuleSet::new(rules);
    }

    /// Answers `stub.operation` of `stub.service` locally instead of forwarding.
    pub fn add_stub(&self, stub: Stub) {
        lock(&self.shared.stubs).push(stub);
    }

    /// Every request so far, in arrival order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let mut log = lock(&self.shared.log).clone();
        log.sort_by_key(|e| e.seq);
        log
    }

    /// The requests that got a fault.
    pub fn injected(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.fault.is_some())
            .collect()
    }

    /// How many requests of `operation` on `service` arrived (faulted or not).
    pub fn count(&self, service: &str, operation: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.call.service == service && e.call.operation == operation)
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Result<Response<ProxyBody>, Closed> {
    let (parts, body) = req.into_parts();
    // Request bodies are small (≤ 1 MiB PutLogEvents); buffering them lets a form body name
    // its action and lets the request be forwarded after a delay.
    let body = body.collect().await.map_err(Closed::Request)?.to_bytes();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let path = parts.uri.path().to_owned();
    let call = identify(
        parts.method.as_str(),
        &path,
        parts.uri.query().unwrap_or(""),
        header("authorization"),
        header("x-amz-target"),
        &body,
    );
    let fault = lock(&shared.rules).decide(&call, &path, &body);
    lock(&shared.log).push(Exchange {
        seq: shared.seq.fetch_add(1, Ordering::SeqCst),
        call: call.clone(),
        path,
        fault,
        body: matches!(call.protocol, Protocol::Json | Protocol::Query).then(|| body.clone()),
    });

    match fault {
        Some(f @ (Fault::Throttle | Fault::ServerError)) => {
            let answer = error_answer(&call, f).expect("answering faults have an answer");
            let mut response = Response::builder().status(answer.status);
            for (k, v) in answer.headers {
                response = response.header(k, v);
            }
            return Ok(response
                .body(full(answer.body))
                .expect("a valid error response"));
        }
        Some(Fault::Reset) => return Err(Closed::Injected("reset")),
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            return Err(Closed::Injected("stalled"));
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::ForwardThenDrop | Fault::ForwardThenStall(_) | Fault::CutBody { .. })
        | None => {}
    }

    let response = match stub_for(shared, &call) {
        Some(stub) => Response::builder()
            .status(200)
            .header("content-type", stub.content_type)
            .header("x-amzn-requestid", "fault-proxy-stub")
            .body(full(stub.body))
            .expect("a valid stub response"),
        None => forward(shared, parts, body).await?,
    };
    match fault {
        Some(Fault::ForwardThenDrop) => {
            // Let the service finish the work and answer, then lose the answer.
            let _ = response.into_body().collect().await;
            Err(Closed::Injected("answer dropped after forwarding"))
        }
        Some(Fault::ForwardThenStall(d)) => {
            let _ = response.into_body().collect().await;
            tokio::time::sleep(d).await;
            Err(Closed::Injected("answer held back after forwarding"))
        }
        Some(Fault::CutBody { after_bytes }) => Ok(response.map(|b| {
            CutBody {
                inner: b,
                remaining: after_bytes,
            }
            .boxed()
        })),
        _ => Ok(response),
    }
}

fn stub_for(shared: &Shared, call: &Call) -> Option<Stub> {
    lock(&shared.stubs)
        .iter()
        .find(|s| s.service == call.service && s.operation == call.operation)
        .cloned()
}

async fn forward(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<ProxyBody>, Closed> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let uri: hyper::Uri = format!("{}{path_and_query}", shared.upstream)
        .parse()
        .map_err(|e| Closed::Upstream(format!("{e}")))?;
    let mut request = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        request = request.header(k, v);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| Closed::Upstream(e.to_string()))?;
    let next_invocation = parts_path_is_next(&path_and_query);
    let mut response = shared
        .client
        .request(request)
        .await
        .map_err(|e| Closed::Upstream(e.to_string()))?;
    let timeout = *lock(&shared.invocation_timeout);
    if let (true, Some(timeout)) = (next_invocation, timeout) {
        let deadline = std::time::SystemTime::now() + timeout;
        let ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        response.headers_mut().insert(
            "lambda-runtime-deadline-ms",
            ms.to_string().parse().expect("digits are a header value"),
        );
    }
    // Streamed through, never buffered whole: GetObject bodies can be large.
    Ok(response.map(|b| b.map_err(BoxError::from).boxed()))
}

/// The runtime API's long poll for the next invocation.
fn parts_path_is_next(path_and_query: &str) -> bool {
    path_and_query.ends_with("/runtime/invocation/next")
}

fn full(text: String) -> ProxyBody {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed()
}

/// A response body that fails after `remaining` bytes (hyper then aborts the connection, so the
/// client sees a body shorter than its `Content-Length`).
struct CutBody {
    inner: ProxyBody,
    remaining: usize,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(Some(Err("body cut by fault injection".into())));
        }
        match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    data.truncate(self.remaining);
                    self.remaining -= data.len();
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => Poll::Ready(other),
        }
    }
}
