"""The hand classifier's training configs and its search space.

DEFAULT_CONFIG  the starting point of a config (and what the tests build small versions of)
FAST_CONFIG, SELF_TRAINING  the recipe's defaults: minutes per model on a 2-core CPU
RECIPE_FILE     configs/hands_recipe.json: the recipe the clean notebook trains (`load_recipe`), written by
                hands_classifier_hypertune.ipynb from its search over RECIPE_SPACE
RECIPE_SPACE    what that search covers: network size, self-training threshold, labelled share, rounds
SEARCH_SPACE    the supervised training settings searched earlier on a GPU (configs/hands_best.json), which
                fixed the learning rate, regularisation and augmentation the recipe keeps
"""
from __future__ import annotations

import json

DEFAULT_CONFIG = {
    "model": {"name": "handnet", "width": 32, "depth": 3, "dropout": 0.2},
    "epochs": 20,
    "epoch_size": None,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 5e-4,
    "label_smoothing": 0.1,
    "flip": True,
    "shift": 2,
    "seed": 0,
}

# The search space, in the order Optuna is asked (the order fixes what a seeded sampler draws):
# name -> (kind, arguments..., what it means). Network settings go to config["model"].
SEARCH_SPACE = {
    "width": ("categorical", [16, 24, 32, 48, 64], "channels of the first block: 16, 24, 32, 48, 64"),
    "depth": ("int", 2, 4, "pooling blocks: 2, 3, 4"),
    "dropout": ("float", 0.0, 0.5, "0 to 0.5"),
    "lr": ("float_log", 3e-4, 1e-2, "3e-4 to 1e-2 (log)"),
    "weight_decay": ("float_log", 1e-5, 1e-2, "1e-5 to 1e-2 (log)"),
    "label_smoothing": ("float", 0.0, 0.2, "0 to 0.2"),
    "batch_size": ("categorical", [64, 128, 256], "64, 128, 256"),
    "flip": ("categorical", [True, False], "True / False"),
    "shift": ("int", 0, 3, "0 to 3 pixels"),
}
MODEL_PARAMS = ("width", "depth", "dropout")


def make_config(**overrides) -> dict:
    """DEFAULT_CONFIG with `overrides` applied (the model may be given in part)."""
    config = json.loads(json.dumps(DEFAULT_CONFIG))
    for key, value in overrides.items():
        if key not in config:
            raise KeyError(f"unknown config key {key!r}; known: {sorted(config)}")
        config[key] = {**config[key], **value} if key == "model" else value
    return config


# The recipe the clean notebook trains: a network that the 2-core CPU trains in minutes,
# taught further by self-training on test_hands/ (`realfake.hands.selftrain`). Chosen on the selection half
# of the matching validation: benchmarks/hands_levers.py compared levers on the width-32 network
# (LEVERS_BASE_CONFIG), benchmarks/hands_selftraining.py compared self-training variants and widths
# round by round; width 48 with 2 rounds scored best. See results/hands_levers.json and
# results/hands_selftraining/.
LEVERS_BASE_CONFIG = make_config(model={"name": "handnet", "width": 32, "depth": 3, "dropout": 0.1}, lr=3e-3,
                                 batch_size=128, label_smoothing=0.05, epochs=12)
FAST_CONFIG = make_config(**{**LEVERS_BASE_CONFIG, "model": {**LEVERS_BASE_CONFIG["model"], "width": 48}})
SELF_TRAINING = {"rounds": 2, "threshold": 0.8, "labelled_share": 0.3}


def config_from_params(params: dict, epochs: int, seed: int) -> dict:
    """The training config for a set of searched parameters (a trial's, or the best one's)."""
    return make_config(model={k: params[k] for k in MODEL_PARAMS},
                       **{k: v for k, v in params.items() if k not in MODEL_PARAMS},
                       epochs=epochs, seed=seed)


# What hands_classifier_hypertune.ipynb searches: what the clean notebook trains. Every other training setting stays
# FAST_CONFIG's. name -> (kind, arguments..., what it means); network settings go to config["model"].
RECIPE_SPACE = {
    "width": ("categorical", [32, 48, 64], "channels of the first block"),
    "depth": ("int", 3, 4, "pooling blocks"),
    "rounds": ("int", 1, 3, "self-training rounds after the supervised one"),
    "threshold": ("float", 0.7, 0.95, "confidence a pseudo-label needs"),
    "labelled_share": ("float", 0.2, 0.5, "share of each class's draws kept for labelled images"),
}
RECIPE_FILE = "configs/hands_recipe.json"


def recipe_from_params(params: dict, seed: int = 0, base: dict | None = None) -> tuple[dict, dict]:
    """(training config, self-training settings) for a point of RECIPE_SPACE."""
    base = base or FAST_CONFIG
    config = make_config(**{**base, "model": {**base["model"], "width": params["width"], "depth": params["depth"]},
                            "seed": seed})
    return config, {"rounds": int(params["rounds"]), "threshold": float(params["threshold"]),
                    "labelled_share": float(params["labelled_share"])}


def load_recipe(root=".") -> tuple[dict, dict, dict]:
    """(config, self-training settings, the record) from configs/hands_recipe.json; a missing or damaged file is
    named with what to do."""
    from pathlib import Path

    from ..state import read_json
    path = Path(root) / RECIPE_FILE
    record = read_json(path, "the hands recipe")
    if record is None:
        raise FileNotFoundError(f"{RECIPE_FILE} is missing: run hands_classifier_hypertune.ipynb with "
                                "REALFAKE_SAVE_BEST=1 to write it, or restore it with git")
    return make_config(**record["config"]), dict(record["self_training"]), record
