"""Each mask type, worn each way, as a surface on the generic face (:mod:`util.masks.face3d`).

A mask is a grid of 3D points (rows: its top edge over the nose down to its bottom edge; columns:
from the side at the wearer's right cheek, the image's left, across to the other side), so the grid
index is the texture's (u, v). Its outline is drawn on the generic face's frontal layout: the top
edge, the bottom edge and the two sides, between which the rows and columns are spread (a Coons
patch). Its depth is draped: the cloth starts on the face's surface, a little in front of it, and is
then relaxed towards a stretched membrane that may never pass into the face, so it tents over the
nose, bridges the hollows beside the nostrils and under the lip, and wraps the chin. Types differ in
how far it relaxes (a surgical mask is taut, a cloth mask clings), in how far it stands off (an N95
cup is pushed outwards), and a KN95 is two flat panels folded along the middle.

Wear classes are MaskedFace-Net's four: ``correct`` (nose, mouth and chin covered), ``nose`` (the
nose uncovered), ``chin`` (the chin uncovered), ``nose_mouth`` (nose and mouth uncovered: the mask
pulled down onto the chin). Meshes are computed once per (type, wear) and cached.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from util.masks.face3d import support_depth

COLUMNS, ROWS = 41, 25
WEARS = ("correct", "nose", "chin", "nose_mouth")

# outlines on the generic face (mm; x to the image's right on a frontal face, y down; the left half,
# mirrored): the top edge and the bottom edge from the side to the middle, and the side between
# the top and the bottom corners
_TOP = {
    "high": [(-69, 31), (-55, 26), (-38, 19.5), (-22, 15.5), (-9, 12.5), (0, 11.5)],  # on the nose bridge
    "under_nose": [(-67, 52), (-50, 52), (-33, 53), (-19, 54.5), (-8, 54.5), (0, 54)],
    "under_lip": [(-60, 92), (-48, 96), (-34, 99), (-19, 101), (-8, 102), (0, 102)],
}
_BOTTOM = {
    "under_chin": [(-61, 88), (-52, 105), (-39, 120), (-22, 132), (-9, 136), (0, 137)],
    "over_chin": [(-63, 80), (-52, 93), (-38, 100), (-22, 104), (-9, 106), (0, 106)],
    "on_neck": [(-55, 118), (-47, 130), (-35, 140), (-20, 147), (-8, 149), (0, 150)],
}
_OUTLINES = {"correct": ("high", "under_chin"), "nose": ("under_nose", "under_chin"),
             "chin": ("high", "over_chin"), "nose_mouth": ("under_lip", "on_neck")}


@dataclass(frozen=True)
class Drape:
    """How a type's cloth lies: its distance in front of the skin (mm), how far it relaxes towards a
    stretched membrane (iterations), an outward push per iteration (a cup), and a fold down the
    middle standing this far in front of the membrane (mm, 0: none)."""

    standoff: float
    relax: int
    push: float = 0.0
    fold: float = 0.0


DRAPES = {"surgical": Drape(standoff=1.5, relax=400),
          "n95": Drape(standoff=3.0, relax=250, push=0.25),
          "kn95": Drape(standoff=2.0, relax=400, fold=9.0),
          "cloth": Drape(standoff=2.5, relax=60)}


@dataclass(frozen=True)
class MaskMesh:
    points: np.ndarray  # ROWS x COLUMNS x 3, generic face frame (z into the head)
    ear_loops: tuple  # polylines (N x 3, generic face frame): per side, mask to ear and lobe to mask


def _curve(points: list[tuple[float, float]], n: int) -> np.ndarray:
    """The left half's control points mirrored into a whole edge, resampled to ``n`` points evenly
    along its length (a Catmull-Rom spline through the control points)."""
    half = np.array(points, dtype=np.float64)
    whole = np.concatenate([half, half[-2::-1] * [-1, 1]])
    dense = _catmull_rom(whole, 16)
    step = np.r_[0, np.cumsum(np.hypot(*np.diff(dense, axis=0).T))]
    at = np.linspace(0, step[-1], n)
    return np.column_stack([np.interp(at, step, dense[:, 0]), np.interp(at, step, dense[:, 1])])


def _catmull_rom(points: np.ndarray, per_segment: int) -> np.ndarray:
    padded = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for p0, p1, p2, p3 in zip(padded[:-3], padded[1:-2], padded[2:-1], padded[3:]):
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1:])
    return np.concatenate(out)


def _side(top_corner: np.ndarray, bottom_corner: np.ndarray, n: int) -> np.ndarray:
    """The left side from its top corner to its bottom corner, bowed outwards along the cheek."""
    t = np.linspace(0, 1, n)[:, None]
    straight = top_corner + (bottom_corner - top_corner) * t
    bow = 4.0 * t * (1 - t) * np.array([-3.0, 0.0])
    return straight + bow


def _coons(top: np.ndarray, bottom: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """ROWS x COLUMNS x 2 positions spread between four edges that meet at their corners."""
    v = np.linspace(0, 1, len(left))[:, None, None]
    u = np.linspace(0, 1, len(top))[None, :, None]
    ruled_v = (1 - v) * top[None] + v * bottom[None]
    ruled_u = (1 - u) * left[:, None] + u * right[:, None]
    corners = ((1 - u) * (1 - v) * top[0] + u * (1 - v) * top[-1] + (1 - u) * v * bottom[0] + u * v * bottom[-1])
    return ruled_v + ruled_u - corners


def _relax(z: np.ndarray, limit: np.ndarray, drape: Drape, fixed: np.ndarray) -> np.ndarray:
    """Let the cloth's depth relax towards a membrane (each point moves to its neighbours' mean),
    never closer to the head than ``limit``; ``fixed`` points (the edges, a fold) stay."""
    z = z.copy()
    for _ in range(drape.relax):
        mean = z.copy()
        mean[1:-1, 1:-1] = 0.25 * (z[:-2, 1:-1] + z[2:, 1:-1] + z[1:-1, :-2] + z[1:-1, 2:])
        mean -= drape.push
        z = np.where(fixed, z, np.minimum(mean, limit))
    return z


@functools.cache
def mask_mesh(mask_type: str, wear: str) -> MaskMesh:
    drape = DRAPES[mask_type]
    top_name, bottom_name = _OUTLINES[wear]
    top, bottom = _curve(_TOP[top_name], COLUMNS), _curve(_BOTTOM[bottom_name], COLUMNS)
    left = _side(top[0], bottom[0], ROWS)
    right = left * [-1, 1]
    xy = _coons(top, bottom, left, right)
    skin = support_depth(xy)
    limit = skin - drape.standoff  # z into the head: the cloth stays in front of the skin
    fixed = np.zeros(skin.shape, dtype=bool)
    fixed[[0, -1], :] = True
    fixed[:, [0, -1]] = True
    z = limit.copy()
    if drape.fold:  # the crease down the middle stands out in front of where the cloth would lie
        middle = COLUMNS // 2
        crease = _relax_line(limit[:, middle], drape.relax)
        z[:, middle] = crease - drape.fold * np.sin(np.linspace(0, np.pi, ROWS)) ** 0.5
        fixed[:, middle] = True
    z = _relax(z, limit, drape, fixed)
    points = np.dstack([xy, z])
    loops = tuple(line for column in (0, -1) for line in _loops(points, column, straps=mask_type == "n95"))
    return MaskMesh(points, loops)


def _relax_line(limit: np.ndarray, steps: int) -> np.ndarray:
    """:func:`_relax` along one line, its ends fixed."""
    z = limit.copy()
    for _ in range(steps):
        z[1:-1] = np.minimum(0.5 * (z[:-2] + z[2:]), limit[1:-1])
    return z


def _loops(points: np.ndarray, column: int, straps: bool) -> tuple[np.ndarray, np.ndarray]:
    """One side's elastic as two visible runs from the mask's side, near its top and bottom corners:
    an ear loop goes over the ear and comes back from under the lobe (behind the ear it is hidden);
    an N95's head straps run back above the ear and below it, round the neck."""
    sign = -1.0 if column == 0 else 1.0
    inset = ROWS * 3 // 10 if straps else ROWS // 10  # an N95's oval meets its sides only mid-height
    top, bottom = points[inset, column], points[ROWS - 1 - inset, column]
    if straps:
        upper_end, lower_end = np.array([76.0 * sign, -22.0, 75.0]), np.array([62.0 * sign, 88.0, 70.0])
    else:
        upper_end, lower_end = np.array([74.0 * sign, -4.0, 58.0]), np.array([71.0 * sign, 36.0, 58.0])
    t = np.linspace(0, 1, 12)[:, None]
    arc = np.sin(np.pi * t)  # the elastic bows a little away from the straight line
    return (top + (upper_end - top) * t + [0, -6.0, 0] * arc,
            bottom + (lower_end - bottom) * t + [0, 4.0, 0] * arc)
