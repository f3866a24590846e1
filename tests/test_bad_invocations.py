"""Wrong command lines for train.py and test.py, one table of them.

Every case must end the way a user can act on: exit code 2, exactly one line on stderr that names the
flag or the file at fault, no traceback anywhere, and nothing lost: no network checkpoint written into
--checkpoints_dir, and every file that was there before (a trained run's checkpoints) byte-identical
afterwards. test.py cases must not leave result images either.

A case says which script it runs, how its argv is built from the case's own folders (``Env``), what
the error line must contain, whether it needs a copy of the tiny trained run, and what to damage
first. The run is trained once per module and copied into each case that uses it.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch

import test as test_script
import train as train_script
from conftest import write_images
from models import memory
from models.common import GANModel
from models.cycle_gan_model import CycleGANModel
from models.networks import define_G
from util.errors import run_cli

TINY = ["--load_size", "36", "--crop_size", "32", "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks",
        "--display_id", "0", "--num_threads", "0", "--gpu_ids", "-1"]
SHORT = ["--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "2"]  # a case's own flags come after these
RUN = "run"  # the name of the trained run inside a case's --checkpoints_dir


@dataclass
class Env:
    """The folders of one case: its data, its --checkpoints_dir and its --results_dir."""

    data: Path  # trainA 6, trainB 5, testA 3, testB 3 images
    ckpt: Path
    results: Path
    tmp: Path

    @property
    def run(self) -> Path:
        return self.ckpt / RUN

    @property
    def a_file(self) -> Path:
        """A regular file, where cases that need one pass it for a folder (see ``regular_file``)."""
        return self.tmp / "not_a_folder.txt"

    def train(self, *extra: str, name: str = "new", dataroot: Path | None = None) -> list[str]:
        return ["--dataroot", str(dataroot or self.data), "--checkpoints_dir", str(self.ckpt), "--name", name,
                *TINY, *SHORT, *extra]

    def resume(self, *extra: str) -> list[str]:
        """train.py --continue_train on the trained run."""
        return self.train("--continue_train", *extra, name=RUN)

    def test(self, *extra: str, name: str = RUN, dataroot: Path | None = None) -> list[str]:
        """test.py on both directions of a cycle_gan run."""
        return ["--dataroot", str(dataroot or self.data), "--checkpoints_dir", str(self.ckpt), "--name", name,
                "--model", "cycle_gan", "--results_dir", str(self.results), "--num_threads", "0",
                "--gpu_ids", "-1", *extra]


@dataclass(frozen=True)
class Case:
    script: str  # "train" or "test"
    argv: Callable[[Env], list[str]]
    expect: str  # the error line must contain this
    run: bool = False  # copy the trained run into <ckpt>/run first
    prepare: Callable[[Env], object] | None = None  # damage data or checkpoints before the call


def case(case_id: str, script: str, argv: Callable[[Env], list[str]], expect: str, *, run: bool = False,
         prepare: Callable[[Env], object] | None = None, xfail: str | None = None):
    marks = [pytest.mark.slow] if run else []  # it trains the module's tiny run (once)
    if xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=xfail))
    return pytest.param(Case(script, argv, expect, run, prepare), id=f"{script}-{case_id}", marks=marks)


# ----------------------------------------------------------------------------- ways to break a case


def remove_folder(relpath: str) -> Callable[[Env], None]:
    return lambda env: shutil.rmtree(env.data / relpath)


def empty_folder(relpath: str) -> Callable[[Env], None]:
    def prepare(env: Env) -> None:
        for path in (env.data / relpath).iterdir():
            path.unlink()
    return prepare


def regular_file(env: Env) -> None:
    env.a_file.write_text("a file where a folder is expected\n")


def tiny_images(env: Env) -> None:
    """trainA and trainB of 12x12 images, smaller than the discriminator's smallest input."""
    for domain, seed in (("trainA", 21), ("trainB", 22)):
        shutil.rmtree(env.data / domain)
        write_images(env.data / domain, 4, size=(12, 12), seed=seed)


def mixed_sizes(env: Env) -> None:
    """trainA of two sizes (both large enough): --preprocess none cannot stack them into one batch."""
    write_images(env.data / "trainA", 3, size=(48, 40), seed=23, prefix="wide")


def ab_images(phase: str = "train", width: int = 72, count: int = 3) -> Callable[[Env], None]:
    """``<data>/<phase>`` of aligned AB images (36x40 halves), the last ``width`` px wide (odd: broken)."""
    def prepare(env: Env) -> None:
        write_images(env.data / phase, count - 1, size=(72, 40), seed=24)
        write_images(env.data / phase, 1, size=(width, 40), seed=25, prefix="last")
    return prepare


def truncate(filename: str) -> Callable[[Env], None]:
    def prepare(env: Env) -> None:
        path = env.run / filename
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return prepare


def garble(filename: str) -> Callable[[Env], None]:
    return lambda env: (env.run / filename).write_text("{ not json")


def forget_options(env: Env) -> None:
    """A classic run: checkpoints without train_opt.json, so test.py reads the architecture off the weights."""
    (env.run / "train_opt.json").unlink()


def foreign_generator(filename: str, keep_options: bool = True) -> Callable[[Env], None]:
    """Put a generator with --ngf 4 where the run's --ngf 8 one was."""
    def prepare(env: Env) -> None:
        torch.manual_seed(0)
        net = define_G("resnet_6blocks", 3, 3, ngf=4, norm="instance")
        torch.save(net.state_dict(), env.run / filename)
        if not keep_options:
            forget_options(env)
    return prepare


def classic_unet_128(env: Env) -> None:
    """A classic pix2pix checkpoint alone: <ckpt>/unet/latest_net_G.pth, a unet_128 with 4 filters."""
    (env.ckpt / "unet").mkdir()
    torch.save(define_G("unet_128", 3, 3, ngf=4, norm="batch").state_dict(), env.ckpt / "unet" / "latest_net_G.pth")


# ----------------------------------------------------------------------------- the table

CASES = [
    # --- train.py: data
    case("dataroot-missing", "train", lambda e: e.train(dataroot=e.tmp / "nope"), "--dataroot"),
    case("dataroot-is-a-file", "train", lambda e: e.train(dataroot=e.a_file), "--dataroot",
         prepare=regular_file),
    case("no-dataroot", "train", lambda e: e.train()[2:], "--dataroot"),  # [2:] drops --dataroot and its value
    case("trainA-missing", "train", lambda e: e.train(), "trainA", prepare=remove_folder("trainA")),
    case("trainB-empty", "train", lambda e: e.train(), "trainB", prepare=empty_folder("trainB")),
    case("phase-without-folders", "train", lambda e: e.train("--phase", "val"), "valA"),
    case("max_dataset_size-0", "train", lambda e: e.train("--max_dataset_size", "0"), "--max_dataset_size"),
    case("batch_size-0", "train", lambda e: e.train("--batch_size", "0"), "--batch_size"),
    case("batch_size-beyond-data", "train", lambda e: e.train("--batch_size", "50"), "--batch_size 50"),
    case("num_threads-negative", "train", lambda e: e.train("--num_threads", "-1"), "--num_threads"),
    case("max_bad_images-negative", "train", lambda e: e.train("--max_bad_images", "-1"), "--max_bad_images"),
    # --- train.py: choices
    case("netG-unknown", "train", lambda e: e.train("--netG", "resnet_12blocks"), "--netG"),
    case("netD-unknown", "train", lambda e: e.train("--netD", "huge"), "--netD"),
    case("norm-unknown", "train", lambda e: e.train("--norm", "group"), "--norm"),
    case("init_type-unknown", "train", lambda e: e.train("--init_type", "zeros"), "--init_type"),
    case("gan_mode-unknown", "train", lambda e: e.train("--gan_mode", "hinge"), "--gan_mode"),
    case("lr_policy-unknown", "train", lambda e: e.train("--lr_policy", "exp"), "--lr_policy"),
    case("preprocess-unknown", "train", lambda e: e.train("--preprocess", "zoom"), "--preprocess"),
    case("direction-bad", "train", lambda e: e.train("--direction", "CtoD"), "--direction"),
    case("amp-fp8", "train", lambda e: e.train("--amp", "fp8"), "--amp"),
    case("adam_impl-bogus", "train", lambda e: e.train("--adam_impl", "bogus"), "--adam_impl"),
    case("nan_policy-bogus", "train", lambda e: e.train("--nan_policy", "bogus"), "--nan_policy"),
    case("model-test", "train", lambda e: e.train("--model", "test"), "--model test"),
    # --- train.py: pix2pix and aligned data
    case("pix2pix-unaligned-mode", "train", lambda e: e.train("--model", "pix2pix", "--dataset_mode", "unaligned"),
         "--dataset_mode unaligned"),
    case("cycle_gan-aligned-mode", "train", lambda e: e.train("--dataset_mode", "aligned"), "--dataset_mode aligned"),
    case("pix2pix-attention", "train", lambda e: e.train("--model", "pix2pix", "--attention"), "--attention"),
    case("pix2pix-on-unaligned-dataroot", "train", lambda e: e.train("--model", "pix2pix"), "--model cycle_gan"),
    case("pix2pix-phase-missing", "train", lambda e: e.train("--model", "pix2pix", "--phase", "val"), "val does not exist",
         prepare=ab_images()),
    case("pix2pix-empty-folder", "train", lambda e: e.train("--model", "pix2pix"), "has no images",
         prepare=lambda e: (e.data / "train").mkdir()),
    case("pix2pix-odd-width", "train", lambda e: e.train("--model", "pix2pix"), "last000.png is 71x40",
         prepare=ab_images(width=71)),
    case("pix2pix-mixed-halves-in-a-batch", "train",
         lambda e: e.train("--model", "pix2pix", "--preprocess", "none"), "halves",
         prepare=ab_images(width=96)),
    case("pix2pix-lambda_L1-negative", "train", lambda e: e.train("--model", "pix2pix", "--lambda_L1", "-1"),
         "--lambda_L1 -1.0", prepare=ab_images()),
    case("pix2pix-stack_passes-batch-norm", "train", lambda e: e.train("--model", "pix2pix", "--stack_passes"),
         "--stack_passes", prepare=ab_images()),
    case("pix2pix-continue-a-cycle_gan-run", "train", lambda e: e.resume("--model", "pix2pix"), "--model cycle_gan",
         run=True),
    case("dataset_mode-single", "train", lambda e: e.train("--dataset_mode", "single"), "--dataset_mode single"),
    case("unknown-flag", "train", lambda e: e.train("--learning_rate", "0.1"), "--learning_rate"),
    case("gpu_ids-letters", "train", lambda e: e.train("--gpu_ids", "a,b"), "--gpu_ids"),
    case("suffix-unknown-option", "train", lambda e: e.train("--suffix", "{nope}"), "--suffix"),
    # --- train.py: sizes and architecture
    case("crop-larger-than-load", "train", lambda e: e.train("--crop_size", "40"), "--crop_size 40"),
    case("crop-not-multiple-of-4", "train", lambda e: e.train("--crop_size", "30"), "--crop_size 30"),
    case("unet_256-on-32px", "train", lambda e: e.train("--netG", "unet_256"), "--netG unet_256"),
    case("unet_128-on-36x40-images", "train", lambda e: e.train("--netG", "unet_128", "--preprocess", "none"),
         "trainA/000.png: it is 36x40 px, and --netG unet_128 needs sides that are multiples of 128"),
    case("unet_256-scale_width-load_size", "train", lambda e: e.train("--netG", "unet_256", "--preprocess",
                                                                      "scale_width"), "--load_size 36"),
    case("model-colorization", "train", lambda e: e.train("--model", "colorization"), "--model colorization"),
    case("dataset_mode-template", "train", lambda e: e.train("--dataset_mode", "template"),
         "--dataset_mode template"),
    case("ngf-0", "train", lambda e: e.train("--ngf", "0"), "--ngf"),
    # refused from the networks' size on the meta device, before a byte of them is allocated
    case("ngf-too-large-for-memory", "train", lambda e: e.train("--ngf", "100000"),
         "--netG resnet_6blocks at --ngf 100000 and --netD basic at --ndf 8 have"),
    case("ndf-too-large-for-memory", "train", lambda e: e.train("--ndf", "200000"), "at --ndf 200000 have"),
    case("n_layers_D-0", "train", lambda e: e.train("--netD", "n_layers", "--n_layers_D", "0"), "--n_layers_D"),
    case("input_nc-0", "train", lambda e: e.train("--input_nc", "0"), "--input_nc"),
    case("init_gain-negative", "train", lambda e: e.train("--init_gain", "-0.02"), "--init_gain"),
    case("crop-too-small-for-netD", "train", lambda e: e.train("--load_size", "20", "--crop_size", "20"),
         "--crop_size 20"),
    case("n_layers_D-too-deep", "train", lambda e: e.train("--netD", "n_layers", "--n_layers_D", "9"),
         "--n_layers_D 9"),
    case("scale_width-too-narrow", "train", lambda e: e.train("--preprocess", "scale_width", "--load_size", "20"),
         "--load_size 20"),
    case("preprocess-none-on-tiny-images", "train", lambda e: e.train("--preprocess", "none"), "trainA",
         prepare=tiny_images),
    case("preprocess-none-mixed-sizes-in-a-batch", "train", lambda e: e.train("--preprocess", "none"),
         "--batch_size", prepare=mixed_sizes),
    case("identity-loss-across-channels", "train", lambda e: e.train("--input_nc", "1"), "--lambda_identity"),
    case("stack_passes-with-batch-norm", "train", lambda e: e.train("--stack_passes", "--norm", "batch"),
         "--stack_passes"),
    case("attention-across-channels", "train", lambda e: e.train("--attention", "--input_nc", "1",
                                                                 "--lambda_identity", "0"), "--attention"),
    # --- train.py: optimisation values
    case("no-epochs", "train", lambda e: e.train("--n_epochs", "0", "--n_epochs_decay", "0"), "--n_epochs"),
    case("n_epochs-negative", "train", lambda e: e.train("--n_epochs", "-1"), "--n_epochs"),
    case("epoch_count-past-the-end", "train", lambda e: e.train("--epoch_count", "5"), "--epoch_count 5"),
    case("seed-too-large", "train", lambda e: e.train("--seed", str(2**64)), "--seed"),
    case("epoch_count-0", "train", lambda e: e.train("--epoch_count", "0"), "--epoch_count"),
    case("lr-0", "train", lambda e: e.train("--lr", "0"), "--lr 0.0"),
    case("lr-negative", "train", lambda e: e.train("--lr", "-1"), "--lr -1.0"),
    case("lr-nan", "train", lambda e: e.train("--lr", "nan"), "--lr nan"),
    case("lr_decay_iters-0", "train", lambda e: e.train("--lr_policy", "step", "--lr_decay_iters", "0"),
         "--lr_decay_iters"),
    case("beta1-1.5", "train", lambda e: e.train("--beta1", "1.5"), "--beta1 1.5"),
    case("beta1-negative", "train", lambda e: e.train("--beta1", "-0.1"), "--beta1 -0.1"),
    case("lambda_A-negative", "train", lambda e: e.train("--lambda_A", "-1"), "--lambda_A -1.0"),
    case("lambda_B-negative", "train", lambda e: e.train("--lambda_B", "-10"), "--lambda_B -10.0"),
    case("lambda_identity-negative", "train", lambda e: e.train("--lambda_identity", "-0.5"),
         "--lambda_identity -0.5"),
    case("lambda_gp-negative", "train", lambda e: e.train("--gan_mode", "wgangp", "--lambda_gp", "-1"),
         "--lambda_gp -1.0"),
    case("lambda_A-nan", "train", lambda e: e.train("--lambda_A", "nan"), "--lambda_A nan"),
    case("lambda_attn_mean-negative", "train", lambda e: e.train("--attention", "--lambda_attn_mean", "-0.1"),
         "--lambda_attn_mean -0.1"),
    case("lambda_attn_tv-negative", "train", lambda e: e.train("--attention", "--lambda_attn_tv", "-1"),
         "--lambda_attn_tv -1.0"),
    case("lambda_attn_tv-inf", "train", lambda e: e.train("--attention", "--lambda_attn_tv", "inf"),
         "--lambda_attn_tv inf"),
    case("pool_size-negative", "train", lambda e: e.train("--pool_size", "-1"), "--pool_size"),
    case("save_epoch_freq-0", "train", lambda e: e.train("--save_epoch_freq", "0"), "--save_epoch_freq"),
    case("print_freq-0", "train", lambda e: e.train("--print_freq", "0"), "--print_freq"),
    case("display_winsize-0", "train", lambda e: e.train("--display_winsize", "0"), "--display_winsize"),
    case("load_iter-negative", "train", lambda e: e.train("--load_iter", "-1"), "--load_iter"),
    case("checkpoints_dir-is-a-file", "train",
         lambda e: [*e.train(), "--checkpoints_dir", str(e.a_file)], "--checkpoints_dir",
         prepare=regular_file),
    # --- train.py: runs that exist, or do not
    case("continue-without-checkpoint", "train", lambda e: e.train("--continue_train"), "--continue_train"),
    case("new-run-over-existing-name", "train", lambda e: e.train(name=RUN), "--continue_train", run=True),
    case("continue-other-netG", "train", lambda e: e.resume("--netG", "resnet_9blocks"), "--netG resnet_9blocks",
         run=True),
    case("continue-other-ngf", "train", lambda e: e.resume("--ngf", "16"), "--ngf 16", run=True),
    case("continue-with-attention", "train", lambda e: e.resume("--attention"), "--attention", run=True),
    case("continue-with-attention-no-options", "train", lambda e: e.resume("--attention"), "drop --attention",
         run=True, prepare=forget_options),
    case("continue-other-lr_policy", "train", lambda e: e.resume("--lr_policy", "step", "--n_epochs", "3"),
         "--lr_policy step", run=True),
    case("continue-finished-run", "train", lambda e: e.resume("--n_epochs", "1", "--n_epochs_decay", "0"),
         "--n_epochs", run=True),
    case("continue-missing-epoch", "train", lambda e: e.resume("--epoch", "7"), "7_net_G_A.pth", run=True),
    case("continue-missing-iter", "train", lambda e: e.resume("--load_iter", "3"), "iter_3_net_G_A.pth", run=True),
    case("continue-truncated-G_A", "train", lambda e: e.resume("--n_epochs", "3"), "latest_net_G_A.pth", run=True,
         prepare=truncate("latest_net_G_A.pth")),
    case("continue-truncated-state", "train", lambda e: e.resume("--n_epochs", "3"), "latest_train_state.pth",
         run=True, prepare=truncate("latest_train_state.pth")),
    case("continue-garbled-options", "train", lambda e: e.resume("--n_epochs", "3"), "train_opt.json", run=True,
         prepare=garble("train_opt.json")),
    case("continue-foreign-G_A", "train", lambda e: e.resume("--n_epochs", "3"), "latest_net_G_A.pth", run=True,
         prepare=foreign_generator("latest_net_G_A.pth")),
    # --- test.py: which checkpoint
    case("wrong-name", "test", lambda e: e.test(name="nope"), "nope/latest_net_G_A.pth", run=True),
    case("no-checkpoint-for-model-test", "test", lambda e: e.test("--model", "test"), "--model_suffix", run=True),
    case("model_suffix-_C", "test", lambda e: e.test("--model", "test", "--model_suffix", "_C"), "--model_suffix",
         run=True),
    case("model-unknown", "test", lambda e: e.test("--model", "pix2pixHD"), "--model", run=True),
    case("pix2pix-on-a-cycle_gan-run", "test", lambda e: e.test("--model", "pix2pix"), "--model cycle_gan", run=True),
    case("pix2pix-unaligned-mode", "test", lambda e: e.test("--model", "pix2pix", "--dataset_mode", "unaligned"),
         "--dataset_mode unaligned", run=True),
    case("cycle_gan-aligned-mode", "test", lambda e: e.test("--dataset_mode", "aligned"), "--dataset_mode aligned",
         run=True),
    case("pix2pix-attention", "test", lambda e: e.test("--model", "pix2pix", "--attention"), "--attention", run=True),
    case("epoch-missing", "test", lambda e: e.test("--epoch", "9"), "9_net_G_A.pth", run=True),
    case("load_iter-missing", "test", lambda e: e.test("--load_iter", "5"), "iter_5_net_G_A.pth", run=True),
    case("load_iter-negative", "test", lambda e: e.test("--load_iter", "-1"), "--load_iter", run=True),
    case("truncated-G_A", "test", lambda e: e.test(), "latest_net_G_A.pth", run=True,
         prepare=truncate("latest_net_G_A.pth")),
    case("truncated-G_B", "test", lambda e: e.test(), "latest_net_G_B.pth", run=True,
         prepare=truncate("latest_net_G_B.pth")),
    case("empty-G_A", "test", lambda e: e.test(), "latest_net_G_A.pth", run=True,
         prepare=lambda e: (e.run / "latest_net_G_A.pth").write_bytes(b"")),
    case("garbled-train_opt", "test", lambda e: e.test(), "train_opt.json", run=True,
         prepare=garble("train_opt.json")),
    case("foreign-G_A", "test", lambda e: e.test(), "latest_net_G_A.pth", run=True,
         prepare=foreign_generator("latest_net_G_A.pth")),
    case("foreign-G_A-no-options", "test", lambda e: e.test(), "latest_net_G_B.pth", run=True,
         prepare=foreign_generator("latest_net_G_A.pth", keep_options=False)),
    # --- test.py: flags that contradict the run
    case("ngf-contradicts-run", "test", lambda e: e.test("--ngf", "16"), "--ngf 16", run=True),
    case("netG-contradicts-run", "test", lambda e: e.test("--netG", "resnet_9blocks"), "--netG resnet_9blocks",
         run=True),
    case("norm-contradicts-run", "test", lambda e: e.test("--norm", "batch"), "--norm batch", run=True),
    case("ngf-contradicts-weights", "test", lambda e: e.test("--ngf", "16"), "--ngf", run=True,
         prepare=forget_options),
    case("attention-contradicts-run", "test", lambda e: e.test("--attention"), "--attention", run=True),
    case("attention-contradicts-weights", "test", lambda e: e.test("--attention"), "drop --attention", run=True,
         prepare=forget_options),
    case("model-test-attention-contradicts-weights", "test",
         lambda e: e.test("--model", "test", "--model_suffix", "_B", "--attention", dataroot=e.data / "testB"),
         "drop --attention", run=True, prepare=forget_options),
    case("crop-not-multiple-of-4", "test", lambda e: e.test("--crop_size", "30"), "--crop_size 30", run=True),
    case("unet_128-on-36x40-images", "test",
         lambda e: e.test("--model", "test", "--preprocess", "none", name="unet", dataroot=e.data / "testA"),
         "testA/000.png: it is 36x40 px", prepare=classic_unet_128),
    case("model-colorization", "test", lambda e: e.test("--model", "colorization"), "--model colorization",
         run=True),
    # --- test.py: data and results
    case("dataroot-missing", "test", lambda e: e.test(dataroot=e.tmp / "nope"), "--dataroot", run=True),
    case("dataroot-is-a-file", "test", lambda e: e.test(dataroot=e.a_file), "--dataroot",
         run=True, prepare=regular_file),
    case("testB-missing", "test", lambda e: e.test(), "testB", run=True, prepare=remove_folder("testB")),
    case("model-test-empty-folder", "test",
         lambda e: e.test("--model", "test", "--model_suffix", "_A", dataroot=e.data / "testA"), "--dataroot",
         run=True, prepare=empty_folder("testA")),
    case("results_dir-is-a-file", "test", lambda e: [*e.test(), "--results_dir", str(e.a_file)],
         "--results_dir", run=True, prepare=regular_file),
    case("results_dir-inside-a-file", "test",
         lambda e: [*e.test(), "--results_dir", str(e.a_file / "results")], "--results_dir",
         run=True, prepare=regular_file),
    case("num_test-0", "test", lambda e: e.test("--num_test", "0"), "--num_test", run=True),
    case("batch_size-0", "test", lambda e: e.test("--batch_size", "0"), "--batch_size", run=True),
    case("max_html_rows-negative", "test", lambda e: e.test("--max_html_rows", "-1"), "--max_html_rows", run=True),
    case("max_dataset_size-0", "test", lambda e: e.test("--max_dataset_size", "0"), "--max_dataset_size", run=True),
    case("aspect_ratio-0", "test", lambda e: e.test("--aspect_ratio", "0"), "--aspect_ratio 0.0", run=True),
    case("aspect_ratio-negative", "test", lambda e: e.test("--aspect_ratio", "-2"), "--aspect_ratio -2.0",
         run=True),
    case("aspect_ratio-nan", "test", lambda e: e.test("--aspect_ratio", "nan"), "--aspect_ratio nan", run=True),
    case("init_gain-negative", "test", lambda e: e.test("--init_gain", "-1"), "--init_gain -1.0", run=True),
    case("num_threads-negative", "test", lambda e: e.test("--num_threads", "-1"), "--num_threads", run=True),
    case("gpu_ids-letters", "test", lambda e: e.test("--gpu_ids", "a,b"), "--gpu_ids", run=True),
    case("amp-fp8", "test", lambda e: e.test("--amp", "fp8"), "--amp", run=True),
    case("suffix-unknown-option", "test", lambda e: e.test("--suffix", "{nope}"), "--suffix", run=True),
    case("unknown-flag", "test", lambda e: e.test("--num_tests", "5"), "--num_tests", run=True),
]

SCRIPTS = {"train": (train_script.main, "train.py"), "test": (test_script.main, "test.py")}


# ----------------------------------------------------------------------------- the run and the check


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished one-epoch run of the tiny networks, trained once for the whole module."""
    base = tmp_path_factory.mktemp("trained")
    write_images(base / "data" / "trainA", 6, seed=11)
    write_images(base / "data" / "trainB", 5, seed=12)
    argv = ["--dataroot", str(base / "data"), "--checkpoints_dir", str(base / "ckpt"), "--name", RUN, *TINY,
            *SHORT, "--seed", "1"]
    assert train_script.main(argv) == 0
    run = base / "ckpt" / RUN
    assert (run / "latest_net_G_A.pth").is_file() and (run / "train_opt.json").is_file()
    return run


def snapshot(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` with its contents."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("bad", CASES)
def test_bad_invocation_is_one_line_and_exit_2(bad: Case, tiny_dataroot, tmp_path, request, capsys):
    env = Env(data=tiny_dataroot, ckpt=tmp_path / "ckpt", results=tmp_path / "results", tmp=tmp_path)
    env.ckpt.mkdir()
    if bad.run:
        shutil.copytree(request.getfixturevalue("trained_run"), env.run)
    if bad.prepare is not None:
        bad.prepare(env)
    before = snapshot(env.ckpt)
    main, prog = SCRIPTS[bad.script]
    capsys.readouterr()  # only what the call prints

    code = run_cli(main, bad.argv(env), prog)

    out, err = capsys.readouterr()
    assert "Traceback" not in out and "Traceback" not in err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    assert bad.expect in lines[0], lines[0]
    after = snapshot(env.ckpt)
    assert {path: data for path, data in after.items() if path in before} == before, "a checkpoint file changed"
    written = sorted(str(path) for path in after.keys() - before.keys() if "_net_" in path.name)
    assert not written, f"checkpoints written: {written}"
    assert not list(env.results.rglob("*.png")), "result images written"


def raises(error: BaseException) -> Callable[..., None]:
    def fail(*args, **kwargs) -> None:
        raise error
    return fail


CPU_ALLOCATOR = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                             "memory: you tried to allocate 720000000000 bytes. Error code 12 (Cannot allocate memory)")
CUDA_OOM = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity "
                                       "of 79.19 GiB of which 3.12 GiB is free.")


@pytest.mark.slow
@pytest.mark.parametrize("where, patch, expect", [
    ("estimate", lambda mp: mp.setattr(memory, "free_memory", lambda device: 1000),
     "--netG resnet_6blocks at --ngf 8 and --netD basic at --ndf 8 have"),
    ("building", lambda mp: mp.setattr(GANModel, "setup_networks", raises(MemoryError())),
     "out of memory building the networks on cpu: lower --ngf and --ndf, or choose a smaller --netG"),
    ("cpu-step", lambda mp: mp.setattr(CycleGANModel, "optimize_parameters", raises(CPU_ALLOCATOR)),
     "out of memory in a training step on cpu (it tried to allocate 720.0 GB): lower --batch_size (now 2) or "
     "--crop_size (now 32)"),
    ("cuda-step", lambda mp: mp.setattr(CycleGANModel, "optimize_parameters", raises(CUDA_OOM)),
     "(it tried to allocate 20.00 GiB): lower --batch_size"),
])
def test_out_of_memory_on_resume_is_one_line_and_leaves_the_checkpoints_alone(where, patch, expect, trained_run,
                                                                              tiny_dataroot, tmp_path, monkeypatch,
                                                                              capsys):
    """Networks too large, refused by the estimate or failing to allocate while being built or in the
    first step: one line naming the flags to change, exit 2, the run's checkpoints byte-identical (and,
    before the first step, every file of the run)."""
    env = Env(data=tiny_dataroot, ckpt=tmp_path / "ckpt", results=tmp_path / "results", tmp=tmp_path)
    shutil.copytree(trained_run, env.run)
    before = snapshot(env.ckpt)
    patch(monkeypatch)
    capsys.readouterr()

    code = run_cli(train_script.main, env.resume("--n_epochs", "2"), "train.py")

    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "Traceback" not in out + err and expect in lines[0], lines[0]
    after = snapshot(env.ckpt)
    weights = lambda files: {path: data for path, data in files.items() if path.suffix == ".pth"}  # noqa: E731
    assert weights(after) == weights(before)
    if not where.endswith("step"):  # nothing at all written: train_opt.json and the logs come after the networks
        assert after == before
