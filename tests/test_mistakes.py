"""Where the held-out mistakes sit (realfake.hands.mistakes) and the benchmark that counts the shared ones."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from conftest import load_benchmark
from realfake.hands import HandData
from realfake.hands.config import make_config
from realfake.hands.mistakes import (balanced_accuracy_if_only, features, mistakes_table, plot_mistakes_with_siblings,
                                     shared_mistakes, sibling_ranks)
from realfake.model_store import save_model
from realfake.models import build_model
from realfake.hands.train import to_input, train_classifier

SPEC = {"name": "handnet", "width": 4, "depth": 2, "dropout": 0.0}


def hands(pixels, labels, sources) -> HandData:
    return HandData(pixels, torch.tensor(labels), list(sources), [f"img{i}.png" for i in range(len(labels))],
                    pd.DataFrame(), pd.DataFrame())


@pytest.fixture
def split():
    """Nine training images (three real, three of generator "amy" (VAE), three of "bob" (GAN)) and three held-out:
    a copy of amy's second training image, a copy of a real training image, and a new image of bob's."""
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (12, 1, 32, 32), dtype=torch.uint8, generator=generator)
    pixels[9], pixels[10] = pixels[4], pixels[1]
    train = hands(pixels[:9], [0, 0, 0, 1, 1, 1, 2, 2, 2], ["r0", "r1", "r2", "amy", "amy", "amy", "bob", "bob", "bob"])
    held_out = hands(pixels[9:], [1, 0, 2], ["amy", "r9", "bob"])
    torch.manual_seed(0)
    return build_model(SPEC).eval(), train, held_out


def test_a_held_out_copy_of_a_sibling_finds_it_first_and_a_real_hand_has_no_siblings(split):
    model, train, held_out = split
    assert features(model, train.pixels).shape == (9, 8)   # width 4, depth 2: 8 channels pooled
    copy, real, new = sibling_ranks(model, train, held_out, [0, 1, 2], n_nearest=3)
    assert copy["siblings"] == [3, 4, 5] and copy["nearest sibling rank"] == 1 and copy["nearest"][0] == 4
    assert real["siblings"] == [] and real["nearest sibling rank"] is None and real["nearest"][0] == 1
    assert new["siblings"] == [6, 7, 8] and 1 <= new["nearest sibling rank"] <= 7   # at worst behind 6 others


def test_the_mistakes_table_lists_only_the_mistakes_most_confident_first(split):
    model, train, held_out = split
    probs = torch.tensor([[0.6, 0.3, 0.1],    # VAE called real (0.6)
                          [0.8, 0.1, 0.1],    # real, right
                          [0.05, 0.9, 0.05]])  # GAN called VAE (0.9)
    table = mistakes_table(model, train, held_out, probs, n_nearest=3)
    assert list(table.image) == ["img2.png", "img0.png"]
    assert list(table["class"]) == ["GAN", "VAE"] and list(table.predicted) == ["VAE", "real"]
    assert list(table.generator) == ["bob", "amy"] and list(table["training siblings"]) == [3, 3]
    assert table["nearest sibling's rank"].iloc[1] == 1 and table["3 nearest training images"].iloc[1].startswith("VAE")
    figure = plot_mistakes_with_siblings(model, train, held_out, probs, n_siblings=4, n_nearest=2)
    titles = [ax.get_title() for ax in figure.axes]
    assert len(titles) == 2 * (1 + 4 + 2)   # two generated mistakes, a row each
    assert titles[:7] == ["GAN -> VAE", "sibling (GAN)", "sibling (GAN)", "sibling (GAN)", "", titles[5], titles[6]]
    assert all(title.startswith("nearest: ") for title in titles[5:7])
    assert not figure.axes[4].images   # bob has three siblings: the fourth cell stays blank


def test_shared_mistakes_and_the_score_they_leave():
    labels = torch.tensor([0, 0, 1, 1, 2])
    counts = shared_mistakes(labels, [torch.tensor([0, 1, 1, 1, 1]), torch.tensor([0, 2, 1, 0, 1])])
    assert counts.tolist() == [0, 2, 0, 1, 2]
    # only the images both networks got wrong: real recall 1/2, VAE 2/2, GAN 0/1
    assert balanced_accuracy_if_only(labels, counts == 2) == pytest.approx((0.5 + 1 + 0) / 3)


def test_the_benchmark_loads_a_stored_model_and_a_round_checkpoint_alike(tmp_path):
    benchmark = load_benchmark("hands_shared_mistakes")
    config = make_config(model=SPEC, epochs=1, epoch_size=32, batch_size=16, seed=3)
    pixels, labels = torch.randint(0, 256, (30, 1, 32, 32), dtype=torch.uint8), torch.arange(30) % 3
    model, history = train_classifier(config, pixels, labels, device="cpu", progress=False,
                                      checkpoint=tmp_path / "run_round0.pt")
    save_model(tmp_path / "stored", model, SPEC, config=config, history=history, fingerprint="x")
    x = torch.randn(2, 1, 32, 32)
    for path in (tmp_path / "stored", tmp_path / "run_round0.pt"):
        loaded, loaded_config = benchmark.load_network(path)
        assert loaded_config["seed"] == 3 and torch.allclose(loaded(x), model.eval()(x))
    (tmp_path / "broken_round0.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="broken_round0.pt is not a readable round checkpoint"):
        benchmark.load_network(tmp_path / "broken_round0.pt")
    assert (tmp_path / "broken_round0.pt").exists()   # named, and left where the user put it
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(SystemExit, match="empty_folder: no stored model"):
        benchmark.load_network(tmp_path / "empty_folder")


def test_by_default_the_benchmark_reads_the_last_round_of_every_checkpointed_run(tmp_path):
    folder = tmp_path / "results" / "checkpoints" / "hands_selftraining"
    folder.mkdir(parents=True)
    for name in ("seed3_round0.pt", "seed3_round2.pt", "seed3_round1.pt", "seed1_lever_round1.pt", "notes.txt"):
        (folder / name).write_bytes(b"")
    assert load_benchmark("hands_shared_mistakes").default_networks(tmp_path) == [
        tmp_path / "model_best" / "validation_matching", folder / "seed1_lever_round1.pt", folder / "seed3_round2.pt"]


def test_features_are_what_the_last_layer_reads():
    x = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    torch.manual_seed(0)
    model = build_model(SPEC).eval()
    # the last layer applied to the features gives the mean of the two views' logits
    logits = (model(to_input(x)) + model(to_input(x.flip(3)))) / 2
    assert torch.allclose(model.head[-1](features(model, x)), logits, atol=1e-5)
