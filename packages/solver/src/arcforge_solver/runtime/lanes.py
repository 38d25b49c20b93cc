"""GPU lanes: how many model replicas a run holds, which card each one uses, and the CPU cores left over.

An engine that holds a model runs one worker per lane. A lane is one GPU when a replica fits on one card
(the worker sees only that card through `CUDA_VISIBLE_DEVICES`), or every GPU at once when it does not (one
replica sharded with `device_map="auto"`, whose decoding walks the cards one after another). On a machine
without a GPU there is one lane, on the CPU.

`detect_gpus()` is the one place that asks the machine which GPUs there are. Its test hook,
`ARCFORGE_FAKE_GPUS`, stands in for the hardware: `4` is four L4-sized cards (22.5 GiB each), `2x16`
two 16 GiB cards, `0` none. It changes only what the runtime plans (lanes, CUDA_VISIBLE_DEVICES of each
lane worker); nothing is placed on a GPU because of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GIB = 1024**3
FAKE_GPUS_ENV = "ARCFORGE_FAKE_GPUS"
FAKE_GPU_GIB = 22.5
"""A fake card's memory unless the hook names it: an NVIDIA L4 as nvidia-smi reports it (23034 MiB)."""
CORES_PER_LANE = 1
"""CPU cores a model lane keeps for itself (its Python driver and the tokenizer); the rest go to the
search and the sandbox."""

_FAKE = re.compile(r"^\s*(\d+)\s*(?:x\s*(\d+(?:\.\d+)?))?\s*$", re.IGNORECASE)


class GpuDetectionError(ValueError):
    """ARCFORGE_FAKE_GPUS is set to something unreadable."""


@dataclass(frozen=True)
class Gpu:
    device: str
    """How CUDA_VISIBLE_DEVICES names the card (an index or a GPU-… uuid)."""
    name: str
    memory_bytes: int


def cpu_cores() -> int:
    """The cores this process may run on (a container's CPU set, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _fake_gpus(text: str) -> list[Gpu]:
    match = _FAKE.match(text)
    if match is None:
        raise GpuDetectionError(
            f"{FAKE_GPUS_ENV}={text!r}: write a count, optionally with each card's GiB (e.g. 4 or 4x24)"
        )
    count = int(match.group(1))
    gib = float(match.group(2) or FAKE_GPU_GIB)
    return [Gpu(str(i), f"fake GPU {i}", int(gib * GIB)) for i in range(count)]


def _visible_filter() -> list[str] | None:
    """The cards CUDA_VISIBLE_DEVICES allows, in its order; None when it is not set."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    entries = [part.strip() for part in value.split(",") if part.strip()]
    # CUDA stops at the first invalid entry ("-1" is the usual way to hide every card).
    valid: list[str] = []
    for entry in entries:
        if entry.startswith("-"):
            break
        valid.append(entry)
    return valid


def _nvidia_smi() -> list[Gpu] | None:
    """The GPUs nvidia-smi lists (it ignores CUDA_VISIBLE_DEVICES, so the filter is applied here).
    nvidia-smi does not initialise CUDA, so the runtime's own process keeps no context on any card."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    gpus: list[tuple[str, str, Gpu]] = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        try:
            memory = int(float(parts[3]) * 1024**2)  # MiB
        except ValueError:
            continue
        gpus.append((parts[0], parts[1], Gpu(parts[0], parts[2], memory)))
    visible = _visible_filter()
    if visible is None:
        return [gpu for _, _, gpu in gpus]
    chosen: list[Gpu] = []
    for entry in visible:
        for index, uuid, gpu in gpus:
            if entry in (index, uuid) or (entry.startswith("GPU-") and uuid.startswith(entry)):
                chosen.append(Gpu(entry, gpu.name, gpu.memory_bytes))
                break
    return chosen


def _torch_gpus() -> list[Gpu]:
    try:
        import torch  # noqa: PLC0415  (only when nvidia-smi is missing)
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    visible = _visible_filter()
    gpus: list[Gpu] = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        device = visible[index] if visible and index < len(visible) else str(index)
        gpus.append(Gpu(device, str(props.name), int(props.total_memory)))
    return gpus


def detect_gpus() -> list[Gpu]:
    """The GPUs this run may use: the ARCFORGE_FAKE_GPUS test hook, else nvidia-smi, else torch."""
    fake = os.environ.get(FAKE_GPUS_ENV)
    if fake not in (None, ""):
        return _fake_gpus(fake)
    found = _nvidia_smi()
    return found if found is not None else _torch_gpus()


@dataclass(frozen=True)
class LanePlan:
    """Where the model replicas go."""

    devices: tuple[str, ...]
    """CUDA_VISIBLE_DEVICES of each lane; empty on the CPU."""
    sharded: bool
    """True: one replica spread over several cards with device_map="auto"."""
    gpus: tuple[Gpu, ...]
    reason: str
    """One line for the log: why this many lanes."""

    @property
    def lanes(self) -> int:
        return max(1, len(self.devices))

    @property
    def gpus_used(self) -> int:
        return len(self.gpus)

    @property
    def layout(self) -> str:
        """`4 lanes, one model replica per GPU on 4 × NVIDIA L4 (22.5 GiB)`, for one line of output."""
        if not self.gpus:
            return "1 lane on the CPU (no GPU)"
        if self.sharded:
            return f"1 lane, one model replica sharded over {describe_gpus(self.gpus)} (device_map=auto)"
        plural = "s" if self.lanes != 1 else ""
        return f"{self.lanes} lane{plural}, one model replica per GPU on {describe_gpus(self.gpus)}"

    def env(self, lane: int) -> dict[str, str]:
        """What a lane's worker process sets before it loads anything."""
        if not self.devices:
            return {}
        return {"CUDA_VISIBLE_DEVICES": self.devices[lane]}


def describe_gpus(gpus: Sequence[Gpu]) -> str:
    """`4 × NVIDIA L4 (22.5 GiB)`, or the cards one by one when they differ."""
    if not gpus:
        return "no GPU"
    names = {(g.name, round(g.memory_bytes / GIB, 1)) for g in gpus}
    if len(names) == 1:
        name, gib = names.pop()
        return f"{len(gpus)} × {name} ({gib} GiB)"
    return ", ".join(f"{g.name} ({g.memory_bytes / GIB:.1f} GiB)" for g in gpus)


def plan_lanes(gpus: Sequence[Gpu], replica_bytes: int | None, *, max_lanes: int | None = None) -> LanePlan:
    """One lane per GPU when a replica fits the smallest card, else one lane sharded over all of them."""
    cards = tuple(gpus)
    if not cards:
        return LanePlan((), False, (), "no GPU visible: one lane on the CPU")
    limit = len(cards) if max_lanes is None else max(1, min(max_lanes, len(cards)))
    smallest = min(g.memory_bytes for g in cards)
    if replica_bytes is not None and replica_bytes > smallest:
        total = sum(g.memory_bytes for g in cards)
        every = ",".join(g.device for g in cards)
        if replica_bytes > total:
            where = (
                f"more than all {len(cards)} GPU{'s' if len(cards) != 1 else ''} hold together: placed with"
                " device_map=auto, the rest offloaded to the CPU (slow)"
            )
        else:
            where = f"sharded over {len(cards)} GPUs with device_map=auto (decoding uses one card at a time)"
        return LanePlan(
            (every,),
            len(cards) > 1,
            cards,
            f"a model replica needs {replica_bytes / GIB:.1f} GiB, more than one card's {smallest / GIB:.1f} GiB:"
            f" one lane, {where}",
        )
    chosen = cards[:limit]
    size = (
        ""
        if replica_bytes is None
        else f"a model replica needs {replica_bytes / GIB:.1f} GiB and fits one card; "
    )
    capped = f" (capped at {limit} by --gpu-lanes)" if limit < len(cards) else ""
    return LanePlan(
        tuple(g.device for g in chosen),
        False,
        chosen,
        f"{size}{limit} lane{'s' if limit != 1 else ''}, one replica per GPU on {describe_gpus(chosen)}{capped}",
    )


def auto_workers(lanes_reserved: int, cores: int | None = None) -> int:
    """`--workers auto`: every core, less the ones the model lanes keep."""
    total = cpu_cores() if cores is None else cores
    return max(1, total - lanes_reserved * CORES_PER_LANE)


def engine_lane_plan(
    engine_class: type[object], options: Mapping[str, object], *, max_lanes: int | None = None
) -> LanePlan | None:
    """The lanes of an engine that holds a model (class attribute `holds_model = True`), sized by its
    optional `replica_bytes(options)`; None for an engine that holds none (the search)."""
    if not getattr(engine_class, "holds_model", False):
        return None
    sizer = getattr(engine_class, "replica_bytes", None)
    replica = sizer(dict(options)) if callable(sizer) else None
    return plan_lanes(detect_gpus(), replica if isinstance(replica, int) else None, max_lanes=max_lanes)
