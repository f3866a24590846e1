"""End to end: train.py leaves checkpoints, logs and pages; --continue_train resumes exactly;
test.py translates both directions; bad input ends in one clear line and exit code 2."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
import train as train_script
from conftest import ROOT, write_images
from support import SMALL, train, translate
from util.errors import run_cli

pytestmark = pytest.mark.slow

def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture
def trained(tiny_dataroot, tmp_path):
    """A finished 2-epoch run named "run"."""
    ckpt = tmp_path / "ckpt"
    assert train(tiny_dataroot, ckpt, "run", "--n_epochs", "1", "--n_epochs_decay", "1", "--seed", "1") == 0
    return tiny_dataroot, ckpt


def test_tiny_run_leaves_checkpoints_logs_and_page(trained):
    _, ckpt = trained
    run = ckpt / "run"
    for label in ("latest", "2"):
        for net in ("G_A", "G_B", "D_A", "D_B"):
            assert (run / f"{label}_net_{net}.pth").is_file()
        assert (run / f"{label}_train_state.pth").is_file()
    assert not list(run.glob("*.tmp"))  # atomic saves leave no temporary files
    state = load(run / "latest_train_state.pth")
    assert (state["epoch"], state["epoch_done"], state["total_iters"]) == (2, True, 12)

    lines = (run / "loss_log.txt").read_text().splitlines()
    assert lines[0].startswith("================ Training Loss (")
    pattern = re.compile(r"^\(epoch: \d+, iters: \d+, time: [\d.]+, data: [\d.]+\) "
                         r"D_A: [\d.]+ G_A: [\d.]+ cycle_A: [\d.]+ idt_A: [\d.]+ "
                         r"D_B: [\d.]+ G_B: [\d.]+ cycle_B: [\d.]+ idt_B: [\d.]+ $")
    assert len(lines) == 1 + 6 and all(pattern.match(line) for line in lines[1:])
    records = [json.loads(line) for line in (run / "loss_log.jsonl").read_text().splitlines()]
    assert [r["total_iters"] for r in records] == [2, 4, 6, 8, 10, 12]
    assert records[0]["lr"] == pytest.approx(0.0002) and records[-1]["lr"] == pytest.approx(0.0001)

    page = (run / "web" / "index.html").read_text()
    assert "epoch [2]" in page and "epoch [1]" in page
    labels = re.findall(r"epoch002_(\w+?)\.png", page)[::2]  # each image is linked and shown
    assert labels == ["real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"]
    for src in re.findall(r'src="([^"]+)"', page):
        assert (run / "web" / src).is_file()
    assert json.loads((run / "train_opt.json").read_text())["ngf"] == 8
    assert "----------------- Options ---------------" in (run / "train_opt.txt").read_text()


def test_classic_checkpoint_names_load_into_classic_layout(trained):
    """Our files hold plain state dicts under the classic names, with classic keys."""
    from models.networks import define_D, define_G
    _, ckpt = trained
    g = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance")
    g.load_state_dict(load(ckpt / "run" / "latest_net_G_A.pth"))  # strict
    d = define_D("basic", 3, ndf=8, norm="instance")
    d.load_state_dict(load(ckpt / "run" / "latest_net_D_A.pth"))


def test_continue_train_resumes_exactly(tiny_dataroot, tmp_path):
    """Stopping after epoch 1 and resuming gives the same weights, counters, rate and Adam state
    as training straight through."""
    ckpt = tmp_path / "ckpt"
    common = ["--seed", "5", "--lr_policy", "linear"]
    assert train(tiny_dataroot, ckpt, "straight", "--n_epochs", "1", "--n_epochs_decay", "2", *common) == 0
    assert train(tiny_dataroot, ckpt, "resumed", "--n_epochs", "1", "--n_epochs_decay", "0", *common) == 0
    first = load(ckpt / "resumed" / "latest_train_state.pth")
    assert (first["epoch"], first["total_iters"]) == (1, 6)
    # The resume names no architecture or epoch flags: they come from the saved run.
    assert train_script.main(["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(ckpt), "--name", "resumed",
                              "--continue_train", "--n_epochs", "1", "--n_epochs_decay", "2", "--display_id", "0",
                              "--num_threads", "0", "--batch_size", "2", "--load_size", "36", "--crop_size", "32",
                              "--print_freq", "2"]) == 0

    a, b = load(ckpt / "straight" / "latest_train_state.pth"), load(ckpt / "resumed" / "latest_train_state.pth")
    assert (b["epoch"], b["total_iters"], b["epoch_done"]) == (a["epoch"], a["total_iters"], True) == (3, 18, True)
    for key in ("optimizer_G", "optimizer_D"):
        assert b[key]["param_groups"][0]["lr"] == pytest.approx(a[key]["param_groups"][0]["lr"])
        for pid, sa in a[key]["state"].items():
            assert torch.allclose(sa["exp_avg_sq"], b[key]["state"][pid]["exp_avg_sq"], rtol=1e-5, atol=1e-12)
    for net in ("G_A", "G_B", "D_A", "D_B"):
        wa, wb = load(ckpt / "straight" / f"latest_net_{net}.pth"), load(ckpt / "resumed" / f"latest_net_{net}.pth")
        for k in wa:
            assert torch.allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6), (net, k)
    epochs = [json.loads(x)["epoch"] for x in (ckpt / "resumed" / "loss_log.jsonl").read_text().splitlines()]
    assert epochs == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    lrs = [json.loads(x)["lr"] for x in (ckpt / "resumed" / "loss_log.jsonl").read_text().splitlines()]
    assert lrs[3] == pytest.approx(0.0002 * (1 - 1 / 3)) and lrs[6] == pytest.approx(0.0002 * (1 - 2 / 3))


def test_resume_from_the_middle_of_an_epoch(tiny_dataroot, tmp_path):
    """--save_by_iter writes iter_<n>_* mid-epoch; --load_iter n resumes there, skipping the
    samples already seen, and ends where an uninterrupted run ends."""
    ckpt = tmp_path / "ckpt"
    flags = ["--n_epochs", "2", "--n_epochs_decay", "0", "--seed", "9", "--save_by_iter", "--save_latest_freq", "4"]
    assert train(tiny_dataroot, ckpt, "straight", *flags) == 0
    assert train(tiny_dataroot, ckpt, "stopped", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "9",
                 "--save_by_iter", "--save_latest_freq", "4") == 0
    mid = load(ckpt / "stopped" / "iter_4_train_state.pth")
    assert (mid["epoch"], mid["epoch_iter"], mid["epoch_done"], mid["total_iters"]) == (1, 4, False, 4)
    for p in (ckpt / "stopped").glob("latest_*"):  # as if killed right after the iter_4 save
        p.unlink()
    assert train(tiny_dataroot, ckpt, "stopped", "--continue_train", "--load_iter", "4", *flags) == 0
    a, b = load(ckpt / "straight" / "latest_train_state.pth"), load(ckpt / "stopped" / "latest_train_state.pth")
    assert (b["epoch"], b["total_iters"]) == (a["epoch"], a["total_iters"]) == (2, 12)
    for net in ("G_A", "G_B", "D_A", "D_B"):
        wa, wb = load(ckpt / "straight" / f"latest_net_{net}.pth"), load(ckpt / "stopped" / f"latest_net_{net}.pth")
        assert all(torch.allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6) for k in wa), net


def test_test_py_translates_both_directions(trained, tmp_path):
    dataroot, ckpt = trained
    results = tmp_path / "results"
    assert translate(dataroot, ckpt, results, "--model", "cycle_gan", "--batch_size", "2") == 0
    images = results / "run" / "test_latest" / "images"
    for stem in ("000", "001", "002"):
        for label in ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"):
            with Image.open(images / f"{stem}_{label}.png") as im:
                assert im.size == (32, 32)  # the training crop size, taken from train_opt.json
    assert len(list(images.iterdir())) == 18
    assert json.loads((results / "run" / "test_latest" / "test_opt.json").read_text())["netG"] == "resnet_6blocks"
    page = (results / "run" / "test_latest" / "index.html").read_text()
    assert page.count("<img") == 18
    # fake_B is G_AB of the real A image: recompute it from the checkpoint
    from models.networks import define_G
    g = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance")
    g.load_state_dict(load(ckpt / "run" / "latest_net_G_A.pth"))
    real = np.asarray(Image.open(images / "001_real_A.png"), dtype=np.float32) / 127.5 - 1
    with torch.no_grad():
        fake = g(torch.from_numpy(real).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    saved = np.asarray(Image.open(images / "001_fake_B.png"), dtype=np.float32) / 127.5 - 1
    assert np.abs(fake - saved).max() < 2.5 / 127.5


def test_test_model_one_folder_any_size(trained, tmp_path):
    dataroot, ckpt = trained
    folder = tmp_path / "collection"
    write_images(folder / "sub", 3, size=(45, 29), seed=7)
    results = tmp_path / "results"
    assert translate(folder, ckpt, results, "--model", "test", "--model_suffix", "_B", "--preprocess", "none",
                     "--batch_size", "3") == 0
    out = results / "run" / "test_latest" / "images" / "sub"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i:03d}_{lab}.png" for i in range(3) for lab in ("real", "fake"))
    with Image.open(out / "002_fake.png") as im:
        assert im.size == (45, 29)


def test_num_test_limits_each_domain(trained, tmp_path):
    dataroot, ckpt = trained
    results = tmp_path / "r"
    assert translate(dataroot, ckpt, results, "--model", "cycle_gan", "--num_test", "2") == 0
    assert len(list((results / "run" / "test_latest" / "images").glob("*_fake_*.png"))) == 4


# ------------------------------------------------------------------------------------------------ #
# Bad input: one line, exit code 2, nothing destroyed
# ------------------------------------------------------------------------------------------------ #


def run_train(argv, capsys):
    code = run_cli(train_script.main, argv, "train.py")
    err = capsys.readouterr().err.strip()
    return code, err


def test_missing_dataroot(tmp_path, capsys):
    code, err = run_train(["--dataroot", str(tmp_path / "nope"), "--checkpoints_dir", str(tmp_path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--dataroot" in err and "Traceback" not in err


def test_empty_trainA(tiny_dataroot, tmp_path, capsys):
    for p in (tiny_dataroot / "trainA").iterdir():
        p.unlink()
    code, err = run_train(["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path / "c"), *SMALL], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "trainA" in err and "no images" in err
    assert not (tmp_path / "c").exists()  # nothing written


def test_unknown_netG(tiny_dataroot, tmp_path, capsys):
    code, err = run_train(["--dataroot", str(tiny_dataroot), "--netG", "resnet_12blocks"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--netG" in err and "resnet_12blocks" in err


@pytest.mark.parametrize("flags,named", [
    (["--crop_size", "30"], "--crop_size 30"),                       # resnet needs multiples of 4
    (["--netG", "unet_128", "--crop_size", "32"], "--crop_size 32"),  # unet_128 needs multiples of 128
    (["--netG", "unet_128", "--preprocess", "none"], "--netG unet_128"),
    (["--crop_size", "40", "--load_size", "36"], "--crop_size 40"),   # crop larger than the resize
])
def test_sizes_the_generator_cannot_take_are_refused_up_front(tiny_dataroot, tmp_path, capsys, flags, named):
    code, err = run_train(["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path / "c"), *SMALL,
                           *flags], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and named in err
    assert not (tmp_path / "c").exists()


def test_corrupt_image_is_skipped_with_a_warning_and_counted(tiny_dataroot, tmp_path, capsys):
    (tiny_dataroot / "trainB" / "broken.png").write_bytes(b"\x89PNG not really")
    code = run_cli(train_script.main, ["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path / "c"),
                                       *SMALL, "--n_epochs", "2", "--n_epochs_decay", "0", "--serial_batches"],
                   "train.py")
    out = capsys.readouterr().out
    assert code == 0
    warnings = [line for line in out.splitlines() if "skipped unreadable image" in line]
    assert len(warnings) == 1 and "broken.png" in warnings[0]  # once, though both epochs met it
    state = load(tmp_path / "c" / "experiment_name" / "latest_train_state.pth")
    assert list(state["bad_images"]) == [str(tiny_dataroot / "trainB" / "broken.png")]
    assert state["total_iters"] == 12  # no sample was dropped: a readable image stood in


def test_more_bad_images_than_allowed_stop_with_a_list(tiny_dataroot, tmp_path, capsys):
    """Read in loader worker processes, still one line naming the files."""
    (tiny_dataroot / "trainA" / "zzz.png").write_bytes(b"")
    (tiny_dataroot / "trainA" / "zzy.png").write_bytes(b"GIF89a truncated")
    code, err = run_train(["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path / "c"), *SMALL,
                           "--num_threads", "2", "--n_epochs", "3", "--n_epochs_decay", "0", "--max_bad_images", "1"],
                          capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "more than --max_bad_images 1" in err and "zzz.png" in err and "zzy.png" in err


def test_new_run_never_overwrites_an_existing_one(trained, capsys):
    dataroot, ckpt = trained
    before = (ckpt / "run" / "latest_net_G_A.pth").read_bytes()
    code, err = run_train(["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", "run", *SMALL], capsys)
    assert code == 2 and "--continue_train" in err
    assert (ckpt / "run" / "latest_net_G_A.pth").read_bytes() == before


def test_checkpoint_of_another_architecture(trained, tmp_path, capsys):
    dataroot, ckpt = trained
    argv = ["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", "run", "--model", "cycle_gan",
            "--results_dir", str(tmp_path / "r"), "--num_threads", "0"]
    code = run_cli(test_script.main, argv + ["--netG", "resnet_9blocks"], "test.py")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--netG resnet_9blocks" in err and "resnet_6blocks" in err
    # Without train_opt.json (a classic checkpoint), the weights themselves say what they are.
    (ckpt / "run" / "train_opt.json").unlink()
    code = run_cli(test_script.main, argv + ["--ngf", "16"], "test.py")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--ngf 8" in err
    assert run_cli(test_script.main, argv, "test.py") == 0  # and with no flags it just works


def test_continue_train_with_contradicting_architecture(trained, capsys):
    dataroot, ckpt = trained
    code, err = run_train(["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", "run",
                           "--continue_train", "--ndf", "16", "--display_id", "0"], capsys)
    assert code == 2 and "--ndf 16" in err and "ndf=8" in err


def test_refuses_pickles_that_could_run_code(trained, tmp_path, capsys):
    dataroot, ckpt = trained
    evil = ckpt / "evil"
    evil.mkdir()
    torch.save({"model.1.weight": torch.zeros(1), "payload": Path("x")}, evil / "latest_net_G_A.pth")
    code = run_cli(test_script.main, ["--dataroot", str(dataroot / "testA"), "--checkpoints_dir", str(ckpt),
                                      "--name", "evil", "--model_suffix", "_A", "--netG", "resnet_6blocks",
                                      "--results_dir", str(tmp_path / "r")], "test.py")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "refused" in err


def test_command_line_exit_code_is_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "--dataroot", str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_display_without_visdom_warns_once_and_trains_on(tiny_dataroot, tmp_path, recwarn):
    argv = ["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path), "--name", "vis", *SMALL,
            "--display_id", "1", "--display_port", "1", "--n_epochs", "1", "--n_epochs_decay", "0", "--no_html"]
    assert train_script.main(argv) == 0
    assert not (tmp_path / "vis" / "web").exists()  # --no_html
    display_warnings = [w for w in recwarn if "visdom" in str(w.message)]
    assert len(display_warnings) == 1
    assert (tmp_path / "vis" / "latest_net_G_A.pth").is_file()


def test_loader_workers_stop_when_training_does(tiny_dataroot, tmp_path, monkeypatch):
    """The training loader's persistent workers ignore SIGTERM, so multiprocessing's exit handler could
    never end one left running: train.main() stops them itself, even while something (here a kept
    frame, as a stored traceback keeps one) still holds the loader."""
    import inspect
    import multiprocessing

    kept = []
    recorder = train_script.TrainingRecorder

    def keep_train_frame(*args, **kwargs):
        kept.append(inspect.currentframe().f_back)  # train()'s frame, and with it its loader
        return recorder(*args, **kwargs)

    monkeypatch.setattr(train_script, "TrainingRecorder", keep_train_frame)
    argv = ["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path), "--name", "w", *SMALL,
            "--num_threads", "2", "--n_epochs", "1", "--n_epochs_decay", "0"]
    assert train_script.main(argv) == 0
    assert kept and "loader" in kept[0].f_locals
    assert multiprocessing.active_children() == []
