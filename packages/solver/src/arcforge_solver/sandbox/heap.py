"""Pack the zygote's heaps before it forks, so that each program's process copies fewer pages.

Both allocators a Python process uses serve a request from free space left among live objects
first: CPython's small-object allocator (pymalloc) from its partly used pools, the C library's
malloc from the chunks in its bins. After the zygote's imports that free space is scattered over
its heap, a little in each page, so the first objects a forked child makes land in dozens of
pages it shares with the zygote: each one a copy-on-write page fault, the larger part of what an
isolated evaluation costs. The zygote takes that free space once, before its first fork, and
keeps it: a child's new objects then go to fresh memory, many to a page (measured on 2 cores:
about 90 fewer page faults a program, of about 660, and 10 % less CPU an evaluation;
`benchmarks/sandbox_throughput.py`).

- `fill_free_blocks`: pymalloc's free blocks, counted by `sys._debugmallocstats()`, CPython's
  own allocator report; nothing where it is missing or silent (another interpreter,
  PYTHONMALLOC=malloc).
- `fill_free_chunks`: glibc's free chunks, counted by `malloc_info(3)`; nothing on another C
  library. glibc's per-thread cache (tcache) is not in that report, and malloc serves from it
  first, so the pool starts workers with it off (`TUNABLES_FOR_FILLING` in their
  `GLIBC_TUNABLES`): freed chunks then sit in the bins counted.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import sys
from collections.abc import Callable

_BYTES_HEADER = sys.getsizeof(b"x") - 1
"""What a bytes object needs beyond its length (33 on 64-bit CPython): bytes(size - this) takes
one block of `size`."""


def free_blocks_by_size() -> dict[int, int]:
    """Per pymalloc block size in bytes, the free blocks in its partly used pools; {} where this
    interpreter has no such report."""
    report = getattr(sys, "_debugmallocstats", None)
    if report is None:
        return {}

    # The report goes to the C library's stderr (fd 2), for a moment the pipe's write end.
    def to_stderr(write_end: int) -> None:
        saved = os.dup(2)
        try:
            os.dup2(write_end, 2)
            report()
        finally:
            os.dup2(saved, 2)
            os.close(saved)

    return parse_size_classes(_captured(to_stderr))


def parse_size_classes(report: str) -> dict[int, int]:
    """{block size: available blocks} from the size-class table of a `_debugmallocstats` report,
    whose rows read: class, size, pools, blocks in use, available blocks."""
    free: dict[int, int] = {}
    for line in report.splitlines():
        fields = line.split()
        if len(fields) == 5 and all(field.isdigit() for field in fields):
            free[int(fields[1])] = int(fields[4])
    return free


def fill_free_blocks() -> list[object]:
    """Take every free block of the partly used pools with an object of its size; the objects,
    which the caller keeps alive for as long as it forks."""
    free = free_blocks_by_size()
    filler: list[object] = [None] * sum(free.values())  # sized first: no list growth in between
    index = 0
    for size, count in sorted(free.items()):
        make = _maker(size)
        if make is None:
            continue
        for _ in range(count):
            filler[index] = make()
            index += 1
    del filler[index:]
    return filler


def _maker(size: int) -> Callable[[], object] | None:
    """Something that, called, allocates one new block of `size` bytes: a bytes object, or for the
    two smallest sizes a float (24 bytes, so a 32-byte block) or a bare object (16)."""
    if size > _BYTES_HEADER + 1:
        return functools.partial(bytes, size - _BYTES_HEADER)
    return {32: float, 16: object}.get(size)


TUNABLES_FOR_FILLING = "glibc.malloc.tcache_count=0"
"""glibc's per-thread cache off (other C libraries ignore the variable)."""
_CHUNK_OVERHEAD = 8
"""glibc on 64-bit: a chunk of `size` (a multiple of 16) holds a request of `size - 8` bytes."""
_SMALLEST_REQUEST = 24
_MALLOC_INFO_SIZE = re.compile(r'<(?:size|unsorted) from="(\d+)" to="\d+" total="\d+" count="(\d+)"/>')


def free_chunks_by_size() -> dict[int, int]:
    """Per chunk size in bytes, the free chunks in the bins of glibc's main heap; {} on another C
    library."""
    try:
        libc = ctypes.CDLL(None)
        malloc_info, fdopen, fclose = libc.malloc_info, libc.fdopen, libc.fclose
    except (OSError, AttributeError):
        return {}
    fdopen.restype = ctypes.c_void_p
    fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    fclose.argtypes = [ctypes.c_void_p]

    def to_stream(write_end: int) -> None:
        stream = fdopen(os.dup(write_end), b"w")
        if stream:
            malloc_info(0, stream)
            fclose(stream)

    return parse_malloc_info(_captured(to_stream))


def parse_malloc_info(report: str) -> dict[int, int]:
    """{chunk size: free chunks} of the main heap (`<heap nr="0">`) in a `malloc_info` report;
    a bin's lowest size stands for its range, and the size bits glibc prints are dropped."""
    main_heap = report.split("</heap>", 1)[0] if "<heap" in report else ""
    free: dict[int, int] = {}
    for low, count in _MALLOC_INFO_SIZE.findall(main_heap):
        size = int(low) & ~7
        free[size] = free.get(size, 0) + int(count)
    return free


def fill_free_chunks() -> list[int]:
    """Take the free chunks of glibc's main heap with allocations of their sizes, never freed;
    their addresses (kept only so that the zygote holds what it took)."""
    free = free_chunks_by_size()
    if not free:
        return []
    malloc = ctypes.CDLL(None).malloc
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    taken: list[int] = []
    for size, count in sorted(free.items()):
        request = max(size - _CHUNK_OVERHEAD, _SMALLEST_REQUEST)
        taken.extend(address for address in (malloc(request) for _ in range(count)) if address)
    return taken


def _captured(write: Callable[[int], None]) -> str:
    """What `write(fd)` writes to the write end of a pipe: an allocator report of a few kB, well
    under a pipe's buffer, so the writer never blocks on a reader that is not reading yet."""
    read_end, write_end = os.pipe()
    try:
        write(write_end)
    finally:
        os.close(write_end)
    chunks = []
    try:
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read_end)
    return b"".join(chunks).decode("ascii", "replace")
