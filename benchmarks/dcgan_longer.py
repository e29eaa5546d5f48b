"""Ten epochs of the improved DCGAN recipe on two threads, plain and with an average of the generator's weights.

    .venv/bin/python benchmarks/dcgan_longer.py --epochs 10 --threads 2
    .venv/bin/python benchmarks/dcgan_longer.py --epochs 10 --threads 2 --ema 0.999   # with the EMA lever
    .venv/bin/python benchmarks/dcgan_longer.py --epochs 10 --threads 2 --ema 0.999 --ema-warmup

Trains `configs/dcgan_best.json` exactly as `python -m realfake.dcgan improved` does (cpu profile sizes, the stored
MNIST classifier as the judge, the same per-epoch probe: FD of 2,000 digits against 10,000 training digits), with only
the number of epochs and the patience changed, and writes the per-epoch probe FD and seconds to
results/dcgan_longer.json. It calls `realfake.dcgan.pipeline.get_gan` with the model folder moved under
results/checkpoints/, so model_best/ is not touched; the run checkpoints every epoch
(results/checkpoints/cpu/dcgan_longer_<epochs>.pt) and resumes from it when started again. Ten epochs on two threads
are what configs/dcgan_best.json now trains: the same weights as model_best/dcgan/improved_generator/ (checked).

--ema DECAY trains the same recipe with benchmarks/dcgan_levers.py's EMA lever instead (an exponential moving average
of the generator's weights after every step, what the probe measures and what is kept), which lost the lever table's
400-step runs, where an average lags; it writes results/dcgan_longer_ema<DECAY>[_warmup].json. --ema-warmup lowers the
decay early on (min(DECAY, (1 + t) / (10 + t)) at step t, as TensorFlow's ExponentialMovingAverage with num_updates),
so the random first weights fade from the average within the first epoch instead of lingering for thousands of steps.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)
    from dataclasses import replace
    from realfake.dcgan.pipeline import adapt_to_dataset, classifier_config, get_classifier, get_gan, load_data
    from realfake.dcgan.quality import report_quality
    from realfake.dcgan.settings import gan_settings, run_sizes
    from realfake.paths import run_paths
    from realfake.results import write_metrics

    profile = "cpu"
    sizes, paths = run_sizes(profile), run_paths(profile)
    data = load_data("mnist", train_size=sizes["train_size"], test_size=sizes["test_size"])
    classifier, _ = get_classifier(paths, data, classifier_config(data, **sizes["classifier_changes"]), profile=profile)
    config = {**adapt_to_dataset(gan_settings("improved", profile), data), "epochs": args.epochs,
              "patience": args.epochs}
    started = time.perf_counter()
    if args.ema is None:
        scratch = replace(paths, models=paths.checkpoints / "dcgan_longer_models")   # model_best/ is left alone
        run, _ = get_gan(scratch, f"longer_{args.epochs}", config, data, classifier, sizes["probe_samples"],
                         retrain=True, profile=profile)
        out, command = ROOT / "results" / "dcgan_longer.json", ""
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from dcgan_levers import train_lever
        from realfake.dcgan.quality import GanProbe   # noqa: E402 (benchmarks/ joins the path just above)
        config = {**config, "ema": args.ema, **({"ema_warmup": True} if args.ema_warmup else {})}
        probe = GanProbe(classifier, data.train_images[:10_000], n_samples=sizes["probe_samples"])   # as get_gan's
        name = f"ema{args.ema:g}" + ("_warmup" if args.ema_warmup else "")
        run = train_lever(config, data.train_images, probe,
                          checkpoint=paths.checkpoints / f"dcgan_longer_{args.epochs}_{name}.pt")
        out = ROOT / "results" / f"dcgan_longer_{name}.json"
        command = f" --ema {args.ema:g}" + (" --ema-warmup" if args.ema_warmup else "")
    wall = time.perf_counter() - started
    evaluation = report_quality(run.generator, classifier, data.test_images, sizes["report_samples"])  # as the notebook
    history = [{"epoch": r["epoch"], "probe_fd": r["fd"], "seconds": r.get("seconds")} for r in run.history]
    for record in history:
        print(f"epoch {record['epoch']:>2}: probe FD {record['probe_fd']:.2f}, {record['seconds'] or 0:.0f} s")
    write_metrics(out, {
        "command": f"python benchmarks/dcgan_longer.py --epochs {args.epochs} --threads {args.threads}{command}",
        "config": "configs/dcgan_best.json with epochs and patience changed" + (
            f", and an average of G's weights (decay {args.ema:g}"
            f"{', warmed up' if args.ema_warmup else ''}) measured and kept" if args.ema else ""),
        "threads": args.threads,
        "epochs": args.epochs, "best_epoch": run.best_epoch, "history": history,
        "wall_seconds_this_call": wall,
        "evaluation": {k: evaluation[k] for k in ("fd_test", "n_generated", "missing_classes", "smallest_class_share",
                                                  "mean_brightness", "real_mean_brightness")},
        "note": "probe FD: 2,000 generated digits against MNIST training digits 0-9,999 (the stopping rule's "
                "number); evaluation: the kept generator as the clean notebook reports it (10,000 digits from the "
                "evaluation seed against MNIST test)"})


if __name__ == "__main__":
    main()
