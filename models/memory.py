"""Networks too large for memory: refused before they are built, in one line that names the flags.

:func:`check_fits` runs before train.py builds anything. It builds the model's networks on PyTorch's
meta device (shapes only: no memory, no random numbers drawn, milliseconds even at ``--ngf 100000``),
and compares what training keeps of their parameters (4 float32 copies: the weights, their
gradients and Adam's two moments) with the memory free on the device. Without it a huge
``--ngf`` ends in an allocator traceback at best; on the CPU a merely too large one is worse: Linux
grants each allocation up front (overcommit), the initialisation then touches more pages than there
are, and the run swaps for minutes or is killed without a word by the kernel's OOM killer.

Activations are not counted (they depend on the batch, the images and the precision), so a run can
pass the check and still run out of memory in its first step; :func:`out_of_memory_as_user_error`
turns that allocation failure (CUDA's, the CPU allocator's, Python's MemoryError) into one line too.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

import torch

from util.errors import UserError

TRAINING_COPIES = 4  # weights, gradients, Adam's exp_avg and exp_avg_sq
# what an allocation failure says: CUDA ("CUDA out of memory", "CUDA error: out of memory"), MPS, the
# CPU allocator ("DefaultCPUAllocator: can't allocate memory"), cuBLAS/cuDNN workspaces
OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "STATUS_ALLOC_FAILED")


def parameter_bytes(model_class, opt: argparse.Namespace) -> dict[str, int]:
    """The bytes of each network's parameters, as ``model_class.build_networks(opt)`` would make them."""
    with torch.device("meta"):
        nets = model_class.build_networks(opt)
    return {name: sum(p.numel() * p.element_size() for p in net.parameters()) for name, net in nets.items()}


def free_memory(device: torch.device) -> int | None:
    """Bytes free for this process on ``device``; None where that cannot be told (then nothing is refused).

    CPU: MemAvailable, lowered to what a memory cgroup (a container, a SLURM job) still allows, and
    shared among the processes torchrun started on this node.
    """
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    try:
        meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        free = int(meminfo["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):  # not Linux
        return None
    room = cgroup_room()
    if room is not None:
        free = min(free, room)
    return free // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def cgroup_room() -> int | None:
    """The limit of this process's memory cgroup minus its use (v2 or v1); None without a limit."""
    v2 = v1 = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            v2 = path if number == "0" else v2
            v1 = path if "memory" in controllers.split(",") else v1
    candidates = [(folder, "memory.max", "memory.current") for folder in (f"/sys/fs/cgroup{v2}", "/sys/fs/cgroup")]
    candidates += [(folder, "memory.limit_in_bytes", "memory.usage_in_bytes")
                   for folder in (f"/sys/fs/cgroup/memory{v1}", "/sys/fs/cgroup/memory")]
    for folder, limit, usage in candidates:
        try:  # "max": no limit; a cgroup path of the host, not mounted in a container: the next one
            return int(Path(folder, limit).read_text()) - int(Path(folder, usage).read_text())
        except (OSError, ValueError):
            continue
    return None


def check_fits(model_class, opt: argparse.Namespace, device: torch.device) -> None:
    """Refuse, before anything is built, networks whose training state alone exceeds the free memory."""
    free = free_memory(device)
    if free is None:
        return
    sizes = parameter_bytes(model_class, opt)
    need = TRAINING_COPIES * sum(sizes.values())
    if need > free:
        count = sum(sizes.values()) // 4
        raise UserError(f"--netG {opt.netG} at --ngf {opt.ngf} and --netD {opt.netD} at --ndf {opt.ndf} have "
                        f"{count:,} parameters; training them takes {human(need)} for weights, gradients and "
                        f"Adam's moments, and {device} has {human(free)} free: lower --ngf and --ndf, or choose a "
                        "smaller --netG (or train where there is more memory)")


@contextlib.contextmanager
def out_of_memory_as_user_error(what: str, advice: str) -> Iterator[None]:
    """Turn an allocation failure inside the block into ``UserError("out of memory <what> ...: <advice>")``."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and not isinstance(err, torch.cuda.OutOfMemoryError) \
                and not any(text in str(err) for text in OUT_OF_MEMORY):
            raise
        tried = re.search(r"[Tt]ried to allocate ([\d.]+) ?(\w+)", str(err))
        detail = ""
        if tried:
            amount = human(int(tried[1])) if tried[2] == "bytes" and tried[1].isdigit() else f"{tried[1]} {tried[2]}"
            detail = f" (it tried to allocate {amount})"
        raise UserError(f"out of memory {what}{detail}: {advice}") from None


def human(n: int) -> str:
    """Bytes in TB, GB or MB (decimal units)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1e6:,.0f} MB"
