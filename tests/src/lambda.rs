//! The real function binaries under `cargo lambda watch`'s Lambda runtime API emulator.
//!
//! `cargo lambda watch --only-lambda-apis` serves the runtime API and the invoke endpoint; the
//! harness starts the function binary that `cargo test --workspace` already built (running
//! `cargo run` from inside a test would wait on the build lock `cargo test` holds) with the
//! variables a Lambda execution environment sets, and sends the event to the emulator's `Invoke`
//! API (as `cargo lambda invoke` does, but keeping the function's error document, which that
//! command does not print) — so the binary's `main`, its cold-start configuration, the runtime
//! client and the handler all run exactly as on Lambda.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, require_tool, wait_for_port, workspace_root};

pub(crate) const CARGO_LAMBDA_INSTALL: &str = "pip install cargo-lambda==1.9.2";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// Path of a workspace binary built by `cargo test --workspace` (next to the test's own deps dir).
pub fn function_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // Tests run from target/<profile>/deps/<test>-<hash>, the local run from
    // target/<profile>/local-run; the functions are in target/<profile>/.
    let dir = exe.parent().expect("target/<profile>");
    let dir = if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>")
    } else {
        dir
    };
    let bin = dir.join(name);
    let hint = "build them first with `cargo build --workspace --bins` (tests/run-tests does)";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("function binary {} not found; {hint}", bin.display()));
    // A binary older than its sources would test yesterday's code. The sources are what cargo
    // compiled it from (its dep-info file, `<bin>.d`), not every file of the source folders: a
    // test-only file edited after the build does not make the binary stale.
    let root = workspace_root();
    let sources = dep_info_sources(&bin, &root).unwrap_or_else(|| {
        [
            "shared/src",
            "functions/common/src",
            &format!("functions/{name}/src"),
        ]
        .iter()
        .map(|d| root.join(d))
        .collect()
    });
    let newest = sources.iter().filter_map(|p| newest_mtime(p)).max();
    if let Some(newest) = newest {
        assert!(
            built >= newest,
            "function binary {} is older than its sources; {hint}",
            bin.display()
        );
    }
    bin
}

/// The workspace files cargo built `bin` from, read from its dep-info file (`bin.d`:
/// `target: dep dep …`, spaces in paths escaped as `\ `); `None` when there is none.
fn dep_info_sources(bin: &std::path::Path, root: &std::path::Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(bin.with_extension("d")).ok()?;
    let deps = text.lines().next()?.split_once(": ")?.1;
    let paths: Vec<PathBuf> = deps
        .replace("\\ ", "\u{0}")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
        .filter(|p| p.starts_with(root))
        .collect();
    (!paths.is_empty()).then_some(paths)
}

/// The newest modification time of a file, or of any file under a directory.
fn newest_mtime(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut newest = None;
    for entry in std::fs::read_dir(path).ok()?.flatten() {
        newest = newest.max(newest_mtime(&entry.path()));
    }
    newest
}

/// A runtime API emulator plus one function process, both killed on drop.
pub struct LambdaWatch {
    watch: Child,
    function: Option<Child>,
    port: u16,
    function_name: String,
    /// The function's stdout (logs, EMF) goes to a file: a pipe nobody drains would block it.
    stdout_file: tempfile::NamedTempFile,
}

impl LambdaWatch {
    /// Starts the emulator and the binary `function_name` with `env` added to its environment.
    pub fn start(function_name: &str, env: &[(String, String)]) -> LambdaWatch {
        Self::start_on(function_name, env, free_port())
    }

    /// [`start`](Self::start) with the emulator on `port`, chosen by the caller so that `env`
    /// can point `AWS_LAMBDA_RUNTIME_API` at something in front of it (the fault suite puts a
    /// proxy there that gives each invocation a real deadline, as Lambda does).
    pub fn start_on(function_name: &str, env: &[(String, String)], port: u16) -> LambdaWatch {
        require_tool("cargo-lambda", CARGO_LAMBDA_INSTALL);
        let watch = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cargo lambda watch");
        let stdout_file = tempfile::NamedTempFile::new().expect("temp file");
        let mut this = LambdaWatch {
            watch,
            function: None,
            port,
            function_name: function_name.to_owned(),
            stdout_file,
        };
        wait_for_port(port, Duration::from_secs(60), "cargo lambda watch");
        let function = Command::new(function_binary(function_name))
            // The emulator serves each function's runtime API under /.rt/<function name>.
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt/{function_name}"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                this.stdout_file.reopen().expect("reopen temp file"),
            ))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn function binary");
        this.function = Some(function);
        this
    }

    /// Sends `payload` to the emulator's Lambda `Invoke` API (what `cargo lambda invoke` does);
    /// `Ok(response)`, or `Err(error document)` when the function returned an error: the
    /// `{"errorType", "errorMessage"}` JSON that Lambda puts in the on-failure destination record
    /// as `responsePayload`.
    pub fn invoke(&self, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        self.invoke_within(payload, INVOKE_TIMEOUT)
            .unwrap_or_else(|| {
                panic!(
                    "invoking {} timed out after {INVOKE_TIMEOUT:?}; function output:\n{}",
                    self.function_name,
                    self.stdout_so_far()
                )
            })
    }

    /// [`invoke`](Self::invoke) of an event the function must handle: panics, saying `what`, if
    /// the invocation fails, and asserts the response's `status` is `ok`; returns the response.
    pub fn invoke_ok(&self, payload: &serde_json::Value, what: &str) -> serde_json::Value {
        let response = self
            .invoke(payload)
            .unwrap_or_else(|e| panic!("{what}: the invocation failed: {e}"));
        assert_eq!(response["status"], "ok", "{what}: {response}");
        response
    }

    /// [`invoke`](Self::invoke) with a deadline: `None` when no answer came within `deadline`,
    /// which is what Lambda does to an invocation that outlives the function's timeout (the
    /// fault suite then drops this environment and starts a fresh one, as Lambda does).
    pub fn invoke_within(
        &self,
        payload: &serde_json::Value,
        deadline: Duration,
    ) -> Option<Result<serde_json::Value, String>> {
        use std::io::{Read, Write};
        let body = payload.to_string();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .expect("connect to the emulator");
        // A function that never reaches the runtime API would leave the call waiting forever.
        stream
            .set_read_timeout(Some(deadline))
            .expect("read timeout");
        write!(
            stream,
            "POST /2015-03-31/functions/{}/invocations HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.function_name,
            self.port,
            body.len()
        )
        .expect("send the invocation");
        let mut response = Vec::new();
        match stream.read_to_end(&mut response) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(e) => panic!(
                "invoking {} failed ({e}); function output:\n{}",
                self.function_name,
                self.stdout_so_far()
            ),
        }
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
        let body = decode_body(head, body);
        Some(if head.starts_with("HTTP/1.1 200") {
            serde_json::from_str(body.trim())
                .map_err(|e| format!("invoke output is not JSON ({e}): {body}"))
        } else {
            Err(body)
        })
    }

    /// Stops the function and returns everything it printed on stdout (logs and EMF lines).
    pub fn stop_and_collect_stdout(mut self) -> String {
        if let Some(mut f) = self.function.take() {
            let _ = f.kill();
            let _ = f.wait();
        }
        std::fs::read_to_string(self.stdout_file.path()).unwrap_or_default()
    }

    /// The function process's peak resident set size so far, in KiB (`VmHWM` of
    /// `/proc/<pid>/status`, Linux only): the memory high-water mark Lambda's limit applies to.
    pub fn function_peak_rss_kib(&self) -> Option<u64> {
        let pid = self.function.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// What the function has printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        std::fs::read_to_string(self.stdout_file.path()).unwrap_or_default()
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        if let Some(mut f) = self.function.take() {
            let _ = f.kill();
            let _ = f.wait();
        }
        let _ = self.watch.kill();
        let _ = self.watch.wait();
    }
}

/// The body of an HTTP/1.1 response, de-chunked when the server chunked it.
fn decode_body(head: &str, body: &str) -> String {
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !chunked {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
