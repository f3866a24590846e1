"""Command-line parsing shared by every entry point: one-line parse errors, the common value types, and
which flags a command line set.

Kept free of torch so that light tools (scripts/survey.py serve) start fast; options/ re-exports these.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Sequence

from util.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (a :class:`UserError`), not usage plus a line."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{message} (see --help)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def finite_non_negative(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {text}")
    return value


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text}")
    return value


def color_list(text: str) -> tuple[str, ...]:
    """HEX[,HEX...] -> ("#rrggbb", ...): one is drawn per face."""
    from util.masks.texture import parse_color  # only the renderer's commands need it

    try:
        return tuple("#%02x%02x%02x" % parse_color(part) for part in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err}; several are separated by commas") from None


def add_mask_style_flags(group) -> None:
    """The mask renderer's style flags (--mask_type, --color, --pattern, --pattern_weight), as
    mask_photos.py and render_masked_faces.py both take them."""
    from util.masks.texture import MASK_TYPES, PATTERNS  # only the renderer's commands need them

    group.add_argument("--mask_type", choices=(*MASK_TYPES, "random"), default="surgical",
                       help="random: one drawn per face")
    group.add_argument("--color", type=color_list, default=None,
                       help="HEX[,HEX...]: the masks' colour, one drawn per face from the list (default: each mask "
                            "type's own)")
    group.add_argument("--pattern", default="none",
                       help=f"{'|'.join(PATTERNS)}, or an image file printed on the mask")
    group.add_argument("--pattern_weight", type=unit_interval, default=0.5,
                       help="how strongly the pattern shows, 0..1")


def explicit_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations the user set on the command line (as opposed to left at their default)."""
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=parser.allow_abbrev)
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        kwargs: dict[str, Any] = {"dest": action.dest, "default": argparse.SUPPRESS}
        if action.nargs == 0:
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        probe.add_argument(*action.option_strings, **kwargs)
    given, _ = probe.parse_known_args(list(argv))
    return set(vars(given))
