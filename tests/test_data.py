"""Tests for data loading: image discovery and decoding, preprocessing, the sampler, datasets, loader."""
from __future__ import annotations

import os
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from data import UnalignedSampler, collate_images, train_loader
from data.datasets import SingleDataset, UnalignedDataset
from data.image_folder import IMG_EXTENSIONS, ImageReadError, find_images, load_image
from data.transforms import PREPROCESS_MODES, crop, get_transform, to_tensor
from conftest import write_images
from util.errors import UserError

BICUBIC = Image.Resampling.BICUBIC


# ----------------------------------------------------------------------------- helpers

def _noise(w: int, h: int, seed: int = 0, channels: int = 3) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels > 1 else (h, w)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))


def _coord_image(w: int, h: int) -> Image.Image:
    """R = x, G = y, B = 0: a crop's position can be read off its pixels."""
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[:, :, 0] = np.arange(w, dtype=np.uint8)[None, :]
    arr[:, :, 1] = np.arange(h, dtype=np.uint8)[:, None]
    return Image.fromarray(arr)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """CxHxW tensor in [-1, 1] -> HxWxC uint8 (inverse of the expected mapping)."""
    return np.rint((t.numpy().transpose(1, 2, 0) + 1.0) * 127.5).astype(np.uint8)


def _expected_tensor(arr: np.ndarray) -> torch.Tensor:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float64) / 127.5 - 1.0).float()


def _same_pixels(t: torch.Tensor, arr: np.ndarray) -> bool:
    expected = _expected_tensor(arr)
    return t.shape == expected.shape and torch.allclose(t, expected, rtol=0, atol=1e-6)


def _nearest_multiple_of_4(n: float) -> int:
    return min(range(4, 4 * (int(n) // 4 + 3), 4), key=lambda m: abs(m - n))


def _crop_origin(t: torch.Tensor) -> tuple[int, int, bool]:
    """(x, y, flipped) of a crop taken from a _coord_image."""
    arr = _to_uint8(t).astype(int)
    flipped = arr[0, 1, 0] < arr[0, 0, 0]
    return int(arr[0, :, 0].min()), int(arr[:, 0, 1].min()), bool(flipped)


# ----------------------------------------------------------------------------- find_images

def _mixed_case(ext: str) -> str:
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(ext))


def test_find_images_scans_recursively_in_any_case_ignoring_non_images_and_hidden(tmp_path):
    root = tmp_path / "root"
    images = []
    subdirs = ["", "sub", os.path.join("sub", "deeper"), "zz"]
    for k, ext in enumerate(IMG_EXTENSIONS):
        for j, variant in enumerate((ext.lower(), ext.upper(), _mixed_case(ext), ext.title())):
            folder = root / subdirs[(k + j) % len(subdirs)]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"img_{k}_{j}{variant}"
            path.write_bytes(b"x")
            images.append(os.path.join(str(folder), path.name))
    for name in ("notes.txt", "a.png.txt", "README", "png", "image_png", "data.json",
                 ".hidden.png", os.path.join("sub", ".DS_Store"), os.path.join("sub", "._photo.jpg"),
                 os.path.join("sub", "deeper", ".x.JPG")):
        (root / name).write_bytes(b"x")
    for spelled in (".JPG", ".Png", ".TIFF", ".WebP"):
        path = root / "zz" / f"classic{spelled}"
        path.write_bytes(b"x")
        images.append(os.path.join(str(root / "zz"), path.name))

    found = find_images(root)
    assert set(found) == set(images)
    assert len(found) == len(images)
    assert found == sorted(found)
    assert find_images(root) == found


def test_find_images_max_dataset_size_keeps_the_first_n_in_sorted_order(tmp_path):
    names = ["b.png", "a.jpg", os.path.join("c", "z.bmp"), os.path.join("c", "a.PNG"), "d.webp"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    every = sorted(os.path.join(str(tmp_path), n) for n in names)
    assert find_images(tmp_path, max_dataset_size=3) == every[:3]
    assert find_images(tmp_path, max_dataset_size=100) == every
    assert find_images(tmp_path) == every


def test_find_images_follows_symlinked_folders(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.png").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(real, target_is_directory=True)
    assert find_images(root) == [os.path.join(str(root), "linked", "a.png")]


def test_find_images_lists_each_image_once_despite_a_symlink_cycle(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(b"x")
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    found = find_images(root)
    assert len({os.path.realpath(p) for p in found}) == len(found) == 1


# ----------------------------------------------------------------------------- load_image

def test_load_image_composites_transparent_rgba_onto_white(tmp_path):
    arr = np.array([[[10, 20, 30, 255], [200, 0, 0, 0], [0, 0, 0, 128]]], dtype=np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(arr, mode="RGBA").save(path)
    img = load_image(path)
    assert img.mode == "RGB"
    out = np.asarray(img).astype(int)
    assert out[0, 0].tolist() == [10, 20, 30]
    assert out[0, 1].tolist() == [255, 255, 255]
    alpha = 128 / 255
    expected_half = 0 * alpha + 255 * (1 - alpha)
    assert np.all(np.abs(out[0, 2] - expected_half) <= 1)


@pytest.mark.parametrize("with_transparency", [False, True])
def test_load_image_converts_palette_images_to_rgb(tmp_path, with_transparency):
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255]
    img = Image.new("P", (4, 2))
    img.putpalette(palette + [0] * (768 - len(palette)))
    indices = [0, 1, 2, 0, 1, 2, 0, 1]
    img.putdata(indices)
    path = tmp_path / "pal.png"
    if with_transparency:
        img.save(path, transparency=1)
    else:
        img.save(path)
    out = np.asarray(load_image(path))
    assert out.shape == (2, 4, 3)
    for pos, idx in enumerate(indices):
        y, x = divmod(pos, 4)
        expected = palette[3 * idx: 3 * idx + 3]
        if with_transparency and idx == 1:
            expected = [255, 255, 255]
        assert out[y, x].tolist() == expected


def test_load_image_converts_cmyk_to_rgb(tmp_path):
    img = Image.new("CMYK", (3, 1))
    cmyk = [(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255)]
    for x, value in enumerate(cmyk):
        img.putpixel((x, 0), value)
    path = tmp_path / "cmyk.tif"
    img.save(path)
    out = np.asarray(load_image(path)).astype(int)
    expected = [[max(0, 255 - c - k), max(0, 255 - m - k), max(0, 255 - y - k)] for c, m, y, k in cmyk]
    assert load_image(path).mode == "RGB"
    assert out[0].tolist() == expected


def test_load_image_converts_la_to_rgb_with_white_background(tmp_path):
    arr = np.array([[[50, 255], [50, 0], [200, 255]]], dtype=np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(arr, mode="LA").save(path)
    out = np.asarray(load_image(path))
    assert out.tolist() == [[[50] * 3, [255] * 3, [200] * 3]]


def test_load_image_scales_16bit_grayscale_to_8bit(tmp_path):
    values = np.array([[0, 1000, 32768, 65535], [257, 12345, 40000, 65534]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as raw:
        assert raw.mode in ("I;16", "I")  # the file really holds 16-bit samples
    expected = np.clip(np.round(values.astype(np.float64) * 255.0 / 65535.0), 0, 255).astype(np.uint8)
    gray = load_image(path, grayscale=True)
    assert gray.mode == "L"
    assert np.array_equal(np.asarray(gray), expected)
    rgb = np.asarray(load_image(path))
    assert rgb.shape == (2, 4, 3)
    for c in range(3):
        assert np.array_equal(rgb[:, :, c], expected)


def test_load_image_expands_grayscale_l_to_rgb(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = tmp_path / "l.png"
    Image.fromarray(arr, mode="L").save(path)
    img = load_image(path)
    assert img.mode == "RGB"
    out = np.asarray(img)
    for c in range(3):
        assert np.array_equal(out[:, :, c], arr)


def test_load_image_grayscale_flag_gives_luminance_l_image(tmp_path):
    arr = np.random.default_rng(3).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(arr).save(path)
    img = load_image(path, grayscale=True)
    assert img.mode == "L"
    lum = arr[:, :, 0] * 0.299 + arr[:, :, 1] * 0.587 + arr[:, :, 2] * 0.114
    assert np.abs(np.asarray(img).astype(float) - lum).max() <= 1.0


def test_load_image_applies_exif_orientation(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high: left half red, right half blue
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    img = load_image(path)
    assert img.size == (20, 40)
    out = np.asarray(img).astype(int)
    # rotated clockwise: the original left (red) half is now the top half
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60


def test_load_image_lab_tiff_as_grayscale_loads_or_raises_image_read_error(tmp_path):
    path = tmp_path / "lab.tif"
    Image.new("LAB", (4, 3), (50, 128, 128)).save(path)
    try:
        img = load_image(path, grayscale=True)
    except ImageReadError as err:
        assert str(path) in str(err)
    else:
        assert img.size == (4, 3) and img.mode == "L"


def test_load_image_corrupt_file_raises_image_read_error_naming_it(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, UserError)


def test_load_image_empty_file_raises_image_read_error_naming_it(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_load_image_truncated_png_raises_image_read_error(tmp_path):
    good = tmp_path / "good.png"
    _noise(64, 64, seed=5).save(good)
    path = tmp_path / "truncated.png"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- transforms

LOAD, CROP = 40, 32


def _expected_shape(mode: str, w: int, h: int) -> tuple[int, int] | None:
    """(height, width) for the modes whose size is exact; None where it is checked separately."""
    if mode in ("resize_and_crop", "crop", "scale_width_and_crop"):
        return CROP, CROP
    if mode == "none":
        return _nearest_multiple_of_4(h), _nearest_multiple_of_4(w)
    return None


@pytest.mark.parametrize("size", [(37, 23), (5, 3)])
@pytest.mark.parametrize("mode", PREPROCESS_MODES)
@pytest.mark.parametrize("train", [False, True])
def test_every_preprocess_mode_handles_odd_and_tiny_images(mode, size, train):
    w, h = size
    img = _noise(w, h, seed=w * h)
    transform = get_transform(mode, LOAD, CROP, flip=True, train=train)
    out = transform(img, random.Random(7) if train else None)
    assert out.dtype == torch.float32
    assert out.shape[0] == 3
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert out.std() > 0
    expected = _expected_shape(mode, w, h)
    if expected is not None:
        assert tuple(out.shape[1:]) == expected
    else:  # scale_width: width load_size, height from the aspect ratio but at least crop_size
        oh, ow = out.shape[1:]
        assert ow == LOAD
        assert oh % 4 == 0
        assert abs(oh - max(LOAD * h / w, CROP)) <= 3


def test_unknown_preprocess_mode_is_refused():
    with pytest.raises(ValueError):
        get_transform("resize_only", LOAD, CROP, flip=False, train=False)


def test_crop_mode_scales_up_an_image_smaller_than_the_crop():
    img = _noise(20, 10, seed=1)
    out = get_transform("crop", LOAD, CROP, flip=False, train=True)(img, random.Random(0))
    assert tuple(out.shape) == (3, CROP, CROP)
    direct = crop(img, CROP, random.Random(0))
    assert direct.size == (CROP, CROP)
    # aspect kept: 20x10 grows to 64x32, so a dark left quarter (x < 5) ends at x = 16, exactly where
    # the centred crop starts; stretching to 32x32 instead would leave dark columns up to x = 8
    arr = np.full((10, 20, 3), 255, dtype=np.uint8)
    arr[:, :5] = 0
    centred = _to_uint8(get_transform("crop", LOAD, CROP, flip=False, train=False)(Image.fromarray(arr)))
    assert centred[:, 3:].min() > 200


def test_scale_width_keeps_aspect_ratio_with_sides_divisible_by_4():
    w, h = 37, 53
    out = get_transform("scale_width", LOAD, CROP, flip=False, train=False)(_noise(w, h))
    oh, ow = out.shape[1:]
    assert ow == LOAD and oh % 4 == 0 and ow % 4 == 0
    assert abs(oh / ow - h / w) < 0.05
    # a width that is no multiple of 4 is rounded to one
    out = get_transform("scale_width", 42, CROP, flip=False, train=False)(_noise(w, h))
    assert out.shape[2] % 4 == 0 and abs(out.shape[2] - 42) <= 2


def test_none_mode_rounds_size_to_multiple_of_4_and_keeps_content():
    img = _noise(48, 36, seed=2)  # already multiples of 4: left as it is
    out = get_transform("none", LOAD, CROP, flip=False, train=False)(img)
    assert _same_pixels(out, np.asarray(img))
    out = get_transform("none", LOAD, CROP, flip=False, train=False)(_noise(51, 29))
    assert tuple(out.shape[1:]) == (28, 52)


def test_resize_and_crop_at_test_time_is_a_centre_crop():
    img = _noise(37, 23, seed=4)
    out = get_transform("resize_and_crop", LOAD, CROP, flip=True, train=False)(img, random.Random(1))
    m = (LOAD - CROP) // 2
    expected = np.asarray(img.resize((LOAD, LOAD), BICUBIC).crop((m, m, m + CROP, m + CROP)))
    assert _same_pixels(out, expected)


def test_crop_at_test_time_is_centred_on_the_image():
    img = _coord_image(60, 50)
    out = get_transform("crop", LOAD, CROP, flip=True, train=False)(img)
    expected = np.asarray(img)[9:9 + CROP, 14:14 + CROP]
    assert _same_pixels(out, expected)
    # odd margins: the two sides differ by at most one pixel
    for w, h in ((61, 47), (33, 100)):
        x, y, flipped = _crop_origin(get_transform("crop", LOAD, CROP, False, False)(_coord_image(w, h)))
        assert not flipped
        assert abs(x - (w - CROP - x)) <= 1 and abs(y - (h - CROP - y)) <= 1


def test_no_flip_at_test_time_even_with_flip_enabled():
    img = _coord_image(60, 50)
    transform = get_transform("crop", LOAD, CROP, flip=True, train=False)
    reference = transform(img)
    for seed in range(20):
        assert torch.equal(transform(img, random.Random(seed)), reference)


def test_training_crop_and_flip_follow_the_seeded_rng():
    img = _coord_image(200, 180)
    transform = get_transform("crop", LOAD, CROP, flip=True, train=True)
    results = [_crop_origin(transform(img, random.Random(seed))) for seed in range(20)]
    for seed in range(5):
        assert torch.equal(transform(img, random.Random(seed)), transform(img, random.Random(seed)))
    origins = {(x, y) for x, y, _ in results}
    assert len(origins) >= 15
    assert {flipped for _, _, flipped in results} == {True, False}
    for x, y, _ in results:
        assert 0 <= x <= 200 - CROP and 0 <= y <= 180 - CROP


def test_training_without_flip_never_flips():
    img = _coord_image(100, 100)
    transform = get_transform("crop", LOAD, CROP, flip=False, train=True)
    assert not any(_crop_origin(transform(img, random.Random(s)))[2] for s in range(20))


# ----------------------------------------------------------------------------- to_tensor

def test_to_tensor_maps_0_and_255_exactly_to_minus_one_and_one():
    arr = np.zeros((2, 3, 3), dtype=np.uint8)
    arr[1] = 255
    t = to_tensor(Image.fromarray(arr))
    assert t.shape == (3, 2, 3)
    assert torch.all(t[:, 0] == -1.0) and torch.all(t[:, 1] == 1.0)


def test_to_tensor_is_channel_first_rgb_in_minus_one_to_one():
    arr = np.random.default_rng(9).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    t = to_tensor(Image.fromarray(arr))
    expected = arr.transpose(2, 0, 1).astype(np.float64) / 127.5 - 1.0
    assert t.dtype == torch.float32
    assert np.allclose(t.numpy(), expected, atol=1e-6)
    red = to_tensor(Image.new("RGB", (2, 2), (255, 0, 0)))
    assert torch.all(red[0] == 1.0) and torch.all(red[1:] == -1.0)


def test_to_tensor_of_grayscale_has_one_channel():
    arr = np.array([[0, 128], [255, 7]], dtype=np.uint8)
    t = to_tensor(Image.fromarray(arr, mode="L"))
    assert t.shape == (1, 2, 2)
    assert np.allclose(t[0].numpy(), arr / 127.5 - 1.0, atol=1e-6)


# ----------------------------------------------------------------------------- UnalignedSampler

def _run(sampler: UnalignedSampler, epoch: int, start: int = 0) -> list[tuple[int, int, int]]:
    sampler.set_epoch(epoch, start=start)
    return list(sampler)


def test_sampler_same_seed_and_epoch_give_the_same_sequence():
    a = _run(UnalignedSampler(10, 4, serial=False, seed=5), 3)
    b = _run(UnalignedSampler(10, 4, serial=False, seed=5), 3)
    assert a == b
    assert len(a) == 10


def test_sampler_different_epochs_or_seeds_give_different_orders():
    sampler = UnalignedSampler(10, 4, serial=False, seed=5)
    orders = [[i for i, _, _ in _run(sampler, e)] for e in range(1, 4)]
    assert orders[0] != orders[1] and orders[1] != orders[2]
    other = [i for i, _, _ in _run(UnalignedSampler(10, 4, serial=False, seed=6), 1)]
    assert other != orders[0]


def test_sampler_covers_every_a_image_once_per_epoch_when_a_is_larger():
    sampler = UnalignedSampler(7, 3, serial=False, seed=1)
    for epoch in range(1, 6):
        items = _run(sampler, epoch)
        assert sorted(i for i, _, _ in items) == list(range(7))
        assert all(0 <= j < 3 for _, j, _ in items)


def test_sampler_spreads_a_evenly_when_b_is_larger():
    sampler = UnalignedSampler(3, 8, serial=False, seed=2)
    items = _run(sampler, 1)
    assert len(items) == 8
    counts = np.bincount([i for i, _, _ in items], minlength=3)
    assert counts.max() - counts.min() <= 1


def test_sampler_draws_b_at_random_and_reaches_every_b():
    sampler = UnalignedSampler(40, 10, serial=False, seed=3)
    items = _run(sampler, 1)
    aligned = sum(j == i % 10 for i, j, _ in items)
    assert aligned < len(items) // 2
    seen = set()
    for epoch in range(1, 6):
        seen.update(j for _, j, _ in _run(sampler, epoch))
    assert seen == set(range(10))
    # B larger than A: still every B
    sampler = UnalignedSampler(4, 6, serial=False, seed=3)
    seen = set()
    for epoch in range(1, 21):
        seen.update(j for _, j, _ in _run(sampler, epoch))
    assert seen == set(range(6))


def test_sampler_serial_mode_takes_a_and_b_in_order():
    for len_a, len_b in ((5, 3), (2, 7)):
        items = _run(UnalignedSampler(len_a, len_b, serial=True, seed=0), 2)
        n = max(len_a, len_b)
        assert [(i, j) for i, j, _ in items] == [(k % len_a, k % len_b) for k in range(n)]


def test_sampler_sample_seeds_differ_between_samples():
    items = _run(UnalignedSampler(20, 20, serial=True, seed=0), 1)
    assert len({s for _, _, s in items}) == 20


@pytest.mark.parametrize("serial", [False, True])
def test_sampler_start_skips_exactly_the_first_samples(serial):
    sampler = UnalignedSampler(9, 4, serial=serial, seed=11)
    full = _run(sampler, 4)
    for start in (0, 1, 5, 8, 9):
        sampler.set_epoch(4, start=start)
        assert len(sampler) == 9 - start
        assert list(sampler) == full[start:]


def test_sampler_length_is_the_larger_folder():
    assert len(UnalignedSampler(5, 3, serial=False, seed=0)) == 5
    assert len(UnalignedSampler(2, 6, serial=True, seed=0)) == 6


# ----------------------------------------------------------------------------- datasets and loader

def _write_folder(folder: Path, count: int, seed: int, size=(40, 36)) -> list[str]:
    return [str(p) for p in write_images(folder, count, size=size, seed=seed)]


@pytest.fixture
def unaligned_root(tmp_path) -> Path:
    root = tmp_path / "faces"
    _write_folder(root / "trainA", 5, seed=1)
    _write_folder(root / "trainB", 3, seed=2)
    return root


def _opt(root: Path, **kw) -> SimpleNamespace:
    values = dict(dataroot=str(root), phase="train", max_dataset_size=float("inf"), preprocess="resize_and_crop",
                  load_size=36, crop_size=32, no_flip=False, input_nc=3, output_nc=3, direction="AtoB",
                  serial_batches=False, seed=123, batch_size=2, num_threads=0)
    values.update(kw)
    return SimpleNamespace(**values)


def _dataset(root: Path, **kw) -> UnalignedDataset:
    args = dict(phase="train", max_dataset_size=float("inf"), preprocess="resize_and_crop", load_size=36,
                crop_size=32, flip=True, train=True, channels_A=3, channels_B=3)
    args.update(kw)
    return UnalignedDataset(str(root), **args)


def test_unaligned_dataset_length_and_items(unaligned_root):
    ds = _dataset(unaligned_root)
    assert len(ds) == 5
    item = ds[(4, 2, 99)]
    assert set(item) == {"A", "B", "A_paths", "B_paths", "bad"}
    assert item["bad"] == ""  # every file readable
    assert item["A_paths"] == str(unaligned_root / "trainA" / "004.png")
    assert item["B_paths"] == str(unaligned_root / "trainB" / "002.png")
    assert tuple(item["A"].shape) == (3, 32, 32) and tuple(item["B"].shape) == (3, 32, 32)
    plain = ds[6]  # a plain index wraps round both folders
    assert plain["A_paths"].endswith("001.png") and plain["B_paths"].endswith("000.png")


def test_unaligned_dataset_same_index_gives_the_same_sample(unaligned_root):
    ds = _dataset(unaligned_root)
    first, second = ds[(1, 2, 7)], ds[(1, 2, 7)]
    assert torch.equal(first["A"], second["A"]) and torch.equal(first["B"], second["B"])


def test_unaligned_dataset_gray_channels(unaligned_root):
    ds = _dataset(unaligned_root, channels_A=1, channels_B=3)
    item = ds[(0, 0, 0)]
    assert item["A"].shape[0] == 1 and item["B"].shape[0] == 3


def test_unaligned_dataset_missing_b_folder_is_a_user_error_naming_it(tmp_path):
    root = tmp_path / "faces"
    _write_folder(root / "trainA", 2, seed=1)
    with pytest.raises(UserError, match="trainB"):
        _dataset(root)
    with pytest.raises(UserError, match="trainB"):
        train_loader(_opt(root))


def test_unaligned_dataset_empty_a_folder_is_a_user_error_naming_it(tmp_path):
    root = tmp_path / "faces"
    (root / "trainA").mkdir(parents=True)
    (root / "trainA" / "notes.txt").write_text("no images here")
    _write_folder(root / "trainB", 2, seed=2)
    with pytest.raises(UserError, match="trainA"):
        _dataset(root)
    with pytest.raises(UserError, match="trainA"):
        train_loader(_opt(root))


def test_unaligned_dataset_missing_dataroot_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="nowhere"):
        _dataset(tmp_path / "nowhere")


def _epoch(loader, sampler, epoch: int) -> list[dict]:
    sampler.set_epoch(epoch)
    return list(loader)


def test_train_loader_batches_cover_an_epoch(unaligned_root):
    loader, sampler = train_loader(_opt(unaligned_root))
    batches = _epoch(loader, sampler, 1)
    assert [b["A"].shape[0] for b in batches] == [2, 2, 1]
    assert all(tuple(b["A"].shape[1:]) == (3, 32, 32) and tuple(b["B"].shape[1:]) == (3, 32, 32) for b in batches)
    a_paths = [p for b in batches for p in b["A_paths"]]
    assert sorted(a_paths) == find_images(unaligned_root / "trainA")
    assert all(-1.0 <= b["A"].min() and b["A"].max() <= 1.0 for b in batches)


def test_train_loader_direction_btoa_swaps_channel_counts(unaligned_root):
    loader, sampler = train_loader(_opt(unaligned_root, input_nc=1, output_nc=3, direction="BtoA"))
    batch = _epoch(loader, sampler, 1)[0]
    assert batch["A"].shape[1] == 3 and batch["B"].shape[1] == 1


def test_train_loader_is_identical_with_0_and_2_workers(unaligned_root):
    runs = []
    for workers in (0, 2):
        loader, sampler = train_loader(_opt(unaligned_root, num_threads=workers))
        runs.append(_epoch(loader, sampler, 1))
    assert len(runs[0]) == len(runs[1])
    for b0, b2 in zip(*runs):
        assert b0["A_paths"] == b2["A_paths"] and b0["B_paths"] == b2["B_paths"]
        assert torch.equal(b0["A"], b2["A"]) and torch.equal(b0["B"], b2["B"])


def test_train_loader_seed_changes_the_data(unaligned_root):
    firsts = []
    for seed in (1, 2):
        loader, sampler = train_loader(_opt(unaligned_root, seed=seed, batch_size=5))
        firsts.append(_epoch(loader, sampler, 1)[0])
    assert firsts[0]["A_paths"] != firsts[1]["A_paths"] or not torch.equal(firsts[0]["A"], firsts[1]["A"])


def test_single_dataset_items(tmp_path):
    root = tmp_path / "imgs"
    _write_folder(root / "sub", 2, seed=3, size=(37, 23))
    ds = SingleDataset(str(root), float("inf"), "resize_and_crop", 32, 32, channels=3)
    assert len(ds) == 2
    item = ds[1]
    assert item["relpath"] == os.path.join("sub", "001.png")
    assert tuple(item["size"]) == (37, 23)
    assert tuple(item["image"].shape) == (3, 32, 32)
    with pytest.raises(UserError):
        SingleDataset(str(tmp_path / "missing"), float("inf"), "none", 32, 32, channels=3)


# ----------------------------------------------------------------------------- collate_images

def _item(h: int, w: int, k: int) -> dict:
    return {"image": torch.full((3, h, w), float(k)), "path": f"p{k}.png", "relpath": f"r{k}.png", "size": (w, h)}


def test_collate_images_stacks_equal_sizes():
    batch = collate_images([_item(8, 12, 0), _item(8, 12, 1)])
    assert isinstance(batch["image"], torch.Tensor)
    assert tuple(batch["image"].shape) == (2, 3, 8, 12)
    assert torch.all(batch["image"][1] == 1.0)
    assert batch["path"] == ["p0.png", "p1.png"] and batch["relpath"] == ["r0.png", "r1.png"]
    assert batch["size"] == [(12, 8), (12, 8)]


def test_collate_images_keeps_a_list_for_different_sizes():
    items = [_item(8, 12, 0), _item(12, 8, 1)]
    batch = collate_images(items)
    assert isinstance(batch["image"], list) and len(batch["image"]) == 2
    assert batch["image"][0] is items[0]["image"] and batch["image"][1] is items[1]["image"]
