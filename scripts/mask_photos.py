"""Put masks on (or take them off) the faces in ordinary photos and videos with a trained run.

    python scripts/mask_photos.py --name masks_bs16 --input photos/ party.jpg clip.mp4 --output masked/
    python scripts/mask_photos.py --name masks_bs16 --input lfw/ --output lfw_masked/ --save_pairs lfw_pairs/
    python scripts/mask_photos.py --name masks_bs16 --direction off --detector cnn --input masked/ --output bare/

Every face is found by dlib (HOG, or the CNN detector that also finds masked and turned faces), cut
out along FFHQ's oriented square from its 68 landmarks at the run's input size, translated by G_AB
(``--direction on``) or G_BA (``off``), warped back and blended in with a feathered edge; pixels
outside the faces' squares keep their exact values. Each photo is written under ``--output`` at its
path relative to the input, in its own format; ``faces.jsonl`` has one record per face (box,
landmarks, square, identity distance, status) and ``summary.json`` the counts and speed. A second
run with the same arguments writes nothing; an interrupted one finishes what is missing.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from util.cli import OneLineParser, non_negative_int, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.faces.detect import DETECTORS  # noqa: E402
from util.faces.identity import SAME_PERSON  # noqa: E402
from util.faces.photos import (STATE, Journal, Settings, check_output_folder, find_inputs, run,  # noqa: E402
                               temp_leftovers)
from util.files import write_atomically  # noqa: E402

PROG = "mask_photos.py"
SUFFIX = {"on": "_A", "off": "_B"}  # G_AB puts masks on, G_BA takes them off
PAIR_HEADER = ["name", "source", "frame", "face", "identity_distance", "direction", "run", "epoch"]


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


def build_parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("the trained run (taken as test.py takes it)")
    g.add_argument("--name", required=True, help="the run's name under --checkpoints_dir")
    g.add_argument("--checkpoints_dir", default="./checkpoints")
    g.add_argument("--epoch", default="latest", help="checkpoint label: latest or an epoch number")
    g.add_argument("--load_iter", type=non_negative_int, default=0, help="load iter_<N> checkpoints instead")
    g.add_argument("--direction", choices=("on", "off"), default="on",
                   help="on: G_AB puts masks on; off: G_BA takes them off")
    g = p.add_argument_group("photos")
    g.add_argument("--input", nargs="+", required=True, help="photos, videos, and folders searched recursively")
    g.add_argument("--output", required=True, help="where the translated photos, faces.jsonl and summary.json go")
    g.add_argument("--save_pairs", default=None,
                   help="also write each face's aligned crop before and after: DIR/A (unmasked), DIR/B (masked), "
                        "DIR/pairs.csv")
    g.add_argument("--overwrite", action="store_true",
                   help="write into an --output (and --save_pairs) that holds results of other arguments")
    g = p.add_argument_group("faces")
    g.add_argument("--detector", choices=DETECTORS, default="hog",
                   help="hog: fast, upright unmasked faces; cnn: also masked and turned faces, far slower")
    g.add_argument("--upsample", type=non_negative_int, default=1,
                   help="times the photo is doubled for the detector (1 finds faces down to about 40 px)")
    g.add_argument("--min_score", type=finite_float, default=None,
                   help="detections scoring lower are not faces (default: 0.5 for hog, 0.0 for cnn)")
    g.add_argument("--max_side", type=positive_int, default=2048,
                   help="larger photos are searched at this size (landmarks at full size)")
    g.add_argument("--min_face_size", type=finite_non_negative, default=32.0,
                   help="faces whose FFHQ square is smaller (px) are left as they are (status too_small)")
    g.add_argument("--feather", type=finite_non_negative, default=0.12,
                   help="width of the blended edge, as a fraction of the face square's side")
    g.add_argument("--max_identity_distance", type=finite_non_negative, default=None,
                   help=f"keep the original face where the translated one's dlib descriptor is farther than "
                        f"this from it (dlib's same-person threshold: {SAME_PERSON})")
    g = p.add_argument_group("speed (as test.py)")
    g.add_argument("--gpu_ids", default="0", help="e.g. 0; -1 for the CPU")
    g.add_argument("--batch_size", type=positive_int, default=16,
                   help="faces per generator call (a photo's faces always go together)")
    g.add_argument("--num_threads", type=non_negative_int, default=2,
                   help="worker processes for decoding, detection and paste-back (0: all in this process)")
    g.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    g.add_argument("--channels_last", action="store_true")
    g.add_argument("--compile", action="store_true")
    g.add_argument("--eval", action="store_true", help="batch norm with running statistics, no dropout")
    return p


def load_generator(args: argparse.Namespace):
    """The run's G_AB or G_BA as test.py builds it, and a function uint8 crops -> uint8 crops."""
    import torch

    import test as test_script  # the repository's test.py
    from models.cycle_gan_model import select_device
    from models.test_model import TestModel
    from options.base_options import usable_gpu_ids
    from options.test_options import parse_test_options
    from util.image_io import tensors_to_images

    argv = ["--dataroot", ".", "--name", args.name, "--checkpoints_dir", args.checkpoints_dir, "--model", "test",
            "--model_suffix", SUFFIX[args.direction], "--epoch", args.epoch, "--load_iter", str(args.load_iter),
            "--gpu_ids", args.gpu_ids, "--amp", args.amp, "--num_threads", "0"]
    argv += [flag for flag, on in (("--channels_last", args.channels_last), ("--compile", args.compile),
                                   ("--eval", args.eval)) if on]
    opt, given, _ = parse_test_options(argv)
    run_dir = Path(args.checkpoints_dir) / args.name
    test_script.resolve_architecture(opt, given, run_dir)
    opt.gpu_id_list = usable_gpu_ids(opt.gpu_ids, PROG)
    model = TestModel(opt, select_device(opt.gpu_id_list))
    model.load(run_dir, test_script.checkpoint_label(opt))
    if opt.eval:
        model.eval()
    grey = opt.input_nc == 1

    def translate(crops: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        if grey:
            batch = (batch * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return tensors_to_images(model.translate(batch)["fake"])

    weights = test_script.net_path(run_dir, test_script.checkpoint_label(opt), "G" + SUFFIX[args.direction])
    return translate, opt, weights


def fingerprint(args: argparse.Namespace, opt, weights: Path) -> dict:
    """What decides the output: a run with the same fingerprint continues the earlier one."""
    stat = weights.stat()
    return {"inputs": [str(Path(i).resolve()) for i in args.input], "direction": args.direction,
            "weights": str(weights.resolve()), "weights_size": stat.st_size, "weights_mtime_ns": stat.st_mtime_ns,
            "crop_size": opt.crop_size, "amp": args.amp, "eval": args.eval,
            "save_pairs": str(Path(args.save_pairs).resolve()) if args.save_pairs else None,
            **{k: getattr(args, k) for k in ("detector", "upsample", "min_score", "max_side", "min_face_size",
                                              "feather", "max_identity_distance")}}


def prepare_output(args: argparse.Namespace, plan: dict) -> bool:
    """Check --output (and --save_pairs) against the arguments; True when this continues a run."""
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} is a file: choose a folder")
    state = output / STATE / "run.json"
    earlier = None
    if state.is_file():
        try:
            earlier = json.loads(state.read_text())
        except ValueError:
            earlier = None
    if earlier == plan and not args.overwrite:
        return True
    busy = [folder for folder in (output, Path(args.save_pairs) if args.save_pairs else None)
            if folder is not None and folder.is_dir() and any(folder.iterdir())]
    if busy and not args.overwrite:
        what = "results of other arguments" if earlier is not None else "other files"
        flag = "--output" if busy[0] == output else "--save_pairs"
        raise UserError(f"{flag} {busy[0]} already holds {what}: choose an empty folder, or pass --overwrite "
                        "to write over them")
    for stale in (output / "faces.jsonl", output / "summary.json"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(output / STATE, ignore_errors=True)
    if args.save_pairs:
        (Path(args.save_pairs) / "pairs.csv").unlink(missing_ok=True)
    return False


def summarize(output: Path, journal: Journal, stats, seconds: float, plan: dict) -> dict:
    """Counts over everything in --output (earlier interrupted runs included), speed of this run."""
    done = journal.done()
    records = [json.loads(line) for line in journal.faces_path.read_text().splitlines()] \
        if journal.faces_path.exists() else []
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    distances = [r["identity_distance"] for r in records if r["identity_distance"] is not None]
    photos = [e for e in done.values() if "skipped" not in e and "frames" not in e]
    videos = [e for e in done.values() if "frames" in e]
    processed = stats.photos + stats.frames
    return {
        "photos": len(photos), "photos_without_faces": sum(e["faces"] == 0 for e in photos),
        "videos": len(videos), "frames": sum(e["frames"] for e in videos), "faces": len(records),
        "faces_by_status": statuses,
        "skipped": [{"path": source, "reason": e["skipped"]} for source, e in done.items() if "skipped" in e],
        "identity_distance": {"faces": len(distances),
                              "mean": float(np.mean(distances)) if distances else None,
                              "median": float(np.median(distances)) if distances else None,
                              f"share_under_{SAME_PERSON}": float(np.mean(np.array(distances) < SAME_PERSON))
                              if distances else None},
        "this_run": {"photos": stats.photos, "frames": stats.frames, "faces": stats.faces, "seconds": seconds,
                     "photos_per_s": processed / seconds if seconds > 0 else None,
                     "faces_per_s": stats.faces / seconds if seconds > 0 else None,
                     "stage_seconds": {k: round(v, 3) for k, v in stats.times.items()}},
        "arguments": plan,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    check_output_folder(output, args.input)
    if args.save_pairs:
        check_output_folder(Path(args.save_pairs), args.input)
    items = find_inputs(args.input)
    translate, opt, weights = load_generator(args)
    plan = fingerprint(args, opt, weights)
    continuing = prepare_output(args, plan)
    journal = Journal(output, Path(args.save_pairs) if args.save_pairs else None, PAIR_HEADER)
    for leftover in temp_leftovers(output):  # an interrupted run's temporary files
        leftover.unlink()
    done = journal.done() if continuing else {}
    todo = [i for i, item in enumerate(items)
            if str(item.path) not in done or ("skipped" not in done[str(item.path)]
                                              and not (output / item.relpath).exists())]
    if not todo:
        print(f"{PROG}: nothing to do: all {len(items)} inputs are already in {output}")
        return 0
    journal.drop_unfinished({s: e for s, e in done.items() if s not in {str(items[i].path) for i in todo}})
    if not continuing:
        write_atomically(output / STATE / "run.json", lambda f: f.write(json.dumps(plan, indent=1).encode()))
    settings = Settings(detector=args.detector, upsample=args.upsample, min_score=args.min_score,
                        max_side=args.max_side, crop_size=opt.crop_size, min_face_size=args.min_face_size,
                        feather=args.feather, max_identity_distance=args.max_identity_distance,
                        direction=args.direction)
    pair_columns = {"direction": args.direction, "run": args.name,
                    "epoch": f"iter_{args.load_iter}" if args.load_iter else args.epoch}
    print(f"{PROG}: {len(todo)} of {len(items)} inputs to do, {weights.name} of {args.name}, "
          f"faces at {opt.crop_size} px, detector {args.detector}")
    t0 = time.perf_counter()
    stats = run(items, output, settings, translate, args.batch_size, args.num_threads,
                Path(args.save_pairs) if args.save_pairs else None, pair_columns, journal, todo,
                say=lambda text: print(f"{PROG}: {text}"),
                progress=lambda total: tqdm(total=total, unit="picture", disable=None, file=sys.stdout))
    summary = summarize(output, journal, stats, time.perf_counter() - t0, plan)
    write_atomically(output / "summary.json", lambda f: f.write(json.dumps(summary, indent=1).encode()))
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary["faces_by_status"].items())) or "no faces"
    print(f"{PROG}: {stats.photos} photos, {stats.frames} video frames, {stats.faces} faces and {len(stats.skipped)} "
          f"skipped inputs in {summary['this_run']['seconds']:.1f} s; {output} now holds {summary['photos']} photos, "
          f"{summary['videos']} videos, {statuses}; see {output / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, PROG))
