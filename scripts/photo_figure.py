"""One figure of a photo through scripts/mask_photos.py: the photo, its faces' FFHQ squares drawn on
it (from faces.jsonl), and the result, side by side.

    python scripts/photo_figure.py --photo party.jpg beach.png --output masked/ --out docs/photo_masks.png

One row per photo. Squares are drawn green where the face was translated, amber where it was too small and red where
``--max_identity_distance`` kept the original; the top edge (the face's forehead side) is thicker.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFont, ImageOps  # noqa: E402

from util.cli import OneLineParser, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.files import write_atomically  # noqa: E402

GAP = 8  # white pixels between panels and rows
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


def draw_squares(image: Image.Image, records: list[dict]) -> Image.Image:
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(2, round(image.width / 150))
    font = ImageFont.load_default(size=max(10, round(image.width / 28)))
    for r in records:
        corners = [tuple(p) for p in r["quad"]]
        colour = COLOURS.get(r["status"], (255, 255, 255))
        draw.line(corners + corners[:1], fill=colour, width=width)
        draw.line([corners[0], corners[3]], fill=colour, width=2 * width)  # top-left to top-right
        distance = "" if r["identity_distance"] is None else f" d={r['identity_distance']:.2f}"
        draw.text((min(p[0] for p in corners), max(p[1] for p in corners) + width), f"{r['status']}{distance}",
                  fill=colour, font=font, stroke_width=max(1, width // 2), stroke_fill=(0, 0, 0))
    return out


def row(photo: Path, output: Path, height: int) -> tuple[Image.Image, int]:
    """The photo, its squares and its result, scaled to ``height``, side by side; and its face count."""
    if not photo.is_file():
        raise UserError(f"--photo {photo} does not exist")
    records = faces_of(output, photo)
    result = result_of(output, photo, records)
    with Image.open(photo) as img:
        before = ImageOps.exif_transpose(img).convert("RGB")
    with Image.open(result) as img:
        after = img.convert("RGB")
    panels = [before, draw_squares(before, records), after]
    scale = height / before.height
    panels = [im.resize((round(im.width * scale), height), Image.Resampling.LANCZOS) for im in panels]
    strip = Image.new("RGB", (sum(im.width for im in panels) + GAP * (len(panels) - 1), height), "white")
    x = 0
    for im in panels:
        strip.paste(im, (x, 0))
        x += im.width + GAP
    return strip, len(records)


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="photo_figure.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--photo", required=True, nargs="+", help="input photos of the mask_photos.py run (a row each)")
    p.add_argument("--output", required=True, help="that run's --output")
    p.add_argument("--out", required=True, help="the figure (PNG)")
    p.add_argument("--height", type=positive_int, default=360, help="height of each row")
    args = p.parse_args(argv)
    rows = [row(Path(photo), Path(args.output), args.height) for photo in args.photo]
    figure = Image.new("RGB", (max(strip.width for strip, _ in rows), len(rows) * (args.height + GAP) - GAP), "white")
    for k, (strip, _) in enumerate(rows):
        figure.paste(strip, (0, k * (args.height + GAP)))

    def save(f) -> None:
        figure.save(f, "PNG")

    write_atomically(args.out, save)
    print(f"photo_figure.py: {len(rows)} photos, {sum(n for _, n in rows)} faces; wrote {args.out}")
    return 0

if __name__ == "__main__":
    sys.exit(run_cli(main, None, "photo_figure.py"))
