"""realfake.hands.train, realfake.model_store and realfake.metrics on toy data (seconds on one CPU thread)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import realfake.hands.train as train
from realfake.metrics import classification_summary
from realfake.hands.dedup import data_fingerprint
from realfake.hands.config import DEFAULT_CONFIG, make_config
from realfake.model_store import load_model, save_model
from realfake.hands.train import balanced_epoch, predict_proba, to_input, train_classifier
from realfake.perturb import flip_shift

TINY = dict(model={"width": 4, "depth": 2}, epochs=2, epoch_size=64, batch_size=32)


def tiny_config(**overrides):
    return make_config(**{**TINY, **overrides})


def fit(config, data, **kwargs):
    pixels, labels = data
    return train_classifier(config, pixels, labels, device="cpu", progress=False, **kwargs)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def without_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


class Interrupt(Exception):
    pass


def interrupt_after(epoch: int):
    def on_epoch_end(done, record):
        if done == epoch:
            raise Interrupt(done)
    return on_epoch_end


# ---------------------------------------------------------------- config

def test_make_config_merges_model_and_copies():
    config = make_config(model={"width": 4}, epochs=3)
    assert config["model"] == {"name": "handnet", "width": 4, "depth": 3, "dropout": 0.2}
    assert config["epochs"] == 3 and config["batch_size"] == DEFAULT_CONFIG["batch_size"]
    config["model"]["depth"] = 99
    assert DEFAULT_CONFIG["model"]["depth"] == 3 and make_config()["model"]["depth"] == 3
    with pytest.raises(KeyError, match="unknown config key 'epoch'"):
        make_config(epoch=3)


# ---------------------------------------------------------------- determinism and resuming

@pytest.fixture(scope="module")
def module_data():
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (60, 1, 32, 32), dtype=torch.uint8, generator=generator)
    return pixels, torch.arange(60) % 3


@pytest.fixture(scope="module")
def reference(module_data):
    """The uninterrupted tiny run with seed 0 (dropout 0.2, the default)."""
    return fit(tiny_config(), module_data)


def test_history_records(reference):
    model, history = reference
    assert [r["epoch"] for r in history] == [1, 2]
    for record in history:
        assert {"train_loss", "train_acc", "lr", "seconds"} <= set(record)
        assert 0 <= record["train_acc"] <= 1 and math.isfinite(record["train_loss"])
    assert not model.training


def test_same_seed_same_predictions(module_data, reference):
    pixels, _ = module_data
    again, history = fit(tiny_config(), module_data)
    subset = pixels[:16]
    assert torch.equal(predict_proba(reference[0], subset), predict_proba(again, subset))
    assert same_weights(reference[0], again)
    assert without_seconds(history) == without_seconds(reference[1])


def test_other_seed_other_predictions(module_data, reference):
    pixels, _ = module_data
    other, _ = fit(tiny_config(seed=1), module_data)
    subset = pixels[:16]
    assert not torch.equal(predict_proba(reference[0], subset), predict_proba(other, subset))


def test_validation_metrics_in_history(module_data):
    pixels, labels = module_data
    _, history = train_classifier(tiny_config(epochs=1), pixels[:45], labels[:45], pixels[45:], labels[45:],
                                  device="cpu", progress=False)
    record = history[0]
    assert {"val_loss", "val_acc", "val_bal_acc"} <= set(record)
    assert 0 <= record["val_acc"] <= 1 and 0 <= record["val_bal_acc"] <= 1


def test_finished_checkpoint_returns_without_training(module_data, tmp_path, monkeypatch):
    checkpoint = tmp_path / "ck" / "run.pt"
    model, history = fit(tiny_config(), module_data, checkpoint=checkpoint)
    assert checkpoint.exists()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the checkpoint is complete")
    monkeypatch.setattr(train, "balanced_epoch", no_training)
    again, history_again = fit(tiny_config(), module_data, checkpoint=checkpoint)
    assert len(history_again) == len(history) == 2
    assert history_again == history                 # the stored history, seconds included
    assert same_weights(model, again)
    assert not again.training


def test_checkpoint_of_other_data_is_ignored(module_data, tmp_path):
    checkpoint = tmp_path / "run.pt"
    fit(tiny_config(), module_data, checkpoint=checkpoint)
    other_data = (255 - module_data[0], (module_data[1] + 1) % 3)
    resumed, history = fit(tiny_config(), other_data, checkpoint=checkpoint)
    fresh, fresh_history = fit(tiny_config(), other_data)
    assert same_weights(resumed, fresh)
    assert without_seconds(history) == without_seconds(fresh_history)


def test_checkpoint_of_another_config_is_ignored(module_data, tmp_path):
    checkpoint = tmp_path / "run.pt"
    fit(tiny_config(), module_data, checkpoint=checkpoint)
    other, history = fit(tiny_config(seed=1), module_data, checkpoint=checkpoint)
    fresh, fresh_history = fit(tiny_config(seed=1), module_data)
    assert same_weights(other, fresh)
    assert without_seconds(history) == without_seconds(fresh_history)
    assert torch.load(checkpoint, weights_only=True)["config"]["seed"] == 1   # overwritten by the new run


def resume_matches_uninterrupted(config, data, tmp_path) -> tuple[bool, list, list]:
    full, full_history = fit(config, data)
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        fit(config, data, checkpoint=checkpoint, on_epoch_end=interrupt_after(1))
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    seen = []
    resumed, history = fit(config, data, checkpoint=checkpoint, on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [2]                               # only the missing epoch ran
    assert len(history) == 2
    return same_weights(full, resumed), without_seconds(full_history), without_seconds(history)


def test_interrupted_run_resumes_to_the_same_weights_without_dropout(module_data, tmp_path):
    same, expected, got = resume_matches_uninterrupted(tiny_config(model={**TINY["model"], "dropout": 0.0}),
                                                       module_data, tmp_path)
    assert got == expected
    assert same


def test_interrupted_run_resumes_to_the_same_weights(module_data, tmp_path):
    same, expected, got = resume_matches_uninterrupted(tiny_config(), module_data, tmp_path)
    assert got[0] == expected[0]                     # epoch 1 is the stored one
    assert same and got == expected


# ---------------------------------------------------------------- augment, sampling, prediction

def test_augment_keeps_shape_and_input(module_data):
    x = to_input(module_data[0][:8])
    before = x.clone()
    out = flip_shift(x, torch.Generator().manual_seed(0), flip=True, shift=2)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(x, before)


def test_flip_only_gives_image_or_mirror(module_data):
    x = to_input(module_data[0][:32])
    out = flip_shift(x, torch.Generator().manual_seed(1), flip=True, shift=0)
    same = [torch.equal(out[i], x[i]) for i in range(len(x))]
    mirrored = [torch.equal(out[i], x[i].flip(-1)) for i in range(len(x))]
    assert all(s != m for s, m in zip(same, mirrored))     # exactly one of the two, per image
    assert 0 < sum(mirrored) < len(x)                      # both happen in a batch of 32
    again = flip_shift(x, torch.Generator().manual_seed(1), flip=True, shift=0)
    assert torch.equal(out, again)


def test_no_augmentation_is_identity(module_data):
    x = to_input(module_data[0][:4])
    assert torch.equal(flip_shift(x, torch.Generator(), flip=False, shift=0), x)


def test_shift_only_is_a_crop_of_the_reflect_padded_image(module_data):
    x = to_input(module_data[0][:6])
    shift = 2
    out = flip_shift(x, torch.Generator().manual_seed(3), flip=False, shift=shift)
    padded = torch.nn.functional.pad(x, (shift,) * 4, mode="reflect")
    offsets = []
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(2 * shift + 1) for dx in range(2 * shift + 1)
                   if torch.equal(out[i], padded[i, :, dy:dy + 32, dx:dx + 32])]
        assert len(matches) == 1, i
        offsets.append(matches[0])
    assert len(set(offsets)) > 1


def test_balanced_epoch_balances_classes():
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    index = balanced_epoch(labels, 30000, torch.Generator().manual_seed(0))
    assert index.shape == (30000,) and int(index.max()) < 100
    share = torch.bincount(labels[index], minlength=3).float() / 30000
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.02)


def test_predict_proba_rows_and_tta(reference, module_data):
    model = reference[0]
    pixels = module_data[0][:10]
    probs = predict_proba(model, pixels, batch_size=4, tta=True)
    assert probs.shape == (10, 3) and probs.device.type == "cpu"
    assert torch.allclose(probs.sum(1), torch.ones(10), atol=1e-5)
    plain = predict_proba(model, pixels)
    mirror = predict_proba(model, pixels.flip(3), tta=False)
    assert torch.allclose(probs, (plain + mirror) / 2, atol=1e-6)
    assert predict_proba(model, pixels[:0]).shape == (0, 3)


# ---------------------------------------------------------------- model_store

def test_save_and_load_matching_model(reference, module_data, tmp_path):
    model, history = reference
    pixels, labels = module_data
    config = tiny_config()
    fingerprint = data_fingerprint(pixels, labels)
    save_model(tmp_path / "best", model, config["model"], config=config, history=history, fingerprint=fingerprint,
               extra={"note": "toy"})
    loaded, info = load_model(tmp_path / "best", config["model"], fingerprint)
    assert loaded is not None and not loaded.training
    assert torch.equal(predict_proba(loaded, pixels[:16]), predict_proba(model, pixels[:16]))
    assert info["note"] == "toy" and info["data_fingerprint"] == fingerprint
    assert info["config"] == config and len(info["history"]) == 2
    assert not list((tmp_path / "best").glob("*.tmp"))              # atomic writes leave no temporary files


def test_load_model_refuses(reference, module_data, tmp_path):
    model, history = reference
    pixels, labels = module_data
    fingerprint = data_fingerprint(pixels, labels)
    config = tiny_config()
    save_model(tmp_path / "best", model, config["model"], config=config, history=history, fingerprint=fingerprint)
    loaded, reason = load_model(tmp_path / "best", tiny_config(model={"width": 8})["model"], fingerprint)
    assert loaded is None and "stored network" in reason
    loaded, reason = load_model(tmp_path / "best", config["model"], "0123456789abcdef")
    assert loaded is None and reason == "stored model was trained on other data (its data fingerprint differs)"
    loaded, reason = load_model(tmp_path / "nothing", config["model"], fingerprint)
    assert loaded is None and reason.startswith("no stored model in")


def test_data_fingerprint(module_data):
    pixels, labels = module_data
    fingerprint = data_fingerprint(pixels, labels)
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    assert data_fingerprint(pixels[order], labels[order]) == fingerprint
    relabelled = labels.clone()
    relabelled[0] = (relabelled[0] + 1) % 3
    assert data_fingerprint(pixels, relabelled) != fingerprint
    changed = pixels.clone()
    changed[5, 0, 0, 0] ^= 1
    assert data_fingerprint(changed, labels) != fingerprint
    assert data_fingerprint(pixels[:-1], labels[:-1]) != fingerprint


# ---------------------------------------------------------------- metrics

def test_classification_summary_hand_made():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    predicted = [0, 0, 1, 1, 2, 2]
    probs = torch.full((6, 3), 0.1)
    for row, p in enumerate(predicted):
        probs[row, p] = 0.8
    probs[5, 2] = 0.9                                      # the one true GAN scores highest on GAN
    summary = classification_summary(labels, probs, ("real", "VAE", "GAN"))
    assert summary["n"] == 6
    assert summary["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert summary["accuracy"] == pytest.approx(4 / 6)
    assert summary["recall"] == pytest.approx({"real": 2 / 3, "VAE": 1 / 2, "GAN": 1.0})
    assert summary["precision"] == pytest.approx({"real": 1.0, "VAE": 1 / 2, "GAN": 1 / 2})
    assert summary["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert summary["roc_auc"]["GAN"] == pytest.approx(1.0)
    # real: positives score 0.8, 0.8, 0.1; negatives 0.1, 0.1, 0.1 -> AUC = (1 + 1 + 0.5) / 3
    assert summary["roc_auc"]["real"] == pytest.approx(2.5 / 3)


def test_classification_summary_missing_class():
    labels = torch.tensor([0, 0, 1])
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    summary = classification_summary(labels, probs, ("real", "VAE", "GAN"))
    assert summary["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert np.isnan(summary["recall"]["GAN"]) and np.isnan(summary["roc_auc"]["GAN"])
    assert summary["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)


def test_wilson_interval_always_holds_the_observed_share():
    """At 0 % and 100 % rounding put the proportion just outside its own interval (a plot's error bar then failed)."""
    from realfake.metrics import wilson_interval
    for n in range(1, 3000, 7):
        for k in (0, n // 3, n):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0
    assert wilson_interval(5000, 5000)[1] == 1.0 and wilson_interval(0, 5000)[0] == 0.0


def test_a_cpu_computes_in_float32_under_the_suites_autocast():
    from realfake.loop import autocast
    layer = torch.nn.Linear(4, 4)
    for device in ("cpu", torch.device("cpu")):
        with autocast(device):
            assert layer(torch.ones(2, 4)).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):    # what plain autocast would do on the CPU
        assert layer(torch.ones(2, 4)).dtype == torch.bfloat16


@pytest.mark.parametrize("native, wanted, expected", [(True, True, torch.bfloat16), (False, True, torch.float32),
                                                      (True, False, torch.float32)])
def test_bfloat16_only_on_a_gpu_that_has_it(monkeypatch, native, wanted, expected):
    from realfake.loop import precision
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native or including_emulation)
    assert precision("cuda:0", wanted) == expected
    assert precision("cpu", wanted) == torch.float32


def test_cifake_predictions_on_a_cpu_are_the_float32_forward_pass():
    from realfake.models import build_model
    from realfake.sd_detector.train import predict_logits, to_input
    torch.manual_seed(0)
    model = build_model({"name": "cifake_cnn", "width": 8, "depth": 1, "stem": 4}).eval()
    pixels = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        expected = model(to_input(pixels)).float()
    assert torch.allclose(predict_logits(model, pixels, bf16=True, flip_tta=False), expected, atol=1e-6)
