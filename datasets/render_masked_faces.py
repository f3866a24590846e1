"""Make a MaskedFace-Net-style masked set from any unmasked faces with the mask renderer: FFHQ, LFW,
CelebA or your own identities, with the exact mask of every image, on one machine or many.

    # FFHQ: its metadata holds every face's 68 landmarks, so nothing is detected
    python datasets/render_masked_faces.py --src /data/ffhq/images1024x1024 \\
        --landmarks /data/ffhq/ffhq-dataset-v2.json --out /data/ffhq_masked --size 256
    # a folder per person (LFW, your own): faces are found and aligned as FFHQ aligns them
    python datasets/render_masked_faces.py --src /data/lfw --out /data/lfw_masked --mask_type random
    # on a SLURM cluster: an array of shards, then a merge job (scripts/render_masked_faces.sh)
    bash scripts/render_masked_faces.sh --src /data/ffhq/images1024x1024 --landmarks ... --out ...

Layout of ``--out`` (NNNNN: the face's index, as in MaskedFace-Net; thousand-folders as in FFHQ)::

    unmasked/00000/00042.png                        the face the mask was drawn on (--size)
    masked/CMFD/00000/00042_Mask.jpg                 worn correctly
    masked/IMFD/00000/00043_Mask_Mouth_Chin.jpg      nose uncovered (wear "nose")
    masked/IMFD/00000/00044_Mask_Nose_Mouth.jpg      chin uncovered (wear "chin")
    masked/IMFD/00000/00045_Mask_Chin.jpg            nose and mouth uncovered (wear "nose_mouth")
    masks/CMFD/00000/00042_Mask.png                  the mask's opacity, 0..255, the masked image's name
    labels.csv                                       a row per face (LABEL_COLUMNS)
    summary.json                                     counts, and every source left out and why
    paired/                                          with --paired: the pix2pix split (see below)
    plan.json, labels/part-K-of-N.{csv,json}         the run's key, and each shard's own part

so ``prepare_masked_faces.py --ffhq OUT/unmasked --maskedfacenet OUT/masked --masks OUT/masks`` curates
it exactly as it curates FFHQ and MaskedFace-Net, and its testmask/ is then the true mask.

The index: with ``--landmarks``, FFHQ's own (the metadata's key, so 00042 is FFHQ's 00042.png); else
a source named by a number (``42.png``) keeps its number; else the source's place in the sorted list
of sources. Every face gets one mask, its wear drawn from ``--wear_mix``; the type, colour and wear
depend only on ``--seed`` and the source's path, never on the shard or the order.

Faces: with ``--landmarks`` each image is taken as the aligned face it is (square images are only
resized to ``--size``; others are cut along FFHQ's square from their landmarks). Without it, dlib
finds the faces (``--detector``, as mask_photos.py) and the largest is cut along FFHQ's square from
its 68 landmarks. A source that cannot be read or shows no face is warned about, counted in
summary.json, and the run goes on; a ``--landmarks`` file that does not match the images (an image
it lacks, a size it does not give), a ``--wear_mix`` that does not parse or sum to 1, or an ``--out``
inside ``--src`` stop the run before it writes anything.

Identity (labels.csv's ``identity``): ``--identities folder`` takes the first folder under ``--src``
(LFW's ``Aaron_Eckhart/Aaron_Eckhart_0001.jpg``); ``auto`` does so unless the folders are FFHQ's
thousand-folders or ``--landmarks`` is given.

Scale: a second run with the same arguments writes nothing, a killed run finishes only what is
missing (every file is written whole or not at all). ``--shard K/N``, or a SLURM array's
``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT``, or torchrun's ``RANK``/``WORLD_SIZE``, gives
this process every N-th source from K (util/shards.py). Each shard writes its own faces and its
part of the labels; ``--merge --out DIR`` (run once, after the shards) joins the parts into
labels.csv and summary.json, exactly as one unsharded run would have written them. An unsharded run
merges by itself.

``--paired`` (at the merge) also writes ``OUT/paired/``: prepare_masked_faces.py's pix2pix split of
the rendered pairs (train/ and test/ AB images, unmasked | masked; trainmask/, testA/, testB/,
testmask/ with the true masks) with ``--n_test`` test faces. Its test faces are the ones the unpaired
curation with the same ``--seed`` and ``--n_test`` takes, so a pix2pix and a CycleGAN are scored on the
same faces (docs/rendered_sets.md).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from util.cli import OneLineParser, add_mask_style_flags, non_negative_int, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402
from util.files import IMG_EXTENSIONS, write_atomically  # noqa: E402
from util.masks.shapes import WEARS  # noqa: E402
from util.masks.texture import PATTERNS, read_pattern  # noqa: E402
from util.shards import Shard, current_shard  # noqa: E402

PROG = "render_masked_faces.py"
# wear -> MaskedFace-Net's tree and file suffix: CMFD is "correctly masked", IMFD "incorrectly"; the
# suffix names what the mask covers (_Mask_Mouth_Chin: the nose is out)
CLASSES = {"correct": ("CMFD", "_Mask"), "nose": ("IMFD", "_Mask_Mouth_Chin"),
           "chin": ("IMFD", "_Mask_Nose_Mouth"), "nose_mouth": ("IMFD", "_Mask_Chin")}
# MaskedFace-Net's own balance: 67,193 CMFD and 69,823 IMFD images (its README: about half each), and
# within IMFD about 80% with the nose uncovered, the rest split between the chin and nose and mouth
# uncovered (Cabani et al. 2021)
DEFAULT_WEAR_MIX = "correct:0.5,nose:0.4,chin:0.05,nose_mouth:0.05"
LABEL_COLUMNS = ["file", "mask", "unmasked", "source", "index", "identity", "mask_type", "color", "pattern",
                 "wear", "class"]
FFHQ_FOLDER = re.compile(r"^\d{5}$")  # FFHQ's thousand-folders (00000, 01000, ...): not identities
PLAN_VERSION = 1
PARTS = "labels"
OWNED = ("unmasked", "masked", "masks", "paired", PARTS, "plan.json", "labels.csv", "summary.json")


# --------------------------------------------------------------------------------------------- #
# The choices
# --------------------------------------------------------------------------------------------- #


def parse_wear_mix(text: str) -> dict[str, float]:
    """``correct:0.5,nose:0.4,...`` -> {wear: share} over every wear (0 where not named); sums to 1."""
    mix = dict.fromkeys(WEARS, 0.0)
    for part in text.split(","):
        name, sep, share = part.partition(":")
        name = name.strip()
        if not sep or name not in mix:
            raise ValueError(f"{part.strip()!r} is not WEAR:SHARE with WEAR one of {', '.join(WEARS)}")
        try:
            value = float(share)
        except ValueError:
            value = float("nan")
        if not 0 <= value <= 1:
            raise ValueError(f"the share of {name}, {share.strip()!r}, is not a number from 0 to 1")
        mix[name] += value
    total = sum(mix.values())
    if abs(total - 1) > 1e-6:
        raise ValueError(f"the shares add up to {total:g}, not 1")
    return mix


def wear_mix_arg(text: str) -> dict[str, float]:
    try:
        return parse_wear_mix(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def draw_wear(mix: dict[str, float], seed: int, key: str) -> str:
    """The wear of the face ``key``: one uniform draw from (seed, key) against the mix's cumulative shares."""
    digest = hashlib.sha256(f"{seed}\0{key}\0wear".encode()).digest()
    u = int.from_bytes(digest[:8], "little") / 2.0 ** 64
    edge = 0.0
    named = [w for w in WEARS if mix[w] > 0]
    for wear in named:
        edge += mix[wear]
        if u < edge:
            return wear
    return named[-1]  # u at the top edge of a sum rounded below 1


# --------------------------------------------------------------------------------------------- #
# The faces
# --------------------------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class Face:
    """One source image and what it becomes."""

    index: int
    source: str  # relative to --src, with forward slashes
    identity: str
    landmarks: tuple | None = None  # 68 (x, y) in the image's pixels, from --landmarks
    size: tuple | None = None  # (width, height) that --landmarks gives the image

    def stem(self, width: int) -> str:
        return f"{self.index:0{width}d}"

    def paths(self, wear: str, width: int, fmt: str) -> dict[str, str]:
        tree, suffix = CLASSES[wear]
        stem, folder = self.stem(width), f"{self.index // 1000 * 1000:0{width}d}"
        return {"unmasked": f"unmasked/{folder}/{stem}.png",
                "masked": f"masked/{tree}/{folder}/{stem}{suffix}.{fmt}",
                "mask": f"masks/{tree}/{folder}/{stem}{suffix}.png"}


def list_sources(src: Path) -> list[str]:
    """Every image under ``src`` (any depth, hidden folders and files left out), sorted."""
    found = []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(IMG_EXTENSIONS):
                found.append((Path(folder) / name).relative_to(src).as_posix())
    return sorted(found)


def identity_of(rel: str, mode: str) -> str:
    parts = rel.split("/")
    if mode == "none" or len(parts) < 2:
        return ""
    return "" if mode == "auto" and FFHQ_FOLDER.match(parts[0]) else parts[0]


class LandmarkTable:
    """FFHQ's metadata (ffhq-dataset-v2.json): each key's aligned image and thumbnail, with their
    file paths, pixel sizes and 68 landmarks. A source is matched by its path: the entry's
    ``file_path`` taken from the JSON's own folder (where FFHQ's download puts it), else the
    entry whose ``file_path`` ends in the most of the source's path components; the image's size
    then tells an image from its thumbnail."""

    def __init__(self, path: Path):
        self.path = path
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise UserError(f"--landmarks {path}: cannot read it as JSON ({' '.join(str(err).split())}); "
                            "give FFHQ's ffhq-dataset-v2.json or a file in its layout") from None
        if not isinstance(meta, dict):
            raise UserError(f"--landmarks {path} is not an object of entries keyed by index, as "
                            "ffhq-dataset-v2.json is")
        self.by_path: dict[str, list[dict]] = {}
        self.by_suffix: dict[tuple[str, ...], list[dict]] = {}
        base = path.resolve().parent
        for key, entry in meta.items():
            for role in ("image", "thumbnail"):
                part = entry.get(role) if isinstance(entry, dict) else None
                if not isinstance(part, dict) or "file_path" not in part:
                    continue
                record = self._record(key, role, part)
                self.by_path.setdefault(os.path.normpath(base / record["file_path"]), []).append(record)
                parts = tuple(record["file_path"].split("/"))
                for k in range(1, len(parts) + 1):
                    self.by_suffix.setdefault(parts[-k:], []).append(record)
        if not self.by_path:
            raise UserError(f"--landmarks {path} has no entry with image.file_path: is it FFHQ's "
                            "ffhq-dataset-v2.json?")

    def _record(self, key: str, role: str, part: dict) -> dict:
        try:
            index = int(key)
            marks = np.asarray(part["face_landmarks"], dtype=np.float64)
            width, height = (int(v) for v in part["pixel_size"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"--landmarks {self.path}: entry {key!r} {role} lacks file_path, pixel_size or 68 "
                            "face_landmarks as ffhq-dataset-v2.json has them") from None
        if marks.shape != (68, 2) or index < 0:
            raise UserError(f"--landmarks {self.path}: entry {key!r} {role} has {len(marks)} landmarks, not 68")
        return {"key": index, "file_path": str(part["file_path"]).replace("\\", "/"),
                "size": (width, height), "landmarks": marks}

    def candidates(self, src: Path, rel: str) -> list[dict]:
        exact = self.by_path.get(os.path.normpath((src / rel).resolve()))
        if exact:
            return exact
        parts = tuple(rel.split("/"))
        for k in range(len(parts), 0, -1):
            if parts[-k:] in self.by_suffix:
                return self.by_suffix[parts[-k:]]
        return []


def plan_faces(src: Path, sources: list[str], table: LandmarkTable | None, identities: str) -> list[Face]:
    """Every source as a Face with its index (and landmarks); a --landmarks that lacks a source, or
    two sources of one index, stop here."""
    if identities == "auto" and table is not None:
        identities = "none"
    if table is not None:
        faces, missing = [], []
        for rel in sources:
            keys = sorted({r["key"] for r in table.candidates(src, rel)})
            if len(keys) > 1:
                raise UserError(f"--landmarks {table.path}: {rel} matches the entries of {len(keys)} faces "
                                f"({', '.join(map(str, keys[:3]))}): keep the metadata file in the folder its "
                                "file_path values start from")
            if keys:  # an image and its thumbnail share a key: the image's size tells them apart later
                faces.append(Face(keys[0], rel, identity_of(rel, identities)))
            else:
                missing.append(rel)
        if missing:
            raise UserError(f"--landmarks {table.path} has no entry for {len(missing)} of the {len(sources)} "
                            f"images under --src (first: {missing[0]}): is it the metadata of these images?")
    elif all(Path(rel).stem.isdigit() for rel in sources):
        faces = [Face(int(Path(rel).stem), rel, identity_of(rel, identities)) for rel in sources]
    else:
        faces = [Face(i, rel, identity_of(rel, identities)) for i, rel in enumerate(sources)]
    seen: dict[int, str] = {}
    for face in faces:
        if face.index in seen:
            raise UserError(f"--src: {seen[face.index]} and {face.source} are both face {face.index} (an image "
                            "and its thumbnail, or a copy): point --src at one folder of them")
        seen[face.index] = face.source
    return sorted(faces, key=lambda f: f.index)


def attach_landmarks(src: Path, faces: list[Face], table: LandmarkTable) -> list[Face]:
    """Each face with the landmarks of its image's size; a size the metadata does not give stops the run.
    Reads only the images' headers."""
    out = []
    for face in faces:
        try:
            with Image.open(src / face.source) as im:
                size = ImageOps.exif_transpose(im).size if im.format == "JPEG" else im.size
        except Exception:  # an unreadable source is reported by the render step, which skips it
            out.append(face)
            continue
        candidates = table.candidates(src, face.source)
        found = [r for r in candidates if r["size"] == size]
        if not found:
            sizes = " or ".join("x".join(map(str, r["size"])) for r in candidates)
            raise UserError(f"--landmarks {table.path}: {face.source} is {size[0]}x{size[1]} but its entry "
                            f"{face.index} gives {sizes}: render from the images the metadata describes "
                            "(resize afterwards with --size)")
        out.append(dataclasses.replace(face, landmarks=tuple(map(tuple, found[0]["landmarks"])), size=size))
    return out


# --------------------------------------------------------------------------------------------- #
# Rendering one face (in a worker process)
# --------------------------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class Job:
    """What every worker needs, sent once per task (plain values)."""

    src: str
    out: str
    size: int
    format: str
    width: int
    wear_mix: tuple
    renderer: dict
    detector: str
    upsample: int | None


_FINDERS: dict = {}


def renderer_for(job: Job, wear: str):
    from util.masks import MaskRenderer

    return MaskRenderer(**job.renderer, wear=wear)


def wear_of(job: Job, face: Face) -> str:
    return draw_wear(dict(job.wear_mix), job.renderer["seed"], face.source)


def style_of(job: Job, face: Face) -> dict:
    """The mask ``face`` gets (type, colour, pattern, wear), drawn without rendering anything."""
    return renderer_for(job, wear_of(job, face)).style_for(face.source)


def read_source(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def aligned_face(job: Job, face: Face, photo: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
    """(the --size face, its 68 landmarks in it), or why there is none."""
    from util.faces import align

    height, width = photo.shape[:2]
    if face.landmarks is not None:
        # FFHQ's landmarks are dlib's: pixel centres at integers; this code puts them at +0.5
        marks = np.asarray(face.landmarks, dtype=np.float64) + 0.5
        if width == height:
            if width == job.size:
                return photo, marks
            small = Image.fromarray(photo).resize((job.size, job.size), Image.Resampling.LANCZOS)
            return np.asarray(small), marks * (job.size / width)
    else:
        from util.faces.detect import FaceFinder

        key = (job.detector, job.upsample)
        if key not in _FINDERS:
            _FINDERS[key] = FaceFinder(job.detector, upsample=job.upsample)
        found = _FINDERS[key].find(photo)
        if not found:
            return "no face found"
        largest = max(found, key=lambda f: ((f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), f.score))
        marks = largest.landmarks
    quad = align.ffhq_quad(marks)
    crop = align.align(photo, quad, job.size)
    to_crop = align.image_to_crop(quad, job.size)  # pixel index -> pixel index: centres sit at +0.5
    return crop, (marks - 0.5) @ to_crop[:, :2].T + to_crop[:, 2] + 0.5


def is_plain_rgb_png(path: Path) -> bool:
    """A PNG whose decoded pixels are its RGB values as they are (no alpha, palette, 16 bits or turn)."""
    with Image.open(path) as im:
        return im.format == "PNG" and im.mode == "RGB" and im.getexif().get(0x0112, 1) == 1


def encode(picture: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpg":  # MaskedFace-Net's own format; 4:4:4 keeps the mask's edge in colour
        Image.fromarray(picture).save(buffer, "JPEG", quality=95, subsampling=0)
    else:
        Image.fromarray(picture).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def render_face(job: Job, face: Face) -> dict:
    """Render and write one face (unmasked, mask, then masked: its presence marks the face done).
    Returns {"index", "error", "stages": seconds per stage}; a source that cannot be read or has no
    face is an error, and nothing of it is written."""
    stages, lap = {}, time.perf_counter()

    def timed(stage: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        stages[stage], lap = now - lap, now

    try:
        photo = read_source(Path(job.src) / face.source)
    except Exception as err:  # any decoding failure leaves this source out, never stops the run
        return {"index": face.index, "error": f"unreadable ({err.__class__.__name__}: {' '.join(str(err).split())})"}
    timed("decode")
    made = aligned_face(job, face, photo)
    if isinstance(made, str):
        return {"index": face.index, "error": made}
    crop, marks = made
    timed("detect+align" if face.landmarks is None else "align")
    wear = wear_of(job, face)
    rendered = renderer_for(job, wear).render(crop, marks, face.source)
    timed("render")
    out, paths = Path(job.out), face.paths(wear, job.width, job.format)
    source = Path(job.src) / face.source
    for kind, picture, fmt in (("unmasked", crop, "png"), ("mask", rendered.opacity, "png"),
                               ("masked", rendered.photo, job.format)):
        if (out / paths[kind]).is_file():  # written whole by a run that stopped before the rest
            continue
        if kind == "unmasked" and crop is photo and is_plain_rgb_png(source):
            # an FFHQ image at its own size is already the unmasked face: a copy saves the encoding
            write_atomically(out / paths[kind], lambda f: f.write(source.read_bytes()))
            continue
        data = encode(picture, fmt)
        write_atomically(out / paths[kind], lambda f: f.write(data))
    timed("encode+write")
    return {"index": face.index, "error": "", "stages": stages}


def render_chunk(job: Job, faces: list[Face]) -> list[dict]:
    return [render_face(job, face) for face in faces]


# --------------------------------------------------------------------------------------------- #
# Labels, parts and the merge
# --------------------------------------------------------------------------------------------- #


def label_row(job: Job, face: Face) -> list:
    style = style_of(job, face)
    paths = face.paths(style["wear"], job.width, job.format)
    pattern = style["pattern"] if style["pattern"] in PATTERNS else Path(style["pattern"]).name
    return [paths["masked"], paths["mask"], paths["unmasked"], face.source, face.index, face.identity,
            style["mask_type"], style["color"], pattern, style["wear"], CLASSES[style["wear"]][0]]


def is_done(out: Path, job: Job, face: Face) -> bool:
    paths = face.paths(wear_of(job, face), job.width, job.format)
    return all((out / p).is_file() for p in paths.values())


def csv_text(rows: Iterable[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LABEL_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    write_atomically(path, lambda f: f.write(text.encode()))


def read_json(path: Path):
    """A file this script wrote; a damaged one is one line saying how to redo it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path} cannot be read ({' '.join(str(err).split())}): delete it and run again "
                        "(a shard's part: rerun that shard; plan.json: rerun with --overwrite)") from None


def part_files(out: Path) -> dict[int, dict[int, Path]]:
    """count -> {index: part json} of the shard parts in ``out``."""
    found: dict[int, dict[int, Path]] = {}
    for path in sorted((out / PARTS).glob("part-*-of-*.json")):
        m = re.fullmatch(r"part-(\d+)-of-(\d+)\.json", path.name)
        if m:
            found.setdefault(int(m.group(2)), {})[int(m.group(1))] = path
    return found


def merge(out: Path, workers: int = 1) -> dict:
    """labels.csv and summary.json from the parts of every shard; then the paired split if planned."""
    plan_path = out / "plan.json"
    if not plan_path.is_file():
        raise UserError(f"--out {out} holds no plan.json: run the shards (or one unsharded run) into it first")
    plan = read_json(plan_path)
    groups = part_files(out)
    complete = [n for n, parts in groups.items() if len(parts) == n]
    if not complete:
        have = "; ".join(f"{len(p)} of {n} shards" for n, p in sorted(groups.items())) or "no shard parts"
        raise UserError(f"--out {out} has {have} in {PARTS}/: run the missing shards (same arguments), then --merge")
    parts = [read_json(p) for _, p in sorted(groups[max(complete)].items())]
    rows = sorted((row for part in parts for row in part["rows"]), key=lambda r: int(r[4]))
    left_out = sorted((s for part in parts for s in part["left_out"]), key=lambda s: s["source"])
    write_if_changed(out / "labels.csv", csv_text(rows))
    summary = {"faces": len(rows), "sources": sum(part["sources"] for part in parts),
               "left_out": len(left_out),
               "by_class": count(rows, 10), "by_wear": count(rows, 9), "by_mask_type": count(rows, 6),
               "by_color": count(rows, 7), "left_out_sources": left_out}
    write_if_changed(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    if plan["key"]["paired"]:
        write_paired(out, plan, len(rows), workers)
    return summary


def count(rows: list[list], column: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row[column])] = counts.get(str(row[column]), 0) + 1
    return dict(sorted(counts.items()))


def write_paired(out: Path, plan: dict, n_faces: int, workers: int) -> None:
    """OUT/paired: prepare_masked_faces.py's own pix2pix split of the rendered pairs."""
    from datasets import prepare_masked_faces

    key = plan["key"]
    n_test = key["n_test"] if key["n_test"] is not None else default_n_test(n_faces)
    if n_test >= n_faces:
        raise UserError(f"--n_test {n_test} leaves no training pairs of the {n_faces} faces rendered: lower it")
    argv = ["--paired", "--ffhq", str(out / "unmasked"), "--maskedfacenet", str(out / "masked"),
            "--masks", str(out / "masks"), "--include_imfd", "--out", str(out / "paired"),
            "--n_test", str(n_test), "--n_train", str(n_faces - n_test), "--size", str(key["size"]),
            "--seed", str(key["seed"]), "--workers", str(workers)]
    prepare_masked_faces.main(argv)


def default_n_test(n_faces: int) -> int:
    """A tenth of the faces, at most 1,000 (prepare_masked_faces.py's own default)."""
    return max(1, min(1000, n_faces // 10))


# --------------------------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------------------------- #


def build_parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--src", help="the unmasked faces: a folder of images, any depth")
    p.add_argument("--out", required=True, help="the masked set (see the layout in the module's docstring)")
    p.add_argument("--landmarks", default=None,
                   help="FFHQ's ffhq-dataset-v2.json (or a file in its layout, as make_toyfaces.py writes): "
                        "68 landmarks per image, so nothing is detected")
    p.add_argument("--size", type=positive_int, default=256, help="side of every written image, in pixels")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg",
                   help="of the masked images (MaskedFace-Net's are jpg; png keeps every pixel outside the mask "
                        "equal to the unmasked face)")
    g = p.add_argument_group("the masks (as mask_photos.py --method render)")
    add_mask_style_flags(g)
    g.add_argument("--wear_mix", type=wear_mix_arg, default=DEFAULT_WEAR_MIX,
                   help="WEAR:SHARE,... over correct, nose (uncovered), chin (uncovered), nose_mouth (uncovered); "
                        "sums to 1 (default: MaskedFace-Net's own proportions)")
    g.add_argument("--seed", type=non_negative_int, default=0,
                   help="every random choice is drawn from it and the source's path")
    g = p.add_argument_group("faces without --landmarks")
    g.add_argument("--detector", choices=("hog", "cnn", "auto"), default="auto",
                   help="as mask_photos.py: hog, cnn, or hog then cnn where hog finds none")
    g.add_argument("--upsample", type=non_negative_int, default=None,
                   help="times a photo is doubled for the detector (default: from its size)")
    g.add_argument("--identities", choices=("auto", "folder", "none"), default="auto",
                   help="labels.csv's identity: the first folder under --src (auto: unless FFHQ's folders or "
                        "--landmarks)")
    g = p.add_argument_group("paired data for pix2pix")
    g.add_argument("--paired", action="store_true", help="also write OUT/paired (train, test, masks) at the merge")
    g.add_argument("--n_test", type=positive_int, default=None,
                   help="paired test faces (default: a tenth of the faces, at most 1000)")
    g = p.add_argument_group("scale")
    g.add_argument("--shard", default=None,
                   help="K/N: this process does every N-th source from K (default: from SLURM_ARRAY_TASK_ID/"
                        "SLURM_ARRAY_TASK_COUNT, or torchrun's RANK/WORLD_SIZE, else all)")
    g.add_argument("--merge", action="store_true",
                   help="only join the shards' parts in --out into labels.csv and summary.json (and --paired)")
    g.add_argument("--check_only", action="store_true",
                   help="check the arguments, the sources and --landmarks against every image, write nothing "
                        "(scripts/render_masked_faces.sh runs it before queueing the shards)")
    g.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, help="processes of this shard")
    g.add_argument("--overwrite", action="store_true", help="replace an --out made with other arguments")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.merge:
        return args
    if args.src is None:
        raise UserError("--src is required (the folder of unmasked faces), except with --merge")
    src, out = Path(args.src).resolve(), Path(args.out).resolve()
    if not src.is_dir():
        raise UserError(f"--src {args.src} is not a folder: point it at the unmasked faces")
    if out == src or src in out.parents:
        raise UserError(f"--out {args.out} is inside --src {args.src}: the masked set would be read back as "
                        "sources; choose an --out outside it")
    if out in src.parents:
        raise UserError(f"--src {args.src} is inside --out {args.out}: choose an --out apart from the sources")
    if args.landmarks is not None and not Path(args.landmarks).is_file():
        raise UserError(f"--landmarks {args.landmarks} is not a file (FFHQ's ffhq-dataset-v2.json)")
    if args.pattern not in PATTERNS:
        read_pattern(args.pattern)  # one line naming --pattern if it is missing or unreadable
        args.pattern = str(Path(args.pattern).resolve())
    if args.n_test is not None and not args.paired:
        raise UserError("--n_test counts the test faces of --paired: add --paired, or leave --n_test out (the "
                        "unpaired curation takes its own, prepare_masked_faces.py --n_test)")
    if args.upsample is not None and args.landmarks is not None:
        raise UserError("--upsample is for faces found by the detector; with --landmarks nothing is detected")
    return args


def fingerprint(src: Path, sources: list[str], extra: Iterable[Path]) -> str:
    """Changes when a source (or the landmarks or pattern file) is added, removed or rewritten."""
    digest = hashlib.sha256()
    for name, path in [(rel, src / rel) for rel in sources] + [(str(p.resolve()), p) for p in extra]:
        st = path.stat()
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def plan_key(args: argparse.Namespace, print_: str) -> dict:
    keys = ("size", "format", "mask_type", "color", "pattern", "pattern_weight", "seed", "detector",
            "upsample", "identities", "paired", "n_test")
    key = {k: getattr(args, k) for k in keys}
    key.update(color=list(args.color) if args.color else None, wear_mix=args.wear_mix,
               src=str(Path(args.src).resolve()),
               landmarks=str(Path(args.landmarks).resolve()) if args.landmarks else None,
               sources=print_, version=PLAN_VERSION)
    return key


def check_out(out: Path, key: dict, args: argparse.Namespace, shard: Shard) -> None:
    """Refuse an --out made with other arguments (or not by this script) unless --overwrite."""
    plan_path = out / "plan.json"
    if args.overwrite:
        if shard.count > 1:
            raise UserError("--overwrite with shards would let one shard delete another's work: empty --out "
                            "yourself, then start the shards")
        for name in OWNED:
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        return
    if plan_path.is_file():
        old = read_json(plan_path).get("key")
        if old != key:
            changed = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
            raise UserError(f"--out {out} was made with other arguments or sources ({', '.join(changed)} differ): "
                            "pass --overwrite to redo it, or choose another --out")
    elif out.is_dir() and any(out.iterdir()):
        raise UserError(f"--out {out} is not empty and holds no plan.json of this script: choose an empty --out "
                        "or pass --overwrite")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.merge:
        summary = merge(out, args.workers)
        print(f"{PROG}: merged {summary['faces']} faces ({summary['left_out']} sources left out) into "
              f"{out / 'labels.csv'}")
        return 0
    try:
        shard = current_shard(args.shard)
    except ValueError as err:
        raise UserError(f"--shard: {err}") from None
    started = time.perf_counter()
    src = Path(args.src)
    sources = list_sources(src)
    if not sources:
        raise UserError(f"--src {src} holds no images ({', '.join(IMG_EXTENSIONS)})")
    table = LandmarkTable(Path(args.landmarks)) if args.landmarks else None
    faces = plan_faces(src, sources, table, args.identities)
    extra = [Path(p) for p in (args.landmarks, args.pattern if args.pattern not in PATTERNS else None) if p]
    key = plan_key(args, fingerprint(src, sources, extra))
    mine = faces if args.check_only else shard.take(faces)
    if table is not None:
        mine = attach_landmarks(src, mine, table)
    if args.check_only:
        if not args.overwrite:
            check_out(out, key, args, shard)
        print(f"{PROG}: the arguments and the {len(faces)} sources are usable; nothing written")
        return 0
    check_out(out, key, args, shard)  # everything that can refuse the run has run: now write

    write_if_changed(out / "plan.json", json.dumps({"key": key}, indent=1) + "\n")
    for count_, parts in part_files(out).items():  # parts of another sharding are stale
        if count_ != shard.count:
            for path in parts.values():
                path.unlink(missing_ok=True)
                path.with_suffix(".csv").unlink(missing_ok=True)
    width = max(5, len(str(max(f.index for f in faces))))
    job = Job(str(src), str(out), args.size, args.format, width, tuple(args.wear_mix.items()),
              {"mask_type": args.mask_type, "colors": tuple(args.color or ()), "pattern": args.pattern,
               "pattern_weight": args.pattern_weight, "seed": args.seed},
              args.detector, args.upsample)
    todo = [f for f in mine if not is_done(out, job, f)]
    results = run_jobs(job, todo, args.workers)

    errors = {r["index"]: r["error"] for r in results if r["error"]}
    for n, face in enumerate(f for f in todo if f.index in errors):
        if n < 20:
            print(f"{PROG}: warning: {face.source}: {errors[face.index]}; left out", file=sys.stderr)
        elif n == 20:
            print(f"{PROG}: warning: {len(errors) - 20} more sources left out: see summary.json", file=sys.stderr)
    done = [f for f in mine if f.index not in errors and is_done(out, job, f)]
    part = {"shard": [shard.index, shard.count], "sources": len(mine),
            "rows": [label_row(job, f) for f in done],
            "left_out": [{"source": f.source, "reason": errors.get(f.index, "not written")}
                         for f in mine if f not in done]}
    part_path = out / PARTS / f"{shard.name}.json"
    write_if_changed(part_path, json.dumps(part) + "\n")
    write_if_changed(part_path.with_suffix(".csv"), csv_text(part["rows"]))

    rendered = [r for r in results if not r["error"]]
    took = time.perf_counter() - started
    stage_means = {}
    for r in rendered:
        for stage, seconds in r["stages"].items():
            stage_means[stage] = stage_means.get(stage, 0.0) + seconds / len(rendered)
    speed = (f"rendered {len(rendered)} faces in {took:.1f}s ({len(rendered) / took:.1f} faces/s with "
             f"{args.workers} workers; per face " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in stage_means.items())
             + ")" if rendered else "nothing new rendered")
    print(f"{PROG}: {shard}: {len(done)} of {len(mine)} faces done, {len(part['left_out'])} left out; {speed}")
    if shard.count == 1:
        summary = merge(out, args.workers)
        print(f"{PROG}: {summary['faces']} faces in {out / 'labels.csv'}: "
              + ", ".join(f"{k} {v}" for k, v in summary["by_wear"].items()))
    else:
        print(f"{PROG}: when every shard is done: python datasets/render_masked_faces.py --merge --out {out}")
    return 0


def run_jobs(job: Job, todo: list[Face], workers: int) -> list[dict]:
    from tqdm import tqdm

    if not todo:
        return []
    if workers == 1 or len(todo) == 1:
        return [render_face(job, face) for face in tqdm(todo, desc="rendering", unit="face")]
    chunks = [todo[i:i + 8] for i in range(0, len(todo), 8)]
    results: list[dict] = []
    with ProcessPoolExecutor(min(workers, len(chunks))) as pool, \
            tqdm(total=len(todo), desc="rendering", unit="face") as bar:
        for chunk in pool.map(render_chunk, [job] * len(chunks), chunks):
            results += chunk
            bar.update(len(chunk))
    return results


if __name__ == "__main__":
    sys.exit(run_cli(main, None, PROG))
