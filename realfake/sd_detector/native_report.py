"""Tables and figures of the native detector for the notebook: the LOGO table, the extremes per generator, and a
heat map of one image's tiles."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from realfake.sd_detector import codec, native

METRICS = ("roc_auc", "average_precision", "balanced_accuracy")


def _cell(m: dict, name: str) -> str:
    low, high = m[f"{name}_ci"]
    return f"{m[name]:.3f} ({low:.2f}-{high:.2f})"


def logo_table(record: dict) -> pd.DataFrame:
    """One row per held-out generator and per reading (as stored / both JPEG q90): AUC, AP, balanced accuracy with
    95 % bootstrap intervals, and the mean over generators."""
    rows = []
    for generator, result in record["logo"].items():
        for kind, label in (("as_stored", "as stored"), ("jpeg_q90_both", "both JPEG q90")):
            m = result[kind]
            rows.append({"held-out generator": generator, "files": label, "generated / photos":
                         f"{m['n_generated']} / {m['n_photos']}", **{k: _cell(m, k) for k in METRICS}})
    for kind, label in (("as_stored", "as stored"), ("jpeg_q90_both", "both JPEG q90")):
        mean, span = record[f"logo_mean_{kind}"], record[f"logo_range_{kind}"]
        rows.append({"held-out generator": "mean of three", "files": label, "generated / photos": "",
                     **{k: f"{mean[k]:.3f} ({span[k][0]:.2f}-{span[k][1]:.2f} range)" for k in METRICS}})
    return pd.DataFrame(rows).set_index(["held-out generator", "files"])


def choice_table(record: dict) -> pd.DataFrame:
    """The variants tried (trained without SD v1, scored on sd_vs_real): AUC as stored and codec-controlled, and the
    worse of the two (the choice takes the best of these)."""
    rows = []
    for name, v in record.get("choose", {}).get("variants", {}).items():
        rows.append({"variant": name, "parameters": v["parameters"], "train minutes": round(v["train_seconds"] / 60, 1),
                     "AUC as stored": _cell(v["sd_vs_real"]["as_stored"], "roc_auc"),
                     "AUC both JPEG q90": _cell(v["sd_vs_real"]["jpeg_q90_both"], "roc_auc"),
                     "worse of the two": round(min(v["sd_vs_real"][k]["roc_auc"] for k in ("as_stored", "jpeg_q90_both")), 3),
                     "chosen": "yes" if name == record["choose"]["chosen"] else ""})
    return pd.DataFrame(rows).set_index("variant") if rows else pd.DataFrame()


def thumbnail(path: Path, size: int = 160) -> np.ndarray:
    image = codec.open_rgb(Path(path).read_bytes(), str(path))
    image.thumbnail((size, size))
    return np.asarray(image)


def plot_extremes(record: dict, data_root: Path | str, kind: str = "as_stored", n: int = 3):
    """Per held-out generator: its n most and n least 'generated' images, and the n photos scored most generated."""
    data_root = Path(data_root)
    generators = list(record["logo"])
    fig, axes = plt.subplots(len(generators), 3 * n, figsize=(1.5 * 3 * n, 1.75 * len(generators)), squeeze=False)
    for row, generator in enumerate(generators):
        result = record["logo"][generator]
        files, labels = np.array(result["files"]), np.array(result["labels"])
        scores = np.array(result["scores"][kind])
        fakes, photos = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
        top = fakes[np.argsort(-scores[fakes])[:n]]
        bottom = fakes[np.argsort(scores[fakes])[:n]]
        worst_photos = photos[np.argsort(-scores[photos])[:n]]
        for col, (index, what) in enumerate([(i, "most gen.") for i in top] + [(i, "least gen.") for i in bottom]
                                            + [(i, "photo") for i in worst_photos]):
            ax = axes[row, col]
            ax.axis("off")
            ax.imshow(thumbnail(data_root / files[index]))
            ax.set_title(f"{what} {scores[index]:.2f}", fontsize=7)
        axes[row, 0].text(-0.15, 0.5, generator, transform=axes[row, 0].transAxes, rotation=90, va="center",
                          ha="right", fontsize=8)
    fig.suptitle("Held-out generators: most and least 'generated' renders, and the photos scored most generated "
                 "(P(generated))", fontsize=9)
    fig.tight_layout()
    return fig


def plot_tile_heatmap(model, array: np.ndarray, tile: int, max_tiles: int = 1024, title: str = ""):
    """The image and, over it, the P(generated) of every tile of the covering grid (read at native resolution, as the
    detector reads its tiles; the detector itself averages at most 64 of them)."""
    p = native.score_pixels(model, array, tile)[0]           # what the detector says (at most 64 tiles)
    _, details = native.score_pixels(model, array, tile, max_tiles)
    heat = np.full(array.shape[:2], np.nan)
    probs = 1 / (1 + np.exp(-details["logits"]))
    for (top, left), q in zip(details["positions"], probs):
        heat[top:top + tile, left:left + tile] = q
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    axes[0].imshow(array)
    axes[0].set_title(f"detector: P(generated) = {p:.2f}", fontsize=9)
    axes[1].imshow(array)
    shown = axes[1].imshow(heat, cmap="magma", alpha=0.6, vmin=0, vmax=1)
    axes[1].set_title(f"{len(probs)} tiles of {tile}x{tile}: P(generated) per tile", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
