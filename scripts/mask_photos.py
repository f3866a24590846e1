"""Put masks on the faces in ordinary photos and videos: drawn by the mask renderer (no training), or
translated by a trained run's generator (which can also take them off).

    python scripts/mask_photos.py --input photos/ party.jpg clip.mp4 --output masked/
    python scripts/mask_photos.py --mask_type random --color "#1f3b73,#f2f2f2" --wear random --seed 7 \\
        --input lfw/ --output lfw_masked/ --save_masks --save_pairs lfw_pairs/
    python scripts/mask_photos.py --name masks_bs16 --input photos/ --output masked/
    python scripts/mask_photos.py --name masks_bs16 --direction off --detector cnn --input masked/ --output bare/

Every face is found by dlib and given 68 landmarks. ``--method render`` (the default without
``--name``) draws a mask onto each face from its landmarks (``util/masks``: ``--mask_type``,
``--color``, ``--pattern``, ``--wear``; random choices are drawn per face from ``--seed`` and the
face's place, so a run gives the same bytes with any ``--num_threads``); it needs no run and never
imports torch. ``--method gan`` (the default with ``--name``) cuts each face out along FFHQ's
oriented square at the run's input size, translates it by G_AB (``--direction on``) or G_BA
(``off``), or by a pix2pix run's one G where the run was trained that way (AtoB for ``on``, BtoA
for ``off``; the other direction is refused), warps it back and blends it in with a feathered edge.
Either way pixels away from the faces keep their exact values, and a photo where no face changed is
copied byte for byte.

Each photo is written under ``--output`` at its path relative to the input, in its own format;
``faces.jsonl`` has one record per face (box, landmarks, square, method and style, identity
distance, status) and ``summary.json`` the counts, the photos where no face was found
(``no_face_photos``) and the speed. dlib's identity distance between each face before and after is
measured only with ``--identity``, ``--save_pairs`` or ``--max_identity_distance`` (it is the
slowest step). ``--save_masks`` writes each photo's masks' opacity (0-255, one channel) to
``OUTPUT/masks/REL.png``, REL being the photo's relative path with the suffix .png; a video's, frame
by frame, to ``OUTPUT/masks/REL/NNNNNN.png`` (REL with the video's own suffix). ``--save_pairs DIR``
writes each face's aligned crop before (``DIR/A``) and after (``DIR/B``), for the renderer also the
crop of its opacity (``DIR/mask``), as a paired data set's testA/testB/testmask, and ``DIR/pairs.csv``.
A second run with the same arguments writes nothing; an interrupted one finishes what is missing.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from util.cli import (OneLineParser, add_mask_style_flags, explicit_flags, finite_float, finite_non_negative,  # noqa: E402
                      non_negative_int, positive_int)
from util.errors import UserError, run_cli  # noqa: E402
from util.faces.detect import DEFAULT_MIN_SCORE, DETECTORS, HOG_CONFIDENT  # noqa: E402
from util.faces.identity import SAME_PERSON  # noqa: E402
from util.faces.photos import (STATE, STYLE_FIELDS, FacePlan, Journal, PasteBack, Settings,  # noqa: E402
                               check_mask_paths, check_output_folder, find_inputs, run, temp_leftovers)
from util.files import write_atomically  # noqa: E402
from util.masks import MaskRenderer  # noqa: E402
from util.runs import run_generators  # noqa: E402
from util.masks.render import WEARS  # noqa: E402
from util.masks.texture import PATTERNS, read_pattern  # noqa: E402

PROG = "mask_photos.py"
DIRECTION = {"on": "AtoB", "off": "BtoA"}  # G_AB (pix2pix: a run trained AtoB) puts masks on
PAIR_HEADER = ["name", "source", "frame", "face", "identity_distance", "direction", "run", "epoch", "method",
               *STYLE_FIELDS]
METHODS = ("render", "gan")
DETECTOR = {"render": "auto", "gan": "hog"}  # auto: hog, and dlib's CNN where hog finds no face (masked faces)
UPSAMPLE = {"render": None, "gan": 1}  # None: picked from each photo's size (util.faces.detect.auto_upsample)
RENDER_CROP_SIZE = 256
# flags that belong to one method only: given with the other, they are refused
GAN_ONLY = ("name", "checkpoints_dir", "epoch", "load_iter", "direction", "feather", "gpu_ids", "batch_size", "amp",
            "channels_last", "compile", "eval")
RENDER_ONLY = ("mask_type", "color", "pattern", "pattern_weight", "wear", "seed", "save_masks", "crop_size")


def upsample_choice(text: str) -> int | None:
    return None if text == "auto" else non_negative_int(text)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in --help, except where the default depends on --method (the help says it)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--method", choices=METHODS, default=None,
                   help="render: draw masks (no training, no torch); gan: a trained run's generator "
                        "(default: gan with --name, render without)")
    g = p.add_argument_group("--method render: the masks drawn")
    add_mask_style_flags(g)
    g.add_argument("--wear", choices=(*WEARS, "random"), default="correct",
                   help="how the mask sits: correct, under the nose, on the chin, ...; random: one drawn per face")
    g.add_argument("--seed", type=non_negative_int, default=0,
                   help="random choices are drawn per face from this and the face's place (path, frame, index)")
    g.add_argument("--crop_size", type=positive_int, default=None,
                   help=f"side of the --save_pairs crops (default: {RENDER_CROP_SIZE}; gan: the run's input size)")
    g.add_argument("--save_masks", action="store_true",
                   help="also write each photo's masks' opacity: OUTPUT/masks/REL.png (a video: OUTPUT/masks/REL/"
                        "NNNNNN.png per frame)")
    g = p.add_argument_group("--method gan: the trained run (taken as test.py takes it)")
    g.add_argument("--name", default=None, help="the run's name under --checkpoints_dir")
    g.add_argument("--checkpoints_dir", default="./checkpoints")
    g.add_argument("--epoch", default="latest", help="checkpoint label: latest or an epoch number")
    g.add_argument("--load_iter", type=non_negative_int, default=0, help="load iter_<N> checkpoints instead")
    g.add_argument("--direction", choices=("on", "off"), default="on",
                   help="on: G_AB puts masks on; off: G_BA takes them off (a pix2pix run: on needs one "
                        "trained AtoB, off one trained BtoA)")
    g.add_argument("--feather", type=finite_non_negative, default=0.12,
                   help="width of the blended edge, as a fraction of the face square's side")
    g = p.add_argument_group("photos")
    g.add_argument("--input", nargs="+", required=True, help="photos, videos, and folders searched recursively")
    g.add_argument("--output", required=True, help="where the masked photos, faces.jsonl and summary.json go")
    g.add_argument("--save_pairs", default=None,
                   help="also write each face's aligned crop before and after: DIR/A (unmasked), DIR/B (masked), "
                        "for render DIR/mask (the mask's opacity), DIR/pairs.csv")
    g.add_argument("--overwrite", action="store_true",
                   help="write into an --output (and --save_pairs) that holds results of other arguments")
    g = p.add_argument_group("faces")
    g.add_argument("--detector", choices=DETECTORS, default=None,
                   help=f"hog: fast, upright unmasked faces; cnn: also masked and turned faces, far slower; auto: "
                        f"hog, and cnn where hog finds none (default: {DETECTOR['render']} for render, "
                        f"{DETECTOR['gan']} for gan)")
    g.add_argument("--upsample", type=upsample_choice, default=None,
                   help="times the photo is doubled for the detector (1 finds faces down to about 40 px), or auto: "
                        "picked from each photo's size (default: auto for render, 1 for gan)")
    g.add_argument("--min_score", type=finite_float, default=None,
                   help=f"detections scoring lower are not faces (default: {DEFAULT_MIN_SCORE['hog']} for hog and "
                        f"auto, where a HOG score under {HOG_CONFIDENT} counts only if dlib's CNN finds the face on "
                        f"a crop around it; {DEFAULT_MIN_SCORE['cnn']} for cnn; {HOG_CONFIDENT} is the old HOG rule)")
    g.add_argument("--max_side", type=positive_int, default=2048,
                   help="larger photos are searched at this size (landmarks at full size)")
    g.add_argument("--min_face_size", type=finite_non_negative, default=32.0,
                   help="faces whose FFHQ square is smaller (px) are left as they are (status too_small)")
    g.add_argument("--identity", action="store_true",
                   help="measure dlib's identity distance of each face before and after (also done for "
                        "--save_pairs and --max_identity_distance; otherwise null: it is the slowest step)")
    g.add_argument("--max_identity_distance", type=finite_non_negative, default=None,
                   help=f"keep the original face where the masked one's dlib descriptor is farther than "
                        f"this from it (dlib's same-person threshold: {SAME_PERSON})")
    g = p.add_argument_group("speed")
    g.add_argument("--num_threads", type=non_negative_int, default=2,
                   help="worker processes for decoding, detection, masking and writing (0: all in this process)")
    g.add_argument("--gpu_ids", default="0", help="gan: e.g. 0; -1 for the CPU")
    g.add_argument("--batch_size", type=positive_int, default=16,
                   help="gan: faces per generator call (a photo's faces always go together)")
    g.add_argument("--amp", choices=("none", "bf16", "fp16", "auto"), default="none",
                   help="gan, as test.py (auto: bf16 where the device computes it natively, otherwise none)")
    g.add_argument("--channels_last", action="store_true", help="gan, as test.py")
    g.add_argument("--compile", action="store_true", help="gan, as test.py")
    g.add_argument("--eval", action="store_true", help="gan: batch norm with running statistics, no dropout")
    return p


def gan_amp(args: argparse.Namespace) -> str:
    """``--amp`` as the generator will run it on the device --gpu_ids leads to (auto settled as test.py
    settles it, and test.py's warning for bf16 on a CPU that emulates it): what the output depends on."""
    import torch

    from models import acceleration
    from options.base_options import parse_gpu_ids

    ids = parse_gpu_ids(args.gpu_ids)
    device = torch.device(f"cuda:{ids[0]}" if ids and torch.cuda.is_available() else "cpu")
    return acceleration.choose_amp(args.amp, device, lambda line: print(f"{PROG}: warning: {line}"))


def settle(args: argparse.Namespace, given: set[str]) -> argparse.Namespace:
    """The parsed arguments with the method settled (the other method's flags refused) and the defaults
    that depend on it filled in, as a new namespace."""
    args = argparse.Namespace(**vars(args))
    if args.method is None:
        args.method = "gan" if args.name is not None else "render"
    if args.method == "gan" and args.name is None:
        raise UserError("--method gan needs --name, the trained run to use (--method render needs none)")
    other = RENDER_ONLY if args.method == "gan" else GAN_ONLY
    refused = [f"--{dest}" for dest in other if dest in given]
    if refused:
        owner = "render" if args.method == "gan" else "gan"
        raise UserError(f"{', '.join(refused)}: only for --method {owner}, and this run is --method {args.method}")
    if args.detector is None:
        args.detector = DETECTOR[args.method]
    if "upsample" not in given:
        args.upsample = UPSAMPLE[args.method]
    if args.method == "render" and args.pattern not in PATTERNS:
        read_pattern(args.pattern)  # one line naming --pattern if it is missing or unreadable, before any work
        args.pattern = str(Path(args.pattern).resolve())
    if args.method == "render" and args.crop_size is None:
        args.crop_size = RENDER_CROP_SIZE
    args.identity = args.identity or bool(args.save_pairs) or args.max_identity_distance is not None
    return args


# ----------------------------------------------------------------------------- the two methods


def run_generator(args: argparse.Namespace) -> str:
    """The run's generator file for --direction (G_A, G_B, or a pix2pix run's G); a pix2pix run trained
    the other way is refused in one line."""
    run = run_generators(Path(args.checkpoints_dir) / args.name)
    generator = run.generator(DIRECTION[args.direction])
    if generator is None:
        does = "puts masks on" if run.trained == "AtoB" else "takes masks off"
        other = "on" if args.direction == "off" else "off"
        raise UserError(f"--direction {args.direction}: {run.describe()}, so its one generator {does}: pass "
                        f"--direction {other}, or --name a pix2pix run trained {DIRECTION[args.direction]} or a "
                        "CycleGAN run")
    return generator


def load_generator(args: argparse.Namespace):
    """The run's G_AB or G_BA (pix2pix: G) as test.py builds it, and a function uint8 crops -> uint8 crops."""
    generator = run_generator(args)
    import torch

    import test as test_script  # the repository's test.py
    from models.cycle_gan_model import select_device
    from models.test_model import TestModel
    from options.base_options import usable_gpu_ids
    from options.test_options import parse_test_options
    from util.image_io import tensors_to_images

    argv = ["--dataroot", ".", "--name", args.name, "--checkpoints_dir", args.checkpoints_dir, "--model", "test",
            "--model_suffix", generator[1:], "--epoch", args.epoch, "--load_iter", str(args.load_iter),
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

    weights = test_script.net_path(run_dir, test_script.checkpoint_label(opt), generator)
    return translate, opt, weights


def gan_method(args: argparse.Namespace) -> tuple[PasteBack, int, Path]:
    """The run's generator as the pipeline's method (translations pasted back), its crop size, its weights."""
    translate, opt, weights = load_generator(args)
    return PasteBack(translate, args.feather, name="gan"), opt.crop_size, weights


@dataclass(frozen=True)
class RenderMasks:
    """The mask renderer as the pipeline's method: nothing in bulk; each face's mask drawn in a worker."""

    renderer: MaskRenderer
    name = "render"
    needs_crops = False

    def batch(self, crops: np.ndarray) -> None:
        return None

    def apply(self, photo: np.ndarray, face: FacePlan, translated: np.ndarray | None,
              key: str) -> tuple[np.ndarray, np.ndarray, dict]:
        done = self.renderer.render(photo, face.landmarks, key)
        return done.photo, done.opacity, done.style  # a user's pattern image is named by its path


def render_method(args: argparse.Namespace) -> RenderMasks:
    return RenderMasks(MaskRenderer(mask_type=args.mask_type, colors=args.color or (), pattern=args.pattern,
                                    pattern_weight=args.pattern_weight, wear=args.wear, seed=args.seed))


# ----------------------------------------------------------------------------- the output folder


def fingerprint(args: argparse.Namespace, crop_size: int, weights: Path | None) -> dict:
    """What decides the output: a run with the same fingerprint continues the earlier one."""
    plan = {"method": args.method, "inputs": [str(Path(i).resolve()) for i in args.input], "crop_size": crop_size,
            "save_pairs": str(Path(args.save_pairs).resolve()) if args.save_pairs else None,
            **{k: getattr(args, k) for k in ("detector", "upsample", "min_score", "max_side", "min_face_size",
                                              "identity", "max_identity_distance")}}
    if weights is not None:
        stat = weights.stat()
        plan.update({"direction": args.direction, "weights": str(weights.resolve()), "weights_size": stat.st_size,
                     "weights_mtime_ns": stat.st_mtime_ns, "amp": args.amp, "eval": args.eval,
                     "feather": args.feather})
    else:
        plan.update({k: getattr(args, k) for k in ("mask_type", "pattern", "pattern_weight", "wear", "seed",
                                                    "save_masks")}, colors=list(args.color or ()))
        if args.pattern not in PATTERNS:
            stat = Path(args.pattern).stat()
            plan.update(pattern_size=stat.st_size, pattern_mtime_ns=stat.st_mtime_ns)
    return plan


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
    photos = {source: e for source, e in done.items() if "skipped" not in e and "frames" not in e}
    videos = [e for e in done.values() if "frames" in e]
    processed = stats.photos + stats.frames
    return {
        "method": plan["method"],
        "photos": len(photos), "photos_without_faces": sum(e["faces"] == 0 for e in photos.values()),
        "no_face_photos": [source for source, e in photos.items() if e["faces"] == 0],
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
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = settle(parser.parse_args(argv), explicit_flags(parser, argv))
    output = Path(args.output)
    check_output_folder(output, args.input)
    if args.save_pairs:
        check_output_folder(Path(args.save_pairs), args.input)
    items = find_inputs(args.input)
    if args.save_masks:
        check_mask_paths(items)
    if args.method == "gan":
        args.amp = gan_amp(args)  # auto settled: the output folder's fingerprint records the precision used
        method, crop_size, weights = gan_method(args)
        pair_columns = {"direction": args.direction, "run": args.name,
                        "epoch": f"iter_{args.load_iter}" if args.load_iter else args.epoch}
        what = f"{weights.name} of {args.name}, faces at {crop_size} px"
    else:
        method, crop_size, weights = render_method(args), args.crop_size, None
        pair_columns = {"direction": "on", "run": "", "epoch": ""}
        what = f"{args.mask_type} masks worn {args.wear}"
    plan = fingerprint(args, crop_size, weights)
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
                        max_side=args.max_side, crop_size=crop_size, min_face_size=args.min_face_size,
                        feather=args.feather, max_identity_distance=args.max_identity_distance,
                        identity=args.identity, direction=args.direction, save_masks=args.save_masks)
    print(f"{PROG}: {len(todo)} of {len(items)} inputs to do, --method {args.method}: {what}, "
          f"detector {args.detector}")
    t0 = time.perf_counter()
    stats = run(items, output, settings, method, args.batch_size, args.num_threads,
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
