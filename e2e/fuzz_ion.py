"""Fuzz Kestra.read / iter_read: any bytes must give values or an IonReadError, in bounded time.

    python e2e/fuzz_ion.py --seconds 60                 # atheris when installed, else built-in mutations
    python e2e/fuzz_ion.py --seconds 60 --engine mutate # the built-in mutations only
    python e2e/fuzz_ion.py --replay FILE...             # run saved inputs once each

Seeds: the Ion conformance files (``$KESTRA_ION_TESTS``, or ``../shared/ion-tests/iontestdata``
beside the project), rows shaped like Kestra's, and ``e2e/ion-corpus.txt``: the inputs a long
atheris run found to reach new code, minimized (``--pack DIR`` writes it from a corpus folder),
one base64 input a line. Each input is read as it is, or behind the
binary version marker (so that binary Ion gets as many cases as text), exact or not, with the
text decoded in pieces of 7, 64 or 65,536 bytes (the last is kestra.py's own), so that short
inputs also cross buffer boundaries. A finding is any other exception, or a read that takes
longer than ``--case-seconds``; each is saved under ``--findings`` (default
``/tmp/kestra-fuzz-ion``) and the run exits 1. ``run(seconds, seed)`` does the same for tests.
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import random
import signal
import sys
import time
import traceback
from typing import Dict, List, Optional

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import kestra  # noqa: E402

KESTRA_ROWS = (
    b'{employee_id:100.000000,first_name:"Steven",hire_date:1987-06-17,commission_pct:null,'
    b'at:2024-04-21T13:43:24.340Z,local:LocalDateTime::"2024-04-21T13:43:24.34",'
    b'zoned:ZonedDateTime::"2013-09-08T16:19:00+02:00[Europe/Paris]",big:123456789012345678901234567890,'
    b'ratio:1.1230000257492065e0,tags:["a","b"],blob:{{aGVsbG8=}},nested:{list:[1,2.5,{deep:[]}]}}\n'
    b"'''long\\\r\nstring''' '''second''' (sexp + 1 'quoted' $0) 0x1F 0b101 -0d-3 1_000 nan +inf\n"
)
# Pieces that make the known hard cases likely: deep nesting, long numbers, long strings with
# escaped line ends of every kind, symbol tables, version markers, binary headers.
TOKENS = [b"[", b"(", b"{a:", b"]", b")", b"}", b"9" * 5000, b"1d" + b"9" * 12, b"0x" + b"f" * 5000,
          b"'''", b"\\\r\n", b"\\\n", b"\\\r", b"\r\n", b"\r", b"$ion_1_0 ", b"$ion_symbol_table::",
          b"{imports:[{name:\"x\",max_id:99999999999}],symbols:[\"a\"]}", kestra._ION_BINARY_MARKER,
          b"\xee\x8e\x81", b"\xde\x9f", b"\x5f" + b"\xff" * 10, b"2000-01-01T", b"1e99999999999", b"$99999999"]
CHUNK_SIZES = (7, 64, 1 << 16)


CORPUS = HERE / "ion-corpus.txt"


def corpus_inputs() -> List[bytes]:
    """The kept corpus: whole inputs, their control byte included."""
    import base64

    return [base64.b64decode(line) for line in CORPUS.read_text().split()] if CORPUS.exists() else []


def seeds() -> List[bytes]:
    found = [KESTRA_ROWS]
    for folder in (os.environ.get("KESTRA_ION_TESTS"), str(HERE.parent.parent / "shared" / "ion-tests" / "iontestdata")):
        if folder and pathlib.Path(folder, "good").is_dir():
            for path in sorted(pathlib.Path(folder).rglob("*")):
                if path.is_file() and path.suffix in (".ion", ".10n") and path.stat().st_size <= 100000:
                    found.append(path.read_bytes())
            break
    return found


class Slow(Exception):
    """A read went past its time."""


def _alarm(signum: int, frame: object) -> None:
    raise Slow()


def read_once(data: bytes, case_seconds: float) -> Optional[str]:
    """Read ``data`` as the first byte says; None if that gave values or IonReadError,
    else what went wrong (an exception's type and place, or "slow")."""
    control, body = (data[0], data[1:]) if data else (0, b"")
    if control & 1 and not body.startswith(kestra._ION_BINARY_MARKER):
        body = kestra._ION_BINARY_MARKER + body
    exact = bool(control & 2)
    chunk, kestra._ION_READ_CHUNK = kestra._ION_READ_CHUNK, CHUNK_SIZES[(control >> 2) % 3]
    signal.setitimer(signal.ITIMER_REAL, case_seconds)
    try:
        for _ in kestra.Kestra.iter_read(io.BytesIO(body), exact=exact):
            pass
    except kestra.IonReadError:
        pass
    except Slow:
        return "slow: more than %.1f s" % case_seconds
    except Exception as exc:  # the finding itself
        place = traceback.extract_tb(exc.__traceback__)[-1]
        return "%s: %s (at %s, line %s)" % (type(exc).__name__, str(exc)[:80], place.name, place.lineno)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        kestra._ION_READ_CHUNK = chunk
    return None


def mutate(rng: random.Random, data: bytes, pool: List[bytes]) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        choice = rng.randrange(8)
        where = rng.randrange(len(data) + 1)
        if choice == 0 and data:
            data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            data[where:where] = bytes([rng.randrange(256)])
        elif choice == 2:
            del data[where:where + rng.randint(1, 16)]
        elif choice == 3 and data:
            end = min(len(data), where + rng.randint(1, 64))
            data[where:where] = data[where:end] * rng.randint(1, 300)
        elif choice == 4:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            data[where:where] = other[start:start + rng.randint(1, 256)]
        elif choice == 5:
            token = rng.choice(TOKENS)
            data[where:where] = token * (rng.randint(1, 400) if len(token) <= 3 else 1)
        elif choice == 6:
            data[:0] = bytes([rng.randrange(256)])  # a new control byte
        else:
            data = bytearray(data[:where])  # truncated
    return bytes(data)


def run(seconds: float, seed: int = 0, case_seconds: float = 5.0, findings_dir: Optional[str] = None) -> Dict[str, bytes]:
    """The built-in mutation loop for ``seconds``: {what went wrong: the first input that did it}."""
    rng = random.Random(seed)
    pool = [bytes([control]) + body for body in seeds() for control in (0, 1, 2, 4)] + corpus_inputs()
    found = {}  # type: Dict[str, bytes]
    cases = 0
    previous = signal.signal(signal.SIGALRM, _alarm)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            data = mutate(rng, rng.choice(pool), pool)
            cases += 1
            problem = read_once(data, case_seconds)
            if problem is not None:
                key = problem if problem.startswith("slow") else problem.split(" (at ")[0].split(":")[0] + problem[problem.find(" (at "):]
                if key not in found:
                    found[key] = data
                    save(findings_dir, len(found), problem, data)
            elif rng.random() < 0.01 and len(pool) < 5000:
                pool.append(data)  # keep some variety that reads
    finally:
        signal.signal(signal.SIGALRM, previous)
    run.cases = cases  # type: ignore[attr-defined]
    return found


def save(folder: Optional[str], number: int, problem: str, data: bytes) -> None:
    if folder:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "finding-%d.bin" % number)
        with open(path, "wb") as file:
            file.write(data)
        print("finding %d: %s (%d bytes, saved to %s)" % (number, problem, len(data), path), flush=True)


def run_atheris(seconds: float, case_seconds: float, corpus: Optional[str], findings_dir: str) -> int:
    import atheris

    signal.signal(signal.SIGALRM, _alarm)

    def one_input(data: bytes) -> None:
        problem = read_once(data, case_seconds)
        if problem is not None:
            raise RuntimeError("kestra.py finding: " + problem)

    arguments = [sys.argv[0], "-max_total_time=%d" % int(seconds), "-timeout=%d" % int(case_seconds + 5),
                 "-artifact_prefix=%s/" % findings_dir, "-rss_limit_mb=4096", "-print_final_stats=1"]
    if corpus:
        os.makedirs(corpus, exist_ok=True)
        for number, data in enumerate(seeds()):
            for control in (0, 1):
                path = os.path.join(corpus, "seed-%04d-%d" % (number, control))
                if not os.path.exists(path):
                    with open(path, "wb") as file:
                        file.write(bytes([control]) + data)
        for number, data in enumerate(corpus_inputs()):
            with open(os.path.join(corpus, "kept-%05d" % number), "wb") as file:
                file.write(data)
        arguments.append(corpus)
    os.makedirs(findings_dir, exist_ok=True)
    atheris.instrument_all()
    atheris.Setup(arguments, one_input)
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--case-seconds", type=float, default=5.0, help="a read longer than this is a finding")
    parser.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    parser.add_argument("--corpus", help="atheris's corpus folder (seeded with the conformance files)")
    parser.add_argument("--findings", default="/tmp/kestra-fuzz-ion")
    parser.add_argument("--replay", nargs="*", help="inputs to read once each")
    parser.add_argument("--pack", help="write the inputs of this (minimized) corpus folder to e2e/ion-corpus.txt")
    options = parser.parse_args()
    if options.pack:
        import base64

        inputs = sorted(path.read_bytes() for path in pathlib.Path(options.pack).iterdir() if path.is_file())
        CORPUS.write_text("".join(base64.b64encode(data).decode("ascii") + "\n" for data in inputs))
        print("%d inputs, %d bytes, written to %s" % (len(inputs), CORPUS.stat().st_size, CORPUS))
        return 0
    if options.replay is not None:
        signal.signal(signal.SIGALRM, _alarm)
        bad = 0
        for path in options.replay:
            problem = read_once(pathlib.Path(path).read_bytes(), options.case_seconds)
            print("%s: %s" % (path, problem or "values or IonReadError"))
            bad += problem is not None
        return 1 if bad else 0
    engine = options.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "mutate"
    if engine == "atheris":
        return run_atheris(options.seconds, options.case_seconds, options.corpus, options.findings)
    found = run(options.seconds, options.seed, options.case_seconds, options.findings)
    print("kestra.py Ion fuzz (built-in mutations, seed %d): %d cases in %.0f s, %d finding(s)"
          % (options.seed, run.cases, options.seconds, len(found)))  # type: ignore[attr-defined]
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
