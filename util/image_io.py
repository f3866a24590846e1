"""Tensors in [-1, 1] to uint8 pictures on disk (and attention maps in [0, 1] to greyscale ones)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
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


def tensors_to_images(batch: torch.Tensor) -> np.ndarray:
    """NxCxHxW in [-1, 1] -> NxHxWx3 uint8, converted where the tensor lives (a quarter of the bytes
    then cross to the CPU); the same rounding as :func:`tensor_to_image`."""
    arr = ((batch.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    arr = arr.permute(0, 2, 3, 1).cpu().numpy()
    return np.repeat(arr, 3, axis=3) if arr.shape[3] == 1 else arr


def maps_to_images(batch: torch.Tensor) -> np.ndarray:
    """Nx1xHxW attention maps in [0, 1] -> NxHxW uint8 greyscale, value round(255 * alpha)."""
    arr = (batch.detach().float().clamp(0, 1)[:, 0] * 255.0).round().to(torch.uint8)
    return arr.cpu().numpy()


def save_image(image: np.ndarray, path: str | Path, aspect_ratio: float = 1.0,
               size: tuple[int, int] | None = None) -> None:
    """Write an HxWx3 (or HxW greyscale) uint8 array as PNG, optionally stretched by ``aspect_ratio``
    (width/height) or resized to ``size`` = (width, height)."""
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


class ImageWriter:
    """Writes pictures on a few background threads (PNG encoding releases the GIL), so the model
    is not idle while files are compressed. At most ``max_pending`` pictures wait in memory; a
    failed write (disk full, read-only folder) is raised, as an ``OSError``, by the next call."""

    def __init__(self, threads: int = 4, max_pending: int = 256):
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="image-writer")
        self.slots = threading.BoundedSemaphore(max_pending)
        self.error: BaseException | None = None
        self.errors_lock = threading.Lock()

    def _write(self, image: np.ndarray, path: Path, aspect_ratio: float, size) -> None:
        try:
            save_image(image, path, aspect_ratio, size)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller's thread
            with self.errors_lock:
                self.error = self.error or err
        finally:
            self.slots.release()

    def _raise_pending(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def submit(self, image: np.ndarray, path: str | Path, aspect_ratio: float = 1.0,
               size: tuple[int, int] | None = None) -> None:
        self._raise_pending()
        self.slots.acquire()
        self.pool.submit(self._write, image, Path(path), aspect_ratio, size)

    def close(self) -> None:
        """Wait for every picture; raises the first failure."""
        self.pool.shutdown(wait=True)
        self._raise_pending()
