"""Train (or load, when the profile's stored models already match) the task's models from the command line,
with exactly the calls and the run sizes the clean notebook uses, so the notebook loads what this stores; and
draw samples from a stored generator.

    python -m realfake.dcgan classifier            # the MNIST classifier (the judge)
    python -m realfake.dcgan reference             # the course's recipe, best-FD epoch kept
    python -m realfake.dcgan improved              # the settings in configs/dcgan_best.json
    python -m realfake.dcgan reference --retrain   # train even if a stored model matches
    python -m realfake.dcgan sample --gan improved --n 1000 --out digits.pt [--seed S] [--png grid.png]

The run profile comes from REALFAKE_PROFILE (smoke: the notebook's smoke subset, stored under results/smoke/).
Training checkpoints every epoch under results/checkpoints/<profile>/, so an interrupted run resumes when started
again. `sample` writes a uint8 tensor N x 1 x 28 x 28 drawn as the notebook's evaluation draws them
(`realfake.dcgan.quality.evaluation_samples`); a bad argument or a missing model gives a one-line error, exit 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import EVALUATION_SEED

MAX_SAMPLES = 1_000_000


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse(argv=None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m realfake.dcgan", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["classifier", "reference", "improved", "sample"])
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--gan", choices=["reference", "improved"], help="sample: which stored generator")
    parser.add_argument("--n", type=int, help="sample: how many digits")
    parser.add_argument("--out", type=Path, help="sample: the .pt file to write (uint8 N x 1 x 28 x 28)")
    parser.add_argument("--seed", type=int, default=EVALUATION_SEED,
                        help=f"sample: noise seed (default {EVALUATION_SEED}, the notebook's evaluation draw)")
    parser.add_argument("--png", type=Path, help="sample: also write a grid of (at most 256 of) the digits")
    args = parser.parse_args(argv)
    if args.what == "sample":
        if args.gan is None or args.n is None or args.out is None:
            parser.error("sample needs --gan {reference,improved}, --n N and --out FILE.pt")
        if not 1 <= args.n <= MAX_SAMPLES:
            parser.error(f"--n must be between 1 and {MAX_SAMPLES:,}, not {args.n}")
        if args.out.suffix != ".pt":
            parser.error(f"--out must name a .pt file, not {args.out}")
        if args.png is not None and args.png.suffix.lower() != ".png":
            parser.error(f"--png must name a .png file, not {args.png}")
        for path in (args.out, args.png):
            if path is not None and not path.resolve().parent.is_dir():
                parser.error(f"cannot write {path}: its folder {path.parent} does not exist")
        if args.seed < 0:
            parser.error(f"--seed must be 0 or more, not {args.seed}")
    elif any(v is not None for v in (args.gan, args.n, args.out, args.png)):
        parser.error("--gan, --n, --out and --png belong to the sample command")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be 1 or more, not {args.threads}")
    return args


def sample(args: argparse.Namespace, profile: str) -> int:
    from ..paths import run_paths, shown
    from ..state import atomic_torch_save
    from .pipeline import load_stored_generator
    from .plots import save_grid
    from .quality import evaluation_samples

    generator, reason = load_stored_generator(run_paths(profile), args.gan)
    if generator is None:
        print(f"python -m realfake.dcgan: error: {reason}", file=sys.stderr)
        return 2
    images = evaluation_samples(generator, args.n, seed=args.seed)
    atomic_torch_save(images, args.out)
    print(f"wrote {args.n} digits of the {args.gan} generator (seed {args.seed}) to {shown(args.out)}")
    if args.png is not None:
        save_grid(images[:256], args.png)
        print(f"wrote a grid of {min(args.n, 256)} to {shown(args.png)}")
    return 0


def main(argv=None) -> int:
    args = parse(argv)                     # before importing torch: a bad argument is answered at once
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)

    from ..paths import repo_root, run_paths
    from ..profile import best_device, current_profile
    from .pipeline import adapt_to_dataset, classifier_config, get_classifier, get_gan, load_data
    from .settings import gan_settings, run_sizes

    profile = current_profile()
    try:
        root = repo_root()
    except FileNotFoundError:              # run from elsewhere: the repository this package lives in
        root = repo_root(Path(__file__).resolve().parent)
    if args.what == "sample":
        args.out, args.png = args.out.resolve(), args.png.resolve() if args.png else None
        os.chdir(root)
        return sample(args, profile)
    os.chdir(root)
    sizes = run_sizes(profile)
    paths, device = run_paths(profile), best_device()
    data = load_data("mnist", train_size=sizes["train_size"], test_size=sizes["test_size"])
    print(f"profile {profile}: {data.describe()}")
    started = time.perf_counter()
    classifier, record = get_classifier(paths, data, classifier_config(data, **sizes["classifier_changes"]),
                                        device=device, retrain=args.retrain and args.what == "classifier",
                                        profile=profile)
    print(f"classifier test accuracy {record['test_accuracy']:.4f}")
    if args.what != "classifier":
        config = adapt_to_dataset(gan_settings(args.what, profile), data)
        run, _ = get_gan(paths, args.what, config, data, classifier, sizes["probe_samples"], device=device,
                         retrain=args.retrain, profile=profile)
        print(f"kept epoch {run.best_epoch} of {len(run.history)} (FD {run.history[run.best_epoch - 1]['fd']:.3f})")
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
