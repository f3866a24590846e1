"""One figure of a photo through scripts/mask_photos.py: the photo, its faces' FFHQ squares drawn on
it (from faces.jsonl), and the result, side by side.

    python scripts/photo_figure.py --photo party.jpg --output masked/ --out docs/photo_masks.png

Squares are drawn green where the face was translated, amber where it was too small and red where
``--max_identity_distance`` kept the original; the top edge (the face's forehead side) is thicker.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from util.cli import OneLineParser, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.files import write_atomically  # noqa: E402

COLOURS = {"translated": (40, 200, 60), "too_small": (240, 170, 0), "kept_original": (230, 40, 40)}


def faces_of(output: Path, photo: Path) -> list[dict]:
    path = output / "faces.jsonl"
    if not path.is_file():
        raise UserError(f"--output {output} has no faces.jsonl: run scripts/mask_photos.py first")
    target = photo.resolve()
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if Path(r["source"]).resolve() == target and "frame" not in r]


def result_of(output: Path, photo: Path, records: list[dict]) -> Path:
    if records:
        return Path(records[0]["output"])
    done = output / ".mask_photos" / "done.jsonl"
    for line in done.read_text().splitlines() if done.is_file() else []:
        entry = json.loads(line)
        if Path(entry["source"]).resolve() == photo.resolve() and "output" in entry:
            return Path(entry["output"])
    raise UserError(f"--photo {photo} is not among the inputs recorded in {output}")


def draw_squares(image: Image.Image, records: list[dict], width: int) -> Image.Image:
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    for r in records:
        corners = [tuple(p) for p in r["quad"]]
        colour = COLOURS.get(r["status"], (255, 255, 255))
        draw.line(corners + corners[:1], fill=colour, width=width)
        draw.line([corners[0], corners[3]], fill=colour, width=2 * width)  # top-left to top-right
        draw.text((r["box"][0], r["box"][3] + 2), f"{r['face']} {r['status']} d={r['identity_distance']}",
                  fill=colour)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="photo_figure.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--photo", required=True, help="an input photo of the mask_photos.py run")
    p.add_argument("--output", required=True, help="that run's --output")
    p.add_argument("--out", required=True, help="the figure (PNG)")
    p.add_argument("--height", type=positive_int, default=360, help="height of each panel")
    args = p.parse_args(argv)
    photo, output = Path(args.photo), Path(args.output)
    if not photo.is_file():
        raise UserError(f"--photo {photo} does not exist")
    records = faces_of(output, photo)
    result = result_of(output, photo, records)
    with Image.open(photo) as img:
        before = ImageOps.exif_transpose(img).convert("RGB")
    with Image.open(result) as img:
        after = img.convert("RGB")
    panels = [before, draw_squares(before, records, max(1, before.width // 250)), after]
    scale = args.height / before.height
    panels = [im.resize((round(im.width * scale), args.height), Image.Resampling.LANCZOS) for im in panels]
    figure = Image.new("RGB", (sum(im.width for im in panels) + 8 * (len(panels) - 1), args.height), "white")
    x = 0
    for im in panels:
        figure.paste(im, (x, 0))
        x += im.width + 8

    def save(f) -> None:
        figure.save(f, "PNG")

    write_atomically(args.out, save)
    print(f"photo_figure.py: {len(records)} faces; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "photo_figure.py"))
