"""scripts/mask_photos.py --method render end to end on photos made from a real face (scikit-image's
astronaut): no run needed and no torch imported, the records' method and style, each photo's mask
where the mouth is and nowhere far from a face, pairs with their mask crops, the same bytes with any
number of workers, identity measured only when asked, and every new flag's bad values in one line."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from scripts import mask_photos
from util.errors import run_cli
from util.faces.sample_photos import compose, placement

pytest.importorskip("dlib")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "mask_photos.py"
PLACES = [placement(0.8, 0, False, (160, 150)), placement(1.0, -10, True, (500, 150))]
FRAMES = 3
STYLE = ("method", "mask_type", "color", "pattern", "wear")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos") / "in"
    root.mkdir()
    Image.fromarray(compose((700, 300), PLACES)).save(root / "canvas.png")
    Image.fromarray(compose((200, 150), [])).save(root / "noface.png")
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 240))
    for k in range(FRAMES):
        frame = compose((320, 240), [placement(0.7, 0, False, (150 + 8 * k, 120))])
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    (root / "notes.txt").write_text("not a photo")
    return root


def argv(inputs, output: Path, *extra: str) -> list[str]:
    inputs = [inputs] if isinstance(inputs, (str, Path)) else inputs
    return ["--input", *map(str, inputs), "--output", str(output), "--num_threads", "0", *extra]


# the fast detector (HOG finds these upright faces; auto would also run dlib's CNN over noface.png)
RENDERED = ("--detector", "hog", "--mask_type", "random", "--wear", "random", "--color", "#1f3b73,#e0e0e0",
            "--seed", "3", "--crop_size", "64", "--save_masks")


@pytest.fixture(scope="module")
def rendered(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    assert mask_photos.main(argv(photos, out / "out", *RENDERED, "--save_pairs", str(out / "pairs"))) == 0
    return out


def records(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "faces.jsonl").read_text().splitlines()]


def without_output(rs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "output"} for r in rs]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and ".mask_photos" not in p.parts
            and p.suffix != ".mp4" and p.name not in ("faces.jsonl", "summary.json")}


def frames(video: Path) -> list[np.ndarray]:
    capture, out = cv2.VideoCapture(str(video)), []
    ok, frame = capture.read()
    while ok:
        out.append(frame)
        ok, frame = capture.read()
    capture.release()
    return out


def test_the_pipeline_reads_the_same_photo_suffixes_as_the_data_loader():
    from data.image_folder import IMG_EXTENSIONS
    from util.faces import photos as pipeline

    assert pipeline.IMG_EXTENSIONS == IMG_EXTENSIONS


# ----------------------------------------------------------------------------- what is written


@pytest.mark.slow
def test_every_face_gets_a_mask_with_its_style_recorded(rendered):
    rs = records(rendered / "out")
    assert [(Path(r["source"]).name, r.get("frame"), r["face"]) for r in rs] == \
        [("canvas.png", None, 0), ("canvas.png", None, 1)] + [("clip.mp4", f, 0) for f in range(FRAMES)]
    for r in rs:
        assert r["status"] == "translated" and r["method"] == "render"
        assert r["mask_type"] in ("surgical", "n95", "kn95", "cloth") and r["color"] in ("#1f3b73", "#e0e0e0")
        assert r["pattern"] == "none" and r["wear"] in ("correct", "nose", "chin", "nose_mouth")
        assert 0 <= r["identity_distance"] < 2  # --save_pairs measures identity
    assert len({(r["mask_type"], r["color"], r["wear"]) for r in rs}) > 1  # drawn per face
    summary = json.loads((rendered / "out" / "summary.json").read_text())
    assert summary["method"] == "render" and summary["photos"] == 2 and summary["photos_without_faces"] == 1
    assert [Path(p).name for p in summary["no_face_photos"]] == ["noface.png"]
    assert summary["arguments"]["seed"] == 3 and summary["arguments"]["colors"] == ["#1f3b73", "#e0e0e0"]


@pytest.mark.slow
def test_masks_cover_the_mouth_and_nothing_far_from_a_face(rendered, photos):
    out, covered = rendered / "out", []
    for name, picture in (("canvas.png", "canvas.png"), ("clip.mp4/000001.png", None)):
        mask_file = out / "masks" / name
        with Image.open(mask_file) as img:
            assert img.mode == "L"
            mask = np.asarray(img)
        rs = [r for r in records(out) if (Path(r["source"]).name == "canvas.png") == (picture is not None)
              and r.get("frame") in (None, 1)]
        ys, xs = np.mgrid[0:mask.shape[0], 0:mask.shape[1]] + 0.5
        far = np.ones(mask.shape, bool)
        for r in rs:
            mouth = np.array(r["landmarks"])[48:68]
            if r["wear"] != "nose_mouth":  # worn on the chin, it leaves the mouth bare
                covered.append((mask[mouth[:, 1].astype(int), mouth[:, 0].astype(int)] > 0).all())
            quad = np.array(r["quad"])
            side = np.hypot(*(quad[3] - quad[0]))
            far &= np.hypot(xs - quad.mean(0)[0], ys - quad.mean(0)[1]) > side
        assert far.mean() > 0.1 and not mask[far].any(), name
        if picture:  # the photo itself is untouched far from the faces
            before, after = (np.asarray(Image.open(p / picture)) for p in (photos, out))
            assert np.array_equal(before[far], after[far]) and (before[mask > 128] != after[mask > 128]).any()
    assert len(covered) >= 2 and all(covered)
    assert sorted(p.name for p in (out / "masks" / "clip.mp4").iterdir()) == [f"{f:06d}.png" for f in range(FRAMES)]
    with Image.open(out / "masks" / "noface.png") as img:  # a photo without faces: an empty mask
        assert img.size == (200, 150) and not np.asarray(img).any()
    assert (out / "noface.png").read_bytes() == (photos / "noface.png").read_bytes()


@pytest.mark.slow
def test_pairs_hold_the_crop_before_after_and_its_mask(rendered):
    pairs = rendered / "pairs"
    names = ["canvas_0", "canvas_1"] + [f"clip_f{f:06d}_0" for f in range(FRAMES)]
    for side in ("A", "B", "mask"):
        assert sorted(p.stem for p in (pairs / side).iterdir()) == sorted(names), side
    with open(pairs / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == names
    assert set(STYLE) <= set(rows[0]) and {r["method"] for r in rows} == {"render"}
    by_face = {(Path(r["source"]).name, r.get("frame"), r["face"]): r for r in records(rendered / "out")}
    assert [r["mask_type"] for r in rows] == [by_face[k]["mask_type"] for k in by_face]
    for name in names:
        a, b, mask = (np.asarray(Image.open(pairs / side / f"{name}.png")) for side in ("A", "B", "mask"))
        assert a.shape == b.shape == (64, 64, 3) and mask.shape == (64, 64)
        covered = mask > 200
        assert covered.mean() > 0.02 and np.abs(a.astype(int) - b)[covered].mean() > 10, name
        bare = cv2.dilate((mask > 0).astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
        assert bare.mean() > 0.2 and np.abs(a.astype(int) - b)[bare].max() <= 2, name


@pytest.mark.slow
def test_one_or_two_workers_give_the_same_bytes(rendered, photos, tmp_path):
    for workers in ("1", "2"):
        out, pairs = tmp_path / workers / "out", tmp_path / workers / "pairs"
        assert mask_photos.main([*argv(photos, out, *RENDERED, "--save_pairs", str(pairs)),
                                 "--num_threads", workers]) == 0
        assert without_output(records(out)) == without_output(records(rendered / "out")), workers
        assert files(out) == files(rendered / "out"), workers
        assert files(pairs) == files(rendered / "pairs"), workers
        assert all(np.array_equal(x, y) for x, y in zip(frames(out / "clip.mp4"),
                                                        frames(rendered / "out" / "clip.mp4")))


@pytest.mark.slow
def test_render_needs_no_run_and_never_imports_torch(photos, tmp_path):
    """The defaults (no --name: render; detector auto), as a user runs the script, one worker each way."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-X", "importtime", str(SCRIPT), "--input", str(photos / "canvas.png"),
                           str(photos / "clip.mp4"), "--output", str(out), "--num_threads", "1"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")]
    assert imported.count("util.faces.photos") >= 2  # the workers' imports are seen too
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]
    rs = records(out)
    assert len(rs) == 2 + FRAMES and {r["method"] for r in rs} == {"render"}
    assert {(r["mask_type"], r["wear"], r["pattern"]) for r in rs} == {("surgical", "correct", "none")}
    assert all(r["identity_distance"] is None for r in rs)  # not asked for
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["detector"] == "auto" and summary["identity_distance"]["faces"] == 0
    assert not (out / "masks").exists()


@pytest.mark.slow
def test_identity_is_measured_when_asked(photos, tmp_path):
    out = tmp_path / "out"
    assert mask_photos.main(argv(photos / "canvas.png", out, "--detector", "hog", "--identity")) == 0
    assert all(0 <= r["identity_distance"] < 2 for r in records(out))


@pytest.mark.slow
def test_a_pattern_image_is_printed_and_recorded_by_its_path(photos, tmp_path):
    pattern = tmp_path / "tartan.png"
    Image.fromarray(np.kron(np.indices((8, 8)).sum(0) % 2 * 255, np.ones((8, 8))).astype(np.uint8)).save(pattern)
    out = tmp_path / "out"
    assert mask_photos.main(argv(photos / "canvas.png", out, "--detector", "hog", "--pattern", str(pattern),
                                 "--pattern_weight", "1")) == 0
    assert {r["pattern"] for r in records(out)} == {str(pattern.resolve())}


# ----------------------------------------------------------------------------- reruns


@pytest.mark.slow
@pytest.mark.parametrize("change", [("--seed", "4"), ("--mask_type", "cloth"), ("--wear", "chin")])
def test_other_render_settings_are_other_arguments(rendered, photos, change, capsys):
    capsys.readouterr()
    args = [*argv(photos, rendered / "out", *RENDERED, "--save_pairs", str(rendered / "pairs")), *change]
    assert run_cli(mask_photos.main, args, "mask_photos.py") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert mask_photos.main(argv(photos, rendered / "out", *RENDERED, "--save_pairs", str(rendered / "pairs"))) == 0
    assert "nothing to do" in capsys.readouterr().out


# ----------------------------------------------------------------------------- bad input


BAD = [
    (["--method", "paint"], "--method"),
    (["--method", "gan"], "--name"),
    (["--mask_type", "bandana"], "--mask_type"),
    (["--color", "blue"], "--color"),
    (["--color", "#12345"], "--color"),
    (["--color", "#ffffff,"], "--color"),
    (["--pattern", "paisley"], "--pattern"),
    (["--pattern", "{photos}/notes.txt"], "--pattern"),
    (["--pattern_weight", "1.5"], "--pattern_weight"),
    (["--pattern_weight", "-0.1"], "--pattern_weight"),
    (["--pattern_weight", "nan"], "--pattern_weight"),
    (["--wear", "forehead"], "--wear"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "x"], "--seed"),
    (["--crop_size", "0"], "--crop_size"),
    (["--upsample", "-1"], "--upsample"),
    # one method's flags with the other
    (["--name", "tiny", "--mask_type", "cloth"], "--mask_type"),
    (["--method", "gan", "--name", "tiny", "--save_masks"], "--save_masks"),
    (["--name", "tiny", "--seed", "1"], "--seed"),
    (["--name", "tiny", "--crop_size", "64"], "--crop_size"),
    (["--name", "tiny", "--color", "#ffffff"], "--color"),
    (["--direction", "off"], "--direction"),
    (["--epoch", "5"], "--epoch"),
    (["--feather", "0.2"], "--feather"),
    (["--method", "render", "--name", "tiny"], "--name"),
]


@pytest.mark.parametrize("extra, flag", [pytest.param(e, f, id=" ".join(e)) for e, f in BAD])
def test_bad_values_are_one_line_naming_the_flag(extra, flag, photos, tmp_path, capsys):
    extra = [e.format(photos=photos) for e in extra]
    capsys.readouterr()
    code = run_cli(mask_photos.main, argv(photos / "canvas.png", tmp_path / "o", *extra), "mask_photos.py")
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("mask_photos.py: error: ") and flag in err, err
    assert not (tmp_path / "o").exists()
