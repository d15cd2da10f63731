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
import atexit
import collections
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
    import http.client
    from typing import (
        Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Mapping, NoReturn, Optional, Sequence, Set, TextIO,
        Tuple, Union,
    )

__version__ = "0.1.0"

__all__ = [
    "Kestra",
    "KestraError",
    "ContextNotFoundError",
    "JsonFormatter",
    "KestraHandler",
    "ExecutionContext",
    "load_execution_context",
    "Flow",
    "FlowExecution",
    "Response",
    "RetryPolicy",
    "KestraHTTPError",
    "AuthenticationError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "InvalidRequestError",
    "InvalidResponseError",
    "FailedExponentialBackoff",
    "OutcomeUnknownError",
    "ExecutionMayExistError",
    "ExecutionTimeoutError",
    "IonReadError",
    "IonWriteError",
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
# The text is json.dumps's with its default separators (", " and ": "), as the
# official client writes it: tests that compare a script's output keep passing.
# ASCII because the Docker task runner decodes each 1,024-byte piece of a line on
# its own: a character cut in two would arrive as U+FFFD.

_json_string = json.encoder.encode_basestring_ascii
_PLAIN_SCALARS = frozenset((str, int, bool, type(None)))
if TYPE_CHECKING:
    # Where a value sits in the frame, as a linked list kept cheap to extend: None for
    # the whole value, else (the parent's path, a key or an index).
    _KeyPath = Optional[Tuple["_KeyPath", Union[str, int]]]
    # Says why a key or scalar cannot be sent, or returns None.
    _Problem = Callable[[Any], Optional[str]]

_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed's json.encoder
if _c_make_encoder is not None:
    # One C encoder, built once: no circular-reference markers (values reach it
    # only after _is_plain walked them, so they are acyclic) and no NaN.
    _encode_chunks = _c_make_encoder(
        None, None, _json_string, None, ": ", ", ", False, False, False
    )
else:  # pragma: no cover - CPython always has the C accelerator
    _encoder = json.JSONEncoder(
        ensure_ascii=True, allow_nan=False, check_circular=False, separators=(", ", ": ")
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
        finite = value - value == 0.0  # type: bool
        return finite
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
    return "::" + text + "::"


def _raise_first_problem(value: Any, problem: _Problem) -> None:
    """Raise a KestraError for the first key or scalar of the plain JSON ``value`` for
    which ``problem`` returns a description; return if there is none."""
    found = _first_problem(value, None, problem)
    if found is not None:
        path, description = found
        raise KestraError("%s %s" % (_where(path), description))


def _first_problem(value: Any, path: _KeyPath, problem: _Problem) -> Optional[Tuple[_KeyPath, str]]:
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


def _where(path: _KeyPath) -> str:
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


def _non_finite(value: Any, path: _KeyPath) -> KestraError:
    return KestraError(
        "%s is %r: JSON has no NaN or Infinity, and the server would drop the whole "
        "line, outputs and metrics included. Send None, a string or a finite number "
        "instead." % (_where(path), value)
    )


def _to_json(value: Any, path: _KeyPath, active: Set[int]) -> Any:
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


def _enter(value: Any, path: _KeyPath, active: Set[int]) -> int:
    """Mark ``value`` as being converted; a value met again inside itself is a cycle."""
    ident = id(value)
    if ident in active:
        raise KestraError(
            "%s contains itself (a reference cycle); JSON cannot represent cycles. "
            "Send a copy without the back-reference." % _where(path)
        )
    active.add(ident)
    return ident


def _container_to_json(value: Any, path: _KeyPath, active: Set[int]) -> Any:
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


def _json_key(key: Any, path: _KeyPath) -> str:
    """A key as JSON text: an str, or as json.dumps (and so the official client) writes
    a number, a bool or None (1 -> "1", True -> "true", None -> "null")."""
    if isinstance(key, enum.Enum) and isinstance(key.value, str):
        return key.value
    if isinstance(key, str):
        return str.__str__(key)
    if key is True or key is False or key is None:
        return "true" if key is True else "false" if key is False else "null"
    if isinstance(key, int):
        try:
            return int.__repr__(key)
        except ValueError:  # longer than sys.get_int_max_str_digits()
            raise KestraError("%s has an int key of more than %d digits, which Python will not write as "
                              "text; send it as a str" % (_where(path), _int_digits_limit())) from None
    if isinstance(key, float):
        if key != key:
            return "NaN"
        if key in (_INF, -_INF):
            return "Infinity" if key > 0 else "-Infinity"
        return float.__repr__(key)
    raise KestraError(
        "%s has the key %r of type %s; keys must be strings (or numbers, bools and None, "
        "written as JSON writes them). Use str(key) if you meant it as text."
        % (_where(path), key, _type_name(key))
    )


_INF = float("inf")


def _int_digits_limit() -> int:
    get_limit = getattr(sys, "get_int_max_str_digits", None)  # Python 3.11+, and some 3.8-3.10 patches
    return int(get_limit()) if get_limit is not None else 4300


def _other_to_json(value: Any, path: _KeyPath, active: Set[int]) -> Any:
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
        # Assets wait for the end of the process (see _hold_assets); a forked child
        # starts without its parent's, which the parent sends itself.
        self.held_assets = {}  # type: Dict[str, List[Any]]
        self.exiting = False  # the held assets went out: nothing comes after them


_emitter = _Emitter()

if hasattr(os, "register_at_fork"):
    # A child forked while another thread held the lock would wait forever.
    os.register_at_fork(after_in_child=lambda: _Emitter.__init__(_emitter))


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
        self._stream = stream  # type: TextIO
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
        stream = sys.stdout  # type: Any  # whatever the script put there
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


def _prepare_line(stream: Any, frame: str) -> Tuple[Optional[int], bytes]:
    """Every other case: flush, start a fresh line if the script left one open, then
    either write the line through a stream that is not a file, returning (None, b""),
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
    return None, b""


_fd_cache = (None, None)  # type: Tuple[Any, Optional[int]]  # (stream, its file descriptor)


def _fd_of(stream: Any) -> Optional[int]:
    """The file descriptor behind a genuine text file, to write a frame in one system
    call; None for anything else (pytest capture, StringIO, tee objects...)."""
    global _fd_cache
    if stream is _fd_cache[0]:
        return _fd_cache[1]
    if stream.__class__ is not io.TextIOWrapper:
        return None
    try:
        fd = stream.fileno()  # type: int
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

        Example: ``Kestra.format({"outputs": {"a": 1}}) == '::{"outputs": {"a": 1}}::'``
        """
        return _frame(map_)

    @staticmethod
    def _send(map_: Mapping[str, Any]) -> None:
        """Write one frame for ``map_`` to stdout, flushed before returning. Its
        ``assets`` are checked now, then held back for the process's last line or
        not sent (see ``assets``)."""
        if "assets" in map_:
            map_ = _hold_assets(map_)
            if not map_:
                return
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
        """Declare asset lineage (Kestra 1.2+, recorded by Enterprise servers),
        shaped as the server reads it. The map is checked now, whatever happens next.

        Sent only where ``KESTRA_ASSETS=send`` is set (Enterprise, on a task with
        ``assets: {enableAuto: true}``): then copied now and sent when the process
        exits, merged with the other calls' into one frame, its last line. Otherwise
        not sent, and said once in a WARN log entry (``KESTRA_ASSETS=skip``: silently):
        an open-source server loses the rest of the task's output at an assets frame
        (Process runner) or never ends the task (Docker runner).

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
    def read(path_: Any, exact: bool = False) -> List[Any]:
        """Read an Ion file (text or binary) into a list of rows.

        ``path_`` is a path or an open binary file. Structs become dicts, decimals
        floats (``exact=True``: Decimal), timestamps datetime (date at day precision),
        Kestra's LocalDateTime::/ZonedDateTime::/... strings datetime, date or time,
        strings that look like ISO date-times datetime (not with ``exact=True``),
        blobs and clobs bytes, nulls None. A corrupt file raises IonReadError, and so
        does nesting deeper than 200 levels, a number of more than 1,000,000 digits
        or a decimal exponent beyond +-2**31: any bytes give rows or that error.
        Example: ``rows = Kestra.read("result.ion")``
        """
        return list(_read_ion(path_, exact))

    @staticmethod
    def iter_read(path_: Any, exact: bool = False) -> Iterator[Any]:
        """Like ``read``, one row at a time, in bounded memory whatever the file's size.
        Example: ``for row in Kestra.iter_read("result.ion"): ...``
        """
        return _read_ion(path_, exact)

    @staticmethod
    def write(destination: Any, rows: Iterable[Any]) -> int:
        """Write rows to an Ion text file, one value per line, as Kestra's tasks read
        them; returns how many. ``destination`` is a path or a binary file object;
        ``rows`` any iterable (a generator too: it is read one row at a time).

        Dicts become structs, Decimal exact decimals, datetime and date the Java types
        Kestra's readers give back (README: "Writing Ion files"). A value with no Ion
        form raises IonWriteError naming the row and the key, before any of that row
        is written; the file then holds the rows before it, as ``error.rows`` says.
        Example: ``Kestra.write("rows.ion", ({"id": i} for i in range(10)))``
        """
        return _write_ion(destination, rows)

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


_ASSETS_ENV = "KESTRA_ASSETS"
_ASSETS_WORDS = {
    "send": True, "true": True, "yes": True, "on": True, "1": True,
    "skip": False, "false": False, "no": False, "off": False, "0": False,
}
_ASSETS_NOTICE = (
    "Kestra.assets(): the assets were not sent to Kestra. Only Kestra Enterprise records "
    "them, for a task with `assets: {enableAuto: true}`; an open-source server would lose "
    "the rest of this task's output (Process runner) or never end the task (Docker "
    "runner). On Enterprise, set KESTRA_ASSETS=send in the task's env (a plugin default "
    "can set it for every task); KESTRA_ASSETS=skip drops them without this message."
)
_assets_noticed = [False]  # this process (or the one it was forked from) said so


def _assets_sent() -> Optional[bool]:
    """Whether ``KESTRA_ASSETS`` says to send assets: True, False, or None when unset."""
    value = os.environ.get(_ASSETS_ENV, "")
    word = value.strip().lower()
    if not word:
        return None
    sent = _ASSETS_WORDS.get(word)
    if sent is None:
        raise KestraError(
            "%s=%r is not understood: set it to 'send' (or true, yes, on, 1) where the "
            "server records assets (Kestra Enterprise, a task with assets.enableAuto: true), "
            "to 'skip' (or false, no, off, 0) to drop them silently, or leave it unset"
            % (_ASSETS_ENV, value)
        )
    return sent


def _notice_assets_not_sent() -> None:
    """The WARN log entry saying that assets are not sent, once per process (and its
    forks); best effort: when it cannot be written, a later call tries again."""
    with _emitter.lock:
        if _assets_noticed[0]:
            return
        try:
            _write_frame(_log_frame(30, _ASSETS_NOTICE, time.time()))
        except KestraError:
            return  # stdout is broken: the script's own frames will say so
        _assets_noticed[0] = True


def _hold_assets(map_: Any) -> Any:
    """Take the assets out of a frame and return the rest: held for the end of the
    process when ``KESTRA_ASSETS=send``, else dropped (said once, unless ``skip``).

    Kestra's open-source servers (1.3 and 2.0 seen) have no asset inventory: their
    emitter throws. Under the Process runner the exception ends the thread reading
    that output stream, so every later line of the task is lost and the script's next
    write fails with EPIPE; under the Docker runner it escapes the container's log
    callback, and the task never ends. Nothing in a task's environment tells the
    edition, so assets go out only where the user says the server records them, and
    then as the last line of the process (_send_held_assets): on stdout, because a
    frame on stderr turns a task with ``warningOnStdErr`` into a WARNING.
    """
    if not isinstance(map_, collections.abc.Mapping):
        return map_  # not a frame: _frame says so
    assets = map_["assets"]
    _check_assets(assets)
    copied = json.loads(_frame({"assets": assets})[2:-2])["assets"]  # fails now, not at exit
    rest = {key: value for key, value in map_.items() if key != "assets"}
    sent = _assets_sent()
    if not sent:
        if sent is None and any(copied.values()):
            _notice_assets_not_sent()
        return rest
    emitter = _emitter
    with emitter.lock:
        if emitter.exiting:  # sent during exit, after the held line: nothing follows it
            rest["assets"] = copied
            return rest
        for side, entries in copied.items():
            emitter.held_assets.setdefault(side, []).extend(entries)
    return rest


def _send_held_assets() -> None:
    """At exit, the assets every call held back, as one frame (registered with atexit
    when kestra is imported, so it runs after the exit handlers registered later)."""
    emitter = _emitter
    with emitter.lock:
        held, emitter.held_assets = emitter.held_assets, {}
        emitter.exiting = True
    if held:
        try:
            _write_frame(_frame({"assets": held}))
        except KestraError as exc:
            _say_on_stderr("kestra: the assets declared with Kestra.assets() were not sent: %s" % exc)


atexit.register(_send_held_assets)


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
                try:
                    text = repr(converted)
                except ValueError:  # an int longer than sys.get_int_max_str_digits()
                    raise KestraError("tag %r of metric %r is an int of more than %d digits; send it as a str"
                                      % (key, name, _int_digits_limit())) from None
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

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
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


def _run_timed(name: str, function: Callable[..., Any], args: Any, kwargs: Any, tags: Any, description: Any) -> Any:
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


def _log_frame(levelno: int, message: str, created: float) -> str:
    # Built by hand: a log frame is always the same three fields, and this is the
    # hot path of every logging call.
    encoded = _json_string(message)
    if "\\ud" in encoded and _surrogate_problem(message):
        # A log line must not be lost over its content: show surrogates as \udXXX.
        encoded = _json_string(message.encode("utf-8", "backslashreplace").decode("utf-8"))
    return '::{"logs": [{"level": "%s", "message": %s, "timestamp": "%s"}]}::' % (
        _log_level(levelno), encoded, _log_timestamp(created))


# The last whole second formatted, and its text: one tuple, swapped whole between threads.
_log_second = [(None, "")]  # type: List[Tuple[Optional[int], str]]


def _log_timestamp(created: float) -> str:
    """``created`` (seconds since the epoch, as LogRecord.created) in UTC, ISO-8601 with
    milliseconds and Z: 2020-03-20T14:12:46.000Z. Kestra ignores the field; log
    systems reading the JSON use it."""
    exact = created * 1000.0 + 1e-4  # the epsilon: 0.123 s is not 122.99999 ms
    millis = int(exact)
    if millis > exact:  # before 1970: down, as divmod's seconds go
        millis -= 1
    second, millis = divmod(millis, 1000)
    cached_second, text = _log_second[0]
    if cached_second != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _log_second[0] = (second, text)
    return "%s.%03dZ" % (text, millis)


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
            return _log_frame(record.levelno, super().format(record), record.created)

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
                    text = _log_frame(record.levelno, text, record.created)
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
                    _write_frame(_log_frame(level, _log_message(msg, args), time.time()))
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
            formatter = handler.formatter  # type: Any  # its class is checked below
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
    message = msg if msg.__class__ is str else str(msg)  # type: str
    if not args:
        return message
    if len(args) == 1:  # logging passes a lone non-empty mapping as the mapping itself
        only = args[0]
        if only and only.__class__ not in _PLAIN_SCALARS and isinstance(only, collections.abc.Mapping):
            args = only
    text = message % args  # type: str
    return text


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
    stdout = sys.stdout  # type: Any  # whatever the script put there
    consoles = {stdout, sys.stderr, sys.__stdout__, sys.__stderr__}
    if stdout.__class__ is _LineTrackingStdout:
        consoles.add(stdout._stream)
    existing = None  # type: Optional[logging.Handler]
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


if TYPE_CHECKING:
    _ContextMapping = Mapping[str, Any]
else:  # collections.abc.Mapping takes no [str, Any] before Python 3.9
    _ContextMapping = collections.abc.Mapping


class ExecutionContext(_ContextMapping):
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
        copy = json.loads(json.dumps(self._data))  # type: Dict[str, Any]
        return copy


def _context_value(value: Any) -> Any:
    if isinstance(value, dict):
        return ExecutionContext(value)
    if isinstance(value, list):
        return [_context_value(item) for item in value]
    return value


def load_execution_context(path: Union[str, os.PathLike[str], None] = None) -> ExecutionContext:
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


def _read_context_file(path: Union[str, os.PathLike[str]]) -> Dict[str, Any]:
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


# HTTP transport ###############################################################
# Requests to the Kestra API: timeouts, redirects, proxies and TLS, retries with
# backoff, streamed multipart bodies and Server-Sent Events. The standard
# library's HTTP modules are imported here on first use, never by a task script.


class KestraHTTPError(KestraError):
    """The server answered with an error status.

    ``status_code`` is the HTTP status, ``server_message`` what the server said (the
    ``message`` of 1.x, the ``detail`` of 2.0's problem+json) and ``response`` the
    Response itself.
    """

    def __init__(self, message: str, response: Optional[Response] = None) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = None if response is None else response.status_code
        self.server_message = None if response is None else _server_message(response)


class AuthenticationError(KestraHTTPError):
    """401: the server refused the credentials sent, or expected some."""


class ForbiddenError(KestraHTTPError):
    """403: the credentials are valid but not allowed to do this."""


class NotFoundError(KestraHTTPError):
    """404: no such flow, execution or file (or an API path this server lacks)."""


class ConflictError(KestraHTTPError):
    """409: the flow is disabled, or the execution has already ended."""


class InvalidRequestError(KestraHTTPError):
    """400 or 422: the server refused an input or a label; ``server_message`` says which."""


class InvalidResponseError(KestraError, ValueError):
    """The server's answer is not what the API promises (for example not JSON)."""


class FailedExponentialBackoff(KestraError):
    """Every attempt of a request failed; ``attempts`` says how many, ``status_code``
    the last status (None after a connection failure)."""

    def __init__(self, message: str, attempts: int, status_code: Optional[int]) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status_code = status_code


class OutcomeUnknownError(KestraError):
    """A request that changes something (resume, pause, restart, labels...) failed
    after it reached the server: it may have taken effect, so it is not sent again.
    ``sent_at`` (UTC) says when it was sent; read the execution to see what happened.
    """

    def __init__(self, message: str, sent_at: str = "") -> None:
        super().__init__(message)
        self.sent_at = sent_at


class ExecutionMayExistError(OutcomeUnknownError):
    """A request that creates an execution (a create, a replay, a webhook) failed after
    it reached the server: the execution may exist.

    It is not sent again, as that could run the flow twice; ``namespace``, ``flow_id``
    and ``sent_at`` (UTC) say where to look for it.
    """

    def __init__(self, message: str, namespace: str, flow_id: str, sent_at: str) -> None:
        super().__init__(message, sent_at)
        self.namespace = namespace
        self.flow_id = flow_id


class ExecutionTimeoutError(KestraError):
    """The execution did not end within the timeout; ``execution_id`` says which one,
    ``state`` its last known state and ``killed`` whether a kill was requested."""

    def __init__(self, message: str, execution_id: str, state: Optional[str], killed: bool) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.state = state
        self.killed = killed


class RetryPolicy:
    """How often a request is tried and how long to wait in between.

    Up to ``attempts`` tries, spaced by ``backoff * 2**n`` seconds (1, 2, 4, 8 s by
    default), each stretched by up to a quarter at random unless ``jitter`` is
    False. A ``Retry-After`` header (seconds or an HTTP date) replaces the backoff,
    up to ``retry_after_cap`` seconds. Statuses in ``statuses`` are retried, like
    connection failures; the create request only when the server cannot have
    processed it. Example: ``Flow(retry=RetryPolicy(attempts=3, jitter=False))``
    """

    def __init__(
        self,
        attempts: int = 5,
        backoff: float = 1.0,
        jitter: bool = True,
        retry_after_cap: float = 60.0,
        statuses: Any = (408, 429, 500, 502, 503, 504),
    ) -> None:
        if attempts < 1:
            raise KestraError("RetryPolicy needs at least 1 attempt, got %r" % (attempts,))
        self.attempts = attempts
        self.backoff = backoff
        self.jitter = jitter
        self.retry_after_cap = retry_after_cap
        self.statuses = frozenset(statuses)

    def delay(self, failed_attempt: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait after attempt number ``failed_attempt`` (1-based) failed."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        delay = self.backoff * 2 ** (failed_attempt - 1)  # type: float
        if self.jitter:
            import random

            delay *= 1 + random.random() / 4
        return delay

    def __repr__(self) -> str:
        return "RetryPolicy(attempts=%d, backoff=%r, jitter=%r, retry_after_cap=%r)" % (
            self.attempts, self.backoff, self.jitter, self.retry_after_cap)


# Statuses that say the server did not process a request: a create may be sent again.
_NOT_PROCESSED = frozenset((429, 503))
_SENSITIVE_HEADERS = frozenset(("authorization", "cookie", "proxy-authorization"))
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_MAX_REDIRECTS = 5
_CHUNK = 1 << 20  # bytes read from a file part at a time


class Response:
    """A server's answer, shaped like ``requests.Response`` for scripts written for it:
    ``status_code``, ``reason``, ``headers`` (case-insensitive), ``url``, ``content``,
    ``text``, ``json()``, ``ok`` and ``raise_for_status()``."""

    def __init__(self, method: str, url: str, status_code: int, reason: str, headers: Any, content: bytes) -> None:
        self.method = method
        self.url = url
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        charset = self.headers.get_content_charset() if hasattr(self.headers, "get_content_charset") else None
        try:
            return self.content.decode(charset or "utf-8", "replace")
        except LookupError:  # a charset Python does not know: Kestra writes UTF-8
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        try:
            return json.loads(self.content.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python's stack
            raise InvalidResponseError(
                "the answer to %s %s is not valid JSON (%s): %r"
                % (self.method, _shown_url(self.url), exc, self.content[:200])
            ) from None

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise _http_error(self, "%s %s" % (self.method, _shown_url(self.url)))

    def __repr__(self) -> str:
        return "<Response [%d]>" % self.status_code


def _server_message(response: Response) -> Optional[str]:
    """What the server said about an error: 1.x JSON ``message``, 2.0 problem+json."""
    try:
        body = json.loads(response.content.decode("utf-8"))
    except (ValueError, RecursionError):
        text = response.content.decode("utf-8", "replace").strip()
        return text[:500] or None
    if isinstance(body, dict):
        for key in ("message", "detail", "title"):
            said = body.get(key)
            if isinstance(said, str) and said:
                return said
    return None


def _http_error(response: Response, what: str, auth_kind: str = "") -> KestraHTTPError:
    """The typed error for an error response; ``what`` names the request or object."""
    status = response.status_code
    said = _server_message(response)
    detail = ": %s" % said if said else ""
    if status == 401:
        return AuthenticationError(
            "%s: the server refused the request (401)%s; %s" % (what, detail, auth_kind or "check the credentials"),
            response,
        )
    if status == 403:
        return ForbiddenError("%s: forbidden (403)%s" % (what, detail), response)
    if status == 404:
        return NotFoundError("%s: not found (404)%s" % (what, detail), response)
    if status == 409:
        return ConflictError("%s: conflict (409)%s" % (what, detail), response)
    if status in (400, 422):
        return InvalidRequestError("%s: refused by the server (%d)%s" % (what, status, detail), response)
    return KestraHTTPError("%s: the server answered %d %s%s" % (what, status, response.reason, detail), response)


def _shown_url(url: str) -> str:
    """A URL fit for a message: no user:password@ and no query (labels hold input values)."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        parts = None
    if parts is None or not parts.netloc:
        # Not a URL that can be taken apart, or no "//" (user:password@host would be read as
        # a scheme and a path): what follows the last @, without a query.
        return url.rpartition("@")[2].partition("?")[0]
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    if port:
        host += ":%d" % port
    path = parts.path
    if "/executions/webhook/" in path:  # .../executions/webhook/{namespace}/{flow}/{key}: the key is a secret
        segments = path.split("/")
        for at in range(len(segments) - 4):
            if segments[at:at + 2] == ["executions", "webhook"]:
                segments[at + 4] = _masked(urllib.parse.unquote(segments[at + 4]))
                path = "/".join(segments)
                break
    return urllib.parse.urlunsplit((parts.scheme, host, path, "", ""))


class _NotSent(Exception):
    """The connection failed before anything was sent: safe to try again."""


class _NoAnswer(Exception):
    """The request went out (in part or whole) but no complete answer came back."""


class _Stale(Exception):
    """A kept-alive connection failed before any answer: the server had closed it,
    most likely (an idle timeout), so the request may be sent again on a new one
    where it is safe to send twice."""


class _DeadlinePassed(Exception):
    """A wait's overall deadline passed during a request or between its attempts."""


def _socket_timeout() -> type:
    import socket

    return socket.timeout


def _readable(response: Any, sock: Any, seconds: float) -> bool:
    """Whether a line of ``response`` (or its end, or an error) can be read within
    ``seconds``, without reading it. Unlike a socket timeout, waiting here leaves the
    response readable: http.client refuses to read again after a timed-out read."""
    fp = getattr(response, "fp", None)
    if fp is None or sock is None:
        return True
    timeout = sock.gettimeout()
    try:
        sock.settimeout(0)  # a look at what is buffered: never blocks
        try:
            buffered = fp.peek(1)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError) and type(exc).__name__ != "SSLWantReadError":
                return True  # the read that follows raises it
            buffered = b""
    finally:
        sock.settimeout(timeout)
    if _holds_a_line(buffered, response.chunked, response.chunk_left):
        return True
    pending = getattr(sock, "pending", None)  # bytes TLS has decrypted already
    if pending is not None and pending():
        return True
    return _socket_readable(sock, seconds)


def _socket_readable(sock: Any, seconds: float) -> bool:
    """Whether ``sock`` has bytes, its end or an error to read within ``seconds``."""
    import select

    if hasattr(select, "poll"):  # select() cannot take a descriptor past 1023
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(max(0.0, seconds) * 1000))
    return bool(select.select([sock], [], [], max(0.0, seconds))[0])


def _holds_a_line(buffered: bytes, chunked: bool, left: Optional[int]) -> bool:
    """Whether bytes buffered from a response body hold a whole line of its content
    (or a chunked body's last chunk). Chunk framing alone (the CRLF that ends a chunk,
    the next one's size) holds none: a read would wait for more."""
    if not chunked:
        return b"\n" in buffered
    at = 0
    while True:
        if not left:
            if left == 0:  # the CRLF ending the chunk read last
                at += 2
            end = buffered.find(b"\n", at)
            if end < 0:
                return False
            try:
                left = int(buffered[at:end].split(b";")[0], 16)
            except ValueError:
                return True  # the read that follows raises it
            if left == 0:
                return True
            at = end + 1
        content = buffered[at:at + left]
        if b"\n" in content:
            return True
        if len(content) < left:
            return False
        at, left = at + left, 0


class _Multipart:
    """A multipart/form-data body, produced piece by piece: file parts are read in
    chunks while they are sent, so a file of any size costs a chunk of memory."""

    def __init__(self, fields: List[Tuple[str, str]], files: List[_FilePart]) -> None:
        self.boundary = "kestra-py-" + os.urandom(16).hex()
        self.fields = fields
        self.files = files
        self.consumed = False  # whether sending has started reading the files

    @property
    def content_type(self) -> str:
        return "multipart/form-data; boundary=" + self.boundary

    def _field_head(self, name: str) -> bytes:
        return ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n' % (self.boundary, name)).encode("utf-8")

    def _file_head(self, part: _FilePart) -> bytes:
        return (
            '--%s\r\nContent-Disposition: form-data; name="%s"; %s\r\nContent-Type: %s\r\n\r\n'
            % (self.boundary, part.name, _filename_params(part.filename), part.content_type)
        ).encode("utf-8")

    def _tail(self) -> bytes:
        return ("--%s--\r\n" % self.boundary).encode("ascii")

    def length(self) -> Optional[int]:
        """The exact byte count, or None when a file's size cannot be known (then
        the body is sent with chunked transfer encoding)."""
        total = len(self._tail())
        for name, text in self.fields:
            total += len(self._field_head(name)) + len(text.encode("utf-8")) + 2
        for part in self.files:
            if part.size is None:
                return None
            total += len(self._file_head(part)) + part.size + 2
        return total

    def chunks(self) -> Iterator[bytes]:
        self.consumed = True
        for name, text in self.fields:
            yield self._field_head(name) + text.encode("utf-8") + b"\r\n"
        for part in self.files:
            yield self._file_head(part)
            for chunk in part.read_chunks():
                yield chunk
            yield b"\r\n"
        yield self._tail()

    def rewind(self) -> None:
        """Go back to the start of every file, to send the body again."""
        if self.consumed:
            for part in self.files:
                part.rewind()
            self.consumed = False

    def rewindable(self) -> bool:
        return not self.consumed or all(part.start is not None for part in self.files)

    def close(self) -> None:
        for part in self.files:
            part.close()


class _FilePart:
    """One FILE input: the file object, where its data starts, and its size if known."""

    def __init__(self, name: str, filename: str, fileobj: Any, content_type: str, owned: bool) -> None:
        self.name = name
        self.filename = filename
        self.fileobj = fileobj
        self.content_type = content_type
        self.owned = owned  # opened by us, so closed by us
        try:
            self.start = fileobj.tell() if fileobj.seekable() else None  # type: Optional[int]
        except (AttributeError, OSError, ValueError):
            self.start = None
        self.size = self._remaining_size()

    def _remaining_size(self) -> Optional[int]:
        if self.start is None:
            return None
        try:
            import stat

            status = os.fstat(self.fileobj.fileno())
            if stat.S_ISREG(status.st_mode):
                return max(0, status.st_size - self.start)
        except (AttributeError, OSError, ValueError):
            pass
        try:
            end = self.fileobj.seek(0, 2)  # type: int
            self.fileobj.seek(self.start)
            return end - self.start
        except (AttributeError, OSError, ValueError):
            return None

    def read_chunks(self) -> Iterator[bytes]:
        left = self.size
        while left is None or left > 0:
            chunk = self.fileobj.read(_CHUNK if left is None else min(_CHUNK, left))
            if not isinstance(chunk, (bytes, bytearray)):
                raise KestraError(
                    "the file of input %r gave %s, not bytes: open it in binary mode ('rb')"
                    % (self.name, type(chunk).__name__)
                )
            if not chunk:
                if left:
                    raise KestraError(
                        "the file of input %r ended %d bytes early (was it changed while "
                        "being sent?)" % (self.name, left)
                    )
                return
            if left is not None:
                left -= len(chunk)
            yield bytes(chunk)

    def rewind(self) -> None:
        if self.start is None:
            raise KestraError(
                "the file of input %r cannot be read again (it is not seekable), so the "
                "request cannot be retried" % self.name
            )
        self.fileobj.seek(self.start)

    def close(self) -> None:
        if self.owned:
            self.fileobj.close()


def _filename_params(filename: str) -> str:
    """Content-Disposition filename parameters that no name can break: an ASCII
    fallback with unsafe characters replaced, then the exact name percent-encoded
    in UTF-8 (``filename*``, which the server's multipart decoder prefers)."""
    import urllib.parse

    fallback = "".join(
        char if " " <= char < "\x7f" and char not in '"\\;%' else "_" for char in filename
    ) or "file"
    exact = urllib.parse.quote(filename, safe="")
    return 'filename="%s"; filename*=UTF-8\'\'%s' % (fallback, exact)


_IDLE_MAX_S = 30.0  # a kept-alive connection idle longer is not reused (servers close them)
_REUSE_UNSAFE_S = 1.0  # nor for a request unsafe to send twice (a create), if idle longer
_POOL_MAX = 256  # idle connections kept per server


def _exchange(
    method: str,
    url: str,
    headers: List[Tuple[str, str]],
    body: Any,
    timeout: float,
    tls: Any,
    stream: bool,
    pool: Optional["_Pool"] = None,
    reuse_within: Optional[float] = _IDLE_MAX_S,
) -> Any:
    """One HTTP exchange: a Response, or with ``stream`` the open (connection,
    http.client response) pair. Raises _NotSent, _NoAnswer or _Stale on transport
    failures. With a ``pool``, a connection idle for at most ``reuse_within`` seconds
    may be reused (None: a new one), and a connection the answer leaves open goes
    back to it; a stream always has its own connection."""
    import http.client

    connection, target, proxy_headers, key = _connection(url, timeout, tls)
    reused = False
    if pool is not None and not stream and reuse_within is not None:
        kept = pool.take(key, reuse_within)
        if kept is not None:
            connection, reused = kept, True
            connection.timeout = timeout
            connection.sock.settimeout(timeout)
    if not reused:
        if pool is not None and hasattr(connection, "kestra_session"):
            connection.kestra_session = pool.sessions.get(key)  # resume TLS: no full handshake
        try:
            connection.connect()  # apart, so that a refused connection is known to have sent nothing
        except OSError as exc:
            connection.close()
            if _is_certificate_error(exc):
                raise KestraError(
                    "the TLS certificate of %s could not be verified (%s); give the CA bundle "
                    "with Flow(ca_bundle=...) or SSL_CERT_FILE" % (_shown_url(url), exc)
                ) from None
            raise _NotSent(exc) from exc
        if pool is not None:
            pool.opened += 1
    try:
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in proxy_headers + headers:
                connection.putheader(name, value)
            if body is None:
                if method in ("POST", "PUT", "PATCH"):
                    connection.putheader("Content-Length", "0")
                connection.endheaders()
            elif isinstance(body, bytes):
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
            else:
                _send_streamed(connection, body)
            sock = connection.sock
            response = connection.getresponse()
        except OSError as exc:
            # Closed by the server while idle: no answer began (RemoteDisconnected is a
            # ConnectionError; over TLS, an SSLEOFError). A timeout is not that.
            if reused and (isinstance(exc, ConnectionError) or type(exc).__name__ == "SSLEOFError"):
                connection.close()
                raise _Stale(exc) from exc
            raise
        if stream:
            connection.kestra_socket = sock  # our own mark, read in _LogStreamReader.stop
            return connection, response
        content = response.read()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise _NoAnswer(exc) from exc
    except BaseException:  # a bad file, Ctrl-C...: never leave the socket open
        connection.close()
        raise
    if pool is not None and connection.sock is not None and not response.will_close:
        session = getattr(connection.sock, "session", None)
        if session is not None:
            pool.sessions[key] = session
        pool.give(key, connection)
    else:
        connection.close()
    return Response(method, url, response.status, response.reason, response.msg, content)


class _Pool:
    """A Flow's idle keep-alive connections, by where they lead (scheme, host, port,
    proxy, TLS settings), most recently used last, with the TLS session of each
    place. Thread-safe; a forked child starts empty, as its parent's sockets are not
    its own. ``opened`` counts the connections made."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._idle = {}  # type: Dict[Any, List[Tuple[Any, float]]]
        self._pid = os.getpid()
        self.sessions = {}  # type: Dict[Any, Any]
        self.opened = 0

    def take(self, key: Any, within: float) -> Any:
        """A connection to ``key`` idle for at most ``within`` seconds and still open,
        or None. Older ones are left for requests that may take them; dead ones go."""
        dead = []
        found = None
        self._forked()
        with self._lock:
            idle = self._idle.get(key) or []
            while idle:
                connection, since = idle[-1]
                age = time.monotonic() - since
                if age > within:
                    break
                idle.pop()
                if age <= _IDLE_MAX_S and _still_open(connection.sock):
                    found = connection
                    break
                dead.append(connection)
        for connection in dead:
            connection.close()
        return found

    def give(self, key: Any, connection: Any) -> None:
        self._forked()
        with self._lock:
            idle = self._idle.setdefault(key, [])
            now = time.monotonic()
            stale = [kept for kept, since in idle if now - since > _IDLE_MAX_S]
            idle[:] = [(kept, since) for kept, since in idle if now - since <= _IDLE_MAX_S]
            if len(idle) < _POOL_MAX:
                idle.append((connection, now))
            else:
                stale.append(connection)
        for kept in stale:
            kept.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection, _ in connections:
                connection.close()

    def _forked(self) -> None:
        """In a forked child: a new lock (another thread may have held the parent's at
        the fork) and no connections."""
        if self._pid != os.getpid():
            self._lock = _thread.allocate_lock()
            self._idle, self.sessions, self._pid = {}, {}, os.getpid()


def _still_open(sock: Any) -> bool:
    """Whether an idle kept-alive socket is still open: the server has neither
    closed it nor sent anything unasked (either way it is not reused)."""
    if sock is None:
        return False
    try:
        return not _socket_readable(sock, 0)
    except (OSError, ValueError):
        return False


def _send_streamed(connection: Any, body: _Multipart) -> None:
    connection.putheader("Content-Type", body.content_type)
    length = body.length()
    if length is not None:
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        for chunk in body.chunks():
            connection.send(chunk)
        return
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for chunk in body.chunks():
        if chunk:
            connection.send(b"%X\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")


def _connection(url: str, timeout: float, tls: Any) -> Tuple[Any, str, List[Tuple[str, str]], Any]:
    """(connection, request target, proxy headers, where it leads) for ``url``, through
    the proxy the environment names for it (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), if
    any. The connection is not connected yet; the last item keys the pool."""
    import base64
    import http.client
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    proxy_url = urllib.request.getproxies().get(parts.scheme)
    if proxy_url and not urllib.request.proxy_bypass(host):
        proxy = urllib.parse.urlsplit(proxy_url if "://" in proxy_url else "http://" + proxy_url)
        try:
            proxy_host, proxy_port = proxy.hostname, proxy.port or 80
        except ValueError:  # a port that is not a number, or out of range
            proxy_host = None
        if not proxy_host:  # http.client would fail with a TypeError
            raise KestraError(
                "the proxy the environment names for %s URLs (%s_PROXY) has no host or a bad "
                "port; give it as http://HOST:PORT, or unset it" % (parts.scheme, parts.scheme.upper())
            )
        proxy_headers = []
        if proxy.username is not None:
            credentials = "%s:%s" % (urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or ""))
            proxy_headers.append(("Proxy-Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()))
        key = (parts.scheme, host, port, proxy_url, tls)  # type: Any
        if parts.scheme == "https":  # a CONNECT tunnel, then TLS with the server itself
            tunnel = _https_connection()(proxy_host, proxy_port, timeout=timeout, context=tls)
            tunnel.set_tunnel(host, port, headers=dict(proxy_headers))
            return tunnel, target, [], key
        connection = http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
        return connection, url, proxy_headers, key  # a plain HTTP proxy takes the absolute URL
    key = (parts.scheme, host, port, None, tls)
    if parts.scheme == "https":
        return _https_connection()(host, port, timeout=timeout, context=tls), target, [], key
    return http.client.HTTPConnection(host, port, timeout=timeout), target, [], key


_HTTPS_CLASS = None  # type: Any


def _https_connection() -> Any:
    """http.client's HTTPSConnection, resuming the TLS session in ``kestra_session``."""
    global _HTTPS_CLASS
    if _HTTPS_CLASS is None:
        import http.client

        class HTTPSConnection(http.client.HTTPSConnection):
            kestra_session = None  # type: Any

            def connect(self) -> None:
                http.client.HTTPConnection.connect(self)  # TCP, and the proxy's tunnel if any
                self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
                    self.sock, server_hostname=self._tunnel_host or self.host,  # type: ignore[attr-defined]
                    session=self.kestra_session,
                )

        _HTTPS_CLASS = HTTPSConnection
    return _HTTPS_CLASS


def _is_certificate_error(exc: BaseException) -> bool:
    import ssl

    return isinstance(exc, ssl.SSLCertVerificationError) or (
        isinstance(exc, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc)
    )


def _tls_context(ca_bundle: Optional[str], verify: bool) -> Any:
    """Verified TLS by default; ``ca_bundle`` (else REQUESTS_CA_BUNDLE) adds trusted
    certificates; SSL_CERT_FILE and SSL_CERT_DIR work through OpenSSL's defaults."""
    import ssl

    context = ssl.create_default_context()
    bundle = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or None
    if bundle:
        if os.path.isdir(bundle):
            context.load_verify_locations(capath=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _retry_after_seconds(value: Optional[str], now: float) -> Optional[float]:
    """A Retry-After header in seconds, from either of its forms; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": a UTC time (RFC 5322), not a local one
        import datetime

        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - now)


def _sse_events(
    response: Any, stop: Optional[Callable[[], bool]] = None, idle: Optional[Callable[[], bool]] = None
) -> Iterator[Tuple[Optional[str], Optional[str], str]]:
    """(id, event, data) for each event of a text/event-stream response, until it
    closes, ``stop()`` (asked after each line) or ``idle()`` (asked before each read,
    which it may wait for) says so. A read that times out raises (socket.timeout /
    TimeoutError)."""
    event_id, event, data = None, None, []  # type: Optional[str], Optional[str], List[str]
    while True:
        if idle is not None and idle():
            return
        raw = response.readline()
        if not raw or (stop is not None and stop()):
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data or event_id is not None or event is not None:
                yield event_id, event, "\n".join(data)
            event_id, event, data = None, None, []
            continue
        if line.startswith(":"):  # a comment, used as a keep-alive
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
        elif field == "event":
            event = value


# Flow #########################################################################
# Run flows from Python: create an execution (typed and file inputs, labels), wait
# for it on the server's event stream, then read its logs, outputs and files.

_TERMINAL_STATES = frozenset(
    ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED", "RESUBMITTED")
)
_SUCCESSFUL_STATES = frozenset(("SUCCESS", "WARNING"))
# Every state an execution can be in (Kestra 1.3.25 and 2.0): what ``until`` may name.
_STATES = _TERMINAL_STATES | frozenset(
    ("CREATED", "SUBMITTED", "RUNNING", "PAUSED", "RESTARTED", "KILLING", "QUEUED", "RETRYING", "BREAKPOINT")
)
_NOT_YET_GRACE_S = 10.0  # right after creation, a 404 means "not stored yet" for this long
_EACH_LOOK_S = 30.0  # execute_each reads an execution at least this often, whatever the search says
_SEARCH_PAGE = 100  # executions per page of a search
_EACH_SEARCH_S = 0.25  # execute_each searches at least this often: one request for all the executions
_FIRST_LOOK_S = 0.25  # the first read of the stored state comes this soon after a stream opens, at most
_LOOK_CAP_S = 5.0  # the longest a followed execution goes without a read of its stored state
_FAILED_LOG_PAUSES_S = (0.25, 0.5, 1.0)  # a FAILED execution's logs without an ERROR are read again after these
_COPY_SEARCH_S = 10  # how long a restart on a revision looks for the execution it made (2.0)
_FLOORS_KEPT = 256  # actions whose history floor a Flow keeps for its waits (see _Goal)
# Words of a server refusing an action for the execution's state (1.3.25: "is not paused,
# can't resume it", "The execution is not running", "No task found to restart execution
# from!"; 2.0: "Cannot restart execution: current state is 'SUCCESS', expected terminated")
_STATE_REFUSALS = ("not paused", "not running", "current state", "restart execution from", "terminated")
_SERVER_WAIT_READ_S = 24 * 3600.0  # the read timeout of a create that waits on the server
_LOG_LINE_START = r"\d{4}-\d\d-\d\dT\S+ (TRACE|DEBUG|INFO|WARN|ERROR) "  # opens a log line
_ID_PATTERN = r"[a-zA-Z0-9][.a-zA-Z0-9_-]*\Z"  # Kestra's input ids
_UNSET = object()


class _Goal:
    """What a wait waits for: an end, or one of the states the caller named
    (``named``), read from an execution whose state history holds at least ``floor``
    entries. A read with fewer is older than the action the wait follows (a restart,
    a resume): a server stores executions asynchronously, and for a moment after a
    restart it can still give the FAILED execution that was restarted."""

    __slots__ = ("named", "states", "floor")

    def __init__(self, named: Any = frozenset(), floor: int = 0) -> None:
        self.named = frozenset(named)
        self.states = _TERMINAL_STATES | self.named
        self.floor = floor

    def reached(self, execution: Optional[Dict[str, Any]]) -> bool:
        return _state(execution) in self.states and _history_length(execution) >= self.floor

    def current(self, execution: Optional[Dict[str, Any]]) -> bool:
        """Whether ``execution`` is as recent as the action the wait follows."""
        return _history_length(execution) >= self.floor

    def words(self) -> str:
        """"end", or "reach PAUSED or end": what the wait was for, in a message."""
        return "end" if not self.named else "reach %s or end" % " or ".join(sorted(self.named))


_END = _Goal()


def _history_length(execution: Optional[Dict[str, Any]]) -> int:
    state = execution.get("state") if isinstance(execution, dict) else None
    histories = state.get("histories") if isinstance(state, dict) else None
    return len(histories) if isinstance(histories, list) else 0


def _goal_states(until: Any) -> FrozenSet[str]:
    """The states ``until`` names (a name, or several), checked; upper case."""
    if until is None:
        return frozenset()
    names = [until] if isinstance(until, str) else list(until) if isinstance(until, collections.abc.Iterable) else None
    if names is None or (isinstance(until, str) and not until.strip()) or not all(
            isinstance(name, str) for name in names):
        raise KestraError("until must be a state name such as 'PAUSED', or several, got %r" % (until,))
    states = frozenset(name.strip().upper() for name in names)
    unknown = sorted(states - _STATES)
    if unknown:
        raise KestraError("until: %s %s not a state of Kestra's; the states are %s"
                          % (", ".join(repr(name) for name in unknown), "is" if len(unknown) == 1 else "are",
                             ", ".join(sorted(_STATES))))
    return states


class FlowExecution:
    """What ``Flow.execute`` returns: ``execution_id``, ``status``, ``log`` (the logs
    as text), ``error`` (why it did not succeed, or None), ``outputs`` (task outputs
    by task id), ``url`` (the UI page) and ``execution`` (the server's JSON)."""

    __slots__ = ("execution_id", "status", "log", "error", "outputs", "url", "execution")

    def __init__(self, execution_id: str, status: Optional[str], log: Optional[str] = None,
                 error: Optional[str] = None, outputs: Optional[Dict[str, Any]] = None,
                 url: Optional[str] = None, execution: Optional[Dict[str, Any]] = None) -> None:
        self.execution_id = execution_id
        self.status = status
        self.log = log
        self.error = error
        self.outputs = outputs
        self.url = url
        self.execution = execution

    def __repr__(self) -> str:
        return "FlowExecution(execution_id=%r, status=%r, error=%r)" % (self.execution_id, self.status, self.error)


class EachResult(FlowExecution):
    """One result of ``Flow.execute_each``: a FlowExecution, plus ``index`` (the input
    set's place in the iterable, from 0), ``inputs`` (the input set as given) and
    ``exception`` (the KestraError when the execution could not be created, read or
    waited for; then ``status`` is None unless it was known, and ``error`` says why)."""

    __slots__ = ("index", "inputs", "exception")

    def __init__(self, index: int, inputs: Any, result: Optional[FlowExecution] = None,
                 exception: Optional[BaseException] = None, execution_id: Optional[str] = None,
                 url: Optional[str] = None) -> None:
        if result is not None:
            super().__init__(result.execution_id, result.status, result.log, result.error, result.outputs,
                             result.url, result.execution)
        else:
            status = getattr(exception, "state", None)
            super().__init__(execution_id or getattr(exception, "execution_id", None) or "", status,
                             error=str(exception), url=url)
        self.index = index
        self.inputs = inputs
        self.exception = exception

    def __repr__(self) -> str:
        return "EachResult(index=%r, execution_id=%r, status=%r, error=%r)" % (
            self.index, self.execution_id, self.status, self.error)


class _EachGate:
    """When ``execute_each`` may take the next input set: fewer than ``parallel``
    executions started and not ended and, in input order, no more than 4 x parallel
    ahead of the result yielded next. Thread-safe; ``close`` lets the feeder go."""

    def __init__(self, parallel: int, ordered: bool) -> None:
        import threading

        self.parallel, self.ordered = parallel, ordered
        self.cond = threading.Condition()
        self.open = 0  # input sets taken whose result has not come yet
        self.taken = 0
        self.turn = 0
        self.closed = False

    def wait_for_room(self) -> bool:
        """Blocks until an input set may be taken (True, and it counts as taken) or
        the gate is closed (False)."""
        with self.cond:
            while not self.closed and (self.open >= self.parallel
                                       or (self.ordered and self.taken - self.turn >= 4 * self.parallel)):
                self.cond.wait(0.5)
            if self.closed:
                return False
            self.open += 1
            self.taken += 1
            return True

    def ended(self) -> None:
        with self.cond:
            self.open -= 1
            self.cond.notify()

    def yielded(self, turn: int) -> None:
        with self.cond:
            self.turn = turn
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class _EachSearch:
    """Whether ``execute_each`` may search (False once the server refused it), and the
    warning said once when a search fails."""

    def __init__(self) -> None:
        self.works = True
        self.warned = False

    def failed(self, flow: "Flow", exc: BaseException) -> None:
        if not self.warned:
            self.warned = True
            flow._log_warning("searching executions failed (%s): each execution is read every poll_interval %s",
                              exc, "instead" if not self.works else "while the search fails")


class _Running:
    """An execution that ``execute_each`` waits for."""

    __slots__ = ("index", "inputs", "execution_id", "url", "started", "deadline", "looked")

    def __init__(self, index: int, inputs: Any, execution_id: str, url: str, started: Optional[str],
                 deadline: Optional[float], looked: float) -> None:
        self.index, self.inputs, self.execution_id, self.url = index, inputs, execution_id, url
        self.started, self.deadline, self.looked = started, deadline, looked


class Flow:
    """Run Kestra flows from Python, wait for them, read their logs and outputs.

    The server and credentials come from ``KESTRA_HOSTNAME`` (default
    ``http://localhost:8080``; a path prefix works), ``KESTRA_USER`` and
    ``KESTRA_PASSWORD`` (Basic) or ``KESTRA_API_TOKEN`` (Bearer, Enterprise); the
    attributes ``hostname``, ``user``, ``password``, ``api_token`` and ``tenant`` can
    be changed afterwards. Example::

        result = Flow().execute("company.team", "etl", {"day": "2024-04-21"})
        print(result.status, result.error)

    ``timeout`` bounds the wait (None: no bound), ``kill_on_timeout`` kills the
    execution when it is reached; ``request_timeout`` bounds each network read;
    ``retry`` is a RetryPolicy; ``ca_bundle`` and ``verify_tls`` set TLS.
    """

    def __init__(
        self,
        wait_for_completion: bool = True,
        poll_interval: float = 1,
        labels_from_inputs: bool = False,
        tenant: Optional[str] = None,
        *,
        timeout: Optional[float] = None,
        kill_on_timeout: bool = False,
        request_timeout: float = 30.0,
        retry: Optional[RetryPolicy] = None,
        ca_bundle: Optional[str] = None,
        verify_tls: bool = True,
    ) -> None:
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.labels_from_inputs = labels_from_inputs
        self.tenant = tenant
        self.hostname = os.environ.get("KESTRA_HOSTNAME") or "http://localhost:8080"
        self.user = os.environ.get("KESTRA_USER") or None
        self.password = os.environ.get("KESTRA_PASSWORD") or None
        self.api_token = os.environ.get("KESTRA_API_TOKEN") or None
        self.timeout = timeout
        self.kill_on_timeout = kill_on_timeout
        self.request_timeout = request_timeout
        self.retry = retry or RetryPolicy()
        self.ca_bundle = ca_bundle
        self.verify_tls = verify_tls
        self._sleep = time.sleep  # replaced by tests: no real sleeping there
        self._clock = time.monotonic
        self._versions = {}  # type: Dict[str, Optional[Tuple[int, ...]]]  # hostname -> server version
        self._version_texts = {}  # type: Dict[str, str]  # hostname -> the version as the server says it
        self._version_lock = _thread.allocate_lock()
        self._tls = None  # type: Any
        self._pool = _Pool()  # kept-alive connections, shared by this Flow's threads
        # execution id -> the state history length an action (restart, resume, pause) left:
        # a wait on this Flow ignores older reads of it (see _Goal). The latest _FLOORS_KEPT.
        self._floors = {}  # type: Dict[str, int]

    def __repr__(self) -> str:
        try:
            auth = self._auth_kind()
        except KestraError:
            auth = "invalid"
        return "Flow(hostname=%r, tenant=%r, auth=%r)" % (_shown_url(self.hostname or ""), self.tenant, auth)

    def close(self) -> None:
        """Close the connections this Flow keeps alive between requests. It stays
        usable: the next request opens a new one. ``with Flow() as flow:`` closes them
        at the end of the block."""
        self._pool.close()

    def __enter__(self) -> "Flow":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # Requests ----------------------------------------------------------------

    def _make_request(self, method: str, url: str, **kwargs: Any) -> Response:
        """Send a request to the Kestra API and return its Response; an error status
        raises the matching KestraHTTPError. ``url`` is absolute or a path under the
        server. Keyword arguments as in requests: ``params``, ``headers``, ``data``,
        ``json``, ``files``, ``timeout``, ``allow_redirects``."""
        allowed = {"params", "headers", "data", "json", "files", "timeout", "allow_redirects"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError("_make_request() got unexpected keyword argument(s): %s" % ", ".join(unknown))
        headers = list((kwargs.get("headers") or {}).items())
        body = _request_body(kwargs, headers)
        if not url.startswith(("http://", "https://")):
            url = self._root() + "/" + url.lstrip("/")
        try:
            response = self._request(
                method.upper(), url, params=kwargs.get("params"), headers=headers, body=body,
                timeout=kwargs.get("timeout"), allow_redirects=kwargs.get("allow_redirects", True),
            )  # type: Response
        finally:
            if isinstance(body, _Multipart):
                body.close()
        self._raise_for(response, "%s %s" % (method.upper(), _shown_url(url)))
        return response

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: Optional[List[Tuple[str, str]]] = None,
        body: Any = None,
        timeout: Optional[float] = None,
        stream: bool = False,
        allow_redirects: bool = True,
        creates: Optional[Tuple[str, str]] = None,
        auth: bool = True,
        deadline: Optional[float] = None,
        attempts: Optional[int] = None,
        acts_on: Optional[Tuple[str, str]] = None,
        idempotent: Optional[bool] = None,
    ) -> Any:
        """Send with retries and redirects; the Response (or, with ``stream``, the open
        connection and response) whatever its status. ``creates`` = (namespace, flow)
        marks an execution create, retried only when the server cannot have processed it.
        ``deadline`` (on this Flow's clock) bounds every attempt and every wait between
        attempts: past it, _DeadlinePassed is raised. ``attempts`` overrides the policy's."""
        url += _query_text(params, "&" if "?" in url else "?")
        timeout = self.request_timeout if timeout is None else _seconds(timeout)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "DELETE", "PUT", "OPTIONS") and creates is None
        policy = self.retry
        max_attempts = attempts or policy.attempts
        attempt = redirects = 0
        sent_at = None
        fresh = False  # a kept-alive connection failed: the next attempt opens a new one
        while True:
            attempt += 1
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise _DeadlinePassed()
                timeout = min(timeout, max(0.05, remaining))
            if (attempt > 1 or fresh) and isinstance(body, _Multipart):
                body.rewind()
            trusted = self._trusted(url)
            # Credentials the caller put in the headers follow the same rule as ours.
            sent_headers = [(name, value) for name, value in headers or []
                            if trusted or name.lower() not in _SENSITIVE_HEADERS]
            if auth and trusted:
                sent_headers += self._auth_headers()
            retry_after = None
            status = None
            try:
                if sent_at is None and not idempotent:  # for the error that says it may have taken effect
                    sent_at = _utc_now_text()
                reply = _exchange(method, url, sent_headers, body, timeout, self._tls_context(url), stream,
                                  self._pool, None if fresh else (_IDLE_MAX_S if idempotent else _REUSE_UNSAFE_S))
            except _Stale as exc:
                if not idempotent:
                    raise self._outcome_unknown(method, url, creates, acts_on, sent_at,
                                                "the kept-alive connection closed (%s)" % exc.__cause__) from None
                fresh = True  # at once, on a new connection: not a failed attempt
                attempt -= 1
                continue
            except _NotSent as exc:
                failure = "could not connect (%s)" % exc.__cause__
            except _NoAnswer as exc:
                if not idempotent:
                    raise self._outcome_unknown(method, url, creates, acts_on, sent_at, "no complete answer (%s)" % exc.__cause__) from None
                failure = "no complete answer (%s)" % exc.__cause__
            else:
                response = reply[1] if stream else reply
                status = response.status if stream else response.status_code
                if status in _REDIRECTS and allow_redirects:
                    url = self._redirected(method, url, _header(response, "Location"), redirects, reply, stream)
                    redirects += 1
                    attempt -= 1
                    continue
                if status not in policy.statuses:
                    self._log_debug("%s %s -> %d", method, _shown_url(url), status)
                    return reply
                if not idempotent and status not in _NOT_PROCESSED:
                    if stream:
                        reply[0].close()
                    raise self._outcome_unknown(method, url, creates, acts_on, sent_at, "the server answered %d" % status)
                retry_after = _retry_after_seconds(_header(response, "Retry-After"), time.time())
                failure = "the server answered %d" % status
                if stream:
                    reply[0].close()
            if attempt >= max_attempts:
                raise FailedExponentialBackoff(
                    "%s %s failed %d time(s); last: %s" % (method, _shown_url(url), attempt, failure),
                    attempt, status,
                )
            if isinstance(body, _Multipart) and not body.rewindable():
                raise KestraError(
                    "%s %s: %s, and the request cannot be sent again: a file input was read "
                    "from a stream that cannot be rewound (give a path or a seekable file)"
                    % (method, _shown_url(url), failure)
                )
            delay = policy.delay(attempt, retry_after)
            if deadline is not None and self._clock() + delay >= deadline:
                raise _DeadlinePassed()
            self._log_debug("%s %s: %s; attempt %d of %d in %.1f s", method, _shown_url(url), failure,
                            attempt + 1, max_attempts, delay)
            self._sleep(delay)

    def _redirected(self, method: str, url: str, location: Optional[str], redirects: int, reply: Any, stream: bool) -> str:
        import urllib.parse

        if stream:
            reply[0].close()
        if not location:
            raise InvalidResponseError("%s %s: a redirect without a Location" % (method, _shown_url(url)))
        try:
            new_url = urllib.parse.urljoin(url, location)
            urllib.parse.urlsplit(new_url).port  # noqa: B018 - raises on a bad port or host
        except ValueError as exc:
            raise InvalidResponseError("%s %s: a redirect to an invalid Location (%s): %r%s"
                                       % (method, _shown_url(url), exc, location[:200], self._server_said())) from None
        if method not in ("GET", "HEAD", "DELETE"):
            raise KestraError(
                "%s %s was redirected to %s; the request is not sent again there. Point "
                "KESTRA_HOSTNAME at the final address" % (method, _shown_url(url), _shown_url(new_url))
            )
        if redirects >= _MAX_REDIRECTS:
            raise KestraError("%s %s: more than %d redirects" % (method, _shown_url(url), _MAX_REDIRECTS))
        return new_url

    def _outcome_unknown(self, method: str, url: str, creates: Optional[Tuple[str, str]],
                         acts_on: Optional[Tuple[str, str]], sent_at: Optional[str], why: str) -> KestraError:
        if acts_on is not None:
            what, execution_id = acts_on
            return OutcomeUnknownError(
                "%s: %s after the request was sent, so it may have taken effect. It is not sent "
                "again: read the execution to see (%s)" % (what, why, self._hint("get_execution", execution_id)),
                sent_at or "",
            )
        if creates is None:
            return OutcomeUnknownError(
                "%s %s: %s after the request was sent; it may have taken effect, so it is "
                "not sent again" % (method, _shown_url(url), why), sent_at or "",
            )
        namespace, flow_id = creates
        return ExecutionMayExistError(
            "creating an execution of %s.%s: %s after the request was sent, so the execution "
            "may exist. It is not sent again (that could run the flow twice): look for an "
            "execution of this flow created at about %s UTC, at %s"
            % (namespace, flow_id, why, sent_at, self._ui_url("executions", namespace, flow_id)),
            namespace, flow_id, sent_at or "",
        )

    def _raise_for(self, response: Response, what: str) -> None:
        if response.status_code >= 400:
            raise _http_error(response, what, self._auth_hint())

    # Credentials and addresses ------------------------------------------------

    def _credentials(self) -> Tuple[Optional[str], Optional[str], Optional[str]]:
        """(token, user, password): the attributes, else user:password@ in the hostname."""
        import urllib.parse

        user, password = self.user, self.password
        if not (self.api_token or user or password):
            parts = urllib.parse.urlsplit((self.hostname or "").strip())
            if parts.username:
                user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        for name, value in (("KESTRA_API_TOKEN (Flow.api_token)", self.api_token),
                            ("KESTRA_USER (Flow.user)", user), ("KESTRA_PASSWORD (Flow.password)", password)):
            if value and any(ord(char) < 32 or ord(char) == 127 for char in value):
                raise KestraError(
                    "%s holds a line break or another control character (read from a file "
                    "without .strip()?); it cannot go in a header" % name
                )
        return self.api_token or None, user or None, password or None

    def _auth_kind(self) -> str:
        token, user, password = self._credentials()
        if token:
            return "token"
        if user or password:
            return "basic"
        return "none"

    def _auth_hint(self) -> str:
        """Which credentials were sent, for a 401 message; never their values."""
        kind = self._auth_kind()
        if kind == "token":
            return "an API token was sent (KESTRA_API_TOKEN / Flow.api_token)"
        if kind == "basic":
            return "Basic credentials were sent for user %r (KESTRA_USER / KESTRA_PASSWORD)" % self._credentials()[1]
        return "no credentials were sent: set KESTRA_USER and KESTRA_PASSWORD, or KESTRA_API_TOKEN"

    def _trusted(self, url: str) -> bool:
        """Whether credentials may go to ``url``: the configured server only (never
        another host or port, never from https down to http after a redirect)."""
        import urllib.parse

        base = urllib.parse.urlsplit(self._root())
        target = urllib.parse.urlsplit(url)
        same_host = (target.hostname or "").lower() == (base.hostname or "").lower()
        same_port = (target.port or _default_port(target.scheme)) == (base.port or _default_port(base.scheme))
        upgrade = base.scheme == "http" and target.scheme == "https"
        downgrade = base.scheme == "https" and target.scheme != "https"
        return same_host and not downgrade and (same_port or upgrade)

    def _auth_headers(self) -> List[Tuple[str, str]]:
        """The Authorization header for the configured server, if credentials are set."""
        import base64

        token, user, password = self._credentials()
        if token:
            return [("Authorization", "Bearer " + token)]
        if not (user or password):
            return []
        if not (user and password):
            missing = "KESTRA_PASSWORD (Flow.password)" if user else "KESTRA_USER (Flow.user)"
            raise KestraError("Basic authentication needs a user and a password, and %s is not set" % missing)
        credentials = ("%s:%s" % (user, password)).encode("utf-8")
        return [("Authorization", "Basic " + base64.b64encode(credentials).decode("ascii"))]

    def _root(self) -> str:
        """The server's base URL (scheme, host, optional path prefix), without a slash at the end."""
        import urllib.parse

        hostname = (self.hostname or "").strip()
        try:
            parts = urllib.parse.urlsplit(hostname)
            parts.port  # a port that is not a number, or out of range, raises here
        except ValueError:
            parts = urllib.parse.urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KestraError(
                "KESTRA_HOSTNAME (Flow.hostname) must be a URL such as http://localhost:8080, got %r"
                % _shown_url(hostname)
            )
        netloc = parts.netloc.rpartition("@")[2]  # credentials belong in KESTRA_USER/KESTRA_PASSWORD
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))

    def _tls_context(self, url: str) -> Any:
        if not url.startswith("https:"):
            return None
        key = (self.ca_bundle, self.verify_tls, os.environ.get("REQUESTS_CA_BUNDLE"))
        if self._tls is None or self._tls[0] != key:
            self._tls = (key, _tls_context(self.ca_bundle, self.verify_tls))
        return self._tls[1]

    def _version(self) -> Optional[Tuple[int, ...]]:
        """The server's version from the unauthenticated GET /api/v1/configs, once per
        hostname; None when it does not say (then the current API is assumed)."""
        root = self._root()
        with self._version_lock:
            return self._detect_version(root)

    def _detect_version(self, root: str) -> Optional[Tuple[int, ...]]:
        if root not in self._versions:
            version = None
            response = self._request("GET", root + "/api/v1/configs", auth=False)
            if response.status_code == 200:
                try:
                    text = response.json().get("version")
                except (InvalidResponseError, AttributeError):
                    text = None
                version = _parse_version(text)
                if version is not None:
                    self._version_texts[root] = str(text)[:40]
            self._versions[root] = version
        return self._versions[root]

    def _server_said(self) -> str:
        """Which server gave an answer of the wrong shape, for the error: "(Kestra 1.3.25
        answered)"; a proxy in between may be the one to blame."""
        text = self._version_texts.get(self._root())
        return " (Kestra %s answered)" % text if text else " (the server did not say its Kestra version)"

    def _execution(self, value: Any, what: str) -> Dict[str, Any]:
        """``value`` if it is an execution as Kestra's API gives one, where kestra.py reads
        it; else InvalidResponseError naming the field that is not. The one place where
        the shape of an execution is checked."""
        problem = _execution_problem(value)
        if problem is not None:
            raise InvalidResponseError("%s: the answer is not an execution as Kestra's API gives one: %s%s"
                                       % (what, problem, self._server_said()))
        execution = value  # type: Dict[str, Any]
        return execution

    def _legacy(self) -> bool:
        """Whether the server predates tenants in API paths (before 0.23)."""
        version = self._version()
        return version is not None and version < (0, 23)

    def _api(self, *segments: str, legacy: Optional[bool] = None) -> str:
        """An API URL, each segment percent-encoded so that no value can change the route."""
        import urllib.parse

        if legacy is None:
            legacy = self._legacy()
        prefix = [] if legacy else [self.tenant or "main"]
        try:
            path = "/".join(urllib.parse.quote(str(segment), safe="") for segment in prefix + list(segments))
        except UnicodeEncodeError as exc:
            raise KestraError("%r cannot be part of a URL: it holds U+%04X, a lone surrogate, which is not text"
                              % (exc.object[:80], ord(exc.object[exc.start]))) from None
        return self._root() + "/api/v1/" + path

    def _ui_url(self, *segments: str) -> str:
        import urllib.parse

        version = self._versions.get(self._root())
        tenant = [] if version is not None and version < (0, 23) else [self.tenant or "main"]
        return self._root() + "/ui/" + "/".join(urllib.parse.quote(s, safe="") for s in tenant + list(segments))

    # Executions ----------------------------------------------------------------

    def execute(
        self,
        namespace: str,
        flow: str,
        inputs: Optional[Mapping[str, Any]] = None,
        *,
        labels: Any = None,
        revision: Optional[int] = None,
        schedule_date: Any = None,
        server_wait: bool = False,
        timeout: Any = _UNSET,
        kill_on_timeout: Optional[bool] = None,
        until: Any = None,
    ) -> FlowExecution:
        """Create an execution of ``namespace.flow``, wait for its end unless the Flow
        was built with ``wait_for_completion=False``, and return a FlowExecution.

        Inputs: str as is, bool as true/false, numbers as text, dict and list as JSON,
        datetime and date in ISO-8601, None left out; a FILE input as a
        (filename, file[, content type]) tuple, a binary file, a pathlib.Path or bytes.
        ``labels`` (dict or pairs) are added to those ``labels_from_inputs`` makes.
        ``revision`` picks a flow revision, ``schedule_date`` delays the start,
        ``server_wait`` asks the server to answer only at the end, ``timeout`` and
        ``kill_on_timeout`` override the Flow's for this call, and ``until`` (a state
        such as "PAUSED", or several) returns as soon as the execution is in one of
        them, if it does not end first (see ``wait``).
        """
        _require_name("namespace", namespace)
        _require_name("flow", flow)
        goal = _Goal(_goal_states(until))
        wait_timeout = self.timeout if timeout is _UNSET else timeout
        # With a timeout, waiting here keeps the execution id for the timeout error:
        # a server-side wait that times out leaves nothing to say which one it was.
        server_wait = server_wait and wait_timeout is None and self.wait_for_completion and not goal.named
        execution, url = self._start(namespace, flow, inputs, labels, revision, schedule_date, server_wait)
        execution_id = execution["id"]
        if not self.wait_for_completion:
            return FlowExecution(execution_id, "STARTED", url=url, execution=execution)
        if not goal.reached(execution):
            kill = self.kill_on_timeout if kill_on_timeout is None else kill_on_timeout
            execution = self._wait(execution_id, wait_timeout, kill, url, goal)
        return self._result(execution, url, goal)

    def _start(self, namespace: str, flow: str, inputs: Optional[Mapping[str, Any]], labels: Any,
               revision: Optional[int], schedule_date: Any, server_wait: bool) -> Tuple[Dict[str, Any], str]:
        """Create the execution: (the server's execution, its UI address)."""
        fields, files = _input_parts(inputs or {})
        try:
            label_values = _label_values(labels, inputs if self.labels_from_inputs else None)
            query = [("labels", label) for label in label_values]
            if revision is not None:
                query.append(("revision", str(int(revision))))
            if schedule_date is not None:
                query.append(("scheduleDate", _iso_text(schedule_date, "schedule_date")))
            if server_wait:
                query.append(("wait", "true"))
            body = _Multipart(fields, files) if fields or files else None
            execution = self._create(namespace, flow, body, query, server_wait)
        finally:
            for part in files:
                part.close()
        execution_id = execution["id"]
        # Kestra 1.3.25 and 2.0 give the UI link as a path (/ui/main/executions/...).
        url = execution.get("url") or self._ui_url("executions", namespace, flow, execution_id)
        if url.startswith("/"):
            import urllib.parse

            url = urllib.parse.urljoin(self._root() + "/", url)
        self._log_info("created execution %s of %s.%s: %s", execution_id, namespace, flow, url)
        return execution, url

    def _create(self, namespace: str, flow: str, body: Optional[_Multipart], query: List[Tuple[str, str]],
                server_wait: bool) -> Dict[str, Any]:
        legacy = self._legacy()
        for attempt_legacy in (legacy, True):
            response = self._request(
                "POST", self._api("executions", namespace, flow, legacy=attempt_legacy), params=query,
                body=body, creates=(namespace, flow),
                timeout=_SERVER_WAIT_READ_S if server_wait else None,
            )
            # A server that did not say its version and knows no tenant paths: try once more
            # on the paths of servers before 0.23 (a 404 means nothing was created).
            if response.status_code == 404 and not attempt_legacy and self._version() is None:
                if body is not None:
                    body.rewind()
                continue
            if attempt_legacy and not legacy and response.status_code < 400:
                self._versions[self._root()] = (0, 22, 0)  # known now: before tenants in paths
            break
        if response.status_code == 404:
            raise NotFoundError(
                "flow %s.%s not found (404): %s" % (namespace, flow, _server_message(response) or "check the namespace, the flow id and the tenant"),
                response,
            )
        if response.status_code == 409:
            raise ConflictError("flow %s.%s is disabled (409): %s" % (namespace, flow, _server_message(response) or ""), response)
        what = "creating an execution of %s.%s" % (namespace, flow)
        self._raise_for(response, what)
        return self._execution(response.json(), what)

    def wait(self, execution_id: Any, *, timeout: Any = _UNSET, kill_on_timeout: Optional[bool] = None,
             until: Any = None) -> FlowExecution:
        """Wait for an execution created earlier (say, with ``wait_for_completion=False``)
        to end, and return it as ``execute`` would. ``execution_id`` is an id, or the
        FlowExecution that ``execute``, ``restart``, ``resume``... returned.

        ``until`` names a state (or several) to return at as well, such as "PAUSED" to
        wait for an approval point: the result's ``status`` says which was reached,
        and its ``error`` is None for a named state. After ``restart``, ``resume`` or
        ``pause``, the wait ignores what the server still gives from before the action
        (on this Flow, or when given the FlowExecution the action returned)."""
        floor = self._floors.get(execution_id, 0) if isinstance(execution_id, str) else 0
        if isinstance(execution_id, FlowExecution):
            floor = max(self._floors.get(execution_id.execution_id, 0), _history_length(execution_id.execution))
            execution_id = execution_id.execution_id
        goal = _Goal(_goal_states(until), floor)
        execution = self.get_execution(execution_id)
        url = self._ui_url("executions", execution.get("namespace") or "", execution.get("flowId") or "", execution_id)
        if not goal.reached(execution):
            kill = self.kill_on_timeout if kill_on_timeout is None else kill_on_timeout
            execution = self._wait(execution_id, self.timeout if timeout is _UNSET else timeout, kill, url, goal)
        return self._result(execution, url, goal)

    def _wait(self, execution_id: str, timeout: Optional[float], kill: bool, url: str,
              goal: _Goal = _END) -> Dict[str, Any]:
        """Follow the execution's event stream to its end, within ``timeout`` seconds if
        given. A stream that stays quiet is followed again at once; one that fails is
        retried after ``poll_interval``, and after three failures in a row the state is
        polled every ``poll_interval`` instead.

        A stream is not trusted alone: ``_follow`` also reads the stored state once
        ``poll_interval`` (0.25 s at most) after it opens, then at doubling gaps up to
        _LOOK_CAP_S. Real
        servers (1.3.25 and the 2.0 snapshot seen, under load) can miss an end on a
        stream opened as the execution ends: they subscribe the stream, then read the
        stored execution, and the end's event can go out before the subscription while
        the read still finds it running. That stream then stays quiet for ever. The
        first look finds such an end within a quarter of a second; a stream subscribed
        before the end sends it at once, so the typical wait keeps its few ms of lag,
        and a long quiet execution costs a cheap read every few seconds."""
        deadline = None if timeout is None else self._clock() + timeout
        created = self._clock()
        last = None  # type: Optional[Dict[str, Any]]
        stream_failures = 0
        try:
            while True:
                try:
                    healthy = False
                    if stream_failures < 3:
                        try:
                            seen, healthy = self._follow(execution_id, deadline, self.poll_interval, goal)
                        except NotFoundError:
                            seen, healthy = None, False
                            if self._clock() - created <= _NOT_YET_GRACE_S:
                                stream_failures -= 1  # not stored yet: not the stream's fault
                        stream_failures = 0 if healthy else stream_failures + 1
                        last = seen or last
                        if last is not None and goal.reached(last):
                            return last
                    if not healthy:  # a quiet but healthy stream was read up to now: no need
                        execution = self._get_execution_if_stored(execution_id, created, deadline)
                        if execution is not None:
                            last = execution
                            if goal.current(execution):
                                self._saw(execution)
                            if goal.reached(execution):
                                return execution
                        self._sleep_within(deadline)
                    elif deadline is not None and self._clock() >= deadline:
                        raise _DeadlinePassed()
                except _DeadlinePassed:
                    final = self._last_look(execution_id)  # it may have ended just now
                    if final is not None and goal.reached(final):
                        return final
                    raise self._timed_out(execution_id, final or last, timeout, kill, url, goal) from None
        except KeyboardInterrupt:
            self._say_stopped_waiting(execution_id, url)
            raise
        except FailedExponentialBackoff as exc:
            raise FailedExponentialBackoff(
                "%s, while waiting for execution %s, which may still be running: wait again "
                "with %s once the server answers" % (exc, execution_id, self._hint("wait", execution_id)),
                exc.attempts, exc.status_code,
            ) from None

    def execute_each(
        self,
        namespace: str,
        flow: str,
        inputs: Iterable[Any],
        *,
        parallel: int = 8,
        labels: Any = None,
        ordered: bool = False,
        timeout: Any = _UNSET,
        kill_on_timeout: Optional[bool] = None,
        kill_on_interrupt: bool = False,
    ) -> Iterator[EachResult]:
        """Run ``namespace.flow`` once per input set, ``parallel`` at a time, and yield
        an EachResult for each as it ends (``ordered=True``: in the order of the input
        sets). Example::

            for result in Flow().execute_each("company.team", "etl", ({"day": d} for d in days), parallel=16):
                print(result.index, result.inputs, result.status, result.error)

        ``inputs`` is any iterable, read lazily: an input set is taken only when an
        execution can start. Each is a mapping of inputs as ``execute`` takes them
        (FILE inputs included; None: no inputs), or an (inputs, labels) pair whose
        labels go with ``labels``, which every execution gets. An execution that fails
        or cannot be created, read or waited for is a result too, with ``error`` and
        ``exception``: the other executions go on. ``timeout`` bounds each execution's
        wait (default: the Flow's); ``kill_on_timeout`` as in ``execute``.

        The executions are not followed one stream each: one search request reads
        which of them still run, every ``poll_interval`` or 0.25 s if sooner, and each
        that no longer runs is read once.
        Ctrl-C stops creating executions, says on stderr which still run and leaves
        them running (``kill_on_interrupt=True``: kills them); so does leaving the loop
        early, without a word."""
        _require_name("namespace", namespace)
        _require_name("flow", flow)
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise ValueError("parallel must be a whole number of executions, at least 1: %r" % (parallel,))
        if isinstance(inputs, (str, bytes, collections.abc.Mapping)):
            raise TypeError("execute_each takes an iterable of input sets (say, a list of dicts), not a %s; "
                            "for one execution, call execute()" % type(inputs).__name__)
        items = iter(inputs)
        wait_timeout = self.timeout if timeout is _UNSET else timeout
        wait_timeout = None if wait_timeout is None else _seconds(wait_timeout)
        kill = self.kill_on_timeout if kill_on_timeout is None else kill_on_timeout
        return self._each(namespace, flow, items, parallel, labels, ordered, wait_timeout, kill, kill_on_interrupt)

    def _each(self, namespace: str, flow: str, items: Iterator[Any], parallel: int, labels: Any, ordered: bool,
              timeout: Optional[float], kill: bool, kill_on_interrupt: bool) -> Iterator[EachResult]:
        import concurrent.futures
        import queue
        import threading

        events = queue.Queue()  # type: Any  # (kind, payload) from the feeder and the workers
        workers = concurrent.futures.ThreadPoolExecutor(min(parallel + 4, 16))  # creates and reads share them
        gate = _EachGate(parallel, ordered)
        stop = threading.Event()  # set when the caller stops: nothing more is created
        feeder = threading.Thread(target=self._each_feed, args=(items, gate, stop, events),
                                  name="kestra-each-inputs", daemon=True)
        running = {}  # type: Dict[str, _Running]
        busy = 0  # creates and reads under way in the workers
        received = 0  # input sets the feeder gave
        exhausted = False
        done = {}  # type: Dict[int, EachResult]  # ordered: results waiting for their turn
        turn = 0  # ordered: the index yielded next
        search = _EachSearch()
        next_poll = self._clock()
        feeder.start()
        try:
            while True:
                if exhausted and not busy and not running and (not ordered or turn == received):
                    return
                try:
                    wait = 0.5 if not running else min(0.5, max(0.0, next_poll - self._clock()))
                    kind, payload = events.get(timeout=wait)  # bounded: Ctrl-C lands (Windows)
                except queue.Empty:
                    kind, payload = None, None
                if kind == "input":
                    index, item = payload
                    received += 1
                    workers.submit(self._each_start, namespace, flow, index, item, labels, timeout, events, stop)
                    busy += 1
                elif kind == "exhausted":
                    exhausted = True
                elif kind == "input error":  # the caller's iterable raised: theirs to see
                    raise payload
                elif kind is not None:
                    busy -= 1
                if kind == "running":
                    running[payload.execution_id] = payload
                elif kind in ("ended", "read"):
                    if kind == "ended":  # "read": its room was given back when its end was seen
                        gate.ended()
                    if not ordered:
                        yield payload
                    else:
                        done[payload.index] = payload
                        while turn in done:
                            yield done.pop(turn)
                            turn += 1
                            gate.yielded(turn)
                if running and self._clock() >= next_poll:
                    for execution_id in self._each_ended(namespace, flow, running, search):
                        workers.submit(self._each_read, running.pop(execution_id), timeout, kill, events, gate)
                        busy += 1
                    next_poll = self._clock() + max(0.05, min(self.poll_interval, _EACH_SEARCH_S))
        except KeyboardInterrupt:
            stop.set()
            gate.close()
            left = self._each_left(running, busy, events)
            if left:
                _say_on_stderr("kestra: stopped: %d execution(s) of %s.%s %s: %s" % (
                    len(left), namespace, flow, "are being killed" if kill_on_interrupt else "keep running",
                    ", ".join("%s (input set %d)" % (execution.url, execution.index) for execution in left)))
                if kill_on_interrupt:
                    failed = []
                    for execution in left:
                        try:
                            self.kill(execution.execution_id)
                        except KestraError as exc:
                            failed.append("%s (%s)" % (execution.execution_id, exc))
                    if failed:
                        _say_on_stderr("kestra: the kill failed for: %s" % "; ".join(failed))
            raise
        finally:
            stop.set()  # also when the caller leaves the loop early
            gate.close()
            workers.shutdown(wait=False)

    @staticmethod
    def _each_feed(items: Iterator[Any], gate: "_EachGate", stop: Any, events: Any) -> None:
        """The feeder thread: takes an input set from the caller's iterable each time
        the gate lets an execution start, so that a slow iterable (stdin, a tail -f)
        never holds up results, reads and timeouts."""
        index = 0
        while gate.wait_for_room():
            try:
                item = next(items)
            except StopIteration:
                events.put(("exhausted", None))
                return
            except BaseException as exc:
                events.put(("input error", exc))
                return
            if stop.is_set():
                return
            events.put(("input", (index, item)))
            index += 1

    def _each_left(self, running: Dict[str, _Running], busy: int, events: Any) -> List[_Running]:
        """After Ctrl-C: the executions still running, those whose create was under way
        included (given a few seconds to say their id); creates not begun are not made."""
        import queue

        left = list(running.values())
        deadline = self._clock() + 5.0
        while busy > 0 and self._clock() < deadline:
            try:
                kind, payload = events.get(timeout=0.1)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                break
            if kind in ("input", "exhausted", "input error"):
                continue
            busy -= 1
            if kind == "running":
                left.append(payload)
        return sorted(left, key=lambda execution: execution.index)

    def _each_start(self, namespace: str, flow: str, index: int, item: Any, labels: Any,
                    timeout: Optional[float], events: Any, stop: Any) -> None:
        """A worker: create one execution; say it runs, or its result. Always says one
        of them (or "skipped" once the caller stopped): the main loop counts on it."""
        try:
            if stop.is_set():
                events.put(("skipped", None))
                return
            events.put(self._each_started(namespace, flow, index, item, labels, timeout))
        except BaseException as exc:  # a result, not the end of the others
            events.put(("ended", EachResult(index, item, exception=exc)))

    def _each_started(self, namespace: str, flow: str, index: int, item: Any, labels: Any,
                      timeout: Optional[float]) -> Tuple[str, Any]:
        inputs = item
        if isinstance(item, tuple):
            if len(item) != 2:
                raise KestraError("input set %d is a tuple of %d items: give a mapping of inputs, or an "
                                  "(inputs, labels) pair" % (index, len(item)))
            inputs, extra = item
            labels = [pair for group in (labels, extra) if group is not None
                      for pair in (group.items() if isinstance(group, collections.abc.Mapping) else group)]
        if inputs is not None and not isinstance(inputs, collections.abc.Mapping):
            raise KestraError("input set %d is a %s: give a mapping of inputs (or None)"
                              % (index, type(inputs).__name__))
        execution, url = self._start(namespace, flow, inputs, labels, None, None, False)
        try:
            if _state(execution) in _TERMINAL_STATES:  # ended already
                return "ended", EachResult(index, item, self._result(execution, url))
            state = execution.get("state") or {}
            histories = state.get("histories") or [{}]
            started = state.get("startDate") or (histories[0].get("date") if isinstance(histories[0], dict) else None)
            deadline = None if timeout is None else self._clock() + timeout
            return "running", _Running(index, item, execution["id"], url, started if isinstance(started, str) else None,
                                       deadline, self._clock())
        except Exception as exc:
            return "ended", EachResult(index, item, exception=exc, execution_id=execution["id"], url=url)

    def _each_ended(self, namespace: str, flow: str, running: Dict[str, _Running], search: "_EachSearch") -> List[str]:
        """Which of the running executions to read now: those the server's search no
        longer lists as running, those past their deadline, and any not read for
        _EACH_LOOK_S (a search can lag behind). Where the search is refused or fails,
        each execution not read for ``poll_interval``."""
        listed = None  # type: Optional[Set[str]]
        if search.works:
            starts = [execution.started for execution in running.values() if execution.started]
            since = min(starts) if len(starts) == len(running) else None
            try:
                listed = self._running_ids(namespace, flow, since)
            except KestraHTTPError as exc:
                if exc.status_code is not None and 400 <= exc.status_code < 500:
                    search.works = False  # not this server, or not this user: read each execution instead
                search.failed(self, exc)
            except KestraError as exc:
                search.failed(self, exc)
        now = self._clock()
        if listed is None:
            return [execution_id for execution_id, execution in running.items()
                    if now - execution.looked >= self.poll_interval
                    or (execution.deadline is not None and now >= execution.deadline)]
        return [execution_id for execution_id, execution in running.items()
                if execution_id not in listed or now - execution.looked >= _EACH_LOOK_S
                or (execution.deadline is not None and now >= execution.deadline)]

    def _running_ids(self, namespace: str, flow: str, since: Optional[str]) -> Set[str]:
        """The ids of the flow's executions not ended, started at ``since`` or later."""
        query = _search_filters(namespace, flow, None, None, since, None)
        query.append(("filters[state][NOT_IN]", ",".join(sorted(_TERMINAL_STATES))))
        begin = None if since is None else _instant_seconds(since, "since")
        return {execution["id"] for execution in self._search_pages(  # the next search is 0.25 s away: no retry
            query, _SEARCH_PAGE, begin, None, False, "searching the executions of %s.%s" % (namespace, flow), 1)}

    def _each_read(self, execution: _Running, timeout: Optional[float], kill: bool, events: Any,
                   gate: Optional[_EachGate] = None) -> None:
        """A worker: read an execution the search says ended; its result, or back to
        the running ones if it still runs. Once its end is seen, the next input set may
        start while its logs and outputs are read."""
        kind = "ended"
        try:
            state = self.get_execution(execution.execution_id)
            execution.looked = self._clock()
            if _state(state) in _TERMINAL_STATES:
                if gate is not None:
                    gate.ended()
                    kind = "read"
                result = EachResult(execution.index, execution.inputs, self._result(state, execution.url))
            elif execution.deadline is not None and self._clock() >= execution.deadline:
                error = self._timed_out(execution.execution_id, state, timeout, kill, execution.url)
                result = EachResult(execution.index, execution.inputs, exception=error,
                                    execution_id=execution.execution_id, url=execution.url)
            else:
                events.put(("running", execution))
                return
        except BaseException as exc:  # a result, not the end of the others; and always an event
            result = EachResult(execution.index, execution.inputs, exception=exc,
                                execution_id=execution.execution_id, url=execution.url)
        events.put((kind, result))

    def _saw(self, execution: Dict[str, Any]) -> None:
        """Called with each state of the execution that a wait reads; the command line
        draws its progress from it."""

    def _say_stopped_waiting(self, execution_id: str, url: str) -> None:
        """Says, after Ctrl-C, that the execution keeps running and how to kill it."""
        _say_on_stderr(
            "kestra: stopped waiting for execution %s, which keeps running on the server: %s "
            "(kill it with %s, or wait again with %s)"
            % (execution_id, url, self._hint("kill", execution_id), self._hint("wait", execution_id))
        )

    def _hint(self, action: str, execution_id: str) -> str:
        """How the caller does ``action`` (kill, wait, wait_paused, get_execution,
        kill_on_timeout), in its own terms: Python here, a command in the command line."""
        if action == "kill_on_timeout":
            return "kill_on_timeout=True"
        if action == "wait_paused":
            return "Flow().wait(%r, until='PAUSED')" % execution_id
        return "Flow().%s(%r)" % (action, execution_id)

    def _sleep_within(self, deadline: Optional[float]) -> None:
        if deadline is None:
            self._sleep(self.poll_interval)
            return
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise _DeadlinePassed()
        self._sleep(min(self.poll_interval, remaining))

    def _last_look(self, execution_id: str) -> Optional[Dict[str, Any]]:
        """One quick read of the state once the deadline has passed, without retries."""
        try:
            response = self._request("GET", self._api("executions", execution_id),
                                     timeout=min(self.request_timeout, 1.0), attempts=1)
        except KestraError:
            return None
        if response.status_code != 200:
            return None
        try:
            return self._execution(response.json(), "reading execution %s" % execution_id)
        except InvalidResponseError:
            return None

    def _follow(self, execution_id: str, deadline: Optional[float], look: Optional[float] = None,
                goal: _Goal = _END) -> Tuple[Optional[Dict[str, Any]], bool]:
        """Read the execution's event stream: (the last execution seen or None, whether
        the stream was healthy). Returns when the stream ends, stays quiet for
        ``request_timeout``, breaks, or the deadline passes; a single attempt, as the
        caller's loop is the retry. With ``look``, the stored state is also read
        ``look`` seconds after the stream opens, then at doubling gaps up to
        _LOOK_CAP_S, and an end found there ends the follow (see ``_wait``). An end
        older than ``goal``'s floor counts as a broken stream: the caller reads the
        state after a pause rather than following again at once."""
        import http.client

        read_timeout = self.request_timeout
        if deadline is not None:
            read_timeout = max(0.05, min(read_timeout, deadline - self._clock()))
        try:
            connection, response = self._request(
                "GET", self._api("executions", execution_id, "follow"), headers=[("Accept", "text/event-stream")],
                timeout=read_timeout, stream=True, deadline=deadline, attempts=1,
            )
        except FailedExponentialBackoff:
            return None, False
        last = None
        try:
            if response.status != 200:
                error = _http_error(
                    Response("GET", "follow", response.status, response.reason, response.msg, response.read()),
                    "following execution %s" % execution_id, self._auth_hint(),
                )
                if response.status in (401, 403, 404):
                    raise error
                return None, False
            past_deadline = None if deadline is None else (lambda: self._clock() >= deadline)
            idle = None  # type: Optional[Callable[[], bool]]
            stored = []  # type: List[Dict[str, Any]]
            if look is not None:
                idle = self._looker(execution_id, response, connection.sock, look, read_timeout, deadline, stored, goal)
            for event_id, _, data in _sse_events(response, past_deadline, idle):
                if event_id in ("progress", "end") and data:
                    try:
                        execution = json.loads(data)
                    except (ValueError, RecursionError):
                        continue  # a broken event: the next one, or a read of the state, tells
                    last = self._execution(execution, "following execution %s" % execution_id)
                    if goal.current(last):
                        self._saw(last)
                    if goal.reached(last):
                        return last, True
                    if event_id == "end" or _state(last) in _TERMINAL_STATES:
                        return last, False  # from before the action waited after: not the end
            if stored:  # a look found the end the stream did not send
                self._saw(stored[0])
                return stored[0], True
            # Closed before the end (a proxy cutting streams?), or the deadline: the caller
            # reads the state and pauses; following again at once could spin.
            return last, False
        except (OSError, http.client.HTTPException) as exc:
            # Quiet for request_timeout: healthy, follow again. Broken: not.
            return last, isinstance(exc, (TimeoutError, _socket_timeout()))
        finally:
            connection.close()

    def _looker(self, execution_id: str, response: Any, sock: Any, look: float, quiet: float,
                deadline: Optional[float], stored: List[Dict[str, Any]], goal: _Goal = _END) -> Callable[[], bool]:
        """The ``idle`` of ``_follow``'s stream reader: waits until the stream has
        something to read, reading the stored state at each look time meanwhile. True
        (stop reading) once a look finds the end, which goes into ``stored``, or once
        the deadline passes; a stream quiet for ``quiet`` seconds raises a timeout, as
        a quiet read would."""
        gap = max(0.05, min(look, _FIRST_LOOK_S))
        state = {"look": self._clock() + gap, "gap": gap, "heard": self._clock()}

        def idle() -> bool:
            while True:
                now = self._clock()
                if deadline is not None and now >= deadline:
                    return True
                until = min(state["look"], state["heard"] + quiet)
                if deadline is not None:
                    until = min(until, deadline)
                if _readable(response, sock, until - now):
                    state["heard"] = self._clock()
                    return False
                now = self._clock()
                if now >= state["look"]:
                    execution = self._last_look(execution_id)
                    if execution is not None and goal.reached(execution):
                        stored.append(execution)
                        return True
                    state["gap"] = min(state["gap"] * 2, max(gap, _LOOK_CAP_S))
                    state["look"] = self._clock() + state["gap"]
                elif now >= state["heard"] + quiet:
                    raise _socket_timeout()("the event stream was quiet for %s s" % quiet)

        return idle

    def _get_execution_if_stored(self, execution_id: str, created: float,
                                 deadline: Optional[float] = None) -> Optional[Dict[str, Any]]:
        response = self._request("GET", self._api("executions", execution_id), deadline=deadline)
        if response.status_code == 404 and self._clock() - created <= _NOT_YET_GRACE_S:
            return None  # stored asynchronously: not yet
        what = "reading execution %s" % execution_id
        self._raise_for(response, what)
        return self._execution(response.json(), what)

    def _timed_out(self, execution_id: str, last: Optional[Dict[str, Any]], timeout: Optional[float],
                   kill: bool, url: str, goal: _Goal = _END) -> ExecutionTimeoutError:
        killed = False
        note = "it keeps running; kill it with %s or pass %s" % (self._hint("kill", execution_id),
                                                                 self._hint("kill_on_timeout", execution_id))
        if kill:
            try:
                self.kill(execution_id)
                killed = True
                note = "a kill was requested"
            except KestraError as exc:
                note = "the kill request failed: %s" % exc
        state = _state(last) if last else None
        return ExecutionTimeoutError(
            "execution %s did not %s within %s s (last state %s): %s. %s"
            % (execution_id, goal.words(), timeout, state or "unknown", url, note),
            execution_id, state, killed,
        )

    def _result(self, execution: Dict[str, Any], url: str, goal: _Goal = _END) -> FlowExecution:
        """The ended execution (or one in a state ``goal`` names), with its logs
        (fetched once) and its task outputs. The execution has run: logs or outputs
        that cannot be read are said, not raised."""
        execution_id = execution["id"]
        status = _state(execution)
        unread = []
        try:
            log = self.get_logs(execution_id).text  # type: Optional[str]
            # Logs are stored after the end, apart (1.3.25 under load): the error that says why
            # it FAILED may not be there yet. Read again a few times, 1.75 s in all at most.
            for pause in (_FAILED_LOG_PAUSES_S if status == "FAILED" else ()):
                if " ERROR " in (log or ""):
                    break
                self._sleep(pause)
                log = self.get_logs(execution_id).text
        except KestraError as exc:
            log = None
            unread.append("its logs could not be read: %s" % exc)
        try:
            outputs = self._task_outputs(execution)  # type: Optional[Dict[str, Any]]
        except KestraError as exc:
            outputs = None
            unread.append("its outputs could not be read: %s" % exc)
        error = None if status in _SUCCESSFUL_STATES or status in goal.named else _failure_message(execution, log or "")
        for problem in unread:
            self._log_warning("execution %s: %s", execution_id, problem)
            if error:  # a successful execution keeps error=None: scripts test it
                error = "%s; %s" % (error, problem)
        self._log_info("execution %s %s %s", execution_id, "ended" if status in _TERMINAL_STATES else "is", status)
        return FlowExecution(execution_id, status, log, error, outputs, url, execution)

    def check_status(self, execution_id: str) -> Response:
        """GET the execution; ``.json()`` is the execution, ``["state"]["current"]`` its state."""
        response = self._request("GET", self._api("executions", execution_id))  # type: Response
        self._raise_for(response, "reading execution %s" % execution_id)
        return response

    def get_execution(self, execution_id: str) -> Dict[str, Any]:
        """The execution as a dict (state, inputs, labels, task runs...)."""
        return self._execution(self.check_status(execution_id).json(), "reading execution %s" % execution_id)

    def get_logs(self, execution_id: str) -> Response:
        """The execution's logs as text (``.text``), one ``<instant> <LEVEL> <message>`` per line."""
        response = self._request("GET", self._api("logs", execution_id, "download"))  # type: Response
        self._raise_for(response, "reading the logs of execution %s" % execution_id)
        return response

    def kill(self, execution_id: str) -> None:
        """Ask the server to kill a running execution. Kestra 1.3.25 and 2.0 accept the
        request for an execution that has already ended too, and change nothing; a server
        that answers 409 for it raises ConflictError."""
        urls = self._action_urls(execution_id, "kill")
        for index, url in enumerate(urls):
            response = self._request("DELETE", url)
            if response.status_code == 404 and index + 1 < len(urls):
                continue
            self._raise_for(response, "killing execution %s" % execution_id)
            return

    # The rest of an execution's life -----------------------------------------------

    def _action_urls(self, execution_id: str, *action: str) -> List[str]:
        """Where an action on an execution goes: under /actions/ on 2.0, not before; a
        server that does not say its version gets 1.x's path, then 2.0's after a 404."""
        version = self._version()
        old = self._api("executions", execution_id, *action)
        new = self._api("executions", execution_id, "actions", *action)
        if version is None:
            return [old, new]
        return [new] if version >= (2, 0) else [old]

    def _act(self, method: str, execution_id: str, action: Tuple[str, ...], what: str, *,
             params: Any = None, body: Any = None, headers: Optional[List[Tuple[str, str]]] = None,
             creates: Optional[Tuple[str, str]] = None) -> Response:
        """Send an action on an execution; the Response, whatever its status. A request
        that may have reached the server is never sent again (OutcomeUnknownError)."""
        _require_name("execution id", execution_id)
        urls = self._action_urls(execution_id, *action)
        for index, url in enumerate(urls):
            response = self._request(method, url, params=params, body=body, headers=headers, creates=creates,
                                     acts_on=None if creates else (what, execution_id))  # type: Response
            if response.status_code == 404 and index + 1 < len(urls):
                if isinstance(body, (_Multipart, _RawBody)):
                    body.rewind()
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, response: Response, execution_id: str, what: str, allowed: str) -> KestraHTTPError:
        """The error for an action the server refused: a 409 or 422 that says the state
        does not allow it names the state the execution is in and what can be done."""
        error = _http_error(response, what, self._auth_hint())
        if response.status_code == 404:
            return NotFoundError("%s: no execution %s on this server (404)%s; check the id and the tenant"
                                 % (what, execution_id, ": %s" % error.server_message if error.server_message else ""),
                                 response)
        said = (error.server_message or "").lower()
        if response.status_code in (409, 422) and any(words in said for words in _STATE_REFUSALS):
            state = _state(self._last_look(execution_id)) or "in an unknown state"
            return ConflictError("%s: the execution is %s, and %s (the server said: %s)"
                                 % (what, state, allowed, error.server_message), response)
        return error

    def _remember_floor(self, execution_id: str, floor: int) -> None:
        floors = self._floors
        floors.pop(execution_id, None)
        floors[execution_id] = floor
        while len(floors) > _FLOORS_KEPT:
            try:
                del floors[next(iter(floors))]
            except (KeyError, RuntimeError, StopIteration):  # another thread got there first
                break

    def _acted(self, execution_id: str, response: Response, before: Optional[Dict[str, Any]],
               what: str) -> FlowExecution:
        """The FlowExecution an action returns: the execution as the server gave it (2.0)
        or as read before the action (1.x answers 204), and the floor for waits after it."""
        execution = before or {}
        if response.content.strip():
            try:
                execution = self._execution(response.json(), what)
            except InvalidResponseError:
                execution = before or {}  # done: the answer's shape does not change that
        floor = max(_history_length(execution), _history_length(before) + 1 if before else 0)
        self._remember_floor(execution_id, floor)
        state = _state(execution) if execution is not before else None  # 204: not known yet
        url = self._ui_url("executions", execution.get("namespace") or "", execution.get("flowId") or "", execution_id)
        return FlowExecution(execution_id, state, url=url, execution=execution or None)

    def resume(self, execution_id: str, inputs: Optional[Mapping[str, Any]] = None) -> FlowExecution:
        """Resume a PAUSED execution, with the ``onResume`` inputs of the Pause task it
        waits at, given as to ``execute`` (typed values; FILE inputs as a path, bytes,
        a binary file or a (filename, file[, content type]) tuple).

        Checked before resuming, with the server's validation: an input the Pause task
        does not declare, a missing required one, a value of the wrong type, and an
        execution that is not PAUSED each raise an error that says which. Returns a
        FlowExecution whose ``status`` is the state the server gave (None when it gave
        none); ``wait`` on it for the end. A request that may have reached the server
        is not sent again (OutcomeUnknownError)."""
        _require_name("execution id", execution_id)
        what = "resuming execution %s" % execution_id
        fields, files = _input_parts(inputs or {})
        try:
            before = self.get_execution(execution_id)
            if _state(before) != "PAUSED":
                raise self._not_paused(execution_id, _state(before))
            if fields or files:
                self._check_resume_inputs(execution_id, before, fields, files)
            body = _Multipart(fields, files) if fields or files else None
            response = self._act("POST", execution_id, ("resume",), what, body=body)
        finally:
            for part in files:
                part.close()
        if response.status_code >= 400:
            if response.status_code == 409:
                raise self._not_paused(execution_id, _state(self._last_look(execution_id)), response)
            raise self._refused(response, execution_id, what, "only a PAUSED execution can be resumed")
        self._log_info("resumed execution %s", execution_id)
        return self._acted(execution_id, response, before, what)

    def _not_paused(self, execution_id: str, state: Optional[str], response: Optional[Response] = None) -> ConflictError:
        if state in _TERMINAL_STATES:
            advice = "it has ended; restart or replay it instead"
        elif state is None:
            advice = "its state could not be read"
        else:
            advice = "wait until it pauses with %s" % self._hint("wait_paused", execution_id)
        return ConflictError("resuming execution %s: it is %s, not PAUSED: %s"
                             % (execution_id, state or "in an unknown state", advice), response)

    def _check_resume_inputs(self, execution_id: str, execution: Dict[str, Any], fields: List[Tuple[str, str]],
                             files: List[_FilePart]) -> None:
        """Ask the server to validate the inputs (files are not sent twice: only whether
        one is given is checked), and raise InvalidRequestError naming each problem."""
        what = "resuming execution %s" % execution_id
        body = _Multipart(list(fields), [])
        response = self._act("POST", execution_id, ("resume", "validate"), "validating the inputs of " + what,
                             body=body)
        if response.status_code == 404:
            self._log_debug("%s: this server has no resume validation; the resume checks the inputs", what)
            return
        if response.status_code == 409:
            raise self._not_paused(execution_id, _state(self._last_look(execution_id)), response)
        self._raise_for(response, "validating the inputs of " + what)
        answer = response.json()
        entries = answer.get("inputs") if isinstance(answer, dict) else None
        if not isinstance(entries, list) or not all(
                isinstance(entry, dict) and isinstance(entry.get("input"), dict)
                and isinstance(entry["input"].get("id"), str) for entry in entries):
            raise InvalidResponseError("validating the inputs of %s: the answer is not Kestra's list of checked "
                                       "inputs%s" % (what, self._server_said()))
        declared = {entry["input"]["id"]: entry for entry in entries}
        given_files = {part.name for part in files}
        given = {name for name, _ in fields} | given_files
        problems = []
        unknown = sorted(given - set(declared))
        if unknown:
            task = _paused_task(execution) or "the Pause task"
            problems.append("%s %s no input %s (its onResume inputs: %s)" % (
                task, "declares" if declared else "has", ", ".join(repr(name) for name in unknown),
                ", ".join("%s (%s)" % (name, entry["input"].get("type")) for name, entry in sorted(declared.items()))
                or "none"))
        for name, entry in sorted(declared.items()):
            messages = [str(error.get("message")) for error in entry.get("errors") or []
                        if isinstance(error, dict) and error.get("message")]
            if name in given_files:
                continue  # not sent to the validation: its "missing" is not
            if messages and name not in given:
                problems.append("input %s (%s) is required and was not given" % (name, entry["input"].get("type")))
            elif messages:
                problems.append("input %s: %s" % (name, "; ".join(messages)))
        if problems:
            raise InvalidRequestError("%s: %s" % (what, "; ".join(problems)), response)

    def pause(self, execution_id: str) -> FlowExecution:
        """Pause a RUNNING execution: the tasks running go on, the next ones wait for
        ``resume``. Returns a FlowExecution (``status``: the state the server gave, or
        None). Never sent twice (OutcomeUnknownError)."""
        what = "pausing execution %s" % execution_id
        _require_name("execution id", execution_id)
        before = self.get_execution(execution_id)
        if _state(before) in _TERMINAL_STATES:
            raise ConflictError("%s: it has ended %s; only a running execution can be paused"
                                % (what, _state(before)))
        response = self._act("POST", execution_id, ("pause",), what)
        if response.status_code >= 400:
            raise self._refused(response, execution_id, what, "only a RUNNING execution can be paused")
        self._log_info("paused execution %s", execution_id)
        return self._acted(execution_id, response, before, what)

    def restart(self, execution_id: str, *, revision: Optional[int] = None) -> FlowExecution:
        """Restart a FAILED execution from its failed tasks, in place (same id); on the
        flow's ``revision`` if given, as a new execution (a new id). Kestra
        restarts neither a KILLED execution (replay it) nor, on 2.0, a WARNING one. Returns a FlowExecution (``status`` as the
        server gave it, usually RESTARTED): ``wait`` on it for the new end; the wait
        ignores the old end that the server may still give for a moment. Never sent
        twice (OutcomeUnknownError)."""
        what = "restarting execution %s" % execution_id
        params = [("revision", str(_revision(revision)))] if revision is not None else None
        response = self._act("POST", execution_id, ("restart",), what, params=params)
        if response.status_code >= 400:
            raise self._refused(response, execution_id, what,
                                "only a FAILED execution can be restarted (a KILLED one can be replayed)")
        restarted = self._acted(execution_id, response, None, what)
        if revision is not None and _state(restarted.execution) in _TERMINAL_STATES:
            # The 2.0 snapshot restarts on a revision as a new execution, and answers with the
            # one restarted, unchanged.
            restarted = self._restarted_copy(execution_id, restarted, what)
        new_id = (restarted.execution or {}).get("id")
        if isinstance(new_id, str) and new_id != execution_id:
            # Kestra 1.3.25 restarts on another revision as a new execution, with an id of its own.
            self._floors.pop(execution_id, None)
            self._log_info("restarted execution %s as %s", execution_id, new_id)
            execution = restarted.execution or {}
            url = self._ui_url("executions", execution.get("namespace") or "", execution.get("flowId") or "", new_id)
            return FlowExecution(new_id, restarted.status, url=url, execution=execution)
        self._log_info("restarted execution %s", execution_id)
        return restarted

    def _restarted_copy(self, execution_id: str, answered: FlowExecution, what: str) -> FlowExecution:
        """The new execution a restart on a revision made, found by its labels (its
        system.correlationId is the restarted one's, and it is no replay) within
        _COPY_SEARCH_S (the Flow's timeout, if shorter); else KestraError saying where
        to look."""
        execution = answered.execution or {}
        state = execution.get("state")
        start = state.get("startDate") if isinstance(state, dict) else None
        since = None  # type: Optional[str]
        if isinstance(start, str):  # the copy's start is the restarted one's: a second before it
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_instant_parts(start, "startDate")[0] - 1))
        patience = min(_COPY_SEARCH_S, self.timeout) if self.timeout is not None else _COPY_SEARCH_S
        deadline = self._clock() + patience
        while True:
            for found in self.search_executions(execution.get("namespace"), execution.get("flowId"),
                                                labels={"system.correlationId": execution_id, "system.restarted": "true"},
                                                since=since, newest_first=True):
                labels = {label.get("key"): label.get("value") for label in found.get("labels") or []
                          if isinstance(label, dict)}
                if found["id"] != execution_id and "system.replay" not in labels:
                    return FlowExecution(found["id"], _state(found), execution=found)
            if self._clock() >= deadline:
                raise KestraError("%s: the server answered with the execution unchanged (%s), and no new execution "
                                  "made by the restart was found within %g s: look for one at %s"
                                  % (what, _state(execution), patience, answered.url))
            self._sleep(0.25)

    def replay(self, execution_id: str, *, from_task: Optional[str] = None,
               inputs: Optional[Mapping[str, Any]] = None, revision: Optional[int] = None) -> FlowExecution:
        """Run an execution again as a NEW execution: from the start, or from the task
        ``from_task`` (a task id, or a task run id when the task ran several times),
        on the flow's ``revision`` if given. With ``inputs``, those replace the
        execution's values of the same name; the others are kept (Kestra 1.3.25 also
        writes the new values into the original execution's record; 2.0 does not).
        Kestra 1.3.25 and 2.0 keep a replay's FILE inputs, new ones too, under the
        original execution, and ``read()`` in the replay refuses them: a flow that
        reads a FILE input fails when replayed.

        Returns a FlowExecution of the new execution (its ``execution_id``): ``wait`` on
        it. Like ``execute``, it is never sent twice: a failure after the request may
        have reached the server raises ExecutionMayExistError."""
        _require_name("execution id", execution_id)
        what = "replaying execution %s" % execution_id
        execution = self.get_execution(execution_id)
        params = []  # type: List[Tuple[str, str]]
        if from_task is not None:
            params.append(("taskRunId", _task_run_id(execution, from_task, what)))
        if revision is not None:
            params.append(("revision", str(_revision(revision))))
        creates = (str(execution.get("namespace")), str(execution.get("flowId")))
        files = []  # type: List[_FilePart]
        try:
            if inputs is not None:
                fields, files = _input_parts(inputs)
                fields = _kept_inputs(execution, fields, files, what) + fields
                response = self._act("POST", execution_id, ("replay-with-inputs",), what, params=params,
                                     body=_Multipart(fields, files), creates=creates)
            else:
                response = self._act("POST", execution_id, ("replay",), what, params=params, creates=creates)
        finally:
            for part in files:
                part.close()
        if response.status_code >= 400:
            raise self._refused(response, execution_id, what, "it cannot be replayed")
        replayed = self._execution(response.json(), what)
        url = self._ui_url("executions", replayed.get("namespace") or "", replayed.get("flowId") or "", replayed["id"])
        self._log_info("replayed execution %s as %s: %s", execution_id, replayed["id"], url)
        return FlowExecution(replayed["id"], _state(replayed), url=url, execution=replayed)

    def set_labels(self, execution_id: str, labels: Any, *, replace: bool = False) -> Dict[str, str]:
        """Set labels of an execution (a dict or (key, value) pairs): added, or changed
        when the key exists; ``replace=True`` removes the labels not given. Kestra's own
        ``system.`` labels cannot be set, and are kept. Returns the labels as the server
        then has them. Never sent twice (OutcomeUnknownError)."""
        what = "setting the labels of execution %s" % execution_id
        _require_name("execution id", execution_id)
        try:
            given = _settable_labels(labels)
        except KestraError as exc:
            raise KestraError("%s: %s" % (what, exc)) from None
        merged = collections.OrderedDict()  # type: Dict[str, str]
        if not replace:
            for label in self.get_execution(execution_id).get("labels") or []:
                if isinstance(label, dict) and isinstance(label.get("key"), str) \
                        and not label["key"].startswith("system.") and isinstance(label.get("value"), str):
                    merged[label["key"]] = label["value"]
        for key, value in given:
            merged.pop(key, None)
            merged[key] = value
        body = json.dumps([{"key": key, "value": value} for key, value in merged.items()]).encode("utf-8")
        response = self._act("POST", execution_id, ("labels",), what, body=body,
                             headers=[("Content-Type", "application/json")])
        if response.status_code >= 400:
            raise self._refused(response, execution_id, what, "its labels cannot be set")
        answer = response.json() if response.content.strip() else None
        found = answer.get("labels") if isinstance(answer, dict) else None
        if not isinstance(found, list):
            found = self.get_execution(execution_id).get("labels") or []
        return {label["key"]: label["value"] for label in found
                if isinstance(label, dict) and isinstance(label.get("key"), str)}

    def search_executions(
        self,
        namespace: Optional[str] = None,
        flow: Optional[str] = None,
        *,
        states: Any = None,
        labels: Any = None,
        since: Any = None,
        until: Any = None,
        newest_first: bool = False,
        page_size: int = _SEARCH_PAGE,
    ) -> Iterator[Dict[str, Any]]:
        """Yield the executions that match, oldest first (``newest_first``: the other
        way), reading the server's pages as
        they are needed: memory stays at one page whatever the count. Each is a dict
        with id, namespace, flowId, state, labels... (Kestra 2.0 leaves out the task
        runs: ``get_execution`` gives them).

        ``namespace`` matches that namespace and those under it (``company`` matches
        ``company.team``); ``flow`` is a flow id; ``states`` a state or several;
        ``labels`` a dict (or pairs) that all must match; ``since`` and ``until``
        (datetime or ISO-8601 text) bound the start date; without ``since``, all
        executions are searched (the server's own default is the last 8 days). An
        execution started while the search runs may or may not be yielded; none is
        yielded twice."""
        query = _search_filters(namespace, flow, states, labels, since, until)
        if not (isinstance(page_size, int) and 1 <= page_size <= 10000):
            raise KestraError("page_size must be a whole number from 1 to 10000, got %r" % (page_size,))
        begin = _instant_seconds(_iso_text(since, "since"), "since") if since is not None else None
        end = _instant_seconds(_iso_text(until, "until"), "until") if until is not None else None
        return self._search_pages(query, page_size, begin, end, newest_first, "searching executions")

    def _search_pages(self, query: List[Tuple[str, str]], page_size: int, begin: Optional[float],
                      end: Optional[float], newest_first: bool, what: str,
                      attempts: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """The executions of a search, page after page; ``begin`` and ``end`` (epoch
        seconds) bound their start dates here, where the server cannot."""
        previous = set()  # type: Set[str]  # the ids of the page before: pages shift as executions start
        page = 1
        while True:
            response = self._request("GET", self._api("executions", "search"), attempts=attempts,
                                     params=query + [("sort", "state.startDate:desc" if newest_first else
                                                      "state.startDate:asc"), ("size", str(page_size)),
                                                     ("page", str(page))])
            self._raise_for(response, what)
            document = response.json()
            results = document.get("results") if isinstance(document, dict) else None
            if not isinstance(results, list):
                raise InvalidResponseError("%s: the answer has no list of results%s" % (what, self._server_said()))
            ids = set()
            for item in results:
                execution = self._execution(item, what)
                if execution["id"] in previous or execution["id"] in ids:
                    continue
                ids.add(execution["id"])
                if begin is not None and _started_after(execution, begin) < 0:
                    continue  # in the bound's millisecond, before it
                late = 0.0 if end is None else _started_after(execution, end)
                if late > 0:
                    if late > 0.001 and not newest_first:
                        return  # oldest first: the rest started later still
                    continue  # the server sorts by the millisecond: the next may be earlier
                yield execution
            total = document.get("total")
            if len(results) < page_size or (isinstance(total, int) and page * page_size >= total):
                return
            if not ids:
                raise InvalidResponseError("%s: page %d holds only executions of the page before: the server "
                                           "does not page%s" % (what, page, self._server_said()))
            previous = ids
            page += 1

    def webhook(self, namespace: str, flow: str, key: str, body: Any = None, *, method: str = "POST",
                content_type: Optional[str] = None) -> Optional[FlowExecution]:
        """Fire a flow's Webhook trigger, as an outside system would: ``key`` is the
        trigger's key, and no credentials are sent (the key is the secret; it is never
        shown whole in an error or a log line). ``body``: a dict or list (sent as
        JSON), bytes, str (text), a binary file or a pathlib.Path (streamed); the flow
        reads it as ``trigger.body``. ``method``: POST, PUT or GET.

        Returns a FlowExecution of the execution the trigger created (``wait`` on it),
        or None when the server gives none (a trigger whose conditions did not match).
        Never sent twice (ExecutionMayExistError)."""
        _require_name("namespace", namespace)
        _require_name("flow", flow)
        if not isinstance(key, str) or not key.strip():
            raise KestraError("the webhook key must be a non-empty string (the key of the flow's Webhook trigger)")
        method = str(method).upper()
        if method not in ("GET", "POST", "PUT"):
            raise KestraError("webhook method must be GET, POST or PUT, got %r" % (method,))
        payload = _webhook_body(body, content_type)
        if payload is not None and method == "GET":
            raise KestraError("a webhook GET carries no body: use method='POST' or 'PUT'")
        what = "firing the webhook of %s.%s (key %s)" % (namespace, flow, _masked(key))
        # A streamed body (_RawBody) says its Content-Type itself, as a multipart body does.
        headers = [] if payload is None or isinstance(payload[1], _RawBody) else [("Content-Type", payload[0])]
        try:
            response = self._request(method, self._api("executions", "webhook", namespace, flow, key),
                                     body=None if payload is None else payload[1], headers=headers,
                                     creates=(namespace, flow), auth=False)
            if response.status_code == 404:
                raise NotFoundError("%s: not found (404): no flow %s.%s with a Webhook trigger of this key on "
                                    "this server (tenant %s), or the flow is disabled%s"
                                    % (what, namespace, flow, self.tenant or "main",
                                       ": %s" % _server_message(response) if _server_message(response) else ""),
                                    response)
            self._raise_for(response, what)
            answer = response.json() if response.content.strip() else None
        except KestraError as exc:
            exc.args = tuple(arg.replace(key, _masked(key)) if isinstance(arg, str) else arg for arg in exc.args)
            raise
        finally:
            if payload is not None and isinstance(payload[1], _RawBody):
                payload[1].close()
        if not (isinstance(answer, dict) and answer.get("id")):
            self._log_info("fired the webhook of %s.%s: no execution was created", namespace, flow)
            return None
        execution = self._execution(answer, what)
        url = self._ui_url("executions", namespace, flow, execution["id"])
        self._log_info("webhook of %s.%s created execution %s: %s", namespace, flow, execution["id"], url)
        return FlowExecution(execution["id"], _state(execution), url=url, execution=execution)

    def delete_execution(self, execution_id: str, *, logs: bool = True, metrics: bool = True,
                         files: bool = True) -> None:
        """Delete an execution, with its logs, metrics and files in internal storage
        unless told to keep them. A running execution is deleted as it is (kill it
        first to stop it). NotFoundError when there is no such execution."""
        _require_name("execution id", execution_id)
        what = "deleting execution %s" % execution_id
        params = [("deleteLogs", _bool_text(logs)), ("deleteMetrics", _bool_text(metrics)),
                  ("deleteStorage", _bool_text(files))]
        response = self._request("DELETE", self._api("executions", execution_id), params=params)
        if response.status_code >= 400:
            raise self._refused(response, execution_id, what, "it cannot be deleted")
        self._floors.pop(execution_id, None)
        self._log_info("deleted execution %s", execution_id)

    def outputs(self, execution_id: str) -> Dict[str, Any]:
        """The outputs of the execution's tasks, by task id (a list when a task ran
        several times, in a loop)."""
        return self._task_outputs(self.get_execution(execution_id))

    def _task_outputs(self, execution: Dict[str, Any]) -> Dict[str, Any]:
        task_runs = execution.get("taskRunList") or []
        version = self._version()
        if version is not None and version >= (2, 0) and not any(run.get("outputs") for run in task_runs):
            # 2.0 keeps them apart: the task runs have none (GET), or null (follow, create, kill)
            task_runs = self._stored_outputs(execution["id"], task_runs)
        outputs = {}  # type: Dict[str, Any]
        repeated = set()
        for run in task_runs:
            task_id, value = run.get("taskId"), run.get("outputs")
            if task_id is None or value is None:
                continue
            if task_id in outputs:
                if task_id not in repeated:
                    outputs[task_id] = [outputs[task_id]]
                    repeated.add(task_id)
                outputs[task_id].append(value)
            else:
                outputs[task_id] = value
        return outputs

    def _stored_outputs(self, execution_id: str, task_runs: List[Any]) -> List[Dict[str, Any]]:
        what = "reading the outputs of execution %s" % execution_id
        # Once only: the 2.0 snapshot answers 500 for good ("Can't find taskrun") for an
        # execution replayed from a task after a restart, as the list names task runs of
        # the original. The task runs of the execution are then read one by one.
        try:
            response = self._request("GET", self._api("outputs", execution_id), attempts=1)  # type: Any
            listed = response.status_code < 500 and response.status_code not in self.retry.statuses
        except FailedExponentialBackoff:
            response, listed = None, False
        if listed:
            self._raise_for(response, what)
            entries = response.json()
        else:
            entries = [{"taskRunId": run.get("id"), "taskId": run.get("taskId")} for run in task_runs
                       if isinstance(run, dict) and isinstance(run.get("id"), str)]
            self._log_debug("%s: no list (%s); reading the %d task runs one by one", what,
                            response.status_code if response is not None else "no answer", len(entries))
        problem = _list_problem(entries, {"taskRunId": str, "taskId": str})
        if problem is not None:
            raise InvalidResponseError("%s: the answer is not Kestra's list of task outputs: %s%s"
                                       % (what, problem, self._server_said()))
        runs = []
        for entry in entries or []:
            run_id = entry.get("taskRunId")
            if not run_id:
                continue
            detail = self._request("GET", self._api("outputs", execution_id, run_id))
            if detail.status_code == 404 and not listed:
                continue  # read one by one: a task run without outputs
            self._raise_for(detail, "reading the outputs of task run %s" % run_id)
            outputs = detail.json()
            if outputs is not None and not isinstance(outputs, dict):
                raise InvalidResponseError("reading the outputs of task run %s: they are %s, where Kestra's API "
                                           "has an object%s" % (run_id, _json_kind(outputs), self._server_said()))
            if outputs or listed:  # the list names only the runs with outputs
                runs.append({"taskId": entry.get("taskId"), "outputs": outputs})
        return runs

    def download_file(self, execution_id: str, kestra_uri: str, destination: Any) -> Any:
        """Save a file of the execution (``kestra:///...``) to ``destination``: a path
        (written whole or not at all, replacing a file already there) or a binary file
        object. Streamed: any size."""
        import http.client

        connection, response = self._request(
            "GET", self._api("executions", execution_id, "file"), params=[("path", kestra_uri)], stream=True,
        )
        what = "downloading %s of execution %s" % (kestra_uri, execution_id)
        try:
            if response.status >= 400:
                self._raise_for(Response("GET", "file", response.status, response.reason, response.msg, response.read()), what)
            if hasattr(destination, "write"):
                if isinstance(destination, io.TextIOBase):
                    raise KestraError("%s: the destination is a text file; open it in binary mode ('wb')" % what)
                _copy_stream(response, destination, what)
                return destination
            target = os.fspath(destination)
            partial = "%s.part-%s" % (target, os.urandom(4).hex())
            try:
                with open(partial, "wb") as file:
                    _copy_stream(response, file, what)
                os.replace(partial, target)
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)
            return target
        except (OSError, http.client.HTTPException) as exc:
            raise KestraError("%s failed: %s" % (what, exc)) from exc
        finally:
            connection.close()

    def follow_logs(self, execution_id: str, min_level: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """Yield the execution's log entries (dicts with timestamp, level, message,
        taskId...) as they come, stored ones first, until the execution has ended and
        the stream has been quiet for ``poll_interval``. ``min_level`` filters (WARN...).

        The server's stream sends the stored entries, then subscribes to new ones: an
        entry stored in between is never streamed (seen on Kestra 1.3.25). So once the
        execution has ended, the stored entries are read once more, and those the
        stream missed are yielded last."""
        import queue
        import threading

        reader = _LogStreamReader(self, execution_id, self._log_level_params(min_level))
        thread = threading.Thread(target=reader.run, name="kestra-logs-%s" % execution_id, daemon=True)
        thread.start()
        created = self._clock()
        ended = False
        try:
            while True:
                try:
                    kind, item = reader.items.get(timeout=max(0.05, self.poll_interval))
                except queue.Empty:
                    if ended:  # quiet for an interval after the end: nothing more will come
                        reader.stop()
                        thread.join(timeout=5)
                        for entry in reader.missed_entries(thread.is_alive()):
                            yield entry
                        return
                    execution = self._get_execution_if_stored(execution_id, created)
                    ended = execution is not None and _state(execution) in _TERMINAL_STATES
                    continue
                if kind == "error":
                    raise item
                yield item
        finally:
            reader.stop()
            thread.join(timeout=5)

    def _log_level_params(self, min_level: Optional[str]) -> Optional[List[Tuple[str, str]]]:
        """The query that keeps log entries at ``min_level`` or above, as this server names it."""
        if min_level is None:
            return None
        if (self._version() or (0,)) >= (2, 0):
            return [("filters[level][GREATER_THAN_OR_EQUAL_TO]", min_level)]
        return [("minLevel", min_level)]

    # A namespace's key-value store ------------------------------------------------

    def kv_get(self, namespace: str, key: str, default: Any = _UNSET, *, exact: bool = False) -> Any:
        """The value of ``key`` in ``namespace``'s key-value store, as the Python value of
        its Kestra type: STRING str (None for a null), NUMBER int or float (a Decimal when
        a float cannot hold the digits the server gives; always a Decimal with ``exact``),
        BOOLEAN bool, DATETIME datetime (aware, in UTC; naive when stored naive), DATE
        date, DURATION timedelta, JSON dict or list. A key that is missing or has expired
        returns ``default`` when one is given, and raises NotFoundError otherwise."""
        try:
            return self.kv_entry(namespace, key, exact=exact)["value"]
        except KVKeyNotFoundError:
            if default is _UNSET:
                raise
            return default

    def kv_entry(self, namespace: str, key: str, *, exact: bool = False) -> Dict[str, Any]:
        """The stored entry of ``key``: a dict with ``namespace``, ``key``, ``type`` (STRING,
        NUMBER, BOOLEAN, DATETIME, DATE, DURATION or JSON), ``value`` as kv_get gives it,
        ``revision`` and ``updated``. NotFoundError when the key is missing or expired."""
        _check_kv_key(namespace, key)
        what = "reading key %s of namespace %s" % (key, namespace)
        response = self._request("GET", self._api("namespaces", namespace, "kv", key))
        if response.status_code in (404, 410) and _kv_said_missing(response):
            raise KVKeyNotFoundError("%s: %s" % (what, "it has expired (410)" if response.status_code == 410
                                          else "there is no such key (404)"), response)
        self._raise_for(response, what)
        return _kv_entry(namespace, key, response, exact, what + self._server_said())

    def kv_set(self, namespace: str, key: str, value: Any, *, ttl: Any = None,
               description: Optional[str] = None) -> None:
        """Store ``value`` under ``key``, so that kv_get and a flow's ``kv()`` read it back
        as it was, with its type: str, int, float, Decimal, bool, None, datetime, date,
        timedelta, or a dict or list of JSON values. ``ttl`` (a timedelta or an ISO-8601
        duration such as ``PT1H``) makes it expire. A value the server would keep as
        something else raises KestraError before any request, saying why and what to do:
        a string shaped like an ISO-8601 duration (the server makes it a DURATION), a
        datetime in zone with more than milliseconds, at midnight UTC (the server makes it
        a DATE) or before 1582-10-15, a date before 1582-10-15, a negative or fractional
        timedelta, NaN and infinities, a key of a dict whose value is None (the server
        drops it)."""
        _check_kv_key(namespace, key)
        body = _kv_text(value).encode("utf-8")
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if ttl is not None:
            headers.append(("ttl", _kv_ttl(ttl)))
        if description is not None:
            headers.append(("description", _kv_description(description)))
        response = self._request("PUT", self._api("namespaces", namespace, "kv", key), headers=headers, body=body)
        self._raise_for(response, "setting key %s of namespace %s" % (key, namespace))
        self._log_info("set key %s of namespace %s", key, namespace)

    def kv_list(self, namespace: str, *, types: bool = True) -> List[Dict[str, Any]]:
        """The keys of ``namespace`` (not of the namespaces under it), sorted: dicts with
        ``key``, ``type`` (read from each value: one request per key; None with
        ``types=False``), ``description``, ``expires`` (ISO-8601 or None), ``updated`` and
        ``revision``. Keys that expire meanwhile are left out."""
        _require_name("namespace", namespace)
        what = "listing the keys of namespace %s" % namespace
        if (self._version() or (0,)) >= (2, 0):
            found = self._paged(self._api("kv"), [("filters[namespace][EQUALS]", namespace)], what)
        else:
            response = self._request("GET", self._api("namespaces", namespace, "kv"))
            self._raise_for(response, what)
            found = _answer_list(response.json(), what + self._server_said())
        keys = []
        for entry in found:
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise InvalidResponseError("%s: an entry has no key: %r%s" % (what, entry, self._server_said()))
            if entry.get("namespace", namespace) != namespace:
                continue
            keys.append({"key": entry["key"], "type": None, "description": entry.get("description"),
                         "expires": entry.get("expirationDate"), "updated": entry.get("updateDate"),
                         "revision": entry.get("version", entry.get("revision"))})  # 1.3, 2.0
        keys.sort(key=lambda found_key: found_key["key"])
        if not types:
            return keys
        typed = []
        for entry in keys:
            try:
                entry["type"] = self.kv_entry(namespace, entry["key"])["type"]
            except KVKeyNotFoundError:
                continue  # expired or deleted since the listing
            typed.append(entry)
        return typed

    def kv_delete(self, namespace: str, key: str) -> bool:
        """Delete ``key``; True when it was there, False when there was no such key."""
        _check_kv_key(namespace, key)
        what = "deleting key %s of namespace %s" % (key, namespace)
        response = self._request("DELETE", self._api("namespaces", namespace, "kv", key))
        self._raise_for(response, what)
        answer = response.json() if response.content.strip() else True
        if not isinstance(answer, bool):
            raise InvalidResponseError("%s: the answer is %s, not true or false%s"
                                       % (what, _json_kind(answer), self._server_said()))
        return answer

    def _paged(self, url: str, query: List[Tuple[str, str]], what: str) -> List[Any]:
        """Every result of a paged listing (``results`` and ``total``), all pages."""
        found = []  # type: List[Any]
        page = 1
        while True:
            response = self._request("GET", url, params=query + [("page", str(page)), ("size", str(_PAGE_SIZE))])
            self._raise_for(response, what)
            answer = response.json()
            if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
                raise InvalidResponseError("%s: the answer is not a page of results%s" % (what, self._server_said()))
            found += answer["results"]
            total = answer.get("total")
            if not answer["results"] or len(answer["results"]) < _PAGE_SIZE or (
                    isinstance(total, int) and len(found) >= total):
                return found
            page += 1

    # A namespace's files -----------------------------------------------------------

    def upload_files(self, namespace: str, source: Any, to: Optional[str] = None) -> List[str]:
        """Upload a file, or a folder with everything under it, to ``namespace``'s files;
        the namespace paths written. A file goes to ``to`` (default: its name at the
        root); a folder's files go under ``to`` (default: the root) at their paths in it.
        Dot files and dot folders are left out; a symbolic link is refused. Each file is
        streamed, and replaces the file at its path."""
        plan = _local_files(source, to)
        blocked = self._folders_at(namespace, [path for _, path in plan])
        if blocked:
            raise KestraError("uploading %s to namespace %s: %s" % (source, namespace, _FOLDER_KEPT % _some(blocked)))
        done = []
        for number, (local, path) in enumerate(plan, 1):
            self._upload_file(namespace, local, path)
            done.append(path)
            self._files_progress("uploaded", number, len(plan), path)
        kept = self._folders_at(namespace, done)
        if kept:
            raise KestraError("uploading %s to namespace %s: %s" % (source, namespace, _FOLDER_KEPT % _some(kept)))
        return done

    def _folders_at(self, namespace: str, paths: List[str]) -> List[str]:
        """Those of ``paths`` where the server has a folder: one listing per parent
        folder. Before an upload, what is in the way; after, what it did not store."""
        by_parent = {}  # type: Dict[str, List[str]]
        for path in paths:
            by_parent.setdefault(path.rsplit("/", 1)[0] or "/", []).append(path)
        found = []  # type: List[str]
        for parent, under in sorted(by_parent.items()):
            try:
                folders = {entry["path"] for entry in self._folder_entries(namespace, parent)
                           if entry["type"] == "Directory"}
            except NotFoundError:
                continue  # no such folder yet: nothing in the way
            found += [path for path in under if path in folders]
        return sorted(found)

    def download_files(self, namespace: str, path: str, destination: Any) -> List[str]:
        """Download a namespace file to the file ``destination``, or a namespace folder's
        tree into the folder ``destination`` (made if needed); the local paths written.
        Each file is written whole or not at all, replacing a file there."""
        path = _ns_path(path, writing=False)
        stats = self._file_stats(namespace, path)
        destination = os.fspath(destination)
        if stats is None:
            raise NotFoundError("downloading %s of namespace %s: there is no such file or folder" % (path, namespace))
        if stats.get("type") != "Directory":
            self._download_file(namespace, path, destination)
            self._files_progress("downloaded", 1, 1, path)
            return [destination]
        files = [entry for entry in self.list_files(namespace, path) if entry["type"] == "File"]
        written = []
        os.makedirs(destination, exist_ok=True)
        for number, entry in enumerate(files, 1):
            relative = entry["path"][len(path):].lstrip("/")
            local = os.path.join(destination, *relative.split("/"))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self._download_file(namespace, entry["path"], local)
            written.append(local)
            self._files_progress("downloaded", number, len(files), entry["path"])
        return written

    def list_files(self, namespace: str, path: str = "/", *, recursive: bool = True) -> List[Dict[str, Any]]:
        """The files and folders under ``path`` (every level, or one with
        ``recursive=False``), sorted by path: dicts with ``path`` (from the namespace's
        root, starting with /), ``type`` ("File" or "Directory"), ``size`` and
        ``modified`` (milliseconds since the epoch, as the server gives them)."""
        path = _ns_path(path, writing=False)
        found = []  # type: List[Dict[str, Any]]
        folders = [path]
        while folders:
            folder = folders.pop()
            for entry in self._folder_entries(namespace, folder):
                found.append(entry)
                if recursive and entry["type"] == "Directory":
                    folders.append(entry["path"])
        found.sort(key=lambda entry: entry["path"])
        return found

    def delete_file(self, namespace: str, path: str) -> bool:
        """Delete a namespace file, or a folder with everything under it. True when it
        was there, False when there was nothing at ``path``."""
        path = _ns_path(path, writing=False)
        if path == "/":
            raise KestraError("deleting the root of namespace %s: name a file or folder under it" % namespace)
        if self._file_stats(namespace, path) is None:
            return False
        self._delete_path(namespace, path)
        return True

    def _delete_path(self, namespace: str, path: str) -> None:
        response = self._request("DELETE", self._api("namespaces", namespace, "files"), params=[("path", path)])
        self._raise_for(response, "deleting %s of namespace %s" % (path, namespace))
        self._log_info("deleted %s of namespace %s", path, namespace)

    def sync_files(self, namespace: str, source: Any, to: str = "/", *, delete: bool = False,
                   dry_run: bool = False) -> Dict[str, Any]:
        """Make the namespace folder ``to`` hold what the local folder ``source`` holds:
        upload the files that are new or changed, leave those that are the same, and with
        ``delete`` delete the files under ``to`` that are not in the folder (a folder
        left empty goes with its last file). A file whose path is a folder on the
        server, or under a file there, fails: Kestra keeps a path's kind even once it is
        deleted, and answers OK to a file sent onto a folder while keeping nothing (each
        upload is checked for that). A file is the same
        when its size and its SHA-256 are (the server's copy is read to compare; nothing
        is compared by time). ``dry_run`` makes the plan and changes nothing.

        Returns the report: ``uploaded``, ``unchanged``, ``deleted`` (namespace paths;
        with ``dry_run``, what would be) and ``failed`` (dicts with ``path``, ``action``
        and ``message``). A file that fails does not stop the others: the sync goes on,
        then raises SyncError, which holds the whole report as ``report``."""
        to = _ns_path(to)
        plan = _local_files(source, to, folder_only=True)
        report = {"namespace": namespace, "to": to, "dry_run": dry_run, "uploaded": [], "unchanged": [],
                  "deleted": [], "failed": []}  # type: Dict[str, Any]
        remote = {}  # type: Dict[str, Dict[str, Any]]
        if self._file_stats(namespace, to) is not None:
            remote = {entry["path"]: entry for entry in self.list_files(namespace, to)}
        clashes = {}  # type: Dict[str, str]
        for _, path in plan:
            if remote.get(path, {}).get("type") == "Directory":
                clashes[path] = _FOLDER_KEPT % path
            for above in _ns_parents(path, to):
                if remote.get(above, {}).get("type") == "File":
                    clashes[path] = ("the server has a file at %s, where %s needs a folder (Kestra keeps a file's "
                                     "place even once deleted): rename one of them" % (above, path))
        for path, clash in sorted(clashes.items()):
            report["failed"].append({"path": path, "action": "upload", "message": clash})
        steps = len(plan)
        for number, (local, path) in enumerate(plan, 1):
            if path in clashes:
                continue
            try:
                if path in remote and remote[path]["type"] == "File" and self._same_file(namespace, path, local,
                                                                                      remote[path]):
                    report["unchanged"].append(path)
                else:
                    if not dry_run:
                        self._upload_file(namespace, local, path)
                    report["uploaded"].append(path)
            except (KestraHTTPError, FailedExponentialBackoff, OSError) as exc:
                if isinstance(exc, AuthenticationError):
                    raise
                report["failed"].append({"path": path, "action": "upload", "message": str(exc)})
            self._files_progress("compared" if dry_run else "synced", number, steps, path)
        if not dry_run:
            for path in self._folders_at(namespace, report["uploaded"]):
                report["uploaded"].remove(path)
                report["failed"].append({"path": path, "action": "upload", "message": _FOLDER_KEPT % path})
        if delete:
            wanted = {path for _, path in plan}
            for path, entry in sorted(remote.items()):
                if entry["type"] != "File" or path in wanted:
                    continue
                try:
                    if not dry_run:
                        self._delete_path(namespace, path)
                    report["deleted"].append(path)
                except (KestraHTTPError, FailedExponentialBackoff) as exc:
                    if isinstance(exc, AuthenticationError):
                        raise
                    report["failed"].append({"path": path, "action": "delete", "message": str(exc)})
        if report["failed"]:
            raise SyncError("syncing %s to %s of namespace %s: %d of the files failed; first: %s: %s"
                            % (source, to, namespace, len(report["failed"]), report["failed"][0]["path"],
                               report["failed"][0]["message"]), report)
        return report

    def _upload_file(self, namespace: str, local: str, path: str) -> None:
        what = "uploading %s to %s of namespace %s" % (local, path, namespace)
        file = open(local, "rb")
        # The part's file name is not the file's: a name ending in .zip makes the server unpack it.
        body = _Multipart([], [_FilePart("fileContent", "content", file, "application/octet-stream", True)])
        try:
            # Sent again after a failure, the same bytes to the same path leave the same file.
            response = self._request("POST", self._api("namespaces", namespace, "files"), params=[("path", path)],
                                     body=body, idempotent=True)
        finally:
            body.close()
        self._raise_for(response, what)

    def _download_file(self, namespace: str, path: str, target: str) -> None:
        import http.client

        what = "downloading %s of namespace %s" % (path, namespace)
        connection, response = self._request("GET", self._api("namespaces", namespace, "files"),
                                             params=[("path", path)], stream=True)
        try:
            if response.status >= 400:
                self._raise_for(Response("GET", "file", response.status, response.reason, response.msg,
                                         response.read()), what)
            partial = "%s.part-%s" % (target, os.urandom(4).hex())
            try:
                with open(partial, "wb") as file:
                    _copy_stream(response, file, what)
                os.replace(partial, target)
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)
        except (OSError, http.client.HTTPException) as exc:
            raise KestraError("%s failed: %s" % (what, exc)) from exc
        finally:
            connection.close()

    def _same_file(self, namespace: str, path: str, local: str, remote: Dict[str, Any]) -> bool:
        """Whether the server's file at ``path`` holds the bytes of ``local``."""
        import hashlib
        import http.client

        size = os.path.getsize(local)
        if remote.get("size") != size:
            return False
        mine = hashlib.sha256()
        with open(local, "rb") as file:
            for chunk in iter(lambda: file.read(_CHUNK), b""):
                mine.update(chunk)
        theirs = hashlib.sha256()
        what = "reading %s of namespace %s" % (path, namespace)
        connection, response = self._request("GET", self._api("namespaces", namespace, "files"),
                                             params=[("path", path)], stream=True)
        try:
            if response.status >= 400:
                self._raise_for(Response("GET", "file", response.status, response.reason, response.msg,
                                         response.read()), what)
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                theirs.update(chunk)
        except http.client.HTTPException as exc:
            raise KestraError("%s failed: %s" % (what, exc)) from exc
        finally:
            connection.close()
        return mine.digest() == theirs.digest()

    def _file_stats(self, namespace: str, path: str) -> Optional[Dict[str, Any]]:
        """The server's attributes of a namespace file or folder; None when there is none."""
        what = "reading %s of namespace %s" % (path, namespace)
        response = self._request("GET", self._api("namespaces", namespace, "files", "stats"), params=[("path", path)])
        if response.status_code == 404:
            return None
        self._raise_for(response, what)
        stats = response.json()
        if not isinstance(stats, dict):
            raise InvalidResponseError("%s: the answer is %s, not a file's attributes%s"
                                       % (what, _json_kind(stats), self._server_said()))
        return stats

    def _folder_entries(self, namespace: str, folder: str) -> List[Dict[str, Any]]:
        what = "listing %s of namespace %s" % (folder, namespace)
        response = self._request("GET", self._api("namespaces", namespace, "files", "directory"),
                                 params=[("path", folder)])
        self._raise_for(response, what)
        entries = []
        for entry in _answer_list(response.json(), what + self._server_said()):
            name = entry.get("fileName") if isinstance(entry, dict) else None
            kind = entry.get("type") if isinstance(entry, dict) else None
            if not isinstance(name, str) or kind not in ("File", "Directory") or _ns_segment_problem(name, False):
                raise InvalidResponseError("%s: an entry is not a file or folder with a plain name: %r%s"
                                           % (what, entry, self._server_said()))
            entries.append({"path": folder.rstrip("/") + "/" + name, "type": kind, "size": entry.get("size"),
                            "modified": entry.get("lastModifiedTime")})
        return entries

    def _files_progress(self, done: str, number: int, total: int, path: str) -> None:
        """Called after each file of an upload, a download or a sync (the command line shows it)."""

    # A namespace's flows -----------------------------------------------------------

    def list_flows(self, namespace: str) -> List[Dict[str, Any]]:
        """The flows of ``namespace`` (not of the namespaces under it), every page, sorted
        by id: dicts as the server gives them (id, namespace, revision, disabled...)."""
        _require_name("namespace", namespace)
        what = "listing the flows of namespace %s" % namespace
        if (self._version() or (0,)) >= (2, 0):
            query = [("filters[namespace][EQUALS]", namespace)]
        else:
            query = [("namespace", namespace)]
        flows = [entry for entry in self._paged(self._api("flows", "search"), query, what)
                 if isinstance(entry, dict) and entry.get("namespace") == namespace]
        flows.sort(key=lambda entry: str(entry.get("id")))
        return flows

    def get_flow_source(self, namespace: str, flow_id: str) -> str:
        """The YAML source of a flow, as it was saved. NotFoundError when there is none."""
        _require_name("namespace", namespace)
        _require_name("flow id", flow_id)
        stored = _stored_flow(self, namespace, flow_id)
        if stored is None:
            raise NotFoundError("reading flow %s.%s: there is no such flow" % (namespace, flow_id))
        source = stored.get("source")
        if not isinstance(source, str):
            raise InvalidResponseError("reading flow %s.%s: the answer has no source%s"
                                       % (namespace, flow_id, self._server_said()))
        return source

    def delete_flow(self, namespace: str, flow_id: str) -> bool:
        """Delete a flow (its executions stay). True when it was there, False when there
        was no such flow."""
        _require_name("namespace", namespace)
        _require_name("flow id", flow_id)
        response = self._request("DELETE", self._api("flows", namespace, flow_id))
        if response.status_code == 404:
            return False
        self._raise_for(response, "deleting flow %s.%s" % (namespace, flow_id))
        self._log_info("deleted flow %s.%s", namespace, flow_id)
        return True

    # Logging of this client ----------------------------------------------------

    def _log_info(self, message: str, *args: Any) -> None:
        import logging

        logging.getLogger("kestra.flow").info(message, *args)

    def _log_debug(self, message: str, *args: Any) -> None:
        import logging

        logging.getLogger("kestra.flow").debug(message, *args)

    def _log_warning(self, message: str, *args: Any) -> None:
        import logging

        logging.getLogger("kestra.flow").warning(message, *args)


def _query_text(params: Any, separator: str) -> str:
    """``params`` as requests takes them (a dict or pairs, None values left out, lists
    repeated; or a ready string), percent-encoded, after ``separator``."""
    import urllib.parse

    if not params:
        return ""
    if isinstance(params, (str, bytes)):
        text = params.decode("ascii") if isinstance(params, bytes) else params
        return separator + text.lstrip("?&")
    items = params.items() if isinstance(params, collections.abc.Mapping) else params
    pairs = []
    for key, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(key, item) for item in values if item is not None]
    return (separator + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)) if pairs else ""


def _seconds(timeout: Any) -> float:
    """A timeout as requests takes it: seconds, or a (connect, read) pair (the larger wins)."""
    if isinstance(timeout, (tuple, list)):
        return float(max(value for value in timeout if value is not None))
    return float(timeout)


class _LogStreamReader:
    """Reads an execution's log stream on a thread of its own, into ``items``; it
    connects again only when the stream breaks, skipping the entries a new stream
    replays (stored ones come first)."""

    def __init__(self, flow: Flow, execution_id: str, params: Any) -> None:
        import queue

        self.flow = flow
        self.execution_id = execution_id
        self.params = params
        self.items = queue.Queue()  # type: Any  # ("entry", dict) or ("error", exception)
        self.stopped = False
        self.connection = None  # type: Any
        self.sent = set()  # type: Any  # the _log_key of each entry put in ``items``

    def offer(self, entry: Any) -> bool:
        """Whether ``entry``, of a stream or list that may replay entries already sent,
        is new. Two lines alike to the microsecond are taken for one."""
        key = _log_key(entry)
        if key in self.sent:
            return False
        self.sent.add(key)
        return True

    def missed_entries(self, still_reading: bool) -> List[Dict[str, Any]]:
        """After the stream: what is left in ``items``, then the stored entries it never sent."""
        import queue

        left = []
        while True:
            try:
                kind, item = self.items.get_nowait()
            except queue.Empty:
                break
            if kind == "entry":
                left.append(item)
        if still_reading:  # the reader did not stop in time: it may still be adding to ``sent``
            return left
        try:
            response = self.flow._request("GET", self.flow._api("logs", self.execution_id), params=self.params)
            self.flow._raise_for(response, "reading the logs of execution %s" % self.execution_id)
            stored = response.json()
        except (KestraError, ValueError) as exc:
            self.flow._log_warning("execution %s: the stored logs could not be read to complete the stream "
                                   "(lines it missed may be absent): %s", self.execution_id, exc)
            return left
        if not isinstance(stored, list) or not all(isinstance(entry, dict) for entry in stored):
            self.flow._log_warning("execution %s: the stored logs are not Kestra's list of entries%s "
                                   "(lines the stream missed may be absent)", self.execution_id, self.flow._server_said())
            return left
        return left + [entry for entry in stored if self.offer(entry)]

    def run(self) -> None:
        import http.client

        flow = self.flow
        while not self.stopped:
            response = None
            try:
                self.connection, response = flow._request(
                    "GET", flow._api("logs", self.execution_id, "follow"), params=self.params,
                    headers=[("Accept", "text/event-stream")], stream=True, timeout=24 * 3600.0,
                )
                if response.status >= 400:
                    flow._raise_for(Response("GET", "logs", response.status, response.reason, response.msg,
                                             response.read()), "following the logs of execution %s" % self.execution_id)
                for event_id, _, data in _sse_events(response, lambda: self.stopped):
                    if event_id == "progress" and data:
                        entry = json.loads(data)
                        if not isinstance(entry, dict):
                            raise InvalidResponseError(
                                "following the logs of execution %s: an entry is %s, where Kestra's API has an "
                                "object%s" % (self.execution_id, _json_kind(entry), flow._server_said()))
                        if self.offer(entry):
                            self.items.put(("entry", entry))
            except KestraError as exc:  # before ValueError: InvalidResponseError is one too
                self.items.put(("error", exc))
                return
            except (OSError, http.client.HTTPException, ValueError, RecursionError):
                pass  # broken (or an event that is not JSON): connect again, unless stopped
            finally:
                if response is not None:
                    response.close()  # after "Connection: close" the socket is the answer's
                if self.connection is not None:
                    self.connection.close()
            if not self.stopped:
                flow._sleep(flow.poll_interval)

    def stop(self) -> None:
        self.stopped = True
        connection = self.connection
        # The stream's own socket: http.client lets go of connection.sock when the
        # answer says "Connection: close" (or is HTTP/1.0), though the read goes on.
        sock = getattr(connection, "kestra_socket", None) if connection is not None else None
        if sock is not None:
            try:  # wakes the thread up from its read
                sock.shutdown(_socket_shut_rdwr())
            except OSError:
                pass


def _log_key(entry: Any) -> str:
    """What tells two log entries apart, the same in the stream and in the stored list.
    The timestamp is compared to the microsecond: Kestra 2.0 streams an entry with
    nanoseconds and stores it with microseconds (2026-12-02T12:45:44.358161841Z and
    .358161Z), and its stream may send one entry both ways."""
    if not isinstance(entry, dict):
        return repr(entry)
    fields = [entry.get(name) for name in ("taskRunId", "attemptNumber", "level", "message", "taskId", "triggerId")]
    timestamp = str(entry.get("timestamp"))
    head, dot, rest = timestamp[:19], timestamp[19:20], timestamp[20:]
    if dot == ".":
        digits = len(rest) - len(rest.lstrip("0123456789"))
        timestamp = "%s.%s%s" % (head, (rest[:digits] + "000000")[:6], rest[digits:])
    elif len(head) == 19:  # Java leaves out a zero fraction: ...:44Z is ...:44.000000Z
        timestamp = "%s.000000%s" % (head, timestamp[19:])
    fields.append(timestamp)
    return json.dumps(fields, default=str)


def _socket_shut_rdwr() -> int:
    import socket

    return socket.SHUT_RDWR


def _header(response: Any, name: str) -> Optional[str]:
    headers = response.msg if hasattr(response, "msg") else response.headers
    value = headers.get(name)  # type: Optional[str]
    return value


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


# What kestra.py reads of an execution, and the JSON type each must have (None: absent
# or null is fine). Anything else in the answer is the user's to read, unchecked.
_EXECUTION_FIELDS = {"id": str, "namespace": (str, type(None)), "flowId": (str, type(None)),
                     "url": (str, type(None)), "taskRunList": (list, type(None))}
_TASK_RUN_FIELDS = {"taskId": (str, type(None)), "outputs": (dict, type(None)), "state": (dict, type(None))}


def _execution_problem(value: Any) -> Optional[str]:
    """What makes ``value`` unlike an execution of Kestra's API, where kestra.py reads
    it (its id, state, task runs, outputs); None when nothing does."""
    problem = _object_problem(value, _EXECUTION_FIELDS, "the answer")
    if problem is not None:
        return problem
    state = value.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("current"), str):
        return "'state' is %s, where Kestra's API has an object with the text 'current'" % (
            _json_kind(state) if not isinstance(state, dict) else "an object whose 'current' is %s"
            % _json_kind(state.get("current")))
    for index, run in enumerate(value.get("taskRunList") or []):
        problem = _object_problem(run, _TASK_RUN_FIELDS, "taskRunList[%d]" % index)
        if problem is None and run.get("state") is not None and not isinstance(run["state"].get("current"), str):
            problem = "taskRunList[%d]['state']['current'] is %s, not a text" % (index, _json_kind(run["state"].get("current")))
        if problem is not None:
            return problem
    return None


def _object_problem(value: Any, fields: Dict[str, Any], where: str) -> Optional[str]:
    if not isinstance(value, dict):
        return "%s is %s, where Kestra's API has an object" % (where, _json_kind(value))
    for name, kind in fields.items():
        field = value.get(name)
        if not isinstance(field, kind):
            return "%s[%r] is %s, where Kestra's API has %s" % (
                where, name, _json_kind(field) if name in value else "missing", _kind_name(kind))
        if isinstance(field, str):
            try:  # JSON can escape what is not text: a lone surrogate
                field.encode("utf-8")
            except UnicodeEncodeError as exc:
                return "%s[%r] holds U+%04X, a lone surrogate, which is not text" % (where, name, ord(field[exc.start]))
    return None


def _list_problem(value: Any, fields: Dict[str, Any]) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, list):
        return "it is %s, where Kestra's API has a list" % _json_kind(value)
    for index, entry in enumerate(value):
        problem = _object_problem(entry, {name: (kind, type(None)) for name, kind in fields.items()}, "item %d" % index)
        if problem is not None:
            return problem
    return None


_JSON_KINDS = {str: "a text", dict: "an object", list: "a list", type(None): "null", bool: "a boolean",
               int: "a number", float: "a number"}


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_JSON_KINDS.get(each, each.__name__) for each in kinds)


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, in the words of an error message: "a list"..."""
    return _JSON_KINDS.get(type(value), _type_name(value))


def _state(execution: Optional[Dict[str, Any]]) -> Optional[str]:
    if not isinstance(execution, dict):
        return None
    state = execution.get("state")
    current = state.get("current") if isinstance(state, dict) else None  # type: Optional[str]  # checked by _execution
    return current


def _parse_version(text: Any) -> Optional[Tuple[int, ...]]:
    """(major, minor, patch) from a version such as "1.3.25" or "2.0.0-SNAPSHOT"."""
    import re

    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def _utc_now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _require_name(what: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise KestraError("the %s must be a non-empty string, got %r" % (what, value))


def _check_input_id(name: Any) -> None:
    """Input ids go into a part header: only Kestra's id characters are allowed."""
    import re

    if not isinstance(name, str) or not re.match(_ID_PATTERN, name):
        raise KestraError(
            "input id %r: an input id is letters, digits, '.', '_' and '-', starting with a "
            "letter or digit" % (name,)
        )


def _iso_text(value: Any, what: str) -> str:
    """ISO-8601 text; a naive datetime is taken as local time and given its offset
    (the server reads an instant, which needs one)."""
    datetime_module = sys.modules.get("datetime")
    if datetime_module is not None and isinstance(value, datetime_module.datetime):
        text = (value if value.tzinfo is not None else value.astimezone()).isoformat()  # type: str
        return text
    if datetime_module is not None and isinstance(value, (datetime_module.date, datetime_module.time)):
        text = value.isoformat()
        return text
    if isinstance(value, str) and value:
        return value
    raise KestraError("%s must be a datetime or an ISO-8601 string, got %r" % (what, value))


def _input_parts(inputs: Mapping[str, Any]) -> Tuple[List[Tuple[str, str]], List[_FilePart]]:
    """(text fields, file parts) for the inputs; files we open are closed by the caller."""
    if not isinstance(inputs, collections.abc.Mapping):
        raise KestraError("inputs must be a dict of input id -> value, got %s" % _type_name(inputs))
    fields, files = [], []  # type: List[Tuple[str, str]], List[_FilePart]
    try:
        for name, value in inputs.items():
            _check_input_id(name)
            if value is None:
                continue  # left out: the flow's default applies
            part = _file_part(name, value)
            if part is not None:
                files.append(part)
            else:
                fields.append((name, _input_text(name, value)))
    except BaseException:
        for part in files:
            part.close()
        raise
    return fields, files


def _file_part(name: str, value: Any) -> Optional[_FilePart]:
    """A FILE input's part, or None when ``value`` is not a file."""
    if isinstance(value, tuple):
        content = value[1] if len(value) in (2, 3) else None
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not (hasattr(content, "read") or isinstance(content, (bytes, bytearray))):
            raise KestraError(
                "input %r: a tuple is a FILE input, (filename, file or bytes[, content type]); got %r"
                % (name, tuple(type(item).__name__ for item in value))
            )
        filename = value[0] if isinstance(value[0], str) and value[0] else name
        content_type = value[2] if len(value) == 3 and value[2] else "application/octet-stream"
        if isinstance(content, (bytes, bytearray)):
            return _FilePart(name, filename, io.BytesIO(bytes(content)), content_type, owned=True)
        return _FilePart(name, filename, content, content_type, owned=False)
    if isinstance(value, (bytes, bytearray)):
        return _FilePart(name, name, io.BytesIO(bytes(value)), "application/octet-stream", owned=True)
    if hasattr(value, "read"):
        filename = os.path.basename(getattr(value, "name", "") or "") if isinstance(getattr(value, "name", None), str) else ""
        return _FilePart(name, filename or name, value, "application/octet-stream", owned=False)
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        try:
            file = open(path, "rb")
        except OSError as exc:
            raise KestraError("input %r: cannot open %r: %s" % (name, path, exc)) from None
        return _FilePart(name, os.path.basename(path) or name, file, "application/octet-stream", owned=True)
    return None


def _input_text(name: str, value: Any) -> str:
    """The text the server parses by the input's type."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    datetime_module = sys.modules.get("datetime")
    if datetime_module is not None and isinstance(value, (datetime_module.date, datetime_module.time)):
        return _iso_text(value, name)
    try:
        converted = _to_json(value, (None, name), set())
        if isinstance(converted, str):
            return converted
        return json.dumps(converted, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except KestraError as exc:
        raise KestraError("input %s" % exc) from None
    except ValueError as exc:  # an int longer than sys.get_int_max_str_digits()
        raise KestraError("input %r cannot be written as text: %s" % (name, exc)) from None


def _label_values(labels: Any, inputs: Optional[Mapping[str, Any]]) -> List[str]:
    """``key:value`` strings for the labels, checked as the server checks them."""
    pairs = []  # type: List[Tuple[Any, str]]  # keys are checked below
    if inputs:
        for name, value in inputs.items():
            if value is None or _is_file_value(value):
                continue  # files never become labels
            pairs.append((name, _input_text(name, value)))
    if labels is not None:
        for key, value in _label_pairs(labels):
            if value is None or _is_file_value(value):
                raise KestraError("label %r has no text value (got %s)" % (key, _type_name(value)))
            try:
                pairs.append((key, _input_text(str(key), value)))
            except KestraError as exc:
                raise KestraError("label %s" % str(exc)[len("input "):]) from None
    result, keys = [], set()  # type: List[str], Set[str]
    for key, value in pairs:
        if not isinstance(key, str):
            raise KestraError("label keys must be strings, got %r" % (key,))
        key, value = key.strip(), value.strip()  # the server trims both
        if not key or not value:
            raise KestraError("label %r: keys and values must not be empty (the server refuses them)" % (key or value,))
        if ":" in key:
            raise KestraError("label key %r: a key cannot contain ':' (the server splits at the first one)" % key)
        if key.startswith("system.") and key != "system.correlationId":
            raise KestraError("label key %r: system. labels are the server's own" % key)
        if key in keys:
            raise KestraError("label %r is given twice (the server refuses duplicate keys)" % key)
        keys.add(key)
        result.append("%s:%s" % (key, value))
    return result


# The rest of an execution's life: what its requests carry ------------------------

def _revision(revision: Any) -> int:
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        raise KestraError("revision must be a flow revision number (1 or more), got %r" % (revision,))
    return revision


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


def _masked(key: str) -> str:
    """A webhook key as a message may show it: its first 3 characters of 12 or more."""
    return (key[:3] if len(key) >= 12 else "") + "***"


def _paused_task(execution: Dict[str, Any]) -> Optional[str]:
    """"the Pause task 'approve'": the task the execution waits at, if the runs say."""
    for run in reversed(execution.get("taskRunList") or []):
        if isinstance(run, dict) and _state(run) == "PAUSED" and isinstance(run.get("taskId"), str):
            return "the Pause task %r" % run["taskId"]
    return None


def _task_run_id(execution: Dict[str, Any], task: Any, what: str) -> str:
    """The id of the task run to replay from: ``task`` is a task id that ran once, or
    a task run id."""
    if not isinstance(task, str) or not task:
        raise KestraError("%s: from_task must be a task id or a task run id, got %r" % (what, task))
    runs = [run for run in execution.get("taskRunList") or []
            if isinstance(run, dict) and isinstance(run.get("id"), str)]
    if any(run["id"] == task for run in runs):
        return task
    matching = [run for run in runs if run.get("taskId") == task]
    if len(matching) == 1:
        run_id = matching[0]["id"]  # type: str
        return run_id
    if not matching:
        ran = sorted({str(run.get("taskId")) for run in runs})
        raise KestraError("%s: no task %r ran in this execution (tasks that ran: %s)"
                          % (what, task, ", ".join(ran) or "none"))
    shown = ", ".join("%s%s" % (run["id"], " (value %s)" % run["value"] if run.get("value") is not None else "")
                      for run in matching[:10])
    raise KestraError("%s: task %r ran %d times (in a loop); give the task run id of the one to replay from: %s%s"
                      % (what, task, len(matching), shown, ", ..." if len(matching) > 10 else ""))


def _kept_inputs(execution: Dict[str, Any], fields: List[Tuple[str, str]], files: List[_FilePart],
                 what: str) -> List[Tuple[str, str]]:
    """The execution's inputs that the replay's new ones do not replace, as text (a FILE
    input as its kestra:/// URI): the server takes the replay's inputs as the whole set."""
    given = {name for name, _ in fields} | {part.name for part in files}
    kept = []
    inputs = execution.get("inputs")
    for name, value in (inputs.items() if isinstance(inputs, dict) else ()):
        if name in given or value is None:
            continue
        try:
            _check_input_id(name)
            kept.append((name, _input_text(name, value)))
        except KestraError as exc:
            raise KestraError("%s: the execution's input %r cannot be sent back as it is (%s): give it in inputs"
                              % (what, name, exc)) from None
    return kept


def _search_filters(namespace: Any, flow: Any, states: Any, labels: Any, since: Any,
                    until: Any) -> List[Tuple[str, str]]:
    """The query of an execution search, in the ``filters[...]`` syntax that Kestra
    1.3.25 and 2.0 both take (2.0 ignores the older ``namespace=``, ``labels=``...)."""
    query = []  # type: List[Tuple[str, str]]
    if namespace is not None:
        _require_name("namespace", namespace)
        query.append(("filters[namespace][PREFIX]", namespace))
    if flow is not None:
        _require_name("flow", flow)
        if namespace is None:
            raise KestraError("a flow id is unique within its namespace only: give the namespace too")
        query.append(("filters[flowId][EQUALS]", flow))
    if states is not None:
        try:
            names = _goal_states(states)
        except KestraError as exc:
            raise KestraError("states%s" % str(exc)[len("until"):]) from None
        query.append(("filters[state][IN]", ",".join(sorted(names))))
    if labels is not None:
        for key, value in _label_pairs(labels):
            if not (isinstance(key, str) and key.strip() and isinstance(value, str) and value.strip()):
                raise KestraError("label %r: %r: a search label needs a key and a value, both text" % (key, value))
            query.append(("filters[labels][EQUALS][%s]" % key.strip(), value.strip()))
    # Kestra 1.3.25 and 2.0: without a start date, they search the last 8 days only (so a
    # search without ``since`` asks for all); with both bounds on it, they match nothing
    # (so the upper one is applied as the pages come); a bound with no time or no offset
    # gets a 500 (so it goes in UTC, a date alone being its midnight); they store start
    # dates to the millisecond (so the bound goes to the millisecond, and the pages drop
    # what started before it within that one).
    start, fraction = _instant_parts(_iso_text(since, "since"), "since") if since is not None else (0, "")
    query.append(("filters[startDate][GREATER_THAN_OR_EQUAL_TO]",
                  time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start))
                  + ("." + (fraction + "00")[:3] if fraction else "") + "Z"))
    if until is not None:
        _instant_seconds(_iso_text(until, "until"), "until")
    return query


def _started_after(execution: Dict[str, Any], moment: float) -> float:
    """How many seconds after ``moment`` (epoch seconds) the execution started (0 or
    less: not after)."""
    state = execution.get("state")
    start = state.get("startDate") if isinstance(state, dict) else None
    try:
        return _instant_seconds(start, "startDate") - moment if isinstance(start, str) else 0.0
    except KestraError:
        return 0.0  # a start date this client cannot read: kept, rather than cut short


def _instant_seconds(text: str, what: str) -> float:
    """Seconds since the epoch of an ISO-8601 date or date-time (no offset: UTC)."""
    seconds, fraction = _instant_parts(text, what)
    return seconds + float("0." + (fraction or "0"))


def _instant_parts(text: str, what: str) -> Tuple[int, str]:
    """(whole seconds since the epoch, the digits of the fraction as written) of an
    ISO-8601 date or date-time; no offset: UTC."""
    import calendar
    import re

    match = re.match(r"\s*(\d{4})-(\d\d)-(\d\d)(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?)?"
                     r"\s*([Zz]|[+-]\d\d(?::?\d\d)?)?\s*\Z", text)
    if not match:
        raise KestraError("%s must be a datetime or an ISO-8601 date-time such as 2024-04-21T10:00:00Z, got %r"
                          % (what, text))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        seconds = calendar.timegm((int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                   int(second or 0), 0, 0, 0))  # type: int
    except (ValueError, OverflowError):
        raise KestraError("%s: %r is not a date-time" % (what, text)) from None
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        seconds += sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    return seconds, fraction or ""


class _RawBody:
    """A webhook body read from a file, streamed like a multipart body."""

    def __init__(self, part: _FilePart, content_type: str) -> None:
        self.part = part
        self.content_type = content_type
        self.consumed = False

    def length(self) -> Optional[int]:
        return self.part.size

    def chunks(self) -> Iterator[bytes]:
        self.consumed = True
        return self.part.read_chunks()

    def rewind(self) -> None:
        if self.consumed:
            self.part.rewind()
            self.consumed = False

    def rewindable(self) -> bool:
        return not self.consumed or self.part.start is not None

    def close(self) -> None:
        self.part.close()


def _webhook_body(body: Any, content_type: Optional[str]) -> Optional[Tuple[str, Any]]:
    """(content type, bytes or _RawBody) for a webhook's body; None for no body."""
    if body is None:
        return None
    if isinstance(body, (collections.abc.Mapping, list, tuple)):
        try:
            data = json.dumps(_to_json(body, (None, "body"), set()), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")
        except ValueError as exc:
            raise KestraError("the webhook body cannot be written as JSON: %s" % exc) from None
        return content_type or "application/json", data
    if isinstance(body, str):
        return content_type or "text/plain; charset=utf-8", body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return content_type or "application/octet-stream", bytes(body)
    if isinstance(body, io.TextIOBase):
        raise KestraError("the webhook body is a text file; open it in binary mode ('rb')")
    if hasattr(body, "read") or isinstance(body, os.PathLike):
        part = _file_part("body", body)
        if part is not None:
            return content_type or "application/octet-stream", _RawBody(part, content_type or "application/octet-stream")
    raise KestraError("the webhook body must be a dict or list (JSON), str, bytes, a binary file or a path, got %s"
                      % _type_name(body))


def _settable_labels(labels: Any) -> List[Tuple[str, str]]:
    """Labels a caller may set on an execution, checked as the server checks them:
    none of Kestra's own ``system.`` ones."""
    pairs = []
    for text in _label_values(labels, None):
        key, _, value = text.partition(":")
        if key.startswith("system."):
            raise KestraError("label %r: system. labels are Kestra's own and cannot be set" % key)
        pairs.append((key, value))
    return pairs


def _label_pairs(labels: Any) -> List[Tuple[Any, Any]]:
    """Labels as (key, value) pairs, from a dict or pairs; values unchecked."""
    pairs = []
    items = labels.items() if isinstance(labels, collections.abc.Mapping) else labels
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise KestraError("labels must be a dict or (key, value) pairs, got %r" % (item,)) from None
        pairs.append((key, value))
    return pairs


def _is_file_value(value: Any) -> bool:
    return isinstance(value, (tuple, bytes, bytearray, os.PathLike)) or hasattr(value, "read")


def _request_body(kwargs: Dict[str, Any], headers: List[Tuple[str, str]]) -> Any:
    """The body of a _make_request call, from requests-style ``json``/``data``/``files``."""
    import urllib.parse

    if kwargs.get("files") is not None:
        files = kwargs["files"]
        fields = [(str(k), _input_text(str(k), v)) for k, v in (kwargs.get("data") or {}).items()]
        parts = []
        for name, value in (files.items() if isinstance(files, collections.abc.Mapping) else files):
            if isinstance(value, tuple) and value and value[0] is None:  # (None, text): a field
                text = value[1]
                fields.append((name, text.decode("utf-8") if isinstance(text, bytes) else str(text)))
                continue
            part = _file_part(name, value)
            if part is None:
                raise KestraError("files[%r] is not a file: %s" % (name, _type_name(value)))
            parts.append(part)
        return _Multipart(fields, parts)
    if kwargs.get("json") is not None:
        headers.append(("Content-Type", "application/json"))
        return json.dumps(kwargs["json"], allow_nan=False).encode("utf-8")
    data = kwargs.get("data")
    if data is None:
        return None
    if isinstance(data, collections.abc.Mapping):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        return urllib.parse.urlencode(list(data.items())).encode("ascii")
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _copy_stream(response: Any, file: Any, what: str) -> None:
    expected = response.getheader("Content-Length")
    copied = 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        file.write(chunk)
        copied += len(chunk)
    if expected is not None and expected.isdigit() and copied != int(expected):
        raise KestraError("%s: got %d of %s bytes" % (what, copied, expected))


def _failure_message(execution: Dict[str, Any], log: str) -> str:
    """Why an execution did not succeed: its state, its failed tasks, its last errors."""
    import re

    failed = [run.get("taskId") for run in execution.get("taskRunList") or []
              if _state(run) in ("FAILED", "KILLED", "CANCELLED")]
    entries, current = [], None  # type: List[List[str]], Optional[List[str]]  # [level, message]
    for line in (log or "").splitlines():
        match = re.match(_LOG_LINE_START, line)
        if match:
            current = [match.group(1), line[match.end():]]
            entries.append(current)
        elif current is not None:
            current[1] += "\n" + line
    errors = [message for level, message in entries if level == "ERROR"][-5:]
    text = "execution %s ended %s" % (execution.get("id"), _state(execution))
    if failed:
        text += "; failed tasks: %s" % ", ".join(str(task) for task in failed)
    if errors:
        text += "; last errors:\n" + "\n".join(errors)
    return text


# A namespace's state ##########################################################
# The key-value store, namespace files and flows of a namespace. The store's PUT
# body is read by the server as Ion text: kestra.py writes each value as the Ion that
# the server reads back as that value, and refuses the values it cannot keep.


class SyncError(KestraError):
    """Some files of Flow.sync_files failed; ``report`` holds what was done, with
    ``failed`` listing each failure."""

    def __init__(self, message: str, report: Dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class KVKeyNotFoundError(NotFoundError):
    """The key-value store has no such key (or it has expired), as the server said."""


_PAGE_SIZE = 100  # results asked for per page of a listing
_KV_KEY = r"[a-zA-Z0-9][a-zA-Z0-9._-]*"  # the server's rule for a key
# A string the server turns into a DURATION when it reads the value back (InternalKVStore).
_KV_DURATION_SHAPE = r"P(?=[^T]|T.)(?:[0-9]*D)?(?:T(?=.)(?:[0-9]*H)?(?:[0-9]*M)?(?:[0-9]*S)?)?"
_KV_MAX_DEPTH = 100  # levels of a JSON value
_NS_REFUSED = '"<>\\^`{|}[]%'  # in a namespace file's name, Kestra 1.3 answers 422 (java.net.URI; '%' as an escape)


def _check_kv_key(namespace: Any, key: Any) -> None:
    import re

    _require_name("namespace", namespace)
    if not isinstance(key, str) or not re.fullmatch(_KV_KEY, key):
        raise KestraError("key %r: a key is letters, digits, '.', '_' and '-' (ASCII), starting with a letter "
                          "or digit" % (key,))


def _kv_said_missing(response: Response) -> bool:
    """Whether a 404 or 410 is the store's own "no such key" or "expired" (a proxy's
    404 for a wrong URL is not)."""
    said = _server_message(response) or ""
    return "No value found" in said or "expired" in said


def _kv_text(value: Any) -> str:
    """The Ion text that Kestra's store reads back as ``value``, with the type the value
    has in Python; KestraError saying why when there is none."""
    import datetime
    import decimal
    import re

    if not _ION_WRITERS:
        _fill_ion_writers()
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, bool):
        return _ion_value(value, 0)
    if isinstance(value, str):
        if re.fullmatch(_KV_DURATION_SHAPE, value):
            raise KestraError(
                "the string %r reads as an ISO-8601 duration, and Kestra's key-value store turns such a "
                "string into a DURATION: to mean a duration, store a timedelta (on the command line: --type "
                "duration); to keep the text, store it inside a dict, such as {\"value\": %s}"
                % (value, json.dumps(value)))
        _check_kv_string(value, "the string")
        return _ion_quote(str.__str__(value))
    if isinstance(value, (int, float, decimal.Decimal)):
        return _kv_number(value, "")
    if isinstance(value, datetime.datetime):
        return _kv_datetime_text(value)
    if isinstance(value, datetime.date):
        if value < _GREGORIAN_START:
            raise KestraError("the date %s is before 1582-10-15: Kestra reads such a date in the Julian "
                              "calendar and stores another day; store it as a string" % value)
        return _date_text(value)  # type: ignore[no-any-return]
    if isinstance(value, datetime.timedelta):
        if value < datetime.timedelta(0) or value.microseconds:
            raise KestraError("the duration %s cannot be stored as a DURATION: Kestra's store keeps whole, "
                              "positive seconds only; round it, or store its seconds as a number" % value)
        return '"PT%dS"' % (value.days * 86400 + value.seconds)
    if isinstance(value, (dict, list, tuple)):
        _check_kv_json(value, "", 0)
        try:
            return _ion_value(value, 0)
        except _Unwritable as exc:
            raise KestraError("the value %s" % exc.message) from None
    raise KestraError("a value of type %s cannot be stored in Kestra's key-value store: store a str, int, "
                      "float, Decimal, bool, None, datetime, date, timedelta, or a dict or list of JSON "
                      "values; convert it first, for example with str(value)" % _type_name(value))


def _check_kv_string(text: str, what: str) -> None:
    if _surrogate_problem(text) is not None:
        raise KestraError("%s %r holds a lone surrogate, which is not text and cannot be sent" % (what, text[:80]))


def _kv_number(value: Any, where: str) -> str:
    """The Ion text of an int, float or Decimal (``where``: its place in a JSON value)."""
    import math

    if not isinstance(value, int) and not (value.is_finite() if hasattr(value, "is_finite") else math.isfinite(value)):
        raise KestraError("%s%r is not a finite number, and Kestra's store would keep it as text: store a "
                          "string, or None" % (where and where + ": ", value))
    return _ion_value(value, 0)


def _check_kv_json(value: Any, where: str, depth: int) -> None:
    """KestraError unless ``value`` holds only what a JSON value keeps: str, int, float,
    Decimal, bool, None (in a list: the server drops a dict's key whose value is null),
    and dicts (with str keys) and lists of those."""
    import decimal

    if depth > _KV_MAX_DEPTH:
        raise KestraError("the value is nested deeper than %d levels%s" % (_KV_MAX_DEPTH, where and " at " + where))
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise KestraError("the key %r%s is not a string: a JSON value's keys are strings"
                                  % (key, where and " in " + where))
            _check_kv_string(key, "the key")
            if item is None:
                raise KestraError("the key %r%s is null, and Kestra's store drops a key whose value is null "
                                  "(a null in a list stays): leave the key out, or store another value"
                                  % (key, where and " in " + where))
            _check_kv_json(item, "%s[%r]" % (where, key), depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_kv_json(item, "%s[%d]" % (where, index), depth + 1)
    elif isinstance(value, str):
        _check_kv_string(value, "the string at %s" % where)
    elif isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        _kv_number(value, where)
    elif value is not None and not isinstance(value, bool):
        raise KestraError("the value at %s is of type %s: inside a dict or list, Kestra's store keeps only "
                          "JSON values (str, numbers, bool, None, dict, list); convert it first, for example "
                          "to an ISO-8601 string" % (where, _type_name(value)))


def _kv_datetime_text(value: Any) -> str:
    """A datetime as the Ion the store reads back as a DATETIME: naive as a LocalDateTime
    (any precision); in a zone as an instant, which the server keeps to the millisecond
    and reads back in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        text = _datetime_text(value.replace(tzinfo=None))  # type: str
        return 'LocalDateTime::"' + text + '"'
    utc = value.astimezone(_utc)
    problem = None
    if utc.microsecond % 1000:
        problem = ("has microseconds, and Kestra keeps a date-time in a zone to the millisecond: round it, "
                   "for example value.replace(microsecond=value.microsecond // 1000 * 1000)")
    elif utc.date() < _GREGORIAN_START:
        problem = "is before 1582-10-15, which Kestra reads in the Julian calendar"
    elif not (utc.hour or utc.minute or utc.second or utc.microsecond):
        problem = ("is midnight UTC, which Kestra's store reads back as a DATE: store the date, a naive "
                   "datetime (a LocalDateTime) or a string")
    if problem is not None:
        raise KestraError("the datetime %s %s" % (value.isoformat(), problem))
    return _local_text(utc.replace(tzinfo=None))[:23] + "Z"


def _kv_ttl(ttl: Any) -> str:
    """A TTL (timedelta or ISO-8601 duration) as the header the server parses."""
    import datetime

    delta = _java_duration(ttl, "ttl") if isinstance(ttl, str) else ttl
    if not isinstance(delta, datetime.timedelta):
        raise KestraError("ttl must be a timedelta or an ISO-8601 duration such as PT1H, got %r" % (ttl,))
    if delta <= datetime.timedelta(0):
        raise KestraError("ttl must be more than zero, got %r" % (ttl,))
    return _iso_duration(delta)


def _kv_description(text: Any) -> str:
    """A description as a header can carry it: one line of printable ASCII."""
    if not isinstance(text, str) or not all(" " <= char <= "~" for char in text):
        raise KestraError("description %r: it travels in a header, so it must be one line of printable ASCII "
                          "(no accents, tabs or line breaks)" % (text,))
    return text


def _java_duration(text: str, what: str) -> Any:
    """A timedelta from an ISO-8601 duration as Java's Duration writes and parses it
    (PnDTnHnMn.nS, each part signed); digits past the microsecond are dropped."""
    import datetime
    import re

    match = re.fullmatch(r"([-+]?)P(?:([-+]?[0-9]+)D)?(?:T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?"
                         r"(?:([-+]?)([0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?", text.strip(), re.I)
    if not match or text.strip().upper().endswith(("P", "T")):
        raise KestraError("%s: %r is not an ISO-8601 duration such as PT1H30M or P1D" % (what, text))
    sign, days, hours, minutes, seconds_sign, seconds, fraction = match.groups()
    micros = (int(seconds or 0) * 1000000 + int((fraction or "").ljust(6, "0")[:6])) * (-1 if seconds_sign == "-" else 1)
    total = datetime.timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                               microseconds=micros)
    return -total if sign == "-" else total


def _java_duration_text(delta: Any) -> str:
    """A timedelta as Java's Duration.toString writes it, as the server shows a DURATION:
    hours, minutes and seconds (PT5M, PT24H, PT1H0.5S, PT0S)."""
    micros = (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
    if micros < 0:
        return _iso_duration(delta)
    hours, rest = divmod(micros, 3600000000)
    minutes, rest = divmod(rest, 60000000)
    seconds, fraction = divmod(rest, 1000000)
    text = "PT" + ("%dH" % hours if hours else "") + ("%dM" % minutes if minutes else "")
    if seconds or fraction or text == "PT":
        text += ("%d.%06d" % (seconds, fraction)).rstrip("0") + "S" if fraction else "%dS" % seconds
    return text


def _kv_entry(namespace: str, key: str, response: Response, exact: bool, what: str) -> Dict[str, Any]:
    """The entry a GET of a key answers, its value made the Python value of its type."""
    import decimal

    try:
        answer = json.loads(response.content.decode("utf-8"), parse_float=decimal.Decimal)
    except (ValueError, RecursionError) as exc:
        raise InvalidResponseError("%s: the answer is not JSON (%s)" % (what, exc)) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("type"), str):
        raise InvalidResponseError("%s: the answer is not a key-value entry" % what)
    kind, value = answer["type"], answer.get("value")
    try:
        value = _kv_value(kind, value, exact)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidResponseError("%s: the %s value %r cannot be read (%s)" % (what, kind, value, exc)) from None
    return {"namespace": namespace, "key": key, "type": kind, "value": value, "revision": answer.get("revision"),
            "updated": answer.get("updated")}


def _kv_value(kind: str, value: Any, exact: bool) -> Any:
    """The Python value of a stored ``value`` of type ``kind`` (numbers parsed as Decimal)."""
    import datetime
    import decimal

    expected = {"STRING": (str, type(None)), "BOOLEAN": bool, "DATETIME": str, "DATE": str, "DURATION": str,
                "NUMBER": (int, decimal.Decimal, str)}.get(kind, object)  # type: Any
    if not isinstance(value, expected) or (kind == "NUMBER" and isinstance(value, bool)):
        raise ValueError("it is %s" % _json_kind(value))
    if kind == "NUMBER" and isinstance(value, str):
        if value not in ("NaN", "Infinity", "-Infinity"):
            raise ValueError("not a number")
        return float(value)
    if kind == "DATETIME":
        return _kv_datetime(value)
    if kind == "DATE":
        return datetime.date.fromisoformat(value)
    if kind == "DURATION":
        return _java_duration(value, "the duration")
    return _kv_numbers(value, exact)


def _kv_numbers(value: Any, exact: bool) -> Any:
    """``value`` with each Decimal made a float, unless ``exact`` or unless a float
    would not hold the digits."""
    import decimal

    if isinstance(value, decimal.Decimal):
        if exact:
            return value
        number = float(value)
        return number if decimal.Decimal(repr(number)) == value else value
    if isinstance(value, dict):
        return {key: _kv_numbers(item, exact) for key, item in value.items()}
    if isinstance(value, list):
        return [_kv_numbers(item, exact) for item in value]
    return value


def _kv_datetime(text: str) -> Any:
    """A datetime from Java's Instant (…Z, aware in UTC), OffsetDateTime (aware) or
    LocalDateTime (naive) text; digits past the microsecond are dropped."""
    import datetime
    import re

    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
                         r"(Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?", text)
    if not match:
        raise ValueError("not an ISO-8601 date-time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    zone_info = None
    if zone == "Z":
        zone_info = datetime.timezone.utc
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        parts = [int(part) for part in zone[1:].split(":")]
        zone_info = datetime.timezone(sign * datetime.timedelta(hours=parts[0], minutes=parts[1],
                                                                seconds=parts[2] if len(parts) > 2 else 0))
    return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                             int((fraction or "").ljust(6, "0")[:6]), zone_info)


def _answer_list(answer: Any, what: str) -> List[Any]:
    if not isinstance(answer, list):
        raise InvalidResponseError("%s: the answer is %s, where Kestra's API has a list" % (what, _json_kind(answer)))
    return answer


def _ns_segment_problem(name: str, writing: bool = True) -> Optional[str]:
    """What is wrong with one segment of a namespace path, or None. A name kestra.py
    would not write (``writing``) may still be on the server, put there by 2.0 or
    another client: it is read, listed and deleted, if a local file can bear it."""
    if not name:
        return "an empty segment (// or a trailing /): write it as folder/file from the namespace's root"
    if name in (".", ".."):
        return "a %r segment: write it as folder/file from the namespace's root" % name
    if not writing:
        if "\0" in name or _surrogate_problem(name) is not None:
            return "a NUL character or a lone surrogate, which no local file name can hold"
        return None
    for char in name:
        if char.isspace() or char in _NS_REFUSED or char < " " or "\x7f" <= char <= "\x9f":
            return ("%r, which Kestra refuses in a file name or changes (1.3 stores a space as '+'; 2.0 "
                    "refuses spaces; 1.3 refuses %s): rename it" % (char, _NS_REFUSED))
    if len(name) > 255:
        return "a name longer than 255 characters, which Kestra refuses: shorten it"
    if _surrogate_problem(name) is not None:
        return "a lone surrogate"
    return None


def _ns_path(path: Any, writing: bool = True) -> str:
    """A namespace path as the server takes it (/a/b), checked: no '..' or '.', no empty
    segment, no control character, nothing under _flows (where the server imports
    flows). A leading / is the namespace's root, as Kestra writes its paths. A path
    only read or deleted (not ``writing``) may hold what _ns_segment_problem lets
    the server's own names hold."""
    if not isinstance(path, str):
        raise KestraError("a namespace path must be a string, got %r" % (path,))
    if path in ("", "/"):
        return "/"
    segments = (path[1:] if path.startswith("/") else path).split("/")
    for segment in segments:
        problem = _ns_segment_problem(segment, writing)
        if problem is not None:
            raise KestraError("namespace path %r has %s" % (path, problem))
    if segments[0] == "_flows":
        raise KestraError("namespace path %r is under _flows, where Kestra imports flows instead of storing "
                          "files: deploy flows with `kestra.py deploy` or Flow's deploy, not as files" % path)
    return "/" + "/".join(segments)


def _ns_parents(path: str, top: str) -> List[str]:
    """The folders between ``top`` (a namespace folder) and ``path``, under it: for
    /a/b/c/d.txt under /a, ['/a/b', '/a/b/c']."""
    parents = []
    folder = path.rsplit("/", 1)[0]
    while folder and folder != top.rstrip("/") and folder.startswith(top.rstrip("/") + "/"):
        parents.append(folder)
        folder = folder.rsplit("/", 1)[0]
    return parents[::-1]


# Both servers answer OK to a file sent onto a folder, and keep nothing; a deleted
# folder keeps its place (its kind stays on the storage), so no file can take it.
_FOLDER_KEPT = ("the server has a folder at %s, which a file cannot replace, even once the folder is deleted "
                "(Kestra answers OK and keeps nothing): rename the file")


def _some(paths: List[str]) -> str:
    """Up to three paths, and how many more."""
    shown = ", ".join(paths[:3])
    return shown if len(paths) <= 3 else "%s and %d more" % (shown, len(paths) - 3)


def _local_files(source: Any, to: Optional[str], folder_only: bool = False) -> List[Tuple[str, str]]:
    """(local path, namespace path) of each file to upload from ``source`` (a file or a
    folder: its files, dot files and dot folders left out, sorted), checked before any
    request: a symbolic link or an unusable name is refused."""
    source = os.fspath(source)
    if os.path.islink(source) and not os.path.isdir(source):
        raise KestraError("%s is a symbolic link: give the file it points to" % source)
    if os.path.isfile(source) and not folder_only:
        if to is None or (isinstance(to, str) and to.endswith("/")):  # a folder: the file goes in it, by its name
            to = (to or "/") + os.path.basename(source)
        return [(source, _ns_path(to))]
    if not os.path.isdir(source):
        raise KestraError("no %s at %r" % ("folder" if folder_only else "file or folder", source))
    root = _ns_path(to or "/")
    found = []
    for folder, folders, names in os.walk(source):
        for name in folders + names:
            if os.path.islink(os.path.join(folder, name)):
                raise KestraError("%s is a symbolic link: kestra.py does not follow links; copy what it points "
                                  "to, or move the link out of the folder" % os.path.join(folder, name))
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            local = os.path.join(folder, name)
            relative = os.path.relpath(local, source).replace(os.sep, "/")
            found.append((local, _ns_path(root.rstrip("/") + "/" + relative)))
    return sorted(found, key=lambda pair: pair[1])


# Ion reading ##################################################################
# Kestra.read and Kestra.iter_read: Ion files as Kestra writes them (text up to 1.x,
# binary from 2.0), read by built-in streaming Ion 1.0 readers: no package needed.


class IonReadError(KestraError):
    """The file is not valid Ion: ``path``, ``line`` (1-based) and ``offset`` (bytes
    from the start) say where, the message what was expected there."""

    def __init__(self, message: str, path: Optional[str], line: Optional[int], offset: Optional[int]) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.offset = offset

    def __reduce__(self) -> Any:  # pickled by its arguments (a process pool sends it back)
        return (type(self), (str(self), self.path, self.line, self.offset))


_ION_BINARY_MARKER = b"\xe0\x01\x00\xea"
_ION_TYPES = ("null", "bool", "int", "float", "decimal", "timestamp", "symbol", "string", "clob",
              "blob", "list", "sexp", "struct")
_ION_SYSTEM_SYMBOLS = (None, "$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports",
                       "symbols", "max_id", "$ion_shared_symbol_table")
_ION_READ_CHUNK = 1 << 16  # characters of text decoded at a time
# Bounds that keep any input, however made, to values or an IonReadError in time
# linear in its size. Each error names the bound and where it was hit.
_ION_MAX_DEPTH = 200  # containers inside containers (Python's stack holds 2 frames a level)
_ION_MAX_DIGITS = 1000000  # digits of an int or of a decimal's coefficient (0.6 s to convert)
_ION_MAX_EXPONENT = 1 << 31  # a decimal's exponent: Java's BigDecimal keeps its scale in an int


def _digits_int(text: str) -> int:
    """``int(text)`` for ASCII digits (and a leading "-") of any length, exactly: Python
    3.11+ refuses to convert more than 4,300 digits in one go (sys.get_int_max_str_digits),
    so longer texts are converted by halves, which is also faster."""
    if len(text) <= 4000:
        return int(text)
    if text[0] == "-":
        return -_digits_int(text[1:])
    half = len(text) // 2
    scale = 10 ** half  # type: int
    return _digits_int(text[:-half]) * scale + _digits_int(text[-half:])


# The faithful model: what the Ion data model says a value is, for the conformance
# tests and for the conversions below. Users get plain Python values instead.

class _IonNull:
    """A typed null such as null.int; ``ion_type`` names the type."""

    __slots__ = ("ion_type",)

    def __init__(self, ion_type: str) -> None:
        self.ion_type = ion_type

    def __repr__(self) -> str:
        return "null.%s" % self.ion_type


_ION_NULLS = {name: _IonNull(name) for name in _ION_TYPES}


class _IonSymbol:
    """A symbol: its ``text``, or None with a ``location`` when the text is unknown
    (an import's slot (name, position), or ("", 0) for $0 and empty local slots);
    ``sid`` is the symbol id it was written as, if any."""

    __slots__ = ("text", "location", "sid")

    def __init__(self, text: Optional[str], location: Optional[Tuple[str, int]] = None,
                 sid: Optional[int] = None) -> None:
        self.text = text
        self.location = location
        self.sid = sid

    def __repr__(self) -> str:
        return "_IonSymbol(%r)" % (self.text,) if self.text is not None else "_IonSymbol(%r)" % (self.location,)


class _IonTimestamp:
    """A timestamp as Ion sees it: its fields, its precision and its offset in minutes
    (None for the unknown offset -00:00)."""

    __slots__ = ("year", "month", "day", "hour", "minute", "second", "fraction", "offset", "precision")

    def __init__(self, year: int, month: int, day: int, hour: int, minute: int, second: int,
                 fraction: Any, offset: Optional[int], precision: str) -> None:
        self.year, self.month, self.day = year, month, day
        self.hour, self.minute, self.second = hour, minute, second
        self.fraction, self.offset, self.precision = fraction, offset, precision

    def instant(self) -> Any:
        """The exact point on the timeline, as Decimal seconds since 0001-01-01 UTC."""
        import datetime
        import decimal

        local = datetime.datetime(self.year, self.month, self.day, self.hour, self.minute, self.second)
        seconds = (local - datetime.datetime(1, 1, 1)).days * 86400 + (local - datetime.datetime(1, 1, 1)).seconds
        seconds -= (self.offset or 0) * 60
        return decimal.Decimal(seconds) + (self.fraction or 0)

    def __repr__(self) -> str:
        return "_IonTimestamp(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)


class _IonClob(bytes):
    """A clob: bytes that Ion keeps apart from blobs."""


if TYPE_CHECKING:
    _AnyList = List[Any]
else:  # list takes no [Any] before Python 3.9
    _AnyList = list


class _IonSExp(_AnyList):
    """An s-expression: a list that Ion keeps apart from lists."""


class _IonStruct(_AnyList):
    """A struct: (field name, value) pairs, in order, duplicates kept."""


class _IonAnnotated:
    """A value with annotations (a tuple of _IonSymbol)."""

    __slots__ = ("annotations", "value")

    def __init__(self, annotations: Tuple[_IonSymbol, ...], value: Any) -> None:
        self.annotations = annotations
        self.value = value

    def __repr__(self) -> str:
        return "_IonAnnotated(%r, %r)" % (self.annotations, self.value)


def _ion_bare(value: Any) -> Any:
    return value.value if isinstance(value, _IonAnnotated) else value


class _SymbolTable:
    """Symbol ids -> text, kept as segments: lists of texts (None: unknown) and the
    ranges an import adds, whose text is unknown without a catalog (an import may
    declare two billion symbols: they are never listed one by one)."""

    def __init__(self) -> None:
        self.starts = [0]  # first sid of each segment
        self.segments = [list(_ION_SYSTEM_SYMBOLS)]  # type: List[Any]  # a list, or (name, count)
        self.size = len(_ION_SYSTEM_SYMBOLS)

    def add_texts(self, texts: List[Optional[str]]) -> None:
        if texts:
            self.starts.append(self.size)
            self.segments.append(list(texts))
            self.size += len(texts)

    def add_import(self, name: str, count: int) -> None:
        if count:
            self.starts.append(self.size)
            self.segments.append((name, count))
            self.size += count

    def resolve(self, sid: int) -> Optional[_IonSymbol]:
        """The symbol for ``sid``, or None if the table has no such id."""
        import bisect

        if sid < 0 or sid >= self.size:
            return None
        index = bisect.bisect_right(self.starts, sid) - 1
        segment, offset = self.segments[index], sid - self.starts[index]
        if isinstance(segment, list):
            text = segment[offset]
            if text is not None:
                return _IonSymbol(text, None, sid)
            return _IonSymbol(None, ("", 0), sid)
        return _IonSymbol(None, (segment[0], offset + 1), sid)


def _next_symbol_table(table: _IonStruct, current: _SymbolTable, fail: Any) -> _SymbolTable:
    """The symbol table a local symbol table struct (read faithfully) makes, given the
    current one; ``fail(message)`` gives the error for an invalid one. Text and binary
    readers share it."""
    imports = symbols = None
    seen = set()
    for name, value in table:
        value = _ion_bare(value)  # annotations inside a symbol table mean nothing
        if name.text in ("imports", "symbols"):
            if name.text in seen:
                raise fail("a symbol table has two %r fields" % name.text)
            seen.add(name.text)
            if name.text == "imports":
                imports = value
            else:
                symbols = value
    if isinstance(imports, _IonSymbol) and imports.text == "$ion_symbol_table":
        result = current  # append to the current table
    else:
        result = _SymbolTable()
        if isinstance(imports, list) and not isinstance(imports, _IonSExp):
            for entry in imports:
                _add_import(result, entry, fail)
    if isinstance(symbols, list) and not isinstance(symbols, _IonSExp):
        texts = [_ion_bare(symbol) for symbol in symbols]
        result.add_texts([text if isinstance(text, str) else None for text in texts])
    return result


def _add_import(table: _SymbolTable, entry: Any, fail: Any) -> None:
    """Add an import's slots: without a catalog, their text is unknown."""
    if not isinstance(entry, _IonStruct):
        return
    fields = {}  # type: Dict[Optional[str], Any]
    for name, value in entry:
        fields.setdefault(name.text, _ion_bare(value))
    name = fields.get("name")
    if not isinstance(name, str) or not name or name == "$ion":
        return
    max_id = fields.get("max_id")
    if isinstance(max_id, bool) or not isinstance(max_id, int) or max_id < 0:
        raise fail("the import %r has no valid max_id (and no catalog can tell it)" % name)
    table.add_import(name, max_id)


class _NeedMore(Exception):
    """The buffer ended inside a value: read more text, then parse it again."""


class _IonPatterns:
    """The reader's regular expressions, compiled on first use (not at import)."""

    compiled = None  # type: Optional[_IonPatterns]

    def __init__(self) -> None:
        import re

        self.space = re.compile(r"[ \t\n\r\x0b\x0c]*")
        self.identifier = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
        self.operator = re.compile(r"[!#%&*+\-./;<=>?@^`|~]+")
        self.timestamp = re.compile(
            r"([0-9]{4})(?:T|-([0-9]{2})(?:T|-([0-9]{2})(?:T(?:([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]+)?)?"
            r"(Z|[+-][0-9]{2}:[0-9]{2}))?)?))"
        )
        self.hex = re.compile(r"-?0[xX][0-9A-Fa-f]+(?:_[0-9A-Fa-f]+)*")
        self.binary = re.compile(r"-?0[bB][01]+(?:_[01]+)*")
        self.number = re.compile(r"-?(?:0|[1-9][0-9]*(?:_[0-9]+)*)(\.(?:[0-9]+(?:_[0-9]+)*)?)?([eEdD][+-]?[0-9]+)?")
        self.short_string = re.compile(r'"([^"\\\n\r]*(?:\\(?:\r\n|[\s\S])[^"\\\n\r]*)*)"')
        self.quoted_symbol = re.compile(r"'([^'\\\n\r]*(?:\\(?:\r\n|[\s\S])[^'\\\n\r]*)*)'")
        # One way only to match any text (a backslash takes the next character, and a
        # "\n" after it is ordinary text): no backtracking blow-up on an unclosed string.
        self.long_string = re.compile(r"'''([^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*)'''")
        self.escape = re.compile(r"\\(?:([abtnfrv?0'\"/\\])|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(\r\n|[\r\n])|([\s\S]?))")
        self.control = re.compile(r"[\x00-\x08\x0e-\x1f]")
        self.version_marker = re.compile(r"\$ion_[0-9]+_[0-9]+\Z")
        self.line_end = re.compile(r"[\r\n]")
        self.string_prefix = re.compile(r'"(?:[^"\\\n\r]|\\(?:\r\n|[\s\S]))*')  # up to a raw line break
        self.symbol_prefix = re.compile(r"'(?:[^'\\\n\r]|\\(?:\r\n|[\s\S]))*")
        self.iso_datetime = re.compile(
            r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
        )
        self.iso_parts = re.compile(
            r"(?:([0-9]{4})-([0-9]{2})-([0-9]{2}))?T?(?:([0-9]{2}):([0-9]{2})(?::([0-9]{2})(\.[0-9]+)?)?)?"
            r"(Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?(?:\[[^\]]*\])?\Z"  # Java: +HH:MM:SS for old zones
        )
        # A value the way Kestra writes most of them, in one match: an int, a decimal
        # with a point, a string without escapes, a keyword, a UTC timestamp to the
        # second or finer, a date, or an annotated plain string; as a struct field with
        # a plain name, or as a list item, ending right there. Anything else, or a value
        # that does not hold (a keyword as a name, a 30th of February), takes the
        # general path, which reads it or says what is wrong.
        simple = (
            r"(?:(?P<int>-?(?:0|[1-9][0-9]*))"
            r"|(?P<decimal>-?(?:0|[1-9][0-9]*)\.[0-9]+)"
            r'|"(?P<string>[^"\\\x00-\x1f]*)"'
            r"|(?P<keyword>null|true|false)"
            r"|(?P<timestamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)(?:Z|-00:00)"
            r"|(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T?"
            r'|(?P<annotation>[A-Za-z][A-Za-z0-9_]*)::"(?P<annotated>[^"\\\x00-\x1f]*)")'
        )
        self.simple_field = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_$]*):" + simple + r"(?=[,}])")
        self.simple_item = re.compile(simple + r"(?=[,\]])")

    @classmethod
    def get(cls) -> _IonPatterns:
        if cls.compiled is None:
            cls.compiled = cls()
        return cls.compiled


_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "v": "\v", "?": "?",
            "0": "\0", "'": "'", '"': '"', "/": "/", "\\": "\\"}
_NUMERIC_STOPS = frozenset(" \t\n\r\x0b\x0c,]){}[(\"'")
_IDENTIFIER_STARTS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_SKIPPED_STARTS = frozenset(" \t\n\r\x0b\x0c/")  # whitespace, or maybe a comment
_UNANNOTATED_STARTS = frozenset('"{[(0123456789-+')  # values that cannot begin with annotations
_KEYWORDS = frozenset(("true", "false", "null", "nan"))
_DATE_ANNOTATIONS = frozenset(("LocalDateTime", "ZonedDateTime", "OffsetDateTime", "LocalDate", "LocalTime",
                               "OffsetTime", "Instant"))
_SKIP = object()  # a system value (version marker, symbol table): nothing for the user
_KEYWORD_VALUES = {"null": None, "true": True, "false": False}


class _IonTextReader:
    """A pull parser for Ion 1.0 text over a stream of decoded chunks.

    ``values()`` yields the top-level user values, faithfully (the model above) or
    converted for users; system values update the symbol table and are not yielded.
    """

    def __init__(self, chunks: Iterator[Tuple[str, int]], name: Optional[str], faithful: bool, exact: bool) -> None:
        import datetime
        import decimal

        self.chunks = chunks  # (text, byte length) pairs
        self.name = name
        self.faithful = faithful
        self.exact = exact
        self.patterns = _IonPatterns.get()
        self.datetime = datetime
        self.Decimal = decimal.Decimal
        self.utc = datetime.timezone.utc
        self.buf = ""
        self.pending = ""  # read, but after the last line end: not parsed yet
        self.eof = False
        self.lines_before = 0  # lines and bytes of the text dropped from the buffer
        self.bytes_before = 0
        self.encoding = "utf-8"  # of the file, for byte offsets in errors
        self.symbols = _SymbolTable()
        self.depth = 0  # containers open around the position being read

    # -- buffer ------------------------------------------------------------------

    def _fill(self, keep_from: int, at_least: int = 0) -> int:
        """Drop the text before ``keep_from`` and add whole lines of the next chunks,
        ``at_least`` characters of them if the data has so many; the new position of
        ``keep_from`` (0).

        The buffer always ends at a line end (or the end of the data): no token can
        hold a line break, so a token is never cut in two; a value spanning lines is
        parsed again once its next lines are in."""
        dropped = self.buf[:keep_from]
        if dropped:
            self.lines_before += dropped.count("\n")
            self.bytes_before += len(dropped.encode(self.encoding, "surrogatepass"))
        self.buf = self.buf[keep_from:]
        added = []  # whole lines, then the text after the last line end
        count = 0
        line = [self.pending]  # pieces of a line not ended yet: joined once, not chunk by chunk
        for text, _ in self.chunks:
            cut = max(text.rfind("\n"), text.rfind("\r")) + 1
            if not cut:
                line.append(text)
                continue
            line.append(text[:cut])
            added.append("".join(line))
            count += len(added[-1])
            line = [text[cut:]]
            if count >= at_least:
                self.buf += "".join(added)
                self.pending = line[0]
                return 0
        added.extend(line)
        self.buf += "".join(added)
        self.pending = ""
        self.eof = True
        return 0

    def fail(self, message: str, pos: int) -> IonReadError:
        before = self.buf[:pos]
        line = self.lines_before + before.count("\n") + 1
        offset = self.bytes_before + len(before.encode(self.encoding, "surrogatepass"))
        where = "%s, line %d (byte %d)" % (self.name or "Ion data", line, offset)
        near = self.buf[pos:pos + 20]
        return IonReadError("%s: %s%s" % (where, message, (" near %r" % near) if near else " at the end"),
                            self.name, line, offset)

    def _more(self, pos: int) -> NoReturn:
        """The buffer ends at ``pos`` inside a value: more text may complete it."""
        if not self.eof:
            raise _NeedMore()
        raise self.fail("the data ends inside a value", pos)

    def _at_end(self, pos: int) -> bool:
        """Whether ``pos`` is the end of the data; at the end of a buffer that more
        text may follow, _NeedMore (what follows may change what this token is)."""
        if pos < len(self.buf):
            return False
        if not self.eof:
            raise _NeedMore()
        return True

    # -- top level -----------------------------------------------------------------

    def values(self) -> Iterator[Any]:
        pos = 0
        while True:
            needed = len(self.buf) - pos  # the text a value failed in: read at least as much again
            try:
                pos = self._skip(pos)
                if pos >= len(self.buf):
                    if self.eof:
                        return
                    raise _NeedMore()
                self.depth = 0  # a value read again after _NeedMore starts from its top
                value, end = self._top_value(pos)
                if end >= len(self.buf) and not self.eof:
                    raise _NeedMore()  # a number or a long string may go on in the next chunk
            except _NeedMore:
                # A value is read again from its start once more text is in: doubling the
                # text each time keeps a value over many lines linear, not quadratic.
                pos = self._fill(pos, needed)
                continue
            pos = end
            if value is not _SKIP:
                yield value

    def _top_value(self, pos: int) -> Tuple[Any, int]:
        buf = self.buf
        annotations, pos = self._annotations(pos)
        if not annotations and buf.startswith("$ion_", pos):  # a version marker?
            match = self.patterns.identifier.match(buf, pos)
            assert match is not None  # "$ion_" starts an identifier
            if match.end() >= len(buf):
                self._more(match.end()) if not self.eof else None
            word = match.group()
            if word == "$ion_1_0":
                self.symbols = _SymbolTable()
                return _SKIP, match.end()
            if self.patterns.version_marker.match(word):
                raise self.fail("unsupported Ion version %s (this reader reads Ion 1.0)" % word, pos)
        if annotations and annotations[0].text == "$ion_symbol_table" and buf.startswith("{", pos) \
                and not buf.startswith("{{", pos):
            faithful, self.faithful = self.faithful, True
            try:
                table, pos = self._struct(pos)
            finally:
                self.faithful = faithful
            self.symbols = _next_symbol_table(table, self.symbols, lambda message: self.fail(message, pos))
            return _SKIP, pos
        start = pos
        value, pos = self._value(pos, annotations)
        if not annotations and self._is_marker_symbol(value, start):
            return _SKIP, pos  # '$ion_1_0' or $2 at the top: a no-op, not a version marker
        return value, pos

    def _is_marker_symbol(self, value: Any, start: int) -> bool:
        if isinstance(value, _IonSymbol):
            return value.text == "$ion_1_0"
        # For users a symbol is a str: a symbol is what is not a quoted string.
        return value == "$ion_1_0" and self.buf[start] != '"' and not self.buf.startswith("'''", start)

    # -- whitespace and comments ------------------------------------------------------

    def _skip(self, pos: int) -> int:
        buf = self.buf
        try:
            if buf[pos] not in _SKIPPED_STARTS:
                return pos  # the common case: nothing to skip
        except IndexError:
            return pos
        space = self.patterns.space
        while True:
            spaces = space.match(buf, pos)
            assert spaces is not None  # the pattern matches the empty text too
            pos = spaces.end()
            if not buf.startswith("/", pos):
                return pos
            if buf.startswith("//", pos):
                line_end = self.patterns.line_end.search(buf, pos)
                end = line_end.start() if line_end else -1
                if end < 0:
                    if not self.eof:
                        raise _NeedMore()
                    return len(buf)
                pos = end + 1
            elif buf.startswith("/*", pos):
                end = buf.find("*/", pos + 2)
                if end < 0:
                    self._more(len(buf))
                pos = end + 2
            elif pos + 1 >= len(buf) and not self.eof:
                raise _NeedMore()  # a lone "/" at the end: maybe a comment
            else:
                return pos

    def _spaces_end(self, pos: int) -> int:
        """Where the whitespace from ``pos`` ends (in a clob, where comments are not allowed)."""
        spaces = self.patterns.space.match(self.buf, pos)
        assert spaces is not None  # the pattern matches the empty text too
        return spaces.end()

    # -- values -------------------------------------------------------------------

    def _annotations(self, pos: int) -> Tuple[List[_IonSymbol], int]:
        """Leading ``symbol::`` annotations; (list of _IonSymbol, position of the value)."""
        annotations = []  # type: List[_IonSymbol]
        buf = self.buf
        while True:
            pos = self._skip(pos)
            if pos >= len(buf):
                return annotations, pos
            char = buf[pos]
            if char == "'" and not buf.startswith("'''", pos):
                symbol, end = self._quoted_symbol(pos)
            elif char in _IDENTIFIER_STARTS:
                match = self.patterns.identifier.match(buf, pos)
                assert match is not None  # char starts an identifier
                word = match.group()
                if word in ("true", "false", "null", "nan"):
                    after = self._skip(match.end())
                    if buf.startswith("::", after):
                        raise self.fail("%r cannot be an annotation unless quoted" % word, pos)
                    return annotations, pos
                end = match.end()
                symbol = self._symbol_for(word, pos)
            else:
                return annotations, pos
            after = self._skip(end)
            if self._at_end(after) or not buf.startswith("::", after):
                return annotations, pos
            if isinstance(symbol, _IonSymbol) and symbol.text is None and symbol.location is None:
                raise self.fail("an annotation cannot be null", pos)
            annotations.append(symbol)
            pos = after + 2

    def _value(self, pos: int, annotations: Sequence[_IonSymbol], in_sexp: bool = False) -> Tuple[Any, int]:
        """The value at ``pos`` (after its annotations): (value, end position)."""
        buf = self.buf
        if pos >= len(buf):
            self._more(pos)
        char = buf[pos]
        if char in "{[(" and not buf.startswith("{{", pos):
            depth = self.depth + 1
            if depth > _ION_MAX_DEPTH:
                raise self.fail("containers nested deeper than %d levels, the most kestra.py reads"
                                % _ION_MAX_DEPTH, pos)
            self.depth = depth  # not restored when this raises: the top value is read again, or not at all
            if char == "{":
                value, pos = self._struct(pos)
            else:
                value, pos = self._sequence(pos, "]" if char == "[" else ")")
            self.depth = depth - 1
        elif char == "{":
            value, pos = self._lob(pos)
        elif char == '"':
            value, pos = self._short_string(pos)
            return self._text_value(value, annotations), pos
        elif char == "'":
            if buf.startswith("'''", pos):
                value, pos = self._long_strings(pos)
                return self._text_value(value, annotations), pos
            value, pos = self._quoted_symbol(pos)
            value = self._symbol_value(value)
        elif char.isdigit() or char == "-" or char == "+":
            if in_sexp and not (char.isdigit() or self._starts_number(pos)):
                value, pos = self._operator(pos)
            else:
                value, pos = self._number(pos)
        elif char in _IDENTIFIER_STARTS:
            value, pos = self._word(pos, in_sexp)
        elif in_sexp and self.patterns.operator.match(buf, pos):
            value, pos = self._operator(pos)
        else:
            raise self.fail("expected a value", pos)
        if annotations:
            value = self._annotated(annotations, value)
        return value, pos

    def _starts_number(self, pos: int) -> bool:
        """Whether the "-" or "+" at ``pos`` starts a number (in an s-expression, where
        it may also be an operator)."""
        buf = self.buf
        if buf.startswith(("+inf", "-inf"), pos):
            return pos + 4 >= len(buf) or buf[pos + 4] in _NUMERIC_STOPS or buf.startswith(("//", "/*"), pos + 4)
        return buf[pos] == "-" and pos + 1 < len(buf) and buf[pos + 1].isdigit()

    def _annotated(self, annotations: Sequence[_IonSymbol], value: Any) -> Any:
        if self.faithful:
            return _IonAnnotated(tuple(annotations), value)
        return value

    def _text_value(self, text: str, annotations: Sequence[_IonSymbol]) -> Any:
        """A string value, annotated or not: converted by a date/time annotation, or
        (unless exact) when it looks like an ISO-8601 date-time."""
        if self.faithful:
            return _IonAnnotated(tuple(annotations), text) if annotations else text
        if not annotations and (self.exact or len(text) < 19 or text[10] != "T"):
            return text  # the common case: plain text
        if annotations:
            for annotation in annotations:
                if annotation.text in _DATE_ANNOTATIONS:
                    converted = self._annotated_date(annotation.text, text)
                    if converted is not None:
                        return converted
        if not self.exact and len(text) >= 19 and text[4] == "-" and text[10] == "T":
            match = self.patterns.iso_datetime.match(text)
            if match:
                converted = self._iso_datetime(match)
                if converted is not None:
                    return converted
        return text

    # -- containers -------------------------------------------------------------------

    def _struct(self, pos: int) -> Tuple[Any, int]:
        buf = self.buf
        faithful = self.faithful
        fields = _IonStruct() if faithful else {}  # type: Any
        identifier = self.patterns.identifier.match
        simple_field = None if faithful else self.patterns.simple_field.match
        pos += 1
        while True:
            if simple_field is not None:
                match = simple_field(buf, pos)
                if match is not None and match.group("name") not in _KEYWORDS:
                    value = self._simple_value(match)
                    if value is not _SKIP:
                        fields[match.group("name")] = value
                        pos = match.end()
                        if buf[pos] == "}":
                            return fields, pos + 1
                        pos += 1
                        continue
            pos = self._skip(pos)
            try:
                char = buf[pos]
            except IndexError:
                self._more(pos)
            if char == "}":
                return fields, pos + 1
            match = identifier(buf, pos) if char in _IDENTIFIER_STARTS and not faithful else None
            if match is not None and match.group() not in _KEYWORDS and char != "$":
                name = match.group()  # type: Union[str, _IonSymbol]  # the common case, for users: a plain name
                pos = match.end()
            else:
                symbol, pos = self._field_name(pos)
                name = symbol if faithful else symbol.text if symbol.text is not None else self._unknown_text(symbol)
            pos = self._skip(pos)
            try:
                char = buf[pos]
            except IndexError:
                self._more(pos)
            if char != ":" or buf.startswith("::", pos):
                raise self.fail("expected ':' after a field name", pos)
            pos = self._skip(pos + 1)
            try:
                char = buf[pos]
            except IndexError:
                self._more(pos)
            if char in _UNANNOTATED_STARTS:
                value, pos = self._value(pos, ())
            else:
                annotations, pos = self._annotations(pos)
                value, pos = self._value(pos, annotations)
            if faithful:
                fields.append((name, value))
            else:
                fields[name] = value
            pos = self._skip(pos)
            try:
                char = buf[pos]
            except IndexError:
                self._more(pos)
            if char == ",":
                pos += 1
            elif char != "}":
                raise self.fail("expected ',' or '}' in a struct", pos)

    def _simple_value(self, match: Any) -> Any:
        """The value of a simple_field or simple_item match; _SKIP where the general
        path must decide."""
        kind = match.lastgroup
        if kind == "string":
            text = match.group("string")
            if self.exact or len(text) < 19 or text[10] != "T":
                return text
            return self._text_value(text, [])
        if kind == "int":
            text = match.group("int")
            return int(text) if len(text) <= 4000 else _SKIP  # long ones: the general path
        if kind == "decimal":
            text = match.group("decimal")
            if len(text) > 4000:
                return _SKIP
            return self.Decimal(text) if self.exact else float(text)
        if kind == "keyword":
            return _KEYWORD_VALUES[match.group("keyword")]
        try:
            if kind == "timestamp":  # YYYY-MM-DDTHH:MM:SS[.ffffff]
                text = match.group("timestamp")
                return self.datetime.datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                                              int(text[14:16]), int(text[17:19]), int(text[20:].ljust(6, "0")),
                                              self.utc)
            if kind == "date":
                text = match.group("date")
                return self.datetime.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
        except ValueError:
            return _SKIP
        annotation = match.group("annotation")
        if annotation in _KEYWORDS:
            return _SKIP
        return self._text_value(match.group("annotated"), [_IonSymbol(annotation)])

    def _field_name(self, pos: int) -> Tuple[_IonSymbol, int]:
        buf = self.buf
        char = buf[pos]
        if char == '"':
            text, pos = self._short_string(pos)
            return _IonSymbol(text), pos
        if char == "'":
            if buf.startswith("'''", pos):
                text, pos = self._long_strings(pos)
                return _IonSymbol(text), pos
            return self._quoted_symbol(pos)
        if char in _IDENTIFIER_STARTS:
            match = self.patterns.identifier.match(buf, pos)
            assert match is not None  # char starts an identifier
            if match.end() >= len(buf):
                self._more(match.end())
            word = match.group()
            if word in ("true", "false", "null", "nan"):
                raise self.fail("%r cannot be a field name unless quoted" % word, pos)
            symbol = self._symbol_for(word, pos)
            if symbol.text is None and symbol.location is None:
                raise self.fail("a field name cannot be null", pos)
            return symbol, match.end()
        raise self.fail("expected a field name", pos)

    def _sequence(self, pos: int, close: str) -> Tuple[List[Any], int]:
        """A list (close ``]``, comma-separated) or an s-expression (close ``)``)."""
        buf = self.buf
        in_sexp = close == ")"
        items = (_IonSExp() if self.faithful else []) if in_sexp else []
        simple_item = None if self.faithful or in_sexp else self.patterns.simple_item.match
        pos += 1
        while True:
            if simple_item is not None:
                match = simple_item(buf, pos)
                if match is not None:
                    value = self._simple_value(match)
                    if value is not _SKIP:
                        items.append(value)
                        pos = match.end()
                        if buf[pos] == "]":
                            return items, pos + 1
                        pos += 1
                        continue
            pos = self._skip(pos)
            if pos >= len(buf):
                self._more(pos)
            char = buf[pos]
            if char == close:
                return items, pos + 1
            if char in "]})" or (char == "," and (in_sexp or not items)):
                raise self.fail("unexpected %r in a %s" % (char, "s-expression" if in_sexp else "list"), pos)
            if char in _UNANNOTATED_STARTS and not in_sexp:
                value, pos = self._value(pos, ())
            else:
                annotations, pos = self._annotations(pos)
                value, pos = self._value(pos, annotations, in_sexp=in_sexp)
            items.append(value)
            if in_sexp:
                continue
            pos = self._skip(pos)
            if pos >= len(buf):
                self._more(pos)
            if buf[pos] == ",":
                pos += 1
            elif buf[pos] != "]":
                raise self.fail("expected ',' or ']' in a list", pos)

    # -- scalars -----------------------------------------------------------------------

    def _word(self, pos: int, in_sexp: bool = False) -> Tuple[Any, int]:
        """An identifier: a keyword (null, null.type, true, false, nan) or a symbol."""
        buf = self.buf
        match = self.patterns.identifier.match(buf, pos)
        assert match is not None  # called at a character that starts an identifier
        end = match.end()
        at_end = self._at_end(end)
        word = match.group()
        if word == "null":
            if not at_end and buf[end] == ".":
                type_match = self.patterns.identifier.match(buf, end + 1)
                if type_match is None or type_match.group() not in _ION_NULLS:
                    raise self.fail("expected an Ion type after 'null.'", end + 1)
                self._at_end(type_match.end())
                return self._null(type_match.group()), type_match.end()
            return self._null("null"), end
        if word == "true":
            return True, end
        if word == "false":
            return False, end
        if word == "nan":
            return float("nan"), end
        if not at_end and buf[end] == "." and not in_sexp:  # in an s-expression "." is an operator
            raise self.fail("a '.' cannot follow a symbol here", end)
        return self._symbol_value(self._symbol_for(word, pos)), end

    def _null(self, ion_type: str) -> Any:
        return _ION_NULLS[ion_type] if self.faithful else None

    def _symbol_for(self, word: str, pos: int) -> _IonSymbol:
        """The symbol an identifier names: its text, or a symbol id ($10) resolved."""
        if word[0] == "$" and word[1:].isdigit():
            symbol = self.symbols.resolve(int(word[1:]) if len(word) < 24 else -1)
            if symbol is None:
                raise self.fail("symbol id %s is not in the symbol table" % word, pos)
            return symbol
        return _IonSymbol(word)

    def _symbol_value(self, symbol: _IonSymbol) -> Any:
        if self.faithful:
            return symbol
        return symbol.text if symbol.text is not None else self._unknown_text(symbol)

    def _unknown_text(self, symbol: _IonSymbol) -> str:
        """A symbol whose text is unknown, for users: its form in the file, $<sid>."""
        return "$%d" % (symbol.sid or 0)

    def _operator(self, pos: int) -> Tuple[Any, int]:
        match = self.patterns.operator.match(self.buf, pos)
        assert match is not None  # called at an operator character
        end = match.end()
        text = match.group()
        if "//" in text or "/*" in text:  # a comment starts inside the run
            cut = min(i for i in (text.find("//"), text.find("/*")) if i >= 0)
            if cut == 0:
                raise self.fail("expected a value", pos)
            end, text = pos + cut, text[:cut]
        self._at_end(end)
        return self._symbol_value(_IonSymbol(text)), end

    def _quoted_symbol(self, pos: int) -> Tuple[_IonSymbol, int]:
        match = self.patterns.quoted_symbol.match(self.buf, pos)
        if match is None:
            self._unterminated(pos, "'")
        return _IonSymbol(self._unescape(match.group(1), pos)), match.end()

    def _short_string(self, pos: int) -> Tuple[str, int]:
        match = self.patterns.short_string.match(self.buf, pos)
        if match is None:
            self._unterminated(pos, '"')
        return self._unescape(match.group(1), pos), match.end()

    def _unterminated(self, pos: int, quote: str) -> NoReturn:
        """Why a quoted text did not match: cut by the buffer (read more), or a raw
        line break inside it."""
        prefix = (self.patterns.string_prefix if quote == '"' else self.patterns.symbol_prefix).match(self.buf, pos)
        assert prefix is not None  # called at the opening quote
        stop = prefix.end()
        if stop >= len(self.buf):
            self._more(stop)
        raise self.fail("a line break inside a %s-quoted text (use a long string or \\n)" % quote, stop)

    def _long_strings(self, pos: int, clob: bool = False) -> Tuple[str, int]:
        """One or more '''long strings''' in a row, joined (comments between them are
        allowed, except in a clob)."""
        buf = self.buf
        parts = []
        while True:
            match = self.patterns.long_string.match(buf, pos)
            if match is None:
                if buf.find("'''", pos + 3) < 0:
                    self._more(len(buf))
                raise self.fail("invalid long string", pos)
            raw = match.group(1)
            if "\r" in raw:  # raw line ends, CR LF or CR alike, are read as LF
                raw = raw.replace("\r\n", "\n").replace("\r", "\n")
            parts.append(self._unescape(raw, pos, clob=clob))
            pos = match.end()
            after = self._spaces_end(pos) if clob else self._skip(pos)
            if self._at_end(after) or not buf.startswith("'''", after):
                return "".join(parts), pos
            pos = after

    def _unescape(self, text: str, pos: int, clob: bool = False) -> str:
        # Short texts hold line breaks only escaped (their patterns exclude raw ones).
        if self.patterns.control.search(text):
            raise self.fail("a control character must be escaped", pos)
        if clob and any(ord(char) > 0x7F for char in text):
            raise self.fail("a clob holds ASCII characters only (use \\xHH for others)", pos)
        if "\\" not in text:
            return text

        def replace(match: Any) -> str:
            simple, hex2, hex4, hex8, newline, bad = match.groups()
            if simple is not None:
                return _ESCAPES[simple]
            if hex2 is not None:
                return chr(int(hex2, 16))
            if newline is not None:
                return ""
            if (hex4 or hex8) and not clob:
                code = int(hex4 or hex8, 16)
                if code > 0x10FFFF:
                    raise self.fail("\\U%s is beyond Unicode" % hex8, pos)
                return chr(code)
            raise self.fail("invalid escape \\%s" % (bad or (hex4 and "u" + hex4) or (hex8 and "U" + hex8)), pos)

        result = self.patterns.escape.sub(replace, text)
        if not clob and any(0xD800 <= ord(char) <= 0xDFFF for char in result):
            try:  # escaped surrogate pairs make one character; a lone one is an error
                result = result.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError:
                raise self.fail("an escaped surrogate without its pair", pos) from None
        return result

    def _lob(self, pos: int) -> Tuple[bytes, int]:
        """A blob ({{ base64 }}) or a clob ({{ "text" }} or {{ '''text''' }})."""
        buf = self.buf
        start = pos
        pos = self._spaces_end(pos + 2)
        if pos >= len(buf):
            self._more(pos)
        if buf[pos] == '"' or buf.startswith("'''", pos):
            if buf[pos] == '"':
                text, pos = self._short_string_clob(pos)
            else:
                text, pos = self._long_strings(pos, clob=True)
            pos = self._spaces_end(pos)
            if not buf.startswith("}}", pos):
                if pos + 1 >= len(buf):
                    self._more(pos)
                raise self.fail("expected '}}' to close a clob", pos)
            data = text.encode("latin-1")
            return (_IonClob(data) if self.faithful else data), pos + 2
        end = buf.find("}}", pos)
        if end < 0:
            self._more(len(buf))
        import base64
        import binascii

        text = "".join(buf[pos:end].split())
        if len(text) % 4:
            raise self.fail("invalid base64 in a blob", start)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail("invalid base64 in a blob", start) from None
        return data, end + 2

    def _short_string_clob(self, pos: int) -> Tuple[str, int]:
        match = self.patterns.short_string.match(self.buf, pos)
        if match is None:
            self._unterminated(pos, '"')
        return self._unescape(match.group(1), pos, clob=True), match.end()

    # -- numbers and timestamps ----------------------------------------------------------

    def _stop_ok(self, end: int) -> bool:
        buf = self.buf
        if end >= len(buf):
            self._more(end) if not self.eof else None
            return True
        char = buf[end]
        return char in _NUMERIC_STOPS or buf.startswith(("//", "/*"), end)

    def _number(self, pos: int) -> Tuple[Any, int]:
        buf = self.buf
        patterns = self.patterns
        if buf[pos + 4:pos + 5] in ("-", "T") and buf[pos:pos + 4].isdigit() and buf[pos:pos + 4].isascii():
            timestamp = patterns.timestamp.match(buf, pos)  # 2024-04-21..., 0001T: a timestamp
            if timestamp is not None and self._stop_ok(timestamp.end()):
                return self._timestamp(timestamp, pos), timestamp.end()
            raise self.fail("invalid timestamp", pos)
        match = patterns.number.match(buf, pos)
        if match is None:
            if buf.startswith(("+inf", "-inf"), pos) and self._stop_ok(pos + 4):
                return float(buf[pos:pos + 4]), pos + 4
            raise self.fail("a number cannot start with '+'" if buf[pos] == "+" else "invalid number", pos)
        end = match.end()
        follow = buf[end] if end < len(buf) else ""
        if follow in ("x", "X", "b", "B") and match.group() in ("0", "-0"):
            pattern, base = (patterns.hex, 16) if follow in ("x", "X") else (patterns.binary, 2)
            radix = pattern.match(buf, pos)
            if radix is None or not self._stop_ok(radix.end()):
                raise self.fail("invalid number", pos)
            text = radix.group().replace("_", "")
            self._check_digits(len(text) - 2 - (text[0] == "-"), pos)
            value = int(text[3:] if text[0] == "-" else text[2:], base)
            return (-value if text[0] == "-" else value), radix.end()
        if not self._stop_ok(end):
            raise self.fail("invalid number", pos)
        text = match.group()
        if "_" in text:
            text = text.replace("_", "")
        fraction, exponent = match.group(1), match.group(2)
        self._check_digits(len(text) - len(exponent or "") - (fraction is not None) - (text[0] == "-"), pos)
        if exponent is None:
            if fraction is None:
                return _digits_int(text), end
        elif exponent[0] in "eE":
            return float(text), end
        else:
            exponent_digits = exponent.lstrip("dD+-").lstrip("0")
            if len(exponent_digits) > 10 or int(exponent_digits or 0) > _ION_MAX_EXPONENT:
                raise self.fail("a decimal exponent beyond +-2**31, the most Kestra (Java's BigDecimal) "
                                "writes and kestra.py reads", pos)
        decimal_value = self.Decimal(text.replace("d", "e").replace("D", "e"))
        if self.faithful or self.exact:
            return decimal_value, end
        return float(decimal_value), end

    def _check_digits(self, count: int, pos: int) -> None:
        if count > _ION_MAX_DIGITS:
            raise self.fail("a number of %d digits, more than the %d kestra.py reads" % (count, _ION_MAX_DIGITS), pos)

    def _timestamp(self, match: Any, pos: int) -> Any:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        precision = "year" if month is None else "month" if day is None else "day" if hour is None else \
            "minute" if second is None else "second"
        values = (int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
        if values[0] < 1:
            raise self.fail("year 0000 is not a valid timestamp", pos)
        try:
            self.datetime.datetime(*values)
        except ValueError as exc:
            raise self.fail("invalid timestamp (%s)" % exc, pos) from None
        minutes = None
        if offset is not None and offset != "-00:00":
            if offset == "Z":
                minutes = 0
            else:
                hours, mins = int(offset[1:3]), int(offset[4:6])
                if hours > 23 or mins > 59:
                    raise self.fail("invalid timestamp offset %s" % offset, pos)
                minutes = (hours * 60 + mins) * (-1 if offset[0] == "-" else 1)
        timestamp = _IonTimestamp(*values, self.Decimal(fraction) if fraction else None, minutes, precision)
        if not (1 <= timestamp.year and self._instant_in_range(timestamp)):
            raise self.fail("the timestamp is outside years 0001-9999 in UTC", pos)
        if self.faithful:
            return timestamp
        return self._python_timestamp(timestamp)

    def _instant_in_range(self, timestamp: _IonTimestamp) -> bool:
        if not timestamp.offset:
            return True
        local = self.datetime.datetime(timestamp.year, timestamp.month, timestamp.day, timestamp.hour, timestamp.minute)
        try:
            local - self.datetime.timedelta(minutes=timestamp.offset)
        except OverflowError:
            return False
        return True

    def _python_timestamp(self, timestamp: _IonTimestamp) -> Any:
        """A date for day precision or coarser, else an aware datetime (UTC for the
        unknown offset), microseconds rounded half to even."""
        datetime = self.datetime
        if timestamp.precision in ("year", "month", "day"):
            return datetime.date(timestamp.year, timestamp.month, timestamp.day)
        zone = datetime.timezone(datetime.timedelta(minutes=timestamp.offset or 0))
        return _datetime_with_fraction(
            datetime, timestamp.year, timestamp.month, timestamp.day, timestamp.hour, timestamp.minute,
            timestamp.second, timestamp.fraction, zone,
        )

    # -- Kestra's annotated date/time strings -----------------------------------------------

    def _iso_datetime(self, match: Any) -> Any:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        return self._datetime_from(year, month, day, hour, minute, second, fraction, zone, naive_ok=True)

    def _datetime_from(self, year: str, month: str, day: str, hour: str, minute: str, second: Optional[str],
                       fraction: Optional[str], zone: Optional[str], naive_ok: bool) -> Any:
        datetime = self.datetime
        tzinfo = None
        if zone:
            seconds = 0 if zone == "Z" else (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60 + int(zone[7:9] or 0))
            try:
                tzinfo = datetime.timezone(datetime.timedelta(seconds=-seconds if zone[0] == "-" else seconds))
            except ValueError:
                return None
        try:
            return _datetime_with_fraction(datetime, int(year), int(month), int(day), int(hour), int(minute),
                                           int(second or 0), self.Decimal(fraction) if fraction else None, tzinfo)
        except (ValueError, OverflowError):
            return None

    def _annotated_date(self, annotation: str, text: str) -> Any:
        """LocalDateTime / ZonedDateTime / OffsetDateTime / Instant -> datetime,
        LocalDate -> date, LocalTime / OffsetTime -> time; None if the text does not fit."""
        match = self.patterns.iso_parts.match(text.strip())
        if match is None:
            return None
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        datetime = self.datetime
        if annotation == "LocalDate":
            if year is None or hour is not None:
                return None
            try:
                return datetime.date(int(year), int(month), int(day))
            except ValueError:
                return None
        if annotation in ("LocalTime", "OffsetTime"):
            if year is not None or hour is None:
                return None
            moment = self._datetime_from("2000", "01", "01", hour, minute, second, fraction, zone, naive_ok=True)
            return None if moment is None else moment.timetz()
        if year is None or hour is None:
            return None
        if annotation == "LocalDateTime" and zone:
            return None
        if annotation in ("ZonedDateTime", "OffsetDateTime", "Instant") and not zone:
            return None
        return self._datetime_from(year, month, day, hour, minute, second, fraction, zone, naive_ok=True)


def _datetime_with_fraction(datetime: Any, year: int, month: int, day: int, hour: int, minute: int,
                            second: int, fraction: Any, tzinfo: Any) -> Any:
    """A datetime with fractional seconds rounded (half to even) to microseconds."""
    moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=tzinfo)
    if not fraction:
        return moment
    micros = int((fraction * 1000000).to_integral_value())  # ROUND_HALF_EVEN
    return moment + datetime.timedelta(microseconds=micros)


# Binary Ion -------------------------------------------------------------------------
# Kestra 2.0 stores rows as binary Ion. The reader below reads the whole Ion 1.0 binary
# format, one top-level value at a time (its length is known before it is read), and
# gives the same values as the text reader, through the text reader's conversions.

_BINARY_TYPES = ("null", "bool", "int", "int", "float", "decimal", "timestamp", "symbol", "string",
                 "clob", "blob", "list", "sexp", "struct")


class _IonBinaryReader:
    """A reader of Ion 1.0 binary over a binary file; ``values()`` as _IonTextReader's."""

    def __init__(self, file: Any, name: Optional[str], faithful: bool, exact: bool) -> None:
        self.file = file
        self.name = name
        self.faithful = faithful
        self.exact = exact
        import struct

        self.text = _IonTextReader(iter(()), name, faithful, exact)  # its conversions
        self.names = {}  # type: Dict[int, str]  # field names by symbol id, for users
        self.Decimal = self.text.Decimal
        self.float32 = struct.Struct(">f").unpack
        self.float64 = struct.Struct(">d").unpack
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.eof = False
        self.depth = 0  # containers open around the value being read

    def fail(self, message: str, pos: int) -> IonReadError:
        offset = self.base + pos
        return IonReadError("%s, byte %d: %s" % (self.name or "Ion data", offset, message), self.name, None, offset)

    def _ensure(self, pos: int, count: int) -> int:
        """Make buf hold ``count`` bytes from ``pos``, reading more; the new position of
        ``pos``, or -1 when the data ends first."""
        if len(self.buf) - pos >= count:
            return pos
        self.base += pos
        parts = [self.buf[pos:]]
        have = len(parts[0])
        while have < count and not self.eof:
            # A length read from the file may be absurd: read what comes, a bounded piece at a time.
            data = self.file.read(min(max(_ION_READ_CHUNK, count - have), 1 << 24))
            if isinstance(data, str):
                raise KestraError("the Ion file %s must be opened in binary mode ('rb')" % (self.name or "object"))
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        return 0 if have >= count else -1

    # -- top level -----------------------------------------------------------------

    def values(self) -> Iterator[Any]:
        pos = 0
        while True:
            pos = self._ensure(pos, 1)
            if pos < 0:
                return
            if self.buf[pos] == 0xE0:  # a version marker
                pos = self._ensure(pos, 4)
                if pos < 0:
                    raise self.fail("the data ends inside a version marker", len(self.buf))
                marker = self.buf[pos:pos + 4]
                if marker != _ION_BINARY_MARKER:
                    if marker[3] == 0xEA:
                        raise self.fail("unsupported Ion version %d.%d (this reader reads Ion 1.0)"
                                        % (marker[1], marker[2]), pos)
                    raise self.fail("invalid version marker %s" % marker.hex(), pos)
                self.text.symbols = _SymbolTable()
                self.names = {}
                pos += 4
                continue
            pos, size = self._top_size(pos)
            pos = self._ensure(pos, size)
            if pos < 0:
                raise self.fail("the data ends inside a value (%d bytes expected)" % size, len(self.buf))
            value, end = self._top_value(pos, pos + size)
            pos = end
            if value is not _SKIP:
                yield value

    def _top_size(self, pos: int) -> Tuple[int, int]:
        """(position, size in bytes) of the value at ``pos``, its type descriptor and
        length included; reading more may move the buffer, hence the new position."""
        descriptor = self.buf[pos]
        kind, low = descriptor >> 4, descriptor & 0x0F
        if kind == 1 or low == 15:
            return pos, 1
        if low != 14 and not (kind == 0xD and low == 1):
            return pos, 1 + low
        count = 2  # a VarUInt length follows: find its last byte
        while True:
            moved = self._ensure(pos, count)
            if moved < 0:
                raise self.fail("the data ends inside a length", len(self.buf))
            pos = moved
            if self.buf[pos + count - 1] & 0x80:
                break
            count += 1
            if count > 11:
                raise self.fail("a length longer than this reader can hold", pos)
        length, after = self._var_uint(pos + 1)
        return pos, after - pos + length

    def _top_value(self, pos: int, end: int) -> Tuple[Any, int]:
        buf = self.buf
        descriptor = buf[pos]
        if descriptor >> 4 == 0xE and descriptor & 0x0F != 15:
            sids, inner, value_end = self._annotation_wrapper(pos, end)
            if sids and sids[0] == 3 and buf[inner] >> 4 == 0xD and buf[inner] & 0x0F != 15:
                faithful, self.faithful, self.text.faithful = self.faithful, True, True
                try:
                    table, _ = self._value(inner, value_end, ())
                finally:
                    self.faithful = self.text.faithful = faithful
                self.text.symbols = _next_symbol_table(table, self.text.symbols, lambda message: self.fail(message, pos))
                self.names = {}
                return _SKIP, end
        value, after = self._value(pos, end, ())
        if after != end:
            raise self.fail("a value is shorter than its length says", pos)
        if value is _SKIP:
            return _SKIP, end  # padding
        if buf[pos] >> 4 == 7 and (value.text if isinstance(value, _IonSymbol) else value) == "$ion_1_0":
            return _SKIP, end  # the symbol $ion_1_0 at the top: a no-op
        return value, end

    # -- primitives --------------------------------------------------------------------

    def _var_uint(self, pos: int) -> Tuple[int, int]:
        buf = self.buf
        value = 0
        while True:
            try:
                byte = buf[pos]
            except IndexError:
                raise self.fail("the data ends inside a VarUInt", pos) from None
            pos += 1
            value = (value << 7) | (byte & 0x7F)
            if byte & 0x80:
                return value, pos

    def _var_int(self, pos: int) -> Tuple[int, int, bool]:
        """(value, position after, whether it is a negative zero)."""
        buf = self.buf
        try:
            byte = buf[pos]
        except IndexError:
            raise self.fail("the data ends inside a VarInt", pos) from None
        negative = bool(byte & 0x40)
        value = byte & 0x3F
        pos += 1
        while not byte & 0x80:
            try:
                byte = buf[pos]
            except IndexError:
                raise self.fail("the data ends inside a VarInt", pos) from None
            pos += 1
            value = (value << 7) | (byte & 0x7F)
        return (-value if negative else value), pos, negative and value == 0

    def _length(self, pos: int, low: int, end: int) -> Tuple[int, int]:
        """(start, end) of the representation after the descriptor at ``pos``."""
        if low == 14:
            length, start = self._var_uint(pos + 1)
        else:
            length, start = low, pos + 1
        stop = start + length
        if stop > end:
            raise self.fail("a value's length goes past its container", pos)
        return start, stop

    def _symbol(self, sid: int, pos: int) -> _IonSymbol:
        symbol = self.text.symbols.resolve(sid)
        if symbol is None:
            raise self.fail("symbol id %d is not in the symbol table" % sid, pos)
        return symbol

    def _annotation_wrapper(self, pos: int, end: int) -> Tuple[List[int], int, int]:
        """(annotation sids, position of the value, end of the wrapper)."""
        low = self.buf[pos] & 0x0F
        if low == 0:
            raise self.fail("a version marker inside a value", pos)
        if low < 3:
            raise self.fail("an annotation wrapper too short to hold a value", pos)
        start, stop = self._length(pos, low, end)
        length, cursor = self._var_uint(start)
        if length == 0:
            raise self.fail("an annotation wrapper without annotations", pos)
        names_end = cursor + length
        if names_end >= stop:
            raise self.fail("an annotation wrapper without a value", pos)
        sids = []
        while cursor < names_end:
            sid, cursor = self._var_uint(cursor)
            sids.append(sid)
        if cursor != names_end:
            raise self.fail("annotations longer than their length says", pos)
        return sids, cursor, stop

    # -- values --------------------------------------------------------------------------

    def _value(self, pos: int, end: int, annotations: Tuple[_IonSymbol, ...]) -> Tuple[Any, int]:
        """The value at ``pos`` within ``end``: (value, position after); _SKIP for padding."""
        buf = self.buf
        if pos >= end:
            raise self.fail("the data ends inside a value", pos)
        descriptor = buf[pos]
        kind, low = descriptor >> 4, descriptor & 0x0F
        text = self.text
        if low == 15:  # null, typed or not
            if kind > 0xD:
                raise self.fail("invalid type descriptor 0x%02X" % descriptor, pos)
            value = text._null(_BINARY_TYPES[kind])
            return (text._annotated(list(annotations), value) if annotations else value), pos + 1
        if kind == 1:
            if low > 1:
                raise self.fail("invalid bool 0x%02X" % descriptor, pos)
            value = low == 1
            return (text._annotated(list(annotations), value) if annotations else value), pos + 1
        if kind == 0xE:
            if annotations:
                raise self.fail("an annotation wrapper holds another one", pos)
            sids, inner, stop = self._annotation_wrapper(pos, end)
            symbols = tuple(self._symbol(sid, pos) for sid in sids)
            if buf[inner] >> 4 == 0 and buf[inner] & 0x0F != 15:
                raise self.fail("an annotation wrapper holds padding", pos)
            if buf[inner] >> 4 == 0xE:
                raise self.fail("an annotation wrapper holds another one", inner)
            value, after = self._value(inner, stop, symbols)
            if after != stop:
                raise self.fail("an annotation wrapper's value is shorter than its length says", pos)
            return value, stop
        if kind == 0xF:
            raise self.fail("invalid type descriptor 0x%02X (reserved)" % descriptor, pos)
        if kind == 0xD and low == 1:  # a struct with sorted fields: its length follows
            length, start = self._var_uint(pos + 1)
            if length == 0:
                raise self.fail("a sorted struct cannot be empty", pos)
            stop = start + length
            if stop > end:
                raise self.fail("a value's length goes past its container", pos)
        else:
            start, stop = self._length(pos, low, end)
        if kind == 0:
            return _SKIP, stop  # padding
        if kind == 2 or kind == 3:
            magnitude = int.from_bytes(buf[start:stop], "big")
            if kind == 3:
                if magnitude == 0:
                    raise self.fail("a negative zero int", pos)
                magnitude = -magnitude
            value = magnitude
        elif kind == 4:
            if low == 0:
                value = 0.0
            elif low == 4:
                value = self.float32(buf[start:stop])[0]
            elif low == 8:
                value = self.float64(buf[start:stop])[0]
            else:
                raise self.fail("a float of %d bytes (4 or 8 expected)" % (stop - start), pos)
        elif kind == 5:
            value = self._decimal(start, stop, pos)
            if not (self.faithful or self.exact):
                value = float(value)
        elif kind == 6:
            value = self._timestamp(start, stop, pos)
            if not self.faithful:
                value = text._python_timestamp(value)
        elif kind == 7:
            value = text._symbol_value(self._symbol(int.from_bytes(buf[start:stop], "big"), pos))
        elif kind == 8:
            try:
                string = buf[start:stop].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.fail("a string that is not valid UTF-8 (%s)" % exc.reason, start + exc.start) from None
            return text._text_value(string, list(annotations)), stop
        elif kind == 9:
            value = _IonClob(buf[start:stop]) if self.faithful else bytes(buf[start:stop])
        elif kind == 10:
            value = bytes(buf[start:stop])
        else:
            depth = self.depth + 1
            if depth > _ION_MAX_DEPTH:
                raise self.fail("containers nested deeper than %d levels, the most kestra.py reads"
                                % _ION_MAX_DEPTH, pos)
            self.depth = depth  # a failure ends the read: no need to restore it then
            if kind == 0xD:
                value = self._struct(start, stop) if self.faithful else self._user_struct(start, stop)
            else:
                items = []
                cursor = start
                while cursor < stop:
                    item, cursor = self._value(cursor, stop, ())
                    if item is not _SKIP:
                        items.append(item)
                value = _IonSExp(items) if kind == 0xC and self.faithful else items
            self.depth = depth - 1
        return (text._annotated(list(annotations), value) if annotations else value), stop

    def _struct(self, start: int, stop: int) -> Any:
        faithful = self.faithful
        fields = _IonStruct() if faithful else {}  # type: Any
        resolve = self.text.symbols.resolve
        cursor = start
        while cursor < stop:
            sid, at = self._var_uint(cursor)
            if at >= stop:
                raise self.fail("a struct field without a value", cursor)
            symbol = resolve(sid)
            if symbol is None:
                raise self.fail("symbol id %d is not in the symbol table" % sid, cursor)
            value, cursor = self._value(at, stop, ())
            if value is _SKIP:
                continue  # padding, with a field name that means nothing
            if faithful:
                fields.append((symbol, value))
            else:
                fields[symbol.text if symbol.text is not None else self.text._unknown_text(symbol)] = value
        return fields

    def _user_struct(self, start: int, stop: int) -> Dict[str, Any]:
        """A struct for users, the values Kestra writes most decoded right here; the
        others, and anything unusual, through _value."""
        buf = self.buf
        names = self.names
        fields = {}  # type: Dict[str, Any]
        cursor = start
        while cursor < stop:
            byte = buf[cursor]
            if byte & 0x80:
                sid, after = byte & 0x7F, cursor + 1
            else:
                sid, after = self._var_uint(cursor)
            if after >= stop:
                raise self.fail("a struct field without a value", cursor)
            name = names.get(sid)
            if name is None:
                name = self._field_text(sid, cursor)
            cursor = after
            descriptor = buf[cursor]
            kind, low = descriptor >> 4, descriptor & 0x0F
            if low < 14:
                first, end = cursor + 1, cursor + 1 + low
            elif low == 14 and kind == 8:  # a string of 14 bytes or more
                length, first = self._var_uint(cursor + 1)
                end = first + length
            else:
                first = end = stop + 1  # the general path
            if end <= stop:
                if kind == 8:
                    try:
                        text = buf[first:end].decode("utf-8")
                    except UnicodeDecodeError:
                        pass  # the general path reports it
                    else:
                        if self.exact or len(text) < 19 or text[10] != "T":
                            fields[name] = text
                        else:
                            fields[name] = self.text._text_value(text, [])
                        cursor = end
                        continue
                elif kind == 2:
                    fields[name] = int.from_bytes(buf[first:end], "big")
                    cursor = end
                    continue
                elif kind == 5 and low:
                    fields[name] = self._user_decimal(first, end, cursor)
                    cursor = end
                    continue
                elif kind == 6:
                    fields[name] = self._user_timestamp(first, end, cursor)
                    cursor = end
                    continue
                elif kind == 1 and low < 2:
                    fields[name] = low == 1
                    cursor += 1
                    continue
            elif descriptor == 0x0F:
                fields[name] = None
                cursor += 1
                continue
            value, cursor = self._value(cursor, stop, ())
            if value is not _SKIP:  # padding, with a field name that means nothing
                fields[name] = value
        return fields

    def _field_text(self, sid: int, pos: int) -> str:
        """The field name for users of symbol id ``sid``, remembered for the next rows."""
        symbol = self.text.symbols.resolve(sid)
        if symbol is None:
            raise self.fail("symbol id %d is not in the symbol table" % sid, pos)
        name = symbol.text if symbol.text is not None else self.text._unknown_text(symbol)
        self.names[sid] = name
        return name

    def _user_decimal(self, start: int, stop: int, pos: int) -> Any:
        """A decimal with a payload, as users get it: float, or Decimal when exact."""
        byte = self.buf[start]
        if byte & 0x80 and start + 1 < stop <= start + 9:  # a one-byte exponent, a coefficient < 2**63
            exponent = -(byte & 0x3F) if byte & 0x40 else byte & 0x3F
            data = self.buf[start + 1:stop]
            magnitude = int.from_bytes(data, "big")
            if data[0] & 0x80:
                magnitude &= ~(0x80 << (8 * (len(data) - 1)))
                text = "-%de%d" % (magnitude, exponent)
            else:
                text = "%de%d" % (magnitude, exponent)
            return self.Decimal(text) if self.exact else float(text)
        value = self._decimal(start, stop, pos)
        return value if self.exact else float(value)

    def _user_timestamp(self, start: int, stop: int, pos: int) -> Any:
        """A timestamp as users get it. The usual one (UTC, to the second or finer, a
        fraction of at most 6 digits) is built directly; the others through the model."""
        buf = self.buf
        if stop - start >= 8 and buf[start] == 0x80 and buf[start + 1] < 0x80 and buf[start + 2] >= 0x80:
            year = (buf[start + 1] << 7) | (buf[start + 2] & 0x7F)
            month, day, hour, minute, second = (byte & 0x7F for byte in buf[start + 3:start + 8])
            if all(byte & 0x80 for byte in buf[start + 3:start + 8]):
                micros = 0
                fraction = start + 8
                if fraction < stop:
                    exponent = buf[fraction]
                    if 0xC1 <= exponent <= 0xC6 and (fraction + 1 == stop or buf[fraction + 1] < 0x80):
                        micros = int.from_bytes(buf[fraction + 1:stop], "big") * 10 ** (6 - (exponent & 0x3F))
                        if micros >= 1000000:
                            micros = -1  # 1 or more: the model reports it
                    else:
                        micros = -1
                if micros >= 0:
                    try:
                        return self.text.datetime.datetime(year, month, day, hour, minute, second, micros, self.text.utc)
                    except ValueError:
                        pass  # the model reports it
        return self.text._python_timestamp(self._timestamp(start, stop, pos))

    def _int_bytes(self, start: int, stop: int) -> Tuple[int, bool]:
        """A signed-magnitude Int: (value, whether it is a negative zero)."""
        if start == stop:
            return 0, False
        data = self.buf[start:stop]
        magnitude = int.from_bytes(data, "big") & ~(0x80 << (8 * (len(data) - 1)))
        negative = bool(data[0] & 0x80)
        return (-magnitude if negative else magnitude), negative and magnitude == 0

    def _decimal(self, start: int, stop: int, pos: int) -> Any:
        if start == stop:
            return self.Decimal(0)
        exponent, cursor, _ = self._var_int(start)
        if cursor > stop:
            raise self.fail("a decimal's exponent goes past its length", pos)
        coefficient, negative_zero = self._int_bytes(cursor, stop)
        return self.Decimal((1 if coefficient < 0 or negative_zero else 0, self._digits(coefficient, pos),
                             self._exponent(exponent, pos)))

    def _digits(self, coefficient: int, pos: int) -> Tuple[int, ...]:
        """The decimal digits of ``abs(coefficient)``, exactly, within _ION_MAX_DIGITS."""
        if coefficient.bit_length() > _ION_MAX_DIGITS * 3.33:  # 10**n needs about 3.32n bits
            raise self.fail("a decimal of more than %d digits, the most kestra.py reads" % _ION_MAX_DIGITS, pos)
        return self.Decimal(abs(coefficient)).as_tuple().digits

    def _exponent(self, exponent: int, pos: int) -> int:
        if abs(exponent) > _ION_MAX_EXPONENT:
            raise self.fail("a decimal exponent beyond +-2**31, the most Kestra (Java's BigDecimal) writes "
                            "and kestra.py reads", pos)
        return exponent

    def _timestamp(self, start: int, stop: int, pos: int) -> _IonTimestamp:
        if stop - start < 2:
            raise self.fail("a timestamp needs an offset and a year", pos)
        offset, cursor, unknown = self._var_int(start)
        fields = []  # type: List[int]
        while cursor < stop and len(fields) < 6:
            field, cursor = self._var_uint(cursor)
            fields.append(field)
        fraction = None
        if cursor < stop:
            if len(fields) < 6:
                raise self.fail("a timestamp's fields go past its length", pos)
            exponent, cursor, _ = self._var_int(cursor)
            if cursor > stop:
                raise self.fail("a timestamp's fraction goes past its length", pos)
            coefficient, _ = self._int_bytes(cursor, stop)  # a negative zero is a zero
            if coefficient < 0:
                raise self.fail("a negative fraction of a second", pos)
            fraction = self.Decimal((0, self._digits(coefficient, pos), self._exponent(exponent, pos)))
            if fraction >= 1:
                raise self.fail("a fraction of a second of 1 or more", pos)
            if not fraction and exponent >= 0:
                fraction = None  # 0d0: no fraction digits
        elif cursor > stop:
            raise self.fail("a timestamp's fields go past its length", pos)
        if not fields:
            raise self.fail("a timestamp needs a year", pos)
        if len(fields) == 4:
            raise self.fail("a timestamp with an hour but no minute", pos)
        precision = ("year", "month", "day", None, "minute", "second")[len(fields) - 1]
        assert precision is not None  # four fields were refused above
        year, month, day, hour, minute, second = (fields + [1, 1, 0, 0, 0][len(fields) - 1:])[:6]
        datetime = self.text.datetime
        try:
            moment = datetime.datetime(year, month, day, hour, minute, second)
        except (ValueError, OverflowError) as exc:
            raise self.fail("invalid timestamp (%s)" % exc, pos) from None
        minutes = None if unknown else offset
        if precision in ("year", "month", "day"):
            minutes = None
        elif minutes:
            if not -1440 < minutes < 1440:
                raise self.fail("invalid timestamp offset of %d minutes" % minutes, pos)
            try:
                moment += datetime.timedelta(minutes=minutes)  # the fields are UTC: to local time
            except OverflowError:
                raise self.fail("the timestamp is outside years 0001-9999", pos) from None
        return _IonTimestamp(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                             fraction, minutes, precision)


# Sources, binary Ion and the public entry points ----------------------------------


def _ion_source(source: Any) -> Tuple[Any, Optional[str], bool]:
    """(binary file object, display name, whether we opened it) for a path, an open
    binary file, bytes or text."""
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source)), None, True
    if hasattr(source, "read"):
        return source, getattr(source, "name", None) if isinstance(getattr(source, "name", None), str) else None, False
    path = os.fspath(source)
    try:
        return open(path, "rb"), path, True
    except OSError as exc:
        raise KestraError("cannot read the Ion file %r: %s" % (path, exc)) from None


def _text_encoding(head: bytes) -> str:
    """The encoding of Ion text from its first bytes: UTF-8 unless a byte order mark
    or zero bytes (Ion text never starts with NUL) say UTF-16 or UTF-32."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head[:3] == b"\x00\x00\x00":
        return "utf-32-be"
    if len(head) == 4 and head[1:] == b"\x00\x00\x00":
        return "utf-32-le"
    if head[:1] == b"\x00":
        return "utf-16-be"
    if head[1:2] == b"\x00":
        return "utf-16-le"
    return "utf-8-sig"


def _decoded_chunks(file: Any, name: Optional[str], encoding: str = "utf-8-sig") -> Iterator[Tuple[str, int]]:
    """(text, byte count) pieces of a text file, decoded incrementally."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    lines = 1
    while True:
        data = file.read(_ION_READ_CHUNK)
        if isinstance(data, str):
            raise KestraError("the Ion file %s must be opened in binary mode ('rb')" % (name or "object"))
        final = not data
        try:
            text = decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            # exc.object is what the decoder held back from the last piece, then data.
            where = offset - (len(exc.object) - len(data)) + exc.start
            line = lines + exc.object[:exc.start].decode(encoding, "replace").count("\n")
            raise IonReadError("%s, line %d, byte %d: the text is not valid %s (%s)"
                               % (name or "Ion data", line, where, encoding.upper(), exc.reason),
                               name, line, where) from None
        offset += len(data)
        lines += text.count("\n")
        yield text, len(data)
        if final:
            return


def _ion_stream(source: Any, faithful: bool, exact: bool) -> Iterator[Any]:
    file, name, opened = _ion_source(source)
    try:
        for value in _ion_file_values(file, name, faithful, exact):
            yield value
    except RecursionError:  # within _ION_MAX_DEPTH, but called from deep in a program
        raise IonReadError("%s: values nested too deeply for the Python stack left to this call "
                           "(sys.getrecursionlimit() is %d)" % (name or "Ion data", sys.getrecursionlimit()),
                           name, None, None) from None
    finally:
        if opened:
            file.close()


def _ion_file_values(file: Any, name: Optional[str], faithful: bool, exact: bool) -> Iterator[Any]:
    """The values of an open Ion file, text or binary (its first bytes tell)."""
    head = file.read(4)
    if isinstance(head, str):
        raise KestraError("the Ion file %s must be opened in binary mode ('rb')" % (name or "object"))
    if head == _ION_BINARY_MARKER:
        for value in _IonBinaryReader(_Prepended(head, file), name, faithful, exact).values():
            yield value
        return
    encoding = _text_encoding(head)
    reader = _IonTextReader(_decoded_chunks(_Prepended(head, file), name, encoding), name, faithful, exact)
    reader.encoding = encoding if encoding != "utf-8-sig" else "utf-8"
    for value in reader.values():
        yield value


class _Prepended:
    """A binary file whose first bytes were already read."""

    def __init__(self, head: bytes, file: Any) -> None:
        self.head = head
        self.file = file

    def read(self, size: int) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            rest = self.file.read(max(0, size - len(head)))  # type: bytes
            return head + rest
        data = self.file.read(size)  # type: bytes
        return data


def _ion_values(source: Any) -> Iterator[Any]:
    """The top-level user values of an Ion stream in the faithful model, for tests:
    ``source`` is Ion text (str), bytes, a path or a binary file."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    return _ion_stream(source, faithful=True, exact=True)


def _read_ion(path_: Any, exact: bool) -> Iterator[Any]:
    return _ion_stream(path_, faithful=False, exact=exact)


# Ion writing ##################################################################
# Kestra.write: Python values as Ion text, one top-level value per line, in the shapes
# Kestra's FileSerde reads back as the Java types a user means (the README's "Writing Ion
# files" has the table). A row's text is made whole before any of it is written, and a
# file only ever holds whole rows: after an error, as many as the error says.

class IonWriteError(KestraError):
    """A row Kestra.write cannot write, or a file that cannot take it. ``rows`` is how
    many rows the file holds, each whole; ``row`` the 1-based number of the row at fault
    (None when the file failed) and ``keys`` the keys and indexes leading to the value.
    Example: ``except IonWriteError as error: print(error.row, error.keys, error.rows)``
    """

    def __init__(self, message: str, path: Optional[str], rows: int, row: Optional[int] = None,
                 keys: Tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.path = path
        self.rows = rows
        self.row = row
        self.keys = keys

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.path, self.rows, self.row, self.keys))


class _Unwritable(Exception):
    """A value with no Ion form, raised inside a row. ``keys`` grows on the way out,
    innermost first; ``at_key`` says the innermost container's key is at fault."""

    def __init__(self, message: str, at_key: bool = False, too_deep: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.keys = []  # type: List[Any]
        self.at_key = at_key
        self.too_deep = too_deep


_ION_WRITERS = {}  # type: Dict[type, Callable[[Any, int], str]]  # filled on first use
_ION_FIELDS = {}  # type: Dict[str, str]  # a key -> its Ion text and ":", for the keys seen last
_ION_BIG_INT = 10 ** 600  # ints below need no care: sys.set_int_max_str_digits accepts no less than 640
_ION_MAX_OFFSET = 18 * 3600  # seconds: the widest offset Java's ZoneOffset holds
_ION_WRITE_CHUNK = 1 << 16  # bytes of rows written at a time
_ion_quote = json.encoder.encode_basestring  # type: Callable[[str], str]  # JSON's escapes are Ion's; non-ASCII kept
# Bound by _fill_ion_writers on the first write: decimal and datetime load only then.
_decimal_text = _datetime_text = _date_text = _time_text = _base64_text = None  # type: Any
_GREGORIAN_START = _datetime_class = _decimal_class = _utc = None  # type: Any
_ION_DAYS = {}  # type: Dict[int, str]  # a day's ordinal -> its text and "T", for the days seen last


def _ion_value(value: Any, depth: int) -> str:
    return _ION_WRITERS.get(type(value), _ion_other)(value, depth)


def _ion_struct(value: Any, depth: int) -> str:
    if depth >= _ION_MAX_DEPTH:
        raise _Unwritable("", too_deep=True)
    names, writers, quote, big = _ION_FIELDS, _ION_WRITERS, _ion_quote, _ION_BIG_INT
    parts = []  # type: List[str]
    add = parts.append
    key = None
    try:
        for key, item in value.items():
            name = names.get(key) if type(key) is str else None
            if name is None:
                name = _ion_field(key)
            cls = type(item)
            # The usual values are written here, inline: this loop writes most of a file.
            if cls is str:
                add(name + quote(item))
            elif cls is int and -big < item < big:
                add(name + int.__repr__(item))
            elif item is None:
                add(name + "null")
            elif item is True:
                add(name + "true")
            elif item is False:
                add(name + "false")
            elif cls is _decimal_class:
                text = _decimal_text(item)
                if "." in text and "E" not in text and len(text) < _ION_MAX_DIGITS:
                    add(name + text)
                else:
                    add(name + _ion_decimal(item, depth + 1))
            elif cls is _datetime_class and item.tzinfo is None:
                add(name + 'LocalDateTime::"' + _datetime_text(item) + '"')
            elif cls is _datetime_class and item.tzinfo is _utc:
                add(name + 'Instant::"' + _local_text(item) + 'Z"')
            elif cls is list:
                add(name + _ion_list(item, depth + 1))
            else:
                add(name + writers.get(cls, _ion_other)(item, depth + 1))
    except _Unwritable as exc:
        if exc.at_key:
            exc.at_key = False
        else:
            exc.keys.append(key)
        raise
    return "{" + ",".join(parts) + "}"


def _ion_list(value: Any, depth: int) -> str:
    if depth >= _ION_MAX_DEPTH:
        raise _Unwritable("", too_deep=True)
    writers, quote = _ION_WRITERS, _ion_quote
    parts = []
    index = -1
    try:
        for index, item in enumerate(value):
            cls = type(item)
            if cls is str:
                parts.append(quote(item))
            elif cls is int and -_ION_BIG_INT < item < _ION_BIG_INT:
                parts.append(int.__repr__(item))
            else:
                parts.append(writers.get(cls, _ion_other)(item, depth + 1))
    except _Unwritable as exc:
        exc.keys.append(index)
        raise
    return "[" + ",".join(parts) + "]"


def _ion_field(key: Any) -> str:
    """The Ion text of a struct's field name and its ":": bare when it is an identifier
    Ion reads as text, quoted otherwise. Kept for the next rows."""
    if not isinstance(key, str):
        raise _Unwritable("has the key %r of type %s; Ion field names are text: convert the key first, "
                          "for example with str(key)" % (key, _type_name(key)), at_key=True)
    name = str.__str__(key)
    identifier = name.replace("$", "_").isidentifier() and name.isascii()  # [A-Za-z_$][A-Za-z0-9_$]*
    if identifier and name not in _KEYWORDS and not (name[0] == "$" and name[1:].isdigit()):  # $12: a symbol id
        text = name + ":"
    else:
        text = _ion_quote(name) + ":"
    if len(name) <= 64:  # a long key is not kept: the cache stays small whatever the keys
        if len(_ION_FIELDS) >= 4096:
            _ION_FIELDS.clear()
        _ION_FIELDS[name] = text
    return text


def _ion_int(value: Any, depth: int) -> str:
    if -_ION_BIG_INT < value < _ION_BIG_INT:
        return int.__repr__(value)
    text = ""
    if value.bit_length() <= 3321929:  # else more than 1,000,000 digits for sure
        text = _long_digits(abs(value), int(value.bit_length() * 0.30103) + 1).lstrip("0")
    if not text or len(text) > _ION_MAX_DIGITS:
        raise _Unwritable("is an int of more than %d digits, more than kestra.py reads back; write it "
                          "as text (str(value)) instead" % _ION_MAX_DIGITS)
    return "-" + text if value < 0 else text


def _long_digits(value: int, count: int) -> str:
    """The decimal digits of 0 <= value < 10**count, zero-padded to ``count``, by halves
    (Python 3.11+ refuses to write more than 4,300 digits in one go)."""
    if count <= 512:
        return "%0*d" % (count, value)
    low_count = count // 2
    high, low = divmod(value, 10 ** low_count)
    return _long_digits(high, count - low_count) + _long_digits(low, low_count)


def _ion_bool(value: Any, depth: int) -> str:
    return "true" if value else "false"


def _ion_null(value: Any, depth: int) -> str:
    return "null"


def _ion_float(value: Any, depth: int) -> str:
    text = float.__repr__(value)  # the shortest text that reads back as the same float
    if "e" in text:
        return text
    if value - value == 0.0:
        return text + "e0"  # 0.1e0: without an exponent, Ion reads a decimal
    return "nan" if value != value else "+inf" if value > 0 else "-inf"


def _ion_decimal(value: Any, depth: int) -> str:
    text = _decimal_text(value)  # type: str  # every digit and the exponent: 12.50 stays 12.50
    if "E" in text:
        exponent = int(text[text.index("E") + 1:])
        # Java's BigDecimal reads the exponent as an int, and keeps -exponent (its scale) in one.
        if not -(1 << 31) <= exponent < 1 << 31 or not -(1 << 31) < value.as_tuple().exponent <= 1 << 31:
            raise _Unwritable("is a Decimal with the exponent %d, beyond what Java's BigDecimal holds "
                              "(an int); write it as text (str(value)) or as a float" % exponent)
        text = text.replace("E", "d")  # 1E+3 -> 1d+3
    elif "." not in text:
        if not value.is_finite():  # NaN, sNaN and Infinity have no "E" and no "."
            raise _Unwritable("is %r, which Ion's decimals cannot hold; write None, or a float "
                              "(float('nan'), float('inf')), which Ion can" % (value,))
        text += "."  # 100 would be an Ion int
    if len(text) > _ION_MAX_DIGITS:  # count as the reader does: every digit before the exponent
        mantissa = text.split("d")[0]
        if len(mantissa) - ("." in mantissa) - (mantissa[0] == "-") > _ION_MAX_DIGITS:
            raise _Unwritable("is a Decimal of more than %d digits, more than kestra.py reads back"
                              % _ION_MAX_DIGITS)
    return text


def _checked_offset(offset: Any) -> None:
    """Refuse a UTC offset that Java's ZoneOffset cannot hold."""
    seconds = offset.days * 86400 + offset.seconds
    if offset.microseconds or abs(seconds) > _ION_MAX_OFFSET:
        raise _Unwritable("has the UTC offset %s, which Java's ZoneOffset cannot hold (whole seconds, "
                          "at most 18 hours)" % offset)


def _ion_datetime(value: Any, depth: int) -> str:
    if value.tzinfo is _utc:
        return 'Instant::"' + _local_text(value) + 'Z"'
    # isoformat() ends with the offset as Java writes it (+02:00, -05:45:30), or with none.
    text = _datetime_text(value)  # type: str
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None:
        return 'LocalDateTime::"' + text + '"'
    if not offset:
        return 'Instant::"' + text[:-6] + 'Z"'  # +00:00
    _checked_offset(offset)
    return 'OffsetDateTime::"' + text + '"'


def _local_text(value: Any) -> str:
    """A datetime's date and time of day, as isoformat() writes them but without the offset,
    and faster (an aware datetime's isoformat() asks its tzinfo): the day's text is kept
    for the next value, the time's is made by time.isoformat()."""
    day = _ION_DAYS.get(value.toordinal())
    if day is None:
        if len(_ION_DAYS) >= 4096:
            _ION_DAYS.clear()
        day = _ION_DAYS[value.toordinal()] = _date_text(value) + "T"
    text = day + _time_text(value.time())  # type: str
    return text


def _ion_date(value: Any, depth: int) -> str:
    text = _date_text(value)  # type: str
    if value >= _GREGORIAN_START:
        return text  # a day timestamp: Kestra reads those before 1582-10-15 in the Julian calendar
    return 'LocalDate::"' + text + '"'


def _ion_time(value: Any, depth: int) -> str:
    text = _time_text(value)  # type: str
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset is None:
        return 'LocalTime::"' + text + '"'
    if not offset:
        return 'OffsetTime::"' + text[:-6] + 'Z"'
    _checked_offset(offset)
    return 'OffsetTime::"' + text + '"'


def _ion_duration(value: Any, depth: int) -> str:
    return '"%s"' % _iso_duration(value)


def _ion_blob(value: Any, depth: int) -> str:
    text = _base64_text(value, newline=False).decode("ascii")  # type: str
    return "{{" + text + "}}"


def _ion_other(value: Any, depth: int) -> str:
    """The Ion text of a value whose class is not in _ION_WRITERS: subclasses of those
    classes, Enum, UUID, any Mapping, numpy's scalars and arrays."""
    if isinstance(value, enum.Enum):
        try:
            return _ion_value(value.value, depth)
        except _Unwritable as exc:
            exc.message += " (it is the value of %r)" % (value,)
            raise
    if isinstance(value, str):
        return _ion_quote(str.__str__(value))
    if isinstance(value, int):
        return _ion_int(int.__int__(value), depth)
    if isinstance(value, float):
        return _ion_float(float.__float__(value), depth)
    for cls, writer in _ION_WRITERS.items():
        if isinstance(value, cls):
            return writer(value, depth)
    if isinstance(value, collections.abc.Mapping):
        return _ion_struct(value, depth)
    if isinstance(value, memoryview):
        return _ion_blob(value.tobytes(), depth)
    uuid_module = sys.modules.get("uuid")
    if uuid_module is not None and isinstance(value, uuid_module.UUID):
        return _ion_quote(uuid_module.UUID.__str__(value))
    cls = type(value)
    if cls.__module__ == "numpy" and getattr(getattr(value, "dtype", None), "kind", "") in ("b", "i", "u", "f", "U"):
        return _ion_value(value.tolist(), depth)  # numpy's bools, ints, floats and text, and arrays of them
    if isinstance(value, (set, frozenset)):
        advice = "write a list, for example sorted(value)"
    elif hasattr(cls, "__dataclass_fields__"):
        advice = "write a dict, for example dataclasses.asdict(value)"
    else:
        advice = "convert it first, for example with str(value)"
    raise _Unwritable("is of type %s, which has no Ion form in kestra.py (see the README's table: text, "
                      "numbers, Decimal, bool, None, bytes, lists, dicts, dates and times, timedelta, "
                      "UUID, Enum); %s" % (_type_name(value), advice))


def _fill_ion_writers() -> None:
    import binascii
    import datetime
    import decimal

    global _decimal_text, _datetime_text, _date_text, _time_text, _base64_text, _GREGORIAN_START
    global _datetime_class, _decimal_class, _utc, _ION_WRITERS
    # The base classes' methods: a subclass's own isoformat() or __str__ may say something
    # else. Decimals as text with "E" whatever the caller's context says (capitals=0: "e").
    _decimal_text, _base64_text = decimal.Context(capitals=1).to_sci_string, binascii.b2a_base64
    _datetime_text, _date_text, _time_text = (datetime.datetime.isoformat, datetime.date.isoformat,
                                              datetime.time.isoformat)
    _GREGORIAN_START = datetime.date(1582, 10, 15)
    _datetime_class, _decimal_class, _utc = datetime.datetime, decimal.Decimal, datetime.timezone.utc
    # Made whole, then published: a thread that sees the table sees all of it.
    _ION_WRITERS = {
        str: lambda value, depth: _ion_quote(value), int: _ion_int, float: _ion_float, bool: _ion_bool,
        type(None): _ion_null, dict: _ion_struct, list: _ion_list, tuple: _ion_list,
        decimal.Decimal: _ion_decimal, datetime.datetime: _ion_datetime, datetime.date: _ion_date,
        datetime.time: _ion_time, datetime.timedelta: _ion_duration, bytes: _ion_blob, bytearray: _ion_blob,
    }


def _ion_row(row: Any) -> str:
    """One row's Ion text, or _Unwritable."""
    if row is None:
        raise _Unwritable("is None; Kestra's readers stop at a null row: write {} or leave the row out")
    return _ION_WRITERS.get(type(row), _ion_other)(row, 0)


def _row_fault(row: Any, number: int, exc: _Unwritable) -> Tuple[str, Tuple[Any, ...]]:
    """(the message, the keys) for an _Unwritable raised by row ``number``."""
    keys = tuple(reversed(exc.keys))
    message = exc.message
    if exc.too_deep:
        keys, message = _cycle_or_depth(row, keys)
    path = None  # type: _KeyPath
    for key in keys[:12]:
        path = (path, key)
    where = "row %d" % number if not keys else "row %d, %s" % (number, _where(path) + ("..." if len(keys) > 12 else ""))
    return "%s %s" % (where, message), keys


def _cycle_or_depth(row: Any, keys: Tuple[Any, ...]) -> Tuple[Tuple[Any, ...], str]:
    """For a row nested deeper than the bound: the keys down to the first container met
    again inside itself (a cycle), or all of them."""
    path = [row]  # kept alive: an id is only unique among living objects
    value = row
    for step, key in enumerate(keys, 1):
        while isinstance(value, enum.Enum):
            value = value.value
        if not isinstance(value, (collections.abc.Mapping, list, tuple)):
            break
        value = value[key]
        if any(value is seen for seen in path):
            return keys[:step], ("contains itself (a reference cycle): Ion cannot hold cycles; write a copy "
                                 "without the back-reference")
        path.append(value)
    return keys, ("is nested more than %d levels deep, more than kestra.py reads back; flatten it"
                  % _ION_MAX_DEPTH)


def _surrogate_keys(value: Any, depth: int = 0) -> Optional[List[Any]]:
    """The keys leading to the first text holding a surrogate code point, or None."""
    while isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        return [] if _surrogate_problem(str.__str__(value)) else None
    if depth > _ION_MAX_DEPTH:
        return None
    if isinstance(value, collections.abc.Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _surrogate_problem(str.__str__(key)):
                return [key]
            found = _surrogate_keys(item, depth + 1)
            if found is not None:
                return [key] + found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _surrogate_keys(item, depth + 1)
            if found is not None:
                return [index] + found
    return None


class _IonOut:
    """The file Kestra.write writes: a path it opens (and truncates back to its last
    whole row if a write fails), or a binary file object of the caller's."""

    def __init__(self, destination: Any) -> None:
        self.rows = 0  # whole rows written
        self.size = 0  # their bytes
        if hasattr(destination, "write"):
            name = getattr(destination, "name", None)
            self.name = name if isinstance(name, str) else None  # type: Optional[str]
            if isinstance(destination, io.TextIOBase) or getattr(destination, "encoding", None) is not None:
                raise KestraError("the Ion file %s must be opened in binary mode ('wb')" % (self.name or "object"))
            if getattr(destination, "closed", False):
                raise KestraError("the Ion file %s is closed" % (self.name or "object"))
            self.file = destination
            self.owned = False
            return
        path = os.fspath(destination)
        self.name = path if isinstance(path, str) else os.fsdecode(path)
        try:
            self.file = open(path, "wb", buffering=0)
        except OSError as exc:
            raise IonWriteError("cannot write the Ion file %r: %s; check that its folder exists and can be "
                                "written" % (self.name, exc.strerror or exc), self.name, 0) from exc
        self.owned = True

    def write(self, rows: List[str]) -> None:
        """Write whole rows (their text, without the line end), or raise IonWriteError
        saying how many the file holds."""
        if not rows:
            return
        data = ("\n".join(rows) + "\n").encode("utf-8")
        done = 0
        try:
            while done < len(data):
                count = self.file.write(data[done:] if done else data)
                if count is None and isinstance(self.file, io.RawIOBase):
                    raise OSError("the file takes no bytes now (a non-blocking file): give a blocking one")
                # A raw file may take part of it; other file objects take all (some say None).
                done += count if isinstance(count, int) and 0 <= count <= len(data) - done else len(data) - done
        except BaseException as exc:
            self.failed(rows, done, exc)
            raise
        self.rows += len(rows)
        self.size += len(data)

    def failed(self, rows: List[str], done: int, exc: BaseException) -> None:
        """After a failed write: cut the file back to its whole rows (ours), then raise
        an IonWriteError for an OSError or a closed file (others propagate as they are)."""
        whole = 0
        ends = 0
        for row in rows:
            size = (len(row) if row.isascii() else len(row.encode("utf-8"))) + 1
            if ends + size > done:
                break
            ends += size
            whole += 1
        state = ""
        if self.owned:
            self.rows += whole
            try:
                os.ftruncate(self.file.fileno(), self.size + ends)
            except OSError as cut:
                state = "; it may also hold part of row %d (cutting it off failed: %s)" % (self.rows + 1, cut)
        else:
            state = "; rows %d to %d were handed to it and may be partly written" % (self.rows + 1,
                                                                                 self.rows + len(rows))
        if isinstance(exc, (OSError, ValueError)):
            raise IonWriteError("cannot write to the Ion file %s (%s): it holds %d whole row%s%s; the rows "
                                "after those must be written again" % (self.name or "object", exc, self.rows,
                                                                       "" if self.rows == 1 else "s", state),
                                self.name, self.rows) from exc

    def finish(self) -> None:
        """Flush a caller's file, so that its rows are in it when Kestra.write returns."""
        if not self.owned:
            flush = getattr(self.file, "flush", None)
            if flush is not None:
                try:
                    flush()
                except (OSError, ValueError) as exc:
                    raise IonWriteError("cannot write to the Ion file %s (%s): its last rows may not all be "
                                        "there" % (self.name or "object", exc), self.name, self.rows) from None


def _write_ion(destination: Any, rows: Any) -> int:
    if isinstance(rows, (str, bytes, bytearray, collections.abc.Mapping)) or not hasattr(rows, "__iter__"):
        raise KestraError("Kestra.write takes an iterable of rows (a list, a generator...), got %s; to write "
                          "one row, pass [row]" % _type_name(rows))
    if hasattr(rows, "columns") and hasattr(rows, "to_dict"):  # a pandas DataFrame iterates its column names
        raise KestraError("Kestra.write takes an iterable of rows, got %s, which iterates its column names; "
                          "pass rows.to_dict('records')" % _type_name(rows))
    if not _ION_WRITERS:
        _fill_ion_writers()
    out = _IonOut(destination)
    try:
        _write_ion_rows(out, rows)
        out.finish()
        return out.rows
    finally:
        if out.owned:
            out.file.close()


def _write_ion_rows(out: _IonOut, rows: Any) -> None:
    """Write the rows in pieces of about 64 KiB. Whatever stops it, the rows made
    before are written (but a failed write is not tried again)."""
    pending = []  # type: List[str]
    size = 0
    number = 0
    writing = False
    try:
        for row in rows:
            number += 1
            try:
                text = _ion_struct(row, 0) if type(row) is dict else _ion_row(row)
            except _Unwritable as exc:
                message, keys = _row_fault(row, number, exc)
                raise _RowFault(message, number, keys) from None
            except RecursionError:
                raise _RowFault("row %d is nested too deeply for the Python stack left to this call "
                                "(sys.getrecursionlimit() is %d): flatten it, or call from a shallower place"
                                % (number, sys.getrecursionlimit()), number, ()) from None
            except Exception as exc:  # a value's own code: its items(), its tzinfo's utcoffset()...
                raise _RowFault("row %d: making its Ion text, one of its values raised %s: %s"
                                % (number, type(exc).__name__, exc), number, ()) from exc
            if not text.isascii():
                text = _ion_utf8(text, row, number)
            elif "\x7f" in text:  # DEL, which only quoted text holds, escaped as ion-java does
                text = text.replace("\x7f", "\\x7f")
            pending.append(text)
            size += len(text)
            if size >= _ION_WRITE_CHUNK:
                writing = True
                out.write(pending)
                pending, size = [], 0
                writing = False
        writing = True
        out.write(pending)
    except _RowFault as fault:
        out.write(pending)
        out.finish()
        raise IonWriteError("%s; nothing of it was written: %s holds %s"
                            % (fault.args[0], out.name or "the file", _rows_before(out.rows)),
                            out.name, out.rows, fault.number, fault.keys) from fault.__cause__
    except BaseException as exc:  # the rows' iterator, or a value's own method, raised
        if writing:
            raise
        out.write(pending)
        out.finish()
        if hasattr(exc, "add_note"):
            exc.add_note("kestra.py: %s holds %s" % (out.name or "the Ion file", _rows_before(out.rows)))
        raise


def _rows_before(count: int) -> str:
    return ("no row: the error came before the first" if not count else "the row before it, whole" if count == 1
            else "the %d rows before it, each whole" % count)


class _RowFault(Exception):
    def __init__(self, message: str, number: int, keys: Tuple[Any, ...]) -> None:
        super().__init__(message)
        self.number = number
        self.keys = keys


def _ion_utf8(text: str, row: Any, number: int) -> str:
    """A row's text that is not ASCII, its C1 controls escaped as ion-java writes them
    (they can only be inside quoted text: all else is ASCII); a surrogate is refused."""
    import re

    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        keys = _surrogate_keys(row) or []
        path = None  # type: _KeyPath
        for key in keys:
            path = (path, key)
        where = "row %d" % number if not keys else "row %d, %s" % (number, _where(path))
        raise _RowFault("%s %s" % (where, _surrogate_problem(text[exc.start])), number, tuple(keys)) from None
    return re.sub("[\x7f-\x9f]", lambda match: "\\x%02x" % ord(match.group()), text)


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


# Command line #################################################################
# ``python kestra.py ...`` and ``python -m kestra ...``: run, watch and inspect executions,
# deploy flows and read Ion files from a shell. argparse loads only when it runs.

_EXIT_CODES_HELP = """\
exit codes:
  0    SUCCESS, or the command did what it was asked
  1    the execution ended FAILED (deploy: a flow was refused or unreadable)
  2    usage or bad input: unknown flow, execution or input, a value the server refused,
       a disabled flow
  3    the execution ended WARNING
  4    the execution ended KILLED or CANCELLED
  5    the wait timed out (--timeout)
  6    the execution ended in another final state (RETRIED, SKIPPED, RESUBMITTED)
  7    connection, authentication or server error
  130  interrupted (Ctrl-C); a running execution keeps running

The server and credentials come from KESTRA_HOSTNAME, KESTRA_USER and
KESTRA_PASSWORD, or KESTRA_API_TOKEN; --ask-password prompts for the password.
Data goes to stdout (JSON, JSON Lines, file bytes); everything else to stderr."""

_EXIT_BY_STATE = {"SUCCESS": 0, "FAILED": 1, "WARNING": 3, "KILLED": 4, "CANCELLED": 4}
_EXIT_OTHER_STATE = 6
_EXIT_FAILED = 1
_EXIT_USAGE = 2
_EXIT_TIMEOUT = 5
_EXIT_SERVER = 7
_EXIT_INTERRUPTED = 130
_LOG_LEVEL_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
_FLOW_ID_LINE = r"^%s:[ \t]*([\"']?)([^\s\"'#]+)\1[ \t]*(?:#.*)?$"  # a top-level `id:` or `namespace:`


class _UsageError(KestraError):
    """A command line that cannot be run as given: exit code 2."""


class _CommandLineFlow(Flow):
    """A Flow that reports each state a wait reads to the command line's progress,
    and leaves the Ctrl-C message to the command line, which knows its own syntax."""

    progress = None  # type: Optional[_Progress]
    files_progress = None  # type: Optional[_FilesProgress]
    arguments = None  # type: Any

    def _hint(self, action: str, execution_id: str) -> str:
        if action == "kill_on_timeout":
            return "--kill-on-timeout"
        if action == "wait_paused":
            return _command_text(self.arguments, "wait", execution_id, "--until", "PAUSED")
        return _command_text(self.arguments, "status" if action == "get_execution" else action, execution_id)

    def _saw(self, execution: Dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.update(execution)

    def _say_stopped_waiting(self, execution_id: str, url: str) -> None:
        pass  # said by _wait_and_report, which also covers the reads before the wait

    def _files_progress(self, done: str, number: int, total: int, path: str) -> None:
        if self.files_progress is not None:
            self.files_progress.update(done, number, total, path)

    def _each_started(self, namespace: str, flow: str, index: int, item: Any, labels: Any,
                      timeout: Optional[float]) -> Tuple[str, Any]:
        if isinstance(item, _EachBadLine):  # a bad line of stdin: a result, never a create
            return "ended", EachResult(index, None, exception=_EachRefused(item.reason))
        return super()._each_started(namespace, flow, index, item, labels, timeout)


class _LiveLine:
    """A line on stderr redrawn in place (``_draw`` sets ``text`` and writes it), with
    other lines printed above it. Thread-safe through ``lock``."""

    def __init__(self, stream: Any) -> None:
        import threading

        self.stream = stream
        self.text = ""  # the live line as last drawn
        self.lock = threading.Lock()

    def print_line(self, text: str) -> None:
        """Print a line of text (a log line, a failure) on stderr, keeping the live line below it."""
        with self.lock:
            if self.text:
                self._write("\r\x1b[K")
            self._write(text + "\n")
            if self.text:
                self._draw()

    def close(self) -> None:
        with self.lock:
            if self.text:
                self._write("\r\x1b[K")
                self.text = ""

    def _draw(self) -> None:
        raise NotImplementedError

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


class _Progress(_LiveLine):
    """A wait's progress on stderr: on a terminal, one live line redrawn in place
    (state, elapsed time, tasks done of total, current task); elsewhere, one line
    per state change. Log lines printed meanwhile go above the live line."""

    def __init__(self, stream: Any, execution_id: str, live: bool, quiet: bool) -> None:
        import threading

        super().__init__(stream)
        self.execution_id = execution_id
        self.live = live and not quiet
        self.quiet = quiet
        self.started = time.monotonic()
        self.state = None  # type: Optional[str]
        self.execution = None  # type: Optional[Dict[str, Any]]
        self.stopped = threading.Event()
        self.ticker = None  # type: Any
        if self.live:  # the elapsed time moves even when the server says nothing
            self.ticker = threading.Thread(target=self._tick, name="kestra-progress", daemon=True)
            self.ticker.start()

    def update(self, execution: Dict[str, Any]) -> None:
        with self.lock:
            self.execution = execution
            state = _state(execution)
            if self.live:
                self._draw()
            elif not self.quiet and state != self.state:
                self._write("kestra: execution %s is %s (%s)\n" % (self.execution_id, state, self._elapsed()))
            self.state = state

    def close(self) -> None:
        self.stopped.set()
        super().close()

    def _tick(self) -> None:
        while not self.stopped.wait(1.0):
            with self.lock:
                if not self.stopped.is_set():
                    self._draw()

    def _draw(self) -> None:
        import shutil

        width = shutil.get_terminal_size((80, 24)).columns
        self.text = _progress_text(self.execution, self._elapsed())[:max(10, width - 1)]
        self._write("\r\x1b[K" + self.text)

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return "%dm%02ds" % divmod(seconds, 60) if seconds >= 60 else "%ds" % seconds


def _progress_text(execution: Optional[Dict[str, Any]], elapsed: str) -> str:
    """``RUNNING 12s, 2/5 tasks done, running load``: the live progress line."""
    if execution is None:
        return "waiting %s" % elapsed
    runs = [run for run in execution.get("taskRunList") or [] if isinstance(run, dict)]
    states = [_state(run) for run in runs]
    done = sum(1 for state in states if state in _TERMINAL_STATES)
    text = "%s %s, %d/%d tasks done" % (_state(execution), elapsed, done, len(runs))
    current = [run.get("taskId") for run, state in zip(runs, states) if state not in _TERMINAL_STATES]
    if current and isinstance(current[-1], str):
        text += ", running %s" % current[-1]
    return text


def _parser() -> Any:
    """The argument parser: connection options, then one subcommand per action."""
    import argparse

    def connection_options(parser: Any, defaults: bool) -> None:
        # On the main parser with real defaults; on each subcommand too, without defaults,
        # so that `kestra.py status --host URL ID` works and does not reset the main ones.
        default = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
        group = parser.add_argument_group("connection")
        group.add_argument("--host", default=default(None), metavar="URL",
                           help="the Kestra server (default: $KESTRA_HOSTNAME, else http://localhost:8080)")
        group.add_argument("--user", default=default(None), help="the user for Basic auth (default: $KESTRA_USER)")
        group.add_argument("--tenant", default=default(None), help="the tenant (default: main)")
        group.add_argument("--retries", type=_retry_count, default=default(None), metavar="N",
                           help="try a failed request N more times, waiting 1, 2, 4... s in between "
                                "(default: 4); 0 fails at the first connection error")
        group.add_argument("--ask-password", action="store_true", default=default(False),
                           help="prompt for the password (stdin must be a terminal); never pass it as a flag")
        group.add_argument("--debug", action="store_true", default=default(False),
                           help="log each request and show tracebacks on stderr")
        group.add_argument("--quiet", "-q", action="store_true", default=default(False),
                           help="no progress or status lines on stderr, only errors")

    def wait_options(parser: Any) -> None:
        parser.add_argument("--timeout", type=_positive_seconds, metavar="SECONDS",
                            help="stop waiting after this long (exit code 5)")
        parser.add_argument("--kill-on-timeout", action="store_true", help="kill the execution when --timeout is reached")
        parser.add_argument("--logs", action="store_true", help="print the execution's log lines on stderr at the end")
        parser.add_argument("--follow", action="store_true", help="stream the execution's log lines to stderr while it runs")
        parser.add_argument("--json", action="store_true",
                            help="print one JSON document: id, namespace, flow, state, url, outputs, error")
        parser.add_argument("--until", type=_state_names, metavar="STATE[,STATE]",
                            help="return as soon as the execution is in one of these states (say PAUSED), "
                                 "if it does not end first; exit 0 when it is")

    def later_wait(parser: Any, what: str) -> None:
        parser.add_argument("--wait", action="store_true", help="wait for %s's end (or --until STATE)" % what)
        wait_options(parser)

    def input_option(parser: Any, what: str) -> None:
        parser.add_argument("-i", "--input", dest="inputs", action="append", default=[], metavar="KEY=VALUE",
                            help="%s: KEY=text, KEY=@PATH (a FILE input; @- reads stdin), KEY:=JSON (typed)" % what)

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="kestra.py", formatter_class=formatter, epilog=_EXIT_CODES_HELP,
        description="Run, watch and inspect Kestra executions, deploy flows and read Ion files.")
    connection_options(parser, True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(name: str, run: Callable[[Any], int], help_text: str) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text, formatter_class=formatter,
                                  epilog=_EXIT_CODES_HELP)
        connection_options(sub, False)
        sub.set_defaults(run=run)
        return sub

    sub = command("execute", _run_execute, "create an execution of a flow and, by default, wait for its end")
    sub.add_argument("namespace")
    sub.add_argument("flow")
    sub.add_argument("-i", "--input", dest="inputs", action="append", default=[], metavar="KEY=VALUE",
                     help="an input: KEY=text, KEY=@PATH (a FILE input; @- reads stdin), KEY:=JSON (typed)")
    sub.add_argument("-l", "--label", dest="labels", action="append", default=[], metavar="KEY=VALUE",
                     help="a label of the execution")
    sub.add_argument("--labels-from-inputs", action="store_true", help="make a label of each input that is not a file")
    sub.add_argument("--each", metavar="FILE.jsonl",
                     help="run the flow once per line of FILE (- : stdin), each line a JSON object of inputs "
                          "added to the -i ones; prints a result per line with --json")
    sub.add_argument("--parallel", type=_parallel_count, metavar="N",
                     help="with --each: at most N executions at once (default: 8)")
    waiting = sub.add_mutually_exclusive_group()
    waiting.add_argument("--wait", dest="wait", action="store_true", default=True, help="wait for the end (default)")
    waiting.add_argument("--no-wait", dest="wait", action="store_false",
                         help="print the execution's id (or --json document) and return at once")
    wait_options(sub)

    sub = command("wait", _run_wait, "wait for an execution's end; exit code by its final state")
    sub.add_argument("execution_id", metavar="ID")
    wait_options(sub)

    sub = command("status", _run_status, "print an execution's id, namespace, flow, state and url as JSON")
    sub.add_argument("execution_id", metavar="ID")
    sub = command("outputs", _run_outputs, "print an execution's task outputs as JSON")
    sub.add_argument("execution_id", metavar="ID")
    sub = command("kill", _run_kill, "ask the server to kill an execution (exit 0 if it had ended already)")
    sub.add_argument("execution_id", metavar="ID")

    sub = command("logs", _run_logs, "print an execution's log lines (timestamp, level, message)")
    sub.add_argument("execution_id", metavar="ID")
    sub.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the execution ends")
    sub.add_argument("--min-level", type=str.upper, choices=_LOG_LEVEL_NAMES, help="leave out lower levels")
    sub.add_argument("--json", action="store_true", help="one JSON object per entry (JSON Lines)")

    sub = command("download", _run_download, "write a file of an execution (kestra:///...) to stdout or a file")
    sub.add_argument("execution_id", metavar="ID")
    sub.add_argument("kestra_uri", metavar="KESTRA_URI")
    sub.add_argument("-o", "--output", metavar="FILE", help="the file to write (default, or -: stdout)")

    sub = command("read", _run_read, "print the rows of an Ion file as JSON Lines")
    sub.add_argument("path", metavar="FILE.ion", help="the Ion file, text or binary; - reads stdin")
    sub.add_argument("--exact", action="store_true",
                     help="decimals as JSON strings of their exact text; strings kept as they are")

    sub = command("write", _run_write, "write JSON Lines as an Ion file, one value per line, as Kestra's tasks read it")
    sub.add_argument("path", metavar="FILE.jsonl", nargs="?", default="-",
                     help="one JSON value per line, blank lines skipped (default, or -: stdin)")
    sub.add_argument("-o", "--output", metavar="FILE.ion", help="the Ion file to write (default, or -: stdout)")
    sub.add_argument("--floats", action="store_true",
                     help="numbers with a fraction or an exponent as Ion floats (doubles), "
                          "not as exact decimals")

    sub = command("deploy", _run_deploy, "create or update flows from YAML files or folders")
    sub.add_argument("paths", nargs="+", metavar="PATH", help="a flow's YAML file, or a folder searched for *.yml and *.yaml")
    sub.add_argument("--dry-run", action="store_true", help="ask the server to validate the flows, without saving them")
    sub.add_argument("--json", action="store_true", help="one JSON object per flow on stdout (JSON Lines)")

    sub = command("resume", _run_resume, "resume a PAUSED execution, with the onResume inputs of its Pause task")
    sub.add_argument("execution_id", metavar="ID")
    input_option(sub, "an onResume input")
    later_wait(sub, "the execution")

    sub = command("pause", _run_pause, "pause a RUNNING execution (resume it with: resume ID)")
    sub.add_argument("execution_id", metavar="ID")

    sub = command("restart", _run_restart, "restart a FAILED execution from its failed tasks (same id)")
    sub.add_argument("execution_id", metavar="ID")
    sub.add_argument("--revision", type=_revision_number, metavar="N", help="on this revision of the flow")
    later_wait(sub, "the execution")

    sub = command("replay", _run_replay, "run an execution again as a new one, from the start or from a task; "
                                         "prints the new id")
    sub.add_argument("execution_id", metavar="ID")
    sub.add_argument("--from", dest="from_task", metavar="TASK", help="from this task (a task id, or a task run id)")
    input_option(sub, "an input replacing the execution's (the others are kept)")
    sub.add_argument("--revision", type=_revision_number, metavar="N", help="on this revision of the flow")
    later_wait(sub, "the new execution")

    sub = command("labels", _run_labels, "set labels of an execution; prints its labels as JSON")
    sub.add_argument("execution_id", metavar="ID")
    sub.add_argument("labels", nargs="+", metavar="KEY=VALUE")
    sub.add_argument("--replace", action="store_true", help="remove the labels not given (system. ones stay)")

    sub = command("webhook", _run_webhook,
                  "fire a flow's Webhook trigger (no credentials are sent); prints the execution's id")
    sub.add_argument("namespace")
    sub.add_argument("flow")
    sub.add_argument("key", nargs="?", metavar="KEY",
                     help="the trigger's key; default: $KESTRA_WEBHOOK_KEY, and - reads it from stdin (a key "
                          "given here is seen by ps and kept in shell history)")
    sub.add_argument("--data", "-d", metavar="DATA",
                     help="the body: text, @PATH (a file, streamed) or @- (stdin); JSON text is sent as JSON")
    sub.add_argument("--method", "-X", type=str.upper, choices=("POST", "PUT", "GET"), default="POST")
    sub.add_argument("--content-type", metavar="TYPE", help="the body's Content-Type (default: by the body)")
    later_wait(sub, "the execution")

    sub = command("delete", _run_delete, "delete an execution with its logs, metrics and files")
    sub.add_argument("execution_id", metavar="ID")
    sub.add_argument("--keep-logs", action="store_true", help="keep its logs")
    sub.add_argument("--keep-metrics", action="store_true", help="keep its metrics")
    sub.add_argument("--keep-files", action="store_true", help="keep its files in internal storage")

    sub = command("search", _run_search, "list executions, oldest first: a table, or JSON Lines with --json")
    sub.add_argument("--namespace", "-n", metavar="NS", help="this namespace and those under it")
    sub.add_argument("--flow", "-f", metavar="FLOW", help="this flow (with --namespace)")
    sub.add_argument("--state", "-s", dest="states", type=_state_names, action="append", metavar="STATE[,STATE]",
                     help="in one of these states")
    sub.add_argument("--label", "-l", dest="labels", action="append", default=[], metavar="KEY=VALUE",
                     help="with this label (all must match)")
    sub.add_argument("--since", metavar="DATETIME", help="started at or after (ISO-8601; default: any time)")
    sub.add_argument("--until", metavar="DATETIME", help="started at or before (ISO-8601)")
    sub.add_argument("--limit", type=_revision_number, metavar="N", help="at most N executions")
    sub.add_argument("--newest-first", action="store_true", help="the newest first (default: the oldest first)")
    sub.add_argument("--json", action="store_true", help="one JSON object per execution, as the server gives it")

    def group(name: str, help_text: str) -> Callable[[str, Callable[[Any], int], str], Any]:
        """A command with actions of its own (kv get, kv set...)."""
        sub = commands.add_parser(name, help=help_text, description=help_text, formatter_class=formatter,
                                  epilog=_EXIT_CODES_HELP)
        actions = sub.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True

        def action(action_name: str, run: Callable[[Any], int], action_help: str) -> Any:
            parser = actions.add_parser(action_name, help=action_help, description=action_help,
                                        formatter_class=formatter, epilog=_EXIT_CODES_HELP)
            connection_options(parser, False)
            parser.set_defaults(run=run)
            return parser
        return action

    kv = group("kv", "read and write a namespace's key-value store, keeping each value's type")
    sub = kv("get", _run_kv_get, "print a key's value: a string as it is, any other value as JSON (exit 1: no such key)")
    sub.add_argument("namespace")
    sub.add_argument("key")
    sub.add_argument("--json", action="store_true", help="one JSON object: namespace, key, type, value, revision, updated")
    sub.add_argument("--exact", action="store_true", help="numbers with a fraction as they are stored (never rounded "
                                                          "to a double)")
    sub = kv("set", _run_kv_set, "store values, each with its type; a value the store would change is refused")
    sub.add_argument("namespace")
    sub.add_argument("assignments", nargs="+", metavar="KEY=VALUE",
                     help="KEY=TEXT (a string, or --type), KEY:=JSON (typed: 42, 12.50, true, null, {...}, [...]), "
                          "KEY=@FILE (the file's UTF-8 text; @- reads stdin)")
    sub.add_argument("--type", choices=("string", "number", "boolean", "datetime", "date", "duration", "json"),
                     help="read each KEY=TEXT as this type (default: string)")
    sub.add_argument("--ttl", metavar="DURATION", help="expire after this ISO-8601 duration (PT10M, P7D)")
    sub.add_argument("--description", metavar="TEXT", help="a description (printable ASCII)")
    sub = kv("ls", _run_kv_ls, "list a namespace's keys with their types and expiry")
    sub.add_argument("namespace")
    sub.add_argument("--json", action="store_true", help="one JSON object per key (JSON Lines)")
    sub = kv("rm", _run_kv_rm, "delete a key (exit 1: no such key)")
    sub.add_argument("namespace")
    sub.add_argument("key")

    nsfiles = group("nsfiles", "push, pull, list and delete a namespace's files")
    sub = nsfiles("push", _run_nsfiles_push, "upload the files of a folder that are new or changed (same size and "
                                             "SHA-256: unchanged); dot files and folders are left out")
    sub.add_argument("namespace")
    sub.add_argument("local_dir", metavar="LOCAL_DIR", help="the folder (or one file) to upload")
    sub.add_argument("--to", metavar="PATH", help="the namespace folder to fill (default: the root; for a file: "
                                                  "its path)")
    sub.add_argument("--delete", action="store_true", help="also delete the files under PATH that are not in the folder")
    sub.add_argument("--dry-run", action="store_true", help="print what would be done, and change nothing")
    sub.add_argument("--json", action="store_true", help="print the report as one JSON object")
    sub = nsfiles("pull", _run_nsfiles_pull, "download a namespace file, or a folder's tree, into a local folder")
    sub.add_argument("namespace")
    sub.add_argument("path", metavar="PATH", help="a namespace file or folder (/ : all)")
    sub.add_argument("local_dir", metavar="LOCAL_DIR", help="the folder to write into (made if needed)")
    sub.add_argument("--json", action="store_true", help="one JSON object per file written (JSON Lines)")
    sub = nsfiles("ls", _run_nsfiles_ls, "list a namespace's files and folders, every level")
    sub.add_argument("namespace")
    sub.add_argument("path", metavar="PATH", nargs="?", default="/", help="the folder to list (default: the root)")
    sub.add_argument("--one-level", action="store_true", help="only the folder's own entries")
    sub.add_argument("--json", action="store_true", help="one JSON object per entry (JSON Lines)")
    sub = nsfiles("rm", _run_nsfiles_rm, "delete a namespace file, or a folder with all it holds (exit 1: nothing there)")
    sub.add_argument("namespace")
    sub.add_argument("path", metavar="PATH")

    flows = group("flows", "list, read and delete a namespace's flows (deploy creates and updates them)")
    sub = flows("ls", _run_flows_ls, "list a namespace's flows")
    sub.add_argument("namespace")
    sub.add_argument("--json", action="store_true", help="one JSON object per flow, as the server gives it")
    sub = flows("get", _run_flows_get, "print a flow's YAML source (exit 1: no such flow)")
    sub.add_argument("namespace")
    sub.add_argument("flow")
    sub = flows("rm", _run_flows_rm, "delete a flow; its executions stay (exit 1: no such flow)")
    sub.add_argument("namespace")
    sub.add_argument("flow")

    command("version", _run_version, "print the client's version, and the server's version and edition")
    return parser


def _state_names(text: str) -> List[str]:
    import argparse

    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _STATES]
    if not names or unknown:
        raise argparse.ArgumentTypeError("%r: not a state; the states are %s" % (text, ", ".join(sorted(_STATES))))
    return names


def _revision_number(text: str) -> int:
    import argparse

    if not (text.isdigit() and text.isascii() and int(text) >= 1):
        raise argparse.ArgumentTypeError("expected a whole number, 1 or more, got %r" % text)
    return int(text)


def _retry_count(text: str) -> int:
    import argparse

    if not (text.isdigit() and text.isascii() and int(text) <= 20):
        raise argparse.ArgumentTypeError("expected a whole number from 0 to 20, got %r" % text)
    return int(text)


def _positive_seconds(text: str) -> float:
    import argparse

    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError("expected a number of seconds above 0, got %r" % text)
    return seconds


def _main(argv: Optional[List[str]] = None) -> int:
    """Run the command line (``python kestra.py --help``); returns the exit code."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): its data goes nowhere, as to /dev/null
        sys.stdout = open(os.devnull, "w")
    arguments = _parser().parse_args(argv)  # exits 2 on a usage error, with argparse's message
    if arguments.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s")
    try:
        exit_code = arguments.run(arguments)  # type: int
        return exit_code
    except KeyboardInterrupt:
        if arguments.command == "execute":  # before the created execution was said: it may exist
            _say_on_stderr("kestra: interrupted; an execution of %s.%s may have been created: see its executions "
                           "in the UI" % (arguments.namespace, arguments.flow))
        else:
            _say_on_stderr("kestra: interrupted")
        return _EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - each kind gets its exit code and one line
        if arguments.debug:
            import traceback

            traceback.print_exc()
        code, message = _failure(exc, arguments)
        _say_on_stderr("kestra: " + _one_line(message))
        return code


def _failure(exc: BaseException, arguments: Any) -> Tuple[int, str]:
    """(exit code, one line in plain words saying what to do) for an error."""
    host = _shown_host(arguments)
    if isinstance(exc, _UsageError):
        return _EXIT_USAGE, str(exc)
    if isinstance(exc, AuthenticationError):
        kind = _auth_kind_of(arguments)
        if kind == "token":
            advice = "the server refused the API token: check KESTRA_API_TOKEN"
        elif kind == "basic":
            advice = "wrong user or password: check KESTRA_USER and KESTRA_PASSWORD (or use --ask-password)"
        else:
            advice = "the server needs credentials: set KESTRA_USER and KESTRA_PASSWORD, or KESTRA_API_TOKEN"
        return _EXIT_SERVER, "%s (%s answered 401)" % (advice, host)
    if isinstance(exc, ForbiddenError):
        return _EXIT_SERVER, "%s; these credentials are not allowed to do this" % exc
    if isinstance(exc, NotFoundError):
        return _EXIT_USAGE, "%s; check the ids and --tenant (server %s)" % (exc, host)
    if isinstance(exc, InvalidRequestError):
        return _EXIT_USAGE, "the server refused the request: %s" % (exc.server_message or exc)
    if isinstance(exc, ConflictError):  # a disabled flow, an ended execution: not the server's fault
        return _EXIT_USAGE, str(exc)
    if isinstance(exc, FailedExponentialBackoff) and exc.status_code is None:
        return _EXIT_SERVER, ("the Kestra server is unreachable at %s: check --host (or KESTRA_HOSTNAME) and that "
                              "the server is running (%s)" % (host, exc))
    if isinstance(exc, (IonReadError, IonWriteError)):
        return _EXIT_USAGE, str(exc)
    if isinstance(exc, KestraError):
        return _EXIT_SERVER, str(exc)
    if isinstance(exc, OSError):
        return _EXIT_USAGE, str(exc)
    return _EXIT_SERVER, "unexpected %s: %s (run again with --debug for the traceback)" % (type(exc).__name__, exc)


def _shown_host(arguments: Any) -> str:
    hostname = arguments.host or os.environ.get("KESTRA_HOSTNAME") or "http://localhost:8080"
    try:
        return _shown_url(hostname.strip())
    except ValueError:
        return "the configured address"


def _auth_kind_of(arguments: Any) -> str:
    flow = getattr(arguments, "connected_flow", None)
    try:
        return flow._auth_kind() if flow is not None else "none"
    except KestraError:
        return "none"


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _command_flow(arguments: Any) -> _CommandLineFlow:
    """The Flow for a command: the environment, then --host, --user, --tenant and
    --ask-password; checked before anything is sent."""
    flow = _CommandLineFlow(tenant=arguments.tenant, labels_from_inputs=getattr(arguments, "labels_from_inputs", False))
    if arguments.host:
        import urllib.parse

        try:
            parts = urllib.parse.urlsplit(arguments.host.strip())
            has_credentials = parts.username is not None or parts.password is not None
        except ValueError:
            has_credentials = False  # _root() says what is wrong with it
        if has_credentials:
            raise _UsageError("--host must not hold a user or password (a flag lands in shell history and ps): "
                              "give the URL alone, with --user or KESTRA_USER, and KESTRA_PASSWORD or --ask-password")
        flow.hostname = arguments.host
    if arguments.user:
        flow.user = arguments.user
    if arguments.retries is not None:
        flow.retry = RetryPolicy(attempts=arguments.retries + 1)
    flow.arguments = arguments
    arguments.connected_flow = flow
    try:
        flow._root()
        if arguments.ask_password:
            _ask_password(flow)
        flow._auth_headers()
    except KestraError as exc:
        raise _UsageError(str(exc)) from None
    return flow


def _ask_password(flow: Flow) -> None:
    if not (sys.stdin is not None and sys.stdin.isatty()):
        raise _UsageError("--ask-password needs a terminal on stdin; set KESTRA_PASSWORD in the environment instead")
    if not flow.user:
        raise _UsageError("--ask-password needs a user: give --user or set KESTRA_USER")
    import getpass

    flow.password = getpass.getpass("Password for %s at %s: " % (flow.user, _shown_url(flow._root())))
    flow.api_token = None  # a password was asked for: Basic it is


def _say(arguments: Any, message: str) -> None:
    """A status line on stderr, unless --quiet."""
    if not arguments.quiet:
        _say_on_stderr("kestra: " + _one_line(message))


def _one_line(text: str) -> str:
    """``text`` on one line: a server's message may span several (a YAML error, a stack)."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _write_json(document: Any) -> None:
    """One JSON document on one line of stdout (ASCII: safe whatever the locale)."""
    sys.stdout.write(_json_line(document))
    sys.stdout.flush()


def _json_line(document: Any) -> str:
    try:
        return json.dumps(document, ensure_ascii=True, allow_nan=False, default=_json_default) + "\n"
    except ValueError:  # NaN or an infinity somewhere: as text, which JSON can hold
        return json.dumps(_finite(document), ensure_ascii=True, allow_nan=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    """The JSON form of what Ion and executions hold beyond JSON: dates and times as
    ISO-8601 text, Decimal as its exact text (a JSON number would be read as a double),
    bytes as base64."""
    import base64
    import datetime
    import decimal

    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError("%s cannot be written as JSON" % _type_name(value))


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as the text "NaN", "Infinity" and "-Infinity"."""
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


# Command line: executions -------------------------------------------------------


def _parallel_count(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("expected a whole number from 1 to 1000, got %r" % text)
    return value


# The exit code of execute --each: its worst result's, worst last in this order.
_EACH_SEVERITY = (0, 3, 6, 4, 5, 1, 2, 7)


def _run_each(arguments: Any, common: Dict[str, Any], labels: Any) -> int:
    """execute --each: the flow once per JSON line, --parallel at a time."""
    if not arguments.wait or arguments.follow or arguments.logs or arguments.until:
        raise _UsageError("--each waits for the end of every execution and prints no logs: drop %s" % ", ".join(
            flag for flag, given in (("--no-wait", not arguments.wait), ("--follow", arguments.follow),
                                     ("--logs", arguments.logs), ("--until", arguments.until)) if given))
    if any(isinstance(value, tuple) for value in common.values()):
        raise _UsageError("-i KEY=@-: with --each, stdin cannot be a file input read once per execution; "
                          "give a file with KEY=@PATH")
    total = None  # type: Optional[int]
    seen = {}  # type: Dict[str, Any]  # an input of the lines, by name: checked against the flow's
    if arguments.each != "-":
        if not _readable_path(arguments.each):
            raise _UsageError("--each: no file at %r" % arguments.each)
        if os.path.isfile(arguments.each):  # checked whole before anything is created
            total = 0
            for number, line in _numbered_lines(arguments.each):
                for name, value in _each_line(number, line).items():
                    if name not in seen or isinstance(value, str):
                        seen[name] = value
                total += 1
    flow = _command_flow(arguments)
    _check_flow_inputs(flow, arguments.namespace, arguments.flow, dict(seen, **common),
                       "-i and the --each lines" if seen else "-i")
    flow.timeout, flow.kill_on_timeout = arguments.timeout, arguments.kill_on_timeout
    numbers = []  # type: List[int]  # line numbers, by input set index

    def sets() -> Iterator[Any]:
        for number, line in _numbered_lines(arguments.each):
            numbers.append(number)
            try:
                values = _each_line(number, line)
            except _UsageError as exc:
                yield _EachBadLine(str(exc))
                continue
            yield dict(common, **values)

    progress = _EachProgress(sys.stderr, total, live=_is_terminal(sys.stderr), quiet=arguments.quiet)
    worst = 0
    try:
        for result in flow.execute_each(arguments.namespace, arguments.flow, sets(), parallel=arguments.parallel or 8,
                                        labels=labels):
            code = _each_exit_code(result)
            worst = max(worst, code, key=_EACH_SEVERITY.index)
            progress.count(code)
            at = numbers[result.index]
            if code:
                progress.print_line("kestra: line %d: %s" % (at, _one_line(
                    result.error or "execution %s ended %s" % (result.execution_id, result.status))))
            if arguments.json:
                inputs = result.inputs if isinstance(result.inputs, dict) else None
                _write_data(dict(_summary(result.execution or {"id": result.execution_id or None,
                                                               "namespace": arguments.namespace,
                                                               "flowId": arguments.flow},
                                          result.url, result.outputs, result.error),
                                 line=at, inputs=_json_safe_inputs(inputs), state=result.status))
    except KeyboardInterrupt:
        progress.close()
        return _EXIT_INTERRUPTED
    progress.close()
    _say(arguments, progress.summary())
    return worst


class _EachBadLine:
    """An input set whose --each line could not be read: its result is the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _json_safe_inputs(inputs: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if inputs is None:
        return None
    return {key: (str(value) if isinstance(value, (tuple, os.PathLike)) else value) for key, value in inputs.items()}


def _numbered_lines(path: str) -> Iterator[Tuple[int, str]]:
    """(line number, text) of each non-blank line of a file or stdin (-), read lazily."""
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        for number, raw in enumerate(stream, 1):
            text = raw.decode("utf-8", "replace").strip()
            if text:
                yield number, text
    finally:
        if path != "-":
            stream.close()


def _each_line(number: int, text: str) -> Dict[str, Any]:
    # The line itself is not repeated: it may hold a secret input.
    try:
        values = json.loads(text, parse_constant=lambda name: _refuse_constant(number, name))
    except ValueError as exc:
        raise _UsageError("--each line %d is not JSON (%s)" % (number, exc)) from None
    if not isinstance(values, dict):
        raise _UsageError("--each line %d is not a JSON object of inputs, but a %s"
                          % (number, {list: "list", str: "string", bool: "boolean"}.get(type(values), "number")
                             if values is not None else "null"))
    try:
        for name in values:
            _check_input_id(name)
    except KestraError as exc:
        raise _UsageError("--each line %d: %s" % (number, exc)) from None
    return {key: value for key, value in values.items() if value is not None}


def _refuse_constant(number: int, name: str) -> Any:
    raise _UsageError("--each line %d: %s is not a value an input can take" % (number, name))


def _each_exit_code(result: "EachResult") -> int:
    if result.exception is None:
        return _EXIT_BY_STATE.get(result.status or "", _EXIT_OTHER_STATE)
    if isinstance(result.exception, ExecutionTimeoutError):
        return _EXIT_TIMEOUT
    if isinstance(result.exception, (InvalidRequestError, NotFoundError, ConflictError, _EachRefused)):
        return _EXIT_USAGE
    return _EXIT_SERVER


class _EachRefused(KestraError):
    """An input set the command line could not read (a bad --each line)."""


class _EachProgress(_LiveLine):
    """execute --each's progress on stderr: a live line on a terminal (done, failed,
    running... rate, ETA), redrawn as results come; elsewhere, nothing until the
    summary. Lines about failed results go above the live line."""

    def __init__(self, stream: Any, total: Optional[int], live: bool, quiet: bool) -> None:
        super().__init__(stream)
        self.total, self.live = total, live and not quiet
        self.started = time.monotonic()
        self.done = self.failed = 0

    def count(self, code: int) -> None:
        with self.lock:
            self.done += 1
            self.failed += code != 0
            if self.live:
                self._draw()

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        return "%d execution(s) ended, %d not SUCCESS, in %.1f s (%.1f/s)" % (
            self.done, self.failed, elapsed, self.done / elapsed if elapsed > 0 else 0.0)

    def _draw(self) -> None:
        import shutil

        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = "%d%s done, %d failed, %.1f/s" % (self.done, "/%d" % self.total if self.total is not None else "",
                                                 self.failed, rate)
        if self.total is not None and rate > 0:
            text += ", ETA %ds" % int((self.total - self.done) / rate)
        self.text = text[:max(10, shutil.get_terminal_size((80, 24)).columns - 1)]
        self._write("\r\x1b[K" + self.text)


def _run_execute(arguments: Any) -> int:
    _check_wait_options(arguments)
    inputs = _parsed_inputs(arguments.inputs)
    labels = _parsed_pairs(arguments.labels, "-l/--label")
    try:
        for name in inputs:
            _check_input_id(name)
        _label_values(labels, inputs if arguments.labels_from_inputs else None)
    except KestraError as exc:
        raise _UsageError(str(exc)) from None
    if arguments.each is not None:
        return _run_each(arguments, inputs, labels)
    if arguments.parallel is not None:
        raise _UsageError("--parallel goes with --each FILE.jsonl")
    flow = _command_flow(arguments)
    _check_flow_inputs(flow, arguments.namespace, arguments.flow, inputs)
    flow.wait_for_completion = False
    started = flow.execute(arguments.namespace, arguments.flow, inputs, labels=labels)
    execution = started.execution or {}
    url = started.url  # Flow.execute makes the server's /ui/... path a whole URL
    _say(arguments, "created execution %s of %s.%s: %s" % (started.execution_id, arguments.namespace,
                                                           arguments.flow, url))
    if not arguments.wait:
        if arguments.json:
            _write_json(_summary(execution, url, None, None))
        else:
            sys.stdout.write(started.execution_id + "\n")
            sys.stdout.flush()
        return 0
    return _wait_and_report(arguments, flow, started.execution_id, created=execution)


def _check_wait_options(arguments: Any) -> None:
    """Options that would do nothing are refused rather than ignored."""
    if not getattr(arguments, "wait", True):
        given = [flag for flag, value in (("--timeout", arguments.timeout is not None), ("--follow", arguments.follow),
                                          ("--logs", arguments.logs), ("--kill-on-timeout", arguments.kill_on_timeout),
                                          ("--until", arguments.until is not None))
                 if value]
        if given:
            raise _UsageError("%s: nothing to wait for with --no-wait; drop %s, or --no-wait"
                              % (", ".join(given), "it" if len(given) == 1 else "them"))
    if arguments.kill_on_timeout and arguments.timeout is None:
        raise _UsageError("--kill-on-timeout needs --timeout SECONDS")


def _run_wait(arguments: Any) -> int:
    _check_wait_options(arguments)
    return _wait_and_report(arguments, _command_flow(arguments), arguments.execution_id)


def _parsed_inputs(items: List[str]) -> Dict[str, Any]:
    """-i values: KEY=text, KEY=@PATH (a FILE input; @- is stdin), KEY:=JSON."""
    import pathlib

    inputs = {}  # type: Dict[str, Any]
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise _UsageError("-i/--input %r: expected KEY=VALUE, KEY=@PATH or KEY:=JSON" % item)
        if key.endswith(":"):
            key = key[:-1]
            parsed = _json_input(key, value)
        elif value == "@-":
            if any(isinstance(given, tuple) for given in inputs.values()):
                raise _UsageError("-i/--input %s=@-: stdin is already the file of another input; "
                                  "give this one a file with %s=@PATH" % (key, key))
            parsed = ("stdin", sys.stdin.buffer, "application/octet-stream")
        elif value.startswith("@"):
            path = value[1:]
            if not _readable_path(path):
                raise _UsageError("-i/--input %s: no file at %r (KEY=@PATH sends a file; for a text that begins "
                                  "with @, use %s:='\"%s\"')" % (key, path, key, value))
            parsed = pathlib.Path(path)
        else:
            parsed = value
        if key in inputs:
            raise _UsageError("-i/--input %s is given twice" % key)
        inputs[key] = parsed
    return inputs


def _json_input(key: str, text: str) -> Any:
    """The value of ``KEY:=JSON``: JSON that the server can take."""
    def refuse(what: str) -> Any:
        raise _UsageError("-i/--input %s: %s is not a value an input can take: %r" % (key, what, text))

    def number(digits: str) -> float:
        value = float(digits)
        return value if value not in (_INF, -_INF) else refuse("a number this large")

    try:
        parsed = json.loads(text, parse_constant=refuse, parse_float=number)
    except ValueError as exc:
        raise _UsageError("-i/--input %s: the value after := is not JSON (%s): %r" % (key, exc, text)) from None
    if parsed is None:
        raise _UsageError("-i/--input %s:=null: a null input is not sent (the flow's default applies); "
                          "leave -i %s out instead" % (key, key))
    return parsed


def _readable_path(path: str) -> bool:
    """A file, a named pipe or a process substitution (/dev/fd/N): not a folder."""
    return bool(path) and os.path.exists(path) and not os.path.isdir(path)


def _parsed_pairs(items: List[str], option: str) -> List[Tuple[str, str]]:
    pairs = []
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise _UsageError("%s %r: expected KEY=VALUE" % (option, item))
        pairs.append((key, value))
    return pairs


def _check_flow_inputs(flow: Flow, namespace: str, flow_id: str, inputs: Mapping[str, Any],
                       given_by: str = "-i") -> None:
    """Name an unknown flow or input in plain words before creating anything: the server
    ignores inputs the flow does not declare."""
    _require_name("namespace", namespace)
    _require_name("flow", flow_id)
    response = flow._request("GET", flow._api("flows", namespace, flow_id))
    if response.status_code == 404:
        raise _UsageError("flow %s.%s not found at %s (tenant %s): check the namespace, the flow id and --tenant"
                          % (namespace, flow_id, _shown_url(flow._root()), flow.tenant or "main"))
    if response.status_code == 401:
        flow._raise_for(response, "reading flow %s.%s" % (namespace, flow_id))
    if response.status_code != 200:
        return  # the create will say what is wrong (403: may create, not read flows)
    try:
        declared = response.json().get("inputs") or []
    except (InvalidResponseError, AttributeError):
        return
    if not isinstance(declared, list) or not all(isinstance(entry, dict) for entry in declared):
        return  # not the shape Kestra gives: no check rather than a wrong one
    names = [entry.get("id") or entry.get("name") for entry in declared]  # "name" before Kestra 0.15
    if not all(isinstance(name, str) for name in names):
        return
    for name, entry in zip(names, declared):
        if entry.get("type") != "FILE":
            continue
        value = inputs.get(name)
        if isinstance(value, str) and "://" not in value:
            raise _UsageError("input %s is a FILE: send one with -i %s=@%s (or give a kestra:/// URI)"
                              % (name, name, value or "PATH"))
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise _UsageError("flow %s.%s has no input %s (its inputs: %s): check %s"
                          % (namespace, flow_id, ", ".join(repr(name) for name in unknown),
                             ", ".join(sorted(names)) or "none", given_by))


def _wait_and_report(arguments: Any, flow: _CommandLineFlow, execution_id: str,
                     created: Optional[Dict[str, Any]] = None, after: Optional[FlowExecution] = None) -> int:
    """Wait with progress and optional log following, then print the result and
    return the exit code of its final state (0 for a state --until names).
    ``created``: the execution just created by this command, which the server may
    not have stored yet; ``after``: what an action on it (restart, resume) returned."""
    import threading

    until = arguments.until or []

    progress = _Progress(sys.stderr, execution_id, live=_is_terminal(sys.stderr), quiet=arguments.quiet)
    flow.progress = progress
    follower = None
    if arguments.follow:
        follower = threading.Thread(target=_follow_to_stderr, args=(_plain_copy(flow), execution_id, progress),
                                    name="kestra-follow", daemon=True)
        follower.start()
    try:
        if created is None:
            result = flow.wait(after or execution_id, timeout=arguments.timeout,
                               kill_on_timeout=arguments.kill_on_timeout, until=until)
        else:
            # replay has no namespace or flow argument: the execution's, or none
            url = flow._ui_url("executions", created.get("namespace") or getattr(arguments, "namespace", None) or "",
                               created.get("flowId") or getattr(arguments, "flow", None) or "", execution_id)
            goal = _Goal(until)
            ended = created if goal.reached(created) else flow._wait(execution_id, arguments.timeout,
                                                                    arguments.kill_on_timeout, url, goal)
            progress.close()
            try:
                result = flow._result(ended, url, goal)
            except KeyboardInterrupt:
                _say_on_stderr("kestra: interrupted; execution %s has ended %s" % (execution_id, _state(ended)))
                return _EXIT_INTERRUPTED
    except KeyboardInterrupt:
        progress.close()
        _say_on_stderr("kestra: stopped waiting; execution %s keeps running on the server" % execution_id)
        _say_on_stderr("kestra: to kill it: %s" % _command_text(arguments, "kill", execution_id))
        _say_on_stderr("kestra: to wait again: %s" % _command_text(arguments, "wait", execution_id))
        return _EXIT_INTERRUPTED
    except ExecutionTimeoutError as exc:
        progress.close()
        failure = str(exc).partition("the kill request failed: ")[2]
        if exc.killed:
            note = "a kill was requested (--kill-on-timeout)"
        else:
            note = "%s; kill it with: %s" % ("the kill request failed (%s)" % failure.rstrip(".") if failure
                                             else "it keeps running", _command_text(arguments, "kill", execution_id))
        _say_on_stderr("kestra: execution %s did not end within %g s (last state %s): %s"
                       % (execution_id, arguments.timeout, exc.state or "unknown", _one_line(note)))
        if arguments.json:
            seen = progress.execution or created or {}
            _write_data(dict(_summary(seen, None, None, str(exc)), id=execution_id, state=exc.state,
                             url=flow._ui_url("executions", seen.get("namespace") or "", seen.get("flowId") or "",
                                              execution_id) if seen.get("namespace") else None))
        return _EXIT_TIMEOUT
    finally:
        progress.close()
    if follower is not None:
        follower.join(timeout=max(30.0, flow.request_timeout))
    state = result.status or "UNKNOWN"
    if arguments.logs and result.log:
        sys.stderr.write(result.log if result.log.endswith("\n") else result.log + "\n")
        sys.stderr.flush()
    if result.error:  # on one line; Flow's text begins as this line does
        prefix = "execution %s ended %s" % (execution_id, state)
        error = _one_line(result.error)
        _say_on_stderr("kestra: %s%s" % (prefix, error[len(prefix):] if error.startswith(prefix) else ": " + error))
    else:
        _say(arguments, "execution %s %s %s: %s" % (execution_id, "ended" if state in _TERMINAL_STATES else "is",
                                                   state, result.url))
    if arguments.json:
        _write_data(_summary(result.execution or {}, result.url, result.outputs, result.error))
    else:
        _write_data(result.outputs if result.outputs is not None else {})
    return 0 if state in until else _EXIT_BY_STATE.get(state, _EXIT_OTHER_STATE)


def _write_data(document: Any) -> None:
    """_write_json for a command whose exit code says more than its output: a reader
    gone (`| head`) leaves the code as it is."""
    try:
        _write_json(document)
    except BrokenPipeError:
        _silence_stdout()


def _summary(execution: Dict[str, Any], url: Optional[str], outputs: Any, error: Optional[str]) -> Dict[str, Any]:
    return {"id": execution.get("id"), "namespace": execution.get("namespace"), "flow": execution.get("flowId"),
            "state": _state(execution), "url": url, "outputs": outputs, "error": error}


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _plain_copy(flow: _CommandLineFlow) -> Flow:
    """The same connection, without progress: for a second thread."""
    import copy

    twin = copy.copy(flow)
    twin.progress = None
    return twin


def _follow_to_stderr(flow: Flow, execution_id: str, progress: _Progress) -> None:
    try:
        for entry in flow.follow_logs(execution_id):
            progress.print_line(_log_text(entry))
    except KestraError as exc:
        progress.print_line("kestra: the log stream of execution %s failed: %s" % (execution_id, exc))


def _log_text(entry: Dict[str, Any]) -> str:
    """``<timestamp> <LEVEL> <message>``: the line the server's log download writes."""
    return _printable("%s %s %s" % (entry.get("timestamp"), entry.get("level"), entry.get("message")))


def _printable(text: str) -> str:
    """``text`` with a lone surrogate (JSON can escape one: "\\ud83d") shown as \\udXXXX,
    so that writing it to a UTF-8 stream cannot fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _command_text(arguments: Any, *words: str) -> str:
    """The exact command line that runs ``words`` the way this one was started."""
    import shlex

    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None and spec.name in ("kestra", "kestra.__main__"):
        parts = [sys.executable, "-m", "kestra"]
    else:
        parts = [sys.executable, sys.argv[0] if sys.argv and sys.argv[0] else "kestra.py"]
    if arguments.host:
        parts += ["--host", _shown_url(arguments.host.strip())]
    if arguments.user:
        parts += ["--user", arguments.user]
    if arguments.tenant:
        parts += ["--tenant", arguments.tenant]
    if arguments.ask_password:
        parts.append("--ask-password")
    return " ".join(shlex.quote(part) for part in parts + list(words))


def _run_status(arguments: Any) -> int:
    flow = _command_flow(arguments)
    execution = flow.get_execution(arguments.execution_id)
    url = flow._ui_url("executions", execution.get("namespace") or "", execution.get("flowId") or "",
                       arguments.execution_id)
    document = _summary(execution, url, None, None)
    del document["outputs"], document["error"]
    _write_json(document)
    return 0


def _run_outputs(arguments: Any) -> int:
    _write_json(_command_flow(arguments).outputs(arguments.execution_id))
    return 0


def _run_kill(arguments: Any) -> int:
    """Exit 0 when the execution is being killed, or had ended already: Kestra 1.3.25
    answers 202 to killing an ended execution, the 409 of others is taken the same way."""
    flow = _command_flow(arguments)
    state = _state(flow.get_execution(arguments.execution_id))
    if state not in _TERMINAL_STATES:
        try:
            flow.kill(arguments.execution_id)
            _say(arguments, "asked the server to kill execution %s" % arguments.execution_id)
            return 0
        except ConflictError:
            state = _state(flow.get_execution(arguments.execution_id))
            if state == "KILLING":
                _say(arguments, "execution %s is being killed already" % arguments.execution_id)
                return 0
            if state not in _TERMINAL_STATES:
                raise
    _say(arguments, "execution %s had already ended %s: nothing to kill" % (arguments.execution_id, state))
    return 0


# Command line: the rest of an execution's life ----------------------------------


def _report_action(arguments: Any, flow: _CommandLineFlow, done: FlowExecution, said: str,
                   created: bool = False) -> int:
    """After an action: say it, then wait (--wait) or print the execution's id (its
    JSON summary with --json)."""
    _say(arguments, "%s: %s" % (said, done.url))
    if getattr(arguments, "wait", False):
        if created:  # a new execution, which the server may not have stored yet
            return _wait_and_report(arguments, flow, done.execution_id, created=done.execution or {})
        return _wait_and_report(arguments, flow, done.execution_id, after=done)
    if getattr(arguments, "json", False):
        _write_data(_summary(done.execution or {}, done.url, None, None))
    else:
        _write_data_line(done.execution_id)
    return 0


def _write_data_line(text: str) -> None:
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _run_resume(arguments: Any) -> int:
    _check_wait_options(arguments)
    inputs = _parsed_inputs(arguments.inputs)
    flow = _command_flow(arguments)
    resumed = flow.resume(arguments.execution_id, inputs)
    return _report_action(arguments, flow, resumed, "resumed execution %s" % arguments.execution_id)


def _run_pause(arguments: Any) -> int:
    flow = _command_flow(arguments)
    paused = flow.pause(arguments.execution_id)
    return _report_action(arguments, flow, paused, "asked the server to pause execution %s (resume it with %s)"
                          % (arguments.execution_id, _command_text(arguments, "resume", arguments.execution_id)))


def _run_restart(arguments: Any) -> int:
    _check_wait_options(arguments)
    flow = _command_flow(arguments)
    restarted = flow.restart(arguments.execution_id, revision=arguments.revision)
    new = restarted.execution_id != arguments.execution_id  # 1.3 with --revision: a new execution
    return _report_action(arguments, flow, restarted, "restarted execution %s%s" % (
        arguments.execution_id, " as %s" % restarted.execution_id if new else ""), created=new)


def _run_replay(arguments: Any) -> int:
    _check_wait_options(arguments)
    inputs = _parsed_inputs(arguments.inputs)
    flow = _command_flow(arguments)
    replayed = flow.replay(arguments.execution_id, from_task=arguments.from_task, inputs=inputs or None,
                           revision=arguments.revision)
    return _report_action(arguments, flow, replayed, "replayed execution %s as %s"
                          % (arguments.execution_id, replayed.execution_id), created=True)


def _run_labels(arguments: Any) -> int:
    pairs = _parsed_pairs(arguments.labels, "KEY=VALUE")
    try:
        _settable_labels(pairs)  # refused here as a usage error, before connecting
    except KestraError as exc:
        raise _UsageError(str(exc)) from None
    flow = _command_flow(arguments)
    _write_data(flow.set_labels(arguments.execution_id, pairs, replace=arguments.replace))
    return 0


def _run_webhook(arguments: Any) -> int:
    _check_wait_options(arguments)
    key = arguments.key
    if key is None:
        key = os.environ.get("KESTRA_WEBHOOK_KEY", "")
        if not key.strip():
            raise _UsageError("the webhook key is missing: set KESTRA_WEBHOOK_KEY, give - to read it from stdin, "
                              "or give it after the flow id")
    elif key == "-":
        if arguments.data == "@-":
            raise _UsageError("stdin cannot hold both the key (-) and the body (--data @-): set KESTRA_WEBHOOK_KEY")
        key = sys.stdin.readline().strip()
        if not key:
            raise _UsageError("no webhook key on stdin (one line was expected)")
    body = None  # type: Any
    content_type = arguments.content_type
    data = arguments.data
    if data is not None:
        if data == "@-":
            body = sys.stdin.buffer
        elif data.startswith("@"):
            if not _readable_path(data[1:]):
                raise _UsageError("--data: no file at %r (@PATH sends a file)" % data[1:])
            import pathlib

            body = pathlib.Path(data[1:])
        else:
            body = data.encode("utf-8")
            try:
                json.loads(data)
                content_type = content_type or "application/json"
            except ValueError:
                content_type = content_type or "text/plain; charset=utf-8"
    if body is not None and arguments.method == "GET":
        raise _UsageError("--data: a GET carries no body; use -X POST or -X PUT")
    flow = _command_flow(arguments)
    fired = flow.webhook(arguments.namespace, arguments.flow, key, body, method=arguments.method,
                         content_type=content_type)
    if fired is None:
        _say(arguments, "the webhook of %s.%s created no execution (its conditions did not match)"
             % (arguments.namespace, arguments.flow))
        return 0
    return _report_action(arguments, flow, fired, "the webhook of %s.%s created execution %s"
                          % (arguments.namespace, arguments.flow, fired.execution_id), created=True)


def _run_delete(arguments: Any) -> int:
    flow = _command_flow(arguments)
    flow.delete_execution(arguments.execution_id, logs=not arguments.keep_logs, metrics=not arguments.keep_metrics,
                          files=not arguments.keep_files)
    _say(arguments, "deleted execution %s" % arguments.execution_id)
    return 0


def _run_search(arguments: Any) -> int:
    labels = _parsed_pairs(arguments.labels, "-l/--label")
    states = sorted({name for names in arguments.states or [] for name in names}) or None
    flow = _command_flow(arguments)
    try:
        found = flow.search_executions(arguments.namespace, arguments.flow, states=states, labels=labels or None,
                                       since=arguments.since, until=arguments.until,
                                       newest_first=arguments.newest_first)
    except KestraError as exc:
        raise _UsageError(str(exc)) from None
    table = not arguments.json
    count = 0
    now = time.time()
    for execution in found:
        if arguments.limit is not None and count >= arguments.limit:
            break
        if table and count == 0:
            sys.stdout.write("%-22s  %-11s  %-19s  %9s  %s\n" % ("ID", "STATE", "STARTED (UTC)", "DURATION", "FLOW"))
        sys.stdout.write(_printable(_search_row(execution, now)) if table else _json_line(execution))
        sys.stdout.flush()
        count += 1
    if count == 0:
        _say(arguments, "no execution matches")
    return 0


def _search_row(execution: Dict[str, Any], now: float) -> str:
    """One line of the search table, columns of fixed width: no need to read ahead."""
    state = execution.get("state")
    start, end = (state.get("startDate"), state.get("endDate")) if isinstance(state, dict) else (None, None)
    started, duration = "", ""
    try:
        if isinstance(start, str):
            began = _instant_seconds(start, "startDate")
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(began))
            finished = _instant_seconds(end, "endDate") if isinstance(end, str) else now
            duration = _duration_text(finished - began)
    except KestraError:
        started = str(start)[:19]
    return "%-22s  %-11s  %-19s  %9s  %s.%s\n" % (execution.get("id"), _state(execution) or "?", started, duration,
                                                 execution.get("namespace"), execution.get("flowId"))


def _duration_text(seconds: float) -> str:
    """3.2s, 4m05s, 2h03m, 3d04h."""
    if seconds < 60:
        return "%.1fs" % max(0.0, seconds)
    minutes, second = divmod(int(seconds), 60)
    if minutes < 60:
        return "%dm%02ds" % (minutes, second)
    hours, minute = divmod(minutes, 60)
    if hours < 24:
        return "%dh%02dm" % (hours, minute)
    return "%dd%02dh" % divmod(hours, 24)


def _run_logs(arguments: Any) -> int:
    flow = _command_flow(arguments)
    if arguments.follow:
        entries = flow.follow_logs(arguments.execution_id, arguments.min_level)  # type: Any
    else:
        response = flow._request("GET", flow._api("logs", arguments.execution_id),
                                 params=flow._log_level_params(arguments.min_level))
        what = "reading the logs of execution %s" % arguments.execution_id
        flow._raise_for(response, what)
        entries = response.json()
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise InvalidResponseError("%s: the answer is not Kestra's list of log entries%s" % (what, flow._server_said()))
    for entry in entries:
        sys.stdout.write(_json_line(entry) if arguments.json else _log_text(entry) + "\n")
        sys.stdout.flush()
    return 0


def _run_download(arguments: Any) -> int:
    flow = _command_flow(arguments)
    if arguments.output in (None, "-"):
        sys.stdout.flush()
        try:
            flow.download_file(arguments.execution_id, arguments.kestra_uri, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except KestraError as exc:
            if not isinstance(exc.__cause__, BrokenPipeError):
                raise
            _silence_stdout()  # `| head -c N`: the reader has all it wanted
    else:
        folder = os.path.dirname(os.path.abspath(arguments.output))
        if os.path.isdir(arguments.output):
            raise _UsageError("download: -o %r is a folder; give the path of the file to write" % arguments.output)
        if not os.path.isdir(folder):
            raise _UsageError("download: no folder %r to write %r in" % (folder, os.path.basename(arguments.output)))
        flow.download_file(arguments.execution_id, arguments.kestra_uri, arguments.output)
        _say(arguments, "wrote %s" % arguments.output)
    return 0


# Command line: Ion, flows, version -----------------------------------------------


def _run_read(arguments: Any) -> int:
    """The rows as JSON Lines, written in pieces of about 64 KiB."""
    if arguments.path != "-" and not _readable_path(arguments.path):
        raise _UsageError("read: %r is a folder" % arguments.path if os.path.isdir(arguments.path)
                          else "read: no file at %r" % arguments.path)
    source = sys.stdin.buffer if arguments.path == "-" else arguments.path
    sys.stdout.flush()
    out = sys.stdout.buffer
    pending = []  # type: List[str]
    size = 0
    try:
        for row in Kestra.iter_read(source, exact=arguments.exact):
            line = _json_line(row)
            pending.append(line)
            size += len(line)
            if size >= 1 << 16:
                out.write("".join(pending).encode("ascii"))
                pending, size = [], 0
    finally:  # the rows before an error are written: iter_read has read them
        out.write("".join(pending).encode("ascii"))
        out.flush()
    return 0


def _run_write(arguments: Any) -> int:
    """JSON Lines in, Ion out: each line's value as Kestra.write writes it, numbers with
    a fraction as Decimal (their digits kept) unless --floats."""
    import decimal

    if arguments.path != "-" and not _readable_path(arguments.path):
        raise _UsageError("write: %r is a folder" % arguments.path if os.path.isdir(arguments.path)
                          else "write: no file at %r" % arguments.path)
    to_stdout = arguments.output in (None, "-")
    if not to_stdout:
        folder = os.path.dirname(os.path.abspath(arguments.output))
        if os.path.isdir(arguments.output):
            raise _UsageError("write: -o %r is a folder; give the path of the file to write" % arguments.output)
        if not os.path.isdir(folder):
            raise _UsageError("write: no folder %r to write %r in" % (folder, os.path.basename(arguments.output)))
        if arguments.path != "-" and os.path.exists(arguments.output) and os.path.samefile(arguments.path,
                                                                                           arguments.output):
            raise _UsageError("write: -o %r is the file being read; give another path" % arguments.output)
    # Ints of any length (json's own stop at sys.get_int_max_str_digits(), 4,300 digits).
    decoder = json.JSONDecoder(parse_float=None if arguments.floats else decimal.Decimal,
                               parse_int=_digits_int, object_pairs_hook=_json_object)
    source = sys.stdin.buffer if arguments.path == "-" else open(arguments.path, "rb")
    try:
        if to_stdout:
            sys.stdout.flush()
        line = [0]
        rows = _json_lines(source, decoder, "stdout" if to_stdout else arguments.output, line)
        try:
            count = Kestra.write(sys.stdout.buffer if to_stdout else arguments.output, rows)
        except IonWriteError as exc:
            if to_stdout and isinstance(exc.__cause__, BrokenPipeError):
                _silence_stdout()  # `| head`: the reader has all it wanted
                return 0
            if exc.row is None:
                raise
            raise _UsageError("write: line %d: %s" % (line[0], exc)) from None
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if not to_stdout:
        _say(arguments, "wrote %d row%s to %s" % (count, "" if count == 1 else "s", arguments.output))
    return 0


def _json_lines(source: Any, decoder: Any, output: str, line: List[int]) -> Iterator[Any]:
    """The value of each line of a JSON Lines file but blank ones (``line[0]`` says which
    line the last value came from); a line that is not one JSON value stops it with an
    error naming the line (Kestra.write keeps the rows before it)."""
    rows = 0
    for number, data in enumerate(source, 1):
        if not data.strip():
            continue
        problem = None
        try:
            text = data.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            value, end = decoder.raw_decode(text, len(text) - len(text.lstrip()))
            if text[end:].strip():
                problem = "holds more than one JSON value"
        except UnicodeDecodeError as exc:
            problem = "is not UTF-8 text (%s)" % exc.reason
        except _DuplicateKey as exc:
            problem = "has %s" % exc
        except ValueError as exc:
            problem = "is not JSON: %s (column %d)" % (getattr(exc, "msg", exc), getattr(exc, "colno", 0))
        if problem is not None:
            raise _UsageError("write: line %d %s; %s holds %s" % (number, problem, output, _rows_before(rows)))
        line[0] = number
        rows += 1
        yield value


def _json_object(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen = set()  # type: Set[str]
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey("the key %r twice in one object (one value would be lost)" % key)
            seen.add(key)
    return value


class _DuplicateKey(ValueError):
    pass


def _run_deploy(arguments: Any) -> int:
    """A line per flow; exit 1 when a flow was refused or unreadable, 7 when the server
    failed on one (the others are still tried), 0 otherwise."""
    paths = _flow_files(arguments.paths)
    flow = _command_flow(arguments)
    exit_code = 0
    for path in paths:
        report = {"file": path, "namespace": None, "id": None, "result": "failed", "revision": None,
                  "message": None}  # type: Dict[str, Any]
        try:
            with open(path, encoding="utf-8-sig") as file:  # -sig: a byte order mark is no part of the flow
                source = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            report["message"] = "cannot read the file: %s" % exc
            exit_code = max(exit_code, _EXIT_FAILED)
        else:
            report["namespace"], report["id"] = _flow_identity(source)
            try:
                _deploy_one(flow, report, source, arguments.dry_run)
            except AuthenticationError:
                raise  # the same for every flow: said once (a 403 may be this namespace's only)
            except FailedExponentialBackoff as exc:
                if exc.status_code is None:
                    raise  # unreachable: the same for every flow
                report["message"], exit_code = str(exc), _EXIT_SERVER
            except KestraError as exc:
                report["message"], exit_code = str(exc), _EXIT_SERVER
            if report["result"] in _DEPLOY_FAILURES:
                exit_code = max(exit_code, _EXIT_FAILED)
        if arguments.json:
            _write_json(report)
        if report["result"] in _DEPLOY_FAILURES:
            _say_on_stderr("kestra: %s %s: %s" % (report["result"], path, _one_line(report["message"] or "")))
        else:
            what = "%s.%s" % (report["namespace"], report["id"]) if report["id"] else "the flow"
            revision = ", revision %s" % report["revision"] if report["revision"] is not None else ""
            _say(arguments, "%s %s (%s)%s" % (report["result"], what, path, revision))
    return exit_code


_DEPLOY_FAILURES = ("failed", "invalid")


def _flow_files(paths: List[str]) -> List[str]:
    """The YAML files named, and those found in the folders named (sorted)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            here = []
            for folder, folders, names in os.walk(path):
                folders[:] = [name for name in folders if not name.startswith(".")]  # .git, .github: not flows
                here += [(folder, name) for name in names
                         if name.endswith((".yml", ".yaml")) and not name.startswith(".")]
            found += [os.path.join(folder, name) for folder, name in sorted(here)]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise _UsageError("deploy: no file or folder at %r" % path)
    if not found:
        raise _UsageError("deploy: no *.yml or *.yaml file in %s" % ", ".join(paths))
    return found


def _flow_identity(source: str) -> Tuple[Optional[str], Optional[str]]:
    """(namespace, id) from a flow's top-level ``namespace:`` and ``id:`` lines, or
    (None, None) when they are not plain, single values."""
    import re

    found = []
    for key in ("namespace", "id"):
        matches = re.findall(_FLOW_ID_LINE % key, source, re.M)
        found.append(matches[0][1] if len(matches) == 1 else None)
    return (found[0], found[1]) if all(found) else (None, None)


_YAML_HEADERS = [("Content-Type", "application/x-yaml")]


def _deploy_one(flow: Flow, report: Dict[str, Any], source: str, dry_run: bool) -> None:
    """Create, update or validate one flow, filling in its ``report`` (file, namespace
    and id given; result: created, updated, unchanged, valid, invalid or failed;
    revision; message). A server error is raised, the report left failed."""
    path, namespace, flow_id = report["file"], report["namespace"], report["id"]
    if dry_run:
        problems = _validation_problems(flow, path, source)
        report.update(result="invalid" if problems else "valid", message="; ".join(problems) or None)
        return
    stored = _stored_flow(flow, namespace, flow_id) if namespace is not None and flow_id is not None else None
    if stored is not None and stored.get("source") == source:
        report.update(result="unchanged", revision=stored.get("revision"))
        return
    body = source.encode("utf-8")
    exists = stored is not None
    if not exists:
        response = flow._request("POST", flow._api("flows"), headers=_YAML_HEADERS, body=body)
        exists = (response.status_code in (409, 422) and flow_id is not None
                  and "already exists" in (_server_message(response) or ""))  # created meanwhile: update it
    if exists:
        assert namespace is not None and flow_id is not None  # exists only for a flow with both
        response = flow._request("PUT", flow._api("flows", namespace, flow_id), headers=_YAML_HEADERS, body=body)
    if response.status_code in (400, 404, 409, 422):
        report["message"] = "the server refused it (%d): %s" % (response.status_code,
                                                                _server_message(response) or response.reason)
        return
    flow._raise_for(response, "saving %s" % path)
    saved = response.json()
    report["result"] = "updated" if exists else "created"
    if isinstance(saved, dict):
        report.update(namespace=saved.get("namespace", namespace), id=saved.get("id", flow_id),
                      revision=saved.get("revision"))


def _validation_problems(flow: Flow, path: str, source: str) -> List[str]:
    """What the server's validation says is wrong with a flow (nothing: valid)."""
    response = flow._request("POST", flow._api("flows", "validate"), headers=_YAML_HEADERS, body=source.encode("utf-8"))
    flow._raise_for(response, "validating %s" % path)
    answer = response.json()
    if not isinstance(answer, list) or not all(isinstance(entry, dict) for entry in answer):
        raise InvalidResponseError("validating %s: the answer is not Kestra's list of results%s"
                                   % (path, flow._server_said()))
    return [str(entry["constraints"]) for entry in answer if entry.get("constraints")]


def _stored_flow(flow: Flow, namespace: str, flow_id: str) -> Optional[Dict[str, Any]]:
    """The flow as the server has it, with its source; None when it has none."""
    response = flow._request("GET", flow._api("flows", namespace, flow_id), params=[("source", "true")])
    if response.status_code == 404:
        return None
    what = "reading flow %s.%s" % (namespace, flow_id)
    flow._raise_for(response, what)
    stored = response.json()
    if not isinstance(stored, dict):
        raise InvalidResponseError("%s: the answer is %s, where Kestra's API has an object%s"
                                   % (what, _json_kind(stored), flow._server_said()))
    return stored


# Command line: a namespace's state -------------------------------------------------


def _usage_checked(check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, its KestraError a usage error: a bad key, value or path is the caller's."""
    try:
        return check(*args)
    except KestraError as exc:
        raise _UsageError(str(exc)) from None


def _run_kv_get(arguments: Any) -> int:
    _usage_checked(_check_kv_key, arguments.namespace, arguments.key)
    flow = _command_flow(arguments)
    try:
        entry = flow.kv_entry(arguments.namespace, arguments.key, exact=arguments.exact)
    except KVKeyNotFoundError as exc:
        _say_on_stderr("kestra: " + _one_line(str(exc)))
        return _EXIT_FAILED
    value = entry["value"]
    if arguments.json:
        _write_data_line(_kv_json(entry))
    else:
        _write_data_line(value if isinstance(value, str) else _kv_json(value))
    return 0


def _run_kv_set(arguments: Any) -> int:
    values = _kv_assignments(arguments.assignments, arguments.type)
    for _, value in values:
        _usage_checked(_kv_text, value)  # each value refused before any is sent
    ttl = _usage_checked(_kv_ttl, arguments.ttl) if arguments.ttl is not None else None
    if arguments.description is not None:
        _usage_checked(_kv_description, arguments.description)
    flow = _command_flow(arguments)
    for key, value in values:
        flow.kv_set(arguments.namespace, key, value, ttl=ttl, description=arguments.description)
        _say(arguments, "set %s in namespace %s" % (key, arguments.namespace))
    return 0


def _kv_assignments(items: List[str], kind: Optional[str]) -> List[Tuple[str, Any]]:
    """KEY=TEXT (read as --type), KEY:=JSON, KEY=@FILE (the file's text; @- is stdin)."""
    found = []  # type: List[Tuple[str, Any]]
    for item in items:
        key, equals, text = item.partition("=")
        typed = key.endswith(":")
        key = key[:-1] if typed else key
        if not equals or not key:
            raise _UsageError("kv set %r: expected KEY=TEXT, KEY:=JSON or KEY=@FILE" % item)
        _usage_checked(_check_kv_key, "namespace", key)
        if any(key == seen for seen, _ in found):
            raise _UsageError("kv set: %s is given twice" % key)
        if typed:
            value = _kv_json_argument(key, text, _kv_shown(text))
        elif text.startswith("@"):
            # A file's text is never repeated in an error: it may hold a secret.
            value = _kv_typed(key, _kv_file_text(key, text[1:]), kind or "string", "the text of %s" % text[1:])
        else:
            value = _kv_typed(key, text, kind or "string", _kv_shown(text))
        found.append((key, value))
    return found


def _kv_shown(text: str) -> str:
    """A value given on the command line, as an error shows it: short ones whole."""
    return repr(text) if len(text) <= 40 else "the value (%d characters)" % len(text)


def _kv_json_argument(key: str, text: str, shown: str) -> Any:
    import decimal

    def refuse(word: str) -> Any:
        raise _UsageError("kv set %s: %s is not a value Kestra's store keeps (it would be text)" % (key, word))

    try:
        return json.loads(text, parse_float=decimal.Decimal, parse_constant=refuse)
    except ValueError as exc:
        raise _UsageError("kv set %s: %s is not JSON (%s)" % (key, shown, exc)) from None


def _kv_file_text(key: str, path: str) -> str:
    try:
        if path == "-":
            data = sys.stdin.buffer.read()  # type: bytes
        else:
            with open(path, "rb") as file:
                data = file.read()
        return data.decode("utf-8")
    except OSError as exc:
        raise _UsageError("kv set %s=@%s: cannot read the file: %s (for a text that begins with @, use "
                          "%s:='\"@...\"')" % (key, path, exc.strerror or exc, key)) from None
    except UnicodeDecodeError as exc:
        raise _UsageError("kv set %s=@%s: the file is not UTF-8 text (%s); the store keeps text, not bytes"
                          % (key, path, exc.reason)) from None


def _kv_typed(key: str, text: str, kind: str, shown: str) -> Any:
    """TEXT read as --type says; ``shown`` names it in an error."""
    import datetime
    import decimal

    try:
        if kind == "string":
            return text
        if kind == "json":
            return _kv_json_argument(key, text, shown)
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "number":
            stripped = text.strip()
            if stripped.lstrip("+-").isdigit() and stripped.isascii():
                return _digits_int(stripped)
            number = decimal.Decimal(stripped)
            if number.is_finite():
                return number
        if kind == "datetime":
            return _kv_datetime(text.strip())
        if kind == "date":
            return datetime.date.fromisoformat(text.strip())
        if kind == "duration":
            return _java_duration(text, "kv set %s" % key)
    except _UsageError:
        raise  # from the JSON reading: it says where the JSON is wrong
    except (ValueError, ArithmeticError, KestraError):
        pass
    examples = {"boolean": "true or false", "number": "42 or 12.50", "datetime": "2024-04-21T10:00:00.123Z, or "
                "2024-04-21T10:00:00 (no zone)", "date": "2024-04-21", "duration": "PT5M or P1DT2H"}
    raise _UsageError("kv set %s: %s is not a %s (for example %s)" % (key, shown, kind, examples.get(kind, "")))


def _kv_json(value: Any) -> str:
    """A value as JSON text: Decimals as numbers with their exact digits, dates and
    times as ISO-8601 text, durations as ISO-8601 durations; ASCII."""
    import datetime
    import decimal

    if isinstance(value, dict):
        return "{" + ", ".join(json.dumps(str(key)) + ": " + _kv_json(item) for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_kv_json(item) for item in value) + "]"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return json.dumps(_java_duration_text(value))
    return _json_line(value)[:-1]


def _run_kv_ls(arguments: Any) -> int:
    _usage_checked(_require_name, "namespace", arguments.namespace)
    flow = _command_flow(arguments)
    keys = flow.kv_list(arguments.namespace)
    for number, entry in enumerate(keys):
        if arguments.json:
            _write_data_line(_json_line(entry)[:-1])
            continue
        if number == 0:
            _write_data_line("%-30s  %-8s  %-24s  %s" % ("KEY", "TYPE", "EXPIRES (UTC)", "DESCRIPTION"))
        _write_data_line(_printable("%-30s  %-8s  %-24s  %s" % (entry["key"], entry["type"], entry["expires"] or "-",
                                                                entry["description"] or "")).rstrip())
    if not keys:
        _say(arguments, "namespace %s has no key" % arguments.namespace)
    return 0


def _run_kv_rm(arguments: Any) -> int:
    _usage_checked(_check_kv_key, arguments.namespace, arguments.key)
    flow = _command_flow(arguments)
    if not flow.kv_delete(arguments.namespace, arguments.key):
        _say_on_stderr("kestra: namespace %s has no key %s" % (arguments.namespace, arguments.key))
        return _EXIT_FAILED
    _say(arguments, "deleted %s from namespace %s" % (arguments.key, arguments.namespace))
    return 0


class _FilesProgress(_LiveLine):
    """A push's or pull's progress on stderr: a live line on a terminal; elsewhere a
    line every ten seconds. Nothing for fewer than _FILES_SHOWN files, or with --quiet."""

    def __init__(self, stream: Any, quiet: bool) -> None:
        super().__init__(stream)
        self.quiet = quiet
        self.live = _is_terminal(stream)
        self.last = time.monotonic()
        self.started = self.last

    def update(self, done: str, number: int, total: int, path: str) -> None:
        if self.quiet or total < _FILES_SHOWN:
            return
        now = time.monotonic()
        line = "%s %d/%d files (%s)" % (done, number, total, _duration_text(now - self.started))
        with self.lock:
            if self.live:
                self.text = line
                self._draw()
            elif now - self.last >= 10 or number == total:
                self.last = now
                self._write("kestra: " + line + "\n")

    def _draw(self) -> None:
        import shutil

        self.text = self.text[:max(10, shutil.get_terminal_size((80, 24)).columns - 1)]
        self._write("\r\x1b[K" + self.text)


_FILES_SHOWN = 10  # files from which a push or pull shows its progress


def _files_flow(arguments: Any) -> Tuple[_CommandLineFlow, _FilesProgress]:
    flow = _command_flow(arguments)
    flow.files_progress = progress = _FilesProgress(sys.stderr, arguments.quiet)
    return flow, progress


def _run_nsfiles_push(arguments: Any) -> int:
    source, namespace = arguments.local_dir, arguments.namespace
    _usage_checked(_require_name, "namespace", namespace)
    planned = []  # type: List[Tuple[str, str]]
    if os.path.isfile(source):
        if arguments.delete:
            raise _UsageError("nsfiles push --delete: %s is a file; --delete syncs a folder" % source)
        planned = _usage_checked(_local_files, source, arguments.to)
    else:
        _usage_checked(_local_files, source, arguments.to or "/", True)
    flow, progress = _files_flow(arguments)
    try:
        if os.path.isfile(source):
            if arguments.dry_run:
                report = {"uploaded": [planned[0][1]], "unchanged": [],
                          "deleted": [], "failed": []}  # type: Dict[str, Any]
            else:
                report = {"uploaded": flow.upload_files(namespace, source, arguments.to), "unchanged": [],
                          "deleted": [], "failed": []}
            report.update(namespace=namespace, to=report["uploaded"][0], dry_run=arguments.dry_run)
        else:
            report = flow.sync_files(namespace, source, arguments.to or "/", delete=arguments.delete,
                                     dry_run=arguments.dry_run)
    except SyncError as exc:
        report = exc.report
    finally:
        progress.close()
    _report_sync(arguments, report)
    return _EXIT_SERVER if report["failed"] else 0


def _report_sync(arguments: Any, report: Dict[str, Any]) -> None:
    for failure in report["failed"]:
        _say_on_stderr("kestra: failed to %s %s: %s" % (failure["action"], failure["path"],
                                                         _one_line(failure["message"])))
    if arguments.json:
        _write_data_line(_json_line(report)[:-1])
    else:
        would = "would " if report["dry_run"] else ""
        for path in report["uploaded"]:
            _say(arguments, "%supload %s" % (would, path))
        for path in report["deleted"]:
            _say(arguments, "%sdelete %s" % (would, path))
    _say(arguments, "%s%d uploaded, %d unchanged, %d deleted, %d failed (namespace %s, %s)" % (
        "dry run: " if report["dry_run"] else "", len(report["uploaded"]), len(report["unchanged"]),
        len(report["deleted"]), len(report["failed"]), report["namespace"], report["to"]))


def _run_nsfiles_pull(arguments: Any) -> int:
    path = _usage_checked(_ns_path, arguments.path, False)
    _usage_checked(_require_name, "namespace", arguments.namespace)
    flow, progress = _files_flow(arguments)
    try:
        stats = flow._file_stats(arguments.namespace, path)
        if stats is None:
            _say_on_stderr("kestra: namespace %s has no file or folder %s" % (arguments.namespace, path))
            return _EXIT_FAILED
        destination = arguments.local_dir
        if stats.get("type") != "Directory":
            os.makedirs(destination, exist_ok=True)
            destination = os.path.join(destination, path.rsplit("/", 1)[-1])
        written = flow.download_files(arguments.namespace, path, destination)
    finally:
        progress.close()
    if arguments.json:
        for local in written:
            _write_data_line(_json_line({"file": local})[:-1])
    _say(arguments, "%d file(s) from %s of namespace %s into %s" % (len(written), path, arguments.namespace,
                                                                      arguments.local_dir))
    return 0


def _run_nsfiles_ls(arguments: Any) -> int:
    path = _usage_checked(_ns_path, arguments.path, False)
    _usage_checked(_require_name, "namespace", arguments.namespace)
    flow = _command_flow(arguments)
    if flow._file_stats(arguments.namespace, path) is None:
        _say_on_stderr("kestra: namespace %s has no file or folder %s" % (arguments.namespace, path))
        return _EXIT_FAILED
    for entry in flow.list_files(arguments.namespace, path, recursive=not arguments.one_level):
        if arguments.json:
            _write_data_line(_json_line(entry)[:-1])
        elif entry["type"] == "Directory":
            _write_data_line(_printable(entry["path"] + "/"))
        else:
            _write_data_line(_printable("%s\t%s" % (entry["path"], entry["size"])))
    return 0


def _run_nsfiles_rm(arguments: Any) -> int:
    path = _usage_checked(_ns_path, arguments.path, False)
    _usage_checked(_require_name, "namespace", arguments.namespace)
    if path == "/":
        raise _UsageError("nsfiles rm: name a file or folder under the namespace's root, not / itself")
    flow = _command_flow(arguments)
    if not flow.delete_file(arguments.namespace, path):
        _say_on_stderr("kestra: namespace %s has no file or folder %s" % (arguments.namespace, path))
        return _EXIT_FAILED
    _say(arguments, "deleted %s from namespace %s" % (path, arguments.namespace))
    return 0


def _run_flows_ls(arguments: Any) -> int:
    _usage_checked(_require_name, "namespace", arguments.namespace)
    flow = _command_flow(arguments)
    flows = flow.list_flows(arguments.namespace)
    for number, found in enumerate(flows):
        if arguments.json:
            _write_data_line(_json_line(found)[:-1])
            continue
        if number == 0:
            _write_data_line("%-40s  %8s  %s" % ("FLOW", "REVISION", "STATE"))
        _write_data_line(_printable("%-40s  %8s  %s" % (found.get("id"), found.get("revision"),
                                                        "disabled" if found.get("disabled") else "enabled")))
    if not flows:
        _say(arguments, "namespace %s has no flow" % arguments.namespace)
    return 0


def _run_flows_get(arguments: Any) -> int:
    flow = _command_flow(arguments)
    try:
        source = flow.get_flow_source(arguments.namespace, arguments.flow)
    except NotFoundError as exc:
        _say_on_stderr("kestra: " + _one_line(str(exc)))
        return _EXIT_FAILED
    try:
        sys.stdout.write(source if source.endswith("\n") else source + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return 0


def _run_flows_rm(arguments: Any) -> int:
    flow = _command_flow(arguments)
    if not flow.delete_flow(arguments.namespace, arguments.flow):
        _say_on_stderr("kestra: namespace %s has no flow %s" % (arguments.namespace, arguments.flow))
        return _EXIT_FAILED
    _say(arguments, "deleted flow %s.%s" % (arguments.namespace, arguments.flow))
    return 0


def _run_version(arguments: Any) -> int:
    document = {"client": __version__, "server": None, "edition": None}  # type: Dict[str, Any]
    flow = _command_flow(arguments)  # a wrong --host or KESTRA_HOSTNAME is a usage error
    try:
        response = flow._request("GET", flow._root() + "/api/v1/configs", auth=False, attempts=1)
        answer = response.json() if response.status_code == 200 else None
        if isinstance(answer, dict):
            document["server"], document["edition"] = answer.get("version"), answer.get("edition")
        else:
            _say(arguments, "the server at %s did not say its version (%d)" % (_shown_host(arguments), response.status_code))
    except KestraError as exc:
        _say(arguments, "no answer from %s: %s" % (_shown_host(arguments), exc))
    _write_json(document)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
