"""What lets a long run survive its environment: random-number states for exact resumes, SIGTERM /
SIGINT turned into "save and stop after this step", non-finite losses caught before they reach a
checkpoint, and unreadable images counted instead of crashing an epoch.

The training loop asks these helpers after each step; none of them owns training state.
"""
from __future__ import annotations

import random
import signal
import threading
from types import FrameType

import numpy as np
import torch

from util.errors import UserError


# ------------------------------------------------------------------------------------------------ #
# Random-number states (weights-only loadable: tensors, numbers and lists)
# ------------------------------------------------------------------------------------------------ #


def capture_rng() -> dict:
    """The states of Python's, numpy's and torch's (CPU and CUDA) global generators."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [version, list(internal), gauss],
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


# ------------------------------------------------------------------------------------------------ #
# Preemption
# ------------------------------------------------------------------------------------------------ #


class StopSignals:
    """While active, SIGTERM (cluster preemption, ``kill``) and SIGINT (Ctrl-C) only set a flag that
    the loop reads after each step; a second SIGINT stops at once (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.received == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # handlers live in the main thread only
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers leave SIGTERM/SIGINT to the main process, which stops
    after its step and shuts them down (a worker killed by Ctrl-C would crash the epoch instead)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


# ------------------------------------------------------------------------------------------------ #
# Non-finite losses
# ------------------------------------------------------------------------------------------------ #


class NonFiniteLoss(UserError):
    """Training produced NaN or Inf; the message names the step and the losses."""


class LossGuard:
    """Checks each step's losses for NaN/Inf one step late, so the GPU is never waited on just to
    check; :meth:`flush` checks the newest step at once (before every save)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.pending: tuple[torch.Tensor, str] | None = None

    def after_step(self, losses: torch.Tensor, where: str) -> None:
        previous, self.pending = self.pending, (losses.detach(), where)
        if previous is not None:
            self._check(*previous)

    def flush(self) -> None:
        if self.pending is not None:
            self._check(*self.pending)

    def _check(self, losses: torch.Tensor, where: str) -> None:
        finite = torch.isfinite(losses)
        if bool(finite.all()):
            return
        bad = [f"{name} = {value:g}" for name, value, ok in zip(self.names, losses.tolist(), finite.tolist()) if not ok]
        raise NonFiniteLoss(f"non-finite loss at {where}: {', '.join(bad)}; the last checkpoint saved before it "
                            "is kept; resume from it with a lower --lr, or pass --nan_policy skip to skip such steps")


def all_finite(tensors) -> bool:
    """Whether every tensor (parameters, gradients) holds only finite numbers, in one device sync."""
    flags = [torch.isfinite(t).all() for t in tensors if t is not None]
    return bool(torch.stack(flags).all()) if flags else True


# ------------------------------------------------------------------------------------------------ #
# Unreadable images
# ------------------------------------------------------------------------------------------------ #


class BadImages:
    """Unreadable images met during training: each reported once, and more than ``limit`` stops the run."""

    def __init__(self, limit: int, report=print):
        self.limit, self.report = limit, report
        self.seen: dict[str, str] = {}

    def add(self, entries: list[str]) -> None:
        """``entries`` as the datasets give them: ``path\\treason`` lines, several per string."""
        for entry in entries:
            for line in filter(None, entry.split("\n")):
                path, _, reason = line.partition("\t")
                if path not in self.seen:
                    self.seen[path] = reason
                    self.report(f"train.py: warning: skipped unreadable image {path} ({reason}); "
                                f"{len(self.seen)} so far, --max_bad_images {self.limit}")

    @property
    def exceeded(self) -> bool:
        return len(self.seen) > self.limit

    def error(self) -> UserError:
        shown = "; ".join(list(self.seen)[:5])
        return UserError(f"{len(self.seen)} unreadable images, more than --max_bad_images {self.limit}: {shown}"
                         f"{' ...' if len(self.seen) > 5 else ''}; remove or replace them (or raise the limit)")
