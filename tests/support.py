"""Helpers that several test files share: aligned (AB) images, tiny training runs (in this process or
under torchrun), the weights they leave and how far apart two runs' weights are, and a few steps of a
tiny CycleGAN.

Test files import from here, never from each other (tests/test_suite_layout.py checks): a test file's
module-level set-up (an ``importorskip`` that skips everything, data built at import) runs wherever it
is imported, and a file imported both as ``test_x`` and as ``tests.test_x`` is two modules.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
import train as train_script
from conftest import ROOT
from models.cycle_gan_model import CycleGANModel, loss_values

# ------------------------------------------------------------------------------------------------ #
# Data
# ------------------------------------------------------------------------------------------------ #


def write_ab(folder: Path, count: int, size=(32, 32), seed: int = 0, prefix: str = "") -> list[Path]:
    """``count`` AB images: a random A of ``size`` (width, height) on the left, and on the right its B,
    the same face with a light "mask" over the lower middle (as a paired set of faces would be)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    paths = []
    for i in range(count):
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        b = a.copy()
        b[h // 2:, w // 4: 3 * w // 4] = 230
        path = folder / f"{prefix}{i:03d}.png"
        Image.fromarray(np.concatenate([a, b], axis=1)).save(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------------ #
# Runs of train.py and test.py
# ------------------------------------------------------------------------------------------------ #

# train.py flags of a tiny run that trains in seconds on the CPU
SMALL = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
         "--batch_size", "2", "--display_id", "0", "--num_threads", "0", "--print_freq", "2", "--display_freq", "2"]

# A tiny run whose weights under torchrun match one process with the global batch. --norm none: every
# parameter gets a real gradient (conv biases before instance norm get only rounding noise, which Adam
# would blow up to lr-sized steps of random sign). No pool: each rank keeps its own, so pooled fakes
# could not match a single process.
TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--norm", "none", "--pool_size", "0", "--display_id", "0", "--num_threads", "0", "--print_freq", "2",
        "--display_freq", "100", "--gpu_ids", "-1", "--seed", "3", "--no_html"]


def train(dataroot: Path, ckpt: Path, name: str, *extra: str) -> int:
    """train.py in this process: a ``SMALL`` run named ``name``."""
    return train_script.main(["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", name,
                              *SMALL, *extra])


def translate(dataroot: Path, ckpt: Path, results: Path, *extra: str) -> int:
    """test.py on the run named "run"."""
    return test_script.main(["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", "run",
                             "--results_dir", str(results), "--num_threads", "0", *extra])


def train_process(args: list[str], nproc: int = 0, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """train.py in a fresh interpreter, in ``cwd``; under ``torchrun --standalone`` when ``nproc`` > 0.
    Asserts that it succeeded."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] \
        if nproc else [sys.executable]
    proc = subprocess.run([*launcher, str(ROOT / "train.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def weights(folder: Path, label: str = "latest") -> dict[str, dict[str, torch.Tensor]]:
    """A CycleGAN checkpoint's four state dicts, by their classic file names."""
    return {name: torch.load(folder / f"{label}_net_{name}.pth", map_location="cpu", weights_only=True)
            for name in ("G_A", "G_B", "D_A", "D_B")}


def max_difference(a: dict, b: dict) -> float:
    """The largest difference between two runs' weights (dicts of state dicts, the same keys)."""
    return max(float((a[n][k].float() - b[n][k].float()).abs().max()) for n in a for k in a[n])


# ------------------------------------------------------------------------------------------------ #
# Steps of a tiny CycleGAN, without train.py
# ------------------------------------------------------------------------------------------------ #


def model_options(**kw):
    """The options CycleGANModel reads, for a tiny model (``ngf``/``ndf`` 4); ``kw`` overrides them."""
    base = dict(isTrain=True, netG="resnet_6blocks", netD="basic", ngf=4, ndf=4, n_layers_D=3, norm="instance",
                no_dropout=True, init_type="normal", init_gain=0.02, input_nc=3, output_nc=3, gpu_id_list=[],
                seed=0, pool_size=50, gan_mode="lsgan", beta1=0.5, lr=0.0002, lr_policy="linear", epoch_count=1,
                n_epochs=1, n_epochs_decay=1, lr_decay_iters=50, lambda_A=10.0, lambda_B=7.0,
                lambda_identity=0.5, lambda_gp=10.0, direction="AtoB")
    base.update(kw)
    return SimpleNamespace(**base)


BATCHES = [(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(s)) * 2 - 1,
            torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(s + 50)) * 2 - 1) for s in range(3)]


def steps(**flags) -> tuple[CycleGANModel, list[dict[str, float]]]:
    """Three steps of a tiny model, same initial weights for every setting."""
    torch.manual_seed(0)
    model = CycleGANModel(model_options(**flags), torch.device("cpu"))
    history = []
    for A, B in BATCHES:
        model.set_input({"A": A, "B": B})
        history.append(loss_values(model.optimize_parameters()))
    return model, history


def assert_same_history(got, want, rel):
    for step_got, step_want in zip(got, want):
        assert step_got == pytest.approx(step_want, rel=rel, abs=1e-6)
