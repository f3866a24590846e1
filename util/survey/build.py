"""Building a survey folder: a balanced random set of real and generated images, nothing that tells them apart
but the pictures themselves.

What could give an image away besides its content, and what is done about it:

- its name: every image is copied as ``<16 random hex digits>.<format>``; the answer key is a separate
  file the server never serves;
- its format, size and metadata (FFHQ PNGs at 1024 px, MaskedFace-Net JPEGs, test.py PNGs at the crop
  size): every image is decoded, centre-cropped to a square, resized to ``size`` with Lanczos and
  written in one format with no metadata;
- the same face on both sides (test.py keeps input names, and a paired test set shows each face with
  and without a mask): a real image is not chosen when its face (its name without test.py's
  ``_fake_B``-style suffix and MaskedFace-Net's ``_Mask...`` suffix) is already among the fakes;
- the order: each respondent gets their own random order from the server;
- the kind of face (masked reals beside unmasked fakes would give the fakes away): where the build
  can tell what an image shows (``kind_of``, :class:`FaceKinds` as scripts/survey.py hands it in:
  test.py outputs read with their run's test_opt.json, a dataroot's ``<phase>A`` unmasked and
  ``<phase>B`` masked faces), fakes of two kinds, or reals of another kind than the fakes, are refused.
  A pix2pix run trained BtoA writes its unmasked fakes as ``fake_B``: they make a survey of unmasked
  faces, against unmasked reals. survey.json records the kind (``faces``: masked, unmasked, or null
  where nothing told).

The set is drawn with ``random.Random(seed)`` from the sorted file lists, so the same seed and folders
give the same images. Unreadable files are skipped with a warning. The folder is written under a
temporary name and renamed into place at the end, so a failed build leaves nothing half-made, and an
existing survey (with its answers) is never overwritten.
"""
from __future__ import annotations

import html
import json
import os
import random
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable

from PIL import Image

from data.image_folder import ImageReadError, find_images, load_image
from util import files
from util.errors import UserError
from util.survey.folder import FORMATS, SURVEY_VERSION

JPEG_QUALITY = 95
PAGE_TEMPLATE = Path(__file__).with_name("page.html")
# test.py names its outputs <input name>_<label>.png; MaskedFace-Net names masked faces NNNNN_Mask*.jpg.
TEST_LABEL = re.compile(r"_(real|fake|rec|idt)_[AB]$", re.IGNORECASE)
MASK_SUFFIX = re.compile(r"_mask(_mouth_chin|_chin|_nose_mouth)?$", re.IGNORECASE)
# What an image file shows, where that can be told: ("masked" | "unmasked", why), else None.
KindOf = Callable[[str], tuple[str, str] | None]


@dataclass(frozen=True)
class Source:
    flag: str        # --real or --fake
    folders: tuple[str, ...]
    glob: str | None

    @property
    def label(self) -> str:
        return self.flag.lstrip("-")


@dataclass
class Chosen:
    path: str
    label: str
    image: Image.Image


def face_of(path: str) -> str:
    """The face an image shows, by name: 00042_fake_B.png, 00042_Mask.jpg and 00042.png are one face."""
    stem = Path(path).stem
    return MASK_SUFFIX.sub("", TEST_LABEL.sub("", stem)).lower()


KINDS = {"A": "unmasked", "B": "masked"}  # the repository's domains
DATAROOT_HALF = re.compile(r"(.*)([AB])")
FAKES_OF = {"masked": "a CycleGAN run's fake_B, an AtoB pix2pix run's fake_B",
            "unmasked": "a CycleGAN run's fake_A, a BtoA pix2pix run's fake_B"}
REALS_OF = {"masked": "e.g. a dataroot's testB", "unmasked": "e.g. a dataroot's testA"}
Place = tuple[dict[str, str], str]  # (test.py label, or "" for any file -> domain A or B; description)


class FaceKinds:
    """A ``kind_of``: what an image file shows, ("masked" | "unmasked", why), where its place tells; else None.

    A file named like a test.py output (``NAME_fake_B.png``) is read by the nearest folder above it that
    holds a test_opt.json, through ``result_directions`` (scripts/evaluate.py's, handed in: a pix2pix
    run labels its fakes fake_B whatever its direction); any other file by the nearest folder above it
    named ``<phase>A`` or ``<phase>B`` beside its partner (a dataroot's halves).
    """

    def __init__(self, result_directions: Callable[[dict | None], dict[str, tuple[str, str, str, str]]]):
        self.result_directions = result_directions
        self.places: dict[tuple[Path, bool], Place | None] = {}

    def __call__(self, path: str) -> tuple[str, str] | None:
        m = TEST_LABEL.search(Path(path).stem)
        label = f"{m.group(1).lower()}_{m.group(0)[-1].upper()}" if m else None  # as test.py writes it
        for above in Path(path).parents:
            key = (above, label is not None)
            if key not in self.places:
                self.places[key] = self.results(above) if label else self.dataroot_half(above)
            if self.places[key] is not None:
                domains, where = self.places[key]
                domain = domains.get(label or "")
                return (KINDS[domain], f"{label} of {where}" if label else where) if domain else None
        return None

    def results(self, folder: Path) -> Place | None:
        """A test.py results folder's labels and run, from its test_opt.json."""
        try:
            opt = json.loads((folder / "test_opt.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(opt, dict):
            return None
        domains = {}
        for fake, side, given, target in self.result_directions(opt).values():
            domains.update({fake: side, target: side, given: "A" if side == "B" else "B"})
        model = opt.get("model", "cycle_gan")
        trained = f" trained {opt.get('direction')}" if model == "pix2pix" else ""
        return domains, f"{model} run {opt.get('name', folder.name)}{trained}"

    @staticmethod
    def dataroot_half(folder: Path) -> Place | None:
        m = DATAROOT_HALF.fullmatch(folder.name)
        if m is None or not (folder.parent / (m.group(1) + ("B" if m.group(2) == "A" else "A"))).is_dir():
            return None
        return {"": m.group(2)}, f"a dataroot's {folder.name}"


def glob_hint(paths: list[str], wanted: str, kind_of: KindOf | None) -> str:
    """The --fake_glob (--real_glob) patterns of the test.py labels of the ``wanted`` kind among ``paths``,
    each with the faces it holds where ``kind_of`` tells, e.g. "'*_fake_B.png' (unmasked faces)"."""
    examples: dict[str, str] = {}
    for p in paths:
        m = TEST_LABEL.search(Path(p).stem)
        if m and m.group(1).lower() == wanted:
            examples.setdefault(m.group(0)[1:], p)
    if not examples:
        return "'*_fake_B.png' (masks put on) or '*_fake_A.png'" if wanted == "fake" else "'*_real_B.png'"
    hints = []
    for label, example in sorted(examples.items(), key=lambda item: (item[0][-1].upper() != "B", item[0])):
        kind = kind_of(example) if kind_of else None
        hints.append(f"'*_{label}.png'" + (f" ({kind[0]} faces)" if kind else ""))
    return " or ".join(hints)


def candidates(source: Source, kind_of: KindOf | None = None) -> list[str]:
    """The image files of ``source``, sorted; refuses test.py folders whose other outputs would be mixed in."""
    paths: list[str] = []
    for folder in source.folders:
        if not os.path.isdir(folder):
            raise UserError(f"{source.flag} {folder} is not a folder; pass a folder of images")
        found = find_images(folder)
        if source.glob is not None:
            found = [p for p in found if fnmatchcase(os.path.basename(p).lower(), source.glob.lower())]
        paths.extend(found)
    if source.glob is None:
        wanted = "fake" if source.label == "fake" else "real"
        labelled = ((p, TEST_LABEL.search(Path(p).stem)) for p in paths)
        stray = next((p for p, m in labelled if m and m.group(1).lower() != wanted), None)
        if stray is not None:
            raise UserError(f"{source.flag} holds test.py outputs that are not {wanted} images (e.g. {stray}); "
                            f"choose the ones you mean with {source.flag}_glob {glob_hint(paths, wanted, kind_of)}")
    if not paths:
        where = " or ".join(source.folders)
        raise UserError(f"{source.flag}: no images in {where}" + (f" matching {source.glob!r}" if source.glob else ""))
    return sorted(set(os.path.abspath(p) for p in paths))


def one_kind(real_paths: list[str], fake_paths: list[str], kind_of: KindOf | None) -> str | None:
    """The kind of face the survey shows (masked or unmasked), where ``kind_of`` tells; fakes of two kinds,
    or reals of another kind than the fakes, are refused."""
    if kind_of is None:
        return None
    seen: dict[str, dict[str, tuple[str, str]]] = {}
    for flag, paths in (("--fake", fake_paths), ("--real", real_paths)):
        kinds: dict[str, tuple[str, str]] = {}
        for path in paths:
            found = kind_of(path)
            if found is not None:
                kinds.setdefault(found[0], (path, found[1]))
        if len(kinds) > 1:
            (k1, (p1, why1)), (k2, (p2, why2)) = sorted(kinds.items())
            raise UserError(f"{flag} holds {k1} faces ({p1}: {why1}) and {k2} ones ({p2}: {why2}); a survey shows "
                            f"one kind of face: choose one with {flag}_glob")
        seen[flag] = kinds
    fake, real = seen["--fake"], seen["--real"]
    if fake and real and set(fake) != set(real):
        (fk, (fp, fwhy)), (rk, (rp, rwhy)) = next(iter(fake.items())), next(iter(real.items()))
        raise UserError(f"--fake holds {fk} faces ({fp}: {fwhy}) but --real holds {rk} ones ({rp}: {rwhy}); a survey "
                        f"of {rk} faces takes {rk} fakes ({FAKES_OF[rk]}), one of {fk} faces {fk} --real "
                        f"({REALS_OF[fk]})")
    return next(iter(fake or real), None)


def normalise(img: Image.Image, size: int) -> Image.Image:
    """Centre square crop, resized to size x size: every image ends up the same shape and resolution.
    PIL carries a source's metadata (an ICC profile, EXIF) along; it is dropped, so the copy has none."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    out = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    out.info = {}
    return out


def pick(paths: list[str], count: int, rng: random.Random, label: str, flag: str, size: int,
         avoid_faces: set[str], n: int) -> list[Chosen]:
    order = list(paths)
    rng.shuffle(order)
    chosen: list[Chosen] = []
    unreadable = same_face = 0
    for path in order:
        if len(chosen) == count:
            break
        if face_of(path) in avoid_faces:
            same_face += 1
            continue
        try:
            image = normalise(load_image(path), size)
        except ImageReadError as err:
            print(f"survey: warning: skipping {err}", file=sys.stderr)
            unreadable += 1
            continue
        chosen.append(Chosen(path, label, image))
    if len(chosen) < count:
        left_out = ", ".join(part for part in (f"{unreadable} unreadable" if unreadable else "",
                                               f"{same_face} the same face as a chosen fake (--allow_same_face)"
                                               if same_face else "") if part)
        raise UserError(f"{flag}: only {len(chosen)} usable images of {len(paths)}"
                        + (f" ({left_out})" if left_out else "")
                        + f"; --n {n} needs {count} of each kind: add images or lower --n")
    return chosen


def render_page(config: dict) -> str:
    """index.html: the page template with the survey's public settings (no labels) filled in."""
    # JSON inside <script>: "<" escaped so no value can close the element.
    blob = json.dumps(config, sort_keys=True).replace("<", "\\u003c")
    return (PAGE_TEMPLATE.read_text(encoding="utf-8")
            .replace("__TITLE__", html.escape(config["title"]))
            .replace("__CONFIG__", blob))


def check_out_folder(out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"--out {out} already exists and is not empty; choose a new folder "
                        "(a built survey and its answers are never overwritten)")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; choose a new folder")


def build_survey(real: Source, fake: Source, n: int, out: str | Path, seed: int | None = None, size: int = 256,
                 fmt: str = "png", allow_same_face: bool = False, title: str = "Real or fake?",
                 exposure_ms: int = 0, kind_of: KindOf | None = None) -> dict:
    """Write a survey folder (see util/survey/__init__.py) and return its survey.json contents.
    ``kind_of`` tells, where it can, whether an image file shows a masked or an unmasked face."""
    out = Path(out)
    if n < 2 or n % 2:
        raise UserError(f"--n {n}: a balanced survey needs an even number of images, 2 or more")
    check_out_folder(out)
    real_paths, fake_paths = candidates(real, kind_of), candidates(fake, kind_of)
    both = set(real_paths) & set(fake_paths)
    if both:
        raise UserError(f"{min(both)} is under both --real and --fake; give folders that do not overlap")
    faces = one_kind(real_paths, fake_paths, kind_of)
    seed = secrets.randbelow(2**31) if seed is None else seed
    rng = random.Random(seed)
    fakes = pick(fake_paths, n // 2, rng, "fake", "--fake", size, set(), n)
    avoid = set() if allow_same_face else {face_of(c.path) for c in fakes}
    reals = pick(real_paths, n // 2, rng, "real", "--real", size, avoid, n)

    survey_id = secrets.token_hex(8)
    ids: dict[str, Chosen] = {}
    for chosen in fakes + reals:
        image_id = secrets.token_hex(8)
        while image_id in ids:
            image_id = secrets.token_hex(8)
        ids[image_id] = chosen
    survey = {"version": SURVEY_VERSION, "survey_id": survey_id, "title": title, "n": n, "n_real": n // 2,
              "n_fake": n // 2, "images": sorted(ids), "format": fmt, "size": size, "exposure_ms": exposure_ms,
              "faces": faces, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    key = {"version": SURVEY_VERSION, "survey_id": survey_id, "seed": seed,
           "images": {i: {"label": c.label, "source": c.path, "sha256": files.file_sha256(c.path)}
                      for i, c in sorted(ids.items())}}
    page = render_page({"survey_id": survey_id, "title": title, "n": n, "format": fmt, "exposure_ms": exposure_ms})

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.building-{secrets.token_hex(4)}"
    try:
        (tmp / "images").mkdir(parents=True)
        for image_id, chosen in ids.items():
            options = {"quality": JPEG_QUALITY} if fmt == "jpg" else {}
            chosen.image.save(tmp / "images" / f"{image_id}.{fmt}", FORMATS[fmt], **options)
        (tmp / "survey.json").write_text(json.dumps(survey, indent=2) + "\n", encoding="utf-8")
        (tmp / "key.json").write_text(json.dumps(key, indent=2) + "\n", encoding="utf-8")
        (tmp / "index.html").write_text(page, encoding="utf-8")
        check_out_folder(out)  # again: something may have appeared there meanwhile
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)
    except OSError as err:
        raise UserError(f"cannot write the survey to --out {out} ({err.strerror or err}); "
                        "check free space and permissions") from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return survey

