"""Short runs of the GAN levers (realfake/dcgan/levers.py) on one table, then the winner's settings for the
final training written to configs/dcgan_best.json (the clean notebook's improved generator).

    python benchmarks/dcgan_levers.py --threads 1                  # results/dcgan_levers.json, configs/dcgan_best.json
    python -m realfake.dcgan improved --threads 1 --retrain        # then: the final training on all of MNIST train
    python benchmarks/dcgan_levers.py --smoke                      # a few steps each, under results/smoke/

Resumes: runs already in the results file are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=200, help="steps per epoch")
    parser.add_argument("--minutes", type=float, default=28.0, help="time box of the final training")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-save", action="store_true", help="do not write configs/dcgan_best.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from realfake.dcgan.levers import final_config, run_levers
    from realfake.dcgan.pipeline import classifier_config, get_classifier, load_data
    from realfake.dcgan.settings import BEST_FILE
    from realfake.paths import repo_root, run_paths
    from realfake.state import atomic_write_text

    os.chdir(repo_root())
    profile = "smoke" if args.smoke else "cpu"
    paths = run_paths(profile)
    data = load_data("mnist")
    classifier, _ = get_classifier(run_paths("cpu"), data, classifier_config(data), profile="cpu")  # the stored judge
    epochs, limit, samples = (1, 2, 64) if args.smoke else (args.epochs, args.limit, 2000)
    record = run_levers(data.train_images, classifier, paths.results / "dcgan_levers.json", epochs=epochs,
                        limit=limit, probe_samples=samples)
    config = final_config(record, args.minutes)
    print(f"winner {record['winner']!r}; final training: {config['epochs']} epochs")
    if not args.smoke and not args.no_save:
        atomic_write_text(BEST_FILE, json.dumps({
            "about": ("The improved generator's settings: the winner of the lever comparison "
                      "(benchmarks/dcgan_levers.py, results/dcgan_levers.json; lowest held-out FD in short runs), "
                      f"with the epochs that fit in {args.minutes:.0f} minutes at its measured speed"),
            "lever": record["winner"], "search_fd": record["runs"][record["winner"]]["validation_fd"],
            "config": config, "profile": profile}, indent=2) + "\n")
        print(f"written {BEST_FILE}")


if __name__ == "__main__":
    main()
