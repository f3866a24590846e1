"""Every GPU claim of docs/speed.md measured in one go, for a GPU machine lent for a few minutes.

    bash scripts/gpu_check.sh gpu_results/            # setup_env.sh, then this script on the GPU
    python scripts/gpu_check.py --out gpu_results/    # the same without the setup
    python scripts/gpu_check.py --out /tmp/check --dry_run   # every part at toy sizes on the CPU

An orchestrator over ``scripts/benchmark.py``'s modes (and train.py for several GPUs): each part runs
as its own subprocess under its own time limit, and a part that fails (time limit, exit code) is
recorded with its last stderr line while the others still run. The limits sum to under 6 minutes
on one GPU, set-up excluded, and ``--budget_s`` caps the whole. Parts:

- ``machine``: GPU names, driver, CUDA and torch versions, GPU count, CPU cores and model.
- ``train_b1``, ``train_b8`` (``--amp bf16 --channels_last``) and ``train_b1_compile``,
  ``train_b8_compile`` (plus ``--compile --stack_passes --adam_impl fused``): a CycleGAN step at
  256 px against plain fp32 eager measured in the same process; images/s, the ratio, the share of
  the bf16 peak, peak memory.
- ``test``: test.py-style translation, the one-image fp32 loop against batches of 16 and of 64
  (bf16, channels-last).
- ``fid_cuda``, ``fid_cpu``: scripts/fid.py on two folders of 1,000 generated 256 px images each,
  on the GPU and on the CPU, with a random-weights Inception (no weights can be downloaded), so
  the FID values only show that both paths agree; the times are real.
- ``photos``: mask_photos' pipeline with a GAN generator on the GPU, photos/s and each stage.
- ``render``: mask_photos --method render (no MaskTheFace here).
- ``multi_gpu`` (2 or more GPUs): train.py on one GPU, DataParallel over all (``--gpu_ids
  0,1,..``) and torchrun DistributedDataParallel (NCCL) over all, images/s from loss_log.jsonl's
  wall clock after the first steps, per GPU, and the scaling efficiency against one GPU.

Writes OUT/gpu_check.json (every part's command, settings, numbers, status and seconds) and
OUT/gpu_check.md (a table per part), and prints the markdown. Exit 0 when no part failed.

``--dry_run`` runs every part at toy sizes on the CPU (32 px, small networks, 20 images for FID,
2 photos, no --compile: inductor's C++ build alone takes minutes on a CPU; multi_gpu as one CPU
process against torchrun with 2 gloo processes, DataParallel skipped), in about a minute.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.benchmark import cpu_description  # noqa: E402

BENCHMARK = str(ROOT / "scripts" / "benchmark.py")
FAST = ["--amp", "bf16", "--channels_last"]
COMPILED = [*FAST, "--compile", "--stack_passes", "--adam_impl", "fused"]
# Toy sizes for --dry_run: the same code paths, seconds instead of minutes.
TOY = ["--crop_size", "32", "--netG", "resnet_6blocks", "--ngf", "8", "--device", "cpu"]
DRY_TRAIN = [*TOY, "--ndf", "8", "--iters", "1", "--warmup", "1"]


@dataclass
class Part:
    """One measurement: a subprocess, its time limit, and how its JSON becomes a table."""
    name: str
    title: str
    limit_s: float
    command: Callable[[argparse.Namespace, dict], list[str] | None]  # None: nothing to run (skipped)
    rows: Callable[[dict], list[tuple[str, str]]]
    settings: dict = field(default_factory=dict)
    skip: Callable[[argparse.Namespace, dict], str | None] = lambda args, machine: None


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# ----------------------------------------------------------------------------------- machine


def machine_info() -> dict:
    """What the numbers were measured on (run in its own process, like every part)."""
    import torch

    out = {"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
           "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
           "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
           if torch.cuda.is_available() else [],
           "cpu_cores": os.cpu_count(), "cpu": cpu_description(), "python": platform.python_version()}
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
        out["nvidia_smi"] = done.stdout.strip().splitlines() if done.returncode == 0 else last_line(done.stderr)
        drivers = {line.rsplit(",", 1)[-1].strip() for line in out["nvidia_smi"]} if done.returncode == 0 else set()
        out["driver"] = ", ".join(sorted(drivers)) or None
    else:
        out["nvidia_smi"], out["driver"] = "not installed", None
    return out


def machine_rows(r: dict) -> list[tuple[str, str]]:
    return [("GPUs", f"{r['gpu_count']}: {', '.join(r['gpus']) or 'none'}"), ("driver", fmt(r.get("driver"))),
            ("CUDA (torch.version.cuda)", fmt(r["cuda"])), ("torch", r["torch"]),
            ("CPU", f"{r['cpu_cores']} cores, {r['cpu']}")]


# ----------------------------------------------------------------------------------- benchmark parts


def benchmark(*flags: str) -> list[str]:
    return [sys.executable, BENCHMARK, *flags, "--json"]


def train_part(batch: int, compiled: bool) -> Part:
    def command(args, machine):
        if args.dry_run:  # no --compile on the CPU: see the module docstring
            return benchmark("--mode", "train", "--batch_size", str(min(batch, 2)), *DRY_TRAIN, *FAST,
                             *(["--stack_passes", "--adam_impl", "fused"] if compiled else []))
        return benchmark("--mode", "train", "--crop_size", "256", "--batch_size", str(batch), "--iters", "10",
                         "--warmup", "3", "--device", "cuda", *(COMPILED if compiled else FAST))

    def rows(r):
        return [("fp32 eager, images/s", fmt(r["train_img_per_s_fp32"])),
                ("fast, images/s", fmt(r["train_img_per_s"])),
                ("fast / fp32", fmt(r["train_speedup"]) + "x"),
                ("share of bf16 peak", fmt(r.get("train_fraction_of_bf16_peak"))),
                ("achieved TFLOP/s", fmt(r.get("train_achieved_tflops"))),
                ("peak memory fast / fp32, MB", f"{fmt(r['peak_mem_mb'], 4)} / {fmt(r['peak_mem_mb_fp32'], 4)}")]

    flags = " ".join(COMPILED if compiled else FAST)
    return Part(f"train_b{batch}{'_compile' if compiled else ''}",
                f"Training, 256 px, batch {batch}: fp32 eager vs `{flags}`", 50 if compiled else 30, command, rows)


def test_command(args, machine):
    if args.dry_run:
        return benchmark("--mode", "test", *TOY, "--test_images", "4", "--warmup", "1", *FAST,
                         "--test_batch_size", "2", "4")
    return benchmark("--mode", "test", "--crop_size", "256", "--test_images", "256", "--warmup", "2",
                     "--device", "cuda", *FAST, "--test_batch_size", "16", "64")


def test_rows(r):
    rows = [("one-image fp32 loop, images/s", fmt(r["test_img_per_s_fp32"]))]
    for b, rate in r["test_img_per_s_by_batch"].items():
        ratio = fmt(rate / r["test_img_per_s_fp32"])
        rows.append((f"batches of {b} (bf16, channels-last), images/s", f"{fmt(rate)} ({ratio}x)"))
    return rows


def fid_weights(args) -> list[str]:
    """One random-weights Inception file for both FID parts (making it takes seconds of CPU)."""
    if not args.work.joinpath("inception.pth").exists():
        from util.metrics import inception

        t0 = time.perf_counter()
        inception.make_random_weights(args.work / "inception.pth")
        args.fid_weights_s = time.perf_counter() - t0
    return ["--inception_weights", str(args.work / "inception.pth")]


def fid_part(device: str, limit_s: float) -> Part:
    def command(args, machine):
        if args.dry_run:
            return benchmark("--mode", "fid", "--images", "10", "--size", "32", "--dims", "64", "--device", "cpu",
                             "--no_reference", *fid_weights(args))
        # the GPU run also times pytorch-fid's own path; the CPU run, the slow one, only ours
        return benchmark("--mode", "fid", "--images", "1000", "--size", "256", "--device", device,
                         *(["--no_reference"] if device == "cpu" else []), *fid_weights(args))

    def rows(r):
        out = [("images (two folders)", fmt(r["images"])), ("device", r["device"]),
               ("scripts/fid.py, s", fmt(r["fid_s"])), ("scripts/fid.py, images/s", fmt(r["fid_img_per_s"])),
               ("FID (random weights: layout only)", fmt(r["fid"], 6))]
        if "pytorch_fid_s" in r:
            out += [("pytorch-fid, s", fmt(r["pytorch_fid_s"])),
                    ("pytorch-fid FID (random weights)", fmt(r["fid_pytorch_fid"], 6))]
        return out

    return Part(f"fid_{device}", f"FID with scripts/fid.py on the {'GPU' if device == 'cuda' else 'CPU'} "
                "(random Inception weights: the values only show agreement)", limit_s, command, rows)


def photos_command(args, machine):
    if args.dry_run:
        return benchmark("--mode", "photos", *TOY, "--photos", "2", "--cnn_photos", "0", "--num_threads", "1", *FAST)
    return benchmark("--mode", "photos", "--photos", "8", "--cnn_photos", "1", "--crop_size", "256",
                     "--num_threads", "4", "--device", "cuda", *FAST)


def photos_rows(r):
    rows = [("photos / faces found", f"{r['photos']} / {r['faces_found_pipeline']}"), ("device", r.get("device", "-")),
            ("whole pipeline, photos/s", fmt(r["whole_photos_per_s"])),
            ("whole pipeline, faces/s", fmt(r["whole_faces_per_s"])), ("slowest stage", r["slowest_stage"])]
    rows += [(f"stage {k}, s/photo", fmt(v)) for k, v in r["stage_s_per_photo"].items()]
    return rows


def render_command(args, machine):
    return [sys.executable, BENCHMARK, "--mode", "render", "--photos", "2" if args.dry_run else "4",
            "--repeats", "1", "--num_threads", "1" if args.dry_run else "4", "--json"]


def render_rows(r):
    rows = [("photos / faces placed", f"{r['photos']} / {r['faces_placed']}"),
            ("mask_photos --method render, photos/s", fmt(r.get("ours_photos_per_s"))),
            ("its wall s (start-up s)", f"{fmt(r.get('ours_wall_s'))} ({fmt(r.get('ours_startup_s'))})")]
    rows += [(f"render alone ({k}), faces/s", fmt(v)) for k, v in r["render_faces_per_s"].items()]
    return rows


# ----------------------------------------------------------------------------------- several GPUs


def multi_gpu_skip(args, machine) -> str | None:
    if args.dry_run:
        return None
    if machine.get("gpu_count", 0) < 2:
        return f"skipped: {machine.get('gpu_count', 0)} GPU(s), DataParallel and DDP need 2 or more"
    return None


def multi_gpu_command(args, machine):
    return [sys.executable, str(Path(__file__).resolve()), "--multi_gpu_runner", "--out", str(args.out),
            *(["--dry_run"] if args.dry_run else []), "--gpus", str(machine.get("gpu_count", 0))]


def throughput(log: Path, skip: int) -> float:
    """Images/s from loss_log.jsonl: global images over wall clock between the records after the first ``skip``."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()][skip:]
    if len(records) < 2:
        raise RuntimeError(f"{log}: fewer than {skip + 2} records to time")
    return (records[-1]["total_iters"] - records[0]["total_iters"]) / (records[-1]["wall"] - records[0]["wall"])


def multi_gpu_runner(args) -> dict:
    """train.py on one device, DataParallel over all GPUs and torchrun DDP over all; prints one JSON line."""
    from scripts.benchmark import write_photo_like_pngs

    gpus = 2 if args.dry_run else args.gpus
    per_gpu_batch, size, steps = (1, 32, 5) if args.dry_run else (8, 256, 20)
    work = Path(tempfile.mkdtemp(prefix="gpu_check_multi_"))
    try:
        for domain, seed in (("trainA", 1), ("trainB", 2)):
            write_photo_like_pngs(work / "data" / domain, per_gpu_batch * gpus * steps, size, seed)
        common = ["--dataroot", str(work / "data"), "--checkpoints_dir", str(work / "ckpt"), "--load_size", str(size),
                  "--crop_size", str(size), "--n_epochs", "1", "--n_epochs_decay", "0", "--display_id", "0",
                  "--no_html", "--display_freq", "1000000", "--save_epoch_freq", "1000", "--seed", "0"]
        if args.dry_run:
            common += ["--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks", "--num_threads", "0"]
        else:
            common += ["--num_threads", "4", *FAST]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(key, None)
        all_ids = "-1" if args.dry_run else ",".join(str(i) for i in range(gpus))
        runs = {"one": ([], "-1" if args.dry_run else "0", per_gpu_batch, 1),
                "ddp": (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(gpus)], all_ids,
                        per_gpu_batch, gpus)}
        if not args.dry_run:  # DataParallel needs GPUs: one process splits the global batch over them
            runs["dataparallel"] = ([], all_ids, per_gpu_batch * gpus, gpus)
        out = {"gpus": gpus, "per_gpu_batch": per_gpu_batch, "crop_size": size,
               "backend": "gloo (CPU)" if args.dry_run else "nccl",
               "timing": "loss_log.jsonl wall clock after the first 2 logged steps, data loading included"}
        if args.dry_run:
            out["dataparallel"] = "skipped: needs GPUs (dry run on the CPU)"
        for name, (launcher, ids, batch, devices) in runs.items():
            global_batch = batch * (devices if name == "ddp" else 1)
            command = [sys.executable, *launcher, str(ROOT / "train.py"), *common, "--name", name,
                       "--gpu_ids", ids, "--batch_size", str(batch), "--print_freq", str(global_batch)]
            t0 = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: train.py exit {done.returncode}: {last_line(done.stderr)}")
            rate = throughput(work / "ckpt" / name / "loss_log.jsonl", skip=2)
            out[name] = {"img_per_s": rate, "img_per_s_per_device": rate / devices, "devices": devices,
                         "batch_per_process": batch, "wall_s": time.perf_counter() - t0}
        for name in ("ddp", "dataparallel"):
            if isinstance(out.get(name), dict):
                ideal = out[name]["devices"] * out["one"]["img_per_s"]
                out[name]["scaling_efficiency"] = out[name]["img_per_s"] / ideal
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def multi_gpu_rows(r):
    rows = [("devices, batch per device, crop", f"{r['gpus']}, {r['per_gpu_batch']}, {r['crop_size']} px"),
            ("backend", r["backend"]), ("one device, images/s", fmt(r["one"]["img_per_s"]))]
    for name, label in (("dataparallel", "DataParallel"), ("ddp", "torchrun DDP")):
        v = r.get(name)
        if isinstance(v, dict):
            rows.append((f"{label}, images/s (per device; efficiency)",
                         f"{fmt(v['img_per_s'])} ({fmt(v['img_per_s_per_device'])}; {fmt(v['scaling_efficiency'])})"))
        elif v:
            rows.append((label, v))
    return rows


# ----------------------------------------------------------------------------------- the run


def parts() -> list[Part]:
    return [Part("machine", "Machine", 15, lambda a, m: [sys.executable, str(Path(__file__).resolve()), "--machine"],
                 machine_rows),
            train_part(1, False), train_part(8, False), train_part(1, True), train_part(8, True),
            Part("test", "Translation (test.py): the one-image fp32 loop vs batches", 25, test_command, test_rows),
            fid_part("cuda", 35), fid_part("cpu", 55),
            Part("photos", "Photo pipeline, mask_photos --method gan: generator on the device", 30, photos_command,
                 photos_rows),
            Part("render", "Photo pipeline, mask_photos --method render (no MaskTheFace here)", 15, render_command,
                 render_rows),
            Part("multi_gpu", "Several GPUs: one GPU vs DataParallel vs torchrun DDP", 90, multi_gpu_command,
                 multi_gpu_rows, skip=multi_gpu_skip)]


def run_part(part: Part, args, machine: dict, limit_s: float) -> dict:
    record = {"name": part.name, "title": part.title, "limit_s": limit_s}
    reason = part.skip(args, machine)
    if reason:
        return {**record, "status": "skipped", "reason": reason, "seconds": 0.0}
    if limit_s < 2:
        return {**record, "status": "skipped", "reason": "skipped: --budget_s spent", "seconds": 0.0}
    command = part.command(args, machine)
    if part.name in args.fail:  # test hook: a command that fails, so the failure's record can be checked
        command = [sys.executable, "-c", f"import sys; sys.exit('gpu_check.py --fail {part.name}: made to fail')"]
    record["command"] = " ".join(Path(c).name if c == sys.executable else c for c in command)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if args.dry_run:  # one thread per process: toy sizes gain nothing from more, and a busy CPU loses a lot
        env["OMP_NUM_THREADS"] = "1"
    t0 = time.perf_counter()
    # its own process group, so that a timeout also ends what it started (train.py, torchrun's workers)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return {**record, "status": "failed", "reason": f"timeout after {limit_s:.0f} s",
                "last_stderr": last_line(stderr), "seconds": time.perf_counter() - t0}
    done = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
    record["seconds"] = time.perf_counter() - t0
    if done.returncode != 0:
        return {**record, "status": "failed", "reason": f"exit {done.returncode}",
                "last_stderr": last_line(done.stderr or done.stdout)}
    try:
        result = json.loads(last_line(done.stdout))
        rows = part.rows(result)
    except (ValueError, KeyError, TypeError) as e:
        return {**record, "status": "failed", "reason": f"unreadable output: {e!r}",
                "last_stderr": last_line(done.stderr or done.stdout)}
    return {**record, "status": "ok", "result": result, "rows": rows}


def markdown(report: dict) -> str:
    dry = (" (dry run: toy sizes on the CPU; the headings name the GPU settings, the dry run uses 32 px "
           "crops and no --compile)")
    lines = [f"# GPU check{dry if report['dry_run'] else ''}", "",
             f"{report['seconds']:.0f} s in all; FID values come from random Inception weights (layout only).", ""]
    for p in report["parts"]:
        lines += [f"## {p['title']}", "", f"`{p['name']}`: {p['status']}, {p['seconds']:.1f} s "
                  f"(limit {p['limit_s']:.0f} s)", "", "| measure | value |", "|---|---|"]
        if p["status"] == "ok":
            lines += [f"| {k} | {v} |" for k, v in p["rows"]]
        else:
            lines.append(f"| {p['status']} | {p['reason']} |")
            if p.get("last_stderr"):
                lines.append(f"| last stderr line | {p['last_stderr'].replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="folder for gpu_check.json and gpu_check.md (required)")
    p.add_argument("--dry_run", action="store_true", help="every part at toy sizes on the CPU, in about a minute")
    p.add_argument("--only", nargs="+", default=None, metavar="PART",
                   help="run these parts alone (names as in the JSON)")
    p.add_argument("--budget_s", type=float, default=360.0,
                   help="the whole run's limit: a part gets the smaller of its own limit and what is left")
    p.add_argument("--fail", nargs="+", default=[], metavar="PART",
                   help="test hook: run a failing command in these parts' place")
    p.add_argument("--machine", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--multi_gpu_runner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--gpus", type=int, default=0, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.machine:
        print(json.dumps(machine_info()))
        return 0
    if args.multi_gpu_runner:
        print(json.dumps(multi_gpu_runner(args)))
        return 0
    if not args.out:
        print("gpu_check.py: error: --out OUTDIR is required", file=sys.stderr)
        return 2
    known = [p.name for p in parts()]
    for name in [*(args.only or []), *args.fail]:
        if name not in known:
            print(f"gpu_check.py: error: no part {name!r}; the parts are {', '.join(known)}", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records, machine = [], {}
    args.work, args.fid_weights_s = Path(tempfile.mkdtemp(prefix="gpu_check_")), None
    try:
        for part in parts():
            if args.only and part.name not in args.only:
                continue
            left = args.budget_s - (time.perf_counter() - start)
            record = run_part(part, args, machine, min(part.limit_s, left))
            if part.name == "machine" and record["status"] == "ok":
                machine = record["result"]
            print(f"gpu_check.py: {part.name}: {record['status']} in {record['seconds']:.1f} s"
                  + (f" ({record['reason']})" if record["status"] != "ok" else ""), file=sys.stderr, flush=True)
            records.append(record)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    report = {"dry_run": args.dry_run, "seconds": time.perf_counter() - start, "budget_s": args.budget_s,
              "limits_s": {p.name: p.limit_s for p in parts()},
              "fid_note": "random Inception weights (no downloads): FID values show GPU/CPU agreement only",
              "fid_weights_s": args.fid_weights_s, "machine": machine, "parts": records}
    text = markdown(report)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "gpu_check.md").write_text(text + "\n")
    print(text)
    return 1 if any(r["status"] == "failed" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
