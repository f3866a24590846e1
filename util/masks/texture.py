"""The masks' cloth: procedural textures drawn in the mask's own (u, v) coordinates.

A texture is three maps over the flattened mask, which the renderer (:mod:`util.masks.render`)
wraps onto the posed 3D surface and then lights with the face's own light:

- ``albedo``: the cloth's colour (reflectance, sRGB / 255), with no light baked in, so that the
  renderer's shading is the only shading;
- ``height``: relief in texture pixels (pleats, seams, welds, weave); the renderer turns its
  gradient into normal perturbations, which is what makes a pleat read as a pleat under any light;
- ``alpha``: the mask's outline (1 inside, anti-aliased edge).

Coordinates: column index is u, from 0 (the wearer's right, the image's left for a frontal face)
to 1; row index is v, from 0 (top edge, over the nose bridge) to 1 (bottom edge, under the chin).
Lengths and heights below are in texture pixels; line widths and weave are sized for the default
512 x 320, positions and bands scale with the texture.

Each mask type is one ``_draw_<type>`` function that returns a :class:`_Body` (outline, relief and
the albedo changes its construction causes: a darker fold line, a pressed weld). A printed pattern
only changes the colour the body is made of, never the relief. To add a type, write its
``_draw_*`` function, register it in ``_BODIES`` and give it a default colour.

Everything random comes from ``seed`` (one stream each for the body and the pattern, so a pattern
change leaves the fibre noise alone); no code here draws per pixel in Python.
"""
from __future__ import annotations

import colorsys
import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from util.errors import UserError

MASK_TYPES = ("surgical", "n95", "kn95", "cloth")
PATTERNS = ("none", "stripes", "dots", "check", "floral")  # or an image read by read_pattern
DEFAULT_COLORS = {"surgical": "#8fb8de", "n95": "#ecebe6", "kn95": "#f2f2f0", "cloth": "#3b4656"}

# A user's image is tiled so that about this many repeats cross the mask; a larger image is
# shrunk on reading, as no tile is ever drawn bigger than this.
PATTERN_REPEATS = 2.5
PATTERN_MAX_SIDE = 1024


@dataclass
class Texture:
    """One mask's cloth over the flattened mask, rows v (top to bottom), columns u."""

    albedo: np.ndarray  # H x W x 3 float32 in [0, 1]: the cloth's colour (sRGB values / 255)
    height: np.ndarray  # H x W float32: relief in texture pixels (0 = flat)
    alpha: np.ndarray  # H x W float32 in [0, 1]: the mask's outline in (u, v)


# --------------------------------------------------------------------------- user input

def parse_color(text: str) -> tuple[int, int, int]:
    """``"#1a2b3c"``, ``"1a2b3c"`` or ``"#abc"`` -> (r, g, b) in 0..255."""
    digits = text.strip().removeprefix("#")
    if not re.fullmatch(r"[0-9a-fA-F]{3}|[0-9a-fA-F]{6}", digits):
        raise ValueError(f"colour {text!r}: expected a hex colour such as '#8fb8de' or '#abc'")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def read_pattern(path: str | Path) -> np.ndarray:
    """A user's image to print on the masks, as H x W x 3 float32 in [0, 1] (at most
    PATTERN_MAX_SIDE pixels on its long side)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--pattern {path}: no such image file; give the path of a PNG or JPEG "
                        f"to print on the masks, or one of {', '.join(PATTERNS)}")
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((PATTERN_MAX_SIDE, PATTERN_MAX_SIDE), Image.Resampling.BOX)
            rgb = np.asarray(img)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise UserError(f"--pattern {path}: cannot read it as an image ({err}); "
                        f"give a PNG or JPEG file") from None
    return rgb.astype(np.float32) / 255


# --------------------------------------------------------------------------- the public call

def mask_texture(mask_type: str, color: tuple[int, int, int], pattern: str | np.ndarray = "none",
                 pattern_weight: float = 0.5, seed: int = 0, width: int = 512,
                 height: int = 320) -> Texture:
    """The texture of one mask: ``mask_type`` in MASK_TYPES, base ``color`` (r, g, b) in 0..255,
    ``pattern`` one of PATTERNS or an image from :func:`read_pattern`, blended into the colour by
    ``pattern_weight`` (0 = plain, 1 = all pattern). The same arguments give identical arrays."""
    if mask_type not in _BODIES:
        raise ValueError(f"mask type {mask_type!r}: expected one of {', '.join(MASK_TYPES)}")
    if isinstance(pattern, str) and pattern not in PATTERNS:
        raise ValueError(f"pattern {pattern!r}: expected one of {', '.join(PATTERNS)} or an image array")
    if not 0 <= pattern_weight <= 1:
        raise ValueError(f"pattern_weight {pattern_weight}: expected a value in [0, 1]")
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise ValueError(f"colour {color!r}: expected (r, g, b) in 0..255")

    body_rng, pattern_rng = np.random.default_rng(seed).spawn(2)
    grid = _Grid(width, height)
    body = _BODIES[mask_type](grid, body_rng)

    # Colour is worked on as three planes (3 x H x W): numpy is slow over a last axis of 3.
    base = np.asarray(color, np.float32) / 255
    cloth = base[:, None, None]
    no_pattern = isinstance(pattern, str) and pattern == "none"
    if pattern_weight > 0 and not no_pattern:
        printed = _pattern_planes(pattern, base, grid, pattern_rng)
        cloth = (1 - pattern_weight) * cloth + pattern_weight * printed

    planes = cloth * body.shade
    planes += (1 - planes) * body.lift
    albedo = cv2.merge(list(np.clip(planes, 0, 1, out=planes)))
    return Texture(albedo, body.height.astype(np.float32), body.alpha.astype(np.float32))


# --------------------------------------------------------------------------- geometry helpers

class _Grid:
    """Pixel-centre coordinates: x, u as 1 x W rows; y, v as H x 1 columns."""

    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.x = np.arange(width, dtype=np.float32)[None, :] + 0.5
        self.y = np.arange(height, dtype=np.float32)[:, None] + 0.5
        self.u, self.v = self.x / width, self.y / height


@dataclass
class _Body:
    """What a mask type's construction contributes: outline, relief and albedo changes
    (``shade`` multiplies the cloth's colour; ``lift`` mixes it towards white, for light threads)."""

    alpha: np.ndarray
    height: np.ndarray
    shade: np.ndarray
    lift: np.ndarray


def _rounded_intersection(distances: list[np.ndarray], radius: float) -> np.ndarray:
    """Signed distance (px, negative inside) of the region inside every one of ``distances``,
    its corners rounded by ``radius`` (the usual rounded-box construction, for any count of sides)."""
    q = [d + radius for d in distances]  # rows and columns stay 1-D until they meet
    outside_sq, inside = np.maximum(q[0], 0) ** 2, q[0]
    for d in q[1:]:
        outside_sq = outside_sq + np.maximum(d, 0) ** 2
        inside = np.maximum(inside, d)
    return np.sqrt(outside_sq) + np.minimum(inside, 0) - radius


def _edge_distance(grid: _Grid, edge_v: np.ndarray, below: bool) -> np.ndarray:
    """Signed distance (px, positive outside) to a top (``below`` False) or bottom edge given as
    v = edge_v(u); the vertical gap is divided by the edge's slope so a slanted edge keeps an even
    anti-aliased width and an even inset for seams."""
    slope = np.gradient(edge_v[0] * grid.h, grid.x[0])[None, :]
    gap = (grid.v - edge_v) * grid.h if below else (edge_v - grid.v) * grid.h
    return gap / np.sqrt(1 + slope ** 2)


def _body(sdf: np.ndarray, height: np.ndarray, shade: np.ndarray, lift: np.ndarray | None = None) -> _Body:
    """Outline coverage from a signed distance: a one-pixel anti-aliased edge."""
    alpha = np.clip(0.5 - sdf, 0, 1)
    lift = np.zeros_like(shade) if lift is None else lift
    return _Body(alpha, height, shade, lift)


def _wrap(x: np.ndarray, period: float) -> np.ndarray:
    """x modulo ``period`` in [0, period) (np.mod is several times slower on float arrays)."""
    return x - period * np.floor(x / period)


def _soft_step(x: np.ndarray, edge: float, width: float = 1.0) -> np.ndarray:
    """0 below ``edge``, 1 above it, a linear ramp ``width`` px wide (anti-aliasing)."""
    return np.clip((x - edge) / width + 0.5, 0, 1)


def _line(d: np.ndarray, width: float) -> np.ndarray:
    """Coverage of an anti-aliased line ``width`` px wide at d = 0."""
    return np.clip(width / 2 + 0.5 - np.abs(d), 0, 1)


def _ridge(d: np.ndarray, width: float) -> np.ndarray:
    """A rounded ridge (half-cylinder profile, peak 1) ``width`` px wide at d = 0."""
    t = np.minimum((2 * d / width) ** 2, 1)
    return np.sqrt(1 - t)


def _dot_row(along: np.ndarray, across: np.ndarray, pitch: float, radius: float) -> np.ndarray:
    """Coverage of round dots every ``pitch`` px along a straight line (across = 0)."""
    a = _wrap(along, pitch) - pitch / 2
    return np.clip(radius + 0.5 - np.sqrt(a * a + across * across), 0, 1)


def _dash_row(along: np.ndarray, across: np.ndarray, pitch: float, length: float,
              width: float) -> np.ndarray:
    """Coverage of dashes (stitches) ``length`` long every ``pitch`` px along a straight line."""
    a = np.abs(_wrap(along, pitch) - pitch / 2)
    return np.clip(length / 2 + 0.5 - a, 0, 1) * _line(across, width)


def _marks_along(inside: np.ndarray, pitch: float, length: float, thickness: int) -> np.ndarray:
    """Coverage of marks spaced ``pitch`` px along the outline of the boolean region ``inside``:
    stitches ``length`` px long, or round dots where ``length`` is 0. Used for seams that follow a
    curved outline, where no straight coordinate runs along the seam."""
    contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    canvas = np.zeros(inside.shape, np.uint8)
    if not contours:
        return canvas.astype(np.float32)
    points = max(contours, key=len)[:, 0, :].astype(np.float64)
    # findContours walks pixel centres in staircase steps; a short circular average smooths them.
    kernel, k = np.ones(7) / 7, 3
    wrapped = np.concatenate([points[-k:], points, points[:k]])
    points = np.stack([np.convolve(wrapped[:, i], kernel, "valid") for i in (0, 1)], axis=1)

    closed = np.concatenate([points, points[:1]])
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    count = max(int(arc[-1] // pitch), 1)
    at = np.arange(count) * arc[-1] / count

    def point(s):
        s = _wrap(s, arc[-1])
        return np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)

    ends = np.stack([point(at - length / 2), point(at + length / 2)], axis=1)
    segments = np.round(ends * 16).astype(np.int32)
    cv2.polylines(canvas, list(segments), False, 255, thickness, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) / 255


# --------------------------------------------------------------------------- noise

def _smooth_noise(rng: np.random.Generator, grid: _Grid, cell: float) -> np.ndarray:
    """Unit-variance noise with features about ``cell`` px across (random values on a coarse
    lattice, interpolated bicubically)."""
    coarse = rng.standard_normal((int(grid.h / cell) + 3, int(grid.w / cell) + 3)).astype(np.float32)
    big = cv2.resize(coarse, (int(coarse.shape[1] * cell), int(coarse.shape[0] * cell)),
                     interpolation=cv2.INTER_CUBIC)
    out = big[int(cell):int(cell) + grid.h, int(cell):int(cell) + grid.w]
    return out / (out.std() + 1e-6)


def _wander(rng: np.random.Generator, length: int, cell: float) -> np.ndarray:
    """A 1 x ``length`` row of smooth unit-variance noise (features ``cell`` px long)."""
    coarse = rng.standard_normal(int(length / cell) + 4)
    row = np.interp(np.arange(length) / cell + 1, np.arange(coarse.size), coarse)
    return (row / (row.std() + 1e-6)).astype(np.float32)[None, :]


def _nonwoven(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    """Spun-bond fleece, unit variance: sparse short fibres lying in every direction over a fine
    speckle and a cloudy mottle, as polypropylene non-woven looks from close up."""
    white = rng.standard_normal((grid.h, grid.w)).astype(np.float32)
    seeds = np.flatnonzero(white > 1.8)  # about 4 % of pixels start a fibre
    # The seed's value, already random, also picks its direction: no second draw is needed.
    direction = (white.flat[seeds] * 997).astype(np.int64) % _FIBRE_DIRECTIONS
    fibres = np.zeros_like(white)
    for k, kernel in enumerate(_fibre_kernels()):
        start = np.zeros_like(white)
        start.flat[seeds[direction == k]] = 1
        fibres += cv2.filter2D(start, -1, kernel)
    fibres = (fibres - fibres.mean()) / (fibres.std() + 1e-6)
    speckle = cv2.GaussianBlur(white, (0, 0), 0.7)
    speckle /= speckle.std() + 1e-6
    mottle = _smooth_noise(rng, grid, 12)
    out = 0.4 * fibres + 0.3 * speckle + 0.2 * mottle  # a faint mottle: more reads as dirt at photo scale
    return out / (out.std() + 1e-6)


_FIBRE_DIRECTIONS = 6


def _fibre_kernels(length: int = 9) -> list[np.ndarray]:
    """Anti-aliased line kernels, one per fibre direction, that smear a seed pixel into a fibre."""
    kernels = []
    for k in range(_FIBRE_DIRECTIONS):
        kernel = np.zeros((length, length), np.uint8)
        angle = np.pi * k / _FIBRE_DIRECTIONS
        dx, dy = np.cos(angle) * (length - 1) / 2, np.sin(angle) * (length - 1) / 2
        c = (length - 1) / 2
        cv2.line(kernel, _fixed(c + 0.5 - dx, c + 0.5 - dy), _fixed(c + 0.5 + dx, c + 0.5 + dy),
                 255, 1, cv2.LINE_AA, 4)
        kernels.append(kernel.astype(np.float32) / 255)
    return kernels


# --------------------------------------------------------------------------- mask types

def _draw_surgical(grid: _Grid, rng: np.random.Generator) -> _Body:
    """Pleated three-ply mask: three pleats across the middle, bound side edges, hemmed top and
    bottom, a nose wire in the top hem, non-woven fleece."""
    w, h, x, y = grid.w, grid.h, grid.x, grid.y
    sides = np.abs(x - w / 2) - (w / 2 - 0.5)
    ends = np.abs(y - h / 2) - (h / 2 - 0.5)
    sdf = _rounded_intersection([sides, ends], 0.012 * w)
    from_side = np.minimum(x, w - x)
    from_end = np.minimum(y, h - y)
    height = np.zeros((h, w), np.float32)
    shade = np.ones((h, w), np.float32)

    # Pleats fold downward like shingles: each panel slopes up towards the fold above the next
    # panel and drops sharply at the fold line; the overlapped fabric just under it reads darker.
    bind_w, hem_h = 0.045 * w, 0.075 * h
    for v_fold in (0.33, 0.50, 0.67):
        fold_y = v_fold * h + 1.2 * _wander(rng, grid.w, 90)  # a fold is never ruler-straight
        s = y - fold_y  # > 0 below the fold
        rise = np.exp(np.minimum(s, 0) / (0.08 * h)) * (1 - _soft_step(s, 0, 4))
        lip = 0.8 * _ridge(s + 2.5, 5)  # the folded edge is a little rounded bulge
        height += 4.0 * rise + lip
        shade *= 1 - 0.12 * _line(s - 0.5, 2) - 0.06 * np.exp(-np.maximum(s, 0) / 4) * _soft_step(s, 0)

    # Hems along top and bottom, under the side bindings (which are sewn over their ends).
    hem = 1 - _soft_step(from_end, hem_h, 2)
    height = height * (1 - hem) + hem * (0.9 + 0.5 * _ridge(from_end - 2, 6))
    weld_y = from_end - 0.55 * hem_h
    hem_weld = _dot_row(x, weld_y, 4.0, 0.9) * (from_side > bind_w + 2)
    height -= 0.5 * hem_weld
    shade *= 1 - 0.10 * hem_weld

    # Nose wire: a stiff strip inside the top hem, a raised ridge over the middle 35 %.
    half = 0.175 * w
    along = np.clip(x, w / 2 - half, w / 2 + half)
    to_wire = np.sqrt((x - along) ** 2 + (y - 0.42 * hem_h) ** 2)
    height += 1.6 * _ridge(to_wire, 0.45 * hem_h)

    # Side bindings: a folded strip of fabric over the edge, raised, with an ultrasonic weld line.
    binding = 1 - _soft_step(from_side, bind_w, 2)
    # The pleats run on under the binding, flattened by it.
    height = height * (1 - 0.75 * binding) + binding * (1.6 + 0.6 * _ridge(from_side - 3, 8))
    side_weld = _dot_row(y, from_side - 0.5 * bind_w, 4.0, 0.9)
    height -= 0.6 * side_weld
    shade *= 1 + 0.03 * binding - 0.12 * side_weld

    fleece = _nonwoven(rng, grid)
    height += 0.08 * fleece
    shade *= 1 + 0.035 * fleece
    return _body(sdf, height, shade)


def _draw_n95(grid: _Grid, rng: np.random.Generator) -> _Body:
    """Moulded cup respirator: an oval outline, a flat welded flange round it with a raised seam
    where the cup begins, a faint horizontal seam and a printed code line, fibrous speckle."""
    w, h, x, y = grid.w, grid.h, grid.x, grid.y
    a, b, n = w / 2 - 1, h / 2 - 1, 2.6
    X, Y = np.abs(x - w / 2) / a, np.abs(y - h / 2) / b
    F = np.maximum(X ** n + Y ** n, 1e-12)  # 0 only at the exact centre of an odd-sized texture
    G = F ** (1 / n)  # a superellipse's "radius": its level sets are scaled copies of the outline
    grad = G / F * np.sqrt((X ** (n - 1) / a) ** 2 + (Y ** (n - 1) / b) ** 2)
    sdf = (G - 1) / np.maximum(grad, 1e-6)
    depth = -sdf

    flange = 0.045 * w
    cup = _soft_step(depth, flange, 3)
    height = 1.2 * cup + 0.9 * _ridge(depth - flange, 4)
    shade = 1 - 0.05 * (1 - cup)
    weld = _marks_along(depth >= 0.5 * flange, 3.5, 0, 2)  # the flange's embossed weld dots
    height -= 0.4 * weld
    shade *= 1 - 0.08 * weld

    seam = _line(y - 0.5 * h, 1.5) * cup
    height += 0.4 * seam
    shade *= 1 - 0.04 * seam
    shade *= 1 - 0.35 * _printed_code(grid, rng, 0.5, 0.76)

    fleece = _nonwoven(rng, grid)
    height += 0.09 * fleece
    shade *= 1 + 0.03 * fleece
    return _body(sdf, height, shade)


def _printed_code(grid: _Grid, rng: np.random.Generator, u_centre: float, v_centre: float) -> np.ndarray:
    """Coverage of a short line of small grey 'letters' (blocks of random widths), like the model
    number printed on a respirator; unreadable on purpose, only its presence matters."""
    widths = rng.uniform(2.0, 5.0, size=14) * grid.w / 512
    gaps = np.where(rng.random(14) < 0.2, 5.0, 1.6) * grid.w / 512
    starts = np.concatenate([[0], np.cumsum(widths + gaps)[:-1]])
    starts += u_centre * grid.w - (starts[-1] + widths[-1]) / 2
    x = grid.x[0]
    row = np.zeros_like(x)
    for start, width in zip(starts, widths):
        row = np.maximum(row, _soft_step(x, start) * (1 - _soft_step(x, start + width)))
    band = _line(grid.y - v_centre * grid.h, 4.0 * grid.h / 320)
    return band * row[None, :]


def _draw_kn95(grid: _Grid, rng: np.random.Generator) -> _Body:
    """Folded KN95: the fish outline (points at nose and chin), a welded centre fold, a border of
    weld dots inside the edge and the welded ear-loop spots at the four side corners."""
    w, h, x, y, u = grid.w, grid.h, grid.x, grid.y, grid.u
    t = np.sqrt((2 * u - 1) ** 2 + 0.03 ** 2) - 0.03  # |2u - 1| with its kink rounded: the points
    top = -0.012 + 0.25 * t ** 1.15
    bottom = 1.012 - 0.24 * t ** 1.1
    sides = np.abs(x - w / 2) - (w / 2 - 1)
    sdf = _rounded_intersection([_edge_distance(grid, top, False), _edge_distance(grid, bottom, True),
                                 sides], 0.012 * w)
    depth = -sdf
    height = np.zeros((h, w), np.float32)
    shade = np.ones((h, w), np.float32)

    # The edge is a pressed seal; a row of weld dots marks where it ends.
    border = 0.026 * w
    seal = 1 - _soft_step(depth, border, 2)
    height -= 0.3 * seal
    dots = _marks_along(depth >= border, 4.5, 0, 3)
    height -= 0.6 * dots
    shade *= 1 - 0.14 * dots - 0.03 * seal

    # The centre fold: two layers welded along u = 0.5, a thin raised seam.
    seam = _ridge(x - w / 2, 4)
    height += 1.4 * seam
    shade *= 1 - 0.10 * _line(x - w / 2, 1.5)

    # Ear loops are welded onto small knurled pads at the side corners.
    for cx in (0.035 * w, w - 0.035 * w):
        for cy in (0.31 * h, 0.69 * h):
            pad_d = _rounded_intersection([np.abs(x - cx) - 0.016 * w, np.abs(y - cy) - 0.03 * h], 2)
            pad = np.clip(0.5 - pad_d, 0, 1)
            knurl = (np.cos(2 * np.pi * (x - cx) / 3) * np.cos(2 * np.pi * (y - cy) / 3) > 0.3)
            height += pad * (-0.6 + 0.5 * knurl)
            shade *= 1 - pad * (0.10 + 0.06 * knurl)

    fleece = _nonwoven(rng, grid)
    height += 0.08 * fleece
    shade *= 1 + 0.025 * fleece
    return _body(sdf, height, shade)


def _draw_cloth(grid: _Grid, rng: np.random.Generator) -> _Body:
    """Sewn fabric mask: plain weave, a centre seam with top-stitching, stitched hems all round,
    a few soft diagonal folds."""
    w, h, x, y, u = grid.w, grid.h, grid.x, grid.y, grid.u
    top = 0.015 + 0.07 * (2 * u - 1) ** 2
    bottom = 1 - top
    sides = np.abs(x - w / 2) - (w / 2 - 1)
    sdf = _rounded_intersection([_edge_distance(grid, top, False), _edge_distance(grid, bottom, True),
                                 sides], 0.06 * w)
    depth = -sdf

    height, shade = _plain_weave(grid, rng)
    lift = np.zeros((h, w), np.float32)

    # Soft folds: low ridges and valleys crossing the mask diagonally.
    for _ in range(int(rng.integers(2, 4))):
        angle = np.deg2rad(rng.uniform(25, 60) * rng.choice([-1, 1]))
        through = (rng.uniform(0.25, 0.75) * w, rng.uniform(0.3, 0.7) * h)
        across = (x - through[0]) * np.cos(angle) - (y - through[1]) * np.sin(angle)
        depth_px, width_px = rng.uniform(8.0, 12.0) * rng.choice([-1, 1]), rng.uniform(0.04, 0.07) * w
        height += depth_px * np.exp(-0.5 * (across / width_px) ** 2)

    # Centre seam: the two halves' allowances make a ridge, the seam itself a groove, with a line
    # of top-stitching on each side.
    centre = x - w / 2
    height += 1.4 * _ridge(centre, 12) - 0.8 * _line(centre, 1.5)
    shade *= 1 - 0.25 * _line(centre, 1.5)
    stitches = _dash_row(y, np.abs(centre) - 4.5, 6.0, 3.5, 1.5)

    # Hems: the edge folded under (raised, rounded), held by a stitch line.
    hem_w = 0.045 * w
    hem = 1 - _soft_step(depth, hem_w, 2)
    height += hem * np.clip(depth / 4, 0, 1)  # rising over the rounded fold at the very edge
    stitches = np.maximum(stitches, _marks_along(depth >= 0.6 * hem_w, 6.0, 2.0, 2))

    height += 0.6 * stitches
    shade *= 1 + 0.1 * stitches
    lift += 0.18 * stitches  # the thread is a shade lighter than the cloth
    return _body(sdf, height, shade, lift)


def _plain_weave(grid: _Grid, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Height and albedo shade of a plain (over-under) weave with a thread every 3 px (each
    thread's axis on a pixel centre, so it shows as a bright line with darker edges); each thread
    gets its own slight tone, as yarns do."""
    pitch = 3.0
    X, Y = grid.x / pitch, grid.y / pitch  # thread coordinates; thread k spans [k, k + 1)
    warp_k, weft_k = np.floor(X), np.floor(Y)
    warp_profile = np.sin(np.pi * X) ** 2  # 1 on a thread's axis, 0 between threads
    weft_profile = np.sin(np.pi * Y) ** 2
    parity_warp = 1 - 2 * _wrap(warp_k, 2)
    parity_weft = 1 - 2 * _wrap(weft_k, 2)
    # Warp k rises over weft m where k + m is even and dips under it where odd; the weft opposite.
    warp_z = 0.5 * np.cos(np.pi * (Y - 0.5)) * parity_warp + 0.6 * warp_profile
    weft_z = -0.5 * np.cos(np.pi * (X - 0.5)) * parity_weft + 0.6 * weft_profile
    on_top_warp = warp_z >= weft_z
    height = np.where(on_top_warp, warp_z, weft_z)

    warp_tone = 1 + 0.05 * rng.standard_normal(int(grid.w / pitch) + 2).astype(np.float32)
    weft_tone = 1 + 0.05 * rng.standard_normal(int(grid.h / pitch) + 2).astype(np.float32)
    tone = np.where(on_top_warp, warp_tone[warp_k.astype(int)], weft_tone[weft_k.astype(int)])
    gap = np.where(on_top_warp, warp_profile, weft_profile)
    shade = tone * (0.82 + 0.18 * gap) * (1 + 0.03 * _smooth_noise(rng, grid, 20))
    return (0.6 * height).astype(np.float32), shade.astype(np.float32)


_BODIES = {"surgical": _draw_surgical, "n95": _draw_n95, "kn95": _draw_kn95, "cloth": _draw_cloth}


# --------------------------------------------------------------------------- printed patterns

def _palette(base: np.ndarray, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """``count`` colours that go with ``base``: shades of it, a neighbouring hue, its complement,
    each darker or lighter than the base so it shows on it; the choice comes from ``rng``."""
    hue, light, sat = colorsys.rgb_to_hls(*base.tolist())
    if sat < 0.12 or light < 0.05 or light > 0.95:  # white, grey, black: pick a hue to accent with
        hue, sat = rng.random(), 0.45
    colours = []
    for i in range(count):
        shift = rng.choice([0.0, 0.0, 1 / 12, -1 / 12, 0.5])
        away = rng.uniform(0.22, 0.38) * (1 if (light < 0.5) == (i % 2 == 0) else -1)
        target = light + away
        if not 0.08 <= target <= 0.92:
            target = light - away
        rgb = colorsys.hls_to_rgb((hue + shift) % 1, float(np.clip(target, 0.08, 0.92)),
                                  float(np.clip(sat * rng.uniform(0.8, 1.2), 0.15, 0.95)))
        colours.append(np.array(rgb, np.float32))
    return colours


def _pattern_planes(pattern: str | np.ndarray, base: np.ndarray, grid: _Grid,
                    rng: np.random.Generator) -> np.ndarray:
    """The printed design as 3 x H x W float32 planes in [0, 1], on the base colour."""
    if not isinstance(pattern, str):
        return _tiled(pattern, grid)
    return _PATTERNS[pattern](base, grid, rng)


def _plain(base: np.ndarray, grid: _Grid) -> np.ndarray:
    """3 x H x W planes of one colour, to paint on."""
    return np.repeat(base[:, None, None], grid.h * grid.w).reshape(3, grid.h, grid.w)


def _paint(canvas: np.ndarray, coverage: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Lay ``colour`` over the planes ``canvas`` with per-pixel ``coverage``, in place."""
    canvas += coverage * (colour[:, None, None] - canvas)
    return canvas


def _stripes(base, grid, rng):
    """A repeating sequence of a few stripes of different widths, vertical, horizontal or diagonal."""
    direction = rng.choice(["vertical", "horizontal", "diagonal"])
    coord = {"vertical": grid.x + 0 * grid.y, "horizontal": grid.y + 0 * grid.x,
             "diagonal": (grid.x + grid.y) / np.sqrt(2)}[direction]
    repeat = grid.w / rng.uniform(4, 7)
    colours = _palette(base, rng, 3)
    canvas = _plain(base, grid)
    phase = _wrap(coord, repeat)
    start = 0.0
    for colour in colours:
        width = repeat * rng.uniform(0.08, 0.2)
        inside = _soft_step(phase, start) * (1 - _soft_step(phase, start + width))
        _paint(canvas, inside, colour)
        start += width + repeat * rng.uniform(0.06, 0.12)
    return canvas


def _dots(base, grid, rng):
    """Polka dots on a hexagonal lattice."""
    pitch = grid.w / rng.uniform(9, 14)
    radius = pitch * rng.uniform(0.2, 0.3)
    colour = _palette(base, rng, 1)[0]
    row_h = pitch * np.sqrt(3) / 2
    dist = np.full((grid.h, grid.w), np.inf, np.float32)
    for offset_x, offset_y in ((0, 0), (pitch / 2, row_h)):  # two rectangular lattices make a hex one
        dx = _wrap(grid.x - offset_x, pitch) - pitch / 2
        dy = _wrap(grid.y - offset_y, 2 * row_h) - row_h
        dist = np.minimum(dist, np.sqrt(dx * dx + dy * dy))
    canvas = _plain(base, grid)
    return _paint(canvas, np.clip(radius + 0.5 - dist, 0, 1), colour)


def _check(base, grid, rng):
    """Gingham: translucent bands across and down, darker where they cross, with a thin accent
    line through each band (a hint of tartan)."""
    pitch = grid.w / rng.uniform(7, 11)
    band, accent = _palette(base, rng, 2)

    def bands(coord):
        return 1 - _soft_step(np.abs(_wrap(coord, pitch) - pitch / 2), pitch / 4)

    across, down = bands(grid.y + 0 * grid.x), bands(grid.x + 0 * grid.y)
    canvas = _plain(base, grid)
    canvas = _paint(canvas, 0.55 * across + 0.55 * down - 0.1 * across * down, band)
    lines = np.maximum(_line(_wrap(grid.y, pitch) - pitch / 2 + 0 * grid.x, 1.2),
                       _line(_wrap(grid.x, pitch) - pitch / 2 + 0 * grid.y, 1.2))
    return _paint(canvas, 0.8 * lines, accent)


def _floral(base, grid, rng):
    """Small flowers scattered on a jittered lattice: five or six petals (ellipses) round a
    contrasting centre, some with a pair of leaves."""
    # Each petal colour comes with a darker tone for the petal's rim; cv2 wants 0..255 tuples.
    petal_colours = [(_bgr(c * 0.82), _bgr(c)) for c in _palette(base, rng, 2)]
    heart = np.array(colorsys.hls_to_rgb(0.13, 0.6, 0.85), np.float32)  # a yellow heart
    heart_colours = (_bgr(heart * 0.8), _bgr(heart))
    light = colorsys.rgb_to_hls(*base.tolist())[1]
    leaf_colour = _bgr(np.array(colorsys.hls_to_rgb(0.30, 0.28 if light > 0.4 else 0.45, 0.45)))
    canvas = np.empty((grid.h, grid.w, 3), np.uint8)  # cv2 draws anti-aliased shapes on 8-bit images
    canvas[:] = _bgr(base)

    spacing = grid.w / 6.5
    cols, rows = int(grid.w / spacing) + 2, int(grid.h / spacing) + 2
    for row in range(rows):
        for col in range(cols):
            cx = (col + 0.5 * (row % 2) - 0.5 + rng.uniform(-0.25, 0.25)) * spacing
            cy = (row - 0.3 + rng.uniform(-0.25, 0.25)) * spacing
            size = spacing * rng.uniform(0.22, 0.32)
            petals = int(rng.choice([5, 6]))
            turn = rng.uniform(0, 360)
            rim, fill = petal_colours[int(rng.integers(0, 2))]
            if rng.random() < 0.6:
                for side in (-1, 1):
                    _ellipse(canvas, cx, cy, size * 1.15, size * 0.32, turn + 90 + side * 40, leaf_colour,
                             offset=size * 1.05)
            for k in range(petals):
                angle = turn + 360 * k / petals
                _ellipse(canvas, cx, cy, size * 0.55 + 1, size * 0.3 + 1, angle, rim, offset=size * 0.55)
                _ellipse(canvas, cx, cy, size * 0.52, size * 0.27, angle, fill, offset=size * 0.55)
            for radius, colour in zip((0.28, 0.22), heart_colours):
                cv2.circle(canvas, _fixed(cx, cy), int(size * radius * 16), colour, -1, cv2.LINE_AA, 4)
    return np.stack(cv2.split(canvas)).astype(np.float32) / 255


def _fixed(x: float, y: float) -> tuple[int, int]:
    """Pixel-centre coordinates to OpenCV's 4-bit fixed point (x = 0.5 is the first pixel's centre)."""
    return int(round((x - 0.5) * 16)), int(round((y - 0.5) * 16))


def _bgr(colour: np.ndarray) -> tuple[int, ...]:
    """An RGB float colour as the 0..255 tuple cv2 draws with (the canvas is RGB, so no swap)."""
    return tuple(int(round(c * 255)) for c in np.clip(colour, 0, 1))


def _ellipse(canvas: np.ndarray, cx: float, cy: float, half_length: float, half_width: float,
             angle: float, colour: tuple[int, ...], offset: float) -> None:
    """A filled anti-aliased ellipse whose centre sits ``offset`` px from (cx, cy) along ``angle``
    (degrees), its long axis along the same direction: a petal or a leaf."""
    rad = math.radians(angle)
    ex, ey = cx + offset * math.cos(rad), cy + offset * math.sin(rad)
    axes = (int(half_length * 16), int(half_width * 16))
    cv2.ellipse(canvas, _fixed(ex, ey), axes, float(angle), 0, 360, colour, -1, cv2.LINE_AA, 4)


def _tiled(image: np.ndarray, grid: _Grid) -> np.ndarray:
    """A user's image repeated over the mask, its aspect ratio kept, about PATTERN_REPEATS tiles
    across, one tile centred on the middle of the mask."""
    image = np.asarray(image, np.float32)
    tile_w = max(int(round(grid.w / PATTERN_REPEATS)), 1)
    tile_h = max(int(round(tile_w * image.shape[0] / image.shape[1])), 1)
    shrinking = tile_w < image.shape[1]
    tile = cv2.resize(image, (tile_w, tile_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    reps = (int(np.ceil(grid.h / tile_h)) + 2, int(np.ceil(grid.w / tile_w)) + 2)
    big = np.tile(tile, (*reps, 1))
    top = tile_h - (grid.h // 2 - tile_h // 2) % tile_h
    left = tile_w - (grid.w // 2 - tile_w // 2) % tile_w
    return np.stack(cv2.split(np.clip(big[top:top + grid.h, left:left + grid.w], 0, 1)))


_PATTERNS = {"stripes": _stripes, "dots": _dots, "check": _check, "floral": _floral}
