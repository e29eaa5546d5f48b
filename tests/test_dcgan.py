"""DCGAN task: networks, data options, Frechet distance, detectability, quiz, resume.

Everything runs on tiny synthetic tensors made here; nothing is read from ../shared or data/.
"""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from realfake.dcgan import data as dcgan_data
from realfake.dcgan import detectability as detectability_module
from realfake.dcgan.detectability import (DETECTOR_CONFIG, blur_jpeg, detection_summary, detector_train_or_load, discriminator_logits,
                                          scores)
from realfake.dcgan.frechet import ClassifierFeatures, FrechetDistance, frechet_distance
from realfake.dcgan.quality import GanProbe
from realfake.dcgan.quiz import (QuizSession, answer_files, describe, make_items, pool_answers, quiz_key, save_answers,
                                 score)
from realfake.dcgan.train import REFERENCE, GanRun, GanStep, gan_config, generate, train_gan
from realfake.models import build_model


def blobs(n: int, seed: int, size: int = 28, channels: int = 1) -> torch.Tensor:
    """uint8 images of one bright square each, at random places and sizes."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, channels, size, size, dtype=torch.uint8)
    for i in range(n):
        s = int(torch.randint(4, 12, (1,), generator=g))
        y, x = torch.randint(0, size - s, (2,), generator=g).tolist()
        images[i, :, y:y + s, x:x + s] = int(torch.randint(120, 256, (1,), generator=g))
    return images


# ---------------------------------------------------------------- networks

def test_reference_networks_have_the_course_shapes():
    G, D = build_model(REFERENCE["generator"]), build_model(REFERENCE["discriminator"])
    z = torch.randn(5, 64, 1, 1)
    fake = G(z)
    assert fake.shape == (5, 1, 28, 28)
    assert fake.min() >= -1 and fake.max() <= 1                   # Tanh
    assert D(fake).shape == (5, 1)
    # the course's layer sizes: 64->256->128->64->1 and 1->16->32->64->1
    convs_g = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs_g] == \
        [(64, 256, 3, 2), (256, 128, 4, 1), (128, 64, 3, 2), (64, 1, 4, 2)]
    convs_d = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs_d] == \
        [(1, 16, 3, 2), (16, 32, 5, 2), (32, 64, 5, 2)]
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in D.modules())   # logits for BCEWithLogitsLoss


def test_cifar_variant_makes_32x32_colour_images():
    G = build_model({**REFERENCE["generator"], "channels": 3, "image_size": 32, "noise": 100})
    D = build_model({**REFERENCE["discriminator"], "channels": 3, "image_size": 32})
    fake = G(torch.randn(3, 100))
    assert fake.shape == (3, 3, 32, 32)
    assert D(fake).shape == (3, 1)


def test_weights_start_from_dcgan_initialisation():
    G = build_model(REFERENCE["generator"])
    weight = G.main[1][0].weight
    assert abs(weight.std().item() - 0.02) < 0.002 and abs(weight.mean().item()) < 0.002


def test_gan_step_updates_both_networks_and_reports_losses():
    torch.manual_seed(0)
    G = build_model({**REFERENCE["generator"], "width": 4, "noise": 8})
    D = build_model({**REFERENCE["discriminator"], "width": 4})
    before_g = [p.clone() for p in G.parameters()]
    before_d = [p.clone() for p in D.parameters()]
    step = GanStep(G, D, torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3),
                   torch.Generator().manual_seed(0))
    numbers = step(torch.rand(8, 1, 28, 28))
    assert set(numbers) >= {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(not torch.equal(a, b) for a, b in zip(before_g, G.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, D.parameters()))


# ---------------------------------------------------------------- data

def test_rotation_by_90_degrees_matches_rot90_and_zero_is_identity():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 2:6, 20:26] = 1.0
    assert torch.equal(dcgan_data.rotate(image, torch.tensor([0.0])), image)
    turned = dcgan_data.rotate(image, torch.tensor([90.0]))
    assert torch.equal(turned, torch.rot90(image, 1, dims=(2, 3)))   # counter-clockwise, as RandomRotation


def test_batched_rotation_equals_torchvision_rotate():
    import torchvision.transforms.v2.functional as TF
    images = (torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    angles = torch.tensor([20.0, -13.0, 7.5, -20.0])
    expected = torch.stack([TF.rotate(image, float(a)) for image, a in zip(images, angles)])
    assert torch.equal(dcgan_data.rotate(images, angles), expected)


def test_batches_depend_only_on_seed_and_epoch():
    images = blobs(50, 0)
    maker = dcgan_data.BatchMaker(images, batch_size=16, pixel_range="-1_1", seed=3)
    first, again, other = list(maker(1)), list(maker(1)), list(maker(2))
    assert len(first) == 4 and first[-1].shape == (2, 1, 28, 28)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    assert first[0].min() >= -1 and first[0].min() < 0              # scaled into [-1, 1]


def test_prepare_data_copies_mnist_archives(tmp_path):
    source = tmp_path / "source" / "MNIST" / "raw"
    source.mkdir(parents=True)
    for name in dcgan_data.MNIST_FILES:
        (source / name).write_bytes(gzip.compress(name.encode()))
    messages = dcgan_data.prepare_data(tmp_path / "source", tmp_path / "repo")
    copied = tmp_path / "repo" / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in copied.iterdir()) == sorted(dcgan_data.MNIST_FILES)
    assert "4 copied" in messages[0]
    assert "0 copied" in dcgan_data.prepare_data(tmp_path / "source", tmp_path / "repo")[0]
    assert "no MNIST" in dcgan_data.prepare_data(tmp_path / "empty", tmp_path / "repo")[0]


@pytest.mark.parametrize("name, expected", [("fashion_mnist", "FashionMNIST/raw/train-images-idx3-ubyte.gz"),
                                            ("cifar10", "cifar-10-python.tar.gz"),
                                            ("cifar100", "cifar-100-python.tar.gz")])
def test_offline_dataset_option_names_what_is_missing(tmp_path, name, expected):
    with pytest.raises(FileNotFoundError) as error:
        dcgan_data.load_images(name, train=True, root=tmp_path, download=False)
    message = str(error.value)
    assert expected in message and str(tmp_path) in message and "download" in message


def test_failed_download_is_reported_with_the_missing_files(tmp_path, monkeypatch):
    import torchvision

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    with pytest.raises(FileNotFoundError, match="download failed: Error downloading"):
        dcgan_data.load_images("fashion_mnist", root=tmp_path, download=True)


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="svhn"):
        dcgan_data.dataset_info("svhn")


# ---------------------------------------------------------------- Frechet distance

@pytest.fixture(scope="module")
def features():
    torch.manual_seed(0)
    classifier = build_model({"name": "dcgan_classifier", "width": 4, "n_classes": 10, "channels": 1,
                              "features": 8, "dropout": 0.0})
    return ClassifierFeatures(classifier.eval())


def test_frechet_distance_is_zero_for_identical_sets(features):
    images = blobs(300, 1)
    assert abs(frechet_distance(features, images, images)) < 1e-5


def test_frechet_distance_grows_with_added_noise(features):
    real = blobs(300, 2)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(real.shape, generator=g)
    fd = FrechetDistance(features, real)
    distances = [fd((real.float() + sigma * noise).clamp(0, 255).round().to(torch.uint8)) for sigma in (5, 20, 60, 120)]
    assert all(a < b for a, b in zip(distances, distances[1:])), distances
    assert distances[0] > 0


def test_frechet_reference_stays_when_sets_change(features):
    real, other = blobs(200, 3), blobs(200, 4)
    fd = FrechetDistance(features, real)
    first = fd(other)
    assert fd(real) < 1e-5                     # the previous set was forgotten, the reference kept
    assert fd(other) == pytest.approx(first)


# ---------------------------------------------------------------- detectability

def test_blur_jpeg_augmentation_is_seeded_and_changes_images():
    images = blobs(20, 5)
    never = {**DETECTOR_CONFIG, "blur_prob": 0.0, "jpeg_prob": 0.0}
    assert torch.equal(blur_jpeg(images, torch.Generator().manual_seed(0), never), images)
    always = {**DETECTOR_CONFIG, "blur_prob": 1.0, "jpeg_prob": 1.0}
    a = blur_jpeg(images, torch.Generator().manual_seed(1), always)
    b = blur_jpeg(images, torch.Generator().manual_seed(1), always)
    assert torch.equal(a, b) and not torch.equal(a, images) and a.dtype == torch.uint8
    jpeg_only = blur_jpeg(images, torch.Generator().manual_seed(1), {**always, "blur_prob": 0.0, "jpeg_quality": [100, 100]})
    assert (jpeg_only.float() - images.float()).abs().mean() < (a.float() - images.float()).abs().mean()


def test_detection_summary_perfect_and_chance():
    perfect = detection_summary(np.array([-2.0, -1.0, -3.0]), np.array([1.0, 2.0, 0.5]))
    assert perfect["average_precision"] == 1.0 and perfect["accuracy"] == 1.0
    chance = detection_summary(np.full(100, -1.0), np.full(100, -1.0))   # calls everything real
    assert chance["accuracy"] == 0.5 and chance["average_precision"] == pytest.approx(0.5)
    assert chance["accuracy_low"] < 0.5 < chance["accuracy_high"]


def test_discriminator_as_detector_scores_generated_higher():
    class Judge(torch.nn.Module):          # says "real" (high logit) for bright images
        def forward(self, x):
            return x.mean(dim=(1, 2, 3)).unsqueeze(1) * 10
    bright, dark = torch.full((4, 1, 28, 28), 250, dtype=torch.uint8), torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    assert (discriminator_logits(Judge(), dark, "-1_1") > discriminator_logits(Judge(), bright, "-1_1")).all()


TINY_DETECTOR = {"spec": {"name": "dcgan_classifier", "width": 2, "n_classes": 1, "channels": 1, "features": 4,
                          "dropout": 0.0},
                 "epochs": 1, "batch_size": 16, "lr": 0.01, "blur_prob": 0.5, "max_sigma": 3.0, "jpeg_prob": 0.5,
                 "jpeg_quality": [30, 100], "seed": 0}


def counting_train_detector(monkeypatch) -> dict:
    calls = {"n": 0}
    original = detectability_module.train_detector

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)
    monkeypatch.setattr(detectability_module, "train_detector", counted)
    return calls


def test_detector_is_stored_and_reused_only_for_the_same_images_and_config(tmp_path, monkeypatch, capsys):
    calls = counting_train_detector(monkeypatch)
    real, fake = blobs(32, 11), blobs(32, 12) // 2
    folder = tmp_path / "detector_x"
    first, record = detector_train_or_load(folder, TINY_DETECTOR, real, fake, note={"profile": "cpu"}, progress=False)
    assert calls["n"] == 1 and record["source"].startswith("trained now")
    assert (folder / "weights.pt").exists() and (folder / "model.json").exists()

    again, record = detector_train_or_load(folder, TINY_DETECTOR, real, fake, progress=False)
    assert calls["n"] == 1 and record["source"].startswith("loaded")          # no training: the stored one
    assert "loaded" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert np.array_equal(scores(first, real), scores(again, real))

    other = fake.clone()
    other[0, 0, 0, 0] += 1                                                    # one pixel of the generated set
    _, record = detector_train_or_load(folder, TINY_DETECTOR, real, other, progress=False)
    assert calls["n"] == 2 and record["source"].startswith("trained now")
    _, record = detector_train_or_load(folder, {**TINY_DETECTOR, "lr": 0.02}, real, other, progress=False)
    assert calls["n"] == 3 and record["source"].startswith("trained now")   # other settings: retrained too
    _, record = detector_train_or_load(folder, {**TINY_DETECTOR, "lr": 0.02}, real, other, progress=False)
    assert calls["n"] == 3 and record["source"].startswith("loaded")


def test_detector_batchnorm_statistics_describe_the_clean_training_images():
    """The detector is scored on clean digits: its batch-norm averages must be those of clean digits, not of the
    blurred and JPEG-compressed batches it was trained on (with those it called real digits generated)."""
    from realfake.dcgan.detectability import train_detector
    g = torch.Generator().manual_seed(21)                     # bright real, dark generated: the classes differ in mean
    real = (180 + torch.randint(0, 40, (48, 1, 28, 28), generator=g)).to(torch.uint8)
    fake = torch.randint(0, 40, (48, 1, 28, 28), generator=g).to(torch.uint8)
    config = {**TINY_DETECTOR, "blur_prob": 1.0, "max_sigma": 3.0, "jpeg_prob": 1.0, "jpeg_quality": [30, 30]}
    model, _ = train_detector(config, real, fake, progress=False)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    running_mean, running_var = first.running_mean.clone(), first.running_var.clone()
    seen = {}
    handle = first.register_forward_pre_hook(lambda m, inp: seen.setdefault("x", inp[0].clone()))
    model.train()
    with torch.no_grad():
        model(torch.cat([real, fake]).float() / 255)
    handle.remove()
    x = seen["x"]
    assert torch.allclose(running_mean, x.mean((0, 2, 3)), atol=1e-4)
    # update_bn averages the variances of shuffled batches: near the whole set's, which includes the class difference
    assert torch.allclose(running_var, x.var((0, 2, 3)), rtol=0.15, atol=1e-5)


def test_study_detectors_are_stored_per_gan_and_smoke_never_writes_model_best(tmp_path, monkeypatch):
    from realfake.dcgan.pipeline import ImageData, detection_study, get_detector
    from realfake.paths import run_paths
    calls = counting_train_detector(monkeypatch)
    torch.manual_seed(0)
    generator = build_model(TINY["generator"])
    discriminator = build_model(TINY["discriminator"])
    gans = {"tiny": GanRun(generator, discriminator, [], 1, config=TINY)}
    data = ImageData("mnist", blobs(40, 13), torch.zeros(40, dtype=torch.long), blobs(20, 14),
                     torch.zeros(20, dtype=torch.long), tuple(range(10)))
    smoke = run_paths("smoke", root=tmp_path)
    study = detection_study(gans, data, smoke, 16, 10, TINY_DETECTOR, progress=False, profile="smoke")
    stored = tmp_path / "results" / "smoke" / "model_best" / "dcgan" / "detector_tiny"
    assert calls["n"] == 1 and (stored / "weights.pt").exists() and not (tmp_path / "model_best").exists()
    assert study["tiny: detector"]["source"].startswith("trained now") and study["tiny: detector"]["n_train_real"] == 16
    again = detection_study(gans, data, smoke, 16, 10, TINY_DETECTOR, progress=False, profile="smoke")
    assert calls["n"] == 1 and again["tiny: detector"]["source"].startswith("loaded")
    assert {k: v for k, v in again["tiny: detector"].items() if k != "source"} == \
        {k: v for k, v in study["tiny: detector"].items() if k != "source"}
    _, record = get_detector(smoke, "tiny", gans["tiny"], data, 16, TINY_DETECTOR, progress=False)   # the notebook's quiz
    assert calls["n"] == 1 and record["source"].startswith("loaded")
    _, record = get_detector(run_paths("cpu", root=tmp_path), "tiny", gans["tiny"], data, 16, TINY_DETECTOR,
                             progress=False)
    assert calls["n"] == 2 and (tmp_path / "model_best" / "dcgan" / "detector_tiny" / "model.json").exists()


# ---------------------------------------------------------------- quiz

def test_quiz_score_and_wilson_interval():
    result = score([True, False, True, False], [True, False, False, False])
    assert result["correct"] == 3 and result["accuracy"] == 0.75
    assert result["generated_caught"] == 0.5 and result["real_passed"] == 1.0
    half = score([True] * 5 + [False] * 5, [True] * 10)          # 5 of 10
    assert half["low"] == pytest.approx(0.2366, abs=1e-3) and half["high"] == pytest.approx(0.7634, abs=1e-3)
    # Salimans et al.'s 52.4 % over 2000 votes: interval about 50.2 % to 54.6 %
    salimans = score([True] * 2000, [True] * 1048 + [False] * 952)
    assert salimans["low"] == pytest.approx(0.502, abs=2e-3) and salimans["high"] == pytest.approx(0.546, abs=2e-3)
    assert "no evidence" in describe(half) and "can tell" in describe(score([True] * 40, [True] * 40))
    with pytest.raises(ValueError):
        score([True], [True, False])


def test_quiz_session_answered_by_code_and_saved(tmp_path):
    items = make_items(blobs(30, 6), blobs(30, 7) // 4, n=20, seed=0)
    assert len(items) == 20 and sum(i.generated for i in items) == 10
    assert [i.id for i in items] == [f"d{k:02d}" for k in range(20)]
    session = QuizSession(items, quiz="test")
    result = session.answer_by(lambda image: image.max() < 100)   # the "generated" blobs are darker
    assert session.done and result["accuracy"] == 1.0
    with pytest.raises(RuntimeError):
        session.answer(True)
    first = save_answers(tmp_path, session, "code")
    second = save_answers(tmp_path, QuizSession(items, [False] * 20, quiz="test"), "coin")
    assert first != second and first.exists() and second.exists()
    pooled = pool_answers(answer_files(tmp_path), quiz_key(items), "test")
    assert pooled["pooled"]["n"] == 40 and pooled["pooled"]["correct"] == 30 and pooled["sessions"] == 2
    assert pooled["people"]["code"]["accuracy"] == 1.0 and pooled["people"]["coin"]["correct"] == 10
    assert not pooled["problems"]


# ---------------------------------------------------------------- resume

TINY = gan_config(generator={"noise": 8, "width": 4}, discriminator={"width": 2}, batch_size=16, epochs=3,
                  lr_g=0.002, lr_d=0.002, patience=None)


def tiny_probe():
    torch.manual_seed(1)
    classifier = build_model({"name": "dcgan_classifier", "width": 2, "n_classes": 10, "channels": 1,
                              "features": 4, "dropout": 0.0})
    return GanProbe(classifier, blobs(40, 8), n_samples=24, grid_size=4)


def cut_and_resume(config: dict, images, checkpoint, monkeypatch, capsys, at_step: int):
    """Train with a power cut at step `at_step` (1-based), then start again from the checkpoint: the resumed run."""
    original, calls = GanStep.__call__, {"n": 0}

    def power_cut(self, real):
        calls["n"] += 1
        if calls["n"] == at_step:
            raise KeyboardInterrupt("power cut")
        return original(self, real)
    monkeypatch.setattr(GanStep, "__call__", power_cut)
    with pytest.raises(KeyboardInterrupt):
        train_gan(config, images, checkpoint=checkpoint, probe=tiny_probe(), progress=False)
    monkeypatch.setattr(GanStep, "__call__", original)
    capsys.readouterr()
    return train_gan(config, images, checkpoint=checkpoint, probe=tiny_probe(), progress=False)


def test_resume_after_an_interrupted_epoch_equals_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    images = blobs(48, 9)                              # 3 batches per epoch
    whole = train_gan(TINY, images, checkpoint=tmp_path / "whole.pt", probe=tiny_probe(), progress=False)

    resumed = cut_and_resume(TINY, images, tmp_path / "cut.pt", monkeypatch, capsys, at_step=5)   # epoch 2's 2nd batch
    assert "after epoch 1" in capsys.readouterr().out          # it did resume, from the last whole epoch

    for a, b in ((whole.generator, resumed.generator), (whole.discriminator, resumed.discriminator)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [r["loss_d"] for r in whole.history] == [r["loss_d"] for r in resumed.history]
    assert [r["fd"] for r in whole.history] == [r["fd"] for r in resumed.history]
    assert whole.best_epoch == resumed.best_epoch and len(resumed.grids) == 3
    assert whole.step_losses == resumed.step_losses and len(resumed.step_losses) == 9   # 3 epochs x 3 batches
    assert torch.equal(generate(whole.generator, 6, seed=0), generate(resumed.generator, 6, seed=0))


def test_best_epoch_is_kept_and_patience_stops(tmp_path):
    images = blobs(48, 10)
    config = {**TINY, "epochs": 6, "patience": 1}
    run = train_gan(config, images, checkpoint=None, probe=tiny_probe(), progress=False)
    fds = [r["fd"] for r in run.history]
    assert run.best_epoch == int(np.argmin(fds)) + 1
    assert len(run.history) == run.best_epoch + 1 or len(run.history) == 6   # stopped one epoch after the best
    # the returned generator is the best epoch's: its fixed-noise samples are the stored grid of that epoch
    assert torch.equal(generate(run.generator, 24, seed=1234)[:4], run.grids[run.best_epoch - 1])


def test_the_learning_rates_fall_linearly_over_the_last_epochs_and_resume_exactly(tmp_path, monkeypatch, capsys):
    images = blobs(48, 9)                              # 3 batches per epoch, 3 epochs
    config = {**TINY, "lr_decay_epochs": 2}
    seen, original = [], GanStep.__call__

    def spy(self, real):
        seen.append((self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]))
        return original(self, real)
    monkeypatch.setattr(GanStep, "__call__", spy)
    whole = train_gan(config, images, checkpoint=None, probe=tiny_probe(), progress=False)
    factors = [1, 1, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6]      # 1 until the last 2 epochs (6 steps), then to 0
    assert [g for g, _ in seen] == pytest.approx([TINY["lr_g"] * f for f in factors])
    assert [d for _, d in seen] == pytest.approx([TINY["lr_d"] * f for f in factors])
    constant = train_gan(TINY, images, checkpoint=None, probe=tiny_probe(), progress=False)
    assert whole.step_losses[:4] == constant.step_losses[:4] and whole.step_losses[4:] != constant.step_losses[4:]
    monkeypatch.setattr(GanStep, "__call__", original)
    resumed = cut_and_resume(config, images, tmp_path / "cut.pt", monkeypatch, capsys, at_step=8)   # within the decay
    sa, sb = whole.generator.state_dict(), resumed.generator.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and whole.step_losses == resumed.step_losses


def test_a_longer_run_continued_from_a_shorter_one_equals_it_trained_from_the_start(tmp_path, capsys):
    from conftest import load_benchmark
    longer = load_benchmark("dcgan_longer")
    images = blobs(48, 9)
    short, long = {**TINY, "epochs": 2}, {**TINY, "epochs": 3, "lr_decay_epochs": 1}
    train_gan(short, images, checkpoint=tmp_path / "short.pt", probe=tiny_probe(), progress=False)
    longer.continue_run(tmp_path / "short.pt", short, tmp_path / "long.pt", long)
    capsys.readouterr()
    continued = train_gan(long, images, checkpoint=tmp_path / "long.pt", probe=tiny_probe(), progress=False)
    assert "resuming from" in capsys.readouterr().out and len(continued.history) == 3   # it went on from epoch 2
    scratch = train_gan(long, images, checkpoint=None, probe=tiny_probe(), progress=False)
    sa, sb = continued.generator.state_dict(), scratch.generator.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and continued.step_losses == scratch.step_losses
    with pytest.raises(SystemExit, match="decay would have started"):       # epoch 2 already had decayed rates
        longer.continue_run(tmp_path / "short.pt", short, tmp_path / "other.pt", {**long, "lr_decay_epochs": 2})
    with pytest.raises(SystemExit, match="other settings"):
        longer.continue_run(tmp_path / "short.pt", {**short, "lr_g": 0.1}, tmp_path / "other.pt", long)
    with pytest.raises(SystemExit, match="nothing to continue"):
        longer.continue_run(tmp_path / "short.pt", short, tmp_path / "other.pt", {**short, "epochs": 2})
    assert not (tmp_path / "other.pt").exists()


def test_the_stopping_rule_waits_for_the_falling_learning_rates(monkeypatch):
    images = blobs(48, 9)
    fds = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])         # the first epoch stays the best

    def measure(self, state):
        fd = next(fds)
        if fd < state.extras["best_fd"]:
            state.extras.update(best_fd=fd, best_epoch=len(state.extras.get("step_losses", [])) // 3)
        return {"fd": fd}
    monkeypatch.setattr(GanProbe, "measure", measure)
    config = {**TINY, "epochs": 6, "patience": 1}
    assert len(train_gan(config, images, probe=tiny_probe(), progress=False).history) == 2      # stops at once
    fds = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    decayed = train_gan({**config, "lr_decay_epochs": 2}, images, probe=tiny_probe(), progress=False)
    assert len(decayed.history) == 5        # not before the rates fall (epoch 5); then patience stops it
    with pytest.raises(ValueError, match="lr_decay_epochs"):
        train_gan({**config, "lr_decay_epochs": -1}, images, probe=tiny_probe(), progress=False)


def test_an_optional_gan_setting_at_its_default_is_left_out():
    assert "lr_decay_epochs" not in gan_config(lr_decay_epochs=0) and gan_config(lr_decay_epochs=0) == gan_config()
    assert gan_config(lr_decay_epochs=3)["lr_decay_epochs"] == 3
    with pytest.raises(KeyError, match="lr_decay_epochs"):          # the known settings are named
        gan_config(lr_decay=3)
