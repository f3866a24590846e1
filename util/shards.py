"""Which part of a long job this process does, as the scheduler that started it says.

A job split over machines is started by a scheduler that already numbers its tasks, so the job
only has to read that number: ``--shard K/N`` on the command line; else a SLURM job array's
``SLURM_ARRAY_TASK_ID`` (counted from ``SLURM_ARRAY_TASK_MIN``, which ``--array=1-16`` makes 1)
and ``SLURM_ARRAY_TASK_COUNT``; else torchrun's ``RANK`` and ``WORLD_SIZE``; else the whole job,
0/1. Item ``i`` of a list belongs to shard ``i % N``: neighbouring items (a folder of one person, a
thousand-folder of FFHQ) are spread over every shard, so shards take about equally long.

No torch here: data preparation imports this without it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int  # 0 .. count-1
    count: int
    source: str  # where it came from: "--shard", "SLURM array", "torchrun" or "whole job"

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's items: every ``count``-th one, from position ``index``."""
        return list(items[self.index::self.count])

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}-of-{self.count:05d}"

    def __str__(self) -> str:
        return f"shard {self.index}/{self.count} ({self.source})"


def parse_shard(text: str) -> Shard:
    """``K/N`` with 0 <= K < N; ValueError with the rule otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"{text!r} is not K/N with 0 <= K < N (e.g. 0/4 ... 3/4)")
    return Shard(int(m.group(1)), int(m.group(2)), "--shard")


def _int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except ValueError:
        raise ValueError(f"the environment's {name}={environ[name]!r} is not a whole number") from None


def current_shard(flag: str | None, environ: Mapping[str, str] | None = None) -> Shard:
    """The shard from ``--shard`` (``flag``), else from the scheduler's environment, else 0/1."""
    env = os.environ if environ is None else environ
    if flag:
        return parse_shard(flag)
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        first = _int(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
        index, count = _int(env, "SLURM_ARRAY_TASK_ID") - first, _int(env, "SLURM_ARRAY_TASK_COUNT")
        if not 0 <= index < count:
            raise ValueError(f"SLURM array task {index + first} is not among {count} tasks from {first}: "
                             "use a contiguous --array (e.g. --array=0-15), or pass --shard K/N")
        return Shard(index, count, "SLURM array")
    if "RANK" in env and "WORLD_SIZE" in env:
        index, count = _int(env, "RANK"), _int(env, "WORLD_SIZE")
        if not 0 <= index < count:
            raise ValueError(f"RANK={index} is not below WORLD_SIZE={count}")
        return Shard(index, count, "torchrun")
    return Shard(0, 1, "whole job")
