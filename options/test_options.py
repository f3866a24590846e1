"""Test-time flags (classic names and defaults) and ``parse_test_options(argv)``.

As in the classic code, ``--model test`` defaults to ``--dataset_mode single`` and ``--model pix2pix``
to ``--dataset_mode aligned`` (with its U-Net, batch norm and dropout), images are not flipped, and
``--load_size`` defaults to the crop size so test images are not randomly cropped.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

from options.base_options import (OneLineParser, add_base_options, check_model_flags, explicit_flags, finish_options,
                                  model_in, non_negative_int, positive_int, set_model_defaults)
from util.errors import UserError


def add_test_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("testing")
    g.add_argument("--results_dir", type=str, default="./results/", help="saves results here.")
    g.add_argument("--aspect_ratio", type=float, default=1.0, help="aspect ratio of result images (width / height)")
    g.add_argument("--phase", type=str, default="test",
                   help="train, val, test, etc: reads <dataroot>/<phase>A, B (pix2pix: <dataroot>/<phase>)")
    g.add_argument("--eval", action="store_true",
                   help="use eval mode during test time (batch norm with running statistics, no dropout); without "
                        "it a pix2pix U-Net keeps its dropout on, as noise, as in the classic code")
    g.add_argument("--num_test", "--how_many", type=positive_int, default=50,
                   help="how many test images to run (per domain)")
    g.add_argument("--max_html_rows", type=non_negative_int, default=1000,
                   help="index.html shows the first this many results (0: no page); every image is still written")
    g.add_argument("--model_suffix", type=str, default="", choices=("", "_A", "_B"),
                   help="--model test loads <epoch>_net_G<model_suffix>.pth: _A is G_AB (A->B), _B is G_BA (B->A); "
                        "none: a pix2pix run's G")


def check_test_values(opt: argparse.Namespace) -> None:
    """Refuse values the parser's types let through but that would fail halfway through writing results."""
    if not (opt.aspect_ratio > 0 and math.isfinite(opt.aspect_ratio)):
        raise UserError(f"--aspect_ratio {opt.aspect_ratio} must be positive (width / height of the result images)")
    if not (opt.init_gain > 0 and math.isfinite(opt.init_gain)):
        raise UserError(f"--init_gain {opt.init_gain} must be positive (it scales the initial weights; classic: 0.02)")
    folder = Path(opt.results_dir)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(f"--results_dir {opt.results_dir}: {existing} is a file, not a folder; "
                        "choose another --results_dir")


def build_test_parser(model: str = "test") -> OneLineParser:
    parser = OneLineParser(prog="test.py", description="Translate images with a trained CycleGAN or pix2pix generator.",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_base_options(parser)
    add_test_options(parser)
    # batch_size None: 16 images per batch, or 1 for batch-norm networks without --eval (see test.py)
    parser.set_defaults(model="test", no_flip=True, load_size=None, batch_size=None)
    set_model_defaults(parser, model, is_train=False)
    return parser


def parse_test_options(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, set[str], OneLineParser]:
    """Parse test flags from ``argv``; returns the options, the flags given, and the parser."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    parser = build_test_parser(model_in(argv, "test"))
    opt = parser.parse_args(argv)
    given = explicit_flags(parser, argv)
    check_model_flags(opt)
    opt.no_flip = True  # test images are never flipped
    opt = finish_options(opt, is_train=False)
    check_test_values(opt)
    return opt, given, parser
