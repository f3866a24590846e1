"""A generic 3D face for dlib's 68 landmarks, the head's pose from a photo's landmarks, and a smooth
3D warp that bends anything designed on the generic face onto one real face.

The generic face is this project's own: its frontal layout is the mean of the (mirror-symmetrised)
landmarks of two real frontal faces that ship with Python packages (scikit-image's astronaut and
matplotlib's Grace Hopper), scaled so the outer eye corners lie 90 mm apart; the depth of each point
is an anthropometric estimate (nose tip 37 mm in front of the outer eye corners, the jaw's contour
curving back to 50 mm behind them). Axes as the camera's on a frontal face: x to the image's right,
y down, z into the head (away from the camera), so a frontal pose is the identity; millimetres.

:func:`fit_face` poses the generic face with ``cv2.solvePnP`` on the inner landmarks (brows, eyes,
nose, mouth; the jaw's contour points slide along the silhouette as a head turns, so they are left
out), then moves each generic point, at the depth the pose gives it, onto the ray through its
detected landmark. The result, :class:`FaceFit`, projects exactly onto the detected landmarks and
carries a thin-plate-spline warp from the generic face to this face: a mask designed once on the
generic face follows this face's jaw, nose and mouth.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# frontal layout (x, y) in mm: the outer eye corners (36, 45) at (-45, 0) and (45, 0)
_LAYOUT = np.array([
    [-74.6, -0.8], [-73.9, 20.3], [-71.7, 41.6], [-68.1, 61.4], [-60.7, 81.0], [-50.7, 98.1], [-36.5, 112.7],
    [-20.2, 123.0], [0.0, 127.3], [20.2, 123.0], [36.5, 112.7], [50.7, 98.1], [60.7, 81.0], [68.1, 61.4],
    [71.7, 41.6], [73.9, 20.3], [74.6, -0.8],  # jaw 0-16
    [-59.0, -15.2], [-50.4, -23.2], [-39.4, -25.1], [-26.7, -22.8], [-16.8, -17.7],  # brows 17-26
    [16.8, -17.7], [26.7, -22.8], [39.4, -25.1], [50.4, -23.2], [59.0, -15.2],
    [0.0, -2.1], [0.0, 10.5], [0.0, 21.9], [0.0, 34.5],  # nose bridge 27-30
    [-17.8, 43.6], [-9.5, 47.0], [0.0, 50.0], [9.5, 47.0], [17.8, 43.6],  # nostrils 31-35
    [-45.0, 0.0], [-37.4, -4.4], [-28.6, -4.1], [-20.5, 1.6], [-28.6, 1.9], [-37.3, 1.7],  # eyes 36-47
    [20.5, 1.6], [28.6, -4.1], [37.4, -4.4], [45.0, 0.0], [37.3, 1.7], [28.6, 1.9],
    [-33.4, 71.8], [-21.4, 66.6], [-9.1, 64.7], [0.0, 66.2], [9.1, 64.7], [21.4, 66.6], [33.4, 71.8],  # lips 48-59
    [22.6, 85.8], [9.9, 92.0], [0.0, 93.3], [-9.9, 92.0], [-22.6, 85.8],
    [-29.0, 72.2], [-9.2, 71.0], [0.0, 71.4], [9.2, 71.0], [29.0, 72.2],  # inner lips 60-67
    [9.2, 82.7], [0.0, 83.8], [-9.2, 82.7]])
_DEPTH = np.array([
    -50, -48, -45, -40, -33, -24, -13, -3, 3, -3, -13, -24, -33, -40, -45, -48, -50,
    -8, 3, 10, 15, 18, 18, 15, 10, 3, -8,
    17, 22, 28, 37,
    17, 22, 25, 22, 17,
    0, 7, 9, 8, 8, 5, 8, 9, 7, 0, 5, 8,
    10, 19, 24, 26, 24, 19, 10, 17, 22, 23, 22, 17,
    11, 21, 23, 21, 11, 20, 22, 20], dtype=np.float64)
GENERIC = np.column_stack([_LAYOUT, -_DEPTH])  # 68 x 3; _DEPTH counts towards the camera

# points of the face surface between the landmarks (cheeks, under the chin, forehead), for the
# support surface a mask drapes over; mirrored below
_EXTRA_LEFT = np.array([
    [-30, 18, 4], [-45, 25, -6], [-58, 38, -22], [-35, 42, 2], [-48, 58, -10], [-25, 58, 10],
    [-40, 85, -2], [-25, 100, 8], [-20, 138, -30], [-45, 118, -35], [-60, 100, -45], [-30, -45, 2]])
_EXTRA = np.concatenate([_EXTRA_LEFT, _EXTRA_LEFT * [-1, 1, 1], [[0, 140, -22], [0, -48, 8]]]) * [1, 1, -1]

POSE_POINTS = np.arange(17, 68)  # brows, nose, eyes, mouth
WARP_POINTS = np.r_[1:16, 27:36, 36, 39, 42, 45, 48:60]  # what a mask must follow


def support_depth(xy: np.ndarray) -> np.ndarray:
    """The generic face's surface at frontal positions ``xy`` (... x 2): its z (mm, into the head; the nose
    tip is at -37), a thin-plate spline through the jaw, nose, mouth, eye corners and extra points."""
    return _SUPPORT(np.asarray(xy, dtype=np.float64))


class ThinPlate:
    """A thin-plate spline R^d -> R^k through ``points`` -> ``values`` (``smoothing`` > 0 lets it pass
    near rather than through them, so one misplaced landmark cannot fold the surface)."""

    def __init__(self, points: np.ndarray, values: np.ndarray, smoothing: float = 0.0):
        self.points = np.asarray(points, dtype=np.float64)
        n, d = self.points.shape
        kernel = self._kernel(self.points, self.points) + smoothing * np.eye(n)
        poly = np.hstack([np.ones((n, 1)), self.points])
        system = np.zeros((n + d + 1, n + d + 1))
        system[:n, :n], system[:n, n:], system[n:, :n] = kernel, poly, poly.T
        rhs = np.zeros((n + d + 1, np.asarray(values).reshape(n, -1).shape[1]))
        rhs[:n] = np.asarray(values, dtype=np.float64).reshape(n, -1)
        self.coef = np.linalg.solve(system, rhs)
        self.squeeze = np.asarray(values).ndim == 1

    @staticmethod
    def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        if a.shape[1] == 2:  # r^2 log r, the 2D bending energy's kernel
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(r2 > 0, 0.5 * r2 * np.log(r2), 0.0)
        return -np.sqrt(r2)  # -r in 3D

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1, x.shape[-1])
        n = len(self.points)
        out = self._kernel(flat, self.points) @ self.coef[:n] + self.coef[n] + flat @ self.coef[n + 1:]
        out = out.reshape(*x.shape[:-1], -1)
        return out[..., 0] if self.squeeze else out


_SURFACE = np.concatenate([GENERIC[np.r_[0:17, 27:36, 36, 39, 42, 45, 48:60]], _EXTRA])
_SUPPORT = ThinPlate(_SURFACE[:, :2], _SURFACE[:, 2], smoothing=1.0)


@dataclass
class FaceFit:
    """One face: the head's rotation and translation (camera frame: x right, y down, z away from the
    camera), the camera matrix, its 68 landmarks in 3D (face frame, mm of the generic face), and the
    warp from the generic face to them."""

    rotation: np.ndarray  # 3 x 3, face frame -> camera frame
    translation: np.ndarray  # 3
    camera: np.ndarray  # 3 x 3
    landmarks3d: np.ndarray  # 68 x 3, face frame
    warp: ThinPlate

    @property
    def scale(self) -> float:
        """Pixels per millimetre at the face's distance."""
        return float(self.camera[0, 0] / self.translation[2])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    def project(self, camera_points: np.ndarray) -> np.ndarray:
        """Image positions (pixel edges at integers, as the landmarks) of camera-frame points."""
        p = camera_points @ self.camera.T
        return p[..., :2] / p[..., 2:3]

    def place(self, generic_points: np.ndarray) -> np.ndarray:
        """Points designed on the generic face, bent onto this face (face frame)."""
        return generic_points + self.warp(generic_points)

    def roll_degrees(self) -> float:
        """The head's in-plane turn: the angle of the face's x axis in the image."""
        x_axis = self.rotation[:, 0]
        return float(np.degrees(np.arctan2(x_axis[1], x_axis[0])))

    def yaw_degrees(self) -> float:
        """Positive when the face looks towards the image's right."""
        return float(np.degrees(np.arcsin(np.clip(-self.rotation[0, 2], -1, 1))))


def camera_matrix(width: int, height: int) -> np.ndarray:
    """A camera of a roughly 53-degree field of view over the photo's longer side (a phone's or a
    normal lens); the pose is insensitive to it at portrait distances."""
    f = float(max(width, height))
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])


def fit_face(landmarks: np.ndarray, width: int, height: int) -> FaceFit:
    """Pose the generic face on 68 detected landmarks (pixel coordinates, image spanning [0, W] x [0, H])."""
    lm = np.asarray(landmarks, dtype=np.float64)
    camera = camera_matrix(width, height)
    model, image = GENERIC[POSE_POINTS], lm[POSE_POINTS]
    ok, rvec, tvec = cv2.solvePnP(model, image, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(model, image, camera, None, rvec, tvec, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    rotation = cv2.Rodrigues(rvec)[0] if ok else np.eye(3)
    translation = tvec.reshape(3) if ok else np.zeros(3)
    if not ok or translation[2] <= 0 or not np.isfinite(rotation).all():
        rotation, translation = _weak_pose(lm, camera)
    # each generic point at the depth the pose gives it, moved onto its detected landmark's ray
    depth = (GENERIC @ rotation.T + translation)[:, 2:3]
    rays = np.column_stack([lm, np.ones(len(lm))]) @ np.linalg.inv(camera).T
    landmarks3d = (rays * depth - translation) @ rotation
    warp = ThinPlate(GENERIC[WARP_POINTS], landmarks3d[WARP_POINTS] - GENERIC[WARP_POINTS], smoothing=2.0)
    return FaceFit(rotation, translation, camera, landmarks3d, warp)


def _weak_pose(lm: np.ndarray, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frontal pose from the eye corners alone, when solvePnP fails on degenerate landmarks."""
    eye = lm[45] - lm[36]
    side = max(float(np.hypot(*eye)), 1.0)
    angle = np.arctan2(eye[1], eye[0])
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    distance = camera[0, 0] * 90.0 / side
    centre = (lm[36] + lm[45]) / 2
    translation = np.array([(centre[0] - camera[0, 2]) * distance / camera[0, 0],
                            (centre[1] - camera[1, 2]) * distance / camera[0, 0], distance])
    return rotation, translation
