"""Ion reading benchmark: kestra.py against the official ``kestra`` package, in one run.

    python bench/bench_ion.py [--official 2.0.0] [--rows 10000,100000,1000000] [--repeat 3]

For each size, files of Kestra-shaped rows (an int, a decimal, a millisecond timestamp,
a ``LocalDateTime::`` annotated string, a list, a null, a bool, a string) are read, each
reader in a fresh process. The same rows are written twice: as Ion text, one struct per
line, as Kestra 1.x writes them, and as binary Ion, as Kestra 2.0 writes them.

- ``Kestra.read`` of kestra.py and of the official client (its own venv, which holds
  amazon.ion, whose C extension does its parsing): rows/s and peak RSS (VmHWM);
- ``Kestra.iter_read`` of kestra.py, each row dropped once seen: rows/s and peak RSS;
- the command line, ``python kestra.py read FILE`` (and ``--exact``), its JSON Lines
  read from a pipe by this process: rows/s and peak RSS (the child's ru_maxrss);
- amazon.ion's own streaming reader (``simpleion.load(..., parse_eagerly=False)``), its
  raw values not converted to dicts and datetimes: rows/s and peak RSS, the reference
  for kestra.py's built-in readers.

Rows/s is the best of ``--repeat`` runs for the smaller sizes and of one run for a
size over 200,000 rows (the official client needs minutes and gigabytes there).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

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
ROW = ('{id:%d,amount:%d.%06d,created:2024-04-21T13:%02d:%02d.%03dZ,'
       'local:LocalDateTime::"2024-04-21T13:43:%02d.%d",tags:["a","b%d"],note:null,active:%s,'
       'name:"string value %d"}\n')


def write_rows(path: str, count: int) -> None:
    with open(path, "w", encoding="utf-8") as file:
        for i in range(count):
            file.write(ROW % (i, (i * 7919) % 100000, (i * 104729) % 1000000, (i // 60) % 60, i % 60, i % 1000,
                              i % 60, i % 10, i % 5, "true" if i % 2 else "false", i))


# The same rows as binary Ion: a local symbol table for the field names and the
# annotation, then one struct per row.
FIELDS = ("id", "amount", "created", "local", "tags", "note", "active", "name", "LocalDateTime")
SID = {name: 10 + index for index, name in enumerate(FIELDS)}


def var_uint(number: int) -> bytes:
    groups = [number & 0x7F]
    number >>= 7
    while number:
        groups.append(number & 0x7F)
        number >>= 7
    groups[0] |= 0x80
    return bytes(reversed(groups))


def var_int(number: int) -> bytes:
    magnitude = abs(number)
    groups = [magnitude & 0x7F]
    magnitude >>= 7
    while magnitude:
        groups.append(magnitude & 0x7F)
        magnitude >>= 7
    if groups[-1] & 0x40:
        groups.append(0)
    if number < 0:
        groups[-1] |= 0x40
    groups[0] |= 0x80
    return bytes(reversed(groups))


def value(kind: int, payload: bytes) -> bytes:
    if len(payload) < 14:
        return bytes([kind << 4 | len(payload)]) + payload
    return bytes([kind << 4 | 14]) + var_uint(len(payload)) + payload


def unsigned(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def signed(number: int) -> bytes:
    return number.to_bytes(number.bit_length() // 8 + 1, "big") if number else b""  # positive only


def string(text: str) -> bytes:
    return value(8, text.encode("utf-8"))


def binary_row(i: int) -> bytes:
    amount = ((i * 7919) % 100000) * 1000000 + (i * 104729) % 1000000
    created = var_int(0) + b"".join(var_uint(n) for n in (2024, 4, 21, 13, (i // 60) % 60, i % 60))
    created += var_int(-3) + signed(i % 1000)
    local_text = string("2024-04-21T13:43:%02d.%d" % (i % 60, i % 10))
    local = value(14, var_uint(1) + var_uint(SID["LocalDateTime"]) + local_text)
    fields = [
        ("id", value(2, unsigned(i))), ("amount", value(5, var_int(-6) + signed(amount))),
        ("created", value(6, created)), ("local", local),
        ("tags", value(11, string("a") + string("b%d" % (i % 5)))), ("note", b"\x0f"),
        ("active", b"\x11" if i % 2 else b"\x10"), ("name", string("string value %d" % i)),
    ]
    return value(13, b"".join(var_uint(SID[name]) + item for name, item in fields))


def write_binary_rows(path: str, count: int) -> None:
    symbols = value(11, b"".join(string(name) for name in FIELDS))
    table = value(13, var_uint(7) + symbols)  # {symbols: [...]}
    with open(path, "wb") as file:
        file.write(b"\xe0\x01\x00\xea" + value(14, var_uint(1) + var_uint(3) + table))
        for i in range(count):
            file.write(binary_row(i))


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


# Runs the command in argv[1:] as a grandchild and writes its peak RSS (ru_maxrss, KiB)
# as the last line of stderr. A child's ru_maxrss counts the memory of the process it was
# forked from, which here is small: measured from this process, it would be at least this
# process's own size (the fake server and test modules of run.py, say).
PEAK_OF_CHILD = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("\\npeak KiB %d\\n" % usage.ru_maxrss)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
"""


def measure_cli(path: str, repeat: int, *options: str) -> tuple:
    """(rows, best seconds, highest peak KiB) of ``python -I kestra.py read PATH``: the
    rows are the JSON lines it wrote, the peak is its own maximum RSS (ru_maxrss)."""
    results = []
    command = [sys.executable, "-I", "-S", "-c", PEAK_OF_CHILD,
               sys.executable, "-I", os.path.join(HERE, "kestra.py"), "read", path] + list(options)
    for _ in range(repeat):
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines, last = 0, b"\n"
        while True:
            chunk = child.stdout.read(1 << 20)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            last = chunk[-1:]
        errors = child.stderr.read()
        status = child.wait()
        seconds = time.perf_counter() - started
        child.stdout.close()
        child.stderr.close()
        errors, _, peak = errors.rpartition(b"\npeak KiB ")
        if status != 0 or last != b"\n" or not peak.strip().isdigit():
            raise RuntimeError("kestra.py read failed (%r): %s" % (status, errors[-2000:].decode(errors="replace")))
        results.append((lines, seconds, int(peak)))
    return results[0][0], min(seconds for _, seconds, _ in results), max(peak for _, _, peak in results)


def readers(official: str) -> tuple:
    """(name, python, script) of each in-process reader, in the order they are measured."""
    return (
        ("kestra.py read", sys.executable, OURS_READ.format(here=HERE)),
        ("kestra.py iter_read", sys.executable, OURS_ITER_READ.format(here=HERE)),
        ("official read", official, OFFICIAL_READ),
        ("amazon.ion stream", official, AMAZON_ION_STREAM),
    )


CLI_READS = (("CLI read", ()), ("CLI read --exact", ("--exact",)))


def file_figures(path: str, size: int, repeat: int, chosen_readers: tuple, cli_reads: tuple = CLI_READS,
                 report: Any = None) -> dict:
    """{name: (rows/s, best seconds, peak MiB)} of each reader and command line read of
    the file at ``path``, which holds ``size`` rows; ``report(name, figures)`` is called
    after each one. Raises RuntimeError when one does not read every row."""
    figures = {}

    def record(name: str, rows: int, seconds: float, peak_kib: int) -> None:
        if rows != size:
            raise RuntimeError("%s read %d rows of %d" % (name, rows, size))
        figures[name] = (size / seconds, seconds, peak_kib / 1024.0)
        if report is not None:
            report(name, figures[name])

    for name, python, code in chosen_readers:
        record(name, *measure(python, code, path, repeat))
    for name, flags in cli_reads:
        record(name, *measure_cli(path, repeat, *flags))
    return figures


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

    def report(name: str, figure: tuple) -> None:
        print("  %-21s %10.0f rows/s   %8.1f s   peak RSS %8.1f MiB" % ((name,) + figure))

    verdicts = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            for form, write in (("text", write_rows), ("binary", write_binary_rows)):
                path = os.path.join(folder, "rows-%d.%s" % (size, "ion" if form == "text" else "10n"))
                write(path, size)
                repeat = options.repeat if size <= 200000 else 1
                print("\n## %d rows, Ion %s (%.1f MiB), best of %d run(s)"
                      % (size, form, os.path.getsize(path) / 1048576.0, repeat))
                figures = file_figures(path, size, repeat, readers(official), report=report)
                speed = figures["kestra.py read"][0] / figures["official read"][0]
                raw = figures["kestra.py iter_read"][0] / figures["amazon.ion stream"][0]
                print("  kestra.py read is %.2fx the official read; iter_read is %.2fx amazon.ion's streaming"
                      " reader, which leaves its values unconverted" % (speed, raw))
                verdicts.append(("%d rows, %s: read >= 3x the official" % (size, form), speed >= 3, "%.2fx" % speed))
                if size >= 1000000:
                    peak = figures["kestra.py iter_read"][2]
                    verdicts.append(("%d rows, %s: iter_read peak RSS <= 64 MiB" % (size, form), peak <= 64,
                                     "%.1f MiB" % peak))
                    for name, _flags in CLI_READS:
                        peak = figures[name][2]
                        verdicts.append(("%d rows, %s: %s peak RSS <= 64 MiB" % (size, form, name), peak <= 64,
                                         "%.1f MiB" % peak))
                os.remove(path)
    print("\n## Targets")
    for what, met, figure in verdicts:
        print("  %-52s %-10s %s" % (what, figure, "met" if met else "MISSED"))


if __name__ == "__main__":
    main()
