"""What survives what: a checkpoint is never half-written or mixed whatever the moment of a crash;
SIGTERM/SIGINT save and stop within the minute; a run stopped and resumed is the same run, to the
bit; NaN/Inf stops (or is skipped) without touching the last good checkpoint; a failed save keeps
the previous checkpoint; code-running pickles are refused; and the fault-injection run: a toy run
killed with SIGKILL at random moments, resumed each time, ends where an unbroken run ends."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import train as train_script
from conftest import ROOT, write_images
from models.cycle_gan_model import CycleGANModel
from models.schedulers import lr_factor
from util import checkpoint, resilience
from util.errors import UserError, run_cli

pytestmark = pytest.mark.slow

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--display_id", "0", "--num_threads", "0", "--print_freq", "1", "--display_freq", "100", "--no_html",
        "--gpu_ids", "-1"]


@pytest.fixture
def dataroot(tmp_path) -> Path:
    write_images(tmp_path / "data" / "trainA", 6, seed=21)
    write_images(tmp_path / "data" / "trainB", 5, seed=22)
    return tmp_path / "data"


def train(dataroot: Path, ckpt: Path, name: str, *extra: str) -> int:
    return run_cli(train_script.main, ["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", name,
                                       *TINY, *extra], "train.py")


def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


def weights(folder: Path, label: str = "latest") -> dict[str, dict[str, torch.Tensor]]:
    return {n: load(folder / f"{label}_net_{n}.pth") for n in ("G_A", "G_B", "D_A", "D_B")}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".pth"}


def losses_by_image(folder: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in (folder / "loss_log.jsonl").read_text().splitlines()]
    keys = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B", "lr")
    return {r["total_iters"]: {k: r[k] for k in keys} for r in records}


# ------------------------------------------------------------------------------------------------ #
# 1. A checkpoint set is committed whole
# ------------------------------------------------------------------------------------------------ #


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even except/finally clean-ups for OSError)."""


def test_a_crash_at_any_point_of_a_save_leaves_the_old_or_the_new_checkpoint(tmp_path, monkeypatch):
    names = [tmp_path / f"latest_net_{n}.pth" for n in ("G_A", "G_B", "D_A", "D_B")] + [tmp_path / "latest_train_state.pth"]
    old = {p: {"v": torch.full((3,), 1.0)} for p in names}
    new = {p: {"v": torch.full((3,), 2.0)} for p in names}
    checkpoint.save_together(old, journal_name=".latest.commit")
    real_replace, real_write = os.replace, checkpoint._write_new
    # every step of a save: 5 file writes, the journal's rename, 5 renames
    for kill_at in range(1, 12):
        calls = {"n": 0}

        def counting(fn):
            def wrapped(*args, **kwargs):
                calls["n"] += 1
                if calls["n"] == kill_at:
                    raise Killed
                return fn(*args, **kwargs)
            return wrapped

        monkeypatch.setattr(checkpoint.os, "replace", counting(real_replace))
        monkeypatch.setattr(checkpoint, "_write_new", counting(real_write))
        with pytest.raises(Killed):
            checkpoint.save_together(new, journal_name=".latest.commit")
        monkeypatch.setattr(checkpoint.os, "replace", real_replace)
        monkeypatch.setattr(checkpoint, "_write_new", real_write)
        checkpoint.recover(tmp_path)
        values = {float(load(p)["v"][0]) for p in names}
        assert len(values) == 1, (kill_at, values)  # never a mix
        assert not list(tmp_path.glob(".*")), kill_at  # no temporary file or journal left
        # the new set wins once its journal exists (the 6th call is the journal's rename)
        assert values == ({2.0} if kill_at > 6 else {1.0}), kill_at
        checkpoint.save_together(old, journal_name=".latest.commit")


def test_a_failed_save_keeps_the_previous_checkpoint_and_says_so(dataroot, tmp_path, monkeypatch, capsys):
    ckpt = tmp_path / "ckpt"
    assert train(dataroot, ckpt, "run", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "1") == 0
    before = snapshot(ckpt / "run")
    real_save, calls = torch.save, {"n": 0}

    def full_disk(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the third file of the next checkpoint
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    capsys.readouterr()
    code = train(dataroot, ckpt, "run", "--n_epochs", "2", "--n_epochs_decay", "0", "--continue_train")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "No space left on device" in err and "previous checkpoint is unchanged" in err
    assert snapshot(ckpt / "run") == before
    assert not list((ckpt / "run").glob(".*"))


def test_an_unwritable_folder_is_one_line(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", refuse)
    with pytest.raises(UserError, match="Permission denied.*previous checkpoint is unchanged"):
        checkpoint.atomic_save({"x": torch.zeros(1)}, tmp_path / "a.pth")


def test_code_running_pickle_in_a_train_state_is_refused(dataroot, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    assert train(dataroot, ckpt, "run", "--n_epochs", "1", "--n_epochs_decay", "0") == 0
    state = load(ckpt / "run" / "latest_train_state.pth")
    torch.save(state | {"payload": Path("x")}, ckpt / "run" / "latest_train_state.pth")  # a non-tensor object
    capsys.readouterr()
    assert train(dataroot, ckpt, "run", "--n_epochs", "2", "--n_epochs_decay", "0", "--continue_train") == 2
    assert "refused to load" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ #
# 2-3. Preemption and exact resume
# ------------------------------------------------------------------------------------------------ #


def test_random_states_round_trip():
    state = resilience.capture_rng()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    resilience.restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_random_states_survive_a_weights_only_checkpoint(tmp_path):
    checkpoint.atomic_save({"rng": resilience.capture_rng()}, tmp_path / "s.pth")
    first = (random.random(), np.random.rand(), torch.randn(3).tolist())
    resilience.restore_rng(checkpoint.safe_load(tmp_path / "s.pth")["rng"])
    assert (random.random(), np.random.rand(), torch.randn(3).tolist()) == first


def signal_after(monkeypatch, step: int, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` to this process during the ``step``-th training step (in-process "kill")."""
    original, calls = CycleGANModel.optimize_parameters, {"n": 0}

    def step_then_signal(self):
        calls["n"] += 1
        if calls["n"] == step:
            os.kill(os.getpid(), signum)
        return original(self)

    monkeypatch.setattr(CycleGANModel, "optimize_parameters", step_then_signal)


def test_sigterm_mid_epoch_saves_and_the_resumed_run_is_the_same_run(dataroot, tmp_path, monkeypatch, capsys):
    """wgangp draws from torch's generator (the penalty's mixing factors) and the pool from its own:
    without their states in the checkpoint the resumed run would drift."""
    flags = ["--n_epochs", "2", "--n_epochs_decay", "1", "--seed", "7", "--gan_mode", "wgangp",
             "--pool_size", "3", "--batch_size", "2", "--lr_policy", "plateau"]
    assert train(dataroot, tmp_path, "straight", *flags) == 0
    signal_after(monkeypatch, 5)  # epoch 2 (3 steps per epoch), second step
    capsys.readouterr()
    assert train(dataroot, tmp_path, "stopped", *flags) == 128 + signal.SIGTERM
    out = capsys.readouterr().out
    assert "stopped by SIGTERM at epoch 2, image 10" in out
    assert "Resume with: python train.py" in out and out.rstrip().endswith("--continue_train")
    state = load(tmp_path / "stopped" / "latest_train_state.pth")
    assert (state["epoch"], state["epoch_iter"], state["epoch_done"]) == (2, 4, False)
    monkeypatch.undo()
    assert train(dataroot, tmp_path, "stopped", *flags, "--continue_train") == 0
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "stopped")
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    assert losses_by_image(tmp_path / "stopped") == losses_by_image(tmp_path / "straight")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_whole_process_group_stops_cleanly_within_a_minute(dataroot, tmp_path, signum):
    """As Ctrl-C or a scheduler does: the main process and its loader workers all get the signal."""
    args = [sys.executable, str(ROOT / "train.py"), "--dataroot", str(dataroot), "--checkpoints_dir",
            str(tmp_path), "--name", "run", *TINY, "--num_threads", "2", "--n_epochs", "400", "--n_epochs_decay", "0"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    for line in proc.stdout:  # wait until training runs
        if line.startswith("end of epoch 1/"):
            break
    t0 = time.monotonic()
    os.killpg(proc.pid, signum)
    rest = proc.communicate(timeout=60)[0]
    assert time.monotonic() - t0 < 60
    assert proc.returncode == 128 + signum, rest
    assert f"stopped by {signal.Signals(signum).name}" in rest and "--continue_train" in rest
    assert "Traceback" not in rest
    state = load(tmp_path / "run" / "latest_train_state.pth")
    assert state["total_iters"] >= 6


# ------------------------------------------------------------------------------------------------ #
# 4. NaN / Inf
# ------------------------------------------------------------------------------------------------ #


def poison_cycle_loss(monkeypatch, call: int) -> None:
    """The ``call``-th cycle loss is NaN (as a diverging run would produce)."""
    import models.cycle_gan_model as cgm

    original, calls = cgm.cycle_loss, {"n": 0}

    def cycle(*args):
        calls["n"] += 1
        value = original(*args)
        return value * float("nan") if calls["n"] == call else value

    monkeypatch.setattr(cgm, "cycle_loss", cycle)


def test_nan_stops_and_the_last_good_checkpoint_stays_latest(dataroot, tmp_path, monkeypatch, capsys):
    poison_cycle_loss(monkeypatch, 2 * 5 - 1)  # cycle_A of step 5 (two cycle losses per step)
    code = train(dataroot, tmp_path, "run", "--n_epochs", "3", "--n_epochs_decay", "0", "--save_latest_freq", "4",
                 "--seed", "2")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "non-finite loss at epoch 1, image 5: cycle_A = nan" in err and "--nan_policy skip" in err
    state = load(tmp_path / "run" / "latest_train_state.pth")
    assert state["total_iters"] == 4  # the save before the bad step; nothing after it
    assert all(torch.isfinite(t).all() for net in weights(tmp_path / "run").values() for t in net.values())


def test_nan_policy_skip_skips_the_step_and_counts_it(dataroot, tmp_path, monkeypatch, capsys):
    poison_cycle_loss(monkeypatch, 2 * 5 - 1)
    code = train(dataroot, tmp_path, "run", "--n_epochs", "2", "--n_epochs_decay", "0", "--nan_policy", "skip",
                 "--seed", "2")
    out = capsys.readouterr().out
    assert code == 0 and "step skipped" in out and "1 steps skipped" in out
    state = load(tmp_path / "run" / "latest_train_state.pth")
    assert state["nan_skipped"] == 1 and state["total_iters"] == 12
    assert all(torch.isfinite(t).all() for net in weights(tmp_path / "run").values() for t in net.values())


# ------------------------------------------------------------------------------------------------ #
# 9. Fault injection: SIGKILL at random moments, resume each time
# ------------------------------------------------------------------------------------------------ #

KILLS = int(os.environ.get("FAULT_INJECTION_KILLS", "4"))  # CI's short version; raise it for a long soak
CHECKPOINT_WAIT_S = 300  # for a run's first new checkpoint: generous, a loaded machine starts slowly


def stamp(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` is now (saves replace it with a new one), or None if there is none."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


def test_killed_at_random_moments_and_resumed_each_time(dataroot, tmp_path):
    """Every other kill lands a seeded moment after the start (in start-up, recovery or training,
    whatever the machine's speed); the others a seeded moment after the run's first new checkpoint,
    so that some kills hit a training run, and resumes happen, however slowly the machine starts."""
    rng = random.Random(int(os.environ.get("FAULT_INJECTION_SEED", "0")))
    # Saves at every step, so many kills land inside a save.
    args = [sys.executable, str(ROOT / "train.py"), "--dataroot", str(dataroot), "--checkpoints_dir", str(tmp_path),
            "--name", "run", *TINY, "--n_epochs", "15", "--n_epochs_decay", "15", "--save_latest_freq", "1",
            "--seed", "4"]
    run_dir = tmp_path / "run"
    state_file = run_dir / "latest_train_state.pth"
    # networks this small gain nothing from intra-op threads, which on a busy machine slow each step several-fold
    one_thread = dict(os.environ, OMP_NUM_THREADS="1")
    history = []
    kills, finished = 0, False
    while not finished:
        # A checkpoint exists once its journal does (a kill may have stopped the renames): resume it.
        exists = (run_dir / "latest_net_G_A.pth").exists() or any(run_dir.glob(f".*{checkpoint.JOURNAL_SUFFIX}"))
        resume = ["--continue_train"] if exists else []
        before = stamp(state_file)
        proc = subprocess.Popen(args + resume, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=one_thread)
        if kills < KILLS:
            if kills % 2:  # after this run's first checkpoint
                deadline = time.monotonic() + CHECKPOINT_WAIT_S
                while proc.poll() is None and stamp(state_file) == before:
                    assert time.monotonic() < deadline, f"no checkpoint within {CHECKPOINT_WAIT_S} s"
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 1.0))
            else:  # start-up (importing torch) included: some kills land before any step
                time.sleep(rng.uniform(1.0, 5.0))
            if proc.poll() is None:
                proc.kill()
                kills += 1
        out = proc.communicate(timeout=600)[0]
        # the random names of temporary files and the test's folder are no part of what the run says
        said = re.sub(r"\S*\.tmp\b", "<tmp>", out.replace(str(tmp_path), "<tmp_path>"))
        assert "Traceback" not in said and "error" not in said, out
        assert proc.returncode in (0, -signal.SIGKILL), out
        finished = proc.returncode == 0
        if state_file.exists():
            checkpoint.recover(run_dir)  # what the next start does; then the files must load
            state = load(state_file)
            for n in ("G_A", "G_B", "D_A", "D_B"):
                load(run_dir / f"latest_net_{n}.pth")
            history.append(state)
            # killed after the last save but before exiting: nothing is left to resume
            finished = finished or (state["epoch"], state["epoch_done"]) == (30, True)
    assert kills >= min(KILLS, 3)
    counters = [h["total_iters"] for h in history]
    assert counters == sorted(counters) and len(history) >= 2  # never back to an older checkpoint
    for state in history:  # the rate follows the schedule through every resume
        epoch = state["epoch"] + (1 if state["epoch_done"] else 0)
        for group in state["optimizer_G"]["param_groups"] + state["optimizer_D"]["param_groups"]:
            assert group["lr"] == pytest.approx(0.0002 * lr_factor("linear", epoch, 15, 15, 50))
        assert state["total_iters"] == 6 * (state["epoch"] - 1) + state["epoch_iter"]
    final = history[-1]
    assert (final["epoch"], final["epoch_done"], final["total_iters"]) == (30, True, 180)
    assert not list((tmp_path / "run").glob(".*"))


# ------------------------------------------------------------------------------------------------ #
# 6. Bad data at test time
# ------------------------------------------------------------------------------------------------ #


def test_test_py_skips_unreadable_images_and_translates_the_rest(dataroot, tmp_path, capsys):
    import test as test_script

    assert train(dataroot, tmp_path / "ckpt", "run", "--n_epochs", "1", "--n_epochs_decay", "0") == 0
    folder = tmp_path / "collection"
    write_images(folder, 5, size=(32, 32), seed=3)
    (folder / "002.png").write_bytes(b"")  # zero bytes
    (folder / "003.png").write_bytes((folder / "004.png").read_bytes()[:200])  # truncated
    capsys.readouterr()
    code = run_cli(test_script.main, ["--dataroot", str(folder), "--checkpoints_dir", str(tmp_path / "ckpt"),
                                      "--name", "run", "--model_suffix", "_A", "--results_dir", str(tmp_path / "r"),
                                      "--num_threads", "2", "--batch_size", "2"], "test.py")
    out = capsys.readouterr().out
    assert code == 0 and "2 unreadable images skipped" in out
    assert sum("skipped unreadable image" in line for line in out.splitlines()) == 2
    images = tmp_path / "r" / "run" / "test_latest" / "images"
    assert sorted(p.name for p in images.glob("*_fake.png")) == ["000_fake.png", "001_fake.png", "004_fake.png"]
