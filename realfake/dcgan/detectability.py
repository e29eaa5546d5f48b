"""Can a detector tell generated digits from real ones? (in the spirit of CNNDetection, Wang et al. 2020)

A small CNN is trained from scratch on real vs generated digits, with CNNDetection's augmentation:
with probability 0.5 a Gaussian blur with sigma ~ U[0, 3], with probability 0.5 a JPEG round trip
with quality ~ U{30, ..., 100}. It is scored on held-out images it never saw: real MNIST *test*
digits and generated digits from noise not used in its training. Average precision (generated =
positive) and accuracy at probability 0.5, with a 95 % Wilson interval on the accuracy.

After training, the batch-norm statistics are measured again on the un-augmented training images
(`torch.optim.swa_utils.update_bn`): the running averages gathered on blurred and JPEG-compressed batches do not
describe the clean digits it is scored on, and with them a detector that ranks held-out digits right can still call
most real digits "generated" at probability 0.5. The batches are shuffled, as in training, so that the statistics
cover real and generated digits together.

The better generator is the one the detector finds harder (AP and accuracy nearer chance: AP 0.5
and accuracy 50 % for balanced classes).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from .. import perturb
from ..loop import TrainState, fit, seed_everything
from ..metrics import wilson_interval
from ..model_store import train_or_load
from ..models import build_model
from ..state import code_version

DETECTOR_CONFIG = {
    "spec": {"name": "dcgan_classifier", "width": 16, "n_classes": 1, "channels": 1, "features": 64, "dropout": 0.0},
    "epochs": 2, "batch_size": 128, "lr": 0.002, "blur_prob": 0.5, "max_sigma": 3.0, "jpeg_prob": 0.5,
    "jpeg_quality": [30, 100], "seed": 0,
    "batchnorm_statistics": "un-augmented training images, shuffled",   # a record: detectors stored before are retrained
}


def blur_jpeg(images: torch.Tensor, generator: torch.Generator, config: dict) -> torch.Tensor:
    """CNNDetection's "Blur+JPEG (0.5)" augmentation on uint8 images (N x C x H x W) with the detector's settings
    (the suite's one implementation: `realfake.perturb.cnndetection_augment`)."""
    return perturb.cnndetection_augment(images, generator, blur_p=config["blur_prob"], jpeg_p=config["jpeg_prob"],
                                        sigma_max=config["max_sigma"], quality_range=tuple(config["jpeg_quality"]))


def detector_data(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and labels (0 real, 1 generated), real first."""
    return torch.cat([real, fake]), torch.cat([torch.zeros(len(real)), torch.ones(len(fake))])


def train_detector(config: dict, real: torch.Tensor, fake: torch.Tensor, checkpoint: Path | str | None = None,
                   device="cpu", progress: bool = True):
    """A detector trained from scratch on uint8 real and generated images; returns (model, history).

    The checkpoint is tied to these exact images through their fingerprint.
    """
    from .data import fingerprint
    seed_everything(config["seed"])
    images, labels = detector_data(real, fake)
    model = build_model(config["spec"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])

    def batches(epoch: int):
        generator = torch.Generator().manual_seed(config["seed"] * 100_003 + epoch)
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), config["batch_size"]):
            index = order[start:start + config["batch_size"]]
            x = blur_jpeg(images[index], generator, config)
            yield x.to(device).float() / 255, labels[index].to(device)

    def step(batch):
        x, y = batch
        optimizer.zero_grad(set_to_none=True)
        logits = model(x).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        loss.backward()
        optimizer.step()
        return {"train_loss": loss.item(), "train_accuracy": ((logits > 0).float() == y).float().mean().item(),
                "n": len(y)}

    history = fit(TrainState({"detector": model}, {"detector": optimizer}), epochs=config["epochs"], batches=batches,
                  step=step, config=config, checkpoint=checkpoint, fingerprint=fingerprint(images, labels),
                  code=detector_code(), progress=progress,
                  desc="detector epochs")
    recalibrate_batchnorm(model, images, config["batch_size"], torch.Generator().manual_seed(config["seed"]), device)
    return model.eval(), history


def recalibrate_batchnorm(model: torch.nn.Module, images: torch.Tensor, batch_size: int, generator: torch.Generator,
                          device="cpu") -> None:
    """Batch-norm running statistics measured again (a plain average over batches) on uint8 `images`, un-augmented,
    in shuffled batches like those of training (real and generated mixed, so the statistics include the difference
    between the classes)."""
    from torch.optim.swa_utils import update_bn
    order = torch.randperm(len(images), generator=generator)
    with torch.no_grad():
        update_bn(((images[order[i:i + batch_size]].to(device).float() / 255) for i in range(0, len(images), batch_size)),
                  model, device)


def detector_code() -> str:
    """The version of the detector's training recipe (augmentation and loop)."""
    return code_version(blur_jpeg, perturb.cnndetection_augment, train_detector, recalibrate_batchnorm)


def detector_fingerprint(config: dict, real: torch.Tensor, fake: torch.Tensor) -> str:
    """What a stored detector must have been trained on to be reused: these images (in this order, with their
    labels) and this training config. A detector is a measurement, so unlike the GANs (whose other settings
    are only reported) one trained with other settings is not reused but retrained."""
    from .data import fingerprint
    images, labels = detector_data(real, fake)
    settings = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{fingerprint(images, labels)}-config-{settings}"


def detector_train_or_load(folder: Path | str, config: dict, real: torch.Tensor, fake: torch.Tensor,
                           checkpoint: Path | str | None = None, device="cpu", retrain: bool = False,
                           note: dict | None = None, progress: bool = True):
    """(model, record): the detector stored in `folder` if it was trained on exactly these real and generated
    images with this config (and the network's code is the same), else one trained now and stored there.

    record["source"] says which; the notebook prints a line either way (see model_store.train_or_load).
    """
    return train_or_load(folder, config["spec"], config,
                         lambda: train_detector(config, real, fake, checkpoint, device, progress),
                         fingerprint=detector_fingerprint(config, real, fake), device=device, retrain=retrain,
                         note=note, code=detector_code())


@torch.no_grad()
def scores(model, images: torch.Tensor, device="cpu", batch_size: int = 1000) -> np.ndarray:
    """The detector's logit for "generated" of each uint8 image."""
    model.eval()
    return torch.cat([model(images[i:i + batch_size].to(device).float() / 255).reshape(-1).cpu()
                      for i in range(0, len(images), batch_size)]).numpy()


def detection_summary(logits_real: np.ndarray, logits_fake: np.ndarray) -> dict:
    """AP (generated = positive), accuracy at logit 0 with its 95 % Wilson interval, on held-out images."""
    labels = np.r_[np.zeros(len(logits_real)), np.ones(len(logits_fake))]
    logits = np.r_[logits_real, logits_fake]
    correct = int(((logits > 0) == labels).sum())
    low, high = wilson_interval(correct, len(labels))
    return {"average_precision": float(average_precision_score(labels, logits)), "accuracy": correct / len(labels),
            "accuracy_low": low, "accuracy_high": high, "n_real": len(logits_real), "n_generated": len(logits_fake),
            "real_called_real": float((logits_real <= 0).mean()), "generated_called_generated": float((logits_fake > 0).mean())}


def discriminator_logits(discriminator, images: torch.Tensor, pixel_range: str, device="cpu") -> np.ndarray:
    """The GAN's own discriminator as a detector: minus its "real" logit, so that higher = generated.

    Images are fed in the pixel range the discriminator was trained on.
    """
    from .data import to_range
    discriminator.eval()
    with torch.no_grad():
        out = [-discriminator(to_range(images[i:i + 1000].to(device).float() / 255, pixel_range)).reshape(-1).cpu()
               for i in range(0, len(images), 1000)]
    return torch.cat(out).numpy()


def detectability(model, real_test: torch.Tensor, fake_test: torch.Tensor, device="cpu") -> dict:
    """A trained detector scored on held-out real and generated images (see `detection_summary`)."""
    return detection_summary(scores(model, real_test, device), scores(model, fake_test, device))
