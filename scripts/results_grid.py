"""One PNG grid of test.py results: a row per image name, a column per label.

    python scripts/results_grid.py results/toyfaces/test_latest \
        --labels real_A fake_B real_B fake_A --rows 6 --out toy_grid.png

Labels are the suffixes test.py writes (real_A, fake_B, rec_A, real_B, fake_A, rec_B; real, fake;
attn_B, attn_A, attn for the attention maps of an ``--attention`` run). Without ``--labels``, the
default labels are shown, each fake followed by its attention map where the folder has such maps.
Names are taken in sorted order from the images of the first label; a name missing a label gets a
grey tile. With a paired test set (testA/NAME and testB/NAME the same face), ``real_A fake_B
real_B`` puts each translation next to the real masked face.

Several runs side by side, on the same test faces: give several folders and prefix a label with
its folder's number (``1:fake_B``; no prefix is folder 0), and name the columns with ``--titles``:

    python scripts/results_grid.py results/plain/test_latest results/p2p/test_latest \
        --labels real_A fake_B 1:fake_B real_B --titles input CycleGAN pix2pix truth --out cmp.png
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


def build_grid(folders: list[Path], columns: list[tuple[int, str]], titles: list[str], rows: int,
               tile: int) -> Image.Image:
    """A row per image name (sorted, from the first column's folder), a column per (folder, label)."""
    first_dir, first_label = folders[columns[0][0]], columns[0][1]
    suffix = f"_{first_label}.png"
    names = sorted(p.name[: -len(suffix)] for p in first_dir.rglob(f"*{suffix}"))[:rows]
    if not names:
        raise UserError(f"no *{suffix} images in {first_dir}: check the folder and --labels")
    header = 18
    grid = Image.new("RGB", (tile * len(columns), header + tile * len(names)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for c, title in enumerate(titles):
        draw.text((c * tile + 4, 3), title, fill=(0, 0, 0))
    for r, name in enumerate(names):
        for c, (folder, label) in enumerate(columns):
            matches = list(folders[folder].rglob(f"{name}_{label}.png"))
            if matches:
                with Image.open(matches[0]) as im:
                    cell = im.convert("RGB").resize((tile, tile), Image.Resampling.BICUBIC)
            else:
                cell = Image.new("RGB", (tile, tile), (128, 128, 128))
            grid.paste(cell, (c * tile, header + r * tile))
    return grid


def parse_column(text: str, n_folders: int) -> tuple[int, str]:
    """``label`` (folder 0) or ``K:label`` (folder K) as (K, label)."""
    folder, sep, label = text.rpartition(":")
    if not sep:
        return 0, text
    if not folder.isdigit() or int(folder) >= n_folders:
        raise UserError(f"--labels {text}: the prefix must be a folder number from 0 to {n_folders - 1}")
    return int(folder), label


def images_folder(path: str) -> Path:
    folder = Path(path)
    images_dir = folder / "images" if (folder / "images").is_dir() else folder
    if not images_dir.is_dir():
        raise UserError(f"results folder {folder} does not exist: run test.py first")
    return images_dir


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+",
                   help="test.py output folders (holding images/) or their images/ folders; labels name one "
                        "by its number, 0 first")
    p.add_argument("--labels", nargs="+", default=None,
                   help=f"columns, LABEL or K:LABEL for folder K (default: {' '.join(DEFAULT_LABELS)} of folder 0, "
                        "each fake followed by its attention map where there are maps)")
    p.add_argument("--titles", nargs="+", default=None, help="column headers, one per label (default: the labels)")
    p.add_argument("--rows", type=int, default=8, help="how many image names (rows)")
    p.add_argument("--tile", type=int, default=128, help="tile size in pixels")
    p.add_argument("--out", required=True, help="PNG file to write")
    args = p.parse_args(argv)
    folders = [images_folder(path) for path in args.results]
    labels = args.labels or with_maps(folders[0], DEFAULT_LABELS)
    columns = [parse_column(label, len(folders)) for label in labels]
    titles = args.titles or [label for _, label in columns]
    if len(titles) != len(columns):
        raise UserError(f"--titles has {len(titles)} names for {len(columns)} --labels: give one per label")
    grid = build_grid(folders, columns, titles, args.rows, args.tile)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"wrote {args.out} ({grid.size[0]}x{grid.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "results_grid.py"))
