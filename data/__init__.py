"""Data loading: datasets, the epoch sampler, and the DataLoader set-up used by train.py/test.py."""
from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, default_collate

from data.datasets import DATASETS, AlignedDataset, SingleDataset, UnalignedDataset  # noqa: F401
from data.image_folder import header_size
from data.transforms import SIZE_DEPENDENT_MODES, output_size
from util import distributed
from util.errors import UserError, one_line
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

    ``paired`` (aligned data, ``len_A == len_B``): B is A's own partner, index_B = index_A, and no
    random B is drawn; everything else (order, seeds, shares, resuming) is as above.
    """

    def __init__(self, len_A: int, len_B: int, serial: bool, seed: int, num_replicas: int = 1, rank: int = 0,
                 paired: bool = False):
        if paired and len_A != len_B:
            raise ValueError(f"paired samples need as many A as B entries, not {len_A} and {len_B}")
        self.len_A, self.len_B, self.serial, self.paired = len_A, len_B, serial, paired
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
        order = torch.arange(n) if self.serial else torch.randperm(n, generator=g)
        if self.serial or self.paired:
            b_index = order % self.len_B
        else:
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


def train_loader(opt, ctx: distributed.Context = distributed.Context(), min_side: int = 1,
                 size_multiple: int = 4) -> tuple[DataLoader, UnalignedSampler]:
    """The training DataLoader over ``<dataroot>/<phase>A|B`` (or, with ``--dataset_mode aligned``, the
    AB images of ``<dataroot>/<phase>``) and its sampler (process ``ctx.rank``'s share).

    The files' headers are checked first where a bad file would only show up later: mixed sizes
    under a size-keeping ``--preprocess`` with batches above 1, sides the generator cannot take
    (not multiples of ``size_multiple``, :func:`check_sizes_fit`), and AB images of odd width. Under
    torchrun rank 0 alone reads the headers (:func:`shared_header_sizes`). Workers stay alive across
    epochs, and batches go to pinned memory for asynchronous copies when training on a GPU.
    """
    a_nc, b_nc = (opt.input_nc, opt.output_nc) if opt.direction == "AtoB" else (opt.output_nc, opt.input_nc)
    aligned = getattr(opt, "dataset_mode", "unaligned") == "aligned"
    dataset = (AlignedDataset if aligned else UnalignedDataset)(
        opt.dataroot, opt.phase, opt.max_dataset_size, opt.preprocess, opt.load_size, opt.crop_size,
        flip=not opt.no_flip, train=True, channels_A=a_nc, channels_B=b_nc, min_side=min_side)
    sampler = UnalignedSampler(len(dataset.A_paths), len(dataset.B_paths), opt.serial_batches, opt.seed,
                               num_replicas=ctx.world_size, rank=ctx.rank, paired=aligned)
    if aligned:
        check_aligned_files(dataset.AB_paths, str(dataset.root), opt, min_side, size_multiple,
                            sizes=shared_header_sizes(dataset.AB_paths, ctx))
    elif opt.preprocess in SIZE_DEPENDENT_MODES and (opt.batch_size > 1 or size_multiple > 4):
        for domain, paths in (("A", dataset.A_paths), ("B", dataset.B_paths)):
            sizes = shared_header_sizes(paths, ctx)
            check_sizes_fit(paths, sizes, opt, size_multiple)
            if opt.batch_size > 1:
                check_one_size(paths, f"{opt.dataroot}/{opt.phase}{domain}", opt, min_side, sizes)
    workers = loader_workers(opt.num_threads)
    loader = DataLoader(dataset, batch_size=opt.batch_size, sampler=sampler, num_workers=workers,
                        pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                        prefetch_factor=4 if workers > 0 else None, worker_init_fn=ignore_stop_signals,
                        collate_fn=collate_pairs,
                        # Each epoch's iterator draws a worker base seed; from its own generator it
                        # leaves torch's global one (saved in checkpoints) alone, so resumes are exact.
                        generator=torch.Generator().manual_seed(opt.seed))
    return loader, sampler


def close_loader(loader: DataLoader) -> None:
    """Stop ``loader``'s persistent workers now, rather than whenever its iterator is garbage-collected.

    The training workers ignore SIGINT and SIGTERM (the main process handles a preemption), so
    multiprocessing's exit handler, which terminates daemonic children and then joins them, would
    wait forever for workers still alive when the interpreter exits: a ``train.main()`` called in
    the same process as other work (a test, a notebook) whose frames a stored traceback keeps
    alive. DataLoader has no public call for this; its iterator's shutdown is what its own
    ``__del__`` runs.
    """
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    loader._iterator = None


SCAN_THREADS = 8  # header reads wait on the disk more than on the interpreter (a network file system)


def header_sizes(paths: list[str]) -> list[tuple[int, int] | None]:
    """Each file's (width, height) from its header (None where PIL cannot open it), read in threads."""
    with ThreadPoolExecutor(SCAN_THREADS) as pool:
        return list(pool.map(header_size, paths, chunksize=64))


def shared_header_sizes(paths: list[str], ctx: distributed.Context) -> list[tuple[int, int] | None]:
    """:func:`header_sizes` read by rank 0 alone and sent to the other ranks (a single process: read).

    Every rank opening every header multiplies the start-up wait on a network file system by the
    number of processes. With the sizes in hand every rank runs the same checks on the same data, so
    a bad folder stops all of them alike, each with the same one-line error. Should the scan itself
    fail on rank 0, the others are told so instead of waiting for sizes that never come.
    """
    sizes, failure = None, None
    if ctx.is_main:
        try:
            sizes = header_sizes(paths)
        except Exception as err:
            failure = one_line(f"{type(err).__name__}: {err}")
            distributed.broadcast_object(ctx, (None, failure))
            raise
    sizes, failure = distributed.broadcast_object(ctx, (sizes, failure))
    if failure is not None:
        raise UserError(f"rank 0 could not read the image headers ({failure}); see its error")
    return sizes


def preprocessed_sizes(paths: list[str], preprocess: str, load_size: int, crop_size: int,
                       min_side: int = 1, sizes: list[tuple[int, int] | None] | None = None
                       ) -> dict[tuple[int, int], list[str]]:
    """The files of ``paths`` grouped by the (width, height) ``--preprocess`` gives them, read from
    the headers only (or taken from ``sizes``, one per path, when already read). Files PIL cannot
    open, and images too small for the networks, are left out: training replaces those with other
    images of the folder."""
    sizes = header_sizes(paths) if sizes is None else sizes
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for path, size in zip(paths, sizes):
        if size is not None:
            out = output_size(preprocess, load_size, crop_size, size)
            if min(out) >= min_side:
                groups[out].append(path)
    return dict(groups)


def check_one_size(paths: list[str], folder: str, opt, min_side: int = 1,
                   sizes: list[tuple[int, int] | None] | None = None) -> None:
    """Refuse, before training starts, a folder whose images ``--preprocess`` leaves in several
    sizes when batches hold more than one image: otherwise the run would stop at the first batch
    that happens to mix them, which may be hours in, or never for a lucky seed. ``sizes``: the
    files' sizes where already read (the halves of AB images)."""
    groups = preprocessed_sizes(paths, opt.preprocess, opt.load_size, opt.crop_size, min_side, sizes)
    if len(groups) > 1:
        common = sorted(groups.items(), key=lambda item: -len(item[1]))
        examples = ", ".join(f"{w}x{h} ({len(files)} files, e.g. {Path(files[0]).name})"
                             for (w, h), files in common[:3])
        more = f" and {len(groups) - 3} more sizes" if len(groups) > 3 else ""
        raise UserError(f"{folder} holds images of {len(groups)} sizes after --preprocess {opt.preprocess}: "
                        f"{examples}{more}; --batch_size {opt.batch_size} needs one size: use a cropping "
                        "--preprocess (e.g. resize_and_crop), resize the images, or --batch_size 1")


def check_sizes_fit(paths: list[str], sizes: list[tuple[int, int] | None], opt, multiple: int,
                    halves: bool = False) -> None:
    """Refuse, before anything runs, the first image whose sides after a size-keeping ``--preprocess``
    (``none``, ``scale_width``) are not multiples of ``multiple``, the generator's
    (:func:`models.networks.size_multiple`: 4 for the ResNets, which those modes round to anyway,
    128 or 256 for a U-Net, whose skip connections would not line up). ``sizes`` are the files'
    (width, height), None where unreadable (reported later as a bad image); with ``halves`` they are
    the A and B halves of AB images, which is what the network sees. Cropping modes fix the size from
    the flags, which the options check."""
    if opt.preprocess not in SIZE_DEPENDENT_MODES or multiple <= 4:
        return
    bad = []
    for path, size in zip(paths, sizes):
        if size is not None:
            out = output_size(opt.preprocess, opt.load_size, opt.crop_size, size)
            if out[0] % multiple or out[1] % multiple:
                bad.append((path, size, out))
    if not bad:
        return
    path, (w, h), (ow, oh) = bad[0]
    what = f"its A and B halves are {w}x{h} px" if halves else f"it is {w}x{h} px"
    if (ow, oh) != (w, h):
        what += f", {ow}x{oh} after --preprocess {opt.preprocess}"
    more = "" if len(bad) == 1 else "; 1 more image does not fit either" if len(bad) == 2 else \
        f"; {len(bad) - 1} more images do not fit either"
    raise UserError(f"{path}: {what}, and --netG {opt.netG} needs sides that are multiples of {multiple} "
                    f"(it halves them {multiple.bit_length() - 1} times){more}: resize the images to multiples of "
                    f"{multiple}, or crop them at load time (e.g. --preprocess crop --crop_size {multiple})")


def check_even_widths(paths: list[str], folder: str,
                      sizes: list[tuple[int, int] | None] | None = None) -> list[tuple[int, int] | None]:
    """Refuse AB images of odd width (A and B cannot be cut apart evenly) from their headers, before
    anything is written; returns the sizes (read here unless given). Training would otherwise
    replace such a file at every epoch, or stop hours in if too many are odd."""
    sizes = header_sizes(paths) if sizes is None else sizes
    odd = [(path, size) for path, size in zip(paths, sizes) if size is not None and size[0] % 2]
    if odd:
        (path, (w, h)), more = odd[0], f" (and {len(odd) - 1} more in {folder})" if len(odd) > 1 else ""
        raise UserError(f"{path} is {w}x{h}: an aligned (AB) image holds A and B side by side, so its width "
                        f"must be even{more}; crop or pad it by one pixel, or rebuild the AB images")
    return sizes


def half_sizes(sizes: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
    """The size of each half of AB images of ``sizes`` (what the networks see)."""
    return [None if size is None else (size[0] // 2, size[1]) for size in sizes]


def check_aligned_files(paths: list[str], folder: str, opt, min_side: int = 1, size_multiple: int = 4,
                        sizes: list[tuple[int, int] | None] | None = None) -> None:
    """The training checks of AB images from one header scan (``sizes``, where already read): even
    widths, halves the generator can take (:func:`check_sizes_fit`), and one size of the halves
    where batches need it (:func:`check_one_size`)."""
    halves = half_sizes(check_even_widths(paths, folder, sizes))
    check_sizes_fit(paths, halves, opt, size_multiple, halves=True)
    if opt.batch_size > 1 and opt.preprocess in SIZE_DEPENDENT_MODES:
        check_one_size(paths, f"{folder} (A and B halves)", opt, min_side, sizes=halves)


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


def stack_if_same(tensors: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    same = bool(tensors) and all(t.shape == tensors[0].shape for t in tensors)
    return torch.stack(tensors) if same else tensors


def collate_images(batch: list[dict]) -> dict:
    """Stack same-sized images; keep a list when sizes differ (``--preprocess none`` at test time).
    Unreadable files are left out of the batch and listed under ``bad``. Items of an aligned test
    set also carry their ``target`` half, batched alike."""
    bad = [b["bad"] for b in batch if b.get("bad")]
    batch = [b for b in batch if b["image"] is not None]
    out = {"image": stack_if_same([b["image"] for b in batch]),
           "path": [b["path"] for b in batch], "relpath": [b["relpath"] for b in batch],
           "size": [b["size"] for b in batch], "bad": bad}
    if batch and "target" in batch[0]:
        out["target"] = stack_if_same([b["target"] for b in batch])
    return out
