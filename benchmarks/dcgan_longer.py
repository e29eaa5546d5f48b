"""Ten epochs of the improved DCGAN recipe on two threads: with and without rotated real digits, and with an average
of the generator's weights.

    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 0      # what configs/dcgan_best.json trains
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 10     # the lever table's rotation
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 10 --ema 0.999                 # with the EMA lever
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 10 --ema 0.999 --ema-warmup

Trains `configs/dcgan_best.json` exactly as `python -m realfake.dcgan improved` does (cpu profile sizes, the stored
MNIST classifier as the judge, the same per-epoch probe: FD of 2,000 digits against 10,000 training digits), with the
epochs (default 10, two threads), the patience (= the epochs) and the options below changed, and writes the per-epoch
probe FD and seconds, and the kept generator's FD to MNIST test as the clean notebook measures it, to
results/dcgan_longer_rotation<R>[_ema<DECAY>[_warmup]].json. It calls `realfake.dcgan.pipeline.get_gan` with the model
folder moved under results/checkpoints/, so model_best/ is not touched; every run checkpoints each epoch under
results/checkpoints/cpu/dcgan_longer_* and resumes when started again; a finished run started again is only evaluated
again, and its record keeps the command and threads that trained it. `--max-rotation 0` gives the same weights as
model_best/dcgan/improved_generator/ (checked).

--max-rotation R: how far the real digits are rotated (the search's setting was 10 degrees). Only the real digits are
rotated, so the generator learns to draw rotated digits (the augmentation leaks into what it makes; Karras et al.
2020), while the FD is measured against unrotated MNIST test: even a generator that reproduced its rotated training
digits perfectly would not reach the 0.068 floor. Each result's evaluation records that floor of its training data.

--ema DECAY trains with benchmarks/dcgan_levers.py's EMA lever instead (an exponential moving average of the
generator's weights after every step, what the probe measures and what is kept), which lost the lever table's
400-step runs, where an average lags. --ema-warmup lowers the decay early on (min(DECAY, (1 + t) / (10 + t)) at step
t, as TensorFlow's ExponentialMovingAverage with num_updates), so the random first weights fade from the average
within the first epoch instead of lingering for thousands of steps.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ema", type=float, default=None, help="decay of the generator's weight average (e.g. 0.999)")
    parser.add_argument("--ema-warmup", action="store_true",
                        help="with --ema: decay min(DECAY, (1 + t) / (10 + t)) at step t, so the first weights fade")
    parser.add_argument("--max-rotation", type=float, required=True,
                        help="rotate the real digits by at most this many degrees (0: not at all, as the recipe)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)
    from dataclasses import replace
    from realfake.dcgan.pipeline import (adapt_to_dataset, augmented_floor, classifier_config, floor_distance,
                                         get_classifier, get_gan, load_data)
    from realfake.dcgan.quality import report_quality
    from realfake.dcgan.settings import gan_settings, run_sizes
    from realfake.paths import run_paths
    from realfake.results import write_metrics
    from realfake.state import read_json

    profile = "cpu"
    sizes, paths = run_sizes(profile), run_paths(profile)
    data = load_data("mnist", train_size=sizes["train_size"], test_size=sizes["test_size"])
    classifier, _ = get_classifier(paths, data, classifier_config(data, **sizes["classifier_changes"]), profile=profile)
    config = {**adapt_to_dataset(gan_settings("improved", profile), data), "epochs": args.epochs,
              "patience": args.epochs}
    config["max_rotation"] = args.max_rotation
    changes = [(f"rotation{args.max_rotation:g}", f" --max-rotation {args.max_rotation:g}",   # (file-name part,
                f"real digits rotated by at most {args.max_rotation:g} degrees")]          # option, what changed)
    if args.ema is not None:
        config = {**config, "ema": args.ema, **({"ema_warmup": True} if args.ema_warmup else {})}
        changes.append((f"ema{args.ema:g}" + ("_warmup" if args.ema_warmup else ""),
                        f" --ema {args.ema:g}" + (" --ema-warmup" if args.ema_warmup else ""),
                        f"an average of G's weights (decay {args.ema:g}{', warmed up' if args.ema_warmup else ''}) "
                        "measured and kept"))
    name = "_".join(part for part, _, _ in changes)
    out = ROOT / "results" / f"dcgan_longer_{name}.json"
    if args.ema is None:
        scratch = replace(paths, models=paths.checkpoints / "dcgan_longer_models")   # model_best/ is left alone
        run, _ = get_gan(scratch, f"longer_{args.epochs}_{name}", config, data, classifier, sizes["probe_samples"],
                         retrain=True, profile=profile)
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from dcgan_levers import train_lever
        from realfake.dcgan.quality import GanProbe   # noqa: E402 (benchmarks/ joins the path just above)
        probe = GanProbe(classifier, data.train_images[:10_000], n_samples=sizes["probe_samples"])   # as get_gan's
        run = train_lever(config, data.train_images, probe,
                          checkpoint=paths.checkpoints / f"dcgan_longer_{args.epochs}_{name}.pt")
    evaluation = report_quality(run.generator, classifier, data.test_images, sizes["report_samples"])  # as the notebook
    # what a generator that reproduced its rotated training digits perfectly would score against MNIST test
    evaluation["floor_of_its_training_data"] = (augmented_floor(classifier, data, config["max_rotation"])
                                                if config["max_rotation"] else floor_distance(classifier, data))
    history = [{"epoch": r["epoch"], "probe_fd": r["fd"], "seconds": r.get("seconds")} for r in run.history]
    for record in history:
        print(f"epoch {record['epoch']:>2}: probe FD {record['probe_fd']:.2f}, {record['seconds'] or 0:.0f} s")
    training = {"command": f"python benchmarks/dcgan_longer.py --epochs {args.epochs} --threads {args.threads}"
                           + "".join(option for _, option, _ in changes),
                "threads": args.threads, "training_seconds": sum(r["seconds"] or 0 for r in history)}
    previous = read_json(out, "a longer run")
    if previous is not None and previous.get("history") == history:   # a finished run evaluated again: keep its training
        training = {key: previous[key] for key in ("written", *training) if key in previous}
    write_metrics(out, {
        **training,
        "config": "configs/dcgan_best.json with the epochs and patience changed"
                  + "".join(f", {what}" for _, _, what in changes),
        "epochs": args.epochs, "best_epoch": run.best_epoch, "history": history,
        "evaluation": {k: evaluation[k] for k in ("fd_test", "n_generated", "missing_classes", "smallest_class_share",
                                                  "mean_brightness", "real_mean_brightness",
                                                  "floor_of_its_training_data")},
        "note": "probe FD: 2,000 generated digits against MNIST training digits 0-9,999 (the stopping rule's "
                "number); evaluation: the kept generator as the clean notebook reports it (10,000 digits from the "
                "evaluation seed against MNIST test)"})


if __name__ == "__main__":
    main()
