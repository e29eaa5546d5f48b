"""Detector metrics with intervals, a threshold chosen on validation, calibration, robustness curves, and their plots.

Labels: 1 = generated (FAKE), 0 = real. Scores: probability of "generated".
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score, roc_curve

from realfake.metrics import bootstrap_ci, wilson_interval
from realfake import perturb
from realfake.sd_detector.train import predict_logits


def choose_threshold(labels, probs) -> float:
    """The threshold on P(generated) with the highest accuracy (ties: the one closest to 0.5). Use on validation only."""
    y, p = np.asarray(labels), np.asarray(probs)
    candidates = np.unique(np.concatenate([[0.5], p]))
    order = np.argsort(p)
    sorted_p, sorted_y = p[order], y[order]
    # accuracy at threshold t (predict 1 when p >= t) = (#neg below t + #pos at or above t) / n
    neg_below = np.searchsorted(sorted_p, candidates, side="left")
    neg_cum = np.concatenate([[0], np.cumsum(sorted_y == 0)])
    pos_cum = np.concatenate([[0], np.cumsum(sorted_y == 1)])
    accuracy = (neg_cum[neg_below] + (pos_cum[-1] - pos_cum[neg_below])) / len(y)
    best = accuracy.max()
    ties = candidates[accuracy == best]
    return float(ties[np.argmin(np.abs(ties - 0.5))])


def binary_metrics(labels, probs, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0) -> dict:
    """Accuracy (Wilson 95 % interval), AP and ROC AUC (bootstrap 95 % intervals), confusion matrix at `threshold`."""
    y, p = np.asarray(labels).astype(int), np.asarray(probs, dtype=float)
    predicted = (p >= threshold).astype(int)
    correct = int((predicted == y).sum())
    two_classes = 0 < y.sum() < len(y)

    def ap(index):
        return average_precision_score(y[index], p[index]) if 0 < y[index].sum() < len(index) else np.nan

    def auc(index):
        return roc_auc_score(y[index], p[index]) if 0 < y[index].sum() < len(index) else np.nan

    out = {"n": int(len(y)), "threshold": float(threshold), "accuracy": correct / max(len(y), 1),
           "accuracy_ci": list(wilson_interval(correct, len(y))),
           "confusion": confusion_matrix(y, predicted, labels=[0, 1]).tolist(),
           "recall_real": float((predicted[y == 0] == 0).mean()) if (y == 0).any() else float("nan"),
           "recall_fake": float((predicted[y == 1] == 1).mean()) if (y == 1).any() else float("nan")}
    if two_classes:
        out["average_precision"] = float(average_precision_score(y, p))
        out["roc_auc"] = float(roc_auc_score(y, p))
        if n_boot:
            out["average_precision_ci"] = list(bootstrap_ci(ap, len(y), n_boot=n_boot, seed=seed))
            out["roc_auc_ci"] = list(bootstrap_ci(auc, len(y), n_boot=n_boot, seed=seed))
    return out


def format_metrics(m: dict) -> str:
    text = (f"accuracy {m['accuracy']:.2%} (95% CI {m['accuracy_ci'][0]:.2%}-{m['accuracy_ci'][1]:.2%}) at threshold "
            f"{m['threshold']:.3f}, n = {m['n']}")
    if "average_precision" in m:
        text += f"; AP {m['average_precision']:.4f}"
        if "average_precision_ci" in m:
            text += f" ({m['average_precision_ci'][0]:.4f}-{m['average_precision_ci'][1]:.4f})"
        text += f"; ROC AUC {m['roc_auc']:.4f}"
        if "roc_auc_ci" in m:
            text += f" ({m['roc_auc_ci'][0]:.4f}-{m['roc_auc_ci'][1]:.4f})"
    return text


# ---------------------------------------------------------------- calibration

def reliability(labels, probs, bins: int = 15) -> pd.DataFrame:
    """Per confidence bin (confidence = probability of the predicted class): count, mean confidence, accuracy."""
    y, p = np.asarray(labels), np.asarray(probs, dtype=float)
    predicted = (p >= 0.5).astype(int)
    confidence = np.where(predicted == 1, p, 1 - p)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        rows.append({"low": edges[b], "high": edges[b + 1], "count": int(members.sum()),
                     "confidence": float(confidence[members].mean()) if members.any() else np.nan,
                     "accuracy": float((predicted[members] == y[members]).mean()) if members.any() else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(labels, probs, bins: int = 15) -> float:
    """ECE: bin-weighted mean |accuracy - confidence| over equal-width confidence bins (Guo et al. 2017)."""
    table = reliability(labels, probs, bins)
    used = table[table["count"] > 0]
    return float((used["count"] * (used["accuracy"] - used["confidence"]).abs()).sum() / max(used["count"].sum(), 1))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T) (Guo et al. 2017). Fit on validation only."""
    logits, labels = logits.detach().float(), labels.long()
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def plot_reliability(labels, curves: dict[str, np.ndarray], bins: int = 15, title: str = "Reliability diagram"):
    """One line per {name: probs}: accuracy against confidence per bin; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0.5, 1], [0.5, 1], "k:", lw=1, label="perfectly calibrated")
    for name, probs in curves.items():
        table = reliability(labels, probs, bins)
        used = table[table["count"] > 0]
        ax.plot(used["confidence"], used["accuracy"], "o-", ms=4,
                label=f"{name} (ECE {expected_calibration_error(labels, probs, bins):.4f})")
    ax.set(xlabel="confidence (probability of the predicted class)", ylabel="accuracy in the bin", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- robustness

def robustness_curves(model, pixels: torch.Tensor, labels: torch.Tensor, kinds=None, threshold: float = 0.5,
                      **predict_kwargs) -> pd.DataFrame:
    """Accuracy (Wilson interval) and AP of `model` on `pixels` perturbed by each kind at each strength."""
    y = labels.numpy()
    rows = []
    for kind in kinds or perturb.PERTURBATIONS:
        _, label, strengths = perturb.PERTURBATIONS[kind]
        for strength in strengths:
            perturbed = perturb.apply(pixels, kind, strength)
            probs = predict_logits(model, perturbed, **predict_kwargs).softmax(1)[:, 1].numpy()
            m = binary_metrics(y, probs, threshold, n_boot=0)
            rows.append({"kind": kind, "parameter": label, "strength": 100 if strength is None else strength,
                         "accuracy": m["accuracy"], "accuracy_low": m["accuracy_ci"][0],
                         "accuracy_high": m["accuracy_ci"][1], "average_precision": m["average_precision"]})
    return pd.DataFrame(rows)


def plot_robustness(curves: dict[str, pd.DataFrame], title: str = "Robustness on the CIFAKE test images"):
    """Accuracy (with 95 % band) and AP against each perturbation's strength, one line per model."""
    kinds = list(next(iter(curves.values()))["kind"].unique())
    fig, axes = plt.subplots(2, len(kinds), figsize=(3.3 * len(kinds), 5.6), squeeze=False)
    for j, kind in enumerate(kinds):
        for name, frame in curves.items():
            part = frame[frame.kind == kind].sort_values("strength")
            axes[0, j].plot(part.strength, part.accuracy, "o-", ms=3, label=name)
            axes[0, j].fill_between(part.strength, part.accuracy_low, part.accuracy_high, alpha=0.2)
            axes[1, j].plot(part.strength, part.average_precision, "o-", ms=3, label=name)
        parameter = next(iter(curves.values())).query("kind == @kind").parameter.iloc[0]
        axes[1, j].set_xlabel(parameter + (" (100 = no re-encoding)" if kind == "jpeg" else ""))
        if kind == "jpeg":
            for ax in axes[:, j]:
                ax.invert_xaxis()
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
        axes[0, j].set_title(kind)
    axes[0, 0].set_ylabel("accuracy (threshold 0.5)")
    axes[1, 0].set_ylabel("average precision")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_roc_binary(labels, curves: dict[str, np.ndarray], title: str = "ROC on the CIFAKE test split"):
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for name, probs in curves.items():
        fpr, tpr, _ = roc_curve(labels, probs)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, probs):.4f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate (real called generated)", ylabel="true positive rate (generated caught)",
           title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_history_curves(histories: dict[str, list[dict]], title: str = "Training"):
    """Training loss and validation accuracy against epoch, per model."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, history in histories.items():
        epochs = [r["epoch"] for r in history]
        axes[0].plot(epochs, [r["loss"] for r in history], "o-", ms=3, label=name)
        if "valid_accuracy" in history[0]:
            axes[1].plot(epochs, [r["valid_accuracy"] for r in history], "o-", ms=3, label=name)
    axes[0].set(xlabel="epoch", ylabel="training loss (label-smoothed)")
    axes[1].set(xlabel="epoch", ylabel="validation accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
