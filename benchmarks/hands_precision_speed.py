"""How much faster the hand recipe trains on a CPU in bfloat16 (config "cpu_bf16") than in float32.

Same network (the clean notebook's FAST_CONFIG), same images (the matching split's labelled training images, as
benchmarks/hands_selftraining.py trains on), same machine, same run, in turns (float32, bfloat16, float32, ...)
so that a machine that slows down or speeds up during the run affects both alike. For each it times:
  training    one epoch of `realfake.train.train_classifier` (class-balanced draws, flip + shift, AdamW), images/s
  prediction  flip-averaged class probabilities of the self-training pool (test_hands/ plus the held-out
              images), as every self-training round computes them, images/s; always in float32
bfloat16 runs fast only on CPUs that compute in it natively (AMX or AVX512-BF16); `native bfloat16` says whether
this one does. Whether bfloat16 changes accuracy is a question for several seeds of
benchmarks/hands_selftraining.py --cpu-bf16, not for this script.

    python benchmarks/hands_precision_speed.py --threads 2            # 2 turns of each, about 6 min here
    python benchmarks/hands_precision_speed.py --limit 300 --turns 1  # a quick check
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from realfake.hands.config import FAST_CONFIG
from realfake.hands.evaluation import matching_benchmark_setup
from realfake.paths import repo_root
from realfake.results import command_line
from realfake.state import atomic_write_text
from realfake.train import native_cpu_bf16, predict_proba, train_classifier

MODES = {"float32": False, "bfloat16": True}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--turns", type=int, default=2, help="timings of each precision, taken in turns")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N labelled images per class")
    parser.add_argument("--out", default=None, help="default results/hands_precision_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = repo_root()
    train, _, _, pool = matching_benchmark_setup(root, 0, args.limit)
    rows = []
    for turn in range(args.turns):
        for mode, cpu_bf16 in MODES.items():
            config = {**FAST_CONFIG, "epochs": 1, "cpu_bf16": cpu_bf16}
            start = time.perf_counter()
            model, _ = train_classifier(config, train.pixels, train.labels, device="cpu", progress=False)
            trained = time.perf_counter()
            predict_proba(model, pool, "cpu", tta=True)
            predicted = time.perf_counter()
            rows.append({"turn": turn, "precision": mode,
                         "training images/s": round(len(train.labels) / (trained - start)),
                         "prediction images/s": round(len(pool) / (predicted - trained))})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for mode in MODES:
        mine = [r for r in rows if r["precision"] == mode]
        summary[mode] = {k: round(sum(r[k] for r in mine) / len(mine))
                         for k in ("training images/s", "prediction images/s")}
    ratio = summary["bfloat16"]["training images/s"] / summary["float32"]["training images/s"]
    print(f"training: bfloat16 {summary['bfloat16']['training images/s']} vs float32 "
          f"{summary['float32']['training images/s']} images/s: {ratio:.2f}x (native bfloat16: {native_cpu_bf16()})")
    out = root / "results" / "hands_precision_speed.json" if args.out is None else args.out
    atomic_write_text(out, json.dumps({
        "about": __doc__.split("\n\n")[0], "command": command_line("benchmarks/hands_precision_speed.py", args),
        "threads": args.threads, "native bfloat16": native_cpu_bf16(),
        "cpu": platform.processor() or platform.machine(),
        "training images": len(train.labels), "pool images": len(pool), "turns": rows, "mean": summary,
        "training speed-up": round(ratio, 2)}, indent=2) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
