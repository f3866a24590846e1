"""Procedural "toy face" data set for a CycleGAN that learns to put a face mask on a face.

Domain A holds cartoon faces without a mask, domain B the same kind of faces wearing one
(surgical, cloth or N95-like). The images are drawn from random parameters, so the set is
small, fast to make, fully deterministic and needs no download:

    python datasets/make_toyfaces.py --out datasets/toyfaces --size 64 --n_train 400 --n_test 50
    python datasets/make_toyfaces.py --paired --out datasets/toyfaces_paired     # for pix2pix

Layout (every file is ``NNNNN.png``)::

    <out>/trainA    unmasked faces                      (face stream 0)
    <out>/trainB    masked faces of *other* people      (face stream 1) -> truly unpaired
    <out>/testA     test faces without a mask           (face stream 2)
    <out>/testB     the very same test faces with a mask (same pose, same background)
    <out>/testmask  'L' images, 255 exactly where the mask changed testB, 0 elsewhere
    <out>/landmarks.json   the 68 landmarks of every trainA and testA face (below)

testA/NAME, testB/NAME and testmask/NAME therefore form a ground-truth triple that lets an
evaluation measure "did the generator draw a mask where it belongs and leave the rest alone".

landmarks.json has the layout of FFHQ's metadata file ffhq-dataset-v2.json, so code that reads
that file's landmarks reads these too: keys "0", "1", ... running over trainA's images in name
order, then testA's; each value is
``{"category": "training" (trainA) or "validation" (testA), "image": {"file_path": "trainA/00000.png",
"pixel_size": [W, H], "face_landmarks": [[x, y], ...]}}`` with dlib's 68 points (iBUG 300-W order)
of the drawn face in the image's pixels (the image spans [0, W] x [0, H], pixel centres at +0.5),
rounded to 2 decimals. FFHQ's "thumbnail", "in_the_wild" and "metadata" parts are left out: a drawn
face has no photo behind it. The points are read off the drawn shapes (``face_landmarks``): the jaw
follows the head outline from eye level round the chin, brows, eyes, nose and mouth follow what is
painted; where a style draws no such part (a line mouth has no lip thickness) the points lie on the
line that is drawn. The file is rewritten, atomically, on every run that writes images.

Paired layout for pix2pix (``--paired``), the classic aligned AB images, each ``2 * size`` wide:

    <out>/train     A|B: a face without its mask (left) and with it (right)  (face stream 0)
    <out>/test      A|B of the test faces: left half = testA/NAME, right half = testB/NAME
    <out>/testA, testB, testmask   exactly as above (the same test faces, stream 2)
    <out>/landmarks.json           as above, for the testA faces only (train/ holds no single faces)

The training pairs are the trainA faces (stream 0) each drawn a second time with its own mask, so
pix2pix and CycleGAN train on the same unmasked faces, and the left half of train/NAME equals the
unpaired trainA/NAME pixel for pixel. Stream 2 stays the test faces', so train and test never share
a face. The pairs are drawn like the test triples: the right half equals the left outside the mask.
testA/testB/testmask are kept so that scripts/evaluate.py scores pix2pix and CycleGAN results
against the very same files (``--dataroot`` is the same folder for both).

How it works: ``sample_toyface`` draws every random choice of one face (look, mask, background,
pose) from its own numpy Generator, seeded from ``(seed, stream, index)``; the ``draw_*``
functions then paint those parameters at ``SUPERSAMPLE`` times the output size in face-local
units (origin at the face centre, face half-height = 1, y pointing down) through ``Pen``, which
applies the pose; the result is downsampled with a Lanczos filter for anti-aliased edges.
``landmarks_of`` takes its points from the same shapes (``brow_line``, ``button_nose``,
``smile_arc``, ...) through the same pose, without drawing a random number.

How to extend it:
  * a new hair style: write ``_hair_<name>_back``/``_front`` style functions and register the
    name in ``HAIR_STYLES`` (back layer is painted behind the face, front layer on top of it);
  * a new mask type: add its colours to ``MASK_COLORS``, its shape to ``mask_outline`` and a
    decoration function (pleats, seams, patterns) to ``MASK_DECORATIONS``; everything painted
    through the ``MaskPainter`` (fabric, loops, straps) automatically ends up in ``testmask``;
  * a new background: add a branch to ``background_image``;
  * a new nose or mouth style: put its shape in a function of its own that ``draw_nose`` /
    ``draw_mouth`` paints and ``_nose`` / ``_mouth`` reads its landmarks from.
Keep all random draws inside ``sample_*`` functions so that rendering stays a pure function of
the parameters (that is what makes testA/testB pixel-identical outside the mask).
"""
from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

try:  # the progress bar is a nicety, never a requirement
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None

RGB = tuple[int, int, int]
Point = tuple[float, float]

SUPERSAMPLE = 4
SUBDIRS = ("trainA", "trainB", "testA", "testB", "testmask")
PAIRED_SUBDIRS = ("train", "test", "testA", "testB", "testmask")
OWNED_SUBDIRS = SUBDIRS + ("train", "test")  # what --overwrite clears, whichever layout made it
# Each split draws its faces from its own stream, so the faces are disjoint between splits and
# a face never depends on how many faces another split has.
STREAM_TRAIN_A, STREAM_TRAIN_B, STREAM_TEST = 0, 1, 2
LANDMARKS_FILE = "landmarks.json"
# The folders of single unmasked faces, whose faces get landmarks: face stream, FFHQ's name of the split.
LANDMARK_FOLDERS = {"trainA": (STREAM_TRAIN_A, "training"), "testA": (STREAM_TEST, "validation")}

SKIN_TONES: tuple[RGB, ...] = (  # light to dark
    (250, 220, 192), (241, 194, 167), (224, 172, 138), (198, 134, 98),
    (161, 102, 72), (121, 78, 52), (92, 58, 40), (70, 45, 33),
)
HAIR_COLORS: tuple[RGB, ...] = (
    (22, 18, 18), (58, 38, 26), (105, 68, 38), (140, 62, 30),
    (214, 182, 112), (186, 98, 48), (150, 150, 150), (226, 224, 218),
)
IRIS_COLORS: tuple[RGB, ...] = (
    (98, 58, 28), (40, 26, 16), (66, 116, 186), (70, 128, 78), (138, 108, 58), (118, 128, 140),
)
MASK_COLORS: dict[str, tuple[RGB, ...]] = {
    "surgical": ((156, 198, 232), (242, 244, 246), (172, 222, 196)),
    "cloth": ((28, 28, 32), (30, 42, 92), (188, 34, 42), (46, 120, 120), (120, 60, 140)),
    "n95": ((240, 240, 236), (204, 206, 206), (150, 152, 156)),
}
PATTERN_COLORS: tuple[RGB, ...] = ((245, 245, 245), (250, 210, 60), (20, 20, 24), (230, 120, 150))
# Mask colours closer than this (RGB distance) to the skin are skipped: the mask has to stand out.
MIN_MASK_SKIN_DISTANCE = 55.0


# ----------------------------------------------------------------------------- parameters


@dataclass
class Pose:
    cx: float  # face centre, as a fraction of the image side
    cy: float
    scale: float  # face half-height, as a fraction of the image side
    angle: float  # in-plane rotation, degrees


@dataclass
class Face:
    skin: RGB
    aspect: float  # half-width / half-height of the head
    n_top: float  # superellipse exponents: <2 pointier, >2 squarer
    n_bottom: float
    ears: bool
    eye_y: float
    eye_dx: float
    eye_rx: float
    eye_ry: float
    iris: RGB
    brow_gap: float
    brow_width: float
    brow_tilt: float
    nose_style: str
    nose_tip: float
    nose_w: float
    mouth_style: str
    mouth_y: float
    mouth_w: float
    lips: RGB
    blush: bool
    glasses: RGB | None
    hair_style: str
    hair: RGB
    hairline: float
    hair_side: float
    hair_tilt: float
    hair_len: float
    shirt: RGB
    neck_w: float

    @property
    def eye_bottom(self) -> float:
        return self.eye_y + self.eye_ry


@dataclass
class Mask:
    kind: str
    color: RGB
    accent: RGB  # second colour of patterned cloth masks
    pattern: str  # "solid", "stripes", "dots" (cloth only)
    top: float  # y of the upper edge at the sides
    peak: float  # how far the edge rises over the nose bridge
    valve: int  # 0 none, -1 / +1: side of the N95 valve
    seam: bool


@dataclass
class Background:
    kind: str  # "flat", "gradient", "noise"
    c1: RGB
    c2: RGB
    angle: float
    noise: np.ndarray = field(default_factory=lambda: np.zeros((1, 1), np.float32))


@dataclass
class ToyFace:
    face: Face
    mask: Mask
    background: Background
    pose: Pose


# ----------------------------------------------------------------------------- colour helpers


def _clip(c: Iterable[float]) -> RGB:
    r, g, b = (int(round(min(255.0, max(0.0, v)))) for v in c)
    return (r, g, b)


def shade(c: RGB, f: float) -> RGB:
    return _clip(v * f for v in c)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return _clip(x + (y - x) * t for x, y in zip(a, b))


def jitter(c: RGB, rng: np.random.Generator, amount: float) -> RGB:
    return _clip(v + rng.uniform(-amount, amount) for v in c)


def luminance(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def detail_color(c: RGB) -> RGB:
    """Colour for seams and edges that stays visible on both dark and light fabrics."""
    return mix(c, (255, 255, 255), 0.35) if luminance(c) < 70 else shade(c, 0.72)


def pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def random_color(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*s), rng.uniform(*v))
    return _clip((r * 255, g * 255, b * 255))


# ----------------------------------------------------------------------------- sampling


def face_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    # SeedSequence mixes the three numbers, so neighbouring ids give unrelated faces.
    return np.random.default_rng([seed, stream, index])


def sample_face(rng: np.random.Generator) -> Face:
    shape = pick(rng, ("oval", "round", "long"))
    aspect = {"oval": 0.76, "round": 0.88, "long": 0.68}[shape] + rng.uniform(-0.04, 0.04)
    eye_rx = rng.uniform(0.085, 0.125)
    hair_style = pick(rng, tuple(HAIR_STYLES))
    hair = pick(rng, HAIR_COLORS)
    skin = jitter(pick(rng, SKIN_TONES), rng, 6)
    return Face(
        skin=skin,
        aspect=aspect,
        n_top=rng.uniform(2.0, 2.4),
        n_bottom=rng.uniform(1.8, 2.6),
        ears=bool(rng.random() < 0.8),
        eye_y=rng.uniform(-0.22, -0.14),
        eye_dx=aspect * rng.uniform(0.36, 0.46),
        eye_rx=eye_rx,
        eye_ry=eye_rx * rng.uniform(0.55, 0.75),
        iris=pick(rng, IRIS_COLORS),
        brow_gap=rng.uniform(0.07, 0.13),
        brow_width=rng.uniform(0.04, 0.07),
        brow_tilt=rng.uniform(-0.05, 0.05),
        nose_style=pick(rng, ("line", "button", "wedge")),
        nose_tip=rng.uniform(0.18, 0.27),
        nose_w=rng.uniform(0.07, 0.12),
        mouth_style=pick(rng, ("smile", "lips", "open")),
        mouth_y=rng.uniform(0.48, 0.58),
        mouth_w=rng.uniform(0.15, 0.25),
        lips=mix(skin, (175, 55, 70), rng.uniform(0.3, 0.55)),
        blush=bool(rng.random() < 0.4),
        glasses=pick(rng, ((20, 20, 20), (120, 70, 40), (160, 160, 170))) if rng.random() < 0.2 else None,
        hair_style=hair_style,
        hair=jitter(hair, rng, 8),
        hairline=rng.uniform(-0.66, -0.5),
        hair_side=rng.uniform(-0.35, -0.15),
        hair_tilt=rng.uniform(-0.1, 0.1),
        hair_len=rng.uniform(0.9, 1.6),
        shirt=random_color(rng, (0.2, 0.8), (0.25, 0.9)),
        neck_w=aspect * rng.uniform(0.48, 0.62),
    )


def sample_mask(rng: np.random.Generator, face: Face) -> Mask:
    kind = pick(rng, tuple(MASK_COLORS))
    # Only colours far enough from this face's skin, so the mask never blends into the face.
    options = [c for c in MASK_COLORS[kind] if math.dist(c, face.skin) >= MIN_MASK_SKIN_DISTANCE]
    color = jitter(pick(rng, options or MASK_COLORS[kind]), rng, 5)
    pattern = pick(rng, ("solid", "solid", "stripes", "dots")) if kind == "cloth" else "solid"
    accent = pick(rng, [c for c in PATTERN_COLORS if math.dist(c, color) > 120] or PATTERN_COLORS)
    # The upper edge sits between the eyes and the nose tip, so the lower nose is always covered.
    top = min(face.eye_bottom + rng.uniform(0.08, 0.15), face.nose_tip - 0.1)
    return Mask(
        kind=kind,
        color=color,
        accent=accent,
        pattern=pattern,
        top=top,
        peak=rng.uniform(0.04, 0.08) if kind == "cloth" else rng.uniform(0.0, 0.03),
        valve=int(pick(rng, (0, 0, -1, 1))) if kind == "n95" else 0,
        seam=bool(rng.random() < 0.6),
    )


def sample_background(rng: np.random.Generator) -> Background:
    kind = pick(rng, ("flat", "gradient", "noise"))
    c1 = random_color(rng, (0.05, 0.6), (0.3, 0.95))
    c2 = random_color(rng, (0.05, 0.6), (0.3, 0.95))
    noise = rng.random((int(rng.integers(3, 9)),) * 2).astype(np.float32)
    return Background(kind, c1, c2, rng.uniform(0, 2 * math.pi), noise)


def sample_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        cx=0.5 + rng.uniform(-0.04, 0.04),
        cy=0.47 + rng.uniform(-0.04, 0.04),
        scale=0.29 * rng.uniform(0.88, 1.12),
        angle=rng.uniform(-6.0, 6.0),
    )


def sample_toyface(rng: np.random.Generator) -> ToyFace:
    # Fixed draw order: the mask is sampled even for unmasked faces so that every face id maps
    # to one complete set of parameters.
    face = sample_face(rng)
    mask = sample_mask(rng, face)
    return ToyFace(face, mask, sample_background(rng), sample_pose(rng))


# ----------------------------------------------------------------------------- drawing


class Placement:
    """The pose as a map from face-local units to the coordinates of a square image of this side."""

    def __init__(self, pose: Pose, side: int) -> None:
        self.px = pose.scale * side
        a = math.radians(pose.angle)
        self.cos, self.sin = math.cos(a), math.sin(a)
        self.ox, self.oy = pose.cx * side, pose.cy * side

    def pts(self, points: Iterable[Point]) -> list[Point]:
        c, s, k = self.cos, self.sin, self.px
        return [(self.ox + k * (c * x - s * y), self.oy + k * (s * x + c * y)) for x, y in points]


class Pen(Placement):
    """Draws in face-local units onto a supersampled image, applying the pose."""

    def __init__(self, img: Image.Image, pose: Pose) -> None:
        super().__init__(pose, img.size[0])
        # RGBA draw mode alpha-blends translucent fills (blush, shadows) onto an RGB canvas.
        self.draw = ImageDraw.Draw(img, "RGBA" if img.mode == "RGB" else None)

    def width(self, w: float) -> int:
        return max(1, int(round(w * self.px)))

    def polygon(self, points: Sequence[Point], fill) -> None:
        self.draw.polygon(self.pts(points), fill=fill)

    def line(self, points: Sequence[Point], fill, w: float, closed: bool = False) -> None:
        pts = self.pts(points)
        if closed:
            pts.append(pts[0])
        self.draw.line(pts, fill=fill, width=self.width(w), joint="curve")

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill, n: int = 40) -> None:
        self.polygon(ellipse_points(cx, cy, rx, ry, n), fill)

    def dot(self, x: float, y: float, r: float, fill) -> None:
        self.ellipse(x, y, r, r, fill, n=16)


def ellipse_points(cx: float, cy: float, rx: float, ry: float, n: int = 40,
                   t0: float = 0.0, t1: float = 2 * math.pi) -> list[Point]:
    closed = abs(t1 - t0 - 2 * math.pi) < 1e-9
    steps = n if closed else n + 1  # an arc needs its end point, a closed loop must not repeat it
    return [(cx + rx * math.cos(t0 + (t1 - t0) * i / n), cy + ry * math.sin(t0 + (t1 - t0) * i / n))
            for i in range(steps)]


def outline_point(face: Face, t: float, k: float = 1.0) -> Point:
    """Point of the head outline (a superellipse, pointier or squarer below) at angle t."""
    c, s = math.cos(t), math.sin(t)
    n = face.n_bottom if s > 0 else face.n_top
    x = math.copysign(abs(c) ** (2 / n), c) * face.aspect
    y = math.copysign(abs(s) ** (2 / n), s)
    return (k * x, k * y)


def outline_points(face: Face, t0: float, t1: float, k: float = 1.0, n: int = 48) -> list[Point]:
    return [outline_point(face, t0 + (t1 - t0) * i / n, k) for i in range(n + 1)]


def angle_at_height(face: Face, y: float, k: float = 1.0) -> float:
    """Angle in (0, pi/2] where the lower head outline (scaled by k) reaches height y > 0."""
    ratio = min(1.0, max(1e-6, y / k))
    return math.asin(ratio ** (face.n_bottom / 2))


def background_image(bg: Background, side: int) -> Image.Image:
    if bg.kind == "flat":
        return Image.new("RGB", (side, side), bg.c1)
    if bg.kind == "gradient":
        u = (np.arange(side, dtype=np.float32) + 0.5) / side - 0.5
        t = np.cos(bg.angle) * u[None, :] + np.sin(bg.angle) * u[:, None]
        t = np.clip(t / 0.71 + 0.5, 0.0, 1.0)
    else:
        # A handful of random values blown up with a bicubic filter: soft, blotchy noise.
        t = np.asarray(Image.fromarray(bg.noise, "F").resize((side, side), Image.BICUBIC))
        t = np.clip(t, 0.0, 1.0)
    c1, c2 = np.array(bg.c1, np.float32), np.array(bg.c2, np.float32)
    rgb = c1 + (c2 - c1) * t[..., None]
    return Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")


def draw_body(pen: Pen, f: Face) -> None:
    pen.ellipse(0, 2.15, 1.65, 0.75, f.shirt)
    neck = shade(f.skin, 0.86)
    pen.polygon([(-f.neck_w, 0.4), (f.neck_w, 0.4), (f.neck_w * 1.05, 1.55), (-f.neck_w * 1.05, 1.55)], neck)
    pen.ellipse(0, 1.45, f.neck_w * 1.05, 0.16, neck)  # rounded neckline


def draw_ears(pen: Pen, f: Face) -> None:
    for side in (-1, 1):
        x = side * f.aspect * 0.97
        pen.ellipse(x, -0.02, 0.11, 0.2, f.skin)
        pen.ellipse(x + side * 0.02, -0.02, 0.05, 0.11, shade(f.skin, 0.82))


def draw_head(pen: Pen, f: Face) -> None:
    pts = outline_points(f, 0.0, 2 * math.pi, n=96)[:-1]
    pen.polygon(pts, f.skin)
    pen.line(pts, shade(f.skin, 0.8), 0.018, closed=True)


def draw_eyes(pen: Pen, f: Face) -> None:
    lid = shade(f.skin, 0.45)
    brow = shade(f.hair, 0.7) if f.hair_style != "bald" else shade(f.skin, 0.45)
    r_iris = min(f.eye_ry * 0.95, f.eye_rx * 0.6)
    for side in (-1, 1):
        x = side * f.eye_dx
        pen.ellipse(x, f.eye_y, f.eye_rx, f.eye_ry, (246, 244, 238))
        pen.dot(x, f.eye_y, r_iris, f.iris)
        pen.dot(x, f.eye_y, r_iris * 0.45, (12, 10, 10))
        pen.dot(x + 0.3 * r_iris, f.eye_y - 0.3 * r_iris, r_iris * 0.22, (255, 255, 255))
        # upper lid as a dark arc reads as an eye even at 32 px
        pen.line(ellipse_points(x, f.eye_y, f.eye_rx, f.eye_ry, 16, math.pi, 2 * math.pi), lid, 0.022)
        pen.line(brow_line(f, side), brow, f.brow_width)


def brow_line(f: Face, side: int) -> list[Point]:
    """Centre line of the eyebrow over the eye on ``side`` (-1: image-left): inner end, arch, outer end."""
    x = side * f.eye_dx
    by = f.eye_y - f.eye_ry - f.brow_gap
    inner, outer = (x - side * f.eye_rx * 1.1, by + f.brow_tilt), (x + side * f.eye_rx * 1.2, by - f.brow_tilt)
    return [inner, (x, by - 0.03), outer]


def draw_glasses(pen: Pen, f: Face) -> None:
    if f.glasses is None:
        return
    r = f.eye_rx * 1.55
    for side in (-1, 1):
        pen.line(ellipse_points(side * f.eye_dx, f.eye_y, r, r * 0.85, 24), f.glasses, 0.025, closed=True)
        pen.line([(side * (f.eye_dx + r), f.eye_y), (side * f.aspect * 0.98, f.eye_y - 0.04)], f.glasses, 0.025)
    pen.line([(-f.eye_dx + r, f.eye_y), (f.eye_dx - r, f.eye_y)], f.glasses, 0.025)


# The shapes of the noses and mouths are functions of their own: the landmarks are read off them.


def line_nose(f: Face) -> list[Point]:
    """The "line" nose: one stroke from beside the bridge out to the tip and back to the base."""
    return [(0.02, f.eye_y + 0.05), (f.nose_w * 0.6, f.nose_tip - 0.02), (0.0, f.nose_tip + 0.02)]


def button_nose(f: Face) -> tuple[tuple[float, float, float, float], list[Point]]:
    """The "button" nose: its ball (cx, cy, rx, ry) and the centres of its two nostrils."""
    tip, w = f.nose_tip, f.nose_w
    return (0, tip - 0.03, w, w * 0.7), [(side * w * 0.45, tip) for side in (-1, 1)]


def wedge_nose(f: Face) -> tuple[list[Point], list[Point]]:
    """The "wedge" nose: its triangle and the dark line along its base."""
    tip, w = f.nose_tip, f.nose_w
    return [(0, f.eye_y + 0.08), (w, tip), (-w, tip)], [(-w * 0.8, tip), (w * 0.8, tip)]


def draw_nose(pen: Pen, f: Face) -> None:
    dark = shade(f.skin, 0.7)
    if f.nose_style == "line":
        pen.line(line_nose(f), dark, 0.022)
    elif f.nose_style == "button":
        ball, nostrils = button_nose(f)
        pen.ellipse(*ball, shade(f.skin, 0.9))
        for x, y in nostrils:
            pen.dot(x, y, f.nose_w * 0.18, dark)
    else:
        triangle, base = wedge_nose(f)
        pen.polygon(triangle, shade(f.skin, 0.9))
        pen.line(base, dark, 0.02)


SMILE_STROKE = 0.03  # width of the "smile" mouth's line
UPPER_LIP_STROKE = 0.025  # width of the "open" mouth's upper lip


def smile_arc(f: Face) -> tuple[float, float, float, float, float, float]:
    """The "smile" mouth: an arc of the ellipse (cx, cy, rx, ry) from angle t0 (right end) to t1."""
    y, w = f.mouth_y, f.mouth_w
    return 0, y - w * 0.5, w, w * 0.6, 0.2 * math.pi, 0.8 * math.pi


def closed_lips(f: Face) -> tuple[tuple[float, float, float, float], list[Point]]:
    """The "lips" mouth: the lips' ellipse (cx, cy, rx, ry) and the line where they meet."""
    y, w = f.mouth_y, f.mouth_w
    return (0, y, w, w * 0.32), [(-w, y), (0, y + 0.01), (w, y)]


def open_mouth(f: Face) -> tuple[float, float]:
    """The "open" mouth: the height of its straight upper lip, and how deep the half-ellipse
    opening below it (as wide as the mouth) reaches."""
    y, w = f.mouth_y, f.mouth_w
    return y - w * 0.15, w * 0.55


def draw_mouth(pen: Pen, f: Face) -> None:
    y, w = f.mouth_y, f.mouth_w
    if f.mouth_style == "smile":
        cx, cy, rx, ry, t0, t1 = smile_arc(f)
        pen.line(ellipse_points(cx, cy, rx, ry, 12, t0, t1), shade(f.lips, 0.7), SMILE_STROKE)
    elif f.mouth_style == "lips":
        lips, parting = closed_lips(f)
        pen.ellipse(*lips, f.lips)
        pen.line(parting, shade(f.lips, 0.6), 0.018)
    else:
        lip_y, depth = open_mouth(f)
        pen.polygon(ellipse_points(0, lip_y, w, depth, 20, 0.0, math.pi), (90, 20, 30))
        pen.polygon([(-w * 0.8, lip_y), (w * 0.8, lip_y), (w * 0.7, y), (-w * 0.7, y)], (245, 245, 240))
        pen.line([(-w, lip_y), (w, lip_y)], f.lips, UPPER_LIP_STROKE)


def draw_blush(pen: Pen, f: Face) -> None:
    if f.blush:
        for side in (-1, 1):
            pen.ellipse(side * f.aspect * 0.55, 0.2, 0.12, 0.07, (230, 80, 90, 45))


# --- hair: every style has a back part (behind the head) and a front part (over the forehead)


def _hair_none(pen: Pen, f: Face) -> None:
    return None


def _hairline_polygon(f: Face, hairline: float, side_y: float, fringe: bool) -> list[Point]:
    """Hair over the top of the head, from the outline down to a hairline at the temples."""
    k = 1.05
    t_side = math.asin(min(1.0, abs(side_y) / k) ** (f.n_top / 2)) if side_y < 0 else 0.0
    outer = outline_points(f, math.pi + t_side, 2 * math.pi - t_side, k, 40)
    x_end = abs(outer[0][0])
    inner = []
    for i in range(41):
        x = x_end - 2 * x_end * i / 40  # right to left, closing the polygon
        u = abs(x) / x_end
        y = hairline + (side_y - hairline) * u ** 3 + f.hair_tilt * x
        if fringe and 0 < i < 40:
            y += 0.045 if i % 2 else -0.01  # a ragged edge reads as separate strands
        inner.append((x, y))
    return outer + inner


def _hair_cap_front(pen: Pen, f: Face) -> None:
    pen.polygon(_hairline_polygon(f, f.hairline, f.hair_side, fringe=False), f.hair)


def _hair_fringe_front(pen: Pen, f: Face) -> None:
    # The fringe ends above the eyebrows (its ragged tips reach ~0.045 lower) so it never hides the eyes.
    brow_top = f.eye_y - f.eye_ry - f.brow_gap - 0.03 - f.brow_width / 2
    pen.polygon(_hairline_polygon(f, min(f.hairline + 0.2, brow_top - 0.05), f.hair_side + 0.1, fringe=True), f.hair)


def _hair_short_back(pen: Pen, f: Face) -> None:
    pen.ellipse(0, -0.18, f.aspect * 1.1, 0.95, f.hair, n=48)


def _hair_long_back(pen: Pen, f: Face) -> None:
    top = outline_points(f, math.pi, 2 * math.pi, 1.15, 40)
    w = f.aspect * 1.2
    ends = f.hair_len + 0.12  # slightly rounded tips
    pen.polygon(top + [(w, f.hair_len), (w * 0.8, ends), (-w * 0.8, ends), (-w, f.hair_len)], f.hair)


def _hair_afro_back(pen: Pen, f: Face) -> None:
    pts = []
    for i in range(96):
        t = 2 * math.pi * i / 96
        r = 1.0 + 0.035 * math.sin(14 * t)  # bumpy rim of curls
        pts.append((f.aspect * 1.45 * r * math.cos(t), -0.3 + 1.0 * r * math.sin(t)))
    pen.polygon(pts, f.hair)


HAIR_STYLES: dict[str, tuple[Callable[[Pen, Face], None], Callable[[Pen, Face], None]]] = {
    "bald": (_hair_none, _hair_none),
    "short": (_hair_short_back, _hair_cap_front),
    "long": (_hair_long_back, _hair_cap_front),
    "fringe": (_hair_short_back, _hair_fringe_front),
    "long_fringe": (_hair_long_back, _hair_fringe_front),
    "afro": (_hair_afro_back, _hair_cap_front),
}


def draw_face(img: Image.Image, f: Face, pose: Pose) -> None:
    pen = Pen(img, pose)
    back, front = HAIR_STYLES[f.hair_style]
    draw_body(pen, f)
    if f.ears and "long" in f.hair_style:
        draw_ears(pen, f)  # long hair falls over the ears: paint them first
    back(pen, f)
    if f.ears and "long" not in f.hair_style:
        draw_ears(pen, f)
    draw_head(pen, f)
    draw_blush(pen, f)
    draw_nose(pen, f)
    draw_mouth(pen, f)
    draw_eyes(pen, f)
    front(pen, f)
    draw_glasses(pen, f)


# --- masks


class MaskPainter:
    """Paints on the face image and, in the same strokes, on the mask's coverage image."""

    def __init__(self, img: Image.Image, cover: Image.Image, pose: Pose) -> None:
        self.img, self.cover, self.pose = img, cover, pose
        self.pen, self.cover_pen = Pen(img, pose), Pen(cover, pose)

    def line(self, points: Sequence[Point], fill: RGB, w: float, closed: bool = False) -> None:
        self.pen.line(points, fill, w, closed)
        self.cover_pen.line(points, 255, w, closed)

    def fabric(self, outline: Sequence[Point], decorate: Callable[[Pen], None], color: RGB) -> None:
        # Patterns are painted on a separate sheet and pasted through the outline, which clips
        # pleats, stripes and dots to the mask shape without any geometry.
        shape = Image.new("L", self.img.size, 0)
        Pen(shape, self.pose).polygon(outline, 255)
        sheet = Image.new("RGB", self.img.size, color)
        decorate(Pen(sheet, self.pose))
        self.img.paste(sheet, (0, 0), shape)
        self.cover.paste(255, (0, 0), shape)


def mask_outline(f: Face, m: Mask) -> list[Point]:
    """Polygon of the mask in face units: from the upper edge down around the chin."""
    if m.kind == "n95":
        cy = (m.top + 1.05) / 2
        return ellipse_points(0, cy, f.aspect * 0.86, (1.05 - m.top) / 2, 48)
    k = 1.06 if m.kind == "surgical" else 1.04
    t0 = angle_at_height(f, m.top, k)
    lower = outline_points(f, t0, math.pi - t0, k, 48)  # right side, chin, left side
    x_end = abs(lower[0][0])
    upper = []
    for i in range(1, 24):
        x = -x_end + 2 * x_end * i / 24  # left to right, back to the start
        upper.append((x, m.top - m.peak * (1 - (x / x_end) ** 2)))
    return lower + upper


def _draw_loops(painter: MaskPainter, f: Face, m: Mask, x_r: float) -> None:
    """Ear loops (surgical, cloth) or head straps (N95); painted first so the fabric hides their ends."""
    if m.kind == "n95":
        strap = detail_color(m.color)
        for y_head, y_mask in ((-0.05, m.top + 0.15), (0.55, 0.85)):
            for side in (-1, 1):
                painter.line([(side * x_r * 0.8, y_mask), (side * f.aspect * 1.02, y_head)], strap, 0.03)
        return
    loop = detail_color((245, 245, 245) if m.kind == "surgical" else m.color)
    for side in (-1, 1):
        ear = (side * f.aspect, -0.08)
        painter.line([(side * x_r * 0.95, m.top + 0.04), ear, (side * x_r * 0.93, 0.78)], loop, 0.025)


def _decorate_surgical(p: Pen, f: Face, m: Mask, x_r: float) -> None:
    edge = detail_color(m.color)
    for j in range(3):  # pleats, bowed a little like a mask stretched over a chin
        y = m.top + (0.75 - m.top) * (j + 1) / 4
        p.line(ellipse_points(0, y - 0.6, x_r * 1.6, 0.62, 24, 0.25 * math.pi, 0.75 * math.pi), edge, 0.022)
    p.line([(-x_r, m.top + 0.025), (x_r, m.top + 0.025)], shade(m.color, 0.9), 0.05)  # bound upper edge


def _decorate_cloth(p: Pen, f: Face, m: Mask, x_r: float) -> None:
    if m.pattern == "stripes":
        for j in range(-8, 9):
            x = j * 0.16
            p.line([(x - 0.5, m.top - 0.2), (x + 0.5, 1.2)], m.accent, 0.05)
    elif m.pattern == "dots":
        for j in range(-6, 7):
            for i in range(8):
                p.dot(j * 0.15 + (0.075 if i % 2 else 0), m.top + i * 0.14, 0.035, m.accent)
    if m.seam:
        p.line([(0, m.top - m.peak), (0, 1.1)], detail_color(m.color), 0.02)
    p.ellipse(0, 1.2, f.aspect * 1.2, 0.35, (0, 0, 0, 40))  # shadow under the chin gives the fabric volume


def _decorate_n95(p: Pen, f: Face, m: Mask, x_r: float) -> None:
    if m.seam:
        p.line([(0, m.top), (0, 1.05)], detail_color(m.color), 0.02)
    p.ellipse(0, 0.95, f.aspect, 0.3, (0, 0, 0, 30))
    if m.valve:
        vx = m.valve * f.aspect * 0.38
        p.dot(vx, 0.62, 0.11, shade(m.color, 0.78))
        p.dot(vx, 0.62, 0.06, detail_color(m.color))


MASK_DECORATIONS: dict[str, Callable[[Pen, Face, Mask, float], None]] = {
    "surgical": _decorate_surgical,
    "cloth": _decorate_cloth,
    "n95": _decorate_n95,
}


def draw_mask(img: Image.Image, f: Face, m: Mask, pose: Pose) -> Image.Image:
    """Paints the mask onto img and returns its coverage (255 where img was painted)."""
    cover = Image.new("L", img.size, 0)
    painter = MaskPainter(img, cover, pose)
    outline = mask_outline(f, m)
    x_r = max(abs(x) for x, _ in outline)
    _draw_loops(painter, f, m, x_r)
    painter.fabric(outline, lambda pen: MASK_DECORATIONS[m.kind](pen, f, m, x_r), m.color)
    painter.line(outline, detail_color(m.color), 0.022, closed=True)
    if m.kind == "surgical":
        wire = m.top + 0.015
        painter.line([(-x_r * 0.45, wire), (x_r * 0.45, wire)], (250, 250, 250), 0.02)  # nose wire
    return cover


# ----------------------------------------------------------------------------- rendering


def render_hi(toy: ToyFace, size: int) -> Image.Image:
    side = size * SUPERSAMPLE
    img = background_image(toy.background, side)
    draw_face(img, toy.face, toy.pose)
    return img


def downsample(img: Image.Image, size: int) -> Image.Image:
    return img.resize((size, size), Image.LANCZOS)


def render_face(toy: ToyFace, size: int, masked: bool) -> Image.Image:
    img = render_hi(toy, size)
    if masked:
        draw_mask(img, toy.face, toy.mask, toy.pose)
    return downsample(img, size)


def render_test_triple(toy: ToyFace, size: int) -> tuple[Image.Image, Image.Image, Image.Image]:
    """The same face without and with its mask, plus the exact mask region ('L', 0/255)."""
    hi_a = render_hi(toy, size)
    hi_b = hi_a.copy()
    cover = draw_mask(hi_b, toy.face, toy.mask, toy.pose)
    img_a, img_b = downsample(hi_a, size), downsample(hi_b, size)
    # Any output pixel that the mask touches at all belongs to the mask. Outside it testB is
    # taken from testA, so the Lanczos filter's ringing cannot leak small differences out.
    inside = np.asarray(cover.resize((size, size), Image.BOX)) > 0
    b = np.where(inside[..., None], np.asarray(img_b), np.asarray(img_a))
    mask = Image.fromarray(np.where(inside, 255, 0).astype(np.uint8), "L")
    return img_a, Image.fromarray(b.astype(np.uint8), "RGB"), mask


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """The classic aligned (AB) image: ``left`` and ``right`` next to each other."""
    return Image.fromarray(np.hstack([np.asarray(left), np.asarray(right)]))


def images_of_train_face(seed: int, index: int, size: int, paired: bool) -> dict[str, Image.Image]:
    """Folder -> image of training face ``index``: unpaired, trainA and a masked *other* face in
    trainB; paired, the same trainA face without and with its mask side by side in train."""
    toy = sample_toyface(face_rng(seed, STREAM_TRAIN_A, index))
    if paired:
        unmasked, masked, _ = render_test_triple(toy, size)
        return {"train": side_by_side(unmasked, masked)}
    other = sample_toyface(face_rng(seed, STREAM_TRAIN_B, index))
    return {"trainA": render_face(toy, size, False), "trainB": render_face(other, size, True)}


def images_of_test_face(seed: int, index: int, size: int, paired: bool) -> dict[str, Image.Image]:
    """Folder -> image of test face ``index``: the triple, and with ``paired`` its AB image too."""
    unmasked, masked, mask = render_test_triple(sample_toyface(face_rng(seed, STREAM_TEST, index)), size)
    images = {"testA": unmasked, "testB": masked, "testmask": mask}
    if paired:
        images["test"] = side_by_side(unmasked, masked)
    return images


# ----------------------------------------------------------------------------- landmarks
# dlib's 68 points (iBUG 300-W order) read off the drawn shapes, so that code made for photos (FFHQ
# alignment, the mask renderer) runs on toy faces. Nothing here draws a random number.


def _evenly(polyline: Sequence[Point], n: int) -> list[Point]:
    """n points spaced evenly by arc length along a polyline, both of its ends included."""
    pts = np.asarray(polyline, dtype=np.float64)
    run = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    at = np.linspace(0.0, run[-1], n)
    return list(zip(np.interp(at, run, pts[:, 0]).tolist(), np.interp(at, run, pts[:, 1]).tolist()))


def _jaw(f: Face) -> list[Point]:
    """0-16: the head outline from eye level on the image-left, down round the chin, up to the right,
    evenly spaced along it (the outline is painted over the ears, so it is what shows)."""
    a = math.asin(min(1.0, -f.eye_y) ** (f.n_top / 2))  # eye_y < 0 lies on the upper half's outline
    return _evenly(outline_points(f, math.pi + a, -a, n=400), 17)


def _brow(f: Face, side: int) -> list[Point]:
    """17-21 (side -1) or 22-26: five points along the drawn brow, image-left end first, on its
    upper edge as iBUG marks brows. Every toy face has brows (bald ones in a skin shade)."""
    line = brow_line(f, side)  # inner end first
    points = _evenly(line[::-1] if side < 0 else line, 5)
    return [(x, y - f.brow_width / 2) for x, y in points]


def _nose(f: Face) -> list[Point]:
    """27-30 down the bridge from between the eyes to the tip, 31-35 along the base, left to right.
    The tip is put on the midline for every style, as a frontal nose's would be."""
    if f.nose_style == "line":
        _, (reach, tip_y), (_, base_y) = line_nose(f)
        tip = (0.0, tip_y)
        base = _evenly([(-reach, base_y), (reach, base_y)], 5)  # no nostrils drawn: 33 at the stroke's end
    elif f.nose_style == "button":
        (cx, cy, rx, ry), (left, right) = button_nose(f)
        tip = (cx, cy)  # the ball is the tip
        wing = math.sqrt(0.5)  # the ball's rim half-way down its side
        base = [(cx - wing * rx, cy + wing * ry), left, (cx, cy + ry), right, (cx + wing * rx, cy + wing * ry)]
    else:
        _, line = wedge_nose(f)
        base = _evenly(line, 5)
        tip = (0.0, base[2][1] - 0.03)  # just above the base line: the drawn wedge has no tip of its own
    bridge = _evenly([(0.0, f.eye_y), tip], 4)
    return bridge + base


def _eye(f: Face, side: int) -> list[Point]:
    """36-41 (side -1) or 42-47: the corners of the drawn eye and two points on each lid (a third and
    two thirds across), clockwise on screen from the image-left corner, as dlib orders both eyes."""
    x = side * f.eye_dx
    return [(x + f.eye_rx * math.cos(t), f.eye_y + f.eye_ry * math.sin(t))
            for t in (math.pi, 4 * math.pi / 3, 5 * math.pi / 3, 0.0, math.pi / 3, 2 * math.pi / 3)]


def _mouth(f: Face) -> list[Point]:
    """48-59 round the outside of the drawn mouth clockwise from the image-left corner, 60-67 round
    the opening (for a closed mouth: on the line where the lips meet, upper and lower together).

    Each style gives, for u from 0 (image-left corner) to 1, its middle line (the corners are its
    ends) and the outer and inner contours above and below it.
    """
    w = f.mouth_w
    if f.mouth_style == "smile":
        cx, cy, rx, ry, t0, t1 = smile_arc(f)

        def arc(d: float) -> Callable[[float], Point]:  # d: off the line, away from the ellipse's centre
            def point(u: float) -> Point:
                t = t1 + (t0 - t1) * u
                return cx + (rx + d) * math.cos(t), cy + (ry + d) * math.sin(t)
            return point

        # a line has no lips: the outer contour runs along the stroke's edges, the inner one along it
        middle = inner_top = inner_bottom = arc(0.0)
        outer_top, outer_bottom = arc(-SMILE_STROKE / 2), arc(SMILE_STROKE / 2)  # the centre is above
    elif f.mouth_style == "lips":
        (cx, cy, rx, ry), parting = closed_lips(f)
        px, py = zip(*parting)

        def middle(u: float) -> Point:
            return cx - rx + 2 * rx * u, float(np.interp(cx - rx + 2 * rx * u, px, py))

        def rim(sign: int) -> Callable[[float], Point]:
            return lambda u: (cx - rx + 2 * rx * u, cy + sign * ry * math.sqrt(max(0.0, 1 - (2 * u - 1) ** 2)))

        outer_top, outer_bottom = rim(-1), rim(1)
        inner_top = inner_bottom = middle
    else:
        lip_y, depth = open_mouth(f)

        def at(y: float) -> Callable[[float], Point]:
            return lambda u: (w * (2 * u - 1), y)

        def opening(u: float) -> Point:  # no lower lip is drawn: its edge is the opening's
            return w * (2 * u - 1), lip_y + depth * math.sqrt(max(0.0, 1 - (2 * u - 1) ** 2))

        middle = at(lip_y)
        outer_top, inner_top = at(lip_y - UPPER_LIP_STROKE / 2), at(lip_y + UPPER_LIP_STROKE / 2)
        outer_bottom = inner_bottom = opening
    outer = ([middle(0.0)] + [outer_top(k / 6) for k in range(1, 6)]
             + [middle(1.0)] + [outer_bottom(k / 6) for k in range(5, 0, -1)])
    # iBUG's inner corners sit a little inside the outer ones
    inner = ([middle(0.05)] + [inner_top(k / 4) for k in range(1, 4)]
             + [middle(0.95)] + [inner_bottom(k / 4) for k in range(3, 0, -1)])
    return outer + inner


def face_landmarks(f: Face) -> list[Point]:
    """The 68 landmarks of the drawn face in face-local units (dlib's order)."""
    return _jaw(f) + _brow(f, -1) + _brow(f, 1) + _nose(f) + _eye(f, -1) + _eye(f, 1) + _mouth(f)


def landmarks_of(toy: ToyFace, size: int) -> np.ndarray:
    """68 x 2 landmarks in the pixels of the ``size`` image, which spans [0, size] x [0, size]."""
    # PIL fills a polygon with its vertices in those coordinates (pixel centres at +0.5: a disc drawn
    # round (100, 100) fills pixels whose centres average (100, 100)), and the Lanczos resize keeps
    # the convention, so the supersampled drawing's coordinates just shrink by SUPERSAMPLE.
    hi = Placement(toy.pose, size * SUPERSAMPLE).pts(face_landmarks(toy.face))
    return np.asarray(hi, dtype=np.float64) / SUPERSAMPLE


def landmarks_entry(file_path: str, category: str, landmarks: np.ndarray, size: int) -> dict:
    """One face in the layout of FFHQ's ffhq-dataset-v2.json (without its thumbnail, in_the_wild and
    metadata parts, which a drawn face has nothing for). FFHQ's landmarks are dlib's, with pixel
    centres at integers, so the file holds ``landmarks - 0.5``: it means what FFHQ's file means."""
    return {"category": category,
            "image": {"file_path": file_path, "pixel_size": [size, size],
                      "face_landmarks": [[round(float(x) - 0.5, 2), round(float(y) - 0.5, 2)]
                                         for x, y in landmarks]}}


def write_landmarks(path: Path, entries: Sequence[dict]) -> None:
    """Writes the entries under the running keys "0", "1", ... atomically (no half-written file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({str(i): entry for i, entry in enumerate(entries)}))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- files and CLI


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _progress(total: int):
    if tqdm is None:
        return None
    # disable=None turns the bar off when stderr is not a terminal (logs, CI, tests)
    return tqdm(total=total, desc="toyfaces", unit="face", disable=None)


def make_toyfaces(out_dir: str | Path, size: int = 64, n_train: int = 400, n_test: int = 50,
                  seed: int = 0, overwrite: bool = False, paired: bool = False) -> dict[str, int]:
    """Writes the data set (``paired``: the AB layout) and returns the number of images per sub-folder.

    Raises FileExistsError if out_dir already holds files and overwrite is False; with
    overwrite only the sub-folders this script owns (of either layout) are cleared.
    """
    if size < 8 or n_train < 0 or n_test < 0:
        raise ValueError(f"need size >= 8 and non-negative counts, got size={size}, n_train={n_train}, n_test={n_test}")
    out = Path(out_dir)
    if _has_files(out):
        if not overwrite:
            raise FileExistsError(f"output folder '{out}' already has files; pass --overwrite to replace them")
        for name in OWNED_SUBDIRS:
            if (out / name).exists():
                shutil.rmtree(out / name)
        (out / LANDMARKS_FILE).unlink(missing_ok=True)  # it would describe the cleared images
    subdirs = PAIRED_SUBDIRS if paired else SUBDIRS
    for name in subdirs:
        (out / name).mkdir(parents=True, exist_ok=True)

    faces = [(images_of_train_face, i) for i in range(n_train)]
    faces += [(images_of_test_face, i) for i in range(n_test)]
    bar = _progress(len(faces))
    entries = []  # trainA's faces come first, then testA's, as the loop writes them
    for images_of, i in faces:
        for name, img in images_of(seed, i, size, paired).items():
            img.save(out / name / f"{i:05d}.png")
            if name in LANDMARK_FOLDERS:
                stream, category = LANDMARK_FOLDERS[name]
                toy = sample_toyface(face_rng(seed, stream, i))  # a fresh generator: the image's are untouched
                entries.append(landmarks_entry(f"{name}/{i:05d}.png", category, landmarks_of(toy, size), size))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    write_landmarks(out / LANDMARKS_FILE, entries)
    return {name: n_test if name.startswith("test") else n_train for name in subdirs}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Generate the toy face mask data set (A: no mask, B: mask).")
    p.add_argument("--out", default="datasets/toyfaces", help="output folder")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--n_train", type=int, default=400,
                   help="images in trainA and in trainB (with --paired: AB pairs in train)")
    p.add_argument("--n_test", type=int, default=50, help="test triples (testA, testB, testmask)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paired", action="store_true",
                   help="pix2pix layout: train/ and test/ hold AB images (unmasked left, the same face masked "
                        "right), next to testA testB testmask")
    p.add_argument("--overwrite", action="store_true", help="clear the sub-folders this script writes first")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        counts = make_toyfaces(args.out, args.size, args.n_train, args.n_test, args.seed, args.overwrite,
                               args.paired)
    except FileExistsError as err:
        print(f"make_toyfaces: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"make_toyfaces: {err}", file=sys.stderr)
        return 2
    train = ", ".join(f"{counts[name]} {name}" for name in ("train", "trainA", "trainB") if name in counts)
    layout = "AB pairs, " if args.paired else ""
    print(f"toyfaces: {train}, {counts['testA']} test triples ({layout}{args.size}px) "
          f"in {args.out} ({time.perf_counter() - start:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
