"""Tests for datasets/combine_A_and_B.py: the classic command that builds pix2pix's AB images.

The expected pixels are read straight with PIL, not through the code under test: the left half of
an output must be its A image and the right half its B image. The bad-input table checks what a
user can act on: exit code 2, one line on stderr naming the flag or file, and the whole tree (inputs
and --fold_AB) exactly as it was, not one file or folder added or changed.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from conftest import write_images
from datasets import combine_A_and_B as combine
from util.errors import run_cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "datasets" / "combine_A_and_B.py"
PROG = "combine_A_and_B.py"
TRAIN = ["000.png", "001.png", "002.png", "003.png"]  # the train pairs of ``make_tree``
TEST = ["000.jpg", "001.jpg", "002.jpg"]


def make_tree(root: Path) -> Path:
    """The classic layout under ``root``: A/train and B/train of 36x40 PNGs (A's 001 grayscale), with
    one A image (extra000.png) and one B image (orphan000.png) that have no partner; A/test and
    B/test of 32x24 JPEGs."""
    write_images(root / "A" / "train", 4, size=(36, 40), seed=1)
    write_images(root / "B" / "train", 4, size=(36, 40), seed=2)
    gray = np.random.default_rng(3).integers(0, 256, (40, 36), dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(root / "A" / "train" / "001.png")
    write_images(root / "A" / "train", 1, size=(36, 40), seed=4, prefix="extra")
    write_images(root / "B" / "train", 1, size=(36, 40), seed=5, prefix="orphan")
    write_images(root / "A" / "test", 3, size=(32, 24), seed=6, ext=".jpg")
    write_images(root / "B" / "test", 3, size=(32, 24), seed=7, ext=".jpg")
    return root


def classic(root: Path, *extra: str, fold_A: Path | None = None, fold_B: Path | None = None,
            fold_AB: Path | None = None) -> list[str]:
    return ["--fold_A", str(fold_A or root / "A"), "--fold_B", str(fold_B or root / "B"),
            "--fold_AB", str(fold_AB or root / "AB"), *extra]


def combine_ok(argv: list[str]) -> None:
    assert run_cli(combine.main, argv, PROG) == 0


def rgb(path: Path | io.BytesIO) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).astype(int)


def halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    ab = rgb(path)
    return ab[:, : ab.shape[1] // 2], ab[:, ab.shape[1] // 2:]


def jpeg_round_trip(pixels: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, format="JPEG", quality=95, subsampling=0)
    return rgb(buf)


def tree_bytes(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


# --------------------------------------------------------------------------------------------- #
# what it writes
# --------------------------------------------------------------------------------------------- #


def test_png_pairs_become_A_left_and_B_right_pixel_for_pixel(tree: Path):
    combine_ok(classic(tree))
    assert sorted(p.name for p in (tree / "AB" / "train").iterdir()) == TRAIN  # no temporary file left
    for name in TRAIN:
        out = tree / "AB" / "train" / name
        with Image.open(out) as img:
            assert (img.format, img.mode, img.size) == ("PNG", "RGB", (72, 40))
        left, right = halves(out)
        np.testing.assert_array_equal(left, rgb(tree / "A" / "train" / name))
        np.testing.assert_array_equal(right, rgb(tree / "B" / "train" / name))
    gray_left = halves(tree / "AB" / "train" / "001.png")[0]
    np.testing.assert_array_equal(gray_left[..., 0], gray_left[..., 2])  # grayscale A became grey RGB


def test_jpeg_pairs_stay_jpeg_at_quality_95_without_chroma_subsampling(tree: Path):
    """The halves are 32 px wide, so the seam falls on an 8 px JPEG block boundary and each half of
    the output encodes exactly as that image alone would: equal to A's (and B's) own JPEG round trip
    at quality 95, 4:4:4. Against the original pixels, random noise at that setting moves a pixel by
    about 3 levels on average; 4:2:0 subsampling (about 45) or quality 90 (about 6) would fail the 4."""
    combine_ok(classic(tree))
    assert sorted(p.name for p in (tree / "AB" / "test").iterdir()) == TEST
    for name in TEST:
        out = tree / "AB" / "test" / name
        with Image.open(out) as img:
            assert (img.format, img.size) == ("JPEG", (64, 24))
        for half, source in zip(halves(out), (tree / "A" / "test" / name, tree / "B" / "test" / name)):
            np.testing.assert_array_equal(half, jpeg_round_trip(rgb(source)))
            assert np.abs(half - rgb(source)).mean() < 4


def test_the_documented_command_runs_as_a_script(tree: Path):
    proc = subprocess.run([sys.executable, str(SCRIPT), *classic(tree, fold_AB=tree)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == f"test: 3 pairs written to {tree / 'test'}"
    assert sorted(p.name for p in (tree / "train").iterdir()) == TRAIN
    assert sorted(p.name for p in (tree / "test").iterdir()) == TEST


def test_num_imgs_takes_the_first_pairs_in_sorted_order(tmp_path: Path):
    write_images(tmp_path / "A" / "train", 6, seed=1)
    write_images(tmp_path / "B" / "train", 6, seed=2)
    (tmp_path / "B" / "train" / "001.png").unlink()  # 001 has no partner, so it is not one of the first
    combine_ok(classic(tmp_path, "--num_imgs", "3"))
    assert sorted(p.name for p in (tmp_path / "AB" / "train").iterdir()) == ["000.png", "002.png", "003.png"]


def test_missing_partners_are_skipped_and_counted(tree: Path, capsys):
    combine_ok(classic(tree))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        f"test: 3 pairs written to {tree / 'AB' / 'test'}",
        f"train: 4 pairs written to {tree / 'AB' / 'train'}; 1 A image without a B partner skipped "
        "(e.g. extra000.png); 1 B image without an A partner ignored (e.g. orphan000.png)",
    ]
    assert not (tree / "AB" / "train" / "extra000.png").exists()


def test_a_split_without_images_is_passed_over(tree: Path, capsys):
    """An empty split folder (val/ made and never filled) is skipped, as the classic script skipped it."""
    (tree / "A" / "val").mkdir()
    combine_ok(classic(tree))
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "val: no A images, skipped"
    assert not (tree / "AB" / "val").exists() and len(list((tree / "AB" / "train").iterdir())) == len(TRAIN)


def test_use_AB_pairs_NAME_A_with_NAME_B_and_names_the_output_NAME(tmp_path: Path, capsys):
    folder = tmp_path / "pairs" / "train"  # A and B side by side in one folder, as --use_AB allows
    for suffix, seed in (("_A", 1), ("_B", 2)):
        for i, path in enumerate(write_images(folder, 2, seed=seed)):
            path.rename(folder / f"face{i}{suffix}.png")
    write_images(folder, 1, seed=3)[0].rename(folder / "lonely_A.png")
    pairs = tmp_path / "pairs"
    combine_ok(classic(tmp_path, "--use_AB", fold_A=pairs, fold_B=pairs))
    out = tmp_path / "AB" / "train"
    assert sorted(p.name for p in out.iterdir()) == ["face0.png", "face1.png"]
    for name in ("face0", "face1"):
        left, right = halves(out / f"{name}.png")
        np.testing.assert_array_equal(left, rgb(folder / f"{name}_A.png"))
        np.testing.assert_array_equal(right, rgb(folder / f"{name}_B.png"))
    assert "1 A image without a B partner skipped (e.g. lonely_A.png)" in capsys.readouterr().out


def test_one_process_writes_the_same_bytes_as_the_pool(tree: Path, monkeypatch):
    pools = []

    class CountedPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(combine, "ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(combine, "usable_cores", lambda: 3)  # a pool even on a one-core machine
    combine_ok(classic(tree, fold_AB=tree / "pool"))
    assert pools, "the default run used no process pool"
    used = len(pools)
    combine_ok(classic(tree, "--no_multiprocessing", fold_AB=tree / "single"))
    assert len(pools) == used, "--no_multiprocessing started a process pool"
    assert tree_bytes(tree / "single") == tree_bytes(tree / "pool")


def test_a_second_run_overwrites_its_outputs_with_identical_bytes(tree: Path):
    combine_ok(classic(tree))
    first = tree_bytes(tree / "AB")
    (tree / "AB" / "train" / "002.png").write_bytes(b"stale")
    combine_ok(classic(tree))
    assert tree_bytes(tree / "AB") == first


def test_the_output_is_what_the_pix2pix_loader_reads(tree: Path):
    from data.datasets import AlignedDataset

    combine_ok(classic(tree))
    dataset = AlignedDataset(str(tree / "AB"), "train", float("inf"), "none", 64, 64, flip=False, train=False,
                             channels_A=3, channels_B=3)
    assert [Path(p).name for p in dataset.AB_paths] == TRAIN
    for i, name in enumerate(TRAIN):
        item = dataset[i]
        for key, folder in (("A", "A"), ("B", "B")):
            pixels = ((item[key] + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(int)
            np.testing.assert_array_equal(pixels, rgb(tree / folder / "train" / name))


# --------------------------------------------------------------------------------------------- #
# bad input: one line, exit code 2, nothing written
# --------------------------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Bad:
    argv: Callable[[Path], list[str]]  # from the root of ``make_tree``
    expect: tuple[str, ...]  # the error line contains each
    prepare: Callable[[Path], object] | None = None


def pairs_of_sizes(size_A: tuple[int, int], size_B: tuple[int, int], count: int = 1) -> Callable[[Path], None]:
    def prepare(root: Path) -> None:
        write_images(root / "A" / "train", count, size=size_A, seed=8, prefix="odd")
        write_images(root / "B" / "train", count, size=size_B, seed=9, prefix="odd")
    return prepare


def flat_fold_A(root: Path) -> None:
    shutil.copytree(root / "A" / "train", root / "flat")


def truncate_A(root: Path) -> None:
    """The header still reads, so the size check passes; decoding fails while writing."""
    path = root / "A" / "train" / "002.png"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def unpaired_split(root: Path) -> None:
    write_images(root / "A" / "val", 2, seed=10)
    write_images(root / "B" / "val", 2, seed=11, prefix="other")


BAD = [
    pytest.param(Bad(lambda r: classic(r, fold_A=r / "nowhere"), ("--fold_A", "nowhere")), id="missing-fold_A"),
    pytest.param(Bad(lambda r: classic(r, fold_B=r / "nowhere"), ("--fold_B", "nowhere")), id="missing-fold_B"),
    pytest.param(Bad(lambda r: classic(r, fold_A=r / "flat"), ("--fold_A", "no split folders", "fold_A/train/1.jpg"),
                     flat_fold_A), id="no-split-folders"),
    # all bad pairs are found from the headers before writing, not the first one while writing
    pytest.param(Bad(classic, ("2 bad pair(s)", "odd000.png is 40x40", "odd001.png is 36x40"),
                     pairs_of_sizes((40, 40), (36, 40), count=2)), id="different-sizes"),
    pytest.param(Bad(classic, ("1 bad pair(s)", "odd000.png is 38x40", "odd000.png is 36x40"),
                     pairs_of_sizes((38, 40), (36, 40))), id="different-widths-same-height"),
    pytest.param(Bad(classic, ("1 bad pair(s)", "PIL cannot open", "002.png"),
                     lambda r: (r / "A" / "train" / "002.png").write_bytes(b"not an image")), id="corrupt-image"),
    pytest.param(Bad(classic, ("002.png",), truncate_A), id="truncated-image"),
    pytest.param(Bad(lambda r: classic(r, fold_AB=r / "A"), ("--fold_AB", "--fold_A")), id="fold_AB-is-fold_A"),
    pytest.param(Bad(lambda r: classic(r, fold_AB=r / "B" / "train" / "out"), ("--fold_AB", "--fold_B")),
                 id="fold_AB-inside-fold_B-train"),
    pytest.param(Bad(lambda r: classic(r, "--num_imgs", "0"), ("--num_imgs",)), id="num_imgs-0"),
    pytest.param(Bad(classic, ("split val has no pairs", "val"), unpaired_split), id="split-without-pairs"),
    pytest.param(Bad(lambda r: classic(r, fold_A=r / "empty"), ("--fold_A", "has no images", "train"),
                     lambda r: (r / "empty" / "train").mkdir(parents=True)), id="no-images-in-any-split"),
    pytest.param(Bad(classic, ("--fold_B", "val"), lambda r: write_images(r / "A" / "val", 2, seed=12)),
                 id="split-missing-in-fold_B"),
    pytest.param(Bad(lambda r: classic(r, fold_B=r / "A"), ("--fold_A", "--fold_B", "--use_AB")),
                 id="fold_A-is-fold_B-without-use_AB"),
    pytest.param(Bad(classic, ("AB/train/001.png is a folder", "nothing written"),
                     lambda r: (r / "AB" / "train" / "001.png").mkdir(parents=True)), id="output-name-is-a-folder"),
    pytest.param(Bad(lambda r: classic(r, fold_AB=r / "taken"), ("output folder", "taken"),
                     lambda r: (r / "taken").write_text("a file where the output folder goes\n")),
                 id="fold_AB-is-a-file"),
]


def assert_refused(root: Path, argv: list[str], expect: tuple[str, ...], capsys) -> None:
    before = tree_bytes(root)
    assert run_cli(combine.main, argv, PROG) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: "), err
    for text in expect:
        assert text in lines[0]
    assert "Traceback" not in out + err
    assert tree_bytes(root) == before


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("processes", ["pool", "one"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tree: Path, bad: Bad, processes: str, capsys):
    if bad.prepare:
        bad.prepare(tree)
    argv = bad.argv(tree) + (["--no_multiprocessing"] if processes == "one" else [])
    assert_refused(tree, argv, bad.expect, capsys)


def test_sizes_that_differ_only_once_decoded_are_refused_too(tree: Path, capsys, monkeypatch):
    """A header can disagree with the decoded image (a file replaced after the check, an EXIF turn
    stored after a PNG's pixels): the pair is still refused and nothing written."""
    pairs_of_sizes((40, 40), (36, 40))(tree)
    monkeypatch.setattr(combine, "header_size", lambda path: (36, 40))  # not picklable: one process
    assert_refused(tree, classic(tree, "--no_multiprocessing"), ("odd000.png is 40x40", "odd000.png is 36x40"),
                   capsys)
