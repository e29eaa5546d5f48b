"""The CIFAKE recipe on the suite loop (learns a separable toy task, resumes identically), and the evaluation maths."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from realfake.sd_detector import evaluate
from realfake.perturb import flip_shift
from realfake.sd_detector.train import RECIPE, predict_proba, train_cifake

torch.set_num_threads(1)


def toy(n, seed):
    """Class 1 carries a fine checkerboard (a 'generator trace'), class 0 does not; both are noisy."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    base = torch.randint(60, 190, (n, 3, 1, 1), generator=g).float().expand(n, 3, 32, 32)
    noise = torch.randn(n, 3, 32, 32, generator=g) * 12
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None]) % 2 * 2 - 1).float() * 25
    x = base + noise + labels[:, None, None, None] * checker
    return x.clamp(0, 255).to(torch.uint8), labels


def small_config(**changes):
    config = {**RECIPE, "model": {"name": "cifake_cnn", "width": 8, "depth": 2, "stem": 8}, "epochs": 3,
              "batch_size": 32, "lr": 0.05, "bf16": False, **changes}
    return config


def test_recipe_learns_and_resumes_to_the_same_weights(tmp_path):
    x, y = toy(256, 0)
    xv, yv = toy(64, 1)
    config = small_config()
    model, history = train_cifake(x, y, xv, yv, config, checkpoint=tmp_path / "a.pt", progress=False)
    assert len(history) == 3 and history[-1]["valid_accuracy"] > 0.9
    assert history[-1]["images_per_s"] > 0
    # interrupted after 2 epochs, then resumed: the same weights as the straight run
    ckpt = tmp_path / "b.pt"

    def stop_after_two(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_cifake(x, y, xv, yv, config, checkpoint=ckpt, progress=False, on_epoch_end=stop_after_two)
    resumed, history_b = train_cifake(x, y, xv, yv, config, checkpoint=ckpt, progress=False)
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    probs = predict_proba(model, xv, bf16=False)
    assert ((probs > 0.5).long() == yv).float().mean() > 0.9


def test_flip_shift_moves_uint8_images_within_the_padding():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(flip_shift(x, torch.Generator().manual_seed(0), False, 0), x)
    out = flip_shift(x, torch.Generator().manual_seed(0), True, 2)
    padded = F.pad(x.float(), (2,) * 4, mode="reflect").to(torch.uint8)
    for i in range(8):
        windows = [padded[i, :, a:a + 32, b:b + 32] for a in range(5) for b in range(5)]
        windows += [w.flip(2) for w in [F.pad(x[i:i + 1].flip(3).float(), (2,) * 4, mode="reflect").to(torch.uint8)[0, :, a:a + 32, b:b + 32] for a in range(5) for b in range(5)]]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    assert not torch.equal(out, x)


def test_threshold_metrics_and_intervals():
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([0.1, 0.55, 0.6, 0.7, 0.8, 0.9])
    assert evaluate.choose_threshold(labels, probs) == pytest.approx(0.7)   # 6/6 there, 4/6 at 0.5
    probs = np.array([0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    m = evaluate.binary_metrics(labels, probs, 0.5, n_boot=50)
    assert m["accuracy"] == pytest.approx(5 / 6) and m["accuracy_ci"][0] < 5 / 6 < m["accuracy_ci"][1]
    assert m["confusion"] == [[2, 1], [0, 3]]
    assert 0 <= m["roc_auc_ci"][0] <= m["roc_auc"] <= m["roc_auc_ci"][1] <= 1


def test_ece_and_temperature_scaling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 4000)
    x = (labels * 2 - 1) * 1.0 + rng.normal(0, 1, 4000)                # calibrated log-odds: 2 x
    overconfident = torch.tensor(np.stack([-3 * x, 3 * x], 1), dtype=torch.float32)   # log-odds 6 x: T = 3
    labels_t = torch.tensor(labels)
    t = evaluate.fit_temperature(overconfident, labels_t)
    assert 2.5 < t < 3.5                                                # it undoes the over-confidence
    before = overconfident.softmax(1)[:, 1].numpy()
    after = (overconfident / t).softmax(1)[:, 1].numpy()
    assert evaluate.expected_calibration_error(labels, after) < evaluate.expected_calibration_error(labels, before)
    assert evaluate.expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0
