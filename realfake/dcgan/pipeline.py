"""The steps the DCGAN notebooks call: data, the judging classifier, GANs trained or loaded.

Each step stores what it trains with `realfake.model_store` under `<models>/dcgan/<name>/` and
loads it again when the network, the training data and the network's code are the same, so the
committed notebook does not retrain what `model_best/dcgan/` already holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..model_store import INFO, load_model, save_model
from ..paths import RunPaths, shown
from ..state import atomic_torch_save, load_torch_state, read_json
from . import data as data_module
from .mnist_classifier import CLASSIFIER_CONFIG, classifier_train_or_load
from .quality import GanProbe
from .train import GanRun, code, train_gan


LOG = "training_log.pt"     # beside the generator's weights: per-epoch sample grids and per-step losses


@dataclass
class ImageData:
    dataset: str
    train_images: torch.Tensor     # uint8 N x C x H x W
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple

    def describe(self) -> str:
        c, h, w = self.train_images.shape[1:]
        return (f"{self.dataset}: {len(self.train_images)} training and {len(self.test_images)} test images, "
                f"{c} x {h} x {w}, {len(self.classes)} classes")


def load_data(dataset: str = "mnist", root: Path | str = data_module.DATA_DIR, train_size: int | None = None,
              test_size: int | None = None, download: bool = True) -> ImageData:
    """Train and test split of `dataset` (first `train_size` / `test_size` images when given)."""
    train_images, train_labels = data_module.load_images(dataset, True, root, download)
    test_images, test_labels = data_module.load_images(dataset, False, root, download)
    return ImageData(dataset, train_images[:train_size], train_labels[:train_size], test_images[:test_size],
                     test_labels[:test_size], data_module.dataset_info(dataset).classes)


def model_folder(paths: RunPaths, name: str) -> Path:
    return paths.models / "dcgan" / name


def checkpoint_path(paths: RunPaths, name: str) -> Path:
    return paths.checkpoints / f"dcgan_{name}.pt"


def classifier_config(data: ImageData, **changes) -> dict:
    config = {**CLASSIFIER_CONFIG, "spec": {**CLASSIFIER_CONFIG["spec"], "channels": data.train_images.shape[1],
                                            "n_classes": len(data.classes)}}
    config.update(changes)
    return config


def get_classifier(paths: RunPaths, data: ImageData, config: dict, device="cpu", retrain: bool = False,
                   profile: str = "cpu"):
    """(classifier, record): the stored one when it matches, else trained now and stored."""
    name = f"{data.dataset}_classifier"
    fingerprint = data_module.fingerprint(data.train_images[:config.get("train_size")],
                                          data.train_labels[:config.get("train_size")])
    return classifier_train_or_load(model_folder(paths, name), config, data.train_images, data.train_labels,
                                    data.test_images, data.test_labels, fingerprint,
                                    checkpoint=checkpoint_path(paths, name), device=device, retrain=retrain,
                                    note={"profile": profile, "dataset": data.dataset})


def _load_gan(folder_g: Path, folder_d: Path, config: dict, fingerprint: str, device):
    G, info_g = load_model(folder_g, config["generator"], fingerprint, device)
    if G is None:
        return None, info_g
    D, info_d = load_model(folder_d, config["discriminator"], fingerprint, device)
    if D is None:
        return None, info_d
    log = load_torch_state(folder_g / LOG, "training log") or {}
    return GanRun(G, D, info_g["history"], info_g.get("best_epoch", len(info_g["history"])), log.get("grids", []),
                  info_g["config"], log.get("step_losses", [])), info_g


def load_stored_generator(paths: RunPaths, name: str, device="cpu"):
    """(generator, "") for the stored generator `name` ("reference" or "improved") of the run's paths, or
    (None, a sentence saying what is missing and how to make it)."""
    folder = model_folder(paths, f"{name}_generator")
    info = read_json(folder / INFO, "stored model record")
    if info is None:
        return None, (f"no stored {name} generator in {shown(folder)}; "
                      f"train it with `python -m realfake.dcgan {name}`")
    generator, reason = load_model(folder, info["spec"], device=device)
    if generator is None:
        return None, f"the stored {name} generator in {shown(folder)} cannot be used: {reason}"
    return generator, ""


def get_gan(paths: RunPaths, name: str, config: dict, data: ImageData, classifier, probe_samples: int = 2000,
            device="cpu", retrain: bool = False, profile: str = "cpu", progress: bool = True) -> tuple[GanRun, dict]:
    """(run, record) for the GAN `name` ("reference", "improved", ...): stored or trained now.

    Training measures every epoch with a `GanProbe` (FD in the suite's classifier feature space against
    the first 10,000 training images, class histogram, grid) and keeps the best epoch.
    """
    images = data.train_images[:config.get("train_size")]
    fingerprint = data_module.fingerprint(images)
    folder_g, folder_d = model_folder(paths, f"{name}_generator"), model_folder(paths, f"{name}_discriminator")
    run, info = (None, "retraining was asked for") if retrain else _load_gan(folder_g, folder_d, config, fingerprint, device)
    if run is not None:
        from ..model_store import config_differences
        differences = config_differences(info["config"], config)
        print(f"loaded {shown(folder_g.parent)}/{name}_*: trained with the {info.get('profile', '?')} profile, "
              f"best epoch {run.best_epoch} of {len(run.history)}")
        if differences:
            print("  stored with other settings than this run asks for (same networks and data):\n    "
                  + "\n    ".join(differences))
        return run, {**info, "source": f"loaded from {shown(folder_g)}", "differences": differences}
    print(f"training GAN {name!r} ({info})")
    probe = GanProbe(classifier, data.train_images[:10_000], n_samples=probe_samples, device=device)
    run = train_gan(config, images, checkpoint=checkpoint_path(paths, name), probe=probe, device=device,
                    progress=progress, fingerprint=fingerprint)
    note = {"profile": profile, "best_epoch": run.best_epoch, "dataset": data.dataset}
    save_model(folder_d, run.discriminator, config["discriminator"], config=config, history=run.history,
               fingerprint=fingerprint, code=code(), extra=note)
    atomic_torch_save({"grids": run.grids, "step_losses": run.step_losses}, folder_g / LOG)
    save_model(folder_g, run.generator, config["generator"], config=config, history=run.history,
               fingerprint=fingerprint, code=code(), extra=note)
    info = load_model(folder_g, config["generator"], fingerprint)[1]
    return run, {**info, "source": f"trained now and stored in {shown(folder_g)}", "differences": []}


__all__ = ["ImageData", "load_data", "get_classifier", "get_gan", "get_detector", "classifier_config", "model_folder",
           "INFO"]


def adapt_to_dataset(config: dict, data: ImageData) -> dict:
    """The GAN config sized for the data set's images (MNIST: unchanged; CIFAR: 3 x 32 x 32)."""
    channels, size = data.train_images.shape[1], data.train_images.shape[-1]
    config = {**config, "dataset": data.dataset,
              "generator": {**config["generator"], "channels": channels, "image_size": size},
              "discriminator": {**config["discriminator"], "channels": channels, "image_size": size}}
    return config


def floor_distance(classifier, data: ImageData, n: int = 10_000) -> float:
    """FD between real training images and real test images: what two real samples differ by."""
    from .frechet import ClassifierFeatures, frechet_distance
    return frechet_distance(ClassifierFeatures(classifier), data.train_images[:n], data.test_images)


DETECTOR_NOISE_SEED, DETECTOR_TEST_NOISE_SEED = 2024, 4048   # generated digits a detector trains on / is scored on


def get_detector(paths: RunPaths, name: str, run: GanRun, data: ImageData, n_train: int, config: dict, device="cpu",
                 retrain: bool = False, profile: str = "cpu", progress: bool = True):
    """(detector, record) for the GAN `name`: trained on the last `n_train` real training digits and `n_train`
    digits of its generator, stored in `<models>/dcgan/detector_<name>/` and loaded from there when it was
    trained on the same images with the same config.

    The generated digits come from the stored generator with seeded noise; on the CPU they are bit-identical
    across thread counts (checked with 1 and 2 threads), so the stored detector is found again. Where they
    differ (another device), the fingerprint differs and the detector is retrained, never loaded for other data.
    """
    from .detectability import detector_train_or_load
    from .train import generate
    real_train = data.train_images[-n_train:]
    fake_train = generate(run.generator, n_train, seed=DETECTOR_NOISE_SEED, device=device)
    note = {"profile": profile, "dataset": data.dataset, "gan": name, "noise_seed": DETECTOR_NOISE_SEED,
            "n_train_real": len(real_train), "n_train_generated": len(fake_train)}
    return detector_train_or_load(model_folder(paths, f"detector_{name}"), config, real_train, fake_train,
                                  checkpoint=checkpoint_path(paths, f"detector_{name}"), device=device,
                                  retrain=retrain, note=note, progress=progress)


def detection_study(gans: dict, data: ImageData, paths: RunPaths, n_train: int, n_test: int, config: dict,
                    device="cpu", progress: bool = True, retrain: bool = False, profile: str = "cpu") -> dict:
    """For each GAN (name -> GanRun): a detector trained from scratch (blur + JPEG augmentation; stored, see
    `get_detector`) and the GAN's own discriminator, scored on held-out real MNIST-test digits and fresh
    generated digits."""
    from .detectability import detection_summary, detectability, discriminator_logits
    from .train import generate
    real_test = data.test_images[:n_test]
    results = {}
    for name, run in gans.items():
        detector, record = get_detector(paths, name, run, data, n_train, config, device, retrain, profile, progress)
        fake_test = generate(run.generator, n_test, seed=DETECTOR_TEST_NOISE_SEED, device=device)
        results[f"{name}: detector"] = {**detectability(detector, real_test, fake_test, device),
                                        "n_train_real": record["n_train_real"],
                                        "n_train_generated": record["n_train_generated"],
                                        "source": record["source"], "history": record["history"]}
        pixel_range = run.config["generator"]["pixel_range"]
        results[f"{name}: its discriminator"] = detection_summary(
            discriminator_logits(run.discriminator, real_test, pixel_range, device),
            discriminator_logits(run.discriminator, fake_test, pixel_range, device))
    return results


def augmented_floor(classifier, data: ImageData, max_rotation: float, n: int = 10_000, seed: int = 5) -> float:
    """FD between rotated training images (what the GAN is shown with the course's RandomRotation) and the test
    images: the score of a generator that reproduced its augmented training data perfectly."""
    from .data import BatchMaker, to_uint8
    from .frechet import ClassifierFeatures, frechet_distance
    batch = next(iter(BatchMaker(data.train_images[:n], batch_size=n, max_rotation=max_rotation, seed=seed)(0)))
    return frechet_distance(ClassifierFeatures(classifier), data.test_images, to_uint8(batch, "0_1"))


def explain_detection(gans: dict, data: ImageData, paths: RunPaths, n_train: int, n_test: int, config: dict,
                      n_maps: int = 1000, masked_rows: int = 2, device="cpu", profile: str = "cpu") -> dict:
    """For each GAN (name -> GanRun), what its detector (the stored one of `detection_study`) keys on: Grad-CAM and
    input-gradient maps averaged over `n_maps` held-out generated digits, its AP and accuracy with the bottom
    `masked_rows` rows black, and the bottom-row statistics of real and generated test digits."""
    from .explain import bottom_row_study, gradcam_map, gradient_map, masked_detectability
    from .train import generate
    real_test = data.test_images[:n_test]
    out = {}
    for name, run in gans.items():
        detector, _ = get_detector(paths, name, run, data, n_train, config, device, profile=profile, progress=False)
        fake_test = generate(run.generator, n_test, seed=DETECTOR_TEST_NOISE_SEED, device=device)
        out[name] = {"gradcam": gradcam_map(detector, fake_test[:n_maps], device=device),
                     "gradient": gradient_map(detector, fake_test[:n_maps], device=device),
                     "masked": masked_detectability(detector, real_test, fake_test, masked_rows, device),
                     "bottom_row": bottom_row_study(real_test, fake_test)}
    return out
