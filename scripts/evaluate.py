"""Evaluate a test.py output: FID and KID in both directions, and paired, mask-aware PSNR/SSIM.

    python scripts/evaluate.py --results_dir results/masks/test_latest --dataroot datasets/masks

- FID_AB / KID_AB: ``*_fake_B.png`` (G_AB's masked faces) against the real ``<dataroot>/testB``;
  FID_BA / KID_BA: ``*_fake_A.png`` against ``<dataroot>/testA``. Real-image statistics are cached
  by content (``--cache_dir``), so evaluating many epochs reads the real folders once.
- A pix2pix result (``model`` in the folder's test_opt.json) has one direction, its run's: its
  classic labels say ``fake_B`` (input ``real_A``, true target ``real_B``) either way, but with
  ``--direction BtoA`` the fakes are unmasked faces, so they are scored as BA, against testA. Where
  the dataroot has no testA/testB, the real images are the results' own ``*_real_B.png``.
- Where testA/NAME and testB/NAME are the same face (a paired test set): PSNR and SSIM of each
  fake_B against its real masked face and of each fake_A against its real unmasked face, and, where
  ``<dataroot>/testmask`` exists, inside and outside the mask region. The same numbers for the
  untranslated input are given as a baseline: outside the mask the input is the ideal.
- Identity, on the same paired test set (``--identity``, the default where dlib is installed and
  some NAME is in both testA and testB; ``--no_identity`` skips it): dlib's face-descriptor distance
  of each fake_B to its true masked face testB/NAME and to its input real_A (AB), and of each fake_A
  to testA/NAME and to its input real_B (BA); mean, median, and the share of pairs under dlib's
  same-person threshold 0.6. Faces dlib cannot find are counted per role (fake, true, input), and a
  pair missing any face is left out of the means. ``--identity_detector hog|cnn|hog+cnn`` (default:
  HOG, then the CNN where HOG finds nothing); util/metrics/identity.py says what each costs.

- Mask localisation, where ``<dataroot>/testmask`` exists: the IoU of the region each translation
  changed with the true mask, AB (fake_B against its input real_A) and BA (fake_A against real_B).
  For every run the changed region is where the mean over channels of |fake - input| exceeds
  ``--change_threshold`` levels of 0-255 (default 16; util/metrics/localisation.py says why); for
  ``--attention`` runs also where the generator's map (``*_attn_B.png`` / ``*_attn_A.png``) is above
  0.5. Means over the test pairs.

Writes ``metrics.json`` and ``metrics.md`` into the results folder and prints the table.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.image_folder import find_images, load_image  # noqa: E402
from data.transforms import get_transform  # noqa: E402
from options.base_options import OneLineParser, positive_int  # noqa: E402
from scripts.fid import FeatureSource, add_inception_flags  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.metrics import identity, localisation  # noqa: E402
from util.metrics.fid import default_cache_dir, fid_from_statistics, small_set_warning  # noqa: E402
from util.metrics.kid import kernel_inception_distance  # noqa: E402
from util.metrics.paired import psnr, ssim  # noqa: E402

# direction -> (fake label, real folder suffix, input label, reference label)
DIRECTIONS = {"AB": ("fake_B", "B", "real_A", "real_B"), "BA": ("fake_A", "A", "real_B", "real_A")}
MAP_LABELS = {"AB": "attn_B", "BA": "attn_A"}  # the attention map of each direction's generator


def is_pix2pix(test_opt: dict | None) -> bool:
    return (test_opt or {}).get("model") == "pix2pix"


def result_directions(test_opt: dict | None) -> dict[str, tuple[str, str, str, str]]:
    """The directions a results folder holds, as in ``DIRECTIONS``. pix2pix names its images
    real_A -> fake_B (target real_B) whatever its --direction; BtoA's fakes are domain A's."""
    if not is_pix2pix(test_opt):
        return DIRECTIONS
    d = "BA" if test_opt.get("direction") == "BtoA" else "AB"
    return {d: ("fake_B", d[1], "real_A", "real_B")}


def labelled(images_dir: Path, label: str) -> dict[str, Path]:
    """NAME (relative path without extension) -> file, for every ``NAME_<label>.png``."""
    suffix = f"_{label}.png"
    return {str(p.relative_to(images_dir))[: -len(suffix)]: p for p in sorted(images_dir.rglob(f"*{suffix}"))}


def by_stem(folder: Path) -> dict[str, str]:
    return {str(Path(p).relative_to(folder).with_suffix("")): p for p in find_images(folder)} if folder.is_dir() else {}


def as_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64) / 255.0


def reference_image(path: str, size: tuple[int, int], test_opt: dict | None, grayscale: bool = False) -> np.ndarray:
    """A dataroot image brought to a result's geometry, as test.py prepared its input."""
    img = load_image(path, grayscale)
    if test_opt and test_opt.get("preprocess", "none") != "none":
        t = get_transform(test_opt["preprocess"], test_opt.get("load_size") or test_opt["crop_size"],
                          test_opt["crop_size"], flip=False, train=False)
        arr = ((t(img).numpy().transpose(1, 2, 0) + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    if img.size != size:
        img = img.resize(size, Image.Resampling.NEAREST if grayscale else Image.Resampling.BICUBIC)
    return as_array(img)


def paired_metrics(fakes: dict[str, Path], inputs: dict[str, Path], refs: dict[str, Path], real_folder: Path,
                   masks: dict[str, str], test_opt: dict | None) -> dict:
    """Mean PSNR/SSIM of fakes and of their inputs against the real paired images."""
    real_files = by_stem(real_folder)
    rows: dict[str, list[float]] = {}
    count = 0
    for name, fake_path in fakes.items():
        if name not in refs and name not in real_files:
            continue
        fake = as_array(load_image(fake_path))
        size = (fake.shape[1], fake.shape[0])
        real = as_array(load_image(refs[name])) if name in refs else reference_image(real_files[name], size, test_opt)
        if real.shape != fake.shape:
            real = as_array(Image.fromarray((real * 255).round().astype(np.uint8)).resize(size, Image.Resampling.BICUBIC))
        mask = reference_image(masks[name], size, test_opt, grayscale=True) > 0.5 if name in masks else None
        candidates = {"fake": fake}
        if name in inputs:
            candidates["input"] = as_array(load_image(inputs[name]).resize(size, Image.Resampling.BICUBIC))
        count += 1
        for who, img in candidates.items():
            values = {"psnr": psnr(img, real), "ssim": ssim(img, real)}
            if mask is not None:
                values.update(psnr_in_mask=psnr(img, real, mask), ssim_in_mask=ssim(img, real, mask),
                              psnr_outside=psnr(img, real, ~mask), ssim_outside=ssim(img, real, ~mask))
            for metric, v in values.items():
                rows.setdefault(f"{who}.{metric}", []).append(v)
    if not count:
        return {}
    out: dict = {"pairs": count}
    for key, values in rows.items():
        who, metric = key.split(".")
        finite = [v for v in values if math.isfinite(v)]
        out.setdefault(who, {})[metric] = float(np.mean(finite)) if finite else None
    return out


def localisation_metrics(fakes: dict[str, Path], inputs: dict[str, Path], maps: dict[str, Path],
                         input_folder: Path, masks: dict[str, str], test_opt: dict | None, threshold: float) -> dict:
    """Mean IoU with the true mask of the pixels each fake changed (and, where its map was saved, of
    its attention map above 0.5); see util/metrics/localisation.py."""
    input_files = by_stem(input_folder)
    changed, attended = [], []
    for name, fake_path in fakes.items():
        if name not in masks or (name not in inputs and name not in input_files):
            continue
        fake = np.asarray(load_image(fake_path), dtype=np.float64)
        size = (fake.shape[1], fake.shape[0])
        if name in inputs:
            img = load_image(inputs[name])
            source = np.asarray(img if img.size == size else img.resize(size, Image.Resampling.BICUBIC), np.float64)
        else:
            source = reference_image(input_files[name], size, test_opt) * 255.0
        truth = reference_image(masks[name], size, test_opt, grayscale=True) > 0.5
        changed.append(localisation.iou(localisation.changed_region(fake, source, threshold), truth))
        if name in maps:
            img = load_image(maps[name], grayscale=True)
            alpha = as_array(img if img.size == size else img.resize(size, Image.Resampling.BILINEAR))
            attended.append(localisation.iou(localisation.attention_region(alpha), truth))
    if not changed:
        return {}
    return {"pairs": len(changed), "change_threshold": threshold, "iou_change": float(np.mean(changed)),
            "attention_pairs": len(attended), "alpha_threshold": localisation.ALPHA_THRESHOLD,
            "iou_attention": float(np.mean(attended)) if attended else None}


def identity_metrics(fakes: dict[str, Path], inputs: dict[str, Path], real_folder: Path, names: set[str],
                     test_opt: dict | None, describe: identity.Describer, refs: dict[str, Path] | None = None) -> dict:
    """Descriptor distances of each fake named in ``names`` to its true counterpart in ``real_folder``
    (brought to the fake's geometry; else its reference in the results, ``refs``, as pix2pix writes
    them) and to its input (see util/metrics/identity.py)."""
    real_files, refs = by_stem(real_folder), refs or {}
    rows = []
    for name, fake_path in fakes.items():
        if name not in names or (name not in real_files and name not in refs):
            continue
        fake = np.asarray(load_image(fake_path))
        size = (fake.shape[1], fake.shape[0])
        if name in real_files:
            true = (reference_image(real_files[name], size, test_opt) * 255).round().astype(np.uint8)
        else:
            true = np.asarray(load_image(refs[name]).resize(size, Image.Resampling.BICUBIC))
        row = {"name": name, "fake": describe(fake), "true": describe(true)}
        if name in inputs:
            row["input"] = describe(np.asarray(load_image(inputs[name]).resize(size, Image.Resampling.BICUBIC)))
        rows.append(row)
    return identity.summarize(rows, describe.detector)


def fmt(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.0f}%"


def markdown(metrics: dict) -> str:
    lines = ["| direction | FID | KID x 1000 (mean ± std) | fakes | reals |", "|---|---|---|---|---|"]
    for d, m in metrics["directions"].items():
        kid = f"{m['kid_mean'] * 1000:.2f} ± {m['kid_std'] * 1000:.2f}"
        lines.append(f"| {d} ({m['fake_label']} vs real {m['real_folder']}) | {m['fid']:.2f} | {kid} | "
                     f"{m['n_fake']} | {m['n_real']} |")
    paired = [(d, m["paired"]) for d, m in metrics["directions"].items() if m.get("paired")]
    if paired:
        cols = ["psnr", "ssim", "psnr_in_mask", "ssim_in_mask", "psnr_outside", "ssim_outside"]
        lines += ["", "| direction | image | pairs | " + " | ".join(cols) + " |", "|---" * (len(cols) + 3) + "|"]
        for d, p in paired:
            for who in ("fake", "input"):
                if who in p:
                    vals = [fmt(p[who].get(c), 3 if c.startswith("ssim") else 2) for c in cols]
                    lines.append(f"| {d} | {who} | {p['pairs']} | " + " | ".join(vals) + " |")
    located = [(d, m["localisation"]) for d, m in metrics["directions"].items() if m.get("localisation")]
    if located:
        threshold = located[0][1]["change_threshold"]
        lines += ["", f"| direction | pairs | mask IoU: changed (mean \\|fake - input\\| > {threshold:g}) "
                  "| mask IoU: attention > 0.5 | maps |", "|---" * 5 + "|"]
        for d, loc in located:
            lines.append(f"| {d} | {loc['pairs']} | {fmt(loc['iou_change'], 3)} | {fmt(loc['iou_attention'], 3)} "
                         f"| {loc['attention_pairs']} |")
    faces = [(d, m["identity"]) for d, m in metrics["directions"].items() if m.get("identity")]
    if faces:
        threshold = faces[0][1]["threshold"]
        lines += ["", "| direction | pairs | not found: pairs (fake / true / input) | "
                  + " | ".join(f"{c} mean | {c} median | {c} < {threshold:g}"
                               for c in ("fake vs true", "fake vs input")) + " |", "|---" * 9 + "|"]
        for d, f in faces:
            n = f["not_found"]
            cells = [f"{fmt(f[c]['mean'], 3)} | {fmt(f[c]['median'], 3)} | {percent(f[c]['share_under_threshold'])}"
                     for c in identity.COMPARISONS]
            lines.append(f"| {d} | {f['pairs']} | {n['pairs']} ({n['fake']} / {n['true']} / {n['input']}) | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--results_dir", required=True, help="a test.py output folder, results/<name>/<phase>_<epoch>")
    p.add_argument("--dataroot", required=True, help="the data set the results were made from (testA, testB, testmask)")
    p.add_argument("--phase", default=None, help="real folders <phase>A/B (default: test.py's --phase, else test)")
    add_inception_flags(p)
    p.add_argument("--kid_subsets", type=positive_int, default=100)
    p.add_argument("--kid_subset_size", type=positive_int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="for the KID subsets")
    p.add_argument("--cache_dir", default=str(default_cache_dir()), help="real-image statistics cache")
    p.add_argument("--no_cache", action="store_true", help="neither read nor write the cache")
    on_off = p.add_mutually_exclusive_group()
    on_off.add_argument("--identity", action="store_true", default=None,
                        help="dlib face-descriptor distances on a paired test set; None: on where dlib is "
                             "installed and the test set is paired")
    on_off.add_argument("--no_identity", dest="identity", action="store_false", default=argparse.SUPPRESS,
                        help="skip the identity distances")
    p.add_argument("--identity_detector", choices=identity.DETECTORS, default="hog+cnn",
                   help="hog: fast, misses most masked faces; cnn: about 0.15 s an image; hog+cnn: the CNN only "
                        "where HOG finds nothing")
    p.add_argument("--change_threshold", type=float, default=localisation.CHANGE_THRESHOLD,
                   help="mask localisation (with <dataroot>/<phase>mask): a pixel counts as changed where the mean "
                        "over channels of |fake - input| exceeds this many levels of 0-255. 16 is a clearly "
                        "visible change, and on the toy faces' test set the true mask changes 94%% of its pixels "
                        "by more (util/metrics/localisation.py)")
    args = p.parse_args(argv)
    if not 0 <= args.change_threshold < 255:
        raise UserError(f"--change_threshold {args.change_threshold} must be at least 0 and below 255 "
                        "(levels of the 0-255 scale)")

    results, root = Path(args.results_dir), Path(args.dataroot)
    if not results.is_dir():
        raise UserError(f"--results_dir {results} does not exist: run test.py first")
    if not root.is_dir():
        raise UserError(f"--dataroot {root} does not exist or is not a folder")
    images_dir = results / "images" if (results / "images").is_dir() else results
    opt_file = results / "test_opt.json"
    test_opt = json.loads(opt_file.read_text()) if opt_file.is_file() else None
    phase = args.phase or (test_opt or {}).get("phase", "test")
    directions = result_directions(test_opt)
    found = {d: labelled(images_dir, spec[0]) for d, spec in directions.items()}
    if not any(found.values()):
        raise UserError(f"no *_fake_B.png or *_fake_A.png in {images_dir}: run test.py --model cycle_gan "
                        "(or pix2pix) first")
    for d, fakes in found.items():
        real = root / f"{phase}{directions[d][1]}"
        if fakes and not real.is_dir() and not (is_pix2pix(test_opt) and labelled(images_dir, directions[d][3])):
            raise UserError(f"{real} does not exist: check --dataroot and --phase (FID_{d} needs the real images)")

    paired_names = set(by_stem(root / f"{phase}A")) & set(by_stem(root / f"{phase}B"))
    if is_pix2pix(test_opt):  # each fake's true pair is in the results
        paired_names |= set(labelled(images_dir, "real_B"))
    describe, skipped = None, None
    if args.identity is not False:
        if not any(paired_names.intersection(fakes) for fakes in found.values()):
            if args.identity:
                raise UserError(f"--identity needs a paired test set: no fake's NAME is in both {phase}A and "
                                f"{phase}B of {root}")
        elif (skipped := identity.unavailable(args.identity_detector)) is None:
            describe = identity.Describer(args.identity_detector)
        elif args.identity:
            raise UserError(f"--identity: {skipped}")

    source = FeatureSource(args, None if args.no_cache else args.cache_dir)
    masks = by_stem(root / f"{phase}mask")
    metrics: dict = {"results_dir": str(results), "dataroot": str(root), "dims": args.dims,
                     "inception_weights": str(source.weights), "weights_sha256": source.weights_sha256,
                     "directions": {}, "warnings": []}
    if skipped:
        metrics["warnings"].append(f"identity distances skipped: {skipped} (--no_identity silences this)")
    for d, fakes in found.items():
        if not fakes:
            continue
        fake_label, side, input_label, ref_label = directions[d]
        real_folder = root / f"{phase}{side}"
        refs = labelled(images_dir, ref_label)
        fake_stats = source.folder(images_dir, f"fake ({fake_label})", paths=[str(p) for p in fakes.values()])
        if real_folder.is_dir():
            real_name, real_where = real_folder.name, str(real_folder)
            real_stats = source.folder(real_folder, f"real {real_folder.name}", cached=True)
        else:  # pix2pix without testA/testB: the true targets it wrote beside its fakes
            real_name, real_where = f"*_{ref_label}.png", f"{images_dir}/*_{ref_label}.png"
            real_stats = source.folder(images_dir, f"real ({ref_label})", paths=[str(p) for p in refs.values()])
        kid_mean, kid_std, subset = kernel_inception_distance(fake_stats.features, real_stats.features,
                                                              args.kid_subsets, args.kid_subset_size, args.seed)
        for stats, what in ((fake_stats, f"{fake_label} ({d})"), (real_stats, real_where)):
            warning = small_set_warning(stats.count, args.dims, what)
            if warning and warning not in metrics["warnings"]:
                metrics["warnings"].append(warning)
        metrics["directions"][d] = {
            "fake_label": fake_label, "real_folder": real_name, "n_fake": fake_stats.count,
            "n_real": real_stats.count, "fid": fid_from_statistics(fake_stats, real_stats),
            "kid_mean": kid_mean, "kid_std": kid_std, "kid_subset_size": subset, "kid_subsets": args.kid_subsets,
            "paired": paired_metrics(fakes, labelled(images_dir, input_label), refs, real_folder, masks, test_opt),
        }
        if masks:
            metrics["directions"][d]["localisation"] = localisation_metrics(
                fakes, labelled(images_dir, input_label), labelled(images_dir, MAP_LABELS[d]),
                root / f"{phase}{'A' if side == 'B' else 'B'}", masks, test_opt, args.change_threshold)
        if describe:
            print(f"identity {d}: dlib face descriptors ({args.identity_detector}) of the paired {fake_label} images")
            metrics["directions"][d]["identity"] = identity_metrics(
                fakes, labelled(images_dir, input_label), real_folder, paired_names, test_opt, describe, refs)
    table = markdown(metrics)
    (results / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (results / "metrics.md").write_text(table)
    for warning in metrics["warnings"]:
        print(warning, file=sys.stderr)
    print(table, end="")
    print(f"wrote {results / 'metrics.json'} and {results / 'metrics.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "evaluate.py"))
