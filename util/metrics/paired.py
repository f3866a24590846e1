"""PSNR and SSIM between a translation and the real image it should equal, whole or inside a mask.

A paired test set (testA/NAME unmasked, testB/NAME the same face masked, testmask/NAME the mask's
pixels) lets a translation be compared with the truth. Inside the mask region the numbers say how
well a mask was drawn (A->B) or the face under it recovered (B->A); outside it they say how much of
the face the generator damaged that it should have left alone.

Images are float arrays in [0, 1] (data range 1). SSIM is Wang et al. (2004): an 11x11 Gaussian
window of sigma 1.5, K1 = 0.01, K2 = 0.03, population (co)variances, per colour channel. The map
is computed only where the window fits inside the image (scikit-image crops the same border after
filtering), and a masked SSIM is the mean of that map over the mask's pixels.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): the window scipy's gaussian_filter uses, 11 pixels wide
K1, K2 = 0.01, 0.03


def psnr(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB over all pixels, or over ``mask`` (HxW bool) in every channel; inf when equal."""
    sq = (np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2
    if mask is not None:
        if not mask.any():
            return float("nan")
        sq = sq[mask]
    mse = float(sq.mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _gaussian_window(channels: int) -> torch.Tensor:
    r = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (r / SSIM_SIGMA) ** 2)
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, -1, -1).contiguous()


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The SSIM of HxWxC images at every pixel the window fits around: (H-10)x(W-10)xC."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    if min(x.shape[:2]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} pixels a side, got {x.shape[:2]}")
    channels = x.shape[2]
    window = _gaussian_window(channels)
    tx = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
    ty = torch.from_numpy(y.transpose(2, 0, 1).copy())[None]
    stack = torch.cat([tx, ty, tx * tx, ty * ty, tx * ty], dim=1)
    means = F.conv2d(stack, window.repeat(5, 1, 1, 1), groups=5 * channels)[0]
    mx, my, mxx, myy, mxy = means.split(channels)
    vx, vy, cxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    c1, c2 = K1 ** 2, K2 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.numpy().transpose(1, 2, 0)


def ssim(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM over the image, or over the pixels of ``mask`` (HxW bool) the window fits around."""
    s = ssim_map(x, y)
    if mask is None:
        return float(s.mean())
    inner = mask[SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS]
    return float(s[inner].mean()) if inner.any() else float("nan")
