"""Seconds per epoch of a DCGAN recipe (the reference, or a recipe file), two ways, in the same run:

  suite   realfake.loop.fit with the suite's batches: one uint8 tensor of MNIST, shuffled and rotated
          on the whole batch at once (realfake.dcgan.data.BatchMaker)
  plain   the course's way: torchvision.datasets.MNIST + transforms (RandomRotation, ToTensor) on PIL
          images one by one, through a DataLoader, and a bare for-loop

Both run the same GAN step (realfake.dcgan.train.GanStep) on the same networks with the recipe's optimiser settings.
With --config, it also times one call of the per-epoch quality probe (FD and class histogram of 2,000 samples
against 10,000 training digits; its cost does not depend on the classifier's weights, so an untrained one is used)
and prints what the recipe's epochs cost in all: the training time the 30-minute box is about.

    python benchmarks/dcgan_speed.py --limit 50            # 50 batches each, extrapolated to an epoch
    python benchmarks/dcgan_speed.py                       # one whole epoch each (469 batches)
    python benchmarks/dcgan_speed.py --device cuda         # on a GPU, when one is lent
    python benchmarks/dcgan_speed.py --config configs/dcgan_best.json --limit 100 --threads 2   # the improved recipe

Needs MNIST in data/ (`make data`).
"""
from __future__ import annotations

import argparse
import math
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="batches per measurement (default: a whole epoch)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--root", default="data", help="folder holding MNIST/raw")
    parser.add_argument("--config", default=None,
                        help="a recipe file with a 'config' entry (configs/dcgan_best.json: the improved generator)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from realfake.dcgan.data import load_images, plain_loader
    from realfake.dcgan.train import GanStep, gan_config, train_gan
    from realfake.models import build_model
    from realfake.state import read_json

    images, _ = load_images("mnist", train=True, root=args.root)
    batches_per_epoch = math.ceil(len(images) / 128)
    n = min(args.limit or batches_per_epoch, batches_per_epoch)
    rows = []

    recipe = gan_config()
    if args.config:
        record = read_json(args.config, "DCGAN recipe")
        if record is None or "config" not in record:
            raise SystemExit(f"{args.config}: no recipe there (a JSON file with a 'config' entry is needed)")
        recipe = gan_config(**record["config"])
    config = {**recipe, "epochs": 1, "limit": n, "patience": None}
    started = time.perf_counter()
    run = train_gan(config, images, device=args.device, progress=False)
    rows.append(("suite: loop.fit + batched tensor rotation", n, time.perf_counter() - started))
    del run

    torch.manual_seed(0)
    G, D = build_model(config["generator"]).to(args.device), build_model(config["discriminator"]).to(args.device)
    step = GanStep(G, D, torch.optim.Adam(G.parameters(), config["lr_g"], betas=tuple(config["betas_g"])),
                   torch.optim.Adam(D.parameters(), config["lr_d"], betas=tuple(config["betas_d"])),
                   torch.Generator().manual_seed(0), label_smoothing=config["label_smoothing"])
    loader = plain_loader(args.root, num_workers=args.workers)
    started = time.perf_counter()
    for i, (real, _) in enumerate(loader):
        if i == n:
            break
        step(real.to(args.device))
    rows.append((f"plain: DataLoader({args.workers} workers) + transforms", n, time.perf_counter() - started))

    probe_seconds = None
    if args.config:
        from realfake.dcgan.pipeline import CLASSIFIER_CONFIG
        from realfake.dcgan.quality import GanProbe
        classifier = build_model({**CLASSIFIER_CONFIG["spec"], "channels": 1, "n_classes": 10})
        started = time.perf_counter()
        probe = GanProbe(classifier, images[:10_000], n_samples=2000, device=args.device)
        reference_seconds = time.perf_counter() - started            # once per run: the reference features
        started = time.perf_counter()
        probe.measure_generator(G, D, {})
        probe_seconds = time.perf_counter() - started

    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    name = args.config or "the reference DCGAN recipe"
    print(f"\n{name} (batch {config['batch_size']}, {batches_per_epoch} batches per MNIST epoch) on {device}")
    print(f"{'loop':<46} {'batches':>8} {'seconds':>9} {'ms/step':>8} {'s/epoch':>8}")
    for name, batches, seconds in rows:
        print(f"{name:<46} {batches:>8} {seconds:>9.1f} {1000 * seconds / batches:>8.0f} "
              f"{seconds / batches * batches_per_epoch:>8.0f}")
    if n < batches_per_epoch:
        print(f"(s/epoch extrapolated from {n} batches)")
    if probe_seconds is not None:
        suite_epoch = rows[0][2] / rows[0][1] * batches_per_epoch
        epochs = recipe["epochs"]
        total = reference_seconds + epochs * (suite_epoch + probe_seconds)
        print(f"probe: {probe_seconds:.1f} s per epoch (+ {reference_seconds:.1f} s once for the reference features)")
        print(f"the recipe's {epochs} epochs with the suite loop and the probe: {total / 60:.1f} min")


if __name__ == "__main__":
    main()
