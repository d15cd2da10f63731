"""Fan-out benchmarks: many executions from one process, against a real Kestra server.

Imported by bench/run.py, which creates the one-Log-task flow and gives its namespace.
Each client runs in a process of its own, after a warm-up of 20 executions, and prints
one JSON document:

- kestra.py ``execute_each(..., parallel=P)``: the wall time; the server's own span
  (first stored start to last stored end); the lag of each result after its execution's
  stored end (the same machine's clock); client CPU; connections opened by the whole
  process, warm-up included, as the client counts them and as a counting TCP relay in
  front of the server (CountingProxy) does, in a run of its own;
- kestra.py ``execute()`` in T threads (the way before execute_each): the same figures;
- the official client's ``execute()`` in T threads (it polls each second): wall, CPU.

The peak RSS figure runs against the loopback fake server of test_kestra.py instead:
``execute_each`` over a 100,000-line JSON Lines file, read lazily, stopped after 2,000
results, so that 98,000 input sets are still queued in the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_COMMON = """
import datetime, json, resource, statistics, sys, time
def stored(text):
    base, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
url, user, password, namespace, flow_id, count, width = sys.argv[1:8]
count, width = int(count), int(width)
"""

OURS_EACH = _COMMON + """
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = url, user, password
list(flow.execute_each(namespace, flow_id, [None] * 20, parallel=width))
used, started = cpu(), time.time()
lags, starts, ends, bad = [], [], [], 0
for result in flow.execute_each(namespace, flow_id, [None] * count, parallel=width):
    now = time.time()
    if result.status != "SUCCESS":
        bad += 1
        continue
    history = result.execution["state"]["histories"]
    starts.append(stored(history[0]["date"]))
    ends.append(stored(history[-1]["date"]))
    lags.append(now - ends[-1])
print(json.dumps({{"wall": time.time() - started, "cpu": cpu() - used, "span": max(ends) - min(starts),
                  "max_lag": max(lags), "median_lag": statistics.median(lags), "bad": bad,
                  "opened": flow._pool.opened}}))
"""

OURS_THREADS = _COMMON + """
import concurrent.futures, threading
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = url, user, password
lock = threading.Lock()
lags, starts, ends, bad = [], [], [], [0]
def one(_):
    result = flow.execute(namespace, flow_id)
    now = time.time()
    with lock:
        if result.status != "SUCCESS":
            bad[0] += 1
            return
        history = result.execution["state"]["histories"]
        starts.append(stored(history[0]["date"]))
        ends.append(stored(history[-1]["date"]))
        lags.append(now - ends[-1])
with concurrent.futures.ThreadPoolExecutor(width) as pool:
    list(pool.map(one, range(20)))
    del lags[:], starts[:], ends[:]
    used, started = cpu(), time.time()
    list(pool.map(one, range(count)))
print(json.dumps({{"wall": time.time() - started, "cpu": cpu() - used, "span": max(ends) - min(starts),
                  "max_lag": max(lags), "median_lag": statistics.median(lags), "bad": bad[0],
                  "opened": flow._pool.opened}}))
"""

OFFICIAL_THREADS = _COMMON + """
import concurrent.futures
from kestra import Flow
flow = Flow(tenant="main")
flow.hostname, flow.user, flow.password = url, user, password
def one(_):
    return flow.execute(namespace, flow_id).status
with concurrent.futures.ThreadPoolExecutor(width) as pool:
    list(pool.map(one, range(20)))
    used, started = cpu(), time.time()
    states = list(pool.map(one, range(count)))
print(json.dumps({{"wall": time.time() - started, "cpu": cpu() - used,
                  "bad": sum(1 for state in states if str(state) != "SUCCESS")}}))
"""

QUEUED_RSS = """
import json, sys
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow(poll_interval=0.05)
flow.hostname, flow.user, flow.password = sys.argv[1:4]
with open(sys.argv[4]) as lines:
    results = flow.execute_each("bench", "fan", (json.loads(line) for line in lines), parallel=64)
    for done, result in enumerate(results, 1):
        if result.status != "SUCCESS":
            raise SystemExit("not SUCCESS: %r" % (result,))
        if done == int(sys.argv[5]):
            break
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


class CountingProxy:
    """A TCP relay on 127.0.0.1 in front of the server, counting the connections
    clients open through it (the server's side of the count). Use as a context
    manager; ``url`` is the address to give the client."""

    def __init__(self, server_url: str) -> None:
        import socket
        import threading
        import urllib.parse

        parts = urllib.parse.urlsplit(server_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "CountingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    @staticmethod
    def _relay(source: "object", sink: "object") -> None:
        import socket

        try:
            while True:
                data = source.recv(65536)  # type: ignore[attr-defined]
                if not data:
                    break
                sink.sendall(data)  # type: ignore[attr-defined]
        except OSError:
            pass
        finally:
            for end, how in ((sink, socket.SHUT_WR), (source, socket.SHUT_RD)):
                try:
                    end.shutdown(how)  # type: ignore[attr-defined]
                except OSError:
                    pass


def run_client(python: str, template: str, server: tuple, namespace: str, flow_id: str, count: int,
               width: int) -> dict:
    """One client's figures (see the module docstring); RuntimeError if it failed."""
    code = template.format(here=HERE)
    with tempfile.TemporaryDirectory() as cwd:  # an empty cwd: no kestra.py to shadow the official one
        run = subprocess.run([python, "-I", "-c", code] + list(server) + [namespace, flow_id, str(count), str(width)],
                             cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                             timeout=900)
    if run.returncode != 0:
        raise RuntimeError("exit %d: %s" % (run.returncode, run.stderr.strip()[-500:]))
    figures = json.loads(run.stdout.split("\n")[-2])
    if figures["bad"]:
        raise RuntimeError("%d executions did not end SUCCESS" % figures["bad"])
    return figures


def queued_rss_mib(sets: int, results: int) -> float:
    """Peak RSS (MiB) of execute_each over a file of ``sets`` JSON lines, against the
    fake server, stopped after ``results`` results."""
    sys.path.insert(0, HERE)
    from test_kestra import ADMIN, FakeKestra

    with tempfile.TemporaryDirectory() as folder, FakeKestra() as fake:
        fake.add_flow("bench", "fan", inputs={"n": "INT", "day": "STRING"})
        path = os.path.join(folder, "sets.jsonl")
        with open(path, "w") as file:
            for n in range(sets):
                file.write(json.dumps({"n": n, "day": "2024-01-%02d" % (n % 28 + 1)}) + "\n")
        run = subprocess.run([sys.executable, "-I", "-c", QUEUED_RSS.format(here=HERE), fake.url, ADMIN[0], ADMIN[1],
                              path, str(results)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=900)
    if run.returncode != 0:
        raise RuntimeError("exit %d: %s" % (run.returncode, run.stderr.strip()[-500:]))
    return int(run.stdout.split()[-1]) / 1024.0
