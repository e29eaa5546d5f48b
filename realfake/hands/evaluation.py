"""Scores of the hand classifier on held-out images, with intervals that respect generators.

Images of one generator are not independent: a generator the network gets wrong is wrong on
most of its images. So intervals come from a bootstrap over *generators* (each real image is
its own group), not over images.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from sklearn.metrics import balanced_accuracy_score

from ..metrics import bootstrap_ci, classification_summary
from .data import CLASS_NAMES, HandData
from .config import LEVERS_BASE_CONFIG


def scores_with_intervals(data: HandData, probs: torch.Tensor, n_boot: int = 1000, seed: int = 0) -> dict:
    """classification_summary of `data` plus 95 % bootstrap intervals (over generators) of
    accuracy and balanced accuracy, and the number of generators per class."""
    summary = classification_summary(data.labels, probs, CLASS_NAMES)
    y, predicted = data.labels.numpy(), probs.argmax(1).numpy()

    def accuracy(index):
        return float((predicted[index] == y[index]).mean())

    def balanced(index):
        return balanced_accuracy_score(y[index], predicted[index])

    summary["accuracy_ci95"] = bootstrap_ci(accuracy, len(y), groups=data.sources, n_boot=n_boot, seed=seed)
    with warnings.catch_warnings():   # a resample may lack a class that is predicted: a mistake, counted as one
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        summary["balanced_accuracy_ci95"] = bootstrap_ci(balanced, len(y), groups=data.sources, n_boot=n_boot,
                                                         seed=seed)
    summary["generators"] = data.sources_per_class()
    return summary


def per_generator_errors(data: HandData, probs: torch.Tensor) -> "pd.DataFrame":
    """Held-out generated images per generator: how many, and the share classified correctly."""
    import pandas as pd
    predicted = probs.argmax(1).numpy()
    frame = pd.DataFrame({"generator": data.sources, "class": [CLASS_NAMES[c] for c in data.labels.tolist()],
                          "correct": predicted == data.labels.numpy()})
    frame = frame[frame["class"] != "real"]
    table = frame.groupby(["class", "generator"]).correct.agg(images="size", recall="mean").reset_index()
    return table.sort_values(["recall", "images"], ascending=[True, False]).reset_index(drop=True)


def scores_table(scores: dict[str, dict]) -> "pd.DataFrame":
    """One row per scored part (e.g. report half, selection half): images, accuracy and balanced
    accuracy with their 95 % intervals, and recall per class."""
    import pandas as pd
    return pd.DataFrame({name: {"images": s["n"], "accuracy": s["accuracy"],
                                "accuracy 95% CI": "{:.3f}-{:.3f}".format(*s["accuracy_ci95"]),
                                "balanced accuracy": s["balanced_accuracy"],
                                "balanced accuracy 95% CI": "{:.3f}-{:.3f}".format(*s["balanced_accuracy_ci95"]),
                                "recall real / VAE / GAN": " / ".join(f"{r:.3f}" for r in s["recall"].values())}
                         for name, s in scores.items()}).T.round(3)


def matching_benchmark_setup(root, seed: int, limit: int | None = None):
    """What the hands benchmarks score on: (train, val, halves, pool). train and val are the matching validation
    split (`validation_split(..., "matching", 0.2, seed)`); halves maps "selection" and "report" to (their images,
    their rows in val); pool is test_hands/ plus val's pixels, as the clean notebook's self-training pool.
    limit keeps only the first N labelled images per class (a quick check of a benchmark)."""
    from .data import load_hand_data, load_test_hands, validation_split
    data = load_hand_data(root, progress=False)
    if limit:
        data = data.take(torch.cat([torch.nonzero(data.labels == c).flatten()[:limit] for c in range(len(CLASS_NAMES))]))
    train_index, val_index, select_index, report_index = validation_split(data, "matching", 0.2, seed)
    halves = {"selection": (data.take(select_index), torch.searchsorted(val_index, select_index)),
              "report": (data.take(report_index), torch.searchsorted(val_index, report_index))}
    val = data.take(val_index)
    test = load_test_hands(root, progress=False)
    return data.take(train_index), val, halves, torch.cat([test.pixels[test.readable], val.pixels])


def halves_scores(val: HandData, halves: dict, probs: torch.Tensor, seed: int) -> dict:
    """A benchmark row's scores of `probs` (one row per image of val): balanced accuracy with its 95 % interval on
    each half, and recall per class over all of val."""
    row = {}
    for name, (part, rows_in_val) in halves.items():
        s = scores_with_intervals(part, probs[rows_in_val], n_boot=1000, seed=seed)
        row[f"{name} balanced accuracy"] = s["balanced_accuracy"]
        row[f"{name} 95% CI"] = [round(x, 4) for x in s["balanced_accuracy_ci95"]]
    row["recall real / VAE / GAN (all held out)"] = [
        round(float((probs.argmax(1)[val.labels == c] == c).float().mean()), 4) for c in range(len(CLASS_NAMES))]
    return row


def _readable_scores(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Intervals as "lo-hi" and recalls as "a / b / c", the columns rounded to 3 places."""
    for half in ("selection", "report"):
        frame[f"{half} 95% CI"] = frame[f"{half} 95% CI"].map(lambda ci: "{:.3f}-{:.3f}".format(*ci))
    frame["recall real / VAE / GAN (all held out)"] = frame["recall real / VAE / GAN (all held out)"].map(
        lambda r: " / ".join(f"{x:.3f}" for x in r))
    return frame.round(3)


def levers_table(path) -> "pd.DataFrame":
    """The table written by benchmarks/hands_levers.py: one row per lever, with its score on the selection
    half (where levers are compared) and the report half (the estimate) of the matching validation."""
    import json

    import pandas as pd
    levers = json.loads(Path(path).read_text())["levers"]
    return _readable_scores(pd.DataFrame(levers).set_index("lever"))


# The results files record levers measured and since removed from the recipe's code; the consistency threshold
# their runs used where their config gives none (FixMatch's).
CONSISTENCY_THRESHOLD = 0.95
# The parts of a lever's name that change round 0 (the supervised network); the others change the rounds after it.
ROUND_ZERO_PARTS = ("width", "depth", "group head", "consistency", "residual input", "cutout", "bf16", "ema")


def _lever_and_draw(run: dict) -> tuple[dict, str]:
    """What a results file of benchmarks/hands_selftraining.py measured, in words: the lever (part -> words: the
    settings that make it another recipe) and the draw (what makes it another sample of that recipe: seeds, threads,
    device)."""
    settings, config = run["self_training"], run.get("config", {})
    # the runs before the --width option all trained the levers' base width
    lever = {"width": f"width {config.get('model', {}).get('width', LEVERS_BASE_CONFIG['model']['width'])}",
             "threshold": f"threshold {settings['threshold']:g}",
             "labelled share": f"labelled share {settings['labelled_share']:g}"}
    depth = config.get("model", {}).get("depth", LEVERS_BASE_CONFIG["model"]["depth"])
    if depth != LEVERS_BASE_CONFIG["model"]["depth"]:   # named only where changed, so older names stay as they were
        lever["depth"] = f"depth {depth}"
    if config.get("group_weight"):
        lever["group head"] = f"generator head (loss weight {config['group_weight']:g})"
    if config.get("consistency_weight"):
        lever["consistency"] = (f"consistency (weight {config['consistency_weight']:g},"
                                f" threshold {config.get('consistency_threshold', CONSISTENCY_THRESHOLD):g})")
    if config.get("model", {}).get("name") == "handnet_residual":
        lever["residual input"] = "high-pass residual input"
    if config.get("cutout"):
        lever["cutout"] = f"{config['cutout']}-pixel cutout"
    if config.get("cpu_bf16"):
        lever["bf16"] = "bfloat16 on the CPU"
    if config.get("ema_decay"):
        lever["ema"] = f"moving average of weights (decay {config['ema_decay']:g})"
    if settings.get("folds"):
        lever["folds"] = f"out-of-fold pseudo-labels ({settings['folds']} parts)"
    if settings.get("pseudo_label_classes") is not None:
        lever["pseudo-label classes"] = ("pseudo-labels of " + " and ".join(
            CLASS_NAMES[c] for c in settings["pseudo_label_classes"]) + " only")
    students = settings.get("students") or {}
    noise = [f"{students['cutout']}-pixel cutout"] if students.get("cutout") else []
    noise += [f"dropout {students['model']['dropout']:g}"] if "dropout" in students.get("model", {}) else []
    if noise:
        lever["students"] = "noised students (" + ", ".join(noise) + ")"
    last_round = settings.get("last_round") or {}
    changes = [f"width {last_round['model']['width']}"] if "width" in last_round.get("model", {}) else []
    changes += [f"{last_round['epochs']} epochs"] if "epochs" in last_round else []
    if changes:
        lever["last round"] = "last round " + ", ".join(changes)

    draw = [f"seed {config['seed']}"] if config.get("seed", 0) else []   # the benchmark's default training seed is 0
    draw += [f"last round seed {last_round['seed']}"] if "seed" in last_round else []
    # Threads add up sums in another order, so they make another draw of the same seed. A file whose
    # rounds all came from checkpoints was trained by an earlier call: its thread count says nothing.
    if run.get("threads", 1) != 1 and not all(row["resumed from a checkpoint"] for row in run["rounds"]):
        draw.append(f"{run['threads']} threads")
    if run.get("device", "cpu") != "cpu":   # a GPU trains in bfloat16: another draw again
        draw.append(f"on {run['device']}")
    if run.get("label"):   # benchmark --label: what tells this run apart from another with its settings
        draw.append(run["label"])
    return lever, ", ".join(draw)


def _selftraining_runs(folder) -> list[tuple[dict, str, dict]]:
    """(lever, draw, run) for every results file of benchmarks/hands_selftraining.py in `folder`, by file name."""
    import json
    runs = [json.loads(path.read_text()) for path in sorted(Path(folder).glob("*.json"))]
    if not runs:
        raise FileNotFoundError(f"no results of benchmarks/hands_selftraining.py in {folder}")
    return [(*_lever_and_draw(run), run) for run in runs]


def selftraining_table(folder) -> "pd.DataFrame":
    """The files written by benchmarks/hands_selftraining.py (one per variant), one row per variant and
    round: its scores on the two halves of the matching validation, pseudo-labels and wall time."""
    import pandas as pd
    rows = []
    base_width = f"width {LEVERS_BASE_CONFIG['model']['width']}"   # named in the runs that changed it only
    for lever, draw, run in _selftraining_runs(folder):
        variant = ", ".join([words for words in lever.values() if words != base_width] + ([draw] if draw else []))
        if run.get("stopped"):   # a note added by hand when a run was cut short
            variant += f" (stopped after round {run['rounds'][-1]['round']})"
        rows += [{"variant": variant, **row} for row in run["rounds"]]
    frame = pd.DataFrame(rows).set_index(["variant", "round"])
    frame["pseudo-labels real / VAE / GAN"] = frame["pseudo-labels real / VAE / GAN"].map(
        lambda counts: "not recorded" if counts is None else " / ".join(map(str, counts)) if sum(counts) else "-")
    frame.loc[frame.index.get_level_values("round") == 0, "pseudo-labels real / VAE / GAN"] = "-"   # supervised
    frame["minutes"] = frame.pop("seconds").map(lambda s: None if s is None or pd.isna(s) else round(s / 60, 1))
    return _readable_scores(frame.drop(columns="resumed from a checkpoint"))


def selftraining_rows(folder, recipe: dict | None = None) -> list[dict]:
    """One dict per run and round of benchmarks/hands_selftraining.py in `folder`: "lever" (what it changes from
    `recipe`, default the committed FAST_CONFIG with SELF_TRAINING, or "the recipe"), "seed", and the round's scores.
    Round 0 depends only on the network's training, so its rows name only those changes. A round 0 shared by
    several files (resumed from one checkpoint) counts once."""
    from .config import FAST_CONFIG, SELF_TRAINING
    recipe_lever, _ = _lever_and_draw({**(recipe or {"config": FAST_CONFIG, "self_training": SELF_TRAINING}),
                                       "rounds": []})

    def changes(lever: dict, parts) -> str:
        return ", ".join(words for part, words in lever.items() if part in parts and words != recipe_lever.get(part))

    rows, seen = [], set()
    for lever, _, run in _selftraining_runs(folder):
        for row in run["rounds"]:
            named = {"lever": changes(lever, ROUND_ZERO_PARTS if row["round"] == 0 else lever) or "the recipe",
                     "seed": run.get("config", {}).get("seed", 0), **row}
            key = (named["lever"], row["round"], named["seed"], row["selection balanced accuracy"],
                   row["report balanced accuracy"])
            if key not in seen:
                seen.add(key)
                rows.append(named)
    return rows


def selftraining_summary(folder, recipe: dict | None = None) -> "pd.DataFrame":
    """The self-training results in a few rows: one per lever and round, over every run (seed, draw) that reached
    that round (`selftraining_rows`). Per row: how many runs, their mean score on each half, the range on the
    selection half, and the mean difference from the recipe run with the same training seed at the same round
    (several draws of one seed are averaged first), with the number of seeds paired."""
    import pandas as pd

    frame = pd.DataFrame(selftraining_rows(folder, recipe))
    halves = ("selection", "report")
    scores = [f"{half} balanced accuracy" for half in halves]
    recipe_means = frame[frame.lever == "the recipe"].groupby(["round", "seed"])[scores].mean()
    summary = []
    for (lever, round_), runs in frame.groupby(["lever", "round"]):
        paired = runs.merge(recipe_means.add_suffix(" (recipe)"), left_on=["round", "seed"], right_index=True)
        selection = runs["selection balanced accuracy"]
        row = {"lever": lever, "round": round_, "runs": len(runs), "seeds": ", ".join(map(str, sorted(set(runs.seed)))),
               "selection mean": selection.mean(), "selection range": f"{selection.min():.3f}-{selection.max():.3f}",
               "report mean": runs["report balanced accuracy"].mean()}
        for half, score in zip(halves, scores):
            row[f"{half} minus the recipe (seeds)"] = (
                "" if lever == "the recipe" or paired.empty else
                f"{(paired[score] - paired[f'{score} (recipe)']).mean():+.3f} ({len(paired)})")
        summary.append(row)
    table = pd.DataFrame(summary)
    table = table.assign(order=table.lever != "the recipe").sort_values(["order", "lever", "round"], kind="stable")
    return table.drop(columns="order").set_index(["lever", "round"]).round(3)
