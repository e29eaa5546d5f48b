"""Is *this* image real or made by Stable Diffusion? Score files with the stored CIFAKE detector.

    python -m realfake.detect photo.jpg render.png ...      # one line per file
    python -m realfake.detect --json FILE...                 # machine-readable

Every file goes through exactly the pixels path of training: a file that is already in CIFAKE's format
(32x32 RGB JPEG, quality-75 tables, 4:2:0) is decoded as it is, like the training images were; any other file is
centre-cropped to a square, resized to 32x32 and JPEG-encoded with CIFAKE's encoder setting (`codec.normalise`),
then decoded. A file that cannot be read gets its own error line; the other files are still scored.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from realfake.sd_detector import codec

DEFAULT_MODEL = "cifake_cnn"
KNOWS = """What this detector knows: it was trained on CIFAKE only, 32x32 images: REAL = CIFAR-10 photos (small, 2009-era
web photos of 10 object classes), FAKE = Stable Diffusion 1.4 images of the same 10 classes, made by Bird & Lotfi.
Every input is shrunk to 32x32 first, so all detail above that size is thrown away. It has never seen other
generators (SD-XL, Midjourney, DALL-E, GANs), photos of other kinds (faces, screenshots, scans), nor edited images.
{cross}A probability near 0.5 means "cannot tell"; a high one is evidence, not proof."""


def model_folder(name: str = DEFAULT_MODEL) -> Path:
    """model_best/sd_detector/<name> of the repository this package lives in (or of the CWD's repository)."""
    here = Path(__file__).resolve().parents[2] / "model_best" / "sd_detector" / name
    if here.parent.is_dir():
        return here
    from realfake.paths import repo_root
    return repo_root() / "model_best" / "sd_detector" / name


def load_detector(folder: Path | str | None = None):
    """(model, info) of the stored detector, or FileNotFoundError saying why it cannot be used."""
    from realfake.model_store import INFO, load_model
    from realfake.state import read_json
    folder = Path(folder) if folder else model_folder()
    info = read_json(folder / INFO, "stored model record")
    if info is None:
        raise FileNotFoundError(f"no stored detector in {folder}: run notebooks/sd_detector_clean.ipynb to train one")
    model, details = load_model(folder, info["spec"])
    if model is None:
        raise FileNotFoundError(f"the stored detector in {folder} cannot be used: {details}")
    return model, details


def is_cifake_format(data: bytes) -> bool:
    """True for a 32x32 RGB JPEG written with CIFAKE's encoder setting (quality-75 tables, 4:2:0)."""
    try:
        facts = codec.jpeg_signature(data)
    except Exception:
        return False
    return (facts["format"] == "JPEG" and (facts["width"], facts["height"]) == (32, 32) and facts["mode"] == "RGB"
            and facts["subsampling"] == codec.CIFAKE_SUBSAMPLING and facts["quality_estimate"] == codec.CIFAKE_QUALITY)


def detector_pixels(data: bytes, name: str = "<bytes>") -> tuple[torch.Tensor, str]:
    """uint8 3 x 32 x 32 pixels the detector reads for one file, and how they were made."""
    if is_cifake_format(data):
        image = codec.open_rgb(data, name)
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous(), "as is (CIFAKE format)"
    image = codec.open_rgb(data, name)
    width, height = image.size
    return codec.normalised_pixels(data, 32, codec.CIFAKE_QUALITY, name), f"{width}x{height} -> 32x32 JPEG q75"


def score_files(paths: list[Path | str], model=None) -> list[dict]:
    """One dict per file: file, p_generated (or None), preprocessing, error (or None)."""
    from realfake.sd_detector.train import predict_proba
    if model is None:
        model, _ = load_detector()
    rows, pixels, where = [], [], []
    for path in map(Path, paths):
        row = {"file": str(path), "p_generated": None, "preprocessing": None, "error": None}
        try:
            data = path.read_bytes()
            tensor, how = detector_pixels(data, str(path))
            row["preprocessing"] = how
            pixels.append(tensor)
            where.append(len(rows))
        except codec.UnreadableImage as error:
            row["error"] = str(error)
        except OSError as error:
            row["error"] = f"{path}: cannot read the file ({error.strerror or error})"
        rows.append(row)
    if pixels:
        probs = predict_proba(model, torch.stack(pixels), bf16=False)
        for i, p in zip(where, probs.tolist()):
            rows[i]["p_generated"] = p
    return rows


def score_bytes(data: bytes, name: str = "upload", model=None) -> dict:
    """The same for an in-memory file (the notebook's upload cell)."""
    from realfake.sd_detector.train import predict_proba
    if model is None:
        model, _ = load_detector()
    tensor, how = detector_pixels(data, name)
    return {"file": name, "p_generated": float(predict_proba(model, tensor[None], bf16=False)[0]), "preprocessing": how,
            "error": None}


def verdict(p: float) -> str:
    if p >= 0.9:
        return "likely generated"
    if p <= 0.1:
        return "likely real"
    return "uncertain"


def knows_text(metrics_path: Path | None = None) -> str:
    """KNOWS with the measured cross-source result filled in when the clean notebook has stored it."""
    cross = ""
    path = metrics_path or Path(__file__).resolve().parents[2] / "results" / "sd_detector_metrics.json"
    try:
        metrics = json.loads(path.read_text())
        cifake, other = metrics["test_at_0.5"], metrics["cross_source"]
        cross = (f"Measured: {cifake['accuracy']:.1%} accuracy on the CIFAKE test split, but "
                 f"{other['accuracy']:.1%} (AUC {other.get('roc_auc', float('nan')):.2f}) on {other['n']} other images "
                 "(Stable Diffusion v1 512x512 renders vs ImageNet photos, both brought to 32x32 JPEG q75): "
                 "outside CIFAKE treat its output with caution.\n")
    except (OSError, KeyError, ValueError, TypeError):
        cross = "The cross-source check of the clean notebook measures how far this carries beyond CIFAKE.\n"
    return KNOWS.format(cross=cross)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realfake.detect", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="image files (any format PIL reads)")
    parser.add_argument("--model", default=None, help="folder of a stored detector (default model_best/sd_detector/cifake_cnn)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--quiet", action="store_true", help="leave out the statement of what the detector knows")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        model, _ = load_detector(args.model)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = score_files(args.files, model)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        elif row["error"]:
            reason = row["error"].removeprefix(f"{row['file']}: ")
            print(f"{row['file']}: ERROR {reason}")
        else:
            print(f"{row['file']}: P(generated) = {row['p_generated']:.3f}  {verdict(row['p_generated'])}  "
                  f"[{row['preprocessing']}]")
    if not args.quiet and not args.json:
        print("\n" + knows_text())
    return 1 if any(row["error"] for row in rows) else 0
