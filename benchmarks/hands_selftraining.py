"""How self-training gains round by round on the validation that matches test_hands/.

Trains the clean notebook's recipe (`realfake.hands.config`: FAST_CONFIG, then rounds of
`realfake.hands.selftrain`) on the matching split, exactly as the notebook's `fit_or_load` does: the
unlabelled pool is test_hands/ plus the held-out validation images, whose labels stay hidden. After
every round it scores the flip-averaged predictions on the selection half (where variants are
compared) and the report half (the estimate), with 95 % bootstrap intervals over generators, and
writes results/hands_selftraining/<variant>.json, so an interrupted run keeps the rounds it finished.

"seconds" is the wall time of a round on this machine (training plus labelling the 10,000-image pool);
a round resumed from a finished checkpoint says so and has no time.

    python benchmarks/hands_selftraining.py                                 # the committed recipe
    python benchmarks/hands_selftraining.py --threshold 0.8 --labelled-share 0.3   # a variant
    python benchmarks/hands_selftraining.py --width 32                       # the narrower network
    python benchmarks/hands_selftraining.py --width 64 --depth 4             # the searched network
    python benchmarks/hands_selftraining.py --seed 1                         # the whole recipe drawn again
    python benchmarks/hands_selftraining.py --rounds 1 --epochs 1 --limit 300 --out /tmp/x.json   # a check

The files in results/hands_selftraining/ also record levers measured with earlier versions of this script and
since removed from the code (a generator-naming head, consistency, cutout, weight averaging, bfloat16 on the CPU,
a residual input, out-of-fold, noised and last-round students, generated-only pseudo-labels); their "command"
names the options of that version. `realfake.hands.evaluation` still reads them.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from realfake.hands import CLASS_NAMES, make_config
from realfake.hands.config import FAST_CONFIG, LEVERS_BASE_CONFIG, SELF_TRAINING
from realfake.hands.evaluation import halves_scores, matching_benchmark_setup
from realfake.paths import repo_root
from realfake.results import command_line
from realfake.hands.selftrain import pseudo_labels, self_train
from realfake.state import atomic_write_text

SEED = 0


def variant_name(args) -> str:
    """The results file's stem: the self-training settings, then every setting that differs from the recipe's."""
    changes = [
        (args.width != LEVERS_BASE_CONFIG["model"]["width"], f"_width{args.width}"),   # files without one: width 32
        (args.depth != FAST_CONFIG["model"]["depth"], f"_depth{args.depth}"),
        (args.seed != SEED, f"_seed{args.seed}"),
    ]
    return (f"rounds{args.rounds}_threshold{args.threshold:g}_share{args.labelled_share:g}_epochs{args.epochs}" +
            "".join(suffix for changed, suffix in changes if changed))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=SELF_TRAINING["rounds"])
    parser.add_argument("--threshold", type=float, default=SELF_TRAINING["threshold"])
    parser.add_argument("--labelled-share", type=float, default=SELF_TRAINING["labelled_share"])
    parser.add_argument("--epochs", type=int, default=FAST_CONFIG["epochs"])
    parser.add_argument("--width", type=int, default=FAST_CONFIG["model"]["width"], help="channels of the first block")
    parser.add_argument("--depth", type=int, default=FAST_CONFIG["model"]["depth"],
                        help="pooling blocks (configs/hands_best.json, the searched network: width 64, depth 4)")
    parser.add_argument("--seed", type=int, default=SEED, help="training seed (the split keeps seed %d)" % SEED)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N labelled images per class")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where to train (default: the GPU if there is one; it trains in bfloat16)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint stem (rounds resume from it)")
    parser.add_argument("--out", default=None, help="default results/hands_selftraining/<variant>.json")
    parser.add_argument("--label", default=None,
                        help="words the table adds to this run's name, e.g. for a run that its settings do not tell "
                             "apart from another (give --out too)")
    return parser


def main():
    parser = build_parser()
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variant = variant_name(args)
    root = repo_root()
    out = Path(args.out) if args.out else root / "results" / "hands_selftraining" / f"{variant}.json"
    train, val, halves, pool = matching_benchmark_setup(root, SEED, args.limit)
    network = {**FAST_CONFIG["model"], "width": args.width, "depth": args.depth}
    config = make_config(**{**FAST_CONFIG, "epochs": args.epochs, "seed": args.seed, "model": network})
    rows, previous, last = [], [], time.time()
    resumed = set() if args.checkpoint is None else {   # rounds with a checkpoint already (finished or not)
        r for r in range(args.rounds + 1)
        if Path(args.checkpoint).with_name(f"{Path(args.checkpoint).stem}_round{r}.pt").exists()}

    def after_round(round_, model, pool_probs):
        nonlocal last, previous
        probs = pool_probs[-len(val):]
        # this round trained on the previous round's confident predictions (as self_train picks them)
        pseudo = (pseudo_labels(previous[0], args.threshold)[1] if previous
                  else torch.zeros(0, dtype=torch.long))
        previous = [pool_probs]
        row = {"round": round_, "seconds": None if round_ in resumed else round(time.time() - last),
               "resumed from a checkpoint": round_ in resumed,
               "pseudo-labels real / VAE / GAN": torch.bincount(pseudo, minlength=len(CLASS_NAMES)).tolist()}
        row.update(halves_scores(val, halves, probs, SEED))
        rows.append(row)
        last = time.time()
        print(json.dumps(row), flush=True)
        write()

    def write():
        atomic_write_text(out, json.dumps({
            "about": __doc__.split("\n\n")[0], "variant": variant,
            "command": command_line("benchmarks/hands_selftraining.py", args,
                                    leave_out=("out", "checkpoint", "device", "label")),
            "config": config, "self_training": {"rounds": args.rounds, "threshold": args.threshold,
                                                "labelled_share": args.labelled_share},
            "split": {"train": train.class_counts(), "selection": halves["selection"][0].class_counts(),
                      "report": halves["report"][0].class_counts()},
            "threads": args.threads, "device": args.device, **({"label": args.label} if args.label else {}),
            "rounds": rows}, indent=2) + "\n")

    self_train(config, train.pixels, train.labels, pool, rounds=args.rounds, threshold=args.threshold,
               labelled_share=args.labelled_share, device=args.device, checkpoint=args.checkpoint, progress=False,
               on_round_end=after_round)
    print("wrote", out)


if __name__ == "__main__":
    main()
