"""Run a hyperparameter grid: every combination trains, translates the test set and is evaluated.

    bash scripts/sweep.sh --dataroot datasets/masks --name masks                      # the default grid
    bash scripts/sweep.sh --dataroot datasets/masks --name masks --grid batch_size=1,16 norm=instance,batch
    bash scripts/sweep.sh --dataroot datasets/masks --name masks --grid_file grid.txt --gpus 0,1,2,3 \\
        --inception_weights pt_inception-2015-12-05-6726825d.pth -- --n_epochs 100 --n_epochs_decay 100
    bash scripts/sweep.sh ... --gpus 0,1,2,3,4,5,6,7 --torchrun 4     # two runs at once, 4 GPUs each
    bash scripts/sweep.sh ... --dry_run                                 # print the commands only

The default grid is the earlier project's axes: ``--batch_size`` 1, 16, 32; ``--norm`` instance,
batch; ``--lr_policy`` linear, step; ``--gan_mode`` lsgan, vanilla (24 runs). A grid file holds one
axis per line, ``flag = value, value, ...`` (``#`` starts a comment). A switch (a flag without a
value, such as ``--attention`` or ``--no_flip``) takes ``on``/``off`` (or ``true``/``false``):
``--grid attention=on,off`` trains each point with and without attention generators.
``--grid model=cycle_gan,pix2pix`` compares the two on a dataroot that has both layouts (trainA,
trainB and train/ of AB images; the curation writes each split into its own --out, with the same
test faces, so link the paired split's train/ and test/ into the unpaired one); each model keeps
its own defaults (pix2pix: unet_256, batch norm, vanilla GAN loss) unless the grid or ``--`` sets them. Arguments
after ``--`` go to every train.py call (and the architecture and size flags among them to test.py too).

Each run is named ``<name>_<suffix>`` with train.py's own ``--suffix`` (e.g.
``masks_bs16_instance_linear_lsgan``; a switch reads ``attn_on`` or ``attn_off``) and goes through
``train.py`` -> ``test.py --model <the run's model>`` -> ``scripts/evaluate.py``, logging to
``<sweep_dir>/logs/<run>.log``. A run whose ``metrics.json`` exists is skipped; one with checkpoints
but no end is resumed (``--continue_train``), also under the name an earlier version gave it
(``attnTrue``); a run that fails is marked and the others go on. ``--gpus`` runs one run per GPU
(``CUDA_VISIBLE_DEVICES``) or, with ``--torchrun N``, one torchrun job per N GPUs; without GPUs
``--parallel`` runs that many at once on the CPU. ``<sweep_dir>/sweep.json`` records the axes and
every run's settings and status; ``scripts/summarize_sweep.py <sweep_dir>`` turns it into the
results table (run at the end).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from options.base_options import GENERATOR_FLAGS, OneLineParser, positive_int  # noqa: E402
from options.train_options import build_train_parser  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402

DEFAULT_GRID = {"batch_size": ["1", "16", "32"], "norm": ["instance", "batch"], "lr_policy": ["linear", "step"],
                "gan_mode": ["lsgan", "vanilla"]}
SHORT = {"batch_size": "bs", "lr": "lr", "ngf": "ngf", "ndf": "ndf", "crop_size": "crop", "load_size": "load",
         "lambda_identity": "idt", "lambda_A": "lA", "lambda_B": "lB", "pool_size": "pool", "n_epochs": "ep",
         "attention": "attn", "lambda_attn_mean": "am", "lambda_attn_tv": "atv"}
NAMED_BY_VALUE = {"norm", "lr_policy", "gan_mode", "netG", "netD", "preprocess", "amp", "model",
                  "direction"}  # values say what they are
# train.py flags that test.py needs too (same architecture and image scale)
TEST_FLAGS = set(GENERATOR_FLAGS) | {"load_size", "crop_size", "preprocess", "input_nc", "output_nc",
                                     "checkpoints_dir", "gpu_ids", "num_threads"}


# ------------------------------------------------------------------------------------------------ #
# The grid
# ------------------------------------------------------------------------------------------------ #


def parse_axis(text: str, where: str) -> tuple[str, list[str]]:
    flag, sep, values = text.partition("=")
    flag = flag.strip().lstrip("-")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not flag or not items:
        raise UserError(f"{where}: {text.strip()!r} is not flag=value,value (e.g. norm=instance,batch)")
    return flag, items


def read_grid(args) -> dict[str, list[str]]:
    if args.grid_file:
        path = Path(args.grid_file)
        if not path.is_file():
            raise UserError(f"--grid_file {path} does not exist")
        lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        grid = dict(parse_axis(line, f"--grid_file {path}") for line in lines if line.strip())
    elif args.grid:
        grid = dict(parse_axis(item, "--grid") for item in args.grid)
    else:
        grid = dict(DEFAULT_GRID)
    if not grid:
        raise UserError("the grid is empty: give --grid flag=value,... or a --grid_file with one axis per line")
    known = {a.dest for a in build_train_parser()._actions}
    for flag, values in grid.items():
        if flag not in known:
            raise UserError(f"grid axis {flag!r} is not a train.py flag (see python train.py --help)")
        bad = [v for v in values if flag in SWITCHES and v.lower() not in SWITCH_VALUES]
        if bad:
            raise UserError(f"grid axis {flag}={','.join(values)}: --{flag} is a switch, so its values are on/off "
                            f"(or true/false), not {bad[0]!r}")
    return grid


def axis_template(flag: str) -> str:
    """An axis's part of train.py's --suffix, formatted by train.py: bs{batch_size}, {norm}."""
    return f"{{{flag}}}" if flag in NAMED_BY_VALUE else f"{SHORT.get(flag, flag)}{{{flag}}}"


def suffix_template(grid: dict[str, list[str]], settings: dict[str, str]) -> str:
    """train.py's --suffix for the run of ``settings``: bs{batch_size}_{norm}_...; a switch's part is
    written out, attn_on or attn_off, where train.py's formatting would give attnTrue/attnFalse."""
    parts = []
    for flag in grid:
        on = switch_value(flag, settings[flag])
        parts.append(axis_template(flag) if on is None else f"{SHORT.get(flag, flag)}_{'on' if on else 'off'}")
    return "_".join(parts)


def earlier_template(grid: dict[str, list[str]]) -> str:
    """The --suffix of sweeps before switches read on/off (attnTrue): their runs keep their folders."""
    return "_".join(axis_template(flag) for flag in grid)


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def check_combination(settings: dict[str, str], extra: list[str], dataroot: str, name: str,
                      template: str) -> argparse.Namespace:
    """Parse one run's train.py command line here, so a bad value fails before anything starts."""
    from options.train_options import parse_train_options

    argv = ["--dataroot", dataroot, "--name", name, "--suffix", template, *extra, *flag_args(settings)]
    try:
        return parse_train_options(argv)[0]
    except UserError as err:
        raise UserError(f"run {settings}: {err}") from err


def flag_args(settings: dict[str, str]) -> list[str]:
    """train.py arguments for a run's settings: a switch that is on is given, one that is off is left
    out (or given as --no-<flag> where the switch defaults to on, as --cudnn_benchmark)."""
    out = []
    for flag, value in settings.items():
        on = switch_value(flag, value)
        if on is not None:
            out += [f"--{flag}"] if on else SWITCHES.get(flag, [])
        else:
            out += [f"--{flag}", value]
    return out


def switch_value(flag: str, value: str) -> bool | None:
    """Whether a grid value turns a switch on or off (on/off/true/false for a switch, true/false for
    any flag); None for a value that is passed on as it is."""
    value = value.lower()
    if value in SWITCH_VALUES and (flag in SWITCHES or value in ("true", "false")):
        return SWITCH_VALUES[value]
    return None


def switch_flags() -> dict[str, list[str]]:
    """train.py's switches (flags without a value): name -> the arguments that turn it off."""
    switches = {}
    for action in build_train_parser()._actions:
        # named after its dest: not an alias that sets another flag (--no_lsgan sets --gan_mode)
        if action.nargs == 0 and f"--{action.dest}" in action.option_strings and action.dest != "help":
            negative = [s for s in action.option_strings if s.startswith("--no-")]
            switches[action.dest] = negative[:1]
    return switches


SWITCHES = switch_flags()
SWITCH_VALUES = {"on": True, "true": True, "off": False, "false": False}


# ------------------------------------------------------------------------------------------------ #
# One run: train -> test -> evaluate
# ------------------------------------------------------------------------------------------------ #


class Run:
    def __init__(self, args, settings: dict[str, str], grid: dict[str, list[str]], extra: list[str]):
        self.settings = settings
        # train.py's own --suffix decides the name; parsing its command line here also checks it
        template = suffix_template(grid, settings)
        opt = check_combination(settings, extra, args.dataroot, args.name, template)
        self.name, self.model = opt.name, opt.model
        earlier = f"{args.name}_{earlier_template(grid).format(**vars(opt))}"
        if earlier != self.name and not self.started(args, self.name) and self.started(args, earlier):
            self.name, template = earlier, earlier_template(grid)  # a sweep begun before the on/off names
        self.ckpt = Path(args.checkpoints_dir) / self.name
        self.results = Path(args.results_dir) / self.name / "test_latest"
        self.args, self.template, self.extra = args, template, extra

    @staticmethod
    def started(args, name: str) -> bool:
        return (Path(args.checkpoints_dir) / name).is_dir() or (Path(args.results_dir) / name).is_dir()

    @property
    def metrics(self) -> Path:
        return self.results / "metrics.json"

    def finished_training(self) -> bool:
        import torch

        state = self.ckpt / "latest_train_state.pth"
        if not state.is_file():
            return False
        try:
            saved = torch.load(state, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - unreadable: train.py will say what is wrong
            return False
        last = saved["options"].get("n_epochs", 0) + saved["options"].get("n_epochs_decay", 0)
        return bool(saved.get("epoch_done")) and saved.get("epoch", 0) >= last

    def commands(self, devices: str | None) -> list[list[str]]:
        """What is left to do for this run, as command lines."""
        a, py = self.args, sys.executable
        if self.metrics.is_file():
            return []
        where = ["--dataroot", a.dataroot, "--checkpoints_dir", a.checkpoints_dir]
        gpu = ["--gpu_ids", "0" if devices is not None else "-1"]
        cmds = []
        if not self.finished_training():
            resume = ["--continue_train"] if any(self.ckpt.glob("latest_net_G*.pth")) else []
            launcher = [py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(a.torchrun)] \
                if a.torchrun > 1 else [py]
            if devices is not None:  # the job sees its GPUs as 0..n-1
                gpu_train = ["--gpu_ids", ",".join(str(i) for i in range(a.torchrun))]
            else:
                gpu_train = gpu
            cmds.append([*launcher, str(ROOT / "train.py"), *where, "--name", a.name, "--suffix", self.template,
                         *self.extra, *flag_args(self.settings), *gpu_train, "--display_id", "0", *resume])
        test_extra = [x for flag, value in pairs(self.extra) if flag.lstrip("-") in TEST_FLAGS for x in (flag, value)]
        test_settings = {k: v for k, v in self.settings.items() if k in TEST_FLAGS}
        cmds.append([py, str(ROOT / "test.py"), *where, "--name", self.name, "--model", self.model,
                     "--results_dir", a.results_dir, "--num_test", str(a.num_test), *test_extra,
                     *flag_args(test_settings), *gpu])
        evaluate = [py, str(ROOT / "scripts" / "evaluate.py"), "--results_dir", str(self.results),
                    "--dataroot", a.dataroot]
        if a.inception_weights:
            evaluate += ["--inception_weights", a.inception_weights]
        cmds.append(evaluate)
        return cmds


def pairs(argv: list[str]) -> list[tuple[str, str]]:
    """Flag/value pairs of an argument list (a flag without a value pairs with "")."""
    out, i = [], 0
    while i < len(argv):
        flag = argv[i]
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out.append((flag, argv[i + 1]))
            i += 2
        else:
            out.append((flag, ""))
            i += 1
    return [(f, v) for f, v in out if v != ""]


# ------------------------------------------------------------------------------------------------ #
# The sweep
# ------------------------------------------------------------------------------------------------ #


class Ledger:
    """sweep.json, rewritten (atomically) whenever a run changes status."""

    def __init__(self, path: Path, header: dict, runs: list[Run]):
        self.path, self.lock = path, threading.Lock()
        self.data = {**header, "runs": [{"name": r.name, "settings": r.settings,
                                         "status": "done" if r.metrics.is_file() else "pending"} for r in runs]}
        self.write()

    def set(self, name: str, status: str) -> None:
        with self.lock:
            for entry in self.data["runs"]:
                if entry["name"] == name:
                    entry["status"] = status
            self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        tmp.replace(self.path)


def slots(args) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES of each parallel worker (None: CPU)."""
    if not args.gpus:
        return [None] * args.parallel
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()]
    if len(gpus) < args.torchrun:
        raise UserError(f"--torchrun {args.torchrun} needs at least that many --gpus, got {args.gpus}")
    return [",".join(gpus[i:i + args.torchrun]) for i in range(0, len(gpus) - args.torchrun + 1, args.torchrun)]


def shown(cmd: list[str], devices: str | None) -> str:
    env = f"CUDA_VISIBLE_DEVICES={devices} " if devices is not None else ""
    return env + " ".join(shlex.quote(c) for c in cmd)


def execute(run: Run, devices: str | None, log_dir: Path, ledger: Ledger) -> bool:
    cmds = run.commands(devices)
    if not cmds:
        print(f"sweep: skip {run.name} (finished: {run.metrics})", flush=True)
        ledger.set(run.name, "done")
        return True
    ledger.set(run.name, "running")
    log = log_dir / f"{run.name}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
    print(f"sweep: start {run.name}" + (f" on GPU {devices}" if devices is not None else "") + f", log {log}",
          flush=True)
    with open(log, "a") as out:
        for cmd in cmds:
            out.write(f"$ {shown(cmd, devices)}\n")
            out.flush()
            code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            if code != 0:
                last = [line for line in log.read_text().splitlines() if line.strip()][-1:]
                print(f"sweep: FAILED {run.name} ({Path(cmd[1] if cmd[1] != '-m' else cmd[-1]).name} exit {code}: "
                      f"{last[0][:200] if last else ''}); see {log}", flush=True)
                ledger.set(run.name, "failed")
                return False
    print(f"sweep: done {run.name}", flush=True)
    ledger.set(run.name, "done")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = OneLineParser(prog="sweep.sh", description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--dataroot", required=True)
    p.add_argument("--name", required=True, help="base name; each run is <name>_<suffix of its settings>")
    p.add_argument("--grid", nargs="+", default=None, metavar="FLAG=V1,V2", help="the axes (default: see above)")
    p.add_argument("--grid_file", default=None, help="one axis per line: flag = value, value")
    p.add_argument("--checkpoints_dir", default="./checkpoints")
    p.add_argument("--results_dir", default="./results/")
    p.add_argument("--sweep_dir", default=None, help="sweep.json, logs/ and the summary (default sweeps/<name>)")
    p.add_argument("--gpus", default=None, help="GPU ids to use, e.g. 0,1,2,3 (one run per GPU)")
    p.add_argument("--torchrun", type=positive_int, default=1, help="GPUs per run: each run is a torchrun job")
    p.add_argument("--parallel", type=positive_int, default=1, help="runs at once without --gpus (CPU)")
    p.add_argument("--num_test", type=positive_int, default=1000, help="test images per domain for test.py")
    p.add_argument("--inception_weights", default=None, help="pt_inception-2015-12-05-6726825d.pth for evaluate.py")
    p.add_argument("--dry_run", action="store_true", help="print every command and run none")
    args = p.parse_args(argv)
    if not Path(args.dataroot).is_dir():
        raise UserError(f"--dataroot {args.dataroot} does not exist or is not a folder")
    if args.torchrun > 1 and not args.gpus:
        raise UserError("--torchrun needs --gpus (the GPUs to share among the runs)")
    grid = read_grid(args)
    runs = [Run(args, settings, grid, extra) for settings in combinations(grid)]
    if len({r.name for r in runs}) < len(runs):
        raise UserError("two runs of the grid get the same name: give each axis distinct values")
    sweep_dir = Path(args.sweep_dir or Path("sweeps") / args.name)
    workers = slots(args)

    if args.dry_run:
        for i, run in enumerate(runs):
            devices = workers[i % len(workers)]
            cmds = run.commands(devices)
            print(f"# {run.name}: " + ("finished, skipped" if not cmds else f"{len(cmds)} commands"))
            for cmd in cmds:
                print(shown(cmd, devices))
        return 0

    ledger = Ledger(sweep_dir / "sweep.json", {"base": args.name, "dataroot": args.dataroot,
                                                "checkpoints_dir": args.checkpoints_dir,
                                                "results_dir": args.results_dir, "axes": grid,
                                                "train_args": extra}, runs)
    log_dir = sweep_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"sweep: {len(runs)} runs over {', '.join(grid)}, {len(workers)} at once; sweep.json in {sweep_dir}")
    free = list(workers)
    free_lock = threading.Lock()

    def work(run: Run) -> bool:
        with free_lock:
            devices = free.pop(0)
        try:
            return execute(run, devices, log_dir, ledger)
        finally:
            with free_lock:
                free.append(devices)

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        ok = list(pool.map(work, runs))
    failed = [r.name for r, good in zip(runs, ok) if not good]
    summarize = ROOT / "scripts" / "summarize_sweep.py"
    if summarize.is_file() and any(ok):
        subprocess.call([sys.executable, str(summarize), str(sweep_dir)])
    print(f"sweep: {len(runs) - len(failed)} of {len(runs)} runs done" + (f"; failed: {', '.join(failed)}" if failed
                                                                          else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "sweep.sh"))
