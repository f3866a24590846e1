"""FFHQ's alignment, and its inverse for putting a translated face back into the photo.

FFHQ (and MaskedFace-Net, made from it) cut every face along an oriented square computed from the
68 landmarks: the eye centres and the mouth corners fix its centre, size and angle (NVlabs
ffhq-dataset, ``recreate_aligned_images``). :func:`ffhq_quad` computes that square, the *quad*, with
its corners in FFHQ's order: top-left, bottom-left, bottom-right, top-right. :func:`align` resamples
it to a ``size`` x ``size`` crop (area-averaged down to twice the size, bicubic onto the square, then
area-averaged to the size, so large faces do not alias; outside the photo the picture is mirrored,
as FFHQ pads). :func:`paste` warps a crop of that size back onto the quad and blends it in with a
feathered edge; a pixel whose centre lies outside the quad keeps its exact value.

All coordinates span the image as [0, W] x [0, H] (pixel centres at +0.5).
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The oriented square (4 x 2: top-left, bottom-left, bottom-right, top-right) FFHQ cuts a face along."""
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_avg, eye_to_eye = (eye_left + eye_right) / 2, eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) / 2  # the outer mouth corners
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]  # the square's x axis, tilted with the face
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_side(quad: np.ndarray) -> float:
    return float(np.hypot(*(quad[3] - quad[0])))


def crop_to_image(quad: np.ndarray, size: int) -> np.ndarray:
    """2 x 3 affine matrix: a pixel index (column, row) of the ``size`` crop -> the image's pixel index."""
    top_left, ex, ey = quad[0], (quad[3] - quad[0]) / size, (quad[1] - quad[0]) / size
    linear = np.stack([ex, ey], axis=1)  # columns: one crop pixel along x, along y
    offset = top_left - 0.5 + 0.5 * (ex + ey)
    return np.concatenate([linear, offset[:, None]], axis=1)


def image_to_crop(quad: np.ndarray, size: int) -> np.ndarray:
    """The inverse of :func:`crop_to_image`."""
    forward = crop_to_image(quad, size)
    inverse = np.linalg.inv(forward[:, :2])
    return np.concatenate([inverse, (-inverse @ forward[:, 2])[:, None]], axis=1)


def _bounds(quad: np.ndarray, width: int, height: int, margin: int) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + margin
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def align(image: np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """The face along ``quad`` as a ``size`` x ``size`` crop (same channels and dtype uint8 as ``image``)."""
    quad = np.asarray(quad, dtype=np.float64)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = _bounds(quad, width, height, margin=4)
    if x1 - x0 < 2 or y1 - y0 < 2:  # the quad lies wholly outside the photo: mirror the whole photo
        x0, y0, x1, y1 = 0, 0, width, height
    region = image[y0:y1, x0:x1]
    local = quad - [x0, y0]
    shrink = quad_side(quad) / (2 * size)
    if shrink > 1:  # average large faces down first (FFHQ shrinks too) so the warp does not alias
        new_w, new_h = max(2, round(region.shape[1] / shrink)), max(2, round(region.shape[0] / shrink))
        local = local * [new_w / region.shape[1], new_h / region.shape[0]]
        region = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
    big = 2 * size
    warped = cv2.warpAffine(region, crop_to_image(local, big), (big, big),
                            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    crop = cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)
    return crop.reshape(size, size, *image.shape[2:])


def feather_alpha(size: int, feather: float) -> np.ndarray:
    """size x size weights: 0 on the outermost pixels, rising linearly over ``feather`` x size pixels to 1."""
    index = np.arange(size, dtype=np.float32)
    edge = np.minimum(index, size - 1 - index)
    ramp = np.clip(edge / max(1.0, feather * size), 0.0, 1.0)
    return np.minimum(ramp[:, None], ramp[None, :])


def paste(image: np.ndarray, crop: np.ndarray, quad: np.ndarray, feather: float = 0.12) -> np.ndarray:
    """``image`` with ``crop`` (square, RGB or grey) warped back onto ``quad`` and blended in.

    Only the first ``crop``'s channels of ``image`` change (an alpha channel is kept). Pixels whose
    centre lies outside the quad keep their exact values; inside, the weight rises from 0 at the
    quad's edge to 1 at ``feather`` x side, so no seam shows where the translation differs.
    """
    quad = np.asarray(quad, dtype=np.float64)
    out = image.copy()
    height, width = image.shape[:2]
    x0, y0, x1, y1 = _bounds(quad, width, height, margin=1)
    if x1 <= x0 or y1 <= y0:
        return out
    size = crop.shape[0]
    to_crop = image_to_crop(quad, size)
    to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], dtype=np.float64)  # region index -> crop index
    region_size = (x1 - x0, y1 - y0)
    alpha = cv2.warpAffine(feather_alpha(size, feather), to_crop, region_size,
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    content = cv2.warpAffine(crop, to_crop, region_size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    channels = 1 if crop.ndim == 2 else crop.shape[2]
    content = content.reshape(region_size[1], region_size[0], channels).astype(np.float32)
    old = out[y0:y1, x0:x1].reshape(region_size[1], region_size[0], -1)[:, :, :channels]
    weight = alpha[:, :, None]
    blended = np.clip(np.rint(weight * content + (1 - weight) * old), 0, 255).astype(np.uint8)
    new = np.where(weight > 0, blended, old)
    if out.ndim == 2:
        out[y0:y1, x0:x1] = new[:, :, 0]
    else:
        out[y0:y1, x0:x1, :channels] = new
    return out


def quad_mask(quad: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean H x W: the pixels whose centre lies inside ``quad`` (or on its edge)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    inside = np.ones((height, width), dtype=bool)
    for a, b in zip(quad, np.roll(quad, -1, axis=0)):  # corners run anticlockwise on screen: TL, BL, BR, TR
        cross = (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])
        inside &= cross <= 1e-9
    return inside


def angle_degrees(quad: np.ndarray) -> float:
    """The quad's tilt: the angle of its top edge against the image's x axis."""
    dx, dy = quad[3] - quad[0]
    return math.degrees(math.atan2(dy, dx))
