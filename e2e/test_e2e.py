"""End-to-end tests of kestra.py against a real Kestra server.

Start a server with ``python e2e/server.py start``, then run ``python -m pytest e2e``.
The server is found through ``KESTRA_E2E_URL``, ``KESTRA_E2E_USER`` and
``KESTRA_E2E_PASSWORD`` (defaults: the launcher's). Without a server the module is
skipped, saying why; with ``KESTRA_E2E_REQUIRED=1`` (CI) it fails instead.

The flows in ``e2e/flows`` are created in a namespace of their own for the session and
deleted afterwards. Every test checks what the SERVER recorded (the execution, its
outputs, logs, metrics and files, read through the API), not what kestra.py believes.
No test branches on the server's version, except the note of the execution context
test: version differences belong in kestra.py.
"""

import base64
import datetime
import decimal
import hashlib
import json
import os
import pathlib
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings

import pytest

# The working tree's kestra.py, never an installed package of the same name.
REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
KESTRA_PY = REPOSITORY / "kestra.py"
sys.path.insert(0, str(REPOSITORY))
import kestra  # noqa: E402

assert pathlib.Path(kestra.__file__).resolve() == KESTRA_PY, (
    "imported %s instead of %s: uninstall the kestra package or run from the repository"
    % (kestra.__file__, KESTRA_PY)
)


# Settings ######################################################################
# Where the server is, how this suite names its flows, and how long things may take.

SERVER_URL = os.environ.get("KESTRA_E2E_URL", "http://127.0.0.1:28080").rstrip("/")
SERVER_USER = os.environ.get("KESTRA_E2E_USER", "admin@kestra.io")
SERVER_PASSWORD = os.environ.get("KESTRA_E2E_PASSWORD", "Admin1234")
SERVER_VERSION_NAME = os.environ.get("KESTRA_E2E_VERSION", "")
REQUIRED = os.environ.get("KESTRA_E2E_REQUIRED") == "1"

FLOWS_DIR = pathlib.Path(__file__).resolve().parent / "flows"
NAMESPACE_PLACEHOLDER = "__NAMESPACE__"  # in the YAML files; no clash with Pebble's {{ }}
TENANT = "main"  # Kestra OSS: every API path is /api/v1/main/...

POLL_S = 0.2  # Flow(poll_interval=...) and the suite's own polling
RUN_TIMEOUT_S = 120  # no execution of this suite may take longer
STORE_GRACE_S = 10  # an execution is stored asynchronously: a 404 right after creation
INDEX_GRACE_S = 15  # logs and metrics are indexed after the execution's end
FIRE_AND_FORGET_MAX_S = 5  # creating an execution without waiting takes less than this
TERMINAL_STATES = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED"}

UTC = datetime.timezone.utc
PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))


# Helpers #######################################################################
# API paths, Flow clients for the suite's server, polling, and value comparison.

class Server:
    """The server under test: its address, credentials, version (``version``: (major,
    minor, patch); ``prerelease``: a version such as 2.0.0-SNAPSHOT, which comes before
    2.0.0) and edition ("OSS" or "EE"), as ``GET /api/v1/configs`` gives them."""

    def __init__(self, url, user, password, version_text, edition=None):
        self.url, self.user, self.password = url, user, password
        self.version_text = version_text or SERVER_VERSION_NAME or "unknown"
        numbers = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?(-\S+)?", version_text or "")
        self.version = tuple(int(number or 0) for number in numbers.groups()[:3]) if numbers else None
        self.prerelease = bool(numbers and numbers.group(4))
        self.edition = edition or "unknown"

    def older_than(self, release):
        """Whether this server comes before the release ``release`` (a tuple): a
        pre-release of that very version (2.0.0-SNAPSHOT) counts as older."""
        return self.version is not None and (self.version < release or (self.version == release and self.prerelease))


class Flows:
    """The flows of ``e2e/flows``, created in ``namespace``; ``require(id)`` fails the test
    when that flow could not be created (a missing plugin, say)."""

    def __init__(self, namespace, errors):
        self.namespace = namespace
        self.errors = errors

    def require(self, flow_id):
        if flow_id in self.errors:
            pytest.fail("flow %s could not be created: %s" % (flow_id, self.errors[flow_id]), pytrace=False)
        return flow_id


def api_path(*segments):
    """``/api/v1/main/<segments>``, each segment percent-encoded."""
    return "/api/v1/%s/%s" % (TENANT, "/".join(urllib.parse.quote(str(segment), safe="") for segment in segments))


def make_flow(server, **options):
    """A kestra.Flow for the server under test, whatever KESTRA_* says; every wait is
    bounded (RUN_TIMEOUT_S, then a kill) unless ``options`` say otherwise."""
    options.setdefault("poll_interval", POLL_S)
    options.setdefault("timeout", RUN_TIMEOUT_S)
    options.setdefault("kill_on_timeout", True)
    flow = kestra.Flow(**options)
    flow.hostname, flow.user, flow.password, flow.api_token = server.url, server.user, server.password, None
    return flow


def state_of(execution):
    return execution["state"]["current"]


def stored_execution(flow, execution_id):
    """The execution as the server stored it; right after its creation a 404 means
    "not stored yet" for a few seconds."""
    deadline = time.monotonic() + STORE_GRACE_S
    while True:
        try:
            return flow.get_execution(execution_id)
        except kestra.NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def wait_for_state(flow, execution_id, wanted):
    """Wait until the stored execution's state is in ``wanted``; fails after STORE_GRACE_S."""
    deadline = time.monotonic() + STORE_GRACE_S
    execution = stored_execution(flow, execution_id)
    while state_of(execution) not in wanted and time.monotonic() < deadline:
        time.sleep(POLL_S)
        execution = flow.get_execution(execution_id)
    assert state_of(execution) in wanted, "execution %s is %s, expected one of %s" % (
        execution_id, state_of(execution), sorted(wanted))


def end_execution(server, execution_id):
    """Kill an execution (if it still runs) and wait for its end: cleanup for tests
    that leave the five-minute flow running."""
    flow = make_flow(server)
    try:
        flow.kill(execution_id)
    except kestra.ConflictError:
        pass  # it has ended already
    flow.wait(execution_id, timeout=60)


def wait_for(read, ready):
    """``read()`` again until ``ready(value)`` or INDEX_GRACE_S have passed; the last value.
    For what the server indexes after an execution's end (logs, metrics)."""
    deadline = time.monotonic() + INDEX_GRACE_S
    value = read()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(POLL_S)
        value = read()
    return value


def execution_logs(flow, execution_id):
    """Every log entry of the execution, as the server stores them, in its order."""
    return flow._make_request("GET", api_path("logs", execution_id)).json()


def task_metrics(flow, execution_id, task_id):
    """The metrics the server stored for a task of the execution."""
    response = flow._make_request("GET", api_path("metrics", execution_id), params={"taskId": task_id, "size": 100})
    return response.json()["results"]


def collect_within(iterable, seconds):
    """All the items of ``iterable``, failing the test if it does not end within ``seconds``."""
    items, failure = [], []

    def consume():
        try:
            items.extend(iterable)
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail("still iterating after %s s (got %d items so far)" % (seconds, len(items)))
    if failure:
        raise failure[0]
    return items


def typed(value):
    """``value`` with each scalar paired with its type, so that comparing two of them
    also compares types: ``1 == 1.0 == True == Decimal(1)`` in Python, not here."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def parse_instant(text):
    """An ISO-8601 date-time with an offset (``Z`` or ``+hh:mm``), any fraction length."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text)
    assert match, "not an ISO-8601 instant: %r" % text
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    microseconds = int((match.group(2) or "0").ljust(6, "0")[:6])
    zone = match.group(3)
    offset = datetime.timedelta(0) if zone == "Z" else datetime.timedelta(
        hours=int(zone[1:3]), minutes=int(zone[4:6])) * (-1 if zone[0] == "-" else 1)
    return moment.replace(microsecond=microseconds, tzinfo=datetime.timezone(offset))


def without(mapping, *keys):
    return {key: value for key, value in mapping.items() if key not in keys}


def decoded(value):
    """An OutputValues value rendered with ``| toJson``: JSON text (or already a value)."""
    return json.loads(value) if isinstance(value, str) else value


# Fixtures ######################################################################
# The server (or a skip), the session's flows, and the runs several tests read.

def read_configs(url, user, password):
    """GET /api/v1/configs (with Basic auth, though it needs none); OSError if nobody answers."""
    request = urllib.request.Request(url + "/api/v1/configs")
    token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")
    request.add_header("Authorization", "Basic " + token)
    with urllib.request.urlopen(request, timeout=3) as response:
        return json.loads(response.read().decode("utf-8"))


def find_server():
    """The server under test. When none answers, the whole module is skipped, saying
    why, or fails with KESTRA_E2E_REQUIRED=1."""
    try:
        configs = read_configs(SERVER_URL, SERVER_USER, SERVER_PASSWORD)
    except (OSError, ValueError) as exc:
        problem = getattr(exc, "reason", exc)  # urllib's URLError wraps the socket's error
    else:
        return Server(SERVER_URL, SERVER_USER, SERVER_PASSWORD, configs.get("version"), configs.get("edition"))
    reason = "no Kestra server%s at %s (%s): start one with `python e2e/server.py start`" % (
        " " + SERVER_VERSION_NAME if SERVER_VERSION_NAME else "", SERVER_URL, problem)
    if REQUIRED:
        pytest.fail("KESTRA_E2E_REQUIRED=1, but " + reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


SERVER = find_server()


@pytest.fixture(scope="session")
def server():
    """The server under test (found when the module was imported)."""
    return SERVER


@pytest.fixture(scope="session")
def flows(server):
    """Every flow of e2e/flows, created in a namespace unique to this run, deleted after it."""
    namespace = "kestra_py.e2e.r" + secrets.token_hex(4)
    admin = make_flow(server)
    yaml_headers = {"Content-Type": "application/x-yaml"}
    created, errors = [], {}
    for path in sorted(FLOWS_DIR.glob("*.yaml")):
        flow_id = path.stem  # each file's `id:` is its name
        source = path.read_text(encoding="utf-8").replace(NAMESPACE_PLACEHOLDER, namespace)
        try:
            try:
                answer = admin._make_request("POST", api_path("flows"), data=source, headers=yaml_headers)
            except (kestra.ConflictError, kestra.InvalidRequestError) as refused:
                # Already there (a namespace reused by hand): replace it. When that fails
                # too, the flow is invalid, and both answers say why.
                try:
                    answer = admin._make_request("PUT", api_path("flows", namespace, flow_id), data=source,
                                                 headers=yaml_headers)
                except kestra.KestraError as exc:
                    raise kestra.KestraError("%s; replacing it instead: %s" % (refused, exc)) from None
            assert answer.json()["id"] == flow_id, "%s declares the id %r" % (path.name, answer.json()["id"])
            created.append(flow_id)
        except kestra.KestraError as exc:
            errors[flow_id] = str(exc)
    yield Flows(namespace, errors)
    failures = []
    for flow_id in created:
        try:
            admin._make_request("DELETE", api_path("flows", namespace, flow_id))
        except kestra.KestraError as exc:
            failures.append("%s: %s" % (flow_id, exc))
    if failures:
        warnings.warn("could not delete the e2e flows of %s: %s" % (namespace, "; ".join(failures)))


@pytest.fixture(scope="module")
def task_side_run(server, flows):
    """One run of the task_side flow, whose tasks use kestra.py's task side."""
    result = make_flow(server).execute(flows.namespace, flows.require("task_side"), {"lib": KESTRA_PY})
    assert result.status == "SUCCESS", result.error
    return result


# Inputs and files ##############################################################

SENT_INPUTS = {
    "text": "na\u00efve & <b>\"bold\"</b>\nsecond line \u2713",
    "count": 1234567,
    "ratio": 3.25,
    "flag": False,
    "moment": datetime.datetime(2024, 4, 21, 13, 43, 24, 123000, tzinfo=PLUS_2),
    "document": {"name": "Zo\u00eb", "values": [1, 2.5, True], "nested": {"empty": []}},
    "numbers": [3, 1, 2],
    "choice": "green & blue",
}
SMALL_PAYLOAD = bytes(range(256)) * 64 + "caf\u00e9\n".encode("utf-8")


def test_typed_inputs_reach_the_flow(server, flows, tmp_path):
    """Inputs of every type arrive as typed values: the execution stores them, the flow
    sees them (echoed as JSON), and the FILE input holds exactly the bytes sent."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("inputs"),
                          dict(SENT_INPUTS, payload=("payload.bin", SMALL_PAYLOAD), lib=KESTRA_PY))
    assert result.status == "SUCCESS", result.error

    stored = flow.get_execution(result.execution_id)["inputs"]
    assert set(stored) == set(SENT_INPUTS) | {"payload", "lib"}
    assert parse_instant(stored["moment"]) == SENT_INPUTS["moment"]
    assert typed(without(stored, "moment", "payload", "lib")) == typed(without(SENT_INPUTS, "moment"))

    outputs = flow.outputs(result.execution_id)
    assert result.outputs == outputs  # execute() gives them whole (2.0 sends them apart, after the end)
    echoed = {key: decoded(value) for key, value in outputs["echo"]["values"].items()}
    assert parse_instant(echoed.pop("moment")) == SENT_INPUTS["moment"]
    assert typed(echoed) == typed(without(SENT_INPUTS, "moment"))

    assert outputs["hash"]["vars"] == {"sha256": hashlib.sha256(SMALL_PAYLOAD).hexdigest(), "size": len(SMALL_PAYLOAD)}
    assert stored["payload"].startswith("kestra:///"), stored["payload"]
    downloaded = flow.download_file(result.execution_id, stored["payload"], tmp_path / "payload.bin")
    assert pathlib.Path(downloaded).read_bytes() == SMALL_PAYLOAD


@pytest.mark.slow
def test_large_file_input_is_streamed_whole(server, flows, tmp_path):
    """A 200 MB FILE input arrives whole: the flow's SHA-256 and size are ours."""
    path = tmp_path / "large.bin"
    digest = hashlib.sha256()
    noise = os.urandom(1 << 20)
    with open(path, "wb") as file:
        for index in range(200):  # 200 blocks of 1 MiB, each different from the others
            block = index.to_bytes(8, "big") + noise[8:]
            digest.update(block)
            file.write(block)
    flow = make_flow(server, request_timeout=120)
    result = flow.execute(flows.namespace, flows.require("inputs"), dict(SENT_INPUTS, payload=path, lib=KESTRA_PY))
    assert result.status == "SUCCESS", result.error
    assert flow.outputs(result.execution_id)["hash"]["vars"] == {"sha256": digest.hexdigest(), "size": 200 << 20}


# Labels ########################################################################
# The server adds labels of its own, all named system.* (system.correlationId, and
# possibly others such as system.username): they are left out of the comparisons.

SENT_LABELS = {
    "amp": "fish & chips",
    "hash": "#42",
    "percent": "100%",
    "plus": "1+1=2",
    "space": "two words",
    "colon": "key:value:more",
    "unicode": "caf\u00e9 \u2713 \u65e5\u672c",
    "cl\u00e9": "valeur",
    "padded": "  trimmed  ",
}


def user_labels(execution):
    pairs = [(label["key"], label["value"]) for label in execution.get("labels") or []
             if not label["key"].startswith("system.")]
    assert len(pairs) == len(dict(pairs)), "a label key appears twice: %r" % pairs
    return dict(pairs)


def test_labels_arrive_exactly(server, flows):
    """Labels holding &, #, %, +, spaces, : and non-ASCII text are stored as sent
    (both sides trimmed, as the server does)."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("hello"), labels=SENT_LABELS)
    assert result.status == "SUCCESS", result.error
    expected = {key: value.strip() for key, value in SENT_LABELS.items()}
    assert user_labels(flow.get_execution(result.execution_id)) == expected


def test_labels_from_inputs(server, flows):
    """With labels_from_inputs, each input becomes a label, as text, beside the explicit ones."""
    flow = make_flow(server, labels_from_inputs=True)
    result = flow.execute(flows.namespace, flows.require("hello"), {"team": "data & ops", "size": 3},
                          labels={"extra": "yes"})
    assert result.status == "SUCCESS", result.error
    assert user_labels(flow.get_execution(result.execution_id)) == {"team": "data & ops", "size": "3", "extra": "yes"}


@pytest.mark.parametrize("labels", [
    {"empty": ""},
    {"blank": "   "},
    {"": "no key"},
    {"a:b": "colon in the key"},
    {"system.username": "reserved"},
    [("twice", "1"), ("twice", "2")],
    {"nothing": None},
], ids=["empty value", "blank value", "empty key", "colon in key", "system key", "duplicate key", "None"])
def test_invalid_labels_raise_before_sending(server, labels):
    """Labels the server would refuse raise a KestraError before any request: the flow
    named does not exist, so a request would have raised NotFoundError instead."""
    with pytest.raises(kestra.KestraError) as caught:
        make_flow(server).execute("kestra_py.e2e.absent", "never_created", labels=labels)
    assert not isinstance(caught.value, kestra.KestraHTTPError), caught.value


# How executions end ############################################################

def test_failed_flow_reports_its_error(server, flows):
    """A failing flow ends FAILED on the server, and FlowExecution.error carries its message."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("fail"))
    assert result.status == "FAILED"
    assert state_of(flow.get_execution(result.execution_id)) == "FAILED"
    assert "e2e: this flow fails on purpose" in result.error
    assert "give_up" in result.error  # the failed task, named as the README says


def test_warning_flow_ends_warning(server, flows):
    """A tolerated failure ends WARNING on the server; that counts as success (no error)."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("warn"))
    assert result.status == "WARNING"
    assert state_of(flow.get_execution(result.execution_id)) == "WARNING"
    assert result.error is None


def test_fire_and_forget_returns_at_once(server, flows):
    """wait_for_completion=False returns right after the creation, while the execution runs."""
    started_at = time.monotonic()
    started = make_flow(server, wait_for_completion=False).execute(flows.namespace, flows.require("long"))
    elapsed = time.monotonic() - started_at
    try:
        assert elapsed < FIRE_AND_FORGET_MAX_S
        execution = stored_execution(make_flow(server), started.execution_id)
        assert (execution["namespace"], execution["flowId"]) == (flows.namespace, "long")
        assert state_of(execution) not in TERMINAL_STATES
    finally:
        end_execution(server, started.execution_id)


def test_kill_ends_killed(server, flows):
    """Flow.kill stops a running execution: it ends KILLED on the server, and wait() says so."""
    flow = make_flow(server)
    started = make_flow(server, wait_for_completion=False).execute(flows.namespace, flows.require("long"))
    wait_for_state(flow, started.execution_id, {"RUNNING"})
    flow.kill(started.execution_id)
    assert flow.wait(started.execution_id).status == "KILLED"
    assert state_of(flow.get_execution(started.execution_id)) == "KILLED"


def test_wait_timeout_raises_and_leaves_the_execution_running(server, flows):
    """timeout= raises ExecutionTimeoutError on time, naming the execution, which keeps running."""
    flow = make_flow(server, timeout=2, kill_on_timeout=False)
    started_at = time.monotonic()
    with pytest.raises(kestra.ExecutionTimeoutError) as caught:
        flow.execute(flows.namespace, flows.require("long"))
    elapsed = time.monotonic() - started_at
    error = caught.value
    try:
        assert 2 <= elapsed < 15
        assert error.killed is False
        assert state_of(make_flow(server).get_execution(error.execution_id)) not in TERMINAL_STATES
    finally:
        end_execution(server, error.execution_id)


def test_wait_timeout_with_kill_ends_killed(server, flows):
    """With kill_on_timeout=True the timed-out execution ends KILLED on the server."""
    with pytest.raises(kestra.ExecutionTimeoutError) as caught:
        make_flow(server, timeout=2, kill_on_timeout=True).execute(flows.namespace, flows.require("long"))
    assert caught.value.killed is True
    result = make_flow(server).wait(caught.value.execution_id, timeout=60)
    assert result.status == "KILLED"
    assert state_of(make_flow(server).get_execution(caught.value.execution_id)) == "KILLED"


# Logs ##########################################################################

COUNTED_LINES = ["line %02d" % number for number in range(1, 21)]


def test_follow_logs_and_get_logs_give_every_line_in_order(server, flows):
    """follow_logs yields every line of the task once, live and in order, and ends; get_logs
    then holds the same lines in the same order. The server's stream can miss a line stored
    between its read of the stored ones and its subscription (seen on 1.3.25, under load):
    follow_logs then gives it after the others, from the stored list."""
    flow = make_flow(server)
    started = make_flow(server, wait_for_completion=False).execute(flows.namespace, flows.require("count"))
    entries = collect_within(flow.follow_logs(started.execution_id), RUN_TIMEOUT_S)
    followed = [entry["message"] for entry in entries
                if entry.get("taskId") == "count" and entry["message"].startswith("line ")]
    assert sorted(followed) == COUNTED_LINES
    streamed = followed[:followed.index(COUNTED_LINES[-1]) + 1]  # what came after: missed, caught up
    assert streamed == sorted(streamed), "lines out of order: %s" % followed
    assert {entry["level"] for entry in entries if entry["message"] in COUNTED_LINES} == {"INFO"}

    text = flow.get_logs(started.execution_id).text
    assert re.findall(r"(?m)^\S+ INFO (line \d\d)$", text) == COUNTED_LINES


def test_execute_result_log_holds_every_line(server, flows):
    """FlowExecution.log, fetched once when the execution ends, already holds its last lines."""
    result = make_flow(server).execute(flows.namespace, flows.require("count"))
    assert result.status == "SUCCESS", result.error
    assert re.findall(r"(?m)^\S+ INFO (line \d\d)$", result.log) == COUNTED_LINES


# Authentication ################################################################

def test_wrong_password_is_an_authentication_error(server, flows):
    """A wrong password raises AuthenticationError (401), whose message does not show it."""
    flow = make_flow(server)
    flow.password = "Wrong" + secrets.token_hex(4)
    with pytest.raises(kestra.AuthenticationError) as caught:
        flow.execute(flows.namespace, flows.require("hello"))
    assert caught.value.status_code == 401
    assert flow.password not in str(caught.value)


def test_environment_variables_alone_are_enough(server, flows, monkeypatch):
    """KESTRA_HOSTNAME, KESTRA_USER and KESTRA_PASSWORD configure Flow() with no arguments."""
    monkeypatch.setenv("KESTRA_HOSTNAME", server.url)
    monkeypatch.setenv("KESTRA_USER", server.user)
    monkeypatch.setenv("KESTRA_PASSWORD", server.password)
    monkeypatch.delenv("KESTRA_API_TOKEN", raising=False)
    result = kestra.Flow().execute(flows.namespace, flows.require("hello"))
    assert result.status == "SUCCESS", result.error


# Task side #####################################################################
# What the task_side flow's scripts sent, as the server recorded it. The expected
# values are written by hand in the JSON form that kestra.py documents (README,
# "Outputs"): a datetime as its isoformat(), a date likewise, a Decimal as its text.
# No output is None: Kestra's JSON mapper leaves null map values out (NON_NULL), which
# is the server's way, not something kestra.py could change.

BIG_TEXT = '\u00e9\u2713 0123456789 "quoted"\n' * 4400  # 101,200 characters
EXPECTED_EMIT_VARS = {
    "unicode": "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f600",
    "newlines": "line 1\nline 2\r\nline 3\u2028line 4\u0085line 5",
    "markers": "a }:: b ::{ c",
    "nested": {"list": [1, 2.5, "three", True, {"deep": ["x"]}], "empty_map": {}, "empty_list": []},
    "when": "2024-04-21T13:43:24.123456+02:00",
    "day": "2024-04-21",
    "price": "12.50",
    "int64": 2 ** 62,
    "ratio": 0.1,
    "flag": False,
    "replaced": "second",  # sent "first", then "second": the last write wins
    "after_partial_line": "kept",
    "from_stderr": "kept",
}
# The entries the emit task logged (first line of each message), in order. The library's
# DEBUG record is below the root level that capture_logging() sets: it must not appear.
EXPECTED_EMIT_LOGS = [
    ("DEBUG", "e2e: debug record"),
    ("INFO", "e2e: info record 42"),
    ("WARN", "e2e: warning record"),
    ("ERROR", "e2e: error record"),
    ("ERROR", "e2e: critical record"),
    ("ERROR", "e2e: exception record"),
    ("INFO", "e2e: lib info record"),
    ("WARN", "e2e: lib warning record"),
    ("INFO", "e2e: partial line"),
    ("INFO", "e2e: after the partial line"),
    ("WARN", "e2e: frame on stderr"),
]
# What the server says when it drops a frame, or part of one.
FRAME_REJECTIONS = ("Invalid outputs", "Invalid log", "Unable to emit asset", "Unable to get asset emitter")


def emit_log_entries(flow, execution_id):
    """The emit task's log entries that carry our marker, once the last one is indexed."""
    def ours(entries):
        return [entry for entry in entries if entry.get("taskId") == "emit" and "e2e: " in entry["message"]]

    entries = wait_for(lambda: execution_logs(flow, execution_id),
                       lambda entries: any("e2e: frame on stderr" in entry["message"] for entry in ours(entries)))
    return ours(entries)


def test_task_outputs_arrive_exactly(server, task_side_run):
    """Every output the script sent is stored exactly: unicode, line breaks, frame markers,
    nested values, 100 KB of text, a datetime, a date and a Decimal in their documented
    form; the last write of a key wins; a frame after a partial line and one on stderr count."""
    sent = dict(make_flow(server).outputs(task_side_run.execution_id)["emit"]["vars"])
    big = sent.pop("big", None)
    assert big == BIG_TEXT, "the 100 KB value came back as %r..." % (big or "")[:80]
    assert typed(sent) == typed(EXPECTED_EMIT_VARS)


def test_thread_frames_all_arrive(server, task_side_run):
    """1,000 frames sent from 4 threads at once all arrive, none garbled."""
    sent = make_flow(server).outputs(task_side_run.execution_id)["threads"]["vars"]
    expected = {"t%d_%03d" % (thread, index): index for thread in range(4) for index in range(250)}
    assert len(sent) == len(expected)
    assert sent == expected


def test_metrics_are_stored_with_their_types_and_values(server, task_side_run):
    """Counters (summed by the server), a gauge and timers arrive with their names, types,
    tags and values. The metrics endpoint gives a timer in milliseconds (Kestra's
    MetricEntry stores Duration.toMillis()): 1.5 s reads 1500, so a client that sent
    milliseconds (1,500 s) or microseconds would be far off."""
    flow = make_flow(server)
    names = {"e2e.rows", "e2e.queue", "e2e.delta", "e2e.block"}
    metrics = wait_for(lambda: task_metrics(flow, task_side_run.execution_id, "emit"),
                       lambda entries: names <= {entry["name"] for entry in entries})
    ours = [entry for entry in metrics if entry["name"].startswith("e2e.")]
    by_name = {}
    for entry in ours:
        by_name.setdefault(entry["name"], []).append(entry)
    assert set(by_name) == names

    assert {entry["type"] for entry in by_name["e2e.rows"]} == {"counter"}
    assert all(entry["tags"].get("table") == "orders" for entry in by_name["e2e.rows"])
    assert sum(entry["value"] for entry in by_name["e2e.rows"]) == 150

    assert [(entry["type"], entry["value"]) for entry in by_name["e2e.queue"]] == [("gauge", 7.5)]

    assert [(entry["type"], entry["value"]) for entry in by_name["e2e.delta"]] == [("timer", 2250)]

    [block] = by_name["e2e.block"]
    assert block["type"] == "timer"
    assert block["tags"].get("step") == "sleep"
    assert 1400 <= block["value"] <= 5000, "a 1.5 s block stored as %r ms" % block["value"]


def test_log_entries_have_their_levels_in_order_once(server, task_side_run):
    """Each record becomes one log entry at the level meant, in the order sent, with the
    traceback of logger.exception in the same entry; no empty entry from the partial line."""
    flow = make_flow(server)
    entries = emit_log_entries(flow, task_side_run.execution_id)
    assert [(entry["level"], entry["message"].splitlines()[0]) for entry in entries] == EXPECTED_EMIT_LOGS
    exception = entries[EXPECTED_EMIT_LOGS.index(("ERROR", "e2e: exception record"))]["message"]
    assert "Traceback (most recent call last):" in exception
    assert "ZeroDivisionError: division by zero" in exception
    emit_entries = [entry for entry in execution_logs(flow, task_side_run.execution_id)
                    if entry.get("taskId") == "emit"]
    assert all(entry["message"].strip() for entry in emit_entries), "an empty log entry"


def test_no_frame_was_rejected(server, task_side_run):
    """The server dropped no frame: no "Invalid outputs" (or asset) warning in the whole execution."""
    flow = make_flow(server)
    emit_log_entries(flow, task_side_run.execution_id)  # the emit task's logs are all indexed
    rejections = [entry["message"] for entry in execution_logs(flow, task_side_run.execution_id)
                  if any(text in entry["message"] for text in FRAME_REJECTIONS)]
    assert rejections == []


# The WARN entry a task gets when it declared assets that kestra.py did not send.
ASSETS_NOTICE = "Kestra.assets(): the assets were not sent to Kestra."


def assets_notices(entries, task_id):
    return [entry["level"] for entry in entries
            if entry.get("taskId") == task_id and entry["message"].startswith(ASSETS_NOTICE)]


@pytest.mark.parametrize("task_id", ["after_assets", "after_assets_sent"])
def test_everything_after_an_assets_call_arrives(server, task_side_run, task_id):
    """A script that calls Kestra.assets, then sends outputs, a metric, a log record and
    prints, loses none of it, on any edition, and its task ends SUCCESS: with KESTRA_ASSETS
    unset (the assets are not sent, which a WARN entry says once) and with
    KESTRA_ASSETS=send (no notice; the assets line goes last, and an open-source server
    drops it without a trace, so this checks what comes before it, not the line)."""
    flow = make_flow(server)
    execution = flow.get_execution(task_side_run.execution_id)
    [run] = [run for run in execution["taskRunList"] if run["taskId"] == task_id]
    assert run["state"]["current"] == "SUCCESS"
    assert flow.outputs(task_side_run.execution_id)[task_id]["vars"] == \
        {"before_assets": 1, "after_assets": 2, "last": 3}
    expected_logs = [("INFO", "e2e: logged after assets"), ("INFO", "e2e: printed after assets"),
                     ("INFO", "e2e: last print")]

    def ours(entries):
        return [(entry["level"], entry["message"]) for entry in entries
                if entry.get("taskId") == task_id and entry["message"].startswith("e2e: ")]

    entries = wait_for(lambda: execution_logs(flow, task_side_run.execution_id),
                       lambda entries: len(ours(entries)) >= len(expected_logs))
    # Each line once, whole, at its level; not in order: the server's log query sorts
    # by a millisecond timestamp only, and gives two lines of the same millisecond in
    # either order (1.3.25, about one run in three).
    assert sorted(ours(entries)) == sorted(expected_logs)
    assert assets_notices(entries, task_id) == ([] if task_id == "after_assets_sent" else ["WARN"])
    metrics = wait_for(lambda: task_metrics(flow, task_side_run.execution_id, task_id),
                       lambda found: any(entry["name"] == "e2e.after_assets" for entry in found))
    assert [(entry["type"], entry["value"]) for entry in metrics if entry["name"] == "e2e.after_assets"] == \
        [("counter", 1)]


def test_assets_not_sent_are_recorded_nowhere(server, task_side_run):
    """Assets kestra.py did not send (KESTRA_ASSETS unset) are recorded by no edition. The
    open-source edition has no asset inventory: it records none, even those sent (the
    runs must still be whole, see above). Not covered: Enterprise records sent ones only
    for a task with assets.enableAuto, which an open-source server refuses in a flow."""
    execution = make_flow(server).get_execution(task_side_run.execution_id)
    recorded = {run["taskId"]: run.get("assets") or {} for run in execution["taskRunList"]}
    not_sent = ["emit", "after_assets"] + (["after_assets_sent"] if server.edition == "OSS" else [])
    for task_id in not_sent:
        assert not (recorded[task_id].get("inputs") or recorded[task_id].get("outputs")), (task_id, recorded[task_id])


# The Docker task runner ########################################################
# Kestra's default runner for scripts. These tests need the server and the tests on
# one machine, its Docker engine at /var/run/docker.sock, and a local image with
# `python` on its PATH, named by KESTRA_E2E_DOCKER_IMAGE; they skip, saying which is
# missing, without them. The image is never pulled.

DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_IMAGE = os.environ.get("KESTRA_E2E_DOCKER_IMAGE", "kestra-py-e2e:bookworm")
FRAME_SIZES = {"5k": 5120, "100k": 102400, "1m": 1000000}  # 1m: under 2.0's 1 MiB result limit


def docker_problem():
    """Why the Docker tests cannot run here, or None: the engine's /_ping, then the image."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(DOCKER_SOCKET)

    connection = UnixConnection("localhost", timeout=10)
    try:
        connection.request("GET", "/_ping")
        ping = connection.getresponse()
        ping.read()
        connection.request("GET", "/images/%s/json" % urllib.parse.quote(DOCKER_IMAGE, safe=":/"))
        image = connection.getresponse()
        image.read()
    except (OSError, http.client.HTTPException) as exc:
        return "no Docker engine answers at %s (%s): start dockerd to run the Docker tests" % (DOCKER_SOCKET, exc)
    finally:
        connection.close()
    if ping.status != 200:
        return "the Docker engine at %s answered /_ping with %d" % (DOCKER_SOCKET, ping.status)
    if image.status != 200:
        return ("the Docker engine has no image %s (%d): make one with `python` on its PATH, or name "
                "yours in KESTRA_E2E_DOCKER_IMAGE" % (DOCKER_IMAGE, image.status))
    return None


@pytest.fixture(scope="module")
def docker_run(server, flows):
    """One run of the docker flow, or a skip saying why Docker cannot run here."""
    problem = docker_problem()
    if problem:
        pytest.skip(problem)
    return make_flow(server, timeout=1000).execute(flows.namespace, flows.require("docker"),
                                                  {"lib": KESTRA_PY, "image": DOCKER_IMAGE})


def task_run(flow, execution_id, task_id):
    [run] = [run for run in flow.get_execution(execution_id)["taskRunList"] if run["taskId"] == task_id]
    return run


def run_seconds(run):
    """From the task run's RUNNING to its end, as the server stamped them."""
    histories = run["state"]["histories"]
    started = [parse_instant(entry["date"]) for entry in histories if entry["state"] == "RUNNING"][0]
    return (parse_instant(histories[-1]["date"]) - started).total_seconds()


def test_docker_a_script_calling_assets_ends_success_with_everything(server, docker_run):
    """Under the Docker runner, a script that calls Kestra.assets mid-way ends SUCCESS, with
    every output, the 200 counter increments, the 100 log records and the prints, each once,
    and one WARN entry saying the assets were not sent. (An assets frame would leave the
    task RUNNING on an open-source server until its timeout, with no outputs.)"""
    flow = make_flow(server)
    run = task_run(flow, docker_run.execution_id, "after_assets")
    assert run["state"]["current"] == "SUCCESS", run["state"]
    assert flow.outputs(docker_run.execution_id)["after_assets"]["vars"] == \
        {"before_assets": 1, "after_assets": 2, "last": 3}
    expected = ([("INFO", "e2e: logged after assets %03d" % index) for index in range(100)]
                + [("INFO", "e2e: printed after assets"), ("INFO", "e2e: last print")])

    def ours(entries):
        return [(entry["level"], entry["message"]) for entry in entries
                if entry.get("taskId") == "after_assets" and entry["message"].startswith("e2e: ")]

    entries = wait_for(lambda: execution_logs(flow, docker_run.execution_id),
                       lambda entries: len(ours(entries)) >= len(expected))
    # Each once. Not compared in order: the worker stamps an entry when it reads its
    # line, and the server lists entries of the same millisecond in no set order.
    assert sorted(ours(entries)) == sorted(expected)
    assert assets_notices(entries, "after_assets") == ["WARN"]
    assert not [entry["message"] for entry in entries if any(text in entry["message"] for text in FRAME_REJECTIONS)]
    metrics = wait_for(lambda: task_metrics(flow, docker_run.execution_id, "after_assets"),
                       lambda found: sum(entry["value"] for entry in found if entry["name"] == "e2e.after_assets") >= 200)
    counted = [entry for entry in metrics if entry["name"] == "e2e.after_assets"]
    assert {entry["type"] for entry in counted} == {"counter"}
    assert sum(entry["value"] for entry in counted) == 200


def test_docker_an_ion_file_written_by_a_script_reads_back_exactly(server, docker_run, tmp_path):
    """Under the Docker runner, 20,000 rows written with Kestra.write leave the container as an
    output file that reads back as the very rows, decimals and microseconds included."""
    flow = make_flow(server)
    outputs = flow.outputs(docker_run.execution_id)["write_ion"]
    assert outputs["vars"]["count"] == 20000
    path = flow.download_file(docker_run.execution_id, outputs["outputFiles"]["rows.ion"], tmp_path / "rows.ion")
    expected = [{"id": number, "amount": decimal.Decimal("%d.50" % number),
                 "at": datetime.datetime(2024, 4, 21, 13, 43, 24, number, tzinfo=UTC), "name": "Zo\u00eb %d" % number}
                for number in range(20000)]
    assert exact(kestra.Kestra.read(path, exact=True)) == exact(expected)


@pytest.mark.parametrize("size", sorted(FRAME_SIZES, key=FRAME_SIZES.get))
def test_docker_large_frames_arrive_whole(server, docker_run, record_property, size):
    """An output of 5 KB, 100 KB and 1 MB arrives exactly under Docker and under Process.
    How long each task ran (the server's own stamps) is recorded: Docker's worker reads
    a container's output 1,024 bytes at a time, and large frames take it seconds. (The
    1 MB is 1,000,000 characters: Kestra 2.0 fails a task whose result, outputs
    included, is over 1 MiB, its kestra.queue.message-protection.limit.)"""
    flow = make_flow(server)
    outputs = flow.outputs(docker_run.execution_id)
    expected = ("0123456789abcdef" * (FRAME_SIZES[size] // 16 + 1))[:FRAME_SIZES[size]]
    seconds = {}
    for runner in ("docker", "process"):
        task_id = "size_%s_%s" % (size, runner)
        run = task_run(flow, docker_run.execution_id, task_id)
        assert run["state"]["current"] == "SUCCESS", (task_id, run["state"])
        value = outputs[task_id]["vars"]["value"]
        assert value == expected, "%s: %d characters came back, %d sent" % (task_id, len(value), len(expected))
        seconds[runner] = run_seconds(run)
    base = {}
    for runner in ("docker", "process"):
        run = task_run(flow, docker_run.execution_id, "size_0_%s" % runner)
        assert run["state"]["current"] == "SUCCESS" and outputs["size_0_%s" % runner]["vars"] == {"value": ""}
        base[runner] = run_seconds(run)
    record_property("frame_%s_seconds" % size, "docker %.2f s (%.2f s with no output), process %.2f s "
                    "(%.2f s) (Kestra %s)" % (seconds["docker"], base["docker"], seconds["process"],
                                              base["process"], server.version_text))


# Execution context #############################################################

# Kestra 2.0.0 writes .kestra-execution-context.json into a task's working directory
# (the published io.kestra:core 2.0.0 names it); 1.x and the 2.0.0-SNAPSHOT of July 2026
# write none.
EXECUTION_CONTEXT_SINCE = (2, 0, 0)


def test_execution_context_names_the_execution(server, task_side_run, record_property):
    """kestra.context in a task holds the id of its execution. A server from 2.0.0 on must
    give one; an older server (a 2.0.0-SNAPSHOT included) that gives none is skipped,
    saying so: that is the server's age, not a fault of kestra.py."""
    sent = make_flow(server).outputs(task_side_run.execution_id)["context"]["vars"]
    if "context" in sent:
        assert sent["context"]["execution"]["id"] == task_side_run.execution_id
        return
    assert server.older_than(EXECUTION_CONTEXT_SINCE), \
        "Kestra %s gave the task no execution context: %s" % (server.version_text, sent.get("missing"))
    note = ("Kestra %s predates the execution context (Kestra 2.0.0 gives a task one): "
            "the task had none, as expected of this server (%s)" % (server.version_text, sent.get("missing")))
    record_property("execution_context", note)
    pytest.skip(note)


# Ion files #####################################################################
# JsonToIon reads each line with Jackson into plain Java values, and Kestra writes
# them as Ion: JSON numbers with a fraction become doubles, hence Ion FLOATS, not
# decimals (Jackson's USE_BIG_DECIMAL_FOR_FLOATS is off in Kestra's mapper), an
# integer beyond a long a BigInteger (an Ion int), null fields stay (key:null), and
# strings stay strings, even when they hold a date (Jackson does not guess dates).
# Kestra.read then turns strings shaped like ISO date-times into datetimes, unless
# exact=True. Comparing with typed() tells a float from a Decimal, which == does not.

ION_SOURCE_LINES = [
    r'{"text": "plain", "unicode": "h\u00e9llo \u2713 \u65e5\u672c \ud83d\ude00", '
    r'"escapes": "tab\tquote\"backslash\\end\nnext", "int": 42, "negative": -7, '
    r'"big": 12345678901234567890, "float": 1.5, "fraction": 12.50, "tiny": 0.1, "exponent": 6.02e23, '
    r'"yes": true, "no": false, "nothing": null, "date": "2024-04-21", '
    r'"instant": "2024-04-21T13:43:24.340Z", "offset": "2024-04-21T13:43:24+02:00", "local": "2024-04-21T13:43:24", '
    r'"list": [1, "two", 3.5, null, [4]], "map": {"a": {"b": [true, {}]}}, "empty_list": [], "empty_map": {}}',
    '{"text": "raw UTF-8: Zo\u00eb \u2713", "int": 0, "float": -0.25, "nothing": null}',
]
ION_SOURCE = ("\n".join(ION_SOURCE_LINES) + "\n").encode("utf-8")
ION_ROWS_EXACT = [
    {
        "text": "plain", "unicode": "h\u00e9llo \u2713 \u65e5\u672c \U0001f600",
        "escapes": 'tab\tquote"backslash\\end\nnext', "int": 42, "negative": -7,
        "big": 12345678901234567890, "float": 1.5, "fraction": 12.5, "tiny": 0.1, "exponent": 6.02e23,
        "yes": True, "no": False, "nothing": None, "date": "2024-04-21",
        "instant": "2024-04-21T13:43:24.340Z", "offset": "2024-04-21T13:43:24+02:00", "local": "2024-04-21T13:43:24",
        "list": [1, "two", 3.5, None, [4]], "map": {"a": {"b": [True, {}]}}, "empty_list": [], "empty_map": {},
    },
    {"text": "raw UTF-8: Zo\u00eb \u2713", "int": 0, "float": -0.25, "nothing": None},
]
ION_ROWS = [
    dict(ION_ROWS_EXACT[0],
         instant=datetime.datetime(2024, 4, 21, 13, 43, 24, 340000, tzinfo=UTC),
         offset=datetime.datetime(2024, 4, 21, 13, 43, 24, tzinfo=PLUS_2),
         local=datetime.datetime(2024, 4, 21, 13, 43, 24)),
    ION_ROWS_EXACT[1],
]


def test_ion_file_written_by_kestra_reads_back(server, flows, tmp_path):
    """An Ion file that Kestra's serdes plugin wrote, downloaded with download_file, reads
    back with Kestra.read as the values and types expected, with and without exact=True."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("ion"), {"rows": ("rows.jsonl", ION_SOURCE)})
    assert result.status == "SUCCESS", result.error
    uri = flow.outputs(result.execution_id)["to_ion"]["uri"]
    path = flow.download_file(result.execution_id, uri, tmp_path / "rows.ion")
    assert typed(kestra.Kestra.read(path)) == typed(ION_ROWS)
    assert typed(kestra.Kestra.read(path, exact=True)) == typed(ION_ROWS_EXACT)


# Ion written by a task ###########################################################
# e2e/flows/ion_write.yaml: a Python task writes rows with Kestra.write, Kestra's serdes
# plugin converts them. Its script holds the rows; EXPORTED_ROWS is the same data here.

EXPORTED_MOMENTS = {
    "instant": datetime.datetime(2024, 4, 21, 13, 43, 24, 123456, tzinfo=UTC),
    "offset": datetime.datetime(2024, 4, 21, 13, 43, 24, 500000, tzinfo=PLUS_2),
    "local": datetime.datetime(2024, 4, 21, 13, 43, 24, 340000),
    "day": datetime.date(2024, 4, 21),
    "old_day": datetime.date(1000, 1, 1),
    "time": datetime.time(15, 30, 0, 123456),
    "offset_time": datetime.time(13, 43, 24, tzinfo=datetime.timezone(-datetime.timedelta(hours=5, minutes=45))),
    "amount": decimal.Decimal("24000.50"),
    "ratio": 0.1,
}
EXPORTED_ROWS = [
    dict(EXPORTED_MOMENTS, id=1, tiny=decimal.Decimal("1.23E-30"), thousand=decimal.Decimal("1E+3"),
         whole=decimal.Decimal("100"), big=2 ** 70, span="PT90.5S", key="123e4567-e89b-12d3-a456-426614174000",
         blob=b"\x00\x01\xff", tags=["a", "b"], note=None, ok=True,
         text="Zo\u00eb \u2713 \U0001f600 line\nbreak \"q\" \\", **{"a b": 1}),
    {"id": 2, "nested": {"items": [1, decimal.Decimal("2.50"), [None, False]]}, "nan": float("nan"),
     "inf": float("-inf")},
]


def exact(value):
    """``typed`` that also tells Decimal("2.50") from Decimal("2.5"), and NaN from nothing."""
    if isinstance(value, decimal.Decimal):
        return ("Decimal", str(value))
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [exact(item) for item in value]
    return (type(value).__name__, value)


def test_ion_written_by_a_task_is_read_exactly_by_kestra(server, flows, tmp_path):
    """Rows written with Kestra.write in a Python task: the file reads back equal, the serdes
    IonToJson gives every decimal with its digits and every date-time with its offset and
    microseconds, and IonToCsv, which reads through Kestra's FileSerde, formats each date and
    time as the Java type the README's table names."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("ion_write"), {"lib": KESTRA_PY})
    assert result.status == "SUCCESS", result.error
    outputs = flow.outputs(result.execution_id)
    assert outputs["export"]["vars"]["count"] == 2

    written = pathlib.Path(flow.download_file(result.execution_id, outputs["export"]["outputFiles"]["rows.ion"],
                                              tmp_path / "rows.ion"))
    assert exact(kestra.Kestra.read(written, exact=True)) == exact(EXPORTED_ROWS)
    assert written.read_bytes().count(b"\n") == 2

    converted = pathlib.Path(flow.download_file(result.execution_id, outputs["to_json"]["uri"], tmp_path / "rows.jsonl"))
    first, second = [json.loads(line, parse_float=decimal.Decimal)
                     for line in converted.read_text(encoding="utf-8").splitlines() if line.strip()]
    day = first.pop("day")  # IonToJson writes an Ion day timestamp as the fields of ion-java's Timestamp
    assert (day["year"], day["month"], day["day"], day["precision"]) == (2024, 4, 21, "DAY")
    expected = dict(EXPORTED_ROWS[0], instant="2024-04-21T13:43:24.123456Z", offset="2024-04-21T13:43:24.500000+02:00",
                    local="2024-04-21T13:43:24.340000", old_day="1000-01-01", time="15:30:00.123456",
                    offset_time="13:43:24-05:45", ratio=decimal.Decimal("0.1"), whole=100, blob="AAH/")
    del expected["day"], expected["note"]  # IonToJson leaves out null fields
    assert exact(first) == exact(expected)
    assert exact(second) == exact({"id": 2, "nested": {"items": [1, decimal.Decimal("2.50"), [None, False]]},
                                   "nan": "NaN", "inf": "-Infinity"})

    table = pathlib.Path(flow.download_file(result.execution_id, outputs["to_csv"]["uri"], tmp_path / "typed.csv"))
    header, values = [line.split(",") for line in table.read_text(encoding="utf-8").splitlines()]
    assert header == list(EXPORTED_MOMENTS)
    assert dict(zip(header, values)) == {
        "instant": "2024-04-21T13:43:24.123Z",  # an Instant, through the default pattern (a String would stay as written)
        "offset": "2024-04-21T11:43:24.500Z",  # an OffsetDateTime, moved to the task's time zone, UTC
        "local": "2024-04-21T13:43:24.340",  # a LocalDateTime: no offset to print
        "day": "2024-04-21",
        "old_day": "1000-01-01",
        "time": "15:30:00",  # a LocalTime, through HH:mm:ss
        "offset_time": "13:43:24-05:45",
        "amount": "24000.50",  # a BigDecimal, every digit
        "ratio": "0.1",
    }


# Many executions #################################################################

FAN_OUT_FAILS = {7, 19, 33}  # the input sets that end FAILED
FAN_OUT_WARNS = {3, 40}  # and WARNING


def test_execute_each_reports_each_of_50_executions_as_it_ended(server, flows, record_property):
    """execute_each of the outcome flow for 50 input sets, 16 at once: each result tied to
    its input set, with the state the input asked for and its output; a FAILED one says
    why. No event stream is opened: one search reads which still run."""
    flow = make_flow(server)
    flow_id = flows.require("outcome")
    sets = [{"n": n, "outcome": "fail" if n in FAN_OUT_FAILS else "warn" if n in FAN_OUT_WARNS else "success"}
            for n in range(50)]
    searches = []
    search = flow._running_ids
    flow._running_ids = lambda *args: searches.append(1) or search(*args)
    flow._follow = lambda *args: pytest.fail("execute_each opened an event stream")
    started = time.monotonic()
    results = list(flow.execute_each(flows.namespace, flow_id, iter(sets), parallel=16, labels={"e2e": "fan-out"}))
    took = time.monotonic() - started
    assert sorted(result.index for result in results) == list(range(50))
    for result in results:
        assert result.inputs is sets[result.index] and result.exception is None, result
        expected = {"fail": "FAILED", "warn": "WARNING", "success": "SUCCESS"}[result.inputs["outcome"]]
        assert result.status == expected, result
        assert result.execution["inputs"]["n"] == result.index
        if expected == "FAILED":
            assert "input set %d fails on purpose" % result.index in result.error
        else:
            assert result.outputs["done"]["values"]["n"] == str(result.index), result.outputs
        assert {"key": "e2e", "value": "fan-out"} in result.execution["labels"]
    assert searches  # the states were read by searching
    record_property("fan_out_50_seconds",
                    "%.1f s, %d searches (Kestra %s)" % (took, len(searches), server.version_text))


def test_cli_execute_each_exits_with_the_worst_state(server, flows, tmp_path):
    """`execute --each FILE --parallel 8 --json`: a JSON line per input set with its state,
    exit 1 (FAILED is the worst); only SUCCESS and WARNING: exit 3."""
    flow_id = flows.require("outcome")
    lines = tmp_path / "sets.jsonl"
    lines.write_text("".join(json.dumps({"n": n, "outcome": "fail" if n == 4 else "warn" if n == 2 else "success"})
                             + "\n" for n in range(10)))
    run = run_cli(server, "execute", flows.namespace, flow_id, "--each", lines, "--parallel", "8", "--json")
    assert run.returncode == 1, run.stderr
    results = sorted(json_lines(run.stdout), key=lambda result: result["line"])
    assert [result["state"] for result in results] == ["SUCCESS"] * 2 + ["WARNING", "SUCCESS", "FAILED"] + ["SUCCESS"] * 5
    assert [result["inputs"]["n"] for result in results] == list(range(10))
    assert b"kestra: line 5: execution " in run.stderr and b"10 execution(s) ended, 2 not SUCCESS" in run.stderr
    lines.write_text("".join(json.dumps({"n": n, "outcome": "warn" if n == 1 else "success"}) + "\n" for n in range(3)))
    run = run_cli(server, "execute", flows.namespace, flow_id, "--each", lines)
    assert run.returncode == 3 and run.stdout == b"", run.stderr


# The command line ##############################################################
# `python -I kestra.py ...` as a shell step runs it: a subprocess, its credentials
# from the environment, data on stdout, the rest on stderr, an exit code per outcome.

def run_cli(server, *args, stdin=b"", timeout=RUN_TIMEOUT_S + 60, **environment):
    """Run the command line of the working tree's kestra.py against the server."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("KESTRA_", "PYTHON"))}
    env.update(KESTRA_HOSTNAME=server.url, KESTRA_USER=server.user, KESTRA_PASSWORD=server.password)
    env.update(environment)
    return subprocess.run([sys.executable, "-I", str(KESTRA_PY)] + [str(arg) for arg in args], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)


def json_lines(data):
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def test_cli_deploy_creates_updates_and_leaves_unchanged(server, tmp_path):
    """`deploy FOLDER` on the suite's own flows, in a namespace of its own: created, then
    unchanged, then one updated; `--dry-run` of a flow the server refuses names it and
    the server's reason, and saves nothing."""
    namespace = "kestra_py.e2e.cli" + secrets.token_hex(4)
    folder = tmp_path / "flows"
    folder.mkdir()
    for path in sorted(FLOWS_DIR.glob("*.yaml")):
        (folder / path.name).write_text(path.read_text(encoding="utf-8").replace(NAMESPACE_PLACEHOLDER, namespace),
                                        encoding="utf-8")
    names = sorted(path.stem for path in folder.glob("*.yaml"))
    admin = make_flow(server)
    try:
        run = run_cli(server, "deploy", "--json", folder)
        assert run.returncode == 0, run.stderr
        reports = json_lines(run.stdout)
        assert [(report["id"], report["result"], report["revision"]) for report in reports] == [
            (name, "created", 1) for name in names]
        for name in names:  # the server has each flow, as sent
            stored = admin._make_request("GET", api_path("flows", namespace, name)).json()
            assert stored["id"] == name and stored["namespace"] == namespace
        run = run_cli(server, "deploy", folder)
        assert run.returncode == 0 and run.stdout == b""
        assert re.findall(r"unchanged %s\.(\w+)" % re.escape(namespace), run.stderr.decode()) == names

        hello = folder / "hello.yaml"
        hello.write_text(hello.read_text(encoding="utf-8") + "description: changed by the CLI test\n",
                         encoding="utf-8")
        run = run_cli(server, "deploy", "--json", folder)
        assert run.returncode == 0, run.stderr
        assert {report["id"]: (report["result"], report["revision"]) for report in json_lines(run.stdout)} == dict(
            {name: ("unchanged", 1) for name in names}, hello=("updated", 2))
        stored = admin._make_request("GET", api_path("flows", namespace, "hello")).json()
        assert stored.get("description") == "changed by the CLI test"

        bad = tmp_path / "bad.yaml"
        bad.write_text("id: bad\nnamespace: %s\ntasks:\n  - id: t\n    type: io.kestra.no.SuchTask\n" % namespace,
                       encoding="utf-8")
        run = run_cli(server, "deploy", "--dry-run", bad, hello)
        assert run.returncode == 1, run.stderr
        stderr = run.stderr.decode()
        assert re.search(r"invalid %s: .*io\.kestra\.no\.SuchTask" % re.escape(str(bad)), stderr), stderr
        assert "valid %s.hello" % namespace in stderr
        with pytest.raises(kestra.NotFoundError):
            admin._make_request("GET", api_path("flows", namespace, "bad"))
    finally:
        for name in names:
            try:
                admin._make_request("DELETE", api_path("flows", namespace, name))
            except kestra.KestraError:
                pass


def test_cli_execute_sends_file_and_typed_inputs_and_labels(server, flows, tmp_path):
    """`execute` with KEY=VALUE, KEY:=JSON and KEY=@PATH inputs (one FILE from stdin) and
    labels: the server stores them typed, the FILE arrives whole, `--json` tells the end."""
    payload = tmp_path / "payload.bin"
    payload.write_bytes(SMALL_PAYLOAD)
    inputs = [
        "text=" + SENT_INPUTS["text"], "count:=1234567", "ratio:=3.25", "flag:=false",
        "moment=2024-04-21T13:43:24.123+02:00", "document:=" + json.dumps(SENT_INPUTS["document"]),
        "numbers:=[3, 1, 2]", "choice=green & blue", "payload=@%s" % payload, "lib=@-",
    ]
    arguments = ["execute", flows.namespace, flows.require("inputs"), "--json", "--timeout", RUN_TIMEOUT_S,
                 "--kill-on-timeout", "-l", "team=data & ml", "-l", "run=cli"]
    for item in inputs:
        arguments += ["-i", item]
    run = run_cli(server, *arguments, stdin=KESTRA_PY.read_bytes())
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["state"] == "SUCCESS" and document["namespace"] == flows.namespace
    assert document["url"].startswith(("http://", "https://")) and document["id"] in document["url"]
    assert document["outputs"]["hash"]["vars"] == {"sha256": hashlib.sha256(SMALL_PAYLOAD).hexdigest(),
                                                   "size": len(SMALL_PAYLOAD)}
    flow = make_flow(server)
    stored = flow.get_execution(document["id"])
    assert parse_instant(stored["inputs"]["moment"]) == SENT_INPUTS["moment"]
    assert typed(without(stored["inputs"], "moment", "payload", "lib")) == typed(without(SENT_INPUTS, "moment"))
    labels = {label["key"]: label["value"] for label in stored.get("labels") or []}
    assert labels.get("team") == "data & ml" and labels.get("run") == "cli", labels


def test_cli_exit_codes_follow_the_final_state(server, flows):
    """FAILED exits 1, WARNING 3, a timeout 5 (the execution killed with
    --kill-on-timeout), an unknown flow 2, a wrong password 7: one plain line each."""
    run = run_cli(server, "execute", flows.namespace, flows.require("fail"), "--quiet")
    assert run.returncode == 1 and isinstance(json.loads(run.stdout), dict), run.stderr  # the outputs, as ever
    (line,) = run.stderr.decode().splitlines()
    assert line.startswith("kestra: execution ") and "ended FAILED" in line and "e2e: this flow fails on purpose" in line
    run = run_cli(server, "execute", flows.namespace, flows.require("warn"), "--quiet")
    assert run.returncode == 3, run.stderr
    run = run_cli(server, "execute", flows.namespace, flows.require("long"), "--timeout", "3", "--kill-on-timeout",
                  "--json")
    assert run.returncode == 5, run.stderr
    execution_id = json.loads(run.stdout)["id"]
    wait_for_state(make_flow(server), execution_id, {"KILLED"})
    run = run_cli(server, "execute", flows.namespace, "no_such_flow_here")
    assert run.returncode == 2 and run.stdout == b""
    assert b"no_such_flow_here" in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
    run = run_cli(server, "status", execution_id, KESTRA_PASSWORD="not-the-password")
    assert run.returncode == 7 and b"401" in run.stderr and b"not-the-password" not in run.stderr


def test_cli_logs_follow_prints_every_line_once_in_order(server, flows):
    """`execute --no-wait`, then `logs ID --follow`: the 20 lines of the count flow, each
    once, in order but for those the server's stream missed (1.3.25, under load), which
    come after the others, and the command ends with the execution."""
    run = run_cli(server, "execute", flows.namespace, flows.require("count"), "--no-wait")
    assert run.returncode == 0, run.stderr
    execution_id = run.stdout.decode().strip()
    run = run_cli(server, "logs", execution_id, "--follow", "--json")
    assert run.returncode == 0, run.stderr
    lines = [entry["message"] for entry in json_lines(run.stdout) if entry["message"].startswith("line ")]
    assert sorted(lines) == ["line %02d" % number for number in range(1, 21)]
    streamed = lines[:lines.index("line 20") + 1]  # what came after: missed by the stream, caught up
    assert streamed == sorted(streamed), "lines out of order: %s" % lines
    run = run_cli(server, "status", execution_id)
    assert run.returncode == 0 and json.loads(run.stdout)["state"] == "SUCCESS"


def test_cli_downloads_and_reads_an_ion_file_kestra_wrote(server, flows, tmp_path):
    """`download ID URI -o FILE` then `read FILE` (and `read -` from stdin): the rows as
    JSON Lines, dates as ISO-8601 text, the same rows Kestra.read gives."""
    flow = make_flow(server)
    result = flow.execute(flows.namespace, flows.require("ion"), {"rows": ("rows.jsonl", ION_SOURCE)})
    assert result.status == "SUCCESS", result.error
    uri = flow.outputs(result.execution_id)["to_ion"]["uri"]
    path = tmp_path / "rows.ion"
    run = run_cli(server, "download", result.execution_id, uri, "-o", path)
    assert run.returncode == 0 and run.stdout == b"", run.stderr
    run = run_cli(server, "download", result.execution_id, uri)
    assert run.returncode == 0 and run.stdout == path.read_bytes()

    def as_json(value):
        if isinstance(value, (datetime.date, datetime.time)):
            return value.isoformat()
        raise TypeError(type(value))

    expected = json.loads(json.dumps(ION_ROWS, default=as_json))
    assert expected[0]["instant"] == "2024-04-21T13:43:24.340000+00:00"
    run = run_cli(server, "read", path)
    assert run.returncode == 0, run.stderr
    assert typed(json_lines(run.stdout)) == typed(expected)
    run = run_cli(server, "read", "-", stdin=path.read_bytes())
    assert typed(json_lines(run.stdout)) == typed(expected)
    run = run_cli(server, "read", path, "--exact")
    exact = json.loads(json.dumps(kestra.Kestra.read(path, exact=True), default=lambda value: (
        str(value) if not isinstance(value, (datetime.date, datetime.time)) else value.isoformat())))
    assert run.returncode == 0 and json_lines(run.stdout) == exact


def test_cli_version_names_the_server(server):
    run = run_cli(server, "version")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["client"] == kestra.__version__
    assert document["server"] == server.version_text and document["edition"] == server.edition


# The rest of an execution's life ###############################################
# Wait for a pause, resume with inputs, pause, restart, replay, labels, search,
# webhooks and delete, through Flow and the command line; each checked by what the
# server then holds.

WEBHOOK_KEY = "e2e-webhook-key-7f3a9c01"  # e2e/flows/hook.yaml


def histories(execution):
    return [entry["state"] for entry in execution["state"]["histories"]]


def test_approval_waits_for_the_pause_then_resumes_with_a_text_and_a_file(server, flows, tmp_path):
    """wait(until="PAUSED") returns at the Pause task; resume with an undeclared input or
    without the required FILE is refused before anything changes; resume with both
    values runs the flow to its end, and its outputs show both."""
    flow = make_flow(server, wait_for_completion=False)
    flow_id = flows.require("approval")
    started = flow.execute(flows.namespace, flow_id, {"who": "ann"})
    paused = flow.wait(started.execution_id, until="PAUSED")
    assert (paused.status, paused.error) == ("PAUSED", None)
    assert state_of(flow.get_execution(started.execution_id)) == "PAUSED"
    with pytest.raises(kestra.InvalidRequestError, match=r"no input 'colour'.*answer \(STRING\), document \(FILE\)"):
        flow.resume(started.execution_id, {"answer": "yes", "document": b"x", "colour": "red"})
    with pytest.raises(kestra.InvalidRequestError, match=r"input document \(FILE\) is required and was not given"):
        flow.resume(started.execution_id, {"answer": "yes"})
    assert state_of(flow.get_execution(started.execution_id)) == "PAUSED"
    document = tmp_path / "approval.txt"
    document.write_bytes("approved by Zo\u00eb \u2713\n".encode("utf-8"))
    resumed = flow.resume(started.execution_id, {"answer": "yes, ship it", "document": document})
    assert resumed.execution_id == started.execution_id
    ended = flow.wait(resumed)
    assert ended.status == "SUCCESS", ended.error
    assert ended.outputs["show"]["values"] == {"answer": "yes, ship it", "document": "approved by Zo\u00eb \u2713\n",
                                               "who": "ann"}
    assert "PAUSED" in histories(ended.execution)
    with pytest.raises(kestra.ConflictError, match="it is SUCCESS, not PAUSED: it has ended"):
        flow.resume(started.execution_id, {"answer": "again"})


def test_pause_then_resume_a_running_execution(server, flows):
    """pause() a running execution: it is PAUSED, a wait until PAUSED after it returns
    at once; resume() without inputs runs it again (then it is killed)."""
    flow = make_flow(server, wait_for_completion=False)
    started = flow.execute(flows.namespace, flows.require("long"))
    try:
        flow.wait(started.execution_id, until="RUNNING")
        paused = flow.pause(started.execution_id)
        assert flow.wait(paused, until="PAUSED", timeout=30).status == "PAUSED"
        resumed = flow.resume(started.execution_id)
        running = flow.wait(resumed, until="RUNNING", timeout=30)
        assert running.status == "RUNNING"
        assert histories(running.execution)[-3:] == ["PAUSED", "RESTARTED", "RUNNING"] or \
            histories(running.execution)[-2:] == ["PAUSED", "RUNNING"], histories(running.execution)
    finally:
        end_execution(server, started.execution_id)


def test_a_failed_execution_restarts_in_place_and_its_history_shows_it(server, flows):
    """restart() a FAILED execution: same id; the wait after it returns the new end, not
    the old FAILED one the server may still give; the history shows FAILED, RESTARTED,
    then SUCCESS. A SUCCESS execution is refused with its state named."""
    flow = make_flow(server)
    failed = flow.execute(flows.namespace, flows.require("recover"))
    assert failed.status == "FAILED", failed
    restarted = flow.restart(failed.execution_id)
    assert restarted.execution_id == failed.execution_id
    ended = flow.wait(restarted)
    assert ended.status == "SUCCESS", ended.error
    assert histories(ended.execution)[-4:] == ["FAILED", "RESTARTED", "RUNNING", "SUCCESS"]
    assert ended.outputs["last"]["values"]["word"] == "first"
    with pytest.raises(kestra.ConflictError, match="the execution is SUCCESS, and only a FAILED execution"):
        flow.restart(failed.execution_id)


def test_a_restart_on_a_revision_is_a_new_execution(server, flows):
    """restart(revision=1): both servers make a new execution (1.3.25 answers with it, the
    2.0 snapshot with the old one, unchanged); the result is the new one, and it ends
    SUCCESS on that revision, the one restarted staying FAILED."""
    flow = make_flow(server)
    failed = flow.execute(flows.namespace, flows.require("recover"))
    assert failed.status == "FAILED", failed
    restarted = flow.restart(failed.execution_id, revision=1)
    assert restarted.execution_id != failed.execution_id
    ended = flow.wait(restarted)
    assert ended.status == "SUCCESS", ended.error
    assert ended.execution["flowRevision"] == 1
    assert state_of(flow.get_execution(failed.execution_id)) == "FAILED"


def test_a_replay_from_a_middle_task_with_a_new_input_is_a_new_execution(server, flows):
    """replay(from_task="check", inputs={"word": ...}): a new id, the new value in its
    outputs, the other input kept. (The original's record is not checked: Kestra 1.3.25
    writes the new inputs into it, 2.0 does not.)"""
    flow = make_flow(server)
    original = flow.execute(flows.namespace, flows.require("recover"), {"word": "first", "size": 7})
    assert original.status == "FAILED"
    replayed = flow.replay(original.execution_id, from_task="check", inputs={"word": "second"})
    assert replayed.execution_id != original.execution_id
    ended = flow.wait(replayed)
    assert ended.status == "SUCCESS", ended.error
    assert ended.outputs["last"]["values"] == {"word": "second", "size": "7"}
    assert ended.execution["inputs"] == {"word": "second", "size": 7}
    assert state_of(flow.get_execution(original.execution_id)) == "FAILED"
    with pytest.raises(kestra.KestraError, match=r"no task 'nope' ran in this execution \(tasks that ran: check, start\)"):
        flow.replay(original.execution_id, from_task="nope")


def test_labels_set_then_found_by_the_search(server, flows):
    """set_labels adds and changes labels (system ones stay), replace=True drops the
    others; a search by label then finds exactly the execution labelled."""
    flow = make_flow(server)
    tag = secrets.token_hex(4)
    first = flow.execute(flows.namespace, flows.require("hello"))
    second = flow.execute(flows.namespace, flows.require("hello"))
    labels = flow.set_labels(first.execution_id, {"release": "1.4", "batch": tag})
    assert {"release": "1.4", "batch": tag}.items() <= labels.items()
    assert any(key.startswith("system.") for key in labels)
    labels = flow.set_labels(first.execution_id, {"release": "1.5"})
    assert (labels["release"], labels["batch"]) == ("1.5", tag)
    flow.set_labels(second.execution_id, {"batch": tag, "other": "x"})
    labels = flow.set_labels(second.execution_id, {"batch": tag}, replace=True)
    assert "other" not in labels and labels["batch"] == tag
    with pytest.raises(kestra.KestraError, match="system. labels"):
        flow.set_labels(first.execution_id, {"system.from": "me"})
    found = wait_for(lambda: [execution["id"] for execution in flow.search_executions(
        flows.namespace, labels={"batch": tag, "release": "1.5"})], lambda ids: ids)
    assert found == [first.execution_id]
    both = wait_for(lambda: [execution["id"] for execution in flow.search_executions(labels={"batch": tag})],
                    lambda ids: len(ids) >= 2)
    assert both == [first.execution_id, second.execution_id]  # oldest first


def test_a_search_pages_through_more_executions_than_a_page_holds(server, flows):
    """25 executions, searched 4 to a page (7 pages): each once, oldest first; with
    states, since and until bounds; newest first the other way round."""
    flow = make_flow(server)
    tag = secrets.token_hex(4)
    since = datetime.datetime.now(UTC) - datetime.timedelta(seconds=1)
    results = list(flow.execute_each(flows.namespace, flows.require("hello"), [{}] * 25, parallel=8,
                                     labels={"page": tag}))
    assert all(result.status == "SUCCESS" for result in results), results
    created = {result.execution_id for result in results}
    requests = []
    search = flow._request
    flow._request = lambda method, url, **kw: requests.append(url) or search(method, url, **kw)
    found = wait_for(lambda: list(flow.search_executions(flows.namespace, flows.require("hello"),
                                                         labels={"page": tag}, page_size=4)),
                     lambda found: len(found) >= 25)
    flow._request = search
    ids = [execution["id"] for execution in found]
    assert sorted(ids) == sorted(created) and len(ids) == 25
    starts = [parse_instant(execution["state"]["startDate"]) for execution in found]
    milliseconds = [start.replace(microsecond=start.microsecond // 1000 * 1000) for start in starts]
    assert milliseconds == sorted(milliseconds)  # the servers sort by the millisecond
    assert sum("/executions/search" in url for url in requests[-7:]) == 7
    newest = [execution["id"] for execution in flow.search_executions(
        flows.namespace, labels={"page": tag}, newest_first=True, page_size=6)]
    assert sorted(newest) == sorted(ids)
    assert newest[0] in ids[-3:] and newest[-1] in ids[:3]
    middle = max(starts[:13])
    bounded = [execution["id"] for execution in flow.search_executions(
        flows.namespace, labels={"page": tag}, since=since, until=middle, states=["SUCCESS", "WARNING"], page_size=5)]
    assert sorted(bounded) == sorted(execution["id"] for execution, start in zip(found, starts) if start <= middle)
    assert list(flow.search_executions(flows.namespace, labels={"page": tag}, states="FAILED")) == []


def test_a_webhook_with_a_json_body_starts_the_flow_which_echoes_it(server, flows):
    """webhook() with a JSON body, no credentials: the execution it returns ends with the
    body in its outputs; text and bytes bodies too; a wrong key is NotFoundError whose
    message does not hold the key."""
    flow = make_flow(server)
    flow_id = flows.require("hook")
    body = {"name": "Zo\u00eb", "values": [1, 2.5, True], "nested": {"empty": []}}
    sent = []
    send = flow._request
    flow._request = lambda method, url, **kw: sent.append((url, kw.get("auth", True))) or send(method, url, **kw)
    fired = flow.webhook(flows.namespace, flow_id, WEBHOOK_KEY, body)
    flow._request = send
    assert [auth for url, auth in sent if "/executions/webhook/" in url] == [False]
    ended = flow.wait(fired)
    assert ended.status == "SUCCESS", ended.error
    assert decoded(ended.outputs["echo"]["values"]["body"]) == body
    text = flow.wait(flow.webhook(flows.namespace, flow_id, WEBHOOK_KEY, "plain words", method="PUT"))
    assert decoded(text.outputs["echo"]["values"]["body"]) == "plain words"
    wrong = WEBHOOK_KEY[:-1] + "0"
    with pytest.raises(kestra.NotFoundError) as raised:
        flow.webhook(flows.namespace, flow_id, wrong, body)
    assert wrong not in str(raised.value) and "e2e***" in str(raised.value)


def test_delete_removes_the_execution(server, flows):
    """delete_execution: the execution is gone (404), and a second delete is NotFoundError."""
    flow = make_flow(server)
    done = flow.execute(flows.namespace, flows.require("hello"))
    flow.delete_execution(done.execution_id)
    with pytest.raises(kestra.NotFoundError):
        flow.get_execution(done.execution_id)
    with pytest.raises(kestra.NotFoundError, match="no execution %s" % done.execution_id):
        flow.delete_execution(done.execution_id)


def test_cli_approval_wait_until_paused_resume_with_a_file(server, flows, tmp_path):
    """`execute --no-wait`, `wait ID --until PAUSED` (exit 0), `resume ID -i answer=...
    -i document=@PATH --wait` (exit 0, the outputs on stdout); a second resume: exit 2."""
    flow_id = flows.require("approval")
    run = run_cli(server, "execute", flows.namespace, flow_id, "--no-wait")
    assert run.returncode == 0, run.stderr
    execution_id = run.stdout.decode().strip()
    run = run_cli(server, "wait", execution_id, "--until", "PAUSED", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["state"] == "PAUSED", run.stderr
    document = tmp_path / "doc.txt"
    document.write_bytes(b"from the command line\n")
    run = run_cli(server, "resume", execution_id, "-i", "answer=ok", "-i", "document=@%s" % document, "--wait")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["show"]["values"] == {"answer": "ok", "document": "from the command line\n",
                                                       "who": "nobody"}
    run = run_cli(server, "resume", execution_id, "-i", "answer=again")
    assert run.returncode == 2 and b"not PAUSED" in run.stderr, run.stderr


def test_cli_pause_restart_replay_labels_search_delete(server, flows):
    """The other commands on one FAILED execution of `recover`, each checked on the
    server: restart --wait (exit 0), replay --from check -i word=... --wait, labels,
    search --json, then delete; pause of an ended one is exit 2."""
    flow = make_flow(server)
    failed = flow.execute(flows.namespace, flows.require("recover"))
    execution_id = failed.execution_id
    run = run_cli(server, "pause", execution_id)
    assert run.returncode == 2 and b"it has ended FAILED" in run.stderr, run.stderr
    run = run_cli(server, "restart", execution_id, "--wait")
    assert run.returncode == 0, run.stderr
    assert "RESTARTED" in histories(flow.get_execution(execution_id))
    run = run_cli(server, "replay", execution_id, "--from", "check", "-i", "word=cli", "--wait", "--json")
    assert run.returncode == 0, run.stderr
    replay = json.loads(run.stdout)
    assert replay["id"] != execution_id and replay["outputs"]["last"]["values"]["word"] == "cli"
    tag = secrets.token_hex(4)
    run = run_cli(server, "labels", execution_id, "cli=%s" % tag, "team=ops")
    assert run.returncode == 0, run.stderr
    assert {"cli": tag, "team": "ops"}.items() <= json.loads(run.stdout).items()
    run = run_cli(server, "search", "--namespace", flows.namespace, "--label", "cli=%s" % tag, "--json")
    assert run.returncode == 0 and [e["id"] for e in json_lines(run.stdout)] == [execution_id], run.stderr
    run = run_cli(server, "search", "--namespace", flows.namespace, "--flow", "recover", "--state", "SUCCESS")
    assert run.returncode == 0, run.stderr
    table = run.stdout.decode().splitlines()
    assert table[0].split() == ["ID", "STATE", "STARTED", "(UTC)", "DURATION", "FLOW"]
    assert any(line.startswith(execution_id) and " SUCCESS " in line for line in table[1:])
    run = run_cli(server, "delete", execution_id)
    assert run.returncode == 0, run.stderr
    with pytest.raises(kestra.NotFoundError):
        flow.get_execution(execution_id)
    run = run_cli(server, "labels", execution_id, "a=b")
    assert run.returncode == 2, run.stderr


def test_cli_pause_then_resume_a_running_execution(server, flows):
    """`pause ID` on a running execution, `wait ID --until PAUSED` (exit 0), `resume ID`
    (no inputs) and `wait ID --until RUNNING`, each checked on the server; then killed."""
    flow = make_flow(server, wait_for_completion=False)
    execution_id = flow.execute(flows.namespace, flows.require("long")).execution_id
    try:
        flow.wait(execution_id, until="RUNNING")
        run = run_cli(server, "pause", execution_id)
        assert run.returncode == 0 and run.stdout.decode() == execution_id + "\n", run.stderr
        run = run_cli(server, "wait", execution_id, "--until", "PAUSED", "--timeout", "30")
        assert run.returncode == 0, run.stderr
        assert state_of(flow.get_execution(execution_id)) == "PAUSED"
        run = run_cli(server, "resume", execution_id, "--wait", "--until", "RUNNING", "--timeout", "30", "--json")
        assert run.returncode == 0 and json.loads(run.stdout)["state"] == "RUNNING", run.stderr
    finally:
        end_execution(server, execution_id)


def test_cli_webhook_key_from_the_environment_or_stdin(server, flows):
    """`webhook NS FLOW -d JSON --wait` with the key in KESTRA_WEBHOOK_KEY: the outputs
    echo the body; `-` reads the key from stdin; a wrong key is exit 2 and neither
    output holds it."""
    flow_id = flows.require("hook")
    run = run_cli(server, "webhook", flows.namespace, flow_id, "-d", '{"from": "cli"}', "--wait",
                  KESTRA_WEBHOOK_KEY=WEBHOOK_KEY)
    assert run.returncode == 0, run.stderr
    assert decoded(json.loads(run.stdout)["echo"]["values"]["body"]) == {"from": "cli"}
    run = run_cli(server, "webhook", flows.namespace, flow_id, "-", stdin=(WEBHOOK_KEY + "\n").encode())
    assert run.returncode == 0 and re.fullmatch(rb"[0-9A-Za-z]{10,30}\n", run.stdout), run.stderr
    wrong = WEBHOOK_KEY[:-1] + "0"
    run = run_cli(server, "webhook", flows.namespace, flow_id, "--debug", KESTRA_WEBHOOK_KEY=wrong)
    assert run.returncode == 2, run.stderr
    assert wrong.encode() not in run.stdout + run.stderr and b"e2e***" in run.stderr


# A namespace's state ###########################################################
# The key-value store, namespace files and flows, each checked through the server's
# own API (raw requests), not only through what kestra.py reads back.

KV_STRINGS = {
    "s_version": "1.2.3", "s_true": "true", "s_null": "null", "s_date": "2024-01-01",
    "s_words": "hello world", "s_empty": "", "s_unicode": "Zo\u00eb \u2603 \u65e5\u672c \U0001f600",
    "s_quoted": 'a "quoted" \\ line\nand\ta tab', "s_number": "42", "s_json": '{"a": 1}',
}
KV_TYPED = {
    "n_int": (42, "NUMBER"), "n_big": (10 ** 25, "NUMBER"), "n_float": (1.5, "NUMBER"),
    "n_decimal": (decimal.Decimal("1234567890.123456789012345"), "NUMBER"), "b_true": (True, "BOOLEAN"),
    "b_false": (False, "BOOLEAN"), "z_none": (None, "STRING"),
    "t_instant": (datetime.datetime(2024, 4, 21, 11, 43, 24, 123000, tzinfo=UTC), "DATETIME"),
    "t_zoned": (datetime.datetime(2024, 4, 21, 13, 43, 24, tzinfo=PLUS_2), "DATETIME"),
    "t_local": (datetime.datetime(2024, 4, 21, 13, 43, 24, 123456), "DATETIME"),
    "d_date": (datetime.date(2024, 4, 21), "DATE"), "p_duration": (datetime.timedelta(hours=1, minutes=5), "DURATION"),
    "j_dict": ({"name": "Zo\u00eb", "values": [1, 2.5, True, None], "nested": {"empty": []}}, "JSON"),
    "j_list": ([3, "x", {"k": False}], "JSON"), "j_text": ({"value": "PT5M", "day": "2024-01-01"}, "JSON"),
}


def raw_kv(flow, namespace, key):
    """The server's own answer for a key: {"type": ..., "value": ...}."""
    return flow._make_request("GET", api_path("namespaces", namespace, "kv", key)).json()


def test_kv_every_type_round_trips_and_the_server_stores_its_type(server, flows):
    flow = make_flow(server)
    namespace = flows.namespace
    big = "".join(chr(0x20 + (i % 0x5e)) for i in range(1000 * 1000))  # 1 MB of printable ASCII
    strings = dict(KV_STRINGS, s_big=big)
    for key, value in strings.items():
        flow.kv_set(namespace, key, value)
    for key, (value, _) in KV_TYPED.items():
        flow.kv_set(namespace, key, value)
    for key, value in strings.items():
        stored = raw_kv(flow, namespace, key)
        assert (stored["type"], stored["value"]) == ("STRING", value), key
        assert flow.kv_get(namespace, key) == value
    for key, (value, kind) in KV_TYPED.items():
        assert raw_kv(flow, namespace, key)["type"] == kind, key
        got = flow.kv_get(namespace, key)
        assert got == value and type(got) is type(value), (key, got)
    assert flow.kv_get(namespace, "n_decimal", exact=True) == KV_TYPED["n_decimal"][0]
    listed = {entry["key"]: entry["type"] for entry in flow.kv_list(namespace)}
    assert listed == dict({key: "STRING" for key in strings}, **{key: kind for key, (_, kind) in KV_TYPED.items()})


def test_kv_a_flow_reads_each_value_as_it_was_set(server, flows):
    """`{{ kv(key) }}` renders each value set by kestra.py, and the KV Get task gives
    what the server stored, with its type."""
    flow = make_flow(server)
    namespace, flow_id = flows.namespace, flows.require("kv_read")
    values = dict(KV_STRINGS, **{key: value for key, (value, _) in KV_TYPED.items()})
    for key, value in values.items():
        flow.kv_set(namespace, "r_" + key, value)
    results = list(flow.execute_each(namespace, flow_id, [{"key": "r_" + key} for key in values], parallel=8))
    assert len(results) == len(values)
    for result in results:
        key = result.inputs["key"]
        assert result.status == "SUCCESS", (key, result.error)
        stored = raw_kv(flow, namespace, key)
        value = values[key[2:]]
        if isinstance(value, datetime.timedelta):  # the task gives a duration in seconds, the API as ISO-8601
            assert result.outputs["typed"]["value"] == value.total_seconds(), key
        else:
            # A null: no "value" in the answer; 1.3 keeps the task's empty outputs, 2.0 none.
            assert result.outputs.get("typed", {}).get("value") == stored.get("value"), key
        rendered = result.outputs["rendered"]["values"].get("value")
        if isinstance(value, str):
            assert rendered == value, (key, rendered)
        elif isinstance(value, (bool, int)):
            assert rendered in (str(value), str(value).lower(), value), (key, rendered)


def test_kv_command_line_text_forms_store_each_type(server, flows, tmp_path):
    namespace = flows.namespace
    big = tmp_path / "big.txt"
    big.write_text("line \u00e9\n" * 150000, encoding="utf-8")
    assignments = ["c_" + key + "=" + value for key, value in KV_STRINGS.items()]
    assignments += ["c_count:=42", "c_price:=12.50", "c_flag:=true", "c_nothing:=null",
                    'c_doc:={"a": [1, 2.5, null], "b": {"c": true}}', "c_big=@" + str(big)]
    run = run_cli(server, "kv", "set", namespace, *assignments)
    assert run.returncode == 0, run.stderr
    run = run_cli(server, "kv", "set", namespace, "c_day=2024-04-21", "--type", "date")
    assert run.returncode == 0, run.stderr
    run = run_cli(server, "kv", "set", namespace, "c_wait=PT5M", "--type", "duration", "--ttl", "PT1H")
    assert run.returncode == 0, run.stderr
    flow = make_flow(server)
    for key, value in KV_STRINGS.items():
        assert raw_kv(flow, namespace, "c_" + key) == dict(raw_kv(flow, namespace, "c_" + key), type="STRING",
                                                           value=value), key
        run = run_cli(server, "kv", "get", namespace, "c_" + key)
        assert run.returncode == 0 and run.stdout == (value + "\n").encode("utf-8"), key
    expected = {"c_count": ("NUMBER", b"42\n"), "c_price": ("NUMBER", b"12.5\n"), "c_flag": ("BOOLEAN", b"true\n"),
                "c_nothing": ("STRING", b"null\n"), "c_doc": ("JSON", b'{"a": [1, 2.5, null], "b": {"c": true}}\n'),
                "c_day": ("DATE", b'"2024-04-21"\n'), "c_wait": ("DURATION", b'"PT5M"\n')}
    for key, (kind, printed) in expected.items():
        assert raw_kv(flow, namespace, key)["type"] == kind, key
        run = run_cli(server, "kv", "get", namespace, key)
        assert (run.returncode, run.stdout) == (0, printed), (key, run.stderr)
    assert raw_kv(flow, namespace, "c_big")["value"] == big.read_text(encoding="utf-8")
    run = run_cli(server, "kv", "get", namespace, "c_price", "--json", "--exact")
    assert json.loads(run.stdout)["type"] == "NUMBER"
    run = run_cli(server, "kv", "set", namespace, "c_refused=PT5M")
    assert run.returncode == 2 and b"DURATION" in run.stderr
    run = run_cli(server, "kv", "set", namespace, 'c_refused:={"dropped": null}')
    assert run.returncode == 2 and b"drops a key" in run.stderr
    run = run_cli(server, "kv", "get", namespace, "c_refused")
    assert run.returncode == 1
    run = run_cli(server, "kv", "ls", namespace, "--json")
    listed = {entry["key"]: entry for entry in json_lines(run.stdout)}
    assert listed["c_wait"]["expires"] and listed["c_doc"]["type"] == "JSON"
    assert run_cli(server, "kv", "rm", namespace, "c_doc").returncode == 0
    assert run_cli(server, "kv", "rm", namespace, "c_doc").returncode == 1


def test_kv_a_key_with_a_2_second_ttl_is_gone_after_it(server, flows):
    flow = make_flow(server)
    namespace = flows.namespace
    flow.kv_set(namespace, "short_lived", "soon gone", ttl=datetime.timedelta(seconds=2), description="e2e ttl")
    set_at = time.monotonic()
    assert flow.kv_get(namespace, "short_lived") == "soon gone"
    entry = [entry for entry in flow.kv_list(namespace, types=False) if entry["key"] == "short_lived"][0]
    assert entry["description"] == "e2e ttl" and entry["expires"]
    assert entry["revision"] == flow.kv_entry(namespace, "short_lived")["revision"] >= 1
    time.sleep(max(0.0, 3.0 - (time.monotonic() - set_at)))
    assert flow.kv_get(namespace, "short_lived", "gone") == "gone"
    with pytest.raises(kestra.KVKeyNotFoundError):
        flow.kv_get(namespace, "short_lived")
    assert "short_lived" not in [entry["key"] for entry in flow.kv_list(namespace)]
    assert flow.kv_delete(namespace, "never_set") is False


def make_namespace_tree(root):
    """200 files: nested folders, non-ASCII names, a binary file and one of 50 MB; the
    files by namespace path under /."""
    files = {}
    for number in range(196):
        folder = "level%d/sub%d" % (number % 4, number % 7) if number % 3 else "top"
        files["/%s/file_%03d.txt" % (folder, number)] = ("file %d \u00e9\n" % number).encode("utf-8") * (number + 1)
    files["/donn\u00e9es/\u00e9t\u00e9_\u65e5\u672c.csv"] = "a,b\n\u00e9,\u65e5\n".encode("utf-8")
    files["/bin/bytes.bin"] = bytes(range(256)) * 1024
    files["/bin/empty.bin"] = b""
    files["/big/fifty.bin"] = os.urandom(50 * 1000 * 1000)
    for path, data in files.items():
        target = root.joinpath(*path[1:].split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("left out")
    return files


def remote_files(flow, namespace):
    """{path: (size, modified)} of every file of a namespace, read through the raw API."""
    found, folders = {}, ["/"]
    while folders:
        folder = folders.pop()
        answer = flow._make_request("GET", api_path("namespaces", namespace, "files", "directory"),
                                    params={"path": folder}).json()
        for entry in answer:
            path = folder.rstrip("/") + "/" + entry["fileName"]
            if entry["type"] == "Directory":
                folders.append(path)
            else:
                found[path] = (entry["size"], entry["lastModifiedTime"])
    return found


@pytest.mark.slow
def test_nsfiles_a_folder_of_200_files_is_pushed_then_pulled_byte_identical(server, flows, tmp_path):
    flow = make_flow(server)
    namespace = flows.namespace + ".files"
    files = make_namespace_tree(tmp_path / "tree")
    report = flow.sync_files(namespace, tmp_path / "tree", "/")
    assert sorted(report["uploaded"]) == sorted(files) and report["failed"] == []
    stored = remote_files(flow, namespace)
    assert {path: size for path, (size, _) in stored.items()} == {path: len(data) for path, data in files.items()}
    written = flow.download_files(namespace, "/", tmp_path / "back")
    assert len(written) == 200
    for path, data in files.items():
        local = (tmp_path / "back").joinpath(*path[1:].split("/"))
        assert hashlib.sha256(local.read_bytes()).digest() == hashlib.sha256(data).digest(), path
    raw = flow._make_request("GET", api_path("namespaces", namespace, "files"), params={"path": "/bin/bytes.bin"})
    assert raw.content == files["/bin/bytes.bin"]
    run = run_cli(server, "nsfiles", "pull", namespace, "/donn\u00e9es", tmp_path / "cli")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "cli" / "\u00e9t\u00e9_\u65e5\u672c.csv").read_bytes() == files["/donn\u00e9es/\u00e9t\u00e9_\u65e5\u672c.csv"]
    again = flow.sync_files(namespace, tmp_path / "tree", "/")
    assert again["uploaded"] == [] and len(again["unchanged"]) == 200
    assert remote_files(flow, namespace) == stored  # nothing was written again
    assert flow.delete_file(namespace, "/big") is True


def test_nsfiles_sync_with_delete_removes_exactly_what_is_missing_and_the_dry_run_changes_nothing(server, flows,
                                                                                                   tmp_path):
    flow = make_flow(server)
    namespace = flows.namespace + ".sync"
    tree = tmp_path / "tree"
    for number in range(12):
        target = tree / ("part%d" % (number % 3)) / ("f%02d.txt" % number)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("version 1 of %d\n" % number)
    flow.upload_files(namespace, tree, to="/app")
    flow.upload_files(namespace, tree / "part0" / "f00.txt", to="/outside/keep.txt")
    for name in ("f00.txt", "f03.txt", "f06.txt", "f09.txt"):  # all of part0: its folder goes too
        (tree / "part0" / name).unlink()
    (tree / "part1" / "f01.txt").write_text("version 2 of 1\n")  # same size, other bytes
    (tree / "new" / "deeper").mkdir(parents=True)
    (tree / "new" / "deeper" / "added.txt").write_text("added")
    before = remote_files(flow, namespace)
    run = run_cli(server, "nsfiles", "push", namespace, tree, "--to", "/app", "--delete", "--dry-run", "--json")
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert remote_files(flow, namespace) == before  # the dry run changed nothing
    assert sorted(plan["deleted"]) == ["/app/part0/f%02d.txt" % n for n in (0, 3, 6, 9)]
    assert sorted(plan["uploaded"]) == ["/app/new/deeper/added.txt", "/app/part1/f01.txt"]
    run = run_cli(server, "nsfiles", "push", namespace, tree, "--to", "/app", "--delete", "--json")
    assert run.returncode == 0, run.stderr
    done = json.loads(run.stdout)
    assert (sorted(done["deleted"]), sorted(done["uploaded"])) == (sorted(plan["deleted"]), sorted(plan["uploaded"]))
    after = remote_files(flow, namespace)
    expected = {"/app/" + str(path.relative_to(tree)).replace(os.sep, "/") for path in tree.rglob("*") if path.is_file()}
    assert set(after) == expected | {"/outside/keep.txt"}
    assert all(after[path] == before[path] for path in after if path in before and path != "/app/part1/f01.txt")
    assert flow._make_request("GET", api_path("namespaces", namespace, "files"),
                              params={"path": "/app/part1/f01.txt"}).content == b"version 2 of 1\n"
    assert "/app/part0" not in [entry["path"] for entry in flow.list_files(namespace)]
    run = run_cli(server, "nsfiles", "ls", namespace, "/app", "--json")
    assert {entry["path"] for entry in json_lines(run.stdout) if entry["type"] == "File"} == expected
    assert run_cli(server, "nsfiles", "rm", namespace, "/app/new").returncode == 0
    assert run_cli(server, "nsfiles", "rm", namespace, "/app/new").returncode == 1


def test_nsfiles_a_file_never_takes_a_folders_place_and_says_so(server, flows, tmp_path):
    """Both servers answer OK to a file sent onto a folder and keep nothing, and keep a
    deleted folder's place: kestra.py refuses the first, and finds the second after it."""
    flow = make_flow(server)
    namespace = flows.namespace + ".kinds"
    (tmp_path / "seed").write_text("inner")
    flow.upload_files(namespace, tmp_path / "seed", to="/s/x/inner.txt")
    flow.upload_files(namespace, tmp_path / "seed", to="/s/y")
    local = tmp_path / "local"
    (local / "y").mkdir(parents=True)
    (local / "x").write_text("now a file")
    (local / "y" / "z.txt").write_text("under y")
    (local / "other.txt").write_text("other")
    with pytest.raises(kestra.SyncError) as raised:
        flow.sync_files(namespace, local, "/s")
    report = raised.value.report
    assert [(failed["path"], failed["action"]) for failed in report["failed"]] == [
        ("/s/x", "upload"), ("/s/y/z.txt", "upload")], report
    assert report["uploaded"] == ["/s/other.txt"]
    assert flow.delete_file(namespace, "/s/x") is True
    assert "/s/x" not in [entry["path"] for entry in flow.list_files(namespace)]
    with pytest.raises(kestra.KestraError, match="folder at /s/x, which a file cannot replace, even once"):
        flow.upload_files(namespace, local / "x", to="/s/x")
    flow.delete_file(namespace, "/s")


def test_nsfiles_a_python_task_runs_a_pushed_script(server, flows, tmp_path):
    flow = make_flow(server)
    (tmp_path / "scripts" / "helpers").mkdir(parents=True)
    (tmp_path / "scripts" / "report.py").write_text(
        "import json, sys\nsys.path.insert(0, 'scripts')\nfrom helpers.numbers import total\n"
        "print('::' + json.dumps({'outputs': {'total': total(), 'by': 'pushed script'}}) + '::')\n")
    (tmp_path / "scripts" / "helpers" / "__init__.py").write_text("")
    (tmp_path / "scripts" / "helpers" / "numbers.py").write_text("def total():\n    return sum(range(10))\n")
    report = flow.sync_files(flows.namespace, tmp_path / "scripts", "/scripts")
    assert len(report["uploaded"]) == 3
    result = flow.execute(flows.namespace, flows.require("nsfiles_run"))
    assert result.status == "SUCCESS", result.error
    assert result.outputs["run"]["vars"] == {"total": 45, "by": "pushed script"}


def test_flows_listed_read_and_deleted(server, flows, tmp_path):
    flow = make_flow(server)
    listed = [found["id"] for found in flow.list_flows(flows.namespace)]
    assert set(listed) >= {path.stem for path in FLOWS_DIR.glob("*.yaml")} - set(flows.errors)
    assert listed == sorted(listed)
    source = (FLOWS_DIR / "hello.yaml").read_text(encoding="utf-8").replace(NAMESPACE_PLACEHOLDER, flows.namespace)
    assert flow.get_flow_source(flows.namespace, "hello") == source
    namespace = flows.namespace + ".flows"
    (tmp_path / "gone.yaml").write_text(
        "id: gone\nnamespace: %s\ntasks:\n  - id: hi\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        % namespace)
    assert run_cli(server, "deploy", tmp_path / "gone.yaml").returncode == 0
    run = run_cli(server, "flows", "ls", namespace)
    assert run.returncode == 0 and run.stdout.decode().splitlines()[1].split()[0] == "gone", run.stderr
    run = run_cli(server, "flows", "get", namespace, "gone")
    assert run.returncode == 0 and run.stdout.decode() == (tmp_path / "gone.yaml").read_text()
    assert run_cli(server, "flows", "ls", flows.namespace, "--json").stdout.count(b'"id": "gone"') == 0
    assert run_cli(server, "flows", "rm", namespace, "gone").returncode == 0
    assert flow.delete_flow(namespace, "gone") is False
    run = run_cli(server, "flows", "get", namespace, "gone")
    assert run.returncode == 1 and b"gone" in run.stderr
