"""One switch for how big a run is: REALFAKE_PROFILE=smoke|cpu|full.

smoke  every cell on a small subset in seconds (CI, nbval)
cpu    the main job on a laptop or a 2-core machine (minutes)
full   the GPU recipe (Colab)

Default: full when a CUDA GPU is visible, cpu otherwise. Every notebook reads it in its first
code cell and picks its settings with `choose(smoke=..., cpu=..., full=...)`.
"""
import os

import torch

PROFILES = ("smoke", "cpu", "full")


def current_profile() -> str:
    name = os.environ.get("REALFAKE_PROFILE", "").strip().lower()
    if not name:
        return "full" if torch.cuda.is_available() else "cpu"
    if name not in PROFILES:
        raise ValueError(f"REALFAKE_PROFILE={name!r} is not one of {', '.join(PROFILES)}")
    return name


def choose(profile: str | None = None, **per_profile):
    """The value for the current profile, e.g. choose(smoke=1, cpu=20, full=60)."""
    profile = profile or current_profile()
    missing = [p for p in PROFILES if p not in per_profile]
    if missing:
        raise ValueError(f"choose() needs a value for every profile; missing {missing}")
    return per_profile[profile]


def best_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
