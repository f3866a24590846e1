"""Shared test set-up: the repository root on sys.path, and small image folders made on the fly."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def write_images(folder: Path, count: int, size=(36, 40), seed: int = 0, prefix: str = "",
                 ext: str = ".png") -> list[Path]:
    """``count`` random RGB images of ``size`` (width, height) in ``folder``, PNGs unless ``ext`` says otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i:03d}{ext}"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def tiny_dataroot(tmp_path: Path) -> Path:
    """trainA (6), trainB (5), testA (3), testB (3): random 36x40 images."""
    root = tmp_path / "data"
    write_images(root / "trainA", 6, seed=1)
    write_images(root / "trainB", 5, seed=2)
    write_images(root / "testA", 3, seed=3)
    write_images(root / "testB", 3, seed=4)
    return root
