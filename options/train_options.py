"""Training flags (classic names and defaults) and ``parse_train_options(argv)``."""
from __future__ import annotations

import argparse
import math
import sys
from typing import Sequence

from models import TRAINABLE
from models.losses import GAN_MODES
from models.schedulers import LR_POLICIES
from options.base_options import (OneLineParser, add_base_options, check_model_flags, explicit_flags, finish_options,
                                  model_in, non_negative_int, positive_int, set_model_defaults)
from util.errors import UserError


def add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("display and logging")
    g.add_argument("--display_freq", type=positive_int, default=400,
                   help="frequency (in images) of showing training results on screen and in the HTML page")
    g.add_argument("--display_ncols", "--display_single_pane_ncols", type=int, default=4,
                   help="if positive, display all images in a single visdom web panel with certain number of images per row")
    g.add_argument("--display_id", type=int, default=1, help="window id of the web display; 0 or less: no visdom")
    g.add_argument("--display_server", type=str, default="http://localhost", help="visdom server of the web display")
    g.add_argument("--display_env", type=str, default="main", help='visdom display environment name (default is "main")')
    g.add_argument("--display_port", type=int, default=8097, help="visdom port of the web display")
    g.add_argument("--update_html_freq", type=positive_int, default=1000,
                   help="frequency (in images) of saving training results to html")
    g.add_argument("--print_freq", type=positive_int, default=100,
                   help="frequency (in images) of writing training losses to loss_log.txt")
    g.add_argument("--no_html", action="store_true",
                   help="do not save intermediate training results to [checkpoints_dir]/[name]/web/")

    g = p.add_argument_group("saving and resuming")
    g.add_argument("--save_latest_freq", type=positive_int, default=5000,
                   help="frequency (in images) of saving the latest results")
    g.add_argument("--save_epoch_freq", type=positive_int, default=5,
                   help="frequency of saving checkpoints at the end of epochs")
    g.add_argument("--save_by_iter", action="store_true", help="whether saves model by iteration")
    g.add_argument("--continue_train", action="store_true",
                   help="continue training: load the checkpoint of --epoch (default latest) and its training state")
    g.add_argument("--epoch_count", type=positive_int, default=1,
                   help="the starting epoch count of a new run; --continue_train takes it from the saved state")
    g.add_argument("--phase", type=str, default="train",
                   help="train, val, test, etc: reads <dataroot>/<phase>A, B (aligned: <dataroot>/<phase>)")

    g = p.add_argument_group("reliability")
    g.add_argument("--nan_policy", type=str, default="stop", choices=("stop", "skip"),
                   help="a non-finite loss: stop (the last good checkpoint stays latest) or skip the step and count it")
    g.add_argument("--max_bad_images", type=non_negative_int, default=100,
                   help="unreadable images are skipped with a warning; more than this many stops training")

    g = p.add_argument_group("optimisation")
    g.add_argument("--n_epochs", "--niter", type=non_negative_int, default=100,
                   help="number of epochs with the initial learning rate")
    g.add_argument("--n_epochs_decay", "--niter_decay", type=non_negative_int, default=100,
                   help="number of epochs to linearly decay learning rate to zero")
    g.add_argument("--beta1", type=float, default=0.5, help="momentum term of adam")
    g.add_argument("--lr", type=float, default=0.0002, help="initial learning rate for adam")
    g.add_argument("--gan_mode", type=str, default="lsgan", choices=GAN_MODES,
                   help="the type of GAN objective. vanilla GAN loss is the cross-entropy objective used in the original GAN paper.")
    g.add_argument("--no_lsgan", dest="gan_mode", action="store_const", const="vanilla",
                   help="the classic code base's name (until 2018) for --gan_mode vanilla")
    g.add_argument("--pool_size", type=non_negative_int, default=50,
                   help="the size of image buffer that stores previously generated images")
    g.add_argument("--lr_policy", type=str, default="linear", choices=LR_POLICIES,
                   help="learning rate policy. [linear | step | plateau | cosine]")
    g.add_argument("--lr_decay_iters", type=positive_int, default=50,
                   help="step policy: multiply by 0.1 every lr_decay_iters epochs")
    g.add_argument("--lambda_A", type=float, default=10.0, help="weight for cycle loss (A -> B -> A)")
    g.add_argument("--lambda_B", type=float, default=10.0, help="weight for cycle loss (B -> A -> B)")
    g.add_argument("--lambda_L1", type=float, default=100.0,
                   help="pix2pix: weight of the L1 distance between the translation and its true pair "
                        "(the classic 100); CycleGAN ignores it")
    g.add_argument("--lambda_identity", "--identity", type=float, default=0.5,
                   help="use identity mapping. Setting lambda_identity other than 0 has an effect of scaling the "
                        "weight of the identity mapping loss. For example, if the weight of the identity loss should "
                        "be 10 times smaller than the weight of the reconstruction loss, please set lambda_identity = 0.1")
    g.add_argument("--adam_impl", type=str, default="auto", choices=("auto", "for_loop", "foreach", "fused"),
                   help="Adam implementation: auto is PyTorch's default (foreach on GPUs, a loop on the CPU); "
                        "fused runs one kernel for all parameters")
    g.add_argument("--stack_passes", action="store_true",
                   help="one generator call per direction on stacked inputs (translation, identity and the "
                        "reconstruction) and one discriminator call on [real; fake]: fewer, larger calls, "
                        "the same per-image math with --norm instance or none (refused with --norm batch)")
    g.add_argument("--lambda_gp", type=float, default=10.0,
                   help="weight of the WGAN-GP gradient penalty (only with --gan_mode wgangp)")
    g.add_argument("--lambda_attn_mean", type=float, default=0.01,
                   help="with --attention: weight of the mean of each generator's attention maps, which pushes "
                        "them to change little. A tie-breaker: pixels nothing asks to change go back to the "
                        "input. At 0.1 (GANimation's weight) G_AB's map collapsed to 0 on the toy faces "
                        "(it returned its input and drew no mask); 0.01 and 0.005 kept both maps on the mask")
    g.add_argument("--lambda_attn_tv", type=float, default=0.1,
                   help="with --attention: weight of the total variation of the attention maps (mean absolute "
                        "difference of neighbouring pixels, down plus across), for smooth maps; 0.1 was in the "
                        "best toy-face runs (docs/toy_faces.md, \"Tuning on the toy faces\")")


def attention_defaults(opt: argparse.Namespace, given: set[str]) -> None:
    """With --attention the identity loss is off unless --lambda_identity is given: G(its own domain) = input
    is met by a map of zeros, so together with the map's mean penalty it pulls G_AB's map to 0 and
    G_AB stops drawing masks (measured on the toy faces: docs/toy_faces.md, "Tuning on the toy faces")."""
    if getattr(opt, "attention", False) and "lambda_identity" not in given:
        opt.lambda_identity = 0.0


def check_train_values(opt: argparse.Namespace) -> None:
    """Refuse values the parser's types let through but training cannot use: Adam's --lr and --beta1,
    negative loss weights, a bad --init_gain or --seed, an --epoch_count past the end, an identity loss
    or an attention blend between different channel counts, images too small for the networks.

    Each is one line naming the flag, before any data is read or network built.
    """
    if not (opt.lr > 0 and math.isfinite(opt.lr)):
        raise UserError(f"--lr {opt.lr} must be positive")
    if not 0 <= opt.beta1 < 1:
        raise UserError(f"--beta1 {opt.beta1} must be at least 0 and below 1 (Adam's momentum term; classic: 0.5)")
    for flag in ("lambda_A", "lambda_B", "lambda_identity", "lambda_L1", "lambda_gp", "lambda_attn_mean",
                 "lambda_attn_tv"):
        value = getattr(opt, flag)
        if not (value >= 0 and math.isfinite(value)):
            raise UserError(f"--{flag} {value} must be 0 or more (0 turns that loss off)")
    if not (opt.init_gain > 0 and math.isfinite(opt.init_gain)):
        raise UserError(f"--init_gain {opt.init_gain} must be positive (it scales the initial weights; classic: 0.02)")
    if opt.seed is not None and not -2**63 <= opt.seed < 2**63:
        raise UserError(f"--seed {opt.seed} is out of range: use a number from -2**63 to 2**63 - 1")
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if not opt.continue_train and last_epoch >= 1 and opt.epoch_count > last_epoch:
        raise UserError(f"--epoch_count {opt.epoch_count} is past the last epoch, {last_epoch} (--n_epochs plus "
                        "--n_epochs_decay): lower --epoch_count or raise --n_epochs")
    if opt.attention and opt.input_nc != opt.output_nc:
        raise UserError(f"--attention needs --input_nc and --output_nc equal (they are {opt.input_nc} and "
                        f"{opt.output_nc}): the translation blends each generator's image with its input; "
                        "drop --attention or use equal channel counts")
    if opt.model == "cycle_gan" and opt.lambda_identity > 0 and opt.input_nc != opt.output_nc:
        raise UserError(f"--lambda_identity {opt.lambda_identity} needs --input_nc and --output_nc equal (they are "
                        f"{opt.input_nc} and {opt.output_nc}): the identity loss feeds B images to G_A; "
                        "pass --lambda_identity 0")
    check_image_size(opt)


def min_image_side(opt: argparse.Namespace) -> int:
    """The smallest image side the networks of ``opt`` can train on (see :func:`check_image_size`)."""
    halvings = {"basic": 3, "n_layers": opt.n_layers_D}.get(opt.netD)  # None: the 1x1 pixel PatchGAN
    return max(3 * 2**halvings if halvings else 1, 8 if opt.netG.startswith("resnet") else 1)


def check_image_size(opt: argparse.Namespace) -> None:
    """Refuse training images too small for the networks, where the flags fix their size.

    Each strided convolution of a PatchGAN halves the side and its last two layers need 3 pixels
    left, so ``--netD basic`` (3 halvings) needs 24; ``--netD pixel`` takes any size; the ResNet
    generators need 8 (two halvings, then reflection padding). ``--preprocess none`` keeps each
    image's size, which only the data knows: the training dataset replaces smaller images (as
    unreadable ones) with others.
    """
    if "crop" in opt.preprocess:
        flag, side = "--crop_size", opt.crop_size
    elif opt.preprocess == "scale_width":
        flag, side = "--load_size", opt.load_size  # the width; the height is at least --crop_size
    else:
        return
    need = min_image_side(opt)
    if side < need:
        layers = f" --n_layers_D {opt.n_layers_D}" if opt.netD == "n_layers" else ""
        raise UserError(f"{flag} {side} is too small for --netD {opt.netD}{layers} and --netG {opt.netG}: "
                        f"training images need sides of at least {need}; raise {flag}"
                        + (" or lower --n_layers_D" if layers else ""))


def build_train_parser(model: str = "cycle_gan") -> OneLineParser:
    """The training parser, with ``model``'s defaults (see options.base_options.MODEL_DEFAULTS)."""
    parser = OneLineParser(prog="train.py", description="Train a CycleGAN or pix2pix (A=unmasked, B=masked faces).",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_base_options(parser)
    add_train_options(parser)
    set_model_defaults(parser, model, is_train=True)
    return parser


def parse_train_options(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, set[str], OneLineParser]:
    """Parse training flags from ``argv``; returns the options, the flags given, and the parser."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    parser = build_train_parser(model_in(argv, "cycle_gan"))
    opt = parser.parse_args(argv)
    given = explicit_flags(parser, argv)
    if opt.model not in TRAINABLE:
        raise UserError(f"--model {opt.model} cannot be trained; train.py trains --model cycle_gan or pix2pix "
                        "(--model test is for test.py)")
    if opt.dataset_mode == "single":
        raise UserError(f"--dataset_mode single has one domain only; training needs --dataset_mode unaligned "
                        "(<dataroot>/<phase>A and <phase>B, CycleGAN) or aligned (AB images, pix2pix)")
    check_model_flags(opt)
    attention_defaults(opt, given)
    opt = finish_options(opt, is_train=True)
    check_train_values(opt)
    return opt, given, parser
