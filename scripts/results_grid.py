"""One PNG grid of test.py results: a row per image name, a column per label.

    python scripts/results_grid.py results/toyfaces/test_latest \
        --labels real_A fake_B real_B fake_A --rows 6 --out toy_grid.png

Labels are the suffixes test.py writes (real_A, fake_B, rec_A, real_B, fake_A, rec_B; real, fake;
attn_B, attn_A, attn for the attention maps of an ``--attention`` run). Without ``--labels``, the
default labels are shown, each fake followed by its attention map where the folder has such maps.
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


DEFAULT_LABELS = ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
MAP_OF = {"fake_B": "attn_B", "fake_A": "attn_A", "fake": "attn"}  # test.py's attention map of each fake


def with_maps(images_dir: Path, labels: list[str]) -> list[str]:
    """``labels`` with each fake followed by its attention map, where ``images_dir`` holds such maps."""
    out = []
    for label in labels:
        out.append(label)
        attn = MAP_OF.get(label)
        if attn and attn not in labels and next(images_dir.rglob(f"*_{attn}.png"), None) is not None:
            out.append(attn)
    return out


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
    p.add_argument("--labels", nargs="+", default=None,
                   help=f"columns (default: {' '.join(DEFAULT_LABELS)}, each fake followed by its attention map "
                        "where there are maps)")
    p.add_argument("--rows", type=int, default=8, help="how many image names (rows)")
    p.add_argument("--tile", type=int, default=128, help="tile size in pixels")
    p.add_argument("--out", required=True, help="PNG file to write")
    args = p.parse_args(argv)
    folder = Path(args.results)
    images_dir = folder / "images" if (folder / "images").is_dir() else folder
    if not images_dir.is_dir():
        raise UserError(f"results folder {folder} does not exist: run test.py first")
    labels = args.labels or with_maps(images_dir, DEFAULT_LABELS)
    grid = build_grid(images_dir, labels, args.rows, args.tile)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"wrote {args.out} ({grid.size[0]}x{grid.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "results_grid.py"))
