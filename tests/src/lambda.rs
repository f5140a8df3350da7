//! The real function binaries under `cargo lambda watch`'s Lambda runtime API emulator.
//!
//! `cargo lambda watch --only-lambda-apis` serves the runtime API and the invoke endpoint; the
//! harness starts the function binary that `cargo test --workspace` already built (running
//! `cargo run` from inside a test would wait on the build lock `cargo test` holds) with the
//! variables a Lambda execution environment sets, and `cargo lambda invoke` sends the event
//! through the emulator — so the binary's `main`, its cold-start configuration, the runtime
//! client and the handler all run exactly as on Lambda.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, require_tool, wait_for_port, workspace_root};

pub const CARGO_LAMBDA_INSTALL: &str = "pip install cargo-lambda==1.9.2";
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
    // A binary older than its sources would test yesterday's code.
    let root = workspace_root();
    let newest = [
        "shared/src",
        "functions/common/src",
        &format!("functions/{name}/src"),
    ]
    .iter()
    .filter_map(|d| newest_mtime(&root.join(d)))
    .max();
    if let Some(newest) = newest {
        assert!(
            built >= newest,
            "function binary {} is older than its sources; {hint}",
            bin.display()
        );
    }
    bin
}

fn newest_mtime(dir: &std::path::Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(t);
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
        require_tool("cargo-lambda", CARGO_LAMBDA_INSTALL);
        let port = free_port();
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

    /// Sends `payload` through `cargo lambda invoke`; `Ok(response)` or `Err(error text)` when
    /// the function returned an error.
    pub fn invoke(&self, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), payload.to_string()).expect("write payload");
        let mut child = Command::new("cargo")
            .args([
                "lambda",
                "invoke",
                &self.function_name,
                "--invoke-address",
                "127.0.0.1",
            ])
            .arg("--invoke-port")
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(file.path())
            .args(["--output-format", "json"])
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cargo lambda invoke");
        // A function that never reaches the runtime API would leave invoke waiting forever.
        let deadline = std::time::Instant::now() + INVOKE_TIMEOUT;
        while child
            .try_wait()
            .expect("poll cargo lambda invoke")
            .is_none()
        {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cargo lambda invoke {} timed out after {INVOKE_TIMEOUT:?}; function output:\n{}",
                    self.function_name,
                    self.stdout_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child
            .wait_with_output()
            .expect("cargo lambda invoke output");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            serde_json::from_str(stdout.trim())
                .map_err(|e| format!("invoke output is not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Stops the function and returns everything it printed on stdout (logs and EMF lines).
    pub fn stop_and_collect_stdout(mut self) -> String {
        if let Some(mut f) = self.function.take() {
            let _ = f.kill();
            let _ = f.wait();
        }
        std::fs::read_to_string(self.stdout_file.path()).unwrap_or_default()
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
