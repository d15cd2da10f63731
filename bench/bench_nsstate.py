"""A namespace's state used by many callers at once, against a real Kestra server.

    python bench/bench_nsstate.py [--callers 32] [--rounds 5]

The server comes from KESTRA_E2E_URL, KESTRA_E2E_USER and KESTRA_E2E_PASSWORD (the
defaults of e2e/server.py). Each caller, a thread with a Flow of its own and a namespace
of its own, does ``--rounds`` times: set five KV values of different types and read them
back; sync a folder of 20 files (one of 1 MB) to the namespace, sync it again (every file
compared, none sent), pull it back and compare it byte for byte; list the keys. Each call
is timed. It prints the median, the 99th percentile and the worst time of each kind of
call, and every error; the namespaces' keys and files are deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import filecmp
import os
import secrets
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import kestra  # noqa: E402

VALUES = {"text": "hello world", "count": 42, "price": decimal.Decimal("12.50"), "day": datetime.date(2024, 4, 21),
          "doc": {"a": [1, 2.5, None]}}


def connect() -> kestra.Flow:
    flow = kestra.Flow(timeout=120)
    flow.hostname = os.environ.get("KESTRA_E2E_URL", "http://127.0.0.1:28080")
    flow.user = os.environ.get("KESTRA_E2E_USER", "admin@kestra.io")
    flow.password = os.environ.get("KESTRA_E2E_PASSWORD", "Admin1234")
    return flow


def make_folder(root: str) -> None:
    for number in range(19):
        folder = os.path.join(root, "part%d" % (number % 4))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "file%02d.txt" % number), "w", encoding="utf-8") as file:
            file.write("line %d\n" % number * (number + 1))
    with open(os.path.join(root, "big.bin"), "wb") as file:
        file.write(os.urandom(1000 * 1000))


def timed(times: dict, kind: str, call: Any) -> Any:
    started = time.monotonic()
    result = call()
    times.setdefault(kind, []).append(time.monotonic() - started)
    return result


def caller(namespace: str, rounds: int, times: dict, errors: list) -> None:
    flow = connect()
    with tempfile.TemporaryDirectory() as folder:
        source, back = os.path.join(folder, "source"), os.path.join(folder, "back")
        make_folder(source)
        for _ in range(rounds):
            try:
                for key, value in VALUES.items():
                    timed(times, "kv_set", lambda: flow.kv_set(namespace, key, value))
                    got = timed(times, "kv_get", lambda: flow.kv_get(namespace, key, exact=True))
                    if got != value:
                        errors.append("%s: %r came back %r" % (key, value, got))
                timed(times, "sync (20 files)", lambda: flow.sync_files(namespace, source, "/data"))
                report = timed(times, "sync, nothing changed", lambda: flow.sync_files(namespace, source, "/data"))
                if report["uploaded"] or len(report["unchanged"]) != 20:
                    errors.append("the second sync sent %s" % report["uploaded"])
                timed(times, "pull (20 files)", lambda: flow.download_files(namespace, "/data", back))
                mismatch = filecmp.dircmp(source, back)
                if mismatch.diff_files or mismatch.left_only or mismatch.right_only:
                    errors.append("the pulled folder differs: %s" % mismatch.diff_files)
                keys = timed(times, "kv_list (5 keys)", lambda: flow.kv_list(namespace))
                if sorted(entry["key"] for entry in keys) != sorted(VALUES):
                    errors.append("kv_list gave %s" % [entry["key"] for entry in keys])
            except Exception as exc:  # noqa: BLE001 - every failure is a figure of this run
                errors.append("%s: %s" % (type(exc).__name__, exc))
        try:
            flow.delete_file(namespace, "/data")
            for key in VALUES:
                flow.kv_delete(namespace, key)
        except kestra.KestraError as exc:
            errors.append("cleaning up %s: %s" % (namespace, exc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    admin = connect()
    admin._version()  # for the report's first line
    prefix = "kestra_py.bench.s" + secrets.token_hex(4)
    times = {}  # type: dict
    errors = []  # type: list
    started = time.time()
    threads = [threading.Thread(target=caller, args=("%s.c%d" % (prefix, number), options.rounds, times, errors))
               for number in range(options.callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("Kestra %s, %d callers x %d rounds, %.1f s" % (admin._version_texts.get(admin._root(), "?"),
                                                       options.callers, options.rounds, time.time() - started))
    for name, values in times.items():
        values.sort()
        print("%-22s n=%d  median %.3f s  p99 %.3f s  worst %.3f s" % (
            name, len(values), values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))],
            values[-1]))
    print("errors: %d%s" % (len(errors), "".join("\n  " + error for error in errors[:10])))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
