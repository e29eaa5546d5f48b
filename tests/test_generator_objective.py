"""The generator-aware objective (issue 6): a second head that names each generated hand's generator."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

import realfake.selftrain as selftrain
from realfake.hands import HandData
from realfake.hands.config import make_config
from realfake.hands.data import generator_targets
from realfake.models import build_model
from realfake.train import to_input, train_classifier


def test_generator_targets_are_class_and_student_pairs_and_reals_have_none():
    labels = torch.tensor([0, 1, 2, 1, 2, 0, 1])
    sources = ["real_hands/a.png", "bob", "bob", "amy", "bob", "real_hands/b.png", "bob"]
    data = HandData(torch.zeros((7, 1, 32, 32), dtype=torch.uint8), labels, sources, [f"f{i}" for i in range(7)],
                    pd.DataFrame(), pd.DataFrame())
    targets, names = generator_targets(data)
    assert names == ["GAN:bob", "VAE:amy", "VAE:bob"]   # bob's VAE and GAN are two generators
    assert targets.tolist() == [-1, 2, 0, 1, 0, -1, 2]


def test_the_group_head_leaves_the_class_path_as_it_was():
    torch.manual_seed(0)
    plain = build_model({"name": "handnet", "width": 4, "depth": 2})
    torch.manual_seed(0)
    with_groups = build_model({"name": "handnet_groups", "width": 4, "depth": 2, "n_groups": 5}).eval()
    assert set(with_groups.state_dict()) - set(plain.state_dict()) == {"group_head.weight", "group_head.bias"}
    x = torch.randn(3, 1, 32, 32)
    classes, groups = with_groups.forward_with_groups(x)
    assert groups.shape == (3, 5)
    assert torch.allclose(classes, with_groups(x)) and torch.allclose(with_groups(x), plain.eval()(x))


def two_generators_per_class(n: int, seed: int = 0):
    """Class = brightness; within the generated classes, generator = how grainy the image is."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    grainy = (torch.arange(n) // 3) % 2
    noise = torch.randn((n, 1, 32, 32), generator=generator) * torch.where(grainy == 1, 30.0, 2.0)[:, None, None, None]
    images = torch.tensor([40.0, 128.0, 215.0])[labels][:, None, None, None] + noise
    groups = torch.where(labels == 0, -1, (labels - 1) * 2 + grainy)
    return images.clamp(0, 255).to(torch.uint8), labels, groups


def group_accuracy(model, pixels, groups) -> float:
    with torch.no_grad():
        _, logits = model.eval().forward_with_groups(to_input(pixels))
    named = groups >= 0
    return float((logits[named].argmax(1) == groups[named]).float().mean())


def test_the_group_loss_teaches_the_second_head_to_name_generators():
    pixels, labels, groups = two_generators_per_class(90)
    network = {"name": "handnet_groups", "width": 8, "depth": 2, "dropout": 0.0, "n_groups": 4}
    config = make_config(model=network, epochs=12, batch_size=30, lr=1e-2, flip=False, shift=0)
    taught, history = train_classifier({**config, "group_weight": 1.0}, pixels, labels, device="cpu",
                                       progress=False, train_groups=groups)
    untaught, _ = train_classifier(config, pixels, labels, device="cpu", progress=False)
    assert all(torch.isfinite(torch.tensor(record["train_loss"])) for record in history)
    assert group_accuracy(taught, pixels, groups) > 0.9
    assert group_accuracy(untaught, pixels, groups) < 0.75   # its head is never trained


def test_a_group_weight_needs_groups_and_batches_without_groups_train():
    pixels, labels, groups = two_generators_per_class(30)
    network = {"name": "handnet_groups", "width": 4, "depth": 2, "n_groups": 4}
    config = {**make_config(model=network, epochs=1, batch_size=10),
              "group_weight": 0.5}
    with pytest.raises(ValueError, match="train_groups"):
        train_classifier(config, pixels, labels, device="cpu", progress=False)
    _, history = train_classifier(config, pixels, labels, device="cpu", progress=False,
                                  train_groups=torch.full_like(groups, -1))   # only ignored targets: no NaN
    assert torch.isfinite(torch.tensor(history[0]["train_loss"]))


def test_self_training_gives_pseudo_labelled_images_no_generator(monkeypatch):
    pixels, labels, groups = two_generators_per_class(30)
    pool, _, _ = two_generators_per_class(60, seed=1)
    seen = []
    real = selftrain.train_classifier
    monkeypatch.setattr(selftrain, "train_classifier",
                        lambda config, x, y, **k: seen.append((len(y), k["train_groups"])) or real(config, x, y, **k))
    network = {"name": "handnet_groups", "width": 4, "depth": 2, "n_groups": 4}
    config = {**make_config(model=network, epochs=2, epoch_size=60, batch_size=30, lr=1e-2), "group_weight": 0.5}
    selftrain.self_train(config, pixels, labels, pool, rounds=1, threshold=0.0, labelled_share=0.5, device="cpu",
                         progress=False, groups=groups)
    (n0, groups0), (n1, groups1) = seen
    assert n0 == 30 and torch.equal(groups0, groups)
    assert n1 > 30 and torch.equal(groups1[:30], groups) and (groups1[30:] == -1).all()


def test_fit_or_load_trains_and_reloads_a_network_with_a_generator_head(tmp_path):
    from realfake.hands.fitting import fit_or_load
    pixels, labels, groups = two_generators_per_class(30)
    network = {"name": "handnet_groups", "width": 4, "depth": 2, "n_groups": 4}
    config = {**make_config(model=network, epochs=1, batch_size=10), "group_weight": 0.5}
    model, record = fit_or_load(tmp_path, config, pixels, labels, device="cpu", groups=groups)
    assert record["source"].startswith("trained") and record["spec"] == config["model"]
    assert record["spec"]["name"] == "handnet_groups"
    again, record = fit_or_load(tmp_path, config, pixels, labels, device="cpu", groups=groups)
    assert record["source"].startswith("loaded")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
