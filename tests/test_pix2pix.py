"""pix2pix on aligned AB images: the losses against a hand computation, one crop and flip for both
halves, the paired sampler, the classic checkpoint files, a tiny run end to end (resumed mid-epoch to
the same weights, test.py's three images per file, evaluate.py's table), evaluate.py's direction for
BtoA, a classic checkpoint without train_opt.json, and sweep.py's commands."""
from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import test as test_script
import train as train_script
from data import UnalignedSampler, collate_images, train_loader
from data.datasets import AlignedDataset, AlignedTestDataset
from models.common import loss_values
from models.networks import define_G
from models.pix2pix_model import LOSS_NAMES, Pix2PixModel
from options.train_options import parse_train_options
from support import write_ab
from util.errors import UserError, run_cli

TINY = ["--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load_size", "36", "--crop_size", "32",
        "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1"]


def options(*extra: str):
    return parse_train_options(["--dataroot", "unused", "--model", "pix2pix", *TINY, *extra])[0]


def load(path: Path):
    return torch.load(path, map_location="cpu", weights_only=True)


# ----------------------------------------------------------------------------- losses and options


def test_pix2pix_gets_the_classic_defaults_unless_given():
    opt = options()
    assert (opt.norm, opt.gan_mode, opt.pool_size, opt.dataset_mode, opt.no_dropout, opt.lambda_L1) == (
        "batch", "vanilla", 0, "aligned", False, 100.0)
    assert parse_train_options(["--dataroot", "x", "--model", "pix2pix"])[0].netG == "unet_256"
    opt = options("--norm", "instance", "--gan_mode", "lsgan", "--pool_size", "5", "--no_dropout", "--lambda_L1", "10")
    assert (opt.norm, opt.gan_mode, opt.pool_size, opt.no_dropout, opt.lambda_L1) == ("instance", "lsgan", 5, True, 10.0)
    cycle = parse_train_options(["--dataroot", "x"])[0]  # CycleGAN's defaults are untouched
    assert (cycle.netG, cycle.norm, cycle.gan_mode, cycle.pool_size, cycle.no_dropout) == (
        "resnet_9blocks", "instance", "lsgan", 50, True)


def test_losses_match_a_hand_computation():
    """One step against torch.nn.functional by hand: D is updated first on 0.5 * (D_real + D_fake),
    then G on G_GAN (vanilla: BCE with logits against 1, judged by the updated D) + lambda_L1 * L1.
    The gradients each network was left with are compared, so the 0.5 and lambda_L1 count too."""
    torch.manual_seed(0)
    opt = options("--lambda_L1", "7.5")
    model = Pix2PixModel(opt, torch.device("cpu"))
    assert model.D.model[0].weight.shape[1] == 6  # D sees [A, B]: input_nc + output_nc channels
    G0, D0 = copy.deepcopy(model.G), copy.deepcopy(model.D)
    A, B = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    model.set_input({"A": A, "B": B})
    torch.manual_seed(11)  # G's dropout: the same masks for the step and for the hand computation
    losses = model.optimize_parameters()
    assert tuple(losses) == LOSS_NAMES == ("G_GAN", "G_L1", "D_real", "D_fake")

    torch.manual_seed(11)
    fake = G0(A)
    pred_real, pred_fake = D0(torch.cat([A, B], 1)), D0(torch.cat([A, fake.detach()], 1))
    d_real = F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
    d_fake = F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
    (0.5 * (d_real + d_fake)).backward()
    D1 = copy.deepcopy(model.D).requires_grad_(False)  # after its own step: what G was judged by
    pred = D1(torch.cat([A, fake], 1))
    g_gan = F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))
    g_l1 = 7.5 * (fake - B).abs().mean()
    (g_gan + g_l1).backward()

    for name, value in (("G_GAN", g_gan), ("G_L1", g_l1), ("D_real", d_real), ("D_fake", d_fake)):
        assert losses[name].item() == pytest.approx(value.item(), rel=1e-5), name
    for mine, theirs in ((model.D, D0), (model.G, G0)):
        for (name, p), q in zip(mine.named_parameters(), theirs.parameters()):
            assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-7), name


def steps(*flags: str) -> tuple[Pix2PixModel, list[dict[str, float]]]:
    """Three steps of a tiny pix2pix from the same initial weights (instance norm, no dropout)."""
    torch.manual_seed(0)
    model = Pix2PixModel(options("--norm", "instance", "--no_dropout", *flags), torch.device("cpu"))
    history = []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        model.set_input({"A": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1,
                         "B": torch.rand(2, 3, 32, 32, generator=g) * 2 - 1})
        history.append(loss_values(model.optimize_parameters()))
    return model, history


@pytest.fixture(scope="module")
def plain():
    return steps()


@pytest.mark.parametrize("flags,steps_compared,rel", [
    (["--channels_last"], 3, 1e-4),
    (["--stack_passes"], 3, 1e-4),  # D on [real pair; fake pair] in one call
    (["--adam_impl", "foreach"], 3, 1e-5),
    (["--amp", "bf16"], 1, 0.05),  # bf16 keeps 8 bits of mantissa
])
def test_speed_flags_keep_the_step(plain, flags, steps_compared, rel):
    _, want = plain
    model, got = steps(*flags)
    for step_got, step_want in zip(got[:steps_compared], want[:steps_compared]):
        assert step_got == pytest.approx(step_want, rel=rel, abs=1e-6)
    assert all(p.dtype == torch.float32 for p in model.G.parameters())


def test_wgangp_and_a_pool_train_and_their_state_resumes(tmp_path):
    model, history = steps("--gan_mode", "wgangp", "--pool_size", "3")
    assert all(np.isfinite(list(h.values())).all() for h in history)
    assert len(model.pool_fake_AB.images) == 3 and model.pool_fake_AB.images[0].shape == (1, 6, 32, 32)
    model.save(tmp_path, "latest", {"epoch": 1, "epoch_iter": 6, "epoch_done": False, "total_iters": 6,
                                    "options": {"lr_policy": "linear"}})
    fresh = Pix2PixModel(options("--norm", "instance", "--no_dropout", "--gan_mode", "wgangp", "--pool_size", "3"),
                         torch.device("cpu"))
    fresh.load_training_state(tmp_path, "latest")
    assert all(torch.equal(a, b) for a, b in zip(fresh.pool_fake_AB.images, model.pool_fake_AB.images))
    assert fresh.optimizer_D.state_dict()["state"][0]["step"] == 3


def test_visuals_and_translate_use_the_classic_labels():
    torch.manual_seed(0)
    model = Pix2PixModel(options(), torch.device("cpu"))
    model.set_input({"A": torch.zeros(1, 3, 32, 32), "B": torch.ones(1, 3, 32, 32)})
    model.optimize_parameters()
    assert list(model.visuals()) == ["real_A", "fake_B", "real_B"]
    assert list(model.translate(torch.zeros(1, 3, 32, 32))) == ["real_A", "fake_B"]


def test_direction_btoa_makes_the_right_half_the_input():
    model = Pix2PixModel(options("--direction", "BtoA"), torch.device("cpu"))
    A, B = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    model.set_input({"A": A, "B": B})
    assert torch.equal(model.real_A, B) and torch.equal(model.real_B, A)


def test_checkpoint_files_have_the_classic_names(tmp_path):
    model = Pix2PixModel(options(), torch.device("cpu"))
    model.save(tmp_path, "latest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest_net_D.pth", "latest_net_G.pth"]
    assert set(load(tmp_path / "latest_net_D.pth")) == set(model.D.state_dict())
    assert load(tmp_path / "latest_net_D.pth")["model.0.weight"].shape == (4, 6, 4, 4)


# ----------------------------------------------------------------------------- aligned data


def coordinate_ab(path: Path, w: int = 40, h: int = 30, right_blue: int = 0) -> None:
    """An AB image whose halves carry the same pattern: red = x, green = y (blue tells them apart)."""
    y, x = np.mgrid[0:h, 0:w]
    half = np.stack([x * 5, y * 7, np.zeros_like(x)], axis=-1).astype(np.uint8)
    right = half.copy()
    right[..., 2] = right_blue
    Image.fromarray(np.concatenate([half, right], axis=1)).save(path)


@pytest.mark.parametrize("preprocess", ["crop", "resize_and_crop"])
def test_both_halves_get_the_same_crop_and_flip(tmp_path, preprocess):
    (tmp_path / "train").mkdir()
    coordinate_ab(tmp_path / "train" / "p.png")
    ds = AlignedDataset(str(tmp_path), "train", float("inf"), preprocess, 36, 16, flip=True, train=True,
                        channels_A=3, channels_B=3)
    left, right = ds.halves(ds.AB_paths[0])
    corners, flips, independent_differs = set(), set(), 0
    for seed in range(60):
        item = ds[(0, 0, seed)]
        assert torch.equal(item["A"], item["B"]), seed
        red = item["A"][0]
        corners.add((float(red[0].min()), float(item["A"][1][:, 0].min())))
        flips.add(bool(red[0, 0] > red[0, -1]))
        # what drawing the crop and flip separately for each half would give
        rng = random.Random(seed)
        independent_differs += not torch.equal(ds.transform(left, rng), ds.transform(right, rng))
    assert len(corners) > 5 and flips == {True, False}  # the crops and flips really vary
    assert independent_differs > 40


def test_aligned_item_keeps_the_halves_apart(tmp_path):
    (tmp_path / "train").mkdir()
    coordinate_ab(tmp_path / "train" / "p.png", right_blue=255)
    ds = AlignedDataset(str(tmp_path), "train", float("inf"), "crop", 36, 16, flip=True, train=True,
                        channels_A=3, channels_B=1)
    item = ds[(0, 0, 3)]
    assert item["A"].shape == (3, 16, 16) and item["B"].shape == (1, 16, 16)
    assert torch.all(item["A"][2] == -1.0)  # A: the left half, blue 0
    assert set(item) == {"A", "B", "A_paths", "B_paths", "bad"} and item["A_paths"] == item["B_paths"]


def test_aligned_test_items_swap_for_btoa(tmp_path):
    (tmp_path / "test" / "sub").mkdir(parents=True)
    coordinate_ab(tmp_path / "test" / "sub" / "p.png", h=28, right_blue=255)
    for direction, input_blue in (("AtoB", -1.0), ("BtoA", 1.0)):
        ds = AlignedTestDataset(str(tmp_path), "test", float("inf"), "none", 40, 40, direction, 3, 3)
        item = ds[0]
        assert item["relpath"] == str(Path("sub") / "p.png") and item["size"] == (40, 28)
        assert torch.all(item["image"][2] == input_blue) and torch.all(item["target"][2] == -input_blue)
        assert torch.equal(item["image"][:2], item["target"][:2])  # same geometry: the pair still lines up
    batch = collate_images([ds[0], ds[0]])
    assert batch["image"].shape == batch["target"].shape == (2, 3, 28, 40)


def test_an_unreadable_ab_file_is_replaced_and_reported(tmp_path):
    write_ab(tmp_path / "train", 3)
    (tmp_path / "train" / "001.png").write_bytes(b"not a png")
    ds = AlignedDataset(str(tmp_path), "train", float("inf"), "crop", 32, 32, flip=False, train=True,
                        channels_A=3, channels_B=3)
    item = ds[(1, 1, 5)]
    assert item["A_paths"] != str(tmp_path / "train" / "001.png") and "001.png" in item["bad"]


def test_paired_sampler_keeps_the_pairs_and_the_sampler_properties():
    sampler = UnalignedSampler(9, 9, serial=False, seed=4, paired=True)
    sampler.set_epoch(2)
    full = list(sampler)
    assert all(i == j for i, j, _ in full) and sorted(i for i, _, _ in full) == list(range(9))
    sampler.set_epoch(3)
    assert [i for i, _, _ in sampler] != [i for i, _, _ in full]  # a new order every epoch
    sampler.set_epoch(2, start=5)
    assert list(sampler) == full[5:]  # resuming mid-epoch
    shares = []
    for rank in range(3):  # DDP: the ranks' shares interleave to the single-process epoch
        share = UnalignedSampler(9, 9, serial=False, seed=4, num_replicas=3, rank=rank, paired=True)
        share.set_epoch(2)
        shares.append(list(share))
    assert [shares[k % 3][k // 3] for k in range(9)] == full
    with pytest.raises(ValueError):
        UnalignedSampler(3, 4, serial=False, seed=0, paired=True)


def loader_opt(root: Path, **kw) -> SimpleNamespace:
    values = dict(dataroot=str(root), phase="train", max_dataset_size=float("inf"), preprocess="none",
                  load_size=36, crop_size=32, no_flip=False, input_nc=3, output_nc=3, direction="AtoB",
                  serial_batches=False, seed=1, batch_size=2, num_threads=0, dataset_mode="aligned")
    values.update(kw)
    return SimpleNamespace(**values)


def test_one_size_check_reads_the_halves(tmp_path):
    write_ab(tmp_path / "train", 3, size=(32, 32))
    loader, _ = train_loader(loader_opt(tmp_path))  # 64x32 AB images: 32x32 halves, one size
    write_ab(tmp_path / "train", 2, size=(40, 32), seed=1, prefix="wide")
    with pytest.raises(UserError, match=r"A and B halves.*32x32 \(3 files.*40x32 \(2 files"):
        train_loader(loader_opt(tmp_path))
    train_loader(loader_opt(tmp_path, batch_size=1))  # one image a batch: any sizes


def test_odd_width_is_refused_from_the_headers(tmp_path):
    write_ab(tmp_path / "train", 2)
    Image.new("RGB", (65, 32)).save(tmp_path / "train" / "odd.png")
    with pytest.raises(UserError, match=r"odd\.png is 65x32: .*width must be even"):
        train_loader(loader_opt(tmp_path, preprocess="resize_and_crop", batch_size=1))


# ----------------------------------------------------------------------------- end to end


def train(root: Path, ckpt: Path, name: str, *extra: str) -> int:
    return train_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", name,
                              "--model", "pix2pix", *TINY, "--batch_size", "2", "--print_freq", "2",
                              "--display_freq", "4", *extra])


@pytest.fixture(scope="module")
def paired_root(tmp_path_factory) -> Path:
    """8 training and 3 test AB images (64x32: A and B of 32x32), test masks, and testA/testB."""
    root = tmp_path_factory.mktemp("paired") / "data"
    write_ab(root / "train", 8, seed=1)
    tests = write_ab(root / "test", 3, seed=2)
    for path in tests:
        ab = np.asarray(Image.open(path))
        for folder, half in (("testA", ab[:, :32]), ("testB", ab[:, 32:])):
            (root / folder).mkdir(exist_ok=True)
            Image.fromarray(half).save(root / folder / path.name)
        mask = np.zeros((32, 32), np.uint8)
        mask[16:, 8:24] = 255
        (root / "testmask").mkdir(exist_ok=True)
        Image.fromarray(mask).save(root / "testmask" / path.name)
    return root


@pytest.fixture(scope="module")
def runs(paired_root, tmp_path_factory):
    """A 2-epoch run straight through, and one saved mid-epoch 1 (iter_4), killed, and resumed."""
    ckpt = tmp_path_factory.mktemp("ckpt")
    flags = ["--n_epochs", "1", "--n_epochs_decay", "1", "--seed", "3", "--save_by_iter", "--save_latest_freq", "4"]
    assert train(paired_root, ckpt, "straight", *flags) == 0
    assert train(paired_root, ckpt, "stopped", "--n_epochs", "1", "--n_epochs_decay", "0", "--seed", "3",
                 "--save_by_iter", "--save_latest_freq", "4") == 0
    for path in (ckpt / "stopped").glob("latest_*"):  # as if killed right after the iter_4 save
        path.unlink()
    assert train(paired_root, ckpt, "stopped", "--continue_train", "--load_iter", "4", *flags) == 0
    return ckpt


@pytest.mark.slow
def test_run_leaves_classic_files_logs_and_page(runs):
    run = runs / "straight"
    for label in ("latest", "2", "iter_4", "iter_8"):
        assert (run / f"{label}_net_G.pth").is_file() and (run / f"{label}_net_D.pth").is_file()
        assert (run / f"{label}_train_state.pth").is_file()
    assert not list(run.glob("*_net_G_A.pth"))
    state = load(run / "latest_train_state.pth")
    assert (state["epoch"], state["total_iters"], state["epoch_done"]) == (2, 16, True)
    assert {"optimizer_G", "optimizer_D", "scheduler_G", "scheduler_D", "pool_fake_AB", "rng"} <= set(state)
    lines = (run / "loss_log.txt").read_text().splitlines()[1:]
    assert len(lines) == 8 and all(re.match(r"^\(epoch: \d, iters: \d, time: [\d.]+, data: [\d.]+\) G_GAN: [\d.]+ "
                                            r"G_L1: [\d.]+ D_real: [\d.]+ D_fake: [\d.]+ $", line) for line in lines)
    page = (run / "web" / "index.html").read_text()
    assert re.findall(r"epoch002_(\w+?)\.png", page)[::2] == ["real_A", "fake_B", "real_B"]
    saved = json.loads((run / "train_opt.json").read_text())
    assert (saved["model"], saved["netG"], saved["norm"], saved["no_dropout"]) == ("pix2pix", "resnet_6blocks",
                                                                                 "batch", False)


@pytest.mark.slow
def test_resumed_mid_epoch_reaches_the_same_weights(runs):
    a, b = load(runs / "straight" / "latest_train_state.pth"), load(runs / "stopped" / "latest_train_state.pth")
    assert (b["epoch"], b["total_iters"]) == (a["epoch"], a["total_iters"]) == (2, 16)
    assert b["optimizer_G"]["param_groups"][0]["lr"] == pytest.approx(a["optimizer_G"]["param_groups"][0]["lr"])
    for net in ("G", "D"):  # batch-norm statistics and dropout's random draws included
        wa, wb = load(runs / "straight" / f"latest_net_{net}.pth"), load(runs / "stopped" / f"latest_net_{net}.pth")
        assert all(torch.allclose(wa[k].float(), wb[k].float(), rtol=1e-5, atol=1e-6) for k in wa), net
    logged = [json.loads(x) for x in (runs / "stopped" / "loss_log.jsonl").read_text().splitlines()]
    straight = {r["total_iters"]: r for r in map(json.loads, (runs / "straight" / "loss_log.jsonl").read_text().splitlines())}
    for record in logged:
        for key in LOSS_NAMES:
            assert record[key] == pytest.approx(straight[record["total_iters"]][key], rel=1e-5), (record, key)


@pytest.mark.slow
def test_test_py_writes_the_three_classic_images(runs, paired_root, tmp_path):
    results = tmp_path / "results"
    run = ["--checkpoints_dir", str(runs), "--name", "straight", "--num_threads", "0", "--gpu_ids", "-1"]
    assert test_script.main(["--dataroot", str(paired_root), *run, "--model", "pix2pix", "--results_dir", str(results),
                             "--eval"]) == 0
    out = results / "straight" / "test_latest"
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == sorted(f"{i:03d}_{label}.png" for i in range(3) for label in ("real_A", "fake_B", "real_B"))
    assert (out / "index.html").read_text().count("<img") == 9
    real_a = np.asarray(Image.open(out / "images" / "001_real_A.png"))
    real_b = np.asarray(Image.open(out / "images" / "001_real_B.png"))
    ab = np.asarray(Image.open(paired_root / "test" / "001.png"))
    assert np.abs(real_a.astype(int) - ab[:, :32]).max() <= 1 and np.abs(real_b.astype(int) - ab[:, 32:]).max() <= 1
    # --eval: batch norm's running statistics, no dropout: fake_B is G(real_A), recomputed here
    g = define_G("resnet_6blocks", 3, 3, ngf=4, norm="batch", use_dropout=True).eval()
    g.load_state_dict(load(runs / "straight" / "latest_net_G.pth"))
    with torch.no_grad():
        fake = g(torch.from_numpy(real_a / 127.5 - 1).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0).numpy()
    saved = np.asarray(Image.open(out / "images" / "001_fake_B.png"), dtype=np.float32) / 127.5 - 1
    assert np.abs(fake - saved).max() < 2.5 / 127.5

    opt = json.loads((out / "test_opt.json").read_text())
    assert (opt["model"], opt["direction"], opt["netG"], opt["no_dropout"]) == ("pix2pix", "AtoB", "resnet_6blocks", False)

    # the same G on a plain folder of one domain: --model pix2pix --dataset_mode single, and --model test
    for extra, labels in ((["--model", "pix2pix", "--dataset_mode", "single"], ("real_A", "fake_B")),
                          (["--model", "test", "--model_suffix", ""], ("real", "fake"))):
        single = tmp_path / "single" / extra[1]
        assert test_script.main(["--dataroot", str(paired_root / "testA"), *run, *extra, "--results_dir",
                                 str(single)]) == 0
        got = sorted(p.name for p in (single / "straight" / "test_latest" / "images").iterdir())
        assert got == sorted(f"{i:03d}_{label}.png" for i in range(3) for label in labels)


@pytest.mark.slow
def test_test_py_takes_the_runs_direction(runs, paired_root, tmp_path):
    """A BtoA run (here: its train_opt.json says so) is tested BtoA without --direction: real_A is the right half."""
    import shutil

    shutil.copytree(runs / "straight", tmp_path / "ckpt" / "btoa")
    options_file = tmp_path / "ckpt" / "btoa" / "train_opt.json"
    options_file.write_text(json.dumps(dict(json.loads(options_file.read_text()), direction="BtoA")))
    results = tmp_path / "results"
    assert test_script.main(["--dataroot", str(paired_root), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name",
                             "btoa", "--model", "pix2pix", "--results_dir", str(results), "--num_threads", "0",
                             "--gpu_ids", "-1", "--num_test", "1"]) == 0
    out = results / "btoa" / "test_latest"
    assert json.loads((out / "test_opt.json").read_text())["direction"] == "BtoA"
    real_a = np.asarray(Image.open(out / "images" / "000_real_A.png")).astype(int)
    assert np.abs(real_a - np.asarray(Image.open(paired_root / "test" / "000.png"))[:, 32:]).max() <= 1


@pytest.mark.slow
def test_evaluate_gives_the_table_of_a_pix2pix_result(runs, paired_root, tmp_path, capsys):
    from scripts.evaluate import main as evaluate
    from util.metrics import inception

    results = tmp_path / "results"
    assert test_script.main(["--dataroot", str(paired_root), "--checkpoints_dir", str(runs), "--name", "straight",
                             "--model", "pix2pix", "--results_dir", str(results), "--num_threads", "0",
                             "--gpu_ids", "-1"]) == 0
    weights = inception.make_random_weights(tmp_path / "random_inception.pth", seed=0)
    out = results / "straight" / "test_latest"
    assert evaluate(["--results_dir", str(out), "--dataroot", str(paired_root), "--inception_weights", str(weights),
                     "--dims", "64", "--num_workers", "0", "--kid_subsets", "3", "--no_cache", "--no_identity"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["directions"]) == ["AB"]
    ab = metrics["directions"]["AB"]
    assert (ab["fake_label"], ab["real_folder"], ab["n_fake"], ab["n_real"]) == ("fake_B", "testB", 3, 3)
    assert ab["paired"]["pairs"] == 3 and "psnr_in_mask" in ab["paired"]["fake"]
    assert ab["localisation"]["pairs"] == 3
    assert "| AB (fake_B vs real testB) |" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_equal_one_with_the_global_batch(paired_root, tmp_path):
    """torchrun (gloo, 2 processes x batch 1) against one process with batch 2. --norm none and no
    dropout: per-process batch statistics and dropout draws could not match one process."""
    from support import max_difference, train_process

    common = ["--dataroot", str(paired_root), "--checkpoints_dir", str(tmp_path), "--model", "pix2pix", *TINY,
              "--norm", "none", "--no_dropout", "--n_epochs", "1", "--n_epochs_decay", "1", "--seed", "3",
              "--no_html", "--print_freq", "2"]
    ddp = train_process([*common, "--name", "ddp", "--batch_size", "1"], nproc=2)
    train_process([*common, "--name", "single", "--batch_size", "2"])
    nets = {run_name: {n: load(tmp_path / run_name / f"latest_net_{n}.pth") for n in ("G", "D")}
            for run_name in ("ddp", "single")}
    assert max_difference(nets["ddp"], nets["single"]) < 2e-6
    assert "2 processes" in ddp.stdout and ddp.stdout.count("train.py: done") == 1
    records = [json.loads(line) for line in (tmp_path / "ddp" / "loss_log.jsonl").read_text().splitlines()]
    assert [r["total_iters"] for r in records] == list(range(2, 17, 2))


# ----------------------------------------------------------------------------- evaluate.py, by hand-made results


def write_result(folder: Path, root: Path, direction: str, with_reals: bool) -> None:
    """A pix2pix results folder for ``direction`` and its dataroot: 4 faces; unmasked u, masked m."""
    images = folder / "images"
    images.mkdir(parents=True)
    (folder / "test_opt.json").write_text(json.dumps({"model": "pix2pix", "direction": direction, "phase": "test",
                                                      "preprocess": "none", "crop_size": 32}))
    rng = np.random.default_rng(5)
    for i in range(4):
        u = rng.integers(0, 236, (32, 32, 3), dtype=np.uint8)  # room for the fake's +20 below
        m = u.copy()
        m[16:, 8:24] = 230
        mask = np.zeros((32, 32), np.uint8)
        mask[16:, 8:24] = 255
        source, target = (u, m) if direction == "AtoB" else (m, u)
        fake = target.copy()
        fake[16:, 8:24] += 20  # wrong inside the mask only
        for label, arr in (("real_A", source), ("fake_B", fake), ("real_B", target)):
            Image.fromarray(arr).save(images / f"f{i}_{label}.png")
        folders = (("testA", u), ("testB", m), ("testmask", mask)) if with_reals else (("testmask", mask),)
        for name, arr in folders:
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / name / f"f{i}.png")


@pytest.mark.slow
@pytest.mark.parametrize("direction,with_reals", [("BtoA", True), ("BtoA", False), ("AtoB", False)])
def test_evaluate_scores_the_runs_direction_only(tmp_path, direction, with_reals):
    from scripts.evaluate import main as evaluate
    from util.metrics import inception

    weights = inception.make_random_weights(tmp_path / "random_inception.pth", seed=0)
    write_result(tmp_path / "res", tmp_path / "data", direction, with_reals)
    assert evaluate(["--results_dir", str(tmp_path / "res"), "--dataroot", str(tmp_path / "data"),
                     "--inception_weights", str(weights), "--dims", "64", "--num_workers", "0", "--kid_subsets", "3",
                     "--no_cache", "--no_identity"]) == 0
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    d = "BA" if direction == "BtoA" else "AB"
    assert list(metrics["directions"]) == [d]
    m = metrics["directions"][d]
    assert m["real_folder"] == (f"test{d[1]}" if with_reals else "*_real_B.png") and m["n_real"] == 4
    fake, given = m["paired"]["fake"], m["paired"]["input"]
    assert fake["psnr_outside"] is None  # untouched outside the mask: an infinite PSNR
    assert fake["psnr_in_mask"] == pytest.approx(10 * np.log10(1 / (20 / 255) ** 2), rel=1e-6)
    assert given["psnr_outside"] is None and given["psnr_in_mask"] < fake["psnr_in_mask"]
    assert m["localisation"]["pairs"] == 4 and m["localisation"]["iou_change"] > 0.9


# ----------------------------------------------------------------------------- a classic checkpoint


@pytest.mark.slow
def test_classic_unet_256_checkpoint_without_options_translates(tmp_path):
    """latest_net_G.pth of a unet_256 with batch norm, as the classic code saves it, and nothing else."""
    torch.manual_seed(0)
    run = tmp_path / "ckpt" / "facades"
    run.mkdir(parents=True)
    torch.save(define_G("unet_256", 3, 3, ngf=8, norm="batch", use_dropout=True).state_dict(), run / "latest_net_G.pth")
    write_ab(tmp_path / "data" / "test", 2, size=(256, 256))
    argv = ["--dataroot", str(tmp_path / "data"), "--checkpoints_dir", str(tmp_path / "ckpt"), "--name", "facades",
            "--model", "pix2pix", "--direction", "BtoA", "--results_dir", str(tmp_path / "r"), "--num_threads", "0",
            "--gpu_ids", "-1"]
    assert test_script.main(argv) == 0
    out = tmp_path / "r" / "facades" / "test_latest"
    opt = json.loads((out / "test_opt.json").read_text())
    assert (opt["netG"], opt["ngf"], opt["norm"], opt["no_dropout"], opt["batch_size"]) == ("unet_256", 8, "batch",
                                                                                             False, 1)
    assert len(list((out / "images").glob("*.png"))) == 6
    # BtoA: the input is the right half
    right = np.asarray(Image.open(tmp_path / "data" / "test" / "000.png"))[:, 256:]
    assert np.abs(np.asarray(Image.open(out / "images" / "000_real_A.png")).astype(int) - right).max() <= 1


# ----------------------------------------------------------------------------- bad input


def run_train(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = run_cli(train_script.main, argv, "train.py")
    return code, capsys.readouterr().err.strip()


def test_unaligned_dataroot_says_what_to_do(tiny_dataroot, tmp_path, capsys):
    code, err = run_train(["--dataroot", str(tiny_dataroot), "--checkpoints_dir", str(tmp_path / "c"),
                           "--model", "pix2pix", *TINY], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{tiny_dataroot / 'train'} does not exist" in err and "--dataroot and --phase" in err
    assert "looks like an unaligned dataroot: use --model cycle_gan" in err and "--paired" in err
    assert not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------- sweeps


def test_sweep_runs_each_model_through_its_own_test(tmp_path, capsys, monkeypatch):
    from scripts.summarize_sweep import flat_metrics
    from scripts.sweep import main as sweep_main

    write_ab(tmp_path / "data" / "train", 2)
    monkeypatch.chdir(tmp_path)
    assert sweep_main(["--dataroot", "data", "--name", "m", "--grid", "model=cycle_gan,pix2pix", "--dry_run",
                       "--", *TINY]) == 0
    out = capsys.readouterr().out.splitlines()
    tests = {line.split("--name ")[1].split()[0]: line for line in out if "/test.py" in line}
    assert set(tests) == {"m_cycle_gan", "m_pix2pix"}
    assert "--model pix2pix" in tests["m_pix2pix"] and "--model cycle_gan" in tests["m_cycle_gan"]
    # a pix2pix run's metrics have one direction: its columns only, no FID_mean
    columns = flat_metrics({"directions": {"BA": {"fid": 12.0, "kid_mean": 0.01, "kid_std": 0.001}}})
    assert columns == {"FID_BA": 12.0, "KID_BA": 0.01, "KID_BA_std": 0.001}
