"""Training-loss plots: read a run's loss log (either format) and draw every loss over epochs.

The library behind ``scripts/plot_losses.py`` (its command line) and the loss plot of a run's
``web/index.html`` (util/visualizer.py), so both draw the same picture:

- :func:`read_history` reads ``loss_log.jsonl`` (one JSON record per line, as train.py writes it), a
  classic ``loss_log.txt`` (``(epoch: 3, iters: 400, time: ..., data: ...) D_A: 0.123 G_A: 0.456 ...``,
  with ``===== Training Loss (date) =====`` headers where a run was started or resumed), or a run
  folder (its loss_log.jsonl, else its loss_log.txt). The x axis is the fractional epoch,
  ``epoch - 1 + iters / samples_per_epoch``, samples_per_epoch being the largest ``iters`` logged
  within any one epoch (so a last, unfinished epoch is not stretched). A resumed run appends to the
  log and may repeat iterations: for each (epoch, iters) the last record wins.
- :func:`build_figure` draws each loss as a centred moving average over its faint raw values, the
  generator side (G_*, cycle_*, idt_*, attn_*, anything else) above, the discriminators (D_*) below.
- :func:`draw` does both and writes the PNG atomically, exactly ``width`` x ``height`` pixels.

Failures the user can fix are :class:`UserError`; nothing here parses flags.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from util import files
from util.errors import UserError

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
    """:func:`util.files.write_atomically`, a failure being a one-line error naming --out (the flag of
    every script that writes a picture through it)."""
    try:
        files.write_atomically(out, write)
    except OSError as err:
        raise UserError(f"cannot write --out {out}: {err.strerror or err}; choose another --out") from err


def draw(log: Path, out: Path, names: list[str] | None = None, smooth: int | None = None, width: int = 1200,
         height: int = 700, title: str | None = None) -> tuple[LossHistory, int]:
    """Read ``log`` and write its plot to ``out``; returns the history and the smoothing window used.

    ``names``: losses to draw (default: all in the log); ``smooth``: moving-average window in records
    (default: :func:`default_smoothing`); ``title`` (default: '<run folder name>: training losses').
    """
    fig, history, smooth = figure(log, names, smooth, width, height, title)
    write_atomically(Path(out), lambda f: fig.savefig(f, format="png", dpi=DPI))
    return history, smooth


def figure(log: Path, names: list[str] | None = None, smooth: int | None = None, width: int = 1200,
           height: int = 700, title: str | None = None):
    """The figure :func:`draw` saves, with the history it shows and the smoothing window."""
    history = read_history(Path(log))
    shown = list(history.losses)
    if names:
        unknown = [n for n in names if n not in history.losses]
        if unknown:
            raise UserError(f"--losses {' '.join(unknown)}: not in {history.source}, which has {' '.join(shown)}")
        shown = list(dict.fromkeys(names))
    smooth = smooth or default_smoothing(len(history.x))
    title = title or f"{history.source.resolve().parent.name}: training losses"
    return build_figure(history, shown, smooth, width, height, title), history, smooth
