"""Helper scripts: the results grid."""
from __future__ import annotations

import numpy as np
from PIL import Image

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
