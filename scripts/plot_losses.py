"""Plot a run's training losses against the epoch, from its loss log, into one PNG.

    python scripts/plot_losses.py checkpoints/toy --out toy_losses.png
    python scripts/plot_losses.py checkpoints/toy/loss_log.txt --out plots/toy.png --smooth 25 \
        --losses G_A G_B D_A D_B --width 1600 --height 900

LOSS_LOG is a run's ``loss_log.jsonl`` (one JSON record per line, as train.py writes it), a classic
``loss_log.txt`` (``(epoch: 3, iters: 400, time: ..., data: ...) D_A: 0.123 G_A: 0.456 ...``, with
``===== Training Loss (date) =====`` headers where a run was started or resumed), or a run folder
(its loss_log.jsonl, else its loss_log.txt).

- x axis: fractional epoch, ``epoch - 1 + iters / samples_per_epoch``; samples_per_epoch is the
  largest ``iters`` logged within any one epoch (so a last, unfinished epoch is not stretched).
- A resumed run appends to the log and may repeat iterations: for each (epoch, iters) the last
  record wins, so the curves do not zigzag.
- Each loss is one curve: a centred moving average over ``--smooth`` points (1: raw values), drawn
  over the raw values in a faint line of the same colour. The default window grows with the log,
  about a 25th of its records.
- Two panels sharing the x axis: the generator side (G_*, cycle_*, idt_*, anything else) above,
  the discriminators (D_*) below; a panel with no loss to show is left out.

The PNG is exactly ``--width`` x ``--height`` pixels; it is written to a temporary file beside
``--out`` and renamed over it, so a reader never sees half a picture. The reading and drawing live in
util/loss_plot.py, which also draws the loss plot of a run's web/index.html; this is its command line.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options.base_options import OneLineParser, positive_int  # noqa: E402
from util import loss_plot  # noqa: E402
from util.errors import run_cli  # noqa: E402


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="plot_losses.py", description=__doc__.split("\n\n")[0])
    p.add_argument("log", metavar="LOSS_LOG", help="loss_log.jsonl, loss_log.txt, or a run folder holding one")
    p.add_argument("--out", required=True, help="PNG file to write (its folder is created)")
    p.add_argument("--smooth", type=positive_int, default=None,
                   help="moving-average window in records; 1 draws raw values (default: about a 25th of the records)")
    p.add_argument("--losses", nargs="+", default=None, help="losses to draw, e.g. G_A D_A (default: all in the log)")
    p.add_argument("--width", type=positive_int, default=1200, help="image width in pixels (default: 1200)")
    p.add_argument("--height", type=positive_int, default=700, help="image height in pixels (default: 700)")
    p.add_argument("--title", default=None, help="title (default: '<run folder name>: training losses')")
    return p


def make_figure(argv: Sequence[str] | None = None):
    """Parse ``argv`` and build the figure main() would save; returns (figure, history, arguments)."""
    args = build_parser().parse_args(argv)
    fig, history, _ = loss_plot.figure(Path(args.log), args.losses, args.smooth, args.width, args.height, args.title)
    return fig, history, args


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    history, _ = loss_plot.draw(Path(args.log), Path(args.out), args.losses, args.smooth, args.width, args.height,
                                args.title)
    note = f"; {history.repeated} repeated records replaced by later ones" if history.repeated else ""
    print(f"wrote {args.out} ({args.width}x{args.height}, {len(history.x)} records from {history.source}{note})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "plot_losses.py"))
