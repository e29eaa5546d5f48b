"""Training throughput of the CIFAKE recipe against a plain ImageFolder + DataLoader loop, and time to 97.66 %.

    .venv/bin/python benchmarks/cifake_speed.py [--batches 20] [--threads 1] [--workers 2]

Same network (the recipe's cifake_cnn), same batch size, same augmentation (flip + 2-pixel shift), same machine,
same run:
  recipe       uint8 tensor cache in memory, augmentation on tensors, realfake.loop.fit, channels_last (float32
               on a CPU: realfake.loop.autocast uses bfloat16 on a GPU only)
  DataLoader   torchvision ImageFolder over data/cifake/train (JPEG decoded per image every epoch), transforms per
               image, DataLoader(num_workers, pin_memory=True), a plain loop, fp32 (and the same with bf16)
Images/s count training images through forward + backward + optimiser step, after one warm-up batch. The bf16 row
says what bfloat16 autocast costs on this CPU: with native support (AMX, AVX512-BF16) it is faster, without it
emulated and many times slower. Writes results/cifake_speed.json.

Then, from the stored model's training history (model_best/sd_detector/cifake_cnn/model.json): the first epoch
and the cumulative seconds at which *validation* accuracy reached 97.66 % (the best published from-scratch CIFAKE
CNN). The test split is used once, by the clean notebook, so there is no per-epoch test accuracy to read.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def time_recipe(train, batches: int, config: dict) -> float:
    from realfake.sd_detector.train import train_cifake
    n = config["batch_size"] * (batches + 1)
    subset = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(0))[:n]
    # epoch 1 includes one warm-up batch's worth of images; images_per_s is measured by the recipe itself
    _, history = train_cifake(train.pixels[subset], train.labels[subset], train.pixels[:0], train.labels[:0],
                              {**config, "epochs": 1}, progress=False)
    return history[0]["images_per_s"]


def time_dataloader(folder: Path, batches: int, config: dict, workers: int, bf16: bool) -> float:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms
    from realfake.models import build_model
    transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.RandomCrop(32, padding=2, padding_mode="reflect"),
                                    transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.25] * 3)])
    dataset = datasets.ImageFolder(str(folder), transform=transform)
    index = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:config["batch_size"] * (batches + 1)]
    loader = DataLoader(Subset(dataset, index.tolist()), batch_size=config["batch_size"], shuffle=True,
                        num_workers=workers, pin_memory=True, drop_last=True, persistent_workers=False)
    model = build_model(config["model"]).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    model.train()
    seen, started = 0, None
    for i, (x, y) in enumerate(loader):
        if i == 1:
            started = time.perf_counter()
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= 1:
            seen += len(y)
    return seen / (time.perf_counter() - started)


def time_to_target(target: float = 0.9766):
    info_path = ROOT / "model_best" / "sd_detector" / "cifake_cnn" / "model.json"
    if not info_path.exists():
        return None
    info = json.loads(info_path.read_text())
    seconds = 0.0
    for record in info["history"]:
        seconds += record["seconds"]
        if record.get("valid_accuracy", 0) >= target:
            return {"epoch": record["epoch"], "seconds": seconds, "of_epochs": len(info["history"]),
                    "total_seconds": sum(r["seconds"] for r in info["history"]), "threads": info.get("threads"),
                    "valid_accuracy": record["valid_accuracy"]}
    return {"epoch": None, "of_epochs": len(info["history"]),
            "best_valid": max(r.get("valid_accuracy", 0) for r in info["history"])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from realfake.sd_detector.data import find_cifake
    from realfake.sd_detector.pipeline import detector_config, load_cifake
    config = detector_config("cpu", "standard")
    train, _ = load_cifake("cpu", ROOT, progress=False)
    rows = [("recipe: tensor cache + realfake.loop.fit (float32 on a CPU)", time_recipe(train, args.batches, config))]
    folder = find_cifake(ROOT, download=False) / "train"
    for bf16 in (False, True):
        rows.append((f"ImageFolder + DataLoader ({args.workers} workers, pinned), {'bf16' if bf16 else 'fp32'}",
                     time_dataloader(folder, args.batches, config, args.workers, bf16)))
    print(f"\nCIFAKE training throughput, cifake_cnn, batch {config['batch_size']}, {args.batches} timed batches, "
          f"{args.threads} compute thread(s), {torch.get_num_threads()} torch threads")
    print(f"{'pipeline':<62} {'images/s':>9} {'x':>6}")
    for name, speed in rows:
        print(f"{name:<62} {speed:>9.0f} {speed / rows[1][1]:>6.2f}")
    reached = time_to_target()
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    native_bf16 = sorted(flags & {"amx_bf16", "avx512_bf16"})
    print(f"native bfloat16 on this CPU: {', '.join(native_bf16) or 'none'}")
    from realfake.results import write_metrics
    write_metrics(ROOT / "results" / "cifake_speed.json", {
        "command": f"python benchmarks/cifake_speed.py --batches {args.batches} --threads {args.threads} "
                   f"--workers {args.workers}", "threads": args.threads, "batch_size": config["batch_size"],
        "native_bf16": native_bf16, "images_per_s": {name: speed for name, speed in rows},
        "time_to_97.66": reached})
    print()
    if reached is None:
        print("time to 97.66 %: no stored model in model_best/sd_detector/cifake_cnn")
    elif reached["epoch"] is None:
        print(f"time to 97.66 %: validation accuracy never reached it in {reached['of_epochs']} epochs "
              f"(best {reached['best_valid']:.2%})")
    else:
        print(f"time to 97.66 % validation accuracy: epoch {reached['epoch']} of {reached['of_epochs']}, "
              f"{reached['seconds'] / 60:.1f} min of {reached['total_seconds'] / 60:.1f} min "
              f"({reached['threads']} thread(s); the one-cycle schedule was sized for all {reached['of_epochs']} epochs)")


if __name__ == "__main__":
    main()
