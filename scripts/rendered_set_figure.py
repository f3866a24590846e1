"""The masked-set figure for the docs: one source face in MaskedFace-Net's four classes, and the
true mask of each, as datasets/render_masked_faces.py writes them.

    python scripts/rendered_set_figure.py --out docs/rendered_set.png

The sources are real photos that Python packages ship (scikit-image's astronaut, matplotlib's Grace
Hopper). render_masked_faces.py finds each face, cuts it as FFHQ does and renders it once per class
(``--wear_mix correct:1``, then ``nose:1``, ...), so every panel is a file the command wrote. Rows
per face: the unmasked crop and the four masked images (CMFD ``_Mask``, IMFD ``_Mask_Mouth_Chin``,
``_Mask_Nose_Mouth``, ``_Mask_Chin``), then the four masks (opacity, white = opaque).
"""
from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from datasets import render_masked_faces as rmf  # noqa: E402
from util.cli import OneLineParser, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.faces.photos import write_png  # noqa: E402
from util.faces.sample_photos import astronaut, grace_hopper  # noqa: E402
from util.masks.texture import MASK_TYPES  # noqa: E402

PROG = "rendered_set_figure.py"
GAP, LABEL = 6, 34
TITLES = ["unmasked", "correct\nCMFD _Mask", "nose uncovered\nIMFD _Mask_Mouth_Chin",
          "chin uncovered\nIMFD _Mask_Nose_Mouth", "nose, mouth uncovered\nIMFD _Mask_Chin"]


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--types", nargs=2, choices=MASK_TYPES, default=["surgical", "cloth"],
                   help="the mask type on the astronaut and on Grace Hopper")
    p.add_argument("--size", type=positive_int, default=200, help="--size of the set (the panel side)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rendered_set_") as tmp:
        src = Path(tmp) / "src"
        for name, photo in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
            (src / name).mkdir(parents=True)
            Image.fromarray(photo).save(src / name / f"{name}.png")
        rows = []
        for face, mask_type in zip(("astronaut", "grace_hopper"), args.types):
            pictures, masks = [], []
            for wear in rmf.WEARS:
                out = Path(tmp) / f"{face}_{wear}"
                code = rmf.main(["--src", str(src / face), "--out", str(out), "--size", str(args.size),
                                 "--format", "png", "--mask_type", mask_type, "--wear_mix", f"{wear}:1",
                                 "--detector", "hog", "--workers", "1"])
                with open(out / "labels.csv", newline="") as f:
                    labels = list(csv.DictReader(f))
                if code != 0 or len(labels) != 1:
                    raise UserError(f"render_masked_faces.py did not render {face} ({wear})")
                if not pictures:
                    pictures.append(np.asarray(Image.open(out / labels[0]["unmasked"]).convert("RGB")))
                pictures.append(np.asarray(Image.open(out / labels[0]["file"]).convert("RGB")))
                masks.append(np.asarray(Image.open(out / labels[0]["mask"]).convert("RGB")))
            rows += [pictures, [np.full_like(pictures[0], 255)] + masks]
    s = args.size
    canvas = Image.new("RGB", (5 * s + 4 * GAP, LABEL + len(rows) * s + (len(rows) - 1) * GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(TITLES):
        for k, line in enumerate(title.split("\n")):
            draw.text((c * (s + GAP) + 4, 2 + 15 * k), line, fill="black")
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            canvas.paste(Image.fromarray(picture), (c * (s + GAP), LABEL + r * (s + GAP)))
    write_png(Path(args.out), np.asarray(canvas))
    print(f"{PROG}: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, PROG))
