"""The hand classifier's search objectives and its learning curves.

make_recipe_objective  what hands_classifier_hypertune.ipynb searches: the whole recipe the clean notebook trains
                       (network size, then self-training rounds, threshold and labelled share), scored on the selection
                       half after every round, so that the pruner stops recipes that fall behind
make_objective         the supervised training settings alone (configs/hands_best.json came from it)
learning_curve_*       validation scores against training-set size and epochs
"""
from __future__ import annotations

import optuna
import pandas as pd
import torch

from sklearn.metrics import balanced_accuracy_score

from ..tune import suggest
from .config import RECIPE_SPACE, SEARCH_SPACE, config_from_params, recipe_from_params
from .selftrain import self_train
from .train import predict_proba, train_classifier


def make_recipe_objective(train_data, select_data, pool, seed: int = 0, device=None, overrides: dict | None = None):
    """An Optuna objective over RECIPE_SPACE: self-train the trial's recipe on `train_data` with the unlabelled `pool`,
    and score balanced accuracy on `select_data` (flip-averaged, as the clean notebook predicts) after every round.
    overrides: training settings fixed for every trial (e.g. fewer epochs for a quick search)."""
    def objective(trial: optuna.Trial) -> float:
        config, settings = recipe_from_params(suggest(trial, RECIPE_SPACE), seed)
        config.update(overrides or {})
        scores = []

        def report(round_: int, model, pool_probs) -> None:
            predicted = predict_proba(model, select_data[0], device, tta=True).argmax(1)
            scores.append(float(balanced_accuracy_score(select_data[1], predicted)))
            trial.report(scores[-1], round_)
            if trial.should_prune():
                raise optuna.TrialPruned()

        _, history = self_train(config, *train_data, pool, device=device, progress=False, on_round_end=report,
                                **settings)
        trial.set_user_attr("score_by_round", scores)
        trial.set_user_attr("seconds", round(sum(r.get("seconds", 0) for r in history)))
        return scores[-1]
    return objective


def best_recipe(study: optuna.Study, seed: int = 0, overrides: dict | None = None) -> dict:
    """The best trial's recipe as configs/hands_recipe.json holds it, with where it came from."""
    best = study.best_trial
    config, settings = recipe_from_params(best.params, seed)
    return {"config": config, "self_training": settings, "study": study.study_name, "trial": best.number,
            "selection_balanced_accuracy": best.value, "search_overrides": overrides or {},
            "scored_on": "selection half of the matching validation (held-out images of every generator)"}


def make_objective(train_data, select_data, epochs: int, seed: int, device=None, overrides: dict | None = None):
    """An Optuna objective: balanced accuracy on the selection half of the validation images,
    reported after every epoch so the pruner can stop trials that fall behind."""
    def objective(trial: optuna.Trial) -> float:
        config = {**config_from_params(suggest(trial, SEARCH_SPACE), epochs, seed), **(overrides or {})}

        def report(epoch: int, record: dict) -> None:
            trial.report(record["val_bal_acc"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        _, history = train_classifier(config, *train_data, *select_data, device=device,
                                      on_epoch_end=report, progress=False)
        trial.set_user_attr("val_acc", history[-1]["val_acc"])
        trial.set_user_attr("seconds", sum(r["seconds"] for r in history))
        return history[-1]["val_bal_acc"]
    return objective


def best_record(study: optuna.Study, epochs: int, seed: int) -> dict:
    """The best trial's training config, with where it came from, for the clean notebook."""
    best = study.best_trial
    return {"config": config_from_params(best.params, epochs, seed), "study": study.study_name,
            "trial": best.number, "val_bal_acc": best.value, "val_acc": best.user_attrs.get("val_acc"),
            "scored_on": "selection half of the matching validation (held-out images of every generator)"}


def _fit_and_score(config: dict, pixels, labels, val_data, device) -> dict:
    _, history = train_classifier(config, pixels, labels, *val_data, device=device, progress=False)
    return {"val_acc": history[-1]["val_acc"], "val_bal_acc": history[-1]["val_bal_acc"],
            "seconds": sum(r["seconds"] for r in history)}


def learning_curve_by_size(config: dict, train_data, val_data, fractions, seed: int = 0, device=None) -> pd.DataFrame:
    """Validation scores after training on a class-stratified random fraction of the training set."""
    pixels, labels = train_data
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for fraction in fractions:
        index = torch.cat([
            members[torch.randperm(len(members), generator=generator)[:max(1, round(fraction * len(members)))]]
            for members in (torch.nonzero(labels == c).flatten() for c in labels.unique())])
        rows.append({"fraction": fraction, "train_images": len(index),
                     **_fit_and_score(config, pixels[index], labels[index], val_data, device)})
    return pd.DataFrame(rows)


def learning_curve_by_epochs(config: dict, train_data, val_data, epoch_budgets, device=None) -> pd.DataFrame:
    """Validation scores of separate runs with each epoch budget (the schedule scales with it)."""
    return pd.DataFrame([{"epochs": epochs, **_fit_and_score({**config, "epochs": epochs}, *train_data, val_data, device)}
                         for epochs in epoch_budgets])
