"""Train/validation splits that keep related images on one side."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def split_by_group(groups: list[str], labels: torch.Tensor, val_fraction: float, seed: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices such that no group (e.g. generator) is on both sides.

    Groups are drawn per class, so each class keeps about `val_fraction` of its groups (and,
    with equal-sized groups, of its images) in validation.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"group": list(groups), "label": np.asarray(labels)})
    val_groups: set[str] = set()
    for _, members in frame.groupby("label"):
        unique = np.array(sorted(members.group.unique()))
        rng.shuffle(unique)
        val_groups.update(unique[: max(1, round(val_fraction * len(unique)))])
    is_val = frame.group.isin(val_groups).to_numpy()
    return torch.from_numpy(np.flatnonzero(~is_val)), torch.from_numpy(np.flatnonzero(is_val))


def split_groups_in_two(groups: list[str], labels: torch.Tensor, index: torch.Tensor, seed: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the items at `index` in two halves by group, per class: one half to choose settings
    on, the other to report on, so the reported score is not the one that was maximised."""
    sub_groups = [groups[i] for i in index.tolist()]
    first, second = split_by_group(sub_groups, np.asarray(labels)[index.numpy()], 0.5, seed)
    return index[first], index[second]


def split_within_groups(groups: list[str], labels: torch.Tensor, val_fraction: float, seed: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation indices that hold out images *of* groups, not whole groups.

    Each group (within a class) with at least two items keeps round(val_fraction * size) of them (at least one)
    in validation and the rest in training, so every validation group also has training items:
    the split for a test set of unseen images from seen generators. Groups of one item (a real
    image is its own group) are drawn per class so that each class keeps about `val_fraction`
    of them in validation.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"group": list(groups), "label": np.asarray(labels)})
    is_val = np.zeros(len(frame), dtype=bool)
    sizes = frame.groupby(["label", "group"]).group.transform("size")
    for _, members in frame[sizes == 1].groupby("label"):
        index = members.index.to_numpy().copy()
        rng.shuffle(index)
        is_val[index[: round(val_fraction * len(index))]] = True
    for _, members in frame[sizes > 1].groupby(["label", "group"], sort=True):
        index = members.index.to_numpy().copy()
        rng.shuffle(index)
        is_val[index[: max(1, round(val_fraction * len(index)))]] = True
    return torch.from_numpy(np.flatnonzero(~is_val)), torch.from_numpy(np.flatnonzero(is_val))
