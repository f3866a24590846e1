"""A face mask drawn onto one face of a real photo, from the face's 68 landmarks.

For each face: the generic 3D face is posed on the landmarks and bent onto them
(:func:`util.masks.face3d.fit_face`); the chosen mask's surface, designed on the generic face for
its wear class (:mod:`util.masks.shapes`), is bent the same way, turned with the head and projected,
so a turned face gets a foreshortened far side and a mask whose near side follows the jaw. The
surface is rasterised as triangles, far ones first, at up to twice the photo's resolution; every
pixel gets its texture coordinates and its normal. The cloth (:mod:`util.masks.texture`) is lit by
the light measured on the face's own skin, its relief perturbing the normals, in the photo's white
balance (:mod:`util.masks.light`). Ear loops run to the ears. The layer is averaged down to the
photo's pixels (anti-aliased edges), blurred as much as the face is, given the photo's noise, and
laid over the skin, which gets a soft contact shadow along the mask's top edge. Pixels away from
the mask and that shadow are left exactly as they were.

Everything random is drawn from ``seed`` and the face's ``key`` alone, so a face gets the same mask
whichever process renders it and in whatever order.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from util.masks import light as lighting
from util.masks.face3d import FaceFit, fit_face, support_depth
from util.masks.shapes import COLUMNS, ROWS, WEARS, mask_mesh
from util.masks.texture import DEFAULT_COLORS, MASK_TYPES, PATTERNS, mask_texture, parse_color, read_pattern

RANDOM = "random"
SHADOW_MM = 2.5  # the contact shadow's softness (Gaussian sigma on the skin)
SHADOW_STRENGTH = 0.45  # the skin's light lost right at the mask's top edge
LOOP_MM = 1.6  # ear loop thickness
TEXTURE_SIZE = (512, 320)
WORKING_SIDE = 600  # samples across the window (mask, loops, shadow band) at most; up to 2 per pixel
MM_PER_TEXEL = 0.3  # the texture's relief units: about 150 mm of cloth across 512 texels

# where the skin's light is read (generic face, frontal mm): forehead, cheeks, jaw, chin
SKIN_PATCHES = np.array([[0, -42], [-24, -40], [24, -40], [-47, 28], [47, 28], [-56, 55], [56, 55],
                         [-40, 88], [40, 88], [0, 116], [-30, 12], [30, 12]], dtype=np.float64)
LOOP_COLOURS = {"surgical": (0.93, 0.93, 0.92), "n95": (0.92, 0.92, 0.90), "kn95": (0.95, 0.95, 0.94)}


@dataclass
class Rendered:
    """One face's mask: the photo with it, its opacity 0..255 in the photo's pixels, the pixels that
    changed or may have (the mask, its loops and its shadow band), and the style drawn."""

    photo: np.ndarray  # H x W x 3 uint8
    opacity: np.ndarray  # H x W uint8
    touched: np.ndarray  # H x W bool: every pixel outside it is bit-identical to the input
    style: dict  # mask_type, color ("#rrggbb"), pattern, wear


@dataclass(frozen=True)
class MaskRenderer:
    """The user's choices (plain values: it crosses to worker processes). ``colors`` empty means each
    type's own colour; ``mask_type`` and ``wear`` may be ``random``; ``pattern`` is a name of
    :data:`PATTERNS` or the path of an image. ``random`` choices and the colour from ``colors`` are
    drawn per face from ``seed`` and the face's ``key``."""

    mask_type: str = "surgical"
    colors: tuple[str, ...] = ()
    pattern: str = "none"
    pattern_weight: float = 0.5
    wear: str = "correct"
    seed: int = 0

    def __post_init__(self):
        if self.mask_type not in (*MASK_TYPES, RANDOM):
            raise ValueError(f"mask_type {self.mask_type!r}: choose from {', '.join((*MASK_TYPES, RANDOM))}")
        if self.wear not in (*WEARS, RANDOM):
            raise ValueError(f"wear {self.wear!r}: choose from {', '.join((*WEARS, RANDOM))}")
        if not 0.0 <= self.pattern_weight <= 1.0:
            raise ValueError(f"pattern_weight {self.pattern_weight}: must be between 0 and 1")
        for colour in self.colors:
            parse_color(colour)

    def rng(self, key: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}\0{key}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:16], "little"))

    def style_for(self, key: str) -> dict:
        """The mask this face gets: type, colour, pattern and wear, with every random choice drawn."""
        rng = self.rng(key)
        mask_type = str(rng.choice(MASK_TYPES)) if self.mask_type == RANDOM else self.mask_type
        wear = str(rng.choice(WEARS)) if self.wear == RANDOM else self.wear
        colours = self.colors or (DEFAULT_COLORS[mask_type],)
        colour = colours[int(rng.integers(len(colours)))]
        return {"mask_type": mask_type, "color": "#%02x%02x%02x" % parse_color(colour),
                "pattern": self.pattern, "wear": wear}

    def render(self, photo: np.ndarray, landmarks: np.ndarray, key: str) -> Rendered:
        """``photo`` (H x W x 3 uint8) with a mask on the face of these 68 landmarks (pixel edges
        at integers, as :mod:`util.faces.detect` gives them)."""
        style = self.style_for(key)
        noise_rng = self.rng(key + "\0noise")
        texture = _texture(style["mask_type"], style["color"], self.pattern, self.pattern_weight, self.seed)
        return draw_mask(photo, np.asarray(landmarks, dtype=np.float64), style, texture, noise_rng)


@functools.lru_cache(maxsize=64)
def _texture(mask_type: str, colour: str, pattern: str, weight: float, seed: int):
    source = pattern if pattern in PATTERNS else read_pattern(pattern)
    width, height = TEXTURE_SIZE
    tex = mask_texture(mask_type, parse_color(colour), source, weight, seed, width, height)
    slope_u = np.gradient(tex.height, axis=1).astype(np.float32)
    slope_v = np.gradient(tex.height, axis=0).astype(np.float32)
    albedo = lighting.to_linear(np.clip(np.rint(tex.albedo * 255), 0, 255).astype(np.uint8))
    return albedo.astype(np.float32), tex.height.astype(np.float32), tex.alpha.astype(np.float32), slope_u, slope_v


# ----------------------------------------------------------------------------- geometry


def _triangles() -> np.ndarray:
    """Vertex indices (into the ROWS x COLUMNS grid, flattened) of two triangles per cell."""
    r, c = np.mgrid[0:ROWS - 1, 0:COLUMNS - 1]
    a, b, d, e = r * COLUMNS + c, r * COLUMNS + c + 1, (r + 1) * COLUMNS + c, (r + 1) * COLUMNS + c + 1
    return np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([e, d, b], -1).reshape(-1, 3)])


TRIANGLES = _triangles()


def _vertex_normals(points: np.ndarray) -> np.ndarray:
    """Unit normals of a ROWS x COLUMNS grid of camera-frame points, pointing out of the mask (towards
    the camera where the mask faces it)."""
    along_u = np.gradient(points, axis=1)
    along_v = np.gradient(points, axis=0)
    n = np.cross(along_v, along_u)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)


@dataclass
class _Raster:
    """The mask's triangles drawn over a window of the photo at ``sample_w`` x ``sample_h`` samples."""

    x0: int
    y0: int
    width: int
    height: int
    sample_w: int
    sample_h: int
    pixels: np.ndarray  # flat indices (in the supersampled window) the mask covers
    weights: np.ndarray  # N x 3 barycentric weights
    corners: np.ndarray  # N x 3 vertex indices


def _window(points2d: list[np.ndarray], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    allp = np.concatenate([p.reshape(-1, 2) for p in points2d])
    x0, y0 = np.floor(allp.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(allp.max(axis=0) + margin).astype(int)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def _rasterise(screen: np.ndarray, depth: np.ndarray, window: tuple[int, int, int, int], ss: float) -> _Raster:
    """Which triangle covers each sample (far triangles drawn first, so near ones win; those turned
    away from the camera are not drawn) and the sample's barycentric weights in it."""
    x0, y0, x1, y1 = window
    w, h = _samples(window, ss)
    # sample (i, j) sits at window pixel ((j + 0.5) / sx, (i + 0.5) / sy): shift so centres are integers
    verts = (screen.reshape(-1, 2) - [x0, y0]) * [w / (x1 - x0), h / (y1 - y0)] - 0.5
    tri = verts[TRIANGLES]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    # u runs right and v down on a mask facing the camera (y down): its triangles have area > 0
    front = area > 1e-9
    order = np.argsort(-depth.reshape(-1)[TRIANGLES].mean(axis=1))
    ids = np.zeros((h, w), dtype=np.float32)
    fixed = np.rint(tri * 16).astype(np.int32)  # 4 fractional bits for cv2's sub-pixel fill
    for t in order:
        if front[t]:
            cv2.fillConvexPoly(ids, fixed[t], float(t + 1), cv2.LINE_8, 4)
    flat = np.flatnonzero(ids)
    index = ids.reshape(-1)[flat].astype(np.int64) - 1
    py, px = np.divmod(flat, w)
    rel = np.column_stack([px, py]).astype(np.float64) - tri[index, 0]
    inv_det = 1.0 / area[index]
    l1 = (rel[:, 0] * e2[index, 1] - rel[:, 1] * e2[index, 0]) * inv_det
    l2 = (e1[index, 0] * rel[:, 1] - e1[index, 1] * rel[:, 0]) * inv_det
    weights = np.column_stack([1 - l1 - l2, l1, l2])
    return _Raster(x0, y0, x1 - x0, y1 - y0, w, h, flat, weights, TRIANGLES[index])


def _samples(window: tuple[int, int, int, int], ss: float) -> tuple[int, int]:
    x0, y0, x1, y1 = window
    return max(1, round((x1 - x0) * ss)), max(1, round((y1 - y0) * ss))


def _interpolate(raster: _Raster, values: np.ndarray) -> np.ndarray:
    """Per-vertex values (ROWS x COLUMNS x k) at the raster's samples (N x k)."""
    flat = values.reshape(ROWS * COLUMNS, -1).astype(np.float32)
    corners = flat[raster.corners]  # N x 3 x k
    w = raster.weights.astype(np.float32)
    return corners[:, 0] * w[:, 0:1] + corners[:, 1] * w[:, 1:2] + corners[:, 2] * w[:, 2:3]


# ----------------------------------------------------------------------------- drawing


def draw_mask(photo: np.ndarray, landmarks: np.ndarray, style: dict, texture, noise_rng: np.random.Generator
              ) -> Rendered:
    height, width = photo.shape[:2]
    fit = fit_face(landmarks, width, height)
    mesh = mask_mesh(style["mask_type"], style["wear"])
    camera_points = fit.to_camera(fit.place(mesh.points))
    screen = fit.project(camera_points)
    normals = _vertex_normals(camera_points)
    loops = [fit.project(fit.to_camera(fit.place(line))) for line in mesh.ear_loops
             if _side_visible(fit, line)]
    px_per_mm = fit.scale
    shadow_sigma = max(1.0, SHADOW_MM * px_per_mm)
    margin = 4 * shadow_sigma + 4
    window = _window([screen, *loops], margin, width, height)
    x0, y0, x1, y1 = window
    if x1 - x0 < 2 or y1 - y0 < 2:
        return Rendered(photo.copy(), np.zeros((height, width), np.uint8), np.zeros((height, width), bool), style)
    # samples per pixel: small masks are drawn at up to twice the photo's resolution and averaged down
    # (anti-aliased edges and cloth); large ones at WORKING_SIDE samples across, and enlarged (the
    # cloth has 512 texels across: more samples would only cost time)
    ss = min(2.0, WORKING_SIDE / max(x1 - x0, y1 - y0))
    raster = _rasterise(screen, camera_points[..., 2], window, ss)

    region = photo[y0:y1, x0:x1]
    luminance = lighting.to_linear(region) @ lighting.LUMA
    light = _skin_light(fit, luminance, window, px_per_mm)
    balance = lighting.white_balance(lighting.to_linear(photo[::8, ::8]).reshape(-1, 3).mean(axis=0))

    # the cloth at each covered sample: colour, outline, relief-perturbed normal, then lit
    albedo, relief, outline, slope_u, slope_v = texture
    grid_uv = np.dstack(np.meshgrid(np.linspace(0, 1, COLUMNS), np.linspace(0, 1, ROWS)))
    attributes = _interpolate(raster, np.dstack([grid_uv, normals, np.gradient(camera_points, axis=1),
                                                 np.gradient(camera_points, axis=0)]))
    uv, n, tangent_u, tangent_v = attributes[:, :2], attributes[:, 2:5], attributes[:, 5:8], attributes[:, 8:11]
    tex_h, tex_w = outline.shape
    count = len(uv)
    rows = -(-count // 512)  # cv2.remap takes maps under 32767 a side: lay the samples out 512 wide
    maps = np.zeros((2, rows * 512), np.float32)
    maps[0, :count], maps[1, :count] = uv[:, 0] * (tex_w - 1), uv[:, 1] * (tex_h - 1)
    map_x, map_y = maps[0].reshape(rows, 512), maps[1].reshape(rows, 512)

    def sample(image):
        out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(rows * 512, -1)[:count]

    colour = sample(albedo)
    alpha = sample(outline)[:, 0]
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    # relief: the height (texels) rises along the normal; its slope tilts the normal back
    u_len = np.linalg.norm(tangent_u, axis=1, keepdims=True) + 1e-9
    v_len = np.linalg.norm(tangent_v, axis=1, keepdims=True) + 1e-9
    texel_u = u_len * (COLUMNS - 1) / (tex_w - 1)  # mm of surface per texel
    texel_v = v_len * (ROWS - 1) / (tex_h - 1)
    n = n - sample(slope_u) * (MM_PER_TEXEL / texel_u) * (tangent_u / u_len) \
        - sample(slope_v) * (MM_PER_TEXEL / texel_v) * (tangent_v / v_len)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    # the cloth darkens where it bends in to meet the skin (less of the room's light reaches it)
    edge = np.minimum(np.minimum(uv[:, 0], 1 - uv[:, 0]) / 0.08, np.minimum(uv[:, 1], 1 - uv[:, 1]) / 0.12)
    occlusion = 0.8 + 0.2 * np.clip(edge, 0, 1)
    lit = colour * (light(n) * occlusion)[:, None] * balance
    v_top = uv[:, 1]

    # the layer at supersampled resolution, premultiplied, averaged down to the photo's pixels
    sh, sw = raster.sample_h, raster.sample_w
    layer = np.zeros((sh * sw, 5), dtype=np.float32)
    layer[raster.pixels, :3] = lit * alpha[:, None]
    layer[raster.pixels, 3] = alpha
    layer[raster.pixels, 4] = alpha * np.clip(1 - v_top / 0.3, 0, 1)  # the upper part casts the shadow
    layer = layer.reshape(sh, sw, 5)
    layer = _draw_loops(layer, loops, window, (sw / raster.width, sh / raster.height), style, light, balance,
                        max(1.0, LOOP_MM * px_per_mm * ss))
    if ss == 1:
        layer = cv2.GaussianBlur(layer, (0, 0), 0.5)
    else:  # cv2 resizes at most 4 channels at a time by area
        interpolation = cv2.INTER_AREA if ss > 1 else cv2.INTER_LINEAR
        layer = np.dstack([cv2.resize(layer[:, :, c:c + 4], (raster.width, raster.height), interpolation=interpolation)
                           .reshape(raster.height, raster.width, -1) for c in (0, 4)])
    # as soft as the face and as noisy as the photo
    grey = (region.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    face_box = _face_box(landmarks, x0, y0, raster.width, raster.height)
    blur = lighting.blur_sigma(grey[face_box])
    extra = np.sqrt(max(blur ** 2 - 0.5 ** 2, 0.0))
    if extra > 0.2:
        layer = cv2.GaussianBlur(layer, (0, 0), extra)
    coverage = np.clip(layer[:, :, 3], 0, 1)
    shadow = cv2.GaussianBlur(layer[:, :, 4], (0, 0), shadow_sigma) * (1 - coverage)
    touched_region = (coverage > 0.5 / 255) | (shadow > 1e-3)
    at = np.nonzero(touched_region)  # the rest of the window is left exactly as it was
    cover = coverage[at][:, None]
    mask_values = lighting.to_srgb(layer[:, :, :3][at] / np.maximum(cover, 1e-6))
    noise = lighting.noise_sigma(grey[face_box])
    if noise > 0.3:  # the photo's grain: mostly in brightness, a little in colour
        grain = noise_rng.normal(0.0, noise, (len(at[0]), 1)) + noise_rng.normal(0.0, 0.3 * noise, (len(at[0]), 3))
        mask_values = mask_values + grain
    # the skin darkened along the top edge, then the mask over it
    darker = 1 - SHADOW_STRENGTH * np.clip(shadow[at], 0, 1)
    skin_values = lighting.to_srgb(lighting.to_linear(region[at]) * darker[:, None])
    new = region.copy()
    new[at] = np.clip(np.rint(mask_values * cover + skin_values * (1 - cover)), 0, 255).astype(np.uint8)

    result = photo.copy()
    result[y0:y1, x0:x1] = new
    opacity = np.zeros((height, width), np.uint8)
    opacity[y0:y1, x0:x1] = np.clip(np.rint(coverage * 255), 0, 255).astype(np.uint8)
    touched = np.zeros((height, width), bool)
    touched[y0:y1, x0:x1] = touched_region
    return Rendered(result, opacity, touched, style)


def _skin_light(fit: FaceFit, luminance: np.ndarray, window, px_per_mm: float) -> lighting.Light:
    """The light on this face from its skin patches, their normals taken from the generic face."""
    x0, y0, x1, y1 = window
    depth = support_depth(SKIN_PATCHES)
    points = np.column_stack([SKIN_PATCHES, depth])
    eps = 1.0
    gx = (support_depth(SKIN_PATCHES + [eps, 0]) - depth) / eps
    gy = (support_depth(SKIN_PATCHES + [0, eps]) - depth) / eps
    normals = np.column_stack([gx, gy, -np.ones(len(depth))])  # towards the camera on a frontal face
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    centres = fit.project(fit.to_camera(fit.place(points))) - [x0, y0]
    cam_normals = normals @ fit.rotation.T
    return lighting.skin_light(luminance, centres, cam_normals, radius=4.0 * px_per_mm,
                               window=(0, 0, x1 - x0, y1 - y0))


def _face_box(landmarks: np.ndarray, x0: int, y0: int, width: int, height: int) -> tuple[slice, slice]:
    """The window's rows and columns around the eyes, nose and mouth (where blur and noise are read)."""
    inner = landmarks[17:68] - [x0, y0]
    lo = np.clip(np.floor(inner.min(axis=0)).astype(int), 0, [width, height])
    hi = np.clip(np.ceil(inner.max(axis=0)).astype(int), 0, [width, height])
    return slice(lo[1], hi[1]), slice(lo[0], hi[0])


def _side_visible(fit: FaceFit, line: np.ndarray) -> bool:
    """An ear loop shows unless the side of the head it runs along has turned more than 30 degrees
    away from the camera (then the head hides it)."""
    outward = np.array([np.sign(line[-1, 0]), 0.0, 0.0])
    return float((fit.rotation @ outward)[2]) < 0.5


def _draw_loops(layer: np.ndarray, loops: list[np.ndarray], window, scale: tuple[float, float], style: dict,
                light: lighting.Light, balance: np.ndarray, thickness: float) -> np.ndarray:
    """Ear loops behind the mask's cloth (the cloth covers where they are fixed to it)."""
    if not loops:
        return layer
    x0, y0 = window[:2]
    base = LOOP_COLOURS.get(style["mask_type"])
    if base is None:
        base = lighting.to_linear(np.array(parse_color(style["color"]), np.uint8)) * 0.9
    colour = np.asarray(base, np.float32) * light(np.array([[0.0, 0.0, -1.0]]))[0] * 0.85 * balance
    strokes = np.zeros(layer.shape[:2], np.float32)
    for line in loops:
        pts = np.rint(((line - [x0, y0]) * scale - 0.5) * 16).astype(np.int32)
        cv2.polylines(strokes, [pts], False, 1.0, max(1, int(round(thickness))), cv2.LINE_AA, 4)
    strokes = np.clip(strokes, 0, 1) * (1 - layer[:, :, 3])
    layer[:, :, :3] += strokes[:, :, None] * colour
    layer[:, :, 3] += strokes
    return layer
