"""Inception features of image files: decoded and resized in DataLoader workers, batched through the net.

The protocol is pytorch-fid's, so the numbers match it: each file is opened with PIL and converted
to RGB, scaled to [0, 1] as float32, bilinearly resized to 299x299 (``align_corners=False``, no
antialiasing), and only then batched. Resizing each image in a worker, before batching, is the same
arithmetic as pytorch-fid's resize of the whole batch inside the network, but it runs in parallel
with the network, and it lets a folder mix image sizes (pytorch-fid cannot batch those).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from data import loader_workers
from data.image_folder import ImageReadError, find_images
from util.errors import UserError
from util.metrics.inception import INPUT_SIZE, InceptionFeatures


def decode_for_inception(path: str | Path) -> torch.Tensor:
    """One file -> 3x299x299 float32 in [0, 1], exactly as pytorch-fid prepares it."""
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"cannot read image {path} ({err.__class__.__name__}: {str(err)[:120]}); "
                             "remove or replace the file") from err
    x = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
    return F.interpolate(x[None], size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)[0]


class InceptionInputs(Dataset):
    def __init__(self, paths: Sequence[str | Path]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return decode_for_inception(self.paths[index])


def list_images(folder: str | Path, what: str) -> list[str]:
    """The images of a folder (recursively, sorted); a missing or empty folder is one clear error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{what} {folder} does not exist or is not a folder")
    paths = find_images(folder)
    if not paths:
        raise UserError(f"{what} {folder} has no images (.jpg .jpeg .png .ppm .bmp .tif .tiff .webp)")
    return paths


@torch.inference_mode()
def extract_features(paths: Sequence[str | Path], model: InceptionFeatures, batch_size: int = 50,
                     num_workers: int | None = None, desc: str = "features") -> np.ndarray:
    """(N, dims) float64 features of ``paths``, in order."""
    device = next(model.parameters()).device
    workers = loader_workers(8) if num_workers is None else num_workers  # the cores, at most 8
    loader = DataLoader(InceptionInputs(paths), batch_size=max(1, min(batch_size, len(paths))), shuffle=False,
                        num_workers=workers, pin_memory=device.type == "cuda",
                        prefetch_factor=4 if workers > 0 else None)
    out = np.empty((len(paths), model.dims), dtype=np.float64)
    start = 0
    for batch in tqdm(loader, desc=desc, unit="batch", disable=None, file=sys.stderr, leave=False):
        batch = batch.to(device, non_blocking=True)
        if model.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        feats = model(batch).float().cpu().numpy()
        out[start:start + len(feats)] = feats
        start += len(feats)
    return out
