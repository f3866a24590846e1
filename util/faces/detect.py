"""Face detection and 68-point landmarks with dlib.

``hog`` (dlib's frontal face detector, the default) is fast and finds upright, unmasked faces well but
misses most masked and turned ones; ``cnn`` (dlib's MMOD detector) finds those too, at a far higher
CPU cost (measured in the README). Both give a score per face; detections under ``min_score`` are
dropped. The scales differ, so each has its own default: HOG 0.5 (on scikit-image's astronaut photo
it scores the face 1.5 and, upsampled, a false face on the suit 0.12), CNN 0.0 (its confidence for
the astronaut is 1.07, and 0.48 once a mask is drawn on her). Large photos are searched at ``max_side`` pixels at most and the landmarks are then
placed on the full-size photo.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from util.faces import dlib_models

DETECTORS = ("hog", "cnn")
DEFAULT_MIN_SCORE = {"hog": 0.5, "cnn": 0.0}


@dataclass
class Face:
    """One detected face: ``box`` (x0, y0, x1, y1), ``score``, ``landmarks`` (68 x 2), in the image's
    pixel coordinates (the image spans [0, W] x [0, H])."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray


class FaceFinder:
    def __init__(self, detector: str = "hog", upsample: int = 1, min_score: float | None = None,
                 max_side: int = 2048):
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose from {DETECTORS}")
        self.detector, self.upsample, self.max_side = detector, upsample, max_side
        self.min_score = DEFAULT_MIN_SCORE[detector] if min_score is None else min_score

    def detect(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """(box, score) of every face scoring at least ``min_score`` in an RGB uint8 image."""
        scale = min(1.0, self.max_side / max(image.shape[:2]))
        small = image if scale == 1.0 else cv2.resize(image, (max(1, round(image.shape[1] * scale)),
                                                              max(1, round(image.shape[0] * scale))),
                                                      interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        if self.detector == "hog":
            rects, scores, _ = dlib_models.hog_detector().run(small, self.upsample, self.min_score)
            found = list(zip(rects, scores))
        else:
            found = [(d.rect, d.confidence) for d in dlib_models.cnn_detector()(small, self.upsample)]
        boxes = []
        for rect, score in found:
            if score < self.min_score:
                continue
            box = (rect.left() / scale, rect.top() / scale, (rect.right() + 1) / scale, (rect.bottom() + 1) / scale)
            boxes.append((box, float(score)))
        return boxes

    def landmarks(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """The 68 landmarks of the face in ``box`` (dlib's iBUG 300-W order)."""
        dlib = dlib_models.dlib()
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = dlib_models.shape_predictor()(image, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
        return np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=np.float64)

    def find(self, image: np.ndarray) -> list[Face]:
        """Every face with its landmarks, ordered left to right (then top to bottom)."""
        image = as_rgb8(image)
        faces = [Face(box, score, self.landmarks(image, box)) for box, score in self.detect(image)]
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """A contiguous H x W x 3 uint8 array (grey expanded, alpha dropped), as dlib takes it."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


def to_dlib_shape(landmarks: np.ndarray, box: tuple[float, float, float, float]):
    """A dlib ``full_object_detection`` from our landmarks and box (for the face descriptor)."""
    dlib = dlib_models.dlib()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    points = [dlib.point(int(round(x - 0.5)), int(round(y - 0.5))) for x, y in landmarks]
    return dlib.full_object_detection(dlib.rectangle(x0, y0, x1 - 1, y1 - 1), points)
