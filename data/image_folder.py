"""Finding and reading images.

``find_images`` scans a folder recursively for the usual image extensions in any letter case and
returns the paths in a stable (sorted) order, so a run sees the same data order on every machine.
``load_image`` turns whatever PIL opens (RGBA, palette, CMYK, 16-bit, EXIF-rotated JPEGs) into a
plain RGB or L image, and turns an unreadable file into a one-line :class:`ImageReadError`.
``header_size`` tells the size ``load_image`` would give from the file's header, without decoding.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from util.errors import UserError
from util.files import IMG_EXTENSIONS  # noqa: F401 (re-exported: data's users import it from here)


class ImageReadError(UserError):
    """An image file that cannot be decoded."""


def is_image_file(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def find_images(root: str | Path, max_dataset_size: float = float("inf")) -> list[str]:
    """All image paths under ``root`` (recursively), sorted, at most ``max_dataset_size``."""
    paths, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symbolic link back up the tree would otherwise loop
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        paths.extend(os.path.join(folder, f) for f in files if is_image_file(f) and not f.startswith("."))
    paths.sort()
    if max_dataset_size != float("inf"):
        paths = paths[: int(max_dataset_size)]
    return paths


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit single-channel images scaled to 8 bits (PIL would clip them to 255)."""
    arr = np.asarray(img)
    if img.mode == "F":
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
    else:  # I;16 is 16-bit by definition; plain 32-bit I holds 16-bit PNGs on some Pillow versions
        full_scale = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = arr.astype(np.float64) / full_scale * 255.0
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def load_image(path: str | Path, grayscale: bool = False) -> Image.Image:
    """Read ``path`` as an RGB image (or L when ``grayscale``), EXIF orientation applied.

    Transparent pixels are composited onto white, since a transparent background carries no
    colour of its own and black would read as a dark background to the networks.
    """
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"cannot read image {path} ({err.__class__.__name__}: {str(err)[:120]}); "
                             "remove or replace the file") from err
    try:
        return _plain_mode(img, grayscale)
    except (ValueError, OSError) as err:
        raise ImageReadError(f"cannot convert image {path} (mode {img.mode}) to "
                             f"{'grayscale' if grayscale else 'RGB'} ({err}); re-save it as RGB PNG or JPEG") from err


def _plain_mode(img: Image.Image, grayscale: bool) -> Image.Image:
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("L") if grayscale else img.convert("RGB")


# EXIF orientations that turn the picture a quarter (ImageOps.exif_transpose swaps width and height)
_QUARTER_TURNS = {5, 6, 7, 8}


def header_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of ``path`` upright, as :func:`load_image` returns it, read from the header
    alone; None when PIL cannot open the file (``load_image`` will report it).

    The EXIF orientation is taken from what PIL parses on opening (JPEG's APP1, TIFF tags, WebP's
    EXIF chunk, PNG chunks before the pixel data). Pillow's own ``PngImageFile.getexif`` decodes the
    whole image to find an eXIf chunk placed after the pixel data; the base method does not, so such
    a rare PNG (rotated a quarter turn) would be measured unrotated.
    """
    try:
        with Image.open(path) as img:
            width, height = img.size
            if img.format == "TIFF" and (width, height) != (img.tag_v2.get(256), img.tag_v2.get(257)):
                return width, height  # Pillow's TIFF reader reports (and later loads) it turned already
            exif = Image.Image.getexif(img) if img.format == "PNG" else img.getexif()
            orientation = exif.get(ExifTags.Base.Orientation)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)
