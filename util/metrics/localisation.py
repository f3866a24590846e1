"""Mask localisation: did a translation change the face where the mask is, and only there?

On a paired test set with masks (testA/NAME unmasked, testB/NAME the same face masked, testmask/NAME
white where the mask is), the region a translation changed is compared with the true mask by their
intersection over union (Jaccard index), in both directions: AB (fake_B against its input real_A: the
mask drawn) and BA (fake_A against real_B: the mask taken off).

Two ways to say which pixels changed:

- :func:`changed_region`, for any generator: the mean over the colour channels of |fake - input| is
  above a threshold on the 0-255 scale. The default, :data:`CHANGE_THRESHOLD` = 16 levels (1/16 of
  the range), is well above the rounding of 8-bit pictures (1 level) and a clearly visible change,
  and low enough to catch the true change: on the toy faces' test set the true mask changes 94% of
  its pixels by more than 16 levels, so a perfect translation (fake = the true image) scores an IoU
  of 0.94 (0.90 at 25 levels, 0.97 at 8; the rest are anti-aliased edges and mask colours close to
  the skin). A generator that redraws the whole face, as a plain CycleGAN does, changes pixels
  outside the mask by more than that too, and is charged for it: that is what the number measures.
- :func:`attention_region`, for ``--attention`` runs: the generator's own map, alpha > 0.5.

Both give HxW boolean regions, so plain and attention runs are compared on one scale. Plain
functions on arrays; ``scripts/evaluate.py`` reads the images and averages over the test set.
"""
from __future__ import annotations

import numpy as np

CHANGE_THRESHOLD = 16.0  # levels of 0-255, mean over channels of |fake - input|
ALPHA_THRESHOLD = 0.5


def changed_region(fake: np.ndarray, source: np.ndarray, threshold: float = CHANGE_THRESHOLD) -> np.ndarray:
    """HxW bool: where the mean over channels of |fake - source| is above ``threshold``.

    ``fake`` and ``source`` are HxWxC (or HxW) arrays of the same shape on the 0-255 scale.
    """
    fake, source = np.asarray(fake, np.float64), np.asarray(source, np.float64)
    if fake.shape != source.shape:
        raise ValueError(f"fake {fake.shape} and input {source.shape} differ in shape")
    difference = np.abs(fake - source)
    return (difference.mean(axis=2) if difference.ndim == 3 else difference) > threshold


def attention_region(alpha: np.ndarray, threshold: float = ALPHA_THRESHOLD) -> np.ndarray:
    """HxW bool: where an attention map (values in [0, 1]) is above ``threshold``."""
    return np.asarray(alpha, np.float64) > threshold


def iou(region: np.ndarray, truth: np.ndarray) -> float:
    """|region and truth| / |region or truth| of two HxW boolean masks; 1.0 when both are empty
    (nothing to change and nothing changed)."""
    region, truth = np.asarray(region, bool), np.asarray(truth, bool)
    if region.shape != truth.shape:
        raise ValueError(f"region {region.shape} and true mask {truth.shape} differ in shape")
    union = np.logical_or(region, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(region, truth).sum() / union)
