"""Fuzz kestra.Flow with real Kestra answers, mutated.

    python e2e/fuzz_flow.py --seconds N [--seed S] [--case I] [--verbose]

A loopback HTTP server answers Flow's requests with the answers recorded from real
servers (e2e/answers/*.json, written by e2e/record_answers.py), mutated at random:
JSON values of other types, keys removed or renamed, ids that are not strings,
truncated, empty or HTML bodies, odd statuses (100-599), wrong headers, broken event
streams, slow answers (bounded), connections closed mid-body. A driver calls Flow's
public methods against it, one case at a time; each case has its own seed
(``<seed>:<index>``), its own server version, Flow and mutation rate, and its own
path prefix on the server (Flow.hostname = http://127.0.0.1:PORT/c<index>), so that a
thread left over from a case never meets the next one's answers.

The oracle: every call returns or raises a kestra.KestraError. Anything else (an
exception of another type, also in a thread kestra.py started, or a call that runs
past its wall-clock bound) is a finding. Findings are grouped by exception type and
the kestra.py line that raised; each group prints its first traceback and its
reproducer, the answers served in that case (mutated), and ``--case I --seed S``
replays the case (answers are drawn in request order, so a case whose requests race
on threads may draw them in another order). The exit status is 1 if anything was
found. ``run(seconds, seed)`` returns the findings, for a pytest.
"""

from __future__ import annotations

import argparse
import base64
import collections
import copy
import io
import itertools
import json
import logging
import os
import random
import re
import select
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import kestra  # noqa: E402

ANSWERS_DIR = HERE / "answers"
TIMEOUT = 3.0                 # Flow(timeout=...): bounds every wait
BOUND = TIMEOUT + 5.0         # a call running longer than this is a hang...
FOLLOW_GRACE = 12.0           # ...follow_logs: this long after an ended execution was served
TERMINAL = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED")
EXECUTION_ID = "5uNuUpuYVQvjJ0QqkZnhe7"
NAMESPACE, FLOW_ID = "fuzz.record", "hello"
FILE_URI = "kestra:///fuzz/record/inputs/executions/%s/payload.csv" % EXECUTION_ID
FLOW_YAML = "id: hello\nnamespace: fuzz.record\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
WEBHOOK_KEY = "fuzz-record-webhook-key"
SEARCH_LIMIT = 1000           # a search yields at most this many executions to the driver


# Recorded answers ##############################################################

ACTION_ROUTES = {
    ("resume",): "resume", ("resume", "validate"): "resume_validate", ("pause",): "pause",
    ("restart",): "restart", ("replay",): "replay", ("replay-with-inputs",): "replay_with_inputs",
    ("labels",): "labels",
}


def route(method: str, path: str) -> str:
    """The endpoint a request is for, whatever the ids, tenant or server generation."""
    path = urllib.parse.urlsplit(path).path
    parts = [urllib.parse.unquote(part) for part in path.split("/") if part]
    if parts[:2] != ["api", "v1"]:
        return "unknown"
    parts = parts[2:]
    if parts == ["configs"]:
        return "configs"
    if parts and parts[0] == "main":
        parts = parts[1:]
    head, rest = (parts[0], parts[1:]) if parts else ("", [])
    if head == "kv" and not rest and method == "GET":  # 2.0's listing of keys
        return "kv_list"
    if head == "namespaces" and rest[1:2] == ["kv"]:
        if len(rest) == 2:
            return "kv_list" if method == "GET" else "unknown"
        return {"GET": "kv_get", "PUT": "kv_set", "DELETE": "kv_delete"}.get(method, "unknown")
    if head == "namespaces" and rest[1:2] == ["files"]:
        if rest[2:] in (["stats"], ["directory"]) and method == "GET":
            return "files_" + rest[2]
        if len(rest) == 2:
            return {"GET": "files_get", "POST": "files_upload", "DELETE": "files_delete"}.get(method, "unknown")
    if head == "flows" and method == "GET" and rest == ["search"]:
        return "flows_search"
    if head == "flows" and method == "DELETE" and len(rest) == 2:
        return "flow_delete"
    if head == "flows":
        if method == "POST" and rest == ["validate"]:
            return "flow_validate"
        if method == "POST" and not rest:
            return "flows"
        if method == "GET" and len(rest) == 2:
            return "flow_get"
        if method == "PUT" and len(rest) == 2:
            return "flow_update"
    if head == "executions":
        if rest[:1] == ["webhook"] and method in ("GET", "POST", "PUT"):
            return "webhook"
        if method == "GET" and rest == ["search"]:
            return "search"
        action = rest[2:] if rest[1:2] == ["actions"] else rest[1:]  # 2.0 puts actions under /actions/
        if method == "POST" and tuple(action) in ACTION_ROUTES:
            return ACTION_ROUTES[tuple(action)]
        if method == "POST" and len(rest) == 2:
            return "create"
        if method == "DELETE" and rest[1:] in (["kill"], ["actions", "kill"]):
            return "kill"
        if method == "DELETE" and len(rest) == 1:
            return "delete"
        if method == "GET" and len(rest) == 1:
            return "execution"
        if method == "GET" and rest[1:] == ["follow"]:
            return "follow"
        if method == "GET" and rest[1:] == ["file"]:
            return "file"
    if head == "logs" and method == "GET":
        if len(rest) == 1:
            return "logs_list"
        if rest[1:] == ["download"]:
            return "logs_download"
        if rest[1:] == ["follow"]:
            return "logs_follow"
    if head == "outputs" and method == "GET":
        return "outputs_list" if len(rest) == 1 else "outputs_detail"
    return "unknown"


def load_answers(directory: Path = ANSWERS_DIR) -> dict:
    """{server version: {route: [exchange, ...]}} from the recorded files."""
    answers = {}
    for path in sorted(directory.glob("*.json")):
        by_route = collections.defaultdict(list)
        for exchange in json.loads(path.read_text(encoding="utf-8")):
            if "body_base64" in exchange:
                exchange["content"] = base64.b64decode(exchange["body_base64"])
            else:
                exchange["content"] = (exchange.get("body") or "").encode("utf-8")
            by_route[route(exchange["method"], exchange["path"])].append(exchange)
        answers[path.stem] = dict(by_route)
    if not answers:
        raise SystemExit("no recorded answers in %s: run e2e/record_answers.py first" % directory)
    return answers


def is_terminal_execution(status: int, content: bytes) -> bool:
    try:
        value = json.loads(content.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return status == 200 and isinstance(value, dict) and isinstance(value.get("state"), dict) \
        and value["state"].get("current") in TERMINAL


# Mutations #######################################################################

class Answer:
    """What the server sends for one request."""

    def __init__(self, exchange: dict) -> None:
        self.status = exchange["status"]
        self.reason = exchange.get("reason") or "OK"
        self.headers = [(name, value) for name, value in sorted(exchange["headers"].items())
                        if name not in ("Content-Length", "Transfer-Encoding")]
        self.content = exchange["content"]
        self.sse = exchange.get("sse", False)
        self.framing = "chunked" if self.sse else "length"  # length, chunked, close
        self.declared_length = None   # a Content-Length that lies
        self.delay = 0.0              # before the status line
        self.stall = 0.0              # in the middle of the body
        self.cut_at = None            # close the connection after this many body bytes
        self.no_answer = None         # "close" or "reset" before any byte
        self.bad_chunks = False
        self.raw_status_line = None
        # Real servers keep an event stream's connection open (chunked, keep-alive): the
        # stream is held open after its events until the client leaves, up to ``hold`` s.
        self.connection_close = not self.sse
        self.hold = 2.0 if self.sse else 0.0
        self.mutations = []
        self.source = exchange.get("label", "?")

    def set_header(self, name: str, value) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        if value is not None:
            self.headers.append((name, value))

    def describe(self, limit: int = 400) -> dict:
        shown = self.content[:limit]
        return {
            "from": self.source, "mutations": self.mutations, "status": self.status,
            "headers": self.headers, "framing": self.framing, "declared_length": self.declared_length,
            "cut_at": self.cut_at, "no_answer": self.no_answer, "delay": round(self.delay, 3),
            "hold": self.hold, "connection_close": self.connection_close,
            "body_head": shown.decode("utf-8", "replace") + ("..." if len(self.content) > limit else ""),
            "body_length": len(self.content),
        }


def other_value(rng: random.Random, depth_ok: bool = True):
    choices = [
        lambda: None, lambda: [], lambda: [1, "a"], lambda: rng.uniform(-1e6, 1e6), lambda: "",
        lambda: "str\u2713", lambda: True, lambda: False, lambda: {}, lambda: {"x": 1},
        lambda: 10 ** rng.choice((19, 30, 400)), lambda: -1, lambda: 0, lambda: 1e308,
        lambda: "SUCCESS", lambda: "RUNNING", lambda: {"current": "SUCCESS"},
        lambda: "kestra:///x/y.txt", lambda: "\x00\ud83d",
    ]
    if depth_ok:
        choices.append(lambda: NESTED(rng.choice((50, 500, 5000))))
    return rng.choice(choices)()


class NESTED:
    """A marker for a list nested ``depth`` times, written out as text (json.dumps
    would recurse)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def to_json_text(value) -> str:
    if isinstance(value, NESTED):
        return "[" * value.depth + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ",".join("%s:%s" % (json.dumps(k), to_json_text(v)) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json_text(v) for v in value) + "]"
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return json.dumps(value)


def json_nodes(value, path=()):
    """(path, node) for every node of a parsed JSON value."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_nodes(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_nodes(item, path + (index,))


def set_at(root, path, new):
    if not path:
        return new
    target = root
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return root


IMPORTANT_KEYS = ("id", "state", "current", "taskRunList", "taskId", "taskRunId", "outputs", "version",
                  "inputs", "namespace", "flowId", "message", "detail", "level", "timestamp", "url", "values")


def mutate_json(rng: random.Random, value, notes: list):
    """One mutation of a parsed JSON value; returns the new value."""
    nodes = list(json_nodes(value))
    keyed = [(path, node) for path, node in nodes if path and isinstance(path[-1], str)]
    important = [(path, node) for path, node in keyed if path[-1] in IMPORTANT_KEYS]
    kind = rng.choice(("retype", "retype", "retype_important", "retype_important", "remove", "rename",
                       "id", "state", "whole"))
    if kind in ("retype_important", "remove", "rename", "id", "state") and not important:
        kind = "retype"
    if kind == "whole":
        new = other_value(rng)
        notes.append("json: whole body -> %s" % short(new))
        return new
    if kind == "retype" or kind == "retype_important":
        path, _ = rng.choice(important if kind == "retype_important" else nodes)
        new = other_value(rng)
        notes.append("json: %s -> %s" % (show_path(path), short(new)))
        return set_at(value, path, new)
    if kind == "id":
        ids = [(p, n) for p, n in keyed if p[-1] in ("id", "taskRunId", "taskId", "flowId", "namespace")] or important
        path, _ = rng.choice(ids)
        new = rng.choice((None, 12345, 1.5, ["a"], {"id": "x"}, True, "", "../../x", "a/b?c#d", 10 ** 30))
        notes.append("json: id %s -> %s" % (show_path(path), short(new)))
        return set_at(value, path, new)
    if kind == "state":
        states = [(p, n) for p, n in keyed if p[-1] in ("state", "current")] or important
        path, _ = rng.choice(states)
        new = rng.choice(("SUCCESS", "RUNNING", "PAUSED", "KILLED", "", None, ["SUCCESS"], {"current": ["x"]},
                          {"current": {"a": 1}}, {"current": None}, 5, "success", "CREATED"))
        notes.append("json: state %s -> %s" % (show_path(path), short(new)))
        return set_at(value, path, new)
    path, _ = rng.choice(important)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    if kind == "remove":
        del parent[path[-1]]
        notes.append("json: removed %s" % show_path(path))
    else:
        parent[path[-1] + "_renamed"] = parent.pop(path[-1])
        notes.append("json: renamed %s" % show_path(path))
    return value


def show_path(path) -> str:
    return "$" + "".join("[%r]" % (step,) for step in path)


def short(value) -> str:
    if isinstance(value, NESTED):
        return "[...] nested %d deep" % value.depth
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def mutate_sse(rng: random.Random, text: str, notes: list) -> str:
    """One mutation of an event stream's raw text."""
    events = re.split(r"(?<=\n)\n", text)  # each event keeps its lines; blank line separators
    kind = rng.choice(("drop_data", "cut", "huge_line", "bad_json", "event_lines", "no_end", "json_in_data",
                       "non_dict", "crlf", "no_blank", "ids", "garbage", "comments", "empty"))
    notes.append("sse: " + kind)
    if kind == "drop_data":
        return re.sub(r"(?m)^data:.*\n", "", text)
    if kind == "cut":
        return text[:rng.randrange(0, max(1, len(text)))]
    if kind == "huge_line":
        size = rng.choice((70_000, 1_000_000, 3_000_000))
        return "data:" + "x" * size + "\n\n" + text
    if kind == "bad_json":
        return re.sub(r"(?m)^data:(.*)$", lambda m: "data:" + m.group(1)[: rng.randrange(0, len(m.group(1)) + 1)], text)
    if kind == "event_lines":
        return re.sub(r"(?m)^(id:.*)$", lambda m: "event: %s\n%s" % (rng.choice(("end", "progress", "error", "")),
                                                                    m.group(1)), text)
    if kind == "no_end":
        return re.sub(r"(?ms)^id:end\n.*?(\n\n|\Z)", "", text)
    if kind == "json_in_data":
        def change(match):
            try:
                value = json.loads(match.group(1))
            except ValueError:
                return match.group(0)
            return "data:" + to_json_text(mutate_json(rng, value, notes))
        return re.sub(r"(?m)^data:(.*)$", change, text)
    if kind == "non_dict":
        return re.sub(r"(?m)^data:(.*)$", lambda m: "data:" + to_json_text(other_value(rng)), text)
    if kind == "crlf":
        return text.replace("\n", rng.choice(("\r\n", "\r")))
    if kind == "no_blank":
        return text.replace("\n\n", "\n")
    if kind == "ids":
        new = rng.choice(("end", "progress", "", "start", "\u2713"))
        return re.sub(r"(?m)^id:.*$", "id:" + new, text)
    if kind == "garbage":
        cut = rng.randrange(0, len(text) + 1)
        return text[:cut] + "\x00\xff\ufffd::::data\n\n" + text[cut:]
    if kind == "comments":
        return ":keep-alive\n" * rng.randrange(1, 50) + text
    return ""


def mutate(rng: random.Random, answer: Answer, route_name: str) -> None:
    """Apply one to three mutations to ``answer``."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(("json", "json", "json", "json", "sse", "sse", "status", "body", "headers",
                           "transport", "transport", "framing"))
        if kind == "sse" and not answer.sse:
            kind = "json"
        if kind == "json":
            try:
                value = json.loads(answer.content.decode("utf-8"))
            except (ValueError, RecursionError):
                kind = "body"
            else:
                if answer.sse:
                    continue
                try:
                    answer.content = to_json_text(mutate_json(rng, value, answer.mutations)).encode(
                        "utf-8", "surrogatepass")
                except RecursionError:  # a body that an earlier mutation nested deeply
                    answer.mutations.append("json: skipped (nested too deep to rewrite)")
                continue
        if kind == "sse":
            answer.content = mutate_sse(rng, answer.content.decode("utf-8", "replace"), answer.mutations).encode(
                "utf-8", "surrogatepass")
        elif kind == "status":
            status = rng.choice((100, 101, 102, 199, 200, 201, 202, 204, 206, 299, 301, 302, 303, 304, 307, 308,
                                 400, 401, 403, 404, 405, 406, 408, 409, 410, 413, 418, 422, 429, 451, 500, 501,
                                 502, 503, 504, 599, rng.randrange(100, 600)))
            answer.status, answer.reason = status, rng.choice(("Odd", "", "OK"))
            answer.mutations.append("status %d" % status)
            if status in (301, 302, 303, 307, 308) and rng.random() < 0.5:
                location = rng.choice(("", "/", "elsewhere", "http://127.0.0.1:1/", "ftp://x/y",
                                       "http://[::1", "//other.invalid/x", "?again=1", "http://example.invalid/a"))
                answer.set_header("Location", location)
                answer.mutations.append("Location %r" % location)
            if status in (429, 503) and rng.random() < 0.7:
                retry_after = rng.choice(("0", "1", "-5", "nan", "inf", "1e400", "abc", "",
                                          "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                                          "99999999999999999999", "0.01"))
                answer.set_header("Retry-After", retry_after)
                answer.mutations.append("Retry-After %r" % retry_after)
        elif kind == "body":
            choice = rng.choice(("truncate", "html", "empty", "not_utf8", "text", "huge_json", "nested"))
            answer.mutations.append("body: " + choice)
            if choice == "truncate":
                answer.content = answer.content[:rng.randrange(0, max(1, len(answer.content)))]
            elif choice == "html":
                answer.content = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                answer.set_header("Content-Type", rng.choice(("text/html", "application/json")))
            elif choice == "empty":
                answer.content = b""
            elif choice == "not_utf8":
                answer.content = b"\xff\xfe\x00{\"id\": \"\xc3\x28\"}"
            elif choice == "text":
                answer.content = b"Internal Server Error"
            elif choice == "huge_json":
                answer.content = json.dumps({"id": "x" * 2_000_000, "state": {"current": "SUCCESS"}}).encode()
            else:
                depth = rng.choice((1000, 100_000))
                answer.content = b"[" * depth + b"]" * depth
        elif kind == "headers":
            choice = rng.choice(("content_type", "content_type", "no_content_type", "charset", "www_authenticate"))
            if choice == "content_type":
                value = rng.choice(("text/html", "text/event-stream", "application/octet-stream", "text/plain",
                                    "application/problem+json", "garbage"))
                answer.set_header("Content-Type", value)
            elif choice == "no_content_type":
                value = None
                answer.set_header("Content-Type", None)
            elif choice == "charset":
                value = rng.choice(("text/plain; charset=bogus-8", "application/json; charset=utf-16",
                                    "text/plain; charset=\"", "text/plain; charset=utf-32"))
                answer.set_header("Content-Type", value)
            else:
                value = 'Basic realm="x"'
                answer.set_header("WWW-Authenticate", value)
            answer.mutations.append("header %s: %r" % (choice, value))
        elif kind == "transport":
            choice = rng.choice(("delay", "stall", "cut", "close", "reset", "status_line", "hold", "conn_close"))
            answer.mutations.append("transport: " + choice)
            if choice == "delay":
                answer.delay = rng.uniform(0.05, 0.4)
            elif choice == "stall":
                answer.stall = rng.uniform(0.05, 0.4)
            elif choice == "cut":
                answer.cut_at = rng.randrange(0, max(1, len(answer.content)))
            elif choice == "close":
                answer.no_answer = "close"
            elif choice == "hold":  # an event stream that stays open, quiet, for long
                answer.hold = rng.choice((0.0, 4.0, 8.0))
            elif choice == "conn_close":  # "Connection: close", as a proxy may add
                answer.connection_close = not answer.connection_close
            elif choice == "reset":
                answer.no_answer = "reset"
            else:
                answer.raw_status_line = rng.choice((b"HTTP/1.1 abc Odd\r\n", b"garbage\r\n", b"HTTP/1.1 200\r\n",
                                                     b"HTTP/9.9 200 OK\r\n", b"\r\n"))
                answer.mutations.append("status line %r" % answer.raw_status_line)
        else:
            choice = rng.choice(("length_more", "length_less", "close", "chunked", "bad_chunks", "length"))
            answer.mutations.append("framing: " + choice)
            if choice == "length_more":
                answer.framing, answer.declared_length = "length", len(answer.content) + rng.randrange(1, 5000)
            elif choice == "length_less":
                answer.framing, answer.declared_length = "length", rng.randrange(0, len(answer.content) + 1)
            elif choice == "bad_chunks":
                answer.framing, answer.bad_chunks = "chunked", True
            else:
                answer.framing = choice


# The server ####################################################################

class Case:
    """One case: its random source, server version, mutation rate and the answers served."""

    def __init__(self, index: int, seed: int, versions: list) -> None:
        self.index = index
        self.seed = seed
        self.rng = random.Random("%s:%s" % (seed, index))
        self.version = self.rng.choice(versions)
        self.rate = self.rng.choice((0.05, 0.2, 0.4, 0.7, 1.0))
        self.served = []  # Answer.describe() of each answer, in order
        self.lock = threading.Lock()
        self.drain = False           # serve clean, ended answers: let a waiting call finish
        self.terminal_served_at = None


class FuzzServer:
    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.cases = {}
        self.lock = threading.Lock()
        self.harness_errors = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def handle_one(self) -> None:
                try:
                    server.handle(self)
                except OSError:
                    pass
                except Exception:  # a harness bug: said, never a finding of kestra.py
                    server.harness_errors.append(traceback.format_exc())
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_one

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, name="fuzz-server", daemon=True).start()

    def url(self, case: Case) -> str:
        return "http://127.0.0.1:%d/c%d" % (self.port, case.index)

    def add(self, case: Case) -> None:
        with self.lock:
            self.cases[case.index] = case

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def pick(self, case: Case, route_name: str) -> dict:
        pools = [self.answers[case.version].get(route_name)] + [
            answers.get(route_name) for version, answers in sorted(self.answers.items()) if version != case.version]
        for pool in pools:
            if pool:
                if case.drain:
                    ended = [e for e in pool if is_terminal_execution(e["status"], e["content"])] if \
                        route_name == "execution" else [e for e in pool if e["status"] < 300]
                    pool = ended or pool
                return case.rng.choice(pool)
        return {"status": 404, "reason": "Not Found", "headers": {"Content-Type": "application/json"},
                "content": b'{"message":"Not Found"}', "label": "generic-404"}

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        elif handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                handler.rfile.read(size + 2) if size else handler.rfile.readline()
                if not size:
                    break
        match = re.match(r"/c(\d+)(/.*)?$", urllib.parse.urlsplit(handler.path).path)
        case = self.cases.get(int(match.group(1))) if match else None
        if case is None:
            self.send(handler, Answer({"status": 404, "reason": "Not Found", "headers": {},
                                       "content": b"no such case", "label": "no-case"}))
            return
        path = (match.group(2) or "/") + ("?" + urllib.parse.urlsplit(handler.path).query
                                          if urllib.parse.urlsplit(handler.path).query else "")
        route_name = route(handler.command, path)
        with case.lock:
            answer = Answer(self.pick(case, route_name))
            if route_name == "logs_follow" and case.drain:
                answer.content = b""
            if not case.drain and case.rng.random() < case.rate:
                mutate(case.rng, answer, route_name)
            description = answer.describe()
            description["request"] = "%s %s" % (handler.command, path[:160])
            case.served.append(description)
            if route_name in ("execution", "follow", "create") and answer.no_answer is None and (
                    is_terminal_execution(answer.status, answer.content) or b'"current":"SUCCESS"' in answer.content):
                case.terminal_served_at = time.monotonic()
        self.send(handler, answer)

    def send(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        sock = handler.connection
        if answer.delay:
            time.sleep(answer.delay)
        if answer.no_answer == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        if answer.no_answer == "close":
            sock.shutdown(socket.SHUT_RDWR)
            return
        status_line = answer.raw_status_line or ("HTTP/1.1 %d %s\r\n" % (answer.status, answer.reason)).encode("latin-1")
        head = [status_line]
        for name, value in answer.headers:
            head.append(("%s: %s\r\n" % (name, value)).encode("latin-1", "replace"))
        body = answer.content
        if answer.framing == "length":
            declared = len(body) if answer.declared_length is None else answer.declared_length
            head.append(b"Content-Length: %d\r\n" % declared)
            wire = body
        elif answer.framing == "chunked":
            head.append(b"Transfer-Encoding: chunked\r\n")
            if answer.bad_chunks:
                wire = b"zz\r\n" + body + b"\r\n"
            else:
                pieces = [body[i:i + 8192] for i in range(0, len(body), 8192)]
                wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
            tail = b"0\r\n\r\n"
        else:
            wire = body
        if answer.framing != "chunked":
            tail = b""
        head.append(b"Connection: close\r\n\r\n" if answer.connection_close else b"\r\n")
        handler.wfile.write(b"".join(head))
        if answer.cut_at is not None:
            wire = wire[:answer.cut_at]
        if answer.stall and wire:
            middle = len(wire) // 2
            handler.wfile.write(wire[:middle])
            handler.wfile.flush()
            time.sleep(answer.stall)
            wire = wire[middle:]
        handler.wfile.write(wire)
        handler.wfile.flush()
        if answer.cut_at is not None:
            sock.shutdown(socket.SHUT_RDWR)
            return
        if answer.hold:  # until the client leaves, or the hold is over
            end = time.monotonic() + answer.hold
            while time.monotonic() < end:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    return
        handler.wfile.write(tail)
        handler.wfile.flush()


# The driver ####################################################################

def _with_tree(call):
    """An operation on a small local folder (nested, a non-ASCII name, a dot file left
    out) and an empty folder to write into: ``call(flow, tree, out)``."""
    def operation(flow: kestra.Flow):
        with tempfile.TemporaryDirectory() as directory:
            tree, out = os.path.join(directory, "tree"), os.path.join(directory, "out")
            make_tree(tree)
            return call(flow, tree, out)
    return operation


def make_tree(tree: str) -> None:
    for relative, data in (("readme.md", b"# recorded\n"), ("src/main.py", b"print('main')\n"),
                           ("donn\u00e9es/\u00e9t\u00e9.csv", "a,\u00e9\n".encode("utf-8")), (".hidden", b"x")):
        path = os.path.join(tree, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(data)


def _download_to_path(flow: kestra.Flow) -> int:
    with tempfile.TemporaryDirectory() as directory:
        target = os.path.join(directory, "file.bin")
        flow.download_file(EXECUTION_ID, FILE_URI, target)
        return os.path.getsize(target) if os.path.exists(target) else -1


OPERATIONS = {
    "execute(wait)": lambda flow: flow.execute(NAMESPACE, FLOW_ID, {"team": "data", "size": 3}, labels={"t": "#42"}),
    "execute(no wait)": lambda flow: _no_wait(flow).execute(NAMESPACE, FLOW_ID, {"team": "data"}),
    "execute(wait, kill_on_timeout)": lambda flow: flow.execute(NAMESPACE, FLOW_ID, kill_on_timeout=True),
    "wait": lambda flow: flow.wait(EXECUTION_ID),
    "get_execution": lambda flow: flow.get_execution(EXECUTION_ID),
    "check_status": lambda flow: flow.check_status(EXECUTION_ID).json(),
    "outputs": lambda flow: flow.outputs(EXECUTION_ID),
    "follow_logs": lambda flow: list(flow.follow_logs(EXECUTION_ID)),
    "follow_logs(min_level)": lambda flow: list(flow.follow_logs(EXECUTION_ID, min_level="WARN")),
    "kill": lambda flow: flow.kill(EXECUTION_ID),
    "download_file(file object)": lambda flow: flow.download_file(EXECUTION_ID, FILE_URI, io.BytesIO()).getvalue(),
    "download_file(path)": _download_to_path,
    "get_logs": lambda flow: flow.get_logs(EXECUTION_ID).text,
    "wait(until=PAUSED)": lambda flow: flow.wait(EXECUTION_ID, until="PAUSED"),
    "execute(until=PAUSED)": lambda flow: flow.execute(NAMESPACE, "approve", until="PAUSED"),
    "resume": lambda flow: flow.resume(EXECUTION_ID),
    "resume(inputs)": lambda flow: flow.resume(EXECUTION_ID, _resume_inputs()),
    "resume, wait": lambda flow: flow.wait(flow.resume(EXECUTION_ID, _resume_inputs())),
    "pause": lambda flow: flow.pause(EXECUTION_ID),
    "pause, wait(until=PAUSED)": lambda flow: flow.wait(flow.pause(EXECUTION_ID), until="PAUSED"),
    "restart": lambda flow: flow.restart(EXECUTION_ID),
    "restart(revision), wait": lambda flow: flow.wait(flow.restart(EXECUTION_ID, revision=2)),
    "replay": lambda flow: flow.replay(EXECUTION_ID),
    "replay(from_task), wait": lambda flow: flow.wait(flow.replay(EXECUTION_ID, from_task="hello")),
    "replay(inputs, revision)": lambda flow: flow.replay(EXECUTION_ID, inputs={"team": "ops", "doc": b"x\n"},
                                                         revision=1),
    "set_labels": lambda flow: flow.set_labels(EXECUTION_ID, {"reviewed": "yes", "team": "data & ops"}),
    "set_labels(replace)": lambda flow: flow.set_labels(EXECUTION_ID, [("only", "this")], replace=True),
    "search_executions": lambda flow: list(itertools.islice(flow.search_executions(
        NAMESPACE, FLOW_ID, states=["SUCCESS", "FAILED"], labels={"batch": "b1"}, since="2024-01-01T00:00:00Z",
        until="2030-01-01T00:00:00+02:00", page_size=2), SEARCH_LIMIT)),
    "search_executions(all)": lambda flow: list(itertools.islice(flow.search_executions(), SEARCH_LIMIT)),
    "webhook(POST JSON), wait": lambda flow: _webhook_wait(flow, flow.webhook(NAMESPACE, "hook", WEBHOOK_KEY,
                                                                               {"order": 42})),
    "webhook(PUT bytes)": lambda flow: flow.webhook(NAMESPACE, "hook", WEBHOOK_KEY, b"\x00\xff", method="PUT"),
    "webhook(GET)": lambda flow: flow.webhook(NAMESPACE, "hook", WEBHOOK_KEY, method="GET"),
    "delete_execution": lambda flow: flow.delete_execution(EXECUTION_ID),
    "delete_execution(keep all)": lambda flow: flow.delete_execution(EXECUTION_ID, logs=False, metrics=False,
                                                                     files=False),
    "kv_set": lambda flow: flow.kv_set(NAMESPACE, "doc", {"a": [1, 2.5, None]}, ttl="PT1H", description="d"),
    "kv_set(str)": lambda flow: flow.kv_set(NAMESPACE, "text", "hello world"),
    "kv_get": lambda flow: flow.kv_get(NAMESPACE, "doc"),
    "kv_get(default, exact)": lambda flow: flow.kv_get(NAMESPACE, "count", None, exact=True),
    "kv_entry": lambda flow: flow.kv_entry(NAMESPACE, "moment"),
    "kv_list": lambda flow: flow.kv_list(NAMESPACE),
    "kv_delete": lambda flow: flow.kv_delete(NAMESPACE, "text"),
    "upload_files": _with_tree(lambda flow, tree, out: flow.upload_files(NAMESPACE, tree, "/app")),
    "sync_files": _with_tree(lambda flow, tree, out: flow.sync_files(NAMESPACE, tree, "/app")),
    "sync_files(delete, dry_run)": _with_tree(lambda flow, tree, out: flow.sync_files(NAMESPACE, tree, "/app",
                                                                                      delete=True, dry_run=True)),
    "download_files": _with_tree(lambda flow, tree, out: flow.download_files(NAMESPACE, "/app", out)),
    "download_files(file)": _with_tree(lambda flow, tree, out: flow.download_files(NAMESPACE, "/app/readme.md",
                                                                                   os.path.join(tree, "r.md"))),
    "list_files": lambda flow: flow.list_files(NAMESPACE),
    "list_files(one level)": lambda flow: flow.list_files(NAMESPACE, "/app", recursive=False),
    "delete_file": lambda flow: flow.delete_file(NAMESPACE, "/app"),
    "list_flows": lambda flow: flow.list_flows(NAMESPACE),
    "get_flow_source": lambda flow: flow.get_flow_source(NAMESPACE, FLOW_ID),
    "delete_flow": lambda flow: flow.delete_flow(NAMESPACE, FLOW_ID),
    "_make_request(GET)": lambda flow: _make_request_get(flow),
    "_make_request(POST flows)": lambda flow: flow._make_request(
        "POST", "/api/v1/main/flows", data=FLOW_YAML, headers={"Content-Type": "application/x-yaml"}).json(),
}


# The command line, run in this process: `kestra._main(argv)` against the case's URL.
# Its oracle: an exit code of the table (never the catch-all "unexpected" message),
# each message on one line of stderr, JSON on stdout where the command promises it,
# and no file left by a failed download.
CLI_EXIT_CODES = frozenset(range(8))
CLI_JSON_OUTPUT = ("status", "outputs", "version", "labels", "--json")


def cli(*argv: str):
    """An operation that runs the command line with ``argv`` (FLOW_FILE and OUT_FILE
    placeholders filled in, also inside an argument) and checks its oracle."""
    def operation(flow: kestra.Flow):
        with tempfile.TemporaryDirectory() as directory:
            flow_file = os.path.join(directory, "hello.yaml")
            with open(flow_file, "w", encoding="utf-8") as file:
                file.write(FLOW_YAML)
            out_file = os.path.join(directory, "out.bin")
            tree, out_dir = os.path.join(directory, "tree"), os.path.join(directory, "out")
            make_tree(tree)
            args = [arg.replace("FLOW_FILE", flow_file).replace("OUT_FILE", out_file).replace("TREE_DIR", tree)
                    .replace("OUT_DIR", out_dir) for arg in argv]
            code, stdout, stderr = run_cli(flow.hostname, args)
            text = stderr.decode("utf-8", "replace")
            assert code in CLI_EXIT_CODES, "exit code %r; stderr: %s" % (code, text)
            assert "unexpected " not in text, "the catch-all message: %s" % text
            if "--follow" not in args and "--logs" not in args:  # else log lines are on stderr too
                assert all(line.startswith("kestra: ") for line in text.splitlines()), "a message of many lines: " + text
            if code == 0 and any(word in args for word in CLI_JSON_OUTPUT):
                for line in stdout.decode("utf-8").splitlines():
                    json.loads(line)
            if code != 0 and "-o" in args:
                assert not os.path.exists(out_file), "a failed download left %s" % out_file
            return code
    return operation


def run_cli(url: str, argv: list) -> tuple:
    """(exit code, stdout bytes, stderr bytes) of ``kestra._main(["--host", url] + argv)``."""
    out, err = io.BytesIO(), io.BytesIO()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    try:
        code = kestra._main(["--host", url] + list(argv))
    finally:
        for wrapper in (sys.stdout, sys.stderr):
            wrapper.flush()
            wrapper.detach()  # the BytesIO stays open for getvalue()
        sys.stdout, sys.stderr = stdout, stderr
    return code, out.getvalue(), err.getvalue()


def fast_command_flow(arguments):
    """The command line's Flow, with the fuzzer's short timeouts, retries and pauses."""
    flow = _command_flow(arguments)
    flow.request_timeout, flow.poll_interval = 1.0, 0.05
    flow.retry = kestra.RetryPolicy(attempts=2, backoff=0.0, jitter=False, retry_after_cap=0.05)
    flow._sleep = lambda seconds: time.sleep(min(seconds, 0.05))
    return flow


_command_flow = kestra._command_flow
kestra._command_flow = fast_command_flow
CLI_TIMEOUT = ["--timeout", str(TIMEOUT)]
OPERATIONS.update({
    "cli execute": cli("execute", NAMESPACE, FLOW_ID, "-i", "team=data", "-i", "size:=3", "-l", "t=#42",
                       "--json", *CLI_TIMEOUT),
    "cli execute --no-wait": cli("execute", NAMESPACE, FLOW_ID, "--no-wait"),
    "cli execute --follow --kill-on-timeout": cli("execute", NAMESPACE, FLOW_ID, "--follow", "--kill-on-timeout",
                                                  *CLI_TIMEOUT),
    "cli wait --logs": cli("wait", EXECUTION_ID, "--logs", *CLI_TIMEOUT),
    "cli status": cli("status", EXECUTION_ID),
    "cli outputs": cli("outputs", EXECUTION_ID),
    "cli kill": cli("kill", EXECUTION_ID),
    "cli logs": cli("logs", EXECUTION_ID, "--min-level", "INFO"),
    "follow_logs(cli logs --follow)": cli("logs", EXECUTION_ID, "--follow", "--json"),
    "cli download -o": cli("download", EXECUTION_ID, FILE_URI, "-o", "OUT_FILE"),
    "cli download": cli("download", EXECUTION_ID, FILE_URI),
    "cli deploy": cli("deploy", "--json", "FLOW_FILE"),
    "cli deploy --dry-run": cli("deploy", "--dry-run", "FLOW_FILE"),
    "cli version": cli("version"),
    "cli wait --until PAUSED --json": cli("wait", EXECUTION_ID, "--until", "PAUSED", "--json", *CLI_TIMEOUT),
    "cli execute --until PAUSED": cli("execute", NAMESPACE, "approve", "--until", "PAUSED", *CLI_TIMEOUT),
    "cli resume -i --wait --json": cli("resume", EXECUTION_ID, "-i", "answer=yes", "-i", "count:=3", "-i",
                                       "doc=@FLOW_FILE", "--wait", "--json", *CLI_TIMEOUT),
    "cli pause": cli("pause", EXECUTION_ID),
    "cli restart --wait": cli("restart", EXECUTION_ID, "--revision", "2", "--wait", *CLI_TIMEOUT),
    "cli replay --from --wait --logs": cli("replay", EXECUTION_ID, "--from", "hello", "-i", "team=ops", "--wait",
                                           "--logs", *CLI_TIMEOUT),
    "cli labels": cli("labels", EXECUTION_ID, "reviewed=yes", "team=data & ops"),
    "cli labels --replace": cli("labels", EXECUTION_ID, "only=this", "--replace"),
    "cli webhook --wait --json": cli("webhook", NAMESPACE, "hook", WEBHOOK_KEY, "-d", '{"order": 42}', "--wait",
                                     "--json", *CLI_TIMEOUT),
    "cli webhook -X GET": cli("webhook", NAMESPACE, "hook", WEBHOOK_KEY, "-X", "GET"),
    "cli delete": cli("delete", EXECUTION_ID, "--keep-logs"),
    "cli search --json": cli("search", "-n", NAMESPACE, "-f", FLOW_ID, "-s", "SUCCESS,FAILED", "-l", "batch=b1",
                             "--limit", "50", "--json"),
    "cli search --newest-first": cli("search", "--since", "2024-01-01", "--newest-first"),
    "cli kv set": cli("kv", "set", NAMESPACE, "text=hello world", "count:=42", "doc:={\"a\": [1, 2.5]}", "--ttl", "PT1H"),
    "cli kv get --json": cli("kv", "get", NAMESPACE, "doc", "--json"),
    "cli kv get": cli("kv", "get", NAMESPACE, "text"),
    "cli kv ls --json": cli("kv", "ls", NAMESPACE, "--json"),
    "cli kv ls": cli("kv", "ls", NAMESPACE),
    "cli kv rm": cli("kv", "rm", NAMESPACE, "text"),
    "cli nsfiles push --delete --json": cli("nsfiles", "push", NAMESPACE, "TREE_DIR", "--to", "/app", "--delete",
                                            "--json"),
    "cli nsfiles push --dry-run": cli("nsfiles", "push", NAMESPACE, "TREE_DIR", "--dry-run"),
    "cli nsfiles pull": cli("nsfiles", "pull", NAMESPACE, "/app", "OUT_DIR", "--json"),
    "cli nsfiles ls --json": cli("nsfiles", "ls", NAMESPACE, "/", "--json"),
    "cli nsfiles rm": cli("nsfiles", "rm", NAMESPACE, "/app"),
    "cli flows ls --json": cli("flows", "ls", NAMESPACE, "--json"),
    "cli flows get": cli("flows", "get", NAMESPACE, FLOW_ID),
    "cli flows rm": cli("flows", "rm", NAMESPACE, FLOW_ID),
})


def _resume_inputs() -> dict:
    """The onResume inputs of the recorded approval flow, a FILE among them (a new
    tuple each time: resume reads the file part once)."""
    return {"answer": "yes & <ok>", "doc": ("doc.txt", "caf\u00e9\n".encode("utf-8"), "text/plain"), "count": 3}


def _webhook_wait(flow: kestra.Flow, started):
    return None if started is None else flow.wait(started)


def _no_wait(flow: kestra.Flow) -> kestra.Flow:
    flow.wait_for_completion = False
    return flow


def _make_request_get(flow: kestra.Flow):
    response = flow._make_request("GET", "/api/v1/main/executions/%s" % EXECUTION_ID, params={"a": "b"})
    response.text
    return response.json()


def make_flow(url: str) -> kestra.Flow:
    flow = kestra.Flow(timeout=TIMEOUT, poll_interval=0.05, request_timeout=1.0,
                       retry=kestra.RetryPolicy(attempts=2, backoff=0.0, jitter=False, retry_after_cap=0.05))
    flow.hostname, flow.user, flow.password, flow.api_token, flow.tenant = url, "fuzz@kestra.io", "not-a-secret", None, None
    flow._sleep = lambda seconds: time.sleep(min(seconds, 0.05))  # no long pause, whatever a policy says
    return flow


def kestra_frame(tb) -> str:
    """The innermost frame of kestra.py in a traceback: 'function:line'."""
    where = "outside kestra.py"
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename.endswith("kestra.py") and "e2e" not in frame.f_code.co_filename:
            where = "%s:%d" % (frame.f_code.co_name, lineno)
    return where


def stack_frame(frame) -> str:
    where, stack = "outside kestra.py", []
    for summary, lineno in traceback.walk_stack(frame):
        stack.append((summary, lineno))
    for summary, lineno in stack:  # walk_stack goes from the innermost outwards
        if summary.f_code.co_filename.endswith("kestra.py"):
            return "%s:%d" % (summary.f_code.co_name, lineno)
    return where


class Harness:
    def __init__(self, seed: int, verbose: bool = False) -> None:
        self.seed = seed
        self.verbose = verbose
        self.answers = load_answers()
        self.versions = sorted(self.answers)
        self.server = FuzzServer(self.answers)
        self.findings = []
        self.current = None
        self.thread_errors = []
        self.ran = collections.Counter()
        self._previous_hook = threading.excepthook
        threading.excepthook = self._thread_error

    def _thread_error(self, args) -> None:
        name = getattr(args.thread, "name", "") or ""
        if name.startswith("kestra") or name.startswith("fuzz-call"):
            self.thread_errors.append((self.current, args.exc_type, args.exc_value, args.exc_traceback, name))
        else:
            self._previous_hook(args)

    def close(self) -> None:
        threading.excepthook = self._previous_hook
        for case in self.server.cases.values():
            case.drain = True
        self.server.close()

    def run_case(self, index: int) -> None:
        case = Case(index, self.seed, self.versions)
        self.server.add(case)
        self.current = case
        operation = case.rng.choice(sorted(OPERATIONS))
        self.ran[operation] += 1
        flow = make_flow(self.server.url(case))
        outcome = {}

        def call() -> None:
            try:
                outcome["value"] = OPERATIONS[operation](flow)
            except kestra.KestraError as exc:
                outcome["error"] = exc
            except BaseException as exc:  # noqa: B902 - everything else is a finding
                outcome["finding"] = exc

        thread = threading.Thread(target=call, name="fuzz-call-%d" % index, daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(BOUND)
        if thread.is_alive() and operation.startswith("follow_logs"):
            # follow_logs ends when the execution has: a stream of unended states is no hang.
            while thread.is_alive():
                ended_at = case.terminal_served_at
                if ended_at is None:
                    break
                if time.monotonic() - ended_at > FOLLOW_GRACE:
                    break
                thread.join(0.2)
            if thread.is_alive() and case.terminal_served_at is None:
                case.drain = True
                thread.join(FOLLOW_GRACE)
        if thread.is_alive():
            frame = sys._current_frames().get(thread.ident)
            where = stack_frame(frame) if frame is not None else "?"
            stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
            self.record(case, operation, "Hang", where,
                        "the call ran for more than %.0f s; its stack:\n%s" % (time.monotonic() - started, stack))
            case.drain = True
        elif "finding" in outcome:
            exc = outcome["finding"]
            self.record(case, operation, type(exc).__name__, kestra_frame(exc.__traceback__),
                        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        case.drain = True  # threads left over (a log stream reader) may finish
        for owner, exc_type, exc_value, exc_tb, name in self.thread_errors:
            if owner is not None:
                self.record(owner, operation if owner is case else "(an earlier case)",
                            "%s (in thread %s)" % (exc_type.__name__, re.sub(r"-[^-]*$", "", name)),
                            kestra_frame(exc_tb), "".join(traceback.format_exception(exc_type, exc_value, exc_tb)))
        self.thread_errors.clear()
        if self.verbose:
            print("case %d %s %s rate=%.2f: %s" % (index, case.version, operation, case.rate,
                                                  "finding" if "finding" in outcome else
                                                  type(outcome.get("error")).__name__ if "error" in outcome else "ok"))

    def record(self, case: Case, operation: str, kind: str, where: str, text: str) -> None:
        self.findings.append({
            "type": kind, "where": where, "call": operation, "case": case.index, "seed": self.seed,
            "version": case.version, "traceback": text, "answers": list(case.served[-4:]),
            "answers_served": len(case.served),
        })


def run(seconds: float, seed: int = 0, verbose: bool = False, only_case: int = None) -> list:
    """Fuzz for ``seconds``; the findings (dicts: type, where, call, case, seed,
    version, traceback, answers)."""
    logging.getLogger("kestra.flow").setLevel(logging.CRITICAL)
    if any(os.environ.get(name) for name in ("http_proxy", "HTTP_PROXY")):
        os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    harness = Harness(seed, verbose)
    try:
        if only_case is not None:
            harness.run_case(only_case)
        else:
            end = time.monotonic() + seconds
            index = 0
            while time.monotonic() < end:
                harness.run_case(index)
                index += 1
        run.ran = harness.ran
        run.harness_errors = harness.server.harness_errors
    finally:
        harness.close()
    return harness.findings


def group(findings: list) -> dict:
    groups = collections.OrderedDict()
    for finding in findings:
        groups.setdefault((finding["type"], finding["where"]), []).append(finding)
    return groups


def report(findings: list, ran: collections.Counter, out=sys.stdout) -> None:
    print("cases run: %d (%s)" % (sum(ran.values()), ", ".join("%s %d" % item for item in sorted(ran.items()))),
          file=out)
    groups = group(findings)
    print("findings: %d, in %d groups" % (len(findings), len(groups)), file=out)
    for (kind, where), members in groups.items():
        first = members[0]
        calls = collections.Counter(member["call"] for member in members)
        print("\n=== %s at kestra.py %s: %d time(s); calls: %s" % (
            kind, where, len(members), ", ".join("%s x%d" % item for item in calls.most_common())), file=out)
        print("first: case %d, seed %d, server %s (replay: --case %d --seed %d)" % (
            first["case"], first["seed"], first["version"], first["case"], first["seed"]), file=out)
        print(first["traceback"].rstrip()[-3000:], file=out)
        print("answers served last in that case (%d in all):" % first["answers_served"], file=out)
        for answer in first["answers"]:
            print("  " + json.dumps(answer, ensure_ascii=True)[:1200], file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--case", type=int, default=None, help="replay one case of --seed")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json", help="also write the findings to this file")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print("seed %d" % seed)
    findings = run(args.seconds, seed, args.verbose, args.case)
    report(findings, run.ran)
    if run.harness_errors:
        print("\nharness errors (bugs of this script, not findings): %d; first:\n%s"
              % (len(run.harness_errors), run.harness_errors[0][-2000:]))
    if args.json:
        Path(args.json).write_text(json.dumps(findings, indent=1, default=str), encoding="utf-8")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
