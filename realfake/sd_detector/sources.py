"""Detectors across sources: DiffusionDB (or sd_vs_real/fake) against Imagenette (or sd_vs_real/real).

Every file is brought through `codec.normalise` (same centre-crop, resize and JPEG re-encoding for both classes)
before any model sees it, so codec and size are no shortcut. `finetune_resnet50` fine-tunes torchvision's
ImageNet ResNet50 with a two-class head on such images, on the suite loop; it needs the ImageNet weights
(downloaded where the internet is available; offline `build_model` raises PretrainedWeightsUnavailable).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from realfake.loop import TrainState, fit, seed_everything
from realfake.models import build_model
from realfake.sd_detector import codec
from realfake.sd_detector.data import split_three

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def load_normalised(paths: list[Path], labels: list[int], size: int = 32, quality: int = codec.CIFAKE_QUALITY):
    """(pixels uint8 N x 3 x size x size, labels, kept paths, problems): each file through codec.normalise."""
    pixels, kept_labels, kept, problems = [], [], [], []
    for path, label in zip(paths, labels):
        try:
            pixels.append(codec.normalised_pixels(Path(path).read_bytes(), size, quality, str(path)))
            kept_labels.append(label)
            kept.append(Path(path))
        except (codec.UnreadableImage, OSError) as error:
            problems.append(f"{path}: skipped ({error})")
    stacked = torch.stack(pixels) if pixels else torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return stacked, torch.tensor(kept_labels, dtype=torch.long), kept, problems


def raw_bytes(paths: list[Path]) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


def _imagenet_input(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels.float() - IMAGENET_MEAN) / IMAGENET_STD


@torch.no_grad()
def resnet_probs(model, pixels: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    out = [model(_imagenet_input(pixels[i:i + batch_size]).to(device)).softmax(1)[:, 1].cpu()
           for i in range(0, len(pixels), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def finetune_resnet50(pixels: torch.Tensor, labels: torch.Tensor, config: dict, checkpoint: Path | None = None,
                      pretrained: bool = True, progress: bool = True, device: str = "cpu"):
    """Fine-tune ResNet50 (ImageNet weights, new 2-class head) on a seeded train/valid/test split of the pairs.

    config: epochs, lr, weight_decay, batch_size, seed. Returns (model, history, split index lists).
    pretrained=False exists for tests only and is stated in the history's first record.
    """
    seed_everything(config["seed"])
    split = split_three(labels.tolist(), config["seed"])
    model = build_model({"name": "resnet50_2class", "pretrained": pretrained}).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    train_index = torch.tensor(split["train"])
    valid_index = torch.tensor(split["valid"])

    def batches(epoch):
        generator = torch.Generator().manual_seed(config["seed"] * 7919 + epoch)
        order = train_index[torch.randperm(len(train_index), generator=generator)]
        for start in range(0, len(order), config["batch_size"]):
            index = order[start:start + config["batch_size"]]
            x = pixels[index]
            flips = torch.rand(len(x), generator=generator) < 0.5
            yield torch.where(flips[:, None, None, None], x.flip(3), x), labels[index]

    def step(batch):
        x, y = batch
        logits = model(_imagenet_input(x).to(device))
        loss = F.cross_entropy(logits, y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "n": len(y)}

    def evaluate(epoch):
        probs = resnet_probs(model, pixels[valid_index])
        return {"valid_accuracy": float(((probs >= 0.5).long() == labels[valid_index]).float().mean()),
                "pretrained": pretrained}

    history = fit(TrainState({"model": model}, {"opt": optimizer}), epochs=config["epochs"], batches=batches,
                  step=step, config={**config, "pretrained": pretrained}, checkpoint=checkpoint,
                  evaluate=evaluate, progress=progress, desc="ResNet50 epochs")
    return model.eval(), history, split

