"""Is *this* image real or generated? Score files with the stored detectors, each image read the right way.

    python -m realfake.detect photo.jpg render.png ...      # one line per file: model used and why
    python -m realfake.detect --json FILE...                 # one JSON object per line
    python -m realfake.detect --model cifake_cnn FILE...     # one model for every file (a name or a folder)

Two models (model_best/sd_detector/):
  native_npr  reads the image at its own resolution: 64x64 tiles spread over it (at most 64), NPR residual into a
              small ResNet, tile logits averaged. Trained on three generators and two photo sources (multigen,
              sd_vs_real) with blur/JPEG/resize augmentation. Used for every image at least 64 pixels a side.
  cifake_cnn  the CIFAKE detector: reads 32x32 (a file in CIFAKE's format as it is; anything else centre-cropped,
              resized to 32x32 and JPEG-encoded like CIFAKE's files). Used for images smaller than 64 pixels a side.

A file that cannot be read gets its own error line; one that cannot be judged (a single flat colour, fewer than 8
pixels a side) gets p_generated null and the reason; the other files are still scored. This module imports
neither torchvision nor pandas nor matplotlib, so a call starts quickly.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from realfake.sd_detector import codec, native

DEFAULT_MODEL = "cifake_cnn"
NATIVE_MODEL = "native_npr"
PIXEL_MEAN, PIXEL_STD = 127.5, 64.0   # the CIFAKE model's input scaling (realfake.sd_detector.train.to_input)
KNOWS = """What these detectors know. native_npr (images of 64 pixels a side and more) was trained from scratch on
images at their own size from three generators (Latent Diffusion, Stable Diffusion v1, Stable Diffusion 2.1 portraits)
and two photo sources (ImageNet, Unsplash portraits); it reads pixel-level up-sampling traces in 64x64 tiles.
{native}cifake_cnn (smaller images) was trained on CIFAKE only (32x32 CIFAR-10 photos against Stable Diffusion 1.4
images); every input is resized to 32x32, and one smaller than that is enlarged, which it never saw. {cross}Neither
has seen SD-XL, Midjourney, DALL-E, edited or heavily re-compressed images. P(generated) of 0.9 or more reads "likely generated", 0.1 or less "likely real", anything
between "uncertain" (near 0.5: cannot tell); a high one is evidence, not proof."""
GENERATOR_NAMES = {"ldm_256": "Latent Diffusion", "sd_v1_384": "Stable Diffusion v1",
                   "sd_2.1_faces": "Stable Diffusion 2.1 portraits"}


def models_folder() -> Path:
    """model_best/sd_detector of the repository this package lives in (or of the CWD's repository)."""
    here = Path(__file__).resolve().parents[2] / "model_best" / "sd_detector"
    if here.is_dir():
        return here
    from realfake.paths import repo_root
    return repo_root() / "model_best" / "sd_detector"


def model_folder(name: str = DEFAULT_MODEL) -> Path:
    return models_folder() / name


def resolve_model(name_or_folder: str | Path) -> Path:
    """The folder of a stored model given as a folder or as a name under model_best/sd_detector/."""
    path = Path(name_or_folder)
    if path.is_dir():
        return path
    if len(path.parts) == 1 and (models_folder() / path.name).is_dir():
        return models_folder() / path.name
    known = sorted(p.name for p in models_folder().iterdir() if (p / "model.json").exists()) if models_folder().is_dir() else []
    raise FileNotFoundError(f"no such model: {name_or_folder} is neither a folder nor a model name under "
                            f"model_best/sd_detector/ (there: {', '.join(known) or 'none'})")


def load_detector(folder: Path | str | None = None):
    """(model, info) of the stored detector, or FileNotFoundError saying why it cannot be used."""
    from realfake.model_store import INFO, StoredModelError, load_model
    from realfake.sd_detector import models, native_model  # noqa: F401 - register the networks (no other provider)
    from realfake.state import UnreadableState, read_json
    folder = resolve_model(folder) if folder else model_folder()
    try:
        info = read_json(folder / INFO, "stored model record")
        if info is None:
            raise FileNotFoundError(f"no stored detector in {folder}: run notebooks/sd_detector_clean.ipynb to train one")
        model, details = load_model(folder, info["spec"])
    except (StoredModelError, UnreadableState) as error:   # damaged files: named, with what to do, left in place
        raise FileNotFoundError(str(error)) from error
    if model is None:
        raise FileNotFoundError(f"the stored detector in {folder} cannot be used: {details}")
    return model, details


@dataclass
class Detector:
    name: str
    model: torch.nn.Module
    native: bool          # True: reads tiles at native resolution; False: the CIFAKE model (32x32)
    tile: int = native.TILE
    max_tiles: int = native.MAX_TILES


def as_detector(model: torch.nn.Module, info: dict | None = None, name: str | None = None) -> Detector:
    from realfake.sd_detector.native_model import NativeNPR
    info = info or {}
    is_native = isinstance(model, NativeNPR)
    return Detector(name or info.get("spec", {}).get("name", "model"), model, is_native,
                    int(info.get("tile", native.TILE)), int(info.get("max_tiles", native.MAX_TILES)))


def open_detector(name_or_folder: str | Path) -> Detector:
    model, info = load_detector(name_or_folder)
    return as_detector(model, info, Path(resolve_model(name_or_folder)).name)


# ---------------------------------------------------------------- the CIFAKE model's input

def is_cifake_format(data: bytes) -> bool:
    """True for a 32x32 RGB JPEG written with CIFAKE's encoder setting (quality-75 tables, 4:2:0)."""
    try:
        facts = codec.jpeg_signature(data)
    except Exception:
        return False
    return (facts["format"] == "JPEG" and (facts["width"], facts["height"]) == (32, 32) and facts["mode"] == "RGB"
            and facts["subsampling"] == codec.CIFAKE_SUBSAMPLING and facts["quality_estimate"] == codec.CIFAKE_QUALITY)


def cifake_pixels(data: bytes, image: Image.Image) -> tuple[torch.Tensor, str]:
    """uint8 3 x 32 x 32 pixels the CIFAKE model reads for a decoded file, and how they were made."""
    if is_cifake_format(data):
        array = np.asarray(image, dtype=np.uint8)
        return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous(), "as is (CIFAKE format)"
    how = f"{image.size[0]}x{image.size[1]} -> 32x32 JPEG q75"
    if min(image.size) < 32:
        how += " (enlarged: the model never saw enlarged images, so this score is weak evidence)"
    return codec.normalised_image_pixels(image), how


@torch.no_grad()
def cifake_probability(model: torch.nn.Module, pixels: torch.Tensor) -> float:
    """P(generated) of the CIFAKE model for uint8 3 x 32 x 32 pixels (logits of the image and its mirror averaged)."""
    model.eval()
    x = ((pixels[None].float() - PIXEL_MEAN) / PIXEL_STD).contiguous(memory_format=torch.channels_last)
    logits = (model(x).float() + model(x.flip(3)).float()) / 2
    return float(logits.softmax(1)[0, 1])


# ---------------------------------------------------------------- scoring

class Chooser:
    """Which detector reads an image: the one forced by --model, else native for images at least one tile a side
    and the CIFAKE model for smaller ones. Models load on first use."""

    def __init__(self, forced: Detector | None = None):
        self.forced, self.loaded, self.problems = forced, {}, {}

    def get(self, name: str) -> Detector | None:
        if name not in self.loaded and name not in self.problems:
            try:
                self.loaded[name] = open_detector(name)
            except FileNotFoundError as error:
                self.problems[name] = str(error)
        return self.loaded.get(name)

    def choose(self, width: int, height: int) -> tuple[Detector | None, str]:
        if self.forced is not None:
            return self.forced, f"{self.forced.name} asked for (--model)"
        detector = self.get(NATIVE_MODEL)
        tile = detector.tile if detector is not None else native.TILE
        if (width, height) == (32, 32):
            fallback = "32x32 is CIFAKE's own size; "
        elif min(width, height) < tile:
            fallback = f"{width}x{height} is smaller than the native model's {tile}x{tile} tile; "
        elif detector is not None:
            return detector, f"{width}x{height} is at least one {tile}x{tile} tile: read at its own size"
        else:
            fallback = f"the native model is not available ({self.problems[NATIVE_MODEL]}); "
        detector = self.get(DEFAULT_MODEL)
        if detector is None:
            return None, fallback + self.problems[DEFAULT_MODEL]
        return detector, fallback + "the CIFAKE model reads it at 32x32"


def score_one(data: bytes, name: str, chooser: Chooser) -> dict:
    """The row of one file's bytes (see score_files)."""
    row = error_row(name, None)
    image, row["notes"] = codec.decode(data, name)
    width, height = image.size
    array = np.asarray(image)
    if min(width, height) < native.MIN_SIDE:
        row["reason"] = f"cannot judge: {width}x{height} is too small (at least {native.MIN_SIDE} pixels a side)"
        return row
    if native.is_flat(array):
        row["reason"] = "cannot judge: the image is a single flat colour, nothing in it tells real from generated"
        return row
    detector, why = chooser.choose(width, height)
    if detector is None:
        row["reason"] = f"cannot judge: {why}"
        return row
    row["model"], row["reason"] = detector.name, why
    if detector.native:
        if min(width, height) < detector.tile:
            row["reason"] = f"cannot judge: {width}x{height} is smaller than {detector.name}'s {detector.tile}-pixel tile"
            row["model"] = None
            return row
        p, details = native.score_pixels(detector.model, array, detector.tile, detector.max_tiles)
        quality = getattr(detector.model, "recode_quality", None)
        read = f"re-encoded JPEG q{quality} at its size" if quality else "as is"
        row["preprocessing"] = f"{width}x{height} {read}: {len(details['positions'])} tiles of {detector.tile}x{detector.tile}"
    else:
        pixels, row["preprocessing"] = cifake_pixels(data, image)
        p = cifake_probability(detector.model, pixels)
    row["p_generated"], row["verdict"] = p, verdict(p)
    return row


def error_row(name: str, message: str | None) -> dict:
    """A file's row with nothing judged yet; `message` says why it could not be read (None: not an error)."""
    return {"file": name, "p_generated": None, "verdict": None, "model": None, "reason": None, "preprocessing": None,
            "notes": [], "error": message}


def score_files(paths: list[Path | str], model=None, chooser: Chooser | None = None) -> list[dict]:
    """One dict per file: file (as given), p_generated (None when it cannot be judged or read), verdict (`verdict`'s
    words for it, or None), model, reason,
    preprocessing, notes (e.g. an animated file read on its first frame), error (or None).

    model: a network to use for every file (else each file gets the right stored model)."""
    chooser = chooser or Chooser(as_detector(model) if model is not None else None)
    rows = []
    for path in map(Path, paths):
        try:
            data = path.read_bytes()
        except OSError as error:
            rows.append(error_row(str(path), f"{path}: cannot read the file ({error.strerror or error})"))
            continue
        rows.append(score_bytes(data, str(path), chooser))
    return rows


def score_bytes(data: bytes, name: str = "upload", chooser: Chooser | None = None) -> dict:
    """The row of an in-memory file (an upload in the notebook); an unreadable one gets an error row."""
    try:
        return score_one(data, name, chooser or Chooser())
    except codec.UnreadableImage as error:
        return error_row(name, str(error))


def row_line(row: dict, name: str | None = None) -> str:
    """One row as the command prints it: the score, the verdict and which model read the file how, or why not."""
    name = name or row["file"]
    if row["error"]:
        return f"{name}: ERROR {row['error'].removeprefix(row['file'] + ': ')}"
    if row["p_generated"] is None:
        return f"{name}: {row['reason']}"
    notes = "".join(f"; {note}" for note in row["notes"])
    return (f"{name}: P(generated) = {row['p_generated']:.3f}  {row['verdict']}  "
            f"[{row['model']}: {row['reason']}; {row['preprocessing']}{notes}]")


def verdict(p: float) -> str:
    if p >= 0.9:
        return "likely generated"
    if p <= 0.1:
        return "likely real"
    return "uncertain"


def knows_text(metrics_path: Path | None = None, native_path: Path | None = None) -> str:
    """KNOWS with the measured results filled in where the notebook and native_train have stored them."""
    results = Path(__file__).resolve().parents[2] / "results"
    cross, native_text = "", ""
    try:
        metrics = json.loads((metrics_path or results / "sd_detector_metrics.json").read_text())
        cifake, other = metrics["test_at_0.5"], metrics["cross_source"]
        cross = (f"Measured: {cifake['accuracy']:.1%} accuracy on the CIFAKE test split, but "
                 f"{other['accuracy']:.1%} (AUC {other.get('roc_auc', float('nan')):.2f}) on {other['n']} other images. ")
    except (OSError, KeyError, ValueError, TypeError):
        cross = ""
    try:
        logo = json.loads((native_path or results / "sd_native_metrics.json").read_text())
        folds = ", ".join(f"{GENERATOR_NAMES.get(g, g)} {fold['as_stored']['roc_auc']:.2f}"
                          for g, fold in logo["logo"].items())
        native_text = (f"Measured on a generator left out of training, ROC AUC (0.5 is chance, 1 always ranks renders "
                       f"above photos): {folds}.\n")
    except (OSError, KeyError, ValueError, TypeError):
        native_text = ""
    return KNOWS.format(native=native_text, cross=cross)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realfake.detect", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each file gets P(generated), the model's probability that the image was generated: 0.9 or more reads\n"
               "\"likely generated\", 0.1 or less \"likely real\", anything between \"uncertain\". The line names the model\n"
               "and why it was chosen. A flat or tiny image gets \"cannot judge\" and the reason. After the lines comes what\n"
               "the detectors were trained on and how well they do on generators they never saw (--quiet leaves it out).\n"
               "Exit status: 0 when every file could be read, 1 when any could not, 2 when the model cannot be loaded.")
    parser.add_argument("files", nargs="+", help="image files (any format PIL reads)")
    parser.add_argument("--model", default=None,
                        help="one model for every file: a name under model_best/sd_detector/ (cifake_cnn, native_npr, "
                             "...) or a folder (default: native_npr for images of 64 pixels a side and more, "
                             "cifake_cnn for smaller ones)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--quiet", action="store_true", help="leave out the statement of what the detectors know")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        chooser = Chooser(open_detector(args.model) if args.model else None)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = score_files(args.files, chooser=chooser)
    for row in rows:
        print(json.dumps(row) if args.json else row_line(row))
    if not args.quiet and not args.json:
        print("\n" + knows_text())
    return 1 if any(row["error"] for row in rows) else 0
