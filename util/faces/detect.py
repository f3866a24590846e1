"""Face detection and 68-point landmarks with dlib.

Three detectors (``DETECTORS``), each reporting which of dlib's detectors found a face
(:meth:`FaceFinder.detections`, ``Face.detector``):

- ``hog``: dlib's frontal (HOG) detector. Fast; finds upright unmasked faces, misses most masked
  ones. A detection scoring ``confident`` (HOG_CONFIDENT, 0.5: the old threshold) or more is a face
  with no further cost. One scoring from ``min_score`` (HOG_MIN_SCORE, -0.3) to ``confident`` is
  *doubtful*: it is kept only if dlib's CNN detector, run on a crop around it (the box plus half its
  side each way, scaled so the box is VERIFY_BOX px: about 0.13 s), finds a face overlapping it;
  its confidence there is kept as ``check``. The box stays HOG's (the landmark model was trained on
  HOG's boxes).
- ``cnn``: dlib's MMOD detector over the whole photo (``min_score`` on its scale, 0.0 by default).
  Finds masked and turned faces too, at 70 to 100 times HOG's CPU time (docs/masks.md).
- ``auto``: ``hog``, then ``cnn`` over the whole photo only where ``hog`` kept no face.

``upsample=None`` (the default) picks the upsampling from the size the photo is searched at (at most
``max_side``, 2048 px, on its long side; the landmarks are then placed on the full-size photo): 0
from 1000 px on, 1 from 500 px, 2 below (AUTO_UPSAMPLE_FROM). HOG and the CNN both look through an
80 px window, so each doubling halves the smallest face found and costs 4 times the time; the rule
keeps every face whose box is 6.4% of the long side or more findable and never upsamples a large
photo. An integer ``upsample`` is used as given.

The rule was chosen by measurement on real faces and false detections (``scripts/measure_detection.py``
repeats it); docs/masks.md, "Finding every face", has the tables.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from util.faces import dlib_models

DETECTORS = ("hog", "cnn", "auto")
HOG_MIN_SCORE = -0.3  # doubtful HOG detections from here up are checked by the CNN
HOG_CONFIDENT = 0.5  # HOG detections from here up are faces without a check
CNN_MIN_SCORE = 0.0
DEFAULT_MIN_SCORE = {"hog": HOG_MIN_SCORE, "cnn": CNN_MIN_SCORE, "auto": HOG_MIN_SCORE}

# Auto upsampling: photos searched at a long side of 1000 px or more at upsample 0, from 500 px at 1,
# smaller ones at 2, so that a face whose box is 6.4% of the long side (64 px at 1000 px, the
# smallest HOG finds at upsample 0) or more can be found at any size.
AUTO_UPSAMPLE_FROM = (1000, 500)
VERIFY_BOX = 80  # px: a doubtful box is scaled to this side for the CNN's check
VERIFY_MARGIN = 0.5  # the check's crop reaches this many box sides beyond each edge of the box
VERIFY_IOU = 0.3  # the CNN's face must overlap the doubtful box at least this much

Box = tuple[float, float, float, float]


class Detection(NamedTuple):
    """A face's ``box`` (x0, y0, x1, y1) and ``score`` as ``detector`` ("hog" or "cnn") gave them;
    ``check``: the CNN's confidence on the crop of a doubtful HOG detection (None where unchecked)."""

    box: Box
    score: float
    detector: str
    check: float | None = None


@dataclass
class Face:
    """One detected face: ``box`` (x0, y0, x1, y1), ``score``, ``landmarks`` (68 x 2), in the image's
    pixel coordinates (the image spans [0, W] x [0, H]); ``detector`` and ``check`` as in
    :class:`Detection`."""

    box: Box
    score: float
    landmarks: np.ndarray
    detector: str = "hog"
    check: float | None = None


def auto_upsample(height: int, width: int) -> int:
    """The upsampling for a photo searched at this size: 0, 1 or 2 (AUTO_UPSAMPLE_FROM)."""
    long_side = max(height, width)
    for upsample, least in enumerate(AUTO_UPSAMPLE_FROM):
        if long_side >= least:
            return upsample
    return len(AUTO_UPSAMPLE_FROM)


class FaceFinder:
    """Faces of RGB uint8 photos. ``upsample``: None picks it from the photo's size
    (:func:`auto_upsample`), an integer is used as given. ``min_score``: the lowest score kept, on
    the scale of ``detector`` (HOG's for ``auto``; None: DEFAULT_MIN_SCORE). ``confident``: HOG
    detections scoring less are checked by the CNN (``min_score`` >= ``confident`` checks none)."""

    def __init__(self, detector: str = "hog", upsample: int | None = None, min_score: float | None = None,
                 max_side: int = 2048, confident: float = HOG_CONFIDENT):
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose from {DETECTORS}")
        if upsample is not None and not (is_integer(upsample) and upsample >= 0):
            raise ValueError(f"upsample must be None (auto) or an integer >= 0, not {upsample!r}")
        if not (is_integer(max_side) and max_side >= 1):
            raise ValueError(f"max_side must be a positive integer, not {max_side!r}")
        for name, value in (("min_score", min_score), ("confident", confident)):
            if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                          and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
        self.detector, self.max_side = detector, int(max_side)
        self.upsample = None if upsample is None else int(upsample)
        self.min_score = DEFAULT_MIN_SCORE[detector] if min_score is None else float(min_score)
        self.confident = float(confident)

    def searched_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) at which a photo is searched: at most ``max_side`` on its long side."""
        scale = min(1.0, self.max_side / max(height, width))
        return max(1, round(height * scale)), max(1, round(width * scale))

    def upsample_for(self, height: int, width: int) -> int:
        """The upsampling used for a photo of this size."""
        return auto_upsample(*self.searched_size(height, width)) if self.upsample is None else self.upsample

    def detections(self, image: np.ndarray) -> list[Detection]:
        """Every face of an RGB uint8 image, with the detector that found it."""
        height, width = image.shape[:2]
        small_h, small_w = self.searched_size(height, width)
        small = image if (small_h, small_w) == (height, width) else cv2.resize(image, (small_w, small_h),
                                                                               interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        upsample = auto_upsample(small_h, small_w) if self.upsample is None else self.upsample
        found = [] if self.detector == "cnn" else self._hog(small, upsample)
        if self.detector == "cnn" or (self.detector == "auto" and not found):
            found = [Detection(box, score, "cnn") for box, score in cnn_boxes(small, upsample)
                     if score >= (self.min_score if self.detector == "cnn" else CNN_MIN_SCORE)]
        sx, sy = width / small_w, height / small_h
        return [d._replace(box=(d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy)) for d in found]

    def _hog(self, small: np.ndarray, upsample: int) -> list[Detection]:
        rects, scores, _ = dlib_models.hog_detector().run(small, upsample, self.min_score)
        kept = []
        for rect, score in zip(rects, scores):
            box = (float(rect.left()), float(rect.top()), float(rect.right() + 1), float(rect.bottom() + 1))
            if score < self.min_score:
                continue
            if score >= self.confident:
                kept.append(Detection(box, float(score), "hog"))
                continue
            check = cnn_check(small, box)
            if check is not None:
                kept.append(Detection(box, float(score), "hog", check))
        return kept

    def detect(self, image: np.ndarray) -> list[tuple[Box, float]]:
        """(box, score) of every face in an RGB uint8 image (:meth:`detections` without the detector)."""
        return [(d.box, d.score) for d in self.detections(image)]

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The 68 landmarks of the face in ``box`` (dlib's iBUG 300-W order)."""
        dlib = dlib_models.dlib()
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = dlib_models.shape_predictor()(image, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
        return np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=np.float64)

    def find(self, image: np.ndarray) -> list[Face]:
        """Every face with its landmarks, ordered left to right (then top to bottom)."""
        image = as_rgb8(image)
        faces = [Face(d.box, d.score, self.landmarks(image, d.box), d.detector, d.check)
                 for d in self.detections(image)]
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))


def cnn_boxes(image: np.ndarray, upsample: int) -> list[tuple[Box, float]]:
    """(box, confidence) of every face dlib's CNN detector finds in the whole image."""
    return [((float(d.rect.left()), float(d.rect.top()), float(d.rect.right() + 1), float(d.rect.bottom() + 1)),
             float(d.confidence)) for d in dlib_models.cnn_detector()(image, upsample)]


def cnn_check(image: np.ndarray, box: Box) -> float | None:
    """The CNN's confidence for a face overlapping ``box``, searched on a crop around the box scaled
    so the box is VERIFY_BOX px; None where it finds none."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    margin = VERIFY_MARGIN * side
    cx0, cy0 = max(0, int(math.floor(x0 - margin))), max(0, int(math.floor(y0 - margin)))
    cx1 = min(image.shape[1], int(math.ceil(x1 + margin)))
    cy1 = min(image.shape[0], int(math.ceil(y1 + margin)))
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    scale = VERIFY_BOX / side
    size = (max(1, round((cx1 - cx0) * scale)), max(1, round((cy1 - cy0) * scale)))
    crop = cv2.resize(image[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    inside = [score for (bx0, by0, bx1, by1), score in cnn_boxes(np.ascontiguousarray(crop), 0)
              if score >= CNN_MIN_SCORE and iou((cx0 + bx0 / scale, cy0 + by0 / scale, cx0 + bx1 / scale,
                                                 cy0 + by1 / scale), box) >= VERIFY_IOU]
    return max(inside) if inside else None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """A contiguous H x W x 3 uint8 array (grey expanded, alpha dropped), as dlib takes it."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


def to_dlib_shape(landmarks: np.ndarray, box: Box):
    """A dlib ``full_object_detection`` from our landmarks and box (for the face descriptor)."""
    dlib = dlib_models.dlib()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    points = [dlib.point(int(round(x - 0.5)), int(round(y - 0.5))) for x, y in landmarks]
    return dlib.full_object_detection(dlib.rectangle(x0, y0, x1 - 1, y1 - 1), points)
