"""Preprocessing: the classic ``--preprocess`` modes, on PIL images, ending in a [-1, 1] tensor.

- ``resize_and_crop``: resize to load_size x load_size, then crop crop_size (random when training,
  centred at test time so results are reproducible);
- ``crop``: crop only; ``scale_width``: width to load_size, keeping the aspect ratio (height at
  least crop_size); ``scale_width_and_crop``: both;
- ``none``: keep the size, rounded to a multiple of 4 so the generators' down/up-sampling fits.

An image smaller than the crop is scaled up (keeping its aspect ratio) instead of failing.
Resizing uses bicubic filtering, as the classic code.
"""
from __future__ import annotations

import random
from typing import Callable

import numpy as np
import torch
from PIL import Image

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
SIZE_DEPENDENT_MODES = ("none", "scale_width")  # the output's size follows the input's
BICUBIC = Image.Resampling.BICUBIC


def scaled_width_size(size: tuple[int, int], target_width: int, crop_size: int) -> tuple[int, int]:
    w, h = size
    if w == target_width and h >= crop_size:
        return size
    return target_width, int(max(target_width * h / w, crop_size))


def scale_width(img: Image.Image, target_width: int, crop_size: int) -> Image.Image:
    new_size = scaled_width_size(img.size, target_width, crop_size)
    return img if new_size == img.size else img.resize(new_size, BICUBIC)


def rounded_size(size: tuple[int, int], base: int = 4) -> tuple[int, int]:
    w, h = size
    return max(base, int(round(w / base) * base)), max(base, int(round(h / base) * base))


def round_to_multiple(img: Image.Image, base: int = 4) -> Image.Image:
    new_size = rounded_size(img.size, base)
    return img if new_size == img.size else img.resize(new_size, BICUBIC)


def output_size(preprocess: str, load_size: int, crop_size: int, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of what :func:`get_transform`'s function makes of an image of ``size``,
    computed without any pixels (to check a folder's sizes from the file headers)."""
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose from {PREPROCESS_MODES}")
    if "crop" in preprocess:
        return crop_size, crop_size
    if preprocess == "scale_width":
        size = scaled_width_size(size, load_size, crop_size)
    return rounded_size(size, 4)


def ensure_at_least(img: Image.Image, size: int) -> Image.Image:
    """Scale up (aspect kept) so both sides are at least ``size`` (classic issue #390 crashed here)."""
    w, h = img.size
    if w >= size and h >= size:
        return img
    scale = size / min(w, h)
    return img.resize((max(size, round(w * scale)), max(size, round(h * scale))), BICUBIC)


def crop(img: Image.Image, size: int, rng: random.Random | None) -> Image.Image:
    """A size x size crop: at a random position with ``rng``, else centred."""
    img = ensure_at_least(img, size)
    w, h = img.size
    if rng is None:
        x, y = (w - size) // 2, (h - size) // 2
    else:
        x, y = rng.randint(0, w - size), rng.randint(0, h - size)
    return img.crop((x, y, x + size, y + size))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 HxW(xC) -> float CxHxW in [-1, 1] (the generators end in tanh)."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).float().div_(127.5).sub_(1.0)


def get_transform(preprocess: str, load_size: int, crop_size: int, flip: bool, train: bool,
                  rng: random.Random | None = None) -> Callable[[Image.Image], torch.Tensor]:
    """A function PIL image -> tensor for the given ``--preprocess`` mode.

    Random crops and flips draw from ``rng`` (the dataset passes one seeded per sample, so a sample
    is reproducible regardless of worker count). At test time (``train=False``) crops are centred
    and nothing is flipped.
    """
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose from {PREPROCESS_MODES}")

    def transform(img: Image.Image, rng: random.Random | None = rng) -> torch.Tensor:
        crop_rng = rng if train else None
        if "resize" in preprocess:
            img = img.resize((load_size, load_size), BICUBIC)
        elif "scale_width" in preprocess:
            img = scale_width(img, load_size, crop_size)
        if "crop" in preprocess:
            img = crop(img, crop_size, crop_rng)
        if preprocess == "none" or preprocess == "scale_width":
            img = round_to_multiple(img, 4)
        if flip and train and rng is not None and rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(img)

    return transform
