"""The improved DCGAN recipe trained for longer on two threads: with and without rotated real digits, with an average
of the generator's weights, for more epochs, and with the learning rates falling to zero over the last epochs.

    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 0      # ten epochs, the real digits not rotated
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 10     # the lever table's rotation
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 10 --ema 0.999                 # with the EMA lever
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 10 --ema 0.999 --ema-warmup
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 0 --epochs 13 --continue-from 10
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 0 --epochs 12 --lr-decay-epochs 2 --continue-from 10
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 0 --epochs 13 --lr-decay-epochs 3 --continue-from 10
    .venv/bin/python benchmarks/dcgan_longer.py --max-rotation 0 --epochs 13 --lr-decay-epochs 3 --seed 1
                                                        # ^ what configs/dcgan_best.json trains, with another seed

Trains `configs/dcgan_best.json` exactly as `python -m realfake.dcgan improved` does (cpu profile sizes, the stored
MNIST classifier as the judge, the same per-epoch probe: FD of 2,000 digits against 10,000 training digits), with the
epochs (default 10, two threads), the patience (= the epochs) and the options below changed, and writes the per-epoch
probe FD and seconds, and the kept generator's FD to MNIST test as the clean notebook measures it, to
results/dcgan_longer_rotation<R>[_seed<S>][_epochs<E>][_decay<K>][_ema<DECAY>[_warmup]].json
(`realfake.dcgan.search.longer_file`). It calls `realfake.dcgan.pipeline.get_gan` with the model folder moved under
results/checkpoints/, so model_best/ is not touched; every run checkpoints each epoch under
results/checkpoints/cpu/dcgan_longer_* and resumes when started again; a finished run started again is only evaluated
again, and its record keeps the command and threads that trained it.

--lr-decay-epochs K: both learning rates fall linearly to zero over the last K epochs (the shipped training's
`lr_decay_epochs`). --continue-from E starts from the finished E-epoch run with the same options and constant rates:
its state after epoch E is exactly where this run would be (the rates differ only within the last K epochs, so
E <= epochs - K is required), which saves retraining the shared epochs; its first E epochs' seconds are that run's.
`--max-rotation 0 --epochs 13 --lr-decay-epochs 3 --continue-from 10` gives the weights of
model_best/dcgan/improved_generator/, trained from the start by `python -m realfake.dcgan improved` (checked).

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
import json
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
    parser.add_argument("--lr-decay-epochs", type=int, default=0,
                        help="both learning rates fall linearly to zero over this many last epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--continue-from", type=int, default=None, metavar="E",
                        help="start from the finished E-epoch run with the same options and no decay (its first E "
                             "epochs are this run's: the learning rates are the same until the decay starts)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)
    from dataclasses import replace
    from realfake.dcgan.pipeline import (adapt_to_dataset, augmented_floor, checkpoint_path, classifier_config,
                                         floor_distance, get_classifier, get_gan, load_data)
    from realfake.dcgan.quality import report_quality
    from realfake.dcgan.search import longer_file
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
    config["max_rotation"], config["seed"] = args.max_rotation, args.seed
    config.pop("lr_decay_epochs", None)                          # constant rates unless asked for below
    changes = [(f" --max-rotation {args.max_rotation:g}",                                  # (option, what changed)
                f"real digits rotated by at most {args.max_rotation:g} degrees")]
    changes += [(f" --seed {args.seed}", f"seed {args.seed}")] if args.seed else []
    changes += [("", f"{args.epochs} epochs")] if args.epochs != 10 else []
    if args.lr_decay_epochs:
        config["lr_decay_epochs"] = args.lr_decay_epochs
        changes.append((f" --lr-decay-epochs {args.lr_decay_epochs}",
                        f"learning rates falling linearly to zero over the last {args.lr_decay_epochs} epochs"))
    if args.ema is not None:
        config = {**config, "ema": args.ema, **({"ema_warmup": True} if args.ema_warmup else {})}
        changes.append((f" --ema {args.ema:g}" + (" --ema-warmup" if args.ema_warmup else ""),
                        f"an average of G's weights (decay {args.ema:g}{', warmed up' if args.ema_warmup else ''}) "
                        "measured and kept"))
    # the results file's name without "dcgan_longer_" and ".json" (runs and checkpoints are named by it)
    def run_name(**options) -> str:
        return longer_file(args.max_rotation, args.seed, **options)[len("dcgan_longer_"):-len(".json")]
    name = run_name(epochs=args.epochs, lr_decay_epochs=args.lr_decay_epochs, ema=args.ema, ema_warmup=args.ema_warmup)
    out = ROOT / "results" / f"dcgan_longer_{name}.json"
    if args.continue_from is not None:
        if args.ema is not None:
            raise SystemExit("--continue-from is for runs without --ema")
        start = {**config, "epochs": args.continue_from, "patience": args.continue_from}
        start.pop("lr_decay_epochs", None)
        shorter = checkpoint_path(paths, f"longer_{args.continue_from}_{run_name(epochs=args.continue_from)}")
        continue_run(shorter, start, checkpoint_path(paths, f"longer_{args.epochs}_{name}"), config)
        changes.append((f" --continue-from {args.continue_from}", ""))
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
                           + "".join(option for option, _ in changes),
                "threads": args.threads, "training_seconds": sum(r["seconds"] or 0 for r in history)}
    previous = read_json(out, "a longer run")
    if previous is not None and previous.get("history") == history:   # a finished run evaluated again: keep its training
        training = {key: previous[key] for key in ("written", *training) if key in previous}
    write_metrics(out, {
        **training,
        "config": "configs/dcgan_best.json with the epochs and patience changed"
                  + "".join(f", {what}" for _, what in changes if what),
        "epochs": args.epochs, "best_epoch": run.best_epoch, "history": history,
        "evaluation": {k: evaluation[k] for k in ("fd_test", "n_generated", "missing_classes", "smallest_class_share",
                                                  "mean_brightness", "real_mean_brightness",
                                                  "floor_of_its_training_data")},
        "note": "probe FD: 2,000 generated digits against MNIST training digits 0-9,999 (the stopping rule's "
                "number); evaluation: the kept generator as the clean notebook reports it (10,000 digits from the "
                "evaluation seed against MNIST test)"})


def continue_run(start: Path, start_config: dict, checkpoint: Path, config: dict) -> None:
    """Make `checkpoint` (the run with `config`) from the finished run `start` (made with `start_config`): the same
    state after its last epoch, so the longer run goes on from there. Exact because a run's first epochs depend only
    on the settings the two share (the decay changes the rates only within its last epochs: checked below)."""
    from realfake.state import atomic_torch_save, load_torch_state
    if checkpoint.exists():
        return
    saved = load_torch_state(start, "the run to continue from")
    if saved is None:
        raise SystemExit(f"{start} is missing: run the {start_config['epochs']}-epoch run first")
    if saved["config"] != json.loads(json.dumps(start_config)):
        raise SystemExit(f"{start} was made with other settings than the run to continue from")
    if saved.get("stopped") or saved["epoch"] != start_config["epochs"]:
        raise SystemExit(f"{start} is not a finished {start_config['epochs']}-epoch run")
    if saved["epoch"] >= config["epochs"]:
        raise SystemExit(f"{start} has {saved['epoch']} epochs already: nothing to continue to {config['epochs']}")
    if saved["epoch"] > config["epochs"] - config.get("lr_decay_epochs", 0):
        raise SystemExit(f"the decay would have started before epoch {saved['epoch']}: train from the start")
    atomic_torch_save({**saved, "config": json.loads(json.dumps(config))}, checkpoint)
    print(f"continuing from {start} after epoch {saved['epoch']}")


if __name__ == "__main__":
    main()
