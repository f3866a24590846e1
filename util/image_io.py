"""Tensors in [-1, 1] to uint8 pictures on disk."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """CxHxW (or 1xCxHxW) in [-1, 1] -> HxWx3 uint8; one channel is repeated to grey RGB."""
    if t.dim() == 4:
        t = t[0]
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().byte().numpy()
    arr = arr.transpose(1, 2, 0)
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def save_image(image: np.ndarray, path: str | Path, aspect_ratio: float = 1.0,
               size: tuple[int, int] | None = None) -> None:
    """Write an HxWx3 uint8 array as PNG, optionally stretched by ``aspect_ratio`` (width/height)
    or resized to ``size`` = (width, height)."""
    img = Image.fromarray(image)
    w, h = img.size
    if size is not None and size != (w, h):
        img = img.resize(size, Image.Resampling.BICUBIC)
    elif aspect_ratio > 1.0:
        img = img.resize((int(w * aspect_ratio), h), Image.Resampling.BICUBIC)
    elif aspect_ratio < 1.0:
        img = img.resize((w, int(h / aspect_ratio)), Image.Resampling.BICUBIC)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
