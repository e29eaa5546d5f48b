"""Read a folder of images once into a uint8 tensor (N x C x size x size) plus a bad-file report.

Every image is normalised the same way before a network can see it: one colour mode (greyscale
"L" for the hands, "RGB" for the detector) and size x size pixels. So the colour mode and the original size of a file never reach a classifier
as a feature, only the pixels do. Files that are not images (text, zip archives) are reported
and, unless `keep_unreadable` is set, left out; a truncated JPEG is decoded as far as it goes
when kept (the test set must keep every name) and skipped otherwise.

The decoded folder is cached on disk (keyed by the names, sizes and modification times of its
files and on this module's code), so a second run, or the next notebook, does not decode a single JPEG again.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFile

from .datalink import how_to_link
from .loop import progress_bar
from .state import atomic_torch_save, load_torch_state

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DEFAULT_CACHE_DIR = Path(".cache/realfake")


@dataclass
class ImageSet:
    """Pixels of one folder with the names they came from.

    pixels   uint8 tensor N x C x size x size (C = 1 for mode L, 3 for RGB), in sorted-name order
    names    file names, same order
    readable False where the file could not be decoded in full (its pixels are zeros or
             partial): a prediction there is a guess
    report   one row per file that needed attention: file, reason, action
    """
    folder: str
    names: list[str]
    pixels: torch.Tensor
    readable: torch.Tensor
    report: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["folder", "file", "reason", "action"]))

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, index) -> "ImageSet":
        index = torch.as_tensor(index, dtype=torch.long)
        keep = set(self.names[i] for i in index.tolist())
        return ImageSet(self.folder, [self.names[i] for i in index.tolist()], self.pixels[index],
                        self.readable[index], self.report[self.report.file.isin(keep)].reset_index(drop=True))


class NotAnImage(Exception):
    """A file whose bytes are not a decodable image; the message says what it is instead."""


def sniff_non_image(data: bytes) -> str | None:
    """Name what a non-image file is from its first bytes, or None if it may be an image."""
    if data[:4] == b"PK\x03\x04":
        return "zip archive, not an image"
    if not data:
        return "empty file"
    head = data[:4096]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text file, not an image"
        except UnicodeDecodeError:
            pass
    return None


def decode_image(data: bytes, size: int, allow_truncated: bool, mode: str = "L") -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Decode bytes to a size x size uint8 array in `mode` ("L": H x W, "RGB": H x W x 3).

    Returns the array and the list of (reason, action) notes about what normalisation it needed.
    Raises NotAnImage when the bytes cannot be decoded (and, unless allow_truncated, when they
    are a truncated image).
    """
    what = sniff_non_image(data)
    if what:
        raise NotAnImage(what)
    notes = []
    try:
        with warnings.catch_warnings():   # PIL's warning (from 89 MP) would print a source line; the error is caught
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except Image.DecompressionBombError as error:
        raise NotAnImage(f"image too large to decode safely ({error})") from error
    except (ValueError, SyntaxError, TypeError, EOFError, MemoryError) as error:   # PIL's other ways of saying "not an image"
        raise NotAnImage(f"not a readable image ({type(error).__name__})") from error
    except OSError as error:
        truncated = "truncated" in str(error).lower()
        if not truncated or not allow_truncated:
            raise NotAnImage("truncated image" if truncated else f"not a readable image ({type(error).__name__})") from error
        # Decode what is there; PIL fills the missing part with grey.
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except OSError as partial_error:
            raise NotAnImage(f"truncated image, no pixels recoverable ({partial_error})") from partial_error
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        notes.append(("truncated image", "decoded partially; its prediction is a guess"))
    if image.mode != mode:
        notes.append((f"colour mode {image.mode}", "converted to greyscale" if mode == "L" else f"converted to {mode}"))
        image = image.convert(mode)
    if image.size != (size, size):
        width, height = image.size
        notes.append((f"size {width}x{height}", f"resized to {size}x{size}"))
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8), notes


def list_image_files(folder: Path) -> list[Path]:
    """Every entry of `folder` but hidden ones, sorted: files, and also what only looks like one (a folder or a
    broken or looping link named like an image), so that each gets a row in the bad-file report instead of vanishing."""
    return sorted(p for p in Path(folder).iterdir() if not p.name.startswith(".")
                  and (p.is_file() or p.suffix.lower() in IMAGE_SUFFIXES or p.is_symlink()))


def read_entry(path: Path) -> bytes:
    """The bytes of one folder entry; NotAnImage saying what it is when it is not a readable file."""
    try:
        if path.is_dir():
            raise NotAnImage("a folder, not an image file")
        return path.read_bytes()
    except NotAnImage:
        raise
    except OSError as error:
        if path.is_symlink() and not path.exists():
            raise NotAnImage("a broken or looping symbolic link") from error
        raise NotAnImage(f"cannot be read ({error.strerror or error})") from error


def _cache_key(files: list[Path], size: int, keep_unreadable: bool, mode: str) -> str:
    # The decoding code is part of the key: change how files are read and old caches are ignored.
    digest = hashlib.sha1(Path(__file__).read_bytes() + f"|{size}|{keep_unreadable}|{mode}".encode())
    for path in files:
        try:
            stat = path.stat()
            digest.update(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}|{path.is_dir()}\n".encode())
        except OSError:                                       # a broken or looping link
            digest.update(f"{path.name}|unreadable\n".encode())
    return digest.hexdigest()[:16]


def load_image_folder(folder, size: int = 32, keep_unreadable: bool = False,
                      cache_dir: Path | str | None = DEFAULT_CACHE_DIR, progress: bool = True,
                      mode: str = "L") -> ImageSet:
    """Decode every file of `folder` into an ImageSet (see the module docstring).

    mode             "L" (greyscale, N x 1 x size x size) or "RGB" (N x 3 x size x size)
    keep_unreadable  keep a row (zero pixels, readable=False) for files that are not images:
                     for a test set, where every name needs a prediction.
    cache_dir        where the decoded tensor is kept between runs; None disables the cache.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist ({how_to_link()})")
    files = list_image_files(folder)
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{folder.name}-{_cache_key(files, size, keep_unreadable, mode)}.pt"
        cached = load_torch_state(cache_file, "image cache", rebuildable=True)
        if cached is not None:
            report = pd.DataFrame([tuple(row) for row in cached["report"]],
                                  columns=["folder", "file", "reason", "action"])
            report["folder"] = str(folder)   # as this call names it, not as the call that filled the cache did
            return ImageSet(str(folder), cached["names"], cached["pixels"], cached["readable"], report)

    names, arrays, readable, report = [], [], [], []
    channels = len(mode)
    blank = np.zeros((size, size, channels) if channels > 1 else (size, size), np.uint8)
    for path in progress_bar(files, desc=f"decoding {folder.name}", disable=not progress, leave=False):
        try:
            array, notes = decode_image(read_entry(path), size, allow_truncated=keep_unreadable, mode=mode)
        except NotAnImage as error:
            action = "kept as a row with blank pixels; its prediction is a guess" if keep_unreadable else "skipped"
            report.append((str(folder), path.name, str(error), action))
            if keep_unreadable:
                names.append(path.name)
                arrays.append(blank)
                readable.append(False)
            continue
        report.extend((str(folder), path.name, reason, action) for reason, action in notes)
        names.append(path.name)
        arrays.append(array)
        readable.append(not any(reason == "truncated image" for reason, _ in notes))

    if not arrays:
        pixels = torch.zeros((0, channels, size, size), dtype=torch.uint8)
    elif channels == 1:
        pixels = torch.from_numpy(np.stack(arrays)[:, None])                    # N x 1 x H x W
    else:
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # N x 3 x H x W
    image_set = ImageSet(str(folder), names, pixels, torch.tensor(readable, dtype=torch.bool),
                         pd.DataFrame(report, columns=["folder", "file", "reason", "action"]))
    if cache_file is not None:
        try:
            atomic_torch_save({"names": names, "pixels": pixels, "readable": image_set.readable,
                               "report": [list(row) for row in report]}, cache_file)
        except OSError as error:
            warnings.warn(f"cannot write the image cache {cache_file} ({error.strerror or error}); "
                          f"the decoded images of {folder} stay in memory only and are decoded again next run",
                          stacklevel=2)
    return image_set


def read_text_file(path: Path) -> list[str] | None:
    """The lines of a text file, or None if it is not text (judged from its first bytes, so an
    image is not read in full)."""
    if not Path(path).is_file():
        return None
    with open(path, "rb") as file:
        if sniff_non_image(file.read(4096)) != "text file, not an image":
            return None
    data = Path(path).read_bytes()
    if sniff_non_image(data) != "text file, not an image":
        return None
    return data.decode("utf-8").splitlines()
