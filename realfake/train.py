"""The training recipe for small image classifiers on uint8 tensors, all in one place.

Data stays as tensors on the device for the whole run (decoded once by `images.py`): each
epoch draws a class-balanced sample of indices, augments the batch on the device (random
horizontal flip and a shift of a few pixels), and takes AdamW steps under a one-cycle learning
rate (linear warm-up, linear decay). The epochs, seeding, checkpoints and history are
`loop.fit`'s; this module only says what one step does.

A config is a plain dict (each task keeps its defaults, e.g. `realfake.hands.config`):
    model            the network, e.g. {"name": "handnet", "width": 32, "depth": 3, "dropout": 0.2}
    epochs           passes of `epoch_size` sampled images
    epoch_size       images drawn per epoch, class-balanced (None: as many as the training set has)
    batch_size, lr, weight_decay, label_smoothing
    flip, shift      augmentation: horizontal flip on/off, maximum shift in pixels
    seed
    group_weight     optional (default 0): weight of a second loss that names each image's group, e.g. the
                     generator of a generated hand (`train_groups`; the network needs `forward_with_groups`)
    consistency_weight, consistency_threshold
                     optional (default 0, CONSISTENCY_THRESHOLD): FixMatch-style consistency on unlabelled images (`unlabelled`).
                     Each step also draws a batch of them; the prediction on a weakly augmented view (flip,
                     shift), where confident (>= threshold), is the target for a strongly augmented view
                     (`strong_augment`), with this weight
    cutout           optional (default 0: off): a random square of this many pixels a side, set to the mean,
                     in every training image (stronger augmentation; `cut_out`)
    ema_decay        optional (default 0: off): keep an exponential moving average of the weights and
                     batch-norm statistics (torch.optim.swa_utils.AveragedModel) with this decay per step;
                     it is what is validated and returned
    cpu_bf16         optional (default False): on a CPU as well, bfloat16 autocast and channels-last memory (a GPU
                     always trains in bfloat16). 2.1x faster on this project's Xeons, which compute in bfloat16
                     natively (AMX; benchmarks/hands_precision_speed.py); CPUs without it emulate bfloat16, which
                     need not be faster than float32, so the default stays float32
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import loop
from .dedup import data_fingerprint, unlabelled_fingerprint
from .loop import TrainState, fit, seed_everything
from .models import build_model, model_factory
from .state import code_version

CONFIG_KEYS = ("model", "epochs", "epoch_size", "batch_size", "lr", "weight_decay", "label_smoothing",
               "flip", "shift", "seed", "group_weight", "consistency_weight", "consistency_threshold",
               "ema_decay", "cutout", "cpu_bf16")
CONSISTENCY_THRESHOLD = 0.95   # config["consistency_threshold"] when not given (FixMatch's)


def to_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float network input, roughly zero-mean, unit-range."""
    return (pixels.float() / 255.0 - 0.5) / 0.25


def augment(x: torch.Tensor, flip: bool, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and random shift by up to `shift` pixels (reflect padding), per image."""
    n, _, h, w = x.shape
    if flip:
        flip_mask = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip_mask[:, None, None, None], x.flip(3), x)
    if shift:
        padded = F.pad(x, (shift,) * 4, mode="reflect")
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]    # n x h x 1
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]    # n x 1 x w
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)   # n x c x h x w
    return x


def cut_out(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A random `size` x `size` square of each image set to the mean (0 in network-input units). Per image, in
    one batch operation: torchvision's RandomErasing draws one square per call."""
    n, _, h, w = x.shape
    top = torch.randint(0, h - size + 1, (n,), generator=generator).to(x.device)
    left = torch.randint(0, w - size + 1, (n,), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    square = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + size) &
              (cols >= left[:, None, None]) & (cols < left[:, None, None] + size))      # n x h x w
    return x.masked_fill(square[:, None], 0.0)


def strong_augment(x: torch.Tensor, shift: int, generator: torch.Generator, cutout: int = 12,
                   jitter: float = 0.25) -> torch.Tensor:
    """The strong view of consistency training: flip, a shift of up to twice `shift` pixels, a random
    `cutout` x `cutout` square set to the mean (0), and a per-image contrast and brightness change of up to
    `jitter` (network-input units). No blur or noise: those would erase the traces that tell generated
    hands from real ones. Written for batch tensors because torchvision's transforms draw one set of
    parameters per call, not per image."""
    x = cut_out(augment(x, True, 2 * shift, generator), cutout, generator)
    n = len(x)
    contrast = 1 + jitter * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
    brightness = jitter * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
    return x * contrast.to(x.device) + brightness.to(x.device)


def one_cycle(total_steps: int, warmup: float = 0.25):
    """Learning-rate factor per step: linear warm-up over `warmup` of the run, then linear decay to 0."""
    peak = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < peak:
            return (step + 1) / peak
        return max(0.0, (total_steps - step) / max(1, total_steps - peak))
    return factor


def balanced_epoch(labels: torch.Tensor, epoch_size: int, generator: torch.Generator) -> torch.Tensor:
    """`epoch_size` indices drawn so that every class is equally likely (with replacement)."""
    counts = torch.bincount(labels).float()
    weights = 1.0 / counts[labels]
    return torch.multinomial(weights, epoch_size, replacement=True, generator=generator)


@torch.no_grad()
def predict_proba(model: torch.nn.Module, pixels: torch.Tensor, device=None, batch_size: int = 1024,
                  tta: bool = False) -> torch.Tensor:
    """Class probabilities (N x classes, on the CPU).

    tta  average over the image and its mirror (off by default; see the hands notebook).
    """
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(pixels), batch_size):
        x = to_input(pixels[start:start + batch_size].to(device))
        probs = model(x).float().softmax(1)
        if tta:
            probs = (probs + model(x.flip(3)).float().softmax(1)) / 2
        out.append(probs.cpu())
    if out:
        return torch.cat(out)
    return torch.zeros((0, model(torch.zeros((1, *pixels.shape[1:]), device=device)).shape[1]))


@torch.no_grad()
def evaluate_loss_acc(model, pixels, labels, device) -> dict:
    """Validation loss, accuracy and class-balanced accuracy (mean per-class recall)."""
    probs = predict_proba(model, pixels, device)
    loss = F.nll_loss(probs.clamp_min(1e-8).log(), labels).item()
    predicted = probs.argmax(1)
    recalls = [(predicted[labels == c] == c).float().mean().item() for c in labels.unique()]
    return {"val_loss": loss, "val_acc": (predicted == labels).float().mean().item(),
            "val_bal_acc": float(np.mean(recalls))}


def native_cpu_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (oneDNN sees AMX or AVX512-BF16)."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def recipe_version(spec: dict) -> str:
    """The code that decides what training does: the loop, this recipe and the module of the network in `spec`."""
    return code_version(loop, sys.modules[__name__], sys.modules[model_factory(spec["name"]).__module__])


def train_classifier(config: dict, train_pixels: torch.Tensor, train_labels: torch.Tensor,
                     val_pixels: torch.Tensor | None = None, val_labels: torch.Tensor | None = None,
                     device=None, checkpoint: Path | str | None = None,
                     on_epoch_end: Callable[[int, dict], bool | None] | None = None, progress: bool = True,
                     retrain: bool = False, sample_weights: torch.Tensor | None = None,
                     train_groups: torch.Tensor | None = None, unlabelled: torch.Tensor | None = None):
    """Train a fresh model; return (model, history), history being one dict per epoch.

    checkpoint    file written after every epoch; a run with the same config, data and code resumes from it
    on_epoch_end  called with (epoch, record) after each epoch, e.g. to prune an Optuna trial
    retrain       ignore an existing checkpoint and train from the start
    sample_weights  how likely each training image is to be drawn (default: every class equally likely,
                  `balanced_epoch`); e.g. `realfake.selftrain` keeps labelled images a fixed share of each class
    train_groups  each training image's group (-1: none, e.g. a real or pseudo-labelled hand), learnt by the
                  second head with weight config["group_weight"]
    unlabelled    uint8 images without labels, for config["consistency_weight"]
    """
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise KeyError(f"unknown config keys {sorted(unknown)}; known: {list(CONFIG_KEYS)}")
    group_weight = config.get("group_weight", 0)
    if group_weight and train_groups is None:
        raise ValueError('config["group_weight"] is set but no train_groups were given')
    consistency_weight = config.get("consistency_weight", 0)
    if consistency_weight and (unlabelled is None or not len(unlabelled)):
        raise ValueError('config["consistency_weight"] is set but no unlabelled images were given')
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seed_everything(config["seed"])
    model = build_model(config["model"]).to(device)
    cpu_bf16 = device.type == "cpu" and config.get("cpu_bf16", False)
    if cpu_bf16:
        if not native_cpu_bf16():
            warnings.warn('config["cpu_bf16"]: this CPU has no native bfloat16 (AMX or AVX512-BF16); it emulates '
                          'bfloat16, which need not be faster than float32 (benchmarks/hands_precision_speed.py)')
        model = model.to(memory_format=torch.channels_last)
    epoch_size = config["epoch_size"] or len(train_labels)
    batch_size = config["batch_size"]
    steps_per_epoch = -(-epoch_size // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle(config["epochs"] * steps_per_epoch))
    generator = torch.Generator().manual_seed(config["seed"])
    ema = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(
        config["ema_decay"]), use_buffers=True) if config.get("ema_decay") else None)
    state = TrainState({"model": model, **({"ema": ema} if ema else {})}, {"optimizer": optimizer},
                       {"scheduler": scheduler}, generator)

    x_train = to_input(train_pixels.to(device))
    y_train = train_labels.to(device)
    groups = train_groups.to(device) if group_weight else None
    x_unlabelled = to_input(unlabelled.to(device)) if consistency_weight else None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" or cpu_bf16)

    def batches(epoch: int):
        order = (balanced_epoch(train_labels, epoch_size, generator) if sample_weights is None else
                 torch.multinomial(sample_weights, epoch_size, replacement=True, generator=generator)).to(device)
        for start in range(0, steps_per_epoch * batch_size, batch_size):
            yield order[start:start + batch_size]

    def step(index: torch.Tensor) -> dict:
        x = augment(x_train[index], config["flip"], config["shift"], generator)
        if config.get("cutout"):
            x = cut_out(x, config["cutout"], generator)
        if cpu_bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y_train[index]
        if consistency_weight:   # a weak and a strong view of as many unlabelled images, in the same forward pass
            picked = x_unlabelled[torch.randint(0, len(x_unlabelled), (len(index),), generator=generator).to(device)]
            x = torch.cat([x, augment(picked, config["flip"], config["shift"], generator),
                           strong_augment(picked, config["shift"], generator)])
        with autocast:
            logits, group_logits = model.forward_with_groups(x) if group_weight else (model(x), None)
            if consistency_weight:
                logits, weak_logits, strong_logits = logits.split(len(index))
                group_logits = None if group_logits is None else group_logits[:len(index)]
            loss = F.cross_entropy(logits, y, label_smoothing=config["label_smoothing"])
            if consistency_weight:   # the weak view's confident class is the strong view's target
                confidence, target = weak_logits.detach().float().softmax(1).max(1)
                confident = (confidence >= config.get("consistency_threshold", CONSISTENCY_THRESHOLD)).float()
                loss = loss + consistency_weight * (
                    F.cross_entropy(strong_logits, target, reduction="none") * confident).mean()
            if group_weight and (groups[index] >= 0).any():   # a batch with no group has no second loss
                loss = loss + group_weight * F.cross_entropy(group_logits, groups[index], ignore_index=-1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        record = {"train_loss": loss.item(), "train_acc": (logits.argmax(1) == y).float().mean().item(), "n": len(y)}
        if consistency_weight:   # how much of the unlabelled batch was confident enough to teach
            record["unlabelled_confident"] = confident.mean().item()
        return record

    def evaluate(epoch: int) -> dict:
        if val_pixels is None or not len(val_pixels):
            return {}
        record = evaluate_loss_acc(ema.module if ema else model, val_pixels, val_labels, device)
        model.train()
        return record

    history = fit(state, epochs=config["epochs"], batches=batches, step=step, config=config,
                  checkpoint=checkpoint,
                  fingerprint=(data_fingerprint(train_pixels, train_labels, sample_weights) + (
                      f"+groups:{data_fingerprint(train_pixels, train_groups + 1)}" if group_weight else "") + (
                      f"+unlabelled:{unlabelled_fingerprint(unlabelled)}" if consistency_weight else "")
                      if checkpoint else None),
                  code=recipe_version(config["model"]), evaluate=evaluate, on_epoch_end=on_epoch_end,
                  progress=progress, retrain=retrain, verbose=progress)
    model = ema.module if ema else model
    if cpu_bf16:   # back to the usual layout, so that the network is saved, loaded and used like any other
        model = model.to(memory_format=torch.contiguous_format)
    model.eval()
    return model, history


def labels_with_guesses(probs: torch.Tensor, readable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted labels for every image, and which of them are guesses.

    An unreadable image has no pixels to classify; it gets the class predicted most often for
    the readable ones (the best guess under the set's own class mix) and is flagged.
    """
    labels = probs.argmax(1)
    guessed = ~readable
    if guessed.any() and readable.any():
        labels[guessed] = torch.bincount(labels[readable], minlength=probs.shape[1]).argmax()
    return labels, guessed
