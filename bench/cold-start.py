#!/usr/bin/env python3
"""Cold start of the trailwatch function binaries against a Lambda Runtime API stand-in.

For each binary (forwarder, alerter, digest-verifier) this spawns the process N times with the
environment Lambda gives it, and measures, from just before the spawn:

  ready     the first `GET /2018-06-01/runtime/invocation/next`: configuration, SDK config and
            clients, rules are loaded and the function is ready for its first event;
  response  the `POST .../invocation/<id>/response` to an `s3:TestEvent` (the first invocation).

The process is killed after its first response. Python 3 standard library only.

    python3 bench/cold-start.py target/release
    python3 bench/cold-start.py target/release -n 50 --check-network   # + strace connect() audit
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "/2018-06-01/runtime"
TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2024-01-01T00:00:00Z",
    "Bucket": "b",
    "RequestId": "r",
    "HostId": "h",
}
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:t"

# Each function's required configuration; everything else stays at its default (RULE_SETS
# included). CUSTOM_RULES_S3_URI is deliberately unset: it makes the alerter read S3 at cold start.
FUNCTIONS = {
    "forwarder": {"LOG_GROUP_NAME": "/x"},
    "alerter": {"ALERT_TOPIC_ARN": TOPIC_ARN},
    "digest-verifier": {"ALERT_TOPIC_ARN": TOPIC_ARN},
}


class Run:
    """One cold start: timestamps (perf_counter_ns) and the outcome."""

    def __init__(self) -> None:
        self.request_id = str(uuid.uuid4())
        self.spawned: int | None = None
        self.ready: int | None = None
        self.responded: int | None = None
        self.response_body = b""
        self.failure: str | None = None
        self.done = threading.Event()  # response, error or init error arrived
        self.killed = threading.Event()  # the process is gone
        self.event_sent = False


class RuntimeApi(ThreadingHTTPServer):
    """The stand-in for one cold start. A fresh server (and port) per run, so that a request a
    killed process had in flight can never be taken for the next process's."""

    daemon_threads = True

    def __init__(self, run: Run) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.run = run
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        # A killed function leaves its keep-alive connection reset: expected, not worth a trace.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    server: RuntimeApi

    def log_message(self, *_args) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        now = time.perf_counter_ns()
        run = self.server.run
        if self.path != f"{API}/invocation/next":
            self._reply(404, b'{"errorMessage":"unexpected request"}')
            return
        with self.server.lock:
            first = not run.event_sent
            if first:
                run.ready = now
                run.event_sent = True
        if not first:
            # The runtime asks for its second event after responding: hold the request (as Lambda
            # does between events) until the process is killed.
            run.killed.wait(60)
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 30_000
        self._reply(
            200,
            json.dumps(TEST_EVENT).encode(),
            {
                "Lambda-Runtime-Aws-Request-Id": run.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            },
        )

    def do_POST(self) -> None:
        now = time.perf_counter_ns()
        body = self._body()
        run = self.server.run
        if self.path == f"{API}/invocation/{run.request_id}/response":
            run.responded = now
            run.response_body = body
        elif self.path == f"{API}/invocation/{run.request_id}/error":
            run.failure = f"invocation error: {body.decode(errors='replace')}"
        elif self.path == f"{API}/init/error":
            run.failure = f"init error: {body.decode(errors='replace')}"
        else:
            run.failure = f"unexpected POST {self.path}"
        self._reply(202, b'{"status":"OK"}')
        run.done.set()


def environment(name: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),  # no developer ~/.aws profile to read
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(FUNCTIONS[name])
    return env


def cold_start(argv: list[str], env: dict, log, timeout: float) -> tuple[Run, int]:
    """One cold start against its own stand-in; returns the run and the stand-in's port."""
    run = Run()
    server = RuntimeApi(run)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}")
    run.spawned = time.perf_counter_ns()
    # Own process group: killing it also ends a traced child when strace is the direct child.
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    try:
        if not run.done.wait(timeout):
            run.failure = f"no response within {timeout} s (exit code {proc.poll()})"
    finally:
        exited = proc.poll()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        run.killed.set()
        server.shutdown()
        server.server_close()
    if run.failure is None and exited is not None:
        run.failure = f"process exited with {exited} before it was killed"
    if run.failure is None and run.responded is None:
        run.failure = "no response recorded"
    return run, port


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


CONNECT = re.compile(r"connect\(\d+, \{sa_family=(\w+)(.*?)\}")


def network_audit(path: str, name: str, env: dict, timeout: float) -> tuple[int, list[str]]:
    """Runs one cold start under strace; returns the number of connect() calls to the stand-in
    and every other connect() line."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace, open(os.devnull, "wb") as log:
        argv = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", trace.name, path]
        run, port = cold_start(argv, env, log, timeout)
        if run.failure:
            raise SystemExit(f"{name} under strace: {run.failure}")
        found, to_api = [], 0
        for line in trace.read().splitlines():
            m = CONNECT.search(line)
            if not m:
                continue
            family, rest = m.groups()
            local_api = family == "AF_INET" and f"htons({port})" in rest and "127.0.0.1" in rest
            if local_api:
                to_api += 1
            else:
                found.append(line.strip())
        return to_api, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bindir", help="directory holding the binaries, e.g. target/release")
    parser.add_argument("-n", type=int, default=30, help="cold starts per binary (default 30)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per cold start")
    parser.add_argument(
        "--check-network",
        action="store_true",
        help="also run each binary once under strace and list connect() calls other than to the stand-in",
    )
    parser.add_argument("--only", action="append", choices=sorted(FUNCTIONS), help="measure only this function")
    args = parser.parse_args()

    names = args.only or list(FUNCTIONS)
    missing = [n for n in names if not os.access(os.path.join(args.bindir, n), os.X_OK)]
    if missing:
        print(
            f"missing binaries in {args.bindir}: {', '.join(missing)}\n"
            "build them: cargo build --release -p forwarder -p alerter -p digest-verifier",
            file=sys.stderr,
        )
        return 2
    if args.check_network and shutil.which("strace") is None:
        print("--check-network needs strace (apt-get install strace)", file=sys.stderr)
        return 2

    rows = []
    audits = {}
    failed = False
    for name in names:
        path = os.path.join(args.bindir, name)
        env = environment(name)
        ready, first_response, response_body = [], [], b""
        with tempfile.TemporaryFile() as log:
            # One unmeasured start first: the page cache, not the binary, would otherwise decide
            # the first sample.
            for i in range(args.n + 1):
                run, _ = cold_start([path], env, log, args.timeout)
                if run.failure:
                    log.seek(0)
                    tail = log.read()[-2000:].decode(errors="replace")
                    print(f"{name}: cold start {i} failed: {run.failure}\n--- output ---\n{tail}", file=sys.stderr)
                    failed = True
                    break
                if i == 0:
                    response_body = run.response_body
                    continue
                ready.append((run.ready - run.spawned) / 1e6)
                first_response.append((run.responded - run.spawned) / 1e6)
        if ready:
            size = os.path.getsize(path)
            rows.append((name, size, ready, first_response, response_body))
        if args.check_network and not failed:
            audits[name] = network_audit(path, name, env, args.timeout)

    print(f"cold start, {args.n} runs per binary ({os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}); ms from spawn")
    print()
    print("| binary | size (MB) | ready: median | ready: p90 | first response: median | first response: p90 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, size, ready, resp, _ in rows:
        print(
            f"| {name} | {size / 1e6:.1f} | {statistics.median(ready):.1f} | {percentile(ready, 90):.1f} "
            f"| {statistics.median(resp):.1f} | {percentile(resp, 90):.1f} |"
        )
    print()
    for name, _, _, _, body in rows:
        print(f"{name} response to s3:TestEvent: {body.decode(errors='replace')[:200]}")
    for name, (to_api, found) in audits.items():
        if to_api == 0:
            print(f"{name}: strace saw no connect() to the stand-in either: the audit did not work")
            failed = True
        elif found:
            print(f"{name}: connect() calls other than to the runtime API stand-in:")
            for line in found:
                print(f"  {line}")
        else:
            print(f"{name}: {to_api} connect() to the runtime API stand-in, none elsewhere")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
