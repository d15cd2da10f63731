"""Flow benchmarks: kestra.py against the official ``kestra`` package, in one run.

    python bench/bench_flow.py [--official 2.0.0] [--runs 15] [--upload-gib 1]

Both clients run as separate processes against the loopback fake Kestra of
test_kestra.py (so the test extra must be installed), started here:

- wait lag: the fake ends an execution at a random moment after it was created; the
  lag is from that moment to ``execute()`` returning (both read ``time.monotonic()``,
  the same clock across processes on Linux);
- upload: the peak RSS (VmHWM) of a process that uploads a FILE input of
  ``--upload-gib`` GiB (a sparse file, read as zeros).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "bench"))

from bench_emit import official_python  # noqa: E402  (the same venv as the emission benchmark)
from test_kestra import FakeKestra  # noqa: E402

ADMIN = ("admin@kestra.io", "Admin1234")

# Each client script gets the server URL and prints what the benchmark reads. The
# official client reads KESTRA_USER but not KESTRA_PASSWORD: the script sets both.
OURS_WAIT = """
import sys, time
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = sys.argv[1], {user!r}, {password!r}
flow.execute("bench", "wait")
print(time.monotonic())
"""
OFFICIAL_WAIT = """
import sys, time
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = sys.argv[1], {user!r}, {password!r}
flow.execute("bench", "wait")
print(time.monotonic())
"""
OURS_UPLOAD = """
import pathlib, sys
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow(wait_for_completion=False)
flow.hostname, flow.user, flow.password = sys.argv[1], {user!r}, {password!r}
flow.execute("bench", "upload", {{"doc": pathlib.Path(sys.argv[2])}})
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""
OFFICIAL_UPLOAD = """
import sys
from kestra import Flow
flow = Flow(wait_for_completion=False)
flow.hostname, flow.user, flow.password = sys.argv[1], {user!r}, {password!r}
with open(sys.argv[2], "rb") as file:
    flow.execute("bench", "upload", {{"doc": ("big.bin", file)}})
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""

# Requests per second: the same GET of one execution, back to back, in one thread.
OURS_RATE = """
import sys, time
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = sys.argv[1], {user!r}, {password!r}
execution_id, count = sys.argv[2], int(sys.argv[3])
flow.check_status(execution_id)
started = time.perf_counter()
for _ in range(count):
    flow.check_status(execution_id)
print(count / (time.perf_counter() - started))
"""
OFFICIAL_RATE = OURS_RATE.replace("sys.path.insert(0, {here!r})\n", "")


def script(template: str) -> str:
    return template.format(here=HERE, user=ADMIN[0], password=ADMIN[1])


def wait_lags(fake: FakeKestra, python: str, code: str, runs: int) -> list:
    """Lags (s) from the final event to execute() returning, over ``runs`` executions."""
    lags = []
    for _ in range(runs):
        created = fake.creates
        child = subprocess.Popen([python, "-I", "-c", code, fake.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while fake.creates == created:  # the client has created its execution
            time.sleep(0.005)
        execution_id = fake.last_execution.id
        time.sleep(random.uniform(0.3, 1.3))  # then it runs for a while
        ended = time.monotonic()  # just before the state becomes final (and the stream says so)
        fake.advance(execution_id)
        out, err = child.communicate(timeout=60)
        if child.returncode != 0:
            raise RuntimeError("%s failed: %s" % (python, err.decode()[-2000:]))
        lags.append(float(out.split()[-1]) - ended)
    return lags


def upload_peak_mib(fake: FakeKestra, python: str, code: str, path: str) -> float:
    child = subprocess.run([python, "-I", "-c", code, fake.url, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if child.returncode != 0:
        return float("nan")
    return int(child.stdout.split()[-1]) / 1024.0


def started_fake() -> FakeKestra:
    """The fake Kestra both clients run against (use it as a context manager): the flow
    bench.wait ends when the benchmark says so, bench.upload takes a FILE input "doc"."""
    fake = FakeKestra()
    fake.auto_advance = False
    fake.add_flow("bench", "wait", states=("RUNNING", "SUCCESS"))
    fake.add_flow("bench", "upload", inputs={"doc": "FILE"})
    return fake


def client_wait_lags(fake: FakeKestra, official: str, runs: int) -> dict:
    """{"kestra.py": lags, "official": lags}, each sorted, in seconds."""
    return {name: sorted(wait_lags(fake, python, code, runs))
            for name, python, code in (("kestra.py", sys.executable, script(OURS_WAIT)),
                                       ("official", official, script(OFFICIAL_WAIT)))}


def client_upload_peaks(fake: FakeKestra, official: str, size: int) -> tuple:
    """(kestra.py's peak MiB, the official's peak MiB or NaN if it failed, the bytes the
    server received last) for an upload of a sparse file of ``size`` bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.bin")
        with open(path, "wb") as file:
            file.truncate(size)
        ours = upload_peak_mib(fake, sys.executable, script(OURS_UPLOAD), path)
        theirs = upload_peak_mib(fake, official, script(OFFICIAL_UPLOAD), path)
    received = fake.last_execution.received_files.get("doc", {}) if fake.last_execution else {}
    return ours, theirs, received.get("size")


def request_rate(fake: FakeKestra, python: str, code: str, count: int, env: dict) -> float:
    """Requests per second of one client reading one execution ``count`` times."""
    with fake._cond:
        execution_id = fake.last_execution.id if fake.last_execution else None
    if execution_id is None:
        raise RuntimeError("the fake server has no execution to read")
    child = subprocess.run([python, "-I", "-c", code, fake.url, execution_id, str(count)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, **env), timeout=600)
    if child.returncode != 0:
        raise RuntimeError("%s failed: %s" % (python, child.stderr.decode()[-2000:]))
    return float(child.stdout.split()[-1])


def client_request_rates(official: str, count: int) -> dict:
    """{(client, "http"|"https"): requests per second}: each client GETs one execution
    ``count`` times over loopback, on plain HTTP, then on HTTPS (a trustme certificate,
    trusted through REQUESTS_CA_BUNDLE, which both clients read)."""
    import ssl

    import trustme

    rates = {}
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    with tempfile.TemporaryDirectory() as folder:
        bundle = os.path.join(folder, "ca.pem")
        authority.cert_pem.write_to_path(bundle)
        for scheme, tls in (("http", None), ("https", context)):
            with FakeKestra(tls_context=tls) as fake:
                fake.add_flow("bench", "read")
                _create(fake, bundle)
                for name, python, code in (("kestra.py", sys.executable, script(OURS_RATE)),
                                           ("official", official, script(OFFICIAL_RATE))):
                    rates[(name, scheme)] = request_rate(fake, python, code, count, {"REQUESTS_CA_BUNDLE": bundle})
    return rates


def _create(fake: FakeKestra, bundle: str) -> None:
    """One execution of bench.read, to be read back."""
    sys.path.insert(0, HERE)
    import kestra

    flow = kestra.Flow(wait_for_completion=False, ca_bundle=bundle)
    flow.hostname, flow.user, flow.password = fake.url, ADMIN[0], ADMIN[1]
    with flow:
        flow.execute("bench", "read")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", default="2.0.0", help="official kestra version from PyPI")
    parser.add_argument("--runs", type=int, default=15, help="executions waited for, per client")
    parser.add_argument("--upload-gib", type=float, default=1.0, help="size of the uploaded file")
    parser.add_argument("--requests", type=int, default=2000, help="requests per client and scheme")
    options = parser.parse_args()
    official = official_python(options.official)
    print("# kestra.py Flow benchmark: Python %s, official kestra %s, %d CPUs"
          % (sys.version.split()[0], options.official, os.cpu_count() or 0))
    with started_fake() as fake:
        print("\n## Wait lag: execution ended -> execute() returned (%d runs each)" % options.runs)
        results = {}
        for name, lags in client_wait_lags(fake, official, options.runs).items():
            results[name] = statistics.median(lags)
            print("  %-10s median %7.3f s   min %7.3f s   max %7.3f s" % (name, results[name], lags[0], lags[-1]))
        target = results["kestra.py"]
        print("  target: kestra.py median <= 0.1 s -> %.3f s, %s" % (target, "met" if target <= 0.1 else "MISSED"))

        print("\n## Upload of a %.2f GiB FILE input: peak RSS of the client process (VmHWM)" % options.upload_gib)
        ours, theirs, received = client_upload_peaks(fake, official, int(options.upload_gib * (1 << 30)))
        print("  %-10s %8.1f MiB" % ("kestra.py", ours))
        print("  %-10s %8.1f MiB%s" % ("official", theirs, "" if theirs == theirs else " (failed)"))
        print("  last upload received by the server: %s bytes" % received)
        print("  target: kestra.py <= 64 MiB -> %.1f MiB, %s" % (ours, "met" if ours <= 64 else "MISSED"))

    print("\n## Requests per second: one execution read back to back, one thread, loopback")
    rates = client_request_rates(official, options.requests)
    for scheme in ("http", "https"):
        ours, theirs = rates[("kestra.py", scheme)], rates[("official", scheme)]
        print("  %-5s kestra.py %8.0f/s   official %8.0f/s   %.2fx" % (scheme, ours, theirs, ours / theirs))


if __name__ == "__main__":
    main()
