"""One PNG showing how a run's translation evolved: the same test images through every saved epoch.

    python scripts/epoch_grid.py --dataroot datasets/masks --name masks --images 6 --out masks_epochs.png
    python scripts/epoch_grid.py --name masks --direction BtoA --files a.png b.png \
        --epochs 5 10 20 latest --tile 160 --out plots/unmask.png

Rows are images, the first column the input, then one column per checkpoint, under a header strip
("input", "epoch 5", ...). The images are the first ``--images`` of ``<dataroot>/<phase>A`` (AtoB,
G_AB puts a mask on) or ``<phase>B`` (BtoA, G_BA takes it off), sorted as test.py reads them, or the
given ``--files``. Checkpoints are ``<checkpoints_dir>/<name>/<epoch>_net_G_A.pth`` (G_B for BtoA):
all numbered epochs in numeric order unless ``--epochs`` picks some; ``latest`` (or another label,
e.g. ``iter_5000``) only when named there, after the numbered ones.

A pix2pix run has one generator, ``<epoch>_net_G.pth``, and one direction, the one it was trained in
(its train_opt.json's ``--direction``; give ``--direction`` only for a classic checkpoint without one,
and any other is refused). Its images are the input halves of the AB images of ``<dataroot>/<phase>``,
as ``test.py --model pix2pix`` reads them (the left half for AtoB, the right one for BtoA), or, where
the dataroot has no ``<phase>`` folder, ``<phase>A`` or ``<phase>B`` as above; ``--files`` are inputs.

Each image goes through exactly what ``test.py --model test --model_suffix _A|_B --epoch E`` (a pix2pix
run: ``--model_suffix ''``) does: the architecture and test-time size come from the run's
``train_opt.json`` (or, without one, from the checkpoint), the same preprocessing, one image per forward
pass, train-mode networks unless ``--eval``. Every cell is the network's input or output resized
(bicubic) to ``--tile`` pixels.
For an ``--attention`` run each image's row is followed by a row of the generator's attention maps
(first cell labelled "alpha"; white: the generator's content, black: the input kept).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import test as test_script  # noqa: E402  (the repository's test.py, not the standard library's package)
from data.datasets import image_folder, split_ab  # noqa: E402
from data.image_folder import load_image  # noqa: E402
from data.transforms import get_transform  # noqa: E402
from models.cycle_gan_model import select_device  # noqa: E402
from models.test_model import TestModel  # noqa: E402
from options.base_options import OneLineParser, positive_int, usable_gpu_ids  # noqa: E402
from options.test_options import parse_test_options  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.image_io import maps_to_images, tensors_to_images  # noqa: E402
from util.loss_plot import write_atomically  # noqa: E402
from util.runs import DIRECTIONS, RunGenerators, run_generators  # noqa: E402

HEADER = 18  # pixels of the label strip above the tiles, as in results_grid.py
HALF = {"AtoB": 0, "BtoA": 1}  # a pix2pix run's input half of an AB image: left for AtoB, right for BtoA


def saved_labels(run_dir: Path, generator: str) -> list[str]:
    ending = f"_net_{generator}.pth"
    return [p.name[: -len(ending)] for p in run_dir.glob(f"*{ending}")]


def pick_epochs(run_dir: Path, generator: str, wanted: list[str] | None) -> list[str]:
    """Checkpoint labels to show: numbered epochs in numeric order, then other labels, ``latest`` last."""
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist: check --name and --checkpoints_dir")
    saved = saved_labels(run_dir, generator)
    numbered = sorted((label for label in saved if label.isdigit()), key=int)
    if wanted is None:
        if not numbered:
            hint = "; pass --epochs latest to show the last one" if "latest" in saved else ""
            raise UserError(f"no epoch checkpoints <N>_net_{generator}.pth in {run_dir}: "
                            f"train with --save_epoch_freq{hint}")
        return numbered
    wanted = [str(int(w)) if w.isdigit() else w for w in dict.fromkeys(wanted)]
    missing = [w for w in wanted if w not in saved]
    if missing:
        have = " ".join(numbered + sorted(set(saved) - set(numbered))) or "none"
        raise UserError(f"--epochs {' '.join(missing)}: no {missing[0]}_net_{generator}.pth in {run_dir} "
                        f"(saved: {have})")
    others = [w for w in wanted if not w.isdigit() and w != "latest"]
    return sorted((w for w in wanted if w.isdigit()), key=int) + others + [w for w in wanted if w == "latest"]


def column_label(label: str) -> tuple[str, str]:
    """The header text of a checkpoint's column, and a short form for narrow tiles."""
    if label.isdigit():
        return f"epoch {label}", label
    if label.startswith("iter_"):
        return f"iter {label[5:]}", label[5:]
    return label, label


def settle_direction(run: RunGenerators, asked: str | None) -> tuple[str, str]:
    """(direction, generator file): as asked (CycleGAN: AtoB unless asked), or a pix2pix run's own; a
    pix2pix run is refused a direction it was not trained in."""
    direction = asked or run.trained or "AtoB"
    generator = run.generator(direction)
    if generator is None:
        raise UserError(f"--direction {asked}: {run.describe()}, and its one generator (net_G) translates "
                        f"{run.trained} only: leave --direction out or pass --direction {run.trained}")
    return direction, generator


def run_test_options(args: argparse.Namespace, generator: str, first_label: str) -> argparse.Namespace:
    """The options test.py would run with for one generator of the run, architecture resolved."""
    argv = ["--dataroot", args.dataroot or ".", "--name", args.name, "--checkpoints_dir", args.checkpoints_dir,
            "--model", "test", "--model_suffix", generator[1:], "--epoch", first_label,
            "--phase", args.phase, "--gpu_ids", args.gpu_ids, "--num_threads", "0"]
    opt, given, _ = parse_test_options(argv + (["--eval"] if args.eval else []))
    test_script.resolve_architecture(opt, given, Path(args.checkpoints_dir) / args.name)
    return opt


def input_paths(args: argparse.Namespace, run: RunGenerators) -> tuple[list[str], int | None]:
    """The input images, and which half of each is the input (0 left, 1 right) where they are a pix2pix
    run's aligned AB images; None where they are whole."""
    if args.files:
        for f in args.files:
            if not Path(f).is_file():
                raise UserError(f"--files {f} does not exist")
        return list(args.files), None
    if not args.dataroot:
        raise UserError("give --dataroot (its first --images test images are used) or --files")
    aligned = Path(args.dataroot) / args.phase
    if run.model == "pix2pix" and aligned.is_dir():
        half = HALF[args.direction]
        what = f"{args.phase} (AB images, the {('left', 'right')[half]} half the {args.direction} input)"
        return image_folder(aligned, args.images, what), half
    side = "A" if args.direction == "AtoB" else "B"
    folder = Path(args.dataroot) / f"{args.phase}{side}"
    return image_folder(folder, args.images, f"{args.phase}{side} ({args.direction} input)"), None


def load_input(path: str, half: int | None, grey: bool):
    """An input image as test.py reads it: whole, or the input half of an AB image."""
    if half is None:
        return load_image(path, grayscale=grey)
    img = split_ab(load_image(path), path)[half]
    return img.convert("L") if grey else img


def translate(args: argparse.Namespace, generator: str, labels: list[str], paths: list[str], half: int | None = None
              ) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]]:
    """rows[i] = [input, output of labels[0], output of labels[1], ...] of image i, HxWx3 uint8 each;
    and, for an --attention run, maps[i] = [map of labels[0], ...] (HxWx3 grey), else empty lists."""
    opt = run_test_options(args, generator, labels[0])
    opt.gpu_id_list = usable_gpu_ids(opt.gpu_ids, "epoch_grid.py")
    model = TestModel(opt, select_device(opt.gpu_id_list))
    transform = get_transform(opt.preprocess, opt.load_size, opt.crop_size, flip=False, train=False)
    images = [transform(load_input(p, half, opt.input_nc == 1)).unsqueeze(0) for p in paths]
    rows = [[tensors_to_images(im)[0]] for im in images]
    maps: list[list[np.ndarray]] = [[] for _ in images]
    run_dir = Path(opt.checkpoints_dir) / opt.name
    if opt.eval:
        model.eval()
    for label in labels:
        model.load(run_dir, label)
        with torch.no_grad():
            for row, row_maps, im in zip(rows, maps, images):
                out = model.translate(im)
                row.append(tensors_to_images(out["fake"])[0])
                if "attn" in out:
                    row_maps.append(np.repeat(maps_to_images(out["attn"])[0][..., None], 3, axis=2))
    return rows, maps


def label_tile(text: str, tile: int) -> np.ndarray:
    """A white tile with ``text`` at its top left, first cell of a row of attention maps."""
    cell = Image.new("RGB", (tile, tile), (255, 255, 255))
    ImageDraw.Draw(cell).text((4, 3), text, fill=(0, 0, 0))
    return np.asarray(cell)


def build_grid(rows: list[list[np.ndarray]], headers: list[tuple[str, str]], tile: int) -> Image.Image:
    grid = Image.new("RGB", (tile * len(headers), HEADER + tile * len(rows)), (255, 255, 255))
    for c, (text, short) in enumerate(headers):
        cell = Image.new("RGB", (tile, HEADER), (255, 255, 255))
        draw = ImageDraw.Draw(cell)
        draw.text((4, 3), text if draw.textlength(text) <= tile - 6 else short, fill=(0, 0, 0))
        grid.paste(cell, (c * tile, 0))  # drawn on its own cell so a long label cannot run into the next
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            cell = Image.fromarray(picture)
            if cell.size != (tile, tile):
                cell = cell.resize((tile, tile), Image.Resampling.BICUBIC)
            grid.paste(cell, (c * tile, HEADER + r * tile))
    return grid


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="epoch_grid.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataroot", default=None, help="data set holding <phase>A and <phase>B, or a pix2pix run's "
                                                    "<phase>/ AB images (not needed with --files)")
    p.add_argument("--name", required=True, help="the run: checkpoints in <checkpoints_dir>/<name>")
    p.add_argument("--checkpoints_dir", default="./checkpoints", help="where runs are (default: ./checkpoints)")
    p.add_argument("--direction", default=None, choices=DIRECTIONS,
                   help="AtoB (default): testA through G_AB (net_G_A); BtoA: testB through G_BA (net_G_B). A pix2pix "
                        "run: the direction it was trained in (the default; the other is refused)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--images", type=positive_int, default=4,
                       help="how many test images (rows), the first in sorted order; fewer if fewer exist (default: 4)")
    which.add_argument("--files", nargs="+", default=None, help="these images instead of the test folder's")
    p.add_argument("--phase", default="test",
                   help="the images come from <dataroot>/<phase>A or <phase>B (default: test)")
    p.add_argument("--epochs", nargs="+", default=None,
                   help="checkpoint labels to show, e.g. 5 10 latest (default: every numbered epoch)")
    p.add_argument("--tile", type=positive_int, default=128, help="tile size in pixels (default: 128)")
    p.add_argument("--eval", action="store_true", help="networks in eval mode, as test.py --eval")
    p.add_argument("--gpu_ids", default="-1", help="e.g. 0; -1 for CPU (default: -1)")
    p.add_argument("--out", required=True, help="PNG file to write (its folder is created)")
    args = p.parse_args(argv)

    run = run_generators(Path(args.checkpoints_dir) / args.name)
    direction, generator = settle_direction(run, args.direction)
    args = argparse.Namespace(**{**vars(args), "direction": direction})
    labels = pick_epochs(Path(args.checkpoints_dir) / args.name, generator, args.epochs)
    paths, half = input_paths(args, run)
    rows, maps = translate(args, generator, labels, paths, half)
    if any(maps):  # an --attention run: each image's row, then its maps
        rows = [r for row, row_maps in zip(rows, maps) for r in (row, [label_tile("alpha", args.tile), *row_maps])]
    grid = build_grid(rows, [("input", "in")] + [column_label(label) for label in labels], args.tile)
    write_atomically(Path(args.out), lambda f: grid.save(f, format="PNG"))
    print(f"wrote {args.out} ({grid.size[0]}x{grid.size[1]}: {len(paths)} images x {len(labels)} checkpoints "
          f"of net_{generator}{', each with its attention maps' if any(maps) else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "epoch_grid.py"))
