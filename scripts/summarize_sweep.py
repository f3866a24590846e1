"""Compare the runs of a sweep in one table, best first: the settings that differ, FID, KID and paired metrics.

    python scripts/summarize_sweep.py sweeps/masks                         # reads sweeps/masks/sweep.json
    python scripts/summarize_sweep.py sweeps/masks --sort KID_AB --epoch 20
    python scripts/summarize_sweep.py --checkpoints_dir checkpoints --results_dir results --names 'masks_*'

Runs come from ``SWEEP_DIR/sweep.json`` (as scripts/sweep.py writes it; relative folders in it are
looked for in the current folder, then in SWEEP_DIR and its parents; ``--checkpoints_dir`` and
``--results_dir`` override them), or, without SWEEP_DIR, from every folder of
``--checkpoints_dir`` whose name matches ``--names`` and that holds a train_opt.json. A run's numbers
are read from ``<results_dir>/<run>/test_<epoch>/metrics.json`` (scripts/evaluate.py).

Columns, one row per run:

- ``run``, then the settings that vary: sweep.json's axes, or, without it, every train_opt.json
  value that differs between the runs (bookkeeping such as name, seed, gpu_ids or print_freq left out);
- ``FID_AB`` (G_AB's masked faces against the real ones), ``FID_BA`` (unmasked), ``FID_mean`` (their
  mean, where both exist), ``KID_AB`` and ``KID_BA`` (the markdown shows mean ± std x 1000; the CSV
  has ``KID_AB`` and ``KID_AB_std`` unscaled). A pix2pix run has one direction, the one it was trained
  in (AtoB: the AB columns; BtoA: BA), as evaluate.py scores it, so its other columns and FID_mean are
  ``-``; CycleGAN and pix2pix runs of one sweep (sweep.py's ``model=`` axis) share one table;
- where evaluate.py had a paired test set: PSNR and SSIM of each fake against its real counterpart,
  ``PSNR_AB``, ``SSIM_AB``, and, with a testmask folder, ``..._in_mask`` and ``..._outside``
  (columns that no run has are left out; n/a where evaluate.py has none, e.g. an infinite PSNR);
- with a testmask folder, mask localisation: ``IoU_AB`` and ``IoU_BA``, the IoU of the pixels each
  translation changed (mean |fake - input| above evaluate.py's --change_threshold) with the true
  mask, for every run on one scale; ``IoU_attn_AB`` and ``IoU_attn_BA`` where the generator's own
  attention map (``--attention`` runs) is above 0.5;
- ``epochs``: epochs completed by the evaluated checkpoint (its ``<epoch>_train_state.pth``);
  ``images_per_s``: training speed, the median over loss_log.jsonl records of 1 / (compute + data
  seconds per image); saves and pages are not counted;
- ``note``: ``no metrics: <reason>`` (failed, pending, not trained, not tested, not evaluated ...)
  for a run without numbers, or the sweep's status where it is not "done".

A number a run does not have (a direction a pix2pix run was not trained in, or no metrics at all) is
``-`` in the markdown; ``n/a`` is one evaluate.py could not give (e.g. an infinite PSNR). The CSV leaves
both empty.

Rows are sorted by ``--sort`` (lower FID and KID, higher PSNR, SSIM and IoU first); runs without that
number follow in their listed order, runs without metrics come last. Without ``--sort``: ``FID_mean``
where every run with metrics has it (CycleGAN runs), else the FID of the direction most of them have,
``FID_AB`` on a tie (a sweep of CycleGAN and AtoB pix2pix runs is ranked by FID_AB, which all have).

Writes ``summary.md``, ``summary.csv`` (full precision) and ``fid.png`` into ``--out_dir`` and prints
the markdown table. ``fid.png`` is a horizontal grouped bar chart, FID_AB and FID_BA per run in the
table's order (best at the top), exactly 1000 x (200 + 40 * runs) pixels.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from options.base_options import OneLineParser  # noqa: E402
from util import files  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402

# train_opt.json keys that say where or how a run was logged, not what was trained.
BOOKKEEPING = {
    "name", "suffix", "checkpoints_dir", "gpu_ids", "gpu_id_list", "rank", "world_size", "seed", "isTrain",
    "continue_train", "epoch", "epoch_count", "load_iter", "verbose", "num_threads", "phase",
    "display_freq", "display_ncols", "display_id", "display_server", "display_env", "display_port",
    "display_winsize", "update_html_freq", "print_freq", "no_html", "save_latest_freq", "save_epoch_freq",
    "save_by_iter", "use_wandb", "wandb_project_name", "max_bad_images", "nan_policy",
}
DIRECTIONS = ("AB", "BA")
# evaluate.py's paired["fake"] keys -> column suffix
PAIRED = {"psnr": "", "ssim": "", "psnr_in_mask": "_in_mask", "ssim_in_mask": "_in_mask",
          "psnr_outside": "_outside", "ssim_outside": "_outside"}


# evaluate.py's localisation keys -> column prefix
LOCALISATION = {"iou_change": "IoU", "iou_attention": "IoU_attn"}


def paired_column(key: str, d: str) -> str:
    return f"{key.split('_')[0].upper()}_{d}{PAIRED[key]}"


METRIC_COLUMNS = ["FID_AB", "FID_BA", "FID_mean", "KID_AB", "KID_BA"]
PAIRED_COLUMNS = [paired_column(k, d) for d in DIRECTIONS for k in PAIRED]
LOCALISATION_COLUMNS = [f"{prefix}_{d}" for prefix in LOCALISATION.values() for d in DIRECTIONS]
OPTIONAL_COLUMNS = PAIRED_COLUMNS + LOCALISATION_COLUMNS
SORT_KEYS = METRIC_COLUMNS + OPTIONAL_COLUMNS
FIG_WIDTH_PX, FIG_BASE_PX, FIG_ROW_PX, DPI = 1000, 200, 40, 100


@dataclass
class Run:
    """A run as listed: by sweep.json (settings, status) or by its folder (train_opt.json only)."""
    name: str
    settings: dict[str, Any]  # from sweep.json; empty without it
    status: str
    train_opt: dict[str, Any]


@dataclass
class RunSummary:
    """One row of the table."""
    name: str
    settings: dict[str, Any]
    values: dict[str, float | None] = field(default_factory=dict)  # empty: no metrics
    note: str = ""
    epochs: int | None = None
    images_per_s: float | None = None


def higher_is_better(key: str) -> bool:
    return key.startswith(("PSNR", "SSIM", "IoU"))


def finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def flat_metrics(metrics: dict) -> dict[str, float | None]:
    """evaluate.py's metrics.json as one flat dict of columns."""
    out: dict[str, float | None] = {}
    for d in DIRECTIONS:
        m = (metrics.get("directions") or {}).get(d)
        if not isinstance(m, dict):
            continue
        out[f"FID_{d}"] = finite(m.get("fid"))
        out[f"KID_{d}"], out[f"KID_{d}_std"] = finite(m.get("kid_mean")), finite(m.get("kid_std"))
        fake = (m.get("paired") or {}).get("fake") or {}
        for key in PAIRED:
            if key in fake:
                out[paired_column(key, d)] = finite(fake[key])
        located = m.get("localisation") or {}
        for key, prefix in LOCALISATION.items():
            if located.get(key) is not None:
                out[f"{prefix}_{d}"] = finite(located[key])
    if out.get("FID_AB") is not None and out.get("FID_BA") is not None:
        out["FID_mean"] = (out["FID_AB"] + out["FID_BA"]) / 2
    return out


def read_metrics(run_dir: Path, results: Path, status: str) -> tuple[dict[str, float | None], str]:
    """(columns, note); empty columns and a ``no metrics: <reason>`` note where there are none."""
    path = results / "metrics.json"
    note = "" if status == "done" else f"sweep status: {status}"
    if path.is_file():
        try:
            values = flat_metrics(json.loads(path.read_text()))
        except (OSError, ValueError, AttributeError) as err:
            return {}, f"no metrics: unreadable {path.name} ({err.__class__.__name__})"
        return (values, note) if values else ({}, "no metrics: metrics.json has no FID")
    if status == "done":
        if not (run_dir / "train_opt.json").is_file():
            reason = "not trained"
        else:
            reason = "not evaluated" if results.is_dir() else "not tested"
    else:
        reason = status
    return {}, f"no metrics: {reason}"


def epochs_done(run_dir: Path, epoch: str) -> int | None:
    """Epochs completed by checkpoint ``epoch``, from its train state (memory-mapped: cheap for big files)."""
    path = run_dir / f"{epoch}_train_state.pth"
    if not path.is_file():
        return None
    import torch  # kept local: only this column needs it

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(state["epoch"]) if state.get("epoch_done") else int(state["epoch"]) - 1
    except Exception:  # noqa: BLE001 - an unreadable state costs this column only, not the summary
        return None


def training_speed(run_dir: Path) -> float | None:
    """Median images/s over the loss_log.jsonl records (compute + data wait per image)."""
    path = run_dir / "loss_log.jsonl"
    if not path.is_file():
        return None
    rates = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            seconds = float(record["time"]) + float(record.get("data", 0.0))
        except (ValueError, KeyError, TypeError):
            continue
        if seconds > 0 and math.isfinite(seconds):
            rates.append(1.0 / seconds)
    return statistics.median(rates) if rates else None


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path} ({err.__class__.__name__}: {err}); {what}") from err


def resolve(value: str, sweep_dir: Path) -> Path:
    """A folder named in sweep.json, relative to where the sweep ran: the current folder if it is there,
    else the first of SWEEP_DIR and its parents that has it (sweep.py's default SWEEP_DIR is
    sweeps/<name> below the folder it ran in)."""
    path = Path(value)
    if path.is_absolute() or path.exists():
        return path
    for folder in (sweep_dir, *sweep_dir.resolve().parents):
        if (folder / path).is_dir():
            return folder / path
    return path


def plain_flag(flag: str) -> str:
    return flag.lstrip("-")


def load_train_opt(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "train_opt.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def runs_from_sweep(sweep_dir: Path, checkpoints_dir: str | None, results_dir: str | None,
                    names: str) -> tuple[list[Run], list[str], Path, Path]:
    if not sweep_dir.is_dir():
        raise UserError(f"SWEEP_DIR {sweep_dir} does not exist: give the folder scripts/sweep.py wrote "
                        "(it holds sweep.json), or use --checkpoints_dir and --results_dir instead")
    path = sweep_dir / "sweep.json"
    if not path.is_file():
        raise UserError(f"{path} does not exist: give the folder scripts/sweep.py wrote, or use "
                        "--checkpoints_dir and --results_dir instead of SWEEP_DIR")
    sweep = read_json(path, "rewrite it with scripts/sweep.py or use --checkpoints_dir and --results_dir")
    entries = sweep.get("runs") if isinstance(sweep, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                                for e in entries):
        raise UserError(f"{path} has no list of runs with names: is it a sweep.json of scripts/sweep.py?")
    given = {"checkpoints_dir": checkpoints_dir, "results_dir": results_dir}
    missing = [flag for flag, value in given.items() if value is None and not isinstance(sweep.get(flag), str)]
    if missing:
        raise UserError(f"{path} does not name a {missing[0]}: pass --{missing[0]}")
    ckpt, results = (Path(given[f]) if given[f] else resolve(sweep[f], sweep_dir) for f in given)
    runs = [Run(e["name"], dict(e.get("settings") or {}), str(e.get("status", "done")),
                load_train_opt(ckpt / e["name"])) for e in entries if fnmatchcase(e["name"], names)]
    if not runs:
        raise UserError(f"{path} lists no runs" + (f" matching --names {names}" if names != "*" else ""))
    axes = sweep.get("axes") if isinstance(sweep.get("axes"), dict) else {}
    columns = list(axes) or list(dict.fromkeys(flag for run in runs for flag in run.settings))
    if not columns:
        columns = varying_keys([run.train_opt for run in runs])
    return runs, columns, ckpt, results


def runs_from_folders(checkpoints_dir: str | None, results_dir: str | None,
                      names: str) -> tuple[list[Run], list[str], Path, Path]:
    for flag, value in (("checkpoints_dir", checkpoints_dir), ("results_dir", results_dir)):
        if value is None:
            raise UserError(f"give SWEEP_DIR (holding sweep.json), or both --checkpoints_dir and --results_dir "
                            f"(--{flag} is missing)")
    ckpt, results = Path(checkpoints_dir), Path(results_dir)
    if not ckpt.is_dir():
        raise UserError(f"--checkpoints_dir {ckpt} does not exist or is not a folder")
    folders = sorted(p for p in ckpt.iterdir() if p.is_dir() and fnmatchcase(p.name, names)
                     and (p / "train_opt.json").is_file())
    if not folders:
        raise UserError(f"no runs found: no folder of --checkpoints_dir {ckpt} matching --names {names} "
                        "holds a train_opt.json (train.py writes it)")
    runs = [Run(p.name, {}, "done", load_train_opt(p)) for p in folders]
    return runs, varying_keys([run.train_opt for run in runs]), ckpt, results


def varying_keys(options: list[dict[str, Any]]) -> list[str]:
    """train_opt.json keys (bookkeeping aside) whose values are not the same in every run."""
    keys = sorted(set().union(*options) - BOOKKEEPING) if options else []
    return [k for k in keys if len({json.dumps(o.get(k), sort_keys=True) for o in options}) > 1]


def setting(run: Run, flag: str) -> Any:
    for key in (flag, plain_flag(flag)):
        if key in run.settings:
            return run.settings[key]
    return run.train_opt.get(plain_flag(flag))


def summary_rows(sweep_dir: str | None = None, checkpoints_dir: str | None = None, results_dir: str | None = None,
                 names: str = "*", epoch: str = "latest", sort: str | None = None) -> tuple[list[RunSummary], Path]:
    """The table's rows, best first by ``sort`` (None: :func:`default_sort`'s choice), and the results
    folder they were read from."""
    if sweep_dir is not None:
        runs, columns, ckpt, results = runs_from_sweep(Path(sweep_dir), checkpoints_dir, results_dir, names)
    else:
        runs, columns, ckpt, results = runs_from_folders(checkpoints_dir, results_dir, names)
    rows = summarize(runs, columns, ckpt, results, epoch)
    return best_first(rows, sort or default_sort(rows)), results


def summarize(runs: list[Run], columns: list[str], ckpt: Path, results: Path, epoch: str) -> list[RunSummary]:
    out = []
    for run in runs:
        run_dir = ckpt / run.name
        values, note = read_metrics(run_dir, results / run.name / f"test_{epoch}", run.status)
        out.append(RunSummary(run.name, {plain_flag(c): setting(run, c) for c in columns}, values, note,
                              epochs_done(run_dir, epoch), training_speed(run_dir)))
    return out


def default_sort(rows: list[RunSummary]) -> str:
    """FID_mean where every run with metrics has it; else the FID column most of them have (FID_AB on a tie)."""
    measured = [row for row in rows if row.values]
    if all("FID_mean" in row.values for row in measured):
        return "FID_mean"
    return max(("FID_AB", "FID_BA"), key=lambda c: sum(c in row.values for row in measured))  # first of equals


def best_first(rows: list[RunSummary], key: str) -> list[RunSummary]:
    """Sorted by ``key`` (best first); then runs with metrics but not this one; then runs without metrics."""
    sign = -1.0 if higher_is_better(key) else 1.0

    def rank(row: RunSummary) -> tuple[int, float]:
        value = row.values.get(key)
        if value is not None:
            return 0, sign * value
        return (1 if row.values else 2), 0.0

    return sorted(rows, key=rank)  # stable: ties keep the sweep's (or the names') order


def text(value: Any) -> str:
    """A setting as the user would type it."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def cell(row: RunSummary, column: str) -> str:
    """A metric's markdown cell: ``-`` where the run has no such number, n/a where evaluate.py gave none."""
    if column not in row.values:
        return "-"
    v = row.values[column]
    if column.startswith("KID"):
        std = row.values.get(f"{column}_std")
        return "n/a" if v is None else f"{v * 1000:.2f} ± {fmt(None if std is None else std * 1000, 2)}"
    return fmt(v, 3 if column.startswith(("SSIM", "IoU")) else 2)


def shown_metrics(rows: list[RunSummary]) -> list[str]:
    """The metric columns of the table: FID and KID always, paired and localisation ones where some
    run has them."""
    return METRIC_COLUMNS + [c for c in OPTIONAL_COLUMNS if any(c in row.values for row in rows)]


def markdown(rows: list[RunSummary], sort: str) -> str:
    settings = list(rows[0].settings)
    metrics = shown_metrics(rows)
    heads = ["run", *settings, *(f"{c} x1000" if c.startswith("KID") else c for c in metrics), "epochs",
             "images/s", "note"]
    order = "highest" if higher_is_better(sort) else "lowest"
    lines = [f"Sorted by {sort}, {order} (best) first; runs without {sort} next, runs without metrics last. "
             "-: the run has no such number (a pix2pix run has one direction).", "",
             "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in rows:
        cells = [row.name, *(text(row.settings[s]) for s in settings), *(cell(row, c) for c in metrics)]
        cells += ["n/a" if row.epochs is None else str(row.epochs), fmt(row.images_per_s, 1), row.note]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[RunSummary]) -> str:
    settings = list(rows[0].settings)
    metrics = [m for c in shown_metrics(rows) for m in ((c, f"{c}_std") if c.startswith("KID") else (c,))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", *settings, *metrics, "epochs", "images_per_s", "note"])
    for row in rows:
        values = [row.values.get(m) for m in metrics]
        writer.writerow([row.name, *(text(row.settings[s]) for s in settings),
                         *("" if v is None else repr(v) for v in values),
                         "" if row.epochs is None else row.epochs,
                         "" if row.images_per_s is None else repr(row.images_per_s), row.note])
    return buffer.getvalue()


def fid_figure(rows: list[RunSummary], sort: str):
    """Grouped horizontal bars, FID_AB and FID_BA per run, in the rows' order from the top.

    Returns the matplotlib Figure (Agg canvas) of FIG_WIDTH_PX x (FIG_BASE_PX + FIG_ROW_PX * runs)
    pixels; its axes hold exactly one bar patch per FID value present.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise UserError("fid.png needs matplotlib: pip install matplotlib (summary.md and .csv are written)") from err
    n = len(rows)
    fig = Figure(figsize=(FIG_WIDTH_PX / DPI, (FIG_BASE_PX + FIG_ROW_PX * n) / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    height = 0.4
    for offset, key, label in ((-height / 2, "FID_AB", "FID_AB (unmasked -> masked)"),
                               (height / 2, "FID_BA", "FID_BA (masked -> unmasked)")):
        have = [(i, row.values[key]) for i, row in enumerate(rows) if row.values.get(key) is not None]
        if have:
            bars = ax.barh([i + offset for i, _ in have], [v for _, v in have], height=height, label=label)
            ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    for i, row in enumerate(rows):
        if row.values.get("FID_AB") is None and row.values.get("FID_BA") is None:
            ax.text(0, i, f" {row.note or 'no FID'}", va="center", fontsize=8, color="dimgray")
    ax.set_yticks(range(n), [row.name for row in rows], fontsize=9)
    ax.set_ylim(n - 0.5, -0.5)  # first row (the best) at the top
    largest = max((row.values.get(k) or 0.0 for row in rows for k in ("FID_AB", "FID_BA")), default=0.0)
    ax.set_xlim(0, largest * 1.12 or 1.0)  # room for the value labels
    ax.set_xlabel("FID (lower is better)")
    ax.set_title(f"FID per run, sorted by {sort}", loc="left")
    if ax.patches:  # above the bars, where it hides none of them
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("sweep_dir", nargs="?", default=None, metavar="SWEEP_DIR",
                   help="folder holding sweep.json (scripts/sweep.py's --sweep_dir)")
    p.add_argument("--checkpoints_dir", default=None, help="run folders (with train_opt.json); overrides sweep.json's")
    p.add_argument("--results_dir", default=None, help="test.py results, <results_dir>/<run>/test_<epoch>")
    p.add_argument("--names", default="*", metavar="GLOB", help="only runs whose name matches, e.g. 'masks_bs1_*'")
    p.add_argument("--epoch", default="latest", help="which checkpoint's results: test_<epoch>/metrics.json")
    p.add_argument("--sort", default=None, choices=SORT_KEYS, metavar="KEY",
                   help="column to rank by (default: FID_mean where every run has it, else the FID of the "
                        "direction most runs have): " + ", ".join(SORT_KEYS))
    p.add_argument("--out_dir", default=None, help="where summary.md, summary.csv and fid.png go "
                                                   "(default: SWEEP_DIR, else --results_dir)")
    args = p.parse_args(argv)

    rows, results = summary_rows(args.sweep_dir, args.checkpoints_dir, args.results_dir, args.names, args.epoch,
                                 args.sort)
    sort = args.sort or default_sort(rows)  # the rows' order does not change the choice
    table = markdown(rows, sort)

    out_dir = Path(args.out_dir or args.sweep_dir or results)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.write_atomically(out_dir / "summary.md", lambda f: f.write(table.encode()))
        files.write_atomically(out_dir / "summary.csv", lambda f: f.write(csv_text(rows).encode()))
        print(table, end="")
        fig = fid_figure(rows, sort)
        files.write_atomically(out_dir / "fid.png", lambda f: fig.savefig(f, format="png", dpi=DPI))
    except OSError as err:
        raise UserError(f"cannot write into --out_dir {out_dir}: {err.strerror or err}; choose another "
                        "--out_dir") from err
    print(f"wrote {out_dir / 'summary.md'}, {out_dir / 'summary.csv'} and {out_dir / 'fid.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "summarize_sweep.py"))
