"""realfake.hands.selftrain: sampling weights, pseudo-labels and the rounds, on toy data (seconds on one CPU thread)."""
from __future__ import annotations

import pytest
import torch

from conftest import load_benchmark, selftraining_run
from realfake.hands.config import make_config
from realfake.hands.selftrain import mixed_sample_weights, pseudo_labels, self_train
from realfake.hands.train import balanced_epoch


def test_mixed_weights_balance_classes_and_keep_the_labelled_share():
    labels = torch.tensor([0] * 50 + [1] * 5 + [1] * 500 + [2] * 4)
    is_pseudo = torch.tensor([False] * 55 + [True] * 500 + [False] * 4)
    weights = mixed_sample_weights(labels, is_pseudo, labelled_share=0.7)
    per_class = [float(weights[labels == c].sum()) for c in range(3)]
    assert per_class == pytest.approx([1.0, 1.0, 1.0])
    # class 1: 5 labelled images get 70 % of its draws, the 500 pseudo-labelled ones 30 %
    assert float(weights[:55][labels[:55] == 1].sum()) == pytest.approx(0.7)
    assert float(weights[is_pseudo].sum()) == pytest.approx(0.3)
    # a class with only labelled images (0, 2) gets all of its weight there, spread evenly
    assert torch.allclose(weights[:50], torch.full((50,), 1 / 50, dtype=torch.float64))


def test_mixed_weights_without_pseudo_labels_are_class_balanced():
    labels = torch.tensor([0] * 30 + [1] * 3 + [2] * 6)
    weights = mixed_sample_weights(labels, torch.zeros(len(labels), dtype=torch.bool), 0.5)
    draws = torch.multinomial(weights, 30_000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(labels[draws], minlength=3).div(30_000).sub(1 / 3).abs().max() < 0.02
    same = balanced_epoch(labels, 30_000, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[same], minlength=3).div(30_000).sub(1 / 3).abs().max() < 0.02


def test_pseudo_labels_keep_only_confident_predictions():
    probs = torch.tensor([[0.95, 0.03, 0.02], [0.4, 0.35, 0.25], [0.05, 0.05, 0.9], [0.1, 0.85, 0.05]])
    keep, labels = pseudo_labels(probs, 0.9)
    assert keep.tolist() == [0, 2] and labels.tolist() == [0, 2]
    assert pseudo_labels(probs, 0.99)[0].numel() == 0
    keep, labels = pseudo_labels(probs, 0.8)
    assert keep.tolist() == [0, 2, 3] and labels.tolist() == [0, 2, 1]


def separable(n: int, seed: int):
    """Images whose class is their brightness (dark, grey, bright) plus noise: learnable in seconds."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    base = torch.tensor([40.0, 128.0, 215.0])[labels]
    noise = torch.randn((n, 1, 32, 32), generator=generator) * 20
    return (base[:, None, None, None] + noise).clamp(0, 255).to(torch.uint8), labels


def test_self_training_pseudo_labels_the_pool_and_records_each_round(tmp_path):
    pixels, labels = separable(30, 0)
    pool, pool_truth = separable(90, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=2, epoch_size=90, batch_size=30, lr=1e-2)
    seen = []
    model, history = self_train(config, pixels, labels, pool, rounds=2, threshold=0.5, labelled_share=0.5,
                                device="cpu", checkpoint=tmp_path / "st.pt", progress=False,
                                on_round_end=lambda r, m, probs: seen.append((r, probs)))
    assert [r for r, _ in seen] == [0, 1, 2]
    assert [record["round"] for record in history] == [0, 0, 1, 1, 2, 2]
    assert history[0]["pseudo_labels"] == [0, 0, 0] and sum(history[-1]["pseudo_labels"]) > 0
    # the pool's pseudo-labels follow its true classes (brightness) once the model has learnt them
    assert (seen[-1][1].argmax(1) == pool_truth).float().mean() > 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["st_round0.pt", "st_round1.pt", "st_round2.pt"]


def test_self_training_resumes_from_its_round_checkpoints(tmp_path):
    pixels, labels = separable(30, 0)
    pool, _ = separable(60, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=2, epoch_size=60, batch_size=30)
    first, _ = self_train(config, pixels, labels, pool, 1, 0.5, 0.5, device="cpu", checkpoint=tmp_path / "st.pt",
                          progress=False)
    again, history = self_train(config, pixels, labels, pool, 1, 0.5, 0.5, device="cpu",
                                checkpoint=tmp_path / "st.pt", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert [record["round"] for record in history] == [0, 0, 1, 1]


def test_each_round_trains_with_its_own_seed_and_twice_the_draws_once_pseudo_labels_join(monkeypatch):
    import realfake.hands.selftrain as selftrain
    pixels, labels = separable(30, 0)
    pool, _ = separable(60, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=1, epoch_size=None, batch_size=30, seed=5)
    trained = []
    real_train = selftrain.train_classifier
    monkeypatch.setattr(selftrain, "train_classifier", lambda c, *a, **k: trained.append(c) or real_train(c, *a, **k))
    self_train(config, pixels, labels, pool, 2, 0.5, 0.5, device="cpu", progress=False)
    assert [c["seed"] for c in trained] == [5, 6, 7]
    assert [c["epoch_size"] for c in trained] == [30, 60, 60]
    assert all(c["model"] == config["model"] for c in trained) and config["seed"] == 5 and config["epoch_size"] is None


def test_the_benchmark_names_its_results_file_by_what_differs_from_the_recipe():
    benchmark = load_benchmark("hands_selftraining")
    parser = benchmark.build_parser()
    assert benchmark.variant_name(parser.parse_args([])) == "rounds2_threshold0.8_share0.3_epochs12_width48"
    assert (benchmark.variant_name(parser.parse_args(["--seed", "2", "--threshold", "0.9"]))
            == "rounds2_threshold0.9_share0.3_epochs12_width48_seed2")
    assert (benchmark.variant_name(parser.parse_args(["--width", "64", "--depth", "4"]))
            == "rounds2_threshold0.8_share0.3_epochs12_width64_depth4")
    assert (benchmark.variant_name(parser.parse_args(["--width", "32", "--rounds", "1", "--labelled-share", "0.5"]))
            == "rounds1_threshold0.8_share0.5_epochs12")   # files without a width trained the levers' width 32
    with pytest.raises(SystemExit):
        parser.parse_args(["--cutout", "8"])   # a lever measured and removed


def test_the_command_a_benchmark_stores_runs_the_same_settings_again():
    import shlex

    from realfake.results import command_line
    parser = load_benchmark("hands_selftraining").build_parser()
    args = parser.parse_args(["--rounds", "1", "--threshold", "0.9", "--width", "64", "--depth", "4",
                              "--seed", "3", "--checkpoint", "/tmp/c", "--label", "drawn again"])
    command = command_line("benchmarks/hands_selftraining.py", args, leave_out=("checkpoint", "label"))
    assert "--threshold 0.9" in command and "--width 64 --depth 4" in command
    words = shlex.split(command)
    assert words[:2] == ["python", "benchmarks/hands_selftraining.py"]
    again = vars(parser.parse_args(words[2:]))
    assert again == {**vars(args), "checkpoint": None, "label": None}
    # a value with a space stays one word
    labelled = parser.parse_args(["--label", "drawn again"])
    assert shlex.split(command_line("b.py", labelled))[-2:] == ["--label", "drawn again"]
    # a flag is named alone and a list gives its items
    import argparse
    other = argparse.ArgumentParser()
    other.add_argument("--fast", action="store_true")
    other.add_argument("--classes", nargs="+")
    args = other.parse_args(["--fast", "--classes", "VAE", "GAN"])
    assert command_line("b.py", args) == "python b.py --fast --classes VAE GAN"
    assert other.parse_args(shlex.split(command_line("b.py", args))[2:]) == args


def test_fit_or_load_stores_a_self_trained_model_for_this_pool_only(tmp_path, monkeypatch):
    import realfake.hands.fitting as fitting
    pixels, labels = separable(30, 0)
    pool, _ = separable(60, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=1, epoch_size=60, batch_size=30)
    st = {"rounds": 1, "threshold": 0.5, "labelled_share": 0.5}
    calls = []
    real_self_train = fitting.self_train
    monkeypatch.setattr(fitting, "self_train", lambda *a, **k: calls.append(1) or real_self_train(*a, **k))
    _, record = fitting.fit_or_load(tmp_path, config, pixels, labels, device="cpu", pool=pool, self_training=st)
    assert calls == [1] and record["config"]["self_training"] == st and "+selftrain:" in record["code_version"]
    _, again = fitting.fit_or_load(tmp_path, config, pixels, labels, device="cpu", pool=pool, self_training=st)
    assert calls == [1] and again["source"].startswith("loaded")
    # another pool is other training data: retrain
    fitting.fit_or_load(tmp_path, config, pixels, labels, device="cpu", pool=pool[:30], self_training=st)
    assert calls == [1, 1]


def test_history_plot_draws_one_training_line_per_round():
    from realfake.hands.plots import plot_history
    history = [{"epoch": e, "round": r, "train_loss": 1.0 / e, "train_acc": 0.5} for r in range(3) for e in (1, 2)]
    left, right = plot_history(history).axes
    assert [line.get_label() for line in left.lines] == ["train, round 0", "train, round 1", "train, round 2"]
    assert all(list(line.get_xdata()) == [1, 2] for line in right.lines)   # epochs restart each round
    plain = plot_history([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.1, "val_acc": 0.4,
                           "val_bal_acc": 0.3}])
    assert [line.get_label() for line in plain.axes[1].lines] == [
        "train (augmented, balanced)", "validation accuracy", "validation balanced accuracy"]


def test_selftraining_table_reads_every_variant_round_by_round(tmp_path):
    import json

    from realfake.hands.evaluation import selftraining_table
    with pytest.raises(FileNotFoundError, match="hands_selftraining"):
        selftraining_table(tmp_path)

    (tmp_path / "a.json").write_text(json.dumps(selftraining_run(0.9, [0.90, 0.93, 0.95])))
    (tmp_path / "b.json").write_text(json.dumps(selftraining_run(0.8, [0.90, 0.92])))
    (tmp_path / "c.json").write_text(json.dumps(selftraining_run(0.8, [0.91], config={"model": {"width": 48}})))
    student = selftraining_run(0.8, [0.91, 0.95])
    student["self_training"]["last_round"] = {"model": {"width": 64}, "epochs": 18, "seed": 7}
    (tmp_path / "d.json").write_text(json.dumps({**student, "config": {"model": {"width": 48}}}))
    (tmp_path / "e.json").write_text(json.dumps(selftraining_run(
        0.8, [0.9], config={"model": {"width": 32}, "seed": 1, "group_weight": 0.5})))
    out_of_fold = selftraining_run(0.8, [0.9], config={"model": {"width": 48}, "seed": 2})
    out_of_fold["self_training"]["folds"] = 2
    (tmp_path / "f.json").write_text(json.dumps(out_of_fold))
    generated_only = selftraining_run(0.8, [0.9], config={"model": {"width": 48}, "seed": 3})
    generated_only["self_training"]["pseudo_label_classes"] = [1, 2]
    (tmp_path / "g.json").write_text(json.dumps(generated_only))
    (tmp_path / "h.json").write_text(json.dumps(selftraining_run(0.8, [0.9], label="drawn again 2026-12-03")))
    table = selftraining_table(tmp_path)
    assert list(table.index) == [("threshold 0.9, labelled share 0.5", r) for r in range(3)] + [
        ("threshold 0.8, labelled share 0.5", r) for r in range(2)] + [
        ("width 48, threshold 0.8, labelled share 0.5", 0)] + [
        ("width 48, threshold 0.8, labelled share 0.5, last round width 64, 18 epochs, last round seed 7", r)
        for r in range(2)] + [
        ("threshold 0.8, labelled share 0.5, generator head (loss weight 0.5), seed 1", 0)] + [
        ("width 48, threshold 0.8, labelled share 0.5, out-of-fold pseudo-labels (2 parts), seed 2", 0)] + [
        ("width 48, threshold 0.8, labelled share 0.5, pseudo-labels of VAE and GAN only, seed 3", 0)] + [
        ("threshold 0.8, labelled share 0.5, drawn again 2026-12-03", 0)]
    row = table.loc[("threshold 0.9, labelled share 0.5", 2)]
    assert row["selection balanced accuracy"] == 0.95 and row["selection 95% CI"] == "0.900-0.960"
    assert row["pseudo-labels real / VAE / GAN"] == "10 / 40 / 30" and row["minutes"] == 4.5
    assert table.loc[("threshold 0.8, labelled share 0.5", 0)]["pseudo-labels real / VAE / GAN"] == "-"
    cut_short = selftraining_run(0.7, [0.90, 0.91])
    cut_short["stopped"] = "stopped by hand"
    cut_short["rounds"][1]["pseudo-labels real / VAE / GAN"] = None   # not recorded by an older script
    (tmp_path / "c.json").write_text(json.dumps(cut_short))
    row = selftraining_table(tmp_path).loc[("threshold 0.7, labelled share 0.5 (stopped after round 1)", 1)]
    assert row["pseudo-labels real / VAE / GAN"] == "not recorded"


def test_selftraining_summary_pairs_each_lever_with_the_recipe_on_the_same_seed_and_round(tmp_path):
    import json

    from realfake.hands.evaluation import selftraining_summary

    def write(name, scores, seed=0, width=48, **fields):
        run = selftraining_run(fields.pop("threshold", 0.8), scores, labelled_share=fields.pop("labelled_share", 0.3),
                               config={"model": {"width": width}, "seed": seed, **fields.pop("config", {})}, **fields)
        (tmp_path / f"{name}.json").write_text(json.dumps(run))
        return run

    write("recipe_seed0", [0.90, 0.93, 0.95])
    again = write("recipe_seed0_last_round_again", [0.90, 0.93, 0.97])   # rounds 0-1 resumed from the run above
    again["self_training"]["last_round"] = {"seed": 7}
    (tmp_path / "recipe_seed0_last_round_again.json").write_text(json.dumps(again))
    write("recipe_seed1", [0.92, 0.94, 0.96], seed=1, threads=2)
    generated_only = write("generated_only", [0.90, 0.95, 0.97])   # its round 0 is the recipe's
    generated_only["self_training"]["pseudo_label_classes"] = [1, 2]
    (tmp_path / "generated_only.json").write_text(json.dumps(generated_only))
    write("narrow", [0.88, 0.94], width=32, threshold=0.9, labelled_share=0.5)
    write("cutout_seed2", [0.91], seed=2, config={"cutout": 8})   # no recipe run has seed 2

    table = selftraining_summary(tmp_path)
    assert list(table.index) == [("the recipe", 0), ("the recipe", 1), ("the recipe", 2), ("8-pixel cutout", 0),
                                 ("pseudo-labels of VAE and GAN only", 1), ("pseudo-labels of VAE and GAN only", 2),
                                 ("width 32", 0), ("width 32, threshold 0.9, labelled share 0.5", 1)]
    recipe = table.loc["the recipe"]
    assert list(recipe.runs) == [2, 2, 3]   # a round shared by two files counts once; two draws of seed 0 twice
    assert list(recipe["seeds"]) == ["0, 1", "0, 1", "0, 1"]
    assert recipe.loc[2, "selection mean"] == 0.96 and recipe.loc[2, "selection range"] == "0.950-0.970"
    assert recipe.loc[1, "report mean"] == 0.945 and recipe.loc[1, "selection minus the recipe (seeds)"] == ""
    # paired on seed 0, round for round; the recipe's two draws of seed 0 in round 2 are averaged first (0.96)
    assert table.loc[("pseudo-labels of VAE and GAN only", 1), "selection minus the recipe (seeds)"] == "+0.020 (1)"
    assert table.loc[("pseudo-labels of VAE and GAN only", 2), "selection minus the recipe (seeds)"] == "+0.010 (1)"
    assert table.loc[("width 32", 0), "report minus the recipe (seeds)"] == "-0.020 (1)"
    assert table.loc[("width 32, threshold 0.9, labelled share 0.5", 1), "selection minus the recipe (seeds)"] == (
        "+0.010 (1)")
    assert table.loc[("8-pixel cutout", 0), "selection minus the recipe (seeds)"] == ""   # nothing to pair with
    with pytest.raises(FileNotFoundError, match="hands_selftraining"):
        selftraining_summary(tmp_path / "empty")


def test_the_self_training_table_names_the_levers_the_results_files_record(tmp_path):
    """The committed results files name levers measured and since removed from the code: the table still reads them."""
    import json

    from realfake.hands.evaluation import selftraining_table
    for name, config in (("ema", {"model": {"name": "handnet", "width": 48}, "ema_decay": 0.99}),
                         ("residual", {"model": {"name": "handnet_residual", "width": 48}, "seed": 2}),
                         ("cutout", {"model": {"name": "handnet", "width": 48}, "cutout": 8}),
                         ("bf16", {"model": {"name": "handnet", "width": 48}, "cpu_bf16": True, "seed": 4}),
                         ("deeper", {"model": {"name": "handnet", "width": 64, "depth": 4}, "cpu_bf16": True}),
                         ("depth3", {"model": {"name": "handnet", "width": 48, "depth": 3}, "seed": 5}),
                         ("consistency", {"model": {"width": 48}, "consistency_weight": 1.0, "seed": 6,
                                          "consistency_threshold": 0.9})):
        (tmp_path / f"{name}.json").write_text(json.dumps(selftraining_run(
            0.8, [0.9], labelled_share=0.3, resumed_rounds=(), config=config, threads=2 if name == "cutout" else 1)))
    noised = selftraining_run(0.8, [0.9, 0.95], labelled_share=0.3, config={"model": {"width": 48}})
    noised["self_training"]["students"] = {"cutout": 8, "model": {"dropout": 0.3}}
    (tmp_path / "noised.json").write_text(json.dumps(noised))
    (tmp_path / "gpu.json").write_text(json.dumps(selftraining_run(
        0.8, [0.9], labelled_share=0.3, resumed_rounds=(), config={"model": {"width": 48}, "seed": 3}, device="cuda")))
    # trained by an earlier call (every round from a checkpoint): its thread count says nothing
    (tmp_path / "resumed.json").write_text(json.dumps(selftraining_run(
        0.8, [0.9], labelled_share=0.3, resumed_rounds=(0,), config={"model": {"width": 32}}, threads=2)))
    variants = sorted({variant for variant, _ in selftraining_table(tmp_path).index})
    assert variants == ["threshold 0.8, labelled share 0.3",
                        "width 48, threshold 0.8, labelled share 0.3, 8-pixel cutout, 2 threads",
                        "width 48, threshold 0.8, labelled share 0.3, bfloat16 on the CPU, seed 4",
                        "width 48, threshold 0.8, labelled share 0.3, consistency (weight 1, threshold 0.9), seed 6",
                        "width 48, threshold 0.8, labelled share 0.3, high-pass residual input, seed 2",
                        "width 48, threshold 0.8, labelled share 0.3, moving average of weights (decay 0.99)",
                        "width 48, threshold 0.8, labelled share 0.3, noised students (8-pixel cutout, dropout 0.3)",
                        "width 48, threshold 0.8, labelled share 0.3, seed 3, on cuda",
                        "width 48, threshold 0.8, labelled share 0.3, seed 5",   # depth 3 is the recipe's: not named
                        "width 64, threshold 0.8, labelled share 0.3, depth 4, bfloat16 on the CPU"]
    (tmp_path / "consistency.json").write_text(json.dumps(selftraining_run(0.8, [0.9], labelled_share=0.3, config={
        "model": {"width": 48}, "consistency_weight": 1.0})))   # no threshold recorded: FixMatch's
    assert any("consistency (weight 1, threshold 0.95)" in variant for variant, _ in selftraining_table(tmp_path).index)
