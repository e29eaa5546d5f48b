"""The detect function and `python -m realfake.detect`: every good file scored, a bad one gets its own error line."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realfake.model_store import save_model
from realfake.models import build_model
from realfake.sd_detector import codec, detect

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def stored_detector(tmp_path):
    torch.manual_seed(0)
    spec = {"name": "cifake_cnn", "width": 8, "depth": 2, "stem": 8}
    model = build_model(spec).eval()
    folder = tmp_path / "model"
    save_model(folder, model, spec, config={"epochs": 0}, history=[])
    return folder


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)).save(good)
    cifake_like = tmp_path / "small.jpg"
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(cifake_like, quality=75)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image at all")
    return good, cifake_like, bad, tmp_path / "missing.png"


def test_score_files_keeps_going_after_a_bad_file(stored_detector, files):
    good, cifake_like, bad, missing = files
    model, _ = detect.load_detector(stored_detector)
    rows = detect.score_files([good, bad, cifake_like, missing], model)
    assert [r["file"] for r in rows] == [str(good), str(bad), str(cifake_like), str(missing)]
    assert 0 <= rows[0]["p_generated"] <= 1 and 0 <= rows[2]["p_generated"] <= 1
    assert rows[1]["p_generated"] is None and "notes.jpg" in rows[1]["error"] and "not a readable image" in rows[1]["error"]
    assert "cannot read the file" in rows[3]["error"]
    assert rows[0]["preprocessing"] == "90x120 -> 32x32 JPEG q75"
    assert rows[2]["preprocessing"] == "as is (CIFAKE format)"


def test_preprocessing_is_the_training_path(files):
    good, cifake_like, _, _ = files
    data = cifake_like.read_bytes()
    pixels, _ = detect.cifake_pixels(data, codec.open_rgb(data))
    assert np.array_equal(pixels.permute(1, 2, 0).numpy(), np.asarray(Image.open(cifake_like).convert("RGB")))
    data = good.read_bytes()
    pixels, _ = detect.cifake_pixels(data, codec.open_rgb(data))
    assert torch.equal(pixels, codec.normalised_pixels(data))


def test_an_upload_gets_a_row_and_a_line_whatever_it_holds(stored_detector, files):
    """The notebook's upload path: a non-image gets an error row, a tiny image "cannot judge", a small one is scored
    with a note that it was enlarged; every row prints as one line."""
    chooser = detect.Chooser(detect.open_detector(stored_detector))
    broken = detect.score_bytes(b"not an image", "upload.jpg", chooser)
    assert broken["p_generated"] is None and detect.row_line(broken) == (
        "upload.jpg: ERROR not a readable image (no image format recognised in its bytes)")
    tiny = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(tiny, "PNG")
    row = detect.score_bytes(tiny.getvalue(), "tiny.png", chooser)
    assert detect.row_line(row) == "tiny.png: cannot judge: 4x4 is too small (at least 8 pixels a side)"
    small = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(small, "PNG")
    line = detect.row_line(detect.score_bytes(small.getvalue(), "small.png", chooser), name="small")
    assert line.startswith("small: P(generated) = ") and "20x20 -> 32x32 JPEG q75 (enlarged" in line


def test_cli_prints_a_line_per_file_and_what_it_knows(stored_detector, files):
    good, _, bad, _ = files
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "realfake.detect", "--model", str(stored_detector), str(good), str(bad)],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[0].startswith(f"{good}: P(generated) = ")
    assert lines[1].startswith(f"{bad}: ERROR") and "not a readable image" in lines[1]
    assert "What these detectors know" in result.stdout and "32x32" in result.stdout
    assert '"uncertain"' in result.stdout and "0.9 or more" in result.stdout   # what the verdict words mean


def test_cli_json_and_missing_model(stored_detector, files, tmp_path, capsys):
    good = files[0]
    assert detect.main(["--json", "--model", str(stored_detector), str(good)]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["file"] == str(good) and 0 <= row["p_generated"] <= 1
    assert row["verdict"] == detect.verdict(row["p_generated"])
    assert detect.main(["--model", str(tmp_path / "nothing"), str(good)]) == 2
    assert "no such model" in capsys.readouterr().err


def test_a_damaged_stored_detector_is_named_and_left_in_place(tmp_path, capsys):
    """A model folder whose weights are damaged: one line naming the file and what to do, exit 2, files untouched."""
    import shutil
    from pathlib import Path as _Path

    from realfake.sd_detector.detect import main
    source = _Path(__file__).resolve().parents[1] / "model_best" / "sd_detector" / "cifake_cnn"
    folder = tmp_path / "broken"
    shutil.copytree(source, folder)
    (folder / "weights.pt").write_bytes(b"not a checkpoint")
    image = tmp_path / "a.png"
    from PIL import Image
    Image.new("RGB", (32, 32), (10, 200, 30)).save(image)
    assert main([str(image), "--model", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "weights.pt is unreadable" in err and "left as it is" in err and "REALFAKE_RETRAIN=1" in err
    assert (folder / "weights.pt").read_bytes() == b"not a checkpoint" and not list(folder.glob("*.corrupt"))


def test_what_it_knows_names_each_held_out_generator_with_its_auc(tmp_path):
    """The statement under every run gives the leave-one-generator-out AUC per generator (a mean would hide that one
    generator can be at chance), from the results file."""
    def fold(auc):
        return {"as_stored": {"roc_auc": auc}, "jpeg_q90_both": {"roc_auc": auc}}
    native = tmp_path / "native.json"
    native.write_text(json.dumps({"logo": {"ldm_256": fold(0.981), "sd_v1_384": fold(0.497),
                                           "sd_2.1_faces": fold(0.927)}}))
    text = detect.knows_text(tmp_path / "missing.json", native)
    assert "Latent Diffusion 0.98, Stable Diffusion v1 0.50, Stable Diffusion 2.1 portraits 0.93" in text
    assert "Measured on a generator" not in detect.knows_text(tmp_path / "missing.json", tmp_path / "missing.json")
