"""Approvals waited for by many callers at once, against a real Kestra server.

    python bench/bench_approval.py [--callers 32] [--rounds 10]

The server comes from KESTRA_E2E_URL, KESTRA_E2E_USER and KESTRA_E2E_PASSWORD (the
defaults of e2e/server.py). The flow is e2e/flows/approval.yaml, created in a namespace of
its own and deleted at the end. Each caller, a thread with a Flow of its own, does
``--rounds`` times: create an execution, ``wait(until="PAUSED")``, ``resume`` with a text
and a file, ``wait`` for the end. The lag of a wait is when it returned minus the date the
server wrote for that state in the execution's history (the same machine's clock). It
prints the median, the 99th percentile and the worst lag of each wait, and every error.
"""

from __future__ import annotations

import argparse
import datetime
import os
import secrets
import sys
import threading
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import kestra  # noqa: E402


def state_date(execution: dict, state: str) -> float:
    """The last date the execution's history gives for ``state``, in epoch seconds."""
    for entry in reversed(execution["state"]["histories"]):
        if entry["state"] == state:
            base, _, fraction = entry["date"].rstrip("Z").partition(".")
            moment = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
            return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)
    raise AssertionError("no %s in the history of %s" % (state, execution["id"]))


def connect() -> kestra.Flow:
    flow = kestra.Flow(poll_interval=1, wait_for_completion=False, timeout=120)
    flow.hostname = os.environ.get("KESTRA_E2E_URL", "http://127.0.0.1:28080")
    flow.user = os.environ.get("KESTRA_E2E_USER", "admin@kestra.io")
    flow.password = os.environ.get("KESTRA_E2E_PASSWORD", "Admin1234")
    return flow


def caller(namespace: str, rounds: int, lags: dict, errors: list) -> None:
    flow = connect()
    for _ in range(rounds):
        try:
            started = flow.execute(namespace, "approval")
            paused = flow.wait(started, until="PAUSED")
            lags["PAUSED"].append(time.time() - state_date(paused.execution, "PAUSED"))
            resumed = flow.resume(started.execution_id, {"answer": "ok", "document": b"approved\n"})
            ended = flow.wait(resumed)
            lags["end"].append(time.time() - state_date(ended.execution, ended.status))
            if ended.status != "SUCCESS" or ended.outputs["show"]["values"]["answer"] != "ok":
                errors.append("%s ended %s: %s" % (ended.execution_id, ended.status, ended.outputs))
        except Exception as exc:  # noqa: BLE001 - every failure is a figure of this run
            errors.append("%s: %s" % (type(exc).__name__, exc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    admin = connect()
    admin._version()  # for the report's first line
    namespace = "kestra_py.bench.a" + secrets.token_hex(4)
    with open(os.path.join(HERE, "e2e", "flows", "approval.yaml"), encoding="utf-8") as file:
        source = file.read().replace("__NAMESPACE__", namespace)
    admin._make_request("POST", "/api/v1/main/flows", data=source, headers={"Content-Type": "application/x-yaml"})
    lags = {"PAUSED": [], "end": []}  # type: dict
    errors = []  # type: list
    started = time.time()
    try:
        threads = [threading.Thread(target=caller, args=(namespace, options.rounds, lags, errors))
                   for _ in range(options.callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        admin._make_request("DELETE", "/api/v1/main/flows/%s/approval" % namespace)
    print("Kestra %s, %d callers x %d rounds, %.1f s" % (admin._version_texts.get(admin._root(), "?"),
                                                       options.callers, options.rounds, time.time() - started))
    for name, values in lags.items():
        values.sort()
        if values:
            print("wait until %-6s n=%d  median %.3f s  p99 %.3f s  worst %.3f s" % (
                name, len(values), values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))],
                values[-1]))
    print("errors: %d%s" % (len(errors), "".join("\n  " + error for error in errors[:10])))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
