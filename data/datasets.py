"""Datasets: ``unaligned`` (two folders, for CycleGAN) and ``single`` (one folder, for test.py).

A sample's randomness (which B image goes with an A image, crop position, flip) is decided by the
sampler and a seed carried in the index, never by worker-global state, so the same seed gives the
same data whatever ``--num_threads`` is.
"""
from __future__ import annotations

import random
from pathlib import Path

from torch.utils.data import Dataset

from data.image_folder import ImageReadError, find_images, load_image
from data.transforms import get_transform
from util.errors import UserError

MAX_REPLACEMENTS = 10  # tries to find a readable stand-in for an unreadable training image


def image_folder(path: Path, max_dataset_size: float, what: str) -> list[str]:
    if not path.is_dir():
        raise UserError(f"{what} folder {path} does not exist: check --dataroot (and --phase)")
    paths = find_images(path, max_dataset_size)
    if not paths:
        raise UserError(f"{what} folder {path} has no images (.jpg .jpeg .png .ppm .bmp .tif .tiff .webp): "
                        "check --dataroot (and --phase)")
    return paths


class UnalignedDataset(Dataset):
    """Images of domain A from ``<dataroot>/<phase>A`` and of B from ``<dataroot>/<phase>B``.

    Indexed by ``(index_A, index_B, seed)`` from :class:`data.UnalignedSampler`; a plain integer
    ``i`` means ``(i % len_A, i % len_B)``. Its length is the larger folder's, as in the classic code.
    """

    def __init__(self, dataroot: str, phase: str, max_dataset_size: float, preprocess: str,
                 load_size: int, crop_size: int, flip: bool, train: bool, channels_A: int, channels_B: int,
                 min_side: int = 1):
        root = Path(dataroot)
        if not root.is_dir():
            raise UserError(f"--dataroot {dataroot} does not exist or is not a folder")
        self.A_paths = image_folder(root / f"{phase}A", max_dataset_size, "domain A")
        self.B_paths = image_folder(root / f"{phase}B", max_dataset_size, "domain B")
        self.transform = get_transform(preprocess, load_size, crop_size, flip, train)
        self.gray_A, self.gray_B = channels_A == 1, channels_B == 1
        self.min_side = min_side  # images the networks cannot take (--preprocess none) count as unusable

    def __len__(self) -> int:
        return max(len(self.A_paths), len(self.B_paths))

    def __getitem__(self, index):
        if isinstance(index, int):
            index = (index % len(self.A_paths), index % len(self.B_paths), index)
        i, j, seed = index
        rng = random.Random(seed)  # crop and flip of this sample; A and B get independent draws
        bad: list[str] = []
        A, A_path = self._load(self.A_paths, i, self.gray_A, rng, bad)
        B, B_path = self._load(self.B_paths, j, self.gray_B, rng, bad)
        # "path<TAB>reason" lines of the unreadable files met (and replaced) for this sample
        return {"A": A, "B": B, "A_paths": A_path, "B_paths": B_path, "bad": "\n".join(bad)}

    def _load(self, paths: list[str], index: int, gray: bool, rng: random.Random, bad: list[str]):
        """The image at ``index``, or, if it cannot be read, another one of the folder drawn from the
        sample's seed (so batches keep their size and the run stays reproducible)."""
        for _ in range(MAX_REPLACEMENTS + 1):
            try:
                image = self.transform(load_image(paths[index], gray), rng)
                if min(image.shape[-2:]) < self.min_side:
                    raise ImageReadError(f"{image.shape[-1]}x{image.shape[-2]} px, smaller than the "
                                         f"{self.min_side} px the networks need")
                return image, paths[index]
            except ImageReadError as err:
                cause = err.__cause__ or err
                bad.append(f"{paths[index]}\t{type(cause).__name__}: {str(cause)[:100]}")
                index = rng.randrange(len(paths))
        folder = Path(paths[index]).parent
        raise ImageReadError(f"{MAX_REPLACEMENTS + 1} unreadable images in a row under {folder} (e.g. "
                             f"{bad[0].split(chr(9))[0]}): check the folder's files")


class SingleDataset(Dataset):
    """Every image under one folder, for translating a collection in one direction."""

    def __init__(self, root: str, max_dataset_size: float, preprocess: str, load_size: int,
                 crop_size: int, channels: int, what: str = "--dataroot"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"{what} {root} does not exist or is not a folder")
        self.paths = image_folder(self.root, max_dataset_size, what)
        self.transform = get_transform(preprocess, load_size, crop_size, flip=False, train=False)
        self.gray = channels == 1

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        """The image and where it came from; ``image`` None (and ``bad`` the reason) if unreadable."""
        path = self.paths[index]
        relpath = str(Path(path).relative_to(self.root))
        try:
            img = load_image(path, self.gray)
        except ImageReadError as err:
            cause = err.__cause__ or err
            return {"image": None, "path": path, "size": None, "relpath": relpath,
                    "bad": f"{path}\t{type(cause).__name__}: {str(cause)[:100]}"}
        return {"image": self.transform(img), "path": path, "size": img.size, "relpath": relpath, "bad": ""}


DATASETS = {"unaligned": UnalignedDataset, "single": SingleDataset}
