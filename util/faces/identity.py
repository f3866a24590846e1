"""Whether a face is still the same person: dlib's 128-D face descriptor and the distance between two.

dlib's ResNet descriptor puts two photos of one person closer than 0.6 (Euclidean) in most cases
(``SAME_PERSON``, the threshold dlib documents); the distance between a face before and after a
translation is how much of the identity the generator kept.
"""
from __future__ import annotations

import numpy as np

from util.faces import dlib_models
from util.faces.detect import as_rgb8, to_dlib_shape

SAME_PERSON = 0.6


def descriptor(image: np.ndarray, landmarks: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 128-D descriptor of the face with these 68 landmarks (dlib aligns its own 150 px chip)."""
    shape = to_dlib_shape(landmarks, box)
    return np.asarray(dlib_models.face_descriptor().compute_face_descriptor(as_rgb8(image), shape),
                      dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
