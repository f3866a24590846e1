"""datasets/render_masked_faces.py: a MaskedFace-Net-style set rendered from unmasked faces.

The sources are real faces (scikit-image's astronaut, matplotlib's Grace Hopper, mirrored and
re-lit) cut as FFHQ cuts them, with an FFHQ-layout metadata file whose landmarks dlib found on the
crops here, independently of the script. Checked: MaskedFace-Net's names and trees per wear class,
labels.csv, each mask where the image changed, FFHQ's key as the index and a thumbnail told from its
image by size, the wear mix's proportions, a second run writing nothing and a killed one finishing
only what is missing, 2 shards (by flag, SLURM array, torchrun and the SLURM script) giving the files
of one run, the curation and the paired split taking the result, and every bad input in one line
before anything is written.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import prepare_masked_faces, render_masked_faces as rmf
from util.errors import run_cli
from util.faces import align
from util.faces.sample_photos import astronaut, grace_hopper
from util.masks.texture import MASK_TYPES
from util.shards import Shard, current_shard, parse_shard

pytest.importorskip("dlib")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "datasets" / "render_masked_faces.py"
SIZE, THUMB = 128, 64
MFN_NAME = prepare_masked_faces.MFN_NAME


def run(*argv: str) -> int:
    return run_cli(rmf.main, list(argv), rmf.PROG)


def tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """relative path -> sha256 of every file under root (parts of folders in ``skip`` left out)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] not in skip}


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def real_faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """Six aligned 256-px faces and their 68 landmarks (found by dlib on the crop itself)."""
    from util.faces.detect import FaceFinder

    finder = FaceFinder("hog")
    faces = []
    for photo in (astronaut(), grace_hopper()):
        quad = align.ffhq_quad(finder.find(photo)[0].landmarks)
        crop = align.align(photo, quad, 256)
        for variant in (crop, crop[:, ::-1], np.clip(crop * 0.7, 0, 255).astype(np.uint8)):
            variant = np.ascontiguousarray(variant)
            found = finder.find(variant)
            assert len(found) == 1
            faces.append((variant, found[0].landmarks))
    return faces


def dlib_points(marks: np.ndarray, scale: float) -> list[list[float]]:
    """Our landmarks (pixel centres at +0.5) as FFHQ's file holds dlib's (centres at integers)."""
    return np.round((marks * scale) - 0.5, 2).tolist()


@pytest.fixture(scope="module")
def ffhq(real_faces, tmp_path_factory) -> Path:
    """An FFHQ-like folder: images1024x1024/ (here 128 px), thumbnails128x128/ (here 64 px) and
    ffhq-dataset-v2.json; FFHQ keys 0..5 are 1000..1005 so the index is seen to be the key."""
    root = tmp_path_factory.mktemp("ffhq")
    meta = {}
    for n, (crop, marks) in enumerate(real_faces):
        key = 1000 + n
        entry = {"category": "training"}
        for role, folder, side in (("image", "images1024x1024", SIZE), ("thumbnail", "thumbnails128x128", THUMB)):
            rel = f"{folder}/01000/{key:05d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(crop).resize((side, side), Image.Resampling.LANCZOS).save(root / rel)
            entry[role] = {"file_path": rel, "pixel_size": [side, side],
                           "face_landmarks": dlib_points(marks, side / 256)}
        meta[str(key)] = entry
    (root / "ffhq-dataset-v2.json").write_text(json.dumps(meta))
    return root


def ffhq_args(ffhq: Path, out: Path, *extra: str) -> list[str]:
    return ["--src", str(ffhq / "images1024x1024"), "--landmarks", str(ffhq / "ffhq-dataset-v2.json"),
            "--out", str(out), "--size", str(SIZE), "--format", "png", "--workers", "1", *extra]


MIX = ("--wear_mix", "correct:0.25,nose:0.25,chin:0.25,nose_mouth:0.25", "--mask_type", "random")


@pytest.fixture(scope="module")
def rendered(ffhq, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rendered") / "out"
    assert run(*ffhq_args(ffhq, out, *MIX)) == 0
    return out


def labels(out: Path) -> list[dict]:
    with open(out / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------------- the set


def test_layout_follows_maskedfacenet_and_ffhq_keys(rendered):
    rows = labels(rendered)
    assert [int(r["index"]) for r in rows] == list(range(1000, 1006))
    assert len({r["wear"] for r in rows}) >= 3  # a quarter each: six faces show most classes
    for r in rows:
        tree_, suffix = rmf.CLASSES[r["wear"]]
        assert r["file"] == f"masked/{tree_}/01000/{int(r['index']):05d}{suffix}.png"
        assert r["class"] == tree_ and MFN_NAME.match(Path(r["file"]).name)
        assert r["mask"] == f"masks/{tree_}/01000/{int(r['index']):05d}{suffix}.png"
        assert r["unmasked"] == f"unmasked/01000/{int(r['index']):05d}.png"
        assert r["source"] == f"01000/{int(r['index']):05d}.png" and r["identity"] == ""
        assert r["mask_type"] in MASK_TYPES and re.fullmatch(r"#[0-9a-f]{6}", r["color"])
        for column in ("file", "mask", "unmasked"):
            assert Image.open(rendered / r[column]).size == (SIZE, SIZE)
    summary = json.loads((rendered / "summary.json").read_text())
    assert summary["faces"] == 6 and summary["left_out"] == 0
    assert sum(summary["by_wear"].values()) == 6 and set(summary["by_class"]) <= {"CMFD", "IMFD"}


def test_each_mask_is_where_the_image_changed(rendered, ffhq):
    for r in labels(rendered):
        bare = np.asarray(Image.open(rendered / r["unmasked"]), dtype=np.int16)
        masked = np.asarray(Image.open(rendered / r["file"]), dtype=np.int16)
        opacity = np.asarray(Image.open(rendered / r["mask"]))
        source = np.asarray(Image.open(ffhq / "images1024x1024" / r["source"]), dtype=np.int16)
        assert np.array_equal(bare, source)  # a square source at --size is taken as it is
        changed = np.abs(masked - bare).max(axis=2) > 8
        inside = opacity > 127
        assert 0.02 < inside.mean() < 0.5  # a mask pulled down to the chin is the smallest
        assert changed[inside].mean() > 0.9  # the cloth replaces the face where the mask is opaque
        # away from the mask (beyond its contact shadow) the pixels are the unmasked face's
        import cv2

        near = cv2.dilate((opacity > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert not (masked != bare).any(axis=2)[~near].any()


def test_wear_classes_cover_what_they_say(rendered, real_faces):
    """nose uncovered: the nose tip is bare and the chin covered; chin uncovered: the reverse."""
    marks_of = {1000 + n: marks * (SIZE / 256) for n, (_, marks) in enumerate(real_faces)}
    for r in labels(rendered):
        opacity = np.asarray(Image.open(rendered / r["mask"]))
        marks = marks_of[int(r["index"])]

        def covered(i: int) -> bool:
            x, y = np.floor(marks[i]).astype(int)
            return opacity[y, x] > 127

        nose, mouth, chin = covered(30), covered(62), covered(8) or covered(7) or covered(9)
        expect = {"correct": (True, True, True), "nose": (False, True, True),
                  "chin": (True, True, False), "nose_mouth": (False, False, True)}[r["wear"]]
        assert (nose, mouth, chin) == expect, r


def test_thumbnails_are_told_from_images_by_size(ffhq, tmp_path):
    out = tmp_path / "thumbs"
    assert run("--src", str(ffhq / "thumbnails128x128"), "--landmarks", str(ffhq / "ffhq-dataset-v2.json"),
               "--out", str(out), "--size", str(THUMB), "--format", "png", "--workers", "1") == 0
    rows = labels(out)
    assert [int(r["index"]) for r in rows] == list(range(1000, 1006))
    opacity = np.asarray(Image.open(out / rows[0]["mask"]))
    assert opacity.shape == (THUMB, THUMB) and 0.05 < (opacity > 127).mean() < 0.5


def test_wear_mix_is_drawn_in_its_proportions():
    mix = rmf.parse_wear_mix(rmf.DEFAULT_WEAR_MIX)
    draws = [rmf.draw_wear(mix, 0, f"{i:05d}.png") for i in range(20000)]
    for wear, share in mix.items():
        assert abs(draws.count(wear) / len(draws) - share) < 0.01, wear
    assert rmf.draw_wear(mix, 0, "a.png") == rmf.draw_wear(mix, 0, "a.png")
    only = rmf.parse_wear_mix("chin:1")
    assert {rmf.draw_wear(only, s, "x") for s in range(50)} == {"chin"}


@pytest.mark.parametrize("text, says", [("correct:0.5,nose:0.4", "add up to 0.9"),
                                         ("correct=1", "not WEAR:SHARE"),
                                         ("mouth:1", "not WEAR:SHARE"),
                                         ("correct:x,nose:1", "not a number"),
                                         ("correct:1.5,nose:-0.5", "not a number from 0 to 1")])
def test_bad_wear_mix_is_one_line_before_writing(ffhq, tmp_path, capsys, text, says):
    assert run(*ffhq_args(ffhq, tmp_path / "out", "--wear_mix", text)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--wear_mix" in err and says in err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- bad input


def edited_meta(ffhq: Path, tmp_path: Path, edit) -> Path:
    meta = json.loads((ffhq / "ffhq-dataset-v2.json").read_text())
    edit(meta)
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("case", ["missing", "wrong_size", "not_json", "no_landmarks"])
def test_landmarks_that_do_not_match_stop_before_writing(ffhq, tmp_path, capsys, case):
    if case == "missing":
        meta = edited_meta(ffhq, tmp_path, lambda m: m.pop("1003"))
        says = "no entry for 1 of the 6 images"
    elif case == "wrong_size":
        def shrink(m):
            m["1002"]["image"]["pixel_size"] = [1024, 1024]
        meta = edited_meta(ffhq, tmp_path, shrink)
        says = "is 128x128 but its entry 1002 gives 1024x1024"
    elif case == "not_json":
        meta = tmp_path / "meta.json"
        meta.write_text("{not json")
        says = "cannot read it as JSON"
    else:
        def drop(m):
            del m["1001"]["image"]["face_landmarks"]
        meta = edited_meta(ffhq, tmp_path, drop)
        says = "lacks file_path, pixel_size or 68 face_landmarks"
    args = ffhq_args(ffhq, tmp_path / "out")
    args[args.index("--landmarks") + 1] = str(meta)
    assert run(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--landmarks" in err and says in err, err
    assert not (tmp_path / "out").exists()


def test_out_inside_src_and_other_bad_flags(ffhq, tmp_path, capsys):
    inside = ffhq / "images1024x1024" / "masked_here"
    assert run(*ffhq_args(ffhq, inside)) == 2
    assert "is inside --src" in capsys.readouterr().err and not inside.exists()
    for bad, says in ((["--src", str(tmp_path / "nowhere")], "--src"), (["--shard", "2/2"], "--shard"),
                      (["--pattern", str(tmp_path / "none.png")], "--pattern"), (["--color", "#12"], "--color"),
                      (["--size", "0"], "--size"), (["--n_test", "3"], "--n_test counts the test faces of --paired"),
                      (["--upsample", "1"], "with --landmarks nothing is detected")):
        args = ffhq_args(ffhq, tmp_path / "out")
        for flag, value in zip(bad[::2], bad[1::2]):
            if flag in args:
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
        assert run(*args) == 2, bad
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err
        assert not (tmp_path / "out").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("--src", str(empty), "--out", str(tmp_path / "out")) == 2
    assert "holds no images" in capsys.readouterr().err


def test_an_unreadable_source_is_warned_about_counted_and_the_run_goes_on(ffhq, tmp_path, capsys):
    src = tmp_path / "ffhq"
    shutil.copytree(ffhq, src)
    (src / "images1024x1024" / "01000" / "01004.png").write_bytes(b"\x89PNG not really")
    assert run(*ffhq_args(src, tmp_path / "out")) == 0
    err = capsys.readouterr().err
    assert "warning: 01000/01004.png: unreadable" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["faces"] == 5 and summary["left_out"] == 1
    assert summary["left_out_sources"][0]["source"] == "01000/01004.png"
    assert 1004 not in [int(r["index"]) for r in labels(tmp_path / "out")]


def test_detected_faces_identities_from_folders_and_a_photo_without_a_face(tmp_path, capsys):
    src = tmp_path / "people"
    for person, photo in (("Eileen_Collins", astronaut()), ("Grace_Hopper", grace_hopper())):
        (src / person).mkdir(parents=True)
        Image.fromarray(photo).save(src / person / f"{person}_0001.jpg", quality=95)
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(src / "Grace_Hopper" / "Grace_Hopper_0002.png")
    out = tmp_path / "out"
    assert run("--src", str(src), "--out", str(out), "--detector", "hog", "--workers", "1", "--size", "96") == 0
    assert "Grace_Hopper/Grace_Hopper_0002.png: no face found" in capsys.readouterr().err
    rows = labels(out)
    assert [(r["index"], r["identity"], r["source"]) for r in rows] == [
        ("0", "Eileen_Collins", "Eileen_Collins/Eileen_Collins_0001.jpg"),
        ("1", "Grace_Hopper", "Grace_Hopper/Grace_Hopper_0001.jpg")]
    for r in rows:  # each is an FFHQ-aligned crop: the mask sits in the crop's lower middle
        opacity = np.asarray(Image.open(out / r["mask"])) > 127
        ys, xs = np.nonzero(opacity)
        assert 0.35 < xs.mean() / 96 < 0.65 and 0.5 < ys.mean() / 96 < 0.85
    assert json.loads((out / "summary.json").read_text())["left_out"] == 1


# ----------------------------------------------------------------------------------- scale


def test_a_second_run_writes_nothing_and_a_killed_one_only_what_is_missing(ffhq, rendered, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(rendered, out)
    before = mtimes(out)
    # the copy's plan names the same sources and arguments: nothing to do
    assert run(*ffhq_args(ffhq, out, *MIX)) == 0
    assert mtimes(out) == before
    # a run killed after some faces: one face's files gone, the labels not yet merged
    row = labels(out)[2]
    for column in ("file", "mask"):
        (out / row[column]).unlink()
    (out / "labels.csv").unlink()
    assert run(*ffhq_args(ffhq, out, *MIX)) == 0
    after = mtimes(out)
    rewritten = sorted(p for p in after if after[p] != before.get(p))
    assert rewritten == sorted([row["file"], row["mask"], "labels.csv"])
    assert tree(out) == tree(rendered)


def test_other_arguments_into_the_same_out_are_refused(ffhq, rendered, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(rendered, out)
    before = tree(out)
    assert run(*ffhq_args(ffhq, out, *MIX, "--seed", "5")) == 2
    assert "seed differ" in capsys.readouterr().err and tree(out) == before
    assert run(*ffhq_args(ffhq, out, *MIX, "--seed", "5", "--overwrite")) == 0
    assert tree(out) != before and len(labels(out)) == 6


def test_a_damaged_plan_or_part_is_one_line_and_nothing_is_lost(ffhq, rendered, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(rendered, out)
    (out / "plan.json").write_text('{"key": ')  # cut off mid-write by a full disk
    before = tree(out)
    for argv in (ffhq_args(ffhq, out, *MIX), ["--merge", "--out", str(out)]):
        assert run(*argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "plan.json cannot be read" in err and "--overwrite" in err
    assert tree(out) == before
    shutil.copy(rendered / "plan.json", out / "plan.json")
    next((out / "labels").glob("*.json")).write_text("not json")
    assert run("--merge", "--out", str(out)) == 2
    assert "rerun that shard" in capsys.readouterr().err


def test_two_shards_give_the_files_of_one_run(ffhq, rendered, tmp_path, capsys):
    out = tmp_path / "sharded"
    for k in range(2):
        assert run(*ffhq_args(ffhq, out, *MIX, "--shard", f"{k}/2")) == 0
        assert not (out / "labels.csv").exists()
    assert "--merge --out" in capsys.readouterr().out
    assert run("--merge", "--out", str(out)) == 0
    assert tree(out, skip=("labels",)) == tree(rendered, skip=("labels",))
    assert sorted(p.name for p in (out / "labels").iterdir()) == [
        f"part-0000{k}-of-00002.{ext}" for k in range(2) for ext in ("csv", "json")]


def test_the_shard_comes_from_slurm_or_torchrun(ffhq, rendered, tmp_path, monkeypatch, capsys):
    out = tmp_path / "env"
    # task 1 of a SLURM array numbered from 1 (--array=1-2) is shard 0; torchrun's rank 1 is shard 1
    with monkeypatch.context() as m:
        for name, value in {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1",
                            "SLURM_ARRAY_TASK_COUNT": "2"}.items():
            m.setenv(name, value)
        assert run(*ffhq_args(ffhq, out, *MIX)) == 0
    assert "shard 0/2 (SLURM array)" in capsys.readouterr().out
    assert run("--merge", "--out", str(out)) == 2  # shard 1 of 2 is still missing
    assert "1 of 2 shards" in capsys.readouterr().err and not (out / "labels.csv").exists()
    with monkeypatch.context() as m:
        m.setenv("RANK", "1")
        m.setenv("WORLD_SIZE", "2")
        assert run(*ffhq_args(ffhq, out, *MIX)) == 0
    assert "shard 1/2 (torchrun)" in capsys.readouterr().out
    assert run("--merge", "--out", str(out)) == 0
    assert tree(out, skip=("labels",)) == tree(rendered, skip=("labels",))


def test_shard_arithmetic():
    assert parse_shard("1/3") == Shard(1, 3, "--shard")
    for bad in ("3/3", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    assert current_shard(None, {}) == Shard(0, 1, "whole job")
    assert current_shard(None, {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "8"}).index == 7
    assert current_shard(None, {"RANK": "2", "WORLD_SIZE": "4"}) == Shard(2, 4, "torchrun")
    assert current_shard("0/2", {"RANK": "1", "WORLD_SIZE": "2"}).index == 0  # the flag wins
    with pytest.raises(ValueError, match="contiguous"):
        current_shard(None, {"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "2"})
    items = list(range(10))
    parts = [Shard(k, 3, "").take(items) for k in range(3)]
    assert sorted(sum(parts, [])) == items and parts[1] == [1, 4, 7]


FAKE_SBATCH = r"""#!/usr/bin/env bash
# a stand-in for sbatch: runs an array's tasks one after another, or a --wrap command, here and now
array="" wrap="" args=()
for arg in "$@"; do
    if [ ${#args[@]} -gt 0 ]; then args+=("$arg"); continue; fi  # the script's own arguments
    case "$arg" in
        --array=*) array=${arg#--array=} ;;
        --wrap=*) wrap=${arg#--wrap=} ;;
        --*) ;;
        *) args+=("$arg") ;;
    esac
done
echo "$*" >> "$SBATCH_LOG"
if [ -n "$wrap" ]; then bash -c "$wrap" >&2; echo 102; exit; fi
first=${array%-*} last=${array#*-}
for ((k = first; k <= last; k++)); do
    SLURM_ARRAY_TASK_ID=$k SLURM_ARRAY_TASK_MIN=$first SLURM_ARRAY_TASK_COUNT=$((last - first + 1)) \
        SLURM_CPUS_PER_TASK=1 SLURM_SUBMIT_DIR=$PWD bash "${args[@]}" >&2
done
echo "101;cluster"
"""


def test_the_slurm_script_runs_shards_then_the_merge(ffhq, rendered, tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(FAKE_SBATCH)
    (bin_ / "sbatch").chmod(0o755)
    out = tmp_path / "slurm"
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "SHARDS": "2", "SBATCH_LOG": str(tmp_path / "log"),
           "PYTHON": sys.executable}
    args = [a for a in ffhq_args(ffhq, out, *MIX) if a not in ("--workers", "1")]
    done = subprocess.run(["bash", str(ROOT / "scripts" / "render_masked_faces.sh"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "shards: job 101 (array 0-1), merge: job 102" in done.stdout
    log = (tmp_path / "log").read_text().splitlines()
    assert "--array=0-1" in log[0] and "--dependency=afterok:101" in log[1]
    assert tree(out, skip=("labels",)) == tree(rendered, skip=("labels",))
    # a typo is caught before anything is queued
    bad = subprocess.run(["bash", str(ROOT / "scripts" / "render_masked_faces.sh"), *args, "--wear_mix", "x:1"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--wear_mix" in bad.stderr and len(log) == len(
        (tmp_path / "log").read_text().splitlines())


# ----------------------------------------------------------------------------------- curation


def test_prepare_masked_faces_takes_the_set_and_its_true_masks(rendered, tmp_path):
    out = tmp_path / "curated"
    assert prepare_masked_faces.main(["--ffhq", str(rendered / "unmasked"), "--maskedfacenet",
                                      str(rendered / "masked"), "--masks", str(rendered / "masks"),
                                      "--include_imfd", "--out", str(out), "--n_test", "2", "--n_train", "2",
                                      "--size", str(SIZE), "--workers", "1"]) == 0
    by_index = {int(r["index"]): r for r in labels(rendered)}
    for path in sorted((out / "testmask").iterdir()):
        row = by_index[int(path.stem)]
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(rendered / row["mask"])))
        assert np.array_equal(np.asarray(Image.open(out / "testB" / path.name)),
                              np.asarray(Image.open(rendered / row["file"]).convert("RGB")))


def test_paired_writes_the_pix2pix_split_on_the_unpaired_test_faces(ffhq, tmp_path):
    out = tmp_path / "out"
    assert run(*ffhq_args(ffhq, out, *MIX, "--paired", "--n_test", "2")) == 0
    paired = out / "paired"
    assert len(list((paired / "train").iterdir())) == 4 and len(list((paired / "test").iterdir())) == 2
    assert len(list((paired / "trainmask").iterdir())) == 4
    unpaired = tmp_path / "unpaired"
    assert prepare_masked_faces.main(["--ffhq", str(out / "unmasked"), "--maskedfacenet", str(out / "masked"),
                                      "--masks", str(out / "masks"), "--include_imfd", "--out", str(unpaired),
                                      "--n_test", "2", "--n_train", "2", "--size", str(SIZE),
                                      "--workers", "1"]) == 0
    for folder in ("testA", "testB", "testmask"):
        assert tree(paired / folder) == tree(unpaired / folder)
    ab = np.asarray(Image.open(next((paired / "train").iterdir())))
    assert ab.shape == (SIZE, 2 * SIZE, 3)


def test_rendering_never_imports_torch(ffhq, tmp_path):
    code = ("import runpy, sys; sys.argv = ['render_masked_faces.py'] + sys.argv[1:]\n"
            "try:\n    runpy.run_path(sys.argv[0] if False else %r, run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n") % str(SCRIPT)
    done = subprocess.run([sys.executable, "-c", code, *ffhq_args(ffhq, tmp_path / "out")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# ----------------------------------------------------------------------------------- docs' tools


def test_the_docs_figure_shows_every_class_and_its_mask(tmp_path):
    from scripts import rendered_set_figure

    out = tmp_path / "figure.png"
    assert rendered_set_figure.main(["--out", str(out), "--size", "64"]) == 0
    grid = np.asarray(Image.open(out).convert("RGB")).astype(int)
    gap, label, s = rendered_set_figure.GAP, rendered_set_figure.LABEL, 64
    for face in range(2):
        pictures = [grid[label + 2 * face * (s + gap):][:s, c * (s + gap):][:, :s] for c in range(5)]
        masks = [grid[label + (2 * face + 1) * (s + gap):][:s, c * (s + gap):][:, :s, 0] for c in range(1, 5)]
        for c, mask in enumerate(masks):  # each class's mask is where its picture differs from the bare face
            differs = np.abs(pictures[c + 1] - pictures[0]).max(axis=2) > 12
            assert differs[mask > 127].mean() > 0.8 and 0.02 < (mask > 127).mean() < 0.5
        covered = [(m > 127).sum() for m in masks]
        assert covered[0] == max(covered)  # worn correctly covers the most
        assert covered[3] == min(covered)  # pulled down to the chin the least


def test_benchmark_dataset_mode_reports_per_core_rates(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--mode", "dataset", "--faces", "3",
                           "--dataset_sizes", "64", "--repeats", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row = result["sizes"]["64"]
    stages = row["workers_1"]["stage_s_per_face"]
    assert set(stages) == {"decode", "align", "render", "encode+write"}
    assert row["faces_per_s_per_core"] == pytest.approx(1 / sum(stages.values()))
    assert row["render_alone_faces_per_s_per_core"] > row["faces_per_s_per_core"] > 0
    assert "faces/s/core" in done.stdout


def test_the_toy_faces_render_as_ffhq_does(tmp_path):
    """make_toyfaces.py's landmarks.json is taken as FFHQ's metadata: no detection, each mask over
    its toy face's nose and mouth and clear of its eyes, and the paired split on top."""
    from datasets import make_toyfaces

    toy = tmp_path / "toy"
    make_toyfaces.make_toyfaces(toy, size=96, n_train=8, n_test=2)
    out = tmp_path / "out"
    assert run("--src", str(toy / "trainA"), "--landmarks", str(toy / "landmarks.json"), "--out", str(out),
               "--size", "96", "--format", "png", "--wear_mix", "correct:1", "--paired", "--n_test", "2",
               "--workers", "1") == 0
    meta = json.loads((toy / "landmarks.json").read_text())
    rows = labels(out)
    assert len(rows) == 8 and {r["class"] for r in rows} == {"CMFD"}
    for r in rows:
        entry = meta[r["index"]]["image"]
        assert entry["file_path"] == f"trainA/{Path(r['source']).name}"
        marks = np.asarray(entry["face_landmarks"]) + 0.5
        opacity = np.asarray(Image.open(out / r["mask"]))

        def at(p):
            return opacity[int(p[1]), int(p[0])]

        assert at(marks[30]) > 127 and at(marks[[62, 66]].mean(axis=0)) > 127
        assert at(marks[36:42].mean(axis=0)) == 0 and at(marks[42:48].mean(axis=0)) == 0
        assert np.array_equal(np.asarray(Image.open(out / r["unmasked"])),
                              np.asarray(Image.open(toy / "trainA" / Path(r["source"]).name)))
    assert len(list((out / "paired" / "train").iterdir())) == 6
