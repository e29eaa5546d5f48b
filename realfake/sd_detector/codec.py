"""Codec normalisation: every image, real or generated, leaves through the same resize and the same JPEG encoder.

Why: in sd_vs_real (and DiffusionDB vs Imagenette) the generated images are 512x512 PNG and the real ones
are JPEG of many sizes. A classifier can tell them apart from the file format alone (see
`metadata_features` and the notebook's shortcut check). After `normalise` both classes are JPEG bytes with
the same size, colour mode, chroma subsampling, quantisation tables and header fields, so only the pixels
differ.

CIFAKE's own files are all 32x32 RGB JPEG written by one encoder setting: libjpeg's standard tables at
quality 75 with 4:2:0 chroma subsampling (PIL's defaults). `jpeg_signature` reads that from the files and
`encoder_settings_table` shows it per class. `normalise` uses the same setting, so images brought to 32x32
by it look to the detector like CIFAKE's files ("the same encoder").
"""
from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, JpegImagePlugin

CIFAKE_QUALITY = 75          # quantisation tables of CIFAKE's files = libjpeg standard tables at quality 75
CIFAKE_SUBSAMPLING = "4:2:0"


class UnreadableImage(ValueError):
    """The bytes of a file could not be decoded as an image; the message names the file and the reason."""


class TooLarge(UnreadableImage):
    """The image has more pixels than MAX_PIXELS: it is refused before it is decoded."""


MAX_PIXELS = 50_000_000   # about 7000 x 7000; a larger image is refused before decoding (it would need > 150 MB)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB of any PIL mode. High bit depth (16-bit, 32-bit integer, float) is scaled by its real value range, so a
    16-bit PNG is not clipped to white and a float TIFF in [0, 1] is not truncated to black."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        return Image.fromarray(np.round(scaled).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "P", "PA", "RGBa", "La"):
        # Composite transparent images on white, the way a viewer shows them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _too_large(name: str, size: str) -> TooLarge:
    return TooLarge(f"{name}: {size}, above the limit of {MAX_PIXELS / 1e6:.0f} megapixels; it is not decoded "
                    "(crop the region to check and score that)")


def decode(data: bytes, name: str = "<bytes>") -> tuple[Image.Image, list[str]]:
    """(RGB image, notes) of a file's bytes, or UnreadableImage naming the file and the reason.

    The EXIF orientation is applied (the image as a viewer shows it); an animated file is read on its first frame
    and a note says so; an image above MAX_PIXELS is refused (TooLarge) before its pixels are decoded.
    """
    if not data:
        raise UnreadableImage(f"{name}: empty file")
    notes = []
    try:
        with warnings.catch_warnings():   # PIL warns from 89 megapixels; MAX_PIXELS refuses far below that
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise _too_large(name, f"{width}x{height} is {width * height / 1e6:.0f} megapixels")
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            notes.append(f"animated ({frames} frames): scored on the first frame only")
            image.seek(0)
        image.load()
        orientation = image.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            image = ImageOps.exif_transpose(image)
            notes.append(f"EXIF orientation {orientation} applied")
    except UnreadableImage:
        raise
    except Image.DecompressionBombError as error:   # PIL's own limit (179 megapixels) is met before MAX_PIXELS is checked
        raise _too_large(name, "more than {:.0f} megapixels".format(2 * Image.MAX_IMAGE_PIXELS / 1e6)) from error
    except Exception as error:  # PIL raises UnidentifiedImageError, OSError (truncated), SyntaxError, ...
        from PIL import UnidentifiedImageError
        if "truncated" in str(error).lower():
            reason = "truncated image"
        elif isinstance(error, UnidentifiedImageError):
            reason = "not a readable image (no image format recognised in its bytes)"
        else:
            reason = f"not a readable image ({type(error).__name__}: {error})"
        raise UnreadableImage(f"{name}: {reason}") from error
    return _to_rgb(image), notes


def open_rgb(data: bytes, name: str = "<bytes>") -> Image.Image:
    """Decode bytes to an RGB PIL image, or raise UnreadableImage naming the file and the reason (see `decode`)."""
    return decode(data, name)[0]


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square (the shorter side), then resize to size x size (bicubic, antialiased)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if side == size:
        return square
    return square.resize((size, size), Image.BICUBIC, reducing_gap=None)


def encode_jpeg(image: Image.Image, quality: int = CIFAKE_QUALITY, subsampling: str = CIFAKE_SUBSAMPLING) -> bytes:
    """JPEG bytes with fixed settings and no metadata (no EXIF, ICC or comment), identical for every input."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling, optimize=False, progressive=False)
    return buffer.getvalue()


def normalise(data: bytes, size: int = 32, quality: int = CIFAKE_QUALITY, name: str = "<bytes>") -> bytes:
    """Any image file's bytes -> JPEG bytes at size x size, the same for real and generated images."""
    return encode_jpeg(resize_square(open_rgb(data, name), size), quality)


def normalised_pixels(data: bytes, size: int = 32, quality: int = CIFAKE_QUALITY, name: str = "<bytes>") -> torch.Tensor:
    """normalise() then decode: uint8 tensor 3 x size x size, exactly what the detector is fed."""
    return normalised_image_pixels(open_rgb(data, name), size, quality)


def normalised_image_pixels(image: Image.Image, size: int = 32, quality: int = CIFAKE_QUALITY) -> torch.Tensor:
    """The same for an image already decoded by `open_rgb`."""
    jpeg_bytes = encode_jpeg(resize_square(image, size), quality)
    array = np.asarray(Image.open(io.BytesIO(jpeg_bytes)).convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def jpeg_signature(data: bytes) -> dict:
    """Format facts of an image file: format, size, mode, and for JPEG the subsampling and a quality estimate."""
    image = Image.open(io.BytesIO(data))
    facts = {"format": image.format, "width": image.size[0], "height": image.size[1], "mode": image.mode,
             "bytes": len(data), "subsampling": None, "quant_tables": None, "quality_estimate": None,
             "header_keys": ",".join(sorted(k for k in image.info if k not in ("dpi",)))}
    if image.format == "JPEG":
        facts["subsampling"] = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(image), "other")
        tables = image.quantization
        facts["quant_tables"] = str({k: list(v) for k, v in sorted(tables.items())})
        facts["quality_estimate"] = estimate_quality(tables)
    return facts


_STD_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                      14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                      49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])


def estimate_quality(tables: dict) -> int | None:
    """The libjpeg quality whose scaled standard luminance table is closest to table 0 (zigzag-order agnostic)."""
    if 0 not in tables:
        return None
    table = np.sort(np.asarray(list(tables[0])))
    best, best_error = None, float("inf")
    for quality in range(1, 101):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        scaled = np.clip((_STD_LUMA * scale + 50) // 100, 1, 255)
        error = np.abs(np.sort(scaled) - table).sum()
        if error < best_error:
            best, best_error = quality, error
    return best


def signatures(files: dict[str, list[Path]]) -> pd.DataFrame:
    """One row per file with its class and jpeg_signature."""
    import pandas as pd
    rows = []
    for label, paths in files.items():
        for path in paths:
            row = {"class": label, "file": Path(path).name}
            try:
                row.update(jpeg_signature(Path(path).read_bytes()))
            except Exception as error:
                row["format"] = f"unreadable: {type(error).__name__}"
            rows.append(row)
    return pd.DataFrame(rows)


def encoder_settings_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per class: how many files share each (format, size, mode, subsampling, quality, tables) setting."""
    keys = ["format", "width", "height", "mode", "subsampling", "quality_estimate", "quant_tables"]
    counts = table.fillna("-").groupby(["class"] + keys).size().rename("files").reset_index()
    counts["quant_tables"] = counts["quant_tables"].map(
        lambda t: t if t == "-" else "#" + hashlib.sha1(t.encode()).hexdigest()[:6])
    return counts


def metadata_features(data: bytes) -> list[float]:
    """File-metadata features only (no pixels): log file size, width, height, is-PNG, is-JPEG, bytes per pixel."""
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    return [float(np.log(len(data))), float(width), float(height), float(image.format == "PNG"),
            float(image.format == "JPEG"), len(data) / (width * height)]


def metadata_shortcut(datas: list[bytes], labels: list[int], seed: int = 0, folds: int = 5) -> dict:
    """Cross-validated accuracy of a logistic regression on file metadata alone (no pixel is read).

    Near 100 % on raw files means the two classes can be told apart by their codec/size: any pixel classifier's
    accuracy on them proves nothing until both go through `normalise`. Returns mean accuracy and the folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    features = np.array([metadata_features(d) for d in datas])
    labels = np.asarray(labels)
    folds = min(folds, int(np.bincount(labels).min()))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    scores = cross_val_score(model, features, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return {"accuracy": float(scores.mean()), "folds": [float(s) for s in scores], "n": int(len(labels)),
            "distinct_feature_rows": int(len({tuple(f) for f in features[:, 1:5]}))}
