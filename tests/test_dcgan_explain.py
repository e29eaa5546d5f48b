"""What the detectors key on, and the tap-count maps of transposed convolutions; the improved networks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from conftest import load_benchmark

from realfake.dcgan.explain import (bottom_row_study, gradcam_map, gradient_map, mask_bottom, masked_detectability,
                                    overlap_map, transposed_layers)
from realfake.dcgan.quality import GanProbe
from realfake.dcgan.train import gan_config
from realfake.models import build_model


def test_overlap_map_shows_the_checkerboard_of_kernel_3_stride_2_and_the_edges_of_kernel_4():
    three = overlap_map([nn.ConvTranspose2d(1, 1, 3, 2)], 6)               # 6x6 -> 13x13
    assert three.shape == (13, 13)
    assert three[1, 1] == 1 and three[2, 2] == 4 and three[1, 2] == 2      # 1 and 2 taps alternate per axis
    four = overlap_map([nn.ConvTranspose2d(1, 1, 4, 2)], 13)               # 13x13 -> 28x28
    assert four.shape == (28, 28) and four[-1, 10] == 2 and four[10, 10] == 4   # the edge gets one kernel row


def test_course_generator_has_four_transposed_layers():
    generator = build_model({"name": "dcgan_generator"})
    assert [layer.stride for layer in transposed_layers(generator)] == [(2, 2), (1, 1), (2, 2), (2, 2)]
    assert transposed_layers(build_model({"name": "dcgan_resize_generator"})) == []


def edge_images(n: int, lit: bool) -> torch.Tensor:
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 8:20, 10:18] = 200
    if lit:
        images[:, :, -1, 3::4] = 220
    return images


def test_bottom_row_study_and_masking():
    real, fake = edge_images(20, False), edge_images(20, True)
    study = bottom_row_study(real, fake)
    assert study["generated_bright"] == 1.0 and study["real_bright"] == 0.0 and study["ap_bottom_row_brightness"] == 1.0
    assert study["generated_column_means"][3] == pytest.approx(220 / 255) and study["generated_column_means"][4] == 0
    assert torch.equal(mask_bottom(fake, 2), real)


class EdgeDetector(nn.Module):
    """Says "generated" exactly when the bottom row is lit: a detector keyed on the artefact."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*[nn.Identity() for _ in range(4)], nn.Conv2d(1, 1, 1))
        nn.init.ones_(self.body[4].weight)
        nn.init.zeros_(self.body[4].bias)

    def forward(self, x):
        x = self.body(x)
        return x[:, :, -1, :].sum((1, 2)).unsqueeze(1) * 10 - 1


def test_masking_the_bottom_rows_blinds_a_detector_keyed_on_them_and_the_maps_point_there():
    detector, real, fake = EdgeDetector(), edge_images(30, False), edge_images(30, True)
    masked = masked_detectability(detector, real, fake, rows=2)
    assert masked["accuracy"] == 0.5 and masked["average_precision"] == pytest.approx(0.5)
    gradient = gradient_map(detector, fake)
    assert gradient.shape == (28, 28) and gradient[-1].min() > 0 and gradient[:-1].max() == 0
    cam = gradcam_map(detector, fake)
    assert cam.shape == (28, 28) and cam[-1].mean() > cam[:20].mean()


def test_resize_generator_shapes_and_start_brightness():
    torch.manual_seed(0)
    generator = build_model({"name": "dcgan_resize_generator", "noise": 16, "width": 8}).eval()
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, 1, 28, 28)
    assert ((images + 1) / 2).mean().item() == pytest.approx(0.13, abs=0.03)   # starts at MNIST's mean brightness


def test_the_shipped_training_knows_only_the_winning_recipe():
    """The levers that lost (hinge loss, weight average, spectral-norm discriminator) are not settings of the
    package's GAN training: they live in benchmarks/dcgan_levers.py."""
    with pytest.raises(KeyError):
        gan_config(loss="hinge")
    with pytest.raises(KeyError):
        gan_config(ema=0.99)
    from realfake.models import PROVIDERS, REGISTRY
    for provider in PROVIDERS:
        __import__(provider)
    assert REGISTRY.get("dcgan_sn_discriminator") is None or REGISTRY["dcgan_sn_discriminator"].__module__ == "dcgan_levers"


def test_lever_benchmark_trains_hinge_spectral_norm_and_ema():
    levers = load_benchmark("dcgan_levers")
    images = torch.randint(0, 256, (32, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    changes = {"generator": {"name": "dcgan_resize_generator", "noise": 8, "width": 4, "pixel_range": "-1_1"},
               "discriminator": {"name": "dcgan_sn_discriminator", "width": 4}, "loss": "hinge", "ema": 0.5}
    config = levers.lever_config(changes, batch_size=16, epochs=1)
    discriminator = build_model(config["discriminator"])
    assert any("weight_orig" in name for name, _ in discriminator.named_parameters())   # spectrally normalised
    judge = build_model({"name": "dcgan_classifier", "width": 2, "n_classes": 10, "features": 4, "dropout": 0.0})
    probe = GanProbe(judge, images[:16], n_samples=8, grid_size=4)
    run = levers.train_lever(config, images, probe, progress=False)
    assert len(run.history) == 1 and np.isfinite(run.history[0]["loss_d"]) and "fd" in run.history[0]
    plain = levers.train_lever({**config, "ema": None}, images, probe, progress=False)
    # the same training either way: the kept generator differs only because the average was measured and kept
    assert any(not torch.equal(a, b) for a, b in zip(run.generator.state_dict().values(),
                                                      plain.generator.state_dict().values()))
    with pytest.raises(ValueError):
        levers.LeverStep(None, None, None, None, torch.Generator(), config={"loss": "wasserstein"})


@pytest.mark.parametrize("warmup", [False, True])
def test_the_ema_lever_resumes_with_its_average(tmp_path, warmup):
    levers = load_benchmark("dcgan_levers")
    images = torch.randint(0, 256, (32, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    changes = {"generator": {"name": "dcgan_resize_generator", "noise": 8, "width": 4, "pixel_range": "-1_1"},
               "ema": 0.9, "ema_warmup": warmup}
    config = levers.lever_config(changes, batch_size=16, epochs=3, patience=None)
    judge = build_model({"name": "dcgan_classifier", "width": 2, "n_classes": 10, "features": 4, "dropout": 0.0})

    class Interrupted(GanProbe):       # the run is stopped while the second epoch is measured
        calls = 0

        def measure_generator(self, *args):
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt
            return super().measure_generator(*args)

    whole = levers.train_lever(config, images, GanProbe(judge, images[:16], n_samples=8, grid_size=4),
                               progress=False)
    checkpoint = tmp_path / "ema.pt"
    with pytest.raises(KeyboardInterrupt):
        levers.train_lever(config, images, Interrupted(judge, images[:16], n_samples=8, grid_size=4),
                           progress=False, checkpoint=checkpoint)
    resumed = levers.train_lever(config, images, GanProbe(judge, images[:16], n_samples=8, grid_size=4),
                                 progress=False, checkpoint=checkpoint)
    assert [r["fd"] for r in resumed.history] == [r["fd"] for r in whole.history]
    for a, b in zip(resumed.generator.state_dict().values(), whole.generator.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("warmup, decay", [(False, 0.9), (True, 2 / 11)])
def test_the_ema_lever_averages_with_its_decay(warmup, decay):
    levers = load_benchmark("dcgan_levers")
    config = levers.lever_config({"generator": {"name": "dcgan_resize_generator", "noise": 8, "width": 4,
                                                "pixel_range": "-1_1"}, "ema": 0.9, "ema_warmup": warmup})
    torch.manual_seed(0)
    G, D = build_model(config["generator"]), build_model({**config["discriminator"], "width": 4})
    before = {k: v.clone() for k, v in G.named_parameters()}
    step = levers.LeverStep(G, D, torch.optim.Adam(G.parameters(), 1e-2), torch.optim.Adam(D.parameters(), 1e-2),
                            torch.Generator().manual_seed(0), config=config, log={})
    step(torch.rand(4, 1, 28, 28) * 2 - 1)      # one step: the warm-up's decay is (1 + 1) / (10 + 1)
    average = dict(step.average.named_parameters())
    for name, p in G.named_parameters():
        assert torch.allclose(average[name], decay * before[name] + (1 - decay) * p.detach(), atol=1e-6)
    with pytest.raises(ValueError, match="ema_warmup"):
        levers.LeverStep(G, D, None, None, torch.Generator(), config=config | {"ema_warmup": True}, log=None)


def test_lever_winner_gets_the_final_training_epochs():
    levers = load_benchmark("dcgan_levers")
    assert list(levers.lever_configs())[:3] == ["course recipe", "optuna settings", "+ resize-conv G"]
    record = {"winner": "b", "runs": {"a": {"config": gan_config(), "seconds_per_step": 0.1, "validation_fd": 9.0},
                                      "b": {"config": gan_config(lr_g=1e-4), "seconds_per_step": 0.5,
                                            "validation_fd": 5.0}}}
    config = levers.final_config(record, epochs=10)
    assert config["lr_g"] == 1e-4 and config["epochs"] == 10 and config["max_rotation"] == 0
    assert config["patience"] == 3 and config["limit"] is None and config["lr_decay_epochs"] == 3
    assert gan_config(**config) == config            # the shipped training knows every setting it writes
    record["runs"]["b"]["config"] = {**record["runs"]["b"]["config"], "loss": "hinge"}
    with pytest.raises(SystemExit, match="shipped training"):
        levers.final_config(record)


def test_longer_table_shows_each_runs_curve_and_its_reported_quality():
    from realfake.dcgan.search import longer_table
    plain = {"threads": 2, "best_epoch": 2, "training_seconds": 126.0,
             "history": [{"epoch": 1, "probe_fd": 9.04, "seconds": 60.0}, {"epoch": 2, "probe_fd": 4.46, "seconds": 66.0}],
             "evaluation": {"fd_test": 4.123, "mean_brightness": 0.1311, "real_mean_brightness": 0.1325,
                            "floor_of_its_training_data": 0.504}}
    unfinished = {"threads": 1, "best_epoch": 1, "training_seconds": 0,
                  "history": [{"epoch": 1, "probe_fd": 7.0, "seconds": None}]}
    continued = {**plain, "command": "python benchmarks/dcgan_longer.py --epochs 2 --continue-from 1",
                 "training_seconds": 1000.0}                   # its first epoch's minutes belong to the run it continued
    table = longer_table({"10 epochs": plain, "+ EMA": unfinished, "2 epochs": continued})
    assert table.loc["10 epochs", "probe FD per epoch"] == "9.0 4.5"
    assert table.loc["10 epochs", "minutes"] == 2.1 and table.loc["10 epochs", "FD to MNIST test"] == 4.12
    assert table.loc["10 epochs", "mean brightness"] == 0.131 and table.loc["+ EMA", "kept epoch"] == 1
    assert table.loc["10 epochs", "floor"] == 0.5
    assert table["FD to MNIST test"].isna().tolist() == [False, True, False]
    assert table.loc["2 epochs", "minutes"] == "+1.1"


def test_read_longer_runs_names_a_missing_file_and_refuses_a_damaged_one(tmp_path, capsys):
    from realfake.dcgan.search import read_longer_runs
    from realfake.state import UnreadableState
    (tmp_path / "a.json").write_text(json.dumps({"history": [], "best_epoch": 1}))
    runs = read_longer_runs(tmp_path, {"run a": "a.json", "run b": "b.json"})
    assert list(runs) == ["run a"] and "run b: results/b.json is missing" in capsys.readouterr().out
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(UnreadableState, match="b.json"):
        read_longer_runs(tmp_path, {"run b": "b.json"})
    assert (tmp_path / "b.json").read_text() == "{not json"      # left in place


def test_longer_run_files_are_named_by_what_differs_from_the_ten_epoch_run():
    from realfake.dcgan.search import longer_file
    assert longer_file(0) == "dcgan_longer_rotation0.json"
    assert longer_file(10, ema=0.999, ema_warmup=True) == "dcgan_longer_rotation10_ema0.999_warmup.json"
    assert longer_file(0, 1, 13, 3) == "dcgan_longer_rotation0_seed1_epochs13_decay3.json"
    assert longer_file(0, "*", 13, 3) == "dcgan_longer_rotation0_seed*_epochs13_decay3.json"


def test_the_settings_table_shows_an_optional_setting_one_recipe_leaves_out():
    from realfake.dcgan.settings import settings_changed
    changed = settings_changed(gan_config(), gan_config(lr_g=1e-4, lr_decay_epochs=3))
    assert changed == {"lr_g": (0.002, 1e-4), "lr_decay_epochs": (0, 3)}
