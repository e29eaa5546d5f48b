"""DiffusionDB (Wang et al. 2023): Stable Diffusion images with their prompts; the "generated" side of the
DiffusionDB vs Imagenette task.

On disk a DiffusionDB part is one folder, as unpacked from ``images/part-NNNNNN.zip`` of the Hugging Face
dataset ``poloclub/diffusiondb``:

    part-000001/
        ec9b5e2c-028e-48ac-8857-a52814fd2a06.png   (one PNG per image, named by its key)
        ...
        part-000001.json                            {"<key>.png": {"p": prompt, "se": seed, "c": cfg scale,
                                                                   "st": steps, "sa": sampler}, ...}

`load_part` reads such a folder (every key of the JSON must have its PNG; a PNG without metadata, or a key
without a PNG, is reported). `fetch_diffusiondb` gets a part online: the part zip through ``huggingface_hub``,
else a small config (default ``2m_random_1k``: 1000 random images) through ``datasets``. Offline it raises
DatasetUnavailable, whose message says what to use instead (``data/sd_vs_real``).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO_ID = "poloclub/diffusiondb"
DEFAULT_CONFIG = "2m_random_1k"
METADATA_KEYS = {"p": "prompt", "se": "seed", "c": "cfg", "st": "steps", "sa": "sampler"}


class DatasetUnavailable(RuntimeError):
    """A dataset could not be found locally nor downloaded; the message says what to do."""


@dataclass
class Part:
    folder: Path
    files: list[Path]                 # PNGs that have metadata, sorted by key
    metadata: pd.DataFrame            # one row per file: key, prompt, seed, cfg, steps, sampler
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def part_name(number: int) -> str:
    return f"part-{number:06d}"


def load_part(folder: Path | str) -> Part:
    """Read one part folder in DiffusionDB's layout (see the module docstring)."""
    folder = Path(folder)
    json_path = folder / f"{folder.name}.json"
    if not json_path.is_file():
        raise FileNotFoundError(f"{folder}: no {json_path.name}; not a DiffusionDB part folder "
                                "(expected part-NNNNNN/ with part-NNNNNN.json and <key>.png files)")
    try:
        meta = json.loads(json_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{json_path}: not valid JSON ({error})") from error
    pngs = {p.name for p in folder.glob("*.png")}
    problems = [f"{folder.name}/{key}: listed in {json_path.name} but the file is missing" for key in sorted(set(meta) - pngs)]
    problems += [f"{folder.name}/{name}: PNG without metadata, left out" for name in sorted(pngs - set(meta))]
    keys = sorted(set(meta) & pngs)
    rows = [{"key": key, **{long: meta[key].get(short) for short, long in METADATA_KEYS.items()}} for key in keys]
    return Part(folder, [folder / key for key in keys], pd.DataFrame(rows, columns=["key", *METADATA_KEYS.values()]), problems)


def load_parts(root: Path | str, parts: list[int] | None = None) -> Part:
    """All part folders under `root` (or the listed part numbers), merged."""
    root = Path(root)
    folders = [root / part_name(n) for n in parts] if parts else sorted(p for p in root.glob("part-*") if p.is_dir())
    if not folders or not all(f.is_dir() for f in folders):
        raise FileNotFoundError(f"no DiffusionDB part folders under {root}")
    loaded = [load_part(f) for f in folders]
    return Part(root, [f for p in loaded for f in p.files], pd.concat([p.metadata for p in loaded], ignore_index=True),
                [m for p in loaded for m in p.problems])


def _write_part_from_dataset(dataset, folder: Path) -> Path:
    """Write rows of the HF dataset (columns image_name, image, prompt, seed, cfg, step, sampler) as a part folder."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {}
    for row in dataset:
        name = row["image_name"]
        row["image"].save(folder / name)
        meta[name] = {"p": row.get("prompt"), "se": row.get("seed"), "c": row.get("cfg"), "st": row.get("step"),
                      "sa": row.get("sampler")}
    (folder / f"{folder.name}.json").write_text(json.dumps(meta))
    return folder


def reachable(host: str = "huggingface.co", port: int = 443, timeout: float = 3.0) -> bool:
    """Can a TCP connection to `host` be opened? (Checked first, so an offline run fails in seconds,
    not after the Hub client's retries.)"""
    import socket
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


OFFLINE_HINT = "Offline, use the 98 Stable Diffusion PNGs of data/sd_vs_real/fake (`make data`)."


def fetch_diffusiondb(root: Path | str, part: int = 1, config: str = DEFAULT_CONFIG) -> Part:
    """A local copy under root/ if there is one; else download it; else DatasetUnavailable saying what to use.

    Routes, in order: the part zip ``images/part-NNNNNN.zip`` through ``huggingface_hub`` (unpacked as
    root/part-NNNNNN/), then ``datasets`` reading the Hub's Parquet conversion of `config` (the dataset's loading
    script is not run: datasets 4 and later refuse scripts), written as root/<config>/ in the same layout."""
    root = Path(root)
    folders = [root / part_name(part), root / config]
    for folder in folders:
        if (folder / f"{folder.name}.json").is_file():
            return load_part(folder)
    if not reachable():
        raise DatasetUnavailable(f"DiffusionDB ({REPO_ID}) is not in {folders[0]} nor {folders[1]} and huggingface.co "
                                 f"cannot be reached (offline). {OFFLINE_HINT}")
    errors = []
    try:
        from huggingface_hub import hf_hub_download
        archive = hf_hub_download(REPO_ID, f"images/{part_name(part)}.zip", repo_type="dataset")
        folders[0].mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(folders[0])
        return load_part(folders[0])
    except Exception as error:
        errors.append(f"huggingface_hub images/{part_name(part)}.zip: {type(error).__name__}: {str(error)[:200]}")
    try:
        from datasets import load_dataset
        dataset = load_dataset(REPO_ID, config, split="train", revision="refs/convert/parquet")
        return load_part(_write_part_from_dataset(dataset, folders[1]))
    except Exception as error:
        errors.append(f"datasets.load_dataset({REPO_ID!r}, {config!r}, revision='refs/convert/parquet'): "
                      f"{type(error).__name__}: {str(error)[:200]}")
    raise DatasetUnavailable(f"DiffusionDB ({REPO_ID}) is not in {folders[0]} and could not be downloaded:\n  "
                             + "\n  ".join(errors) + f"\n{OFFLINE_HINT}")
