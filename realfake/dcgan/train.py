"""Training the GAN on the suite's loop (`realfake.loop.fit`).

One step (pytorch/examples dcgan/main.py, Goodfellow et al. 2014):
  (1) discriminator: maximise log D(x) + log(1 - D(G(z)))   -> loss_d = mean of the real loss (target 1,
      or 1 - label_smoothing) and the fake loss (target 0), BCEWithLogitsLoss on logits;
  (2) generator: maximise log D(G(z)) (the non-saturating loss) -> loss_g = the real loss on the fakes.
(The hinge loss, spectral normalisation and a weight average were measured and lost: benchmarks/dcgan_levers.py.)

The reference recipe (the course's) is `REFERENCE` below; `configs/dcgan_reference.json` holds the same.
After each epoch an optional `GanProbe` measures the generator (Frechet distance in the suite's
MNIST-classifier feature space, class histogram, a sample grid from fixed noise) and keeps the best
epoch's weights: the stopping rule is "best Frechet distance, stop after `patience` epochs without a
better one", not a fixed number of epochs. With `lr_decay_epochs` K both learning rates fall linearly to zero over
the last K epochs (the improved recipe's last three, measured against constant rates by benchmarks/dcgan_longer.py).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..loop import TrainState, fit, seed_everything
from ..models import build_model
from ..state import code_version
from . import data as data_module
from . import models as models_module

REFERENCE = {
    "dataset": "mnist",
    "generator": {"name": "dcgan_generator", "noise": 64, "width": 64, "channels": 1, "image_size": 28,
                  "pixel_range": "0_1"},
    "discriminator": {"name": "dcgan_discriminator", "width": 16, "channels": 1, "image_size": 28},
    "lr_g": 0.002, "lr_d": 0.002, "betas_g": [0.5, 0.99], "betas_d": [0.5, 0.99],
    "batch_size": 128, "epochs": 20, "max_rotation": 20.0, "label_smoothing": 0.0,
    "patience": None, "limit": None, "train_size": None, "seed": 0,
}


# Settings the reference recipe leaves at their default (absent from its config and from the stored reference model's):
# lr_decay_epochs  both learning rates fall linearly to zero over this many last epochs (0: constant rates)
OPTIONAL = {"lr_decay_epochs": 0}


def gan_config(**changes) -> dict:
    """The reference recipe with `changes` applied; nested model specs are updated key by key. An OPTIONAL setting is
    kept only when it differs from its default, so one recipe has one config."""
    config = copy.deepcopy(REFERENCE)
    for key, value in changes.items():
        if key in ("generator", "discriminator") and isinstance(value, dict):
            config[key].update(value)
        elif key in OPTIONAL:
            if value != OPTIONAL[key]:
                config[key] = value
        elif key not in config:
            raise KeyError(f"unknown GAN setting {key!r}; known: {', '.join([*config, *OPTIONAL])}")
        else:
            config[key] = value
    return config


class GanStep:
    """One update of D, then one of G, on a batch of real images. Noise comes from `noise_generator`
    (a CPU torch.Generator checkpointed with the run), so resuming gives the same noise."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, opt_g, opt_d,
                 noise_generator: torch.Generator, label_smoothing: float = 0.0, log: dict | None = None):
        self.G, self.D, self.opt_g, self.opt_d = generator, discriminator, opt_g, opt_d
        self.noise_generator, self.real_target = noise_generator, 1.0 - label_smoothing
        self.criterion = nn.BCEWithLogitsLoss()
        self.log = log      # if given (the run's checkpointed extras): log["step_losses"] gets [loss_d, loss_g] per step

    def __call__(self, real: torch.Tensor) -> dict:
        b, device = len(real), real.device
        z = torch.randn(b, self.G.noise, 1, 1, generator=self.noise_generator).to(device)
        ones, zeros = torch.ones(b, 1, device=device), torch.zeros(b, 1, device=device)
        fake = self.G(z)

        # (1) Update D: maximise log D(x) + log(1 - D(G(z)))
        self.opt_d.zero_grad(set_to_none=True)
        logits_real = self.D(real)
        logits_fake = self.D(fake.detach())
        loss_real = self.criterion(logits_real, ones * self.real_target)
        loss_fake = self.criterion(logits_fake, zeros)
        loss_d = (loss_real + loss_fake) / 2
        loss_d.backward()
        self.opt_d.step()

        # (2) Update G: maximise log D(G(z))  (the real loss on the fakes)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g = self.criterion(self.D(fake), ones)
        loss_g.backward()
        self.opt_g.step()

        if self.log is not None:
            self.log.setdefault("step_losses", []).append([round(loss_d.item(), 5), round(loss_g.item(), 5)])
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "d_real": torch.sigmoid(logits_real).mean().item(),      # D(x): 1 = "real"
                "d_fake": torch.sigmoid(logits_fake).mean().item(),      # D(G(z)) before G's update
                "n": b}


@dataclass
class GanRun:
    generator: nn.Module          # the best epoch's weights when a probe chose one, else the last epoch's
    discriminator: nn.Module      # from the same epoch as `generator`
    history: list[dict]
    best_epoch: int
    grids: list[torch.Tensor] = field(default_factory=list)   # uint8 sample grid from fixed noise, per epoch
    config: dict = field(default_factory=dict)
    step_losses: list = field(default_factory=list)           # [loss_d, loss_g] of every step


def code() -> str:
    """Version of the code a GAN checkpoint depends on."""
    return code_version(models_module.Generator, models_module.Discriminator, models_module.init_weights,
                        GanStep, data_module.BatchMaker, data_module.rotate, data_module.to_range)


def train_gan(config: dict, images: torch.Tensor, *, checkpoint: Path | str | None = None, probe=None,
              on_epoch_end=None, device="cpu", progress: bool = True, retrain: bool = False,
              fingerprint: str | None = None, make_step=GanStep) -> GanRun:
    """Train a generator and a discriminator on uint8 `images` (N x C x H x W) with `config`.

    probe: a `GanProbe` (or None) called after every epoch; it records quality numbers in the
    history and decides which epoch is kept. on_epoch_end(epoch, record) is passed to the loop
    (Optuna pruning). The checkpoint makes the run resumable epoch by epoch. make_step builds the update
    (GanStep's arguments; benchmarks/dcgan_levers.py passes its variants).
    """
    seed_everything(config["seed"])
    G = build_model(config["generator"]).to(device)
    D = build_model(config["discriminator"]).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=config["lr_g"], betas=tuple(config["betas_g"]))
    opt_d = torch.optim.Adam(D.parameters(), lr=config["lr_d"], betas=tuple(config["betas_d"]))
    noise = torch.Generator().manual_seed(config["seed"])
    state = TrainState(modules={"generator": G, "discriminator": D},
                       optimizers={"generator": opt_g, "discriminator": opt_d}, generator=noise,
                       extras={"best_fd": float("inf"), "best_epoch": 0, "best_generator": None,
                               "best_discriminator": None, "grids": []})
    if config.get("train_size"):
        images = images[:config["train_size"]]
    batches = data_module.BatchMaker(images, batch_size=config["batch_size"], max_rotation=config["max_rotation"],
                                     pixel_range=config["generator"]["pixel_range"], seed=config["seed"],
                                     limit=config.get("limit"), device=device)
    step = make_step(G, D, opt_g, opt_d, noise, label_smoothing=config["label_smoothing"], log=state.extras)
    decay_epochs = config.get("lr_decay_epochs", OPTIONAL["lr_decay_epochs"])
    if not 0 <= decay_epochs <= config["epochs"]:
        raise ValueError(f"lr_decay_epochs must be between 0 and the {config['epochs']} epochs, not {decay_epochs}")

    def scheduled(epoch: int):
        """The epoch's batches, with both learning rates falling linearly to zero over the last `lr_decay_epochs`
        epochs (set from the step's place in the run alone, so a resumed run gets the same rates)."""
        steps, total = len(batches), config["epochs"] * len(batches)
        for i, batch in enumerate(batches(epoch)):
            if decay_epochs:
                factor = min(1.0, (total - epoch * steps - i) / (decay_epochs * steps))
                for optimizer, key in ((opt_g, "lr_g"), (opt_d, "lr_d")):
                    for group in optimizer.param_groups:
                        group["lr"] = config[key] * factor
            yield batch

    def evaluate(epoch: int) -> dict:
        return probe.measure(state) if probe is not None else {}

    def end_of_epoch(epoch: int, record: dict):
        stop = False
        patience = config.get("patience")
        # the rule waits for the falling rates, where the FD drops
        before_decay = bool(decay_epochs) and epoch <= config["epochs"] - decay_epochs
        if probe is not None and patience and epoch - state.extras["best_epoch"] >= patience and not before_decay:
            print(f"stopping after epoch {epoch}: no better Frechet distance for {patience} epochs")
            stop = True
        if on_epoch_end is not None:
            stop = bool(on_epoch_end(epoch, record)) or stop
        return stop

    fingerprint = fingerprint or data_module.fingerprint(images)
    history = fit(state, epochs=config["epochs"], batches=scheduled, step=step, config=config, checkpoint=checkpoint,
                  fingerprint=fingerprint, code=code() + (probe.code() if probe is not None else ""),
                  evaluate=evaluate, on_epoch_end=end_of_epoch, progress=progress, desc="GAN epochs",
                  retrain=retrain)
    best_epoch = len(history)
    if state.extras.get("best_generator") is not None:
        G.load_state_dict(state.extras["best_generator"])
        D.load_state_dict(state.extras["best_discriminator"])
        best_epoch = state.extras["best_epoch"]
    G.eval(), D.eval()
    return GanRun(G, D, history, best_epoch, list(state.extras.get("grids", [])), config,
                  list(state.extras.get("step_losses", [])))


@torch.no_grad()
def generate(generator: nn.Module, n: int, seed: int, batch_size: int = 500, device="cpu") -> torch.Tensor:
    """n generated images as uint8 (N x C x H x W), from noise seeded with `seed`."""
    generator.eval()
    noise = torch.Generator().manual_seed(seed)
    pixel_range = getattr(generator, "pixel_range", "0_1")
    out = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), generator.noise, 1, 1, generator=noise).to(device)
        out.append(data_module.to_uint8(generator(z), pixel_range).cpu())
    return torch.cat(out)
