"""Self-training: a classifier teaches itself on unlabelled images, guarded against drift.

Round 0 trains on the labelled images alone. Each later round labels the unlabelled pool with
the previous round's model (flip-averaged probabilities), keeps the confident predictions as
pseudo-labels and trains a *fresh* model on labelled plus pseudo-labelled images:

    model_0 = train(labelled)
    for r in 1..rounds:
        confident = pool images whose predicted class has probability >= threshold
        model_r  = train(labelled + confident, sampling each class equally, and within a class
                         the labelled images `labelled_share` of the time)

The last round may train another student than the rounds before (`last_round`: config changes such
as a wider network), the model that is kept; the teachers that label the pool stay cheaper. The
students of all rounds after round 0 may be trained differently from round 0 (`students`), for
instance with stronger noise, which Noisy Student (Xie et al. 2020) found is what lets a student
outgrow its teacher instead of copying its labels, mistakes included.

Two guards against the failure of naive self-training (a generator the model gets wrong is
reinforced, and thousands of pseudo-labels swamp a few hundred labelled images): the labelled
images keep a fixed share of every class however many pseudo-labels there are, and each round
starts from random weights, so a round's mistakes are not carried in its weights, only in its labels.

A third guard is optional (`folds` = K >= 2, out-of-fold pseudo-labels): a student trained on an image's
own pseudo-label learns it, so it repeats the teacher's mistake on that very image however its other
images of the same generator are labelled. With folds, the pool is split at random into K parts; each
later round trains K students, the k-th on the pseudo-labels of the other parts only, and predicts part k.
Every pool prediction (the next teacher's labels, and the scores of validation images in the pool) then
comes from a student that never saw that image's pseudo-label. It costs K trainings per round.

Another is optional too (`pseudo_label_classes`): only the pool images predicted to be these classes become
pseudo-labels. A class with plenty of labelled images of its own can be left out, so that an
image of another class that the teacher mistakes for it is never taught to be it.

The pool may hold validation images too (their labels hidden): that is how the gain is measured
honestly, with the validation images treated exactly as the unlabelled test images are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from .train import predict_proba, train_classifier


def round_config(config: dict, round_: int, rounds: int, last_round: dict | None = None,
                 students: dict | None = None) -> dict:
    """The config round `round_` of `rounds` trains: `config` with its own seed (config seed + round),
    `students`' changes in every round after round 0, and `last_round`'s on top of them in the last round
    (a "model" entry is merged, not replaced; a "seed" there wins)."""
    layers = ([students or {}] if round_ > 0 else []) + ([last_round or {}] if round_ == rounds else [])
    model, changes = dict(config["model"]), {}
    for layer in layers:
        model.update(layer.get("model", {}))
        changes.update({k: v for k, v in layer.items() if k != "model"})
    return {**config, "seed": config["seed"] + round_, **changes, "model": model}


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


def pseudo_labels(probs: torch.Tensor, threshold: float,
                  classes: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the pool images predicted with probability >= threshold, and their predicted classes;
    with `classes`, only the images predicted to be one of them."""
    confidence, labels = probs.max(1)
    wanted = torch.ones_like(labels, dtype=torch.bool) if classes is None else torch.isin(labels, torch.tensor(classes))
    keep = torch.nonzero((confidence >= threshold) & wanted).flatten()
    return keep, labels[keep]


def check_folds(folds: int) -> None:
    """Out-of-fold pseudo-labels need at least two parts (each learns from another); 0 turns them off."""
    if folds == 1 or folds < 0:
        raise ValueError(f"folds must be 0 (off) or at least 2, not {folds}")


def self_train(config: dict, pixels: torch.Tensor, labels: torch.Tensor, pool: torch.Tensor, rounds: int,
               threshold: float, labelled_share: float, last_round: dict | None = None, device=None,
               checkpoint: Path | str | None = None, progress: bool = True, retrain: bool = False,
               on_round_end: Callable[[int, torch.nn.Module, torch.Tensor], None] | None = None,
               groups: torch.Tensor | None = None, folds: int = 0, students: dict | None = None,
               pseudo_label_classes: Sequence[int] | None = None):
    """Train `config` on labelled (pixels, labels) and `rounds` rounds of pseudo-labels on `pool`.

    last_round    config changes for the last round only, e.g. {"model": {"width": 64}} (`round_config`)
    students      config changes for every round after round 0, e.g. {"cutout": 8, "model": {"dropout": 0.3}}
    pseudo_label_classes  only pool images predicted to be one of these classes become pseudo-labels (None: all);
                  a class left out trains on its labelled images alone, so no image of another class that the
                  teacher mistakes for it is taught to be it
    checkpoint    file stem; round r checkpoints to `<stem>_round<r>.pt`, so an interrupted run resumes
    on_round_end  called with (round, model, pool probabilities) after every round (e.g. to score it)
    config["consistency_weight"]  consistency training on the whole pool in every round as well (`train_classifier`)
    groups        each labelled image's group for config["group_weight"] (`train_classifier`); pseudo-labelled
                  images have none (-1)
    folds         K >= 2: out-of-fold pseudo-labels (the module docstring); round r's k-th student checkpoints
                  to `<stem>_round<r>_fold<k>.pt` and trains with seed + 1000 k. The pool probabilities given
                  to on_round_end are then the out-of-fold ones, and the model returned is the last fold's,
                  which saw the pseudo-labels of every other part: score pool images by those probabilities.
    Returns (model, history): the last round's model, and its training history with, per epoch, the
    round it belongs to and how many pseudo-labels of each class that round used.
    """
    check_folds(folds)
    fold_of = (torch.randperm(len(pool), generator=torch.Generator().manual_seed(config["seed"])) % folds
               if folds else None)   # each pool image's part
    n_classes = int(labels.max()) + 1
    history, pool_probs, model = [], None, None
    for round_ in range(rounds + 1):
        if round_ == 0:
            keep, pseudo = torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        else:
            keep, pseudo = pseudo_labels(pool_probs, threshold, pseudo_label_classes)
        # Each round draws twice the labelled set per epoch once pseudo-labels join, so the labelled
        # images are seen as often as in round 0.
        this_round = round_config(config, round_, rounds, last_round, students)
        this_round["epoch_size"] = (this_round["epoch_size"] or len(labels)) * (2 if round_ else 1)
        counts = torch.bincount(pseudo, minlength=n_classes).tolist()
        out_of_fold = bool(folds) and round_ > 0
        if progress:
            print(f"self-training round {round_}/{rounds}: {len(labels)} labelled + {len(keep)} pseudo-labelled {counts}"
                  + (f", {folds} out-of-fold students" if out_of_fold else ""))
        next_probs = torch.zeros(len(pool), n_classes) if out_of_fold else None
        for part in range(folds) if out_of_fold else [None]:
            used = fold_of[keep] != part if out_of_fold else slice(None)
            student = {**this_round, "seed": this_round["seed"] + 1000 * part} if out_of_fold else this_round
            name = f"_round{round_}" + (f"_fold{part}" if out_of_fold else "")
            stem = None if checkpoint is None else Path(checkpoint).with_name(f"{Path(checkpoint).stem}{name}.pt")
            model, round_history = _train_round(student, pixels, labels, pool, keep[used], pseudo[used],
                                                labelled_share if round_ else None, groups, device, stem, progress,
                                                retrain)
            history += [{**record, "round": round_, "pseudo_labels": counts} | ({"fold": part} if out_of_fold else {})
                        for record in round_history]
            if out_of_fold:
                held_out = fold_of == part
                next_probs[held_out] = predict_proba(model, pool[held_out], device, tta=True)
        pool_probs = predict_proba(model, pool, device, tta=True) if next_probs is None else next_probs
        if on_round_end is not None:
            on_round_end(round_, model, pool_probs)
    return model, history


def _train_round(config, pixels, labels, pool, keep, pseudo, labelled_share, groups, device, checkpoint, progress,
                 retrain):
    """One student: the labelled images plus the pool images `keep` with labels `pseudo`, the labelled ones
    `labelled_share` of each class's draws (None: plain sampling, as round 0)."""
    round_pixels = torch.cat([pixels, pool[keep]])
    round_labels = torch.cat([labels, pseudo])
    is_pseudo = torch.cat([torch.zeros(len(labels), dtype=torch.bool), torch.ones(len(keep), dtype=torch.bool)])
    weights = None if labelled_share is None else mixed_sample_weights(round_labels, is_pseudo, labelled_share)
    return train_classifier(config, round_pixels, round_labels, device=device, checkpoint=checkpoint,
                            progress=progress, retrain=retrain, unlabelled=pool, sample_weights=weights,
                            train_groups=None if groups is None else
                            torch.cat([groups, torch.full((len(keep),), -1, dtype=torch.long)]))
