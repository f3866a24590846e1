"""Learning-rate policies, stepped once at the end of every epoch.

Each policy except plateau is a factor of the *absolute* epoch number ``e`` (1-based, as printed),
so a run started with ``--epoch_count`` and a run resumed with ``--continue_train`` see the same
rates at the same epoch:

- linear: 1 for e <= n_epochs, then 1 - (e - n_epochs) / (n_epochs_decay + 1): a straight line that
  would reach zero the epoch after the last (the classic formula; the last epoch runs at
  lr / (n_epochs_decay + 1)).
- step: 0.1 ** floor((e - 1) / lr_decay_iters)  (``lr_decay_iters`` counts epochs, as in the classic code).
- cosine: (1 + cos(pi * (e - 1) / (n_epochs + n_epochs_decay))) / 2, one half-period over the whole run.
  The classic code used T_max = n_epochs, so its rate climbed back up during the decay epochs.
- plateau: multiply by 0.2 when the epoch's mean generator loss has not improved by 1% for 5 epochs.
"""
from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

LR_POLICIES = ("linear", "step", "plateau", "cosine")


def lr_factor(policy: str, epoch: int, n_epochs: int, n_epochs_decay: int, lr_decay_iters: int) -> float:
    """Multiplier of the initial learning rate during (1-based) ``epoch``."""
    if policy == "linear":
        return 1.0 - max(0, epoch - n_epochs) / float(n_epochs_decay + 1)
    if policy == "step":
        return 0.1 ** ((epoch - 1) // lr_decay_iters)
    if policy == "cosine":
        total = max(1, n_epochs + n_epochs_decay)
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / total))
    raise ValueError(f"lr policy {policy!r} is not a function of the epoch; choose from {LR_POLICIES}")


def build_scheduler(optimizer: Optimizer, policy: str, first_epoch: int, n_epochs: int,
                    n_epochs_decay: int, lr_decay_iters: int) -> LRScheduler | ReduceLROnPlateau:
    """Scheduler whose rate during epoch ``first_epoch + k`` follows ``policy`` after k steps."""
    if policy == "plateau":
        return ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    if policy not in LR_POLICIES:
        raise ValueError(f"unknown lr policy {policy!r}; choose from {LR_POLICIES}")

    def factor(steps: int) -> float:
        return lr_factor(policy, first_epoch + steps, n_epochs, n_epochs_decay, lr_decay_iters)

    return LambdaLR(optimizer, factor)
