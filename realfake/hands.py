"""The hand X-ray data set: real (0), VAE (1) and GAN (2) hands, deduplicated, with sources.

The course folders carry a text file (named like an image) that lists, one line per file in
file order, which student's generator made each image. Those sources give an honest
validation split: a generator in the validation set never appears in training, as most
generators of the test set never do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .dedup import first_occurrences, pixel_hashes
from .images import ImageSet, list_image_files, load_image_folder, read_text_file

CLASS_NAMES = ("real", "VAE", "GAN")
LABELLED_FOLDERS = {"real_hands": 0, "VAE_hands": 1, "GAN_hands": 2}
EXTRA_REAL_FOLDER = Path("data/hands_cw1/real_hands")  # the 8000 real hands of coursework 1
TEST_FOLDER = "test_hands"
_SOURCE_PATTERN = re.compile(r"^(?:VAE|GAN)_hands_([^_]+)_")


@dataclass
class HandData:
    """Deduplicated labelled hands as tensors, ready for training.

    pixels  uint8 N x 1 x 32 x 32;  labels  int64 N;  sources  the generator (student) of each
    generated image, or a unique id per real image;  names  "folder/file";  report  bad files;
    duplicates  the images dropped because their pixels repeat an earlier one.
    """
    pixels: torch.Tensor
    labels: torch.Tensor
    sources: list[str]
    names: list[str]
    report: pd.DataFrame
    duplicates: pd.DataFrame

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=len(CLASS_NAMES))
        return {name: int(n) for name, n in zip(CLASS_NAMES, counts)}

    def sources_per_class(self) -> dict[str, int]:
        """How many distinct sources (generators; for real hands, images) each class has."""
        return {name: len({s for s, label in zip(self.sources, self.labels.tolist()) if label == c})
                for c, name in enumerate(CLASS_NAMES)}

    def take(self, index) -> "HandData":
        index = torch.as_tensor(index, dtype=torch.long)
        rows = index.tolist()
        return HandData(self.pixels[index], self.labels[index], [self.sources[i] for i in rows],
                        [self.names[i] for i in rows], self.report, self.duplicates)


def read_sources(folder: Path) -> dict[str, str]:
    """Map file name -> source (the student whose generator made it), from the folder's list.

    The list is the one text file in the folder whose line count equals the number of files;
    line i names the source of the i-th file in sorted order. Folders without such a list
    (the real hands) get an empty mapping.
    """
    files = list_image_files(Path(folder))
    for path in files:
        lines = read_text_file(path)
        if lines is not None and len(lines) == len(files):
            return {file.name: source_of(line) for file, line in zip(files, lines)}
    return {}


def source_of(line: str) -> str:
    """'VAE_hands_acse-jcw23_jcw23_VAE297.jpeg.jpeg' -> 'acse-jcw23' (the student's id)."""
    match = _SOURCE_PATTERN.match(line.strip())
    return match.group(1).lower() if match else line.strip()


def load_hand_data(root: Path | str = ".", extra_real: bool = True, max_extra_real: int | None = None,
                   progress: bool = True) -> HandData:
    """Load, normalise and deduplicate the labelled hands under `root`.

    extra_real      also use the 8000 real hands of coursework 1 (data/hands_cw1/real_hands)
    max_extra_real  use only the first N of them (the smoke profile)
    """
    root = Path(root)
    # (folder, label, how many files to use); the extra reals come first, so the 500
    # coursework-2 reals that repeat them are the ones reported as duplicates.
    folders = [(root / name, label, None) for name, label in LABELLED_FOLDERS.items()]
    if extra_real:
        folders.insert(0, (root / EXTRA_REAL_FOLDER, 0, max_extra_real))
    seen: dict[str, str] = {}
    pixels, labels, sources, names, reports, duplicates = [], [], [], [], [], []
    for folder, label, limit in folders:
        images = load_image_folder(folder, progress=progress)
        if limit is not None:
            images = images.subset(range(min(limit, len(images))))
        reports.append(images.report)
        source_map = read_sources(folder)
        qualified = [f"{folder}/{name}" for name in images.names]
        keep, repeats = first_occurrences(pixel_hashes(images.pixels), qualified, seen)
        duplicates += [(str(folder), images.names[i], f"same pixels as {earlier}", "skipped")
                       for i, earlier in repeats]
        pixels.append(images.pixels[keep])
        labels += [label] * len(keep)
        names += [qualified[i] for i in keep]
        # Real hands have no generator: each is its own group (after deduplication).
        sources += [source_map.get(images.names[i], qualified[i]) for i in keep]
    return HandData(torch.cat(pixels), torch.tensor(labels, dtype=torch.long), sources, names,
                    pd.concat(reports, ignore_index=True),
                    pd.DataFrame(duplicates, columns=["folder", "file", "reason", "action"]))


def split_by_source(data: HandData, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices such that no source is on both sides.

    Sources are drawn per class, so each class keeps about `val_fraction` of its sources (and,
    with equal-sized sources, of its images) in validation.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"source": data.sources, "label": data.labels.numpy()})
    val_sources: set[str] = set()
    for _, group in frame.groupby("label"):
        unique = np.array(sorted(group.source.unique()))
        rng.shuffle(unique)
        val_sources.update(unique[: max(1, round(val_fraction * len(unique)))])
    is_val = frame.source.isin(val_sources).to_numpy()
    return torch.from_numpy(np.flatnonzero(~is_val)), torch.from_numpy(np.flatnonzero(is_val))


def load_test_hands(root: Path | str = ".", progress: bool = True) -> ImageSet:
    """Every file of test_hands/, unreadable ones included (a blank row marked not readable)."""
    return load_image_folder(Path(root) / TEST_FOLDER, keep_unreadable=True, progress=progress)


def labels_with_guesses(probs: torch.Tensor, readable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted labels for every test image, and which of them are guesses.

    An unreadable image has no pixels to classify; it gets the class predicted most often for
    the readable ones (the best guess under the test set's own class mix) and is flagged.
    """
    labels = probs.argmax(1)
    guessed = ~readable
    if guessed.any() and readable.any():
        labels[guessed] = torch.bincount(labels[readable], minlength=probs.shape[1]).argmax()
    return labels, guessed
