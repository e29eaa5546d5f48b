"""How much faster is training fed from the decoded tensor cache than from a per-epoch JPEG loader?

Both ways feed the same images (the readable, deduplicated hands of `realfake.hands.load_hand_data`)
to the same small HandNet, in batches of 128, shuffled, without augmentation:

  tensor cache   the pixels, decoded once (or read from the on-disk cache) before timing, held as
                 one tensor on the device; a batch is an index into it
  ImageFolder    torchvision.datasets.ImageFolder over a temporary folder of class folders holding
                 symlinks to the same files; Grayscale + Resize(32x32) + ToTensor + Normalize;
                 PIL decodes every JPEG again in every epoch. Two baselines:
                   workers=0     DataLoader(batch_size=128, shuffle=True, num_workers=0)
                   workers=N     the fair one: num_workers=N (default: all cores), pinned memory on a GPU,
                                 persistent_workers=True, so decoding overlaps training

For each it times data delivery alone (iterate the batches and move them to the device) and
training (delivery + forward + backward + AdamW step). Target: the tensor cache trains >= 5x faster.

    python benchmarks/loader_speed.py                       # all images, 2 epochs
    python benchmarks/loader_speed.py --epochs 1 --limit 500
    python benchmarks/loader_speed.py --workers 4          # the fair baseline with 4 workers
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import os

import realfake.images as images
from realfake.hands import CLASS_NAMES, DEFAULT_CONFIG, load_hand_data
from realfake.models import build_model, count_parameters
from realfake.hands.train import to_input
from realfake.tune import load_best

BATCH_SIZE = 128
ARCH = {**DEFAULT_CONFIG["model"], "width": 16, "depth": 3}
TARGET = 5.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=".", help="folder holding real_hands/, VAE_hands/, GAN_hands/ (default: .)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per method (default: 2)")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many images per class")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="DataLoader workers of the fair baseline (default: all cores)")
    parser.add_argument("--arch-from", default=None, metavar="JSON",
                        help="time the architecture of a config file instead (e.g. configs/hands_best.json)")
    return parser.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_once(root: str, limit: int | None):
    """The labelled hands, decoded (or read from the on-disk cache); time and decode count."""
    calls = [0]
    original = images.decode_image

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    images.decode_image = counting
    try:
        started = time.perf_counter()
        data = load_hand_data(root, max_extra_real=limit, progress=False)
        seconds = time.perf_counter() - started
    finally:
        images.decode_image = original
    if limit is not None:
        index = torch.cat([torch.nonzero(data.labels == c).flatten()[:limit] for c in range(len(CLASS_NAMES))])
        data = data.take(index)
    return data, seconds, calls[0]


def link_image_folder(data, folder: Path) -> None:
    """class folders (real/VAE/GAN) of symlinks to the files behind `data` (all decoded in full)."""
    for class_name in CLASS_NAMES:
        (folder / class_name).mkdir(parents=True)
    for i, (name, label) in enumerate(zip(data.names, data.labels.tolist())):
        source = Path(name).resolve()
        (folder / CLASS_NAMES[label] / f"{i:06d}_{source.name}").symlink_to(source)


def tensor_batches(inputs: torch.Tensor, labels: torch.Tensor, generator: torch.Generator):
    order = torch.randperm(len(labels), generator=generator).to(inputs.device)
    for start in range(0, len(order), BATCH_SIZE):
        index = order[start:start + BATCH_SIZE]
        yield inputs[index], labels[index]


def loader_batches(loader: DataLoader, device: torch.device):
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def fresh_model(device: torch.device, seed: int, arch: dict):
    torch.manual_seed(seed)
    model = build_model(arch).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=DEFAULT_CONFIG["lr"], weight_decay=DEFAULT_CONFIG["weight_decay"])
    return model, optimizer


def train_step(model, optimizer, x, y) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def time_epochs(make_batches, epochs: int, device: torch.device, model=None, optimizer=None) -> tuple[float, int]:
    """Seconds and images for `epochs` passes; with a model, a training step per batch."""
    seen = 0
    sync(device)
    started = time.perf_counter()
    for _ in range(epochs):
        for x, y in make_batches():
            if model is not None:
                train_step(model, optimizer, x, y)
            seen += len(y)
    sync(device)
    return time.perf_counter() - started, seen


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    arch = load_best(args.arch_from)["config"]["model"] if args.arch_from else ARCH
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    data, load_seconds, decoded = load_once(args.root, args.limit)
    n = len(data)
    if n == 0:
        print("no images found under", args.root, file=sys.stderr)
        return 1
    counts = data.class_counts()

    # (a) tensor cache: one float tensor on the device, batches by indexing (as realfake.hands.train does)
    inputs = to_input(data.pixels.to(device))
    labels = data.labels.to(device)
    generator = torch.Generator().manual_seed(args.seed)

    def cache_batches():
        return tensor_batches(inputs, labels, generator)

    # (b) ImageFolder over symlinks to the same files, decoded by PIL every epoch
    transform = transforms.Compose([
        transforms.Grayscale(1), transforms.Resize((32, 32)), transforms.ToTensor(),
        transforms.Normalize([0.5], [0.25]),        # the same scaling as realfake.hands.train.to_input
    ])
    class_index = {name: label for label, name in enumerate(CLASS_NAMES)}
    with tempfile.TemporaryDirectory(prefix="loader_speed_") as tmp:
        link_image_folder(data, Path(tmp))
        folder = datasets.ImageFolder(tmp, transform=transform)
        to_label = {i: class_index[name] for name, i in folder.class_to_idx.items()}
        folder.target_transform = to_label.__getitem__
        assert len(folder) == n, (len(folder), n)
        loader = DataLoader(folder, batch_size=BATCH_SIZE, shuffle=True, num_workers=0,
                            generator=torch.Generator().manual_seed(args.seed), pin_memory=device.type == "cuda")
        fair_loader = DataLoader(folder, batch_size=BATCH_SIZE, shuffle=True, num_workers=args.workers,
                                 pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
                                 generator=torch.Generator().manual_seed(args.seed))

        def folder_batches():
            return loader_batches(loader, device)

        def fair_batches():
            return loader_batches(fair_loader, device)

        fair_name = f"ImageFolder, {args.workers} workers"
        results = {}
        for method, batches in (("tensor cache", cache_batches), ("ImageFolder, 0 workers", folder_batches),
                                (fair_name, fair_batches)):
            delivery_s, delivered = time_epochs(batches, args.epochs, device)
            model, optimizer = fresh_model(device, args.seed, arch)
            x, y = next(iter(batches()))                      # warm-up step, not timed
            train_step(model, optimizer, x, y)
            model, optimizer = fresh_model(device, args.seed, arch)
            train_s, trained = time_epochs(batches, args.epochs, device, model, optimizer)
            assert delivered == trained == args.epochs * n
            results[method] = (delivered / delivery_s, trained / train_s, delivery_s, train_s)

    cache, plain = results["tensor cache"], results[fair_name]
    delivery_ratio, train_ratio = cache[0] / plain[0], cache[1] / plain[1]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name}), torch {torch.__version__}, torch threads: {torch.get_num_threads()}")
    print(f"images: {n} per epoch ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
          f"epochs: {args.epochs}, batch: {BATCH_SIZE}, model: HandNet {arch} "
          f"({count_parameters(build_model(arch)):,} parameters), AdamW")
    source = f"decoded {decoded} files" if decoded else "read from the on-disk cache, 0 files decoded"
    print(f"one-off load of the tensor cache (load_hand_data, {source}): {load_seconds:.2f} s, not in the timings below")
    print()
    print(f"{'method':<26}{'delivery img/s':>16}{'training img/s':>16}{'train s/epoch':>15}")
    for method, (deliver, trains, _, train_s) in results.items():
        print(f"{method:<26}{deliver:>16,.0f}{trains:>16,.0f}{train_s / args.epochs:>15.2f}")
    print(f"{'speed-up vs ' + str(args.workers) + ' workers':<26}{delivery_ratio:>15.1f}x{train_ratio:>15.1f}x")
    print()
    verdict = "met" if train_ratio >= TARGET else "NOT met"
    print(f"target: training >= {TARGET:.0f}x faster from the tensor cache than the fair baseline "
          f"({fair_name}, pinned memory): {verdict} ({train_ratio:.1f}x); data delivery alone: {delivery_ratio:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
