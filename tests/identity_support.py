"""Real faces for the identity tests (tests/test_evaluate_identity.py checks the numbers against dlib
called directly; tests/test_metrics.py runs them through scripts/evaluate.py): FFHQ-aligned crops of
scikit-image's astronaut and matplotlib's Grace Hopper, patched, and a paired test.py results folder
made of them. Callers skip without dlib (``pytest.importorskip("dlib")``) before calling these."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from util.faces.align import align, ffhq_quad
from util.faces.detect import FaceFinder

SIDE = 128
GREY = np.full((SIDE, SIDE, 3), 128, np.uint8)


def patch(crop: np.ndarray, rows: tuple[float, float], cols: tuple[float, float], colour) -> np.ndarray:
    out = crop.copy()
    out[int(rows[0] * SIDE):int(rows[1] * SIDE), int(cols[0] * SIDE):int(cols[1] * SIDE)] = colour
    return out


def aligned(photo: np.ndarray) -> np.ndarray:
    faces = FaceFinder().find(photo)
    assert len(faces) == 1
    return align(photo, ffhq_quad(faces[0].landmarks), SIDE)


def faces() -> dict[str, np.ndarray]:
    """128 px FFHQ crops: the astronaut, the astronaut masked (a light blue patch over mouth and chin,
    which HOG misses and the CNN finds), the astronaut with a grey patch over the mouth (the same
    person), and Grace Hopper (another person)."""
    import skimage.data

    from util.faces.sample_photos import grace_hopper

    astronaut = aligned(skimage.data.astronaut())
    hopper = aligned(grace_hopper())
    return {"unmasked": astronaut, "masked": patch(astronaut, (0.62, 0.85), (0.3, 0.7), (150, 190, 220)),
            "mouth": patch(astronaut, (0.66, 0.80), (0.36, 0.64), 128), "hopper": hopper}


# NAME -> (testA/NAME, testB/NAME, NAME_fake_B, NAME_fake_A); real_A and real_B are testA and testB.
PAIRS = {
    "same": ("unmasked", "masked", "mouth", "mirrored"),
    "grey_fake": ("unmasked", "masked", "grey", "unmasked"),  # G_AB drew no face: its fake is not found
    "other": ("unmasked", "masked", "hopper", "hopper"),  # both generators drew someone else
    "grey_true": ("unmasked", "grey", "mouth", "mirrored"),  # testB/NAME holds no face; for BA, the input
}


def write_results(base: Path, images: dict[str, np.ndarray]) -> tuple[Path, Path]:
    """A dataroot (testA, testB) and a test.py results folder for ``PAIRS``."""
    images = {**images, "grey": GREY, "mirrored": images["unmasked"][:, ::-1]}
    root, results = base / "data", base / "results"
    for folder in (root / "testA", root / "testB", results / "images"):
        folder.mkdir(parents=True)
    for name, (a, b, fake_b, fake_a) in PAIRS.items():
        for path, key in ((root / "testA" / f"{name}.png", a), (root / "testB" / f"{name}.png", b),
                          (results / "images" / f"{name}_real_A.png", a),
                          (results / "images" / f"{name}_real_B.png", b),
                          (results / "images" / f"{name}_fake_B.png", fake_b),
                          (results / "images" / f"{name}_fake_A.png", fake_a)):
            Image.fromarray(np.ascontiguousarray(images[key])).save(path)
    return root, results
