"""The README's result tables, written from `results/*.json` and nowhere else.

    python -m realfake.report           # rewrite the generated blocks of README.md in place
    python -m realfake.report --check   # exit 1 if README.md differs from what the results say (tests/test_report.py)

README.md marks each generated block with `<!-- generated: NAME -->` ... `<!-- end: NAME -->`; everything between
the markers is replaced by `BLOCKS[NAME]()`. A number in the README's prose outside these blocks is a defect that
`tests/test_report.py` finds: results are only ever shown through a block.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


class MissingResult(KeyError):
    """A result the README shows is not in its results file; the message names the file and the key."""


def load(name: str) -> dict:
    path = RESULTS / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingResult(f"results/{name} is missing: run the notebook or benchmark that writes it") from None


def get(record: dict, key: str, source: str):
    """record[a][b][c] for key "a/b/c", or MissingResult naming the file and the key."""
    value = record
    for part in key.split("/"):
        if not isinstance(value, dict) or part not in value:
            raise MissingResult(f"results/{source} has no {key!r}")
        value = value[part]
    return value


def interval(low: float, high: float, digits: int = 3, percent: bool = False) -> str:
    if percent:
        return f"{100 * low:.{digits}f}–{100 * high:.{digits}f} %"
    return f"{low:.{digits}f}–{high:.{digits}f}"


# ---------------------------------------------------------------- task 1: hands

def hands_recipe_runs(folder: Path | None = None, round_: int = 2) -> list[dict]:
    """The committed recipe's runs on the matching validation (benchmarks/hands_selftraining.py), at `round_`:
    one dict per run (seed, selection, report), however many seeds and draws were measured."""
    from realfake.hands.evaluation import selftraining_rows
    rows = selftraining_rows(folder or RESULTS / "hands_selftraining")
    return [{"seed": row["seed"], "selection": row["selection balanced accuracy"],
             "report": row["report balanced accuracy"]}
            for row in rows if row["lever"] == "the recipe" and row["round"] == round_]


def hands_rows() -> list[list[str]]:
    metrics = load("hands_metrics.json")
    matching = get(metrics, "validation_matching_test/report_half", "hands_metrics.json")
    unseen = get(metrics, "validation_unseen_generators/report_half", "hands_metrics.json")
    runs = [run["report"] for run in hands_recipe_runs()]
    if not runs:
        raise MissingResult("results/hands_selftraining/ holds no run of the recipe")
    notebook = "[hands_classifier_clean](notebooks/hands_classifier_clean.ipynb)"
    return [
        ["1. Hands: real / VAE / GAN", f"balanced accuracy on held-out images of the generators in training "
         f"(what `test_hands/` holds), report half, n = {matching['n']}: mean of {len(runs)} runs of the recipe",
         f"**{mean(runs):.3f}**", f"range {min(runs):.3f}–{max(runs):.3f} over runs", notebook],
        ["", "same, the stored model that writes the CSV",
         f"{matching['balanced_accuracy']:.3f}", interval(*matching["balanced_accuracy_ci95"]), notebook],
        ["", f"same, generators never seen in training (n = {unseen['n']}, one model)",
         f"{unseen['balanced_accuracy']:.3f}", interval(*unseen["balanced_accuracy_ci95"]), notebook],
    ]


# ---------------------------------------------------------------- task 2: real vs generated

def cifake_rows() -> list[list[str]]:
    metrics = load("sd_detector_metrics.json")
    test = get(metrics, "test_at_0.5", "sd_detector_metrics.json")
    cross = get(metrics, "cross_source", "sd_detector_metrics.json")
    notebook = "[sd_detector_clean](notebooks/sd_detector_clean.ipynb)"
    return [
        ["2. Real vs generated", f"CIFAKE test accuracy, small CNN from scratch, image and mirror averaged "
         f"(n = {test['n']:,})", f"**{100 * test['accuracy']:.2f} %**", interval(*test["accuracy_ci"], 2, True),
         notebook],
        ["", f"the same CIFAKE detector on SD v1 renders vs photos shrunk to 32x32 (n = {cross['n']}), ROC AUC",
         f"{cross['roc_auc']:.2f}", interval(*cross["roc_auc_ci"], 2), notebook],
    ]


def headline_table() -> str:
    rows = hands_rows() + cifake_rows()
    lines = ["| task | result | value | 95 % interval | notebook |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


BLOCKS = {"headline": headline_table}
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(\n<!-- end: (?P=name) -->)", re.S)


def render(text: str) -> str:
    """`text` with every generated block rewritten from the results files."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"README block {name!r} is not one of {sorted(BLOCKS)}")
        return match.group(1) + BLOCKS[name]() + match.group(4)
    return BLOCK.sub(replace, text)


def prose(text: str) -> str:
    """`text` without its generated blocks and code blocks: what a person wrote by hand."""
    text = BLOCK.sub("", text)
    return re.sub(r"```.*?```", "", text, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realfake.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print(f"{args.readme.name} is out of date with results/: run `python -m realfake.report`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        from realfake.state import atomic_write_text
        atomic_write_text(args.readme, new)
        print(f"{args.readme.name}: generated blocks rewritten from results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
