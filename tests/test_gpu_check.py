"""scripts/gpu_check.py --dry_run: every part at toy sizes on the CPU, recorded in the JSON and as a
markdown table each; a part that fails is recorded as failed while the others still run."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.py"

pytestmark = pytest.mark.slow

PARTS = ["machine", "train_b1", "train_b8", "train_b1_compile", "train_b8_compile", "test", "fid_cuda", "fid_cpu",
         "photos", "render", "multi_gpu"]


def gpu_check(out: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict, str]:
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry_run", "--out", str(out), *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    return done, json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    return gpu_check(tmp_path_factory.mktemp("gpu_check"))


def test_every_part_runs_and_is_recorded(dry_run):
    done, report, _ = dry_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p["name"] for p in report["parts"]] == PARTS
    for part in report["parts"]:
        assert part["status"] == "ok", part
        assert 0 < part["seconds"] <= part["limit_s"]


def test_measurements_are_positive_and_finite(dry_run):
    _, report, _ = dry_run
    parts = {p["name"]: p["result"] for p in report["parts"]}
    for name in PARTS[1:5]:
        r = parts[name]
        for key in ("train_img_per_s_fp32", "train_img_per_s", "train_speedup", "peak_mem_mb"):
            assert math.isfinite(r[key]) and r[key] > 0, (name, key, r[key])
    assert set(parts["test"]["test_img_per_s_by_batch"]) == {"2", "4"}
    assert parts["fid_cuda"]["fid"] == pytest.approx(parts["fid_cpu"]["fid"], rel=1e-3)  # both on the CPU here
    assert parts["photos"]["whole_photos_per_s"] > 0 and parts["render"]["ours_photos_per_s"] > 0
    multi = parts["multi_gpu"]
    assert multi["dataparallel"].startswith("skipped") and multi["ddp"]["devices"] == 2
    assert multi["ddp"]["scaling_efficiency"] > 0
    for name, result in parts.items():
        for value in numbers(result):
            assert math.isfinite(value) and value >= 0, (name, result)


def test_the_markdown_has_a_table_per_part(dry_run):
    done, report, text = dry_run
    assert text.strip() == done.stdout.strip()
    assert text.count("| measure | value |") == len(PARTS)
    for part in report["parts"]:
        assert f"## {part['title']}" in text


def test_a_failing_part_is_recorded_and_the_others_still_run(tmp_path):
    done, report, text = gpu_check(tmp_path, "--only", "machine", "test", "--fail", "machine")
    assert done.returncode == 1
    machine, test = report["parts"]
    assert machine["status"] == "failed" and machine["reason"] == "exit 1"
    assert "made to fail" in machine["last_stderr"]
    assert test["status"] == "ok" and test["result"]["test_img_per_s"] > 0
    assert "| failed | exit 1 |" in text


def test_a_part_past_its_limit_is_recorded_as_a_timeout(tmp_path):
    done, report, _ = gpu_check(tmp_path, "--only", "multi_gpu", "--budget_s", "4")
    assert done.returncode == 1
    (multi,) = report["parts"]
    assert multi["status"] == "failed" and multi["reason"].startswith("timeout after 4")
