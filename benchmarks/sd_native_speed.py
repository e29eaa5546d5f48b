"""Scoring throughput of the native detector at 512x512, against the same network in a plain per-file loop, the
start-up cost of `python -m realfake.detect`, and the training cost. Writes results/sd_native_speed.json.

    python benchmarks/sd_native_speed.py [--files 32] [--threads 1]

Baseline: for each file, decode it and score its 64 tiles in one forward pass (what `score_pixels` does per file).
Batched: decode the files, then pool their tiles into forward passes of 256 tiles (`native.score_batch`).
Both use the stored model (or, when there is none, a fresh network of the same spec; speed does not depend on weights).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realfake.models import build_model, count_parameters  # noqa: E402
from realfake.results import command_line, write_metrics  # noqa: E402
from realfake.sd_detector import codec, native, native_train  # noqa: E402
from realfake.sd_detector.detect import load_detector, model_folder  # noqa: E402


def files_512(n: int) -> tuple[list[Path], str]:
    folder = ROOT / "data" / "sd_vs_real" / "fake"
    if folder.is_dir():
        return sorted(folder.glob("*.png"))[:n], "data/sd_vs_real/fake (512x512 PNG)"
    from PIL import Image
    out = ROOT / "results" / "checkpoints" / "speed_files"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = out / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths, "synthetic 512x512 noise PNG"


def best_of(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def startup_seconds(code: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "results" / "sd_native_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        model, info = load_detector(model_folder("native_npr"))
        source = "model_best/sd_detector/native_npr"
    except FileNotFoundError as error:
        info = {"spec": native_train.recipe()["model"], "tile": native.TILE}
        model, source = build_model(info["spec"]).eval(), f"a fresh network of the same spec ({error})"
    tile = int(info.get("tile", native.TILE))
    paths, what = files_512(args.files)

    def per_file():
        return [native.score_pixels(model, np.asarray(codec.open_rgb(p.read_bytes(), str(p))), tile)[0] for p in paths]

    def batched():
        arrays = [np.asarray(codec.open_rgb(p.read_bytes(), str(p))) for p in paths]
        return native.score_batch(model, arrays, tile)

    same = np.allclose(per_file(), batched(), atol=1e-5)
    loop_s, batch_s = best_of(per_file, args.repeats), best_of(batched, args.repeats)

    # training cost: steps of the recipe on the files above (crops per second), one thread
    config = native_train.recipe("cpu")
    items = [native_train.Item(p, i % 2, f"g{i % 2}", "multigen", False) for i, p in enumerate(paths)]
    arrays = [np.asarray(codec.open_rgb(p.read_bytes(), str(p))) for p in paths]
    net = build_model(config["model"])
    optimizer = torch.optim.AdamW(net.parameters(), lr=config["lr"])
    generator = torch.Generator().manual_seed(0)
    steps = 20
    started = time.perf_counter()
    for _ in range(steps):
        x, y = native_train.crop_batch(arrays, items, config, generator)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train_crops_per_s = steps * config["batch_size"] / (time.perf_counter() - started)

    light = startup_seconds("import realfake.detect")
    heavy = startup_seconds("import realfake.detect, torchvision, pandas, matplotlib.pyplot")
    trained = native_train.read_json_quiet(ROOT / "results" / "sd_native_metrics.json")
    record = {
        "command": command_line("benchmarks/sd_native_speed.py", args), "device": "cpu", "threads": args.threads,
        "model": source, "parameters": count_parameters(model), "files": what, "n_files": len(paths),
        "tiles_per_image": len(native.tile_grid(512, 512, tile)), "tile": tile,
        "per_file_loop": {"seconds": loop_s, "images_per_s": len(paths) / loop_s},
        "batched_tiles_256": {"seconds": batch_s, "images_per_s": len(paths) / batch_s},
        "speed_up": loop_s / batch_s, "same_scores": bool(same),
        "import_seconds": {"realfake.detect": light, "with torchvision, pandas, matplotlib": heavy},
        "training": {"crops_per_s": train_crops_per_s, "batch_size": config["batch_size"], "crop": config["crop"],
                     "stored_model_train_seconds": (trained or {}).get("final", {}).get("train_seconds"),
                     "stored_model_crops": (trained or {}).get("final", {}).get("crops")},
    }
    write_metrics(args.out, record)
    print(f"per-file loop {record['per_file_loop']['images_per_s']:.1f} img/s, batched "
          f"{record['batched_tiles_256']['images_per_s']:.1f} img/s (x{record['speed_up']:.2f}, same scores: {same}); "
          f"import {light:.2f} s (with torchvision, pandas, matplotlib {heavy:.2f} s); training "
          f"{train_crops_per_s:.0f} crops/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
