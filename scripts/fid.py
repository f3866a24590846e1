"""Frechet Inception Distance between two image folders or statistics files, as pytorch-fid computes it.

    python scripts/fid.py results/masks/test_latest/fake_B datasets/masks/testB
    python scripts/fid.py datasets/masks/testB --save_stats testB_stats.npz      # statistics only
    python scripts/fid.py results/masks/test_latest/fake_B testB_stats.npz

A PATH is a folder of images (searched recursively) or a ``.npz`` holding ``mu`` and ``sigma``
(pytorch-fid's format, so its files work here and ours there). The network, its weights file
(pt_inception-2015-12-05-6726825d.pth), the resize and the scaling are pytorch-fid's, so the number
is the same; it is computed faster (see util/metrics). The last line printed is ``FID: <value>``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options.base_options import OneLineParser, positive_int, non_negative_int  # noqa: E402
from util import files  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.metrics import inception  # noqa: E402
from util.metrics.features import extract_features, list_images  # noqa: E402
from util.metrics.fid import (Statistics, StatisticsCache, content_key, fid_from_statistics, load_npz,  # noqa: E402
                              save_npz, small_set_warning, statistics)


def add_inception_flags(p: argparse.ArgumentParser) -> None:
    """The flags every Inception-based script shares (fid.py, evaluate.py, benchmark.py)."""
    p.add_argument("--dims", type=int, default=2048, choices=inception.DIMS,
                   help="Inception feature size: 2048 (pool3, the standard FID), 768, 192 or 64")
    p.add_argument("--batch_size", type=positive_int, default=50, help="images per network call")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--num_workers", type=non_negative_int, default=None,
                   help="image decoding processes (default: the available cores, at most 8)")
    p.add_argument("--inception_weights", default=None, metavar="FILE",
                   help=f"the FID Inception weights ({inception.WEIGHTS_NAME}); default: the torch hub cache, "
                        "else a download")


def select_device(name: str | None):
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UserError(f"--device {name} is not a device name: use cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name} is not supported: use cpu, cuda or cuda:N")
    return device


class FeatureSource:
    """Loads the network once and turns folders into statistics, using the cache where asked."""

    def __init__(self, args: argparse.Namespace, cache_dir: str | Path | None = None):
        self.args = args
        self.dims = args.dims
        self.weights = inception.resolve_weights(args.inception_weights)
        self.weights_sha256 = files.file_sha256(self.weights)
        if not inception.is_official(self.weights_sha256):
            print(f"warning: {self.weights} is not pytorch-fid's published {inception.WEIGHTS_NAME} "
                  f"(sha256 {self.weights_sha256[:12]}...): these numbers are not comparable with published FIDs",
                  file=sys.stderr)
        self.device = select_device(args.device)
        if self.device.type == "cuda":
            import torch
            torch.backends.cudnn.benchmark = True
        self.model = inception.feature_extractor(self.weights, self.dims, self.device)
        self.cache = StatisticsCache(cache_dir) if cache_dir else None

    def folder(self, folder: str | Path, what: str, cached: bool = False, paths: list[str] | None = None) -> Statistics:
        paths = paths if paths is not None else list_images(folder, what)
        key = None
        if cached and self.cache is not None:
            key = content_key(paths, folder, self.dims, self.weights_sha256)
            hit = self.cache.get(key)
            if hit is not None:
                print(f"{what}: statistics of {len(paths)} images from the cache ({self.cache.path(key).name})")
                return hit
        features = extract_features(paths, self.model, self.args.batch_size, self.args.num_workers,
                                    desc=str(what))
        stats = statistics(features)
        if key is not None:
            self.cache.put(key, stats)
        return stats


def path_statistics(path: str, source_factory, what: str, cached: bool) -> Statistics:
    p = Path(path)
    if p.suffix.lower() == ".npz":
        if not p.is_file():
            raise UserError(f"{what} {path} does not exist")
        return load_npz(p, what)
    return source_factory().folder(p, what, cached=cached)


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="two image folders or .npz statistics "
                   "(one folder with --save_stats)")
    add_inception_flags(p)
    p.add_argument("--save_stats", default=None, metavar="OUT.npz",
                   help="write the statistics of the first PATH (a folder) to this pytorch-fid .npz")
    p.add_argument("--cache_dir", default=None, metavar="DIR",
                   help="reuse statistics of unchanged folders from here (keyed by content, dims and weights)")
    args = p.parse_args(argv)
    if len(args.paths) > 2:
        raise UserError(f"give one or two PATHs, got {len(args.paths)}")
    if len(args.paths) == 1 and not args.save_stats:
        raise UserError("one PATH computes no FID: give a second PATH, or --save_stats OUT.npz to save its statistics")
    if args.save_stats and Path(args.paths[0]).suffix.lower() == ".npz":
        raise UserError(f"--save_stats needs a folder as the first PATH, got {args.paths[0]}")
    if args.save_stats and Path(args.save_stats).exists():
        raise UserError(f"--save_stats {args.save_stats} exists already: remove it or choose another name")
    for i, path in enumerate(args.paths):
        if not Path(path).exists():
            raise UserError(f"PATH{i + 1} {path} does not exist")

    source: list[FeatureSource] = []

    def shared_source() -> FeatureSource:  # the network is loaded only if a folder needs it
        if not source:
            source.append(FeatureSource(args, args.cache_dir))
        return source[0]

    stats = [path_statistics(path, shared_source, f"PATH{i + 1}", cached=args.cache_dir is not None)
             for i, path in enumerate(args.paths)]
    if args.save_stats:
        save_npz(stats[0], args.save_stats)
        print(f"saved the statistics of {args.paths[0]} to {args.save_stats}")
    for i, s in enumerate(stats):
        warning = small_set_warning(s.count, len(s.mu), f"PATH{i + 1}")
        if warning:
            print(warning, file=sys.stderr)
    if len(stats) == 2:
        print(f"FID: {fid_from_statistics(stats[0], stats[1]):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "fid.py"))
