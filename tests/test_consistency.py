"""Consistency training on unlabelled images (issue 6, FixMatch-style): the strong view, the loss, the pool."""
from __future__ import annotations

import json

import pytest
import torch

import realfake.selftrain as selftrain
from conftest import selftraining_run
from realfake.hands.config import make_config
from realfake.hands.evaluation import selftraining_table
from realfake.train import augment, strong_augment, to_input, train_classifier


def test_the_strong_view_cuts_out_a_square_per_image_and_is_seeded():
    x = torch.ones((5, 1, 32, 32))
    views = strong_augment(x, shift=2, generator=torch.Generator().manual_seed(0), jitter=0.0)
    assert views.shape == x.shape
    assert ((views == 0).sum(dim=(1, 2, 3)) == 12 * 12).all()     # one 12 x 12 square each, nothing else changed
    again = strong_augment(x, shift=2, generator=torch.Generator().manual_seed(0), jitter=0.0)
    assert torch.equal(views, again)
    squares = (views == 0).flatten(1)
    assert len({tuple(row.tolist()) for row in squares}) > 1          # drawn per image, not once per batch
    jittered = strong_augment(x, shift=0, generator=torch.Generator().manual_seed(1), cutout=1, jitter=0.25)
    levels = jittered.flatten(1).max(1).values
    assert levels.std() > 0 and (levels - 1).abs().max() <= 0.5 + 1e-6   # contrast and brightness, each within 0.25


def bright_or_dark(n: int, seed: int, contrast: float = 1.0):
    """Two classes, dark and bright, whose gap shrinks with `contrast`."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    level = 128 + contrast * torch.where(labels == 1, 60.0, -60.0)
    images = level[:, None, None, None] + 20 * torch.randn((n, 1, 32, 32), generator=generator)
    return images.clamp(0, 255).to(torch.uint8), labels


def disagreement(model, pixels) -> float:
    """How far the predictions on weak and strong views of `pixels` lie apart (mean total variation)."""
    generator = torch.Generator().manual_seed(5)
    x = to_input(pixels)
    with torch.no_grad():
        model.eval()
        weak = model(augment(x, True, 2, generator)).softmax(1)
        strong = model(strong_augment(x, 2, generator)).softmax(1)
    return float((weak - strong).abs().sum(1).mean() / 2)


def test_consistency_makes_strong_views_agree_with_weak_ones_on_the_unlabelled_images():
    pixels, labels = bright_or_dark(8, seed=0)
    pool, _ = bright_or_dark(400, seed=1)
    network = {"name": "handnet", "width": 8, "depth": 2, "dropout": 0.0, "n_classes": 2}
    config = make_config(model=network, epochs=10, epoch_size=160, batch_size=16, lr=1e-2)
    plain, _ = train_classifier(config, pixels, labels, device="cpu", progress=False)
    taught, history = train_classifier({**config, "consistency_weight": 1.0, "consistency_threshold": 0.8},
                                       pixels, labels, device="cpu", progress=False, unlabelled=pool)
    assert all(0 <= record["unlabelled_confident"] <= 1 for record in history)
    assert history[-1]["unlabelled_confident"] > 0.5        # the pool did teach
    assert disagreement(taught, pool) < 0.5 * disagreement(plain, pool)


def test_consistency_needs_unlabelled_images_and_a_new_pool_is_a_new_run(tmp_path, capsys):
    pixels, labels = bright_or_dark(8, seed=0)
    network = {"name": "handnet", "width": 4, "depth": 2, "n_classes": 2}
    config = {**make_config(model=network, epochs=1, batch_size=8), "consistency_weight": 1.0}
    with pytest.raises(ValueError, match="unlabelled"):
        train_classifier(config, pixels, labels, device="cpu", progress=False)
    checkpoint = tmp_path / "run.pt"
    first, _ = train_classifier(config, pixels, labels, device="cpu", unlabelled=bright_or_dark(20, 1)[0],
                                checkpoint=checkpoint, progress=False)
    capsys.readouterr()
    again, _ = train_classifier(config, pixels, labels, device="cpu", unlabelled=bright_or_dark(20, 1)[0],
                                checkpoint=checkpoint)
    assert "resuming from" in capsys.readouterr().out               # the same pool: resumed, not retrained
    other, _ = train_classifier(config, pixels, labels, device="cpu", unlabelled=bright_or_dark(20, 2)[0],
                                checkpoint=checkpoint)
    assert "made with another fingerprint" in capsys.readouterr().out   # another pool: trained afresh
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))


def test_self_training_gives_every_round_the_whole_pool_for_consistency(monkeypatch):
    pixels, labels = bright_or_dark(8, seed=0)
    pool, _ = bright_or_dark(30, seed=1)
    pools = []
    real = selftrain.train_classifier
    monkeypatch.setattr(selftrain, "train_classifier",
                        lambda config, x, y, **k: pools.append(k["unlabelled"]) or real(config, x, y, **k))
    network = {"name": "handnet", "width": 4, "depth": 2, "n_classes": 2}
    config = {**make_config(model=network, epochs=1, batch_size=8), "consistency_weight": 1.0}
    _, history = selftrain.self_train(config, pixels, labels, pool, rounds=1, threshold=0.0, labelled_share=0.5,
                                      device="cpu", progress=False)
    assert len(pools) == 2 and all(torch.equal(p, pool) for p in pools)
    assert all("unlabelled_confident" in record for record in history)


def test_the_self_training_table_names_consistency_runs(tmp_path):
    run = selftraining_run(0.8, [0.9], labelled_share=0.3, config={
        "model": {"width": 48}, "consistency_weight": 1.0, "consistency_threshold": 0.95})
    (tmp_path / "x.json").write_text(json.dumps(run))
    variant = selftraining_table(tmp_path).index[0][0]
    assert "consistency (weight 1, threshold 0.95)" in variant and variant.startswith("width 48")
