"""One benchmark command: kestra.py against the official ``kestra`` package, one table.

    python bench/run.py [--quick] [--check] [--official 2.0.0] [--ion-rows N] [--upload-gib G]

Runs the comparisons of bench_emit.py, bench_flow.py, bench_ion.py and bench_ion_write.py
(their functions, imported here) against the official client from PyPI, installed in its
own venv (in ~/.cache, reused when present), and prints one Markdown table on stdout: each
figure for kestra.py ("ours") and the official client ("theirs", "-" where it has no
equivalent; for writing Ion, which it lacks, amazon.ion and json, as the row says), their
ratio, the goal, and whether it is met; bench_nsfiles.py adds the peak memory of pushing,
syncing and pulling a 50 MB namespace file, which the official client cannot do. Progress
goes to stderr.

When a Kestra server answers ``GET /api/v1/configs`` at ``KESTRA_E2E_URL`` (default
http://127.0.0.1:28080, user ``KESTRA_E2E_USER`` / ``KESTRA_E2E_PASSWORD``, default
admin@kestra.io / Admin1234), it also times ``execute()`` of a one-task flow there, for both
clients, each run in a process of its own: the flow is created in a namespace of its own
and deleted afterwards (its executions stay). Without a server, that row says "no server".

``--quick`` takes fewer rounds and smaller sizes (100,000 Ion rows read, 200,000 written, a
256 MiB upload) and leaves out the official client's slowest case, its read of binary Ion:
about two minutes on 2 CPUs. The full run (1,000,000 Ion rows read and written, a 1 GiB
upload) is the proof, and takes several minutes. ``--ion-rows`` and ``--upload-gib`` change
the sizes of either run.

``--check`` (with or without ``--quick``) exits with status 1 when a figure is more than
2x off its goal: above twice a maximum, or under half a minimum (a start-up ratio over
2.6x for the goal 1.3x, a memory over 128 MiB for the goal 64 MiB). It is an alarm for
gross regressions on a noisy machine, not a verdict; a goal merely missed does not trip it.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import List, NamedTuple, Optional

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "bench"))

try:
    import bench_fanout  # noqa: E402
    import bench_flow  # noqa: E402  (imports test_kestra for its fake server)
    import bench_ion  # noqa: E402
    import bench_ion_write  # noqa: E402
    import bench_nsfiles  # noqa: E402
    import trustme  # noqa: E402,F401  (the HTTPS server's certificate)
except ModuleNotFoundError as missing:  # pragma: no cover - a setup error, said in one line
    sys.exit("bench/run.py needs the test extra (its fake server and certificates): "
             'python -m pip install -e ".[test]" (missing: %s)' % missing.name)
import kestra  # noqa: E402
from bench_emit import check_the_official_is_the_official, official_python, rate_medians, startup_medians  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30


# Settings ######################################################################
# How much each run measures.

class Settings(NamedTuple):
    startup_rounds: int
    rate_rounds: int
    calls: int
    wait_runs: int
    upload_gib: float
    ion_rows: int
    official_ion_forms: tuple  # the Ion forms the official client reads; the other forms are skipped
    ion_write_rows: int  # rows Kestra.write writes, and amazon.ion and json, for comparison
    ion_write_rounds: int  # of each writer, interleaved; the best counts (a shared machine is noisy)
    execute_runs: int
    requests: int  # back-to-back reads per client and scheme
    fan_out: int  # executions of each fan-out run
    queued: int  # input sets in the file of the peak RSS run (2,000 of them run)


FULL = Settings(startup_rounds=30, rate_rounds=7, calls=200000, wait_runs=15, upload_gib=1.0,
                ion_rows=1000000, official_ion_forms=("text", "binary"), ion_write_rows=1000000,
                ion_write_rounds=2, execute_runs=10, requests=3000, fan_out=500, queued=100000)
QUICK = Settings(startup_rounds=10, rate_rounds=3, calls=50000, wait_runs=3, upload_gib=0.25,
                 ion_rows=100000, official_ion_forms=("text",), ion_write_rows=200000, ion_write_rounds=3, execute_runs=3,
                 requests=1000, fan_out=200, queued=100000)


# The table #####################################################################
# A row per figure: ours, theirs, their ratio, and the goal it is judged against.

class Goal(NamedTuple):
    at_most: bool  # True: the figure must be <= limit; False: >= limit
    limit: float
    text: str

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def grossly_missed(self, value: float) -> bool:
        """More than 2x off: above twice a maximum, or under half a minimum."""
        return value > 2 * self.limit if self.at_most else value < self.limit / 2


class Row(NamedTuple):
    what: str
    ours: str
    theirs: str = "-"
    ratio: str = "-"
    goal: Optional[Goal] = None
    value: Optional[float] = None  # the figure the goal judges (ours, or a ratio)
    verdict: str = "-"  # when no goal judges it: "-", "no server", "skipped", "FAILED"

    def judged(self) -> str:
        if self.goal is not None and self.value is not None:
            return "met" if self.goal.met(self.value) else "MISSED"
        return self.verdict

    def tripped(self) -> bool:
        """Whether --check fails on this row."""
        if self.goal is not None and self.value is not None:
            return self.goal.grossly_missed(self.value)
        return self.verdict == "FAILED"


def rate(per_second: float) -> str:
    return "{:,.0f}/s".format(per_second)


def mib(value: float) -> str:
    return "%.1f MiB" % value if value == value else "failed"  # NaN: the client failed


def times(ratio: float) -> str:
    return ("%.2fx" if ratio >= 0.1 else "%.1gx") % ratio  # 0.004x, not 0.00x


def print_table(header: str, rows: List[Row], notes: List[str]) -> None:
    cells = [("what", "ours", "theirs", "ratio", "goal", "verdict")]
    cells += [(row.what, row.ours, row.theirs, row.ratio, row.goal.text if row.goal else "-", row.judged())
              for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(6)]

    def line(values: tuple) -> str:
        return "| " + " | ".join(value.ljust(width) for value, width in zip(values, widths)) + " |"

    print(header)
    print()
    print(line(cells[0]))
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for values in cells[1:]:
        print(line(values))
    print()
    for note in notes:
        print("- " + note)


# Progress ######################################################################

STARTED = time.monotonic()


def progress(message: str) -> None:
    sys.stderr.write("[%4.0fs] %s\n" % (time.monotonic() - STARTED, message))
    sys.stderr.flush()


# Measurements ##################################################################
# Each returns rows; the measuring itself is in bench_emit, bench_flow, bench_ion and bench_ion_write.

def emission_rows(official: str, settings: Settings, notes: List[str]) -> List[Row]:
    progress("start-up: %d rounds of each variant" % settings.startup_rounds)
    startup = startup_medians(official, settings.startup_rounds)
    bare, ours, theirs = startup["bare json + sys.stdout"], startup["kestra.py"], startup["official kestra"]
    progress("outputs and logger calls per second: %d rounds of %d calls" % (settings.rate_rounds, settings.calls))
    rates = rate_medians(official, settings.rate_rounds, settings.calls, "wc")
    outputs = rates["outputs: kestra.py"] / rates["outputs: official"]
    logger = rates["logger: kestra.py"] / rates["logger: official"]
    floor = rates["outputs: json + os.write floor"]
    notes.append("Kestra.outputs flushes each frame, the official client does not: a bare json.dumps and one "
                 "os.write per frame, the floor for that, ran at %s, %s the official client."
                 % (rate(floor), times(floor / rates["outputs: official"])))
    return [
        Row("start-up, import + one output (bare json script: %.1f ms)" % (bare * 1000),
            "%.1f ms" % (ours * 1000), "%.1f ms" % (theirs * 1000), times(ours / bare) + " bare",
            Goal(True, 1.3, "<= 1.3x bare"), ours / bare),
        Row("Kestra.outputs calls/s", rate(rates["outputs: kestra.py"]), rate(rates["outputs: official"]),
            times(outputs), Goal(False, 0.7, ">= 0.7x"), outputs),
        Row("Kestra.logger().info records/s", rate(rates["logger: kestra.py"]), rate(rates["logger: official"]),
            times(logger), Goal(False, 2.0, ">= 2x"), logger),
    ]


def flow_rows(official: str, settings: Settings) -> List[Row]:
    size = int(settings.upload_gib * GIB)
    with bench_flow.started_fake() as fake:
        progress("wait lag: %d executions per client against the fake server" % settings.wait_runs)
        lags = bench_flow.client_wait_lags(fake, official, settings.wait_runs)
        progress("upload of a %s FILE input, each client" % size_text(size))
        ours_peak, theirs_peak, received = bench_flow.client_upload_peaks(fake, official, size)
    progress("requests per second: %d reads per client, over HTTP then HTTPS" % settings.requests)
    rates = bench_flow.client_request_rates(official, settings.requests)
    if received != size:
        raise RuntimeError("the fake server received %s bytes of the %d uploaded last" % (received, size))
    ours_lag, theirs_lag = statistics.median(lags["kestra.py"]), statistics.median(lags["official"])
    return [
        Row("wait lag, execution end to execute() return (median of %d)" % settings.wait_runs,
            "%.3f s" % ours_lag, "%.3f s" % theirs_lag, times(ours_lag / theirs_lag),
            Goal(True, 0.1, "<= 0.1 s"), ours_lag),
        Row("upload of a %s FILE input, peak RSS" % size_text(size), mib(ours_peak), mib(theirs_peak),
            times(ours_peak / theirs_peak) if theirs_peak == theirs_peak else "-",
            Goal(True, 64, "<= 64 MiB"), ours_peak),
    ] + [
        Row("requests/s, one thread, loopback %s (kept-alive connections)" % scheme.upper(),
            rate(rates[("kestra.py", scheme)]), rate(rates[("official", scheme)]),
            times(rates[("kestra.py", scheme)] / rates[("official", scheme)]))
        for scheme in ("http", "https")
    ]


def size_text(size: int) -> str:
    return "%g GiB" % (size / GIB) if size >= GIB else "%g MiB" % (size / MIB)


def ion_rows(official: str, settings: Settings, notes: List[str]) -> List[Row]:
    size = settings.ion_rows
    readers = {name: (python, code) for name, python, code in bench_ion.readers(official)}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for form, write in (("text", bench_ion.write_rows), ("binary", bench_ion.write_binary_rows)):
            path = os.path.join(folder, "rows.%s" % ("ion" if form == "text" else "10n"))
            progress("Ion %s: writing %d rows" % (form, size))
            write(path, size)
            chosen = ["kestra.py read", "kestra.py iter_read"]
            if form in settings.official_ion_forms:
                chosen.append("official read")
            progress("Ion %s, %.1f MiB: %s, CLI read, CLI read --exact"
                     % (form, os.path.getsize(path) / MIB, ", ".join(chosen)))
            figures = bench_ion.file_figures(path, size, 1, tuple((name,) + readers[name] for name in chosen))
            os.remove(path)
            rows += ion_form_rows(form, size, figures)
            if "official read" not in figures:
                notes.append("The official client's read of %s Ion is left out of the quick run (its slowest case)."
                             % form)
    return rows


def ion_form_rows(form: str, size: int, figures: dict) -> List[Row]:
    label = "Ion %s, %s rows:" % (form, "{:,}".format(size))
    ours_rate, _, ours_peak = figures["kestra.py read"]
    if "official read" in figures:
        theirs_rate, _, theirs_peak = figures["official read"]
        speed = ours_rate / theirs_rate
        read = [
            Row(label + " read rows/s", rate(ours_rate), rate(theirs_rate), times(speed),
                Goal(False, 3, ">= 3x"), speed),
            Row(label + " read peak RSS", mib(ours_peak), mib(theirs_peak), times(ours_peak / theirs_peak)),
        ]
    else:
        read = [
            Row(label + " read rows/s", rate(ours_rate), "skipped", goal=Goal(False, 3, ">= 3x"), verdict="skipped"),
            Row(label + " read peak RSS", mib(ours_peak), "skipped"),
        ]
    iter_rate, _, _ = figures["kestra.py iter_read"]
    streaming = [Row(label + " iter_read rows/s", rate(iter_rate))]
    for name, what in (("kestra.py iter_read", "iter_read"), ("CLI read", "CLI read"),
                       ("CLI read --exact", "CLI read --exact")):
        peak = figures[name][2]
        streaming.append(Row("%s %s peak RSS" % (label, what), mib(peak), goal=Goal(True, 64, "<= 64 MiB"),
                             value=peak))
    return read + streaming


def ion_write_rows(official: str, settings: Settings, notes: List[str]) -> List[Row]:
    """Kestra.write against amazon.ion's simpleion.dumps and json.dumps, row by row."""
    size = settings.ion_write_rows
    label = "Ion text write, %s rows:" % "{:,}".format(size)
    progress("Ion text write: %d rows each by the generator alone, Kestra.write, amazon.ion dumps, json dumps"
             % size)
    try:
        figures = bench_ion_write.write_figures(official, size, settings.ion_write_rounds)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        return [Row(label + " Kestra.write", "FAILED: %s" % str(exc)[:60], verdict="FAILED")]
    ours_rate, _, ours_peak = figures[bench_ion_write.OURS]
    theirs_rate, _, theirs_peak = figures[bench_ion_write.AMAZON]
    floor_rate = figures[bench_ion_write.JSON][0]
    alone_rate, alone_seconds, _ = figures[bench_ion_write.ALONE]
    notes.append("Ion text write, best of %d rounds of each writer, interleaved: theirs is amazon.ion's "
                 "simpleion.dumps(row, binary=False, omit_version_marker=True) and a newline per row (its C "
                 "extension, from the official client's venv), then json.dumps(row, default=...) per row, the "
                 "floor. Each writer builds its rows from the same generator, which alone ran at %s (%.2f s): "
                 "'writing alone' is each writer's time less that. The file Kestra.write made was read back and "
                 "compared row by row." % (settings.ion_write_rounds, rate(alone_rate), alone_seconds))
    with_rows, speed = bench_ion_write.writing_speeds(figures)
    ours_alone = size / (figures[bench_ion_write.OURS][1] - alone_seconds)
    theirs_alone = size / (figures[bench_ion_write.AMAZON][1] - alone_seconds)
    return [
        Row(label + " Kestra.write rows/s, writing alone (theirs: amazon.ion dumps)", rate(ours_alone),
            rate(theirs_alone), times(speed), Goal(False, 3, ">= 3x"), speed),
        Row(label + " Kestra.write rows/s, rows' making counted (theirs: amazon.ion dumps)", rate(ours_rate),
            rate(theirs_rate), times(with_rows)),
        Row(label + " Kestra.write peak RSS (theirs: amazon.ion dumps)", mib(ours_peak), mib(theirs_peak),
            times(ours_peak / theirs_peak), Goal(True, 64, "<= 64 MiB"), ours_peak),
        Row(label + " Kestra.write rows/s (theirs: json.dumps, the floor)", rate(ours_rate), rate(floor_rate),
            times(ours_rate / floor_rate)),
    ]


# A real server #################################################################
# execute() of a one-task flow, for both clients, when a Kestra server answers.

SERVER_URL = os.environ.get("KESTRA_E2E_URL", "http://127.0.0.1:28080").rstrip("/")
SERVER_USER = os.environ.get("KESTRA_E2E_USER", "admin@kestra.io")
SERVER_PASSWORD = os.environ.get("KESTRA_E2E_PASSWORD", "Admin1234")
TENANT = "main"  # Kestra OSS: every API path is /api/v1/main/...
FLOW_ID = "bench_execute"
FLOW_SOURCE = """\
id: %s
namespace: %s

tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: hello from kestra.py's bench/run.py
"""

# Each script gets: URL, user, password, namespace, flow id; prints the seconds execute()
# took and the final state. Both clients with their default settings (a poll every
# second for the official one); the official one is told the tenant, which kestra.py
# finds by itself.
OURS_EXECUTE = """
import sys, time
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = sys.argv[1:4]
started = time.perf_counter()
result = flow.execute(sys.argv[4], sys.argv[5])
print(time.perf_counter() - started, result.status)
"""
OFFICIAL_EXECUTE = """
import sys, time
from kestra import Flow
flow = Flow(tenant={tenant!r})
flow.hostname, flow.user, flow.password = sys.argv[1:4]
started = time.perf_counter()
result = flow.execute(sys.argv[4], sys.argv[5])
print(time.perf_counter() - started, result.status)
"""


def server_version() -> tuple:
    """(the version the server at SERVER_URL gives, or "unknown"; None) when it answers,
    (None, why not) when it does not."""
    request = urllib.request.Request(SERVER_URL + "/api/v1/configs")
    token = base64.b64encode(("%s:%s" % (SERVER_USER, SERVER_PASSWORD)).encode("utf-8")).decode("ascii")
    request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            configs = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))  # urllib's URLError wraps the socket's error
    version = configs.get("version") if isinstance(configs, dict) else None
    return str(version or "unknown"), None


def timed_execute(python: str, code: str, namespace: str) -> float:
    """Seconds one execute() took in a fresh process; RuntimeError unless it ended SUCCESS."""
    with tempfile.TemporaryDirectory() as cwd:  # an empty cwd: no kestra.py to shadow the official one
        run = subprocess.run(
            [python, "-I", "-c", code, SERVER_URL, SERVER_USER, SERVER_PASSWORD, namespace, FLOW_ID],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
        )
    words = run.stdout.split()
    if run.returncode != 0 or len(words) != 2 or words[1] != "SUCCESS":
        problem = run.stderr.strip().splitlines()[-1:] or words
        raise RuntimeError("exit %d: %s" % (run.returncode, " ".join(problem)[:300]))
    return float(words[0])


def execute_rows(official: str, settings: Settings, notes: List[str]) -> List[Row]:
    what = "execute(), one Log task, real server (median of %d)" % settings.execute_runs
    version, problem = server_version()
    if version is None:
        progress("execute(): no Kestra server answers at %s (%s)" % (SERVER_URL, problem))
        notes.append("No Kestra server answered at %s (%s): execute() was not measured. KESTRA_E2E_URL, "
                     "KESTRA_E2E_USER and KESTRA_E2E_PASSWORD name one." % (SERVER_URL, problem))
        return [Row(what, "no server", "no server", verdict="no server")]
    what = what.replace("real server", "Kestra %s" % version)
    namespace = "kestra_py.bench.r" + secrets.token_hex(4)
    admin = kestra.Flow()
    admin.hostname, admin.user, admin.password, admin.api_token = SERVER_URL, SERVER_USER, SERVER_PASSWORD, None
    flows_path = "/api/v1/%s/flows" % TENANT
    try:
        admin._make_request("POST", flows_path, data=FLOW_SOURCE % (FLOW_ID, namespace),
                            headers={"Content-Type": "application/x-yaml"})
    except kestra.KestraError as exc:
        notes.append("The flow could not be created at %s: %s" % (SERVER_URL, exc))
        return [Row(what, "FAILED", verdict="FAILED")]
    clients = {"ours": (sys.executable, OURS_EXECUTE.format(here=HERE)),
               "theirs": (official, OFFICIAL_EXECUTE.format(tenant=TENANT))}
    seconds = {"ours": [], "theirs": []}
    failures = {}
    try:
        progress("execute(): %d runs per client against Kestra %s at %s, namespace %s"
                 % (settings.execute_runs, version, SERVER_URL, namespace))
        for _ in range(settings.execute_runs):
            for name, (python, code) in clients.items():
                if name in failures:
                    continue
                try:
                    seconds[name].append(timed_execute(python, code, namespace))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    failures[name] = str(exc)
        fan_out = fan_out_rows(official, settings, notes, version, namespace)
    finally:
        try:
            admin._make_request("DELETE", "%s/%s/%s" % (flows_path, namespace, FLOW_ID))
        except kestra.KestraError as exc:
            notes.append("The flow %s.%s could not be deleted: %s" % (namespace, FLOW_ID, exc))
    for name, problem in failures.items():
        notes.append("execute() of %s failed against Kestra %s: %s"
                     % ("kestra.py" if name == "ours" else "the official client", version, problem))
    if "ours" in failures:
        return [Row(what, "FAILED", verdict="FAILED")] + fan_out
    ours = statistics.median(seconds["ours"])
    if "theirs" in failures:
        return [Row(what, "%.3f s" % ours, "failed")] + fan_out
    theirs = statistics.median(seconds["theirs"])
    return [Row(what, "%.3f s" % ours, "%.3f s" % theirs, times(ours / theirs))] + fan_out


def fan_out_rows(official: str, settings: Settings, notes: List[str], version: str, namespace: str) -> List[Row]:
    """Many executions from one process (bench_fanout.py), on the flow execute_rows made."""
    count = settings.fan_out
    server = (SERVER_URL, SERVER_USER, SERVER_PASSWORD)
    runs = (("each64", sys.executable, bench_fanout.OURS_EACH, 64), ("each32", sys.executable, bench_fanout.OURS_EACH, 32),
            ("threads32", sys.executable, bench_fanout.OURS_THREADS, 32),
            ("official32", official, bench_fanout.OFFICIAL_THREADS, 32))
    figures = {}
    for name, python, template, width in runs:
        progress("fan-out: %d executions, %s, against Kestra %s" % (count, name, version))
        try:
            figures[name] = bench_fanout.run_client(python, template, server, namespace, FLOW_ID, count, width)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            notes.append("The fan-out run %s failed: %s" % (name, exc))
    progress("fan-out: %d executions, each64 through a counting proxy, against Kestra %s" % (count, version))
    proxied = None  # connections the relay saw
    try:
        with bench_fanout.CountingProxy(SERVER_URL) as proxy:
            bench_fanout.run_client(sys.executable, bench_fanout.OURS_EACH, (proxy.url,) + server[1:], namespace,
                                    FLOW_ID, count, 64)
            proxied = proxy.accepted
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        notes.append("The fan-out run through a counting proxy failed: %s" % exc)
    what = "fan-out, %d executions, Kestra %s" % (count, version)
    rows = []
    each = figures.get("each64")
    if each is None:
        rows.append(Row(what + ": execute_each", "FAILED", verdict="FAILED"))
    else:
        rows += [
            Row(what + ": execute_each(parallel=64), latest result after its stored end",
                "%.2f s" % each["max_lag"], goal=Goal(True, 2.0, "<= 2 s"), value=each["max_lag"]),
            Row(what + ": execute_each(parallel=64), wall / the server's span",
                "%.2fx" % (each["wall"] / each["span"]), goal=Goal(True, 1.2, "<= 1.2x"),
                value=each["wall"] / each["span"]),
            Row(what + ": execute_each(parallel=64), connections opened in all, counted by a proxy",
                "%s" % ("failed" if proxied is None else proxied), goal=Goal(True, 64 + 8, "<= 64 + 8"),
                value=None if proxied is None else float(proxied),
                verdict="FAILED" if proxied is None else "-"),
        ]
        notes.append("execute_each(parallel=64), %d executions: %.1f s, the server's span %.1f s, median lag %.2f s, "
                     "%.1f ms of client CPU per execution, %d connections opened as the client counts them."
                     % (count, each["wall"], each["span"], each["median_lag"], 1000 * each["cpu"] / count,
                        each["opened"]))
    if "each32" in figures and "official32" in figures:
        ours, theirs = count / figures["each32"]["wall"], count / figures["official32"]["wall"]
        rows.append(Row(what + ": executions/s, 32 at once (official: execute() in 32 threads)",
                        "%.1f/s" % ours, "%.1f/s" % theirs, times(ours / theirs),
                        Goal(False, 2.0, ">= 2x"), ours / theirs))
        rows.append(Row(what + ": client CPU per execution, 32 at once", "%.1f ms" % (1000 * figures["each32"]["cpu"] / count),
                        "%.1f ms" % (1000 * figures["official32"]["cpu"] / count),
                        times(figures["each32"]["cpu"] / figures["official32"]["cpu"])))
    threads = figures.get("threads32")
    if threads is not None:
        notes.append("Before execute_each, execute() in 32 threads, %d executions: %.1f s (server span %.1f s), "
                     "latest result %.2f s after its stored end, %.1f ms of client CPU per execution, %d "
                     "connections opened (a stream per execution)." % (
                         count, threads["wall"], threads["span"], threads["max_lag"], 1000 * threads["cpu"] / count,
                         threads["opened"]))
    return rows


def nsfiles_rows() -> List[Row]:
    what = "push, sync and pull of a 50 MB namespace file, peak RSS"
    progress("namespace files: a 50 MB file pushed, synced and pulled, against the fake server")
    try:
        peak = bench_nsfiles.push_pull_peak_mib(50 * 1000 * 1000)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return [Row(what, "FAILED: %s" % str(exc)[:60], verdict="FAILED")]
    return [Row(what, mib(peak), goal=Goal(True, 64, "<= 64 MiB"), value=peak)]


def queued_rows(settings: Settings) -> List[Row]:
    what = "execute_each over a %s-line file (2,000 run), peak RSS" % "{:,}".format(settings.queued)
    progress("fan-out peak RSS: %s input sets queued in a file, against the fake server" % "{:,}".format(settings.queued))
    try:
        peak = bench_fanout.queued_rss_mib(settings.queued, 2000)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return [Row(what, "FAILED: %s" % str(exc)[:60], verdict="FAILED")]
    return [Row(what, mib(peak), goal=Goal(True, 64, "<= 64 MiB"), value=peak)]


# The command ###################################################################

def trip_text(row: Row) -> str:
    """What tripped --check in ``row``: "Kestra.outputs calls/s 0.31 (goal >= 0.7x)"."""
    if row.goal is not None and row.value is not None:
        return "%s %.4g (goal %s)" % (row.what, row.value, row.goal.text)
    return "%s %s" % (row.what, row.verdict)


def official_version(official: str) -> str:
    return subprocess.run(
        [official, "-I", "-c", "import importlib.metadata as m; print(m.version('kestra'))"],
        stdout=subprocess.PIPE, universal_newlines=True, check=True,
    ).stdout.strip()


def checkout_commit() -> str:
    try:
        run = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True)
    except OSError:
        return ""
    return run.stdout.strip() if run.returncode == 0 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes: under two minutes")
    parser.add_argument("--check", action="store_true", help="exit 1 when a figure is more than 2x off its goal")
    parser.add_argument("--official", default="2.0.0", help="official kestra version from PyPI")
    parser.add_argument("--ion-rows", type=int, help="Ion rows read (full: 1000000, quick: 100000)")
    parser.add_argument("--upload-gib", type=float, help="size of the uploaded file (full: 1, quick: 0.25)")
    options = parser.parse_args()
    settings = QUICK if options.quick else FULL
    if options.ion_rows is not None:
        settings = settings._replace(ion_rows=options.ion_rows)
    if options.upload_gib is not None:
        settings = settings._replace(upload_gib=options.upload_gib)

    official = official_python(options.official)
    check_the_official_is_the_official(official)
    commit = checkout_commit()
    header = "kestra.py%s against the official kestra %s (PyPI), %s, %d CPUs, Python %s: %s run" % (
        " " + commit if commit else "", official_version(official), datetime.date.today().isoformat(),
        os.cpu_count() or 0, sys.version.split()[0], "quick" if options.quick else "full")
    notes = []  # type: List[str]
    rows = emission_rows(official, settings, notes)
    rows += flow_rows(official, settings)
    rows += ion_rows(official, settings, notes)
    rows += ion_write_rows(official, settings, notes)
    rows += queued_rows(settings)
    rows += nsfiles_rows()
    rows += execute_rows(official, settings, notes)
    notes.insert(0, "Ratio: ours / theirs, except start-up: ours / the bare json script. Medians: start-up of %d "
                    "runs, calls/s of %d, wait lag of %d executions; Ion figures: one run of each reader, the "
                    "best of %d of each writer."
                 % (settings.startup_rounds, settings.rate_rounds, settings.wait_runs, settings.ion_write_rounds))
    if min(settings.ion_rows, settings.ion_write_rows) < 1000000:
        notes.append("The memory goals are stated for 1,000,000 Ion rows; this run holds them to %s rows read "
                     "and %s written." % ("{:,}".format(settings.ion_rows),
                                          "{:,}".format(settings.ion_write_rows)))
    print_table(header, rows, notes)

    met = [row for row in rows if row.judged() == "met"]
    missed = [row.what for row in rows if row.judged() == "MISSED"]
    summary = "%d goals met, %d missed%s (%.0f s)" % (
        len(met), len(missed), ": " + "; ".join(missed) if missed else "", time.monotonic() - STARTED)
    tripped = [row for row in rows if row.tripped()]
    print()
    if not options.check:
        print(summary)
        return 0
    if tripped:
        print("check FAILED, more than 2x off the goal: %s; %s" % ("; ".join(map(trip_text, tripped)), summary))
        return 1
    print("check passed: no figure more than 2x off its goal; %s" % summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
