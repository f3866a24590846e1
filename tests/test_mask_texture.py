"""The mask renderer's cloth (util/masks/texture.py): every type and pattern renders sane maps,
the seed decides everything random, and each type has the construction it is drawn with
(three pleats, a KN95 fold seam and fish outline, a user's image printed on it)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.signal import find_peaks

from util.errors import UserError
from util.masks.texture import (DEFAULT_COLORS, MASK_TYPES, PATTERNS, Texture, mask_texture,
                                parse_color, read_pattern)

W, H = 512, 320


def pixel(u: float, v: float) -> tuple[int, int]:
    """(row, column) of the texture pixel at (u, v)."""
    return min(int(v * H), H - 1), min(int(u * W), W - 1)


def red_green_image() -> np.ndarray:
    img = np.zeros((40, 60, 3), np.float32)
    img[:, :30] = (1, 0, 0)
    img[:, 30:] = (0, 1, 0)
    return img


@pytest.mark.parametrize("mask_type", MASK_TYPES)
@pytest.mark.parametrize("pattern", [*PATTERNS, "image"])
def test_every_type_and_pattern_renders_sane_maps(mask_type, pattern):
    chosen = red_green_image() if pattern == "image" else pattern
    tex = mask_texture(mask_type, parse_color(DEFAULT_COLORS[mask_type]), chosen, 0.7, seed=1)
    assert isinstance(tex, Texture)
    assert tex.albedo.shape == (H, W, 3) and tex.height.shape == tex.alpha.shape == (H, W)
    for arr in (tex.albedo, tex.height, tex.alpha):
        assert arr.dtype == np.float32 and np.isfinite(arr).all()
    assert 0 <= tex.albedo.min() and tex.albedo.max() <= 1
    assert 0 <= tex.alpha.min() and tex.alpha.max() <= 1
    assert tex.height.std() > 0.05  # there is relief
    assert tex.alpha[pixel(0.5, 0.5)] == 1
    if mask_type in ("n95", "kn95"):
        for corner in [(0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1)]:
            assert tex.alpha[corner] == 0


@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_odd_small_sizes_render(mask_type):
    tex = mask_texture(mask_type, (200, 30, 30), "floral", width=201, height=125)
    assert tex.albedo.shape == (125, 201, 3) and tex.alpha[62, 100] == 1
    assert all(np.isfinite(arr).all() for arr in (tex.albedo, tex.height, tex.alpha))


@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_same_seed_gives_identical_arrays_and_another_seed_other_noise(mask_type):
    args = (mask_type, (120, 160, 200), "floral", 0.5)
    a, b = mask_texture(*args, seed=7), mask_texture(*args, seed=7)
    for x, y in ((a.albedo, b.albedo), (a.height, b.height), (a.alpha, b.alpha)):
        assert np.array_equal(x, y)
    plain_0 = mask_texture(mask_type, (120, 160, 200), seed=0)
    plain_1 = mask_texture(mask_type, (120, 160, 200), seed=1)
    assert not np.array_equal(plain_0.height, plain_1.height)
    assert not np.array_equal(plain_0.albedo, plain_1.albedo)


@pytest.mark.parametrize("pattern", PATTERNS[1:])
def test_pattern_weight_blends_from_plain_colour_to_full_pattern(pattern):
    plain = mask_texture("surgical", (143, 184, 222), "none", seed=3)
    zero = mask_texture("surgical", (143, 184, 222), pattern, 0.0, seed=3)
    full = mask_texture("surgical", (143, 184, 222), pattern, 1.0, seed=3)
    assert np.array_equal(zero.albedo, plain.albedo)
    assert np.abs(full.albedo - plain.albedo).mean() > 0.02
    assert np.array_equal(full.height, plain.height)  # a print does not change the relief


@pytest.mark.parametrize("mask_type", MASK_TYPES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_blue_cloth_stays_blue(mask_type, pattern):
    tex = mask_texture(mask_type, (0, 0, 255), pattern, 0.5, seed=2)
    mean = tex.albedo[tex.alpha > 0.5].mean(axis=0)
    assert mean[2] > mean[0] and mean[2] > mean[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surgical_has_three_pleats_with_steps(seed):
    tex = mask_texture("surgical", parse_color(DEFAULT_COLORS["surgical"]), seed=seed)
    middle = slice(int(0.3 * W), int(0.7 * W))
    profile = tex.albedo[:, middle].mean(axis=(1, 2))
    band = slice(int(0.2 * H), int(0.8 * H))
    # Fold lines darken the mean by 0.05 or more; fibre mottle makes dips of at most about 0.02.
    minima, _ = find_peaks(-profile[band], prominence=0.035)
    assert len(minima) == 3
    folds = minima + band.start
    assert np.all(np.diff(folds) > 0.1 * H)  # spread across the band, not one smeared line
    height = tex.height[:, middle].mean(axis=1)
    for fold in folds:
        assert height[fold - 4] - height[fold + 4] > 1.5  # the fold drops to the panel below


def test_kn95_fold_seam_is_raised_and_outline_is_fish_shaped():
    tex = mask_texture("kn95", parse_color(DEFAULT_COLORS["kn95"]), seed=0)
    rows = slice(int(0.3 * H), int(0.7 * H))
    column = tex.height[rows].mean(axis=0)
    centre = W // 2
    assert column[centre - 1:centre + 1].mean() - column[[centre - 8, centre + 8]].mean() > 0.5
    assert tex.alpha[pixel(0.5, 0.0)] == 1  # the nose point reaches the top edge
    assert tex.alpha[pixel(0.1, 0.02)] == 0  # the top edge falls away to the sides
    assert tex.alpha[pixel(0.5, 1.0)] == 1 and tex.alpha[pixel(0.1, 0.98)] == 0


def test_n95_outline_is_an_oval_wider_than_tall():
    alpha = mask_texture("n95", (236, 235, 230)).alpha
    rows, cols = np.nonzero(alpha > 0.5)
    assert np.ptp(cols) > np.ptp(rows) * 1.4
    assert alpha[pixel(0.5, 0.02)] == 1 and alpha[pixel(0.03, 0.03)] == 0


def test_user_pattern_shows_in_albedo(tmp_path):
    path = tmp_path / "split.png"
    Image.fromarray((red_green_image() * 255).astype(np.uint8)).save(path)
    image = read_pattern(path)
    assert image.shape == (40, 60, 3) and image.dtype == np.float32
    albedo = mask_texture("cloth", (128, 128, 128), image, 1.0).albedo
    inside = albedo[int(0.2 * H):int(0.8 * H), int(0.1 * W):int(0.9 * W)].reshape(-1, 3)
    reddish = (inside[:, 0] > 2 * inside[:, 1]).mean()
    greenish = (inside[:, 1] > 2 * inside[:, 0]).mean()
    assert reddish > 0.2 and greenish > 0.2


def test_read_pattern_shrinks_a_large_image(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (3000, 150), (10, 200, 30)).save(path)
    image = read_pattern(path)
    assert max(image.shape[:2]) == 1024 and image.shape[2] == 3
    assert np.allclose(image[5, 5], np.array([10, 200, 30]) / 255, atol=1e-6)


def test_read_pattern_names_the_flag_and_the_path(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(UserError, match="--pattern") as err:
        read_pattern(missing)
    assert str(missing) in str(err.value)
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match="--pattern") as err:
        read_pattern(corrupt)
    assert str(corrupt) in str(err.value)


@pytest.mark.parametrize("text, rgb", [("#1a2b3c", (26, 43, 60)), ("1A2B3C", (26, 43, 60)),
                                       ("#abc", (170, 187, 204)), ("fff", (255, 255, 255))])
def test_parse_color_reads_hex(text, rgb):
    assert parse_color(text) == rgb


@pytest.mark.parametrize("text", ["#12345", "blue", "#gg0000", "", "#1234567"])
def test_parse_color_refuses_other_text(text):
    with pytest.raises(ValueError, match="hex colour"):
        parse_color(text)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mask type"):
        mask_texture("scarf", (0, 0, 0))
    with pytest.raises(ValueError, match="pattern"):
        mask_texture("cloth", (0, 0, 0), "paisley")
    with pytest.raises(ValueError, match="pattern_weight"):
        mask_texture("cloth", (0, 0, 0), "dots", 1.5)
