"""The mask renderer (util/masks) on real faces that packages ship (scikit-image's astronaut,
matplotlib's Grace Hopper): which landmarks each wear class covers, light taken from the skin, a
mask that turns with the face, pixels away from the mask left alone, and the same bytes for the same
seed and face."""
from __future__ import annotations


import cv2
import numpy as np
import pytest
from PIL import Image

from util.faces.sample_photos import astronaut, compose, grace_hopper, lit_from_the_left, placement
from util.masks import MaskRenderer
from util.masks import light as lighting
from util.masks.texture import MASK_TYPES, PATTERNS

dlib = pytest.importorskip("dlib")
from util.faces.detect import FaceFinder  # noqa: E402

NOSE_TIP, NOSE_BOTTOM, UPPER_LIP, CHIN = 30, 33, 51, 8
MOUTH, EYES, BROWS = range(48, 68), range(36, 48), range(17, 27)


@pytest.fixture(scope="module")
def faces() -> dict:
    """Each real photo with its best face's 68 landmarks."""
    out = {}
    for name, photo in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        found = max(FaceFinder().find(photo), key=lambda f: f.score)
        out[name] = (photo, found.landmarks)
    return out


def opacity_at(opacity: np.ndarray, landmarks: np.ndarray, indices) -> np.ndarray:
    points = np.floor(landmarks[list(indices)]).astype(int)
    return opacity[points[:, 1], points[:, 0]]


WEAR_RULES = {  # wear: (landmarks covered, landmarks left bare)
    "correct": ([NOSE_TIP, NOSE_BOTTOM, CHIN, *MOUTH], [*EYES, *BROWS]),
    "nose": ([*MOUTH, CHIN], [NOSE_TIP, *EYES]),
    "chin": ([NOSE_TIP, NOSE_BOTTOM, *MOUTH], [CHIN, *EYES]),
    "nose_mouth": ([CHIN], [NOSE_TIP, UPPER_LIP, *EYES]),
}


@pytest.mark.parametrize("mask_type", MASK_TYPES)
@pytest.mark.parametrize("wear", list(WEAR_RULES))
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_each_wear_class_covers_its_landmarks(faces, name, wear, mask_type):
    photo, landmarks = faces[name]
    result = MaskRenderer(mask_type=mask_type, wear=wear).render(photo, landmarks, name)
    covered, bare = WEAR_RULES[wear]
    assert (opacity_at(result.opacity, landmarks, covered) >= 200).all(), \
        dict(zip(covered, opacity_at(result.opacity, landmarks, covered)))
    assert (opacity_at(result.opacity, landmarks, bare) == 0).all(), \
        dict(zip(bare, opacity_at(result.opacity, landmarks, bare)))


def test_pixels_away_from_the_mask_and_its_shadow_are_unchanged(faces):
    photo, landmarks = faces["grace_hopper"]
    result = MaskRenderer(mask_type="cloth").render(photo, landmarks, "g")
    changed = (result.photo != photo).any(axis=2)
    assert changed.sum() > 5000
    assert not changed[~result.touched].any()
    # the band beyond the opacity is the contact shadow: a few millimetres, never the whole face
    eye_distance = np.hypot(*(landmarks[45] - landmarks[36]))
    near = cv2.dilate((result.opacity > 0).astype(np.uint8), np.ones((3, 3), np.uint8),
                      iterations=int(0.25 * eye_distance))
    assert not result.touched[near == 0].any()
    assert (result.opacity[result.touched] == 0).mean() > 0.05  # a shadow band exists


def test_same_seed_and_face_same_bytes_other_seed_other_noise(faces):
    photo, landmarks = faces["astronaut"]
    one = MaskRenderer(mask_type="random", wear="random", colors=("#336699", "#aa3300"), seed=3)
    a, b = one.render(photo, landmarks, "x.jpg:0"), one.render(photo, landmarks, "x.jpg:0")
    assert np.array_equal(a.photo, b.photo) and a.style == b.style
    styles = {tuple(one.style_for(f"p{i}.jpg:0").values()) for i in range(40)}
    assert len(styles) > 8  # random type, wear and colour really vary from face to face
    assert {s[1] for s in styles} == {"#336699", "#aa3300"}


@pytest.mark.parametrize("pattern", [*PATTERNS, "image"])
@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_every_type_and_pattern_renders(faces, tmp_path, mask_type, pattern):
    photo, landmarks = faces["astronaut"]
    if pattern == "image":
        picture = np.zeros((40, 40, 3), np.uint8)
        picture[:, :20] = (220, 30, 30)
        picture[:, 20:] = (30, 200, 40)
        Image.fromarray(picture).save(tmp_path / "pattern.png")
        pattern = str(tmp_path / "pattern.png")
    plain = MaskRenderer(mask_type=mask_type).render(photo, landmarks, "a")
    result = MaskRenderer(mask_type=mask_type, pattern=pattern, pattern_weight=1.0).render(photo, landmarks, "a")
    inside = result.opacity == 255
    assert inside.sum() > 2000
    if pattern != "none":
        assert np.abs(result.photo[inside].astype(int) - plain.photo[inside]).mean() > 3


def side_ratio(values: np.ndarray, weight: np.ndarray, centre: float, half: float) -> float:
    """Mean linear luminance of the left third over the right third of a region."""
    lum = lighting.to_linear(values) @ lighting.LUMA
    x = np.arange(values.shape[1])[None, :].repeat(values.shape[0], 0)
    left = weight & (x < centre - half / 3)
    right = weight & (x > centre + half / 3)
    return float(lum[left].mean() / lum[right].mean())


def test_a_face_lit_from_one_side_gets_a_mask_darker_on_that_side(faces):
    photo, landmarks = faces["grace_hopper"]
    renderer = MaskRenderer(mask_type="n95")
    dim = lit_from_the_left(photo, landmarks, 0.45)
    plain, side = renderer.render(photo, landmarks, "g"), renderer.render(dim, landmarks, "g")
    inside = plain.opacity == 255
    cols = np.flatnonzero(inside.any(axis=0))
    centre, half = (cols[0] + cols[-1]) / 2, (cols[-1] - cols[0]) / 2
    mask_ratio = side_ratio(side.photo, inside, centre, half) / side_ratio(plain.photo, inside, centre, half)
    # the skin's own ratio, on the cheeks beside the mask (the same columns, above the mask)
    rows = slice(int(landmarks[29, 1]) - 5, int(landmarks[29, 1]) + 5)
    cheeks = np.zeros(inside.shape, bool)
    cheeks[rows, int(landmarks[1, 0]) + 5:int(landmarks[15, 0]) - 5] = True
    skin_ratio = side_ratio(dim, cheeks, centre, half) / side_ratio(photo, cheeks, centre, half)
    assert skin_ratio < 0.8
    assert mask_ratio < 0.85
    assert abs(mask_ratio - skin_ratio) < 0.2, (mask_ratio, skin_ratio)


def principal_angle(weight: np.ndarray) -> float:
    m = cv2.moments(weight.astype(np.float32))
    return float(np.degrees(0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])))


@pytest.mark.parametrize("angle", [-25, 15])
def test_the_mask_turns_with_a_tilted_face(angle):
    """The astronaut upright and turned by a known angle: the mask's long axis and its top edge's
    corners turn by that angle (image y points down: a positive angle turns anticlockwise)."""
    turns = {}
    for a in (0, angle):
        photo = compose((520, 520), [placement(1.4, a, False, (260, 260))])
        face = max(FaceFinder().find(photo), key=lambda f: f.score)
        result = MaskRenderer(mask_type="surgical").render(photo, face.landmarks, "t")
        turns[a] = principal_angle(result.opacity > 128)
    assert abs((turns[0] - turns[angle]) - angle) < 4, turns


def test_noise_and_blur_are_measured_as_made():
    """The estimators against pictures with a known noise and a known blur."""
    rng = np.random.default_rng(0)
    flat = np.full((200, 200), 120.0) + rng.normal(0, 6.0, (200, 200))
    assert abs(lighting.noise_sigma(flat) - 6.0) < 0.6
    steps = np.zeros((200, 200), np.float32)
    steps[:, 50:100] = 200
    steps[:, 150:] = 200
    steps[60:140, :] = 255 - steps[60:140, :]
    for sigma in (1.0, 2.0):
        assert abs(lighting.blur_sigma(cv2.GaussianBlur(steps, (0, 0), sigma)) - sigma) < 0.35 * sigma


def test_a_mask_on_a_soft_noisy_face_is_as_soft_and_noisy(faces):
    photo, landmarks = faces["grace_hopper"]
    rng = np.random.default_rng(1)
    noisy = np.clip(photo + rng.normal(0, 8, photo.shape), 0, 255).astype(np.uint8)
    clean_mask = MaskRenderer(mask_type="n95").render(photo, landmarks, "g")
    noisy_mask = MaskRenderer(mask_type="n95").render(noisy, landmarks, "g")
    inside = cv2.erode((clean_mask.opacity == 255).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0

    def grain(picture):
        grey = picture.astype(np.float32).mean(axis=2)
        return float(np.std((grey - cv2.GaussianBlur(grey, (0, 0), 2))[inside]))

    assert grain(noisy_mask.photo) > grain(clean_mask.photo) + 3


@pytest.mark.parametrize("field, value", [("mask_type", "paper"), ("wear", "ear"), ("pattern_weight", 1.5),
                                          ("colors", ("#12345",))])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError):
        MaskRenderer(**{field: value})


def test_the_docs_figure_is_drawn(tmp_path):
    from scripts import mask_figure

    out = tmp_path / "figure.png"
    assert mask_figure.main(["--out", str(out), "--types", "surgical", "--size", "64"]) == 0
    with Image.open(out) as figure:  # 4 photos x (photo, 1 type, 3 wear classes), labels on top
        assert figure.size == (5 * 64 + 4 * mask_figure.GAP, mask_figure.LABEL + 4 * 64 + 3 * mask_figure.GAP)


@pytest.mark.parametrize("scale", [0.6, 1.5, 2.5, 4.0])
def test_the_mask_keeps_its_place_at_any_photo_size(faces, scale):
    """Small masks are drawn at twice the photo's resolution, middle ones at a fraction more, large
    ones at a working size and enlarged: the landmarks covered stay the same."""
    photo, landmarks = faces["grace_hopper"]
    size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
    big = cv2.resize(photo, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    moved = landmarks * [size[0] / photo.shape[1], size[1] / photo.shape[0]]
    result = MaskRenderer(mask_type="kn95").render(big, moved, "g")
    covered, bare = WEAR_RULES["correct"]
    assert (opacity_at(result.opacity, moved, covered) >= 200).all()
    assert (opacity_at(result.opacity, moved, bare) == 0).all()
    assert not (result.photo != big).any(axis=2)[~result.touched].any()


def test_a_mask_on_a_soft_face_is_as_soft(faces):
    """The photo blurred by a known amount: the mask's edge softens with it."""
    photo, landmarks = faces["grace_hopper"]
    soft = cv2.GaussianBlur(photo, (0, 0), 2.5)

    def steepest_edge(picture):
        opacity = MaskRenderer(mask_type="n95").render(picture, landmarks, "g").opacity.astype(np.float32)
        return float(np.percentile(np.hypot(cv2.Sobel(opacity, cv2.CV_32F, 1, 0), cv2.Sobel(opacity, cv2.CV_32F, 0, 1)),
                                   99.9))

    assert lighting.blur_sigma(cv2.cvtColor(soft, cv2.COLOR_RGB2GRAY)) > 1.5
    assert steepest_edge(soft) < 0.6 * steepest_edge(photo)
