"""The CIFAKE training recipe on the suite's loop (`realfake.loop.fit`).

Designed for throughput on a CPU (airbench-style): the whole split sits in memory as a uint8 tensor, batches
are cut and augmented as tensors (no per-image Python objects, no DataLoader workers), the network is small
and runs channels_last (bfloat16 autocast on a GPU, float32 on a CPU: `realfake.loop.autocast`), SGD-Nesterov
with a one-cycle (linear warm-up and decay) learning rate and label smoothing. Augmentation: horizontal flip and a
random translation of up to `translate` pixels (reflect padding); with ``augment="cnndetection"`` also Wang et al.'s
blur + JPEG
(each with probability 0.5) on top.

Pixels enter the network through `to_input`, the one preprocessing function that training, evaluation and
`realfake.detect` share.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from realfake.loop import TrainState, autocast, fit, seed_everything
from realfake.models import build_model
from realfake.state import code_version
from realfake import perturb

RECIPE = {
    "model": {"name": "cifake_cnn", "width": 48, "depth": 3, "stem": 24},
    "epochs": 12,
    "batch_size": 256,
    "lr": 0.1,
    "weight_decay": 5e-4,
    "momentum": 0.9,
    "label_smoothing": 0.1,
    "warmup": 0.2,              # fraction of the steps spent warming up the learning rate
    "translate": 2,             # random shift in pixels (reflect padding)
    "flip": True,
    "augment": "standard",      # or "cnndetection": blur sigma~U[0,3] p=.5, JPEG q~U{30..100} p=.5
    "valid_fraction": 0.05,     # of the CIFAKE train split, held out for validation (the test split is not used)
    "bf16": True,               # bfloat16 autocast on a GPU (a CPU always computes in float32)
    "seed": 0,
}

PIXEL_MEAN, PIXEL_STD = 127.5, 64.0     # fixed scaling; BatchNorm learns the rest


def to_input(pixels: torch.Tensor, channels_last: bool = True) -> torch.Tensor:
    """uint8 N x 3 x 32 x 32 -> the float tensor the network reads. Training, evaluation and detect share it."""
    x = (pixels.float() - PIXEL_MEAN) / PIXEL_STD
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def augment_batch(pixels: torch.Tensor, config: dict, generator: torch.Generator) -> torch.Tensor:
    if config.get("augment", "standard") == "cnndetection":
        pixels = perturb.cnndetection_augment(pixels, generator)
    elif config.get("augment", "standard") != "standard":
        raise ValueError(f"unknown augment {config['augment']!r}; use 'standard' or 'cnndetection'")
    return perturb.flip_shift(pixels, generator, config["flip"], config["translate"])


def batches_for_epoch(pixels: torch.Tensor, labels: torch.Tensor, config: dict, epoch: int):
    """The shuffled, augmented batches of one epoch. Seeded by (seed, epoch): a resumed run sees the same ones."""
    generator = torch.Generator().manual_seed(config["seed"] * 100_003 + epoch)
    order = torch.randperm(len(labels), generator=generator)
    size = config["batch_size"]
    for start in range(0, len(order) - size + 1, size):      # drop the last partial batch
        index = order[start:start + size]
        yield augment_batch(pixels[index], config, generator), labels[index]


def make_optimizer(model: torch.nn.Module, config: dict, total_steps: int):
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config["weight_decay"]},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=config["lr"], momentum=config["momentum"], nesterov=True)
    warmup = max(1, int(round(config["warmup"] * total_steps)))

    def one_cycle(step: int) -> float:
        """Linear warm-up from lr/25 to lr, then linear decay to lr/250 (the one-cycle shape)."""
        if step < warmup:
            return 1 / 25 + (1 - 1 / 25) * step / warmup
        return max(1 / 250, 1 - (1 - 1 / 250) * (step - warmup) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle)
    return optimizer, scheduler


@torch.no_grad()
def predict_logits(model: torch.nn.Module, pixels: torch.Tensor, batch_size: int = 1000, bf16: bool = True,
                   flip_tta: bool = True) -> torch.Tensor:
    """Logits N x 2 (float32) for uint8 pixels; with flip_tta the logits of the image and its mirror are averaged."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(pixels), batch_size):
        x = to_input(pixels[start:start + batch_size]).to(device)
        with autocast(device, bf16):
            logits = model(x).float()
            if flip_tta:
                logits = (logits + model(x.flip(3)).float()) / 2
        out.append(logits.cpu())
    return torch.cat(out) if out else torch.empty(0, 2)


def predict_proba(model, pixels, **kwargs) -> torch.Tensor:
    """Probability of class 1 (generated) per image."""
    return predict_logits(model, pixels, **kwargs).softmax(1)[:, 1]


def data_fingerprint(labels: torch.Tensor, names: list[str]) -> str:
    import hashlib
    digest = hashlib.sha1("\n".join(names).encode())
    digest.update(labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def train_cifake(train_pixels: torch.Tensor, train_labels: torch.Tensor, valid_pixels: torch.Tensor,
                 valid_labels: torch.Tensor, config: dict, checkpoint: Path | str | None = None,
                 fingerprint: str | None = None, progress: bool = True, on_epoch_end=None,
                 retrain: bool = False, threads: int | None = None, device: str = "cpu"):
    """Train config["model"] with the recipe; return (model in eval mode, history).

    history: one record per epoch (loss, lr, valid accuracy / loss, seconds, images_per_s). Resumes from
    `checkpoint` when config, data and code are unchanged.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    seed_everything(config["seed"])
    model = build_model(config["model"]).to(device).to(memory_format=torch.channels_last)
    steps_per_epoch = len(train_labels) // config["batch_size"]
    optimizer, scheduler = make_optimizer(model, config, config["epochs"] * steps_per_epoch)
    state = TrainState(modules={"model": model}, optimizers={"opt": optimizer}, schedulers={"sched": scheduler})
    bf16 = bool(config.get("bf16", True))
    smoothing = config["label_smoothing"]

    def step(batch):
        pixels, labels = batch
        x, y = to_input(pixels).to(device), labels.to(device)
        with autocast(device, bf16):
            logits = model(x).float()
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"loss": loss.item(), "train_accuracy": (logits.argmax(1) == y).float().mean().item(), "n": len(y)}

    timer = {"start": time.perf_counter()}

    def batches(epoch):
        timer["start"] = time.perf_counter()
        return batches_for_epoch(train_pixels, train_labels, config, epoch)

    def evaluate(epoch):
        train_seconds = time.perf_counter() - timer["start"]
        record = {"train_seconds": train_seconds, "images_per_s": steps_per_epoch * config["batch_size"] / train_seconds}
        if len(valid_labels):
            logits = predict_logits(model, valid_pixels, bf16=bf16)
            record["valid_accuracy"] = (logits.argmax(1) == valid_labels).float().mean().item()
            record["valid_loss"] = F.cross_entropy(logits, valid_labels).item()
        return record

    history = fit(state, epochs=config["epochs"], batches=batches, step=step, config=config, checkpoint=checkpoint,
                  fingerprint=fingerprint, code=recipe_version(), evaluate=evaluate, on_epoch_end=on_epoch_end,
                  progress=progress, desc="CIFAKE epochs", retrain=retrain)
    return model.eval(), history


def recipe_version() -> str:
    import sys
    return code_version(sys.modules[__name__], perturb)
