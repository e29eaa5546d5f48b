"""`python -m realfake.dcgan`: sampling from a stored generator, its errors, and the smoke profile's sizes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from realfake.dcgan import __main__ as cli
from realfake.dcgan import EVALUATION_SEED
from realfake.dcgan.quality import evaluation_samples
from realfake.dcgan.settings import SMOKE, run_sizes
from realfake.model_store import save_model
from realfake.models import build_model

SPEC = {"name": "dcgan_resize_generator", "noise": 8, "width": 4, "channels": 1, "image_size": 28,
        "pixel_range": "-1_1"}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository folder with a stored improved generator (cpu profile) and none for the reference."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "realfake").mkdir()
    torch.manual_seed(0)
    generator = build_model(SPEC)
    save_model(tmp_path / "model_best" / "dcgan" / "improved_generator", generator, SPEC, config={}, history=[])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REALFAKE_PROFILE", "cpu")
    return tmp_path, generator.eval()


def test_sample_writes_the_evaluation_draw_and_a_grid(repo):
    root, generator = repo
    assert cli.main(["sample", "--gan", "improved", "--n", "7", "--out", "d.pt", "--png", "d.png"]) == 0
    images = torch.load(root / "d.pt")
    assert images.dtype == torch.uint8 and images.shape == (7, 1, 28, 28)
    assert torch.equal(images, evaluation_samples(generator, 7, seed=EVALUATION_SEED))
    assert Image.open(root / "d.png").size == (7 * 29 - 1, 28)
    assert cli.main(["sample", "--gan", "improved", "--n", "7", "--out", "e.pt", "--seed", "3"]) == 0
    other = torch.load(root / "e.pt")
    assert torch.equal(other, evaluation_samples(generator, 7, seed=3)) and not torch.equal(other, images)


def test_missing_model_is_a_one_line_error_with_exit_2(repo, capsys):
    assert cli.main(["sample", "--gan", "reference", "--n", "3", "--out", "d.pt"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no stored reference generator" in err
    assert not (repo[0] / "d.pt").exists()


@pytest.mark.parametrize("argv, says", [
    (["sample", "--gan", "improved", "--n", "3"], "needs --gan"),
    (["sample", "--gan", "best", "--n", "3", "--out", "d.pt"], "invalid choice"),
    (["sample", "--gan", "improved", "--n", "0", "--out", "d.pt"], "--n must be"),
    (["sample", "--gan", "improved", "--n", "many", "--out", "d.pt"], "invalid int"),
    (["sample", "--gan", "improved", "--n", "3", "--out", "d.npy"], ".pt file"),
    (["sample", "--gan", "improved", "--n", "3", "--out", "no/such/d.pt"], "does not exist"),
    (["sample", "--gan", "improved", "--n", "3", "--out", "d.pt", "--png", "d.jpg"], ".png file"),
    (["reference", "--n", "3"], "belong to the sample command"),
])
def test_bad_arguments_are_one_line_errors_with_exit_2(repo, capsys, argv, says):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and says in err


def test_sample_command_line_from_another_folder(tmp_path):
    """The real entry point: exit status 2 and one line for a bad argument, from any working folder."""
    done = subprocess.run([sys.executable, "-m", "realfake.dcgan", "sample", "--gan", "improved", "--n", "-1",
                           "--out", str(tmp_path / "x.pt")], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_smoke_profile_trains_on_the_notebooks_subset(monkeypatch, tmp_path):
    """REALFAKE_PROFILE=smoke python -m realfake.dcgan reference uses the smoke notebook's data subset, classifier
    settings, probe size and GAN settings (all from realfake.dcgan.settings.run_sizes), and smoke paths."""
    from realfake.dcgan import pipeline
    seen = {}

    def load_data(dataset, train_size=None, test_size=None, **_):
        seen["sizes"] = (train_size, test_size)
        images = torch.zeros(train_size or 60_000, 1, 28, 28, dtype=torch.uint8)
        return pipeline.ImageData(dataset, images, torch.zeros(len(images), dtype=torch.int64),
                                  images[:test_size or 10_000], torch.zeros(test_size or 10_000, dtype=torch.int64),
                                  tuple("0123456789"))

    def get_classifier(paths, data, config, **kwargs):
        seen["classifier"], seen["models"] = config, paths.models
        return None, {"test_accuracy": 1.0}

    def get_gan(paths, name, config, data, classifier, probe_samples, **kwargs):
        seen["gan"], seen["probe"] = config, probe_samples
        return type("Run", (), {"best_epoch": 1, "history": [{"fd": 1.0}]})(), {}

    for name, fake in (("load_data", load_data), ("get_classifier", get_classifier), ("get_gan", get_gan)):
        monkeypatch.setattr(pipeline, name, fake)
    monkeypatch.setenv("REALFAKE_PROFILE", "smoke")
    assert cli.main(["reference"]) == 0
    smoke = run_sizes("smoke")
    assert seen["sizes"] == (smoke["train_size"], smoke["test_size"]) == (2000, 1000)
    assert seen["classifier"]["epochs"] == smoke["classifier_changes"]["epochs"] == 1
    assert seen["probe"] == smoke["probe_samples"]
    assert all(seen["gan"][k] == v for k, v in SMOKE.items())
    assert seen["models"].parts[-3:] == ("results", "smoke", "model_best")


def test_clean_notebook_takes_its_sizes_from_run_sizes():
    notebook = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "dcgan_mnist_clean.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "run_sizes(PROFILE)" in code and "choose(smoke=2000" not in code
