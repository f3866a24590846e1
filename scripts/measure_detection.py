"""Measure dlib's face detectors on the real faces and the non-faces that ship with scikit-image and
matplotlib: the numbers behind the rules of util/faces/detect.py (the auto upsampling, the HOG
threshold, the CNN's check of doubtful detections, the ``auto`` detector's fallback).

    python scripts/measure_detection.py              # all three tables, a few minutes on one core
    python scripts/measure_detection.py --only sizes

Real faces: scikit-image's astronaut, matplotlib's Grace Hopper, scikit-image's cameraman (grey,
small, turned) and the 100 faces of scikit-image's ``lfw_subset`` (25 px, scaled up), alone and
drawn onto canvases of noise at known places, sizes, in-plane angles, mirrored, blurred, darkened
and squeezed sideways (a squeeze is not a real turn of the head). False faces: every detection that
is not on a real face, in those photos and in scikit-image's other photos (coffee, chelsea the cat,
brick, grass, rocket, ...) and the 100 non-faces of ``lfw_subset``, at several sizes. Nothing is
downloaded.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from util.faces import dlib_models  # noqa: E402
from util.faces import detect  # noqa: E402
from util.faces.detect import (HOG_CONFIDENT, HOG_MIN_SCORE, FaceFinder, as_rgb8, auto_upsample,  # noqa: E402
                               cnn_boxes, cnn_check)
from util.faces.sample_photos import draw_masks  # noqa: E402


@dataclass
class Source:
    """A real face: the photo, the part of it that is drawn (x0, y0, x1, y1), and where its face
    is: the centre of dlib's HOG box and the box's side, in the photo's pixels."""

    name: str
    image: np.ndarray
    region: tuple[int, int, int, int]
    centre: tuple[float, float]
    side: float


def sources() -> dict[str, Source]:
    import skimage.data

    from util.faces.sample_photos import grace_hopper

    grace = grace_hopper()
    found = {
        "astronaut": Source("astronaut", skimage.data.astronaut(), (100, 0, 350, 260), (223, 127), 88),
        "grace_hopper": Source("grace_hopper", grace, (60, 40, 470, 520), (269, 245), 216),
        "camera": Source("camera", as_rgb8(skimage.data.camera()), (140, 60, 310, 260), (220, 156), 80),
    }
    lfw = (skimage.data.lfw_subset() * 255).round().astype(np.uint8)  # 100 faces, then 100 non-faces
    for k in range(200):
        kind = "lfw_face" if k < 100 else "lfw_nonface"
        found[f"{kind}{k % 100}"] = Source(f"{kind}{k % 100}", as_rgb8(lfw[k]), (0, 0, 25, 25), (10.7, 12.8), 20.7)
    return found


def non_faces() -> dict[str, np.ndarray]:
    import skimage.data as d

    return {"coffee": d.coffee(), "chelsea": d.chelsea(), "brick": d.brick(), "grass": d.grass(),
            "rocket": d.rocket(), "gravel": d.gravel(), "coins": d.coins(), "page": d.page(), "text": d.text(),
            "hubble": d.hubble_deep_field(), "ihc": d.immunohistochemistry(), "moon": d.moon(),
            "retina": d.retina(), "motorcycle": d.stereo_motorcycle()[0], "cell": d.cell(), "clock": d.clock(),
            "horse": (~d.horse()).astype(np.uint8) * 255, "colorwheel": d.colorwheel(), "logo": d.logo()}


def canvas(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth grey-ish noise, as sample_photos.compose draws."""
    rng = np.random.default_rng(seed)
    small = rng.integers(88, 168, (6, 8, 3)).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def place(out: np.ndarray, source: Source, side: float, centre: tuple[float, float], angle: float = 0.0,
          mirror: bool = False, squeeze: float = 1.0) -> tuple[tuple[float, float], float]:
    """Draw the source's region onto ``out`` so its face box is ``side`` px, centred on ``centre``,
    turned ``angle`` degrees anticlockwise, mirrored, squeezed sideways; the face's centre and side."""
    scale = side / source.side
    a = np.radians(angle)
    rotate = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    linear = scale * rotate @ np.diag([(-1.0 if mirror else 1.0) * squeeze, 1.0])
    offset = np.array(centre) - linear @ np.array(source.centre)
    matrix = np.concatenate([linear, offset[:, None]], axis=1)
    matrix[:, 2] += linear @ np.array([0.5, 0.5]) - 0.5  # cv2 indexes pixel centres
    window = np.zeros(source.image.shape[:2], np.uint8)
    x0, y0, x1, y1 = source.region
    window[y0:y1, x0:x1] = 255
    size = (out.shape[1], out.shape[0])
    warped = cv2.warpAffine(source.image, matrix, size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    mask = cv2.warpAffine(window, matrix, size, flags=cv2.INTER_NEAREST) > 0
    out[mask] = warped[mask]
    return centre, side


def is_on(box, faces) -> bool:
    """Whether a detection's box is on one of the faces (centre within 40% of the side, side within
    a factor 2)."""
    cx, cy, side = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
    return any(np.hypot(cx - fx, cy - fy) < 0.4 * fs and 0.5 < side / fs < 2 for (fx, fy), fs in faces)


def hog_run(image: np.ndarray, upsample: int, threshold: float = -0.5):
    t = time.perf_counter()
    rects, scores, _ = dlib_models.hog_detector().run(image, upsample, threshold)
    boxes = [(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects]
    return list(zip(boxes, [float(s) for s in scores])), time.perf_counter() - t


def resized(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    scale = long_side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1
                                           else cv2.INTER_CUBIC)), scale


# ----------------------------------------------------------------------------- 1: upsampling


def table_sizes(src: dict[str, Source]) -> None:
    """Faces of a given box side on photos of a given long side, searched at upsample 0, 1, 2:
    how many are found (HOG score >= 0), their median score, and the time."""
    print("\n## 1. upsampling: faces (astronaut, Grace Hopper, 20 LFW faces) of box side B px on a "
          "photo of long side L px (3:2); found = HOG score >= 0 on the face; auto = detect.auto_upsample")
    print(f"{'L':>5} {'B':>4} {'B/L':>6} {'auto':>4} | " + " | ".join(f"up{u}: found  median   time" for u in range(3)))
    names = ["astronaut", "grace_hopper"] + [f"lfw_face{k}" for k in range(20)]
    for long_side in (600, 1024, 2048):
        width, height = long_side, round(long_side * 2 / 3)
        for side in (24, 32, 40, 48, 64, 80, 96, 128, 160, 224):
            cell = int(3.2 * side)
            cols, rows = width // cell, height // cell
            if cols * rows == 0:
                continue
            photo = canvas(width, height, seed=side)
            faces = [place(photo, src[name], side, ((i % cols + 0.5) * cell, (i // cols + 0.5) * cell))
                     for i, name in enumerate(names[:cols * rows])]
            cells = []
            for upsample in range(3):
                if long_side * 2 ** upsample > 4096:
                    cells.append(f"{'-':>20}")
                    continue
                found, seconds = hog_run(photo, upsample, 0.0)
                scores = [s for b, s in found if is_on(b, faces)]
                median = f"{np.median(scores):6.2f}" if scores else "     -"
                cells.append(f"{len(scores):3d}/{len(faces):<3d} {median} {seconds:5.2f}s")
            print(f"{long_side:5d} {side:4d} {side / long_side:6.3f} {auto_upsample(height, width):4d} | "
                  + " | ".join(cells))


# ----------------------------------------------------------------------------- 2: scores and the check


def real_photos(src: dict[str, Source]):
    """(name, photo, faces): the three photos at three sizes, and canvases of harder copies."""
    for name in ("astronaut", "grace_hopper", "camera"):
        s = src[name]
        for long_side in (None, 1024, 2048):
            photo, scale = (s.image, 1.0) if long_side is None else resized(s.image, long_side)
            centre = (s.centre[0] * scale, s.centre[1] * scale)
            yield f"{name} {max(photo.shape[:2])}", photo, [(centre, s.side * scale)]
    variants = {"upright": {}, "mirrored": {"mirror": True}, "turned +15": {"angle": 15}, "turned -15": {"angle": -15},
                "turned +25": {"angle": 25}, "turned -30": {"angle": -30},
                "squeezed 0.7 (not a turn)": {"squeeze": 0.7},
                "blurred": {"blur": 0.03}, "dark": {"dark": 0.3}, "low contrast": {"contrast": 0.35}}
    for long_side, side in ((600, 50), (600, 90), (1024, 90), (1024, 150), (2048, 100)):
        width, height = long_side, round(long_side * 2 / 3)
        cell = int(3.2 * side)
        cols, rows = width // cell, height // cell
        for label, v in variants.items():
            photo = canvas(width, height, seed=side + long_side)
            names = ["astronaut", "grace_hopper", "camera"] + [f"lfw_face{k}" for k in range(100)]
            faces = [place(photo, src[name], side, ((i % cols + 0.5) * cell, (i // cols + 0.5) * cell),
                           v.get("angle", 0.0), v.get("mirror", False), v.get("squeeze", 1.0))
                     for i, name in enumerate(names[:cols * rows])]
            if "blur" in v:
                photo = cv2.GaussianBlur(photo, (0, 0), v["blur"] * side)
            if "dark" in v:
                photo = (photo.astype(np.float64) * v["dark"]).round().astype(np.uint8)
            if "contrast" in v:
                photo = (128 + (photo.astype(np.float64) - 128) * v["contrast"]).round().astype(np.uint8)
            yield f"{len(faces)} faces {label}, box {side} px, {width}x{height}", photo, faces
    for long_side, side in ((600, 70), (1024, 120)):
        width, height = long_side, round(long_side * 2 / 3)
        cell = int(1.6 * side)
        cols, rows = width // cell, height // cell
        for start in range(0, 100, cols * rows):
            photo = canvas(width, height, seed=start)
            faces = [place(photo, src[f"lfw_face{k}"], side, ((i % cols + 0.5) * cell, (i // cols + 0.5) * cell))
                     for i, k in enumerate(range(start, min(100, start + cols * rows)))]
            yield f"LFW faces {start}-{start + len(faces) - 1}, box {side} px, {width}x{height}", photo, faces


def false_photos(src: dict[str, Source]):
    for name, image in non_faces().items():
        image = as_rgb8(image)
        for long_side in (None, 1024, 2048):
            photo = image if long_side is None else resized(image, long_side)[0]
            yield f"{name} {max(photo.shape[:2])}", photo, []
    for long_side, side in ((600, 70), (1024, 120)):
        width, height = long_side, round(long_side * 2 / 3)
        cell = int(1.6 * side)
        cols, rows = width // cell, height // cell
        for start in range(0, 100, cols * rows):
            photo = canvas(width, height, seed=start + 1)
            for i, k in enumerate(range(start, min(100, start + cols * rows))):
                place(photo, src[f"lfw_nonface{k}"], side, ((i % cols + 0.5) * cell, (i // cols + 0.5) * cell))
            yield f"LFW non-faces {start}-, box {side} px, {width}x{height}", photo, []


BANDS = (-0.5, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, np.inf)


def table_scores(src: dict[str, Source], verbose: bool) -> None:
    """HOG at the auto upsampling (and at 1, the old default, where that differs), threshold -0.5:
    each detection on a real face or not, and, below HOG_CONFIDENT, the CNN's check on a crop."""
    print("\n## 2. HOG scores at the auto upsampling, real faces and false ones; doubtful ones "
          f"(< {HOG_CONFIDENT}) checked by the CNN on a crop (detect.cnn_check)")
    rows = {"real": [], "false": []}
    check_times, checks_per_photo, pairs = [], [], []
    for truth, photos in (("real", real_photos(src)), ("false", false_photos(src))):
        for label, photo, faces in photos:
            photo = as_rgb8(photo)
            auto = auto_upsample(*photo.shape[:2])
            per_face = {}
            for upsample in sorted({auto, 1}):
                found, seconds = hog_run(photo, upsample)
                per_face[upsample] = [max([s for b, s in found if is_on(b, [face])], default=None) for face in faces]
                if upsample == auto:
                    checks_per_photo.append(sum(HOG_MIN_SCORE <= s < HOG_CONFIDENT for _, s in found))
                line = []
                missed = len(faces) - sum(is_on(b, faces) for b, _ in found)
                for box, score in sorted(found, key=lambda f: -f[1]):
                    kind = "real" if is_on(box, faces) else "false"
                    check = None
                    if score < HOG_CONFIDENT:
                        t = time.perf_counter()
                        check = cnn_check(photo, box)
                        check_times.append(time.perf_counter() - t)
                    if upsample == auto:
                        rows[kind].append((score, check, label, upsample))
                    line.append(f"{score:.2f}{'' if kind == 'real' else 'F'}"
                                + ("" if score >= HOG_CONFIDENT else "+" if check is not None else "x"))
                if upsample == 1 and auto == 0:
                    pairs.extend(zip(per_face[0], per_face[1]))
                if verbose or truth == "real" and len(faces) <= 3 or line and truth == "false":
                    print(f"{label:45s} up{upsample}{'*' if upsample == auto else ' '} {seconds:5.2f}s "
                          f"missed {missed:2d}: {' '.join(line[:14])}{' ...' if len(line) > 14 else ''}")
    print("(scores: F = not on a real face; + = the CNN confirmed it on a crop, x = it did not; "
          "* = the auto upsampling)")
    print(f"\nCNN check: {len(check_times)} crops, median {np.median(check_times):.3f}s, "
          f"max {max(check_times):.3f}s; at the auto upsampling, HOG_MIN_SCORE {HOG_MIN_SCORE}, a photo has "
          f"{np.mean(checks_per_photo):.2f} doubtful detections to check on average, at most {max(checks_per_photo)}")
    both = np.array([(a, b) for a, b in pairs if a is not None and b is not None])
    print(f"Real faces on photos of 1000 px or more (auto: upsample 0): {len(pairs)} faces, found at upsample 0 "
          f"{sum(a is not None for a, _ in pairs)}, at 1 {sum(b is not None for _, b in pairs)}; "
          f"where both found them, "
          f"median score {np.median(both[:, 0]):.2f} at 0, {np.median(both[:, 1]):.2f} at 1, "
          f"higher at 0 for {np.mean(both[:, 0] > both[:, 1]):.0%}")
    print("At the auto upsampling:")
    print(f"\n{'HOG score':>13} | {'real':>5} {'confirmed':>9} | {'false':>5} {'confirmed':>9}")
    for lo, hi in zip(BANDS[:-1], BANDS[1:]):
        cells = []
        for kind in ("real", "false"):
            band = [(s, c) for s, c, *_ in rows[kind] if lo <= s < hi]
            checked = [c for s, c in band if s < HOG_CONFIDENT]
            cells.append(f"{len(band):5d} {sum(c is not None for c in checked):4d}/{len(checked):<4d}"
                         if checked else f"{len(band):5d} {'-':>9}")
        print(f"[{lo:5.2f}, {hi:5.2f}) | {cells[0]} | {cells[1]}")
    print("\nfalse detections scoring >= 0: " + "; ".join(
        f"{s:.2f} {'kept' if c is not None or s >= HOG_CONFIDENT else 'dropped'} ({label}, up{u})"
        for s, c, label, u in sorted(rows["false"], key=lambda r: -r[0]) if s >= 0))


# ----------------------------------------------------------------------------- 3: the auto detector


def table_auto(src: dict[str, Source]) -> None:
    print("\n## 3. detector auto: HOG, then the CNN over the whole photo only where HOG found none")
    s = src["astronaut"]
    truth = FaceFinder("hog").find(s.image)
    masked = draw_masks(s.image, truth)
    photo = canvas(800, 600)
    place(photo, s, 110, (400, 300), angle=50)
    for label, image in (("astronaut 512", s.image), ("astronaut masked 512", masked),
                         ("astronaut masked 1024", resized(masked, 1024)[0]), ("astronaut turned 50, 800x600", photo)):
        t = time.perf_counter()
        found = FaceFinder("auto").detections(image)
        seconds = time.perf_counter() - t
        print(f"{label:30s} up{FaceFinder('auto').upsample_for(*image.shape[:2])} {seconds:6.2f}s  "
              + ", ".join(f"{d.detector} {d.score:.2f}" + ("" if d.check is None else f" (check {d.check:.2f})")
                          for d in found))
    for long_side in (512, 1024):
        image = resized(masked, long_side)[0]
        for upsample in (0, 1):
            t = time.perf_counter()
            cnn_boxes(image, upsample)
            print(f"CNN over the whole photo, {long_side} px, up{upsample}: {time.perf_counter() - t:.1f}s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("sizes", "scores", "auto"), default=None)
    p.add_argument("--verbose", action="store_true", help="a line for every photo searched")
    p.add_argument("--verify_box", type=int, default=detect.VERIFY_BOX,
                   help="the side a doubtful box is scaled to for the CNN's check (detect.VERIFY_BOX)")
    args = p.parse_args(argv)
    detect.VERIFY_BOX = args.verify_box
    cv2.setNumThreads(1)
    src = sources()
    if args.only in (None, "sizes"):
        table_sizes(src)
    if args.only in (None, "scores"):
        table_scores(src, args.verbose)
    if args.only in (None, "auto"):
        table_auto(src)


if __name__ == "__main__":
    main()
