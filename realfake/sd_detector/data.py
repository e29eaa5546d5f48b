"""CIFAKE and sd_vs_real on disk: extract / link once, then load as uint8 tensors.

CIFAKE (Bird & Lotfi 2024) is 120,000 32x32 RGB JPEGs in the Kaggle tree
``{train,test}/{REAL,FAKE}/``: REAL = CIFAR-10 photos, FAKE = Stable Diffusion 1.4 images.
The same loader serves three sources, tried in this order:

1. ``root/data/cifake/`` (what ``make data`` extracts from ``cifake.tar.gz``),
2. a folder given explicitly,
3. Colab / online: ``kagglehub.dataset_download("birdy654/cifake-real-and-ai-generated-synthetic-images")``.

Every split is decoded once into a uint8 tensor N x 3 x 32 x 32 (300 MB for the train split) and cached
on disk by ``realfake.images.load_image_folder``; labels are 0 = REAL, 1 = FAKE (the "generated" class
is the positive one, so a probability is "probability that it is generated").
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from realfake.datalink import how_to_link, link_folder

KAGGLE_HANDLE = "birdy654/cifake-real-and-ai-generated-synthetic-images"
CLASSES = ("REAL", "FAKE")          # label 0, label 1 (generated)
SPLIT_COUNTS = {"train": {"REAL": 50_000, "FAKE": 50_000}, "test": {"REAL": 10_000, "FAKE": 10_000}}
ARCHIVE = "cifake/cifake.tar.gz"
SD_VS_REAL = "sd_vs_real"


def _count_files(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for entry in os.scandir(folder) if entry.is_file() and not entry.name.startswith("."))


def cifake_complete(folder: Path, counts: dict = SPLIT_COUNTS) -> bool:
    """True when `folder` holds every split/class folder with the published number of files."""
    folder = Path(folder)
    return all(_count_files(folder / split / cls) == n for split, per in counts.items() for cls, n in per.items())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_cifake(archive: Path, target: Path, counts: dict = SPLIT_COUNTS) -> str:
    """Unpack the CIFAKE tarball into `target` (= .../data/cifake) unless it is already complete.

    The archive's members live under ``cifake/``; they are unpacked into a temporary sibling folder
    and moved into place only when complete, so an interrupted extraction never looks finished.
    """
    archive, target = Path(archive), Path(target)
    if cifake_complete(target, counts):
        return f"kept {target}: CIFAKE already extracted and complete"
    sums = archive.parent / "SHA256SUMS"
    if sums.exists():
        expected = {line.split()[1].lstrip("*"): line.split()[0] for line in sums.read_text().splitlines() if line.strip()}
        if archive.name in expected and _sha256(archive) != expected[archive.name]:
            raise ValueError(f"{archive}: SHA-256 does not match {sums}; the archive is damaged, fetch it again")
    staging = target.parent / (target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for member in members:
            parts = Path(member.name).parts
            if not parts or parts[0] != "cifake" or ".." in parts or Path(member.name).is_absolute():
                raise ValueError(f"{archive}: unexpected member {member.name!r}; not the CIFAKE archive layout")
        tar.extractall(staging, members=members, filter="data")
    unpacked = staging / "cifake"
    if not cifake_complete(unpacked, counts):
        found = {f"{s}/{c}": _count_files(unpacked / s / c) for s, per in counts.items() for c in per}
        raise ValueError(f"{archive}: incomplete after extraction: {found}")
    if target.exists() or target.is_symlink():
        if target.is_symlink():
            target.unlink()
        else:
            shutil.rmtree(target)
    unpacked.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return f"extracted {archive} -> {target} (120,000 files)"


def prepare_data(source: Path, root: Path) -> list[str]:
    """`make data` hook: extract CIFAKE into root/data/cifake and link sd_vs_real into root/data/sd_vs_real.

    Both are optional for the suite as a whole (the notebook says what is missing), so a missing
    source is reported as a message, not an error.
    """
    source, root = Path(source).resolve(), Path(root).resolve()
    messages = []
    archive = source / ARCHIVE
    target = root / "data" / "cifake"
    if archive.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        messages.append(extract_cifake(archive, target))
    elif cifake_complete(target):
        messages.append(f"kept {target}: CIFAKE already extracted")
    else:
        messages.append(f"skipped CIFAKE: {archive} not found (optional; in Colab the notebook downloads it with kagglehub)")
    for name in (SD_VS_REAL, "multigen"):
        origin = source / name
        if origin.is_dir():
            messages.append(link_folder(origin, root / "data" / name))
        else:
            messages.append(f"skipped {name}: {origin} not found (optional)")
    return messages


def find_cifake(root: Path | None = None, path: Path | str | None = None, download: bool = True) -> Path:
    """The folder holding CIFAKE's ``train/`` and ``test/``.

    `path` wins when given; then ``root/data/cifake``; then (when `download`) kagglehub. Raises
    FileNotFoundError with what to do when none is available.
    """
    candidates = []
    if path is not None:
        candidates.append(Path(path))
    if root is not None:
        candidates.append(Path(root) / "data" / "cifake")
    for folder in candidates:
        for inner in (folder, folder / "cifake"):
            if (inner / "train").is_dir() and (inner / "test").is_dir():
                return inner
    if download:
        try:
            import kagglehub
            folder = Path(kagglehub.dataset_download(KAGGLE_HANDLE))
        except Exception as error:  # no network, no credentials, no package
            raise FileNotFoundError(
                f"CIFAKE not found in {', '.join(map(str, candidates)) or '(no local path)'} and the kagglehub "
                f"download of {KAGGLE_HANDLE} failed ({type(error).__name__}: {error}). Run `make data` with "
                "../shared/data/cifake/cifake.tar.gz, or pass path= to a folder holding train/ and test/.") from error
        for inner in (folder, folder / "cifake"):
            if (inner / "train").is_dir() and (inner / "test").is_dir():
                return inner
        raise FileNotFoundError(f"kagglehub returned {folder}, which holds no train/ and test/ folders")
    raise FileNotFoundError(f"CIFAKE not found in {', '.join(map(str, candidates))}; run `make data`")


@dataclass
class Split:
    """One CIFAKE split: pixels uint8 N x 3 x 32 x 32, labels int64 (0 REAL, 1 FAKE), file names."""
    pixels: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "Split":
        index = torch.as_tensor(index, dtype=torch.long)
        return Split(self.pixels[index], self.labels[index], [self.names[i] for i in index.tolist()])


def load_split(folder: Path, split: str, cache_dir: Path | str | None = None, progress: bool = True,
               limit_per_class: int | None = None, seed: int = 0) -> Split:
    """Decode ``folder/split/{REAL,FAKE}`` into a Split.

    The whole folder is decoded once and cached (``realfake.images.load_image_folder``). limit_per_class
    (the smoke profile) instead decodes a seeded random subset of each class's files directly, without a
    cache: seconds instead of a 300 MB decode. A file that is not a readable image is skipped with a
    warning that names it and says why, on either path.
    """
    from realfake.images import NotAnImage, decode_image, list_image_files, load_image_folder, read_entry
    pixels, labels, names = [], [], []
    for label, cls in enumerate(CLASSES):
        class_folder = Path(folder) / split / cls
        skipped: list[tuple[str, str]] = []
        if limit_per_class is not None:
            files = list_image_files(class_folder)
            generator = torch.Generator().manual_seed(seed + label)
            chosen = sorted(torch.randperm(len(files), generator=generator)[:limit_per_class].tolist())
            arrays, kept = [], []
            for i in chosen:
                try:
                    arrays.append(decode_image(read_entry(files[i]), 32, allow_truncated=False, mode="RGB")[0])
                    kept.append(files[i].name)
                except NotAnImage as error:
                    skipped.append((files[i].name, str(error)))
            block = (torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous() if arrays
                     else torch.zeros((0, 3, 32, 32), dtype=torch.uint8))
        else:
            kwargs = {"size": 32, "mode": "RGB", "progress": progress}
            if cache_dir is not None:
                kwargs["cache_dir"] = cache_dir
            images = load_image_folder(class_folder, **kwargs)   # unreadable files are skipped and reported
            block, kept = images.pixels, images.names
            report = images.report[images.report.action == "skipped"]
            skipped = list(zip(report.file, report.reason))
        if skipped:
            shown = "; ".join(f"{name}: {reason}" for name, reason in skipped[:5])
            warnings.warn(f"{class_folder}: skipped {len(skipped)} unreadable file(s): {shown}"
                          + (" ..." if len(skipped) > 5 else ""), stacklevel=2)
        pixels.append(block)
        labels.append(torch.full((len(kept),), label, dtype=torch.long))
        names += [f"{cls}/{n}" for n in kept]
    return Split(torch.cat(pixels), torch.cat(labels), names)


def train_valid_split(n: int, valid_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random split of range(n) into (train, valid) indices; the test split is never used here."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_valid = int(round(n * valid_fraction))
    return order[n_valid:].sort().values, order[:n_valid].sort().values


def sd_vs_real_files(folder: Path | str) -> tuple[list[Path], list[int]]:
    """Files of data/sd_vs_real: fake/*.png (label 1) and real/*.JPEG (label 0), sorted."""
    folder = Path(folder)
    if not (folder / "fake").is_dir() or not (folder / "real").is_dir():
        raise FileNotFoundError(f"{folder}: expected fake/ and real/ ({how_to_link('sd_vs_real')})")
    paths, labels = [], []
    for sub, label in (("real", 0), ("fake", 1)):
        files = sorted(p for p in (folder / sub).iterdir() if p.is_file() and not p.name.startswith("."))
        paths += files
        labels += [label] * len(files)
    return paths, labels


def split_three(labels: list[int], seed: int, fractions=(0.6, 0.2, 0.2)) -> dict[str, list[int]]:
    """Stratified seeded train/valid/test index lists."""
    generator = torch.Generator().manual_seed(seed)
    out = {"train": [], "valid": [], "test": []}
    labels_t = torch.as_tensor(labels)
    for label in labels_t.unique().tolist():
        index = torch.nonzero(labels_t == label).flatten()
        index = index[torch.randperm(len(index), generator=generator)].tolist()
        n_train, n_valid = int(round(len(index) * fractions[0])), int(round(len(index) * fractions[1]))
        out["train"] += index[:n_train]
        out["valid"] += index[n_train:n_train + n_valid]
        out["test"] += index[n_train + n_valid:]
    return {k: sorted(v) for k, v in out.items()}
