"""Ion writing benchmark: Kestra.write against amazon.ion and json, row by row, in one run.

    python bench/bench_ion_write.py [--official 2.0.0] [--rows 1000000] [--repeat 1]

Each writer runs in a fresh process and writes ``--rows`` Kestra-shaped rows (an int, a
Decimal, an aware UTC datetime with microseconds, a naive datetime, a list, a None, a bool,
a string) to a file, taking them one at a time from the same generator, run in that
process: building the rows is part of every figure, and "rows alone" measures it.

- ``Kestra.write(path, rows)`` of kestra.py (this interpreter): rows/s and peak RSS (VmHWM);
- amazon.ion, in the official client's venv (its C extension writes the text):
  ``simpleion.dumps(row, binary=False, omit_version_marker=True)`` and a newline per row,
  to a text file. Without ``omit_version_marker`` each line would start with ``$ion_1_0``.
  It writes a naive datetime as a timestamp of unknown offset (``-00:00``), where
  Kestra.write writes ``LocalDateTime::"..."``, as Kestra does;
- ``json.dumps(row, default=...)`` and a newline per row, Decimal as its text and datetime
  as ISO 8601 (this interpreter): the floor, a C encoder with no Ion to write;
- the generator alone, each row dropped once made.

Goals: Kestra.write at least 3x amazon.ion's rows/s, and at most 64 MiB of peak RSS for
1,000,000 rows. The file Kestra.write made is read back whole with ``Kestra.iter_read``
(``exact=True``) and compared with the generator's rows, and every writer's file must hold
one line per row: a broken writer fails the run instead of being timed. Rows/s is the best
of ``--repeat`` rounds, each round running every writer once, in turn.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, Optional, Tuple

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "bench"))

from bench_emit import official_python  # noqa: E402  (the venv that holds amazon.ion)
from bench_ion import MEASURE, measure  # noqa: E402  (each script prints: rows, seconds, VmHWM in KiB)

# The rows, made one at a time; every script below starts with this, and so does the check.
ROWS = """
import datetime, decimal
def kestra_rows(count):
    utc = datetime.timezone.utc
    Decimal, DateTime = decimal.Decimal, datetime.datetime
    for i in range(count):
        yield {"id": i, "amount": Decimal("%d.%02d" % (i % 100000, i % 100)),
               "created": DateTime(2024, 4, 21, 13, i // 60 % 60, i % 60, i * 7919 % 1000000, tzinfo=utc),
               "local": DateTime(2024, 4, 21, 13, 43, i % 60, i % 10 * 100000),
               "tags": ["a", "b%d" % (i % 5)], "note": None, "ok": i % 2 == 1, "name": "row %d" % i}
"""
# Each gets the file's path in sys.argv[1]; {count} is the number of rows.
OURS_WRITE = """
sys.path.insert(0, {here!r})
from kestra import Kestra
started = time.perf_counter()
written = Kestra.write(sys.argv[1], kestra_rows({count}))
print(written, time.perf_counter() - started, peak())
"""
AMAZON_ION_DUMPS = """
from amazon.ion import simpleion
started = time.perf_counter()
written = 0
with open(sys.argv[1], "w", encoding="utf-8") as file:
    for row in kestra_rows({count}):
        file.write(simpleion.dumps(row, binary=False, omit_version_marker=True) + "\\n")
        written += 1
print(written, time.perf_counter() - started, peak())
"""
JSON_DUMPS = """
import json
def plain(value):
    return str(value) if isinstance(value, decimal.Decimal) else value.isoformat()
started = time.perf_counter()
written = 0
with open(sys.argv[1], "w", encoding="utf-8") as file:
    for row in kestra_rows({count}):
        file.write(json.dumps(row, default=plain) + "\\n")
        written += 1
print(written, time.perf_counter() - started, peak())
"""
ROWS_ALONE = """
started = time.perf_counter()
written = 0
for row in kestra_rows({count}):
    written += 1
print(written, time.perf_counter() - started, peak())
"""
OURS = "kestra.py write"
AMAZON = "amazon.ion dumps"
JSON = "json dumps"
ALONE = "rows alone"


def writers(official: str, count: int) -> tuple:
    """(name, python, script, whether it writes the file) of each writer, in the order they run."""
    return (
        (ALONE, sys.executable, ROWS_ALONE, False),
        (OURS, sys.executable, OURS_WRITE, True),
        (AMAZON, official, AMAZON_ION_DUMPS, True),
        (JSON, sys.executable, JSON_DUMPS, True),
    )


def script(template: str, count: int) -> str:
    return MEASURE + ROWS + template.format(here=HERE, count=count)


def line_count(path: str) -> int:
    lines = 0
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            lines += chunk.count(b"\n")
    return lines


def check_read_back(path: str, count: int) -> None:
    """Raise RuntimeError unless the file at ``path`` reads back, with kestra.py, as the
    ``count`` rows of the generator, in order and equal."""
    sys.path.insert(0, HERE)
    import kestra

    made = {}  # type: Dict[str, Any]
    exec(ROWS, made)
    missing = object()
    pairs = itertools.zip_longest(made["kestra_rows"](count), kestra.Kestra.iter_read(path, exact=True),
                                  fillvalue=missing)
    for number, (expected, read) in enumerate(pairs, 1):
        if expected is missing or read is missing:
            raise RuntimeError("Kestra.write's file holds %s rows, not %d" % ("more" if read is not missing
                                                                               else "fewer", count))
        if read != expected:
            raise RuntimeError("Kestra.write's row %d reads back as %r, not %r" % (number, read, expected))


def compile_kestra() -> None:
    """Import kestra.py once, so that its .pyc is current: a child compiling the module
    would count the compiler's memory (about 25 MiB) in its peak RSS."""
    subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, %r); import kestra" % HERE],
                   check=True)


def write_figures(official: str, count: int, repeat: int,
                  report: Optional[Callable[[str, tuple], None]] = None) -> Dict[str, Tuple[float, float, float]]:
    """{name: (rows/s, best seconds, highest peak MiB)} of each writer over ``repeat``
    rounds; ``report(name, figures)`` is called once each is done. Raises RuntimeError
    when a writer fails, writes the wrong number of lines, or (kestra.py) writes rows
    that do not read back as they were."""
    compile_kestra()
    chosen = writers(official, count)
    results = {name: [] for name, _, _, _ in chosen}  # type: Dict[str, list]
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            for name, python, template, writes in chosen:
                path = os.path.join(folder, name.replace(" ", "-") + ".out")
                rows, seconds, peak_kib = measure(python, script(template, count), path, 1)
                if rows != count:
                    raise RuntimeError("%s wrote %d rows of %d" % (name, rows, count))
                if writes:
                    lines = line_count(path)
                    if lines != count:
                        raise RuntimeError("%s's file holds %d lines for %d rows" % (name, lines, count))
                results[name].append((seconds, peak_kib))
        check_read_back(os.path.join(folder, OURS.replace(" ", "-") + ".out"), count)
    figures = {}
    for name, _, _, _ in chosen:
        seconds = min(seconds for seconds, _ in results[name])
        figures[name] = (count / seconds, seconds, max(peak for _, peak in results[name]) / 1024.0)
        if report is not None:
            report(name, figures[name])
    return figures


def writing_speeds(figures: Dict[str, Tuple[float, float, float]]) -> Tuple[float, float]:
    """(Kestra.write's speed over amazon.ion's with the rows' making counted, and with it
    subtracted: the writers alone). Every script makes its rows with the same generator,
    whose time "rows alone" measures."""
    alone = figures[ALONE][1]
    ours, theirs = figures[OURS][1], figures[AMAZON][1]
    return theirs / ours, (theirs - alone) / max(ours - alone, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", default="2.0.0",
                        help="official kestra version from PyPI (its venv holds amazon.ion)")
    parser.add_argument("--rows", type=int, default=1000000, help="rows each writer writes")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; rows/s is the best of them")
    options = parser.parse_args()
    official = official_python(options.official)
    print("# kestra.py Ion writing benchmark: Python %s, official kestra %s's venv for amazon.ion, %d CPUs"
          % (sys.version.split()[0], options.official, os.cpu_count() or 0))
    print("\n## %s rows, best of %d round(s)" % ("{:,}".format(options.rows), options.repeat))

    def report(name: str, figure: tuple) -> None:
        print("  %-17s %10.0f rows/s   %8.2f s   peak RSS %6.1f MiB" % ((name,) + figure))

    figures = write_figures(official, options.rows, options.repeat, report)
    print("  (the file Kestra.write made reads back with Kestra.iter_read as the rows written)")
    with_rows, speed = writing_speeds(figures)
    floor = figures[OURS][0] / figures[JSON][0]
    peak = figures[OURS][2]
    print("\n## Targets")
    for what, met, figure in (
        ("Kestra.write speed / amazon.ion dumps >= 3x", speed >= 3, "%.2fx" % speed),
        ("Kestra.write peak RSS <= 64 MiB", peak <= 64, "%.1f MiB" % peak),
    ):
        print("  %-50s %-10s %s" % (what, figure, "met" if met else "MISSED"))
    print("  %-50s %-10s %s" % ("the same, the rows' making counted in both", "%.2fx" % with_rows, "no goal"))
    print("  %-50s %-10s %s" % ("Kestra.write rows/s / json.dumps (the floor)", "%.2fx" % floor, "no goal"))
    print("  (speed: the time each writer takes, less the rows alone's, which every script also spends)")


if __name__ == "__main__":
    main()
