"""The classic code base's documented command lines, typed here as its users type them.

Each command is quoted from the classic pytorch-CycleGAN-and-pix2pix and named by its source: its
README.md, docs/tips.md, docs/qa.md, docs/datasets.md, scripts/*.sh and scripts/test_before_push.py
(as of its 2023 docs), the torchrun and ``--norm`` lines its 2025 README added, and the flag names of
2018 that older scripts still use. Where a tip gives flags rather than a whole command, they are added
to the README's command for that model. Each command runs in a working folder laid out as the classic
one (``./datasets/<set>``, ``./checkpoints``, ``./results``), so its relative paths are its own, on
small generated data of its data set's shapes: maps and horse2zebra are square JPEGs in
trainA/trainB/testA/testB, facades 512x256 AB JPEGs in train/val/test. Each command must:

- parse as typed with this code base's own parser;
- run: training with narrower networks (``--ngf 8 --ndf 8``) and one epoch where the command does not
  set these, so that each takes seconds; every flag of the command is kept;
- write the classic output files: ``checkpoints/<name>/`` with train_opt.txt, ``latest_net_<G_A, G_B,
  D_A, D_B or G, D>.pth`` holding the classic keys in the classic order, loss_log.txt in the classic
  line format and web/index.html with the epoch's images; ``results/<name>/<phase>_<epoch>/`` with
  index.html and ``images/<stem>_<label>.png``, the classic labels, at the classic sizes.

The commands this code base refuses on purpose are here too, each ending in the one line that says
why; docs/classic.md lists them. The pix2pix U-Net of issue 21 (``--netG unet_128
--preprocess none`` on 128 px pairs) is checked pixel for pixel against a forward pass written from
the classic keys alone (tests/classic_layout.py).
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
import train as train_script
from classic_layout import classic_checkpoint, classic_keys, classic_unet_forward
from conftest import write_images
from datasets import combine_A_and_B
from options.test_options import parse_test_options
from options.train_options import parse_train_options
from support import train_process
from util.errors import run_cli

pytestmark = pytest.mark.slow

ENTRY_POINTS = {"train.py": (train_script.main, parse_train_options), "test.py": (test_script.main, parse_test_options)}
# Training flags added where the command does not set them: small networks, one epoch.
FAST = {"ngf": "8", "ndf": "8", "n_epochs": "1", "n_epochs_decay": "0"}
LOSSES = {"cycle_gan": ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"),
          "pix2pix": ("G_GAN", "G_L1", "D_real", "D_fake")}
NETWORK_FILES = {"cycle_gan": {"G_A": "G", "G_B": "G", "D_A": "D", "D_B": "D"}, "pix2pix": {"G": "G", "D": "D"}}
TEST_LABELS = {"A": ("real_A", "fake_B", "rec_A"), "B": ("real_B", "fake_A", "rec_B")}


@pytest.fixture(autouse=True)
def classic_folder(tmp_path, monkeypatch):
    """Every test works in a folder of its own, as the classic code base's root: ./datasets, ./checkpoints."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")  # the 2025 README trains with --use_wandb
    monkeypatch.setenv("WANDB_SILENT", "true")
    yield tmp_path
    if "wandb" in sys.modules:  # W&B keeps its first settings (this folder) for the process: free them
        sys.modules["wandb"].teardown()


# ----------------------------------------------------------------------------- running a command line


def words(line: str) -> tuple[str, list[str]]:
    """``python train.py --flags`` -> ("train.py", [--flags])."""
    python, script, *args = shlex.split(line)
    assert python == "python" and script in ENTRY_POINTS, line
    return script, args


def run(line: str, **fast: str) -> None:
    """Run a classic command line as typed (training made small with :data:`FAST`, or ``fast``'s
    values where given); it must parse as typed and end with exit code 0."""
    script, args = words(line)
    main, parse = ENTRY_POINTS[script]
    given = parse(args)[1]
    if script == "train.py":
        args += [arg for flag, value in {**FAST, **fast}.items() if flag not in given for arg in (f"--{flag}", value)]
    assert run_cli(main, args, script) == 0, line


def refused(line: str, capsys) -> str:
    """The one error line a command ends in (exit code 2, no traceback)."""
    script, args = words(line)
    capsys.readouterr()
    code = run_cli(ENTRY_POINTS[script][0], args, script)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"{script}: error: "), err
    assert "Traceback" not in out + err
    return lines[0]


def torchrun(line: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=N train.py ...`` with ``nproc`` processes (gloo on the CPU)."""
    torchrun_word, nodes, script, *args = shlex.split(line)
    assert torchrun_word == "torchrun" and nodes.startswith("--nproc_per_node=") and script == "train.py"
    given = parse_train_options(args)[1]
    args += [arg for flag, value in FAST.items() if flag not in given for arg in (f"--{flag}", value)]
    return train_process(args, nproc=nproc, cwd=Path.cwd())


# ----------------------------------------------------------------------------- data sets of the classic shapes


def unpaired(name: str, size=(256, 256), count: int = 2) -> None:
    """``./datasets/<name>/{trainA,trainB,testA,testB}``: ``count`` JPEGs each, A and B named apart."""
    for seed, folder in enumerate(("trainA", "trainB", "testA", "testB")):
        write_images(Path("datasets", name, folder), count, size=size, seed=seed, prefix=folder[-1], ext=".jpg")


def aligned(name: str, half=(256, 256), count: int = 2, phases=("train", "val", "test")) -> None:
    """``./datasets/<name>/<phase>/``: AB JPEGs, two halves of ``half`` (width, height) side by side."""
    for seed, phase in enumerate(phases):
        write_images(Path("datasets", name, phase), count, size=(2 * half[0], half[1]), seed=10 + seed, ext=".jpg")


def stems(folder: str) -> list[str]:
    return sorted(p.stem for p in Path(folder).iterdir())


# ----------------------------------------------------------------------------- the classic outputs


def check_training(name: str, epochs=(1,), html: bool = True) -> dict:
    """The classic files of a finished run; returns its options."""
    run_dir = Path("checkpoints", name)
    opt = json.loads((run_dir / "train_opt.json").read_text())
    assert (run_dir / "train_opt.txt").read_text().startswith("----------------- Options ---------------")
    for label in ("latest", *[str(e) for e in epochs[-1:]]):
        for file_name, network in NETWORK_FILES[opt["model"]].items():
            state = torch.load(run_dir / f"{label}_net_{file_name}.pth", map_location="cpu", weights_only=True)
            assert list(state) == classic_keys(opt, network), f"{label}_net_{file_name}.pth"
    log = (run_dir / "loss_log.txt").read_text().splitlines()
    assert log[0].startswith("================ Training Loss (")
    line = re.compile(r"\(epoch: \d+, iters: \d+, time: \d+\.\d{3}, data: \d+\.\d{3}\) "
                      + "".join(rf"{loss}: -?\d+\.\d{{3}} " for loss in LOSSES[opt["model"]]))
    assert all(line.fullmatch(entry) for entry in log[1:] if not entry.startswith("=")), log
    web = run_dir / "web"
    if not html:
        assert not web.exists()
        return opt
    assert (web / "index.html").is_file()
    if opt["model"] == "pix2pix":
        labels = {"real_A", "fake_B", "real_B"}
    else:
        labels = set(TEST_LABELS["A"] + TEST_LABELS["B"]) | ({"idt_A", "idt_B"} if opt["lambda_identity"] else set())
    for epoch in epochs:
        assert {p.name for p in (web / "images").glob(f"epoch{epoch:03d}_*.png")} == {
            f"epoch{epoch:03d}_{label}.png" for label in labels}
    return opt


def check_results(name: str, expected: dict[str, tuple[str, ...]], size=(256, 256), folder: str = "test_latest"
                  ) -> Path:
    """``results/<name>/<folder>``: index.html, and for each stem (a path relative to images/) exactly
    the images ``<stem>_<label>.png`` of its labels, every one of ``size`` (width, height) unless None."""
    out = Path("results", name, folder)
    assert (out / "index.html").is_file()
    written = {str(p.relative_to(out / "images")) for p in (out / "images").rglob("*.png")}
    assert written == {f"{stem}_{label}.png" for stem, labels in expected.items() for label in labels}
    for relpath in written if size else ():
        with Image.open(out / "images" / relpath) as img:
            assert img.size == size, relpath
    return out


def cycle_results(dataroot: str, phase: str = "test") -> dict[str, tuple[str, ...]]:
    """What test.py writes for --model cycle_gan: each A image with its fake_B and rec_A, each B image
    with its fake_A and rec_B, under its own name (the classic code named the B side after the A files)."""
    return {**{stem: TEST_LABELS["A"] for stem in stems(f"{dataroot}/{phase}A")},
            **{stem: TEST_LABELS["B"] for stem in stems(f"{dataroot}/{phase}B")}}


# ----------------------------------------------------------------------------- CycleGAN


@pytest.mark.parametrize("source,train_line,test_line", [
    ("README.md (2025)",
     "python train.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --use_wandb",
     "python test.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan"),
    ("scripts/train_cyclegan.sh, test_cyclegan.sh",
     "python train.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --pool_size 50 --no_dropout",
     "python test.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --phase test --no_dropout"),
])
def test_cyclegan_train_and_test(source, train_line, test_line):
    unpaired("maps", size=(600, 600))
    run(train_line)
    opt = check_training("maps_cyclegan")
    assert (opt["netG"], opt["norm"], opt["no_dropout"], opt["pool_size"]) == ("resnet_9blocks", "instance", True, 50)
    run(test_line)
    check_results("maps_cyclegan", cycle_results("datasets/maps"))
    if "--use_wandb" in train_line:
        assert list(Path("wandb").glob("offline-run-*"))


def test_cyclegan_tips_and_faq_flags(capsys):
    """tips.md and qa.md: CPU and "multi-GPU" flags, no visdom, no HTML, identity weight, test on the
    training set (datasets.md), and one generator on one folder at the image's own size (qa.md)."""
    unpaired("maps", size=(600, 600), count=4)
    run("python train.py --dataroot ./datasets/maps --name maps_cpu --model cycle_gan --gpu_ids -1 "
        "--display_id -1 --no_html --lambda_identity 0.1")
    assert check_training("maps_cpu", html=False)["lambda_identity"] == 0.1
    capsys.readouterr()
    run("python train.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --gpu_ids 0,1,2,3 "
        "--batch_size 4 --norm instance")
    if not torch.cuda.is_available():
        assert "no CUDA device found; --gpu_ids 0,1,2,3 ignored" in capsys.readouterr().out
    assert check_training("maps_cyclegan")["batch_size"] == 4
    run("python test.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --phase train")
    check_results("maps_cyclegan", cycle_results("datasets/maps", "train"), folder="train_latest")
    # qa.md, "high-resolution images": one generator, the images' own size (600 px, a multiple of 4)
    run("python test.py --model test --dataroot ./datasets/maps/trainA --name maps_cyclegan --model_suffix _A "
        "--preprocess none")
    check_results("maps_cyclegan", {stem: ("real", "fake") for stem in stems("datasets/maps/trainA")},
                  size=(600, 600))


def test_high_resolution_tip():
    """tips.md: "train with --preprocess scale_width_and_crop --load_size 1024 --crop_size 360, and test
    with --preprocess scale_width --load_size 1024", so training and test see the same scale."""
    unpaired("hires", size=(1200, 900))
    run("python train.py --dataroot ./datasets/hires --name hires --model cycle_gan "
        "--preprocess scale_width_and_crop --load_size 1024 --crop_size 360")
    check_training("hires")
    run("python test.py --dataroot ./datasets/hires --name hires --model cycle_gan --preprocess scale_width "
        "--load_size 1024")
    check_results("hires", cycle_results("datasets/hires"), size=(1024, 768))


def test_rectangular_images_tip():
    """tips.md: 360x256 images, trained on random 256x256 crops, tested whole with --preprocess none."""
    unpaired("rect", size=(360, 256))
    run("python train.py --dataroot ./datasets/rect --name rect --model cycle_gan --preprocess crop --crop_size 256")
    check_training("rect")
    run("python test.py --dataroot ./datasets/rect --name rect --model cycle_gan --preprocess none")
    check_results("rect", cycle_results("datasets/rect"), size=(360, 256))


def test_continue_training(capsys):
    """tips.md / qa.md: --continue_train, with --epoch_count for the epoch to start at. A run of this
    code base resumes from its state file; a classic run (network files only) loads its weights and
    starts at --epoch_count with fresh optimizers."""
    unpaired("maps")
    run("python train.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan")
    run("python train.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --continue_train",
        n_epochs="2")
    check_training("maps_cyclegan", epochs=(1, 2))
    classic = Path("checkpoints", "maps_classic")
    classic.mkdir()
    for file_name in NETWORK_FILES["cycle_gan"]:  # the files a classic run leaves: the networks alone
        Path("checkpoints/maps_cyclegan", f"1_net_{file_name}.pth").rename(classic / f"latest_net_{file_name}.pth")
    capsys.readouterr()
    run("python train.py --dataroot ./datasets/maps --name maps_classic --model cycle_gan --continue_train "
        "--epoch_count 2", n_epochs="2")
    out = capsys.readouterr().out
    assert "latest_train_state.pth not found; weights loaded, optimizers start fresh at epoch 2" in out
    check_training("maps_classic", epochs=(2,))
    assert not list(Path("checkpoints/maps_classic/web/images").glob("epoch001_*"))


def test_pretrained_cyclegan_model():
    """README, "Apply a pre-trained model (CycleGAN)": a released generator (resnet_9blocks, instance norm
    with the running statistics of old PyTorch) in latest_net_G.pth and nothing else."""
    run_dir = Path("checkpoints", "horse2zebra_pretrained")
    run_dir.mkdir(parents=True)
    torch.save(classic_checkpoint("resnet_9blocks", "instance", False, ngf=8, old_instance_stats=True),
               run_dir / "latest_net_G.pth")
    write_images(Path("datasets/horse2zebra/testA"), 2, size=(256, 256), seed=1, prefix="n02381460_", ext=".jpg")
    run("python test.py --dataroot datasets/horse2zebra/testA --name horse2zebra_pretrained --model test --no_dropout")
    out = check_results("horse2zebra_pretrained",
                        {stem: ("real", "fake") for stem in stems("datasets/horse2zebra/testA")})
    opt = json.loads((out / "test_opt.json").read_text())
    assert (opt["netG"], opt["ngf"], opt["norm"], opt["no_dropout"]) == ("resnet_9blocks", 8, "instance", True)


def test_torchrun_with_the_2025_norms():
    """The 2025 README: "torchrun --nproc_per_node=4 train.py ..." with "--norm sync_batch (or --norm
    sync_instance)"; its code spells the first syncbatch. Run with 2 processes (gloo, CPU): batch norm,
    which becomes SyncBatchNorm under torchrun on GPUs, saved in the classic batch-norm layout."""
    unpaired("maps", count=4)
    proc = torchrun("torchrun --nproc_per_node=4 train.py --dataroot ./datasets/maps --name maps_cyclegan "
                    "--model cycle_gan --norm sync_batch")
    assert "2 processes" in proc.stdout
    assert check_training("maps_cyclegan")["norm"] == "batch"
    run("python train.py --dataroot ./datasets/maps --name maps_instance --model cycle_gan --norm sync_instance")
    assert check_training("maps_instance")["norm"] == "instance"
    run("python test.py --dataroot ./datasets/maps --name maps_cyclegan --model cycle_gan --norm syncbatch")
    check_results("maps_cyclegan", cycle_results("datasets/maps"))


# ----------------------------------------------------------------------------- pix2pix


def test_pix2pix_readme_and_scripts():
    """README's pix2pix train/test; scripts/train_pix2pix.sh, test_pix2pix.sh and test_single.sh (one
    folder of B images through the trained G with --model test)."""
    aligned("facades")
    write_images(Path("datasets/facades/testB"), 2, size=(256, 256), seed=7, prefix="label", ext=".jpg")
    run("python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA "
        "--use_wandb")
    opt = check_training("facades_pix2pix")
    assert (opt["netG"], opt["norm"], opt["no_dropout"], opt["gan_mode"], opt["pool_size"], opt["direction"]) == (
        "unet_256", "batch", False, "vanilla", 0, "BtoA")
    run("python test.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA")
    pairs = {stem: ("real_A", "fake_B", "real_B") for stem in stems("datasets/facades/test")}
    check_results("facades_pix2pix", pairs)

    run("python train.py --dataroot ./datasets/facades --name facades_script --model pix2pix --netG unet_256 "
        "--direction BtoA --lambda_L1 100 --dataset_mode aligned --norm batch --pool_size 0")
    check_training("facades_script")
    run("python test.py --dataroot ./datasets/facades --name facades_script --model pix2pix --netG unet_256 "
        "--direction BtoA --dataset_mode aligned --norm batch")
    check_results("facades_script", pairs)
    run("python test.py --dataroot ./datasets/facades/testB/ --name facades_script --model test --netG unet_256 "
        "--direction BtoA --dataset_mode single --norm batch")
    # into the same results folder, as classically: the pairs' images and now the single images
    check_results("facades_script", {**pairs, **{stem: ("real", "fake") for stem in stems("datasets/facades/testB")}})


def test_no_dropout_at_test_time_turns_a_unets_dropout_off():
    """qa.md: "If you use dropout during training time, make sure that you use the same Dropout setting in
    your test. Check the flag --no_dropout." A U-Net's dropout has no weights, so --no_dropout on a run
    trained with dropout is no contradiction: it makes the test deterministic, as in the classic code."""
    aligned("facades", phases=("train", "test"))
    run("python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA")
    fakes = []
    for seed, (results, flag) in enumerate((("r1", "--no_dropout"), ("r2", "--no_dropout"), ("r3", ""), ("r4", ""))):
        torch.manual_seed(seed)  # dropout draws from torch's generator: r3 and r4 draw apart
        run(f"python test.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA "
            f"--results_dir {results} {flag}")
        fakes.append(np.asarray(Image.open(f"{results}/facades_pix2pix/test_latest/images/000_fake_B.png")))
        opt = json.loads(Path(f"{results}/facades_pix2pix/test_latest/test_opt.json").read_text())
        assert opt["no_dropout"] is bool(flag)
    assert np.array_equal(fakes[0], fakes[1]) and not np.array_equal(fakes[2], fakes[3])


def test_combine_A_and_B_then_pix2pix():
    """tips.md and datasets.md: pairs in A/<split> and B/<split> under the same names, combined into AB
    images by the classic command, then the README's pix2pix train and test on them."""
    for seed, (side, split) in enumerate((("A", "train"), ("B", "train"), ("A", "test"), ("B", "test"))):
        write_images(Path("datasets/pairs", side, split), 2, size=(256, 256), seed=seed, prefix="p", ext=".jpg")
    python, script, *args = shlex.split("python datasets/combine_A_and_B.py --fold_A ./datasets/pairs/A "
                                        "--fold_B ./datasets/pairs/B --fold_AB ./datasets/pairs")
    assert run_cli(combine_A_and_B.main, args, Path(script).name) == 0
    assert stems("datasets/pairs/train") == stems("datasets/pairs/A/train") == ["p000", "p001"]
    run("python train.py --dataroot ./datasets/pairs --name pairs_pix2pix --model pix2pix")
    check_training("pairs_pix2pix")
    run("python test.py --dataroot ./datasets/pairs --name pairs_pix2pix --model pix2pix")
    check_results("pairs_pix2pix", {stem: ("real_A", "fake_B", "real_B") for stem in ("p000", "p001")})


def test_pretrained_pix2pix_model():
    """README, "Apply a pre-trained model (pix2pix)": facades_label2photo (unet_256, batch norm, dropout),
    latest_net_G.pth alone; BtoA takes the right half (the labels) as input."""
    run_dir = Path("checkpoints", "facades_label2photo_pretrained")
    run_dir.mkdir(parents=True)
    torch.save(classic_checkpoint("unet_256", "batch", True, ngf=8), run_dir / "latest_net_G.pth")
    aligned("facades", phases=("test",))
    run("python test.py --dataroot ./datasets/facades/ --direction BtoA --model pix2pix "
        "--name facades_label2photo_pretrained")
    out = check_results("facades_label2photo_pretrained",
                        {stem: ("real_A", "fake_B", "real_B") for stem in stems("datasets/facades/test")})
    ab = np.asarray(Image.open("datasets/facades/test/000.jpg"))
    real_a = np.asarray(Image.open(out / "images/000_real_A.png"))
    assert np.array_equal(real_a, ab[:, 256:])  # the right half, exactly as decoded


def test_before_push_commands():
    """scripts/test_before_push.py (2023): CycleGAN and pix2pix, trained and tested on the mini sets."""
    unpaired("mini")
    aligned("mini_pix2pix", phases=("train", "test", "val"))
    run("python train.py --model cycle_gan --name temp_cyclegan --dataroot ./datasets/mini --n_epochs 1 "
        "--n_epochs_decay 0 --save_latest_freq 10  --print_freq 1 --display_id -1")
    check_training("temp_cyclegan")
    assert len((Path("checkpoints/temp_cyclegan") / "loss_log.txt").read_text().splitlines()) == 1 + 2  # print_freq 1
    run('python test.py --model test --name temp_cyclegan --dataroot ./datasets/mini --num_test 1 --model_suffix "_A" '
        "--no_dropout")
    # --dataroot is searched recursively, as classically; the first image in sorted order, under its sub-folder
    check_results("temp_cyclegan", {"testA/A000": ("real", "fake")})

    run("python train.py --model pix2pix --name temp_pix2pix --dataroot ./datasets/mini_pix2pix --n_epochs 1 "
        "--n_epochs_decay 5 --save_latest_freq 10 --display_id -1")
    check_training("temp_pix2pix", epochs=(1, 6))
    run("python test.py --model pix2pix --name temp_pix2pix --dataroot ./datasets/mini_pix2pix --num_test 1")
    check_results("temp_pix2pix", {"000": ("real_A", "fake_B", "real_B")})


# ----------------------------------------------------------------------------- the 2018 flag names


def test_2018_flag_names():
    """scripts/test_before_push.py and tips.md as of 2018 (--niter, --how_many, --which_direction,
    --resize_or_crop, --loadSize, --fineSize, --which_model_netG, --no_lsgan ...): the renamed flags
    mean what their new names mean."""
    unpaired("mini")
    run("python train.py --name temp --dataroot ./datasets/mini --niter 1 --niter_decay 0 --save_latest_freq 10 "
        "--print_freq 1 --display_id -1")
    check_training("temp")
    run('python test.py --name temp --dataroot ./datasets/mini --how_many 1 --model_suffix "_A"')
    check_results("temp", {"testA/A000": ("real", "fake")})
    run("python train.py --dataroot ./datasets/mini --name hires --resize_or_crop scale_width_and_crop --loadSize 300 "
        "--fineSize 128 --which_model_netG resnet_6blocks --which_model_netD n_layers --no_lsgan --batchSize 2 "
        "--nThreads 1 --identity 0.1 --display_single_pane_ncols 2 --which_direction BtoA")
    opt = check_training("hires")
    assert (opt["preprocess"], opt["load_size"], opt["crop_size"], opt["netG"], opt["netD"], opt["gan_mode"],
            opt["batch_size"], opt["num_threads"], opt["lambda_identity"], opt["display_ncols"], opt["direction"]) == (
        "scale_width_and_crop", 300, 128, "resnet_6blocks", "n_layers", "vanilla", 2, 1, 0.1, 2, "BtoA")
    run("python test.py --dataroot ./datasets/mini --name hires --model cycle_gan --which_epoch latest "
        "--resize_or_crop scale_width --fineSize 300")
    check_results("hires", cycle_results("datasets/mini"), size=(300, 300))

    aligned("mini_pix2pix", phases=("train", "test"))
    run("python train.py --model pix2pix --name temp_pix2pix --dataroot ./datasets/mini_pix2pix --niter 1 "
        "--niter_decay 0 --save_latest_freq 10 --display_id -1")
    check_training("temp_pix2pix")
    run("python test.py --model pix2pix --name temp_pix2pix --dataroot ./datasets/mini_pix2pix --how_many 1 "
        "--which_direction BtoA")
    check_results("temp_pix2pix", {"000": ("real_A", "fake_B", "real_B")})


# ----------------------------------------------------------------------------- refused on purpose


@pytest.mark.parametrize("source,line,expect", [
    ("scripts/train_colorization.sh",
     "python train.py --dataroot ./datasets/colorization --name color_pix2pix --model colorization",
     "--model colorization"),
    ("scripts/test_colorization.sh",
     "python test.py --dataroot ./datasets/colorization --name color_pix2pix --model colorization",
     "--model colorization"),
    ("tips.md, notes on colorization",
     "python train.py --dataroot ./datasets/colorization --name color --dataset_mode colorization --input_nc 1 "
     "--output_nc 2", "--dataset_mode colorization"),
    ("scripts/test_before_push.py (2023)",
     "python train.py --model template --name temp2 --dataroot ./datasets/mini_pix2pix --n_epochs 1 --n_epochs_decay 0 "
     "--save_latest_freq 10 --display_id -1", "--model template"),
    ("scripts/test_before_push.py (2023)",
     "python test.py --model template --name temp2 --dataroot ./datasets/mini_pix2pix --num_test 1",
     "--model template"),
])
def test_models_not_included_are_refused_in_one_line(source, line, expect, capsys):
    error = refused(line, capsys)
    assert expect in error and "not" in error
    assert not Path("checkpoints").exists() and not Path("results").exists()


def test_a_new_run_over_another_is_refused(capsys):
    """scripts/test_before_push.py (2018) trains pix2pix into --name temp, where its CycleGAN run lies:
    the classic code overwrote it. Here that is refused, and the CycleGAN run is untouched."""
    unpaired("mini")
    aligned("mini_pix2pix", phases=("train", "test"))
    run("python train.py --name temp --dataroot ./datasets/mini --niter 1 --niter_decay 0 --save_latest_freq 10 "
        "--print_freq 1 --display_id -1")
    before = {p: p.read_bytes() for p in Path("checkpoints/temp").glob("*.pth")}
    error = refused("python train.py --model pix2pix --name temp --dataroot ./datasets/mini_pix2pix --niter 1 "
                    "--niter_decay 0 --save_latest_freq 10 --display_id -1", capsys)
    assert "already holds checkpoints" in error and "--name" in error
    assert {p: p.read_bytes() for p in Path("checkpoints/temp").glob("*.pth")} == before


# ----------------------------------------------------------------------------- issue 21: U-Nets on the images' own size


def write_pairs(folder: Path, count: int, half=(128, 128), seed: int = 0, prefix: str = "") -> None:
    """``count`` AB PNGs of two random halves of ``half`` (width, height)."""
    write_images(folder, count, size=(2 * half[0], half[1]), seed=seed, prefix=prefix)


EXACT = ("python test.py --dataroot DIR --name ref --model pix2pix --netG unet_128 --ngf 8 --norm batch "
         "--dataset_mode aligned --direction AtoB --preprocess none --eval --gpu_ids -1")


def test_classic_unet_128_checkpoint_translates_pixel_for_pixel():
    """Issue 21's command: a classic pix2pix U-Net (unet_128, 8 filters, batch norm, dropout) on four
    256x128 AB images, --preprocess none. Each fake_B equals a forward pass computed from the classic
    keys alone, in eval mode, on the left half; real_A and real_B are the halves, pixel for pixel."""
    run_dir = Path("checkpoints", "ref")
    run_dir.mkdir(parents=True)
    state = classic_checkpoint("unet_128", "batch", True, ngf=8, seed=21)
    torch.save(state, run_dir / "latest_net_G.pth")
    write_pairs(Path("DIR/test"), 4, seed=21)
    run(EXACT)
    out = check_results("ref", {stem: ("real_A", "fake_B", "real_B") for stem in stems("DIR/test")}, size=(128, 128))
    ab = np.stack([np.asarray(Image.open(f"DIR/test/{stem}.png")) for stem in stems("DIR/test")])
    left = torch.from_numpy(ab[:, :, :128]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        expected = ((classic_unet_forward(state, left).clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1)
    for k, stem in enumerate(stems("DIR/test")):
        fake = np.asarray(Image.open(out / "images" / f"{stem}_fake_B.png"))
        assert np.array_equal(fake, expected[k].numpy()), stem
        assert np.array_equal(np.asarray(Image.open(out / "images" / f"{stem}_real_A.png")), ab[k, :, :128])
        assert np.array_equal(np.asarray(Image.open(out / "images" / f"{stem}_real_B.png")), ab[k, :, 128:])
    assert len(np.unique(expected.numpy())) > 50  # a real picture, not a flat one that anything would match


def test_unet_sides_are_checked_against_the_images(capsys):
    """Sides a U-Net cannot take are refused naming the first file and its size, before anything is
    written; sides --preprocess none rounds to a multiple fit (130 px rounds to 128, as classically),
    and so do 512x256 halves on unet_256."""
    Path("checkpoints/ref").mkdir(parents=True)
    torch.save(classic_checkpoint("unet_128", "batch", True, ngf=8), "checkpoints/ref/latest_net_G.pth")
    write_pairs(Path("DIR/test"), 2)
    write_pairs(Path("DIR/test"), 2, half=(144, 128), prefix="wide")
    error = refused(EXACT, capsys)
    assert "DIR/test/wide000.png: its A and B halves are 144x128 px" in error
    assert "; 1 more image does not fit either:" in error
    assert "--netG unet_128" in error and "multiples of 128" in error
    assert not Path("results").exists()
    for path in Path("DIR/test").glob("wide*"):
        path.unlink()
    write_pairs(Path("DIR/test"), 1, half=(130, 128), prefix="round")
    run(EXACT)
    out = check_results("ref", {stem: ("real_A", "fake_B", "real_B") for stem in ("000", "001", "round000")}, None)
    for path in (out / "images").iterdir():
        with Image.open(path) as img:  # each written back at its input's size
            assert img.size == ((130, 128) if path.name.startswith("round") else (128, 128)), path.name

    write_pairs(Path("wide/train"), 2, half=(512, 256))
    run("python train.py --dataroot wide --name wide --model pix2pix --preprocess none --gpu_ids -1")
    check_training("wide")
    write_pairs(Path("wide/train"), 1, half=(500, 256), prefix="z")
    error = refused("python train.py --dataroot wide --name wide2 --model pix2pix --preprocess none --ngf 8", capsys)
    assert "wide/train/z000.png: its A and B halves are 500x256 px" in error and "--netG unet_256" in error
    unpaired("faces", size=(300, 256))
    error = refused("python train.py --dataroot ./datasets/faces --name f --netG unet_256 --preprocess none --ngf 8",
                    capsys)
    assert "datasets/faces/trainA/A000.jpg: it is 300x256 px, 300x256 after --preprocess none" not in error
    assert "datasets/faces/trainA/A000.jpg: it is 300x256 px" in error
    assert "; 1 more image does not fit either:" in error
    error = refused("python test.py --dataroot ./datasets/faces --name wide --model test --preprocess none", capsys)
    assert "datasets/faces/A000.jpg" not in error and "it is 300x256 px" in error
    error = refused("python train.py --dataroot ./datasets/faces --name f --netG unet_256 --preprocess scale_width "
                    "--ngf 8", capsys)
    assert "--load_size 286 does not suit --netG unet_256" in error
