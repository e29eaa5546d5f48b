"""Imagenette (fast.ai; 10 easy ImageNet classes): the "real" side of the DiffusionDB vs Imagenette task.

Read through `torchvision.datasets.Imagenette`, whose on-disk layout is

    root/imagenette2-160/{train,val}/<wnid>/<name>.JPEG      (size "160px"; "320px" -> imagenette2-320, "full" -> imagenette2)

`load_imagenette` returns the file paths and class indices of one split from a local copy, downloading it
(about 100 MB for 160px) when allowed; offline and absent it raises DatasetUnavailable naming the fallback.
"""
from __future__ import annotations

from pathlib import Path

from realfake.sd_detector.diffusiondb import DatasetUnavailable


def load_imagenette(root: Path | str, split: str = "train", size: str = "160px", download: bool = True):
    """(paths, labels, class names) of one Imagenette split, via torchvision.datasets.Imagenette."""
    from torchvision.datasets import Imagenette
    root = Path(root)
    try:
        dataset = Imagenette(str(root), split=split, size=size, download=False)
    except RuntimeError as missing:
        if not download:
            raise DatasetUnavailable(f"Imagenette ({size}) not found under {root} and download=False; offline, use the "
                                     "ImageNet photos of data/sd_vs_real/real (`make data`)") from missing
        try:
            dataset = Imagenette(str(root), split=split, size=size, download=True)
        except Exception as error:
            raise DatasetUnavailable(
                f"Imagenette ({size}) is not under {root} and the download failed ({type(error).__name__}: "
                f"{str(error)[:200]}). Offline, use the ImageNet photos of data/sd_vs_real/real (`make data`).") from error
    paths = [Path(path) for path, _ in dataset._samples]
    labels = [label for _, label in dataset._samples]
    return paths, labels, [names[0] for names in dataset.classes]
