"""benchmark.py --mode render: our whole command, the renderer alone, and MaskTheFace side by side.

MaskTheFace itself is not installed here: a stand-in ``mask_the_face.py`` prints its "Faces found"
lines and writes its ``<folder>_masked`` files, which is all the benchmark reads from it."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from scripts.benchmark import main as bench_main

pytest.importorskip("dlib")

STAND_IN = textwrap.dedent('''\
    import argparse, os, shutil
    p = argparse.ArgumentParser()
    p.add_argument("--path"); p.add_argument("--mask_type"); p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    for name in sorted(os.listdir(a.path)):  # the benchmark's photo k holds 1 + k % 4 faces
        os.makedirs(a.path + "_masked", exist_ok=True)
        target = os.path.join(a.path + "_masked", name[:-4] + "_" + a.mask_type + ".png")
        shutil.copy(os.path.join(a.path, name), target)
        print("Faces found: %2d" % (1 + int(name[:3]) % 4))
    print("Processing Done")
''')


def run_render_mode(argv, capsys) -> tuple[int, dict]:
    code = bench_main(["--mode", "render", "--photos", "2", "--repeats", "1", "--num_threads", "0", *argv])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_render_mode_times_our_command_and_the_renderer_and_counts_the_faces(capsys):
    code, result = run_render_mode([], capsys)
    assert code == 0, result.get("ours_error")
    for key in ("photos", "faces_placed", "ours_wall_s", "ours_startup_s", "ours_photos_per_s", "ours_faces_per_s",
                "ours_faces_by_status", "ours_stage_seconds", "detect_s_per_photo", "render_faces_per_s", "cpu"):
        assert key in result, key
    assert result["photos"] == 2 and result["faces_placed"] == 3  # one face, then two (the astronaut and Hopper)
    assert result["ours_faces_masked"] == result["render_faces_found"] == 3
    assert result["ours_photos_per_s"] == pytest.approx(2 / result["ours_wall_s"])
    assert set(result["render_faces_per_s"]) == {"surgical"} and result["render_faces_per_s"]["surgical"] > 0
    assert "maskthefaced_wall_s" not in result


@pytest.mark.slow
def test_render_mode_counts_maskthefaces_faces_from_its_output(tmp_path, capsys):
    (tmp_path / "mask_the_face.py").write_text(STAND_IN)
    code, result = run_render_mode(["--mask_type", "cloth", "--maskthefaced_dir", str(tmp_path),
                                    "--maskthefaced_python", sys.executable], capsys)
    assert result["maskthefaced_faces_masked"] == 3 and result["maskthefaced_photos_written"] == 2
    assert result["maskthefaced_mask_type"] == "cloth" and "--verbose" in result["maskthefaced_command"]
    assert result["maskthefaced_photos_per_s"] == pytest.approx(2 / result["maskthefaced_wall_s"])
    assert result["maskthefaced_startup_s"] < result["maskthefaced_wall_s"] * 10
    assert set(result["render_faces_per_s"]) == {"cloth"}
    assert code == 0, result.get("ours_error")
    assert result["ours_over_maskthefaced"] == pytest.approx(
        result["ours_photos_per_s"] / result["maskthefaced_photos_per_s"])


def test_render_mode_refuses_an_unknown_mask_type(capsys):
    from util.errors import run_cli

    assert run_cli(bench_main, ["--mode", "render", "--mask_type", "scarf"], "benchmark.py") == 2
    assert "--mask_type scarf" in capsys.readouterr().err
