"""The zygote's heap packing (sandbox.heap): the allocator report is read, and filling takes the free blocks."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from arcforge_solver.sandbox import heap

REPORT = """Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1             611           410
    2     48          33            8995          2225
   31    512           4             113            11

# arenas allocated total           =                    8
# bytes in available blocks        =              395,088
39 unused pools * 16384 bytes      =              638,976
"""

cpython_only = pytest.mark.skipif(
    platform.python_implementation() != "CPython" or not hasattr(sys, "_debugmallocstats"),
    reason="pymalloc's report is CPython's",
)


def test_the_size_class_table_is_read_and_nothing_else() -> None:
    assert heap.parse_size_classes(REPORT) == {16: 410, 48: 2225, 512: 11}
    assert heap.parse_size_classes("") == {}


@cpython_only
def test_this_interpreter_reports_its_size_classes() -> None:
    free = heap.free_blocks_by_size()
    if not free:
        pytest.skip("pymalloc is off here (PYTHONMALLOC)")
    assert all(size % 8 == 0 for size in free) and 512 in free and 48 in free
    assert all(count >= 0 for count in free.values())


@cpython_only
def test_filling_takes_the_free_blocks_of_the_mid_sizes() -> None:
    # Scatter free blocks in partly used pools, as imports leave them: keep every other object.
    made = [bytes(n) for n in range(63, 400) for _ in range(40)]
    kept = made[::2]
    del made
    before = heap.free_blocks_by_size()
    if not before:
        pytest.skip("pymalloc is off here (PYTHONMALLOC)")
    filler = heap.fill_free_blocks()
    after = heap.free_blocks_by_size()
    mid = [size for size in before if 96 <= size <= 432]
    assert sum(before[s] for s in mid) > 1000
    # What stays free is a fresh pool's tail at most, a small share of what was scattered.
    assert sum(after[s] for s in mid) < sum(before[s] for s in mid) / 3
    assert len(filler) > 1000 and kept


MALLOC_INFO = """<malloc version="1">
<heap nr="0">
<sizes>
  <size from="49" to="49" total="343" count="7"/>
  <size from="1041" to="1505" total="2546" count="2"/>
  <unsorted from="8193" to="8193" total="8193" count="1"/>
</sizes>
<total type="fast" count="0" size="0"/>
</heap>
<heap nr="1">
<sizes>
  <size from="49" to="49" total="49" count="1"/>
</sizes>
</heap>
</malloc>
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_info(3) is glibc's")


def test_the_main_heaps_free_chunks_are_read() -> None:
    # The flag bits glibc prints go; a bin's range counts at its lowest size; other heaps are not read.
    assert heap.parse_malloc_info(MALLOC_INFO) == {48: 7, 1040: 2, 8192: 1}
    assert heap.parse_malloc_info("") == {}


_FRAGMENT_AND_FILL = """
import json
from arcforge_solver.sandbox import heap
# Bytes objects past pymalloc's 512 bytes come from malloc: free every other, so they cannot merge.
made = [bytes(n) for n in range(600, 1400, 16) for _ in range(12)]
kept = made[::2]
del made
before = heap.free_chunks_by_size()
taken = heap.fill_free_chunks()
after = heap.free_chunks_by_size()
print(json.dumps([before, after, len(taken), all(a > 0 for a in taken)]))
"""


@glibc_only
def test_filling_takes_glibcs_free_chunks() -> None:
    # As a zygote starts: glibc's per-thread cache off, which malloc would serve from first.
    env = {**os.environ, "GLIBC_TUNABLES": heap.TUNABLES_FOR_FILLING}
    done = subprocess.run(
        [sys.executable, "-c", _FRAGMENT_AND_FILL], env=env, capture_output=True, text=True, check=True
    )
    before, after, taken, addresses = json.loads(done.stdout)
    scattered = [size for size in before if 600 <= int(size) <= 1400]
    assert sum(before[s] for s in scattered) > 100
    assert sum(after.get(s, 0) for s in scattered) < sum(before[s] for s in scattered) / 5
    assert taken > 100 and addresses
