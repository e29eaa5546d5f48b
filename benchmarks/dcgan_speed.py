"""Seconds per epoch of the reference DCGAN recipe, two ways, in the same run:

  suite   realfake.loop.fit with the suite's batches: one uint8 tensor of MNIST, shuffled and rotated
          on the whole batch at once (realfake.dcgan.data.BatchMaker)
  plain   the course's way: torchvision.datasets.MNIST + transforms (RandomRotation, ToTensor) on PIL
          images one by one, through a DataLoader, and a bare for-loop

Both run the same GAN step (realfake.dcgan.train.GanStep) on the same networks.

    python benchmarks/dcgan_speed.py --limit 50            # 50 batches each, extrapolated to an epoch
    python benchmarks/dcgan_speed.py                       # one whole epoch each (469 batches)
    python benchmarks/dcgan_speed.py --device cuda         # on a GPU, when one is lent

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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from realfake.dcgan.data import load_images, plain_loader
    from realfake.dcgan.train import GanStep, gan_config, train_gan
    from realfake.models import build_model

    images, _ = load_images("mnist", train=True, root=args.root)
    batches_per_epoch = math.ceil(len(images) / 128)
    n = min(args.limit or batches_per_epoch, batches_per_epoch)
    rows = []

    config = gan_config(epochs=1, limit=n, patience=None)
    started = time.perf_counter()
    run = train_gan(config, images, device=args.device, progress=False)
    rows.append(("suite: loop.fit + batched tensor rotation", n, time.perf_counter() - started))
    del run

    torch.manual_seed(0)
    G, D = build_model(config["generator"]).to(args.device), build_model(config["discriminator"]).to(args.device)
    step = GanStep(G, D, torch.optim.Adam(G.parameters(), 2e-3, betas=(0.5, 0.99)),
                   torch.optim.Adam(D.parameters(), 2e-3, betas=(0.5, 0.99)), torch.Generator().manual_seed(0))
    loader = plain_loader(args.root, num_workers=args.workers)
    started = time.perf_counter()
    for i, (real, _) in enumerate(loader):
        if i == n:
            break
        step(real.to(args.device))
    rows.append((f"plain: DataLoader({args.workers} workers) + transforms", n, time.perf_counter() - started))

    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} thread(s)"
    print(f"\nReference DCGAN recipe (batch 128, {batches_per_epoch} batches per MNIST epoch) on {device}")
    print(f"{'loop':<46} {'batches':>8} {'seconds':>9} {'ms/step':>8} {'s/epoch':>8}")
    for name, batches, seconds in rows:
        print(f"{name:<46} {batches:>8} {seconds:>9.1f} {1000 * seconds / batches:>8.0f} "
              f"{seconds / batches * batches_per_epoch:>8.0f}")
    if n < batches_per_epoch:
        print(f"(s/epoch extrapolated from {n} batches)")


if __name__ == "__main__":
    main()
