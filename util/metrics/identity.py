"""Whether a translation kept the person: dlib's face descriptor of each fake, of its true counterpart
and of its input, and the distances between them (what ``scripts/evaluate.py`` reports per direction).

The images are aligned face crops (test.py's results, FFHQ-style test sets): the face fills the
image, whose side is often only 64-256 px. How a face is found (``--identity_detector``):

- every image is first enlarged (bicubic) until its shorter side is ``MIN_SIDE`` (256) px: dlib's
  HOG detector looks for faces of 80 px and more, and in an FFHQ crop the face's box is about half
  the side, so a 128 px crop is found only after enlarging. Landmarks and descriptor are taken on
  the enlarged image (dlib cuts its own 150 px chip from it either way);
- ``hog``: dlib's HOG detector, searched at ``HOG_MAX_SIDE`` (512) px at most: 5-30 ms per image
  on 2 CPU cores; it finds unmasked faces and misses most masked ones;
- ``cnn``: dlib's MMOD CNN detector, searched at ``CNN_SIDE`` (160) px, where the face is still
  about 80 px (searched at 128 px, it missed masked faces it finds at 160): about 0.15 s per image on
  2 CPU cores, the same for a face or a picture without one (0.35 s at 256 px). Detections
  scoring above 0, dlib's own threshold for it, are kept: flat patches over the mouth score 0.3-1
  where unmasked faces score about 1;
- ``hog+cnn`` (the default): HOG, and the CNN only on images where HOG finds nothing, so unmasked
  faces cost milliseconds and only masked faces and pictures without a face pay for the CNN.

Every face found then costs about 0.1 s for its descriptor. With ``hog+cnn`` a test pair costs about
0.7 s for both directions on 2 CPU cores (two masked images through the CNN, four descriptors), so
1,000 pairs take about 12 minutes; a set without faces costs the two detectors only.

Where several faces are found the largest is taken (the one nearest the centre among equals). Each
distinct image is described once per :class:`Describer` (an input saved by test.py is usually the
same pixels as the true counterpart of the other direction).

A pair with any face not found (fake, true counterpart or input) is counted, per role and as a
pair, and left out of the means, medians and shares: a face dlib cannot see is reported, never
silently dropped nor averaged in. Distances are Euclidean between descriptors; under
``util.faces.identity.SAME_PERSON`` (0.6) dlib calls two faces the same person.
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np

from util.errors import UserError
from util.faces import dlib_models
from util.faces.detect import Face, FaceFinder, as_rgb8
from util.faces.identity import SAME_PERSON, descriptor, distance

DETECTORS = ("hog", "cnn", "hog+cnn")
MIN_SIDE = 256
HOG_MAX_SIDE = 512
CNN_SIDE = 160
CNN_MIN_SCORE = 0.0
ROLES = ("fake", "true", "input")  # the translation, the real image it should be, the image it came from
COMPARISONS = {"fake_vs_true": "true", "fake_vs_input": "input"}


def unavailable(detector: str = "hog+cnn") -> str | None:
    """Why faces cannot be described here (dlib or a model file missing), or None when they can."""
    models = [dlib_models.SHAPE_68, dlib_models.DESCRIPTOR] + ([dlib_models.CNN_DETECTOR] if "cnn" in detector else [])
    try:
        dlib_models.dlib()
        for name in models:
            dlib_models.model_file(name)
    except UserError as err:
        return str(err)
    return None


def enlarge(image: np.ndarray) -> np.ndarray:
    """``image`` as RGB uint8, scaled up (bicubic) so its shorter side is at least ``MIN_SIDE``."""
    image = as_rgb8(image)
    height, width = image.shape[:2]
    scale = MIN_SIDE / min(height, width)
    if scale <= 1:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)


def main_face(faces: list[Face], width: int, height: int) -> Face:
    """The largest face; among equal ones, the one whose box centre is nearest the image's centre."""
    def key(face: Face):
        x0, y0, x1, y1 = face.box
        return (x1 - x0) * (y1 - y0), -np.hypot((x0 + x1 - width) / 2, (y0 + y1 - height) / 2)
    return max(faces, key=key)


class Describer:
    """image -> dlib's 128-D descriptor of its main face, or None where no face was found."""

    def __init__(self, detector: str = "hog+cnn"):
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; choose from {DETECTORS}")
        self.detector = detector
        self.finders = []
        if "hog" in detector:
            self.finders.append(FaceFinder("hog", upsample=0, max_side=HOG_MAX_SIDE))
        if "cnn" in detector:
            self.finders.append(FaceFinder("cnn", upsample=0, min_score=CNN_MIN_SCORE, max_side=CNN_SIDE))
        self._seen: dict[str, np.ndarray | None] = {}

    def face(self, image: np.ndarray) -> tuple[np.ndarray, Face | None]:
        """The enlarged image and its main face (None where no finder found one)."""
        big = enlarge(image)
        for finder in self.finders:
            faces = finder.find(big)
            if faces:
                return big, main_face(faces, big.shape[1], big.shape[0])
        return big, None

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        image = as_rgb8(image)
        key = hashlib.sha1(image.tobytes()).hexdigest() + str(image.shape)
        if key not in self._seen:
            big, face = self.face(image)
            self._seen[key] = None if face is None else descriptor(big, face.landmarks, face.box)
        return self._seen[key]


def summarize(rows: list[dict], detector: str) -> dict:
    """Counts, mean, median and share under ``SAME_PERSON`` of the distances, from one dict per pair:
    ``name`` and a descriptor (or None: not found) for ``fake``, ``true`` and, where there is one,
    ``input``."""
    def all_found(row: dict) -> bool:
        return all(row[role] is not None for role in ROLES if role in row)

    not_found = {role: sum(1 for r in rows if role in r and r[role] is None) for role in ROLES}
    missing = sorted(r["name"] for r in rows if not all_found(r))
    complete = [r for r in rows if all_found(r)]
    out: dict = {"detector": detector, "threshold": SAME_PERSON, "pairs": len(rows), "evaluated": len(complete),
                 "not_found": {"pairs": len(missing), **not_found}, "not_found_names": missing}
    for key, role in COMPARISONS.items():
        d = np.array([distance(r["fake"], r[role]) for r in complete if role in r], dtype=np.float64)
        out[key] = {"n": len(d), "mean": float(d.mean()) if len(d) else None,
                    "median": float(np.median(d)) if len(d) else None,
                    "share_under_threshold": float((d < SAME_PERSON).mean()) if len(d) else None}
    return out
