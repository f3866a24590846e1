"""One PNG grid of test.py results: a row per image name, a column per label.

    python scripts/results_grid.py results/toyfaces/test_latest \
        --labels real_A fake_B real_B fake_A --rows 6 --out toy_grid.png

Labels are the suffixes test.py writes (real_A, fake_B, rec_A, real_B, fake_A, rec_B; real, fake).
Names are taken in sorted order from the images of the first label; a name missing a label gets a
grey tile. With a paired test set (testA/NAME and testB/NAME the same face), ``real_A fake_B
real_B`` puts each translation next to the real masked face.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from util.errors import UserError, run_cli  # noqa: E402


def build_grid(images_dir: Path, labels: list[str], rows: int, tile: int) -> Image.Image:
    suffix = f"_{labels[0]}.png"
    names = sorted(p.name[: -len(suffix)] for p in images_dir.rglob(f"*{suffix}"))[:rows]
    if not names:
        raise UserError(f"no *{suffix} images in {images_dir}: check the folder and --labels")
    header = 18
    grid = Image.new("RGB", (tile * len(labels), header + tile * len(names)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for c, label in enumerate(labels):
        draw.text((c * tile + 4, 3), label, fill=(0, 0, 0))
    for r, name in enumerate(names):
        for c, label in enumerate(labels):
            matches = list(images_dir.rglob(f"{name}_{label}.png"))
            if matches:
                with Image.open(matches[0]) as im:
                    cell = im.convert("RGB").resize((tile, tile), Image.Resampling.BICUBIC)
            else:
                cell = Image.new("RGB", (tile, tile), (128, 128, 128))
            grid.paste(cell, (c * tile, header + r * tile))
    return grid


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="a test.py output folder (holding images/) or its images/ folder")
    p.add_argument("--labels", nargs="+", default=["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"])
    p.add_argument("--rows", type=int, default=8, help="how many image names (rows)")
    p.add_argument("--tile", type=int, default=128, help="tile size in pixels")
    p.add_argument("--out", required=True, help="PNG file to write")
    args = p.parse_args(argv)
    folder = Path(args.results)
    images_dir = folder / "images" if (folder / "images").is_dir() else folder
    if not images_dir.is_dir():
        raise UserError(f"results folder {folder} does not exist: run test.py first")
    grid = build_grid(images_dir, args.labels, args.rows, args.tile)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"wrote {args.out} ({grid.size[0]}x{grid.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "results_grid.py"))
