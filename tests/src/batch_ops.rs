//! A stand-in for S3 Batch Operations' control API (moto does not implement `CreateJob`).
//!
//! It serves on 127.0.0.1 as an HTTP proxy: the CLI gets `AWS_ENDPOINT_URL_S3_CONTROL` set to a
//! name that never resolves (`http://s3-control.batchops.test`) and `HTTP_PROXY` set to the
//! stand-in, so the SDK's own endpoint rules run unchanged — they put the account id in front of
//! the host (`123456789012.s3-control.batchops.test`), which no resolver would find, but a proxy
//! receives the whole URL. The stand-in checks that host prefix against `x-amz-account-id`.
//!
//! `CreateJob` requests are recorded (raw XML and parsed) and checked against the S3 Control API
//! reference's shape (CreateJob, JobOperation/LambdaInvokeOperation, JobReport, JobManifest,
//! JobManifestGenerator/S3JobManifestGenerator, KeyNameConstraint): a malformed request is
//! answered `400 InvalidRequest` with the reason, as AWS would refuse it. A repeated
//! `ClientRequestToken` with the same request returns the same job; with another request,
//! `IdempotencyException`. `DescribeJob` answers from the job's state, which tests move with
//! [`BatchOps::set_progress`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// The endpoint the CLI is given; it only ever reaches the stand-in through the proxy setting.
pub const CONTROL_ENDPOINT: &str = "http://s3-control.batchops.test";

/// Where a job's objects come from, as the request named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    Generator {
        source_bucket: String,
        match_any_prefix: Vec<String>,
        created_after: Option<String>,
        created_before: Option<String>,
        enable_manifest_output: bool,
        output_bucket: Option<String>,
        output_prefix: Option<String>,
    },
    Csv {
        object_arn: String,
        etag: String,
        fields: Vec<String>,
    },
}

/// A CreateJob request as the stand-in understood it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub account: String,
    pub client_request_token: String,
    pub confirmation_required: bool,
    pub priority: i64,
    pub role_arn: String,
    pub description: Option<String>,
    pub function_arn: String,
    pub invocation_schema_version: String,
    pub user_arguments: BTreeMap<String, String>,
    pub report_bucket: String,
    pub report_prefix: Option<String>,
    pub report_scope: String,
    pub manifest: ManifestSource,
}

/// A job the stand-in created.
#[derive(Debug, Clone)]
pub struct RecordedJob {
    pub job_id: String,
    pub xml: String,
    pub request: JobRequest,
    pub status: String,
    pub total: Option<i64>,
    pub succeeded: i64,
    pub failed: i64,
    pub elapsed_secs: i64,
}

#[derive(Default)]
struct State {
    jobs: Vec<RecordedJob>,
    create_requests: usize,
    rejections: Vec<String>,
    describe_requests: usize,
}

/// The running stand-in; stops when dropped.
pub struct BatchOps {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BatchOps {
    pub fn start() -> BatchOps {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("non-blocking");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(stream, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        BatchOps {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Variables that send the CLI's S3 Control calls here and everything else (moto on
    /// 127.0.0.1) direct.
    pub fn env(&self) -> Vec<(String, String)> {
        let proxy = format!("http://127.0.0.1:{}", self.port);
        vec![
            (
                "AWS_ENDPOINT_URL_S3_CONTROL".into(),
                CONTROL_ENDPOINT.into(),
            ),
            ("HTTP_PROXY".into(), proxy.clone()),
            ("http_proxy".into(), proxy),
            ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
            ("no_proxy".into(), "127.0.0.1,localhost".into()),
        ]
    }

    pub fn jobs(&self) -> Vec<RecordedJob> {
        lock(&self.state).jobs.clone()
    }

    /// CreateJob requests received, accepted or not.
    pub fn create_requests(&self) -> usize {
        lock(&self.state).create_requests
    }

    pub fn describe_requests(&self) -> usize {
        lock(&self.state).describe_requests
    }

    /// Why requests were refused, in order.
    pub fn rejections(&self) -> Vec<String> {
        lock(&self.state).rejections.clone()
    }

    /// Moves a job on, as Batch Operations would while it runs.
    pub fn set_progress(
        &self,
        job_id: &str,
        status: &str,
        total: i64,
        succeeded: i64,
        failed: i64,
        elapsed_secs: i64,
    ) {
        let mut state = lock(&self.state);
        let job = state
            .jobs
            .iter_mut()
            .find(|j| j.job_id == job_id)
            .unwrap_or_else(|| panic!("no job {job_id} in the stand-in"));
        job.status = status.to_owned();
        job.total = Some(total);
        job.succeeded = succeeded;
        job.failed = failed;
        job.elapsed_secs = elapsed_secs;
    }
}

impl Drop for BatchOps {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct HttpRequest {
    method: String,
    host: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    // A proxy receives the absolute form `http://host/path`.
    let (host, path) = match target.strip_prefix("http://") {
        Some(rest) => match rest.split_once('/') {
            Some((h, p)) => (h.to_owned(), format!("/{p}")),
            None => (rest.to_owned(), "/".to_owned()),
        },
        None => (headers.get("host").cloned().unwrap_or_default(), target),
    };
    Some(HttpRequest {
        method,
        host,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let (status, body) = answer(&req, state);
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\nx-amz-request-id: standin\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn error(status: &str, code: &str, message: &str) -> (String, String) {
    (
        status.to_owned(),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorResponse><Error><Code>{code}</Code><Message>{}</Message></Error><RequestId>standin</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn answer(req: &HttpRequest, state: &Mutex<State>) -> (String, String) {
    let account = req
        .headers
        .get("x-amz-account-id")
        .cloned()
        .unwrap_or_default();
    let host_account = req.host.split('.').next().unwrap_or_default();
    let path = req.path.split('?').next().unwrap_or_default();
    if req.method == "POST" && path == "/v20180820/jobs" {
        lock(state).create_requests += 1;
    }
    if !is_account(&account) || host_account != account {
        let why = format!(
            "x-amz-account-id {account:?} must be 12 digits and the host's first label (host {:?})",
            req.host
        );
        lock(state).rejections.push(why.clone());
        return error("400 Bad Request", "InvalidRequest", &why);
    }
    match (req.method.as_str(), path) {
        ("POST", "/v20180820/jobs") => create_job(&account, &req.body, state),
        ("GET", p) if p.starts_with("/v20180820/jobs/") => {
            let id = &p["/v20180820/jobs/".len()..];
            let mut st = lock(state);
            st.describe_requests += 1;
            match st
                .jobs
                .iter()
                .find(|j| j.job_id == id && j.request.account == account)
            {
                Some(job) => ("200 OK".into(), describe_xml(job)),
                None => error(
                    "404 Not Found",
                    "NoSuchJob",
                    "The specified job does not exist",
                ),
            }
        }
        _ => error(
            "400 Bad Request",
            "InvalidRequest",
            &format!("the stand-in does not serve {} {path}", req.method),
        ),
    }
}

fn create_job(account: &str, xml: &str, state: &Mutex<State>) -> (String, String) {
    let request = match parse_create_job(account, xml) {
        Ok(r) => r,
        Err(why) => {
            lock(state).rejections.push(why.clone());
            return error("400 Bad Request", "InvalidRequest", &why);
        }
    };
    let mut st = lock(state);
    if let Some(existing) = st
        .jobs
        .iter()
        .find(|j| j.request.client_request_token == request.client_request_token)
    {
        if existing.request == request {
            let id = existing.job_id.clone();
            return ("200 OK".into(), create_xml(&id));
        }
        let why = "ClientRequestToken reused with a different request".to_owned();
        st.rejections.push(why.clone());
        return error("409 Conflict", "IdempotencyException", &why);
    }
    let n = st.jobs.len() + 1;
    let job_id = format!("{n:08x}-0000-4000-8000-{n:012x}");
    let status = if request.confirmation_required {
        "Suspended"
    } else {
        "Ready"
    };
    st.jobs.push(RecordedJob {
        job_id: job_id.clone(),
        xml: xml.to_owned(),
        request,
        status: status.into(),
        total: None,
        succeeded: 0,
        failed: 0,
        elapsed_secs: 0,
    });
    ("200 OK".into(), create_xml(&job_id))
}

fn create_xml(id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CreateJobResult><JobId>{id}</JobId></CreateJobResult>"
    )
}

fn describe_xml(job: &RecordedJob) -> String {
    let r = &job.request;
    let total = job
        .total
        .map(|t| format!("<TotalNumberOfTasks>{t}</TotalNumberOfTasks>"))
        .unwrap_or_default();
    let prefix = r
        .report_prefix
        .as_ref()
        .map(|p| format!("<Prefix>{}</Prefix>", escape(p)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DescribeJobResult><Job>\
         <JobId>{id}</JobId><ConfirmationRequired>{confirm}</ConfirmationRequired>\
         <Status>{status}</Status><Priority>{priority}</Priority><RoleArn>{role}</RoleArn>\
         <ProgressSummary>{total}<NumberOfTasksSucceeded>{ok}</NumberOfTasksSucceeded>\
         <NumberOfTasksFailed>{failed}</NumberOfTasksFailed><Timers><ElapsedTimeInActiveSeconds>{elapsed}</ElapsedTimeInActiveSeconds></Timers></ProgressSummary>\
         <Report><Bucket>{bucket}</Bucket><Format>Report_CSV_20180820</Format><Enabled>true</Enabled>{prefix}<ReportScope>{scope}</ReportScope></Report>\
         <CreationTime>2026-12-07T06:00:00Z</CreationTime></Job></DescribeJobResult>",
        id = job.job_id,
        confirm = r.confirmation_required,
        status = job.status,
        priority = r.priority,
        role = escape(&r.role_arn),
        ok = job.succeeded,
        failed = job.failed,
        elapsed = job.elapsed_secs,
        bucket = escape(&r.report_bucket),
        scope = r.report_scope,
    )
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).map(|c| c.text().unwrap_or_default().to_owned())
}

fn required(n: Node<'_, '_>, name: &str, path: &str) -> Result<String, String> {
    text(n, name).ok_or_else(|| format!("{path}.{name} is required"))
}

fn length(value: &str, min: usize, max: usize, what: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(format!("{what}: length {n} outside {min}..={max}"));
    }
    Ok(())
}

fn boolean(value: &str, what: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{what}: {other:?} is not a boolean")),
    }
}

fn bucket_arn(value: &str, what: &str) -> Result<(), String> {
    if !value.starts_with("arn:") || !value.contains(":s3:") {
        return Err(format!(
            "{what}: {value:?} is not an S3 bucket ARN (arn:[^:]+:s3:.*)"
        ));
    }
    length(value, 1, 128, what)
}

fn members(n: Node<'_, '_>) -> Vec<String> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().name() == "member")
        .map(|c| c.text().unwrap_or_default().to_owned())
        .collect()
}

/// Parses and checks a CreateJob body; `Err` is the reason AWS would give for refusing it.
pub fn parse_create_job(account: &str, xml: &str) -> Result<JobRequest, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "CreateJobRequest" {
        return Err(format!(
            "root element {:?}, CreateJobRequest expected",
            root.tag_name().name()
        ));
    }
    let token = required(root, "ClientRequestToken", "CreateJob")?;
    length(&token, 1, 64, "ClientRequestToken")?;
    let priority: i64 = required(root, "Priority", "CreateJob")?
        .parse()
        .map_err(|_| "Priority is not an integer".to_owned())?;
    if !(0..=2_147_483_647).contains(&priority) {
        return Err(format!("Priority {priority} outside 0..=2147483647"));
    }
    let role_arn = required(root, "RoleArn", "CreateJob")?;
    length(&role_arn, 1, 2048, "RoleArn")?;
    let role_ok = role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .is_some_and(|(acct, name)| is_account(acct) && !name.is_empty());
    if !role_ok {
        return Err(format!("RoleArn {role_arn:?} is not an IAM role ARN"));
    }
    let description = text(root, "Description");
    if let Some(d) = &description {
        length(d, 1, 256, "Description")?;
    }
    let confirmation_required = match text(root, "ConfirmationRequired") {
        Some(v) => boolean(&v, "ConfirmationRequired")?,
        None => false,
    };

    // Operation: exactly one operation, here LambdaInvoke.
    let operation = child(root, "Operation").ok_or("CreateJob.Operation is required")?;
    let ops: Vec<_> = operation.children().filter(|c| c.is_element()).collect();
    if ops.len() != 1 {
        return Err(format!(
            "Operation must name exactly one operation, found {}",
            ops.len()
        ));
    }
    let lambda = child(operation, "LambdaInvoke")
        .ok_or_else(|| format!("operation {} is not LambdaInvoke", ops[0].tag_name().name()))?;
    let function_arn = required(lambda, "FunctionArn", "LambdaInvoke")?;
    length(&function_arn, 1, 1024, "FunctionArn")?;
    if !function_arn.starts_with("arn:aws:lambda:") {
        return Err(format!(
            "FunctionArn {function_arn:?} is not a Lambda function ARN"
        ));
    }
    let schema = text(lambda, "InvocationSchemaVersion").unwrap_or_else(|| "1.0".into());
    if !matches!(schema.as_str(), "1.0" | "2.0") {
        return Err(format!("InvocationSchemaVersion {schema:?}: 1.0 or 2.0"));
    }
    let mut user_arguments = BTreeMap::new();
    if let Some(args) = child(lambda, "UserArguments") {
        if schema != "2.0" {
            return Err("UserArguments need InvocationSchemaVersion 2.0".into());
        }
        for entry in args.children().filter(|c| c.is_element()) {
            let key = text(entry, "key").ok_or("UserArguments entry without a key")?;
            let value = text(entry, "value").unwrap_or_default();
            length(&key, 1, 64, "UserArguments key")?;
            length(&value, 0, 1024, "UserArguments value")?;
            user_arguments.insert(key, value);
        }
        if user_arguments.len() > 10 {
            return Err("UserArguments: at most 10 entries".into());
        }
    }

    // Report: required; when enabled, a bucket, the format and a scope.
    let report = child(root, "Report").ok_or("CreateJob.Report is required")?;
    if !boolean(&required(report, "Enabled", "Report")?, "Report.Enabled")? {
        return Err("the stand-in expects trailwatch to enable the completion report".into());
    }
    let report_bucket = required(report, "Bucket", "Report")?;
    bucket_arn(&report_bucket, "Report.Bucket")?;
    if required(report, "Format", "Report")? != "Report_CSV_20180820" {
        return Err("Report.Format must be Report_CSV_20180820".into());
    }
    let report_scope = required(report, "ReportScope", "Report")?;
    if !matches!(report_scope.as_str(), "AllTasks" | "FailedTasksOnly") {
        return Err(format!("Report.ReportScope {report_scope:?}"));
    }
    let report_prefix = text(report, "Prefix");
    if let Some(p) = &report_prefix {
        length(p, 1, 512, "Report.Prefix")?;
    }

    // A manifest or a manifest generator, never both.
    let manifest = match (child(root, "Manifest"), child(root, "ManifestGenerator")) {
        (Some(_), Some(_)) => return Err("Manifest and ManifestGenerator are exclusive".into()),
        (None, None) => return Err("a Manifest or a ManifestGenerator is required".into()),
        (Some(m), None) => {
            let spec = child(m, "Spec").ok_or("Manifest.Spec is required")?;
            let format = required(spec, "Format", "Manifest.Spec")?;
            if format != "S3BatchOperations_CSV_20180820" {
                return Err(format!(
                    "Manifest.Spec.Format {format:?} (a CSV manifest expected)"
                ));
            }
            let fields = child(spec, "Fields").map(members).unwrap_or_default();
            for f in &fields {
                if !matches!(f.as_str(), "Ignore" | "Bucket" | "Key" | "VersionId") {
                    return Err(format!("Manifest.Spec.Fields: {f:?}"));
                }
            }
            if !(fields.iter().any(|f| f == "Bucket") && fields.iter().any(|f| f == "Key")) {
                return Err("a CSV manifest's Fields must include Bucket and Key".into());
            }
            let location = child(m, "Location").ok_or("Manifest.Location is required")?;
            let object_arn = required(location, "ObjectArn", "Manifest.Location")?;
            length(&object_arn, 1, 2000, "Manifest.Location.ObjectArn")?;
            if !object_arn.strip_prefix("arn:aws:s3:::").is_some_and(|r| {
                r.split_once('/')
                    .is_some_and(|(b, k)| !b.is_empty() && !k.is_empty())
            }) {
                return Err(format!(
                    "Manifest.Location.ObjectArn {object_arn:?} is not an object ARN"
                ));
            }
            let etag = required(location, "ETag", "Manifest.Location")?;
            length(&etag, 1, 1024, "Manifest.Location.ETag")?;
            ManifestSource::Csv {
                object_arn,
                etag,
                fields,
            }
        }
        (None, Some(g)) => {
            let s3 = child(g, "S3JobManifestGenerator")
                .ok_or("ManifestGenerator.S3JobManifestGenerator is required")?;
            let source_bucket = required(s3, "SourceBucket", "S3JobManifestGenerator")?;
            bucket_arn(&source_bucket, "S3JobManifestGenerator.SourceBucket")?;
            let enable = boolean(
                &required(s3, "EnableManifestOutput", "S3JobManifestGenerator")?,
                "EnableManifestOutput",
            )?;
            let (mut output_bucket, mut output_prefix) = (None, None);
            if let Some(out) = child(s3, "ManifestOutputLocation") {
                let b = required(out, "Bucket", "ManifestOutputLocation")?;
                bucket_arn(&b, "ManifestOutputLocation.Bucket")?;
                if required(out, "ManifestFormat", "ManifestOutputLocation")?
                    != "S3InventoryReport_CSV_20211130"
                {
                    return Err("ManifestOutputLocation.ManifestFormat must be S3InventoryReport_CSV_20211130".into());
                }
                output_bucket = Some(b);
                output_prefix = text(out, "ManifestPrefix");
            } else if enable {
                return Err("EnableManifestOutput needs a ManifestOutputLocation".into());
            }
            let filter = child(s3, "Filter");
            let mut match_any_prefix = Vec::new();
            let (mut created_after, mut created_before) = (None, None);
            if let Some(f) = filter {
                if let Some(p) =
                    child(f, "KeyNameConstraint").and_then(|k| child(k, "MatchAnyPrefix"))
                {
                    match_any_prefix = members(p);
                    // "Each KeyNameConstraint filter accepts an array of strings with a
                    // length of 1 string."
                    if match_any_prefix.len() != 1 {
                        return Err(format!(
                            "KeyNameConstraint.MatchAnyPrefix accepts 1 string, got {}",
                            match_any_prefix.len()
                        ));
                    }
                    for p in &match_any_prefix {
                        length(p, 1, 1024, "MatchAnyPrefix")?;
                    }
                }
                created_after = text(f, "CreatedAfter");
                created_before = text(f, "CreatedBefore");
                if let (Some(a), Some(b)) = (&created_after, &created_before)
                    && a >= b
                {
                    return Err(format!("CreatedAfter {a} is not before CreatedBefore {b}"));
                }
            }
            ManifestSource::Generator {
                source_bucket,
                match_any_prefix,
                created_after,
                created_before,
                enable_manifest_output: enable,
                output_bucket,
                output_prefix,
            }
        }
    };
    Ok(JobRequest {
        account: account.to_owned(),
        client_request_token: token,
        confirmation_required,
        priority,
        role_arn,
        description,
        function_arn,
        invocation_schema_version: schema,
        user_arguments,
        report_bucket,
        report_prefix,
        report_scope,
        manifest,
    })
}
