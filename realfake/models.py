"""Architectures by name: `build_model({"name": "handnet", "width": 64, ...})`.

Each task registers its networks in its own package (`realfake/hands/model.py`,
`realfake/sd_detector/models.py`, `realfake/dcgan/models.py`) with `@register_model("name")`.
A model spec is a plain dict, stored with the weights, so a checkpoint or `model_best/` entry
carries everything needed to rebuild its network (as nanoGPT's checkpoints do).
"""
from __future__ import annotations

import importlib
from typing import Callable

from torch import nn

REGISTRY: dict[str, Callable[..., nn.Module]] = {}
# Task modules that register models; imported on first use so that `build_model` finds every name.
PROVIDERS = ("realfake.hands.model", "realfake.sd_detector.models", "realfake.sd_detector.native_model",
             "realfake.dcgan.models", "realfake.dcgan.resize_models")


def register_model(name: str):
    """Class or factory decorator: `build_model({"name": name, **kwargs})` calls it with kwargs."""
    def decorate(factory):
        if name in REGISTRY and REGISTRY[name] is not factory:
            raise ValueError(f"model name {name!r} is registered twice")
        REGISTRY[name] = factory
        return factory
    return decorate


def _load_providers() -> None:
    for module in PROVIDERS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:  # the provider exists but something it needs is missing
                raise


def model_factory(name: str) -> Callable[..., nn.Module]:
    if name not in REGISTRY:
        _load_providers()
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def build_model(spec: dict) -> nn.Module:
    """The network described by `spec`: its "name" picks the architecture, the rest are its arguments."""
    if "name" not in spec:
        raise KeyError(f"model spec {spec} has no 'name'; known names: {sorted(REGISTRY) or 'see realfake.models'}")
    arguments = {k: v for k, v in spec.items() if k != "name"}
    return model_factory(spec["name"])(**arguments)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
