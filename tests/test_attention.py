"""--attention: the blend's exact ends, gradients into both heads, the regularisers and the mask IoU
against hand computations; a tiny attention run that trains, resumes, is rebuilt by test.py (from
train_opt.json and from the weights alone) and writes its maps; the grids, evaluate.py's table, the
sweep's grid axis and summary column; contradictory flags in one line."""
from __future__ import annotations

import copy
import json
import shutil
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
from models.cycle_gan_model import ATTENTION_LOSS_NAMES, CycleGANModel, loss_values
from models.losses import attention_mean_loss, attention_tv_loss
from models.networks import attention_blend, define_G
from support import model_options
from util.errors import run_cli
from util.metrics.localisation import attention_region, changed_region, iou

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1", "--print_freq", "2", "--display_freq", "2"]
SIZES = {"resnet_6blocks": 32, "unet_128": 128}


# ------------------------------------------------------------------------------------------------ #
# The generator
# ------------------------------------------------------------------------------------------------ #


def test_blend_gives_the_input_at_alpha_0_and_the_content_at_alpha_1():
    gen = torch.Generator().manual_seed(0)
    content, source = torch.rand(2, 3, 8, 8, generator=gen) * 2 - 1, torch.rand(2, 3, 8, 8, generator=gen) * 2 - 1
    zeros, ones = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
    assert torch.equal(attention_blend(content, zeros, source), source)  # bit for bit
    assert torch.equal(attention_blend(content, ones, source), content)
    alpha = torch.rand(2, 1, 8, 8, generator=gen)
    expected = alpha * content + (1 - alpha) * source
    assert torch.allclose(attention_blend(content, alpha, source), expected, atol=0)


@pytest.mark.parametrize("netG", sorted(SIZES))
def test_saturated_map_returns_the_input_or_the_trunks_image(netG):
    """A head biased to -1e4 (alpha exactly 0) returns the input; +1e4 (alpha exactly 1) returns what the
    plain generator with the same trunk weights returns. The trunk keeps the classic keys."""
    torch.manual_seed(0)
    net = define_G(netG, 3, 3, ngf=4, norm="instance", attention=True)
    plain = define_G(netG, 3, 3, ngf=4, norm="instance")
    trunk = {k: v for k, v in net.state_dict().items() if not k.startswith("attention.")}
    assert list(trunk) == list(plain.state_dict()) and set(net.state_dict()) - set(trunk) == {
        "attention.weight", "attention.bias"}
    plain.load_state_dict(trunk)
    x = torch.rand(2, 3, SIZES[netG], SIZES[netG], generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        net.attention.weight.zero_()
        net.attention.bias.fill_(-1e4)
        out, alpha = net(x)
        assert torch.equal(alpha, torch.zeros_like(alpha)) and torch.equal(out, x)
        net.attention.bias.fill_(1e4)
        out, alpha = net(x)
        assert torch.equal(alpha, torch.ones_like(alpha)) and torch.equal(out, plain(x))


@pytest.mark.parametrize("netG", sorted(SIZES))
def test_gradients_reach_the_image_head_the_alpha_head_and_the_trunk(netG):
    torch.manual_seed(0)
    net = define_G(netG, 3, 3, ngf=4, norm="instance", attention=True)
    x = torch.rand(1, 3, SIZES[netG], SIZES[netG], generator=torch.Generator().manual_seed(2)) * 2 - 1
    target = torch.rand(1, 3, SIZES[netG], SIZES[netG], generator=torch.Generator().manual_seed(3)) * 2 - 1
    out, _ = net(x)
    (out - target).abs().mean().backward()  # through the translation alone
    layers = net.model.model if netG.startswith("unet") else net.model
    image_layer, first = layers[-2], next(m for m in net.model.modules() if isinstance(m, torch.nn.Conv2d))
    for name, param in (("image head", image_layer.weight), ("alpha head", net.attention.weight),
                        ("trunk", first.weight)):
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_regularisers_match_a_hand_computation():
    alpha = torch.tensor([[0.0, 1.0, 1.0],
                          [0.0, 1.0, 0.5],
                          [0.0, 0.0, 0.0]]).view(1, 1, 3, 3)
    # mean: (1 + 1 + 1 + 0.5) / 9; down: |0-0|+|1-1|+|0.5-1| and |0-0|+|0-1|+|0-0.5| over 6 = 2/6;
    # across: |1-0|+|1-1|, |1-0|+|0.5-1|, 0+0 over 6 = 2.5/6
    assert attention_mean_loss(alpha, 0.1).item() == pytest.approx(0.1 * 3.5 / 9)
    assert attention_tv_loss(alpha, 2.0).item() == pytest.approx(2.0 * (2 / 6 + 2.5 / 6))
    assert attention_tv_loss(torch.full((2, 1, 5, 5), 0.7), 1.0).item() == 0.0


def test_step_reports_and_applies_the_attention_terms():
    """The step's attn_* losses are the regularisers of each generator's two maps of the cycle,
    recomputed here with the weights from before the step; stacked passes compute the same step."""
    options = dict(attention=True, lambda_attn_mean=0.3, lambda_attn_tv=2.0, norm="none")
    A = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    B = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    history = []
    for stack in (False, True):
        torch.manual_seed(0)
        model = CycleGANModel(model_options(**options, stack_passes=stack), torch.device("cpu"))
        G_AB, G_BA = copy.deepcopy(model.G_AB), copy.deepcopy(model.G_BA)
        model.set_input({"A": A, "B": B})
        history.append(loss_values(model.optimize_parameters()))
    losses = history[0]
    assert tuple(losses) == ATTENTION_LOSS_NAMES
    with torch.no_grad():
        fake_B, map_B = G_AB(A)
        fake_A, map_A = G_BA(B)
        maps_AB = torch.cat([map_B, G_AB(fake_A)[1]])  # G_AB's maps: of fake_B and of rec_B
        maps_BA = torch.cat([map_A, G_BA(fake_B)[1]])
    assert losses["attn_mean_A"] == pytest.approx(0.3 * maps_AB.mean().item(), rel=1e-5)
    assert losses["attn_mean_B"] == pytest.approx(0.3 * maps_BA.mean().item(), rel=1e-5)

    def tv(m: torch.Tensor) -> float:
        return ((m[..., 1:, :] - m[..., :-1, :]).abs().mean() + (m[..., 1:] - m[..., :-1]).abs().mean()).item()

    assert losses["attn_tv_A"] == pytest.approx(2.0 * tv(maps_AB), rel=1e-5)
    assert losses["attn_tv_B"] == pytest.approx(2.0 * tv(maps_BA), rel=1e-5)
    assert history[1] == pytest.approx(history[0], rel=1e-4, abs=1e-6)
    visuals = model.visuals()
    assert list(visuals)[:4] == ["real_A", "fake_B", "attn_B", "rec_A"] and visuals["attn_A"].shape == (2, 1, 32, 32)
    assert visuals["attn_B"].min() >= -1 and visuals["attn_B"].max() <= 1  # a grey picture in [-1, 1]


# ------------------------------------------------------------------------------------------------ #
# Mask localisation
# ------------------------------------------------------------------------------------------------ #


def test_iou_and_change_region_match_a_hand_computation():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True  # 4 pixels
    region = np.zeros((4, 4), bool)
    region[0, :] = True  # 4 pixels, 2 of them in truth: 2 / 6
    assert iou(region, truth) == pytest.approx(1 / 3)
    assert iou(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == 1.0
    assert iou(np.zeros((4, 4), bool), truth) == 0.0
    source = np.zeros((1, 4, 3))
    fake = np.array([[[17, 17, 17], [48, 0, 0], [0, 0, 15], [60, 0, 0]]], float)  # means 17, 16, 5, 20
    assert changed_region(fake, source).tolist() == [[True, False, False, True]]  # above 16, not at it
    assert changed_region(fake, source, threshold=4).tolist() == [[True, True, True, True]]
    assert attention_region(np.array([[0.2, 0.5, 0.51]])).tolist() == [[False, False, True]]


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    from util.metrics import inception
    return inception.make_random_weights(tmp_path_factory.mktemp("w") / "random_inception.pth", seed=0)


@pytest.mark.slow
def test_evaluate_reports_the_mask_iou_of_changes_and_maps(tmp_path, random_weights):
    """Two 16x16 faces with a 2x4 mask (8 pixels). f0: fake_B changed the mask's 8 pixels and 4 more
    (IoU 8/12), its map covers the mask's top row (4/8); f1: fake_B changed 4 mask pixels by more than
    16 and the other 4 by exactly 16 (4/8), its map is empty (0). fake_A: the input unchanged (0) and
    no maps. The summary shows the means as IoU columns."""
    from scripts import evaluate
    from scripts import summarize_sweep as summary

    root, images = tmp_path / "data", tmp_path / "res" / "images"
    images.mkdir(parents=True)
    face = np.full((16, 16, 3), 100, np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[5:7, 2:6] = 255
    masked = face.copy()
    masked[5:7, 2:6] = 200
    fakes, maps = {}, {}
    fakes["f0"] = masked.copy()
    fakes["f0"][7, 2:6] = 130  # 4 more pixels, 30 levels off
    maps["f0"] = np.zeros((16, 16), np.uint8)
    maps["f0"][5, 2:6] = 200  # alpha 0.78 on the mask's top row
    fakes["f1"] = face.copy()
    fakes["f1"][5, 2:6] = 150
    fakes["f1"][6, 2:6] = 116  # a mean change of exactly 16: not counted
    maps["f1"] = np.full((16, 16), 127, np.uint8)  # alpha 0.498 everywhere: not above 0.5
    for name in ("f0", "f1"):
        for folder, arr in (("testA", face), ("testB", masked), ("testmask", mask)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / folder / f"{name}.png")
        for label, arr in (("real_A", face), ("fake_B", fakes[name]), ("attn_B", maps[name]), ("real_B", masked),
                           ("fake_A", masked)):
            Image.fromarray(arr).save(images / f"{name}_{label}.png")
    argv = ["--results_dir", str(tmp_path / "res"), "--dataroot", str(root), "--inception_weights",
            str(random_weights), "--cache_dir", str(tmp_path / "cache"), "--dims", "64", "--num_workers", "0",
            "--kid_subsets", "2", "--no_identity"]
    assert evaluate.main(argv) == 0
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    ab, ba = metrics["directions"]["AB"]["localisation"], metrics["directions"]["BA"]["localisation"]
    assert ab == {"pairs": 2, "change_threshold": 16.0, "iou_change": pytest.approx((8 / 12 + 4 / 8) / 2),
                  "attention_pairs": 2, "alpha_threshold": 0.5, "iou_attention": pytest.approx((4 / 8 + 0) / 2)}
    assert ba["iou_change"] == 0.0 and ba["attention_pairs"] == 0 and ba["iou_attention"] is None
    assert "paired" in metrics["directions"]["AB"]  # the existing keys stay
    table = (tmp_path / "res" / "metrics.md").read_text()
    assert f"| AB | 2 | {(8 / 12 + 4 / 8) / 2:.3f} | 0.250 | 2 |" in table and "| BA | 2 | 0.000 | n/a | 0 |" in table
    # a lower threshold counts f1's 16-level change too
    assert evaluate.main(argv + ["--change_threshold", "15"]) == 0
    again = json.loads((tmp_path / "res" / "metrics.json").read_text())["directions"]["AB"]["localisation"]
    assert again["iou_change"] == pytest.approx((8 / 12 + 8 / 8) / 2)

    values = summary.flat_metrics(metrics)
    assert values["IoU_AB"] == pytest.approx((8 / 12 + 4 / 8) / 2) and values["IoU_attn_AB"] == 0.25
    assert values["IoU_BA"] == 0.0 and "IoU_attn_BA" not in values
    rows = [summary.RunSummary("attn", {"attention": True}, values),
            summary.RunSummary("plain", {"attention": False}, {})]
    text = summary.markdown(rows, "IoU_AB")
    assert "| IoU_AB | IoU_BA | IoU_attn_AB |" in text and "| 0.583 | 0.000 | 0.250 |" in text
    assert summary.higher_is_better("IoU_attn_AB") and "IoU_attn_BA" in summary.SORT_KEYS


def test_change_threshold_out_of_range_is_one_line(tmp_path, capsys):
    from scripts import evaluate

    (tmp_path / "res").mkdir()
    assert run_cli(evaluate.main, ["--results_dir", str(tmp_path / "res"), "--dataroot", str(tmp_path),
                                   "--change_threshold", "-1"], "evaluate.py") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--change_threshold -1.0" in err


# ------------------------------------------------------------------------------------------------ #
# A tiny attention run end to end
# ------------------------------------------------------------------------------------------------ #


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory):
    """One epoch with --attention, then one more by --continue_train (no architecture flags given)."""
    base = tmp_path_factory.mktemp("attention")
    root = base / "data"
    for folder, count, seed in (("trainA", 4, 1), ("trainB", 4, 2), ("testA", 2, 3), ("testB", 2, 4)):
        write_images(root / folder, count, seed=seed)
    ckpt = base / "ckpt"
    common = ["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "run", *TINY, "--n_epochs_decay", "0"]
    assert train_script.main([*common, "--attention", "--n_epochs", "1", "--seed", "1",
                              "--lambda_attn_mean", "0.2"]) == 0
    assert train_script.main([*common, "--continue_train", "--n_epochs", "2"]) == 0
    return root, ckpt


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_attention_run_trains_resumes_and_records_it(attention_run):
    _, ckpt = attention_run
    run = ckpt / "run"
    opt = json.loads((run / "train_opt.json").read_text())
    assert opt["attention"] is True and opt["lambda_attn_mean"] == 0.01  # the resume's own (default) weight
    # --attention turns the identity loss off unless it is given, on the resume too (taken from the run)
    assert opt["lambda_identity"] == 0.0
    state = load(run / "latest_train_state.pth")
    assert (state["epoch"], state["epoch_done"], state["total_iters"]) == (2, True, 8)
    for name in ("G_A", "G_B"):
        weights = load(run / f"latest_net_{name}.pth")
        assert weights["attention.weight"].shape == (1, 8, 7, 7)
        assert not torch.equal(weights["attention.weight"], load(run / f"1_net_{name}.pth")["attention.weight"])
    records = [json.loads(line) for line in (run / "loss_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 1, 2, 2]
    assert all(set(ATTENTION_LOSS_NAMES) <= set(r) for r in records)
    page = (run / "web" / "index.html").read_text()
    assert "epoch002_attn_B.png" in page and "epoch002_attn_A.png" in page
    assert page.index("epoch002_fake_B.png") < page.index("epoch002_attn_B.png") < page.index("epoch002_rec_A.png")


def own_translation(checkpoint: Path, image: Path) -> tuple[np.ndarray, np.ndarray]:
    """G_AB's fake and map (0-255) of a saved real_A picture, computed here from the checkpoint."""
    g = define_G("resnet_6blocks", 3, 3, ngf=8, norm="instance", use_dropout=False, attention=True)
    g.load_state_dict(load(checkpoint))
    x = torch.from_numpy(np.asarray(Image.open(image), np.float32).transpose(2, 0, 1).copy()) / 127.5 - 1
    with torch.no_grad():
        fake, alpha = g(x[None])
    return (fake[0].permute(1, 2, 0).numpy() + 1) * 127.5, alpha[0, 0].numpy() * 255


def run_test_py(dataroot: Path, ckpt: Path, results: Path, *extra: str) -> int:
    return test_script.main(["--dataroot", str(dataroot), "--checkpoints_dir", str(ckpt), "--name", "run",
                             "--num_threads", "0", "--gpu_ids", "-1", "--results_dir", str(results), *extra])


@pytest.mark.slow
def test_test_py_rebuilds_the_attention_run_and_writes_its_maps(attention_run, tmp_path):
    root, ckpt = attention_run
    assert run_test_py(root, ckpt, tmp_path / "r", "--model", "cycle_gan") == 0
    images = tmp_path / "r" / "run" / "test_latest" / "images"
    for stem in ("000", "001"):
        for label in ("attn_B", "attn_A"):
            with Image.open(images / f"{stem}_{label}.png") as im:
                assert im.mode == "L" and im.size == (32, 32)
    fake, alpha = own_translation(ckpt / "run" / "latest_net_G_A.pth", images / "001_real_A.png")
    # the saved real_A is the input rounded to 8 bits, so the recomputation differs by a level or two
    assert np.abs(np.asarray(Image.open(images / "001_attn_B.png"), float) - alpha).max() <= 2
    assert np.abs(np.asarray(Image.open(images / "001_fake_B.png"), float) - fake).max() <= 2.5
    page = (tmp_path / "r" / "run" / "test_latest" / "index.html").read_text()
    assert page.count("<img") == 16 and "images/000_attn_A.png" in page

    # one folder through G_AB: NAME_attn.png beside NAME_fake.png
    assert run_test_py(root / "testA", ckpt, tmp_path / "one", "--model", "test", "--model_suffix", "_A") == 0
    single = tmp_path / "one" / "run" / "test_latest" / "images"
    assert sorted(p.name for p in single.iterdir()) == [f"{s}_{label}.png" for s in ("000", "001")
                                                        for label in ("attn", "fake", "real")]
    assert np.abs(np.asarray(Image.open(single / "001_attn.png"), int)
                  - np.asarray(Image.open(images / "001_attn_B.png"), int)).max() <= 1

    # without train_opt.json the weights say it is an attention run (the test size is not in them)
    bare = tmp_path / "bare"
    shutil.copytree(ckpt / "run", bare / "run", ignore=shutil.ignore_patterns("train_opt.*"))
    assert run_test_py(root, bare, tmp_path / "b", "--model", "cycle_gan", "--crop_size", "32") == 0
    inferred = tmp_path / "b" / "run" / "test_latest"
    assert json.loads((inferred / "test_opt.json").read_text())["attention"] is True
    assert np.array_equal(np.asarray(Image.open(inferred / "images" / "001_attn_B.png")),
                          np.asarray(Image.open(images / "001_attn_B.png")))


@pytest.mark.slow
def test_grids_show_the_maps(attention_run, tmp_path):
    from scripts import epoch_grid, results_grid

    root, ckpt = attention_run
    assert run_test_py(root, ckpt, tmp_path / "r", "--model", "cycle_gan") == 0
    folder = tmp_path / "r" / "run" / "test_latest"
    assert results_grid.with_maps(folder / "images", results_grid.DEFAULT_LABELS) == [
        "real_A", "fake_B", "attn_B", "rec_A", "real_B", "fake_A", "attn_A", "rec_B"]
    assert results_grid.main([str(folder), "--tile", "16", "--out", str(tmp_path / "results.png")]) == 0
    assert Image.open(tmp_path / "results.png").size == (8 * 16, 18 + 2 * 16)

    tile = 32
    assert epoch_grid.main(["--dataroot", str(root), "--name", "run", "--checkpoints_dir", str(ckpt), "--images", "2",
                            "--tile", str(tile), "--out", str(tmp_path / "epochs.png")]) == 0
    grid = np.asarray(Image.open(tmp_path / "epochs.png").convert("RGB")).astype(int)
    assert grid.shape == (epoch_grid.HEADER + 4 * tile, 3 * tile, 3)  # each image's row, then its maps' row
    top = epoch_grid.HEADER + tile  # the first image's maps, epoch 2 in the last column
    cell = grid[top: top + tile, 2 * tile:]
    assert (cell[..., 0] == cell[..., 1]).all()  # grey
    with Image.open(folder / "images" / "000_attn_B.png") as im:
        assert np.abs(cell[..., 0] - np.asarray(im, int)).max() <= 1  # the same map test.py wrote


@pytest.mark.slow
def test_ddp_attention_run_equals_one_process_with_the_global_batch(tmp_path):
    """torchrun, 2 processes x batch 1 = 1 process x batch 2 (tests/test_distributed.py's check), with the
    attention heads and their regularisers in the step."""
    from support import TINY as DDP_TINY
    from support import max_difference, train_process, weights

    write_images(tmp_path / "data" / "trainA", 4, seed=11)
    write_images(tmp_path / "data" / "trainB", 4, seed=12)
    common = ["--dataroot", str(tmp_path / "data"), "--checkpoints_dir", str(tmp_path), *DDP_TINY, "--attention",
              "--n_epochs", "1", "--n_epochs_decay", "0"]
    train_process([*common, "--name", "ddp", "--batch_size", "1"], nproc=2)
    train_process([*common, "--name", "single", "--batch_size", "2"])
    ddp, single = weights(tmp_path / "ddp"), weights(tmp_path / "single")
    assert "attention.weight" in ddp["G_A"] and "module.attention.weight" not in ddp["G_A"]
    assert max_difference(ddp, single) < 2e-6


# ------------------------------------------------------------------------------------------------ #
# Contradictions: one line, exit code 2
# ------------------------------------------------------------------------------------------------ #


@pytest.mark.slow
def test_attention_checkpoint_without_the_flag_is_one_line(attention_run, tmp_path, capsys):
    """Without train_opt.json to take it from, resuming an attention run without --attention names the flag."""
    root, ckpt = attention_run
    bare = tmp_path / "ckpt"
    shutil.copytree(ckpt / "run", bare / "run", ignore=shutil.ignore_patterns("train_opt.*"))
    code = run_cli(train_script.main, ["--dataroot", str(root), "--checkpoints_dir", str(bare), "--name", "run",
                                       *TINY, "--continue_train", "--n_epochs", "3", "--n_epochs_decay", "0"],
                   "train.py")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "was trained with --attention" in err and "pass --attention" in err
    # the weights say --attention; an output channel count that cannot blend with the input is refused
    code = run_cli(test_script.main, ["--dataroot", str(root), "--checkpoints_dir", str(bare), "--name", "run",
                                      "--model", "cycle_gan", "--results_dir", str(tmp_path / "r"), "--num_threads",
                                      "0", "--output_nc", "1"], "test.py")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--attention needs --input_nc and --output_nc equal" in err


# ------------------------------------------------------------------------------------------------ #
# Sweeps, and the plots' library
# ------------------------------------------------------------------------------------------------ #


def test_sweep_takes_attention_as_an_on_off_axis(tmp_path, capsys, monkeypatch):
    from scripts.sweep import main as sweep_main

    write_images(tmp_path / "data" / "trainA", 1)
    write_images(tmp_path / "data" / "trainB", 1)
    monkeypatch.chdir(tmp_path)
    assert sweep_main(["--dataroot", "data", "--name", "s", "--grid", "attention=on,off", "--dry_run", "--",
                       "--netG", "resnet_6blocks"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("# ")] == ["# s_attn_on: 3 commands", "# s_attn_off: 3 commands"]
    trains = [line for line in out if "/train.py" in line]
    tests = [line for line in out if "/test.py" in line]
    assert ["--attention" in line.split() for line in trains] == [True, False]
    assert ["--attention" in line.split() for line in tests] == [True, False]
    assert run_cli(sweep_main, ["--dataroot", "data", "--name", "s", "--grid", "attention=on,maybe", "--dry_run"],
                   "sweep.sh") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--attention is a switch" in err and "'maybe'" in err


def test_the_visualizer_draws_losses_without_the_script():
    code = ("import sys, util.visualizer, util.loss_plot; "
            "assert not [m for m in sys.modules if m.startswith('scripts')], 'a library imported a script'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


@pytest.mark.slow
def test_speed_flags_compute_the_attention_step():
    """Channels-last gives the plain attention step; bf16 autocast stays close, its maps in fp32."""
    from support import assert_same_history, steps

    weights = dict(attention=True, lambda_attn_mean=0.1, lambda_attn_tv=1.0)
    _, want = steps(**weights)
    _, got = steps(**weights, channels_last=True)
    assert_same_history(got, want, rel=1e-4)
    model, bf16 = steps(**weights, amp="bf16")
    assert_same_history(bf16[:1], want[:1], rel=0.05)
    assert model.visuals()["attn_B"].dtype == torch.float32
