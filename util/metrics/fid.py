"""Frechet Inception Distance: Gaussian statistics of features, the distance, and a statistics cache.

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1 S2)^(1/2) )      (Heusel et al. 2017, eq. 6)

pytorch-fid takes the matrix square root of the non-symmetric product S1 S2 with
``scipy.linalg.sqrtm`` (about 20 s for 2048x2048 on two cores) and keeps its real part. Only its
trace is needed, and S1 S2 is similar to the symmetric positive semi-definite matrix
M = S1^(1/2) S2 S1^(1/2), so tr((S1 S2)^(1/2)) = sum(sqrt(eig(M))). Two symmetric eigen-
decompositions give it in about 3 s, with no complex round-off to discard; negative eigenvalues
(round-off of exact zeros when a set has fewer images than dimensions) count as zero. The results
agree with pytorch-fid to about 1e-5 (the tests check this).

Statistics files are pytorch-fid's ``.npz`` (``mu``, ``sigma``), so either tool reads the other's.
The cache adds the features themselves (for KID) and is keyed by the images' content, the feature
size and the weights, so a changed folder or another network never reuses stale numbers.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg

from util.errors import UserError

CACHE_VERSION = "fid-stats-v1: PIL RGB, float [0,1], bilinear 299 align_corners=False, pytorch-fid Inception"


@dataclass
class Statistics:
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None  # (N, dims) when known; needed for KID

    @property
    def count(self) -> int | None:
        return None if self.features is None else len(self.features)


def statistics(features: np.ndarray) -> Statistics:
    """Mean and (unbiased, N-1) covariance of (N, dims) features, in float64 as pytorch-fid."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise UserError(f"FID needs at least 2 images, got {len(features)}")
    return Statistics(features.mean(axis=0), np.cov(features, rowvar=False), features)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for symmetric positive semi-definite sigma1, sigma2."""
    root1 = _psd_sqrt(sigma1)
    values = linalg.eigvalsh(root1 @ sigma2 @ root1)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise UserError(f"statistics of different feature sizes ({mu1.shape[0]} and {mu2.shape[0]}): "
                        "compute both with the same --dims")
    # Symmetrise: np.cov is symmetric only up to round-off, and eigh reads one triangle.
    sigma1, sigma2 = (sigma1 + sigma1.T) / 2, (sigma2 + sigma2.T) / 2
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))


def fid_from_statistics(a: Statistics, b: Statistics) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def small_set_warning(count: int | None, dims: int, what: str) -> str | None:
    """A warning when a set has no more images than feature dimensions (its covariance is singular)."""
    if count is not None and count <= dims:
        return (f"warning: {what} has {count} images, not more than the {dims} feature dimensions: its "
                "covariance is singular and FID is biased upwards (compare FIDs only at equal set sizes; "
                "KID is unbiased)")
    return None


def save_npz(stats: Statistics, path: str | Path, features: bool = False) -> Path:
    """Write pytorch-fid's ``mu``/``sigma`` file atomically (``features`` adds the raw features)."""
    path = Path(path)
    arrays = {"mu": stats.mu, "sigma": stats.sigma}
    if features and stats.features is not None:
        arrays["features"] = stats.features.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise UserError(f"could not write {path}: {err.strerror or err}") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_npz(path: str | Path, what: str = "statistics file") -> Statistics:
    """Read a pytorch-fid statistics file; anything else is one clear error."""
    try:
        with np.load(path, allow_pickle=False) as f:
            mu, sigma = f["mu"], f["sigma"]
            features = f["features"].astype(np.float64) if "features" in f.files else None
    except KeyError as err:
        raise UserError(f"{what} {path} has no {err} array: expected pytorch-fid's .npz with mu and sigma") from err
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"cannot read {what} {path} ({str(err)[:120]}): expected pytorch-fid's .npz") from err
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UserError(f"{what} {path} holds mu {mu.shape} and sigma {sigma.shape}, which do not fit together")
    return Statistics(mu.astype(np.float64), sigma.astype(np.float64), features)


def content_key(paths: list[str], root: str | Path, dims: int, weights_sha256: str) -> str:
    """A hash of every image's relative path and bytes, the feature size, the weights and the protocol."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, dims, weights_sha256]).encode())
    for path in paths:
        digest.update(os.path.relpath(path, root).encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


class StatisticsCache:
    """Statistics of real-image folders on disk, one ``<key>.npz`` per (content, dims, weights)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str) -> Statistics | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            stats = load_npz(path, "cached statistics")
        except UserError as err:
            warnings.warn(f"ignoring a damaged cache entry: {err}", stacklevel=2)
            return None
        return stats if stats.features is not None else None

    def put(self, key: str, stats: Statistics) -> None:
        try:
            save_npz(stats, self.path(key), features=True)
        except UserError as err:  # a cache that cannot be written costs time, not the result
            warnings.warn(f"statistics not cached: {err}", stacklevel=2)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(os.environ.get("FID_STATS_CACHE", os.path.join(base, "masked-cyclegan", "fid_stats")))
