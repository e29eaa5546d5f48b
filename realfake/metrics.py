"""Classification metrics from predicted probabilities (accuracy, per-class recall, confusion) and
confidence intervals (Wilson for a proportion, bootstrap for anything, over items or whole groups)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score


def classification_summary(labels: torch.Tensor, probs: torch.Tensor, class_names) -> dict:
    """Accuracy, balanced accuracy (mean per-class recall), recall and precision per class,
    one-vs-rest ROC AUC per class, and the confusion matrix (rows: true, columns: predicted)."""
    y = np.asarray(labels)
    p = np.asarray(probs)
    predicted = p.argmax(1)
    matrix = confusion_matrix(y, predicted, labels=range(len(class_names)))
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(matrix) / matrix.sum(1)
        precision = np.diag(matrix) / matrix.sum(0)
    auc = {}
    for c, name in enumerate(class_names):
        positives = y == c
        auc[name] = float(roc_auc_score(positives, p[:, c])) if 0 < positives.sum() < len(y) else float("nan")
    return {
        "n": int(len(y)),
        "accuracy": float((predicted == y).mean()),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "recall": {name: float(r) for name, r in zip(class_names, recall)},
        "precision": {name: float(r) for name, r in zip(class_names, precision)},
        "roc_auc": auc,
        "confusion": matrix.tolist(),
    }


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (well behaved near 0, 1 and for small n)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    z = float(norm.ppf(0.5 + level / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # the interval always holds p; min/max only undo rounding (at p = 1 the upper end came out as 0.99999...)
    return (float(min(p, max(0.0, centre - half))), float(max(p, min(1.0, centre + half))))


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n_items: int, groups=None, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(index)` over resamples of the items.

    groups  one group id per item (e.g. the generator that made each image): whole groups are
            resampled, so images of one generator, which are not independent, count once.
    statistic(index) receives an integer index array into the items and returns a number.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        members = [np.array([i]) for i in range(n_items)]
    else:
        groups = np.asarray(groups)
        members = [np.flatnonzero(groups == g) for g in pd.unique(groups)]
    values = []
    for _ in range(n_boot):
        chosen = rng.integers(0, len(members), len(members))
        values.append(statistic(np.concatenate([members[i] for i in chosen])))
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    alpha = (1 - level) / 2
    return (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))
