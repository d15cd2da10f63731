"""Ion reading benchmark: kestra.py against the official ``kestra`` package, in one run.

    python bench/bench_ion.py [--official 2.0.0] [--rows 10000,100000,1000000] [--repeat 3]

For each size, a file of Kestra-shaped rows (an int, a decimal, a millisecond
timestamp, a ``LocalDateTime::`` annotated string, a list, a null, a bool, a string,
one struct per line, as Kestra writes them) is read, each reader in a fresh process:

- ``Kestra.read`` of kestra.py and of the official client (its own venv, which holds
  amazon.ion, whose C extension does its parsing): rows/s and peak RSS (VmHWM);
- ``Kestra.iter_read`` of kestra.py, each row dropped once seen: rows/s and peak RSS;
- amazon.ion's own streaming reader (``simpleion.load(..., parse_eagerly=False)``):
  its raw values, and the same values converted as kestra.py converts them (what
  kestra.py would cost if it read text through amazon.ion): rows/s and peak RSS, to
  decide which reader kestra.py uses for text Ion.

Rows/s is the best of ``--repeat`` runs for the smaller sizes and of one run for a
size over 200,000 rows (the official client needs minutes and gigabytes there).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "bench"))

from bench_emit import official_python  # noqa: E402  (the same venv as the emission benchmark)

# Each script reads sys.argv[1] and prints: rows, seconds, VmHWM in KiB.
MEASURE = """
import sys, time
def peak():
    return open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
"""
OURS_READ = MEASURE + """
sys.path.insert(0, {here!r})
from kestra import Kestra
started = time.perf_counter()
rows = Kestra.read(sys.argv[1])
print(len(rows), time.perf_counter() - started, peak())
"""
OURS_ITER_READ = MEASURE + """
sys.path.insert(0, {here!r})
from kestra import Kestra
started = time.perf_counter()
count = 0
for row in Kestra.iter_read(sys.argv[1]):
    count += 1
print(count, time.perf_counter() - started, peak())
"""
OFFICIAL_READ = MEASURE + """
from kestra import Kestra
started = time.perf_counter()
rows = Kestra.read(sys.argv[1])
print(len(rows), time.perf_counter() - started, peak())
"""
AMAZON_ION_STREAM = MEASURE + """
from amazon.ion import simpleion
started = time.perf_counter()
count = 0
with open(sys.argv[1], "rb") as file:
    for value in simpleion.load(file, single_value=False, parse_eagerly=False):
        count += 1
print(count, time.perf_counter() - started, peak())
"""
AMAZON_ION_CONVERTED = MEASURE + """
sys.path.insert(0, {here!r})
from amazon.ion import simpleion
import kestra
convert = kestra._FromAmazonIon(faithful=False, exact=False).convert
started = time.perf_counter()
count = 0
with open(sys.argv[1], "rb") as file:
    for value in simpleion.load(file, single_value=False, parse_eagerly=False):
        row = convert(value)
        count += 1
print(count, time.perf_counter() - started, peak())
"""

ROW = ('{id:%d,amount:%d.%06d,created:2024-04-21T13:%02d:%02d.%03dZ,'
       'local:LocalDateTime::"2024-04-21T13:43:%02d.%d",tags:["a","b%d"],note:null,active:%s,'
       'name:"string value %d"}\n')


def write_rows(path: str, count: int) -> None:
    with open(path, "w", encoding="utf-8") as file:
        for i in range(count):
            file.write(ROW % (i, (i * 7919) % 100000, (i * 104729) % 1000000, (i // 60) % 60, i % 60, i % 1000,
                              i % 60, i % 10, i % 5, "true" if i % 2 else "false", i))


def measure(python: str, code: str, path: str, repeat: int) -> tuple:
    """(rows, best seconds, highest peak KiB) over ``repeat`` fresh processes."""
    results = []
    with tempfile.TemporaryDirectory() as cwd:  # an empty cwd: no kestra.py to shadow the official one
        for _ in range(repeat):
            run = subprocess.run([python, "-I", "-c", code, path], cwd=cwd, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True)
            if run.returncode != 0:
                raise RuntimeError("%s failed: %s" % (python, run.stderr[-2000:]))
            rows, seconds, peak = run.stdout.split()
            results.append((int(rows), float(seconds), int(peak)))
    return results[0][0], min(seconds for _, seconds, _ in results), max(peak for _, _, peak in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", default="2.0.0", help="official kestra version from PyPI")
    parser.add_argument("--rows", default="10000,100000,1000000", help="comma-separated row counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per reader for sizes up to 200,000 rows")
    options = parser.parse_args()
    official = official_python(options.official)
    sizes = [int(size) for size in options.rows.split(",")]
    print("# kestra.py Ion reading benchmark: Python %s, official kestra %s, %d CPUs"
          % (sys.version.split()[0], options.official, os.cpu_count() or 0))
    readers = (
        ("kestra.py read", sys.executable, OURS_READ.format(here=HERE)),
        ("kestra.py iter_read", sys.executable, OURS_ITER_READ.format(here=HERE)),
        ("official read", official, OFFICIAL_READ),
        ("amazon.ion stream", official, AMAZON_ION_STREAM),
        ("amazon.ion converted", official, AMAZON_ION_CONVERTED.format(here=HERE)),
    )
    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = os.path.join(folder, "rows-%d.ion" % size)
            write_rows(path, size)
            repeat = options.repeat if size <= 200000 else 1
            print("\n## %d rows (%.1f MiB of Ion text), best of %d run(s)"
                  % (size, os.path.getsize(path) / 1048576.0, repeat))
            figures = {}
            for name, python, code in readers:
                rows, seconds, peak = measure(python, code, path, repeat)
                if rows != size:
                    raise RuntimeError("%s read %d rows of %d" % (name, rows, size))
                figures[name] = (size / seconds, peak / 1024.0)
                print("  %-21s %10.0f rows/s   %8.1f s   peak RSS %8.1f MiB" % (name, size / seconds, seconds, peak / 1024.0))
            speed = figures["kestra.py read"][0] / figures["official read"][0]
            text = figures["kestra.py read"][0] / figures["amazon.ion stream"][0]
            converted = figures["kestra.py iter_read"][0] / figures["amazon.ion converted"][0]
            print("  kestra.py read is %.2fx the official read; its text reader is %.2fx amazon.ion's streaming reader"
                  " (raw values), %.2fx amazon.ion with the same conversion to Python values" % (speed, text, converted))
            verdicts.append(("%d rows: read >= 3x the official" % size, speed >= 3, "%.2fx" % speed))
            if size >= 1000000:
                peak = figures["kestra.py iter_read"][1]
                verdicts.append(("%d rows: iter_read peak RSS <= 64 MiB" % size, peak <= 64, "%.1f MiB" % peak))
            os.remove(path)
    print("\n## Targets")
    for what, met, figure in verdicts:
        print("  %-44s %-10s %s" % (what, figure, "met" if met else "MISSED"))


if __name__ == "__main__":
    main()
