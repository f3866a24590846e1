"""Speed measurements, each next to its plain baseline measured in the same run.

    python scripts/benchmark.py --mode fid --images 200 --size 256 [--inception_weights FILE] --json

``--mode fid``: scripts/fid.py's path against pytorch-fid's own ``calculate_fid_given_paths`` on the
same two folders of generated PNGs, with the same weights file; reports seconds, images/s, the
speed-up and both FID values. Without ``--inception_weights`` a random-weights file of the same
layout is made (speed does not depend on the values; the FIDs are then meaningless but must agree).
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from util.errors import run_cli  # noqa: E402


def fid_mode(args) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from util.metrics import inception

    work = Path(tempfile.mkdtemp(prefix="fid_bench_"))
    rng = np.random.default_rng(0)
    folders = [work / "a", work / "b"]
    for k, folder in enumerate(folders):
        folder.mkdir()
        for i in range(args.images):  # smooth random colour fields, different per folder
            small = rng.integers(0, 256, (8 + 4 * k, 8 + 4 * k, 3), dtype=np.uint8)
            Image.fromarray(small).resize((args.size, args.size), Image.Resampling.BICUBIC).save(folder / f"{i:05d}.png")
    weights = Path(args.inception_weights) if args.inception_weights else inception.make_random_weights(work / "w.pth")
    hub = work / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / inception.WEIGHTS_NAME).symlink_to(weights.resolve())
    os.environ["TORCH_HOME"] = str(work / "torch_home")
    from data import loader_workers
    workers = loader_workers(8)  # what pytorch-fid's command line uses: the cores, at most 8
    device = "cuda" if torch.cuda.is_available() else "cpu"

    from pytorch_fid.fid_score import calculate_fid_given_paths
    t0 = time.perf_counter()
    ref = float(calculate_fid_given_paths([str(f) for f in folders], 50, device, args.dims, workers))
    t_ref = time.perf_counter() - t0

    from scripts.fid import main as fid_main
    t0 = time.perf_counter()
    fid_main([str(folders[0]), str(folders[1]), "--dims", str(args.dims), "--device", device,
              "--inception_weights", str(weights)])
    t_ours = time.perf_counter() - t0
    n = 2 * args.images
    return {"mode": "fid", "device": device, "images": n, "size": args.size, "dims": args.dims,
            "threads": torch.get_num_threads(), "workers": workers,
            "fid_s": t_ours, "fid_img_per_s": n / t_ours, "pytorch_fid_s": t_ref, "pytorch_fid_img_per_s": n / t_ref,
            "fid_speedup": t_ref / t_ours, "fid_pytorch_fid": ref, "cpu": platform.processor() or platform.machine()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["fid"], default="fid")
    p.add_argument("--images", type=int, default=200, help="images per folder")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--dims", type=int, default=2048)
    p.add_argument("--inception_weights", default=None)
    p.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    args = p.parse_args(argv)
    result = fid_mode(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "benchmark.py"))
