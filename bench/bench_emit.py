"""Emission benchmarks: kestra.py against the official ``kestra`` package, in one run.

    python bench/bench_emit.py [--official 2.0.0] [--rounds 30] [--calls 200000]

The official package is installed from PyPI into its own venv (in ~/.cache, reused
when present) on the interpreter running this script. Prints:

- start-up: ``python -I -S -c "import kestra; kestra.Kestra.outputs({'a': 1})"`` against a
  bare script writing the same frame with json and sys.stdout, and the official client;
- what ``import kestra`` imports beyond ``json``, from ``python -X importtime``;
- ``Kestra.outputs({"k": i})`` calls per second and ``Kestra.logger().info`` records per
  second, stdout being a pipe that ``wc -l`` reads (``--reader python``: this process),
  for both clients.

Wall-clock figures on a shared machine are noisy: every variant runs interleaved in the
same rounds, and medians are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kestra-py-bench")

# -I leaves the current folder off sys.path, so every variant of ours (and the bare
# script, to pay the same) puts this checkout on it first.
PATH_SETUP = "import sys; sys.path.insert(0, %r); " % HERE
STARTUP = {
    "python, nothing": ["-I", "-S", "-c", "pass"],
    "bare json + sys.stdout": [
        "-I", "-S", "-c",
        PATH_SETUP + "import json; sys.stdout.write('::' + json.dumps({'outputs': {'a': 1}}) + '::\\n')",
    ],
    "kestra.py": ["-I", "-S", "-c", PATH_SETUP + "import kestra; kestra.Kestra.outputs({'a': 1})"],
    "kestra.py, with site": ["-I", "-c", PATH_SETUP + "import kestra; kestra.Kestra.outputs({'a': 1})"],
}
OFFICIAL_STARTUP = ["-I", "-c", "import kestra; kestra.Kestra.outputs({'a': 1})"]

LOOP = """
import os, sys, time
{setup}
count = int(sys.argv[1])
started = time.perf_counter()
for index in range(count):
    {call}
sys.stdout.flush()
sys.stderr.write(repr(time.perf_counter() - started))
"""
OUTPUTS = "Kestra.outputs({'k': index})"
LOGGER = "log.info('record %d', index)"
OURS_SETUP = PATH_SETUP + "from kestra import Kestra; log = Kestra.logger()"
OFFICIAL_SETUP = "from kestra import Kestra; log = Kestra.logger()"
FLOOR_SETUP = "import json"
FLOOR_CALL = "os.write(1, ('::' + json.dumps({'outputs': {'k': index}}) + '::\\n').encode())"


def official_python(version: str) -> str:
    venv = os.path.join(CACHE, "official-%s-py%d.%d" % ((version,) + sys.version_info[:2]))
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print("installing the official kestra %s into %s ..." % (version, venv), flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        subprocess.check_call(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "kestra==%s" % version]
        )
    return python


def run_quietly(command: list) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def startup_medians(official: str, rounds: int) -> dict:
    """Median wall-clock seconds of each start-up variant (STARTUP, and "official kestra")."""
    commands = {name: [sys.executable] + args for name, args in STARTUP.items()}
    commands["official kestra"] = [official] + OFFICIAL_STARTUP
    for command in commands.values():  # compile .pyc files before timing
        run_quietly(command)
    timings = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            timings[name].append(run_quietly(command))
    return {name: statistics.median(values) for name, values in timings.items()}


def startup(official: str, rounds: int) -> None:
    medians = startup_medians(official, rounds)
    bare = medians["bare json + sys.stdout"]
    print("\n## Start-up (median of %d runs, wall clock)" % rounds)
    for name, median in medians.items():
        print("  %-24s %7.1f ms   %.2fx the bare script" % (name, median * 1000, median / bare))
    ratio = medians["kestra.py"] / bare
    print("  target: kestra.py <= 1.3x the bare script -> %.2fx, %s" % (ratio, "met" if ratio <= 1.3 else "MISSED"))


def import_costs() -> None:
    def imported(code: str) -> dict:
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-I", "-S", "-c", PATH_SETUP + code],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True, check=True,
        )
        costs = {}
        for line in run.stderr.splitlines():
            if line.startswith("import time:") and "|" in line and "self [us]" not in line:
                self_us, _, name = line[len("import time:"):].split("|")
                costs[name.strip()] = int(self_us)
        return costs

    baseline = imported("import json")
    ours = imported("import kestra")
    added = {name: cost for name, cost in ours.items() if name not in baseline}
    print("\n## What `import kestra` imports beyond `import json` (python -X importtime, self time)")
    for name, cost in sorted(added.items(), key=lambda item: -item[1]):
        print("  %-20s %6d us" % (name, cost))
    heavy = {"urllib.request", "ssl", "http.client", "email", "logging"} & set(ours)
    print("  HTTP stack, email or logging imported: %s" % (", ".join(sorted(heavy)) or "none"))


def throughput(python: str, setup: str, call: str, count: int, reader: str) -> float:
    """Calls per second of ``call`` run ``count`` times, stdout a pipe read by `wc -l`
    (``reader="wc"``) or by this Python process (``reader="python"``).

    The Kestra worker reads task output with compiled code (a Java BufferedReader): `wc`
    stands for it. A Python reader competes harder for the CPU; every figure, the
    one-write floor included, moves with the reader.
    """
    code = LOOP.format(setup=setup, call=call)
    # -I: the current folder (this checkout, holding kestra.py) must not shadow the
    # official package in its venv.
    child = subprocess.Popen(
        [python, "-I", "-c", code, str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if reader == "wc":
        counter = subprocess.run(["wc", "-l"], stdin=child.stdout, stdout=subprocess.PIPE, check=True)
        lines = int(counter.stdout.split()[0])
    else:
        lines = 0
        while True:
            chunk = os.read(child.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            lines += chunk.count(b"\n")
    child.stdout.close()
    elapsed = float(child.stderr.read())
    if child.wait() != 0 or lines != count:
        raise RuntimeError("%s wrote %d lines for %d calls" % (python, lines, count))
    return count / elapsed


def check_the_official_is_the_official(official: str) -> None:
    where = subprocess.run(
        [official, "-I", "-c", "import kestra; print(kestra.__file__)"],
        stdout=subprocess.PIPE, universal_newlines=True, check=True,
    ).stdout.strip()
    if "site-packages" not in where:
        raise RuntimeError("the official venv imports kestra from %s" % where)


def rate_medians(official: str, rounds: int, count: int, reader: str) -> dict:
    """Median calls per second of each variant: "outputs: kestra.py", "outputs: official",
    "outputs: json + os.write floor", "logger: kestra.py", "logger: official"."""
    variants = {
        "outputs: kestra.py": (sys.executable, OURS_SETUP, OUTPUTS),
        "outputs: official": (official, OFFICIAL_SETUP, OUTPUTS),
        "outputs: json + os.write floor": (sys.executable, FLOOR_SETUP, FLOOR_CALL),
        "logger: kestra.py": (sys.executable, OURS_SETUP, LOGGER),
        "logger: official": (official, OFFICIAL_SETUP, LOGGER),
    }
    results = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (python, setup, call) in variants.items():
            results[name].append(throughput(python, setup, call, count, reader))
    return {name: statistics.median(values) for name, values in results.items()}


def rates(official: str, rounds: int, count: int, reader: str) -> None:
    medians = rate_medians(official, rounds, count, reader)
    print("\n## Calls per second, %d calls, stdout a pipe read by %s (median of %d)"
          % (count, "`wc -l`" if reader == "wc" else "a Python loop", rounds))
    for name, value in medians.items():
        print("  %-32s %10.0f /s" % (name, value))
    outputs = medians["outputs: kestra.py"] / medians["outputs: official"]
    floor = medians["outputs: json + os.write floor"] / medians["outputs: official"]
    logger = medians["logger: kestra.py"] / medians["logger: official"]
    print("  outputs: kestra.py / official = %.2fx (target >= 0.7x: %s; the one-write-per-frame floor is %.2fx)"
          % (outputs, "met" if outputs >= 0.7 else "MISSED", floor))
    print("  logger:  kestra.py / official = %.2fx (target >= 2x: %s)" % (logger, "met" if logger >= 2 else "MISSED"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", default="2.0.0", help="official kestra version from PyPI")
    parser.add_argument("--rounds", type=int, default=30, help="start-up runs per variant")
    parser.add_argument("--rate-rounds", type=int, default=7, help="throughput runs per variant")
    parser.add_argument("--calls", type=int, default=200000, help="calls per throughput run")
    parser.add_argument("--reader", choices=("wc", "python"), default="wc", help="what reads the pipe")
    options = parser.parse_args()
    official = official_python(options.official)
    check_the_official_is_the_official(official)
    print("# kestra.py emission benchmark: Python %s, official kestra %s, %d CPUs"
          % (sys.version.split()[0], options.official, os.cpu_count() or 0))
    startup(official, options.rounds)
    import_costs()
    rates(official, options.rate_rounds, options.calls, options.reader)


if __name__ == "__main__":
    main()
