"""Inside one program's process: run an untrusted `def solve(grid)` on each grid and build the answer.

The zygote (`sandbox.zygote`) forks a fresh process per program, confines it, and calls
`run_request` there; this module holds what that process does with the program and the frames
the sandbox speaks: a 4-byte length, then a body. A request is all binary (`pack_request`: call
id, timeout, grid count, the grids' shapes, the source, the grids as raw int8 bytes); so is an
answer (the call id, then `pack_answer`: per grid its shape or its error, the printed text, the
output grids' raw bytes). Only the zygote's hello is JSON (`pack_hello`). Never pickle: nothing a
program does can run code in the zygote or the pool. The prefixes let the zygote pass a request to
the program's process and its answer back as bytes it never parses. Binary frames and raw grids
spare the program's process a JSON codec and a Python object per cell: every object a zygote's
child touches is a page copied from the zygote.

Inside the program's process:
- interval timers (ITIMER_REAL for wall time, ITIMER_PROF for CPU time) raise `ProgramTimeout`, a
  BaseException, inside the program, so ordinary loops end with a classified error;
- stdout and stderr are captured and bounded: printing past the bound stops the program;
- the return value is checked into a JSON grid (2-D, sides 1-30, colours 0-9) here, so that only
  plain lists of ints leave the process.
"""

from __future__ import annotations

import builtins
import json
import os
import signal
import struct
import sys
import traceback
from typing import Any

FRAME_HEADER = struct.Struct(">I")
REQUEST_PREFIX = struct.Struct(">QdI")
"""Before a request's JSON: call id, timeout in seconds, number of grids."""
ANSWER_PREFIX = struct.Struct(">Q")
"""Before an answer's JSON: the call id it answers (HELLO_ID for the zygote's hello)."""
HELLO_ID = (1 << 64) - 1
MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""Bounded answer size: a program's process that sends more has crashed, as far as anyone cares."""
MAX_MESSAGE_CHARS = 600
MAX_SIDE = 30
STDOUT_KEPT_CHARS = 4096
CHILD_GRACE_S = 0.5
"""How long past its timeout a program's process may run (its timers fire first) before the zygote
kills it."""


class ProgramTimeout(BaseException):
    """Raised inside a program by the interval timers; a BaseException so `except Exception` misses it."""


class OutputLimitError(Exception):
    pass


class BoundedOutput:
    """sys.stdout / sys.stderr for programs: keeps the first bytes, stops the program past the bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
        self.size += len(text)
        if self.size > self.limit:
            raise OutputLimitError(f"printed more than {self.limit} characters")
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def take(self) -> tuple[str, int]:
        text, size = "".join(self.parts), self.size
        self.parts, self.size = [], 0
        return text, size


def read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_raw_frame(fd: int, limit: int = MAX_REQUEST_BYTES) -> bytes | None:
    """One frame's body, or None at EOF or past `limit`."""
    header = read_exact(fd, FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > limit:
        return None
    return read_exact(fd, size)


def write_raw_frame(fd: int, *parts: bytes | memoryview) -> None:
    view = memoryview(b"".join((FRAME_HEADER.pack(sum(len(p) for p in parts)), *parts)))
    while view:
        written = os.write(fd, view)
        view = view[written:]


_REQUEST_SHAPE = struct.Struct(">HH")
_SOURCE_LENGTH = struct.Struct(">I")
_ANSWER_COUNT = struct.Struct(">H")
_ANSWER_SHAPE = struct.Struct(">BBB")
_ANSWER_TEXT = struct.Struct(">BB")
_MESSAGE_LENGTH = struct.Struct(">H")
_STDOUT_HEADER = struct.Struct(">II")


def pack_request(call_id: int, timeout: float, source: str, grids: Any, np: Any) -> bytes:
    """A request body: `REQUEST_PREFIX` (call id, timeout, grid count), each grid's rows and
    columns, the source's UTF-8 length and bytes, then the grids' int8 bytes."""
    shapes, blob = pack_grids(grids, np)
    encoded = source.encode("utf-8", "surrogatepass")  # a model may write lone surrogates
    parts = [REQUEST_PREFIX.pack(call_id, timeout, len(shapes))]
    parts += [_REQUEST_SHAPE.pack(rows, cols) for rows, cols in shapes]
    parts += [_SOURCE_LENGTH.pack(len(encoded)), encoded, blob]
    return b"".join(parts)


def unpack_request(request: bytes | memoryview, np: Any) -> tuple[float, str, list[Any]]:
    """(timeout, source, grids) of a `pack_request` body; ValueError when it is not one."""
    view = memoryview(request)
    try:
        (_, timeout, count) = REQUEST_PREFIX.unpack_from(view)
        offset = REQUEST_PREFIX.size
        shapes = [_REQUEST_SHAPE.unpack_from(view, offset + k * _REQUEST_SHAPE.size) for k in range(count)]
        offset += count * _REQUEST_SHAPE.size
        (length,) = _SOURCE_LENGTH.unpack_from(view, offset)
    except struct.error as exc:
        raise ValueError(f"a malformed request: {exc}") from None
    offset += _SOURCE_LENGTH.size
    if offset + length > len(view):
        raise ValueError("a request shorter than its source")
    source = bytes(view[offset : offset + length]).decode("utf-8", "surrogatepass")
    return timeout, source, unpack_grids(shapes, view[offset + length :], np)


def pack_hello(value: dict[str, Any]) -> bytes:
    """The zygote's hello body (after its prefix): JSON, the one frame that is not binary."""
    return json.dumps(value, separators=(",", ":")).encode()


def pack_answer(
    results: list[dict[str, Any]], stdout: str = "", stdout_chars: int = 0, blob: bytes = b""
) -> bytes:
    """A program's answer body, all binary (no JSON encoder runs in the program's process): the
    result count, per grid `{"shape": [rows, cols]}` (tag 0, rows, cols) or `{"error": {"kind",
    "message"}}` (tag 1, kind and message as length-prefixed UTF-8), the printed character count and
    the kept text, then the output grids' int8 bytes."""
    parts = [_ANSWER_COUNT.pack(len(results))]
    for result in results:
        shape = result.get("shape")
        if shape is not None:
            parts.append(_ANSWER_SHAPE.pack(0, *shape))
            continue
        problem = result.get("error") or {}
        kind = str(problem.get("kind", "runtime")).encode("ascii", "replace")[:255]
        message = str(problem.get("message", "")).encode("utf-8", "surrogatepass")[:65535]
        parts += [_ANSWER_TEXT.pack(1, len(kind)), kind, _MESSAGE_LENGTH.pack(len(message)), message]
    text = stdout.encode("utf-8", "surrogatepass")
    parts += [_STDOUT_HEADER.pack(stdout_chars, len(text)), text, blob]
    return b"".join(parts)


def unpack_answer(data: bytes | memoryview) -> tuple[dict[str, Any], memoryview]:
    """(header, grid bytes) of a `pack_answer` body, the header as `{"results": [...], "stdout",
    "stdout_chars"}`; ValueError when the bytes are not one (a program's process may forge them)."""
    view = memoryview(data)
    try:
        (count,) = _ANSWER_COUNT.unpack_from(view)
        offset = _ANSWER_COUNT.size
        results: list[dict[str, Any]] = []
        for _ in range(count):
            tag = view[offset]
            if tag == 0:
                (_, rows, cols) = _ANSWER_SHAPE.unpack_from(view, offset)
                results.append({"shape": [rows, cols]})
                offset += _ANSWER_SHAPE.size
                continue
            if tag != 1:
                raise ValueError(f"an answer with result tag {tag}")
            (_, length) = _ANSWER_TEXT.unpack_from(view, offset)
            offset += _ANSWER_TEXT.size
            kind = _text_at(view, offset, length)
            offset += length
            (length,) = _MESSAGE_LENGTH.unpack_from(view, offset)
            offset += _MESSAGE_LENGTH.size
            results.append({"error": {"kind": kind, "message": _text_at(view, offset, length)}})
            offset += length
        stdout_chars, length = _STDOUT_HEADER.unpack_from(view, offset)
        offset += _STDOUT_HEADER.size
        stdout = _text_at(view, offset, length)
    except (struct.error, IndexError) as exc:
        raise ValueError(f"a malformed answer: {exc}") from None
    return {"results": results, "stdout": stdout, "stdout_chars": stdout_chars}, view[offset + length :]


def _text_at(view: memoryview, offset: int, length: int) -> str:
    if offset + length > len(view):
        raise ValueError("an answer shorter than its text")
    return bytes(view[offset : offset + length]).decode("utf-8", "replace")


def unpack_hello(data: bytes | memoryview) -> Any:
    """A hello body's value; ValueError when it is not JSON."""
    return json.loads(bytes(data))


def pack_grids(grids: Any, np: Any) -> tuple[list[list[int]], bytes]:
    """Shapes and int8 bytes (C order, one after another) of 2-D grids."""
    arrays = [np.ascontiguousarray(g, dtype=np.int8) for g in grids]
    for index, array in enumerate(arrays):
        if array.ndim != 2:
            raise ValueError(f"grid {index} has shape {array.shape}, not rows x columns")
    return [list(a.shape) for a in arrays], b"".join(a.tobytes() for a in arrays)


def unpack_grids(shapes: Any, blob: memoryview, np: Any) -> list[Any]:
    """The grids `pack_grids` made, as writable int8 arrays; ValueError on a mismatch."""
    grids, offset = [], 0
    for shape in shapes:
        rows, cols = (int(v) for v in shape)
        size = rows * cols
        if rows < 0 or cols < 0 or offset + size > len(blob):
            raise ValueError("grid bytes do not match their shapes")
        grids.append(np.frombuffer(blob, dtype=np.int8, count=size, offset=offset).reshape(rows, cols).copy())
        offset += size
    return grids


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def describe(exc: BaseException) -> str:
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return _short(detail or type(exc).__name__)


def error(kind: str, message: str) -> dict[str, Any]:
    return {"output": None, "error": {"kind": kind, "message": message}}


def check_output(value: Any, np: Any) -> tuple[Any, str | None]:
    """The program's return value as an int8 grid, or why it is not a valid grid."""
    if type(value) is np.ndarray and value.ndim == 2 and value.dtype.kind in "iu":
        # The usual answer goes straight to the range check: none of numpy's Python helpers run,
        # whose objects each cost the program's process a copied page.
        array, problem = value, _side_problem(value.shape)
    else:
        array, problem = _numeric_grid(value, np)
    if problem is not None:
        return None, problem
    low, high = np.minimum.reduce(array, axis=None), np.maximum.reduce(array, axis=None)
    if low < 0 or high > 9:
        return None, f"solve returned colours {int(low)}..{int(high)}; colours are 0-9"
    return np.ascontiguousarray(array, dtype=np.int8), None


def _side_problem(shape: tuple[int, ...]) -> str | None:
    if not (1 <= shape[0] <= MAX_SIDE and 1 <= shape[1] <= MAX_SIDE):
        return f"solve returned a {shape[0]}x{shape[1]} grid; sides must be 1-{MAX_SIDE}"
    return None


def _numeric_grid(value: Any, np: Any) -> tuple[Any, str | None]:
    """Any other return value as a 2-D array of integral numbers, or why it is not one."""
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        return None, f"solve returned {type(value).__name__}, not a grid"
    try:
        shape = np.shape(value)
    except Exception:
        return None, "solve returned a ragged sequence, not a rectangular grid"
    if len(shape) != 2:
        return None, f"solve returned an object of shape {shape}, not a 2-D grid"
    problem = _side_problem(shape)
    if problem is not None:
        return None, problem
    try:
        array = np.asarray(value)
    except Exception:
        return None, "solve returned something that is not an array of numbers"
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        return None, f"solve returned cells of type {array.dtype}; colours are integers 0-9"
    if np.issubdtype(array.dtype, np.floating) and not np.all(
        np.isfinite(array) & (array == np.round(array))
    ):
        return None, "solve returned non-integer cells; colours are integers 0-9"
    return array, None


def on_timer(signum: int, frame: Any) -> None:
    raise ProgramTimeout("timeout")


def arm(seconds: float) -> None:
    # A repeating timer: a program that swallows the first ProgramTimeout gets another.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)


def disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.setitimer(signal.ITIMER_PROF, 0)


def program_globals(np: Any, dsl_names: dict[str, Any]) -> dict[str, Any]:
    """The globals a program starts with: numpy as `np` and every DSL name."""
    namespace: dict[str, Any] = {"__name__": "__program__", "__builtins__": builtins, "np": np, "numpy": np}
    namespace.update(dsl_names)
    return namespace


def run_request(request: bytes | memoryview, namespace: dict[str, Any], output_limit: int) -> bytes:
    """Run the program of a request (`pack_request`: timeout, source, grids) on each of its
    grids, in this process, with `namespace` as its globals (the program changes it: give each
    program its own); the answer body: per grid its shape or its error, then the output grids'
    bytes. Never raises: a timer that fires in our own code between program steps is a timeout
    too."""
    timeout, source, grids = unpack_request(request, namespace["np"])
    try:
        results, stdout = _run(source, timeout, grids, namespace, BoundedOutput(output_limit))
    except ProgramTimeout:
        disarm()
        results, stdout = [error("timeout", "timed out")] * len(grids), ("", 0)
    text, size = stdout
    header: list[dict[str, Any]] = []
    outputs: list[bytes] = []
    for result in results:
        output = result.pop("output", None)
        if output is not None:
            header.append({"shape": output.shape})
            outputs.append(output.tobytes())
        else:
            header.append(result)
    return pack_answer(header, text[:STDOUT_KEPT_CHARS], size, b"".join(outputs))


def _run(
    source: str, timeout: float, grids: list[Any], namespace: dict[str, Any], captured: BoundedOutput
) -> tuple[list[dict[str, Any]], tuple[str, int]]:
    try:
        code = compile(source, "<program>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return [error("syntax", describe(exc))] * len(grids), ("", 0)
    np = namespace["np"]
    results: list[dict[str, Any]] = []
    sys.stdout = sys.stderr = captured
    arm(timeout)
    try:
        try:
            exec(code, namespace)
        except ProgramTimeout:
            return [error("timeout", f"defining the program took over {timeout:g} s")] * len(
                grids
            ), captured.take()
        except MemoryError as exc:
            return [error("memory", describe(exc))] * len(grids), captured.take()
        except BaseException as exc:
            return [error("runtime", "at module level: " + describe(exc))] * len(grids), captured.take()
        solve = namespace.get("solve")
        if not callable(solve):
            return [error("syntax", "the program defines no solve(grid) function")] * len(
                grids
            ), captured.take()
        for index, grid in enumerate(grids):
            try:
                value = solve(grid)
                output, problem = check_output(value, np)
            except ProgramTimeout:
                results.extend([error("timeout", f"timed out after {timeout:g} s")] * (len(grids) - index))
                break
            except MemoryError as exc:
                results.append(error("memory", describe(exc)))
                continue
            except BaseException as exc:  # SystemExit, KeyboardInterrupt, RecursionError: program faults
                results.append(error("runtime", describe(exc)))
                continue
            results.append({"output": output} if problem is None else error("invalid_output", problem))
        disarm()
        return results, captured.take()
    finally:
        disarm()
