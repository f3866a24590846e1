"""Photos with known faces, built from a real one: scikit-image's astronaut (Eileen Collins, 512 x
512), placed on canvases with known scales, turns and mirrorings, so the true landmarks and FFHQ
squares of every copy are known without a second detector; and matplotlib's Grace Hopper. The tests,
``benchmark.py`` and the docs' figures use them; nothing is downloaded (the packages ship the photos)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

HEAD = (100, 0, 350, 260)  # x0, y0, x1, y1 of the astronaut's head and shoulders


def astronaut() -> np.ndarray:
    import skimage.data  # a test and benchmark dependency only

    return skimage.data.astronaut()


def grace_hopper() -> np.ndarray:
    """matplotlib's photo of Grace Hopper (512 x 600), RGB uint8."""
    import matplotlib.cbook
    from PIL import Image

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


@dataclass
class Placement:
    """A copy of the astronaut's head: ``matrix`` maps the astronaut's coordinates (image spanning
    [0, W] x [0, H]) to the canvas's; ``mirrored`` copies have their quad corners in mirrored order."""

    matrix: np.ndarray  # 2 x 3
    mirrored: bool

    def apply(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]


def placement(scale: float, angle: float, mirror: bool, centre: tuple[float, float]) -> Placement:
    """The head's centre goes to ``centre``, scaled, turned ``angle`` degrees anticlockwise on screen
    and mirrored left-right first if ``mirror``."""
    hx, hy = (HEAD[0] + HEAD[2]) / 2, (HEAD[1] + HEAD[3]) / 2
    flip = np.array([[-1.0, 0.0], [0.0, 1.0]]) if mirror else np.eye(2)
    a = np.radians(angle)
    rotate = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # y points down on screen
    linear = scale * rotate @ flip
    offset = np.array(centre) - linear @ np.array([hx, hy])
    return Placement(np.concatenate([linear, offset[:, None]], axis=1), mirror)


def compose(size: tuple[int, int], placements: list[Placement], background: int = 128, seed: int = 0) -> np.ndarray:
    """A canvas (width, height) of smooth grey-ish noise with each placed head drawn onto it."""
    rng = np.random.default_rng(seed)
    small = rng.integers(background - 40, background + 40, (6, 8, 3)).astype(np.uint8)
    canvas = cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)
    source = astronaut()
    window = np.zeros(source.shape[:2], dtype=np.uint8)
    window[HEAD[1]:HEAD[3], HEAD[0]:HEAD[2]] = 255
    for p in placements:
        # cv2 maps pixel indices (centres at integers): shift the edge-based matrix by half a pixel
        index_matrix = p.matrix.copy()
        index_matrix[:, 2] += p.matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
        warped = cv2.warpAffine(source, index_matrix, size, flags=cv2.INTER_AREA if p.matrix[0, 0] ** 2 < 1
                                else cv2.INTER_CUBIC)
        mask = cv2.warpAffine(window, index_matrix, size, flags=cv2.INTER_NEAREST) > 0
        canvas[mask] = warped[mask]
    return canvas


def lit_from_the_left(photo: np.ndarray, landmarks: np.ndarray, dark: float = 0.45) -> np.ndarray:
    """The photo with its light falling off towards the image's left across the face of these 68
    landmarks: linear light times ``dark`` left of the face, 1 right of it, a smooth ramp between."""
    from util.masks import light

    x = np.arange(photo.shape[1], dtype=np.float32)
    left, right = landmarks[0, 0], landmarks[16, 0]
    ramp = dark + (1 - dark) * np.clip((x - left) / (right - left), 0, 1)
    return np.clip(np.rint(light.to_srgb(light.to_linear(photo) * ramp[None, :, None])), 0, 255).astype(np.uint8)


def mirrored_order(quad: np.ndarray) -> np.ndarray:
    """A mirrored face's FFHQ square lists the same corners as the mirror image of the original's,
    left and right swapped: TL <-> TR, BL <-> BR."""
    return quad[[3, 2, 1, 0]]


def draw_masks(rgb: np.ndarray, faces) -> np.ndarray:
    """A flat light-blue mask drawn over each face's nose, mouth and chin (from its 68 landmarks: the
    jaw line from cheek to cheek, closed over the bridge of the nose), as a stand-in masked photo."""
    out = rgb.copy()
    for face in faces:
        lm = face.landmarks - 0.5
        polygon = np.concatenate([lm[1:16], lm[28:29]]).round().astype(np.int32)
        cv2.fillPoly(out, [polygon], (170, 200, 230))
    return out
