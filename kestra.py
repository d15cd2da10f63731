"""kestra.py: the Python side of Kestra, in one file, with no dependencies.

Task scripts report outputs, metrics, logs and assets to the Kestra worker by
printing ``::{json}::`` lines; this module writes those lines so that each one
arrives exactly once, whole, parseable and in order::

    from kestra import Kestra

    Kestra.outputs({"rows": 42})
    Kestra.counter("processed", 42, tags={"source": "s3"})
    Kestra.logger().info("done")

The file can be copied next to a script and imported as is (Python 3.8+).
"""

from __future__ import annotations

import _thread
import collections.abc
import enum
import io
import json
import json.encoder
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - read by type checkers only
    import logging
    from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

__version__ = "0.1.0"

__all__ = [
    "Kestra",
    "KestraError",
    "ContextNotFoundError",
    "JsonFormatter",
    "KestraHandler",
    "ExecutionContext",
    "load_execution_context",
]


# Protocol and errors ##########################################################
# What the Kestra worker reads from a task's output, spelled out as data, and the
# one exception family every check in this module raises. The worker reads each
# line of stdout and stderr; a line matching ^::(\{.*})::$ is a frame, whose JSON
# object may hold "outputs", "metrics", "logs" and "assets".

#: Metric types the server knows; ``gauge`` needs Kestra 1.1 or newer.
_METRIC_TYPES = ("counter", "timer", "gauge")

#: Log levels the server accepts, from the Python level at or above which each
#: one applies: a custom level maps to the nearest standard level at or below it.
_LOG_LEVELS = ((40, "ERROR"), (30, "WARN"), (20, "INFO"), (10, "DEBUG"))
_LOWEST_LOG_LEVEL = "TRACE"

#: Where Kestra puts the execution context of a task (public, as in the official module).
CONTEXT_FILE = ".kestra-execution-context.json"
_CONTEXT_FILE_ENV = "KESTRA_EXECUTION_CONTEXT_FILE"
_CONTEXT_ENV = "KESTRA_CONTEXT"


class KestraError(Exception):
    """Something this library was asked to do cannot be done; the message says why and what to do."""


class ContextNotFoundError(KestraError, FileNotFoundError):
    """No Kestra execution context exists here: the script is not running inside a Kestra task.

    It is also a ``FileNotFoundError``, which is what the official client raised.
    """


# Frame encoding ###############################################################
# Turns a Python value into the JSON of one frame: strict JSON on one ASCII line,
# with a documented form for common non-JSON types and an error naming the key.

_json_string = json.encoder.encode_basestring_ascii
_PLAIN_SCALARS = frozenset((str, int, bool, type(None)))

if json.encoder.c_make_encoder is not None:
    # One C encoder, built once: no circular-reference markers (values reach it
    # only after _is_plain walked them, so they are acyclic) and no NaN.
    _encode_chunks = json.encoder.c_make_encoder(
        None, None, _json_string, None, ":", ",", False, False, False
    )
else:  # pragma: no cover - CPython always has the C accelerator
    _encoder = json.JSONEncoder(
        ensure_ascii=True, allow_nan=False, check_circular=False, separators=(",", ":")
    )

    def _encode_chunks(value: Any, indent_level: int) -> Any:
        return (_encoder.encode(value),)


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is already strict JSON: exact dict/list/tuple/str/int/bool/None
    and finite floats, with string keys. Cycles end in RecursionError.

    Every frame passes here, so it is written for speed: dicts first, and scalars
    checked inline rather than by a call. (Not with the scalar set bound as a default
    argument: CPython 3.13.0 skips the recursion limit for such calls, and a cycle
    then eats all memory.)
    """
    _scalars = _PLAIN_SCALARS
    cls = value.__class__
    if cls is dict:
        for key, item in value.items():
            if key.__class__ is not str:
                return False
            item_cls = item.__class__
            if item_cls in _scalars:
                continue
            if item_cls is float:
                if item - item != 0.0:  # nan and the infinities
                    return False
            elif not _is_plain(item):
                return False
        return True
    if cls in _scalars:
        return True
    if cls is float:
        return value - value == 0.0
    if cls is list or cls is tuple:
        for item in value:
            item_cls = item.__class__
            if item_cls in _scalars:
                continue
            if item_cls is float:
                if item - item != 0.0:
                    return False
            elif not _is_plain(item):
                return False
        return True
    return False


def _frame(payload: Any) -> str:
    """One frame, ``::{json}::`` without the line end: strict one-line ASCII JSON of
    ``payload``, or a KestraError naming what cannot be sent."""
    if payload.__class__ is not dict and not isinstance(payload, collections.abc.Mapping):
        raise KestraError(
            "a frame must be a dict, got %s; wrap it, for example "
            "{'outputs': {...}}" % _type_name(payload)
        )
    try:
        plain = _is_plain(payload)
    except RecursionError:  # a cycle, or very deep: the walker below tells which
        plain = False
    try:
        if not plain:
            payload = _to_json(payload, None, set())
        text = "".join(_encode_chunks(payload, 0))
    except RecursionError:
        raise KestraError(
            "the value is nested too deeply to be sent as JSON (Python's recursion "
            "limit was reached); flatten it or write it to an output file instead"
        ) from None
    except ValueError as exc:  # an int longer than sys.get_int_max_str_digits()
        _raise_first_problem(payload, _unwritable_int)
        raise KestraError("the value cannot be written as JSON: %s" % exc) from None
    # Surrogates (and astral characters, which are harmless) are escaped as \udXXX:
    # only then is the value searched for the ones that are not text.
    if "\\ud" in text:
        _raise_first_problem(payload, _surrogate_problem)
    if "}::" in text or "::{" in text:
        text = _guard_markers(text)
    return "::" + text + "::"


def _raise_first_problem(value: Any, problem: Callable) -> None:
    """Raise a KestraError for the first key or scalar of the plain JSON ``value`` for
    which ``problem`` returns a description; return if there is none."""
    found = _first_problem(value, None, problem)
    if found is not None:
        path, description = found
        raise KestraError("%s %s" % (_where(path), description))


def _first_problem(value: Any, path: Optional[tuple], problem: Callable) -> Optional[tuple]:
    cls = value.__class__
    if cls is dict:
        for key, item in value.items():
            why = problem(key)
            if why:
                return path, "has the key %r, which %s" % (key, why)
            found = _first_problem(item, (path, key), problem)
            if found is not None:
                return found
    elif cls is list or cls is tuple:
        for index, item in enumerate(value):
            found = _first_problem(item, (path, index), problem)
            if found is not None:
                return found
    else:
        why = problem(value)
        if why:
            return path, why
    return None


def _surrogate_problem(value: Any) -> Optional[str]:
    """Surrogate code points are not text: JSON would read an escaped pair of them as
    one other character, and the server cannot store a lone one."""
    if value.__class__ is not str:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            "contains the surrogate code point U+%04X, which is not text (it usually "
            "comes from bytes decoded with errors='surrogateescape'); clean it first, "
            "for example text.encode('utf-8', 'backslashreplace').decode()"
            % ord(value[exc.start])
        )
    return None


def _unwritable_int(value: Any) -> Optional[str]:
    if value.__class__ is not int:
        return None
    try:
        int.__repr__(value)
    except ValueError as exc:
        return "is an int too long to write as text (%s); send it as a string" % exc
    return None


def _where(path: Optional[tuple]) -> str:
    """Format a key path, kept as a linked list of (parent, step) tuples so that the
    slow path pays for the text only when it raises."""
    steps = []
    while path is not None:
        path, step = path
        steps.append(step)
    steps.reverse()
    if not steps:
        return "the value"
    text = []
    for index, step in enumerate(steps):
        if index == 0 and isinstance(step, str) and step.isidentifier():
            text.append(step)
        else:
            text.append("[%r]" % (step,))
    return "".join(text)


def _type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else "%s.%s" % (module, cls.__qualname__)


def _non_finite(value: Any, path: Optional[tuple]) -> KestraError:
    return KestraError(
        "%s is %r: JSON has no NaN or Infinity, and the server would drop the whole "
        "line, outputs and metrics included. Send None, a string or a finite number "
        "instead." % (_where(path), value)
    )


def _to_json(value: Any, path: Optional[tuple], active: set) -> Any:
    """A strict-JSON copy of ``value``: the slow path, for anything _is_plain refused.

    ``active`` holds the ids of the containers being converted, to catch cycles.
    """
    cls = value.__class__
    if cls in _PLAIN_SCALARS:
        return value
    if cls is float:
        if value - value == 0.0:
            return value
        raise _non_finite(value, path)
    if cls is dict or cls is list or cls is tuple:
        return _container_to_json(value, path, active)
    return _other_to_json(value, path, active)


def _enter(value: Any, path: Optional[tuple], active: set) -> int:
    """Mark ``value`` as being converted; a value met again inside itself is a cycle."""
    ident = id(value)
    if ident in active:
        raise KestraError(
            "%s contains itself (a reference cycle); JSON cannot represent cycles. "
            "Send a copy without the back-reference." % _where(path)
        )
    active.add(ident)
    return ident


def _container_to_json(value: Any, path: Optional[tuple], active: set) -> Any:
    ident = _enter(value, path, active)
    if isinstance(value, collections.abc.Mapping):
        result = {}  # type: Any
        pairs = value.items() if isinstance(value, dict) else ((key, value[key]) for key in value)
        for key, item in pairs:
            if key.__class__ is not str:
                key = _json_key(key, path)
            if key in result:
                raise KestraError(
                    "%s has two keys that both become %r in JSON; one value would be "
                    "lost. Rename one of them." % (_where(path), key)
                )
            result[key] = _to_json(item, (path, key), active)
    else:
        result = [_to_json(item, (path, index), active) for index, item in enumerate(value)]
    active.discard(ident)
    return result


def _json_key(key: Any, path: Optional[tuple]) -> str:
    if isinstance(key, enum.Enum) and isinstance(key.value, str):
        return key.value
    if isinstance(key, str):
        return str.__str__(key)
    raise KestraError(
        "%s has the key %r of type %s; keys must be strings. Use str(key) if you "
        "meant it as text." % (_where(path), key, _type_name(key))
    )


def _other_to_json(value: Any, path: Optional[tuple], active: set) -> Any:
    """The documented JSON form of a value that is not a plain JSON type."""
    if isinstance(value, enum.Enum):
        try:
            return _to_json(value.value, path, active)
        except KestraError as exc:
            raise KestraError("%s (it is the value of %r)" % (exc, value)) from None
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # bool cannot be subclassed, so this is a true int
        return int(value)
    if isinstance(value, float):
        return _to_json(float(value), path, active)
    if isinstance(value, (collections.abc.Mapping, list, tuple)):
        return _container_to_json(value, path, active)
    if isinstance(value, (set, frozenset)):
        items = _container_to_json(list(value), path, active)
        try:
            items.sort()
        except TypeError:  # mixed types: keep the set's own order
            pass
        return items
    datetime_module = sys.modules.get("datetime")
    if datetime_module is not None:
        if isinstance(value, (datetime_module.date, datetime_module.time)):
            return value.isoformat()
        if isinstance(value, datetime_module.timedelta):
            return _iso_duration(value)
    decimal_module = sys.modules.get("decimal")
    if decimal_module is not None and isinstance(value, decimal_module.Decimal):
        if not value.is_finite():
            raise _non_finite(value, path)
        return str(value)
    uuid_module = sys.modules.get("uuid")
    if uuid_module is not None and isinstance(value, uuid_module.UUID):
        return str(value)
    cls = type(value)
    if hasattr(cls, "__fspath__"):
        text = os.fspath(value)
        if isinstance(text, str):
            return text
    if hasattr(cls, "__dataclass_fields__") and not isinstance(value, type):
        ident = _enter(value, path, active)
        fields = sys.modules["dataclasses"].fields(value)
        result = _container_to_json({f.name: getattr(value, f.name) for f in fields}, path, active)
        active.discard(ident)
        return result
    if cls.__module__ == "numpy":
        if cls.__name__ == "datetime64":
            return str(value)  # ISO-8601 at the value's own precision
        if hasattr(value, "tolist"):
            return _to_json(value.tolist(), path, active)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise KestraError(
            "%s is %s, which is not text: decode it (value.decode()) or base64-encode "
            "it before sending." % (_where(path), _type_name(value))
        )
    raise KestraError(
        "%s is of type %s, which has no JSON form; send a str, number, bool, None, list or "
        "dict (or a datetime, Decimal, UUID, Path, Enum, set, tuple or dataclass), or "
        "convert it first, for example with str(value)." % (_where(path), _type_name(value))
    )


def _iso_duration(delta: Any) -> str:
    """A timedelta as an ISO-8601 duration in seconds, the form Java's Duration reads."""
    micros = (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1000000)
    text = "%d.%06d" % (seconds, fraction) if fraction else "%d" % seconds
    return "PT%s%sS" % (sign, text.rstrip("0").rstrip(".") if fraction else text)


def _guard_markers(text: str) -> str:
    """Escape ``}::`` and ``::{`` inside the JSON strings of a frame (the only place
    they can occur).

    The Docker task runner cuts lines at 1,024 bytes and glues the pieces back only
    while they do not end with ``}::``: a string holding those three characters at a
    cut would end the frame early. ``\\u007d`` and ``\\u007b`` decode to the same text.
    """
    if "}::" in text:
        text = text.replace("}::", "\\u007d::")
    if "::{" in text:
        text = text.replace("::{", "::\\u007b")
    return text


# Frame writing ################################################################
# Puts each frame on the script's stdout: on a fresh line, in one write, flushed
# before returning, never interleaved with another thread's frame or print.

_STDOUT_FD = 1


class _Emitter:
    """The lock every frame and every tracked print is written under, and the frames
    sent while this thread was already inside such a write.

    The lock is re-entrant and those frames are queued, then written right after the
    write in progress: a signal handler (Kestra stops a task with SIGTERM) or a
    replaced stdout that logs must neither wait for itself nor cut a line in two.
    """

    def __init__(self) -> None:
        self.lock = _thread.RLock()
        self.busy = False
        self.queued = []  # type: List[str]


_emitter = _Emitter()

if hasattr(os, "register_at_fork"):
    # A child forked while another thread held the lock would wait forever.
    os.register_at_fork(after_in_child=_emitter.__init__)


class _LineTrackingStdout:
    """Wraps the process's stdout to know where the script left its current line.

    A frame must start a line of its own: after ``print("x", end="")`` the next frame
    is written after a newline. The line end the script then writes (``\\n``, ``\\r``
    or ``\\r\\n``; or the ``\\n`` completing a ``\\r\\n`` a frame split) is dropped,
    as it would leave an empty line, an empty log entry. Writes take the frame lock,
    so that a print from another thread cannot slip in between. Everything else is
    delegated to the wrapped stream; ``sys.stdout = sys.__stdout__`` removes it.
    """

    _own = frozenset(("_stream", "_last", "_owed"))

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._last = "\n"  # the last character the script wrote
        self._owed = ""  # the line end a frame wrote for the script: "eol", "lf" or ""

    def write(self, text: str) -> int:
        emitter = _emitter
        with emitter.lock:
            if emitter.busy:  # printed by a signal handler in the middle of a write
                return self._stream.write(text)
            written = text
            if self._owed and text:
                if text[:2] == "\r\n" and self._owed == "eol":
                    written = text[2:]
                elif text[0] == "\n" or (text[0] == "\r" and self._owed == "eol"):
                    written = text[1:]
                self._owed = ""
            if written:
                emitter.busy = True  # a frame sent meanwhile is queued
                try:
                    self._stream.write(written)
                    self._last = written[-1]
                except BaseException:  # raised by a signal handler, perhaps
                    _write_queued(quietly=True)
                    raise
                finally:
                    emitter.busy = False
                if emitter.queued:
                    _write_queued()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __enter__(self) -> _LineTrackingStdout:
        self._stream.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return self._stream.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        if name in _LineTrackingStdout._own:  # copy and pickle probe before __init__
            raise AttributeError(name)
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return "<kestra line-tracking %r>" % (self._stream,)


io.TextIOBase.register(_LineTrackingStdout)


def _track_stdout_lines() -> None:
    stream = sys.stdout
    if stream is not None and stream is sys.__stdout__ and hasattr(stream, "write"):
        sys.stdout = _LineTrackingStdout(stream)


def _write_frame(frame: str) -> None:
    """Write one frame line to where ``sys.stdout`` points now, or raise KestraError."""
    emitter = _emitter
    emitter.lock.acquire()  # not a with block: every frame comes here, and it is shorter
    try:
        if emitter.busy:  # sent from inside a write on this thread: goes right after it
            emitter.queued.append(frame)
            return
        emitter.busy = True
        stream = sys.stdout
        open_fd = None  # a file descriptor holding a frame line not yet ended
        try:
            while True:
                if stream.__class__ is _LineTrackingStdout and stream._last == "\n" and stream._stream is _fd_cache[0]:
                    # The common case, kept short: the process's stdout, at a line start.
                    stream._stream.flush()  # what the script printed before comes first
                    fd = _fd_cache[1]
                    data = (frame + "\n").encode("utf-8")
                else:
                    fd, data = _prepare_line(stream, frame)
                if fd is not None:
                    open_fd = fd
                    try:
                        written = os.write(fd, data)
                    except BlockingIOError:  # a non-blocking stdout with a full pipe
                        written = 0
                    if written != len(data):
                        _write_rest(fd, data, written)
                    open_fd = None
                if not emitter.queued:
                    return
                frame = emitter.queued.pop(0)
        except (OSError, ValueError, AttributeError) as exc:
            _end_cut_line(open_fd)
            lost = len(emitter.queued)
            del emitter.queued[:]
            raise KestraError(
                "could not write the frame to stdout (%s: %s); the Kestra worker did "
                "not receive it%s" % (
                    type(exc).__name__, exc, " (nor %d frame(s) sent meanwhile)" % lost if lost else ""
                )
            ) from exc
        except BaseException:
            # A signal handler raised in the middle of the write (sys.exit on SIGTERM,
            # say): end the line it cut; what it sent before raising still goes out.
            _end_cut_line(open_fd)
            _write_queued(quietly=True)
            raise
        finally:
            emitter.busy = False
    finally:
        emitter.lock.release()


def _write_queued(quietly: bool = False) -> None:
    """Write the frames queued while this thread was inside a write (lock held)."""
    emitter = _emitter
    queued = emitter.queued[:]
    del emitter.queued[:]
    emitter.busy = False
    for frame in queued:
        try:
            _write_frame(frame)
        except KestraError:
            if not quietly:
                raise
            return


def _end_cut_line(fd: Optional[int]) -> None:
    """End a frame line cut short, so that the next frame starts a line of its own.
    (When the cut came before the first byte, this leaves one empty line.)"""
    if fd is not None:
        try:
            os.write(fd, b"\n")
        except OSError:
            pass


def _prepare_line(stream: Any, frame: str) -> tuple:
    """Every other case: flush, start a fresh line if the script left one open, then
    either write the line through a stream that is not a file, returning (None, None),
    or return (fd, bytes) for the caller to write."""
    if stream is None:
        raise KestraError(
            "sys.stdout is None, so the frame cannot reach the Kestra worker; restore "
            "sys.stdout (for example sys.stdout = sys.__stdout__) before sending"
        )
    if stream.__class__ is io.TextIOWrapper and stream is not sys.__stdout__ and _fd_of(stream) == _STDOUT_FD:
        # The script re-wrapped the process's stdout (to change its encoding, say).
        stream = sys.stdout = _LineTrackingStdout(stream)
    target = stream
    line = frame + "\n"
    if stream.__class__ is _LineTrackingStdout:
        target = stream._stream
        last = stream._last
        if last not in "\r\n":
            line = "\n" + line
            stream._owed = "eol"  # the script's next line end is one too many
        elif last == "\r":
            stream._owed = "lf"  # a "\n" completing the script's "\r\n" would be too
        stream._last = "\n"
    flush = getattr(target, "flush", None)  # print() needs only write()
    if flush is not None:
        flush()  # what the script printed before must come first
    fd = _fd_of(target)
    if fd is not None:
        return fd, line.encode("utf-8")
    target.write(line)
    if flush is not None:
        flush()
    return None, None


_fd_cache = (None, None)  # type: tuple  # (stream, its file descriptor)


def _fd_of(stream: Any) -> Optional[int]:
    """The file descriptor behind a genuine text file, to write a frame in one system
    call; None for anything else (pytest capture, StringIO, tee objects...)."""
    global _fd_cache
    if stream is _fd_cache[0]:
        return _fd_cache[1]
    if stream.__class__ is not io.TextIOWrapper:
        return None
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return None
    _fd_cache = (stream, fd)
    return fd


def _write_rest(fd: int, data: bytes, sent: int) -> None:
    # A partial write: a signal mid-way, or a non-blocking stdout with a full pipe.
    while sent < len(data):
        try:
            sent += os.write(fd, data[sent:])
        except BlockingIOError:
            import select

            select.select([], [fd], [])


# Kestra: outputs, metrics, assets, logs ########################################
# The task-side API of the official client, same names and call shapes; every
# call validates its input, builds one frame and sends it through Kestra._send.


_NO_DURATION = object()  # Kestra.timer(name) without a duration: a block or a decorator
_CO_GENERATOR, _CO_COROUTINE, _CO_ITERABLE_COROUTINE, _CO_ASYNC_GENERATOR = 0x20, 0x80, 0x100, 0x200
_CO_ASYNC = _CO_GENERATOR | _CO_COROUTINE | _CO_ITERABLE_COROUTINE | _CO_ASYNC_GENERATOR


class Kestra:
    """Report outputs, metrics, assets and logs from a Kestra script task.

    Example::

        Kestra.outputs({"file_count": 3})
        Kestra.counter("rows", 120, tags={"table": "orders"})
        with Kestra.timer("load"):
            pass
    """

    _logger = None  # type: Optional[logging.Logger]
    _logger_lock = _thread.RLock()

    @staticmethod
    def format(map_: Mapping[str, Any]) -> str:
        """The frame for ``map_``: ``::`` + strict one-line JSON + ``::``.

        Example: ``Kestra.format({"outputs": {"a": 1}}) == '::{"outputs":{"a":1}}::'``
        """
        return _frame(map_)

    @staticmethod
    def _send(map_: Mapping[str, Any]) -> None:
        """Write one frame for ``map_`` to stdout, flushed before returning."""
        _write_frame(_frame(map_))

    @staticmethod
    def _metrics(
        name: str,
        type_: str,
        value: Any,
        tags: Optional[Mapping[str, Any]] = None,
        description: Optional[str] = None,
    ) -> None:
        """Send one metric of type ``counter``, ``timer`` or ``gauge``."""
        if type_ not in _METRIC_TYPES:
            raise KestraError(
                "unknown metric type %r; the server knows only %s"
                % (type_, ", ".join(_METRIC_TYPES))
            )
        entry = {
            "name": _metric_name(name),
            "type": type_,
            "value": _timer_seconds(name, value) if type_ == "timer" else _metric_value(name, value),
            "tags": _metric_tags(name, tags),
        }
        if description is not None:
            if not isinstance(description, str):
                raise KestraError(
                    "the description of metric %r must be a str, got %s"
                    % (name, _type_name(description))
                )
            entry["description"] = description
        Kestra._send({"metrics": [entry]})

    @staticmethod
    def outputs(map_: Mapping[str, Any]) -> None:
        """Send task outputs; flows read them as ``{{ outputs.<task>.vars.<key> }}``.

        Each call sends one frame; the server merges the keys of successive calls
        (the last value of a key wins). Example: ``Kestra.outputs({"count": 3})``
        """
        if map_.__class__ is not dict:
            _require_mapping("Kestra.outputs", map_)
        Kestra._send({"outputs": map_})

    @staticmethod
    def assets(map_: Mapping[str, Any]) -> None:
        """Send asset lineage (Kestra 1.2+), shaped as the server reads it.

        Example: ``Kestra.assets({"outputs": [{"id": "orders", "type": "TABLE"}]})``
        """
        _check_assets(map_)
        Kestra._send({"assets": map_})

    @staticmethod
    def counter(
        name: str,
        value: Any,
        tags: Optional[Mapping[str, Any]] = None,
        description: Optional[str] = None,
    ) -> None:
        """Add ``value`` to a counter; counters with the same name and tags are summed.

        Example: ``Kestra.counter("rows", 120, tags={"table": "orders"})``
        """
        _send_metric(name, "counter", value, tags, description)

    @staticmethod
    def gauge(
        name: str,
        value: Any,
        tags: Optional[Mapping[str, Any]] = None,
        description: Optional[str] = None,
    ) -> None:
        """Set a gauge; the server keeps the last value. Needs Kestra 1.1 or newer:
        older servers reject the whole line. Example: ``Kestra.gauge("queue", 7)``
        """
        _send_metric(name, "gauge", value, tags, description)

    @staticmethod
    def timer(
        name: str,
        duration: Any = _NO_DURATION,
        tags: Optional[Mapping[str, Any]] = None,
        description: Optional[str] = None,
    ) -> Any:
        """Send a duration in seconds, or time a call, a block or a function.

        - ``Kestra.timer("t", 1.5)`` or ``Kestra.timer("t", timedelta(...))``: send it.
        - ``Kestra.timer("t", fn)``: run ``fn()``, send its duration (also when it
          raises) and return its result.
        - ``with Kestra.timer("t"):`` and ``@Kestra.timer("t")``: time the block or
          each call of the function.

        Durations are measured with a monotonic clock and sent in seconds. When the
        timed code raises, its exception propagates unchanged, even if the timer
        cannot be sent (that is then said on stderr).
        """
        if duration is _NO_DURATION:
            return _Timer(name, tags, description)
        if duration is None:
            raise KestraError(
                "Kestra.timer(%r, None): the duration is None; pass seconds, a timedelta "
                "or a function to run, or use `with Kestra.timer(%r):`" % (name, name)
            )
        if callable(duration):
            _metric_name(name)
            _metric_tags(name, tags)  # fail before a long run, not after it
            if _code_flags(duration) & _CO_ASYNC:
                raise KestraError(
                    "Kestra.timer(%r, fn): fn is a coroutine or generator function, which "
                    "returns before its work is done; time the awaiting or the loop with "
                    "`with Kestra.timer(%r):` instead" % (name, name)
                )
            return _run_timed(name, duration, (), {}, tags, description)
        _send_metric(name, "timer", duration, tags, description)
        return None

    @staticmethod
    def logger() -> logging.Logger:
        """The ``Kestra`` logger: records become log entries of the task, at their level.

        It does not propagate to the root logger, so a configured root logger does
        not print each record a second time. Example: ``Kestra.logger().info("hi")``
        """
        logger = Kestra._logger
        if logger is None:
            with Kestra._logger_lock:
                if Kestra._logger is None:
                    Kestra._logger = _make_kestra_logger()
                logger = Kestra._logger
        # logging.config.dictConfig disables the loggers that exist before it, by
        # default: the Kestra logger is there to be used, so it comes back on.
        logger.disabled = False
        return logger

    @staticmethod
    def capture_logging(level: Union[int, str, None] = "INFO") -> logging.Handler:
        """Send every library's ``logging`` records to Kestra, at their level.

        Adds a KestraHandler to the root logger, removes root handlers that print to
        stdout or stderr (the worker would log their lines a second time, as plain
        text) and sets the root level unless ``level`` is None. Calling it again
        changes nothing more. Returns the handler.
        Example: ``Kestra.capture_logging()`` then ``logging.getLogger("lib").warning("x")``
        """
        return _capture_logging(level)


def _require_mapping(caller: str, value: Any) -> None:
    if not isinstance(value, collections.abc.Mapping):
        raise KestraError(
            "%s expects a dict of name -> value, got %s" % (caller, _type_name(value))
        )


def _check_assets(assets: Any) -> None:
    """Refuse what the server would ignore or reject: it reads exactly ``inputs`` (asset
    ids) and ``outputs`` (assets with an id and a type)."""
    _require_mapping("Kestra.assets", assets)
    unknown = sorted(map(repr, set(assets) - {"inputs", "outputs"}))
    if unknown:
        raise KestraError(
            "Kestra.assets expects {'inputs': [...], 'outputs': [...]}, got the key(s) %s; "
            "to declare one asset, send {'outputs': [asset]}" % ", ".join(unknown)
        )
    import re

    for side in ("inputs", "outputs"):
        entries = assets.get(side, [])
        if not isinstance(entries, (list, tuple)):
            raise KestraError("assets[%r] must be a list, got %s" % (side, _type_name(entries)))
        for index, entry in enumerate(entries):
            where = "assets[%r][%d]" % (side, index)
            _require_mapping(where, entry)
            asset_id = entry.get("id")
            if not isinstance(asset_id, str) or not re.match(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,149}\Z", asset_id):
                raise KestraError(
                    "%s has the id %r; an asset id is 1 to 150 letters, digits, '.', '_' "
                    "or '-', starting with a letter or digit" % (where, asset_id)
                )
            if side == "outputs" and not (isinstance(entry.get("type"), str) and entry["type"]):
                raise KestraError("%s needs a non-empty 'type' (for example 'TABLE')" % where)


def _send_metric(name: str, type_: str, value: Any, tags: Any, description: Any) -> None:
    # The description travels only when given, so that a test double replacing
    # Kestra._metrics with the official four-argument signature keeps working.
    if description is None:
        Kestra._metrics(name, type_, value, tags)
    else:
        Kestra._metrics(name, type_, value, tags, description=description)


def _metric_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise KestraError("a metric name must be a non-empty str, got %r" % (name,))
    return name


def _metric_value(name: str, value: Any) -> Union[int, float]:
    """A finite int or float from any real number (int, float, Decimal, Fraction, numpy);
    the server stores a double, so an int beyond its range is refused too."""
    cls = type(value)
    if (
        isinstance(value, (bool, str, bytes))
        or (cls.__module__ == "numpy" and cls.__name__.startswith("bool"))
        or not (hasattr(cls, "__index__") or hasattr(cls, "__float__"))
    ):
        raise KestraError(
            "the value of metric %r must be a number, got %s %r" % (name, _type_name(value), value)
        )
    try:
        number = value.__index__() if hasattr(cls, "__index__") else float(value)
        finite = float(number) - float(number) == 0.0
    except (TypeError, ValueError, OverflowError) as exc:
        raise KestraError(
            "the value of metric %r (%s) is not a finite number: %s" % (name, _type_name(value), exc)
        ) from None
    if not finite:
        raise KestraError(
            "the value of metric %r is %r; metrics must be finite numbers (the server "
            "would drop the whole line)" % (name, value)
        )
    return number


def _timer_seconds(name: str, duration: Any) -> Union[int, float]:
    datetime_module = sys.modules.get("datetime")
    if datetime_module is not None and isinstance(duration, datetime_module.timedelta):
        duration = duration.total_seconds()
    seconds = _metric_value(name, duration)
    if seconds < 0:
        raise KestraError(
            "timer %r got a negative duration (%r s); durations are seconds >= 0"
            % (name, seconds)
        )
    return seconds


def _metric_tags(name: str, tags: Any) -> Dict[str, str]:
    """Tags as the server stores them: string keys and string values."""
    if tags is None:
        return {}
    if not isinstance(tags, collections.abc.Mapping):
        raise KestraError(
            "the tags of metric %r must be a dict of str -> str, got %s"
            % (name, _type_name(tags))
        )
    result = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise KestraError(
                "metric %r has the tag name %r; tag names must be non-empty str" % (name, key)
            )
        if value is True or value is False:
            text = "true" if value else "false"
        else:
            converted = None if value is None else _to_json(value, (None, key), set())
            if isinstance(converted, str):
                text = converted
            elif isinstance(converted, (int, float)) and not isinstance(converted, bool):
                text = repr(converted)
            else:
                raise KestraError(
                    "tag %r of metric %r is %r; tag values must be text or numbers "
                    "(the server rejects the line otherwise)" % (key, name, value)
                )
        result[key] = text
    return result


def _code_flags(function: Any) -> int:
    return getattr(getattr(function, "__code__", None), "co_flags", 0)


class _Timer:
    """What ``Kestra.timer(name)`` returns without a duration: a context manager
    and a decorator, both sending the elapsed seconds when the block or call ends."""

    def __init__(self, name: str, tags: Any, description: Any) -> None:
        self.name = _metric_name(name)
        _metric_tags(name, tags)  # fail before the block runs, not after it
        self.tags = tags
        self.description = description
        self._starts = []  # type: List[float]

    def __enter__(self) -> _Timer:
        self._starts.append(time.perf_counter())
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        _send_elapsed(self.name, self._starts.pop(), self.tags, self.description, exc_type is not None)

    def __call__(self, function: Callable) -> Callable:
        import functools

        flags = _code_flags(function)
        if flags & (_CO_GENERATOR | _CO_ASYNC_GENERATOR):
            raise KestraError(
                "@Kestra.timer(%r) cannot time a generator function: calling it only "
                "creates the generator; time the loop that consumes it with "
                "`with Kestra.timer(%r):`" % (self.name, self.name)
            )
        if flags & _CO_COROUTINE:

            @functools.wraps(function)
            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    result = await function(*args, **kwargs)
                except BaseException:
                    _send_elapsed(self.name, start, self.tags, self.description, True)
                    raise
                _send_elapsed(self.name, start, self.tags, self.description, False)
                return result

            return timed_coroutine

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            return _run_timed(self.name, function, args, kwargs, self.tags, self.description)

        return timed


def _run_timed(name: str, function: Callable, args: Any, kwargs: Any, tags: Any, description: Any) -> Any:
    start = time.perf_counter()
    try:
        result = function(*args, **kwargs)
    except BaseException:
        _send_elapsed(name, start, tags, description, True)
        raise
    _send_elapsed(name, start, tags, description, False)
    return result


def _send_elapsed(name: str, start: float, tags: Any, description: Any, code_raised: bool) -> None:
    elapsed = time.perf_counter() - start
    if not code_raised:
        _send_metric(name, "timer", elapsed, tags, description)
        return
    try:
        _send_metric(name, "timer", elapsed, tags, description)
    except KestraError as exc:
        # The timed code's own exception is what the script must see; say this aside.
        _say_on_stderr("kestra: the timer %r was not sent: %s" % (name, exc))


def _say_on_stderr(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


# Logging ######################################################################
# Records from Python's logging become "logs" frames at the matching Kestra level.
# The logging module costs start-up time, so it is imported on first use only.


_STANDARD_LOG_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "ERROR"}


def _log_level(levelno: int) -> str:
    """The Kestra level for a Python level: the nearest standard level at or below it."""
    name = _STANDARD_LOG_LEVELS.get(levelno)
    if name is not None:
        return name
    for threshold, name in _LOG_LEVELS:
        if levelno >= threshold:
            return name
    return _LOWEST_LOG_LEVEL


def _log_frame(levelno: int, message: str) -> str:
    # Built by hand: a log frame is always the same two fields, and this is the
    # hot path of every logging call.
    encoded = _json_string(message)
    if "\\ud" in encoded and _surrogate_problem(message):
        # A log line must not be lost over its content: show surrogates as \udXXX.
        encoded = _json_string(message.encode("utf-8", "backslashreplace").decode("utf-8"))
    if "}::" in encoded or "::{" in encoded:
        encoded = _guard_markers(encoded)
    return '::{"logs":[{"level":"%s","message":%s}]}::' % (_log_level(levelno), encoded)


_logging_names = {}  # type: Dict[str, Any]


def _logging_classes() -> Dict[str, Any]:
    """Define JsonFormatter and KestraHandler on first use (they subclass logging's)."""
    if _logging_names:
        return _logging_names
    import logging

    class JsonFormatter(logging.Formatter):
        """Formats a record as one Kestra log frame, ``{"logs": [{"level", "message"}]}``.

        The message is the record's message (``%(message)s`` unless you pass another
        format), followed by the traceback when the record has ``exc_info`` or
        ``stack_info``. Example::

            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(JsonFormatter())
        """

        def format(self, record: logging.LogRecord) -> str:
            return _log_frame(record.levelno, super().format(record))

    class KestraHandler(logging.Handler):
        """A logging handler that sends each record to Kestra as a log entry.

        Frames go to ``sys.stdout`` as it is when the record is emitted, after what
        the script printed before. Example::

            logging.basicConfig(level=logging.INFO, handlers=[KestraHandler()])
        """

        def __init__(self, level: Union[int, str] = 0) -> None:
            super().__init__(level)
            self.setFormatter(JsonFormatter())

        def emit(self, record: logging.LogRecord) -> None:
            try:
                text = self.format(record)
                if not isinstance(self.formatter, JsonFormatter):
                    text = _log_frame(record.levelno, text)
                _write_frame(text)
            except RecursionError:
                raise
            except Exception:
                self.handleError(record)

    class _KestraLogger(logging.Logger):
        """The class of the ``Kestra`` logger: a record that only our handler would see,
        formatted the default way, is written without building a LogRecord (most of
        the cost of a logging call); anything else takes logging's standard path."""

        def _log(self, level: int, msg: Any, args: Any, exc_info: Any = None, extra: Any = None,
                 stack_info: bool = False, stacklevel: int = 1) -> None:
            if not (exc_info or stack_info or extra is not None) and self._frames_only(level):
                try:
                    _write_frame(_log_frame(level, _log_message(msg, args)))
                    return
                except Exception:  # logging's own path, below, reports it the logging way
                    pass
            # This frame sits between the caller and Logger._log: findCaller skips it.
            super()._log(level, msg, args, exc_info, extra, stack_info, stacklevel + 1)

        def _frames_only(self, level: int) -> bool:
            """Whether our handler, formatting the default way, is all a record would meet."""
            if self.filters or self.propagate or self.disabled or len(self.handlers) != 1:
                return False
            handler = self.handlers[0]
            formatter = handler.formatter
            return (
                handler.__class__ is KestraHandler and not handler.filters and level >= handler.level
                and formatter.__class__ is JsonFormatter and formatter._fmt == "%(message)s"
                and logging.getLogRecordFactory() is logging.LogRecord
            )

    for cls in (JsonFormatter, KestraHandler, _KestraLogger):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__  # so that pickle finds them: kestra.JsonFormatter
    _logging_names.update(
        JsonFormatter=JsonFormatter, KestraHandler=KestraHandler, _KestraLogger=_KestraLogger
    )
    globals().update(_logging_names)
    return _logging_names


def _log_message(msg: Any, args: Any) -> str:
    """What LogRecord.getMessage() would return for ``msg`` and ``args``."""
    message = msg if msg.__class__ is str else str(msg)
    if not args:
        return message
    if len(args) == 1:  # logging passes a lone non-empty mapping as the mapping itself
        only = args[0]
        if only and only.__class__ not in _PLAIN_SCALARS and isinstance(only, collections.abc.Mapping):
            args = only
    return message % args


def _make_kestra_logger() -> logging.Logger:
    import logging

    classes = _logging_classes()
    handler_class = classes["KestraHandler"]
    logger = logging.getLogger("Kestra")
    if type(logger) is logging.Logger:  # not when the script installed its own class
        logger.__class__ = classes["_KestraLogger"]
    if logger.level == logging.NOTSET:  # everything; the task's logLevel filters
        logger.setLevel(1)
    logger.propagate = False
    if not any(isinstance(handler, handler_class) for handler in logger.handlers):
        logger.addHandler(handler_class())
    return logger


def _capture_logging(level: Union[int, str, None]) -> logging.Handler:
    import logging

    handler_class = _logging_classes()["KestraHandler"]
    root = logging.getLogger()
    consoles = {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}
    if sys.stdout.__class__ is _LineTrackingStdout:
        consoles.add(sys.stdout._stream)
    existing = None
    for handler in list(root.handlers):
        if isinstance(handler, handler_class):
            existing = handler
        elif type(handler) is logging.StreamHandler and handler.stream in consoles:
            root.removeHandler(handler)
    if existing is None:
        existing = handler_class()
        root.addHandler(existing)
    if level is not None:
        root.setLevel(level)
    return existing


# Execution context ############################################################
# The JSON description of the running execution that Kestra 2.0 gives a task:
# a file in the working directory, or base64 JSON in an environment variable.


class ExecutionContext(collections.abc.Mapping):
    """A read-only view of the execution context, with attribute access.

    Nested objects are ExecutionContext too; keys that are not identifiers, or that
    collide with a method name such as ``items``, are reached with ``ctx["items"]``.
    Example: ``load_execution_context().execution.id``
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getitem__(self, key: str) -> Any:
        return _context_value(self._data[key])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy and pickle probe these before _data exists
            raise AttributeError(name)
        try:
            return _context_value(self._data[name])
        except KeyError:
            raise AttributeError(
                "the execution context has no %r (it has: %s)"
                % (name, ", ".join(sorted(self._data)) or "nothing")
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the execution context is read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __dir__(self) -> List[str]:
        return sorted(set(object.__dir__(self)) | {k for k in self._data if k.isidentifier()})

    def __reduce__(self) -> Any:
        return (ExecutionContext, (self._data,))

    def __repr__(self) -> str:
        return "ExecutionContext(%r)" % (self._data,)

    def to_dict(self) -> Dict[str, Any]:
        """A deep copy of the context as plain dicts and lists."""
        return json.loads(json.dumps(self._data))


def _context_value(value: Any) -> Any:
    if isinstance(value, dict):
        return ExecutionContext(value)
    if isinstance(value, list):
        return [_context_value(item) for item in value]
    return value


def load_execution_context(path: Union[str, os.PathLike, None] = None) -> ExecutionContext:
    """Read the execution context Kestra gave this task.

    From ``path`` when given (it must exist); otherwise from the file named by
    ``KESTRA_EXECUTION_CONTEXT_FILE``, else ``.kestra-execution-context.json`` in the
    working directory, else the base64 JSON in ``KESTRA_CONTEXT``. Raises
    ContextNotFoundError, naming all of them, when there is none.
    """
    if path is not None:
        if not os.path.isfile(path):
            raise ContextNotFoundError(
                "no execution context file at %r (the path given to "
                "load_execution_context); check the path, or call it without one to "
                "use what Kestra provides" % os.fspath(path)
            )
        return ExecutionContext(_read_context_file(path))
    tried = ["load_execution_context(path=...): not given"]
    env_file = os.environ.get(_CONTEXT_FILE_ENV)
    if env_file:
        if os.path.isfile(env_file):
            return ExecutionContext(_read_context_file(env_file))
        tried.append("%s=%r: no such file" % (_CONTEXT_FILE_ENV, env_file))
    else:
        tried.append("%s: not set" % _CONTEXT_FILE_ENV)
    if os.path.isfile(CONTEXT_FILE):
        return ExecutionContext(_read_context_file(CONTEXT_FILE))
    tried.append("%s: not in %s" % (CONTEXT_FILE, os.getcwd()))
    encoded = os.environ.get(_CONTEXT_ENV)
    if encoded:
        return ExecutionContext(_decode_context_env(encoded))
    tried.append("%s: not set" % _CONTEXT_ENV)
    raise ContextNotFoundError(
        "no Kestra execution context found; it exists only when the script runs in a "
        "Kestra task (2.0+). Looked at: " + "; ".join(tried)
    )


def _read_context_file(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except ValueError as exc:
        raise KestraError(
            "the execution context file %r is not valid JSON: %s" % (os.fspath(path), exc)
        ) from None
    return _context_object(data, "the execution context file %r" % os.fspath(path))


def _decode_context_env(encoded: str) -> Dict[str, Any]:
    import base64
    import binascii

    try:
        data = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError) as exc:
        raise KestraError(
            "%s is not base64-encoded JSON: %s" % (_CONTEXT_ENV, exc)
        ) from None
    return _context_object(data, _CONTEXT_ENV)


def _context_object(data: Any, source: str) -> Dict[str, Any]:
    if not isinstance(data, dict):
        raise KestraError(
            "%s holds a JSON %s, not an object" % (source, type(data).__name__)
        )
    return data


_context = None  # type: Optional[ExecutionContext]


# Module attributes made on first use ##########################################
# ``kestra.context`` (needs a running task) and the logging classes (need the
# logging module) are resolved on access, so importing kestra stays cheap.

def __getattr__(name: str) -> Any:
    if name == "context":
        global _context
        if _context is None:
            _context = load_execution_context()
        return _context
    if name in ("JsonFormatter", "KestraHandler"):
        return _logging_classes()[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__() -> List[str]:
    # Not "context": help(), inspect and mock.create_autospec read every name dir()
    # lists, and outside a task reading the context raises.
    return sorted(set(globals()) | {"JsonFormatter", "KestraHandler"})


_track_stdout_lines()
