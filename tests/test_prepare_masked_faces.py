"""Tests for datasets/prepare_masked_faces.py on tiny FFHQ / MaskedFace-Net look-alike trees.

Every source image of FFHQ index ``i`` is filled with one base colour ``_colour(i)`` (plus a little
noise); the MaskedFace-Net images of the same index have the same base colour with a white "mask"
painted over their bottom quarter. Comparing the mean colour of the top half of an output with the
base colours therefore tells, independently of the code under test, which index it came from.
"""
from __future__ import annotations

import csv
import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from util.errors import run_cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "datasets" / "prepare_masked_faces.py"
PROG = "prepare_masked_faces.py"
SIZE = 32
SRC = 64
N_TRAIN, N_TEST = 6, 4
FOLDERS = ("trainA", "trainB", "testA", "testB")
HEADER = ["output", "source", "ffhq_index", "domain", "split", "sha256"]


def _load_module():
    try:
        return importlib.import_module("datasets.prepare_masked_faces")
    except Exception:  # datasets/ is a folder of scripts: load the file directly
        spec = importlib.util.spec_from_file_location("prepare_masked_faces", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


pmf = _load_module()


# --------------------------------------------------------------------------------------------- #
# fixture trees
# --------------------------------------------------------------------------------------------- #
FFHQ_INDICES = list(range(0, 24)) + list(range(1000, 1012))
CORRUPT_FFHQ = 7      # 00007.png is random bytes
ZERO_BYTE_CMFD = 8    # 00008_Mask.jpg is empty
NO_CMFD = {3, 15, 1004}
IMFD = {3: "Mask_Chin", 15: "Mask_Mouth_Chin", 1004: "Mask_Nose_Mouth", 5: "Mask_Chin"}
STRAY = {"notes.txt", "123.png", "face.png", "readme.txt"}
IMFD_RE = re.compile(r"^\d{5}_mask_(mouth_chin|chin|nose_mouth)\.jpg$", re.I)
CMFD_RE = re.compile(r"^\d{5}_mask\.jpg$", re.I)


def _colour(index: int) -> np.ndarray:
    """A distinct base colour per index (4 x 3 x 3 grid, >= 55 apart on some channel)."""
    k = sorted(FFHQ_INDICES).index(index)
    r, g, b = (40, 100, 160, 215)[k % 4], (40, 127, 215)[(k // 4) % 3], (40, 127, 215)[(k // 12) % 3]
    return np.array([r, g, b], dtype=np.float64)


def _face(index: int, masked: bool, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = _colour(index)[None, None, :] + rng.integers(-15, 16, (SRC, SRC, 3))
    if masked:
        arr[SRC * 3 // 4:, :, :] = 245  # the "mask"
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def make_ffhq(root: Path) -> Path:
    for i in FFHQ_INDICES:
        folder = root / "images1024x1024" / f"{i // 1000 * 1000:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        if i == CORRUPT_FFHQ:
            (folder / f"{i:05d}.png").write_bytes(np.random.default_rng(7).bytes(500))
            continue
        name = f"{i:05d}.PNG" if i == 1011 else f"{i:05d}.png"  # case-insensitive naming
        _face(i, False, seed=i).save(folder / name)
    (root / "notes.txt").write_text("not an image\n")
    _face(0, False, seed=99).save(root / "images1024x1024" / "123.png")
    return root


def make_mfn(root: Path) -> Path:
    for i in FFHQ_INDICES:
        sub = f"{i // 1000 * 1000:05d}"
        if i not in NO_CMFD:
            folder = root / "CMFD" / sub
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{i:05d}_mask.JPG" if i == 1010 else f"{i:05d}_Mask.jpg"
            if i == ZERO_BYTE_CMFD:
                (folder / name).write_bytes(b"")
            else:
                _face(i, True, seed=10_000 + i).save(folder / name, quality=95)
        if i in IMFD:
            folder = root / "IMFD" / sub
            folder.mkdir(parents=True, exist_ok=True)
            _face(i, True, seed=20_000 + i).save(folder / f"{i:05d}_{IMFD[i]}.jpg", quality=95)
    (root / "readme.txt").write_text("hello\n")
    _face(1, True, seed=98).save(root / "CMFD" / "face.png")
    return root


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("src")
    return make_ffhq(base / "ffhq"), make_mfn(base / "maskedfacenet")


def _argv(trees, out: Path, *extra: str, n_train=N_TRAIN, n_test=N_TEST, seed=0, workers=1,
          detector="none") -> list[str]:
    ffhq, mfn = trees
    return ["--ffhq", str(ffhq), "--maskedfacenet", str(mfn), "--out", str(out),
            "--n_train", str(n_train), "--n_test", str(n_test), "--size", str(SIZE),
            "--seed", str(seed), "--workers", str(workers), "--detector", detector, *extra]


def _run(argv: list[str]) -> int:
    return run_cli(pmf.main, argv, PROG)


def _manifest(out: Path, paired: bool = False) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == HEADER + (["source_b"] if paired else [])
        return [dict(zip(header, row)) for row in reader]


def _image_files(out: Path, folders=FOLDERS + ("testmask",)) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for f in folders if (out / f).is_dir()
                  for p in (out / f).iterdir() if p.is_file())


def _indices(out: Path, folder: str) -> set[int]:
    return {int(p.stem) for p in (out / folder).iterdir()} if (out / folder).is_dir() else set()


def _snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


def _top_mean(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float64)
    return arr[: arr.shape[0] // 2].reshape(-1, 3).mean(axis=0)


def _nearest_index(colour: np.ndarray) -> int:
    return min(FFHQ_INDICES, key=lambda i: float(np.linalg.norm(_colour(i) - colour)))


def _split_of(out: Path) -> dict[str, set[int]]:
    return {f: _indices(out, f) for f in FOLDERS}


@pytest.fixture(scope="module")
def run_png(trees, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("png") / "out"
    assert _run(_argv(trees, out)) == 0
    return out


# --------------------------------------------------------------------------------------------- #
# layout, split, pairing
# --------------------------------------------------------------------------------------------- #
def test_counts_per_folder(run_png: Path) -> None:
    expected = {"trainA": N_TRAIN, "trainB": N_TRAIN, "testA": N_TEST, "testB": N_TEST}
    for folder, n in expected.items():
        assert len(list((run_png / folder).iterdir())) == n, folder
    assert not (run_png / "testmask").exists() or not list((run_png / "testmask").iterdir())
    summary = json.loads((run_png / "summary.json").read_text())
    assert summary["counts"] == {**expected, "testmask": 0}
    assert (run_png / "summary.txt").read_text().strip()


def test_splits_are_disjoint(run_png: Path) -> None:
    s = _split_of(run_png)
    test = s["testA"]
    assert not s["trainA"] & s["trainB"]
    assert not test & s["trainA"]
    assert not test & s["trainB"]
    # corrupt sources are never used: 7 has no readable FFHQ image, 8 no readable CMFD image
    assert CORRUPT_FFHQ not in s["trainA"] | test
    assert ZERO_BYTE_CMFD not in s["trainB"] | test


def test_output_names_keep_the_ffhq_index(run_png: Path) -> None:
    for folder in FOLDERS:
        for p in (run_png / folder).iterdir():
            assert re.fullmatch(r"\d{5}\.png", p.name), p
            # the picture really comes from that index (base colour of the source)
            assert _nearest_index(_top_mean(p)) == int(p.stem), p


def test_test_pairs_are_the_same_face(run_png: Path) -> None:
    names_a = sorted(p.name for p in (run_png / "testA").iterdir())
    names_b = sorted(p.name for p in (run_png / "testB").iterdir())
    assert names_a == names_b and len(names_a) == N_TEST
    means_a = {n: _top_mean(run_png / "testA" / n) for n in names_a}
    for n in names_b:
        mb = _top_mean(run_png / "testB" / n)
        closest = min(names_a, key=lambda m: float(np.linalg.norm(means_a[m] - mb)))
        assert closest == n
    # testB is the masked one: its bottom rows are the white mask, testA's are not
    for n in names_a:
        with Image.open(run_png / "testB" / n) as b, Image.open(run_png / "testA" / n) as a:
            bottom_b = np.asarray(b.convert("RGB"), dtype=float)[-3:].mean()
            bottom_a = np.asarray(a.convert("RGB"), dtype=float)[-3:].mean()
        assert bottom_b > 230 and abs(bottom_a - _colour(int(n[:5])).mean()) < 20


def test_png_format_size_mode(run_png: Path) -> None:
    for folder in FOLDERS:
        for p in (run_png / folder).iterdir():
            assert p.suffix == ".png"
            with Image.open(p) as im:
                assert im.format == "PNG" and im.size == (SIZE, SIZE) and im.mode == "RGB", p


def test_jpg_format_size_mode(trees, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(_argv(trees, out, "--format", "jpg")) == 0
    files = _image_files(out, FOLDERS)
    assert len(files) == 2 * N_TRAIN + 2 * N_TEST
    for rel in files:
        assert re.fullmatch(r"(trainA|trainB|testA|testB)/\d{5}\.jpg", rel), rel
        with Image.open(out / rel) as im:
            assert im.format == "JPEG" and im.size == (SIZE, SIZE) and im.mode == "RGB", rel
    assert {r["output"] for r in _manifest(out)} == set(files)


# --------------------------------------------------------------------------------------------- #
# manifest and summary
# --------------------------------------------------------------------------------------------- #
def test_manifest_rows_and_sha256(run_png: Path, trees) -> None:
    ffhq, mfn = (t.resolve() for t in trees)
    rows = _manifest(run_png)
    assert sorted(r["output"] for r in rows) == _image_files(run_png)
    assert len(rows) == len({r["output"] for r in rows})
    for r in rows:
        out_file = run_png / r["output"]
        assert r["sha256"] == hashlib.sha256(out_file.read_bytes()).hexdigest(), r
        folder, name = r["output"].split("/")
        index = int(r["ffhq_index"])
        assert r["ffhq_index"] == str(index) and index == int(Path(name).stem)
        assert r["domain"] == {"trainA": "A", "testA": "A", "trainB": "B", "testB": "B"}[folder]
        assert r["split"] == ("train" if folder.startswith("train") else "test")
        source = Path(r["source"])
        assert source.is_file(), r
        assert int(source.name[:5]) == index
        root = ffhq if r["domain"] == "A" else mfn
        assert root in source.resolve().parents, r


def test_default_uses_cmfd_only(run_png: Path) -> None:
    b_rows = [r for r in _manifest(run_png) if r["domain"] == "B"]
    assert len(b_rows) == N_TRAIN + N_TEST
    for r in b_rows:
        name = Path(r["source"]).name
        assert CMFD_RE.match(name) and not IMFD_RE.match(name), r
        assert "IMFD" not in Path(r["source"]).parts


def test_summary_unmatched_and_corrupt_never_used(run_png: Path, trees) -> None:
    ffhq, mfn = trees
    summary = json.loads((run_png / "summary.json").read_text())
    unmatched = {Path(p).name for p in summary["unmatched"]}
    assert unmatched == STRAY  # upper-case 01011.PNG / 01010_mask.JPG follow the naming
    for p in summary["unmatched"]:
        assert Path(p).is_file()
    corrupt = (ffhq / "images1024x1024" / "00000" / "00007.png").resolve()
    empty = (mfn / "CMFD" / "00000" / "00008_Mask.jpg").resolve()
    sources = {Path(r["source"]).resolve() for r in _manifest(run_png)}
    assert corrupt not in sources and empty not in sources
    assert not any(p.name in STRAY for p in sources)
    for s in summary["skipped"]:
        assert set(s) >= {"path", "reason"} and s["reason"]


def test_corrupt_sources_are_skipped_not_fatal(tmp_path: Path) -> None:
    """4 test pairs out of 6 shared indices, two of them broken: both broken files must be looked at."""
    ffhq, mfn = tmp_path / "ffhq", tmp_path / "mfn"
    ffhq.mkdir()
    mfn.mkdir()
    for i in range(7):
        if i == 3:
            (ffhq / "00003.png").write_bytes(np.random.default_rng(3).bytes(300))
        else:
            _face(i, False, seed=i).save(ffhq / f"{i:05d}.png")
    for i in list(range(6)) + [7]:
        if i == 4:
            (mfn / "00004_Mask.jpg").write_bytes(b"")
        else:
            _face(i, True, seed=50 + i).save(mfn / f"{i:05d}_Mask.jpg")
    out = tmp_path / "out"
    assert _run(["--ffhq", str(ffhq), "--maskedfacenet", str(mfn), "--out", str(out), "--n_train", "1",
                 "--n_test", "4", "--size", str(SIZE), "--workers", "1", "--detector", "none"]) == 0
    s = _split_of(out)
    assert s["testA"] == s["testB"] == {0, 1, 2, 5}
    assert s["trainA"] == {6} and s["trainB"] == {7}
    summary = json.loads((out / "summary.json").read_text())
    skipped = {Path(x["path"]).resolve(): x["reason"] for x in summary["skipped"]}
    assert skipped.get((ffhq / "00003.png").resolve())
    assert skipped.get((mfn / "00004_Mask.jpg").resolve())
    assert summary["counts"] == {"trainA": 1, "trainB": 1, "testA": 4, "testB": 4, "testmask": 0}


def test_include_imfd_flat_folders(tmp_path: Path, capsys) -> None:
    """Flat folders; only 5 CMFD images for 10 FFHQ faces: 3 test + 3 trainB need IMFD images."""
    ffhq, mfn = tmp_path / "ffhq", tmp_path / "mfn"
    ffhq.mkdir()
    mfn.mkdir()
    kinds = ["Mask_Chin", "Mask_Mouth_Chin", "Mask_Nose_Mouth"]
    for i in range(10):
        _face(i, False, seed=i).save(ffhq / f"{i:05d}.png")
        if i < 5:
            _face(i, True, seed=100 + i).save(mfn / f"{i:05d}_Mask.jpg")
        if i >= 5 or i == 0:
            _face(i, True, seed=200 + i).save(mfn / f"{i:05d}_{kinds[i % 3]}.jpg")
    args = ["--ffhq", str(ffhq), "--maskedfacenet", str(mfn), "--n_train", "3", "--n_test", "3",
            "--size", str(SIZE), "--workers", "1", "--detector", "none"]
    # CMFD only: 6 B images are needed, only 5 exist
    out_cmfd = tmp_path / "out_cmfd"
    assert _run(args + ["--out", str(out_cmfd)]) == 2
    capsys.readouterr()
    out = tmp_path / "out"
    assert _run(args + ["--out", str(out), "--include_imfd"]) == 0, capsys.readouterr().err
    b_rows = [r for r in _manifest(out) if r["domain"] == "B"]
    assert len(b_rows) == 6
    imfd_rows = [r for r in b_rows if IMFD_RE.match(Path(r["source"]).name)]
    assert imfd_rows, "with --include_imfd some B image must come from an IMFD file"
    for r in b_rows:
        if int(r["ffhq_index"]) < 5:  # an index with a CMFD image keeps using it
            assert CMFD_RE.match(Path(r["source"]).name), r
    for r in imfd_rows:
        assert int(Path(r["source"]).name[:5]) == int(r["ffhq_index"])
    assert sorted(p.name for p in (out / "testA").iterdir()) == sorted(p.name for p in (out / "testB").iterdir())


# --------------------------------------------------------------------------------------------- #
# re-runs
# --------------------------------------------------------------------------------------------- #
@pytest.fixture
def fresh(trees, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    assert _run(_argv(trees, out)) == 0
    return out


def test_rerun_writes_nothing(trees, fresh: Path) -> None:
    before = _snapshot(fresh)
    assert _run(_argv(trees, fresh)) == 0
    after = _snapshot(fresh)
    assert sorted(after) == sorted(before)
    for rel, (data, mtime) in before.items():
        assert after[rel][0] == data, rel
        if rel.split("/")[0] in FOLDERS:
            assert after[rel][1] == mtime, f"{rel} was rewritten"


def test_interrupted_run_is_completed(trees, fresh: Path) -> None:
    rows = _manifest(fresh)
    before = _snapshot(fresh)
    victims = [sorted((fresh / "trainA").iterdir())[0], sorted((fresh / "testB").iterdir())[-1]]
    for v in victims:
        v.unlink()
    assert _run(_argv(trees, fresh)) == 0
    after = _snapshot(fresh)
    assert sorted(after) == sorted(before)
    names = {v.relative_to(fresh).as_posix() for v in victims}
    for rel, (data, mtime) in before.items():
        if Path(rel).name.startswith("."):
            continue  # the script's own bookkeeping may change
        assert after[rel][0] == data, rel  # recreated bytes identical, manifest/summary identical
        if rel.split("/")[0] in FOLDERS and rel not in names:
            assert after[rel][1] == mtime, f"{rel} was rewritten"
    assert sorted(map(tuple, (r.values() for r in _manifest(fresh)))) == sorted(map(tuple, (r.values() for r in rows)))


def test_overwrite_redoes_everything(trees, fresh: Path) -> None:
    before = _snapshot(fresh)
    old = 1_000_000_000
    for rel in before:
        os.utime(fresh / rel, (old, old))
    assert _run(_argv(trees, fresh, "--overwrite")) == 0
    after = _snapshot(fresh)
    for rel, (data, _) in before.items():
        if rel.split("/")[0] in FOLDERS:
            assert after[rel][0] == data, rel
            assert after[rel][1] != old * 10**9, f"{rel} was not redone"


def test_overwrite_with_other_seed_leaves_no_stale_files(trees, fresh: Path) -> None:
    split0 = _split_of(fresh)
    assert _run(_argv(trees, fresh, "--overwrite", seed=1)) == 0
    assert _split_of(fresh) != split0
    assert _image_files(fresh) == sorted(r["output"] for r in _manifest(fresh))
    for folder, n in {"trainA": N_TRAIN, "trainB": N_TRAIN, "testA": N_TEST, "testB": N_TEST}.items():
        assert len(list((fresh / folder).iterdir())) == n, folder


def test_rerun_with_other_args_is_refused(trees, fresh: Path, capsys) -> None:
    before = _snapshot(fresh)
    capsys.readouterr()
    assert _run(_argv(trees, fresh, seed=1)) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error:"), err
    assert "--overwrite" in lines[0]
    assert _snapshot(fresh) == before


# --------------------------------------------------------------------------------------------- #
# face detector
# --------------------------------------------------------------------------------------------- #
def test_detector_haar_uses_count_faces(trees, tmp_path: Path, monkeypatch) -> None:
    """Even indices pass, except the B image of 2 and the A image of 4; odd ones see 0 or 2 faces."""
    ffhq, mfn = trees
    calls = []

    def fake(path) -> int:
        name = Path(path).name
        calls.append(name)
        if not re.match(r"\d{5}", name):
            return 0
        i = int(name[:5])
        is_b = "_mask" in name.lower()
        if i % 2:
            return 0 if i % 4 == 1 else 2
        if (i == 2 and is_b) or (i == 4 and not is_b):
            return 0
        return 1

    monkeypatch.setattr(pmf, "count_faces", fake)
    out = tmp_path / "out"
    assert _run(_argv(trees, out, n_train=4, n_test=3, detector="haar")) == 0
    assert calls
    s = _split_of(out)
    everything = set().union(*s.values())
    assert everything and all(i % 2 == 0 for i in everything), everything
    assert 2 not in s["trainB"] | s["testA"]          # its B image was rejected
    assert 4 not in s["trainA"] | s["testA"]          # its A image was rejected
    assert s["testA"] == s["testB"] and len(s["testA"]) == 3
    rows = _manifest(out)
    assert all(int(r["ffhq_index"]) % 2 == 0 for r in rows)
    # every image the detector rejected is listed in skipped, with a reason
    summary = json.loads((out / "summary.json").read_text())
    rejected = {Path(s["path"]).name for s in summary["skipped"] if s["reason"]}
    seen = list(calls)
    refused = {name for name in seen if fake(name) != 1}
    assert refused and refused <= rejected, refused - rejected


def test_detector_none_never_calls_count_faces(trees, tmp_path: Path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(pmf, "count_faces", lambda path: calls.append(path) or 1)
    assert _run(_argv(trees, tmp_path / "out", detector="none")) == 0
    assert calls == []
    s = _split_of(tmp_path / "out")
    assert any(i % 2 for i in set().union(*s.values()))  # nothing was filtered


def test_real_count_faces_on_blank_image(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("RGB", (96, 96), (128, 128, 128)).save(path)
    assert pmf.count_faces(str(path)) == 0


# --------------------------------------------------------------------------------------------- #
# landmark mask
# --------------------------------------------------------------------------------------------- #
def _landmarks() -> list[list[float]]:
    pts = []
    for k in range(17):  # jaw: U from (200,400) down to (512,900) up to (824,400)
        t = math.pi - math.pi * k / 16
        pts.append([512 + 312 * math.cos(t), 400 + 500 * math.sin(t)])
    pts += [[260 + 50 * k, 330 + (k % 2) * 5] for k in range(5)]           # 17-21 eyebrow
    pts += [[564 + 50 * k, 330 + (k % 2) * 5] for k in range(5)]           # 22-26 eyebrow
    pts += [[512, 400 + 160 * k / 3] for k in range(4)]                    # 27-30 nose bridge
    pts += [[462 + 25 * k, 600 + (10 if k == 2 else 0)] for k in range(5)]  # 31-35 nose base
    for cx in (360, 664):                                                  # 36-47 eyes
        pts += [[cx - 40, 420], [cx - 20, 415], [cx + 20, 415], [cx + 40, 420], [cx + 20, 425], [cx - 20, 425]]
    for k in range(12):                                                    # 48-59 outer lip
        a = 2 * math.pi * k / 12
        pts.append([512 - 90 * math.cos(a), 720 - 40 * math.sin(a)])
    for k in range(8):                                                     # 60-67 inner lip
        a = 2 * math.pi * k / 8
        pts.append([512 - 60 * math.cos(a), 720 - 15 * math.sin(a)])
    assert len(pts) == 68
    return pts


def _check_mask(im: Image.Image, size: int, lm) -> None:
    assert im.mode == "L" and im.size == (size, size)
    arr = np.asarray(im)
    s = size / 1024
    lm = np.asarray(lm, dtype=float)
    ys, xs = np.nonzero(arr)
    assert len(ys) > 0
    eye_top = lm[36:48, 1].min() * s
    box = np.concatenate([lm[0:17], lm[27:36]]) * s
    assert ys.min() >= eye_top - 1, (ys.min(), eye_top)
    assert xs.min() >= box[:, 0].min() - 1 and xs.max() <= box[:, 0].max() + 1
    assert ys.min() >= box[:, 1].min() - 1 and ys.max() <= box[:, 1].max() + 1
    mx, my = lm[48:68].mean(axis=0) * s
    assert arr[int(my), int(mx)] == 255
    assert arr[1, size // 2] == 0 and arr[0, 0] == 0


@pytest.mark.parametrize("size", [256, 64])
def test_landmark_mask(size: int) -> None:
    lm = _landmarks()
    im = pmf.landmark_mask(lm, size, source_size=1024)
    _check_mask(im, size, lm)
    # the nose tip and the chin are covered too; the eyes are not
    arr = np.asarray(im)
    s = size / 1024
    assert arr[int(640 * s), int(512 * s)] == 255  # between nose base and mouth
    assert arr[int(420 * s), int(360 * s)] == 0    # left eye


def test_testmask_from_ffhq_json(trees, tmp_path: Path) -> None:
    meta = {str(i): {"image": {"face_landmarks": _landmarks()}} for i in FFHQ_INDICES}
    js = tmp_path / "ffhq-dataset-v2.json"
    js.write_text(json.dumps(meta))
    out = tmp_path / "out"
    assert _run(_argv(trees, out, "--ffhq_json", str(js))) == 0
    test_names = sorted(p.stem for p in (out / "testA").iterdir())
    assert sorted(p.name for p in (out / "testmask").iterdir()) == [f"{n}.png" for n in test_names]
    for n in test_names:
        with Image.open(out / "testmask" / f"{n}.png") as im:
            assert im.format == "PNG"
            _check_mask(im.copy(), SIZE, _landmarks())
    rows = [r for r in _manifest(out) if r["domain"] == "mask"]
    assert sorted(r["output"] for r in rows) == [f"testmask/{n}.png" for n in test_names]
    for r in rows:
        assert r["split"] == "test" and int(r["ffhq_index"]) == int(r["output"][9:14])
        assert r["sha256"] == hashlib.sha256((out / r["output"]).read_bytes()).hexdigest()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["testmask"] == N_TEST


# --------------------------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------------------------- #
@pytest.mark.parametrize("existing", [False, True])
def test_too_few_images_fails_before_writing(trees, tmp_path: Path, capsys, existing: bool) -> None:
    out = tmp_path / "out"
    if existing:
        out.mkdir()
    capsys.readouterr()
    assert _run(_argv(trees, out, n_train=30, n_test=4)) == 2
    err = capsys.readouterr().err
    errors = [l for l in err.splitlines() if l.startswith(f"{PROG}: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    if existing:
        assert list(out.iterdir()) == []
    else:
        assert not out.exists()


def test_too_many_test_pairs_fails(trees, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(_argv(trees, out, n_train=1, n_test=32)) == 2  # only 31 indices have both images
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--ffhq", "--maskedfacenet"])
def test_missing_folder(trees, tmp_path: Path, capsys, flag: str) -> None:
    argv = _argv(trees, tmp_path / "out")
    argv[argv.index(flag) + 1] = str(tmp_path / "does_not_exist")
    capsys.readouterr()
    assert _run(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error:") and flag in lines[0], lines
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_missing_folder_command_line(trees, tmp_path: Path) -> None:
    argv = _argv(trees, tmp_path / "out")
    argv[argv.index("--ffhq") + 1] = str(tmp_path / "nope")
    proc = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ffhq" in lines[0] and "error" in lines[0], proc.stderr


# --------------------------------------------------------------------------------------------- #
# determinism
# --------------------------------------------------------------------------------------------- #
def _hashes(out: Path) -> dict[str, str]:
    return {r["output"]: r["sha256"] for r in _manifest(out)}


def test_workers_two_equals_workers_one(trees, run_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "out2"
    assert _run(_argv(trees, out, workers=2)) == 0
    assert _hashes(out) == _hashes(run_png)
    assert {p: hashlib.sha256((out / p).read_bytes()).hexdigest() for p in _image_files(out)} == _hashes(run_png)


def test_same_seed_same_split_other_seed_other_split(trees, run_png: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert _run(_argv(trees, again, seed=0)) == 0
    assert _split_of(again) == _split_of(run_png)
    assert _hashes(again) == _hashes(run_png)
    other = tmp_path / "other"
    assert _run(_argv(trees, other, seed=1)) == 0
    assert _split_of(other) != _split_of(run_png)


def test_ffhq_json_without_landmarks_fails_before_writing(trees, tmp_path: Path, capsys) -> None:
    js = tmp_path / "meta.json"
    js.write_text(json.dumps({"0": {"image": {}}}))  # no face_landmarks for any test index
    out = tmp_path / "out"
    assert _run(_argv(trees, out, "--ffhq_json", str(js))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "face_landmarks" in err
    assert not out.exists()


# --------------------------------------------------------------------------------------------- #
# --paired: AB images for pix2pix
# --------------------------------------------------------------------------------------------- #
PAIRED_FOLDERS = ("train", "test", "testA", "testB")


@pytest.fixture(scope="module")
def run_paired(trees, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("paired") / "out"
    assert _run(_argv(trees, out, "--paired")) == 0
    return out


@pytest.fixture(scope="module")
def ffhq_json(tmp_path_factory) -> Path:
    js = tmp_path_factory.mktemp("meta") / "ffhq-dataset-v2.json"
    js.write_text(json.dumps({str(i): {"image": {"face_landmarks": _landmarks()}} for i in FFHQ_INDICES}))
    return js


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ab = _pixels(path)
    half = ab.shape[1] // 2
    return ab[:, :half], ab[:, half:]


def _lanczos(source: str) -> np.ndarray:
    """The documented rendering of one half: the source resized to SIZE with a Lanczos filter."""
    with Image.open(source) as im:
        return np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS), dtype=np.int16)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error:") and "Traceback" not in err, err
    return lines[0]


def test_paired_layout_and_sizes(run_paired: Path) -> None:
    assert sorted(p.name for p in run_paired.iterdir() if p.is_dir()) == sorted(PAIRED_FOLDERS)
    expected = {"train": N_TRAIN, "test": N_TEST, "testA": N_TEST, "testB": N_TEST}
    for folder, n in expected.items():
        files = sorted((run_paired / folder).iterdir())
        assert len(files) == n, folder
        for p in files:
            assert re.fullmatch(r"\d{5}\.png", p.name), p
            with Image.open(p) as im:
                side = (2 * SIZE, SIZE) if folder in ("train", "test") else (SIZE, SIZE)
                assert im.format == "PNG" and im.mode == "RGB" and im.size == side, p
    summary = json.loads((run_paired / "summary.json").read_text())
    assert summary["counts"] == {**expected, "testmask": 0}
    assert "train: 6" in (run_paired / "summary.txt").read_text()


def test_paired_test_halves_are_testA_and_testB(run_paired: Path) -> None:
    names = sorted(p.name for p in (run_paired / "test").iterdir())
    assert names == sorted(p.name for p in (run_paired / "testA").iterdir())
    for name in names:
        left, right = _halves(run_paired / "test" / name)
        assert np.array_equal(left, _pixels(run_paired / "testA" / name)), name
        assert np.array_equal(right, _pixels(run_paired / "testB" / name)), name


def test_paired_train_halves_are_the_same_face_unmasked_and_masked(run_paired: Path, run_png: Path) -> None:
    rows = {r["output"]: r for r in _manifest(run_paired, paired=True)}
    in_unpaired_train_a = 0
    for p in sorted((run_paired / "train").iterdir()):
        index = int(p.stem)
        left, right = _halves(p)
        for half in (left, right):  # both halves show the face of this index ...
            assert _nearest_index(half[: SIZE // 2].reshape(-1, 3).mean(axis=0)) == index, p
        assert right[-3:].mean() > 230 and abs(left[-3:].mean() - _colour(index).mean()) < 20  # ... B masked
        row = rows[f"train/{p.name}"]
        assert np.array_equal(left, _lanczos(row["source"])) and np.array_equal(right, _lanczos(row["source_b"]))
        if (run_png / "trainA" / p.name).is_file():  # the unpaired split's image of the same index
            assert np.array_equal(left, _pixels(run_png / "trainA" / p.name))
            in_unpaired_train_a += 1
    assert in_unpaired_train_a, "the fixture should give the two splits some training faces in common"


def test_paired_train_and_test_are_disjoint_and_usable(run_paired: Path) -> None:
    train, test = _indices(run_paired, "train"), _indices(run_paired, "test")
    assert len(train) == N_TRAIN and len(test) == N_TEST and not train & test
    assert test == _indices(run_paired, "testA") == _indices(run_paired, "testB")
    # a pair needs both images: never an index without a CMFD image or with a broken file
    assert not (train | test) & (NO_CMFD | {CORRUPT_FFHQ, ZERO_BYTE_CMFD})


@pytest.mark.parametrize("extra, seed", [((), 0), ((), 1), (("--include_imfd",), 0), (("--ffhq_json", "JSON"), 2)],
                         ids=["seed0", "seed1", "include_imfd", "ffhq_json"])
def test_paired_test_set_is_the_unpaired_one(trees, ffhq_json: Path, tmp_path: Path, extra, seed) -> None:
    """Same seed and arguments: the same test faces, and testA/testB/testmask byte for byte."""
    extra = [str(ffhq_json) if a == "JSON" else a for a in extra]
    unpaired, paired = tmp_path / "unpaired", tmp_path / "paired"
    assert _run(_argv(trees, unpaired, *extra, seed=seed)) == 0
    assert _run(_argv(trees, paired, "--paired", *extra, seed=seed)) == 0
    assert _indices(paired, "test") == _indices(unpaired, "testA")
    refs = ("testA", "testB", "testmask")
    assert _image_files(paired, refs) == _image_files(unpaired, refs)
    for rel in _image_files(unpaired, refs):
        assert (paired / rel).read_bytes() == (unpaired / rel).read_bytes(), rel
    assert not _indices(paired, "train") & _indices(unpaired, "testA")


def test_paired_include_imfd_pairs_an_index_with_its_imfd_image(trees, tmp_path: Path) -> None:
    """With IMFD, 32 indices are left after 4 test pairs, 30 usable: 30 training pairs take them all."""
    out = tmp_path / "out"
    assert _run(_argv(trees, out, "--paired", "--include_imfd", n_train=30, n_test=4)) == 0
    assert NO_CMFD <= _indices(out, "train") | _indices(out, "test")
    for r in _manifest(out, paired=True):
        if r["domain"] == "AB":
            name = Path(r["source_b"]).name
            assert int(name[:5]) == int(r["ffhq_index"])
            assert IMFD_RE.match(name) if int(r["ffhq_index"]) in NO_CMFD else CMFD_RE.match(name), r


def test_paired_manifest(run_paired: Path, trees) -> None:
    ffhq, mfn = (t.resolve() for t in trees)
    rows = _manifest(run_paired, paired=True)
    assert sorted(r["output"] for r in rows) == _image_files(run_paired, PAIRED_FOLDERS)
    for r in rows:
        assert r["sha256"] == hashlib.sha256((run_paired / r["output"]).read_bytes()).hexdigest(), r
        folder, name = r["output"].split("/")
        assert int(r["ffhq_index"]) == int(Path(name).stem)
        assert r["split"] == ("train" if folder == "train" else "test")
        assert r["domain"] == {"train": "AB", "test": "AB", "testA": "A", "testB": "B"}[folder]
        assert ffhq in Path(r["source"]).resolve().parents or r["domain"] == "B"
        if r["domain"] == "AB":
            assert mfn in Path(r["source_b"]).resolve().parents
            assert int(Path(r["source_b"]).name[:5]) == int(r["ffhq_index"])
        else:
            assert r["source_b"] == ""


def test_paired_jpg_halves_match_up_to_jpeg_error(trees, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(_argv(trees, out, "--paired", "--format", "jpg")) == 0
    for p in sorted((out / "test").iterdir()):
        assert p.suffix == ".jpg"
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.size == (2 * SIZE, SIZE)
        left, right = _halves(p)
        assert np.abs(left - _pixels(out / "testA" / p.name)).mean() < 3
        assert np.abs(right - _pixels(out / "testB" / p.name)).mean() < 3


@pytest.fixture
def fresh_paired(trees, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    assert _run(_argv(trees, out, "--paired")) == 0
    return out


def test_paired_rerun_writes_nothing(trees, fresh_paired: Path) -> None:
    before = _snapshot(fresh_paired)
    assert _run(_argv(trees, fresh_paired, "--paired")) == 0
    assert _snapshot(fresh_paired) == before


def test_paired_interrupted_run_is_completed(trees, fresh_paired: Path) -> None:
    before = _snapshot(fresh_paired)
    victims = {"train/" + sorted(p.name for p in (fresh_paired / "train").iterdir())[0],
               "testA/" + sorted(p.name for p in (fresh_paired / "testA").iterdir())[-1]}
    for rel in victims:
        (fresh_paired / rel).unlink()
    assert _run(_argv(trees, fresh_paired, "--paired")) == 0
    after = _snapshot(fresh_paired)
    assert sorted(after) == sorted(before)
    for rel, (data, mtime) in before.items():
        if not Path(rel).name.startswith("."):
            assert after[rel][0] == data, rel
        if rel.split("/")[0] in PAIRED_FOLDERS and rel not in victims:
            assert after[rel][1] == mtime, f"{rel} was rewritten"


def test_paired_overwrite_replaces_an_unpaired_split(trees, fresh: Path) -> None:
    assert _run(_argv(trees, fresh, "--paired", "--overwrite")) == 0
    assert sorted(p.name for p in fresh.iterdir() if p.is_dir()) == sorted(PAIRED_FOLDERS)
    assert _image_files(fresh, PAIRED_FOLDERS) == sorted(r["output"] for r in _manifest(fresh, paired=True))


@pytest.mark.parametrize("first, then", [((), ("--paired",)), (("--paired",), ())], ids=["unpaired", "paired"])
def test_out_holding_the_other_kind_is_refused(trees, tmp_path: Path, capsys, first, then) -> None:
    out = tmp_path / "out"
    assert _run(_argv(trees, out, *first)) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert _run(_argv(trees, out, *then)) == 2
    line = _error_line(capsys)
    assert ("holds an unpaired split" if not first else "holds a paired split") in line and "--overwrite" in line
    assert _snapshot(out) == before


def test_plan_from_before_paired_counts_as_unpaired(trees, fresh: Path, capsys) -> None:
    plan = json.loads((fresh / "plan.json").read_text())
    del plan["key"]["paired"]
    (fresh / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    before = _snapshot(fresh)
    assert _run(_argv(trees, fresh)) == 0
    assert _snapshot(fresh) == before
    capsys.readouterr()
    assert _run(_argv(trees, fresh, "--paired")) == 2
    assert "holds an unpaired split" in _error_line(capsys)


@pytest.mark.parametrize("n_train, n_test", [(28, 4), (1, 32)], ids=["train_pairs", "test_pairs"])
def test_paired_too_few_pairs_fails_before_writing(trees, tmp_path: Path, capsys, n_train, n_test) -> None:
    """29 indices are left after 4 test pairs, 7 and 8 have a broken image: 27 usable training pairs."""
    out = tmp_path / "out"
    capsys.readouterr()
    assert _run(_argv(trees, out, "--paired", n_train=n_train, n_test=n_test)) == 2
    assert "pairs" in _error_line(capsys)
    assert not out.exists()
    assert _run(_argv(trees, out, "--paired", n_train=27, n_test=4)) == 0


# --------------------------------------------------------------------------------------------- #
# indices of more than 5 digits
# --------------------------------------------------------------------------------------------- #
def test_indices_of_six_and_seven_digits_are_taken(tmp_path: Path) -> None:
    """A source of over 99,999 faces: 123456.png and 123456_Mask.jpg are index 123456, named 123456.png."""
    indices = [12345, 100000, 123456, 999999, 1000000, 1234567]
    colours = {i: np.array([40 + 35 * k, 215 - 35 * k, 127], dtype=np.float64) for k, i in enumerate(indices)}
    ffhq, mfn = tmp_path / "ffhq", tmp_path / "mfn"
    for i in indices:
        for root, name, masked in ((ffhq, f"{i:05d}.png", False), (mfn / "CMFD", f"{i:05d}_Mask.jpg", True)):
            root.mkdir(parents=True, exist_ok=True)
            arr = np.tile(colours[i], (SRC, SRC, 1))
            if masked:
                arr[SRC * 3 // 4:] = 245
            Image.fromarray(arr.astype(np.uint8), "RGB").save(root / name)
    _face(0, False, seed=1).save(ffhq / "1234.png")  # 4 digits: still not FFHQ's naming
    out = tmp_path / "out"
    assert _run(["--ffhq", str(ffhq), "--maskedfacenet", str(mfn), "--out", str(out), "--n_train", "2",
                 "--n_test", "2", "--size", str(SIZE), "--workers", "1"]) == 0
    s = _split_of(out)
    assert set().union(*s.values()) == set(indices)  # 2 test + 2 + 2 training faces: every index is used
    assert s["testA"] == s["testB"]
    for rel in _image_files(out, FOLDERS):
        name = Path(rel).name
        index = int(Path(rel).stem)
        assert name == f"{index:05d}.png" and re.fullmatch(r"\d{5,7}\.png", name), rel
        assert np.abs(_top_mean(out / rel) - colours[index]).max() < 3, rel  # the picture of that index
    assert {r["output"]: int(r["ffhq_index"]) for r in _manifest(out)} == {
        rel: int(Path(rel).stem) for rel in _image_files(out, FOLDERS)}
    summary = json.loads((out / "summary.json").read_text())
    assert {Path(p).name for p in summary["unmatched"]} == {"1234.png"}


# --------------------------------------------------------------------------------------------- #
# --masks: the true masks of a rendered set
# --------------------------------------------------------------------------------------------- #
MASKED_FILE = re.compile(r"^\d+_mask.*\.jpg$", re.IGNORECASE)


def _true_mask(index: int) -> np.ndarray:
    """A soft mask over the fixture's white "mask" (rows 48 on), with a bump that tells indices apart."""
    arr = np.zeros((SRC, SRC), np.uint8)
    arr[SRC * 3 // 4:] = 255
    arr[44:48] = np.array([51, 102, 153, 204], np.uint8)[:, None]  # a soft edge
    c = sorted(FFHQ_INDICES).index(index) * 7 % 56
    arr[38:48, c:c + 8] = 230
    return arr


def make_masks(mfn: Path, root: Path) -> Path:
    """The masks tree a renderer writes: masks/REL/NNNNN_Mask.png beside masked/REL/NNNNN_Mask.jpg."""
    for image in sorted(mfn.rglob("*")):
        if image.is_file() and MASKED_FILE.match(image.name):
            target = (root / image.relative_to(mfn)).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_true_mask(int(image.name.split("_")[0])), "L").save(target)
    return root


@pytest.fixture(scope="module")
def masks(trees, tmp_path_factory) -> Path:
    return make_masks(trees[1], tmp_path_factory.mktemp("rendered") / "masks")


@pytest.fixture(scope="module")
def run_masks(trees, masks: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("masks") / "out"
    assert _run(_argv(trees, out, "--masks", str(masks))) == 0
    return out


@pytest.fixture(scope="module")
def run_masks_paired(trees, masks: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("masks_paired") / "out"
    assert _run(_argv(trees, out, "--paired", "--masks", str(masks))) == 0
    return out


def _mask_of(masks: Path, mfn: Path, image: str) -> Path:
    return (masks / Path(image).relative_to(mfn)).with_suffix(".png")


def _area_resized(mask: Path) -> np.ndarray:
    """The documented rendering of a true mask: its 'L' pixels resized to SIZE by area averaging."""
    with Image.open(mask) as im:
        return np.asarray(im.convert("L").resize((SIZE, SIZE), Image.Resampling.BOX))


def _grey(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (SIZE, SIZE), path
        return np.asarray(im)


def _check_true_masks(out: Path, trees, masks: Path, folder: str, masked_rows: dict[int, str]) -> None:
    """``folder``/NNNNN.png is the resized true mask of the masked image ``masked_rows[NNNNN]``."""
    mfn = trees[1]
    assert _indices(out, folder) == set(masked_rows)
    rows = {r["output"]: r for r in _manifest(out, paired=(out / "train").is_dir())}
    for index, image in masked_rows.items():
        rel = f"{folder}/{index:05d}.png"
        source = _mask_of(masks, mfn, image)
        got = _grey(out / rel)
        assert np.array_equal(got, _area_resized(source)), rel
        assert ((got > 0) & (got < 255)).any(), "the soft edge stays soft"
        assert rows[rel]["domain"] == "mask" and Path(rows[rel]["source"]).resolve() == source.resolve()
        assert rows[rel]["sha256"] == hashlib.sha256((out / rel).read_bytes()).hexdigest()


def test_masks_write_testmask_the_true_masks(run_masks: Path, run_png: Path, trees, masks: Path) -> None:
    test_b = {int(r["ffhq_index"]): r["source"] for r in _manifest(run_masks) if r["output"].startswith("testB/")}
    assert len(test_b) == N_TEST
    _check_true_masks(run_masks, trees, masks, "testmask", test_b)
    # the mask lies on testB's white "mask" and off testA's face
    for index in test_b:
        mask = _grey(run_masks / "testmask" / f"{index:05d}.png") == 255
        b = _pixels(run_masks / "testB" / f"{index:05d}.png")
        assert b[mask].min() > 200 and not (run_masks / "trainmask").exists()
    assert json.loads((run_masks / "summary.json").read_text())["counts"] == {
        "trainA": N_TRAIN, "trainB": N_TRAIN, "testA": N_TEST, "testB": N_TEST, "testmask": N_TEST}
    assert _split_of(run_masks) == _split_of(run_png)  # every mask there: the same split as without --masks


def test_masks_paired_write_trainmask_and_testmask(run_masks_paired: Path, trees, masks: Path) -> None:
    rows = _manifest(run_masks_paired, paired=True)
    for split, folder, n in (("train", "trainmask", N_TRAIN), ("test", "testmask", N_TEST)):
        pairs = {int(r["ffhq_index"]): r["source_b"] for r in rows if r["output"].startswith(f"{split}/")}
        assert len(pairs) == n
        _check_true_masks(run_masks_paired, trees, masks, folder, pairs)  # the mask of the AB's right half
    assert {r["split"] for r in rows if r["output"].startswith("trainmask/")} == {"train"}
    assert json.loads((run_masks_paired / "summary.json").read_text())["counts"] == {
        "train": N_TRAIN, "test": N_TEST, "testA": N_TEST, "testB": N_TEST, "testmask": N_TEST, "trainmask": N_TRAIN}


def test_masks_paired_and_unpaired_share_test_faces_and_testmask(run_masks: Path, run_masks_paired: Path) -> None:
    refs = ("testA", "testB", "testmask")
    assert _indices(run_masks_paired, "test") == _indices(run_masks, "testA") == _indices(run_masks, "testmask")
    assert _image_files(run_masks_paired, refs) == _image_files(run_masks, refs)
    for rel in _image_files(run_masks, refs):
        assert (run_masks_paired / rel).read_bytes() == (run_masks / rel).read_bytes(), rel


@pytest.mark.parametrize("defect, reason", [("missing", "no mask file"), ("other_size", "mask size differs"),
                                            ("unreadable", "unreadable mask")])
def test_a_face_without_its_mask_is_skipped(trees, masks: Path, run_png: Path, tmp_path: Path, defect,
                                            reason) -> None:
    """The first test face of the split (seed 0) loses its mask: another face takes its place."""
    own = tmp_path / "masks"
    shutil.copytree(masks, own)
    victim = min(_indices(run_png, "testA"))
    image = next(r["source"] for r in _manifest(run_png) if r["output"] == f"testB/{victim:05d}.png")
    broken = _mask_of(own, trees[1], image)
    if defect == "missing":
        broken.unlink()
    elif defect == "other_size":
        Image.fromarray(_true_mask(victim)[::2, ::2], "L").save(broken)
    else:
        broken.write_bytes(broken.read_bytes()[:40])
    for paired in (False, True):
        out = tmp_path / f"out_{paired}"
        assert _run(_argv(trees, out, "--masks", str(own), *(["--paired"] if paired else []))) == 0
        test = _indices(out, "testA")
        assert victim not in test and len(test) == N_TEST
        assert test == _indices(out, "testB") == _indices(out, "testmask")
        assert victim not in _indices(out, "train")
        summary = json.loads((out / "summary.json").read_text())
        why = [s["reason"] for s in summary["skipped"] if Path(s["path"]).resolve() == broken.resolve()]
        assert len(why) == 1 and why[0].startswith(reason), summary["skipped"]
        assert f"1 x {reason}" in (out / "summary.txt").read_text()


@pytest.mark.parametrize("what", ["missing", "file", "inside_maskedfacenet"])
def test_masks_not_a_folder_of_masks_fails_before_writing(trees, tmp_path: Path, capsys, what: str) -> None:
    target = {"missing": tmp_path / "nope", "file": tmp_path / "masks.txt",
              "inside_maskedfacenet": trees[1] / "CMFD"}[what]
    if what == "file":
        target.write_text("not a folder\n")
    out = tmp_path / "out"
    capsys.readouterr()
    assert _run(_argv(trees, out, "--masks", str(target))) == 2
    assert "--masks" in _error_line(capsys)
    assert not out.exists()


def test_masks_rerun_writes_nothing(trees, masks: Path, run_masks_paired: Path) -> None:
    before = _snapshot(run_masks_paired)
    assert _run(_argv(trees, run_masks_paired, "--paired", "--masks", str(masks))) == 0
    assert _snapshot(run_masks_paired) == before


def test_masks_interrupted_run_is_completed(trees, masks: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = _argv(trees, out, "--paired", "--masks", str(masks))
    assert _run(_argv(trees, out, "--paired", "--masks", str(masks), workers=2)) == 0  # masks checked in a pool
    before = _snapshot(out)
    victims = {f"{folder}/" + min(p.name for p in (out / folder).iterdir()) for folder in ("trainmask", "testmask")}
    for rel in victims:
        (out / rel).unlink()
    assert _run(argv) == 0
    after = _snapshot(out)
    assert sorted(after) == sorted(before)
    for rel, (data, mtime) in before.items():
        if not Path(rel).name.startswith("."):
            assert after[rel][0] == data, rel
        if rel.split("/")[0] in ("train", "test", "testA", "testB", "testmask", "trainmask") and rel not in victims:
            assert after[rel][1] == mtime, f"{rel} was rewritten"


def test_edited_mask_is_refused_like_an_edited_source_until_overwrite(trees, masks: Path, tmp_path: Path,
                                                                      capsys) -> None:
    """As for an edited image: a re-run refuses (one line, exit 2, nothing touched); --overwrite redoes it."""
    own = tmp_path / "masks"
    shutil.copytree(masks, own)
    out = tmp_path / "out"
    argv = _argv(trees, out, "--paired", "--masks", str(own))
    assert _run(argv) == 0
    row = next(r for r in _manifest(out, paired=True) if r["output"].startswith("testmask/"))
    edited = Path(row["source"])
    Image.fromarray(255 - _true_mask(int(row["ffhq_index"])), "L").save(edited)
    before = _snapshot(out)
    capsys.readouterr()
    assert _run(argv) == 2
    line = _error_line(capsys)
    assert "mask_sources" in line and "--overwrite" in line
    assert _snapshot(out) == before
    assert _run(argv + ["--overwrite"]) == 0
    assert np.array_equal(_grey(out / row["output"]), _area_resized(edited))


def test_masks_win_over_ffhq_json(trees, masks: Path, ffhq_json: Path, run_masks: Path, tmp_path: Path,
                                  capsys) -> None:
    """Both given: testmask/ holds the true masks (a line says --ffhq_json is not used), as --masks alone."""
    out = tmp_path / "out"
    capsys.readouterr()
    assert _run(_argv(trees, out, "--masks", str(masks), "--ffhq_json", str(ffhq_json))) == 0
    assert "--ffhq_json is not used" in capsys.readouterr().out
    refs = ("testA", "testB", "testmask")
    assert _image_files(out, refs) == _image_files(run_masks, refs)
    for rel in _image_files(out, refs):
        assert (out / rel).read_bytes() == (run_masks / rel).read_bytes(), rel
    before = _snapshot(out)
    assert _run(_argv(trees, out, "--masks", str(masks))) == 0  # the same output: the same plan
    assert _snapshot(out) == before


def test_plan_from_before_masks_still_resumes(trees, fresh: Path) -> None:
    plan = json.loads((fresh / "plan.json").read_text())
    del plan["key"]["masks"], plan["key"]["mask_sources"]
    (fresh / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    before = _snapshot(fresh)
    assert _run(_argv(trees, fresh)) == 0
    assert _snapshot(fresh) == before


def test_load_mask_turns_with_the_masked_image(tmp_path: Path) -> None:
    """A masked JPEG stored on its side (EXIF orientation 6): its mask, on the stored pixels, turns with it."""
    stored = np.zeros((48, 64), np.uint8)
    stored[:, 40:] = 255  # the right of the stored pixels: the bottom once turned upright
    face = np.full((48, 64, 3), 90, np.uint8)
    face[stored == 255] = 245
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(face, "RGB").save(tmp_path / "00001_Mask.jpg", exif=exif, quality=95)
    Image.fromarray(stored, "L").save(tmp_path / "00001_Mask.png")
    got = np.asarray(pmf.load_mask(str(tmp_path / "00001_Mask.png"), SIZE, str(tmp_path / "00001_Mask.jpg")))
    upright = Image.fromarray(stored, "L").transpose(Image.Transpose.ROTATE_270)
    assert np.array_equal(got, np.asarray(upright.resize((SIZE, SIZE), Image.Resampling.BOX)))
    face_out = np.asarray(pmf.load_face(str(tmp_path / "00001_Mask.jpg"), SIZE).convert("L"), dtype=float)
    assert face_out[got == 255].min() > 200 and face_out[got == 0].max() < 120
