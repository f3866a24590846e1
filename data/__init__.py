"""Data loading: datasets, the epoch sampler, and the DataLoader set-up used by train.py/test.py."""
from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, default_collate

from data.datasets import DATASETS, SingleDataset, UnalignedDataset  # noqa: F401
from data.image_folder import header_size
from data.transforms import SIZE_DEPENDENT_MODES, output_size
from util.errors import UserError
from util.resilience import ignore_stop_signals


class UnalignedSampler(DistributedSampler):
    """Yields ``(index_A, index_B, sample_seed)`` for one epoch, reproducibly from (seed, epoch).

    Shuffled: a permutation over ``max(len_A, len_B)`` picks A (modulo len_A) and each A gets a
    uniformly random B, as in the classic code. ``serial``: A and B in order, index modulo their
    lengths. The epoch's list is the same in every process; as torch's ``DistributedSampler`` (which
    this extends), process ``rank`` of ``num_replicas`` takes every ``num_replicas``-th entry, the
    list padded to a multiple of ``num_replicas`` by repeating its start. So under torchrun each rank
    draws its own A and random B images, and the ranks' batches together are exactly the batches a
    single process with the global batch size would see. ``set_epoch(epoch, start)`` skips the
    first ``start`` samples of the whole epoch (all ranks together), to resume in the middle of it.
    """

    def __init__(self, len_A: int, len_B: int, serial: bool, seed: int, num_replicas: int = 1, rank: int = 0):
        self.len_A, self.len_B, self.serial = len_A, len_B, serial
        self.epoch_size = max(len_A, len_B)
        super().__init__(range(self.epoch_size), num_replicas=num_replicas, rank=rank, shuffle=False,
                         seed=seed, drop_last=False)
        self.epoch, self.start = 1, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        super().set_epoch(epoch)
        self.start = start // self.num_replicas

    def __len__(self) -> int:
        return self.num_samples - self.start

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        n = self.epoch_size
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.serial:
            order = torch.arange(n)
            b_index = order % self.len_B
        else:
            order = torch.randperm(n, generator=g)
            b_index = torch.randint(self.len_B, (n,), generator=g)
        seeds = torch.randint(2**62, (n,), generator=g)
        positions = list(super().__iter__())[self.start:]  # this rank's share, padded
        for k in positions:
            yield int(order[k]) % self.len_A, int(b_index[k]), int(seeds[k])


def loader_workers(num_threads: int) -> int:
    """``--num_threads`` capped at the cores this process may use (more workers only contend)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(num_threads, cores)


def train_loader(opt, rank: int = 0, world_size: int = 1, min_side: int = 1) -> tuple[DataLoader, UnalignedSampler]:
    """The training DataLoader over ``<dataroot>/<phase>A|B`` and its sampler (this rank's share).

    Workers stay alive across epochs, and batches go to pinned memory for asynchronous copies
    when training on a GPU.
    """
    a_nc, b_nc = (opt.input_nc, opt.output_nc) if opt.direction == "AtoB" else (opt.output_nc, opt.input_nc)
    dataset = UnalignedDataset(opt.dataroot, opt.phase, opt.max_dataset_size, opt.preprocess, opt.load_size,
                               opt.crop_size, flip=not opt.no_flip, train=True, channels_A=a_nc, channels_B=b_nc,
                               min_side=min_side)
    sampler = UnalignedSampler(len(dataset.A_paths), len(dataset.B_paths), opt.serial_batches, opt.seed,
                               num_replicas=world_size, rank=rank)
    if opt.batch_size > 1 and opt.preprocess in SIZE_DEPENDENT_MODES:
        for domain, paths in (("A", dataset.A_paths), ("B", dataset.B_paths)):
            check_one_size(paths, f"{opt.dataroot}/{opt.phase}{domain}", opt, min_side)
    workers = loader_workers(opt.num_threads)
    loader = DataLoader(dataset, batch_size=opt.batch_size, sampler=sampler, num_workers=workers,
                        pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                        prefetch_factor=4 if workers > 0 else None, worker_init_fn=ignore_stop_signals,
                        collate_fn=collate_pairs,
                        # Each epoch's iterator draws a worker base seed; from its own generator it
                        # leaves torch's global one (saved in checkpoints) alone, so resumes are exact.
                        generator=torch.Generator().manual_seed(opt.seed))
    return loader, sampler


SCAN_THREADS = 8  # header reads wait on the disk more than on the interpreter (a network file system)


def preprocessed_sizes(paths: list[str], preprocess: str, load_size: int, crop_size: int,
                       min_side: int = 1) -> dict[tuple[int, int], list[str]]:
    """The files of ``paths`` grouped by the (width, height) ``--preprocess`` gives them, read from
    the headers only. Files PIL cannot open, and images too small for the networks, are left out:
    training replaces those with other images of the folder."""
    with ThreadPoolExecutor(SCAN_THREADS) as pool:
        sizes = list(pool.map(header_size, paths, chunksize=64))
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for path, size in zip(paths, sizes):
        if size is not None:
            out = output_size(preprocess, load_size, crop_size, size)
            if min(out) >= min_side:
                groups[out].append(path)
    return dict(groups)


def check_one_size(paths: list[str], folder: str, opt, min_side: int = 1) -> None:
    """Refuse, before training starts, a folder whose images ``--preprocess`` leaves in several
    sizes when batches hold more than one image: otherwise the run would stop at the first batch
    that happens to mix them, which may be hours in, or never for a lucky seed."""
    groups = preprocessed_sizes(paths, opt.preprocess, opt.load_size, opt.crop_size, min_side)
    if len(groups) > 1:
        common = sorted(groups.items(), key=lambda item: -len(item[1]))
        examples = ", ".join(f"{w}x{h} ({len(files)} files, e.g. {Path(files[0]).name})"
                             for (w, h), files in common[:3])
        more = f" and {len(groups) - 3} more sizes" if len(groups) > 3 else ""
        raise UserError(f"{folder} holds images of {len(groups)} sizes after --preprocess {opt.preprocess}: "
                        f"{examples}{more}; --batch_size {opt.batch_size} needs one size: use a cropping "
                        "--preprocess (e.g. resize_and_crop), resize the images, or --batch_size 1")


def collate_pairs(batch: list[dict]) -> dict:
    """The training batch; images of different sizes (``--preprocess none`` or ``scale_width`` on
    mixed shapes) cannot be stacked, which is one clear error instead of a stack trace. (train.py
    checks the folders' sizes before it starts; this guards the loader's other users.)"""
    for key in ("A", "B"):
        shapes = {tuple(b[key].shape[-2:]) for b in batch}
        if len(shapes) > 1:
            sizes = ", ".join(f"{w}x{h}" for h, w in sorted(shapes)[:3])
            raise UserError(f"domain {key} images of different sizes in one batch ({sizes}): --batch_size above 1 "
                            "needs one size; use a cropping --preprocess (e.g. resize_and_crop) or --batch_size 1")
    return default_collate(batch)


def collate_images(batch: list[dict]) -> dict:
    """Stack same-sized images; keep a list when sizes differ (``--preprocess none`` at test time).
    Unreadable files are left out of the batch and listed under ``bad``."""
    bad = [b["bad"] for b in batch if b.get("bad")]
    batch = [b for b in batch if b["image"] is not None]
    images = [b["image"] for b in batch]
    same = bool(images) and all(im.shape == images[0].shape for im in images)
    return {"image": torch.stack(images) if same else images,
            "path": [b["path"] for b in batch], "relpath": [b["relpath"] for b in batch],
            "size": [b["size"] for b in batch], "bad": bad}
