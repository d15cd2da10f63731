"""Record a real Kestra server's answers to kestra.Flow, as test data.

    python e2e/record_answers.py --server http://127.0.0.1:28080 [--user U --password P]

Runs kestra.Flow operations against the server through a small recording HTTP proxy on
loopback (Flow.hostname points at the proxy, which forwards to the server), and writes
every exchange to e2e/answers/<server version>.json: a list of exchanges, each with
the scenario that caused it (``label``), ``method``, ``path`` (path and query),
``status``, ``reason``, the response headers that matter, and the body (``body``:
text; ``body_base64``: bytes that are not UTF-8; an event stream as its raw text, up
to where the client stopped reading). No request header is recorded, so credentials
never reach the file; the script checks the file for them before writing it.

The flows of e2e/flows, and those of RECORDED_FLOWS below (an approval point, a
webhook), are created in a namespace of their own (``--namespace``, default
``fuzz.record.r<random>``); at the end, the namespace's executions and flows are
deleted. Standard library and kestra.py only. e2e/fuzz_flow.py serves these
answers, mutated, to Flow.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import http.server
import json
import os
import secrets
import select
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import kestra  # noqa: E402

FLOWS_DIR = HERE / "flows"
ANSWERS_DIR = HERE / "answers"
KEPT_HEADERS = ("Content-Type", "Content-Length", "Transfer-Encoding", "WWW-Authenticate", "Location", "Retry-After")
MAX_LIST_ENTRIES = 60        # a JSON list (logs) longer than this keeps its first entries
MAX_TEXT_CHARS = 60_000      # a longer text body is cut at a line end
MAX_STREAM_SECONDS = 60.0    # an event stream is recorded for this long at most
HOP_HEADERS = {"host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}
FLOW_FILES = ("hello", "fail", "warn", "long", "count", "inputs")  # of e2e/flows
WEBHOOK_KEY = "fuzz-record-webhook-key"  # a throwaway key: the flow is deleted at the end
# A value of each type the KV store keeps, set and read back by the namespace scenarios.
KV_VALUES = {"text": "hello world", "count": 42, "ratio": 2.5, "flag": True, "nothing": None,
             "moment": datetime.datetime(2024, 4, 21, 10, 0, 0, 123000, tzinfo=datetime.timezone.utc),
             "day": datetime.date(2024, 4, 21), "wait": datetime.timedelta(minutes=5),
             "doc": {"a": [1, 2.5, None], "b": "caf\u00e9"}}
# Flows of the scenarios of Flow's later calls (resume, webhook), written here rather than
# in e2e/flows: only this script runs them.
RECORDED_FLOWS = {
    # Waits at an approval point; its onResume inputs: text, a file and an optional number.
    "approve": """id: approve
namespace: __NAMESPACE__
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: answer
        type: STRING
      - id: doc
        type: FILE
      - id: count
        type: INT
        required: false
  - id: show
    type: io.kestra.plugin.core.output.OutputValues
    values:
      answer: "{{ outputs.wait.onResume.answer }}"
""",
    # Started by its Webhook trigger (no credentials; the key in the path).
    "hook": """id: hook
namespace: __NAMESPACE__
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "webhook body: {{ trigger.body ?? 'none' }}"
triggers:
  - id: web
    type: io.kestra.plugin.core.trigger.Webhook
    key: %s
""" % WEBHOOK_KEY,
}
NO_EXECUTION = "NoSuchExecution0000"


class Recorder:
    """The recorded exchanges, and the label of the scenario now running."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.exchanges = []
        self.lock = threading.Lock()
        self.label = "start"
        self.active = 0
        self.idle = threading.Condition(self.lock)

    def begin(self) -> str:
        with self.lock:
            self.active += 1
            return self.label

    def end(self, exchange: dict) -> None:
        with self.lock:
            if exchange is not None:
                self.exchanges.append(exchange)
            self.active -= 1
            self.idle.notify_all()

    def wait_idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        with self.lock:
            while self.active and time.monotonic() < end:
                self.idle.wait(0.1)


def _client_gone(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def make_handler(recorder: Recorder) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one exchange per connection, bodies close-delimited if need be

        def log_message(self, *args) -> None:
            pass

        def _request_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self) -> None:
            label = recorder.begin()
            exchange = None
            try:
                exchange = self._relay(label)
            finally:
                recorder.end(exchange)

        def _relay(self, label: str) -> dict:
            body = self._request_body()
            headers = {name: value for name, value in self.headers.items()
                       if name.lower() not in HOP_HEADERS and name.lower() != "transfer-encoding"}
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            headers["Host"] = "%s:%d" % (recorder.upstream_host, recorder.upstream_port)
            upstream = http.client.HTTPConnection(recorder.upstream_host, recorder.upstream_port, timeout=120)
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            upstream_sock = upstream.sock  # http.client lets go of it when the answer closes the connection
            response = upstream.getresponse()
            kept = {name: response.getheader(name) for name in KEPT_HEADERS if response.getheader(name) is not None}
            streamed = (response.getheader("Content-Type") or "").startswith("text/event-stream")
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_HEADERS and name.lower() not in ("transfer-encoding", "content-length"):
                    self.send_header(name, value)
            if streamed:
                self.end_headers()
                content = self._pump(upstream_sock, response)
            else:
                content = response.read()
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                try:
                    self.wfile.write(content)
                    self.wfile.flush()
                except OSError:
                    pass
            upstream.close()
            exchange = {
                "label": label,
                "method": self.command,
                "path": self.path,
                "request_content_type": (self.headers.get("Content-Type") or "").split(";")[0] or None,
                "status": response.status,
                "reason": response.reason,
                "headers": kept,
                "sse": streamed,
            }
            exchange.update(body_fields(content, kept.get("Content-Type") or "", streamed))
            return exchange

        def _pump(self, upstream_sock: socket.socket, response: http.client.HTTPResponse) -> bytes:
            """Relay an event stream as it comes, until it ends, the client leaves or
            MAX_STREAM_SECONDS pass; what was relayed is returned."""
            received = []
            finished = threading.Event()

            def pump() -> None:
                try:
                    while True:
                        chunk = response.read1(65536)
                        if not chunk:
                            break
                        received.append(chunk)
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (OSError, ValueError, http.client.HTTPException):
                    pass
                finally:
                    finished.set()

            thread = threading.Thread(target=pump, daemon=True)
            thread.start()
            started = time.monotonic()
            while not finished.wait(0.1):
                if _client_gone(self.connection) or time.monotonic() - started > MAX_STREAM_SECONDS:
                    break
            try:
                upstream_sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            thread.join(5)
            return b"".join(received)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

    return Handler


def body_fields(content: bytes, content_type: str, streamed: bool) -> dict:
    """The body as stored: text (cut when huge: long JSON lists keep their first
    entries, long text its first lines) or base64 for bytes that are not UTF-8."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(content[:MAX_TEXT_CHARS]).decode("ascii"),
                "truncated": len(content) > MAX_TEXT_CHARS}
    truncated = False
    if not streamed and "json" in content_type:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and len(value) > MAX_LIST_ENTRIES:
            text = json.dumps(value[:MAX_LIST_ENTRIES], separators=(",", ":"))
            truncated = True
    if len(text) > MAX_TEXT_CHARS:
        cut = text.rfind("\n", 0, MAX_TEXT_CHARS)
        text = text[: cut + 1 if cut > 0 else MAX_TEXT_CHARS]
        truncated = True
    return {"body": text, "truncated": truncated}


class Session:
    """The scenarios, each under a label, through the proxy."""

    def __init__(self, recorder: Recorder, proxy_url: str, user: str, password: str, namespace: str) -> None:
        self.recorder = recorder
        self.proxy_url = proxy_url
        self.user = user
        self.password = password
        self.namespace = namespace
        self.notes = []

    def flow(self, **options) -> kestra.Flow:
        flow = kestra.Flow(**options)
        flow.hostname = self.proxy_url
        flow.user, flow.password, flow.api_token = self.user, self.password, None
        return flow

    def step(self, label: str, action):
        """Run one scenario; a KestraError is an expected answer for some of them."""
        self.recorder.wait_idle(10)
        self.recorder.label = label
        try:
            result = action()
            self.notes.append("%-28s ok: %s" % (label, _short(result)))
            return result
        except kestra.KestraError as exc:
            self.notes.append("%-28s %s: %s" % (label, type(exc).__name__, _short(exc)))
            return None

    def run(self) -> None:
        ns = self.namespace
        flow = self.flow(timeout=120, poll_interval=0.5)
        self.step("configs", lambda: flow._version())
        yaml = {"Content-Type": "application/x-yaml"}
        sources = [(FLOWS_DIR / ("%s.yaml" % name)).read_text(encoding="utf-8") for name in FLOW_FILES]
        for source in sources + list(RECORDED_FLOWS.values()):
            source = source.replace("__NAMESPACE__", ns)
            self.step("flows.create", lambda: flow._make_request("POST", "/api/v1/main/flows", data=source,
                                                                 headers=yaml).json()["id"])
        hello = (FLOWS_DIR / "hello.yaml").read_text(encoding="utf-8").replace("__NAMESPACE__", ns)
        self.step("flows.create.exists", lambda: flow._make_request("POST", "/api/v1/main/flows", data=hello,
                                                                    headers=yaml))
        self.step("flows.create.invalid", lambda: flow._make_request(
            "POST", "/api/v1/main/flows", data="id: broken\nnamespace: %s\ntasks: 3\n" % ns, headers=yaml))

        # What `kestra.py deploy` asks: a flow's source, an update, a validation.
        self.step("flows.get.source", lambda: flow._make_request(
            "GET", "/api/v1/main/flows/%s/hello" % ns, params={"source": "true"}).json()["revision"])
        self.step("flows.get.unknown", lambda: flow._make_request(
            "GET", "/api/v1/main/flows/%s/no_such_flow" % ns, params={"source": "true"}))
        self.step("flows.update", lambda: flow._make_request(
            "PUT", "/api/v1/main/flows/%s/hello" % ns, data=hello + "description: updated\n", headers=yaml
        ).json()["revision"])
        self.step("flows.update.invalid", lambda: flow._make_request(
            "PUT", "/api/v1/main/flows/%s/hello" % ns, data=hello + "bogus: 1\n", headers=yaml))
        self.step("flows.validate", lambda: flow._make_request(
            "POST", "/api/v1/main/flows/validate", data=hello, headers=yaml).json())
        self.step("flows.validate.invalid", lambda: flow._make_request(
            "POST", "/api/v1/main/flows/validate", headers=yaml,
            data="id: broken\nnamespace: %s\ntasks:\n  - id: t\n    type: io.kestra.no.SuchTask\n" % ns).json())

        # A run with inputs and labels, waited on this side: create, follow, logs, outputs.
        hello_run = self.step("execute.hello.inputs_labels", lambda: flow.execute(
            ns, "hello", {"team": "data", "size": 3}, labels={"ticket": "#42", "team": "data & ops"}))
        self.step("execute.hello.server_wait", lambda: self.flow().execute(ns, "hello", server_wait=True))
        failed_run = self.step("execute.fail", lambda: flow.execute(ns, "fail"))
        self.step("execute.warn", lambda: flow.execute(ns, "warn"))

        payload = "day,rows\n2024-04-21,120\ncaf\u00e9,\u2713\n".encode("utf-8")
        inputs = {
            "text": "na\u00efve & <b>\"bold\"</b>", "count": 42, "ratio": 3.25, "flag": False,
            "moment": "2024-04-21T13:43:24.123+02:00", "document": {"name": "Zo\u00eb", "values": [1, 2.5]},
            "numbers": [3, 1, 2], "choice": "green & blue",
            "payload": ("payload.csv", payload, "text/csv"), "lib": HERE.parent / "kestra.py",
        }
        done = self.step("execute.inputs", lambda: flow.execute(ns, "inputs", inputs))
        if done is not None:
            self.step("outputs", lambda: flow.outputs(done.execution_id))
            uri = (done.execution.get("inputs") or {}).get("payload")
            if uri:
                self.step("download_file", lambda: len(flow.download_file(done.execution_id, uri, _Sink()).data))
            self.step("download_file.unknown", lambda: flow.download_file(
                done.execution_id, "kestra:///%s/inputs/none/no-such-file.txt" % ns.replace(".", "/"), _Sink()))
        self.step("execute.inputs.bad_input", lambda: flow.execute(ns, "inputs", dict(inputs, count="not a number")))

        # Created without waiting, then waited for, then its logs read every way.
        started = self.step("execute.count.no_wait", lambda: self.flow(wait_for_completion=False).execute(ns, "count"))
        if started is not None:
            run_id = started.execution_id
            self.step("wait.count", lambda: flow.wait(run_id))
            self.step("get_execution", lambda: flow.get_execution(run_id)["state"]["current"])
            self.step("get_logs", lambda: len(flow.get_logs(run_id).text))
            self.step("logs.list", lambda: len(flow._make_request("GET", "/api/v1/main/logs/%s" % run_id).json()))
            self.step("follow_logs", lambda: len(list(flow.follow_logs(run_id))))
            self.step("follow_logs.min_level", lambda: len(list(flow.follow_logs(run_id, min_level="WARN"))))
            self.step("follow_logs.running", lambda: self._follow_running(ns))
            self.step("kill.succeeded", lambda: flow.kill(run_id))

        # Kill a running execution, then kill it again once it has ended: 409.
        long_run = self.step("execute.long.no_wait", lambda: self.flow(wait_for_completion=False).execute(ns, "long"))
        if long_run is not None:
            long_id = long_run.execution_id
            time.sleep(2)
            self.step("kill", lambda: flow.kill(long_id))
            self.step("wait.killed", lambda: flow.wait(long_id))
            self.step("kill.ended", lambda: flow.kill(long_id))
            self.step("restart.killed", lambda: flow.restart(long_id))

        self.run_later_calls(flow, hello_run, failed_run)
        self.run_namespace_state(flow)

        # Errors.
        self.step("get_execution.unknown", lambda: flow.get_execution("NoSuchExecution0000"))
        self.step("get_logs.unknown", lambda: flow.get_logs("NoSuchExecution0000"))
        self.step("kill.unknown", lambda: flow.kill("NoSuchExecution0000"))
        self.step("download_file.unknown_execution", lambda: flow.download_file(
            "NoSuchExecution0000", "kestra:///%s/hello/x.txt" % ns.replace(".", "/"), _Sink()))
        self.step("execute.unknown_flow", lambda: flow.execute(ns, "no_such_flow"))
        wrong = self.flow()
        wrong.password = "not-the-password"
        self.step("auth.wrong_password", lambda: wrong.get_execution("NoSuchExecution0000"))
        self.step("auth.wrong_password.create", lambda: wrong.execute(ns, "hello"))
        nobody = self.flow()
        nobody.user = nobody.password = None
        self.step("auth.none", lambda: nobody.get_execution("NoSuchExecution0000"))

    def run_later_calls(self, flow: kestra.Flow, hello_run, failed_run) -> None:
        """What follows an execution's start: an approval point waited for and resumed
        (with and without the right inputs), pause, restart, replay, labels, a search of
        several pages, a webhook, a deletion; and the servers' refusals of each."""
        ns = self.namespace
        no_wait = self.flow(wait_for_completion=False)
        self.step("execute.approve.until_paused", lambda: flow.execute(ns, "approve", until="PAUSED"))
        approval = self.step("execute.approve.no_wait", lambda: no_wait.execute(ns, "approve"))
        if approval is not None:
            approval_id = approval.execution_id
            self.step("wait.approve.until_paused", lambda: flow.wait(approval_id, until="PAUSED"))
            self.step("resume.unknown_input", lambda: flow.resume(approval_id, {"nope": "x"}))
            self.step("resume.bad_value", lambda: flow.resume(approval_id, {"answer": "yes", "doc": b"x",
                                                                            "count": "not a number"}))
            self.step("resume.validate.form", lambda: flow._make_request(  # not multipart: 415
                "POST", self._action_path(flow, approval_id, "resume/validate"), data={"answer": "yes"}))
            resumed = self.step("resume", lambda: flow.resume(approval_id, {
                "answer": "yes & <ok>", "doc": ("doc.txt", "caf\u00e9\n".encode("utf-8"), "text/plain"),
                "count": 3}))
            if resumed is not None:
                self.step("wait.resumed", lambda: flow.wait(resumed))
            self.step("resume.not_paused", lambda: flow.resume(approval_id, {"answer": "again"}))
            self.step("resume.not_paused.raw", lambda: flow._make_request(
                "POST", self._action_path(flow, approval_id, "resume"), files={"answer": (None, "again")}))
            self.step("resume.validate.not_paused.raw", lambda: flow._make_request(
                "POST", self._action_path(flow, approval_id, "resume/validate"), files={"answer": (None, "again")}))
            self.step("pause.ended", lambda: flow.pause(approval_id))
            self.step("pause.ended.raw", lambda: flow._make_request(
                "POST", self._action_path(flow, approval_id, "pause")))
            self.step("restart.succeeded", lambda: flow.restart(approval_id))
            self.step("replay.approve.from_task", lambda: flow.replay(approval_id, from_task="show"))
        self.step("resume.unknown", lambda: flow.resume(NO_EXECUTION))
        self.step("resume.unknown.raw", lambda: flow._make_request(
            "POST", self._action_path(flow, NO_EXECUTION, "resume"), files={"answer": (None, "x")}))

        # Pause a running execution, wait until it is PAUSED, resume it, kill it.
        running = self.step("execute.long.no_wait", lambda: no_wait.execute(ns, "long"))
        if running is not None:
            running_id = running.execution_id
            self.step("wait.long.until_running", lambda: flow.wait(running_id, until="RUNNING"))
            paused = self.step("pause", lambda: flow.pause(running_id))
            if paused is not None:
                self.step("wait.paused", lambda: flow.wait(paused, until="PAUSED", timeout=60))
            self.step("resume.no_inputs", lambda: flow.resume(running_id))
            self.step("kill.resumed", lambda: flow.kill(running_id))
            self.step("wait.killed", lambda: flow.wait(running_id))
        self.step("pause.unknown.raw", lambda: flow._make_request(
            "POST", self._action_path(flow, NO_EXECUTION, "pause")))

        # Restart a FAILED execution in place, then on a revision; it fails again.
        if failed_run is not None:
            failed_id = failed_run.execution_id
            restarted = self.step("restart", lambda: flow.restart(failed_id))
            if restarted is not None:
                self.step("wait.restarted", lambda: flow.wait(restarted))
            again = self.step("restart.revision", lambda: flow.restart(failed_id, revision=1))
            if again is not None:
                # Kestra 1.3.25 answers with a new execution (another id): that is the one to wait for.
                again_id = (again.execution or {}).get("id") or again.execution_id
                self.step("wait.restarted.revision", lambda: flow.wait(again_id))
        self.step("restart.unknown", lambda: flow.restart(NO_EXECUTION))

        # Replay (a new execution): from the start, from a task, with new inputs.
        if hello_run is not None:
            hello_id = hello_run.execution_id
            replayed = self.step("replay", lambda: flow.replay(hello_id))
            if replayed is not None:
                self.step("wait.replayed", lambda: flow.wait(replayed))
            self.step("replay.from_task", lambda: flow.replay(hello_id, from_task="hello"))
            with_inputs = self.step("replay.inputs", lambda: flow.replay(hello_id, inputs={"team": "ops"}, revision=1))
            if with_inputs is not None:
                self.step("wait.replayed.inputs", lambda: flow.wait(with_inputs))
            self.step("replay.bad_task.raw", lambda: flow._make_request(
                "POST", self._action_path(flow, hello_id, "replay"), params={"taskRunId": "nope"}))

            # Labels: added, replaced; refused ones.
            self.step("labels", lambda: flow.set_labels(hello_id, {"reviewed": "yes", "team": "data & ops"}))
            self.step("labels.replace", lambda: flow.set_labels(hello_id, {"only": "this"}, replace=True))
            for label, labels in (("labels.invalid.raw", [{"key": "", "value": "x"}]),
                                  ("labels.system.raw", [{"key": "system.x", "value": "x"}])):
                self.step(label, lambda: flow._make_request(
                    "POST", self._action_path(flow, hello_id, "labels"), json=labels))
        self.step("replay.unknown", lambda: flow.replay(NO_EXECUTION))
        self.step("replay.unknown.raw", lambda: flow._make_request(
            "POST", self._action_path(flow, NO_EXECUTION, "replay")))
        self.step("labels.unknown", lambda: flow.set_labels(NO_EXECUTION, {"a": "b"}, replace=True))

        # A search of several pages (5 executions, 2 a page), and searches that match none.
        batch = secrets.token_hex(4)
        for index in range(5):
            self.step("execute.hello.batch", lambda: flow.execute(ns, "hello", {"size": index},
                                                                  labels={"batch": batch}))
        self.step("search", lambda: len(list(flow.search_executions(ns, "hello", labels={"batch": batch},
                                                                    page_size=2))))
        self.step("search.states", lambda: len(list(flow.search_executions(
            ns, states=["FAILED", "KILLED"], since="2020-01-01T00:00:00Z", page_size=3))))
        self.step("search.until", lambda: len(list(flow.search_executions(ns, until="2020-01-01T00:00:00Z",
                                                                          page_size=3))))
        self.step("search.none", lambda: len(list(flow.search_executions(ns + ".nothing_here"))))
        self.step("search.invalid.raw", lambda: flow._make_request(
            "GET", "/api/v1/main/executions/search", params={"filters[state][IN]": "NOPE"}))

        # The webhook: a JSON body, a text body by PUT, none by GET; a wrong key.
        hooked = self.step("webhook", lambda: flow.webhook(ns, "hook", WEBHOOK_KEY, {"order": 42, "note": "caf\u00e9"}))
        if hooked is not None:
            self.step("wait.webhook", lambda: flow.wait(hooked))
        self.step("webhook.put", lambda: flow.webhook(ns, "hook", WEBHOOK_KEY, "plain text", method="PUT"))
        self.step("webhook.get", lambda: flow.webhook(ns, "hook", WEBHOOK_KEY, method="GET"))
        self.step("webhook.wrong_key", lambda: flow.webhook(ns, "hook", "not-the-key", {"a": 1}))
        self.step("webhook.unknown_flow", lambda: flow.webhook(ns, "no_such_flow", WEBHOOK_KEY))

        # Delete an execution, then again: 404.
        if hooked is not None:
            self.step("delete", lambda: flow.delete_execution(hooked.execution_id))
            self.step("delete.again", lambda: flow.delete_execution(hooked.execution_id))
        self.step("delete.unknown", lambda: flow.delete_execution(NO_EXECUTION, logs=False, metrics=False,
                                                                  files=False))

    def run_namespace_state(self, flow: kestra.Flow) -> None:
        """The namespace's state: KV values of each type (a missing key, an expired one, a
        listing, deletes), namespace files synced, listed, pulled and deleted, and the
        namespace's flows listed, read and deleted."""
        ns = self.namespace
        for key, value in KV_VALUES.items():
            self.step("kv.set", lambda: flow.kv_set(ns, key, value, ttl="PT1H" if key == "text" else None,
                                                    description="recorded" if key == "count" else None))
            self.step("kv.get", lambda: flow.kv_get(ns, key))
        self.step("kv.get.missing", lambda: flow.kv_get(ns, "no_such_key"))
        self.step("kv.set.short", lambda: flow.kv_set(ns, "short_lived", "x", ttl="PT1S"))
        time.sleep(2.5)
        self.step("kv.get.expired", lambda: flow.kv_get(ns, "short_lived"))
        self.step("kv.get.expired.again", lambda: flow.kv_get(ns, "short_lived"))
        self.step("kv.list", lambda: len(flow.kv_list(ns)))
        self.step("kv.delete", lambda: flow.kv_delete(ns, "text"))
        self.step("kv.delete.again", lambda: flow.kv_delete(ns, "text"))
        self.step("kv.set.invalid.raw", lambda: flow._make_request(
            "PUT", "/api/v1/main/namespaces/%s/kv/-bad" % ns, data="1", headers={"Content-Type": "text/plain"}))
        with tempfile.TemporaryDirectory() as folder:
            source = os.path.join(folder, "source")
            for relative, data in (("readme.md", b"# recorded\n"), ("src/main.py", b"print('main')\n"),
                                   ("donn\u00e9es/\u00e9t\u00e9.csv", "a,\u00e9\n".encode("utf-8"))):
                path = os.path.join(source, *relative.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as file:
                    file.write(data)
            self.step("files.sync", lambda: flow.sync_files(ns, source, "/app"))
            self.step("files.sync.again", lambda: flow.sync_files(ns, source, "/app"))
            self.step("files.list", lambda: len(flow.list_files(ns)))
            self.step("files.download", lambda: flow.download_files(ns, "/app", os.path.join(folder, "back")))
            os.unlink(os.path.join(source, "readme.md"))
            self.step("files.sync.delete", lambda: flow.sync_files(ns, source, "/app", delete=True))
        self.step("files.delete.missing", lambda: flow.delete_file(ns, "/nothing/here"))
        self.step("files.download.missing", lambda: flow.download_files(ns, "/nothing.txt", os.devnull))
        self.step("files.delete", lambda: flow.delete_file(ns, "/app"))
        self.step("files.list.missing", lambda: flow.list_files(ns, "/app"))
        self.step("flows.list", lambda: len(flow.list_flows(ns)))
        self.step("flows.source", lambda: len(flow.get_flow_source(ns, "hello")))
        self.step("flows.source.unknown", lambda: flow.get_flow_source(ns, "no_such_flow"))
        self.step("flows.delete", lambda: flow.delete_flow(ns, "warn"))
        self.step("flows.delete.again", lambda: flow.delete_flow(ns, "warn"))

    @staticmethod
    def _action_path(flow: kestra.Flow, execution_id: str, action: str) -> str:
        """An action's path as the server's generation has it: /actions/ on 2.0."""
        version = flow._version()
        actions = "actions/" if version is not None and version >= (2, 0) else ""
        return "/api/v1/main/executions/%s/%s%s" % (execution_id, actions, action)

    def _follow_running(self, ns: str) -> int:
        """follow_logs on an execution that is still running: the stream carries new lines."""
        started = self.flow(wait_for_completion=False).execute(ns, "count")
        return len(list(self.flow(poll_interval=0.5).follow_logs(started.execution_id)))


class _Sink:
    """A binary file object that keeps what is written."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def _short(value) -> str:
    text = repr(value) if not isinstance(value, Exception) else str(value)
    return text if len(text) < 140 else text[:137] + "..."


def secrets_found(text: str, password: str, user: str) -> list:
    basic = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return [secret for secret in (password, basic, basic.rstrip("=")) if secret and secret in text]


def record(server: str, user: str, password: str, namespace: str, out_dir: Path) -> Path:
    recorder = Recorder(server)
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(recorder))
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = "http://127.0.0.1:%d" % proxy.server_address[1]
    session = Session(recorder, proxy_url, user, password, namespace)
    try:
        session.run()
    finally:
        recorder.wait_idle(15)
        proxy.shutdown()
        cleanup(server, user, password, namespace)
    version = None
    for exchange in recorder.exchanges:
        if exchange["path"].startswith("/api/v1/configs") and exchange["status"] == 200:
            version = json.loads(exchange["body"]).get("version")
    if not version:
        raise SystemExit("the server did not give its version")
    for note in session.notes:
        print("  " + note)
    text = json.dumps(recorder.exchanges, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    found = secrets_found(text, password, user)
    if found:
        raise SystemExit("refusing to write: the answers hold a credential")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ("%s.json" % version)
    path.write_text(text, encoding="utf-8")
    print("%s: %d exchanges, %d bytes" % (path, len(recorder.exchanges), len(text.encode("utf-8"))))
    return path


def cleanup(server: str, user: str, password: str, namespace: str) -> None:
    """Delete the namespace's executions (killed first if still running) and flows,
    straight on the server (not recorded)."""
    flow = kestra.Flow()
    flow.hostname, flow.user, flow.password, flow.api_token = server, user, password, None
    try:
        executions = list(flow.search_executions(namespace, since="2020-01-01T00:00:00Z"))
    except kestra.KestraError as exc:
        print("cleanup: the executions of %s could not be listed: %s" % (namespace, exc))
        executions = []
    for execution in executions:
        try:
            if (execution.get("state") or {}).get("current") not in kestra._TERMINAL_STATES:
                flow.kill(execution["id"])
            flow.delete_execution(execution["id"])
        except kestra.KestraError as exc:
            print("cleanup: execution %s: %s" % (execution.get("id"), exc))
    for name in FLOW_FILES + tuple(RECORDED_FLOWS):
        try:
            flow._make_request("DELETE", "/api/v1/main/flows/%s/%s" % (namespace, name))
        except kestra.KestraError:
            pass
    try:  # the namespace's keys and files
        for entry in flow.kv_list(namespace, types=False):
            flow.kv_delete(namespace, entry["key"])
        for entry in flow.list_files(namespace, recursive=False):
            flow.delete_file(namespace, entry["path"])
    except kestra.KestraError as exc:
        print("cleanup: the keys and files of %s: %s" % (namespace, exc))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", required=True, help="a server URL (repeatable)")
    parser.add_argument("--user", default=os.environ.get("KESTRA_USER") or "admin@kestra.io")
    parser.add_argument("--password", default=os.environ.get("KESTRA_PASSWORD") or "Admin1234")
    parser.add_argument("--namespace", default=None)
    parser.add_argument("--out", default=str(ANSWERS_DIR))
    args = parser.parse_args(argv)
    for server in args.server:
        namespace = args.namespace or "fuzz.record.r" + secrets.token_hex(3)
        print("recording %s (namespace %s)" % (server, namespace))
        record(server, args.user, args.password, namespace, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
