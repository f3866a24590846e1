"""The speed settings change how the step runs, not what it computes: stacked passes, channels-last,
other Adam implementations and torch.compile give the plain path's losses and weights; bf16 stays
close; fp16's gradient scaler is saved and resumed; --amp none runs the plain modules themselves.
test.py streams a folder in batches with a capped page and reports a failed write in one line."""
from __future__ import annotations

import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
from conftest import write_images
from models.cycle_gan_model import CycleGANModel
from support import assert_same_history, model_options, steps, train, translate
from util.errors import UserError, run_cli

@pytest.fixture(scope="module")
def plain():
    return steps()


def test_amp_none_runs_the_plain_modules(plain):
    model, _ = plain
    assert all(model.runners[name] is net for name, net in model.nets.items())
    assert not model.scaler.is_enabled()
    assert all(p.dtype == torch.float32 for p in model.G_AB.parameters())


@pytest.mark.parametrize("lambda_identity", [0.5, 0.0])
def test_stacked_passes_compute_the_same_step(lambda_identity):
    _, want = steps(lambda_identity=lambda_identity)
    model, got = steps(lambda_identity=lambda_identity, stack_passes=True)
    assert_same_history(got, want, rel=1e-4)
    # the stacked call's slices are the separate calls' images
    with torch.no_grad():
        model.forward()
        assert torch.allclose(model.fake_B, model.G_AB(model.real_A), atol=1e-5)
        assert torch.allclose(model.rec_A, model.G_BA(model.fake_B), atol=1e-5)
        if lambda_identity:
            assert torch.allclose(model.idt_B, model.G_BA(model.real_A), atol=1e-5)


def test_stacked_passes_refuse_batch_norm():
    with pytest.raises(UserError, match="--stack_passes"):
        CycleGANModel(model_options(stack_passes=True, norm="batch"), torch.device("cpu"))


def test_channels_last_same_step_and_classic_checkpoints(plain, tmp_path):
    _, want = plain
    model, got = steps(channels_last=True)
    assert model.G_AB.model[1].weight.is_contiguous(memory_format=torch.channels_last)
    assert_same_history(got, want, rel=1e-4)
    model.save(tmp_path, "latest")
    saved = torch.load(tmp_path / "latest_net_G_A.pth", weights_only=True)
    assert all(t.is_contiguous() for t in saved.values())  # plain layout on disk, whatever the run used


@pytest.mark.parametrize("impl", ["foreach", "fused"])
def test_adam_implementations_agree(impl):
    # --norm none: biases before instance norm get only rounding noise as gradient, which each
    # implementation's Adam turns into a different lr-sized step of random sign.
    model_ref, want = steps(adam_impl="for_loop", norm="none")
    model, got = steps(adam_impl=impl, norm="none")
    assert_same_history(got, want, rel=1e-5)
    for a, b in zip(model.G_AB.parameters(), model_ref.G_AB.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_bf16_autocast_stays_close_and_keeps_fp32_weights(plain):
    _, want = plain
    model, got = steps(amp="bf16")
    assert_same_history(got[:1], want[:1], rel=0.05)  # bf16 keeps 8 bits of mantissa
    assert all(p.dtype == torch.float32 for p in model.G_AB.parameters())
    assert model.visuals()["fake_B"].dtype == torch.float32


def test_fp16_grad_scaler_is_saved_and_resumed(tmp_path):
    model, history = steps(amp="fp16")
    assert model.scaler.is_enabled() and all(np.isfinite(list(h.values())).all() for h in history)
    # Every overflowing step halves the scale from 2**16: the scaler really ran.
    assert model.scaler.get_scale() < 2.0**16
    model.save(tmp_path, "latest", {"epoch": 1, "epoch_iter": 6, "epoch_done": False, "total_iters": 6,
                                    "options": {"lr_policy": "linear"}})
    torch.manual_seed(1)
    fresh = CycleGANModel(model_options(amp="fp16"), torch.device("cpu"))
    assert fresh.scaler.get_scale() == 2.0**16
    fresh.load_training_state(tmp_path, "latest")
    assert fresh.scaler.state_dict() == model.scaler.state_dict()
    # A bf16 run (no scaler state) may go on in fp16: a fresh scaler, no error.
    bf16 = CycleGANModel(model_options(amp="bf16"), torch.device("cpu"))
    bf16.save(tmp_path, "bf16", {"epoch": 1, "epoch_iter": 6, "epoch_done": False, "total_iters": 6,
                                 "options": {"lr_policy": "linear"}})
    later = CycleGANModel(model_options(amp="fp16"), torch.device("cpu"))
    later.load_training_state(tmp_path, "bf16")
    assert later.scaler.get_scale() == 2.0**16


@pytest.mark.slow
def test_compiled_step_matches_eager(plain):
    _, want = plain
    _, got = steps(compile=True)
    assert_same_history(got, want, rel=1e-4)


# ------------------------------------------------------------------------------------------------ #
# test.py: batched, streamed, capped page
# ------------------------------------------------------------------------------------------------ #


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed")
    write_images(root / "data" / "trainA", 4, seed=1)
    write_images(root / "data" / "trainB", 4, seed=2)
    assert train(root / "data", root / "ckpt", "run", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "2") == 0
    return root


def translate_collection(root: Path, folder: Path, results: Path, *extra: str) -> int:
    return translate(folder, root / "ckpt", results, "--model", "test", "--model_suffix", "_A",
                     "--num_test", "100000", *extra)


@pytest.mark.slow
def test_batched_fast_test_py_matches_one_at_a_time(run_dir, tmp_path):
    folder = tmp_path / "faces"
    write_images(folder, 7, size=(32, 32), seed=5)
    assert translate_collection(run_dir, folder, tmp_path / "one", "--batch_size", "1") == 0
    assert translate_collection(run_dir, folder, tmp_path / "many", "--channels_last", "--batch_size", "4") == 0
    assert translate_collection(run_dir, folder, tmp_path / "bf16", "--amp", "bf16") == 0
    out = "run/test_latest/images/{:03d}_fake.png"
    for i in range(7):
        one = np.asarray(Image.open(tmp_path / "one" / out.format(i)), dtype=np.int16)
        many = np.asarray(Image.open(tmp_path / "many" / out.format(i)), dtype=np.int16)
        bf16 = np.asarray(Image.open(tmp_path / "bf16" / out.format(i)), dtype=np.int16)
        assert np.abs(one - many).max() <= 1
        assert np.abs(one - bf16).mean() < 3


@pytest.mark.slow
def test_test_py_memory_does_not_grow_with_the_folder_and_page_is_capped(run_dir, tmp_path):
    """Python-side memory for 440 images is about that of 40: nothing per image is kept (an
    uncapped page alone would add some 14 KiB per image)."""
    peaks = {}
    for count in (40, 440):
        folder = tmp_path / f"faces{count}"
        write_images(folder, count, size=(16, 16), seed=count)
        tracemalloc.start()
        assert translate_collection(run_dir, folder, tmp_path / f"r{count}", "--max_html_rows", "10",
                                    "--crop_size", "16", "--preprocess", "resize_and_crop") == 0
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        images = tmp_path / f"r{count}" / "run" / "test_latest" / "images"
        assert len(list(images.glob("*_fake.png"))) == count
    assert peaks[440] - peaks[40] < 1.5 * 2**20, peaks  # under 4 KiB per extra image
    page = (tmp_path / "r440" / "run" / "test_latest" / "index.html").read_text()
    assert page.count("<img") == 20 and "430 more" in page


def test_test_py_batch_size_default(run_dir, tmp_path):
    opt, given, _ = test_script.parse_test_options(["--dataroot", str(tmp_path), "--checkpoints_dir",
                                                    str(run_dir / "ckpt"), "--name", "run", "--model_suffix", "_A"])
    assert opt.batch_size is None
    test_script.resolve_architecture(opt, given, run_dir / "ckpt" / "run")
    assert opt.batch_size == test_script.DEFAULT_TEST_BATCH
    # batch norm in training mode mixes a batch's images: one at a time unless --eval
    assert test_script.default_batch_size(SimpleNamespace(norm="batch", eval=False)) == 1
    assert test_script.default_batch_size(SimpleNamespace(norm="batch", eval=True)) == test_script.DEFAULT_TEST_BATCH
    assert test_script.default_batch_size(SimpleNamespace(norm="none", eval=False)) == test_script.DEFAULT_TEST_BATCH


def test_failed_write_is_one_line(run_dir, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "faces"
    write_images(folder, 3, size=(32, 32), seed=5)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("util.image_io.save_image", disk_full)
    argv = ["--dataroot", str(folder), "--checkpoints_dir", str(run_dir / "ckpt"), "--name", "run", "--model",
            "test", "--model_suffix", "_A", "--results_dir", str(tmp_path / "res"), "--num_threads", "0"]
    assert run_cli(test_script.main, argv, "test.py") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "--results_dir" in err

