"""scripts/sweep.sh on a real toy sweep of 2 runs: names from train.py's --suffix (switches on/off),
train -> test -> evaluate for each, two at once, sweep.json, finished runs skipped, a half-done run resumed from
where it stopped, --dry_run (also of torchrun jobs on GPUs), a failing run marked while the others
go on, and bad grids refused in one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, write_images
from scripts.sweep import DEFAULT_GRID, combinations, main as sweep_main, suffix_template
from util.errors import run_cli
from util.metrics import inception

pytestmark = pytest.mark.slow

TRAIN = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
         "--num_threads", "0", "--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "2", "--display_freq", "4"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for folder, count, seed in (("trainA", 4, 1), ("trainB", 4, 2), ("testA", 3, 3), ("testB", 3, 4)):
        write_images(root / "data" / folder, count, seed=seed)
    weights = inception.make_random_weights(root / "random_inception.pth", seed=0)
    return root, weights


def sweep(root: Path, weights: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["bash", str(ROOT / "scripts" / "sweep.sh"), "--dataroot", "data", "--name", "toy",
            "--grid", "norm=instance,batch", "--parallel", "2", "--num_test", "3", "--inception_weights", str(weights),
            *extra, "--", *TRAIN]
    return subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHON=sys.executable))


def test_default_grid_is_the_earlier_projects_axes():
    assert list(DEFAULT_GRID) == ["batch_size", "norm", "lr_policy", "gan_mode"]
    assert len(combinations(DEFAULT_GRID)) == 24
    template = suffix_template(DEFAULT_GRID, combinations(DEFAULT_GRID)[0])
    assert template == "bs{batch_size}_{norm}_{lr_policy}_{gan_mode}"


def test_switch_axes_read_on_and_off_and_an_earlier_sweeps_runs_keep_their_names(tmp_path, capsys, monkeypatch):
    """A switch's part of the name is attn_on / attn_off, not train.py's attnTrue; a run an earlier
    sweep started under the old name is still found there (skipped or resumed, not started again)."""
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    argv = ["--dataroot", "data", "--name", "s", "--grid", "attention=on,off", "no_flip=true,false", "--dry_run",
            "--", *TRAIN]

    def names() -> tuple[list[str], list[str]]:
        assert sweep_main(argv) == 0
        out = capsys.readouterr().out.splitlines()
        return [line[2:].split(":")[0] for line in out if line.startswith("# ")], out

    got, _ = names()
    assert got == ["s_attn_on_no_flip_on", "s_attn_on_no_flip_off", "s_attn_off_no_flip_on", "s_attn_off_no_flip_off"]
    (tmp_path / "checkpoints" / "s_attnTrue_no_flipFalse").mkdir(parents=True)
    got, out = names()
    assert got == ["s_attn_on_no_flip_on", "s_attnTrue_no_flipFalse", "s_attn_off_no_flip_on", "s_attn_off_no_flip_off"]
    trains = [line for line in out if "/train.py" in line]
    assert "--suffix 'attn{attention}_no_flip{no_flip}'" in trains[1]  # train.py names it as before
    assert "--suffix attn_on_no_flip_on" in trains[0]
    assert sum("/test.py" in line and "--name s_attnTrue_no_flipFalse" in line for line in out) == 1


def test_dry_run_prints_every_command_and_runs_none(toy, capsys, monkeypatch):
    root, weights = toy
    monkeypatch.chdir(root)
    assert sweep_main(["--dataroot", "data", "--name", "dry", "--grid", "batch_size=1,2", "gan_mode=lsgan,vanilla",
                       "--dry_run", "--", *TRAIN]) == 0
    out = capsys.readouterr().out.splitlines()
    headers = [line for line in out if line.startswith("# ")]
    assert headers == [f"# dry_bs{b}_{g}: 3 commands" for b in (1, 2) for g in ("lsgan", "vanilla")]
    trains = [line for line in out if "/train.py" in line]
    assert len(trains) == 4 and all("--suffix 'bs{batch_size}_{gan_mode}'" in line for line in trains)
    assert sum("/test.py" in line and "--name dry_bs2_vanilla" in line for line in out) == 1
    assert not (root / "checkpoints").exists() and not (root / "sweeps").exists()


def test_toy_sweep_runs_skips_and_resumes(toy):
    root, weights = toy
    first = sweep(root, weights)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    ledger = json.loads((root / "sweeps" / "toy" / "sweep.json").read_text())
    assert [(r["name"], r["status"]) for r in ledger["runs"]] == [("toy_instance", "done"), ("toy_batch", "done")]
    assert ledger["axes"] == {"norm": ["instance", "batch"]}
    for name, norm in (("toy_instance", "instance"), ("toy_batch", "batch")):
        opt = json.loads((root / "checkpoints" / name / "train_opt.json").read_text())
        assert opt["norm"] == norm and opt["name"] == name
        metrics = json.loads((root / "results" / name / "test_latest" / "metrics.json").read_text())
        assert set(metrics["directions"]) == {"AB", "BA"}

    again = sweep(root, weights)
    assert again.returncode == 0 and again.stdout.count("sweep: skip") == 2

    # A run whose evaluation is missing: training is not redone, test and evaluate are.
    (root / "results" / "toy_batch" / "test_latest" / "metrics.json").unlink()
    log = root / "sweeps" / "toy" / "logs" / "toy_batch.log"
    before = log.read_text().count("$ ")
    third = sweep(root, weights)
    assert third.returncode == 0 and third.stdout.count("sweep: skip") == 1
    commands = log.read_text().split("$ ")[before + 1:]
    assert [c.split()[1].rsplit("/", 1)[-1] for c in commands] == ["test.py", "evaluate.py"]


def test_bad_grids_are_one_line(toy, capsys, monkeypatch):
    root, _ = toy
    monkeypatch.chdir(root)
    for grid, expect in ((["norm"], "flag=value"), (["no_such_flag=1,2"], "no_such_flag"),
                         (["norm=instance,weird"], "--norm")):
        assert run_cli(sweep_main, ["--dataroot", "data", "--name", "bad", "--grid", *grid, "--dry_run"],
                       "sweep.sh") == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expect in err, err


def test_gpus_and_torchrun_jobs_in_a_dry_run(toy, capsys, monkeypatch):
    """Two runs at once on four GPUs, each a torchrun job on two of them (printed, not run: no GPU here)."""
    root, _ = toy
    monkeypatch.chdir(root)
    assert sweep_main(["--dataroot", "data", "--name", "multi", "--grid", "norm=instance,batch", "--gpus", "0,1,2,3",
                       "--torchrun", "2", "--dry_run", "--", *TRAIN]) == 0
    trains = [line for line in capsys.readouterr().out.splitlines() if "/train.py" in line]
    assert [line.split()[0] for line in trains] == ["CUDA_VISIBLE_DEVICES=0,1", "CUDA_VISIBLE_DEVICES=2,3"]
    assert all("-m torch.distributed.run --standalone --nproc_per_node 2" in line and "--gpu_ids 0,1" in line
               for line in trains)


def test_a_failing_run_is_marked_and_the_others_go_on(toy):
    root, weights = toy
    args = ["bash", str(ROOT / "scripts" / "sweep.sh"), "--dataroot", "data", "--name", "fail",
            "--grid", "batch_size=2,50", "--num_test", "3", "--inception_weights", str(weights), "--", *TRAIN]
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 1
    assert "FAILED fail_bs50" in proc.stdout and "--batch_size 50" in proc.stdout
    ledger = json.loads((root / "sweeps" / "fail" / "sweep.json").read_text())
    assert {r["name"]: r["status"] for r in ledger["runs"]} == {"fail_bs2": "done", "fail_bs50": "failed"}
