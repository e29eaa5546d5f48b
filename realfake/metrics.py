"""Classification metrics from predicted probabilities: accuracy, per-class recall, confusion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix, roc_auc_score


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
        "balanced_accuracy": float(np.nanmean(recall)),
        "recall": {name: float(r) for name, r in zip(class_names, recall)},
        "precision": {name: float(r) for name, r in zip(class_names, precision)},
        "roc_auc": auc,
        "confusion": matrix.tolist(),
    }


def summary_table(summary: dict, class_names) -> pd.DataFrame:
    """Per-class recall, precision, AUC and support as a small table for a notebook."""
    matrix = np.array(summary["confusion"])
    return pd.DataFrame({
        "images": matrix.sum(1),
        "recall": [summary["recall"][c] for c in class_names],
        "precision": [summary["precision"][c] for c in class_names],
        "ROC AUC (one vs rest)": [summary["roc_auc"][c] for c in class_names],
    }, index=list(class_names)).round(3)
