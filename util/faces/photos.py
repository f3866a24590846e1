"""The photo pipeline behind ``scripts/mask_photos.py``: every face of every photo, video frame by
frame, found, cut out as FFHQ was, given a mask (or relieved of one) by the *method* it is handed,
and, where asked, measured for identity.

A method (:class:`Method`) is one object with two steps: ``batch`` runs in the main process on the
aligned crops of several photos' faces at once (a generator translating them; the mask renderer has
nothing to do there), and ``apply`` runs in a worker on one face of the photo (the translation
pasted back, see :class:`PasteBack`; or a mask rendered on). The pipeline knows no method by name:
a new way of putting a mask on is a new method object, not a branch here.

Three stages overlap. Worker processes decode photos and find, landmark and align their faces, and
describe them when identity is measured (:func:`prepare`), well ahead of the main process, which
calls ``batch`` on whole photos' faces (this module does not import torch); worker processes then
``apply`` each face, describe it again, and write the photo and its mask (:func:`finish`). Results
are taken in input order, so ``faces.jsonl`` is the same on every run and with any number of workers;
a method that draws at random gets a key per face (:func:`face_key`) to draw from.

The output folder holds, besides the photos, ``faces.jsonl`` (one object per face), ``summary.json``,
with ``save_masks`` a ``masks/`` folder (each photo's masks' opacity, ``masks/REL.png``; a video's
per frame, ``masks/REL/NNNNNN.png``), and a hidden ``.mask_photos/`` with the arguments that made it
(``run.json``) and a log of the inputs finished (``done.jsonl``). A file is written under a
temporary name and renamed when whole; an input counts as done only after its photo (or video), its
mask, its face records and its pairs are all written, so an interrupted run redoes exactly the
unfinished inputs, and a second run with the same arguments writes nothing.
"""
from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Protocol

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from util.errors import UserError
from util.faces import identity
from util.faces.align import align, ffhq_quad, paste, quad_side
from util.faces.detect import FaceFinder
from util.files import IMG_EXTENSIONS, write_atomically

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
STATE = ".mask_photos"
MASKS = "masks"  # the folder of --output where save_masks writes the masks' opacity
# "translate" is the methods' batch step, "paste" their apply step (a translation pasted back, a mask rendered on)
STAGES = ("decode", "detect", "landmarks", "align", "translate", "paste", "identity", "write")
STYLE_FIELDS = ("mask_type", "color", "pattern", "wear")  # recorded per face (null where a method has none)


@dataclass(frozen=True)
class Settings:
    """What the workers need to know (it crosses process boundaries, so plain values only)."""

    detector: str = "hog"
    upsample: int | None = 1  # None: picked from each photo's size
    min_score: float | None = None  # the detector's own default
    max_side: int = 2048
    crop_size: int = 256
    min_face_size: float = 32.0
    feather: float = 0.12  # for a bare generator function handed to run (see PasteBack)
    max_identity_distance: float | None = None
    identity: bool = True
    direction: str = "on"  # on: masks put on (A -> B); off: taken off (B -> A)
    save_masks: bool = False
    crops: bool = True  # align each face (set by run: when the method or the pairs need the crops)
    pairs: bool = False  # keep each face's crops after, for the pairs (set by run)


@dataclass
class Item:
    """One input file: a photo or a video, with its path relative to the input it was found under."""

    path: Path
    relpath: Path
    video: bool


@dataclass
class FacePlan:
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    quad: np.ndarray
    status: str  # "pending" until the method is applied: then translated, kept_original; or too_small
    detector: str = "hog"  # which detector found it (auto: hog, or cnn where hog found no face)
    cnn_check: float | None = None  # the CNN's confidence on a doubtful HOG face's crop (None: not checked)
    crop: np.ndarray | None = None  # the aligned crop of the input face
    before: np.ndarray | None = None  # identity descriptor of the input face
    identity_distance: float | None = None
    info: dict = field(default_factory=dict)  # the style the method applied (mask_type, color, ...)
    after: np.ndarray | None = None  # for the pairs: the crop after (the translation, or the masked photo's)
    mask: np.ndarray | None = None  # for the pairs: the crop of the face's opacity, where the method has one


@dataclass
class Unit:
    """One picture through the pipeline: a photo (decoded by the worker) or a video frame."""

    index: int  # of the Item
    frame: int | None = None
    rgb: np.ndarray | None = None
    alpha: np.ndarray | None = None
    meta: dict = field(default_factory=dict)  # mode, format, icc, exif of a photo
    faces: list[FacePlan] = field(default_factory=list)
    error: str = ""
    times: dict = field(default_factory=dict)
    opacity: np.ndarray | None = None  # the union of the applied faces' opacity (H x W uint8), if any


class Method(Protocol):
    """A way of putting a mask on (or taking one off), as the pipeline is handed it.

    ``name`` is recorded with every face. ``needs_crops``: whether ``batch`` wants the faces'
    aligned crops (``Settings.crop_size``). ``batch`` runs in the main process on the crops of
    several photos' faces (N x S x S x 3 uint8) and returns one picture per crop. A method that needs
    no crops has nothing to do in bulk: ``batch`` is never called, the faces are aligned only for the
    pairs, and each photo is finished in the worker that found its faces (it never travels back
    to the main process and out again).
    ``apply`` runs in a worker process, on each face of a photo in turn: it gets the photo as the
    earlier faces left it, the face (``landmarks``, ``quad``, ``box``), the face's picture from
    ``batch`` (or None) and the face's key (:func:`face_key`, for anything drawn at random), and
    returns the new photo (pixels away from the face unchanged), the face's opacity in the photo's
    pixels (H x W uint8, or None) and the face's style for the records (keys of ``STYLE_FIELDS``).
    The object crosses to the workers by pickle (spawn), so it carries only what ``apply`` needs.
    """

    name: str
    needs_crops: bool

    def batch(self, crops: np.ndarray) -> np.ndarray | None: ...

    def apply(self, photo: np.ndarray, face: FacePlan, translated: np.ndarray | None,
              key: str) -> tuple[np.ndarray, np.ndarray | None, dict]: ...


class PasteBack:
    """A translator of aligned crops (a generator: uint8 N x S x S x 3 in and out) as a method: ``batch``
    translates, ``apply`` pastes the face's translation back along its quad with a feathered edge
    (:func:`util.faces.align.paste`). The translator stays in the main process: a copy sent to a
    worker has none, which is all ``apply`` needs."""

    needs_crops = True

    def __init__(self, translate: Callable[[np.ndarray], np.ndarray] | None, feather: float = 0.12,
                 name: str = "gan"):
        self.translate, self.feather, self.name = translate, feather, name

    def batch(self, crops: np.ndarray) -> np.ndarray:
        return self.translate(crops)

    def apply(self, photo: np.ndarray, face: FacePlan, translated: np.ndarray | None,
              key: str) -> tuple[np.ndarray, None, dict]:
        return paste(photo, translated, face.quad, self.feather), None, {}

    def __reduce__(self):
        return PasteBack, (None, self.feather, self.name)


# ----------------------------------------------------------------------------- inputs


def find_inputs(inputs: list[str]) -> list[Item]:
    """Photos and videos of ``--input`` (files, and folders searched recursively), in a stable order."""
    items: list[Item] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for folder, dirs, files in os.walk(path, followlinks=True):
                dirs.sort()
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in sorted(files):
                    kind = media_kind(name)
                    if kind and not name.startswith("."):
                        full = Path(folder) / name
                        items.append(Item(full, full.relative_to(path), kind == "video"))
        elif path.is_file():
            kind = media_kind(path.name)
            if kind is None:
                raise UserError(f"--input {given} is neither a photo ({' '.join(IMG_EXTENSIONS)}) nor a video "
                                f"({' '.join(VIDEO_EXTENSIONS)})")
            items.append(Item(path, Path(path.name), kind == "video"))
        else:
            raise UserError(f"--input {given} does not exist")
    if not items:
        raise UserError(f"--input {' '.join(inputs)}: no photos ({' '.join(IMG_EXTENSIONS)}) or videos "
                        f"({' '.join(VIDEO_EXTENSIONS)}) found")
    seen: dict[Path, Path] = {}
    for item in items:
        if item.relpath in seen:
            raise UserError(f"--input: {seen[item.relpath]} and {item.path} would both be written as "
                            f"{item.relpath}; translate them in separate runs")
        seen[item.relpath] = item.path
    return items


def media_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(IMG_EXTENSIONS):
        return "photo"
    if lower.endswith(VIDEO_EXTENSIONS):
        return "video"
    return None


def check_output_folder(output: Path, inputs: list[str]) -> None:
    """--output may be neither an input folder nor inside one (a rerun would find the results as
    photos), nor hold an input."""
    out = output.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if source.is_dir() and (out == source or source in out.parents):
            raise UserError(f"--output {output} is inside --input {given}: choose a folder outside the inputs")
        if out in source.parents:
            raise UserError(f"--output {output} contains --input {given}: choose an empty folder elsewhere")


# ----------------------------------------------------------------------------- photos in and out


def read_photo(path: Path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """RGB uint8 upright (EXIF orientation applied), the alpha channel if any, and what is needed to
    write the photo back in its own format (mode, format, ICC profile, EXIF without orientation)."""
    with Image.open(path) as img:
        fmt = img.format
        upright = ImageOps.exif_transpose(img)
        upright.load()
    meta = {"format": fmt, "mode": upright.mode, "icc": upright.info.get("icc_profile")}
    exif = upright.getexif()
    exif.pop(0x0112, None)
    meta["exif"] = exif.tobytes() if len(exif) else None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    if has_alpha:
        rgba = np.asarray(upright.convert("RGBA"))
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3]), meta
    return np.asarray(upright.convert("RGB")), None, meta


def encode_photo(rgb: np.ndarray, alpha: np.ndarray | None, meta: dict) -> bytes:
    """The photo as bytes in its own format: grey stays grey, alpha is kept, JPEGs at quality 95."""
    img = Image.fromarray(rgb)
    if alpha is not None:
        img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
        if meta["mode"] in ("LA",):
            img = img.convert("LA")
    elif meta["mode"] in ("L", "I", "I;16", "F", "1"):
        img = img.convert("L")
    fmt = meta["format"] or "PNG"
    options: dict = {}
    if meta.get("icc"):
        options["icc_profile"] = meta["icc"]
    if meta.get("exif") and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        options["exif"] = meta["exif"]
    if fmt == "JPEG":
        options.update(quality=95, subsampling=0)
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
    elif fmt == "WEBP":
        options.update(quality=95)
    elif fmt == "PNG":
        options.update(compress_level=3)  # 2.5x faster than Pillow's 6 on a 1024 px photo, about 20% larger
    elif fmt == "BMP" and img.mode == "LA":
        img = img.convert("L")
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- the stages


def prepare(settings: Settings, item: Item, unit: Unit) -> Unit:
    """Stage 1 (workers): decode a photo, find its faces, their landmarks, quads, crops (where the method
    or the pairs need them) and identity (where it is measured)."""
    finder = FaceFinder(settings.detector, settings.upsample, settings.min_score, settings.max_side)
    t = time.perf_counter()
    if unit.rgb is None:
        try:
            unit.rgb, unit.alpha, unit.meta = read_photo(item.path)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            unit.error = f"{type(err).__name__}: {str(err)[:160]}"
            return unit
    t = _lap(unit, "decode", t)
    found = finder.detections(unit.rgb)
    t = _lap(unit, "detect", t)
    for d in found:
        landmarks = finder.landmarks(unit.rgb, d.box)
        quad = ffhq_quad(landmarks)
        small = quad_side(quad) < settings.min_face_size
        unit.faces.append(FacePlan(d.box, d.score, landmarks, quad, "too_small" if small else "pending",
                                   detector=d.detector, cnn_check=d.check))
    unit.faces.sort(key=lambda f: (f.box[0], f.box[1]))
    t = _lap(unit, "landmarks", t)
    if settings.crops:
        for face in unit.faces:
            if face.status == "pending":
                face.crop = align(unit.rgb, face.quad, settings.crop_size)
    t = _lap(unit, "align", t)
    if settings.identity:
        for face in unit.faces:
            if face.status == "pending":
                face.before = identity.descriptor(unit.rgb, face.landmarks, face.box)
    _lap(unit, "identity", t)
    return unit


def finish(settings: Settings, method: Method, item: Item, unit: Unit,
           translated: list[np.ndarray] | None) -> Unit:
    """Stage 3 (workers): apply the method to each face, in the faces' order (a later face goes over an
    earlier one where they overlap), measuring identity after each where asked; a face farther than
    ``max_identity_distance`` from its input is left as it was. ``translated`` holds ``batch``'s
    picture of each pending face, or is None. The applied faces' opacity is gathered (their maximum)."""
    result, union = unit.rgb, None
    pending = [(k, face) for k, face in enumerate(unit.faces) if face.status == "pending"]
    pictures = translated if translated is not None else [None] * len(pending)
    for (k, face), picture in zip(pending, pictures):
        t = time.perf_counter()
        new, opacity, info = method.apply(result, face, picture, face_key(item, unit, k))
        face.info = dict(info)
        t = _lap(unit, "paste", t)
        if settings.identity:
            after = identity.descriptor(new, face.landmarks, face.box)
            face.identity_distance = identity.distance(face.before, after)
            t = _lap(unit, "identity", t)
        limit = settings.max_identity_distance
        if limit is not None and face.identity_distance is not None and face.identity_distance > limit:
            face.status = "kept_original"
        else:
            face.status, result = "translated", new
            if opacity is not None:
                union = opacity if union is None else np.maximum(union, opacity)
        if settings.pairs:  # the crop after: the method's own picture, else the same crop of the new photo
            face.after = picture if picture is not None else align(new, face.quad, settings.crop_size)
            face.mask = None if opacity is None else align(opacity, face.quad, settings.crop_size)
            _lap(unit, "align", t)
        else:
            face.crop = None  # not needed back in the main process
    unit.rgb, unit.opacity = result, union
    return unit


def face_key(item: Item, unit: Unit, k: int) -> str:
    """The name a face's random choices are drawn by: the photo's relative path, the frame of a video,
    the face's index ("sub/a.jpg:0", "clip.mp4:12:1"); the same on every run and in every worker."""
    where = item.relpath.as_posix() if unit.frame is None else f"{item.relpath.as_posix()}:{unit.frame}"
    return f"{where}:{k}"


def _lap(unit: Unit, stage: str, since: float) -> float:
    now = time.perf_counter()
    unit.times[stage] = unit.times.get(stage, 0.0) + now - since
    return now


# ----------------------------------------------------------------------------- records


def face_record(item: Item, output: Path, unit: Unit, k: int, face: FacePlan, method: str) -> dict:
    record = {"source": str(item.path), "output": str(output), "face": k}
    if unit.frame is not None:
        record["frame"] = unit.frame
    record.update({
        "box": [round(v, 2) for v in face.box], "score": round(face.score, 4), "detector": face.detector,
        "cnn_check": None if face.cnn_check is None else round(face.cnn_check, 4),
        "landmarks": np.round(face.landmarks, 2).tolist(), "quad": np.round(face.quad, 2).tolist(),
        "quad_side": round(quad_side(face.quad), 2),
        "identity_distance": None if face.identity_distance is None else round(face.identity_distance, 4),
        "status": face.status, "method": method, **{k: face.info.get(k) for k in STYLE_FIELDS}})
    return record


def pair_name(item: Item, unit: Unit, k: int) -> str:
    stem = "__".join(item.relpath.with_suffix("").parts)
    return f"{stem}_f{unit.frame:06d}_{k}" if unit.frame is not None else f"{stem}_{k}"


def write_pairs(pairs_dir: Path, item: Item, unit: Unit, settings: Settings, columns: list,
                method: str) -> list[list]:
    """Each changed face's aligned crop before and after: A/NAME.png unmasked, B/NAME.png masked, and
    where the method gives an opacity, mask/NAME.png (single channel, 0..255, the same square).
    A row per face: name, source, frame, face, identity_distance, ``columns``, method, style."""
    rows = []
    for k, face in enumerate(unit.faces):
        if face.status != "translated":
            continue
        unmasked, masked = (face.crop, face.after) if settings.direction == "on" else (face.after, face.crop)
        name = pair_name(item, unit, k)
        for side, picture in (("A", unmasked), ("B", masked), ("mask", face.mask)):
            if picture is not None:
                write_png(pairs_dir / side / f"{name}.png", picture)
        rows.append([name, str(item.path), "" if unit.frame is None else unit.frame, k,
                     round(face.identity_distance, 4) if face.identity_distance is not None else "",
                     *columns, method, *("" if face.info.get(f) is None else face.info[f] for f in STYLE_FIELDS)])
    return rows


def write_png(path: Path, picture: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG")
    write_atomically(path, lambda f: f.write(buffer.getvalue()))


class Journal:
    """``faces.jsonl``, ``pairs.csv`` and the done log: appended per input, in input order, each
    line flushed; lines of an input that did not reach the done log are dropped when a run resumes."""

    def __init__(self, output: Path, pairs_dir: Path | None, pairs_header: list[str]):
        self.output, self.pairs_dir, self.pairs_header = output, pairs_dir, pairs_header
        self.state = output / STATE
        self.done_path, self.faces_path = self.state / "done.jsonl", output / "faces.jsonl"
        self.pairs_path = pairs_dir / "pairs.csv" if pairs_dir else None

    def done(self) -> dict[str, dict]:
        finished = {}
        for line in _lines(self.done_path):
            try:
                entry = json.loads(line)
                finished[entry["source"]] = entry
            except (ValueError, KeyError):
                continue  # a line torn by a kill
        return finished

    def drop_unfinished(self, finished: dict[str, dict]) -> None:
        """Remove the records of inputs that were being written when an earlier run stopped."""
        lines = _lines(self.faces_path)
        keep = [line for line in lines if _source_of(line) in finished]
        if len(keep) != len(lines):
            write_atomically(self.faces_path, lambda f: f.write("".join(k + "\n" for k in keep).encode()))
        if self.pairs_path and self.pairs_path.exists():
            with open(self.pairs_path, newline="") as f:
                rows = list(csv.reader(f))
            kept = [rows[0]] + [r for r in rows[1:] if len(r) == len(self.pairs_header) and r[1] in finished] \
                if rows else []
            if kept != rows:
                buffer = io.StringIO()
                csv.writer(buffer).writerows(kept)
                write_atomically(self.pairs_path, lambda f: f.write(buffer.getvalue().encode()))

    def add(self, source: str, records: list[dict], pair_rows: list[list], entry: dict) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        if records:
            _append(self.faces_path, "".join(json.dumps(r) + "\n" for r in records))
        if self.pairs_path is not None and pair_rows:
            new = not self.pairs_path.exists() or self.pairs_path.stat().st_size == 0
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            if new:
                writer.writerow(self.pairs_header)
            writer.writerows(pair_rows)
            _append(self.pairs_path, buffer.getvalue())
        _append(self.done_path, json.dumps({"source": source, **entry}) + "\n")


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line.strip()]


def _source_of(line: str) -> str | None:
    try:
        return json.loads(line).get("source")
    except ValueError:
        return None


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


# ----------------------------------------------------------------------------- the run


class Pool:
    """A bounded queue of calls on worker processes (or inline when ``workers`` is 0), taken in order."""

    def __init__(self, workers: int, depth: int):
        self.pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 0 else None
        self.depth = depth
        self.queue: deque = deque()

    def full(self) -> bool:
        return len(self.queue) >= self.depth

    def submit(self, fn: Callable, *args) -> None:
        self.queue.append(self.pool.apply_async(fn, args) if self.pool else _Done(fn(*args)))

    def ready(self) -> bool:
        return bool(self.queue) and self.queue[0].ready()

    def take(self):
        return self.queue.popleft().get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


class _Done:
    def __init__(self, value):
        self.value = value

    def ready(self) -> bool:
        return True

    def get(self):
        return self.value


@dataclass
class RunStats:
    """What this run did and how long each stage took (the totals of an output folder, earlier runs
    included, are counted from its faces.jsonl and done log)."""

    photos: int = 0
    frames: int = 0
    faces: int = 0
    skipped: list = field(default_factory=list)
    times: dict = field(default_factory=dict)

    def count(self, unit: Unit) -> None:
        self.faces += len(unit.faces)
        for stage, seconds in unit.times.items():
            self.times[stage] = self.times.get(stage, 0.0) + seconds


class VideoOut:
    """A video being written: frames in order to a temporary file, renamed when complete."""

    def __init__(self, final: Path, fps: float, size: tuple[int, int]):
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = final.with_name(f".{final.stem}.partial{final.suffix}")
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_FOURCC.get(final.suffix.lower(), "mp4v"))
        self.writer = cv2.VideoWriter(str(self.tmp), fourcc, fps, size)
        self.records: list[dict] = []
        self.pairs: list[list] = []
        self.faces = 0

    def add(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()
        os.replace(self.tmp, self.final)

    def abandon(self) -> None:
        self.writer.release()
        self.tmp.unlink(missing_ok=True)


def frame_count(path: Path) -> int:
    """The frame count a video's header gives (for the progress bar; 1 if it cannot be read)."""
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    return max(1, count)


def units_of(items: list[Item], todo: list[int]) -> Iterator[tuple[str, int, object]]:
    """The pictures to process: ("photo", i, None) for a photo; for a video ("start", i, (fps, size)),
    ("frame", i, Unit) per frame and ("end", i, frames); ("bad", i, reason) for a video
    that cannot be opened."""
    for i in todo:
        item = items[i]
        if not item.video:
            yield "photo", i, None
            continue
        capture = cv2.VideoCapture(str(item.path))
        if not capture.isOpened():
            yield "bad", i, "OpenCV cannot open it as a video"
            continue
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        ok, frame = capture.read()
        if not ok or size[0] <= 0:
            capture.release()
            yield "bad", i, "no frame could be decoded"
            continue
        yield "start", i, (fps, size)
        f = 0
        while ok:
            yield "frame", i, Unit(i, frame=f, rgb=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            f += 1
            ok, frame = capture.read()
        capture.release()
        yield "end", i, f


def run(items: list[Item], output: Path, settings: Settings,
        method: Method | Callable[[np.ndarray], np.ndarray], batch_size: int, workers: int,
        pairs_dir: Path | None, pair_columns: dict, journal: Journal, todo: list[int],
        say: Callable[[str], None] = print, progress: Callable | None = None) -> RunStats:
    """Process the inputs ``todo`` (indices into ``items``) with ``method`` and return the counts.

    ``method`` is a :class:`Method`; a bare function of crops (a generator) is taken as
    ``PasteBack(function, settings.feather)``. ``batch_size`` faces go to ``batch`` together (a
    photo's faces always together); ``pair_columns`` are written into every row of ``pairs.csv``."""
    if not hasattr(method, "apply"):
        method = PasteBack(method, settings.feather)
    settings = replace(settings, crops=method.needs_crops or pairs_dir is not None, pairs=pairs_dir is not None)
    fused = not method.needs_crops  # nothing in bulk: each photo prepared and finished in one worker call
    stats = RunStats()
    prepare_pool = Pool(workers, depth=2 * workers + 2)
    finish_pool = Pool(max(1, workers // 2) if workers and not fused else 0, depth=2 * workers + 2)
    videos: dict[int, VideoOut] = {}
    batch: list[Unit] = []
    t_start = time.perf_counter()
    bar = progress(total=sum(frame_count(items[i].path) if items[i].video else 1 for i in todo)) if progress else None

    def out_path(item: Item) -> Path:
        return output / item.relpath

    def complete(unit: Unit) -> None:
        """A finished picture, in input order: write a photo's records, or a frame into its video."""
        item = items[unit.index]
        if unit.error:
            skip(unit.index, f"unreadable ({unit.error})")
            return
        stats.count(unit)
        pair_rows = write_pairs(pairs_dir, item, unit, settings, list(pair_columns.values()), method.name) \
            if pairs_dir else []
        records = [face_record(item, out_path(item), unit, k, face, method.name) for k, face in enumerate(unit.faces)]
        if unit.frame is not None:
            video = videos[unit.index]
            video.add(unit.rgb)
            video.records.extend(records)
            video.pairs.extend(pair_rows)
            video.faces += len(unit.faces)
            tick()
            return
        stats.photos += 1
        journal.add(str(item.path), records, pair_rows, {"output": str(out_path(item)), "faces": len(unit.faces)})
        tick()

    def skip(i: int, reason: str) -> None:
        say(f"warning: skipped {items[i].path}: {reason}")
        stats.skipped.append({"path": str(items[i].path), "reason": reason})
        journal.add(str(items[i].path), [], [], {"skipped": reason})
        tick()

    def tick() -> None:
        if bar:
            bar.update(1)

    def flush() -> None:
        """Run the method's batch step on the faces of the photos gathered so far, in one call; hand
        them to stage 3."""
        crops = [f.crop for u in batch for f in u.faces if f.status == "pending" and f.crop is not None]
        pictures = None
        if crops:
            t0 = time.perf_counter()
            out = method.batch(np.stack(crops))
            pictures = None if out is None else list(out)
            stats.times["translate"] = stats.times.get("translate", 0.0) + time.perf_counter() - t0
        for unit in batch:
            n = sum(f.status == "pending" for f in unit.faces)
            mine = None
            if pictures is not None:
                mine, pictures[:n] = pictures[:n], []
            while finish_pool.full():
                drain_finished(block=True)
            item = items[unit.index]
            target = None if unit.frame is not None else out_path(item)
            mask = mask_path(output, item, unit.frame) if settings.save_masks else None
            finish_pool.submit(finish_and_write, settings, method, item, unit, mine, target, mask)
        batch.clear()

    def drain_finished(block: bool) -> None:
        while finish_pool.queue and (block or finish_pool.ready()):
            complete(finish_pool.take())
            block = False

    def drain_all() -> None:
        flush()
        while finish_pool.queue:
            drain_finished(block=True)

    def take_prepared(kind: str, payload) -> None:
        """A unit back from stage 1, or a video's marker, in input order."""
        if kind == "start":
            i, (fps, size) = payload
            videos[i] = VideoOut(out_path(items[i]), fps, size)
        elif kind == "end":
            i, frames = payload
            drain_all()
            video = videos.pop(i)
            video.close()
            stats.frames += frames
            journal.add(str(items[i].path), video.records, video.pairs,
                        {"output": str(video.final), "faces": video.faces, "frames": frames})
        elif kind == "bad":
            drain_all()
            skip(*payload)
        elif fused:
            complete(payload)
        else:
            batch.append(payload)  # an unreadable photo passes through stage 3 too, to keep the order
            if sum(f.status == "pending" for u in batch for f in u.faces) >= batch_size:
                flush()

    try:
        pending_markers: deque = deque()  # stage-1 results and video markers, in input order
        for kind, i, payload in units_of(items, todo):
            if kind in ("photo", "frame"):
                unit = payload if kind == "frame" else Unit(i)
                while prepare_pool.full():
                    _release(pending_markers, prepare_pool, take_prepared, drain_finished, block=True)
                if fused:
                    target = None if unit.frame is not None else out_path(items[i])
                    mask = mask_path(output, items[i], unit.frame) if settings.save_masks else None
                    prepare_pool.submit(prepare_and_finish, settings, method, items[i], unit, target, mask)
                else:
                    prepare_pool.submit(prepare, settings, items[i], unit)
                pending_markers.append(("unit", None))
            else:
                pending_markers.append((kind, (i, payload)))
            _release(pending_markers, prepare_pool, take_prepared, drain_finished, block=False)
        while pending_markers:
            _release(pending_markers, prepare_pool, take_prepared, drain_finished, block=True)
        drain_all()
    except BaseException:
        for video in videos.values():
            video.abandon()
        raise
    finally:
        prepare_pool.close()
        finish_pool.close()
        if bar:
            bar.close()
    stats.times["total"] = time.perf_counter() - t_start
    return stats


def _release(markers: deque, pool: Pool, take: Callable, drain: Callable, block: bool) -> None:
    """Hand stage-1 results (and the video markers between them) on in order, as far as they are ready."""
    while markers:
        kind, payload = markers[0]
        if kind == "unit":
            if not pool.ready():
                if not block:
                    break
                drain(block=False)
            markers.popleft()
            take("unit", pool.take())
        else:
            markers.popleft()
            take(kind, payload)
        block = False
    drain(block=False)


def prepare_and_finish(settings: Settings, method: Method, item: Item, unit: Unit, target: Path | None,
                       mask: Path | None) -> Unit:
    """Both worker stages in one call, for a method with nothing to do in bulk."""
    return finish_and_write(settings, method, item, prepare(settings, item, unit), None, target, mask)


def finish_and_write(settings: Settings, method: Method, item: Item, unit: Unit,
                     translated: list[np.ndarray] | None, target: Path | None, mask: Path | None) -> Unit:
    """Stage 3 in a worker: apply and measure; the masks' opacity is written to ``mask`` (zero where no
    face changed); a photo is then encoded and written (atomically), or, where no face was changed,
    copied byte for byte (a JPEG re-encoded would lose a little). The mask goes first, so a photo
    that is there has its mask too."""
    if unit.error:
        return unit
    unit = finish(settings, method, item, unit, translated)
    t = time.perf_counter()
    if mask is not None:
        write_png(mask, unit.opacity if unit.opacity is not None else np.zeros(unit.rgb.shape[:2], np.uint8))
    unit.opacity = None  # not sent back
    if target is not None:
        if any(face.status == "translated" for face in unit.faces):
            data = encode_photo(unit.rgb, unit.alpha, unit.meta)
        else:
            data = Path(item.path).read_bytes()
        write_atomically(target, lambda f: f.write(data))
        unit.rgb = None  # not sent back: the main process needs only the records
    _lap(unit, "write", t)
    return unit


def mask_path(output: Path, item: Item, frame: int | None) -> Path:
    """Where save_masks writes a picture's opacity: ``masks/REL.png`` for a photo (its relative path with
    the suffix .png), ``masks/REL/NNNNNN.png`` for a video's frame (REL with the video's suffix)."""
    if frame is None:
        return output / MASKS / item.relpath.with_suffix(".png")
    return output / MASKS / item.relpath / f"{frame:06d}.png"


def check_mask_paths(items: list[Item]) -> None:
    """save_masks needs a mask path of its own for every input, apart from every output photo."""
    photos = {item.relpath for item in items}
    seen: dict[Path, Path] = {}
    for item in items:
        rel = mask_path(Path(), item, None if not item.video else 0)
        if rel in seen or rel in photos or rel.parent in photos:
            other = f"the mask of {seen[rel]}" if rel in seen else "another input's photo"
            raise UserError(f"--save_masks: the mask of {item.path} would be written as {rel}, as {other} is; "
                            "mask those inputs in separate runs")
        seen[rel] = item.path


def temp_leftovers(output: Path) -> list[Path]:
    """Temporary files an interrupted run left (never under a final name)."""
    return [p for p in output.rglob(".*") if p.is_file() and (p.name.endswith(".tmp") or ".partial" in p.name)]

