"""Loaders on small fixtures in the real on-disk layouts: CIFAKE (tarball and Kaggle tree), sd_vs_real,
DiffusionDB parts (keys and metadata copied from the real part-000001.json), Imagenette (torchvision's layout)."""
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from realfake.sd_detector import data as cifake_data
from realfake.sd_detector import diffusiondb, imagenette

torch.set_num_threads(1)

# Four real entries of DiffusionDB's part-000001.json (poloclub/diffusiondb, images/part-000001.zip).
DIFFUSIONDB_META = {
    "ec9b5e2c-028e-48ac-8857-a52814fd2a06.png": {"p": "doom eternal, game concept art, veins and worms, muscular, crustacean exoskeleton, chiroptera head, chiroptera ears, mecha, ferocious, fierce, hyperrealism, fine details, artstation, cgsociety, zbrush, no background ", "se": 3312523387, "c": 7.0, "st": 50, "sa": "k_euler"},
    "cd2a819b-faff-410a-af58-b371bd03c587.png": {"p": "a beautiful photorealistic painting of cemetery urbex unfinished building building industrial architecture nature abandoned by thomas cole, nature extraterrestial tron forest darkacademia thermal vision futuristic tokyo, archdaily, wallpaper, highly detailed, trending on artstation. ", "se": 3602562681, "c": 15.0, "st": 50, "sa": "k_lms"},
    "baf9a21b-cdd0-4302-9fef-8435d7253981.png": {"p": "doom eternal, evangelion, game concept art, veins and worms, muscular, crustacean exoskeleton, chiroptera head, chiroptera ears, mecha, ferocious, fierce, hyperrealism, fine details, artstation, cgsociety, zbrush, no background ", "se": 917080921, "c": 7.0, "st": 50, "sa": "k_euler"},
    "d64b60b0-e214-4ab4-a7f6-0172460201f4.png": {"p": "doom eternal, metro exodus, game concept art, veins and worms, muscular, crustacean exoskeleton, chiroptera head, chiroptera ears, mecha, ferocious, fierce, hyperrealism, fine details, artstation, cgsociety, zbrush, no background ", "se": 1006826059, "c": 7.0, "st": 50, "sa": "k_euler"},
}
COUNTS = {"train": {"REAL": 3, "FAKE": 3}, "test": {"REAL": 2, "FAKE": 2}}


def image_bytes(seed, size=32, fmt="JPEG", value=None):
    array = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    if value is not None:
        array[:] = value
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **({"quality": 75} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def make_cifake_tree(folder, counts=COUNTS):
    """Kaggle layout, file names as published ("0 (2).jpg"); REAL images dark, FAKE bright."""
    for split, per in counts.items():
        for cls, n in per.items():
            (folder / split / cls).mkdir(parents=True)
            for i in range(n):
                name = f"{i} ({i + 2}).jpg" if i else f"{i}.jpg"
                (folder / split / cls / name).write_bytes(image_bytes(i, value=30 if cls == "REAL" else 220))


def make_cifake_archive(tmp_path, counts=COUNTS, drop=None):
    tree = tmp_path / "tree" / "cifake"
    make_cifake_tree(tree, counts)
    if drop:
        (tree / drop).unlink()
    archive = tmp_path / "source" / "cifake" / "cifake.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="cifake")
    return archive


def test_extract_once_then_keep(tmp_path):
    archive = make_cifake_archive(tmp_path)
    target = tmp_path / "root" / "data" / "cifake"
    target.parent.mkdir(parents=True)
    assert cifake_data.extract_cifake(archive, target, COUNTS).startswith("extracted")
    assert cifake_data.cifake_complete(target, COUNTS)
    assert not (target.parent / "cifake.partial").exists()
    marker = target / "train" / "REAL" / "0.jpg"
    mtime = marker.stat().st_mtime_ns
    assert cifake_data.extract_cifake(archive, target, COUNTS).startswith("kept")
    assert marker.stat().st_mtime_ns == mtime


def test_incomplete_archive_is_refused_and_nothing_half_done_is_left(tmp_path):
    archive = make_cifake_archive(tmp_path, drop="test/FAKE/1 (3).jpg")
    target = tmp_path / "root" / "data" / "cifake"
    target.parent.mkdir(parents=True)
    with pytest.raises(ValueError, match="incomplete"):
        cifake_data.extract_cifake(archive, target, COUNTS)
    assert not target.exists()


def test_damaged_archive_fails_its_checksum(tmp_path):
    archive = make_cifake_archive(tmp_path)
    (archive.parent / "SHA256SUMS").write_text("0" * 64 + "  cifake.tar.gz\n")
    with pytest.raises(ValueError, match="SHA-256"):
        cifake_data.extract_cifake(archive, tmp_path / "out", COUNTS)


def test_prepare_data_reports_optional_sources_and_links_sd_vs_real(tmp_path):
    source, root = tmp_path / "source", tmp_path / "root"
    (source / "sd_vs_real" / "fake").mkdir(parents=True)
    (source / "sd_vs_real" / "real").mkdir(parents=True)
    root.mkdir()
    messages = cifake_data.prepare_data(source, root)
    assert any("skipped CIFAKE" in m for m in messages)
    assert (root / "data" / "sd_vs_real").is_symlink()


def test_load_split_labels_and_cache(tmp_path):
    tree = tmp_path / "cifake"
    make_cifake_tree(tree)
    folder = cifake_data.find_cifake(path=tree, download=False)
    split = cifake_data.load_split(folder, "train", cache_dir=tmp_path / "cache", progress=False)
    assert split.pixels.shape == (6, 3, 32, 32) and split.pixels.dtype == torch.uint8
    assert split.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert split.names[0] == "REAL/0.jpg" and split.names[-1] == "FAKE/2 (4).jpg"
    assert split.pixels[split.labels == 0].float().mean() < 60 < split.pixels[split.labels == 1].float().mean()
    assert list((tmp_path / "cache").glob("*.pt"))                       # decoded once, cached
    small = cifake_data.load_split(folder, "train", progress=False, limit_per_class=2)
    assert small.labels.tolist() == [0, 0, 1, 1]
    again = cifake_data.load_split(folder, "train", progress=False, limit_per_class=2)
    assert small.names == again.names and torch.equal(small.pixels, again.pixels)


def test_find_cifake_offline_says_what_to_do(tmp_path, monkeypatch):
    import kagglehub

    def offline(handle, *args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(kagglehub, "dataset_download", offline)
    with pytest.raises(FileNotFoundError, match="make data"):
        cifake_data.find_cifake(tmp_path)
    called = {}
    tree = tmp_path / "download" / "cifake"
    make_cifake_tree(tree)
    monkeypatch.setattr(kagglehub, "dataset_download", lambda handle, *a, **k: called.setdefault("h", handle) and str(tree.parent))
    assert cifake_data.find_cifake(tmp_path / "nowhere") == tree
    assert called["h"] == cifake_data.KAGGLE_HANDLE


def test_train_valid_split_is_seeded_and_disjoint():
    a_train, a_valid = cifake_data.train_valid_split(100, 0.1, seed=3)
    b_train, b_valid = cifake_data.train_valid_split(100, 0.1, seed=3)
    assert torch.equal(a_valid, b_valid) and len(a_valid) == 10
    assert not set(a_train.tolist()) & set(a_valid.tolist())
    assert not torch.equal(a_valid, cifake_data.train_valid_split(100, 0.1, seed=4)[1])


def make_part(root, number=1, missing=None, extra=None):
    folder = root / diffusiondb.part_name(number)
    folder.mkdir(parents=True)
    (folder / f"{folder.name}.json").write_text(json.dumps(DIFFUSIONDB_META))
    for i, key in enumerate(DIFFUSIONDB_META):
        if key != missing:
            (folder / key).write_bytes(image_bytes(i, size=64, fmt="PNG"))
    if extra:
        (folder / extra).write_bytes(image_bytes(9, size=64, fmt="PNG"))
    return folder


def test_diffusiondb_part_layout(tmp_path):
    missing = "baf9a21b-cdd0-4302-9fef-8435d7253981.png"
    folder = make_part(tmp_path, missing=missing, extra="stray.png")
    part = diffusiondb.load_part(folder)
    assert len(part) == 3 and missing not in [p.name for p in part.files]
    assert part.metadata.set_index("key").loc["cd2a819b-faff-410a-af58-b371bd03c587.png", "sampler"] == "k_lms"
    assert part.metadata.key.tolist() == sorted(part.metadata.key) and part.metadata.seed.iloc[0] == DIFFUSIONDB_META[part.metadata.key.iloc[0]]["se"]
    assert any(missing in p and "missing" in p for p in part.problems)
    assert any("stray.png" in p for p in part.problems)
    merged = diffusiondb.load_parts(tmp_path)
    assert len(merged) == 3
    with pytest.raises(FileNotFoundError, match="not a DiffusionDB part"):
        diffusiondb.load_part(tmp_path)


def test_diffusiondb_uses_the_local_copy_and_fails_clearly_offline(tmp_path, monkeypatch):
    import datasets
    import huggingface_hub
    calls = []

    def offline(*args, **kwargs):
        calls.append((args, kwargs))
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setattr(diffusiondb, "reachable", lambda *a, **k: True)     # both download routes tried, both fail
    with pytest.raises(diffusiondb.DatasetUnavailable, match="(?s)part-000001.zip.*load_dataset.*98 Stable.*sd_vs_real"):
        diffusiondb.fetch_diffusiondb(tmp_path)
    (zip_args, _), (dataset_args, dataset_kwargs) = calls
    assert zip_args == ("poloclub/diffusiondb", "images/part-000001.zip")
    # datasets 4 and later refuse loading scripts: the Hub's Parquet conversion is read, no script is run
    assert dataset_args[:2] == ("poloclub/diffusiondb", "2m_random_1k")
    assert dataset_kwargs["revision"] == "refs/convert/parquet" and "trust_remote_code" not in dataset_kwargs
    monkeypatch.setattr(diffusiondb, "reachable", lambda *a, **k: False)    # no network at all: fails at once
    with pytest.raises(diffusiondb.DatasetUnavailable, match="cannot be reached"):
        diffusiondb.fetch_diffusiondb(tmp_path)
    make_part(tmp_path)                                                     # the unpacked part zip's layout
    assert len(diffusiondb.fetch_diffusiondb(tmp_path)) == 4


def test_diffusiondb_from_datasets_is_written_in_the_part_layout(tmp_path, monkeypatch):
    import datasets
    import huggingface_hub
    from PIL import Image

    def no_zip(*args, **kwargs):
        raise ConnectionError("offline")

    rows = [{"image_name": key, "image": Image.new("RGB", (64, 64), (i * 40, 0, 0)), "prompt": meta["p"],
             "seed": meta["se"], "cfg": meta["c"], "step": meta["st"], "sampler": meta["sa"]}
            for i, (key, meta) in enumerate(DIFFUSIONDB_META.items())]
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_zip)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: rows)
    monkeypatch.setattr(diffusiondb, "reachable", lambda *a, **k: True)
    part = diffusiondb.fetch_diffusiondb(tmp_path)
    assert part.folder == tmp_path / "2m_random_1k" and len(part) == 4 and not part.problems
    assert part.metadata.set_index("key").loc["cd2a819b-faff-410a-af58-b371bd03c587.png", "sampler"] == "k_lms"
    monkeypatch.setattr(datasets, "load_dataset", no_zip)                    # the copy is used from now on
    assert len(diffusiondb.fetch_diffusiondb(tmp_path)) == 4


def test_imagenette_in_torchvision_layout(tmp_path):
    for split, wnids in (("train", ["n01440764", "n03028079"]), ("val", ["n01440764", "n03028079"])):
        for j, wnid in enumerate(wnids):
            folder = tmp_path / "imagenette2-160" / split / wnid
            folder.mkdir(parents=True)
            for i in range(2):
                (folder / f"{wnid}_{i}.JPEG").write_bytes(image_bytes(10 * j + i, size=48))
    paths, labels, classes = imagenette.load_imagenette(tmp_path, "val", download=False)
    assert len(paths) == 4 and labels == [0, 0, 1, 1]
    assert classes == ["tench", "church"]
    with pytest.raises(imagenette.DatasetUnavailable, match="sd_vs_real"):
        imagenette.load_imagenette(tmp_path / "empty", download=False)


def test_sd_vs_real_files_and_three_way_split(tmp_path):
    for sub, fmt, n in (("fake", "PNG", 5), ("real", "JPEG", 5)):
        (tmp_path / sub).mkdir()
        for i in range(n):
            (tmp_path / sub / f"{i:05d}.{fmt.lower()}").write_bytes(image_bytes(i, fmt=fmt))
    paths, labels = cifake_data.sd_vs_real_files(tmp_path)
    assert labels == [0] * 5 + [1] * 5 and paths[0].parent.name == "real"
    split = cifake_data.split_three(labels, seed=0)
    assert sorted(split["train"] + split["valid"] + split["test"]) == list(range(10))
    assert {labels[i] for i in split["test"]} == {0, 1}
    with pytest.raises(FileNotFoundError, match="make data"):
        cifake_data.sd_vs_real_files(tmp_path / "fake")


def test_sources_normalise_both_classes_and_resnet_finetune_runs_on_the_loop(tmp_path):
    from realfake.sd_detector import sources
    paths, labels = [], []
    for i in range(10):
        fake, real = tmp_path / f"f{i}.png", tmp_path / f"r{i}.jpg"
        fake.write_bytes(image_bytes(i, size=64, fmt="PNG"))
        real.write_bytes(image_bytes(50 + i, size=48))
        paths += [fake, real]
        labels += [1, 0]
    (tmp_path / "bad.png").write_text("oops")
    pixels, y, kept, problems = sources.load_normalised(paths + [tmp_path / "bad.png"], labels + [1], size=32)
    assert pixels.shape == (20, 3, 32, 32) and y.tolist() == labels
    assert len(problems) == 1 and "bad.png" in problems[0]
    config = {"epochs": 1, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 8, "seed": 0}
    model, history, split = sources.finetune_resnet50(pixels, y, config, pretrained=False, progress=False)
    assert len(history) == 1 and history[0]["pretrained"] is False and 0 <= history[0]["valid_accuracy"] <= 1
    assert sources.resnet_probs(model, pixels[split["test"]]).shape == (len(split["test"]),)


@pytest.mark.parametrize("limit", [None, 5], ids=["whole folder", "smoke subset"])
def test_load_split_names_the_unreadable_files_it_skips(tmp_path, limit):
    tree = tmp_path / "cifake"
    make_cifake_tree(tree)
    (tree / "train" / "FAKE" / "9 (9).jpg").write_bytes(b"not an image, a text file\n")
    folder = cifake_data.find_cifake(path=tree, download=False)
    with pytest.warns(UserWarning, match=r"FAKE: skipped 1 unreadable file\(s\): 9 \(9\)\.jpg: text file"):
        split = cifake_data.load_split(folder, "train", cache_dir=tmp_path / "cache", progress=False,
                                       limit_per_class=limit)
    assert split.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert "FAKE/9 (9).jpg" not in split.names


def test_missing_course_data_says_what_to_do_here_and_in_colab(tmp_path):
    from realfake.images import load_image_folder
    from realfake.sd_detector import native_train
    colab = "in Colab, put it in MyDrive/realfake-data and run the notebook's first cell again"
    with pytest.raises(FileNotFoundError, match=rf"sd_vs_real: expected fake/ and real/ \(run `make data` to link "
                                                rf"\.\./shared/data/sd_vs_real; {colab}\)"):
        cifake_data.sd_vs_real_files(tmp_path / "sd_vs_real")
    with pytest.raises(FileNotFoundError, match=rf"multigen/metadata.csv: not found \(run `make data` to link "
                                                rf"\.\./shared/data/multigen; {colab}\)"):
        native_train.dataset_items(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"image folder .*real_hands does not exist \(run `make data`; {colab}\)"):
        load_image_folder(tmp_path / "real_hands")
