"""Curate FFHQ (unmasked) and MaskedFace-Net (masked) into trainA/ trainB/ testA/ testB (or AB pairs).

    python datasets/prepare_masked_faces.py --ffhq /data/ffhq --maskedfacenet /data/MaskedFace-Net \
        --out datasets/masks --n_train 6000 --n_test 1000 --workers 8
    python datasets/prepare_masked_faces.py --paired --ffhq /data/ffhq --maskedfacenet /data/MaskedFace-Net \
        --out datasets/masks_paired --n_train 6000 --n_test 1000 --workers 8     # for pix2pix

Every MaskedFace-Net image is an FFHQ face with a mask drawn on, named by its FFHQ index, so the
split is made by index:

- trainA and trainB use disjoint indices: the generator never sees one person on both sides, which
  keeps the "unpaired" set truly unpaired;
- the test indices are in neither, and testA/NNNNN and testB/NNNNN are the same face without and
  with its mask: a paired test set for paired metrics;
- both domains are re-encoded the same way (one format, one size, a Lanczos resize), so a
  discriminator cannot tell them apart by JPEG artefacts or resolution.

Naming (any depth, any letter case): FFHQ ``NNNNN.png``; MaskedFace-Net ``NNNNN_Mask.jpg`` (correctly
masked, CMFD) and ``NNNNN_Mask_Mouth_Chin.jpg``, ``_Mask_Chin.jpg``, ``_Mask_Nose_Mouth.jpg``
(incorrectly masked, IMFD; used only with ``--include_imfd``). An index has 5 digits or more (a set
of over 99,999 faces goes on as ``123456.png``, ``123456_Mask.jpg``); outputs are named by it, padded
to at least 5 digits. Other files are reported and left out.

True masks (``--masks DIR``): a tree that puts masks on faces itself (datasets/render_masked_faces.py
writes ``unmasked/``, ``masked/`` and ``masks/``) knows each mask's exact pixels: beside every masked
image ``masked/REL/NNNNN_Mask.jpg`` lies ``masks/REL/NNNNN_Mask.png``, an 'L' image of the same size
holding the mask's opacity (0-255). With ``--masks`` that tree's ``masks/``, ``testmask/NNNNN.png``
is the true mask of testB/NNNNN, resized to ``--size`` as the images are (area averaging, see
:func:`load_mask`), and ``--paired`` also writes ``trainmask/NNNNN.png`` for each training pair (the
mask of its right half). scripts/evaluate.py then scores inside and outside the true mask, with no
flag of its own. A masked image whose mask is missing, unreadable or of another size is skipped (and
listed in ``summary.json``) wherever a mask is needed: the test faces, and the training pairs of
``--paired``. ``--masks`` replaces ``--ffhq_json``'s landmark polygon: given both, ``--ffhq_json``
is not used (a line says so).

The run first decides everything (reading each candidate it considers, in the seeded order, until
the counts are met, and running the face detector with ``--detector haar``), so too few usable
images is an error before anything is written. Files it never needed to consider are not opened, so
``summary.json`` lists the broken files among those it looked at. It then
writes ``plan.json``, the images (in parallel, each atomically), ``manifest.csv`` and a summary. A
second run with the same arguments does nothing; an interrupted run writes only what is missing.

Paired data for pix2pix (``--paired``): an index with both images is a true pair, the same face
without and with a mask. ``--paired`` writes, in the classic AB layout, ``train/NNNNN.png`` and
``test/NNNNN.png``: A (unmasked) on the left half, B (masked) on the right, each half ``--size`` x
``--size`` (so the image is 2 * size wide), each rendered exactly as testA/testB are.

- The test indices are exactly those of the unpaired split with the same arguments (the same
  seeded order, the same checks, taken first), so a pix2pix and a CycleGAN are measured on the same
  faces. ``testA/``, ``testB/`` (and ``testmask/`` with ``--ffhq_json`` or ``--masks``) are written
  as the unpaired split writes them, byte for byte: scripts/evaluate.py reads its references from
  there, so paired and unpaired results are scored against the very same files. (With ``--masks``
  a test face needs its mask in both kinds, so the test set is still the same.) ``--masks`` adds
  ``trainmask/NNNNN.png``, the mask of each training pair's right half.
- The training pairs are the split's own draw: the indices with both images that the test did not
  take, in the same seeded order, the first ``--n_train`` whose two images pass the checks
  (``--n_train`` counts pairs). The unpaired trainA/trainB are on disjoint indices by design, so
  they hold no pairs to reuse; drawing anew also keeps the paired split independent of the unpaired
  one's counts. Train and test never share an index.
- ``--include_imfd`` means what it means unpaired: an index with no CMFD image takes one of its
  IMFD images as B (still the same face, with the mask worn wrongly). Without it, pairs are CMFD.
- With ``--format jpg`` the AB image is one JPEG, so its halves equal testA/testB only up to JPEG
  error; with PNG (the default) they are equal pixel for pixel.
- ``manifest.csv`` gets a column ``source_b``: the masked source of an AB image.
- The plan key includes ``--paired``: an --out that holds the other kind of split is refused (one
  line, exit code 2) unless ``--overwrite`` replaces it; the two kinds never mix in one folder.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageOps

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from util.errors import UserError, run_cli  # noqa: E402

FFHQ_NAME = re.compile(r"^(\d{5,})\.png$", re.IGNORECASE)
MFN_NAME = re.compile(r"^(\d{5,})_mask(_mouth_chin|_chin|_nose_mouth)?\.(?:jpe?g|png)$", re.IGNORECASE)
UNPAIRED_DIRS = ("trainA", "trainB", "testA", "testB")
PAIRED_DIRS = ("train", "test", "testA", "testB")
OUT_DIRS = ("trainA", "trainB", "train", "test", "testA", "testB", "testmask", "trainmask")  # --overwrite clears
MANIFEST_COLUMNS = ["output", "source", "ffhq_index", "domain", "split", "sha256"]
OWN_FILES = ("plan.json", "manifest.csv", "summary.json", "summary.txt", ".hashes.json")
PLAN_VERSION = 1

# 68-point landmarks (iBUG layout, as in FFHQ's metadata): jaw 0-16, nose 27-35, eyes 36-47.
JAW, NOSE_BRIDGE, EYES = range(0, 17), range(27, 31), range(36, 48)


# --------------------------------------------------------------------------------------------- #
# Finding the sources
# --------------------------------------------------------------------------------------------- #


def walk_files(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def scan_ffhq(root: Path) -> tuple[dict[int, Path], list[str], list[dict]]:
    """FFHQ index -> image; files not named NNNNN.png; duplicates (thumbnails) left out."""
    found: dict[int, Path] = {}
    unmatched, skipped = [], []
    for path in walk_files(root):
        m = FFHQ_NAME.match(path.name)
        if not m:
            unmatched.append(str(path))
            continue
        index = int(m.group(1))
        if index in found:  # e.g. images1024x1024/ and thumbnails128x128/ side by side: keep the larger
            keep, drop = sorted([found[index], path], key=lambda p: (-p.stat().st_size, str(p)))
            found[index] = keep
            skipped.append({"path": str(drop), "reason": f"another image of index {index:05d} is larger: {keep}"})
        else:
            found[index] = path
    return found, unmatched, skipped


def scan_maskedfacenet(root: Path) -> tuple[dict[int, dict[str, Path]], list[str]]:
    """FFHQ index -> {"cmfd" | "mouth_chin" | "chin" | "nose_mouth": image}; unmatched files."""
    found: dict[int, dict[str, Path]] = {}
    unmatched = []
    for path in walk_files(root):
        m = MFN_NAME.match(path.name)
        if not m:
            unmatched.append(str(path))
            continue
        kind = (m.group(2) or "_cmfd")[1:].lower()
        found.setdefault(int(m.group(1)), {}).setdefault(kind, path)
    return found, unmatched


def fingerprint(paths: Iterable[Path]) -> str:
    """Changes when a source file is added, removed or rewritten (a path may name no file yet)."""
    h = hashlib.sha256()
    for p in sorted(str(p) for p in paths):
        try:
            st = os.stat(p)
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()


def mask_path(masks: Path, maskedfacenet: Path, image: Path) -> Path:
    """Where --masks keeps the true mask of a masked image: the same relative path, as .png."""
    return (masks / Path(image).relative_to(maskedfacenet)).with_suffix(".png")


# --------------------------------------------------------------------------------------------- #
# Checking sources
# --------------------------------------------------------------------------------------------- #

_CASCADE = None


def count_faces(path: str | Path) -> int:
    """Faces OpenCV's frontal Haar cascade finds (its weights ship inside opencv-python-headless)."""
    global _CASCADE
    import cv2  # optional dependency, only for --detector haar

    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
        if _CASCADE.empty():
            raise UserError("OpenCV's haarcascade_frontalface_default.xml did not load: "
                            "pip install 'opencv-python-headless>=4,<5' (5.x ships no cascades)")
    with Image.open(path) as im:
        gray = ImageOps.exif_transpose(im).convert("L")
    scale = 512 / max(gray.size)
    if scale < 1:  # detection at 512 px is as reliable for these portraits and much faster
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.BILINEAR)
    arr = np.asarray(gray)
    side = min(arr.shape)
    faces = _CASCADE.detectMultiScale(arr, scaleFactor=1.1, minNeighbors=5, minSize=(side // 5, side // 5))
    return len(faces)


def check_source(path: str, detector: str) -> str:
    """'' when the image decodes (and shows exactly one face under --detector haar), else why not."""
    try:
        with Image.open(path) as im:
            # PNG: checking every chunk's CRC finds truncated and damaged files at a twentieth of the
            # cost of decoding; other formats are decoded.
            im.verify() if im.format == "PNG" else im.load()
    except Exception as err:  # any decoding failure makes the file unusable, never stops the run
        return f"unreadable ({err.__class__.__name__}: {' '.join(str(err).split())})"
    if detector == "haar":
        n = this_module().count_faces(path)
        if n != 1:
            return f"the face detector found {n} faces"
    return ""


def check_mask(path: str, image: str) -> str:
    """'' when ``path`` is a readable grey mask of the masked image ``image``'s size, else why not."""
    if not os.path.isfile(path):
        return f"no mask file (the true mask of {image} is not there)"
    try:
        with Image.open(path) as im:
            im.verify() if im.format == "PNG" else im.load()
            mode, size = im.mode, im.size
    except Exception as err:  # as check_source: a broken mask makes its index unusable, never stops the run
        return f"unreadable mask ({err.__class__.__name__}: {' '.join(str(err).split())})"
    if mode not in ("L", "1"):
        return f"mask is not a grey image (mode {mode}; an 'L' PNG of the mask's opacity is expected)"
    try:
        with Image.open(image) as im:
            image_size = im.size
    except Exception:  # the masked image's own check reports it
        return ""
    if size != image_size:
        return (f"mask size differs from its masked image ({size[0]}x{size[1]}, "
                f"the image {image_size[0]}x{image_size[1]})")
    return ""


def check_path(path: str, detector: str, masked_image: str) -> str:
    """A mask (of ``masked_image``) gets :func:`check_mask`, any other source :func:`check_source`."""
    return check_mask(path, masked_image) if masked_image else check_source(path, detector)


def this_module():
    """This module as imported (so a test's monkeypatched count_faces is the one called)."""
    return sys.modules.get("datasets.prepare_masked_faces") or sys.modules[__name__]


class Checker:
    """Checks sources lazily, in parallel chunks, remembering every verdict."""

    def __init__(self, detector: str, workers: int, masked_image_of: dict[str, str] | None = None):
        self.detector, self.workers = detector, workers
        self.masked_image_of = masked_image_of or {}  # mask path -> the masked image it belongs to
        self.verdict: dict[str, str] = {}
        self.pool = ProcessPoolExecutor(workers) if workers > 1 else None

    def check(self, paths: list[str]) -> None:
        todo = [p for p in dict.fromkeys(paths) if p not in self.verdict]
        images = [self.masked_image_of.get(p, "") for p in todo]
        if self.pool is None:
            results = [check_path(p, self.detector, image) for p, image in zip(todo, images)]
        else:
            results = list(self.pool.map(check_path, todo, [self.detector] * len(todo), images, chunksize=8))
        self.verdict.update(zip(todo, results))

    def take(self, candidates: list, need: int, paths_of: Callable[[object], list[str]],
             taken: set) -> list:
        """The first ``need`` candidates (in order) not in ``taken`` whose sources are all usable."""
        chosen: list = []
        pos = 0
        while len(chosen) < need and pos < len(candidates):
            chunk = []
            while len(chunk) < max(2 * (need - len(chosen)), 4 * self.workers) and pos < len(candidates):
                if candidates[pos] not in taken:
                    chunk.append(candidates[pos])
                pos += 1
            self.check([p for c in chunk for p in paths_of(c)])
            for c in chunk:
                if len(chosen) < need and all(self.verdict[p] == "" for p in paths_of(c)):
                    chosen.append(c)
                    taken.add(c)
        return chosen

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


# --------------------------------------------------------------------------------------------- #
# Deciding the split
# --------------------------------------------------------------------------------------------- #


def domain_b_source(kinds: dict[str, Path], include_imfd: bool, rng: random.Random) -> Path | None:
    if "cmfd" in kinds:
        return kinds["cmfd"]
    if include_imfd:
        imfd = sorted(k for k in kinds if k != "cmfd")
        return kinds[rng.choice(imfd)] if imfd else None
    return None


class Sources:
    """Each index's A and B image (and B's true mask), and the indices in the seed's order: with both,
    only A, only B.

    Both kinds of split draw from this one order, which is what makes their test sets equal.
    """

    def __init__(self, ffhq: dict[int, Path], masked: dict[int, dict[str, Path]], seed: int, include_imfd: bool,
                 mask_of: Callable[[Path], Path] | None = None):
        rng = random.Random(seed)
        self.a, self.b = ffhq, {}
        for index in sorted(masked):
            src = domain_b_source(masked[index], include_imfd, rng)
            if src is not None:
                self.b[index] = src
        self.mask = {i: mask_of(p) for i, p in self.b.items()} if mask_of else {}
        self.shared = sorted(set(self.a) & set(self.b))
        rng.shuffle(self.shared)
        self.a_only = sorted(set(self.a) - set(self.b))
        self.b_only = sorted(set(self.b) - set(self.a))
        rng.shuffle(self.a_only)
        rng.shuffle(self.b_only)

    def of_a(self, i: int) -> list[str]:
        return [str(self.a[i])]

    def of_b(self, i: int) -> list[str]:
        return [str(self.b[i])]

    def of_pair(self, i: int) -> list[str]:
        """A pair's images, and with --masks B's mask: a test face or a training pair needs all of them."""
        return [str(self.a[i]), str(self.b[i])] + ([str(self.mask[i])] if self.mask else [])

    def masked_image_of(self) -> dict[str, str]:
        return {str(m): str(self.b[i]) for i, m in self.mask.items()}


def take_unpaired_train(checker: Checker, src: Sources, rest: list[int], args, taken: set) -> list[dict]:
    # A takes the shared indices from the front, B from the back: they meet only when short.
    train_a = checker.take(src.a_only + rest, args.n_train, src.of_a, taken)
    train_b = checker.take(src.b_only + rest[::-1], args.n_train, src.of_b, taken)
    if len(train_a) < args.n_train or len(train_b) < args.n_train:
        raise UserError(f"only {len(train_a)} unmasked and {len(train_b)} masked usable training images on "
                        f"indices apart from each other and from the {args.n_test} test pairs, "
                        f"{args.n_train} each asked: lower --n_train or --n_test, or add images")
    return (image_jobs("trainA", train_a, src.a, "A", "train", args.format)
            + image_jobs("trainB", train_b, src.b, "B", "train", args.format))


def take_paired_train(checker: Checker, src: Sources, rest: list[int], args, taken: set) -> list[dict]:
    train = checker.take(rest, args.n_train, src.of_pair, taken)
    if len(train) < args.n_train:
        raise UserError(f"only {len(train)} usable training pairs (an FFHQ image and a masked image of the same "
                        f"index) apart from the {args.n_test} test pairs, {args.n_train} asked: "
                        "lower --n_train or --n_test, or add images")
    return pair_jobs("train", train, src, args.format) + mask_jobs("trainmask", train, src, "train")


def image_jobs(folder: str, indices: Iterable[int], sources: dict, domain: str, split: str, fmt: str) -> list[dict]:
    return [{"output": f"{folder}/{i:05d}.{fmt}", "source": str(sources[i]), "ffhq_index": i, "domain": domain,
             "split": split} for i in sorted(indices)]


def pair_jobs(split: str, indices: Iterable[int], src: Sources, fmt: str) -> list[dict]:
    """AB images: the unmasked face on the left, the same face masked on the right."""
    return [{"output": f"{split}/{i:05d}.{fmt}", "source": str(src.a[i]), "source_b": str(src.b[i]),
             "ffhq_index": i, "domain": "AB", "split": split} for i in sorted(indices)]


def mask_jobs(folder: str, indices: Iterable[int], src: Sources, split: str) -> list[dict]:
    """True masks (--masks): the mask of each index's masked image, named as that image's output."""
    if not src.mask:
        return []
    return [{"output": f"{folder}/{i:05d}.png", "source": str(src.mask[i]), "masked_source": str(src.b[i]),
             "ffhq_index": i, "domain": "mask", "split": split} for i in sorted(indices)]


def make_plan(args, ffhq: dict[int, Path], masked: dict[int, dict[str, Path]]) -> dict:
    mask_of = partial(mask_path, Path(args.masks), Path(args.maskedfacenet)) if args.masks else None
    src = Sources(ffhq, masked, args.seed, args.include_imfd, mask_of)
    checker = Checker(args.detector, args.workers, src.masked_image_of())
    try:
        taken: set[int] = set()
        test = checker.take(src.shared, args.n_test, src.of_pair, taken)
        if len(test) < args.n_test:
            raise UserError(f"only {len(test)} usable test pairs (an FFHQ image and a masked image of the "
                            f"same index), {args.n_test} asked: lower --n_test or add images")
        rest = [i for i in src.shared if i not in taken]
        take_train = take_paired_train if args.paired else take_unpaired_train
        jobs = take_train(checker, src, rest, args, taken)
        skipped = [{"path": p, "reason": why} for p, why in sorted(checker.verdict.items()) if why]
    finally:
        checker.close()

    jobs += image_jobs("testA", test, src.a, "A", "test", args.format)
    jobs += image_jobs("testB", test, src.b, "B", "test", args.format)
    if args.paired:
        jobs += pair_jobs("test", test, src, args.format)
    if args.masks:
        jobs += mask_jobs("testmask", test, src, "test")
    elif args.ffhq_json:
        jobs += image_jobs("testmask", test, {i: args.ffhq_json for i in test}, "mask", "test", "png")
    return {"jobs": jobs, "skipped": skipped}


# --------------------------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------------------------- #


def landmark_mask(landmarks: Sequence[Sequence[float]], size: int, source_size: int = 1024) -> Image.Image:
    """The nose-mouth-chin region of a face from its 68 landmarks, as an 'L' image of ``size``.

    A polygon along the jaw from below one ear to below the other (points 1-15), closed over the
    nose bridge (point 28), cut off below the lowest eye point: roughly what a worn mask covers.
    """
    pts = np.asarray(landmarks, dtype=np.float64) * (size / source_size)
    polygon = [tuple(p) for p in pts[1:16]] + [tuple(pts[28])]
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    eye_bottom = int(np.ceil(pts[list(EYES), 1].max()))
    arr = np.asarray(mask).copy()
    arr[: max(0, min(size, eye_bottom + 1))] = 0
    return Image.fromarray(arr, mode="L")


def load_mask(path: str, size: int, masked_image: str) -> Image.Image:
    """A true mask as testB/NNNNN's picture is made: turned by the masked image's EXIF orientation (the
    mask lies on that image's stored pixels), then resized to ``size`` x ``size``.

    The resize averages area (a box filter) rather than the images' Lanczos: an output pixel gets
    the share of it that the mask covers, so a soft edge stays soft, pixels the mask never touches
    stay exactly 0 and fully covered ones 255, and nothing rings past an edge (Lanczos's negative
    lobes would leave a faint halo of opacity around the mask, and dips inside it). Its values
    cannot leave 0..255. Both filters map the same pixel grid, so the mask lies where the mask in
    testB/NNNNN lies; evaluate.py's "inside" (above half opacity) is then the pixels at least half
    covered. Enlarging (a source smaller than --size) makes the box filter a nearest-neighbour one.
    """
    with Image.open(path) as im:
        mask = im.convert("L")
    with Image.open(masked_image) as im:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation != 1:
        mask.getexif()[ExifTags.Base.Orientation] = orientation  # so that exif_transpose turns it the same way
        mask = ImageOps.exif_transpose(mask)
    if mask.size != (size, size):
        mask = mask.resize((size, size), Image.Resampling.BOX)
    return mask


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG", compress_level=6)
    else:
        img.save(buf, format="JPEG", quality=95, subsampling=0)
    return buf.getvalue()


def load_face(path: str, size: int) -> Image.Image:
    with Image.open(path) as im:
        img = ImageOps.exif_transpose(im).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return img


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """The classic aligned (AB) image: ``left`` and ``right`` next to each other."""
    return Image.fromarray(np.hstack([np.asarray(left), np.asarray(right)]))


def render(job: dict, size: int, fmt: str, landmarks: list | None) -> bytes:
    if job["domain"] == "mask" and "masked_source" in job:
        return encode(load_mask(job["source"], size, job["masked_source"]), "png")
    if job["domain"] == "mask":
        return encode(landmark_mask(landmarks, size), "png")
    if job["domain"] == "AB":  # the halves are made exactly as testA/NNNNN and testB/NNNNN are
        return encode(side_by_side(load_face(job["source"], size), load_face(job["source_b"], size)), fmt)
    return encode(load_face(job["source"], size), fmt)


def write_job(out: str, job: dict, size: int, fmt: str, landmarks: list | None) -> tuple[str, str, str]:
    """Render and atomically write one output; returns (output, sha256, error)."""
    target = Path(out) / job["output"]
    try:
        data = render(job, size, fmt, landmarks)
    except Exception as err:  # a source that changed since it was checked; reported, not fatal
        return job["output"], "", f"{err.__class__.__name__}: {' '.join(str(err).split())}"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return job["output"], hashlib.sha256(data).hexdigest(), ""


def write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_landmarks(path: str | None, indices: Iterable[int]) -> dict[int, list]:
    if not path:
        return {}
    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"--ffhq_json {path}: cannot read it as JSON ({err}); use ffhq-dataset-v2.json") from err
    out = {}
    for i in indices:
        entry = meta.get(str(i)) or meta.get(f"{i:05d}")
        try:
            out[i] = entry["image"]["face_landmarks"]
        except (TypeError, KeyError) as err:
            raise UserError(f"--ffhq_json {path} has no image.face_landmarks for index {i}: "
                            "is it FFHQ's ffhq-dataset-v2.json?") from err
    return out


# --------------------------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------------------------- #


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, exit code 2 (through run_cli)
            raise UserError(f"{message} (see --help)")

    p = Parser(prog="prepare_masked_faces.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--ffhq", required=True, help="FFHQ folder (images1024x1024/NNNNN/NNNNN.png, any depth)")
    p.add_argument("--maskedfacenet", required=True, help="MaskedFace-Net folder (CMFD/, IMFD/, any depth)")
    p.add_argument("--out", required=True,
                   help="output folder: trainA trainB testA testB [testmask]; with --paired train test testA testB "
                        "[testmask trainmask]")
    p.add_argument("--paired", action="store_true",
                   help="pix2pix data: train/ and test/ hold AB images (unmasked left, the same face masked right)")
    p.add_argument("--n_train", type=int, default=6000, help="training images per domain (pairs with --paired)")
    p.add_argument("--n_test", type=int, default=1000, help="paired test faces")
    p.add_argument("--size", type=int, default=286, help="output side in pixels (286 = the classic --load_size)")
    p.add_argument("--format", choices=("png", "jpg"), default="png", help="output format of both domains")
    p.add_argument("--seed", type=int, default=0, help="seed of the split")
    p.add_argument("--include_imfd", action="store_true", help="also use incorrectly masked (IMFD) images for B")
    p.add_argument("--detector", choices=("none", "haar"), default="none",
                   help="haar: keep images where OpenCV's frontal-face cascade finds exactly one face")
    p.add_argument("--ffhq_json", default=None,
                   help="ffhq-dataset-v2.json: writes testmask/ from its landmarks (a polygon: roughly where a "
                        "mask sits)")
    p.add_argument("--masks", default=None, metavar="DIR",
                   help="the true masks of the masked images, for a set that put the masks on itself: "
                        "datasets/render_masked_faces.py writes them as <out>/masks, beside <out>/masked, the mask "
                        "of masked/REL/NNNNN_Mask.jpg being masks/REL/NNNNN_Mask.png ('L', its opacity 0-255, the "
                        "image's size). testmask/ (and with --paired trainmask/, one per training pair) then holds "
                        "these masks resized as the images are, and scripts/evaluate.py scores inside and outside "
                        "the true mask with no flag of its own. A face whose mask is missing is skipped and listed. "
                        "Given with --ffhq_json, --masks is used and --ffhq_json is not")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("--overwrite", action="store_true", help="redo everything in --out")
    args = p.parse_args(argv)
    for flag in ("n_train", "n_test", "size", "workers"):
        if getattr(args, flag) < (0 if flag.startswith("n_") else 1):
            raise UserError(f"--{flag} {getattr(args, flag)} is out of range")
    for flag in ("ffhq", "maskedfacenet"):
        if not Path(getattr(args, flag)).is_dir():
            raise UserError(f"--{flag} {getattr(args, flag)} is not a folder: download the data set "
                            "(see docs/datasets.md) and point the flag at it")
    if args.masks:
        masks, maskedfacenet = Path(args.masks).resolve(), Path(args.maskedfacenet).resolve()
        if not masks.is_dir():
            raise UserError(f"--masks {args.masks} is not a folder (the true masks, e.g. the masks/ folder that "
                            "datasets/render_masked_faces.py writes beside masked/)")
        if masks == maskedfacenet or maskedfacenet in masks.parents:
            raise UserError(f"--masks {args.masks} is inside --maskedfacenet {args.maskedfacenet}, where its "
                            "NNNNN_Mask.png files would be taken for masked faces: point --maskedfacenet at the "
                            "masked images only (e.g. <out>/masked, beside <out>/masks)")
    if args.ffhq_json and not Path(args.ffhq_json).is_file():
        raise UserError(f"--ffhq_json {args.ffhq_json} is not a file (FFHQ's ffhq-dataset-v2.json)")
    if args.detector == "haar":
        try:
            import cv2  # noqa: F401
        except ImportError as err:
            raise UserError("--detector haar needs OpenCV: pip install 'opencv-python-headless>=4,<5'") from err
    return args


def plan_key(args: argparse.Namespace) -> dict:
    """The arguments that decide the output (not --workers or --overwrite)."""
    keys = ("paired", "n_train", "n_test", "size", "format", "seed", "include_imfd", "detector")
    key = {k: getattr(args, k) for k in keys}
    key.update(ffhq=str(Path(args.ffhq).resolve()), maskedfacenet=str(Path(args.maskedfacenet).resolve()),
               ffhq_json=str(Path(args.ffhq_json).resolve()) if args.ffhq_json else None,
               masks=str(Path(args.masks).resolve()) if args.masks else None, version=PLAN_VERSION)
    return key


def earlier_plan(out: Path, key: dict) -> dict | None:
    """The plan of an earlier run into ``out`` with this ``key``, to complete; None for an empty ``out``.

    Refuses an ``out`` made with other arguments, of the other kind (paired or unpaired: the two
    layouts never mix in one folder), or not made by this script at all; --overwrite skips this.
    """
    plan_path = out / "plan.json"
    if not plan_path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise UserError(f"{out} is not empty and holds no plan.json of this script: choose an empty --out or "
                            f"pass --overwrite (which replaces {' '.join(OUT_DIRS)})")
        return None
    old = json.loads(plan_path.read_text())
    # plans written before --paired and --masks existed are unpaired and without true masks
    old_key = {"paired": False, "masks": None, "mask_sources": None, **old["key"]}
    if old_key["paired"] != key["paired"]:
        kinds = ["an unpaired split (trainA trainB)", "a paired split (train test)"]
        raise UserError(f"{out} holds {kinds[old_key['paired']]}, not {kinds[key['paired']]}: choose another "
                        "--out, or pass --overwrite to replace it")
    if old_key != key:
        changed = sorted(k for k in key if old_key.get(k) != key[k])
        raise UserError(f"{out} was made with other arguments or sources ({', '.join(changed)} differ): "
                        "pass --overwrite to redo it, or choose another --out")
    return old


def manifest(jobs: list[dict], sha: dict[str, str], paired: bool) -> str:
    """manifest.csv: a row per output written; a paired split adds source_b (an AB image's masked source)."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS + (["source_b"] if paired else []))
    for job in jobs:
        if job["output"] in sha:
            row = [job["output"], job["source"], job["ffhq_index"], job["domain"], job["split"], sha[job["output"]]]
            writer.writerow(row + ([job.get("source_b", "")] if paired else []))
    return rows.getvalue()


def clear_outputs(out: Path) -> None:
    for name in OUT_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in OWN_FILES:
        (out / name).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.masks and args.ffhq_json:  # the true masks are exact where the landmark polygon is a guess
        print(f"prepare_masked_faces: --ffhq_json is not used: testmask/ holds the true masks of --masks {args.masks}")
        args = argparse.Namespace(**{**vars(args), "ffhq_json": None})
    started = time.time()
    out = Path(args.out)
    ffhq, unmatched_a, dup_skipped = scan_ffhq(Path(args.ffhq))
    masked, unmatched_b = scan_maskedfacenet(Path(args.maskedfacenet))
    sources = list(ffhq.values()) + [p for kinds in masked.values() for p in kinds.values()]
    if args.ffhq_json:  # edited landmarks must redo the masks
        sources.append(Path(args.ffhq_json))
    mask_sources = None
    if args.masks:  # an edited, added or removed mask must redo the split (it decides which faces are usable)
        mask_sources = fingerprint(mask_path(Path(args.masks), Path(args.maskedfacenet), p)
                                   for kinds in masked.values() for p in kinds.values())
    key = dict(plan_key(args), sources=fingerprint(sources), mask_sources=mask_sources)

    image_dirs = PAIRED_DIRS if args.paired else UNPAIRED_DIRS
    mask_dirs = ("testmask", "trainmask") if args.paired and args.masks else ("testmask",)
    plan = None if args.overwrite else earlier_plan(out, key)
    if plan is None:
        plan = make_plan(args, ffhq, masked)  # may raise: nothing has been written yet
        load_landmarks(args.ffhq_json, {j["ffhq_index"] for j in plan["jobs"] if j["domain"] == "mask"})
        plan = {"key": key, **plan}
        clear_outputs(out)
        for name in image_dirs + (mask_dirs if args.ffhq_json or args.masks else ()):
            (out / name).mkdir(parents=True, exist_ok=True)
        write_if_changed(out / "plan.json", json.dumps(plan, indent=1) + "\n")

    hashes_path = out / ".hashes.json"
    hashes = json.loads(hashes_path.read_text()) if hashes_path.is_file() else {}
    todo, sha = [], {}
    for job in plan["jobs"]:
        target = out / job["output"]
        record = hashes.get(job["output"])
        if target.is_file():
            st = target.stat()
            if record and record[:2] == [st.st_size, st.st_mtime_ns]:
                sha[job["output"]] = record[2]
            else:  # written by a run that stopped before recording it
                sha[job["output"]] = hashlib.sha256(target.read_bytes()).hexdigest()
        else:
            todo.append(job)

    failed = []
    if todo:
        from tqdm import tqdm
        landmarks = load_landmarks(args.ffhq_json, {j["ffhq_index"] for j in todo if j["domain"] == "mask"})
        marks = [landmarks.get(j["ffhq_index"]) for j in todo]
        common = (str(out), args.size, args.format)
        if args.workers > 1:
            with ProcessPoolExecutor(args.workers) as pool:
                results = pool.map(write_job, [common[0]] * len(todo), todo, [common[1]] * len(todo),
                                   [common[2]] * len(todo), marks, chunksize=4)
                results = list(tqdm(results, total=len(todo), desc="writing", unit="img"))
        else:
            results = [write_job(str(out), j, args.size, args.format, m)
                       for j, m in tqdm(list(zip(todo, marks)), desc="writing", unit="img")]
        for output, digest, error in results:
            if error:
                failed.append({"path": output, "reason": error})
            else:
                sha[output] = digest

    new_hashes = {}
    for job in plan["jobs"]:
        target = out / job["output"]
        if job["output"] in sha:
            st = target.stat()
            new_hashes[job["output"]] = [st.st_size, st.st_mtime_ns, sha[job["output"]]]
    write_if_changed(hashes_path, json.dumps(new_hashes, sort_keys=True) + "\n")

    write_if_changed(out / "manifest.csv", manifest(plan["jobs"], sha, args.paired))

    counts = {name: sum(1 for j in plan["jobs"] if j["output"].startswith(name + "/") and j["output"] in sha)
              for name in image_dirs + mask_dirs}
    summary = {"counts": counts, "skipped": dup_skipped + plan["skipped"] + failed,
               "unmatched": unmatched_a + unmatched_b}
    write_if_changed(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    lines = [f"{name}: {n}" for name, n in counts.items()]
    lines.append(f"skipped: {len(summary['skipped'])} (see summary.json for each file and why)")
    reasons: dict[str, int] = {}
    for s in summary["skipped"]:
        reason = s["reason"].split(" (")[0].split(":")[0]
        reasons[reason] = reasons.get(reason, 0) + 1
    lines += [f"  {n} x {reason}" for reason, n in sorted(reasons.items())]
    lines.append(f"not following the FFHQ / MaskedFace-Net naming, left out: {len(summary['unmatched'])}")
    write_if_changed(out / "summary.txt", "\n".join(lines) + "\n")

    took, written = time.time() - started, len(todo) - len(failed)
    done = (f"wrote {written} files in {took:.1f}s ({written / max(took, 1e-9):.1f} images/s)" if todo
            else "already up to date, nothing written")
    print(f"prepare_masked_faces: {', '.join(lines[:len(counts)])}; {done}; {out}")
    if failed:
        print(f"prepare_masked_faces: {len(failed)} outputs failed; see {out / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, "prepare_masked_faces.py"))
