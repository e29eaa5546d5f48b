"""Self-training: a classifier teaches itself on unlabelled images, guarded against drift.

Round 0 trains on the labelled images alone. Each later round labels the unlabelled pool with
the previous round's model (flip-averaged probabilities), keeps the confident predictions as
pseudo-labels and trains a *fresh* model on labelled plus pseudo-labelled images:

    model_0 = train(labelled)
    for r in 1..rounds:
        confident = pool images whose predicted class has probability >= threshold
        model_r  = train(labelled + confident, sampling each class equally, and within a class
                         the labelled images `labelled_share` of the time)

Two guards against the failure of naive self-training (a generator the model gets wrong is
reinforced, and thousands of pseudo-labels swamp a few hundred labelled images): the labelled
images keep a fixed share of every class however many pseudo-labels there are, and each round
starts from random weights, so a round's mistakes are not carried in its weights, only in its labels.

The pool may hold validation images too (their labels hidden): that is how the gain is measured
honestly, with the validation images treated exactly as the unlabelled test images are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from .train import predict_proba, train_classifier


def mixed_sample_weights(labels: torch.Tensor, is_pseudo: torch.Tensor, labelled_share: float) -> torch.Tensor:
    """Sampling weights: every class equally likely; within a class, labelled images `labelled_share`
    of the time and pseudo-labelled ones the rest (a class with only one kind gets all of it)."""
    weights = torch.zeros(len(labels), dtype=torch.float64)
    for c in labels.unique():
        in_class = labels == c
        parts = [mask for mask in (in_class & ~is_pseudo, in_class & is_pseudo) if mask.any()]
        shares = [labelled_share, 1.0 - labelled_share] if len(parts) == 2 else [1.0]
        for mask, share in zip(parts, shares):
            weights[mask] = share / mask.sum()
    return weights


def pseudo_labels(probs: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the pool images predicted with probability >= threshold, and their predicted classes."""
    confidence, labels = probs.max(1)
    keep = torch.nonzero(confidence >= threshold).flatten()
    return keep, labels[keep]


def self_train(config: dict, pixels: torch.Tensor, labels: torch.Tensor, pool: torch.Tensor, rounds: int,
               threshold: float, labelled_share: float, device=None, checkpoint: Path | str | None = None,
               progress: bool = True, retrain: bool = False,
               on_round_end: Callable[[int, torch.nn.Module, torch.Tensor], None] | None = None):
    """Train `config` on labelled (pixels, labels) and `rounds` rounds of pseudo-labels on `pool`.

    checkpoint    file stem; round r checkpoints to `<stem>_round<r>.pt`, so an interrupted run resumes
    on_round_end  called with (round, model, pool probabilities) after every round (e.g. to score it)
    Returns (model, history): the last round's model, and its training history with, per epoch, the
    round it belongs to and how many pseudo-labels of each class that round used.
    """
    n_classes = int(labels.max()) + 1
    history, pool_probs, model = [], None, None
    for round_ in range(rounds + 1):
        if round_ == 0:
            keep, pseudo = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        else:
            keep, pseudo = pseudo_labels(pool_probs, threshold)
        # Each round has its own seed, and draws twice the labelled set per epoch once pseudo-labels join,
        # so the labelled images are seen as often as in round 0.
        this_round = {**config, "seed": config["seed"] + round_,
                      "epoch_size": (config["epoch_size"] or len(labels)) * (2 if round_ else 1)}
        counts = torch.bincount(pseudo, minlength=n_classes).tolist()
        if progress:
            print(f"self-training round {round_}/{rounds}: {len(labels)} labelled + {len(keep)} pseudo-labelled {counts}")
        stem = None if checkpoint is None else Path(checkpoint).with_name(f"{Path(checkpoint).stem}_round{round_}.pt")
        model, round_history = _train_round(this_round, pixels, labels, pool, keep, pseudo,
                                            labelled_share if round_ else None, device, stem, progress, retrain)
        history += [{**record, "round": round_, "pseudo_labels": counts} for record in round_history]
        pool_probs = predict_proba(model, pool, device, tta=True)
        if on_round_end is not None:
            on_round_end(round_, model, pool_probs)
    return model, history


def _train_round(config, pixels, labels, pool, keep, pseudo, labelled_share, device, checkpoint, progress, retrain):
    """One student: the labelled images plus the pool images `keep` with labels `pseudo`, the labelled ones
    `labelled_share` of each class's draws (None: plain sampling, as round 0)."""
    round_pixels = torch.cat([pixels, pool[keep]])
    round_labels = torch.cat([labels, pseudo])
    is_pseudo = torch.cat([torch.zeros(len(labels), dtype=torch.bool), torch.ones(len(keep), dtype=torch.bool)])
    weights = None if labelled_share is None else mixed_sample_weights(round_labels, is_pseudo, labelled_share)
    return train_classifier(config, round_pixels, round_labels, device=device, checkpoint=checkpoint,
                            progress=progress, retrain=retrain, sample_weights=weights)
