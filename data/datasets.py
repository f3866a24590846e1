"""Datasets: ``unaligned`` (two folders, for CycleGAN), ``aligned`` (AB images, for pix2pix) and
``single`` (one folder, for test.py).

A sample's randomness (which B image goes with an A image, crop position, flip) is decided by the
sampler and a seed carried in the index, never by worker-global state, so the same seed gives the
same data whatever ``--num_threads`` is.

An aligned sample is one file holding A on its left half and B on its right half (the classic
pix2pix layout, ``<dataroot>/<phase>/NAME.png``); both halves get the same crop and flip, or the
pair would no longer line up pixel for pixel.
"""
from __future__ import annotations

import random
from pathlib import Path

from PIL import Image
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


def bad_entry(path: str, err: ImageReadError) -> str:
    """The ``path<TAB>reason`` line a dataset reports for an unreadable file (see util.resilience.BadImages)."""
    cause = err.__cause__ or err
    return f"{path}\t{type(cause).__name__}: {str(cause)[:100]}"


def check_side(image, min_side: int) -> None:
    """Images the networks cannot take (--preprocess none) count as unusable, like unreadable ones."""
    if min(image.shape[-2:]) < min_side:
        raise ImageReadError(f"{image.shape[-1]}x{image.shape[-2]} px, smaller than the {min_side} px the networks need")


def read_or_replace(paths: list[str], index: int, read, rng: random.Random, bad: list[str]):
    """``(read(paths[index]), path)``, or, if that file cannot be read, another one of the folder drawn
    from the sample's seed (so batches keep their size and the run stays reproducible)."""
    for _ in range(MAX_REPLACEMENTS + 1):
        try:
            return read(paths[index]), paths[index]
        except ImageReadError as err:
            bad.append(bad_entry(paths[index], err))
            index = rng.randrange(len(paths))
    folder = Path(paths[index]).parent
    raise ImageReadError(f"{MAX_REPLACEMENTS + 1} unreadable images in a row under {folder} (e.g. "
                         f"{bad[0].split(chr(9))[0]}): check the folder's files")


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

    def describe(self) -> str:
        return f"{len(self.A_paths)} A and {len(self.B_paths)} B images"

    def _load(self, paths: list[str], index: int, gray: bool, rng: random.Random, bad: list[str]):
        return read_or_replace(paths, index, lambda path: self._read(path, gray, rng), rng, bad)

    def _read(self, path: str, gray: bool, rng: random.Random):
        image = self.transform(load_image(path, gray), rng)
        check_side(image, self.min_side)
        return image


def aligned_folder(dataroot: str, phase: str) -> Path:
    """``<dataroot>/<phase>``, or one line saying what is wrong (and what an unaligned dataroot wants)."""
    root = Path(dataroot)
    if not root.is_dir():
        raise UserError(f"--dataroot {dataroot} does not exist or is not a folder")
    folder = root / phase
    if folder.is_dir():
        return folder
    hint = ""
    if (root / f"{phase}A").is_dir() or (root / f"{phase}B").is_dir():
        hint = (f"; {root} has {phase}A/{phase}B folders, which looks like an unaligned dataroot: use --model "
                "cycle_gan, or build AB images (e.g. with datasets/prepare_masked_faces.py --paired)")
    raise UserError(f"aligned folder {folder} does not exist: check --dataroot and --phase (--dataset_mode aligned "
                    f"reads <dataroot>/<phase>/NAME.png, A and B side by side){hint}")


def split_ab(img: Image.Image, path: str) -> tuple[Image.Image, Image.Image]:
    """The left (A) and right (B) halves of an AB image."""
    w, h = img.size
    if w % 2:
        raise ImageReadError(f"{path} is {w} px wide: an AB image holds A and B side by side, so its width must be even")
    return img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))


class AlignedDataset(Dataset):
    """Pairs from ``<dataroot>/<phase>/NAME.png`` (sub-folders too): A is the left half, B the right.

    Indexed like :class:`UnalignedDataset` by ``(index, index_B, seed)`` from :class:`data.UnalignedSampler`
    (with ``paired``, index_B is index and is not used). As there, ``A`` is always the left half;
    the model swaps the halves for ``--direction BtoA``. ``A_paths`` and ``B_paths`` both name the AB
    files, as in the classic code.
    """

    def __init__(self, dataroot: str, phase: str, max_dataset_size: float, preprocess: str,
                 load_size: int, crop_size: int, flip: bool, train: bool, channels_A: int, channels_B: int,
                 min_side: int = 1):
        self.root = aligned_folder(dataroot, phase)
        self.AB_paths = image_folder(self.root, max_dataset_size, "aligned (AB)")
        self.A_paths = self.B_paths = self.AB_paths
        self.transform = get_transform(preprocess, load_size, crop_size, flip, train)
        self.gray_A, self.gray_B = channels_A == 1, channels_B == 1
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.AB_paths)

    def describe(self) -> str:
        return f"{len(self.AB_paths)} AB images"

    def __getitem__(self, index):
        if isinstance(index, int):
            index = (index % len(self), index % len(self), index)
        i, _, seed = index
        rng = random.Random(seed)
        bad: list[str] = []
        (A, B), path = read_or_replace(self.AB_paths, i, lambda p: self.pair(p, rng), rng, bad)
        return {"A": A, "B": B, "A_paths": path, "B_paths": path, "bad": "\n".join(bad)}

    def halves(self, path: str) -> tuple[Image.Image, Image.Image]:
        left, right = split_ab(load_image(path), path)
        return (left.convert("L") if self.gray_A else left), (right.convert("L") if self.gray_B else right)

    def pair(self, path: str, rng: random.Random | None = None):
        """A and B of one file as tensors. Both halves are transformed from the same state of ``rng``, so
        they get the same crop position and the same flip: drawn once per sample, used twice."""
        left, right = self.halves(path)
        state = rng.getstate() if rng is not None else None
        A = self.transform(left, rng)
        if rng is not None:
            rng.setstate(state)
        B = self.transform(right, rng)
        check_side(A, self.min_side)  # B has A's size: same half size, same transform
        return A, B


class AlignedTestDataset(AlignedDataset):
    """AB files for test.py, in :class:`SingleDataset`'s format: ``image`` is the model's input half
    (A, or B with ``--direction BtoA``) and ``target`` the other half; an unreadable file comes back
    with ``image`` None and ``bad`` its reason, for test.py to skip and name."""

    def __init__(self, dataroot: str, phase: str, max_dataset_size: float, preprocess: str, load_size: int,
                 crop_size: int, direction: str, channels_A: int, channels_B: int):
        super().__init__(dataroot, phase, max_dataset_size, preprocess, load_size, crop_size, flip=False,
                         train=False, channels_A=channels_A, channels_B=channels_B)
        self.swap = direction == "BtoA"

    def __getitem__(self, index: int) -> dict:
        path = self.AB_paths[index]
        item = {"path": path, "relpath": str(Path(path).relative_to(self.root)), "bad": ""}
        try:
            left, right = self.halves(path)
        except ImageReadError as err:
            return {**item, "image": None, "target": None, "size": None, "bad": bad_entry(path, err)}
        A, B = self.transform(left), self.transform(right)
        image, target = (B, A) if self.swap else (A, B)
        return {**item, "image": image, "target": target, "size": left.size}


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
            return {"image": None, "path": path, "size": None, "relpath": relpath, "bad": bad_entry(path, err)}
        return {"image": self.transform(img), "path": path, "size": img.size, "relpath": relpath, "bad": ""}


DATASETS = {"unaligned": UnalignedDataset, "aligned": AlignedDataset, "single": SingleDataset}
