"""The native-resolution detector and `python -m realfake.detect` on unusual files (tiny synthetic images)."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realfake.model_store import save_model
from realfake.models import build_model
from realfake.sd_detector import codec, detect, native, native_train
from realfake.sd_detector.native_model import npr_residual

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def noise(height, width):
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A folder like model_best/sd_detector with a tiny cifake_cnn and a tiny native_npr, used by name."""
    folder = tmp_path / "sd_detector"
    torch.manual_seed(0)
    for name, spec, extra in (("cifake_cnn", {"name": "cifake_cnn", "width": 8, "depth": 2, "stem": 8}, {}),
                              ("native_npr", {"name": "native_npr", "width": 8}, {"tile": 32, "max_tiles": 16})):
        save_model(folder / name, build_model(spec).eval(), spec, config={}, history=[], extra=extra)
    monkeypatch.setattr(detect, "models_folder", lambda: folder)
    return folder


# ---------------------------------------------------------------- reading unusual files

def test_16_bit_grey_png_keeps_its_contrast(tmp_path):
    path = tmp_path / "grey16.png"
    ramp = np.tile(np.linspace(1000, 5000, 64), (48, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    array = np.asarray(codec.open_rgb(path.read_bytes(), str(path)))
    assert array.shape == (48, 64, 3) and array.min() == 0 and array.max() == 255  # not blank white
    assert (np.diff(array[0, :, 0].astype(int)) >= 0).all()


def test_float_tiff_is_scaled_by_its_value_range(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.tile(np.linspace(0.0, 1.0, 40, dtype=np.float32), (30, 1)), "F").save(path)
    array = np.asarray(codec.open_rgb(path.read_bytes(), str(path)))
    assert array.min() == 0 and array.max() == 255 and len(np.unique(array)) > 30  # not blank black


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(noise(20, 40)).save(path, exif=exif.tobytes())
    image, notes = codec.decode(path.read_bytes(), str(path))
    assert image.size == (20, 40) and notes == ["EXIF orientation 6 applied"]


def test_animated_gif_says_it_reads_the_first_frame(tmp_path, models):
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(noise(80, 80)) for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    row = detect.score_files([path])[0]
    assert row["notes"] == ["animated (3 frames): scored on the first frame only"] and row["p_generated"] is not None


def test_a_giant_image_is_refused_before_it_is_decoded(tmp_path, models):
    path = tmp_path / "giant.png"
    Image.new("1", (8000, 7000)).save(path)   # 56 megapixels, a few kB on disk
    started = time.perf_counter()
    row = detect.score_files([path])[0]
    assert time.perf_counter() - started < 2
    assert row["p_generated"] is None and "8000x7000" in row["error"] and "above the limit" in row["error"]


def test_flat_and_tiny_images_cannot_be_judged(tmp_path, models):
    paths = []
    for name, image in (("one_pixel.png", Image.new("RGB", (1, 1), (200, 10, 10))),
                        ("flat.png", Image.new("RGB", (300, 200), (90, 90, 90))),
                        ("tiny.png", Image.fromarray(noise(5, 40)))):
        image.save(tmp_path / name)
        paths.append(tmp_path / name)
    rows = detect.score_files(paths)
    assert all(r["p_generated"] is None and r["reason"].startswith("cannot judge") and r["error"] is None for r in rows)
    assert "flat colour" in rows[1]["reason"] and "too small" in rows[0]["reason"] and "too small" in rows[2]["reason"]


# ---------------------------------------------------------------- which model reads a file

def test_each_file_gets_the_right_model_and_says_why(tmp_path, models):
    small, large = tmp_path / "small.jpg", tmp_path / "large.png"
    Image.fromarray(noise(32, 32)).save(small, quality=75)
    Image.fromarray(noise(100, 150)).save(large)
    rows = detect.score_files([small, large])
    assert rows[0]["model"] == "cifake_cnn" and "CIFAKE's own size" in rows[0]["reason"]
    assert rows[1]["model"] == "native_npr" and "read at its own size" in rows[1]["reason"]
    assert rows[1]["preprocessing"] == "150x100 as is: 12 tiles of 32x32"  # 4 x 5 thinned to at most 16
    assert all(0 < r["p_generated"] < 1 for r in rows)


def test_a_re_encoding_model_says_so_in_its_row(tmp_path, models):
    """The stored recipe re-encodes every image before reading it: the row tells the user, and the score is that of
    the re-encoded pixels."""
    spec = {"name": "native_npr", "width": 8, "recode_quality": 90}
    save_model(models / "native_npr", build_model(spec).eval(), spec, config={}, history=[],
               extra={"tile": 32, "max_tiles": 16})
    path, image = tmp_path / "large.png", noise(100, 150)
    Image.fromarray(image).save(path)
    row = detect.score_files([path])[0]
    assert row["model"] == "native_npr" and row["preprocessing"] == "150x100 re-encoded JPEG q90 at its size: 12 tiles of 32x32"
    plain = build_model({"name": "native_npr", "width": 8}).eval()     # the same weights, reading pixels as given
    plain.load_state_dict(detect.load_detector(models / "native_npr")[0].state_dict())
    recoded, as_is = (native.score_pixels(plain, pixels, 32, 16)[0] for pixels in (native.recode(image, 90), image))
    assert row["p_generated"] == pytest.approx(recoded) and row["p_generated"] != pytest.approx(as_is)


def test_model_by_name_and_an_unknown_name(tmp_path, models, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(noise(64, 64)).save(image)
    assert detect.main(["--json", "--model", "cifake_cnn", str(image)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["file"] == str(image) and row["model"] == "cifake_cnn" and 0 <= row["p_generated"] <= 1
    assert detect.main(["--model", "cifake_cnn_cnndetection_typo", str(image)]) == 2
    err = capsys.readouterr().err
    assert "no such model: cifake_cnn_cnndetection_typo" in err and "cifake_cnn, native_npr" in err


def test_the_command_imports_no_torchvision_pandas_or_matplotlib(tmp_path, models):
    image = tmp_path / "x.png"
    Image.fromarray(noise(70, 90)).save(image)
    code = ("import json, sys\nfrom realfake.detect import main\n"
            f"main(['--json', '--model', {str(models / 'native_npr')!r}, {str(image)!r}])\n"
            "print(json.dumps([m for m in ('torchvision', 'pandas', 'matplotlib') if m in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = result.stdout.splitlines()
    assert json.loads(lines[0])["model"] == "native_npr", result.stderr
    assert json.loads(lines[-1]) == []


# ---------------------------------------------------------------- the native model

def test_tiles_cover_the_image_at_even_offsets():
    grid = native.tile_grid(300, 200, 64, 64)
    tops, lefts = sorted({t for t, _ in grid}), sorted({l for _, l in grid})
    assert tops[0] == 0 and tops[-1] + 64 >= 300 - 1 and lefts[0] == 0 and lefts[-1] + 64 >= 200 - 1
    assert all(t % 2 == 0 and l % 2 == 0 for t, l in grid) and len(grid) == 5 * 4
    assert len(native.tile_grid(4000, 3000, 64, 64)) <= 64
    with pytest.raises(ValueError):
        native.tile_grid(40, 200, 64)


def test_npr_residual_vanishes_on_a_nearest_upsampled_image():
    small = torch.rand(1, 3, 8, 8)
    upsampled = torch.nn.functional.interpolate(small, scale_factor=2.0, mode="nearest")
    assert npr_residual(upsampled).abs().max() == 0
    assert npr_residual(torch.rand(1, 3, 16, 16)).abs().max() > 0


def synthetic_items(tmp_path):
    """'Generated' images are 2x nearest up-sampled noise (the trace NPR reads), photos plain noise."""
    items, arrays = [], []
    for i in range(12):
        fake = np.repeat(np.repeat(noise(40, 40), 2, 0), 2, 1)
        for label, group, array in ((1, "gen", fake), (0, "photos", noise(80, 80))):
            items.append(native_train.Item(tmp_path / f"{group}{i}.png", label, group, "multigen", False))
            arrays.append(array)
    return items, arrays


def test_training_learns_the_upsampling_trace_and_resumes_the_same(tmp_path):
    items, arrays = synthetic_items(tmp_path)
    config = {**native_train.recipe("smoke"), "epochs": 3, "steps_per_epoch": 10, "batch_size": 16, "augment": {}}
    model, history = native_train.train(arrays, items, config, tmp_path / "ck.pt", progress=False)
    probs = native_train.score_arrays(model, arrays, config["crop"], 4)
    labels = [it.label for it in items]
    assert native_train.metrics_with_ci(labels, probs, n_boot=20)["roc_auc"] > 0.9
    again, _ = native_train.train(arrays, items, config, tmp_path / "ck.pt", progress=False)  # resumes: same weights
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_the_smoke_profile_is_tiny_whatever_a_variant_asks_for():
    for name, changes in native_train.VARIANTS.items():
        config = native_train.recipe("smoke", **changes)
        assert config["epochs"] * config["steps_per_epoch"] * config["batch_size"] <= 16, name
        assert config["model"]["width"] == 8, name
    assert native_train.recipe("cpu", **native_train.VARIANTS["npr_crop64_aug_recode90_4x"])["epochs"] == 30


def test_metrics_with_intervals():
    labels = np.array([0] * 20 + [1] * 20)
    probs = np.r_[np.linspace(0.0, 0.6, 20), np.linspace(0.4, 1.0, 20)]
    m = native_train.metrics_with_ci(labels, probs, n_boot=200)
    assert 0.8 < m["roc_auc"] < 1 and m["roc_auc_ci"][0] <= m["roc_auc"] <= m["roc_auc_ci"][1]
    assert m["balanced_accuracy"] == pytest.approx(0.8)  # 4 of 20 wrong on each side and m["n_generated"] == 20


def test_codec_control_reencodes_at_native_size():
    array = noise(50, 70)
    recoded = native.recode(array, native_train.RECODE_QUALITY)
    assert recoded.shape == array.shape and not np.array_equal(recoded, array)


def test_a_model_with_recode_quality_reads_every_image_re_encoded():
    """The recode variant: the detector re-encodes the whole image as JPEG at the model's quality before cutting tiles;
    training reads crops of images re-encoded once the same way."""
    torch.manual_seed(0)
    plain = build_model({"name": "native_npr", "width": 8}).eval()
    recoding = build_model({"name": "native_npr", "width": 8, "recode_quality": 90}).eval()
    recoding.load_state_dict(plain.state_dict())
    image = noise(96, 128)
    recoded = native.recode(image, 90)
    assert not np.array_equal(recoded, image)
    assert native.score_pixels(recoding, image, 32)[0] == pytest.approx(native.score_pixels(plain, recoded, 32)[0])
    assert native.score_pixels(recoding, image, 32)[0] != pytest.approx(native.score_pixels(plain, image, 32)[0])
    assert native.score_batch(recoding, [image], 32) == pytest.approx([native.score_pixels(recoding, image, 32)[0]])
    cache = {}
    config = native_train.recipe("smoke", model={"recode_quality": 90})
    arrays = native_train.training_arrays([image], config, cache)
    assert np.array_equal(arrays[0], recoded) and native_train.training_arrays([image], config, cache) is arrays
    assert native_train.training_arrays([image], native_train.recipe("smoke"), cache)[0] is image


def test_the_choice_takes_the_worse_of_the_two_readings():
    def entry(stored, control):
        return {"sd_vs_real": {"as_stored": {"roc_auc": stored}, "jpeg_q90_both": {"roc_auc": control}}}
    table = {"leans on the codec": entry(0.21, 0.68), "steady": entry(0.56, 0.55)}
    assert max(table, key=lambda name: native_train.worse_auc(table[name])) == "steady"


def test_dataset_items_name_what_they_skip(tmp_path, capsys):
    """Entries of sd_vs_real that are not images to train on are named, not dropped silently."""
    multigen = tmp_path / "data" / "multigen"
    (multigen / "fake").mkdir(parents=True)
    Image.fromarray(noise(64, 64)).save(multigen / "fake" / "a.png")
    (multigen / "metadata.csv").write_text("file,label,generator\nfake/a.png,fake,ldm_256\n")
    for sub in ("real", "fake"):
        (tmp_path / "data" / "sd_vs_real" / sub).mkdir(parents=True)
    Image.fromarray(noise(64, 64)).save(tmp_path / "data" / "sd_vs_real" / "real" / "p.png")
    (tmp_path / "data" / "sd_vs_real" / "real" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "data" / "sd_vs_real" / "fake" / "folder.png").mkdir()
    items = native_train.dataset_items(tmp_path)
    assert [item.path.name for item in items] == ["a.png", "p.png"]
    out = capsys.readouterr().out
    assert ".DS_Store: a hidden file" in out and "folder.png: not a file" in out
