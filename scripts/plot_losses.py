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
``--out`` and renamed over it, so a reader never sees half a picture.
"""
from __future__ import annotations

import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options.base_options import OneLineParser, positive_int  # noqa: E402
from util import files  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402

# Record fields of loss_log.jsonl that are bookkeeping, not losses.
META_KEYS = ("epoch", "iters", "total_iters", "time", "data", "lr", "wall")
TXT_RECORD = re.compile(r"^\(epoch: (\d+), iters: (\d+)(?:, [^)]*)?\)(.*)$")
TXT_LOSS = re.compile(r"([A-Za-z_][\w.]*): (\S+)")
DPI = 100


@dataclass
class LossHistory:
    """Deduplicated records in training order: x in fractional epochs, one value array per loss."""
    source: Path
    x: np.ndarray
    losses: dict[str, np.ndarray] = field(default_factory=dict)
    samples_per_epoch: int = 0
    repeated: int = 0  # records replaced by a later record of the same (epoch, iters)


def find_log(path: Path) -> Path:
    if path.is_dir():
        for name in ("loss_log.jsonl", "loss_log.txt"):
            if (path / name).is_file():
                return path / name
        raise UserError(f"run folder {path} has no loss_log.jsonl or loss_log.txt: train.py writes them "
                        "there once it has logged losses (every --print_freq iterations)")
    if not path.is_file():
        raise UserError(f"LOSS_LOG {path} does not exist: give a run's loss_log.jsonl, loss_log.txt or its folder")
    return path


def as_float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_jsonl(lines: list[str]) -> list[tuple[int, int, dict[str, float]]]:
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash mid-write
        if not isinstance(record, dict):
            continue
        epoch, iters = as_float(record.get("epoch")), as_float(record.get("iters"))
        losses = {k: float(v) for k, v in record.items()
                  if k not in META_KEYS and not isinstance(v, bool) and isinstance(v, (int, float))}
        if losses and epoch is not None and iters is not None and math.isfinite(epoch + iters):
            records.append((int(epoch), int(iters), losses))
    return records


def parse_txt(lines: list[str]) -> list[tuple[int, int, dict[str, float]]]:
    records = []
    for line in lines:
        match = TXT_RECORD.match(line.strip())
        if not match:
            continue  # "==== Training Loss (date) ====" headers and anything else
        losses = {name: v for name, text in TXT_LOSS.findall(match.group(3)) if (v := as_float(text)) is not None}
        if losses:
            records.append((int(match.group(1)), int(match.group(2)), losses))
    return records


def read_history(path: Path) -> LossHistory:
    """Read a loss log (either format) into one x array and one array per loss."""
    log = find_log(path)
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError as err:
        raise UserError(f"cannot read {log}: {err.strerror or err}") from err
    if not lines:
        raise UserError(f"{log} is empty: the run has not logged any losses yet "
                        "(it logs every --print_freq iterations)")
    records = parse_jsonl(lines) if log.suffix == ".jsonl" else parse_txt(lines)
    if not records:
        raise UserError(f"no loss records in {log}: expected train.py's loss_log.jsonl or loss_log.txt lines")
    latest: dict[tuple[int, int], dict[str, float]] = {}
    for epoch, iters, losses in records:
        latest[(epoch, iters)] = losses
    keys = sorted(latest)
    samples_per_epoch = max(iters for _, iters in keys) or 1
    names = list(dict.fromkeys(name for _, _, losses in records for name in losses))
    x = np.array([epoch - 1 + iters / samples_per_epoch for epoch, iters in keys])
    values = {name: np.array([latest[k].get(name, math.nan) for k in keys]) for name in names}
    return LossHistory(log, x, values, samples_per_epoch, len(records) - len(keys))


def moving_average(values: np.ndarray, n: int) -> np.ndarray:
    """Centred mean over ``n`` points (one more after than before when ``n`` is even), the window cut
    short at both ends; NaN and infinite values are left out of the means."""
    values = np.asarray(values, dtype=np.float64)
    if n <= 1 or values.size == 0:
        return values.copy()
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    idx = np.arange(values.size)
    lo = np.clip(idx - (n - 1) // 2, 0, values.size)
    hi = np.clip(idx + n // 2 + 1, 0, values.size)
    count = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (sums[hi] - sums[lo]) / np.maximum(count, 1), np.nan)


def default_smoothing(points: int) -> int:
    """About a 25th of the records, odd so the window is symmetric, between 1 (raw) and 101."""
    n = max(1, min(101, points // 25))
    return n + 1 if n % 2 == 0 else n


def is_discriminator(name: str) -> bool:
    return name.startswith("D_") or name == "D"


def build_figure(history: LossHistory, names: list[str], smooth: int, width: int, height: int, title: str):
    """The matplotlib Figure (Agg canvas): smoothed curves have gid ``smoothed:<name>``, raw ones ``raw:<name>``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise UserError("plot_losses.py needs matplotlib: pip install matplotlib") from err
    groups = [[n for n in names if not is_discriminator(n)], [n for n in names if is_discriminator(n)]]
    panels = [(group, what) for group, what in zip(groups, ("generators", "discriminators")) if group]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    for ax, (group, what) in zip(axes, panels):
        for name in group:
            raw = history.losses[name]
            ax.plot(history.x, raw, color=colours[name], alpha=0.2, linewidth=0.8, label=f"_raw {name}",
                    gid=f"raw:{name}")
            ax.plot(history.x, moving_average(raw, smooth), color=colours[name], linewidth=1.6, label=name,
                    gid=f"smoothed:{name}")
        ax.set_ylabel(f"{what} loss")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small", ncol=2)
    axes[-1].set_xlabel(f"epoch ({history.samples_per_epoch} samples per epoch)")
    smoothing = "raw values" if smooth <= 1 else f"centred moving average over {smooth} points"
    fig.suptitle(f"{title} ({smoothing})")
    with warnings.catch_warnings():  # a very small --width/--height cannot fit every label: draw anyway
        warnings.simplefilter("ignore")
        fig.tight_layout()
    return fig


def write_atomically(out: Path, write: Callable[[BinaryIO], None]) -> None:
    """:func:`util.files.write_atomically`, a failure being a one-line error naming --out."""
    try:
        files.write_atomically(out, write)
    except OSError as err:
        raise UserError(f"cannot write --out {out}: {err.strerror or err}; choose another --out") from err


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
    history = read_history(Path(args.log))
    names = list(history.losses)
    if args.losses:
        unknown = [n for n in args.losses if n not in history.losses]
        if unknown:
            raise UserError(f"--losses {' '.join(unknown)}: not in {history.source}, which has {' '.join(names)}")
        names = list(dict.fromkeys(args.losses))
    smooth = args.smooth or default_smoothing(len(history.x))
    title = args.title or f"{history.source.resolve().parent.name}: training losses"
    return build_figure(history, names, smooth, args.width, args.height, title), history, args


def main(argv: Sequence[str] | None = None) -> int:
    fig, history, args = make_figure(argv)
    write_atomically(Path(args.out), lambda f: fig.savefig(f, format="png", dpi=DPI))
    note = f"; {history.repeated} repeated records replaced by later ones" if history.repeated else ""
    print(f"wrote {args.out} ({args.width}x{args.height}, {len(history.x)} records from {history.source}{note})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "plot_losses.py"))
