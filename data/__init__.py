"""Data loading: datasets, the epoch sampler, and the DataLoader set-up used by train.py/test.py."""
from __future__ import annotations

import os
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from data.datasets import DATASETS, SingleDataset, UnalignedDataset  # noqa: F401


class UnalignedSampler(Sampler):
    """Yields ``(index_A, index_B, sample_seed)`` for one epoch, reproducibly from (seed, epoch).

    Shuffled: a permutation over ``max(len_A, len_B)`` picks A (modulo len_A) and each A gets a
    uniformly random B, as in the classic code. ``serial``: A and B in order, index modulo their
    lengths. ``start`` skips the first samples, to resume in the middle of an epoch.
    """

    def __init__(self, len_A: int, len_B: int, serial: bool, seed: int):
        self.len_A, self.len_B, self.serial, self.seed = len_A, len_B, serial, seed
        self.epoch, self.start = 1, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return max(self.len_A, self.len_B) - self.start

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        n = max(self.len_A, self.len_B)
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.serial:
            order = torch.arange(n)
            b_index = order % self.len_B
        else:
            order = torch.randperm(n, generator=g)
            b_index = torch.randint(self.len_B, (n,), generator=g)
        seeds = torch.randint(2**62, (n,), generator=g)
        for k in range(self.start, n):
            yield int(order[k]) % self.len_A, int(b_index[k]), int(seeds[k])


def loader_workers(num_threads: int) -> int:
    """``--num_threads`` capped at the cores this process may use (more workers only contend)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(num_threads, cores)


def train_loader(opt) -> tuple[DataLoader, UnalignedSampler]:
    """The training DataLoader over ``<dataroot>/<phase>A|B`` and its sampler."""
    a_nc, b_nc = (opt.input_nc, opt.output_nc) if opt.direction == "AtoB" else (opt.output_nc, opt.input_nc)
    dataset = UnalignedDataset(opt.dataroot, opt.phase, opt.max_dataset_size, opt.preprocess, opt.load_size,
                               opt.crop_size, flip=not opt.no_flip, train=True, channels_A=a_nc, channels_B=b_nc)
    sampler = UnalignedSampler(len(dataset.A_paths), len(dataset.B_paths), opt.serial_batches, opt.seed)
    loader = DataLoader(dataset, batch_size=opt.batch_size, sampler=sampler,
                        num_workers=loader_workers(opt.num_threads), pin_memory=torch.cuda.is_available())
    return loader, sampler


def collate_images(batch: list[dict]) -> dict:
    """Stack same-sized images; keep a list when sizes differ (``--preprocess none`` at test time)."""
    images = [b["image"] for b in batch]
    same = all(im.shape == images[0].shape for im in images)
    return {"image": torch.stack(images) if same else images,
            "path": [b["path"] for b in batch], "relpath": [b["relpath"] for b in batch],
            "size": [b["size"] for b in batch]}
