"""Command-line parsing shared by every entry point: one-line parse errors and the common value types.

Kept free of torch so that light tools (scripts/survey.py serve) start fast; options/ re-exports these.
"""
from __future__ import annotations

import argparse

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
