"""The steps the notebooks and the command line share: data for a profile, config for a profile, train or load.

    python -m realfake.sd_detector.pipeline --augment standard       # train (or resume) the cpu-profile detector
    python -m realfake.sd_detector.pipeline --augment cnndetection

The command does exactly what the clean notebook's training cell does (same config, same data, same code), so
the model it stores in model_best/sd_detector/<name>/ is the one the notebook loads.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from realfake.model_store import train_or_load
from realfake.loop import precision
from realfake.profile import choose, current_profile
from realfake.paths import run_paths
from realfake.sd_detector import data as cifake_data
from realfake.sd_detector.train import RECIPE, data_fingerprint, recipe_version, train_cifake

MODEL_NAMES = {"standard": "cifake_cnn", "cnndetection": "cifake_cnn_cnndetection"}

# VGG16 (the course's comparison) from scratch at 32x32: about 0.6 GFLOP per image forward, some 13 times the
# CIFAKE CNN (24 against 316 training images/s on one CPU thread), so the cpu profile trains it on 4000 images for
# 2 epochs (the full profile: the whole split, 20 epochs).
VGG_SETTINGS = {"model": {"name": "vgg16_32", "pretrained": False, "batch_norm": True}, "lr": 0.05,
                "weight_decay": 5e-4, "label_smoothing": 0.0, "batch_size": 64}


def model_folder_name(config: dict) -> str:
    name = config["model"]["name"]
    return name + ("_cnndetection" if config["augment"] == "cnndetection" else "")


def profile_settings(profile: str) -> dict:
    """How much data and how many epochs each profile uses."""
    return {
        "train_per_class": choose(profile, smoke=150, cpu=None, full=None),    # None = the whole split
        "test_per_class": choose(profile, smoke=100, cpu=None, full=None),
        "epochs": {"standard": choose(profile, smoke=2, cpu=24, full=30),
                   "cnndetection": choose(profile, smoke=1, cpu=3, full=30)},
    }


def load_cifake(profile: str, root: Path, cache_dir: Path | None = None, progress: bool = True):
    """(train Split, test Split) for the profile: the smoke profile takes a seeded subset of each class."""
    folder = cifake_data.find_cifake(root)
    settings = profile_settings(profile)
    cache_dir = cache_dir or root / ".cache" / "realfake"
    train = cifake_data.load_split(folder, "train", cache_dir, progress, settings["train_per_class"])
    test = cifake_data.load_split(folder, "test", cache_dir, progress, settings["test_per_class"])
    return train, test


def detector_config(profile: str, augment: str = "standard", best: dict | None = None) -> dict:
    """RECIPE with the profile's epochs and, when given, the tuned settings (from configs/sd_detector_best.json)."""
    config = copy.deepcopy(RECIPE)
    config["augment"] = augment
    config["epochs"] = profile_settings(profile)["epochs"][augment]
    if profile == "smoke":
        config["batch_size"] = 32
        config["lr"] = 0.02
        config["valid_fraction"] = 0.2
    for key, value in (best or {}).items():
        if key == "model":
            config["model"].update(value)
        elif key in config:
            config[key] = value
    return config


def vgg_config(profile: str) -> dict:
    """VGG16-from-scratch settings for the profile (subset and epochs, see VGG_SETTINGS)."""
    config = detector_config(profile, "standard")
    config.update(copy.deepcopy(VGG_SETTINGS))
    config["epochs"] = choose(profile, smoke=1, cpu=2, full=20)
    subset = choose(profile, smoke=None, cpu=4000, full=None)
    if subset:
        config["train_subset"] = subset          # absent: the whole train split (minus validation)
        config["valid_subset"] = 1000            # validation images scored after each epoch (VGG is slow)
    return config


def split_train_valid(train: cifake_data.Split, config: dict):
    """Validation = a seeded share of the train split; train_subset (if set) = a seeded subset of the rest."""
    index_train, index_valid = cifake_data.train_valid_split(len(train), config["valid_fraction"], config["seed"])
    if config.get("train_subset"):
        order = torch.randperm(len(index_train), generator=torch.Generator().manual_seed(config["seed"] + 1))
        index_train = index_train[order[:config["train_subset"]]].sort().values
    if config.get("valid_subset"):
        index_valid = index_valid[:config["valid_subset"]]
    return train.subset(index_train), train.subset(index_valid)


def train_or_load_detector(train: cifake_data.Split, config: dict, profile: str, paths=None, retrain: bool = False,
                           progress: bool = True, threads: int | None = 1):
    """Load model_best/sd_detector/<name> when it fits this data and network, else train (resumably) and store it."""
    paths = paths or run_paths(profile)
    name = model_folder_name(config)
    folder = paths.models / "sd_detector" / name
    checkpoint = paths.checkpoints / f"sd_{name}.pt"
    fingerprint = data_fingerprint(train.labels, train.names)
    fit_part, valid_part = split_train_valid(train, config)

    def train_now():
        started = time.process_time()
        model, history = train_cifake(fit_part.pixels, fit_part.labels, valid_part.pixels, valid_part.labels, config,
                                      checkpoint=checkpoint, fingerprint=fingerprint, progress=progress,
                                      retrain=retrain, threads=threads)
        history[-1]["process_cpu_seconds_this_call"] = time.process_time() - started
        return model, history

    note = {"profile": profile, "threads": threads, "precision": str(precision("cpu", config.get("bf16", True))),
            "trained_on": f"CIFAKE train split minus {len(valid_part)} validation images ({len(fit_part)} images)",
            "torch": torch.__version__}
    model, record = train_or_load(folder, config["model"], config, train_now, fingerprint=fingerprint,
                                  retrain=retrain, note=note, code=recipe_version())
    return model, record, valid_part


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--augment", choices=sorted(MODEL_NAMES), default="standard")
    parser.add_argument("--vgg", action="store_true", help="train the VGG16-from-scratch comparison instead")
    parser.add_argument("--best", default="configs/sd_detector_best.json", help="tuned settings, used when present")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = current_profile()
    paths = run_paths(profile)
    best_path = paths.root / args.best
    best = json.loads(best_path.read_text()).get("settings") if best_path.exists() else None
    config = vgg_config(profile) if args.vgg else detector_config(profile, args.augment, best)
    print(f"profile {profile}; config {json.dumps(config)}")
    train, _ = load_cifake(profile, paths.root)
    started = time.time()
    model, record, _ = train_or_load_detector(train, config, profile, paths, retrain=args.retrain)
    print(f"{record['source']}; wall {time.time() - started:.0f} s")
    for row in record["history"]:
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return 0


def try_pretrained(spec: dict):
    """(model, None) when the ImageNet weights for `spec` load, else (None, the reason in one paragraph).

    torch.hub's own "Downloading ..." line is kept out of the notebook, and the home folder is written as ~.
    """
    import contextlib
    import io

    from ..models import build_model
    from .models import PretrainedWeightsUnavailable
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return build_model(spec), None
    except PretrainedWeightsUnavailable as error:
        return None, str(error).replace(str(Path.home()), "~")


if __name__ == "__main__":
    raise SystemExit(main())
