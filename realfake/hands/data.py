"""The hand X-ray data set: real (0), VAE (1) and GAN (2) hands, deduplicated, with sources.

The course folders carry a text file (named like an image) that lists, one line per file in
file order, which student's generator made each image. Those sources give an honest
validation split: a generator in the validation set never appears in training.

`prepare_data` links the course folders into the repository (`make data`): the four
coursework-2 folders are required, coursework 1's 8000 real hands are optional (without them
the run trains on the 500 coursework-2 reals, says so, and `model_best/` no longer matches).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..datalink import link_folder
from .dedup import first_occurrences, pixel_hashes
from ..images import ImageSet, list_image_files, load_image_folder, read_text_file
from .splits import split_by_group, split_groups_in_two, split_within_groups

CLASS_NAMES = ("real", "VAE", "GAN")
LABELLED_FOLDERS = {"real_hands": 0, "VAE_hands": 1, "GAN_hands": 2}
EXTRA_REAL_FOLDER = Path("data/hands_cw1/real_hands")  # the 8000 real hands of coursework 1
TEST_FOLDER = "test_hands"

# `make data`: link (in the repository) -> folder (under the data source)
LINKS = {
    "real_hands": "hands/real_hands",
    "VAE_hands": "hands/VAE_hands",
    "GAN_hands": "hands/GAN_hands",
    "test_hands": "hands/test_hands",
    "data/hands_cw1/real_hands": "hands_cw1/real_hands",
}
OPTIONAL = {"data/hands_cw1/real_hands"}
HELP = """The hand folders come from the course repository (DL module coursework 2:
real_hands/, VAE_hands/, GAN_hands/, test_hands/; coursework 1: real_hands/ with 8000 images).
Point the project at them with
    make data REALFAKE_DATA=/path/to/data      (a folder holding hands/ and hands_cw1/)
or copy the four coursework-2 folders into the repository root yourself."""
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

    extra_real      also use the 8000 real hands of coursework 1 (data/hands_cw1/real_hands) when
                    they are there; when they are not, warn and go on without them
    max_extra_real  use only the first N of them (the smoke profile)
    """
    root = Path(root)
    if extra_real and not (root / EXTRA_REAL_FOLDER).is_dir():
        warnings.warn(f"{root / EXTRA_REAL_FOLDER} is missing (coursework 1's 8000 real hands, optional): "
                      "training on the coursework-2 folders only", stacklevel=2)
        extra_real = False
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
    """Train and validation indices such that no generator (source) is on both sides."""
    return split_by_group(data.sources, data.labels, val_fraction, seed)


def split_within_sources(data: HandData, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices holding out `val_fraction` of every generator's images (at least one)
    and of the real hands: the split that matches test_hands/, which holds other images of the same
    cohort's generators."""
    return split_within_groups(data.sources, data.labels, val_fraction, seed)


SPLITS = {"matching": split_within_sources, "generators": split_by_source}


def validation_split(data: HandData, kind: str, val_fraction: float, seed: int
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train, validation, selection and report indices: the validation images of `kind` ("matching": held-out images
    of every generator, `split_within_sources`; "generators": held-out generators, `split_by_source`),
    halved by generator, so settings are chosen on the selection half and the report half is the estimate."""
    if kind not in SPLITS:
        raise ValueError(f"unknown validation split {kind!r}; known: {', '.join(SPLITS)}")
    train_index, val_index = SPLITS[kind](data, val_fraction, seed)
    select_index, report_index = split_groups_in_two(data.sources, data.labels, val_index, seed)
    return train_index, val_index, select_index, report_index


class BadTestFolder(ValueError):
    """test_hands/ does not hold exactly the course's test images; the message says what is wrong."""


def check_test_folder(folder: Path | str, expected_names=None, max_shown: int = 5) -> None:
    """Raise BadTestFolder unless `folder` holds exactly the expected test names (default: the course's 8434),
    each one a file. Called before any training, so a wrong folder is refused in seconds, not after hours."""
    from .submission import EXPECTED_NAMES
    folder = Path(folder)
    expected = set(EXPECTED_NAMES if expected_names is None else expected_names)
    if not folder.is_dir():
        raise BadTestFolder(f"{folder} is not a folder: link the course's test_hands/ there (`make data`)")
    entries = {p.name: p for p in list_image_files(folder)}
    problems = []
    missing, extra = sorted(expected - set(entries)), sorted(set(entries) - expected)
    if missing:
        problems.append(f"{len(missing)} test images are missing, e.g. {', '.join(missing[:max_shown])}")
    if extra:
        problems.append(f"{len(extra)} files are not test images and must be moved out, e.g. {', '.join(extra[:max_shown])}")
    not_files = sorted(name for name in expected & set(entries) if not entries[name].is_file())
    if not_files:
        problems.append(f"{len(not_files)} test names are not files (a folder or a broken link), e.g. "
                        f"{', '.join(not_files[:max_shown])}")
    if problems:
        raise BadTestFolder(f"{folder} must hold exactly the {len(expected)} test images "
                              "test_hand_0001.jpeg ... (one CSV row each):\n  " + "\n  ".join(problems))


def load_test_hands(root: Path | str = ".", progress: bool = True, expected_names=None) -> ImageSet:
    """Every file of test_hands/, unreadable ones included (a blank row marked not readable), after checking that
    the folder holds exactly the expected names (`check_test_folder`; pass the names of a small test folder)."""
    check_test_folder(Path(root) / TEST_FOLDER, expected_names)
    return load_image_folder(Path(root) / TEST_FOLDER, keep_unreadable=True, progress=progress)


def prepare_data(source: Path, root: Path) -> list[str]:
    """Link the course folders under `source` into `root` (see LINKS). Raises FileNotFoundError
    naming the required folders that are missing."""
    source, root = Path(source).resolve(), Path(root).resolve()
    missing = [rel for target, rel in LINKS.items() if target not in OPTIONAL and not (source / rel).is_dir()]
    if missing:
        raise FileNotFoundError(f"data source {source} lacks {', '.join(missing)}.\n{HELP}")
    done = []
    for target, rel in LINKS.items():
        if not (source / rel).is_dir():
            done.append(f"skipped {target}: {source / rel} not found (optional; training uses the other folders)")
            continue
        done.append(link_folder(source / rel, root / target))
    return done
