"""Which changes to the GAN recipe help? Short runs of the levers on one table, then the winner's settings for the
final training written to configs/dcgan_best.json (the clean notebook's improved generator).

    python benchmarks/dcgan_levers.py --threads 1                  # results/dcgan_levers.json, configs/dcgan_best.json
    python -m realfake.dcgan improved --threads 2 --retrain        # then: the final training on all of MNIST train
    python benchmarks/dcgan_levers.py --smoke                      # a few steps each, under results/smoke/

Each lever is a full GAN config (a ladder: each row adds one change to the row above, plus the course's recipe and
the Optuna search's settings as anchors). Every run trains on MNIST train images 0-49,999 for the same number of
steps with one seed, and is scored by its best per-epoch Frechet distance (the suite's classifier feature space)
against the *held-out* training images 50,000-59,999 with fixed noise. That score chooses the winner; the winner's
reported quality comes from the clean notebook (full training, MNIST test, fresh noise), never from here.
Resumes: runs already in the results file are kept.

Only the winner ships (`realfake.dcgan`: the resize-convolution generator). The levers that lost live here alone:
a spectrally normalised discriminator, the hinge loss (Lim & Ye 2017; Miyato et al. 2018) and an exponential
moving average of the generator's weights (Yazici et al. 2019).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import spectral_norm  # noqa: E402

from realfake.dcgan.quality import GanProbe  # noqa: E402
from realfake.dcgan.settings import CONFIGS, REFERENCE_FILE, read_config  # noqa: E402
from realfake.dcgan.train import GanStep, gan_config, train_gan  # noqa: E402
from realfake.models import REGISTRY  # noqa: E402
from realfake.state import atomic_write_text, code_version, read_json  # noqa: E402

OPTUNA_FILE = CONFIGS / "dcgan_optuna.json"     # the settings the Optuna search chose before the levers
TRAIN, VALIDATION = slice(0, 50_000), slice(50_000, 60_000)

RESIZE_G = {"name": "dcgan_resize_generator", "noise": 64, "width": 24, "pixel_range": "-1_1"}
SN_D = {"name": "dcgan_sn_discriminator", "width": 32}
TTUR = {"lr_g": 1e-4, "lr_d": 4e-4, "betas_g": [0.0, 0.9], "betas_d": [0.0, 0.9]}
LEVER_SETTINGS = ("loss", "ema", "ema_warmup")   # settings only these runs have (the shipped training knows none)


class SpectralDiscriminator(nn.Module):
    """B x 1 x 28 x 28 -> B x 1 logits; every layer spectrally normalised (Miyato et al. 2018), no batch norm."""

    def __init__(self, width: int = 64, channels: int = 1):
        super().__init__()
        w = width
        self.main = nn.Sequential(
            spectral_norm(nn.Conv2d(channels, w, 4, 2, 1)), nn.LeakyReLU(0.2, True),     # B x w x 14 x 14
            spectral_norm(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2, True),        # B x 2w x 7 x 7
            spectral_norm(nn.Conv2d(2 * w, 4 * w, 3, 2, 1)), nn.LeakyReLU(0.2, True),    # B x 4w x 4 x 4
            nn.Flatten(),
            spectral_norm(nn.Linear(4 * w * 16, 1)))                                     # B x 1 logits

    def forward(self, x):
        return self.main(x)


def dcgan_sn_discriminator(width: int = 64, channels: int = 1, image_size: int = 28):
    if image_size != 28:
        raise ValueError(f"the spectral-norm discriminator takes 28x28 images, not {image_size}x{image_size}")
    return SpectralDiscriminator(width=width, channels=channels)


REGISTRY["dcgan_sn_discriminator"] = dcgan_sn_discriminator   # by hand: a second import of this script replaces it


class LeverStep(GanStep):
    """GanStep with the levers: `loss: "hinge"` (D minimises E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises
    -E[D(G(z))]) and `ema: decay` (an average of G's weights after every step, what the probe measures; it lives in the
    run's extras, so a checkpointed run resumes with it)."""

    def __init__(self, *args, config: dict, **kwargs):
        super().__init__(*args, **kwargs)
        if config.get("loss", "bce") not in ("bce", "hinge"):
            raise ValueError(f"GAN loss must be 'bce' or 'hinge', not {config['loss']!r}")
        self.hinge = config.get("loss") == "hinge"
        self.decay = config.get("ema")
        self.warmup = bool(config.get("ema_warmup"))   # decay min(ema, (1 + t) / (10 + t)) at step t: early weights fade
        if self.warmup and (not self.decay or self.log is None):
            raise ValueError("ema_warmup needs an ema decay and the run's log (its step count lives there)")
        self.average = copy.deepcopy(self.G).requires_grad_(False) if self.decay else None
        self.saved = None
        if self.average is not None and self.log is not None:
            self.saved = self.log["ema_generator"] = self.average.state_dict()   # the same tensors, updated in place

    def resume_average(self) -> None:
        """After a checkpoint was loaded into the extras: continue from its average."""
        if self.saved is not None and self.log.get("ema_generator") is not self.saved:
            self.average.load_state_dict(self.log["ema_generator"])
            self.saved = self.log["ema_generator"] = self.average.state_dict()

    def __call__(self, real: torch.Tensor) -> dict:
        if not self.hinge:
            numbers = super().__call__(real)
        else:
            z = torch.randn(len(real), self.G.noise, 1, 1, generator=self.noise_generator).to(real.device)
            fake = self.G(z)
            self.opt_d.zero_grad(set_to_none=True)
            logits_real, logits_fake = self.D(real), self.D(fake.detach())
            loss_d = torch.relu(1 - logits_real).mean() + torch.relu(1 + logits_fake).mean()
            loss_d.backward()
            self.opt_d.step()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g = -self.D(fake).mean()
            loss_g.backward()
            self.opt_g.step()
            numbers = {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                       "d_real": torch.sigmoid(logits_real).mean().item(),
                       "d_fake": torch.sigmoid(logits_fake).mean().item(), "n": len(real)}
            if self.log is not None:
                self.log.setdefault("step_losses", []).append([round(loss_d.item(), 5), round(loss_g.item(), 5)])
        if self.average is not None:
            self.resume_average()
            decay = self.decay
            if self.warmup:
                steps = len(self.log.get("step_losses", []))   # this step included; checkpointed with the run
                decay = min(decay, (1 + steps) / (10 + steps))
            with torch.no_grad():
                for p_avg, p in zip(self.average.parameters(), self.G.parameters()):
                    p_avg.lerp_(p, 1 - decay)
                for b_avg, b in zip(self.average.buffers(), self.G.buffers()):
                    b_avg.copy_(b)
        return numbers


class AverageProbe:
    """The probe measuring the step's weight average instead of the generator (the EMA lever)."""

    def __init__(self, probe: GanProbe):
        self.probe, self.step = probe, None

    def code(self) -> str:
        # a checkpoint made by another version of the lever step is not resumed (functions: the class may have no file)
        return self.probe.code() + code_version(LeverStep.__init__, LeverStep.__call__, LeverStep.resume_average)

    def measure(self, state) -> dict:
        if self.step is not None and self.step.average is not None:
            self.step.resume_average()
        average = self.step.average if self.step is not None else None
        return self.probe.measure_generator(average if average is not None else state.modules["generator"],
                                            state.modules["discriminator"], state.extras)


def lever_configs(root: Path | str = ".") -> dict[str, tuple[str, dict]]:
    """name -> (what changed, config changes on top of the reference recipe)."""
    root = Path(root)
    before = read_config(root / OPTUNA_FILE)
    reference = read_config(root / REFERENCE_FILE)
    keep = lambda config: {k: v for k, v in config.items() if k not in ("epochs", "patience", "limit", "train_size")}
    base = keep(before)
    return {
        "course recipe": ("the reference (transposed convolutions, BCE, lr 2e-3)", keep(reference)),
        "optuna settings": ("the previous improved generator (Optuna: lr 4.7e-4 / 9.3e-4, betas (0, 0.999))", base),
        "+ resize-conv G": ("generator up-samples by nearest resize + 3x3 conv, Tanh range [-1, 1]",
                            {**base, "generator": RESIZE_G}),
        "+ SN-D, hinge": ("discriminator with spectral norm (no batch norm), hinge loss",
                          {**base, "generator": RESIZE_G, "discriminator": SN_D, "loss": "hinge"}),
        "+ TTUR": ("two time-scales: lr_g 1e-4, lr_d 4e-4, betas (0, 0.9)",
                   {**base, "generator": RESIZE_G, "discriminator": SN_D, "loss": "hinge", **TTUR}),
        "+ EMA": ("exponential moving average of G's weights (decay 0.995)",
                  {**base, "generator": RESIZE_G, "discriminator": SN_D, "loss": "hinge", **TTUR, "ema": 0.995}),
    }


def lever_config(changes: dict, **run) -> dict:
    """The reference recipe with a lever's changes (the lever-only settings added as they are)."""
    config = gan_config(**{k: v for k, v in changes.items() if k not in LEVER_SETTINGS}, **run)
    return {**config, **{k: changes[k] for k in LEVER_SETTINGS if k in changes}}


def train_lever(config: dict, images: torch.Tensor, probe: GanProbe, device="cpu", progress: bool = True,
                checkpoint: Path | str | None = None):
    """train_gan with the lever's step; for the EMA lever the average is what is measured and kept."""
    probe = AverageProbe(probe)

    def make_step(*args, **kwargs):
        probe.step = LeverStep(*args, config=config, **kwargs)
        return probe.step
    return train_gan(config, images, probe=probe, device=device, progress=progress, make_step=make_step,
                     checkpoint=checkpoint)


def run_levers(train_images: torch.Tensor, classifier, out: Path | str, *, epochs: int = 2, limit: int = 200,
               probe_samples: int = 2000, names: list[str] | None = None, device="cpu", progress: bool = True,
               root: Path | str = ".") -> dict:
    """Train every lever for `epochs` x `limit` steps and write the table to `out` (resumes: finished runs kept)."""
    out = Path(out)
    record = read_json(out, "lever results") or {}
    settings = {"epochs": epochs, "limit": limit, "probe_samples": probe_samples, "batch_size": 128,
                "train_images": len(train_images[TRAIN]), "validation_images": len(train_images[VALIDATION])}
    if record.get("settings") != settings:
        record = {"settings": settings, "runs": {}}
    record["about"] = __doc__.split("\n\n")[0]
    probe = GanProbe(classifier, train_images[VALIDATION], n_samples=probe_samples, device=device)
    for name, (what, changes) in lever_configs(root).items():
        if names is not None and name not in names or name in record["runs"]:
            continue
        config = lever_config(changes, epochs=epochs, limit=limit, patience=None, train_size=None)
        started = time.perf_counter()
        run = train_lever(config, train_images[TRAIN], probe, device=device, progress=progress)
        seconds = time.perf_counter() - started
        best = min(run.history, key=lambda r: r["fd"])
        record["runs"][name] = {"what": what, "config": config, "validation_fd": best["fd"],
                                "fd_per_epoch": [r["fd"] for r in run.history], "best_epoch": best["epoch"],
                                "missing_classes": best["missing_classes"],
                                "largest_class_share": best["largest_class_share"],
                                "seconds_per_step": sum(r["seconds"] for r in run.history) / (epochs * limit),
                                "seconds": seconds, "threads": torch.get_num_threads()}
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
        print(f"{name}: held-out FD {best['fd']:.2f} (epoch {best['epoch']}), {seconds:.0f} s")
    runs = record["runs"]
    if runs:
        record["winner"] = min(runs, key=lambda n: runs[n]["validation_fd"])
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    return record


def final_config(record: dict, epochs: int = 13, max_rotation: float = 0.0, lr_decay_epochs: int = 3) -> dict:
    """The winner's settings for the final training on all of MNIST train: `epochs` epochs (13 fit the 30-minute box
    on the two CPU threads), FD stopping rule with patience 3, real digits rotated by at most `max_rotation` degrees
    (none: rotating only the real digits leaks into the generator), both learning rates falling linearly to zero over
    the last `lr_decay_epochs` epochs (benchmarks/dcgan_longer.py measured each of these)."""
    winner = record["runs"][record["winner"]]
    if any(key in winner["config"] for key in LEVER_SETTINGS):
        raise SystemExit(f"the winner {record['winner']!r} uses a lever the shipped training does not have; "
                         "move it into realfake/dcgan/train.py first")
    config = dict(winner["config"])
    config.update(epochs=epochs, limit=None, patience=3, train_size=None, max_rotation=max_rotation,
                  lr_decay_epochs=lr_decay_epochs)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=200, help="steps per epoch")
    parser.add_argument("--final-epochs", type=int, default=13,
                        help="epochs of the final training (13 fit 30 minutes on two threads: dcgan_longer.py)")
    parser.add_argument("--final-decay", type=int, default=3,
                        help="the final training's learning rates fall linearly to zero over this many last epochs")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-save", action="store_true", help="do not write configs/dcgan_best.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from realfake.dcgan.pipeline import classifier_config, get_classifier, load_data
    from realfake.dcgan.settings import BEST_FILE
    from realfake.paths import repo_root, run_paths

    os.chdir(repo_root())
    profile = "smoke" if args.smoke else "cpu"
    paths = run_paths(profile)
    data = load_data("mnist")
    classifier, _ = get_classifier(run_paths("cpu"), data, classifier_config(data), profile="cpu")  # the stored judge
    epochs, limit, samples = (1, 2, 64) if args.smoke else (args.epochs, args.limit, 2000)
    record = run_levers(data.train_images, classifier, paths.results / "dcgan_levers.json", epochs=epochs,
                        limit=limit, probe_samples=samples)
    print(f"winner {record['winner']!r}")
    if not args.smoke and not args.no_save:
        config = final_config(record, args.final_epochs, lr_decay_epochs=args.final_decay)
        print(f"final training: {config['epochs']} epochs")
        atomic_write_text(BEST_FILE, json.dumps({
            "about": ("The improved generator's settings: the winner of the lever comparison "
                      "(benchmarks/dcgan_levers.py, results/dcgan_levers.json; lowest held-out FD in short runs), "
                      f"trained for {args.final_epochs} epochs (what fits the 30-minute box on two CPU threads) "
                      f"with the learning rates falling linearly to zero over the last {args.final_decay}, the real "
                      "digits not rotated (benchmarks/dcgan_longer.py, results/dcgan_longer*.json)"),
            "lever": record["winner"], "search_fd": record["runs"][record["winner"]]["validation_fd"],
            "config": config, "profile": profile}, indent=2) + "\n")
        print(f"written {BEST_FILE}")


if __name__ == "__main__":
    main()
