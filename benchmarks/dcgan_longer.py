"""Does the improved DCGAN recipe gain from more epochs? Its stored run kept its last epoch (7), FD still falling.

    .venv/bin/python benchmarks/dcgan_longer.py --epochs 10 --threads 2

Trains `configs/dcgan_best.json` exactly as `python -m realfake.dcgan improved` does (cpu profile sizes, the stored
MNIST classifier as the judge, the same per-epoch probe: FD of 2,000 digits against 10,000 training digits), with only
the number of epochs and the patience changed, and writes the per-epoch probe FD and seconds to
results/dcgan_longer.json. It calls `realfake.dcgan.pipeline.get_gan` with the model folder moved under
results/checkpoints/, so model_best/ is not touched; the run checkpoints every epoch
(results/checkpoints/cpu/dcgan_longer_<epochs>.pt) and resumes from it when started again. Adam's learning rates are
constant, so the first epochs repeat the stored run's (up to thread-count rounding).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)
    from dataclasses import replace
    from realfake.dcgan.pipeline import adapt_to_dataset, classifier_config, get_classifier, get_gan, load_data
    from realfake.dcgan.settings import gan_settings, run_sizes
    from realfake.paths import run_paths
    from realfake.results import write_metrics

    profile = "cpu"
    sizes, paths = run_sizes(profile), run_paths(profile)
    data = load_data("mnist", train_size=sizes["train_size"], test_size=sizes["test_size"])
    classifier, _ = get_classifier(paths, data, classifier_config(data, **sizes["classifier_changes"]), profile=profile)
    config = {**adapt_to_dataset(gan_settings("improved", profile), data), "epochs": args.epochs,
              "patience": args.epochs}
    scratch = replace(paths, models=paths.checkpoints / "dcgan_longer_models")   # model_best/ is left alone
    started = time.perf_counter()
    run, _ = get_gan(scratch, f"longer_{args.epochs}", config, data, classifier, sizes["probe_samples"],
                     retrain=True, profile=profile)
    history = [{"epoch": r["epoch"], "probe_fd": r["fd"], "seconds": r.get("seconds")} for r in run.history]
    for record in history:
        print(f"epoch {record['epoch']:>2}: probe FD {record['probe_fd']:.2f}, {record['seconds'] or 0:.0f} s")
    write_metrics(ROOT / "results" / "dcgan_longer.json", {
        "command": f"python benchmarks/dcgan_longer.py --epochs {args.epochs} --threads {args.threads}",
        "config": "configs/dcgan_best.json with epochs and patience changed", "threads": args.threads,
        "epochs": args.epochs, "best_epoch": run.best_epoch, "history": history,
        "wall_seconds_this_call": time.perf_counter() - started,
        "note": "probe FD: 2,000 generated digits against MNIST training digits 0-9,999 (the stopping rule's "
                "number), not the clean notebook's evaluation against MNIST test"})


if __name__ == "__main__":
    main()
