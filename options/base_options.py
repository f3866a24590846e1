"""Flags shared by training and testing, with the names, meanings and defaults of the classic
pytorch-CycleGAN-and-pix2pix code base, so existing command lines and shell scripts keep working.

Options are parsed from an argv list and returned as a plain ``argparse.Namespace``; nothing here
reads ``sys.argv`` unless argv is None. The helpers at the bottom save a run's options in the classic
``<phase>_opt.txt`` layout and as JSON, and read the JSON back so ``test.py`` and
``--continue_train`` can rebuild the same architecture.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from data.datasets import DATASETS
from data.transforms import PREPROCESS_MODES, rounded_size
from models import MODELS
from models.networks import DISCRIMINATORS, GENERATORS, INIT_TYPES, NORMS, size_multiple
from util.cli import OneLineParser, explicit_flags, non_negative_int, positive_int  # noqa: F401 (imported from here too)
from util.errors import UserError

# Flags that decide the shape of the networks: a checkpoint only loads into the architecture it
# was trained with, so these are taken from the run's train_opt.json when not given.
GENERATOR_FLAGS = ("netG", "ngf", "norm", "no_dropout", "input_nc", "output_nc", "attention")
DISCRIMINATOR_FLAGS = ("netD", "ndf", "n_layers_D")
AMP_MODES = ("none", "bf16", "fp16", "auto")
# Defaults each model sets where the flag is not given, as the classic models' modify_commandline_options
# do: CycleGAN trains without dropout; pix2pix uses a U-Net with batch norm and dropout on aligned pairs,
# and trains with the cross-entropy GAN loss and no image pool.
MODEL_DEFAULTS = {
    "test": {"dataset_mode": "single"},
    "cycle_gan": {"no_dropout": True},
    "pix2pix": {"netG": "unet_256", "norm": "batch", "no_dropout": False, "dataset_mode": "aligned"},
}
MODEL_TRAIN_DEFAULTS = {"pix2pix": {"gan_mode": "vanilla", "pool_size": 0}}
# Other spellings of --norm that classic command lines use. Since its 2025 update the classic code base
# builds SyncBatchNorm for --norm syncbatch, and its README says sync_batch and sync_instance; here batch
# norm becomes SyncBatchNorm by itself under torchrun on GPUs (the same state-dict keys), and instance
# norm normalises each image on its own, so there is nothing to synchronise.
NORM_ALIASES = {"syncbatch": "batch", "sync_batch": "batch", "sync_instance": "instance"}
# Models and data set modes of the classic code base that are not included here, and why: a classic command
# line that names one gets this line instead of argparse's list of choices.
NOT_INCLUDED = {
    ("model", "colorization"): "--model colorization (the classic code base's L -> ab colourisation in Lab colour "
                               "space) is not included: this code base translates RGB faces between unmasked and "
                               "masked; colourise with the classic pytorch-CycleGAN-and-pix2pix",
    ("dataset_mode", "colorization"): "--dataset_mode colorization (the classic colourisation data: RGB images read "
                                      "as L -> ab pairs) is not included: use aligned (AB images), unaligned or single",
    ("model", "template"): "--model template is the classic code base's empty example for writing a new model, not "
                           "a model to train: use --model cycle_gan or pix2pix (a new model is a file in models/ "
                           "registered in models/__init__.py's MODELS)",
    ("dataset_mode", "template"): "--dataset_mode template is the classic code base's empty example for writing a "
                                  "data set, not one to read: use aligned, unaligned or single (a new one goes into "
                                  "data/datasets.py's DATASETS)",
}


def norm_name(text: str) -> str:
    """``--norm``'s value, classic aliases (syncbatch, sync_batch, sync_instance) taken as what they mean."""
    return NORM_ALIASES.get(text, text)


def add_base_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("experiment")
    g.add_argument("--dataroot", required=True,
                   help="path to images (should have subfolders trainA, trainB, testA, testB; for --dataset_mode "
                        "aligned train, test with AB images)")
    g.add_argument("--name", type=str, default="experiment_name",
                   help="name of the experiment; checkpoints go to <checkpoints_dir>/<name>")
    g.add_argument("--gpu_ids", type=str, default="0",
                   help="gpu ids: e.g. 0  0,1,2  0,2; -1 for CPU (falls back to CPU when no GPU is found)")
    g.add_argument("--checkpoints_dir", type=str, default="./checkpoints", help="models are saved here")
    g.add_argument("--seed", type=int, default=None,
                   help="random seed for weights, data order and image pools (default: drawn at start and saved)")

    g = p.add_argument_group("model")
    g.add_argument("--model", type=str, default="cycle_gan", choices=sorted(MODELS),
                   help="cycle_gan: both generators, unpaired data; pix2pix: one generator and a conditional "
                        "discriminator, aligned AB pairs (defaults --netG unet_256 --norm batch --dataset_mode "
                        "aligned, dropout on; training also --gan_mode vanilla --pool_size 0); test: one "
                        "generator, one direction, inference only")
    g.add_argument("--input_nc", type=positive_int, default=3, help="# of input image channels: 3 RGB, 1 grayscale")
    g.add_argument("--output_nc", type=positive_int, default=3, help="# of output image channels: 3 RGB, 1 grayscale")
    g.add_argument("--ngf", type=positive_int, default=64, help="# of generator filters in the last conv layer")
    g.add_argument("--ndf", type=positive_int, default=64, help="# of discriminator filters in the first conv layer")
    g.add_argument("--netD", "--which_model_netD", type=str, default="basic", choices=sorted(DISCRIMINATORS),
                   help="basic: 70x70 PatchGAN; n_layers: PatchGAN with --n_layers_D layers; pixel: 1x1 PatchGAN")
    g.add_argument("--netG", "--which_model_netG", type=str, default="resnet_9blocks", choices=sorted(GENERATORS),
                   help="generator architecture")
    g.add_argument("--n_layers_D", type=positive_int, default=3, help="only used if netD==n_layers")
    g.add_argument("--norm", type=norm_name, default="instance", choices=sorted(NORMS),
                   help="instance normalization or batch normalization [instance | batch | none]; the classic "
                        "syncbatch and sync_batch mean batch (SyncBatchNorm under torchrun on GPUs), sync_instance "
                        "means instance")
    g.add_argument("--init_type", type=str, default="normal", choices=INIT_TYPES, help="network initialization")
    g.add_argument("--init_gain", type=float, default=0.02, help="scaling factor for normal, xavier and orthogonal")
    g.add_argument("--no_dropout", action="store_true", help="no dropout for the generator")
    g.add_argument("--attention", action="store_true",
                   help="generators also output an attention map alpha in [0, 1] (a second head, sigmoid) and "
                        "translate to alpha * image + (1 - alpha) * input, so pixels alpha leaves at 0 are the "
                        "input's exactly; needs --input_nc equal to --output_nc. The checkpoints gain an "
                        "attention.* layer (classic ones load only without this flag); test.py writes the maps "
                        "as NAME_attn_B.png / NAME_attn_A.png")

    g = p.add_argument_group("data")
    g.add_argument("--dataset_mode", type=str, default="unaligned", choices=sorted(DATASETS),
                   help="unaligned: <phase>A and <phase>B folders; aligned: <phase>/NAME.png, each image A|B side "
                        "by side (pix2pix); single: one folder (--dataroot itself)")
    g.add_argument("--direction", "--which_direction", type=str, default="AtoB", choices=("AtoB", "BtoA"),
                   help="AtoB or BtoA")
    g.add_argument("--serial_batches", action="store_true",
                   help="if true, takes images in order to make batches, otherwise takes them randomly")
    g.add_argument("--num_threads", "--nThreads", default=4, type=non_negative_int,
                   help="# threads (workers) for loading data")
    g.add_argument("--batch_size", "--batchSize", type=positive_int, default=1, help="input batch size")
    g.add_argument("--load_size", "--loadSize", type=positive_int, default=286, help="scale images to this size")
    g.add_argument("--crop_size", "--fineSize", type=positive_int, default=256, help="then crop to this size")
    g.add_argument("--max_dataset_size", type=positive_int, default=math.inf,
                   help="maximum number of images per folder; the first ones in sorted order are kept")
    g.add_argument("--preprocess", "--resize_or_crop", type=str, default="resize_and_crop", choices=PREPROCESS_MODES,
                   help="scaling and cropping of images at load time")
    g.add_argument("--no_flip", action="store_true", help="if specified, do not flip the images for data augmentation")
    g.add_argument("--display_winsize", type=positive_int, default=256, help="display window size for visdom and HTML")

    g = p.add_argument_group("speed")
    g.add_argument("--amp", type=str, default="none", choices=AMP_MODES,
                   help="mixed precision: none keeps plain fp32; bf16 autocast; fp16 autocast with a gradient scaler; "
                        "auto: bf16 where the device computes it natively (a CUDA GPU with bf16, Ampere or later; "
                        "a CPU with avx512_bf16 or amx_bf16 in /proc/cpuinfo), otherwise none. The choice is "
                        "saved as amp_resolved beside amp in <phase>_opt.txt/.json")
    g.add_argument("--channels_last", action="store_true",
                   help="networks and images in channels-last memory layout (faster convolutions on recent GPUs)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the networks (a one-off compile of a minute or more, then faster steps)")
    g.add_argument("--cudnn_benchmark", action=argparse.BooleanOptionalAction, default=True,
                   help="let cuDNN time its convolution algorithms for the fixed image size (CUDA only)")

    g = p.add_argument_group("loading")
    g.add_argument("--epoch", "--which_epoch", type=str, default="latest",
                   help="which epoch to load? set to latest to use latest cached model")
    g.add_argument("--load_iter", type=non_negative_int, default=0,
                   help="which iteration to load? if load_iter > 0, loads iter_<load_iter>_* instead of --epoch")
    g.add_argument("--verbose", action="store_true", help="print network architectures and parameter counts")
    g.add_argument("--suffix", default="", type=str,
                   help="customized suffix: opt.name = opt.name + suffix: e.g., {model}_{netG}_size{load_size}")
    g.add_argument("--use_wandb", action="store_true", help="log losses and images to Weights & Biases")
    g.add_argument("--wandb_project_name", type=str, default="CycleGAN-and-pix2pix", help="W&B project name")


def model_in(argv: Sequence[str], default: str) -> str:
    """The ``--model`` of ``argv``, read before the full parse because the model decides some defaults
    (as the classic parser does). A classic model or data set mode not included here is refused in one
    line saying so (:data:`NOT_INCLUDED`)."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--model", default=default)
    probe.add_argument("--dataset_mode")
    given = probe.parse_known_args(list(argv))[0]
    for flag in ("model", "dataset_mode"):
        reason = NOT_INCLUDED.get((flag, getattr(given, flag)))
        if reason:
            raise UserError(reason)
    return given.model


def set_model_defaults(parser: argparse.ArgumentParser, model: str, is_train: bool) -> None:
    parser.set_defaults(**MODEL_DEFAULTS.get(model, {}), **(MODEL_TRAIN_DEFAULTS.get(model, {}) if is_train else {}))


def check_model_flags(opt: argparse.Namespace) -> None:
    """Refuse combinations of --model with flags that belong to another model, in one line each."""
    if opt.model == "pix2pix":
        if opt.dataset_mode == "unaligned":
            raise UserError("--model pix2pix learns from aligned pairs, not --dataset_mode unaligned: use "
                            "--dataset_mode aligned (AB images in <dataroot>/<phase>/), or --model cycle_gan "
                            "for unpaired <phase>A and <phase>B folders")
        if opt.attention:
            raise UserError("--attention works with --model cycle_gan only; drop --attention for pix2pix")
    elif opt.dataset_mode == "aligned":
        raise UserError(f"--dataset_mode aligned holds AB pairs for --model pix2pix, not --model {opt.model}: use "
                        "--model pix2pix, or --dataset_mode "
                        + ("unaligned (<phase>A and <phase>B folders)" if opt.model == "cycle_gan" else "single"))


def check_size_fits_generator(opt: argparse.Namespace) -> None:
    """Refuse the sizes the flags fix that the generator cannot map back to the same size.

    ResNet generators halve twice and double twice, so sides must be multiples of 4; a U-Net with
    n levels needs multiples of 2**n (128 or 256; :func:`models.networks.size_multiple`). A cropping
    ``--preprocess`` fixes both sides (``--crop_size``), ``scale_width`` the width (``--load_size``).
    Under ``none`` and ``scale_width`` the heights are the images' own (rounded to multiples of 4,
    which suits the ResNets): the data checks those from the files' headers before anything runs
    (``data.check_sizes_fit``), as the classic code base's U-Net runs on 256x256 or 512x256 images
    with ``--preprocess none``.
    """
    multiple = size_multiple(opt.netG)
    if "crop" in opt.preprocess:
        if opt.crop_size % multiple:
            raise UserError(f"--crop_size {opt.crop_size} does not suit --netG {opt.netG}: use a multiple "
                            f"of {multiple} (e.g. {max(multiple, opt.crop_size // multiple * multiple)})")
    elif opt.preprocess == "scale_width":
        width = rounded_size((opt.load_size, opt.load_size))[0]
        if width % multiple:
            raise UserError(f"--load_size {opt.load_size} does not suit --netG {opt.netG}: --preprocess scale_width "
                            f"makes every image {width} px wide, and the generator needs multiples of {multiple} "
                            f"(e.g. --load_size {max(multiple, width // multiple * multiple)})")


def finish_options(opt: argparse.Namespace, is_train: bool) -> argparse.Namespace:
    """Derived fields shared by both phases; mirrors the classic parse() post-processing."""
    opt.isTrain = is_train
    if opt.suffix:
        try:
            opt.name = opt.name + "_" + opt.suffix.format(**vars(opt))
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as err:
            raise UserError(f"--suffix {opt.suffix!r} names an unknown option ({err}); "
                            "use option names in braces, e.g. {netG}_size{load_size}") from err
    return opt


def parse_gpu_ids(text: str) -> list[int]:
    try:
        ids = [int(s) for s in text.split(",") if s.strip() != ""]
    except ValueError as err:
        raise UserError(f"--gpu_ids {text!r} is not a comma-separated list of integers (use -1 for CPU)") from err
    return [i for i in ids if i >= 0]


def usable_gpu_ids(text: str, prog: str) -> list[int]:
    """``--gpu_ids`` as a list, emptied (with a note) when this machine has no CUDA device."""
    ids = parse_gpu_ids(text)
    import torch  # kept local: parsing options should not need torch

    if ids and not torch.cuda.is_available():
        if os.environ.get("RANK", "0") == "0":  # under torchrun, said once
            print(f"{prog}: no CUDA device found; --gpu_ids {text} ignored, running on the CPU")
        return []
    return ids


def format_options(opt: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The options in the classic ``<phase>_opt.txt`` layout (non-defaults marked)."""
    lines = ["----------------- Options ---------------"]
    for key, value in sorted(vars(opt).items()):
        default = parser.get_default(key)
        comment = f"\t[default: {default}]" if value != default else ""
        lines.append(f"{key:>25}: {str(value):<30}{comment}")
    lines.append("----------------- End -------------------")
    return "\n".join(lines)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return None  # max_dataset_size=inf; JSON has no infinity
    return value


def save_options(opt: argparse.Namespace, parser: argparse.ArgumentParser, folder: str | Path) -> Path:
    """Write ``<phase>_opt.txt`` (classic layout) and ``<phase>_opt.json`` into ``folder``."""
    folder = Path(folder)
    phase = "train" if opt.isTrain else "test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{phase}_opt.txt").write_text(format_options(opt, parser) + "\n")
        data = {k: _json_value(v) for k, v in sorted(vars(opt).items())}
        (folder / f"{phase}_opt.json").write_text(json.dumps(data, indent=1) + "\n")
    except OSError as err:
        raise UserError(f"cannot write options into {folder}: {err.strerror or err}; "
                        "check --checkpoints_dir is writable") from err
    return folder / f"{phase}_opt.json"


def load_run_options(folder: str | Path) -> dict[str, Any] | None:
    """Options of an earlier training run (its ``train_opt.json``), or None if there is none."""
    path = Path(folder) / "train_opt.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path} ({err}); fix or delete it and pass the architecture flags") from err
    if data.get("max_dataset_size", 0) is None:
        data["max_dataset_size"] = math.inf
    return data


def adopt_run_flags(opt: argparse.Namespace, given: set[str], run: dict[str, Any] | None,
                    flags: Iterable[str], source: str) -> list[str]:
    """Take ``flags`` from an earlier run where the user did not give them; refuse contradictions.

    Returns the names of the flags taken. A flag the user gave that differs from the run's is a
    :class:`UserError` naming the flag, instead of the classic "Error(s) in loading state_dict".
    """
    taken = []
    if not run:
        return taken
    for flag in flags:
        if flag not in run:
            continue
        if flag in given:
            if getattr(opt, flag) != run[flag]:
                shown = f"--{flag}" if getattr(opt, flag) is True else f"--{flag} {getattr(opt, flag)}"  # a switch
                raise UserError(f"{shown} contradicts {source}, which has "
                                f"{flag}={run[flag]}: drop --{flag} to use the run's value, or check --name")
        elif getattr(opt, flag) != run[flag]:
            setattr(opt, flag, run[flag])
            taken.append(flag)
    return taken
