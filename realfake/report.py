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
    except json.JSONDecodeError as error:
        raise MissingResult(f"results/{name} is damaged ({error}): run the notebook or benchmark that writes it "
                            "again") from None


def get(record: dict, key: str, source: str):
    """record[a][b][c] for key "a/b/c", or MissingResult naming the file and the key."""
    value = record
    for part in key.split("/"):
        if not isinstance(value, dict) or part not in value:
            raise MissingResult(f"results/{source} has no {key!r}")
        value = value[part]
    return value


def values(name: str, *keys: str) -> list:
    """The values at `keys` ("a/b/c") of results/`name`, each or MissingResult naming the file and the key."""
    record = load(name)
    return [get(record, key, name) for key in keys]


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
    matching, unseen = values("hands_metrics.json", "validation_matching_test/report_half",
                              "validation_unseen_generators/report_half")
    runs = [run["report"] for run in hands_recipe_runs()]
    if not runs:
        raise MissingResult("results/hands_selftraining/ holds no run of the recipe")
    notebook = "[hands_classifier_clean](notebooks/hands_classifier_clean.ipynb)"
    return [
        ["1. Hands: real / VAE / GAN", f"balanced accuracy on held-out images of the generators in training "
         f"(what `test_hands/` holds), report half, n = {matching['n']}: mean of {len(runs)} runs of the recipe",
         f"**{mean(runs):.3f}**", f"range {min(runs):.3f}–{max(runs):.3f} over runs", notebook],
        ["", "same, the stored validation model (seed 0; the CSV's model is the recipe on all labelled images)",
         f"{matching['balanced_accuracy']:.3f}", interval(*matching["balanced_accuracy_ci95"]), notebook],
        ["", f"same, generators never seen in training (n = {unseen['n']}, one model)",
         f"{unseen['balanced_accuracy']:.3f}", interval(*unseen["balanced_accuracy_ci95"]), notebook],
    ]


# ---------------------------------------------------------------- task 2: real vs generated

def cifake_rows() -> list[list[str]]:
    test, cross = values("sd_detector_metrics.json", "test_at_0.5", "cross_source")
    notebook = "[sd_detector_clean](notebooks/sd_detector_clean.ipynb)"
    return [
        ["2. Real vs generated", f"CIFAKE test accuracy, small CNN from scratch, image and mirror averaged "
         f"(n = {test['n']:,})", f"**{100 * test['accuracy']:.2f} %**", interval(*test["accuracy_ci"], 2, True),
         notebook],
        ["", f"the same CIFAKE detector on SD v1 renders vs photos shrunk to 32x32 (n = {cross['n']}), ROC AUC",
         f"{cross['roc_auc']:.2f}", interval(*cross["roc_auc_ci"], 2), notebook],
    ]


# ---------------------------------------------------------------- run times, coursework answers

def run_times() -> str:
    """How long `make run` takes, from the times run_notebooks records (results/run_times.json)."""
    times = load("run_times.json")
    profile = "cpu" if "cpu" in times else sorted(times)[0]
    notebooks = {name: entry for name, entry in times[profile].items() if name.endswith("_clean.ipynb")}
    total = sum(entry["seconds"] for entry in notebooks.values())
    cores = max(entry.get("cpu_cores", 0) for entry in notebooks.values())
    parts = ", ".join(f"{name.removesuffix('_clean.ipynb')} {entry['seconds'] / 60:.0f}"
                      for name, entry in sorted(notebooks.items()))
    text = (f"On a {cores}-core CPU without a GPU, `make run` executes the clean notebooks in {total / 60:.0f} minutes "
            f"after the install ({parts} minutes; they load the stored models and retrain only the VGG16 comparison).")
    tests = times.get("smoke", {}).get("make test")
    if tests:
        text += (f" `make test` takes {tests['seconds'] / 60:.0f} minutes after the install on "
                 f"{tests.get('cpu_cores', '?')} cores.")
    return text


def q1() -> str:
    rows = hands_recipe_runs(round_=2)
    supervised = hands_recipe_runs(round_=0)
    shared = load("hands_shared_mistakes.json")
    wrong = shared["images wrong in k networks"]
    everywhere, networks = wrong[max(wrong, key=int)], max(map(int, wrong))
    leave = shared["balanced accuracy if only the mistakes of every network remained"]["report"]
    selection = [run["selection"] for run in rows]
    gain = mean(selection) - mean(run["selection"] for run in supervised)
    return ("> Day 1: on a GPU, search what the clean notebook trains (network width and depth, self-training "
            "threshold, labelled share, rounds) on the selection half, with several workers adding to one Optuna "
            "study (150 units). Day 2: train the five best settings with five seeds each; keep the best mean, not the "
            "best run (150). Day 3: go through the held-out images every network misses with the students whose "
            "generators made them: one is a real X-ray labelled VAE. Day 4: retrain on all labelled images, "
            "self-training on `test_hands/` (100). Day 5: calibration, the unseen-generator estimate, the write-up "
            f"(100). Evidence: self-training gained {gain:+.3f} on the selection half over the supervised network "
            f"(means of {len(rows)} and {len(supervised)} runs); no other lever beat the seed-to-seed range "
            f"({min(selection):.3f}–{max(selection):.3f}); {everywhere} held-out images are wrong in all {networks} "
            f"networks trained, and those alone would leave {leave:.3f}.")


def q2() -> str:
    search = load("hypertune_metrics_full.json")
    arch = search["best"]["config"]["arch"]
    images, epochs = search["learning_curve_images"], search["learning_curve_epochs"]
    best_epochs = max(epochs, key=lambda row: row["val_bal_acc"])
    return ("> More data. With the searched network (width {w}, depth {d}, supervised, scored on generators it "
            "never saw), {n0} training images gave balanced accuracy {a0:.2f} and {n1:,} gave {a1:.2f}, still "
            "climbing; {e0} to {e1} epochs moved it from {b0:.2f} to at most {b1:.2f}. New generators are the hard "
            "part, and only more varied generated images teach them. At 512x512 an image costs about 256 times a "
            "32x32 one, so compute must grow just to run the same recipe: spend it on native-resolution crops and "
            "more data, not epochs.").format(
        w=arch["width"], d=arch["depth"], n0=images[0]["train_images"], a0=images[0]["val_bal_acc"],
        n1=images[-1]["train_images"], a1=images[-1]["val_bal_acc"], e0=epochs[0]["epochs"], e1=epochs[-1]["epochs"],
        b0=epochs[0]["val_bal_acc"], b1=best_epochs["val_bal_acc"])


# ---------------------------------------------------------------- task 3: DCGAN

def dcgan_seed_runs() -> dict[int, float]:
    """seed -> FD to MNIST test of each run of the stored improved recipe (configs/dcgan_best.json): its own seed is the
    stored generator as the clean notebook reports it, the others benchmarks/dcgan_longer.py's runs of that recipe
    with another seed (the same evaluation)."""
    from .dcgan.search import longer_file
    recipe = json.loads((ROOT / "configs" / "dcgan_best.json").read_text())["config"]
    (fd,) = values("dcgan_metrics.json", "gans/improved/fd_test")
    runs = {recipe["seed"]: fd}
    pattern = longer_file(recipe["max_rotation"], "*", recipe["epochs"], recipe.get("lr_decay_epochs", 0))
    for path in sorted(RESULTS.glob(pattern)):
        seed = re.search(r"_seed(\d+)_", path.name)
        if seed is None:
            raise MissingResult(f"results/{path.name} looks like a seed run of the stored DCGAN recipe but names no "
                                "seed number; rename or remove it")
        (runs[int(seed.group(1))],) = values(path.name, "evaluation/fd_test")
    return dict(sorted(runs.items()))


def dcgan_rows() -> list[list[str]]:
    gans, floor, detection, quiz = values("dcgan_metrics.json", "gans", "floor_train_vs_test", "detection",
                                         "quiz_people/pooled")
    notebook = "[dcgan_mnist_clean](notebooks/dcgan_mnist_clean.ipynb)"
    found = detection["improved: detector"]
    seeds = dcgan_seed_runs()
    fds, anchors = list(seeds.values()), (f"course recipe {gans['reference']['fd_test']:.2f}; two real sets "
                                          f"{floor:.3f}")
    runs, value, spread = ((f": mean of {len(fds)} runs of its recipe (seeds {', '.join(map(str, seeds))}; the stored "
                            f"one {gans['improved']['fd_test']:.2f}; {anchors})", mean(fds),
                            f"range {min(fds):.2f}–{max(fds):.2f} over runs") if len(fds) > 1 else
                           (f", one run ({anchors})", gans["improved"]["fd_test"], "one run: none"))
    rows = [["3. DCGAN on MNIST", "Fréchet distance to MNIST test in the suite's classifier features, improved "
             f"generator{runs}", f"**{value:.2f}**", spread, notebook],
            ["", "a detector trained from scratch on the improved generator's digits, accuracy at probability 0.5 "
             f"(average precision {found['average_precision']:.3f}; n = {found['n_real'] + found['n_generated']:,})",
             f"{100 * found['accuracy']:.1f} %", interval(found["accuracy_low"], found["accuracy_high"], 1, True),
             notebook]]
    if quiz["n"]:
        rows.append(["", f"people telling generated digits from real ones, share right (n = {quiz['n']} answers)",
                     f"{100 * quiz['accuracy']:.0f} %", interval(quiz["low"], quiz["high"], 0, True), notebook])
    return rows


def native_rows() -> list[list[str]]:
    both, spread, stored, logo = values("sd_native_metrics.json", "logo_mean_jpeg_q90_both", "logo_range_jpeg_q90_both",
                                        "logo_mean_as_stored", "logo")
    notebook = "[sd_detector_clean](notebooks/sd_detector_clean.ipynb)"
    return [["", f"native-resolution detector on generators it never saw, ROC AUC, both classes re-encoded JPEG q90: "
             f"mean of {len(logo)} held-out generators (as stored: {stored['roc_auc']:.2f})",
             f"**{both['roc_auc']:.3f}**", f"range {spread['roc_auc'][0]:.3f}–{spread['roc_auc'][1]:.3f} "
             "over generators", notebook]]


def headline_table() -> str:
    rows = hands_rows() + cifake_rows() + native_rows() + dcgan_rows()
    lines = ["| task | result | value | 95 % interval | notebook |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


BLOCKS = {"headline": headline_table, "run-times": run_times, "q1": q1, "q2": q2}
BLOCK = re.compile(r"<!-- generated: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- end: (?P=name) -->", re.S)


def render(text: str) -> str:
    """`text` with every generated block rewritten from the results files."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"README block {name!r} is not one of {sorted(BLOCKS)}")
        return f"<!-- generated: {name} -->\n{BLOCKS[name]()}\n<!-- end: {name} -->"
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
