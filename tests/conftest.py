"""Shared fixtures: every file a test reads is crafted here, in pytest's tmp_path.

Nothing under ../shared or the repository's data folders is ever read, and nothing is written
into the repository (loaders whose cache directory is relative to the CWD run with the CWD
moved into tmp_path).
"""
from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# The machine is small and shared: one thread is plenty for 32x32 toy problems.
torch.set_num_threads(1)

STARTED = time.perf_counter()


def pytest_sessionfinish(session, exitstatus):
    """`REALFAKE_RECORD_TEST_TIME=1 make test` keeps the suite's wall time in results/run_times.json, when the unit
    tests and every notebook ran in the smoke profile and passed; then `python -m realfake.report` writes it into the
    README (until then the README test fails: the README no longer says what the results say)."""
    if (os.environ.get("REALFAKE_RECORD_TEST_TIME") != "1" or exitstatus != 0 or session.config.option.collectonly
            or os.environ.get("REALFAKE_PROFILE") != "smoke"):
        return
    ran = {Path(str(item.fspath)).resolve() for item in session.items}
    notebooks = {path.resolve() for path in (ROOT / "notebooks").glob("*.ipynb")}
    if not notebooks <= ran or not any(path.parent == ROOT / "tests" for path in ran):
        return
    from realfake.run_notebooks import keep_time
    keep_time(ROOT, "smoke", "make test", time.perf_counter() - STARTED, "REALFAKE_RECORD_TEST_TIME=1 make test")


# ---------------------------------------------------------------- byte builders

def random_array(seed: int, shape=(32, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def image_bytes(array: np.ndarray, fmt: str = "PNG", **save) -> bytes:
    """Encode a uint8 array (H x W greyscale or H x W x 3 RGB) as an image file."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **save)
    return buffer.getvalue()


def jpeg_bytes(array: np.ndarray, quality: int = 95) -> bytes:
    return image_bytes(array, "JPEG", quality=quality)


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hand.jpeg", jpeg_bytes(random_array(99)))
    return buffer.getvalue()


def cut_in_header(jpeg: bytes) -> bytes:
    """A JPEG cut inside its Huffman table segment: the size is known, no pixel is recoverable."""
    dht = jpeg.find(b"\xff\xc4")
    assert dht > 0
    return jpeg[:dht + 10]


def truncated_source_bytes() -> bytes:
    """The complete JPEG that g_truncated.jpeg / h_header_cut.jpeg were cut from."""
    return jpeg_bytes(random_array(7))


def decode_with_pil(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.uint8)


# ---------------------------------------------------------------- benchmark results

def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
    import importlib.util

    from realfake.paths import repo_root
    spec = importlib.util.spec_from_file_location(name, repo_root() / "benchmarks" / f"{name}.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    return benchmark


def selftraining_run(threshold: float, scores: list[float], labelled_share: float = 0.5, resumed_rounds=(0,),
                     **fields) -> dict:
    """A results file of benchmarks/hands_selftraining.py: one round per selection-half score in `scores`
    (the report half 0.01 higher); `fields` adds top-level keys such as "config", "threads" or "stopped"."""
    return {"self_training": {"rounds": len(scores) - 1, "threshold": threshold, "labelled_share": labelled_share},
            "rounds": [{"round": r, "seconds": None if r == 0 else 90 * (r + 1),
                        "resumed from a checkpoint": r in resumed_rounds,
                        "pseudo-labels real / VAE / GAN": [0, 0, 0] if r == 0 else [10, 20 * r, 30],
                        "selection balanced accuracy": s, "selection 95% CI": [s - 0.05, s + 0.01],
                        "report balanced accuracy": s + 0.01, "report 95% CI": [s - 0.04, s + 0.02],
                        "recall real / VAE / GAN (all held out)": [0.99, 0.9, s]} for r, s in enumerate(scores)],
            **fields}


# ---------------------------------------------------------------- folders

# file name -> what it is, in sorted order (the order the loader must return)
BAD_FOLDER_FILES = [
    "a_valid.jpeg",       # 32x32 L JPEG: kept, no report row
    "b_wide.png",         # 32 wide x 24 high: resized, reported as "size 32x24"
    "c_tall.png",         # 10 wide x 32 high: resized, reported as "size 10x32"
    "d_rgb.png",          # 32x32 RGB: converted to greyscale, reported
    "e_text.jpeg",        # text named .jpeg
    "f_zip.jpeg",         # zip archive named .jpeg
    "g_truncated.jpeg",   # a JPEG cut in half: partly decodable
    "h_header_cut.jpeg",  # a JPEG cut inside its header: nothing decodable
    "i_empty.jpeg",       # zero bytes
]
READABLE_FILES = BAD_FOLDER_FILES[:4]


@pytest.fixture
def bad_folder(tmp_path) -> Path:
    """A folder holding one file of each kind the loader must handle (see BAD_FOLDER_FILES)."""
    folder = tmp_path / "hands"
    folder.mkdir()
    truncated_source = truncated_source_bytes()
    files = {
        "a_valid.jpeg": jpeg_bytes(random_array(1)),
        "b_wide.png": image_bytes(random_array(2, (24, 32))),     # numpy (rows, cols) = (24, 32)
        "c_tall.png": image_bytes(random_array(3, (32, 10))),
        "d_rgb.png": image_bytes(np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)),
        "e_text.jpeg": b"this is a text file\nnot a hand\n",
        "f_zip.jpeg": zip_bytes(),
        "g_truncated.jpeg": truncated_source[:len(truncated_source) // 2],
        "h_header_cut.jpeg": cut_in_header(truncated_source),
        "i_empty.jpeg": b"",
    }
    assert sorted(files) == BAD_FOLDER_FILES
    for name, data in reversed(files.items()):   # created out of order: the loader must sort
        (folder / name).write_bytes(data)
    return folder


def write_list(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def hand_root(tmp_path, monkeypatch) -> Path:
    """A miniature course data root with the CWD moved into it (the default cache is CWD-relative).

    data/hands_cw1/real_hands  extra_0001..0004 (distinct)
    real_hands                 real_001 (same pixels as extra_0002), real_002, real_003
    VAE_hands                  VAE_hand_001..003, 005 images (005 repeats 001), 004 = the source list
    GAN_hands                  GAN_hand_001, 004, 005 images, 002 = a zip archive, 003 = the source list
    """
    root = tmp_path / "root"
    extra = root / "data" / "hands_cw1" / "real_hands"
    real, vae, gan = root / "real_hands", root / "VAE_hands", root / "GAN_hands"
    for folder in (extra, real, vae, gan):
        folder.mkdir(parents=True)
    seeds = iter(range(100, 200))

    extra_bytes = {f"extra_{i:04d}.jpeg": jpeg_bytes(random_array(next(seeds))) for i in range(1, 5)}
    for name, data in extra_bytes.items():
        (extra / name).write_bytes(data)

    (real / "real_001.jpeg").write_bytes(extra_bytes["extra_0002.jpeg"])
    (real / "real_002.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))
    (real / "real_003.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))

    vae_1 = jpeg_bytes(random_array(next(seeds)))
    (vae / "VAE_hand_001.jpeg").write_bytes(vae_1)
    (vae / "VAE_hand_002.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))
    (vae / "VAE_hand_003.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))
    (vae / "VAE_hand_005.jpeg").write_bytes(vae_1)
    write_list(vae / "VAE_hand_004.jpeg", [
        "VAE_hands_acse-aa1_aa1_VAE297.jpeg.jpeg",
        "VAE_hands_ACSE-BB2_bb2_VAE12.png.jpeg",
        "VAE_hands_edsml-cc3_edsml_cc3_VAE1.jpeg.jpeg",
        "filename2.txt",
        "VAE_hands_acse-aa1_aa1_VAE298.jpeg.jpeg",
    ])

    (gan / "GAN_hand_001.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))
    (gan / "GAN_hand_002.jpeg").write_bytes(zip_bytes())
    (gan / "GAN_hand_004.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))
    (gan / "GAN_hand_005.jpeg").write_bytes(jpeg_bytes(random_array(next(seeds))))
    write_list(gan / "GAN_hand_003.jpeg", [
        "GAN_hands_gems-dd4_dd4_GAN1.jpeg.jpeg",
        "GAN_hands_gems-dd4_dd4_GAN2.jpeg.jpeg",
        "filename2.txt",
        "GAN_hands_acse-ee5_ee5_GAN1.jpeg.jpeg",
        "GAN_hands_acse-ff6_ff6_GAN1.jpeg.jpeg",
    ])
    monkeypatch.chdir(root)
    return root
