"""Helper scripts: the results grid and the benchmark."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_images
from scripts.results_grid import main as grid_main
from util.errors import run_cli


def test_results_grid_places_each_label_in_its_column(tmp_path, capsys):
    images = tmp_path / "res" / "images"
    images.mkdir(parents=True)
    colours = {"real_A": (255, 0, 0), "fake_B": (0, 255, 0), "real_B": (0, 0, 255)}
    for name in ("001", "002", "003"):
        for label, colour in colours.items():
            Image.new("RGB", (20, 20), colour).save(images / f"{name}_{label}.png")
    out = tmp_path / "grid.png"
    assert grid_main([str(tmp_path / "res"), "--labels", "real_A", "fake_B", "real_B", "--rows", "2",
                      "--tile", "32", "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (18 + 2 * 32, 3 * 32, 3)
    for c, colour in enumerate(colours.values()):
        assert tuple(grid[18 + 40, c * 32 + 16]) == colour


def test_results_grid_missing_folder_is_one_line(tmp_path, capsys):
    code = run_cli(grid_main, [str(tmp_path / "none"), "--out", str(tmp_path / "g.png")], "results_grid.py")
    assert code == 2 and "run test.py first" in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_reports_every_mode_next_to_its_baseline(capsys):
    """Tiny sizes: the JSON line has the promised keys, ratios agree with the numbers (speed itself
    is never asserted)."""
    from scripts.benchmark import main as bench_main

    assert bench_main(["--mode", "all", "--crop_size", "32", "--netG", "resnet_6blocks", "--iters", "1",
                       "--warmup", "1", "--test_images", "4", "--test_batch_size", "4", "--data_images", "2",
                       "--data_epochs", "1", "--stack_passes", "--amp", "bf16", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("train_img_per_s", "train_img_per_s_fp32", "train_speedup", "train_s_per_iter",
                "test_img_per_s", "test_img_per_s_fp32", "test_speedup", "test_s_per_iter",
                "data_img_per_s", "peak_mem_mb", "settings"):
        assert key in result, key
    assert result["train_speedup"] == pytest.approx(result["train_img_per_s"] / result["train_img_per_s_fp32"])
    assert result["test_speedup"] == pytest.approx(result["test_img_per_s"] / result["test_img_per_s_fp32"])
    assert result["settings"]["amp"] == "bf16" and result["settings"]["stack_passes"] is True
    assert result["peak_mem_mb"] > 10 and result["data_img_per_s_286px"] > 0


def test_benchmark_sizes_mode_scans_a_folder_and_counts_its_sizes(tmp_path, capsys):
    from scripts.benchmark import main as bench_main

    write_images(tmp_path / "scan", 5, size=(36, 40), seed=1)
    write_images(tmp_path / "scan", 4, size=(60, 40), seed=2, prefix="wide")
    assert bench_main(["--mode", "sizes", "--scan_dir", str(tmp_path / "scan"), "--scan_images", "7"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["scan_files"] == 7 and result["scan_sizes"] == 2  # the first 7 in sorted order: 5 plain, 2 wide
    assert result["scan_files_per_s"] == pytest.approx(7 / result["scan_s"])
    assert result["decode_same_count_s"] == pytest.approx(7 * result["decode_1024px_s_per_file"])


@pytest.mark.slow
def test_benchmark_photos_mode_times_every_stage_and_the_whole(capsys):
    pytest.importorskip("dlib")
    from scripts.benchmark import main as bench_main

    assert bench_main(["--mode", "photos", "--photos", "2", "--cnn_photos", "0", "--crop_size", "32",
                       "--netG", "resnet_6blocks", "--num_threads", "0", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["faces_placed"] == 3 and result["faces_found_hog"] == 3 and result["faces_found_pipeline"] == 3
    stages = result["stage_s_per_photo"]
    assert set(stages) == {"decode", "detect", "landmarks", "align", "translate", "paste", "identity", "write"}
    assert result["slowest_stage"] == max(stages, key=stages.get)
    assert result["whole_over_slowest"] == pytest.approx(result["whole_photos_per_s"] * stages[result["slowest_stage"]])


def test_benchmark_refuses_cuda_without_a_gpu(capsys):
    from scripts.benchmark import main as bench_main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert run_cli(bench_main, ["--mode", "train", "--device", "cuda"], "benchmark.py") == 2
    assert "--device cuda" in capsys.readouterr().err


def test_results_grid_puts_several_runs_side_by_side(tmp_path):
    """K:label takes the column from folder K, matched by image name; --titles name the columns."""
    colours = [{"real_A": (255, 0, 0), "fake_B": (0, 255, 0)}, {"fake_B": (0, 0, 255)}]
    folders = []
    for k, labels in enumerate(colours):
        images = tmp_path / f"run{k}" / "images"
        images.mkdir(parents=True)
        for name in ("001", "002"):
            for label, colour in labels.items():
                # the second run's 002 differs, so a row must take each folder's own file of that name
                shade = colour if name == "001" or k == 0 else (9, 9, 9)
                Image.new("RGB", (20, 20), shade).save(images / f"{name}_{label}.png")
        folders.append(str(tmp_path / f"run{k}"))
    out = tmp_path / "grid.png"
    assert grid_main([*folders, "--labels", "real_A", "0:fake_B", "1:fake_B", "--titles", "in", "one", "two",
                      "--tile", "32", "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (18 + 2 * 32, 3 * 32, 3)
    assert [tuple(grid[18 + 16, c * 32 + 16]) for c in range(3)] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    assert tuple(grid[18 + 48, 2 * 32 + 16]) == (9, 9, 9)


@pytest.mark.parametrize("extra, message", [
    (["--labels", "real_A", "5:fake_B"], "folder number from 0 to 0"),
    (["--labels", "real_A", "fake_B", "--titles", "one"], "--titles has 1 names for 2 --labels"),
])
def test_results_grid_bad_columns_are_one_line(tmp_path, capsys, extra, message):
    images = tmp_path / "res" / "images"
    write_images(images, 1, size=(8, 8), seed=0)
    code = run_cli(grid_main, [str(tmp_path / "res"), *extra, "--out", str(tmp_path / "g.png")], "results_grid.py")
    assert code == 2 and message in capsys.readouterr().err
