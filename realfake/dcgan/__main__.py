"""Train (or load, when model_best/dcgan/ already matches) the task's stored models from the command line,
with exactly the calls the clean notebook makes, so the notebook loads what this stores.

    python -m realfake.dcgan classifier            # the MNIST classifier (the judge)
    python -m realfake.dcgan reference             # the course's recipe, best-FD epoch kept
    python -m realfake.dcgan improved              # the settings in configs/dcgan_best.json
    python -m realfake.dcgan reference --retrain   # train even if a stored model matches

The run profile comes from REALFAKE_PROFILE (smoke writes under results/smoke/). Training checkpoints every
epoch under results/checkpoints/<profile>/, so an interrupted run resumes when started again.
"""
from __future__ import annotations

import argparse
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m realfake.dcgan", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["classifier", "reference", "improved"])
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from ..paths import repo_root, run_paths
    from ..profile import best_device, current_profile
    from .pipeline import adapt_to_dataset, classifier_config, get_classifier, get_gan, load_data
    from .settings import gan_settings

    profile = current_profile()
    os.chdir(repo_root())
    paths, device = run_paths(profile), best_device()
    data = load_data("mnist")
    started = time.perf_counter()
    classifier, record = get_classifier(paths, data, classifier_config(data), device=device,
                                        retrain=args.retrain and args.what == "classifier", profile=profile)
    print(f"classifier test accuracy {record['test_accuracy']:.4f}")
    if args.what != "classifier":
        config = adapt_to_dataset(gan_settings(args.what, profile), data)
        run, _ = get_gan(paths, args.what, config, data, classifier, device=device, retrain=args.retrain,
                         profile=profile)
        print(f"kept epoch {run.best_epoch} of {len(run.history)} (FD {run.history[run.best_epoch - 1]['fd']:.3f})")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
