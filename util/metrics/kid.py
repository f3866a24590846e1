"""Kernel Inception Distance (Binkowski et al. 2018): an unbiased MMD^2 between feature sets.

With the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 and m features per set,

    MMD^2 = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1)) - 2 sum_{i,j} k(x_i, y_j) / m^2

is unbiased, so unlike FID its expectation does not depend on the set size. As in the reference
code, it is averaged over random subsets (``n_subsets`` of ``subset_size`` images, drawn without
replacement within a subset), and the spread over subsets is reported as the standard deviation.
"""
from __future__ import annotations

import numpy as np

from util.errors import UserError


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(fake: np.ndarray, real: np.ndarray, n_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float, int]:
    """(mean, std, subset size used) of the MMD^2 over random subsets of both feature sets."""
    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    m = min(subset_size, len(fake), len(real))
    if m < 2:
        raise UserError(f"KID needs at least 2 images in each set, got {len(fake)} and {len(real)}")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(fake[rng.choice(len(fake), m, replace=False)],
                            real[rng.choice(len(real), m, replace=False)]) for _ in range(n_subsets)]
    return float(np.mean(values)), float(np.std(values)), m
