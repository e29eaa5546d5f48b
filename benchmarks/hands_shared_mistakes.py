"""Which held-out mistakes every network makes: no training, only predictions.

Several networks trained independently on the matching split (different training seeds, so different round-0
networks and pseudo-labels) predict its held-out images, flip-averaged as in the clean notebook. For each image it
counts how many of them get it wrong, and it scores their average (an ensemble). An image that every network gets
wrong is a property of the image and its generator rather than of one draw of the training: reseeding or averaging
these networks does not fix it. So the balanced accuracy of a network whose only mistakes were those is about the
most that another draw of the same recipe can be expected to score on each half. Each such image is listed with its
generator (`realfake.hands.mistakes` shows them beside their generator's training images).

A network is a stored model folder (e.g. model_best/validation_matching, the clean notebook's) or a round
checkpoint of benchmarks/hands_selftraining.py (`<stem>_round<r>.pt`; the checkpoint carries the config that
rebuilds the network):

    python benchmarks/hands_shared_mistakes.py --models model_best/validation_matching C1_round2.pt C2_round2.pt ...
    python benchmarks/hands_shared_mistakes.py    # model_best/validation_matching and the last round of every run
                                                  # checkpointed in results/checkpoints/hands_selftraining/
Writes results/hands_shared_mistakes.json; about a minute per network on one CPU thread. With fewer than two
networks there is nothing to compare: it says so and writes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from realfake.hands import CLASS_NAMES
from realfake.hands.evaluation import halves_scores, matching_benchmark_setup
from realfake.hands.mistakes import balanced_accuracy_if_only, shared_mistakes
from realfake.model_store import INFO, load_model
from realfake.models import build_model
from realfake.paths import repo_root, shown
from realfake.results import command_line
from realfake.state import atomic_write_text, read_json
from realfake.hands.train import predict_proba

SEED = 0


def load_network(path: Path) -> tuple[torch.nn.Module, dict]:
    """(network, its training config) from a stored model folder or a benchmark round checkpoint."""
    if path.is_dir():
        info = read_json(path / INFO, "stored model record")
        model, info = load_model(path, (info or {}).get("spec"))
        if model is None:
            raise SystemExit(f"{shown(path)}: {info}")
        return model, info["config"]
    try:   # read only: a checkpoint that is not one is the user's file to look at, not one to set aside
        saved = torch.load(path, map_location="cpu", weights_only=True)
        config, weights = saved["config"], saved["state"]["modules"]["model"]
    except Exception as error:  # noqa: BLE001 - whatever the reason, the file is named with it
        raise SystemExit(f"{shown(path)} is not a readable round checkpoint of benchmarks/hands_selftraining.py "
                         f"({type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else 'no detail'})")
    model = build_model(config["model"])
    model.load_state_dict(weights)
    return model.eval(), config


def default_networks(root: Path) -> list[Path]:
    """The clean notebook's matching model, and the last round checkpoint of every run in
    results/checkpoints/hands_selftraining/ (`<run>_round<r>.pt`), in name order."""
    last = {}   # run -> (its highest round, that round's checkpoint)
    for path in (root / "results" / "checkpoints" / "hands_selftraining").glob("*_round*.pt"):
        run, _, round_ = path.stem.rpartition("_round")
        if round_.isdigit():
            last[run] = max(last.get(run, (-1, None)), (int(round_), path))
    return [root / "model_best" / "validation_matching"] + [last[run][1] for run in sorted(last)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", type=Path, default=None,
                        help="stored model folders or round checkpoints (default: see above)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="default results/hands_shared_mistakes.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = repo_root()
    args.models = args.models or [path.relative_to(root) for path in default_networks(root)]
    if len(args.models) < 2:
        print("hands_shared_mistakes: nothing to compare, only", *map(shown, args.models), "- give --models, or "
              "checkpoint runs of benchmarks/hands_selftraining.py in results/checkpoints/hands_selftraining/ "
              "(--checkpoint results/checkpoints/hands_selftraining/<run>); nothing written")
        return
    _, val, halves, _ = matching_benchmark_setup(root, SEED)

    networks, predictions, summed = [], [], 0
    for path in args.models:
        model, _ = load_network(path)
        probs = predict_proba(model, val.pixels, "cpu", tta=True)
        scores = halves_scores(val, halves, probs, SEED)
        networks.append({"network": shown(path),
                         **{f"{half} balanced accuracy": round(scores[f"{half} balanced accuracy"], 4)
                            for half in halves}})
        predictions.append(probs.argmax(1))
        summed = summed + probs
        print(networks[-1], flush=True)

    averaged = halves_scores(val, halves, summed / len(args.models), SEED)
    wrong = shared_mistakes(val.labels, predictions)
    everyone = wrong == len(predictions)
    half_of = {int(row): half for half, (_, rows) in halves.items() for row in rows}
    most_predicted = torch.stack(predictions).mode(0).values
    result = {
        "about": __doc__.split("\n")[0],
        "command": command_line("benchmarks/hands_shared_mistakes.py", args),
        "networks": networks,
        "all networks averaged (an ensemble)": {f"{half} balanced accuracy": round(
            averaged[f"{half} balanced accuracy"], 4) for half in halves},
        "images wrong in k networks": {k: int((wrong == k).sum()) for k in range(len(predictions) + 1)},
        "balanced accuracy if only the mistakes of every network remained": {
            half: round(balanced_accuracy_if_only(val.labels[rows], everyone[rows]), 4)
            for half, (_, rows) in halves.items()},
        "wrong in every network": [
            {"image": os.path.relpath(val.names[i], root),   # as the repository names it (links not followed)
             "class": CLASS_NAMES[val.labels[i]], "predicted (most networks)": CLASS_NAMES[most_predicted[i]],
             "generator": val.sources[i] if val.labels[i] else "-", "half": half_of[i]}
            for i in torch.nonzero(everyone).flatten().tolist()],
    }
    out = args.out or root / "results" / "hands_shared_mistakes.json"
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "wrong in every network"}, indent=2))
    print("wrote", shown(out))


if __name__ == "__main__":
    main()
