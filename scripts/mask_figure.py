"""The renderer's figure for the docs: real photos that Python packages ship, each face with every
mask type, every wear class, and the light from one side.

    python scripts/mask_figure.py --out docs/mask_renderer.png
    python scripts/mask_figure.py --out figure.png --photos_out samples/   # also the photos, for mask_photos.py

Rows: scikit-image's astronaut, the astronaut tilted by 20 degrees (a copy placed with
``util.faces.sample_photos``), matplotlib's Grace Hopper, and Grace Hopper lit from the image's left
(her linear light falling to 45% across the face). Columns: the photo, then ``--types`` with correct
wear, then the wear classes ``nose``, ``chin`` and ``nose_mouth`` with ``--wear_type``. Each panel is
the face's neighbourhood, cut from the full-size result.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from util.cli import OneLineParser, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.faces.photos import write_png  # noqa: E402
from util.faces.sample_photos import astronaut, compose, grace_hopper, lit_from_the_left, placement  # noqa: E402
from util.masks import MaskRenderer  # noqa: E402
from util.masks.texture import MASK_TYPES  # noqa: E402

PROG = "mask_figure.py"
GAP, LABEL = 6, 22


def photos() -> list[tuple[str, np.ndarray]]:
    tilted = compose((600, 600), [placement(1.6, 20, False, (300, 300))], seed=1)
    return [("astronaut", astronaut()), ("tilted 20 deg", tilted), ("Grace Hopper", grace_hopper()),
            ("lit from the left", None)]


def panel(picture: np.ndarray, landmarks: np.ndarray, size: int) -> Image.Image:
    """The face's neighbourhood: a square around the landmarks, 1.9 times their extent."""
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    centre, side = (lo + hi) / 2 + [0, 0.1 * (hi[1] - lo[1])], 1.9 * float((hi - lo).max())
    box = tuple(int(round(v)) for v in (centre[0] - side / 2, centre[1] - side / 2,
                                        centre[0] + side / 2, centre[1] + side / 2))
    return Image.fromarray(picture).crop(box).resize((size, size), Image.LANCZOS)


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--types", nargs="+", choices=MASK_TYPES, default=list(MASK_TYPES))
    p.add_argument("--wear_type", choices=MASK_TYPES, default="surgical", help="the type shown for the wear classes")
    p.add_argument("--size", type=positive_int, default=220, help="panel side (px)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--photos_out", default=None, help="also write the rows' photos (PNG) into this folder")
    args = p.parse_args(argv)
    from util.faces.detect import FaceFinder

    columns = [("photo", None, None)] + [(t, t, "correct") for t in args.types] + \
        [(f"{args.wear_type}, {w}", args.wear_type, w) for w in ("nose", "chin", "nose_mouth")]
    rows = []
    previous = None
    for name, photo in photos():
        if photo is None:  # the previous photo, lit from one side
            photo = lit_from_the_left(previous[0], previous[1])
            landmarks = previous[1]
        else:
            found = FaceFinder().find(photo)
            if not found:
                raise UserError(f"no face found in the {name} photo: is dlib installed (scripts/setup_env.sh)?")
            landmarks = max(found, key=lambda f: f.score).landmarks
        previous = (photo, landmarks)
        if args.photos_out:
            write_png(Path(args.photos_out) / (name.replace(" ", "_").lower() + ".png"), photo)
        row = []
        for _, mask_type, wear in columns:
            picture = photo if mask_type is None else MaskRenderer(mask_type=mask_type, wear=wear, seed=args.seed) \
                .render(photo, landmarks, name).photo
            row.append(panel(picture, landmarks, args.size))
        rows.append((name, row))
    width = len(columns) * (args.size + GAP) - GAP
    height = LABEL + len(rows) * (args.size + GAP) - GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (title, _, _) in enumerate(columns):
        draw.text((c * (args.size + GAP) + 4, 4), title, fill="black")
    for r, (name, row) in enumerate(rows):
        for c, image in enumerate(row):
            sheet.paste(image, (c * (args.size + GAP), LABEL + r * (args.size + GAP)))
        draw.text((4, LABEL + r * (args.size + GAP) + 4), name, fill="white", stroke_width=2, stroke_fill="black")
    out = Path(args.out)
    write_png(out, np.asarray(sheet))
    print(f"{PROG}: wrote {out} ({len(rows)} photos x {len(columns)} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, PROG))
