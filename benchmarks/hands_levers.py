"""What each lever gains on the validation that matches test_hands/, measured in one run.

The split holds out one image in five of every generator (and of the real hands), like the test set,
which holds other images of the same cohort's generators. Its held-out images are halved by generator:
levers are compared on the *selection* half; the *report* half is the estimate. Intervals: 95 %
bootstrap over generators. Every lever trains the same fast recipe (HandNet width 32, depth 3,
12 epochs; about 6 min on one CPU thread) from random initialisation:

  supervised              the labelled images alone (predicted without, then with flip averaging)
  24 epochs               twice the training
  width 48                a wider network
  self-training, 1 round  `realfake.hands.selftrain`: the supervised model labels test_hands/ plus the
                          validation images (labels hidden: they are unlabelled like the test images),
                          the confident ones (>= 0.9) join training, labelled images keep half of each class
  ensemble                the mean probabilities of supervised, 24 epochs and width 48

"seconds" is wall time on this machine; a self-training round includes labelling the 10,000-image pool.

    python benchmarks/hands_levers.py                    # all levers, about 40 min on one CPU thread
    python benchmarks/hands_levers.py --epochs 1 --limit 600   # a quick check of the script
Writes results/hands_levers.json, which the clean hands notebook shows.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from realfake.hands import make_config
from realfake.hands.config import LEVERS_BASE_CONFIG
from realfake.hands.evaluation import halves_scores, matching_benchmark_setup
from realfake.paths import repo_root
from realfake.results import command_line
from realfake.hands.selftrain import self_train
from realfake.state import atomic_write_text
from realfake.hands.train import predict_proba, train_classifier

SEED = 0
FAST = {k: v for k, v in LEVERS_BASE_CONFIG.items() if k != "epochs"}   # the width-32 network the levers were measured on


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N labelled images per class")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="results/hands_levers.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = repo_root()
    train, val, halves, pool = matching_benchmark_setup(root, SEED, args.limit)
    rows, val_probs = [], {}

    def score(lever: str, change: str, probs: torch.Tensor, seconds: float) -> None:
        row = {"lever": lever, "change": change, "seconds": round(seconds), **halves_scores(val, halves, probs, SEED)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    base = make_config(**FAST, epochs=args.epochs)
    start, round_seconds = time.time(), []

    def after_round(round_, model, pool_probs):
        round_seconds.append(time.time() - start - sum(round_seconds))
        probs = pool_probs[-len(val):]
        if round_ == 0:
            score("supervised", "labelled images only, single prediction", predict_proba(model, val.pixels), round_seconds[0])
            score("supervised + flip TTA", "mean over the image and its mirror", probs, round_seconds[0])
            val_probs["supervised"] = probs
        else:
            score("self-training, 1 round", "+ confident (>= 0.9) pseudo-labels on test + validation images, "
                  "labelled half of each class, fresh weights; flip TTA", probs, round_seconds[1])

    self_train(base, train.pixels, train.labels, pool, rounds=1, threshold=0.9, labelled_share=0.5, device="cpu",
               progress=False, on_round_end=after_round)
    for lever, change, config in (
            ("24 epochs", "supervised, twice the epochs; flip TTA", make_config(**FAST, epochs=2 * args.epochs)),
            ("width 48", "supervised, 48 instead of 32 channels; flip TTA",
             make_config(**{**FAST, "model": {**FAST["model"], "width": 48}}, epochs=args.epochs))):
        began = time.time()
        model, _ = train_classifier(config, train.pixels, train.labels, device="cpu", progress=False)
        val_probs[lever] = predict_proba(model, val.pixels, tta=True)
        score(lever, change, val_probs[lever], time.time() - began)
    ensemble = sum(val_probs.values()) / len(val_probs)
    score("ensemble of 3", "mean probabilities of supervised, 24 epochs and width 48 (flip TTA)", ensemble,
          sum(r["seconds"] for r in rows if r["lever"] in ("supervised", "24 epochs", "width 48")))
    out = root / args.out
    atomic_write_text(out, json.dumps({
        "about": __doc__.split("\n\n")[0], "command": command_line("benchmarks/hands_levers.py", args),
        "split": {"train": train.class_counts(), "selection": halves["selection"][0].class_counts(),
                  "report": halves["report"][0].class_counts(), "generators": val.sources_per_class()},
        "threads": args.threads, "levers": rows}, indent=2) + "\n")
    print("wrote", Path(args.out))


if __name__ == "__main__":
    main()
