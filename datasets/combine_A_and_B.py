"""Build pix2pix's aligned (AB) images from two folders of paired images: A on the left, B on the right.

    python datasets/combine_A_and_B.py --fold_A /path/to/data/A --fold_B /path/to/data/B --fold_AB /path/to/data

This is the classic pytorch-CycleGAN-and-pix2pix command, with its flags, so its documented command
lines work here. ``--fold_A`` and ``--fold_B`` hold one sub-folder per split (``train``, ``val``,
``test``, ...); ``fold_A/<split>/NAME`` pairs with ``fold_B/<split>/NAME`` and becomes
``fold_AB/<split>/NAME``, A and B side by side (as wide as both, as high as either), in the format
of NAME's extension. With ``--use_AB`` the files are ``NAME_A.ext`` and ``NAME_B.ext`` and the output
is ``NAME.ext``. ``--fold_AB`` is then ``--dataroot`` for ``--model pix2pix`` (``--dataset_mode aligned``).

What it does differently from the classic script, and why:

- Sorted: splits and files are taken in sorted order, and ``--num_imgs N`` takes the first N pairs of
  each split, so two machines build the same data set (the classic one took ``os.listdir`` order).
- Checked before writing: every pair's sizes are read from the file headers first. A pair whose A
  and B differ in width or height, or a file PIL cannot open, stops the run with one line naming it
  (exit code 2) before anything is written: pix2pix cuts an AB image in the middle, so halves of
  different widths would silently pair the wrong pixels (the classic one crashed on different
  heights only, half-way through).
- All or nothing: the outputs are first written to hidden temporary files beside their targets and
  renamed over them only once every pair has been encoded, so a file that fails to decode half-way
  leaves no partial data set; a second run overwrites the outputs with identical bytes.
- Refuses to overwrite its inputs: an ``--fold_AB`` that is, or would write into, ``--fold_A`` or
  ``--fold_B`` (the classic one would overwrite the A images in place).
- Reports missing partners: an A image without a B partner is skipped, as before, but counted and
  named in the summary printed per split, as are B images without an A.
- Images are read as this repository's loader reads them (``data.image_folder.load_image``: EXIF
  orientation applied, grayscale and 16-bit made 8-bit RGB, transparency on white), so the halves of
  an AB image are what training on A and B separately would have seen. PNG is written losslessly,
  JPEG at quality 95 without chroma subsampling (the default 4:2:0 would blur colour edges of both
  halves); other extensions as PIL writes them by default.
- Parallel over the usable cores by default; ``--no_multiprocessing`` runs in one process and
  writes the same bytes.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data.image_folder import header_size, is_image_file, load_image  # noqa: E402
from util.cli import OneLineParser, positive_int  # noqa: E402
from util.errors import UserError, run_cli  # noqa: E402

PROG = "combine_A_and_B.py"
EXAMPLES = 3  # file names quoted in a message or a summary line


@dataclass(frozen=True)
class Pair:
    """An A image, its B partner, and the AB image they become."""

    a: Path
    b: Path
    out: Path


@dataclass
class Split:
    """One split folder: its pairs in sorted order, and the images that found no partner."""

    name: str
    pairs: list[Pair] = field(default_factory=list)
    lonely_A: list[str] = field(default_factory=list)
    lonely_B: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- #
# Finding the pairs
# --------------------------------------------------------------------------------------------- #


def image_names(folder: Path) -> list[str]:
    """The image files directly in ``folder``, sorted (hidden files such as ._x.jpg left out)."""
    return sorted(e.name for e in os.scandir(folder)
                  if e.is_file() and is_image_file(e.name) and not e.name.startswith("."))


def partner(name: str, use_AB: bool) -> tuple[str, str] | None:
    """(B file name, output name) for the A file ``name``; None when --use_AB and it is no NAME_A.ext."""
    if not use_AB:
        return name, name
    stem, ext = os.path.splitext(name)
    if len(stem) <= 2 or not stem.endswith("_A"):
        return None
    return f"{stem[:-2]}_B{ext}", f"{stem[:-2]}{ext}"


def is_B_name(name: str, use_AB: bool) -> bool:
    stem = os.path.splitext(name)[0]
    return not use_AB or (len(stem) > 2 and stem.endswith("_B"))


def split_names(fold_A: Path) -> list[str]:
    names = sorted(e.name for e in os.scandir(fold_A) if e.is_dir() and not e.name.startswith("."))
    if not names:
        raise UserError(f"--fold_A {fold_A} has no split folders: the expected layout is "
                        "fold_A/<split>/images and fold_B/<split>/images, e.g. fold_A/train/1.jpg "
                        "pairs with fold_B/train/1.jpg")
    return names


def find_pairs(fold_A: Path, fold_B: Path, fold_AB: Path, name: str, use_AB: bool) -> Split:
    """The pairs of one split. A split folder of --fold_A without images (an empty val/, say) is passed
    over, as the classic script did; one whose images find no partner at all is refused, since that is
    a naming or folder mistake rather than a split to skip."""
    dir_A, dir_B = fold_A / name, fold_B / name
    split = Split(name)
    a_names = [n for n in image_names(dir_A) if partner(n, use_AB)]
    if not a_names:
        return split
    if not dir_B.is_dir():
        raise UserError(f"--fold_B {fold_B} has no folder {name} to pair with {dir_A}: each split folder of "
                        f"--fold_A needs one of the same name in --fold_B (or move {dir_A} out of --fold_A)")
    b_names = [n for n in image_names(dir_B) if is_B_name(n, use_AB)]
    available, used = set(b_names), set()
    for a_name in a_names:
        b_name, out_name = partner(a_name, use_AB)
        if b_name in available:
            split.pairs.append(Pair(dir_A / a_name, dir_B / b_name, fold_AB / name / out_name))
            used.add(b_name)
        else:
            split.lonely_A.append(a_name)
    split.lonely_B = [n for n in b_names if n not in used]
    if not split.pairs:
        held = f"it holds {examples(b_names)}" if b_names else "it holds no images"
        raise UserError(f"split {name} has no pairs: none of the {len(a_names)} A images in {dir_A} has a partner "
                        f"in {dir_B} (e.g. {a_names[0]} needs {dir_B / partner(a_names[0], use_AB)[0]}; {held})")
    return split


def check_output_outside_inputs(fold_A: Path, fold_B: Path, fold_AB: Path, splits: list[str]) -> None:
    """The outputs go to fold_AB/<split>: refuse when that is, or is inside, an input folder (through
    symbolic links too), since outputs keep the A file names and would replace or mix with the inputs."""
    inputs = (("--fold_A", fold_A), ("--fold_B", fold_B))
    for name in splits:
        out = (fold_AB / name).resolve()
        for flag, folder in inputs:
            root = folder.resolve()
            if out == root or root in out.parents:
                raise UserError(f"--fold_AB {fold_AB} would write into {flag} {folder} (its output folder {out} "
                                f"is inside {root}) and overwrite or mix with the input images: choose an --fold_AB "
                                "outside --fold_A and --fold_B, e.g. their parent folder")


# --------------------------------------------------------------------------------------------- #
# Checking and writing
# --------------------------------------------------------------------------------------------- #


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_map(fn: Callable, items: list, workers: int) -> list:
    """``[fn(x) for x in items]``, over a pool of ``workers`` processes when there is more than one.
    The first exception (in the order of ``items``) is raised once the running calls have ended; the
    calls not yet started are cancelled."""
    workers = min(workers, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        return list(pool.map(fn, items, chunksize=max(1, len(items) // (workers * 4))))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def check_pairs(pairs: list[Pair], workers: int) -> None:
    """Refuse, before anything is written, pairs that cannot make a correct AB image, and outputs whose
    name a folder already holds (the final rename could not replace it)."""
    taken = [pair.out for pair in pairs if pair.out.is_dir()]
    if taken:
        raise UserError(f"{taken[0]} is a folder, where the AB image of {taken[0].name} would go"
                        + (f" (and {len(taken) - 1} more)" if len(taken) > 1 else "")
                        + ", nothing written: move it away, or choose another --fold_AB")
    paths = [path for pair in pairs for path in (pair.a, pair.b)]
    sizes = dict(zip(paths, parallel_map(header_size, paths, workers)))
    problems = []
    for pair in pairs:
        size_A, size_B = sizes[pair.a], sizes[pair.b]
        if size_A is None or size_B is None:
            unreadable = [str(p) for p, s in ((pair.a, size_A), (pair.b, size_B)) if s is None]
            problems.append(f"PIL cannot open {' nor '.join(unreadable)}")
        elif size_A != size_B:
            problems.append(f"{pair.a} is {size_text(size_A)} but {pair.b} is {size_text(size_B)}")
    if problems:
        more = f" (and {len(problems) - EXAMPLES} more)" if len(problems) > EXAMPLES else ""
        raise UserError(f"{len(problems)} bad pair(s), nothing written: {'; '.join(problems[:EXAMPLES])}{more}. "
                        "A and B must be readable images of the same width and height (pix2pix cuts an AB image "
                        "in the middle): resize or replace them, or move the pair out of both folders")


def save_options(path: Path) -> tuple[str, dict]:
    """PIL's format for the output's extension, and how to encode it."""
    fmt = Image.registered_extensions()[path.suffix.lower()]
    if fmt == "JPEG":
        return fmt, {"quality": 95, "subsampling": 0}
    return fmt, {}


def render(job: tuple[Pair, Path]) -> None:
    """Write the AB image of one pair to its temporary file."""
    pair, tmp = job
    a, b = load_image(pair.a), load_image(pair.b)
    if a.size != b.size:  # the headers agreed, but a file may have changed since, or its header misled
        raise UserError(f"{pair.a} is {size_text(a.size)} but {pair.b} is {size_text(b.size)}, nothing written: "
                        "A and B must be the same size")
    fmt, options = save_options(pair.out)
    try:
        Image.fromarray(np.hstack([np.asarray(a), np.asarray(b)])).save(tmp, format=fmt, **options)
    except OSError as err:
        raise UserError(f"cannot write {pair.out} ({err.strerror or err}), nothing written: check --fold_AB") from err


def make_folders(folders: list[Path], created: list[Path]) -> None:
    """Create ``folders`` (and their parents), adding the ones it created to ``created``, parents first."""
    for folder in folders:
        missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the output folder {folder} ({err.strerror or err}): "
                            "check --fold_AB") from err
        created.extend(missing)


def write_pairs(pairs: list[Pair], workers: int) -> None:
    """Write every AB image, or (on any failure) none: all are encoded to temporary files first and
    renamed over their targets only when every one has succeeded."""
    created: list[Path] = []
    tmps = [pair.out.with_name(f".{pair.out.name}.{os.getpid()}.tmp") for pair in pairs]
    try:
        make_folders(sorted({pair.out.parent for pair in pairs}), created)
        parallel_map(render, list(zip(pairs, tmps)), workers)
        for pair, tmp in zip(pairs, tmps):
            try:
                os.replace(tmp, pair.out)
            except OSError as err:
                raise UserError(f"cannot write {pair.out} ({err.strerror or err}): check --fold_AB") from err
    except BaseException:
        for tmp in tmps:
            with contextlib.suppress(OSError):  # its folder may not exist (or be a file)
                tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):  # not empty: something else writes there too
                folder.rmdir()
        raise


def examples(names: list[str]) -> str:
    return ", ".join(names[:EXAMPLES]) + (", ..." if len(names) > EXAMPLES else "")


def images(count: int, side: str) -> str:
    return f"{count} {side} image{'' if count == 1 else 's'}"


def summary(split: Split, written: int, fold_AB: Path, use_AB: bool) -> str:
    if not split.pairs:
        return f"{split.name}: no A images{' named NAME_A.ext' if use_AB else ''}, skipped"
    line = f"{split.name}: {written} pairs written to {fold_AB / split.name}"
    if written < len(split.pairs):
        line += f" (the first {written} of {len(split.pairs)}: --num_imgs)"
    if split.lonely_A:
        line += f"; {images(len(split.lonely_A), 'A')} without a B partner skipped (e.g. {examples(split.lonely_A)})"
    if split.lonely_B:
        line += f"; {images(len(split.lonely_B), 'B')} without an A partner ignored (e.g. {examples(split.lonely_B)})"
    return line


# --------------------------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------------------------- #


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--fold_A", required=True,
                   help="input folder of A images, one sub-folder per split (train, test, ...)")
    p.add_argument("--fold_B", required=True,
                   help="input folder of B images, the same split sub-folders and file names")
    p.add_argument("--fold_AB", required=True, help="output folder: <split>/NAME, A left and B right")
    p.add_argument("--num_imgs", type=positive_int, default=1000000, help="at most this many pairs per split")
    p.add_argument("--use_AB", action="store_true",
                   help="A and B are named NAME_A.ext and NAME_B.ext; the output is NAME.ext")
    p.add_argument("--no_multiprocessing", action="store_true", help="one process instead of one per core")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    fold_A, fold_B, fold_AB = Path(args.fold_A), Path(args.fold_B), Path(args.fold_AB)
    for flag, folder in (("--fold_A", fold_A), ("--fold_B", fold_B)):
        if not folder.is_dir():
            raise UserError(f"{flag} {folder} does not exist or is not a folder")
    if fold_A.resolve() == fold_B.resolve() and not args.use_AB:
        raise UserError(f"--fold_A and --fold_B are the same folder {fold_A}: every image would pair with itself; "
                        "give B its own folder, or name the files NAME_A.ext and NAME_B.ext and pass --use_AB")
    names = split_names(fold_A)
    check_output_outside_inputs(fold_A, fold_B, fold_AB, names)
    splits = [find_pairs(fold_A, fold_B, fold_AB, name, args.use_AB) for name in names]
    chosen = [split.pairs[: args.num_imgs] for split in splits]
    pairs = [pair for split_pairs in chosen for pair in split_pairs]
    if not pairs:
        naming = " named NAME_A.ext (--use_AB)" if args.use_AB else ""
        raise UserError(f"--fold_A {fold_A} has no images{naming} in its split folders ({examples(names)}): "
                        "put the A images in fold_A/<split>/ and their partners in fold_B/<split>/")
    workers = 1 if args.no_multiprocessing else usable_cores()
    # a large data set takes minutes: say what is under way before the silent part
    print(f"checking and combining {len(pairs)} pairs from {len(splits)} split(s) "
          f"with {max(1, min(workers, len(pairs)))} process(es)", flush=True)
    check_pairs(pairs, workers)
    write_pairs(pairs, workers)
    for split, split_pairs in zip(splits, chosen):
        print(summary(split, len(split_pairs), fold_AB, args.use_AB))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, None, PROG))
