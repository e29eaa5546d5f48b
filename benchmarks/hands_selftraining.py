"""How self-training gains round by round on the validation that matches test_hands/ (issue 6).

Trains the clean notebook's recipe (`realfake.hands.config`: FAST_CONFIG, then rounds of
`realfake.selftrain`) on the matching split, exactly as the notebook's `fit_or_load` does: the
unlabelled pool is test_hands/ plus the held-out validation images, whose labels stay hidden. After
every round it scores the flip-averaged predictions on the selection half (where variants are
compared) and the report half (the estimate), with 95 % bootstrap intervals over generators, and
writes results/hands_selftraining/<variant>.json, so an interrupted run keeps the rounds it finished.

"seconds" is the wall time of a round on this machine (training plus labelling the 10,000-image pool);
a round resumed from a finished checkpoint says so and has no time.

    python benchmarks/hands_selftraining.py                                 # the committed recipe
    python benchmarks/hands_selftraining.py --threshold 0.8 --labelled-share 0.3   # a variant
    python benchmarks/hands_selftraining.py --width 32                       # the narrower network
    python benchmarks/hands_selftraining.py --last-round-width 64            # a wider student in the last round
    python benchmarks/hands_selftraining.py --width 64 --depth 4 --cpu-bf16  # the searched network (bfloat16: 2x)
    python benchmarks/hands_selftraining.py --last-round-seed 102 --checkpoint C   # the last round drawn again
    python benchmarks/hands_selftraining.py --group-weight 0.5               # + a head that names the generator
    python benchmarks/hands_selftraining.py --consistency-weight 1           # + FixMatch-style consistency on the pool
    python benchmarks/hands_selftraining.py --ema-decay 0.99 --rounds 0       # + a moving average of the weights
    python benchmarks/hands_selftraining.py --residual-input --rounds 0       # + a high-pass residual input
    python benchmarks/hands_selftraining.py --cutout 8 --rounds 0             # + an 8-pixel cutout per training image
    python benchmarks/hands_selftraining.py --folds 2                        # out-of-fold pseudo-labels
    python benchmarks/hands_selftraining.py --student-cutout 8 --student-dropout 0.3   # noised students
    python benchmarks/hands_selftraining.py --pseudo-label-classes VAE GAN   # no pseudo-labels of real
    python benchmarks/hands_selftraining.py --cpu-bf16 --threads 2          # bfloat16 on a CPU that has it
    python benchmarks/hands_selftraining.py --seed 1                         # the whole recipe drawn again
    python benchmarks/hands_selftraining.py --rounds 1 --epochs 1 --limit 300 --out /tmp/x.json   # a check
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from realfake.hands import CLASS_NAMES, make_config
from realfake.hands.data import generator_targets
from realfake.hands.config import FAST_CONFIG, LEVERS_BASE_CONFIG, SELF_TRAINING
from realfake.hands.evaluation import halves_scores, matching_benchmark_setup
from realfake.paths import repo_root
from realfake.results import command_line
from realfake.selftrain import check_folds, pseudo_labels, self_train
from realfake.state import atomic_write_text
from realfake.train import CONSISTENCY_THRESHOLD

SEED = 0


def variant_name(args) -> str:
    """The results file's stem: the self-training settings, then every setting that differs from the recipe's."""
    changes = [
        (args.width != LEVERS_BASE_CONFIG["model"]["width"], f"_width{args.width}"),   # files without one: width 32
        (args.depth != FAST_CONFIG["model"]["depth"], f"_depth{args.depth}"),
        (args.group_weight, f"_groups{args.group_weight:g}"),
        (args.consistency_weight, f"_consistency{args.consistency_weight:g}_at{args.consistency_threshold:g}"),
        (args.ema_decay, f"_ema{args.ema_decay:g}"),
        (args.residual_input, "_residual"),
        (args.cutout, f"_cutout{args.cutout}"),
        (args.seed != SEED, f"_seed{args.seed}"),
        (args.last_round_width is not None, f"_lastwidth{args.last_round_width}"),
        (args.last_round_epochs is not None, f"_lastepochs{args.last_round_epochs}"),
        (args.last_round_seed is not None, f"_lastseed{args.last_round_seed}"),
        (args.folds, f"_folds{args.folds}"),
        (args.student_cutout, f"_studentcutout{args.student_cutout}"),
        (args.student_dropout is not None, f"_studentdropout{args.student_dropout}"),
        (args.cpu_bf16, "_cpubf16"),
        (args.pseudo_label_classes, "_pseudolabels" + "_".join(args.pseudo_label_classes or [])),
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
    parser.add_argument("--last-round-width", type=int, default=None, help="another width for the last round's student")
    parser.add_argument("--last-round-epochs", type=int, default=None, help="other epochs for the last round")
    parser.add_argument("--last-round-seed", type=int, default=None, help="another seed for the last round (its noise)")
    parser.add_argument("--group-weight", type=float, default=0.0,
                        help="weight of the generator-naming head's loss (0: none, the committed recipe)")
    parser.add_argument("--consistency-weight", type=float, default=0.0,
                        help="weight of FixMatch-style consistency on the unlabelled pool (0: none, the committed recipe)")
    parser.add_argument("--consistency-threshold", type=float, default=CONSISTENCY_THRESHOLD,
                        help="confidence on the weak view above which it teaches the strong view")
    parser.add_argument("--ema-decay", type=float, default=0.0,
                        help="validate and keep a moving average of the weights with this decay per step (0: none)")
    parser.add_argument("--residual-input", action="store_true",
                        help="the network also reads the image minus its 3x3 local mean (handnet_residual)")
    parser.add_argument("--cutout", type=int, default=0,
                        help="a random square this many pixels a side set to the mean in every training image (0: none)")
    parser.add_argument("--folds", type=int, default=0,
                        help="out-of-fold pseudo-labels: K students per round, each predicting the pool part whose "
                             "pseudo-labels it did not see (realfake.selftrain; K times the training)")
    parser.add_argument("--student-cutout", type=int, default=0,
                        help="noised students: this cutout in every round after round 0 (0: none)")
    parser.add_argument("--student-dropout", type=float, default=None,
                        help="noised students: this dropout in every round after round 0 (default: the recipe's)")
    parser.add_argument("--pseudo-label-classes", nargs="+", choices=CLASS_NAMES, default=None,
                        help="only pool images predicted to be one of these classes become pseudo-labels "
                             "(default: all; e.g. VAE GAN: the real class trains on its labelled images alone)")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="train in bfloat16 on the CPU too (config cpu_bf16; benchmarks/hands_precision_speed.py)")
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
    if args.group_weight and args.residual_input:
        parser.error("--group-weight and --residual-input need two different networks; give one of them")
    try:
        check_folds(args.folds)
    except ValueError as error:
        parser.error(str(error))
    variant = variant_name(args)
    pseudo_label_classes = (None if args.pseudo_label_classes is None else
                            sorted(CLASS_NAMES.index(name) for name in args.pseudo_label_classes))
    students = {**({"cutout": args.student_cutout} if args.student_cutout else {}),
                **({"model": {"dropout": args.student_dropout}} if args.student_dropout is not None else {})}
    last_round = {**({"model": {"width": args.last_round_width}} if args.last_round_width else {}),
                  **({"epochs": args.last_round_epochs} if args.last_round_epochs else {}),
                  **({"seed": args.last_round_seed} if args.last_round_seed is not None else {})}
    root = repo_root()
    out = Path(args.out) if args.out else root / "results" / "hands_selftraining" / f"{variant}.json"
    train, val, halves, pool = matching_benchmark_setup(root, SEED, args.limit)
    groups, generators = generator_targets(train)
    network = {**FAST_CONFIG["model"], "width": args.width, "depth": args.depth}
    if args.group_weight:   # HandNet plus a head that names each labelled generated image's generator
        network.update(name="handnet_groups", n_groups=len(generators))
    if args.residual_input:
        network["name"] = "handnet_residual"
    config = make_config(**{**FAST_CONFIG, "epochs": args.epochs, "seed": args.seed, "model": network})
    if args.group_weight:
        config["group_weight"] = args.group_weight
    if args.consistency_weight:
        config.update(consistency_weight=args.consistency_weight, consistency_threshold=args.consistency_threshold)
    if args.ema_decay:
        config["ema_decay"] = args.ema_decay
    if args.cutout:
        config["cutout"] = args.cutout
    if args.cpu_bf16:
        config["cpu_bf16"] = True
    rows, previous, last = [], [], time.time()
    resumed = set() if args.checkpoint is None else {   # rounds with a checkpoint already (finished or not)
        r for r in range(args.rounds + 1)
        if Path(args.checkpoint).with_name(f"{Path(args.checkpoint).stem}_round{r}.pt").exists()}

    def after_round(round_, model, pool_probs):
        nonlocal last, previous
        probs = pool_probs[-len(val):]
        # this round trained on the previous round's confident predictions (as self_train picks them)
        pseudo = (pseudo_labels(previous[0], args.threshold, pseudo_label_classes)[1] if previous
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
                                                "labelled_share": args.labelled_share, "last_round": last_round,
                                                "students": students, "folds": args.folds,
                                                "pseudo_label_classes": pseudo_label_classes},
            "split": {"train": train.class_counts(), "selection": halves["selection"][0].class_counts(),
                      "report": halves["report"][0].class_counts()},
            "threads": args.threads, "device": args.device, **({"label": args.label} if args.label else {}),
            "rounds": rows}, indent=2) + "\n")

    self_train(config, train.pixels, train.labels, pool, rounds=args.rounds, threshold=args.threshold,
               labelled_share=args.labelled_share, last_round=last_round, device=args.device,
               checkpoint=args.checkpoint, progress=False, on_round_end=after_round,
               groups=groups if args.group_weight else None, folds=args.folds, students=students,
               pseudo_label_classes=pseudo_label_classes)
    print("wrote", out)


if __name__ == "__main__":
    main()
