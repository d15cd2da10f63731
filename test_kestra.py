"""Tests for kestra.py, in the order of the module's sections.

Every emission test reads the output the way the Kestra worker does (read_like_server):
lines split as Java's BufferedReader splits them, the server's frame regex, strict JSON,
and the shape checks that make the server drop a line.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import decimal
import enum
import fractions
import io
import json
import logging
import math
import os
import pathlib
import pickle
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import OrderedDict, namedtuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kestra
from kestra import ContextNotFoundError, ExecutionContext, Kestra, KestraError, load_execution_context

HERE = os.path.dirname(os.path.abspath(__file__))
PROPERTY = settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# Helpers: the server's reading of task output ##################################

# Java's "." matches anything but line terminators, and those include U+0085,
# U+2028 and U+2029; readLine() itself splits on \n, \r and \r\n only.
SERVER_FRAME = re.compile("::(\\{[^\n\r\u0085\u2028\u2029]*\\})::")
JAVA_LINE_END = re.compile("\r\n|\r|\n")
SERVER_LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}


def java_lines(text):
    """The lines BufferedReader.readLine() returns for ``text``."""
    lines = JAVA_LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def strict_json(text):
    def no_constants(name):
        raise AssertionError("the server rejects %s" % name)

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), "duplicate keys %r" % keys
        return dict(pairs)

    return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)


def check_accepted(frame):
    """Fail where the server would log "Invalid outputs" and apply nothing from the line."""
    if "outputs" in frame:
        assert isinstance(frame["outputs"], dict)
    for metric in frame.get("metrics", []):
        assert isinstance(metric["name"], str) and metric["name"]
        assert metric["type"] in ("counter", "timer", "gauge")
        assert isinstance(metric["value"], (int, float)) and not isinstance(metric["value"], bool)
        assert all(isinstance(value, str) for value in metric.get("tags", {}).values())
    for entry in frame.get("logs", []):
        assert entry["level"] in SERVER_LOG_LEVELS
        assert isinstance(entry["message"], str)


def read_like_server(output):
    """(frames, plain lines) of ``output`` (str or bytes) as the worker reads them."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    frames, plain = [], []
    for line in java_lines(output):
        match = SERVER_FRAME.fullmatch(line)
        if match:
            frame = strict_json(match.group(1))
            check_accepted(frame)
            frames.append(frame)
        else:
            plain.append(line)
    return frames, plain


def frames_of(output):
    frames, plain = read_like_server(output)
    assert plain == [], "lines the server would log as plain text: %r" % plain[:5]
    return frames


@contextlib.contextmanager
def captured():
    """Point sys.stdout at a StringIO; yields a function returning what was written."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer.getvalue


def emitted(action):
    """The frames written by ``action()``."""
    with captured() as output:
        action()
    return frames_of(output())


def run_python(code, timeout=120, flags=(), **kwargs):
    """Run ``code`` in a new interpreter that imports this checkout's kestra.py."""
    env = dict(os.environ, PYTHONPATH=HERE, PYTHONHASHSEED="0")
    env.pop("PYTHONUNBUFFERED", None)  # it would hide a missing flush
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable] + list(flags) + ["-c", textwrap.dedent(code)],
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=kwargs.pop("stderr", subprocess.PIPE),
        env=env,
        timeout=timeout,
        **kwargs
    )


def assert_same(expected, actual, where="value"):
    """Equality that also compares types (True is not 1) and float signs (-0.0)."""
    assert type(expected) is type(actual), "%s: %r != %r" % (where, expected, actual)
    if isinstance(expected, dict):
        assert list(expected) == list(actual), where
        for key in expected:
            assert_same(expected[key], actual[key], "%s[%r]" % (where, key))
    elif isinstance(expected, list):
        assert len(expected) == len(actual), where
        for index, (left, right) in enumerate(zip(expected, actual)):
            assert_same(left, right, "%s[%d]" % (where, index))
    elif isinstance(expected, float):
        assert repr(expected) == repr(actual), where
    else:
        assert expected == actual, where


# Text that stresses the line protocol: line ends of every kind, the frame markers,
# quotes, escapes, NUL, lone surrogates, and any code point at all.
TRICKY = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "::{", "}::", "::", '"', "\\",
          "\x00", "\ud800", "\udfff", "\ufeff", "é", "\U0001f600", " "]
texts = st.lists(
    st.one_of(st.sampled_from(TRICKY), st.integers(0, 0x10FFFF).map(chr)), max_size=20
).map("".join)
long_texts = st.builds(lambda piece, count: piece * count, texts, st.integers(1, 2000))


def without_surrogates(text):
    return text.encode("utf-8", "replace").decode("utf-8")


def has_surrogate(text):
    return text != without_surrogates(text)


clean_texts = texts.map(without_surrogates)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | clean_texts | long_texts.map(without_surrogates)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(clean_texts, children, max_size=5),
    max_leaves=25,
)
# Values where some parts cannot be sent (non-finite floats, bytes, keys that are not
# strings, strings with surrogates): every such value must raise, never be sent.
mixed_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts | long_texts | st.floats() | st.binary(max_size=4),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(texts | st.integers() | st.booleans(), children, max_size=4),
    max_leaves=15,
)


def unsendable(value):
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, bytes):
        return True
    if isinstance(value, str):
        return has_surrogate(value)
    if isinstance(value, list):
        return any(unsendable(item) for item in value)
    if isinstance(value, dict):
        return any(not isinstance(key, str) or unsendable(key) or unsendable(item) for key, item in value.items())
    return False


@pytest.fixture(autouse=True)
def fresh_kestra_state(monkeypatch):
    """Each test starts without a cached logger or context."""
    monkeypatch.setattr(Kestra, "_logger", None)
    monkeypatch.setattr(kestra, "_context", None)
    logging.getLogger("Kestra").handlers[:] = []
    yield
    logging.getLogger("Kestra").handlers[:] = []


# Protocol and errors ##########################################################


def test_public_names_are_importable():
    for name in kestra.__all__:
        assert getattr(kestra, name) is not None, name
    assert issubclass(ContextNotFoundError, KestraError)
    assert issubclass(ContextNotFoundError, FileNotFoundError)


def test_import_loads_no_logging_network_or_heavy_modules():
    probe = run_python(
        """
        import json, sys
        import kestra
        kestra.Kestra.outputs({"a": 1})
        kestra.Kestra.counter("c", 1)
        with kestra.Kestra.timer("t"):
            pass
        sys.stderr.write(json.dumps(sorted(sys.modules)))
        """,
        flags=["-S"],  # no site: what is loaded is what kestra loads
    )
    assert probe.returncode == 0, probe.stderr
    loaded = set(json.loads(probe.stderr))
    heavy = {"logging", "urllib.request", "ssl", "http.client", "email", "threading",
             "typing", "datetime", "decimal", "dataclasses", "base64", "socket"}
    assert loaded & heavy == set()
    assert frames_of(probe.stdout)[0] == {"outputs": {"a": 1}}


def test_the_logger_is_what_loads_logging():
    probe = run_python(
        """
        import sys, kestra
        before = "logging" in sys.modules
        kestra.Kestra.logger().info("x")
        sys.stderr.write("%s %s" % (before, "logging" in sys.modules))
        """
    )
    assert probe.stderr.decode() == "False True"


def test_the_file_works_copied_alone_next_to_a_script(tmp_path):
    shutil.copy(os.path.join(HERE, "kestra.py"), str(tmp_path / "kestra.py"))
    script = tmp_path / "task.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            # python -I leaves the script's folder off sys.path: put it back, as a plain
            # "python task.py" (what Kestra runs) would.
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import kestra
            assert os.path.dirname(os.path.abspath(kestra.__file__)) == sys.path[0]
            assert not any("site-packages" in entry for entry in sys.path), sys.path
            kestra.Kestra.outputs({"ok": True})
            kestra.Kestra.logger().warning("from a copy")
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", str(script)], cwd=str(tmp_path), env={},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert frames_of(run.stdout) == [
        {"outputs": {"ok": True}},
        {"logs": [{"level": "WARN", "message": "from a copy"}]},
    ]


# Frame encoding ###############################################################


def test_format_is_the_frame_of_compact_ascii_json():
    assert Kestra.format({"outputs": {"a": 1, "b": "é"}}) == '::{"outputs":{"a":1,"b":"\\u00e9"}}::'


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", "tab\there"])
def test_line_breaking_characters_are_escaped(text):
    frame = Kestra.format({"outputs": {"t": text}})
    assert java_lines(frame) == [frame]
    assert SERVER_FRAME.fullmatch(frame)
    assert frames_of(frame) == [{"outputs": {"t": text}}]


def test_frame_markers_inside_strings_are_escaped_for_the_docker_runner():
    value = {"x}::": "a}::b::{c", "y": "::{"}
    frame = Kestra.format({"outputs": value})
    body = frame[3:-3]
    assert "}::" not in body and "::{" not in body
    assert frames_of(frame) == [{"outputs": value}]


def docker_regroup(line):
    """The Docker task runner's view of a long line: 1,024-byte pieces, glued back
    while a piece that started with ``::{`` has not yet seen one ending with ``}::``."""
    data = line.encode("utf-8")
    pieces = [data[at:at + 1024].decode("ascii") for at in range(0, len(data), 1024)]
    lines, group = [], None
    for piece in pieces:
        if group is None and piece.startswith("::{") and not piece.endswith("}::"):
            group = piece
        elif group is not None:
            group += piece
            if piece.endswith("}::"):
                lines.append(group)
                group = None
        else:
            lines.append(piece)
    if group is not None:
        lines.append(group)
    return lines


@pytest.mark.parametrize("offset", range(0, 12))
def test_a_long_frame_survives_the_docker_runner_cut_wherever_markers_fall(offset):
    # The value puts "}::" and "::{" at every position around the 1,024-byte cuts.
    value = "x" * offset + "}::{" * 800
    frame = Kestra.format({"outputs": {"v": value}})
    assert frames_of("\n".join(docker_regroup(frame))) == [{"outputs": {"v": value}}]


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime.datetime(2024, 4, 21, 13, 43, 24, 340000), "2024-04-21T13:43:24.340000"),
        (
            datetime.datetime(2024, 4, 21, 13, 43, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "2024-04-21T13:43:00+02:00",
        ),
        (datetime.date(1987, 6, 17), "1987-06-17"),
        (datetime.time(15, 30, 0, 123456), "15:30:00.123456"),
        (datetime.timedelta(seconds=90.5), "PT90.5S"),
        (datetime.timedelta(days=1), "PT86400S"),
        (datetime.timedelta(microseconds=-1500000), "PT-1.5S"),
        (decimal.Decimal("12.50"), "12.50"),
        (decimal.Decimal("1E+3"), "1E+3"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (pathlib.PurePosixPath("/data/in.csv"), "/data/in.csv"),
        ((1, "a"), [1, "a"]),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (OrderedDict([("z", 1), ("a", 2)]), {"z": 1, "a": 2}),
    ],
)
def test_documented_json_forms(value, expected):
    assert emitted(lambda: Kestra.outputs({"v": value})) == [{"outputs": {"v": expected}}]


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@dataclasses.dataclass
class Point:
    x: int
    label: Color


def test_enums_subclasses_namedtuples_and_dataclasses():
    Pair = namedtuple("Pair", "left right")
    value = {
        "color": Color.RED, "level": Level.HIGH, "name": Name("n"), "pair": Pair(1, 2),
        "point": Point(1, Color.RED), Color.RED: "enum key", Name("k"): "str subclass key",
    }
    assert emitted(lambda: Kestra.outputs(value)) == [{"outputs": {
        "color": "red", "level": 3, "name": "n", "pair": [1, 2], "point": {"x": 1, "label": "red"},
        "red": "enum key", "k": "str subclass key",
    }}]


def test_a_set_of_mixed_types_is_sent_in_its_own_order():
    mixed = {1, "a", 2.5, None}
    [frame] = emitted(lambda: Kestra.outputs({"s": mixed}))
    assert frame["outputs"]["s"] == list(mixed)


@pytest.mark.parametrize(
    "value, where",
    [
        ({"a": float("nan")}, "outputs['v']['a'] is nan"),
        ({"a": [1, float("inf")]}, "outputs['v']['a'][1] is inf"),
        (-float("inf"), "outputs['v'] is -inf"),
        (decimal.Decimal("NaN"), "outputs['v'] is Decimal('NaN')"),
        ({"t": (float("nan"),)}, "outputs['v']['t'][0] is nan"),
    ],
)
def test_non_finite_numbers_raise_naming_the_key(value, where):
    with captured() as output, pytest.raises(KestraError) as error:
        Kestra.outputs({"v": value})
    assert where in str(error.value) and "NaN or Infinity" in str(error.value)
    assert output() == ""


@pytest.mark.parametrize("key", [1, 1.5, True, None, (1, 2), Level.HIGH])
def test_keys_that_are_not_strings_raise(key):
    with captured() as output, pytest.raises(KestraError, match="keys must be strings"):
        Kestra.outputs({"nested": {key: 1}})
    assert output() == ""


@pytest.mark.parametrize(
    "value, message",
    [
        (b"raw", "is bytes, which is not text"),
        (bytearray(b"x"), "is bytearray, which is not text"),
        (object(), "is of type object, which has no JSON form"),
        (1j, "is of type complex"),
        (fractions.Fraction(1, 3), "is of type fractions.Fraction"),
        (Point, "is of type type"),
    ],
)
def test_values_without_a_json_form_raise_naming_path_and_type(value, message):
    with captured() as output, pytest.raises(KestraError) as error:
        Kestra.outputs({"rows": [{"cell": value}]})
    assert "outputs['rows'][0]['cell'] " + message in str(error.value)
    assert output() == ""


@pytest.mark.parametrize(
    "value, message",
    [
        ({"name": "bad \udc80 byte"}, "outputs['v']['name'] contains the surrogate code point U+DC80"),
        (["\ud83d\ude00"], "outputs['v'][0] contains the surrogate code point U+D83D"),
        ({"k\ud800": 1}, "outputs['v'] has the key 'k\\ud800'"),
        ((datetime.date(2024, 1, 1), "\udfff"), "outputs['v'][1] contains"),
    ],
)
def test_strings_with_surrogates_raise_naming_the_key(value, message):
    with captured() as output, pytest.raises(KestraError) as error:
        Kestra.outputs({"v": value})
    assert message in str(error.value)
    assert output() == ""


def test_astral_characters_are_text_and_pass():
    value = {"emoji": "\U0001f600", "\U0001d11e": "clef", "escaped": "\\ud83d"}
    assert emitted(lambda: Kestra.outputs(value)) == [{"outputs": value}]


def test_cycles_raise_instead_of_hanging():
    # In a child with a time and memory bound: an interpreter that skips the recursion
    # limit (CPython 3.13.0 does, for calls that fill in default arguments) would
    # otherwise recurse until the machine runs out of memory, and the suite would hang.
    probe = run_python(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from kestra import Kestra, KestraError
        looped = {"name": "a"}
        looped["children"] = [looped]
        listed = []
        listed.append(listed)
        for value in (looped, listed):
            try:
                Kestra.format({"outputs": {"v": value}})
            except KestraError as error:
                print(error)
        """,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.decode().splitlines() == [
        "outputs['v']['children'][0] contains itself (a reference cycle); JSON cannot "
        "represent cycles. Send a copy without the back-reference.",
        "outputs['v'][0] contains itself (a reference cycle); JSON cannot represent "
        "cycles. Send a copy without the back-reference.",
    ]


@dataclasses.dataclass
class Node:
    name: str
    child: object = None


def test_a_dataclass_that_contains_itself_is_a_cycle():
    node = Node("root")
    node.child = [node]
    with pytest.raises(KestraError, match=re.escape("outputs['tree']['child'][0] contains itself")):
        Kestra.outputs({"tree": node})


def test_keys_that_collide_once_converted_raise():
    with captured() as output, pytest.raises(KestraError, match="two keys that both become 'red'"):
        Kestra.outputs({"m": {"red": 1, Color.RED: 2}})
    assert output() == ""


def test_an_enum_whose_value_has_no_json_form_says_so():
    class Odd(enum.Enum):
        THING = object()

    with pytest.raises(KestraError, match=r"outputs\['v'\] is of type object.*value of <Odd.THING"):
        Kestra.outputs({"v": Odd.THING})


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="Python 3.11+ limits int digits")
def test_an_int_too_long_for_text_names_its_key():
    with pytest.raises(KestraError, match=re.escape("outputs['n'][1] is an int too long")):
        Kestra.outputs({"n": [1, 10 ** 5000]})


class FakeNumpy:
    """Stands for a numpy scalar or array: only __module__ and the method matter."""

    def __init__(self, items):
        self.items = items

    def tolist(self):
        return self.items


FakeNumpy.__module__ = "numpy"
datetime64 = type("datetime64", (), {"__module__": "numpy", "__str__": lambda self: "2024-01-02T03:04:05.123456789"})
bool_ = type("bool_", (), {"__module__": "numpy", "__index__": lambda self: 1, "__float__": lambda self: 1.0})


def test_numpy_values_are_sent_as_their_python_values():
    assert emitted(lambda: Kestra.outputs({"a": FakeNumpy([1, 2.5]), "t": datetime64()})) == [
        {"outputs": {"a": [1, 2.5], "t": "2024-01-02T03:04:05.123456789"}}
    ]
    with pytest.raises(KestraError, match="is nan"):
        Kestra.outputs({"a": FakeNumpy([float("nan")])})


def test_shared_but_acyclic_values_are_not_cycles():
    shared = {"k": 1}
    assert emitted(lambda: Kestra.outputs({"a": shared, "b": [shared, shared]})) == [
        {"outputs": {"a": {"k": 1}, "b": [{"k": 1}, {"k": 1}]}}
    ]


def test_too_deep_nesting_raises_a_kestra_error():
    deep = []
    for _ in range(sys.getrecursionlimit() * 2):
        deep = [deep]
    with pytest.raises(KestraError, match="nested too deeply"):
        Kestra.format({"outputs": {"d": deep}})


def test_frames_must_be_dicts():
    with pytest.raises(KestraError, match="a frame must be a dict"):
        Kestra.format(["outputs"])
    with pytest.raises(KestraError, match="expects a dict"):
        Kestra.outputs([("a", 1)])


@PROPERTY
@given(json_values)
def test_property_any_json_value_arrives_exactly(value):
    with captured() as output:
        Kestra.outputs({"v": value})
    frames = frames_of(output())
    assert len(frames) == 1
    assert_same({"outputs": {"v": value}}, frames[0])


@PROPERTY
@given(mixed_values)
def test_property_a_value_is_sent_exactly_or_refused(value):
    with captured() as output:
        try:
            Kestra.outputs({"v": value})
        except KestraError:
            assert unsendable(value), "refused a sendable value"
            assert output() == ""
            return
    assert not unsendable(value), "sent an unsendable value"
    assert_same([{"outputs": {"v": value}}], frames_of(output()))


# Frame writing ################################################################


def test_frames_go_where_sys_stdout_points_now():
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(first):
        Kestra.outputs({"n": 1})
    with contextlib.redirect_stdout(second):
        Kestra.outputs({"n": 2})
    assert frames_of(first.getvalue()) == [{"outputs": {"n": 1}}]
    assert frames_of(second.getvalue()) == [{"outputs": {"n": 2}}]


def test_frames_reach_pytest_capture(capsys):
    Kestra.outputs({"captured": True})
    assert frames_of(capsys.readouterr().out) == [{"outputs": {"captured": True}}]


def test_frames_reach_pytest_fd_capture(capfd):
    Kestra.outputs({"fd": True})
    assert frames_of(capfd.readouterr().out) == [{"outputs": {"fd": True}}]


def test_each_frame_is_one_write_of_a_whole_line():
    probe = run_python(
        """
        import os, sys
        from kestra import Kestra
        writes = []
        real_write = os.write
        def counting_write(fd, data):
            writes.append(bytes(data))
            return real_write(fd, data)
        os.write = counting_write
        Kestra.outputs({"small": 1})
        Kestra.outputs({"big": "x" * 300000})
        Kestra.counter("c", 1)
        Kestra.logger().info("log")
        os.write = real_write
        sys.stderr.write(repr([(len(w), w[:3], w[-4:]) for w in writes]))
        """
    )
    writes = eval(probe.stderr.decode())
    assert len(writes) == 4
    for _, start, end in writes:
        assert start == b"::{" and end == b"}::\n"
    assert len(frames_of(probe.stdout)) == 4


def test_a_sigkilled_script_has_lost_no_frame(tmp_path):
    script = """
        import os, signal
        from kestra import Kestra
        print("printed before")
        for index in range(10):
            Kestra.outputs({"index": index})
        Kestra.logger().info("last words")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    piped = run_python(script)
    assert piped.returncode == -signal.SIGKILL
    with open(str(tmp_path / "out"), "wb") as file:
        to_file = run_python(script, stdout=file)
    assert to_file.returncode == -signal.SIGKILL
    for output in (piped.stdout, (tmp_path / "out").read_bytes()):
        frames, plain = read_like_server(output)
        assert plain == ["printed before"]
        assert frames == [{"outputs": {"index": i}} for i in range(10)] + [
            {"logs": [{"level": "INFO", "message": "last words"}]}
        ]


def test_printed_text_and_frames_keep_their_order():
    probe = run_python(
        """
        from kestra import Kestra
        log = Kestra.logger()
        print("one")
        Kestra.outputs({"a": 1})
        print("two")
        log.error("e")
        print("three")
        log.debug("d")
        Kestra.counter("c", 1)
        print("four")
        """
    )
    kinds = []
    for line in java_lines(probe.stdout.decode()):
        kinds.append(line if not line.startswith("::") else json.dumps(strict_json(line[2:-2])))
    assert kinds == [
        "one", '{"outputs": {"a": 1}}', "two",
        '{"logs": [{"level": "ERROR", "message": "e"}]}', "three",
        '{"logs": [{"level": "DEBUG", "message": "d"}]}',
        '{"metrics": [{"name": "c", "type": "counter", "value": 1, "tags": {}}]}', "four",
    ]


def test_a_frame_after_an_open_line_starts_a_fresh_one_without_blank_lines():
    probe = run_python(
        """
        import sys
        from kestra import Kestra
        print("x", end="")
        Kestra.outputs({"a": 1})
        print("y")
        Kestra.outputs({"b": 2})
        sys.stdout.write("z\\r")
        Kestra.outputs({"c": 3})
        sys.stdout.writelines(["p", "q"])
        Kestra.logger().info("after writelines")
        print("", end="")
        Kestra.outputs({"d": 4})
        """
    )
    lines = java_lines(probe.stdout.decode())
    assert lines[0] == "x" and lines[2] == "y" and lines[4] == "z" and lines[6] == "pq"
    assert "" not in lines
    frames, plain = read_like_server(probe.stdout)
    assert plain == ["x", "y", "z", "pq"]
    assert [list(frame.values())[0] for frame in frames] == [
        {"a": 1}, {"b": 2}, {"c": 3}, [{"level": "INFO", "message": "after writelines"}], {"d": 4}
    ]


def test_the_scripts_own_line_end_after_a_frame_leaves_no_empty_line():
    probe = run_python(
        """
        import sys
        from kestra import Kestra
        print("x", end="")
        Kestra.outputs({"a": 1})
        print()
        sys.stdout.write("bar 50%")
        Kestra.outputs({"b": 2})
        Kestra.outputs({"b2": 2})
        sys.stdout.write("\\rbar 60%\\n")
        sys.stdout.write("w")
        Kestra.outputs({"c": 3})
        sys.stdout.write("\\r\\nnext\\n")
        print("y", end="")
        Kestra.outputs({"d": 4})
        print("and more")
        sys.stdout.write("cr\\r")
        Kestra.outputs({"e": 5})
        sys.stdout.write("\\nlast\\n")
        print()
        """
    )
    lines = java_lines(probe.stdout.decode())
    assert [line if not line.startswith("::") else "frame" for line in lines] == [
        "x", "frame", "bar 50%", "frame", "frame", "bar 60%", "w", "frame", "next", "y", "frame",
        "and more", "cr", "frame", "last", "",  # the script's own empty line stays
    ]


def test_the_stdout_wrapper_only_wraps_the_interpreters_own_stdout():
    probe = run_python(
        """
        import io, sys
        sys.stdout = mine = io.StringIO()
        import kestra
        wrapped = sys.stdout is mine
        sys.stdout = sys.__stdout__
        print(wrapped, sys.stdout.encoding == sys.__stdout__.encoding)
        """
    )
    assert probe.stdout.decode().split() == ["True", "True"]
    probe = run_python(
        """
        import sys, kestra
        print(type(sys.stdout).__name__, sys.stdout.fileno(), sys.stdout.isatty())
        """
    )
    assert probe.stdout.decode().split() == ["_LineTrackingStdout", "1", "False"]


def test_eight_threads_never_mix_two_frames():
    probe = run_python(
        """
        import threading
        from kestra import Kestra
        def emit(thread):
            for index in range(10000):
                Kestra.outputs({"thread": thread, "index": index, "pad": "p" * (index % 300)})
        threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        """,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    seen = {n: [] for n in range(8)}
    for frame in frames_of(probe.stdout):
        seen[frame["outputs"]["thread"]].append(frame["outputs"]["index"])
    assert all(indices == list(range(10000)) for indices in seen.values())


class ChoppyStream(io.StringIO):
    """A replaced stdout whose write() lets other threads run halfway through."""

    def write(self, text):
        middle = len(text) // 2
        super().write(text[:middle])
        time.sleep(0)
        return super().write(text[middle:])


def test_threads_never_mix_frames_on_a_replaced_stdout():
    buffer = ChoppyStream()

    def emit(thread):
        for index in range(500):
            Kestra.outputs({"thread": thread, "index": index})
            Kestra.logger().info("t%d-%d" % (thread, index))

    with contextlib.redirect_stdout(buffer):
        threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(frames_of(buffer.getvalue())) == 8 * 500 * 2


def test_frames_and_prints_from_other_threads_never_mix():
    probe = run_python(
        """
        import sys, threading
        from kestra import Kestra
        done = threading.Event()
        def printer():
            count = 0
            while not done.is_set():
                count += 1
                print("progress", "." * (count % 300))
                print("dot", end="")
                sys.stdout.write("\\r" if count % 2 else "")
        thread = threading.Thread(target=printer)
        thread.start()
        for index in range(20000):
            Kestra.outputs({"i": index})
        done.set()
        thread.join()
        """,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    frames, plain = read_like_server(probe.stdout)
    assert [frame["outputs"]["i"] for frame in frames] == list(range(20000))
    # A frame may land between the pieces print() writes, and end the line there; but
    # no frame is lost and no empty line appears (it would be an empty log entry).
    odd = [line for line in plain if not re.fullmatch("[progresdt .]+", line)]
    assert odd == []


def test_a_stdout_without_flush_still_gets_frames():
    class WriteOnly:
        def __init__(self):
            self.parts = []

        def write(self, text):
            self.parts.append(text)

    target = WriteOnly()
    with contextlib.redirect_stdout(target):
        print("before")
        Kestra.outputs({"a": 1})
    frames, plain = read_like_server("".join(target.parts))
    assert frames == [{"outputs": {"a": 1}}] and plain == ["before"]


def test_a_stdout_that_logs_while_written_to_does_not_hang():
    class Auditing(io.StringIO):
        def write(self, text):
            if "audit" not in text and not getattr(self, "inside", False):
                self.inside = True
                Kestra.logger().debug("audit: %d characters" % len(text))
                self.inside = False
            return super().write(text)

    target = Auditing()
    started = time.monotonic()
    with contextlib.redirect_stdout(target):
        Kestra.outputs({"a": 1})
    assert time.monotonic() - started < 5
    frames = frames_of(target.getvalue())
    assert {"outputs": {"a": 1}} in frames
    assert any("audit" in f.get("logs", [{}])[0].get("message", "") for f in frames)


def test_a_sigterm_handler_that_logs_during_a_big_frame_neither_hangs_nor_garbles():
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            """
            import signal, sys
            from kestra import Kestra
            def on_term(signum, frame):
                Kestra.logger().warning("stopping")
                Kestra.outputs({"interrupted": True})
                sys.exit(3)
            signal.signal(signal.SIGTERM, on_term)
            sys.stderr.write("ready\\n")
            sys.stderr.flush()
            Kestra.outputs({"big": "x" * 4000000})
            """
        )],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=HERE),
    )
    assert child.stderr.readline() == b"ready\n"
    time.sleep(0.5)  # the child is now blocked in the middle of the big frame
    child.send_signal(signal.SIGTERM)
    output, _ = child.communicate(timeout=30)
    assert child.returncode == 3
    frames, plain = read_like_server(output)
    assert frames == [
        {"logs": [{"level": "WARN", "message": "stopping"}]}, {"outputs": {"interrupted": True}}
    ]
    assert len(plain) == 1 and plain[0].startswith('::{"outputs":{"big":"xxx')  # cut, and ended


def test_a_full_non_blocking_pipe_is_waited_for():
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    stream = io.open(write_end, "w")
    received = []
    reader = threading.Thread(target=lambda: (time.sleep(0.3), received.append(os.fdopen(read_end, "rb").read())))
    reader.start()
    value = "v" * 1000000  # far more than a pipe holds
    with contextlib.redirect_stdout(stream):
        Kestra.outputs({"value": value})
        Kestra.outputs({"after": 1})
    stream.close()
    reader.join(30)
    assert frames_of(received[0]) == [{"outputs": {"value": value}}, {"outputs": {"after": 1}}]


def test_a_write_cut_by_an_exception_ends_its_line(monkeypatch):
    read_end, write_end = os.pipe()
    stream = io.open(write_end, "w")
    real_write = os.write
    calls = []

    def cut_write(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:10]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(fd, data)

    monkeypatch.setattr(kestra.os, "write", cut_write)
    with contextlib.redirect_stdout(stream):
        with pytest.raises(KeyboardInterrupt):
            Kestra.outputs({"cut": "x" * 100})
        Kestra.outputs({"next": 1})
    monkeypatch.setattr(kestra.os, "write", real_write)
    stream.close()
    with os.fdopen(read_end, "rb") as reader:
        frames, plain = read_like_server(reader.read())
    assert frames == [{"outputs": {"next": 1}}] and plain == ['::{"output']


def test_the_stdout_wrapper_behaves_like_a_text_stream():
    probe = run_python(
        """
        import copy, io, sys, kestra
        print(isinstance(sys.stdout, io.TextIOBase), type(copy.copy(sys.stdout)).__name__)
        with sys.stdout as same:
            print(same is sys.stdout)
        """
    )
    assert probe.stdout.decode().split() == ["True", "_LineTrackingStdout", "True"], probe.stderr


def test_a_rewrapped_stdout_is_tracked_too():
    probe = run_python(
        """
        import io, sys
        from kestra import Kestra
        sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8")
        Kestra.outputs({"first": 1})
        print("Progress: ", end="")
        Kestra.outputs({"done": True})
        print()
        sys.stdout.flush()
        """
    )
    frames, plain = read_like_server(probe.stdout)
    assert frames == [{"outputs": {"first": 1}}, {"outputs": {"done": True}}]
    assert plain == ["Progress: "]


@pytest.mark.skipif(not hasattr(select, "PIPE_BUF"), reason="POSIX pipes only")
def test_processes_sharing_a_pipe_never_mix_frames_up_to_pipe_buf():
    child = textwrap.dedent(
        """
        import sys
        from kestra import Kestra
        worker = int(sys.argv[1])
        for index in range(400):
            frame = Kestra.format({"outputs": {"w": worker, "i": index, "pad": ""}})
            Kestra.outputs({"w": worker, "i": index, "pad": "x" * (%d - len(frame) - 1)})
        """ % select.PIPE_BUF
    )
    read_end, write_end = os.pipe()
    env = dict(os.environ, PYTHONPATH=HERE)
    workers = [
        subprocess.Popen([sys.executable, "-c", child, str(n)], stdout=write_end, env=env)
        for n in range(4)
    ]
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as reader:
        for chunk in iter(lambda: reader.read(65536), b""):
            chunks.append(chunk)
    assert all(worker.wait(timeout=120) == 0 for worker in workers)
    output = b"".join(chunks)
    assert max(len(line) + 1 for line in output.split(b"\n")) == select.PIPE_BUF
    frames = frames_of(output)
    assert sorted((f["outputs"]["w"], f["outputs"]["i"]) for f in frames) == [
        (w, i) for w in range(4) for i in range(400)
    ]


def test_a_forked_child_can_emit_while_the_parent_holds_the_lock():
    probe = run_python(
        """
        import os, sys, time, kestra
        with kestra._emitter.lock:
            pid = os.fork()
            if pid == 0:
                kestra.Kestra.outputs({"from": "child"})
                os._exit(0)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.01)
            else:
                os.kill(pid, 9)
                sys.exit("the child hung on the inherited lock")
        kestra.Kestra.outputs({"from": "parent"})
        """
    )
    assert probe.returncode == 0, probe.stderr
    assert frames_of(probe.stdout) == [{"outputs": {"from": "child"}}, {"outputs": {"from": "parent"}}]


def test_a_broken_pipe_raises_a_kestra_error():
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = io.open(write_end, "w")
    try:
        with contextlib.redirect_stdout(stream):
            with pytest.raises(KestraError, match="could not write the frame.*BrokenPipeError"):
                Kestra.outputs({"a": 1})
            with pytest.raises(KestraError, match="did not receive it"):
                Kestra.counter("c", 1)
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def test_a_closed_or_missing_stdout_raises_a_kestra_error():
    closed = io.StringIO()
    closed.close()
    with contextlib.redirect_stdout(closed):
        with pytest.raises(KestraError, match="closed file"):
            Kestra.outputs({"a": 1})
    with contextlib.redirect_stdout(None):
        with pytest.raises(KestraError, match="sys.stdout is None"):
            Kestra.gauge("g", 1)


def test_the_logger_reports_write_failures_the_logging_way(capsys):
    closed = io.StringIO()
    closed.close()
    with contextlib.redirect_stdout(closed):
        Kestra.logger().error("lost")  # must not raise
    assert "--- Logging error ---" in capsys.readouterr().err


def test_a_broken_stdout_in_a_real_process_raises_kestra_error():
    probe = run_python(
        """
        import os, sys
        from kestra import Kestra, KestraError
        os.close(1)
        try:
            Kestra.outputs({"a": 1})
        except KestraError as error:
            sys.stderr.write("raised: %s" % error)
        """
    )
    assert "raised: could not write the frame to stdout" in probe.stderr.decode()


# Kestra: outputs, metrics, assets, logs ########################################


def test_outputs_metrics_and_assets_frames():
    asset = {"outputs": [{"id": "orders", "type": "TABLE"}]}

    def calls():
        Kestra.outputs({"a": 1})
        Kestra.counter("rows", 3, tags={"table": "t"})
        Kestra.gauge("depth", 2.5, description="queue")
        Kestra.timer("took", 1.25)
        Kestra.assets(asset)

    assert emitted(calls) == [
        {"outputs": {"a": 1}},
        {"metrics": [{"name": "rows", "type": "counter", "value": 3, "tags": {"table": "t"}}]},
        {"metrics": [{"name": "depth", "type": "gauge", "value": 2.5, "tags": {}, "description": "queue"}]},
        {"metrics": [{"name": "took", "type": "timer", "value": 1.25, "tags": {}}]},
        {"assets": asset},
    ]


def test_scripts_that_monkeypatch_send_see_one_call_per_call(monkeypatch):
    sent = []
    monkeypatch.setattr(Kestra, "_send", lambda map_: sent.append(map_))
    moment = datetime.datetime(2024, 1, 1)
    Kestra.outputs({"when": moment})
    Kestra.counter("c", 1)
    Kestra.timer("t", lambda: None)
    Kestra.assets({"inputs": []})
    assert sent[0] == {"outputs": {"when": moment}}
    assert sent[1] == {"metrics": [{"name": "c", "type": "counter", "value": 1, "tags": {}}]}
    assert sent[2]["metrics"][0]["type"] == "timer"
    assert sent[3] == {"assets": {"inputs": []}}
    assert len(sent) == 4


def test_a_four_argument_metrics_double_keeps_working(monkeypatch):
    calls = []
    monkeypatch.setattr(Kestra, "_metrics", lambda name, type_, value, tags=None: calls.append((name, type_, value, tags)))
    Kestra.counter("c", 2, {"k": "v"})
    Kestra.gauge("g", 1.5)
    assert calls == [("c", "counter", 2, {"k": "v"}), ("g", "gauge", 1.5, None)]


def test_metrics_accept_any_real_number():
    values = [7, 2.5, decimal.Decimal("1.25"), fractions.Fraction(1, 4), Level.HIGH]
    frames = emitted(lambda: [Kestra.counter("c", value) for value in values])
    assert [frame["metrics"][0]["value"] for frame in frames] == [7, 2.5, 1.25, 0.25, 3]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Kestra.counter("", 1), "non-empty str"),
        (lambda: Kestra.counter(None, 1), "non-empty str"),
        (lambda: Kestra.counter("c", True), "must be a number, got bool"),
        (lambda: Kestra.counter("c", "3"), "must be a number, got str"),
        (lambda: Kestra.gauge("g", float("nan")), "finite numbers"),
        (lambda: Kestra.gauge("g", decimal.Decimal("Infinity")), "finite numbers"),
        (lambda: Kestra.counter("c", None), "must be a number"),
        (lambda: Kestra._metrics("m", "histogram", 1), "unknown metric type 'histogram'"),
        (lambda: Kestra._metrics("m", "Counter", 1), "unknown metric type"),
        (lambda: Kestra.counter("c", 1, tags=["a"]), "dict of str -> str"),
        (lambda: Kestra.counter("c", 1, tags={"": "x"}), "tag names must be non-empty"),
        (lambda: Kestra.counter("c", 1, tags={1: "x"}), "tag names must be non-empty"),
        (lambda: Kestra.counter("c", 1, tags={"k": None}), "tag values must be text"),
        (lambda: Kestra.counter("c", 1, tags={"k": {"nested": 1}}), "tag values must be text"),
        (lambda: Kestra.counter("c", 1, tags={"k": float("nan")}), "NaN or Infinity"),
        (lambda: Kestra.counter("c", 1, description=3), "description of metric 'c' must be a str"),
        (lambda: Kestra.timer("t", -1), "negative duration"),
        (lambda: Kestra.timer("t", "PT1S"), "must be a number"),
    ],
)
def test_bad_metrics_raise_and_write_nothing(call, message):
    with captured() as output, pytest.raises(KestraError, match=re.escape(message)):
        call()
    assert output() == ""


def test_a_direct_metrics_call_sends_one_metric():
    assert emitted(lambda: Kestra._metrics("m", "gauge", 2, {"k": "v"})) == [
        {"metrics": [{"name": "m", "type": "gauge", "value": 2, "tags": {"k": "v"}}]}
    ]


@pytest.mark.parametrize(
    "value, message",
    [(10 ** 400, "not a finite number"), (bool_(), "must be a number, got numpy.bool_"),
     (type("Arr", (), {"__float__": lambda self: float([1, 2])})(), "not a finite number")],
)
def test_metric_values_a_double_cannot_hold_are_refused(value, message):
    with captured() as output, pytest.raises(KestraError, match=message):
        Kestra.counter("c", value)
    assert output() == ""


@pytest.mark.parametrize(
    "assets, message",
    [
        ({"id": "t", "type": "TABLE"}, "got the key(s) 'id', 'type'; to declare one asset, send {'outputs': [asset]}"),
        ({"outputs": {"id": "t"}}, "assets['outputs'] must be a list"),
        ({"outputs": [{"id": "bad id", "type": "TABLE"}]}, "assets['outputs'][0] has the id 'bad id'"),
        ({"inputs": [{"id": ""}]}, "assets['inputs'][0] has the id ''"),
        ({"outputs": [{"id": "t"}]}, "assets['outputs'][0] needs a non-empty 'type'"),
    ],
)
def test_assets_the_server_would_ignore_are_refused(assets, message):
    with captured() as output, pytest.raises(KestraError, match=re.escape(message)):
        Kestra.assets(assets)
    assert output() == ""


def test_tag_values_become_strings():
    tags = {"s": "x", "i": 3, "f": 1.5, "yes": True, "no": False, "day": datetime.date(2024, 1, 2),
            "color": Color.RED, "id": uuid.UUID(int=1)}
    [frame] = emitted(lambda: Kestra.counter("c", 1, tags=tags))
    assert frame["metrics"][0]["tags"] == {
        "s": "x", "i": "3", "f": "1.5", "yes": "true", "no": "false", "day": "2024-01-02",
        "color": "red", "id": "00000000-0000-0000-0000-000000000001",
    }


def test_the_gauge_docstring_says_older_servers_reject_it():
    assert "1.1" in Kestra.gauge.__doc__ and "reject" in Kestra.gauge.__doc__


class FakeClock:
    def __init__(self, *readings):
        self.readings = list(readings)

    def __call__(self):
        return self.readings.pop(0)


def timer_values(frames):
    return [frame["metrics"][0]["value"] for frame in frames]


def test_timers_send_seconds_from_the_monotonic_clock(monkeypatch):
    # 0.999 -> 1.001 crosses a second boundary: the official client sent a negative value.
    monkeypatch.setattr(kestra.time, "perf_counter", FakeClock(10.999, 11.001, 5.0, 6.5, 1.0, 3.0))

    def calls():
        Kestra.timer("callable", lambda: None)
        with Kestra.timer("block"):
            pass

        @Kestra.timer("decorated")
        def work():
            return "done"

        assert work() == "done"

    values = timer_values(emitted(calls))
    assert values == pytest.approx([0.002, 1.5, 2.0])


def test_a_timed_block_sends_real_seconds():
    def calls():
        Kestra.timer("sleep", lambda: time.sleep(0.05))
        with Kestra.timer("block"):
            time.sleep(0.05)

    for value in timer_values(emitted(calls)):
        assert 0.05 <= value < 5  # seconds, not milliseconds


def test_a_callable_timer_returns_the_result_and_passes_arguments_through_decorators():
    @Kestra.timer("add", tags={"op": "+"})
    def add(left, right=0):
        """Adds."""
        return left + right

    with captured() as output:
        assert Kestra.timer("c", lambda: 42) == 42
        assert add(1, right=2) == 3
    assert add.__name__ == "add" and add.__doc__ == "Adds."
    frames = frames_of(output())
    assert frames[1]["metrics"][0]["tags"] == {"op": "+"}


def test_a_failing_timed_call_is_still_measured_and_reraised():
    def boom():
        raise LookupError("inner")

    @Kestra.timer("decorated")
    def decorated():
        boom()

    with captured() as output:
        with pytest.raises(LookupError, match="inner"):
            Kestra.timer("callable", boom)
        with pytest.raises(LookupError):
            with Kestra.timer("block"):
                boom()
        with pytest.raises(LookupError):
            decorated()
    names = [frame["metrics"][0]["name"] for frame in frames_of(output())]
    assert names == ["callable", "block", "decorated"]


def test_timers_accept_timedelta_and_reject_bad_tags_before_running():
    ran = []
    [frame] = emitted(lambda: Kestra.timer("t", datetime.timedelta(minutes=1, milliseconds=5)))
    assert frame["metrics"][0]["value"] == 60.005
    with pytest.raises(KestraError):
        Kestra.timer("t", lambda: ran.append(1), tags={"k": None})
    with pytest.raises(KestraError):
        Kestra.timer("", lambda: ran.append(1))
    with pytest.raises(KestraError):
        Kestra.timer("t", tags={"k": [1]})
    assert ran == []


def test_a_timer_with_a_none_duration_is_refused():
    with pytest.raises(KestraError, match="the duration is None"):
        Kestra.timer("t", None)


def test_async_functions_are_timed_when_awaited_and_generators_refused():
    import asyncio

    @Kestra.timer("async")
    async def fetch():
        await asyncio.sleep(0.05)
        return "fetched"

    with captured() as output:
        assert asyncio.run(fetch()) == "fetched"
    [frame] = frames_of(output())
    assert frame["metrics"][0]["value"] >= 0.05
    with pytest.raises(KestraError, match="cannot time a generator function"):
        Kestra.timer("gen")(lambda: (yield))
    with pytest.raises(KestraError, match="coroutine or generator function"):
        Kestra.timer("async", fetch)


def test_the_timed_codes_exception_wins_over_a_failed_send(capsys):
    closed = io.StringIO()
    closed.close()
    with contextlib.redirect_stdout(closed):
        with pytest.raises(LookupError):
            with Kestra.timer("job"):
                raise LookupError("the real problem")
        with pytest.raises(LookupError):
            Kestra.timer("job", lambda: {}["x"])
        with pytest.raises(KestraError):  # nothing raised by the code: the failure is the error
            Kestra.timer("job", lambda: None)
    assert capsys.readouterr().err.count("kestra: the timer 'job' was not sent") == 2


def test_nested_uses_of_one_timer_object():
    timer = Kestra.timer("nested")
    with captured() as output:
        with timer:
            with timer:
                pass
    assert len(frames_of(output())) == 2


# Logging ######################################################################


@pytest.mark.parametrize(
    "levelno, name",
    [(1, "TRACE"), (5, "TRACE"), (9, "TRACE"), (10, "DEBUG"), (15, "DEBUG"), (20, "INFO"),
     (25, "INFO"), (29, "INFO"), (30, "WARN"), (35, "WARN"), (40, "ERROR"), (45, "ERROR"),
     (50, "ERROR"), (60, "ERROR")],
)
def test_level_table(levelno, name):
    [frame] = emitted(lambda: Kestra.logger().log(levelno, "m"))
    assert frame == {"logs": [{"level": name, "message": "m"}]}


def test_standard_methods_map_to_server_levels_in_call_order():
    def calls():
        log = Kestra.logger()
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
        log.info("i2")

    frames = emitted(calls)
    assert [(f["logs"][0]["level"], f["logs"][0]["message"]) for f in frames] == [
        ("DEBUG", "d"), ("INFO", "i"), ("WARN", "w"), ("ERROR", "e"), ("ERROR", "c"), ("INFO", "i2")
    ]


def test_the_logger_keeps_its_name_and_identity():
    log = Kestra.logger()
    assert log.name == "Kestra" and Kestra.logger() is log
    assert log is logging.getLogger("Kestra")
    assert sum(type(h).__name__ == "KestraHandler" for h in log.handlers) == 1


def test_the_logger_does_not_propagate_to_a_configured_root():
    root_records = []

    class Collect(logging.Handler):
        def emit(self, record):
            root_records.append(record)

    collector = Collect()
    logging.getLogger().addHandler(collector)
    try:
        frames = emitted(lambda: Kestra.logger().warning("once"))
    finally:
        logging.getLogger().removeHandler(collector)
    assert root_records == []
    assert frames == [{"logs": [{"level": "WARN", "message": "once"}]}]


def test_messages_carry_no_timestamp_and_keep_arguments():
    [frame] = emitted(lambda: Kestra.logger().info("%d rows from %s", 3, "s3"))
    assert frame["logs"][0]["message"] == "3 rows from s3"


def test_exceptions_and_stacks_follow_the_message_in_the_same_entry():
    def calls():
        try:
            {}["missing"]
        except KeyError:
            Kestra.logger().exception("lookup failed")
        Kestra.logger().warning("here", stack_info=True)

    failed, stacked = emitted(calls)
    message = failed["logs"][0]["message"]
    assert failed["logs"][0]["level"] == "ERROR"
    assert message.startswith("lookup failed\nTraceback (most recent call last):")
    assert "KeyError: 'missing'" in message
    assert stacked["logs"][0]["message"].startswith("here\nStack (most recent call last):")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_a_record_only_our_handler_sees_skips_logrecord(monkeypatch):
    made = []
    make_record = logging.Logger.makeRecord

    def counting(self, *args, **kwargs):
        made.append(args[4])
        return make_record(self, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "makeRecord", counting)
    log = Kestra.logger()
    frames = emitted(lambda: log.info("fast"))
    log.addHandler(Collect())
    frames += emitted(lambda: log.info("standard"))
    assert made == ["standard"]
    assert [f["logs"][0]["message"] for f in frames] == ["fast", "standard"]


def test_the_standard_path_still_reports_the_callers_line():
    collect = Collect()
    log = Kestra.logger()
    log.addHandler(collect)  # a second handler: every record takes logging's own path

    def user_function():
        log.info("direct")
        line = sys._getframe().f_lineno - 1

        def wrapper():
            log.warning("wrapped", stacklevel=2)

        wrapper()
        return line

    with captured() as output:
        line = user_function()
    assert [(r.funcName, r.lineno) for r in collect.records] == [
        ("user_function", line), ("user_function", line + 6)
    ]
    assert [f["logs"][0]["message"] for f in frames_of(output())] == ["direct", "wrapped"]


@pytest.mark.parametrize(
    "msg, args, expected",
    [("%d rows", (3,), "3 rows"), ("%(a)s-%(b)s", ({"a": 1, "b": 2},), "1-2"), ("plain", (), "plain"),
     (ValueError("not a str"), (), "not a str"), ("%s", ({},), "{}"), ("%s %s", (1, 2), "1 2")],
)
def test_the_fast_path_formats_messages_as_logging_does(msg, args, expected):
    fast = emitted(lambda: Kestra.logger().info(msg, *args))
    collect = Collect()
    Kestra.logger().addHandler(collect)
    standard = emitted(lambda: Kestra.logger().info(msg, *args))
    assert fast == standard == [{"logs": [{"level": "INFO", "message": expected}]}]
    assert collect.records[0].getMessage() == expected


def test_filters_disable_and_record_factories_are_honoured(monkeypatch):
    log = Kestra.logger()
    log.addFilter(lambda record: "secret" not in record.getMessage())
    assert emitted(lambda: (log.info("a secret"), log.info("public"))) == [
        {"logs": [{"level": "INFO", "message": "public"}]}
    ]
    log.filters[:] = []
    logging.disable(logging.CRITICAL)
    try:
        assert emitted(lambda: log.critical("disabled")) == []
    finally:
        logging.disable(logging.NOTSET)
    made = []
    default_factory = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        made.append(args[0])
        return default_factory(*args, **kwargs)

    logging.setLogRecordFactory(factory)
    try:
        emitted(lambda: log.info("made by the factory"))
    finally:
        logging.setLogRecordFactory(default_factory)
    assert made == ["Kestra"]


def test_a_bad_format_is_reported_the_logging_way(capsys):
    Kestra.logger().info("%d rows", "not a number")  # must not raise
    captured_now = capsys.readouterr()
    assert "--- Logging error ---" in captured_now.err and captured_now.out == ""


def test_a_propagating_logger_reaches_the_root_too():
    collect = Collect()
    logging.getLogger().addHandler(collect)
    log = Kestra.logger()
    log.propagate = True
    try:
        frames = emitted(lambda: log.info("both"))
    finally:
        log.propagate = False
        logging.getLogger().removeHandler(collect)
    assert frames == [{"logs": [{"level": "INFO", "message": "both"}]}]
    assert [r.getMessage() for r in collect.records] == ["both"]


@PROPERTY
@given(texts | long_texts)
def test_property_any_log_message_arrives_exactly(message):
    with captured() as output:
        Kestra.logger().info("%s", message)
    expected = message.encode("utf-8", "backslashreplace").decode("utf-8")
    assert frames_of(output()) == [{"logs": [{"level": "INFO", "message": expected}]}]


def test_surrogates_in_log_messages_are_shown_not_lost():
    [frame] = emitted(lambda: Kestra.logger().info("file \udcff.csv, emoji \U0001f600"))
    assert frame["logs"][0]["message"] == "file \\udcff.csv, emoji \U0001f600"


def test_json_formatter_formats_one_frame():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    frame = kestra.JsonFormatter().format(record)
    assert frames_of(frame) == [{"logs": [{"level": "WARN", "message": "a b"}]}]
    custom = kestra.JsonFormatter("%(name)s: %(message)s").format(record)
    assert frames_of(custom) == [{"logs": [{"level": "WARN", "message": "x: a b"}]}]
    assert isinstance(kestra.JsonFormatter(), logging.Formatter)
    from kestra import JsonFormatter, KestraHandler

    assert JsonFormatter is kestra.JsonFormatter and issubclass(KestraHandler, logging.Handler)


def test_basic_config_with_the_handler_routes_every_library():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        with captured() as output:
            logging.basicConfig(level=logging.DEBUG, handlers=[kestra.KestraHandler()], force=True)
            logging.getLogger("some.library").debug("lib debug")
            logging.getLogger("other").error("lib error")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert frames_of(output()) == [
        {"logs": [{"level": "DEBUG", "message": "lib debug"}]},
        {"logs": [{"level": "ERROR", "message": "lib error"}]},
    ]


def test_a_handler_with_a_plain_formatter_still_sends_frames():
    handler = kestra.KestraHandler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    record = logging.LogRecord("lib", logging.INFO, __file__, 1, "hello", (), None)
    assert emitted(lambda: handler.handle(record)) == [{"logs": [{"level": "INFO", "message": "[lib] hello"}]}]


def test_capture_logging_replaces_console_handlers_and_is_idempotent(tmp_path, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    console = logging.StreamHandler(sys.stderr)
    to_file = logging.FileHandler(str(tmp_path / "log.txt"))
    root.handlers[:] = [console, to_file]
    try:
        with captured() as output:
            handler = Kestra.capture_logging()
            assert Kestra.capture_logging() is handler
            logging.getLogger("lib").info("captured")
    finally:
        to_file.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    assert console not in root.handlers and capsys.readouterr().err == ""
    assert frames_of(output()) == [{"logs": [{"level": "INFO", "message": "captured"}]}]
    assert (tmp_path / "log.txt").read_text() == "captured\n"


def test_capture_logging_level_none_leaves_the_root_level():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.setLevel(logging.ERROR)
    try:
        Kestra.capture_logging(level=None)
        assert root.level == logging.ERROR
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_the_logger_survives_dict_config_and_keeps_a_level_the_script_set():
    import logging.config

    logging.getLogger("Kestra").setLevel(logging.WARNING)
    log = Kestra.logger()
    assert log.level == logging.WARNING
    logging.config.dictConfig({"version": 1, "handlers": {"k": {"class": "kestra.KestraHandler"}},
                               "loggers": {"lib": {"handlers": ["k"], "level": "INFO"}}})
    try:
        frames = emitted(lambda: (Kestra.logger().warning("still here"), logging.getLogger("lib").info("lib")))
    finally:
        logging.getLogger("lib").handlers[:] = []
        log.setLevel(logging.NOTSET)
    assert [f["logs"][0]["message"] for f in frames] == ["still here", "lib"]


def test_the_formatter_and_handler_pickle():
    assert type(pickle.loads(pickle.dumps(kestra.JsonFormatter()))) is kestra.JsonFormatter
    assert kestra.KestraHandler.__qualname__ == "KestraHandler"


def test_capture_logging_in_a_real_process_prints_no_plain_lines():
    probe = run_python(
        """
        import logging
        from kestra import Kestra
        logging.basicConfig(level=logging.INFO)
        Kestra.capture_logging()
        logging.getLogger("lib").warning("w")
        Kestra.logger().info("k")
        """
    )
    assert probe.stderr == b""
    assert frames_of(probe.stdout) == [
        {"logs": [{"level": "WARN", "message": "w"}]},
        {"logs": [{"level": "INFO", "message": "k"}]},
    ]


# Execution context ############################################################

CONTEXT = {"execution": {"id": "4Mo2"}, "flow": {"id": "f", "namespace": "n"},
           "labels": [{"key": "team", "value": "data"}], "items": 3, "my-key": True}


def encoded(data):
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.fixture
def no_context_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KESTRA_EXECUTION_CONTEXT_FILE", raising=False)
    monkeypatch.delenv("KESTRA_CONTEXT", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_context_from_each_source_in_order(no_context_env, monkeypatch):
    folder = no_context_env
    monkeypatch.setenv("KESTRA_CONTEXT", encoded({"source": "env"}))
    assert load_execution_context().source == "env"
    (folder / ".kestra-execution-context.json").write_text(json.dumps({"source": "default file"}))
    assert load_execution_context().source == "default file"
    (folder / "named.json").write_text(json.dumps({"source": "named file"}))
    monkeypatch.setenv("KESTRA_EXECUTION_CONTEXT_FILE", str(folder / "named.json"))
    assert load_execution_context().source == "named file"
    (folder / "given.json").write_text(json.dumps({"source": "argument"}))
    assert load_execution_context(folder / "given.json").source == "argument"
    assert load_execution_context(str(folder / "given.json")).source == "argument"


def test_no_context_names_all_four_places(no_context_env):
    with pytest.raises(ContextNotFoundError) as error:
        load_execution_context()
    message = str(error.value)
    for place in ("path=", "KESTRA_EXECUTION_CONTEXT_FILE", ".kestra-execution-context.json", "KESTRA_CONTEXT"):
        assert place in message
    assert isinstance(error.value, FileNotFoundError)


def test_a_missing_given_path_is_an_error_even_when_others_exist(no_context_env, monkeypatch):
    monkeypatch.setenv("KESTRA_CONTEXT", encoded(CONTEXT))
    with pytest.raises(ContextNotFoundError, match="no-such.json"):
        load_execution_context("no-such.json")


def test_broken_contexts_raise_clear_errors(no_context_env, monkeypatch):
    (no_context_env / "bad.json").write_text("{not json")
    with pytest.raises(KestraError, match="bad.json' is not valid JSON"):
        load_execution_context("bad.json")
    (no_context_env / "list.json").write_text("[1]")
    with pytest.raises(KestraError, match="holds a JSON list, not an object"):
        load_execution_context("list.json")
    monkeypatch.setenv("KESTRA_CONTEXT", "%%%")
    with pytest.raises(KestraError, match="KESTRA_CONTEXT is not base64-encoded JSON"):
        load_execution_context()


def test_context_is_a_read_only_mapping_with_attribute_access():
    context = ExecutionContext(json.loads(json.dumps(CONTEXT)))
    assert context.execution.id == "4Mo2" and context["flow"]["namespace"] == "n"
    assert context.labels[0].key == "team"
    assert context["items"] == 3 and callable(context.items) and context["my-key"] is True
    assert dict(context.flow) == {"id": "f", "namespace": "n"} and len(context) == 5
    assert context.get("absent") is None and "flow" in context
    with pytest.raises(AttributeError, match="has no 'absent' .*execution, flow"):
        context.absent
    with pytest.raises(AttributeError, match="read-only"):
        context.execution = {}
    with pytest.raises(TypeError):
        context["flow"] = {}
    context.labels.append("x")
    copy = context.to_dict()
    copy["flow"]["id"] = "changed"
    assert context.flow.id == "f" and len(context.labels) == 1
    assert "execution" in dir(context)
    assert pickle.loads(pickle.dumps(context)) == context
    assert repr(context).startswith("ExecutionContext({")


def test_kestra_context_is_loaded_on_first_use(no_context_env, monkeypatch):
    import kestra as module

    monkeypatch.setenv("KESTRA_CONTEXT", encoded(CONTEXT))
    assert module.context.execution.id == "4Mo2"
    monkeypatch.setenv("KESTRA_CONTEXT", encoded({"execution": {"id": "other"}}))
    assert module.context.execution.id == "4Mo2"  # loaded once


def test_introspection_never_reads_the_context(no_context_env):
    import inspect
    import pydoc
    from unittest import mock

    assert "context" not in dir(kestra) and "JsonFormatter" in dir(kestra)
    assert dict(inspect.getmembers(kestra))["Kestra"] is Kestra
    assert "load_execution_context" in pydoc.render_doc(kestra)
    mock.create_autospec(kestra)
    with pytest.raises(FileNotFoundError):
        kestra.context


def test_execution_context_copies():
    import copy

    context = ExecutionContext(json.loads(json.dumps(CONTEXT)))
    assert copy.copy(context) == context and copy.deepcopy(context) == context
    assert copy.deepcopy(context).to_dict() == CONTEXT


def test_importing_kestra_needs_no_context_but_using_it_does(tmp_path):
    probe = run_python(
        """
        import kestra
        from kestra import Kestra
        Kestra.outputs({"imported": True})
        try:
            kestra.context
        except FileNotFoundError as error:
            print("not found:", type(error).__name__)
        """,
        cwd=str(tmp_path),
        env={"KESTRA_CONTEXT": "", "KESTRA_EXECUTION_CONTEXT_FILE": ""},
    )
    frames, plain = read_like_server(probe.stdout)
    assert frames == [{"outputs": {"imported": True}}]
    assert plain == ["not found: ContextNotFoundError"]


# README #######################################################################


def readme_blocks(language):
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
        text = file.read()
    return re.findall(r"```%s\n(.*?)```" % language, text, re.S)


@pytest.mark.parametrize("block", readme_blocks("python"), ids=lambda block: block.splitlines()[-1][:40])
def test_readme_python_examples_run(block, tmp_path):
    (tmp_path / ".kestra-execution-context.json").write_text(json.dumps(CONTEXT))
    run = run_python(block, cwd=str(tmp_path), env={"KESTRA_CONTEXT": "", "KESTRA_EXECUTION_CONTEXT_FILE": ""})
    assert run.returncode == 0, run.stderr.decode()
    assert run.stderr == b""
    frames, plain = read_like_server(run.stdout)
    assert all(not line.startswith("::") for line in plain), plain
    if "Kestra." in block and "capture_logging" not in block.split("Kestra.")[-1]:
        assert frames, "the example sent nothing"


def test_readme_names_the_test_command_that_ci_extracts():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
        after_marker = file.read().split("<!-- test-command", 1)[1]
    command = re.search(r"```sh\n(.*?)\n```", after_marker, re.S).group(1)
    assert "python -m pytest" in command and "\n" not in command
    with open(os.path.join(HERE, ".ci", "run"), encoding="utf-8") as file:
        assert "<!-- test-command" in file.read()
