"""Tests for datasets/make_toyfaces.py (small counts, tiny images: runs in a few seconds)."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIZE, N_TRAIN, N_TEST = 32, 6, 4


def _load_module():
    # datasets/ is a folder of scripts, not a package: load the file directly.
    spec = importlib.util.spec_from_file_location("make_toyfaces", ROOT / "datasets" / "make_toyfaces.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


tf = _load_module()


def _generate(out: Path, **kw) -> dict:
    args = dict(size=SIZE, n_train=N_TRAIN, n_test=N_TEST, seed=0)
    args.update(kw)
    return tf.make_toyfaces(out, **args)


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def _arr(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int16)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "toyfaces"
    counts = _generate(out)
    assert counts == {"trainA": N_TRAIN, "trainB": N_TRAIN, "testA": N_TEST, "testB": N_TEST, "testmask": N_TEST}
    return out


def _check_layout(out: Path, expected: dict[str, int], wide: tuple[str, ...] = ()) -> None:
    """Exactly the ``expected`` sub-folders with their counts of NNNNN.png; AB images in ``wide``."""
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for sub, n in expected.items():
        names = sorted(p.name for p in (out / sub).iterdir())
        assert names == [f"{i:05d}.png" for i in range(n)]
        for name in names:
            with Image.open(out / sub / name) as im:
                assert im.format == "PNG"
                assert im.size == ((2 * SIZE, SIZE) if sub in wide else (SIZE, SIZE))
                assert im.mode == ("L" if sub == "testmask" else "RGB")


def test_layout_sizes_and_modes(data: Path) -> None:
    _check_layout(data, {"trainA": N_TRAIN, "trainB": N_TRAIN, "testA": N_TEST, "testB": N_TEST, "testmask": N_TEST})


def test_same_seed_is_byte_identical_other_seed_differs(data: Path, tmp_path: Path) -> None:
    again = _generate(tmp_path / "again")
    assert again
    assert _files(tmp_path / "again") == _files(data)
    _generate(tmp_path / "other", seed=1)
    other = _files(tmp_path / "other")
    same = [k for k, v in _files(data).items() if other[k] == v]
    assert same == []


def test_face_does_not_depend_on_other_counts(data: Path, tmp_path: Path) -> None:
    # Per-face generators: fewer training faces must not change the faces that remain,
    # nor the test set.
    _generate(tmp_path / "small", n_train=3, n_test=2)
    small = _files(tmp_path / "small")
    full = _files(data)
    assert len(small) == 3 + 3 + 2 * 3
    assert all(full[k] == v for k, v in small.items())


def test_test_pairs_differ_only_inside_mask(data: Path) -> None:
    for i in range(N_TEST):
        name = f"{i:05d}.png"
        a, b = _arr(data / "testA" / name), _arr(data / "testB" / name)
        inside = _arr(data / "testmask" / name)
        assert set(np.unique(inside)) <= {0, 255}
        inside = inside == 255
        assert 0.04 < inside.mean() < 0.5
        diff = np.abs(a - b).sum(axis=-1)
        assert diff[~inside].max() <= 3, "testB must equal testA outside the mask"
        assert diff[inside].mean() > 40, "the mask must visibly change the pixels it covers"
        # the mask is exactly where the images differ (up to anti-aliased rim pixels)
        assert (diff[inside] > 0).mean() > 0.9


def _to_face_units(toy, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the generator's pose: output pixel centres -> face units (y down)."""
    p = toy.pose
    dx = (xs + 0.5) / SIZE - p.cx
    dy = (ys + 0.5) / SIZE - p.cy
    c, s = math.cos(math.radians(p.angle)), math.sin(math.radians(p.angle))
    return (c * dx + s * dy) / p.scale, (-s * dx + c * dy) / p.scale


def _to_pixel(toy, x: float, y: float) -> tuple[int, int]:
    p = toy.pose
    c, s = math.cos(math.radians(p.angle)), math.sin(math.radians(p.angle))
    px = (p.cx + p.scale * (c * x - s * y)) * SIZE
    py = (p.cy + p.scale * (s * x + c * y)) * SIZE
    return int(px), int(py)


def test_mask_sits_on_lower_face_and_covers_mouth_and_nose(data: Path) -> None:
    for i in range(N_TEST):
        toy = tf.sample_toyface(tf.face_rng(0, tf.STREAM_TEST, i))
        inside = _arr(data / "testmask" / f"{i:05d}.png") == 255
        ys, xs = np.nonzero(inside)
        fx, fy = _to_face_units(toy, xs.astype(float), ys.astype(float))
        # Ear loops and straps may reach up beside the eyes, never above them.
        assert fy.min() > -0.4
        assert (fy > 0).mean() > 0.85, "the bulk of the mask must lie in the lower half of the face"
        assert np.abs(fx).max() < toy.face.aspect * 1.4
        for y in (toy.face.mouth_y, toy.face.nose_tip + 0.03):
            px, py = _to_pixel(toy, 0.0, y)
            assert inside[py, px], f"face {i}: mask misses the point y={y:.2f} (mouth / lower nose)"
        # and the eyes stay visible
        for side in (-1, 1):
            px, py = _to_pixel(toy, side * toy.face.eye_dx, toy.face.eye_y)
            assert not inside[py, px]


def test_train_domains_hold_different_faces(data: Path) -> None:
    train_a = [_arr(p) for p in sorted((data / "trainA").glob("*.png"))]
    train_b = [_arr(p) for p in sorted((data / "trainB").glob("*.png"))]
    test_a = [_arr(p) for p in sorted((data / "testA").glob("*.png"))]
    for a in train_a:
        for other in train_b + test_a:
            # different backgrounds and faces, not the same face with a mask added
            assert np.abs(a - other).mean() > 10
    for i, a in enumerate(train_a):
        for j in range(i + 1, len(train_a)):
            assert np.abs(a - train_a[j]).mean() > 10


def test_mask_colours_stand_out_from_skin() -> None:
    for i in range(300):
        toy = tf.sample_toyface(tf.face_rng(0, tf.STREAM_TRAIN_B, i))
        assert math.dist(toy.mask.color, toy.face.skin) >= tf.MIN_MASK_SKIN_DISTANCE - 10
        assert toy.mask.top < toy.face.nose_tip - 0.05
        assert toy.mask.top - toy.mask.peak > toy.face.eye_bottom


def test_refuses_to_overwrite_without_flag(tmp_path: Path, capsys) -> None:
    out = tmp_path / "toy"
    argv = ["--out", str(out), "--size", str(SIZE), "--n_train", "2", "--n_test", "1"]
    assert tf.main(argv) == 0
    keep = out / "README.txt"
    keep.write_text("not ours")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()

    assert tf.main(argv + ["--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert after == before

    with pytest.raises(FileExistsError):
        tf.make_toyfaces(out, size=SIZE, n_train=1, n_test=1)


def test_overwrite_replaces_only_owned_folders(tmp_path: Path, capsys) -> None:
    out = tmp_path / "toy"
    assert tf.main(["--out", str(out), "--size", str(SIZE), "--n_train", "3", "--n_test", "2"]) == 0
    keep = out / "README.txt"
    keep.write_text("not ours")
    old = (out / "trainA" / "00000.png").read_bytes()

    argv = ["--out", str(out), "--size", str(SIZE), "--n_train", "1", "--n_test", "1", "--seed", "3"]
    assert tf.main(argv + ["--overwrite"]) == 0
    assert "toyfaces" in capsys.readouterr().out
    assert keep.read_text() == "not ours"
    for sub, n in {"trainA": 1, "trainB": 1, "testA": 1, "testB": 1, "testmask": 1}.items():
        assert len(list((out / sub).iterdir())) == n, "stale files from the old run must be gone"
    assert (out / "trainA" / "00000.png").read_bytes() != old


def test_empty_existing_folder_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    (out / "trainA").mkdir(parents=True)
    assert tf.main(["--out", str(out), "--size", str(SIZE), "--n_train", "1", "--n_test", "0"]) == 0
    assert len(list((out / "trainB").iterdir())) == 1


# ----------------------------------------------------------------------------- --paired (pix2pix)
PAIRED_COUNTS = {"train": N_TRAIN, "test": N_TEST, "testA": N_TEST, "testB": N_TEST, "testmask": N_TEST}


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "toyfaces_paired"
    assert _generate(out, paired=True) == PAIRED_COUNTS
    return out


def _halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ab = _arr(path)
    return ab[:, : ab.shape[1] // 2], ab[:, ab.shape[1] // 2:]


def _train_mask(i: int) -> np.ndarray:
    """Where the renderer put training face i's mask (True inside)."""
    toy = tf.sample_toyface(tf.face_rng(0, tf.STREAM_TRAIN_A, i))
    return np.asarray(tf.render_test_triple(toy, SIZE)[2]) == 255


def test_paired_layout_even_width(paired: Path) -> None:
    _check_layout(paired, PAIRED_COUNTS, wide=("train", "test"))  # each half SIZE x SIZE


def test_paired_test_faces_are_the_unpaired_ones(paired: Path, data: Path) -> None:
    for sub in ("testA", "testB", "testmask"):
        for p in sorted((data / sub).iterdir()):
            assert (paired / sub / p.name).read_bytes() == p.read_bytes(), f"{sub}/{p.name}"
    for i in range(N_TEST):
        name = f"{i:05d}.png"
        left, right = _halves(paired / "test" / name)
        assert np.array_equal(left, _arr(paired / "testA" / name))
        assert np.array_equal(right, _arr(paired / "testB" / name))


def test_paired_train_halves_differ_only_inside_the_mask(paired: Path, data: Path) -> None:
    for i in range(N_TRAIN):
        name = f"{i:05d}.png"
        left, right = _halves(paired / "train" / name)
        inside = _train_mask(i)
        assert 0.04 < inside.mean() < 0.5
        assert np.array_equal(left[~inside], right[~inside]), "pixel-identical outside the mask"
        diff = np.abs(left - right).sum(axis=-1)
        assert diff[inside].mean() > 40 and (diff[inside] > 0).mean() > 0.9, "the mask must show"
        # the unmasked half is the unpaired layout's trainA face of the same number
        assert np.array_equal(left, _arr(data / "trainA" / name))


def test_paired_train_faces_are_not_test_faces(paired: Path) -> None:
    test_a = [_arr(p) for p in sorted((paired / "testA").glob("*.png"))]
    for p in sorted((paired / "train").glob("*.png")):
        left, _ = _halves(p)
        for other in test_a:
            assert np.abs(left - other).mean() > 10, p.name


def test_paired_is_deterministic(paired: Path, tmp_path: Path) -> None:
    _generate(tmp_path / "again", paired=True)
    assert _files(tmp_path / "again") == _files(paired)


def test_paired_command_line_and_overwrite_of_the_unpaired_layout(tmp_path: Path, capsys) -> None:
    out = tmp_path / "toy"
    base = ["--out", str(out), "--size", str(SIZE), "--n_train", "2", "--n_test", "1"]
    assert tf.main(base) == 0
    assert tf.main(base + ["--paired"]) == 2  # not over the unpaired layout without --overwrite
    assert tf.main(base + ["--paired", "--overwrite"]) == 0
    assert "2 train, 1 test triples (AB pairs" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(tf.PAIRED_SUBDIRS), "no stale trainA/trainB"
