"""realfake.selftrain: sampling weights, pseudo-labels and the rounds, on toy data (seconds on one CPU thread)."""
from __future__ import annotations

import pytest
import torch

from conftest import load_benchmark, selftraining_run
from realfake.hands.config import make_config
from realfake.selftrain import mixed_sample_weights, pseudo_labels, round_config, self_train
from realfake.train import balanced_epoch


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
    keep, labels = pseudo_labels(probs, 0.8, classes=[1, 2])   # the confident "0" (row 0) is not kept
    assert keep.tolist() == [2, 3] and labels.tolist() == [2, 1]


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


def test_round_config_changes_only_the_last_round_and_merges_the_model():
    config = make_config(model={"width": 48, "depth": 3}, epochs=12, seed=5)
    last = {"model": {"width": 64}, "epochs": 18}
    first, middle, final = (round_config(config, r, 2, last) for r in range(3))
    assert [c["seed"] for c in (first, middle, final)] == [5, 6, 7]
    assert first["model"] == middle["model"] == config["model"] and first["epochs"] == middle["epochs"] == 12
    assert final["model"] == {**config["model"], "width": 64} and final["epochs"] == 18
    assert last == {"model": {"width": 64}, "epochs": 18}   # not consumed
    assert round_config(config, 2, 2)["model"] == config["model"]
    assert round_config(config, 2, 2, {"seed": 102})["seed"] == 102   # another draw of the same last round


def test_round_config_gives_students_their_changes_after_round_0_and_the_last_round_wins():
    config = make_config(model={"width": 48, "depth": 3, "dropout": 0.1}, epochs=12, seed=5)
    students = {"cutout": 8, "model": {"dropout": 0.3}}
    last = {"model": {"width": 64}, "cutout": 4}
    first, middle, final = (round_config(config, r, 2, last, students) for r in range(3))
    assert first == round_config(config, 0, 2) and "cutout" not in first        # round 0 is the plain network
    assert middle["cutout"] == 8 and middle["model"] == {**config["model"], "dropout": 0.3}
    assert final["cutout"] == 4 and final["model"] == {**config["model"], "dropout": 0.3, "width": 64}
    assert [c["seed"] for c in (first, middle, final)] == [5, 6, 7]
    assert students == {"cutout": 8, "model": {"dropout": 0.3}}                  # not consumed
    assert round_config(config, 1, 1, None, students)["cutout"] == 8


def test_noised_students_train_with_their_changes_and_round_0_without(monkeypatch):
    import realfake.selftrain as selftrain
    pixels, labels = separable(30, 0)
    pool, _ = separable(60, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=1, epoch_size=60, batch_size=30)
    trained = []
    real_train = selftrain.train_classifier
    monkeypatch.setattr(selftrain, "train_classifier", lambda c, *a, **k: trained.append(c) or real_train(c, *a, **k))
    self_train(config, pixels, labels, pool, 2, 0.5, 0.5, device="cpu", progress=False,
               students={"cutout": 8, "model": {"dropout": 0.4}})
    assert [c.get("cutout") for c in trained] == [None, 8, 8]
    assert [c["model"]["dropout"] for c in trained] == [config["model"]["dropout"], 0.4, 0.4]


def test_classes_left_out_of_the_pseudo_labels_train_on_labelled_images_alone(monkeypatch):
    import realfake.selftrain as selftrain
    pixels, labels = separable(30, 0)
    pool, _ = separable(90, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=2, epoch_size=90, batch_size=30, lr=1e-2)
    trained_on = []
    real_train = selftrain.train_classifier
    monkeypatch.setattr(selftrain, "train_classifier",
                        lambda c, x, y, *a, **k: trained_on.append((x, y)) or real_train(c, x, y, *a, **k))
    _, history = self_train(config, pixels, labels, pool, 2, 0.0, 0.5, device="cpu", progress=False,
                            pseudo_label_classes=[1, 2])
    for x, y in trained_on[1:]:
        # every labelled image, then pool images predicted 1 or 2 only (threshold 0: all such predictions)
        assert torch.equal(x[:30], pixels) and torch.equal(y[:30], labels)
        assert len(y) > 30 and set(y[30:].tolist()) <= {1, 2}
    assert all(record["pseudo_labels"][0] == 0 for record in history)
    # without the option the same rounds do pseudo-label class 0
    trained_on.clear()
    self_train(config, pixels, labels, pool, 1, 0.0, 0.5, device="cpu", progress=False)
    assert 0 in trained_on[1][1][30:].tolist()


def test_the_benchmark_names_its_results_file_by_what_differs_from_the_recipe():
    benchmark = load_benchmark("hands_selftraining")
    parser = benchmark.build_parser()
    assert benchmark.variant_name(parser.parse_args([])) == "rounds2_threshold0.8_share0.3_epochs12_width48"
    assert (benchmark.variant_name(parser.parse_args(["--seed", "2", "--student-cutout", "8", "--student-dropout",
                                                      "0.3"]))
            == "rounds2_threshold0.8_share0.3_epochs12_width48_seed2_studentcutout8_studentdropout0.3")
    assert (benchmark.variant_name(parser.parse_args(["--pseudo-label-classes", "VAE", "GAN"]))
            == "rounds2_threshold0.8_share0.3_epochs12_width48_pseudolabelsVAE_GAN")
    assert (benchmark.variant_name(parser.parse_args(["--width", "64", "--depth", "4", "--cpu-bf16"]))
            == "rounds2_threshold0.8_share0.3_epochs12_width64_depth4_cpubf16")
    with pytest.raises(SystemExit):
        parser.parse_args(["--pseudo-label-classes", "fake"])


def test_the_command_a_benchmark_stores_runs_the_same_settings_again():
    import shlex

    from realfake.results import command_line
    parser = load_benchmark("hands_selftraining").build_parser()
    args = parser.parse_args(["--rounds", "1", "--pseudo-label-classes", "VAE", "GAN", "--residual-input",
                              "--seed", "3", "--checkpoint", "/tmp/c", "--label", "drawn again"])
    command = command_line("benchmarks/hands_selftraining.py", args, leave_out=("checkpoint", "label"))
    assert "--pseudo-label-classes VAE GAN" in command and "--residual-input --" in command
    words = shlex.split(command)
    assert words[:2] == ["python", "benchmarks/hands_selftraining.py"]
    again = vars(parser.parse_args(words[2:]))
    assert again == {**vars(args), "checkpoint": None, "label": None}
    # a value with a space stays one word
    labelled = parser.parse_args(["--label", "drawn again"])
    assert shlex.split(command_line("b.py", labelled))[-2:] == ["--label", "drawn again"]


def test_the_last_round_trains_its_own_student(tmp_path):
    pixels, labels = separable(30, 0)
    pool, _ = separable(60, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=1, epoch_size=60, batch_size=30)
    seen = []
    model, history = self_train(config, pixels, labels, pool, 1, 0.5, 0.5, last_round={"model": {"width": 6}},
                                device="cpu", progress=False, on_round_end=lambda r, m, p: seen.append(m))
    first_conv = lambda m: next(p for p in m.parameters() if p.dim() == 4)
    assert first_conv(seen[0]).shape[0] == 4 and first_conv(model).shape[0] == 6 and seen[1] is model


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
    # a wider last-round student is stored as what it is, and loads back
    wider = {**st, "last_round": {"model": {"width": 6}}}
    _, record = fitting.fit_or_load(tmp_path / "w", config, pixels, labels, device="cpu", pool=pool,
                                    self_training=wider)
    assert record["spec"]["width"] == 6 and calls == [1, 1, 1]
    _, again = fitting.fit_or_load(tmp_path / "w", config, pixels, labels, device="cpu", pool=pool, self_training=wider)
    assert again["source"].startswith("loaded") and calls == [1, 1, 1]
    # so is a noised student (another dropout from round 1 on)
    noised = {**st, "students": {"model": {"dropout": 0.4}}}
    _, record = fitting.fit_or_load(tmp_path / "n", config, pixels, labels, device="cpu", pool=pool,
                                    self_training=noised)
    assert record["spec"]["dropout"] == 0.4 and calls == [1, 1, 1, 1]


def test_history_plot_draws_one_training_line_per_round():
    from realfake.plots import plot_history
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


def test_out_of_fold_students_never_predict_an_image_whose_pseudo_label_they_saw(monkeypatch):
    import realfake.selftrain as selftrain
    pixels, labels = separable(30, 0)
    pool, _ = separable(90, 1)
    row_of = {bytes(image.numpy()): i for i, image in enumerate(pool)}
    trained_on, predicted_by = {}, []   # model id -> pool rows it trained on; (model id, pool rows it predicted)
    students = []   # kept alive, so that no two students share an id
    real_train, real_predict = selftrain.train_classifier, selftrain.predict_proba

    def spy_train(config, round_pixels, *args, **kwargs):
        model, history = real_train(config, round_pixels, *args, **kwargs)
        trained_on[id(model)] = {row_of[bytes(image.numpy())] for image in round_pixels[len(pixels):]}
        students.append(model)
        return model, history

    def spy_predict(model, images, *args, **kwargs):
        predicted_by.append((id(model), [row_of[bytes(image.numpy())] for image in images]))
        return real_predict(model, images, *args, **kwargs)

    monkeypatch.setattr(selftrain, "train_classifier", spy_train)
    monkeypatch.setattr(selftrain, "predict_proba", spy_predict)
    config = make_config(model={"width": 4, "depth": 2}, epochs=2, epoch_size=90, batch_size=30, lr=1e-2)
    seen = []
    # threshold 0: every pool image gets a pseudo-label, so each student sees all parts but its own
    _, history = selftrain.self_train(config, pixels, labels, pool, rounds=2, threshold=0.0, labelled_share=0.5,
                                      device="cpu", progress=False, folds=3,
                                      on_round_end=lambda r, m, probs: seen.append(probs))
    assert len(trained_on) == 1 + 3 + 3 and len(predicted_by) == 1 + 3 + 3
    assert [record.get("fold") for record in history] == [None, None] + [0, 0, 1, 1, 2, 2] * 2
    for round_calls in (predicted_by[1:4], predicted_by[4:7]):
        # the three students of a round predict disjoint parts that cover the pool, each part unseen by its student
        assert sorted(row for _, rows in round_calls for row in rows) == list(range(len(pool)))
        for model, rows in round_calls:
            assert trained_on[model] == set(range(len(pool))) - set(rows)
    # every pool image has its out-of-fold probabilities, in its own row
    assert all(torch.allclose(probs.sum(1), torch.ones(len(pool))) for probs in seen)
    assert torch.equal(seen[1][predicted_by[2][1]], real_predict(students[2], pool[predicted_by[2][1]], "cpu", tta=True))


def test_folds_are_refused_where_they_cannot_work(tmp_path):
    import realfake.hands.fitting as fitting
    pixels, labels = separable(30, 0)
    pool, _ = separable(30, 1)
    config = make_config(model={"width": 4, "depth": 2}, epochs=1, epoch_size=30, batch_size=30)
    with pytest.raises(ValueError, match="at least 2"):
        self_train(config, pixels, labels, pool, 1, 0.5, 0.5, device="cpu", progress=False, folds=1)
    with pytest.raises(ValueError, match="hands_selftraining.py --folds"):
        fitting.fit_or_load(tmp_path, config, pixels, labels, device="cpu", pool=pool,
                            self_training={"rounds": 1, "threshold": 0.5, "labelled_share": 0.5, "folds": 2})
