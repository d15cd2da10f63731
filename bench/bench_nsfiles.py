"""Namespace files benchmark: the peak memory of pushing and pulling one big file.

    python bench/bench_nsfiles.py [--mb 50]

A process of its own uploads a file of ``--mb`` MB of random bytes to a namespace of the
loopback fake Kestra of test_kestra.py (so the test extra must be installed), syncs the
folder holding it (which reads the server's copy back to compare it), and downloads it;
it then prints its peak RSS (VmHWM). The pulled file must be byte-identical to the
pushed one, or the run fails. The official ``kestra`` package has no namespace files, so
there is nothing to compare against: the goal is an absolute one, 64 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import test_kestra  # noqa: E402
from test_kestra import FakeKestra  # noqa: E402

ADMIN = ("admin@kestra.io", "Admin1234")

PUSH_PULL = """
import os, sys
sys.path.insert(0, {here!r})
from kestra import Flow
flow = Flow()
flow.hostname, flow.user, flow.password = sys.argv[1], {user!r}, {password!r}
folder, pulled = sys.argv[2], sys.argv[3]
flow.upload_files("bench", os.path.join(folder, "big.bin"), to="/data/big.bin")
report = flow.sync_files("bench", folder, "/data")
assert report["unchanged"] == ["/data/big.bin"], report
flow.download_files("bench", "/data/big.bin", pulled)
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
"""


def digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def push_pull_peak_mib(size: int) -> float:
    """The peak RSS (MiB) of a process that pushes, syncs and pulls a file of ``size``
    bytes; RuntimeError when it fails or the file comes back different."""
    # The fake keeps uploads in memory (it is not what is measured); let it keep this one.
    test_kestra.NSFILE_DATA_LIMIT = max(test_kestra.NSFILE_DATA_LIMIT, size + (1 << 20))
    with tempfile.TemporaryDirectory() as folder, FakeKestra() as fake:
        source = os.path.join(folder, "push")
        os.mkdir(source)
        with open(os.path.join(source, "big.bin"), "wb") as file:
            for _ in range(size >> 20):
                file.write(os.urandom(1 << 20))
            file.write(os.urandom(size & ((1 << 20) - 1)))
        pulled = os.path.join(folder, "pulled.bin")
        code = PUSH_PULL.format(here=HERE, user=ADMIN[0], password=ADMIN[1])
        child = subprocess.run([sys.executable, "-I", "-c", code, fake.url, source, pulled],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        if child.returncode != 0:
            raise RuntimeError("the push and pull failed: %s" % child.stderr.decode()[-2000:])
        if digest(pulled) != digest(os.path.join(source, "big.bin")):
            raise RuntimeError("the pulled file differs from the pushed one")
        if fake.violations or fake.errors:
            raise RuntimeError("the fake server saw %s" % (fake.violations or fake.errors)[0])
        return int(child.stdout.split()[-1]) / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the file in MB (default 50)")
    options = parser.parse_args()
    peak = push_pull_peak_mib(options.mb * 1000 * 1000)
    print("push, sync and pull of a %d MB namespace file: peak RSS %.1f MiB (goal <= 64 MiB)" % (options.mb, peak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
