"""What a photo does to anything in it, measured around one face, so a drawn mask gets the same:
the light on the face (from its own skin), the white balance, the blur and the noise.

- :func:`skin_light`: the skin's brightness in patches whose direction on the face is known (forehead,
  cheeks, jaw, chin) fits an irradiance ``E(n) = a + b . n`` over surface normals ``n``: a face lit
  from its left is brighter on its left, and so is a mask on it, by the skin's own ratio. Its absolute
  level comes from the skin (taken to return at most 55% of what a white cloth would) or from the
  brightest things near the face, whichever says the light is stronger.
- :func:`white_balance`: the photo's colour cast (grey world), partly applied.
- :func:`blur_sigma`: how soft the face is, from how much its strongest edges lose when it is blurred
  once more by a known amount.
- :func:`noise_sigma`: the photo's noise near the face (Immerkaer's fast estimator).

All work in linear light (sRGB decoded), except the noise, measured and added in the photo's values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

_TO_LINEAR = ((np.arange(256) / 255.0) ** 2.2).astype(np.float32)  # close enough to sRGB's curve
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    return _TO_LINEAR[rgb]


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light (0..1) back to 0..255 floats (not yet rounded)."""
    return np.clip(linear, 0, 1) ** (1 / 2.2) * 255.0


@dataclass
class Light:
    """Irradiance over camera-frame normals (pointing at the camera), scaled so that a white cloth
    (reflectance 1) facing the camera returns ``a_white`` (linear 0..1)."""

    ambient: float
    direction: np.ndarray  # 3
    gain: float

    def __call__(self, normals: np.ndarray) -> np.ndarray:
        e = self.ambient + normals @ self.direction
        return self.gain * np.maximum(e, 0.15 * self.ambient)


SKIN_REFLECTANCE = 0.55  # of a white cloth's: fair skin's; darker skin only makes the light estimate larger


def skin_light(luminance: np.ndarray, centres: np.ndarray, normals: np.ndarray, radius: float,
               window: tuple[int, int, int, int]) -> Light:
    """Fit ``a + b . n`` to the median linear luminance in a disc of ``radius`` px around each of
    ``centres`` (N x 2 image positions, pixel edges at integers), whose skin faces ``normals`` (N x 3,
    unit, camera frame towards the camera). ``window`` (x0, y0, x1, y1) is the neighbourhood searched
    for the brightest things."""
    h, w = luminance.shape
    r = max(1, int(round(radius)))
    samples, directions = [], []
    for (cx, cy), n in zip(centres, normals):
        x, y = int(cx), int(cy)
        if not (r <= x < w - r and r <= y < h - r) or n[2] > -0.2:  # off the photo, or facing away
            continue
        patch = luminance[y - r:y + r + 1, x - r:x + r + 1]
        samples.append(float(np.median(patch)))
        directions.append(n)
    if not samples:
        level = float(np.median(luminance[window[1]:window[3], window[0]:window[2]])) if luminance.size else 0.5
        samples, directions = [level], [np.array([0.0, 0.0, -1.0])]
    values, design = np.array(samples), np.column_stack([np.ones(len(samples)), np.array(directions)])
    # Skin patches all face the camera more or less, so they tell the light's sideways and up-down
    # parts well and its frontal part hardly at all: that one is held near a typical photo's (light
    # from the camera's side, a little above), the others near none, each pulled by the weight of
    # this many patches.
    level = float(np.mean(values))
    prior = np.array([0.0, 0.0, -0.1 * level, -0.9 * level])
    pull = np.diag([0.0, 0.5, 1.0, 8.0])
    coef = np.linalg.solve(design.T @ design + pull, design.T @ values + pull @ prior)
    ambient, direction = float(coef[0]), coef[1:]
    front = max(ambient - direction[2], 1e-4)  # E at a normal facing the camera, (0, 0, -1)
    x0, y0, x1, y1 = window
    near = luminance[y0:y1, x0:x1]
    white = float(np.percentile(near, 97)) / 0.9 if near.size else 0.0
    gain = max(1.0 / SKIN_REFLECTANCE, white / front)
    gain = min(gain, 1.0 / (0.1 * front) if front > 0 else gain)
    return Light(ambient, direction, gain)


def white_balance(rgb_linear_mean: np.ndarray) -> np.ndarray:
    """Per-channel gains that give a neutral cloth the photo's cast (grey world at 30% strength: a
    photo's mean is also its content's colour, a blue sky or a red wall)."""
    mean = np.asarray(rgb_linear_mean, dtype=np.float64)
    luma = float(mean @ LUMA)
    if luma <= 1e-6:
        return np.ones(3, dtype=np.float32)
    return np.clip(1 + 0.3 * (mean / luma - 1), 0.9, 1.1).astype(np.float32)


def blur_sigma(grey: np.ndarray) -> float:
    """The Gaussian blur (px) the picture already has: blurring a step edge of blur s once more by
    s0 lowers its steepest gradient by s / sqrt(s^2 + s0^2); measured over the strongest edges."""
    if min(grey.shape) < 8:
        return 0.5
    g = grey.astype(np.float32)
    s0 = 1.0
    again = cv2.GaussianBlur(g, (0, 0), s0)
    g1 = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    g2 = np.hypot(cv2.Sobel(again, cv2.CV_32F, 1, 0), cv2.Sobel(again, cv2.CV_32F, 0, 1))
    strong = g1 >= np.percentile(g1, 95)
    if not strong.any() or g1[strong].mean() < 8.0:  # no real edges: call it sharp
        return 0.5
    ratio = float(g1[strong].mean() / max(g2[strong].mean(), 1e-6))
    if ratio <= 1.0 + 1e-3:
        return 3.0
    return float(np.clip(s0 / math.sqrt(ratio ** 2 - 1), 0.3, 3.0))


def noise_sigma(grey: np.ndarray) -> float:
    """The standard deviation of the picture's noise (Immerkaer 1996: a Laplacian difference that
    cancels smooth image content, averaged in absolute value)."""
    if min(grey.shape) < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = np.abs(cv2.filter2D(grey.astype(np.float32), -1, kernel)[1:-1, 1:-1])
    # edges are not noise: keep the quieter 80% of responses; for pure noise (a half-normal response)
    # their mean is 0.700 of the whole mean, which the last factor gives back
    quiet = response[response <= np.percentile(response, 80)]
    return float(math.sqrt(math.pi / 2) / 6 * quiet.mean() / 0.700) if quiet.size else 0.0
