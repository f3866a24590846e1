"""One distributed code path for torchrun + DistributedDataParallel.

torchrun (or SLURM via ``scripts/train_multinode.sh``) sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`setup` reads them, joins the process group (NCCL on GPUs, gloo on the CPU)
and picks this process's device. Without those variables it is a single process and every helper
here answers as rank 0 of 1, so training runs the same code on one CPU, one GPU or many.

Only the main process (:func:`is_main`) prints, logs, saves checkpoints and writes pages.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from util.errors import UserError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def setup(gpu_ids: list[int]) -> Context:
    """Join the process group when launched by torchrun; pick this process's device.

    Under torchrun, process ``LOCAL_RANK`` uses GPU ``gpu_ids[LOCAL_RANK]`` when ``--gpu_ids``
    names enough GPUs, else GPU ``LOCAL_RANK``; ``--gpu_ids -1`` (or no CUDA) trains on the CPU
    with gloo. Without torchrun: rank 0 of 1 on ``gpu_ids[0]`` or the CPU.
    """
    if not launched_by_torchrun():
        if gpu_ids and torch.cuda.is_available():
            torch.cuda.set_device(gpu_ids[0])
            return Context(device=torch.device(f"cuda:{gpu_ids[0]}"))
        return Context()
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    if gpu_ids and torch.cuda.is_available():
        index = gpu_ids[local] if local < len(gpu_ids) else local
        if index >= torch.cuda.device_count():
            raise UserError(f"process {rank} (local rank {local}) wants GPU {index} but this node has "
                            f"{torch.cuda.device_count()}: lower --nproc_per_node or fix --gpu_ids")
        torch.cuda.set_device(index)
        device, backend = torch.device(f"cuda:{index}"), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return Context(rank=rank, world_size=world, local_rank=local, device=device)


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_object(ctx: Context, value):
    """Rank 0's ``value`` on every rank (e.g. a seed drawn at start)."""
    if not ctx.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_over_ranks(ctx: Context, tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``tensor`` over all ranks (for logging losses of the global batch)."""
    if not ctx.distributed:
        return tensor
    tensor = tensor.detach().clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor / ctx.world_size


def any_rank(ctx: Context, *flags: bool) -> tuple[bool, ...]:
    """Each flag OR-ed over all ranks, so every rank takes the same decision (stop, give up)."""
    if not ctx.distributed:
        return tuple(flags)
    tensor = torch.tensor([float(f) for f in flags], device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in tensor.tolist())


def cleanup(ctx: Context) -> None:
    """Leave the process group once every rank is done.

    DDP wrappers hold the group (and gloo work with tensors in it); collected only at interpreter
    exit, they would tear gloo down after Python itself, which can abort the process. So they are
    collected first, while everything is still alive.
    """
    if ctx.distributed and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
