"""Tests for datasets/make_toyfaces.py (small counts, tiny images: runs in a few seconds)."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from util.faces.align import angle_degrees, ffhq_quad, quad_mask, quad_side
from util.masks import MaskRenderer

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


def _landmarks(out: Path) -> dict:
    return json.loads((out / tf.LANDMARKS_FILE).read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "toyfaces"
    counts = _generate(out)
    assert counts == {"trainA": N_TRAIN, "trainB": N_TRAIN, "testA": N_TEST, "testB": N_TEST, "testmask": N_TEST}
    return out


def _check_layout(out: Path, expected: dict[str, int], wide: tuple[str, ...] = ()) -> None:
    """Exactly the ``expected`` sub-folders with their counts of NNNNN.png (and the landmarks file);
    AB images in ``wide``."""
    assert sorted(p.name for p in out.iterdir()) == sorted([*expected, tf.LANDMARKS_FILE])
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
    meta = _landmarks(out)
    assert [e["image"]["file_path"] for e in meta.values()] == ["trainA/00000.png", "testA/00000.png"]
    toy = tf.sample_toyface(tf.face_rng(3, tf.STREAM_TRAIN_A, 0))  # the new run's face, not the old one's
    # the file holds dlib's convention (pixel centres at integers), as FFHQ's does
    assert np.allclose(meta["0"]["image"]["face_landmarks"], tf.landmarks_of(toy, SIZE) - 0.5, atol=0.006)


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
    assert sorted(p.name for p in out.iterdir()) == sorted([*tf.PAIRED_SUBDIRS, tf.LANDMARKS_FILE]), \
        "no stale trainA/trainB"
    assert [e["image"]["file_path"] for e in _landmarks(out).values()] == ["testA/00000.png"]


# ----------------------------------------------------------------------------- landmarks.json
# The pixel checks below look at the written images only: skin colour and pose come from the
# sampled parameters, where the features are is measured on the pixels.
BIG = 256  # large enough that a pixel is a small error


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    # trainA 0-2 and testA 0-3 hold every nose style and every mouth style, dark and light skin, glasses
    out = tmp_path_factory.mktemp("toy") / "toyfaces256"
    _generate(out, size=BIG, n_train=3, n_test=4)
    return out


def _big_faces(out: Path):
    """(toy parameters, image as float RGB, its 68 x 2 landmarks) of every unmasked face in ``out``."""
    for entry in _landmarks(out).values():
        path = entry["image"]["file_path"]
        stream = tf.STREAM_TRAIN_A if path.startswith("trainA") else tf.STREAM_TEST
        toy = tf.sample_toyface(tf.face_rng(0, stream, int(path[-9:-4])))
        marks = np.array(entry["image"]["face_landmarks"]) + 0.5  # the file's dlib convention -> centres at +0.5
        yield toy, _arr(out / path).astype(float), marks


def _at(img: np.ndarray, p) -> np.ndarray:
    """The pixel that contains point p (pixel (i, j) spans [i, i + 1) x [j, j + 1))."""
    return img[int(math.floor(p[1])), int(math.floor(p[0]))]


def _blob(img: np.ndarray, skin, seed, tol: float) -> np.ndarray:
    """(x, y) centres of the pixels of the region unlike skin by more than tol that most of the pixels
    within 2 px of ``seed`` belong to (a thin dark line can come close to a dark skin)."""
    unlike = (np.linalg.norm(img - np.asarray(skin, float), axis=-1) > tol).astype(np.uint8)
    labels = cv2.connectedComponents(unlike, connectivity=4)[1]
    x, y = int(math.floor(seed[0])), int(math.floor(seed[1]))
    near = labels[y - 2:y + 3, x - 2:x + 3]
    assert near.any(), f"no feature at {seed}"
    label = np.bincount(near[near > 0]).argmax()
    ys, xs = np.nonzero(labels == label)
    return np.column_stack([xs, ys]) + 0.5


def _frame(a, b):
    """Unit vectors along a -> b and at right angles to it (pointing down the face)."""
    u = (np.asarray(b, float) - a) / np.hypot(*(np.asarray(b, float) - a))
    return u, np.array([-u[1], u[0]])


def test_landmarks_file_has_ffhq_layout(data: Path, paired: Path) -> None:
    for out, folders in ((data, ("trainA", "testA")), (paired, ("testA",))):
        meta = _landmarks(out)
        names = [f"{sub}/{i:05d}.png" for sub in folders for i in range(N_TRAIN if sub == "trainA" else N_TEST)]
        assert list(meta) == [str(i) for i in range(len(names))]
        assert [e["image"]["file_path"] for e in meta.values()] == names  # trainA first, in name order
        for entry in meta.values():
            assert set(entry) == {"category", "image"}
            image = entry["image"]
            assert entry["category"] == ("training" if image["file_path"].startswith("trainA/") else "validation")
            assert set(image) == {"file_path", "pixel_size", "face_landmarks"}
            with Image.open(out / image["file_path"]) as im:
                assert image["pixel_size"] == list(im.size)
            points = image["face_landmarks"]
            assert len(points) == 68 and all(len(p) == 2 for p in points)
            assert all(isinstance(v, float) and round(v, 2) == v for p in points for v in p)
            assert all(0 <= v <= SIZE for p in points for v in p)
    assert not list(data.glob(".*.tmp")), "the temporary file is renamed into place"


def test_eye_landmarks_span_the_drawn_eyes(big: Path) -> None:
    measured = 0
    for toy, img, lm in _big_faces(big):
        for eye in (lm[36:42], lm[42:48]):
            centre = eye.mean(axis=0)
            assert np.linalg.norm(_at(img, centre)) < 120, "the eye's centre is on its dark iris and pupil"
            if toy.face.glasses is not None:
                continue  # the frame's anti-aliased rim can join it to the eye: no clean outline to measure
            blob = _blob(img, toy.face.skin, centre, tol=25)
            u, v = _frame(eye[0], eye[3])
            along, across = blob @ u, blob @ v
            assert abs(along.min() - eye[0] @ u) < 1.5 and abs(along.max() - eye[3] @ u) < 1.5, "corners"
            # the lid points are a third of the way in from the corners, so the eye reaches a little
            # beyond them (and the upper lid's dark stroke a pixel more)
            assert -2.5 < across.min() - min(eye[1] @ v, eye[2] @ v) < 0.5, "upper lid"
            assert -0.5 < across.max() - max(eye[4] @ v, eye[5] @ v) < 2.5, "lower lid"
            measured += 1
    assert measured >= 6


def test_jaw_landmarks_lie_on_the_head_outline(big: Path) -> None:
    for toy, img, lm in _big_faces(big):
        skin = np.asarray(toy.face.skin, float)
        tol = 0.08 * np.linalg.norm(skin)  # the outline is drawn 20% darker than the skin
        centre = lm.mean(axis=0)
        for k in range(2, 15):  # 0, 1, 15 and 16 may lie under hair or a glasses arm
            t = lm[k + 1] - lm[k - 1]
            n = np.array([t[1], -t[0]]) / np.hypot(*t)
            n *= np.sign((lm[k] - centre) @ n)  # outwards
            assert np.linalg.norm(_at(img, lm[k] - 3 * n) - skin) < tol, f"point {k}: skin inside"
            steps = np.arange(-3, 3.01, 0.25)
            edge = next(s for s in steps if np.linalg.norm(_at(img, lm[k] + s * n) - skin) > tol)
            assert -1.5 <= edge <= 1.0, f"point {k}: the skin ends {edge} px from it"


def test_mouth_landmarks_span_the_drawn_mouth(big: Path) -> None:
    styles = set()
    for toy, img, lm in _big_faces(big):
        styles.add(toy.face.mouth_style)
        blob = _blob(img, toy.face.skin, (lm[62] + lm[66]) / 2, tol=10)
        u, v = _frame(lm[48], lm[54])
        along, across = blob @ u, blob @ v
        assert abs(along.min() - lm[48] @ u) < 2 and abs(along.max() - lm[54] @ u) < 2, "mouth corners"
        middle = across[np.abs(along - (lm[51] + lm[57]) @ u / 2) < 1]
        assert abs(middle.min() - lm[51] @ v) < 2 and abs(middle.max() - lm[57] @ v) < 2, "top and bottom"
        for k in range(48, 68):
            near = img[int(lm[k][1]) - 2:int(lm[k][1]) + 3, int(lm[k][0]) - 2:int(lm[k][0]) + 3]
            assert (np.linalg.norm(near - toy.face.skin, axis=-1) > 10).any(), f"point {k} is off the mouth"
    assert styles == {"smile", "lips", "open"}


def test_nose_and_brow_landmarks_sit_on_drawn_marks(big: Path) -> None:
    on_dark_mark = {"line": [33], "button": [32, 34], "wedge": [31, 32, 33, 34, 35]}  # where each style draws
    for toy, img, lm in _big_faces(big):
        lum = img @ [0.299, 0.587, 0.114]
        dark = 0.85 * float(np.dot(toy.face.skin, [0.299, 0.587, 0.114]))
        for k in on_dark_mark[toy.face.nose_style]:
            x, y = int(lm[k][0]), int(lm[k][1])
            assert lum[y - 1:y + 2, x - 1:x + 2].min() < dark, f"{toy.face.nose_style} nose: point {k}"
        assert lm[27][1] < lm[30][1] < lm[33][1] < lm[51][1], "bridge, tip, base, mouth from the top down"
        # Brow points are on the brow's upper edge, so the brow is right below them. (Brows in a hair
        # colour that, 30% darker, matches the skin cannot be seen; these faces' brows all stand out.)
        _, down = _frame(lm[36], lm[45])
        for k in (18, 19, 20, 23, 24, 25):
            assert np.linalg.norm(_at(img, lm[k] + 1.5 * down) - toy.face.skin) > 20, f"brow point {k}"


def test_landmarks_turn_with_the_pose(big: Path) -> None:
    toy = tf.sample_toyface(tf.face_rng(0, tf.STREAM_TEST, 1))
    toy = dataclasses.replace(toy, pose=dataclasses.replace(toy.pose, angle=25.0))
    img = np.asarray(tf.render_face(toy, BIG, False)).astype(float)
    lm = tf.landmarks_of(toy, BIG)
    eyes = [lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)]
    measured = [_blob(img, toy.face.skin, e, tol=25).mean(axis=0) for e in eyes]  # the eyes as drawn
    for e, m in zip(eyes, measured):
        assert np.hypot(*(e - m)) < 2
    for a, b in ((eyes[0], eyes[1]), (measured[0], measured[1]), (lm[0], lm[16]), (lm[48], lm[54])):
        assert math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) == pytest.approx(25.0, abs=2)
    # and the written faces, posed at a few degrees either way
    for toy, _, lm in _big_faces(big):
        eye_line = lm[42:48].mean(axis=0) - lm[36:42].mean(axis=0)
        assert math.degrees(math.atan2(eye_line[1], eye_line[0])) == pytest.approx(toy.pose.angle, abs=0.5)


def test_ffhq_alignment_frames_the_toy_head(big: Path) -> None:
    for toy, img, lm in _big_faces(big):
        quad = ffhq_quad(lm)
        half = toy.pose.scale * BIG  # the head's half-height in pixels
        head_centre = np.array([toy.pose.cx, toy.pose.cy]) * BIG
        # FFHQ centres a little above the middle of the head (between the eyes and the mouth)
        assert np.hypot(*(quad.mean(axis=0) - head_centre)) < 0.2 * half
        assert 2.1 * half < quad_side(quad) < 3.4 * half
        assert angle_degrees(quad) == pytest.approx(toy.pose.angle, abs=1)
        inside = quad_mask(quad, BIG, BIG)
        head = tf.Placement(toy.pose, BIG).pts(tf.outline_points(toy.face, 0, 2 * math.pi))
        assert all(inside[int(y), int(x)] for x, y in head), "the whole head is in the crop"


def test_mask_renderer_puts_a_mask_on_the_toy_landmarks(big: Path) -> None:
    for toy, img, lm in list(_big_faces(big))[:2]:
        opacity = MaskRenderer().render(img.astype(np.uint8), lm, key="x").opacity
        assert _at(opacity, lm[30]) > 200, "the nose tip is covered"
        assert _at(opacity, lm[48:68].mean(axis=0)) > 200, "the mouth is covered"
        for eye in (lm[36:42], lm[42:48]):
            assert _at(opacity, eye.mean(axis=0)) == 0, "the eyes are not"
