"""realfake.hands.dedup and realfake.hands: sources, deduplication, the labelled data set, the split."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest
import torch

from conftest import jpeg_bytes, random_array, write_list
from realfake.hands.dedup import first_occurrences, pixel_hashes
from realfake.hands.splits import split_within_groups
from realfake.hands.data import BadTestFolder, check_test_folder
from realfake.hands import (CLASS_NAMES, HandData, load_hand_data, load_test_hands, read_sources, source_of,
                            split_by_source)


# ---------------------------------------------------------------- source lists

@pytest.mark.parametrize("line, source", [
    ("VAE_hands_acse-jcw23_jcw23_VAE297.jpeg.jpeg", "acse-jcw23"),
    ("GAN_hands_edsml-bc123_edsml_bc123_GAN1.png.jpeg", "edsml-bc123"),
    ("VAE_hands_ACSE-AB12_ab12_VAE1.jpeg.jpeg", "acse-ab12"),        # case-lowered
    ("  VAE_hands_gems-nn20_x.jpeg  ", "gems-nn20"),                  # stripped
    ("filename2.txt", "filename2.txt"),                                # no pattern: the line itself
])
def test_source_of(line, source):
    assert source_of(line) == source


def test_read_sources_maps_line_i_to_sorted_file_i(tmp_path):
    folder = tmp_path / "VAE_hands"
    folder.mkdir()
    # five images and, at position 4 in sorted order, the list naming itself 'filename2.txt'
    for i in (5, 3, 1, 2, 6):          # created out of order
        (folder / f"VAE_hand_{i:03d}.jpeg").write_bytes(jpeg_bytes(random_array(i)))
    write_list(folder / "VAE_hand_004.jpeg", [
        "VAE_hands_acse-aa1_aa1_VAE297.jpeg.jpeg",
        "VAE_hands_edsml-bb2_bb2_VAE1.jpeg.jpeg",
        "VAE_hands_ACSE-CC3_cc3_VAE1.png.jpeg",
        "filename2.txt",
        "VAE_hands_acse-aa1_aa1_VAE298.jpeg.jpeg",
        "VAE_hands_gems-dd4_dd4_VAE7.jpeg.jpeg",
    ])
    assert read_sources(folder) == {
        "VAE_hand_001.jpeg": "acse-aa1",
        "VAE_hand_002.jpeg": "edsml-bb2",
        "VAE_hand_003.jpeg": "acse-cc3",
        "VAE_hand_004.jpeg": "filename2.txt",
        "VAE_hand_005.jpeg": "acse-aa1",
        "VAE_hand_006.jpeg": "gems-dd4",
    }


def test_read_sources_ignores_a_text_file_of_the_wrong_length(tmp_path):
    folder = tmp_path / "GAN_hands"
    folder.mkdir()
    for i in range(1, 4):
        (folder / f"GAN_hand_{i:03d}.jpeg").write_bytes(jpeg_bytes(random_array(i)))
    write_list(folder / "GAN_hand_004.jpeg", ["GAN_hands_acse-aa1_x.jpeg", "GAN_hands_acse-bb2_x.jpeg"])
    assert read_sources(folder) == {}


def test_read_sources_without_a_list_is_empty(tmp_path):
    folder = tmp_path / "real_hands"
    folder.mkdir()
    for i in range(3):
        (folder / f"real_hand_{i}.jpeg").write_bytes(jpeg_bytes(random_array(i)))
    assert read_sources(folder) == {}


# ---------------------------------------------------------------- dedup

def test_pixel_hashes_follow_pixels():
    a = torch.from_numpy(random_array(1))[None]
    b = torch.from_numpy(random_array(2))[None]
    pixels = torch.stack([a, b, a.clone()])
    hashes = pixel_hashes(pixels)
    assert len(hashes) == 3
    assert hashes[0] == hashes[2] != hashes[1]
    assert hashes[0] == hashlib.sha1(a.numpy().tobytes()).hexdigest()
    changed = pixels.clone()
    changed[2, 0, 31, 31] ^= 1                   # one pixel, one bit
    assert pixel_hashes(changed)[2] != hashes[0]


def test_first_occurrences_across_folders():
    seen: dict[str, str] = {}
    keep, repeats = first_occurrences(["h1", "h2", "h1", "h3"], ["A/a0", "A/a1", "A/a2", "A/a3"], seen)
    assert keep == [0, 1, 3]
    assert repeats == [(2, "A/a0")]
    keep, repeats = first_occurrences(["h4", "h2", "h3", "h4"], ["B/b0", "B/b1", "B/b2", "B/b3"], seen)
    assert keep == [0]
    assert repeats == [(1, "A/a1"), (2, "A/a3"), (3, "B/b0")]
    assert seen == {"h1": "A/a0", "h2": "A/a1", "h3": "A/a3", "h4": "B/b0"}


def test_first_occurrences_without_seen_is_per_call():
    assert first_occurrences(["x", "x"], ["n0", "n1"]) == ([0], [(1, "n0")])
    assert first_occurrences(["x"], ["m0"]) == ([0], [])


# ---------------------------------------------------------------- load_hand_data

def test_load_hand_data_labels_names_and_sources(hand_root):
    data = load_hand_data(".", progress=False)
    assert data.names == [
        "data/hands_cw1/real_hands/extra_0001.jpeg", "data/hands_cw1/real_hands/extra_0002.jpeg",
        "data/hands_cw1/real_hands/extra_0003.jpeg", "data/hands_cw1/real_hands/extra_0004.jpeg",
        "real_hands/real_002.jpeg", "real_hands/real_003.jpeg",
        "VAE_hands/VAE_hand_001.jpeg", "VAE_hands/VAE_hand_002.jpeg", "VAE_hands/VAE_hand_003.jpeg",
        "GAN_hands/GAN_hand_001.jpeg", "GAN_hands/GAN_hand_004.jpeg", "GAN_hands/GAN_hand_005.jpeg",
    ]
    assert data.labels.dtype == torch.long
    assert data.labels.tolist() == [0] * 6 + [1] * 3 + [2] * 3
    assert data.class_counts() == {"real": 6, "VAE": 3, "GAN": 3}
    assert tuple(data.pixels.shape) == (12, 1, 32, 32) and data.pixels.dtype == torch.uint8
    # real hands are their own group; generated ones carry the student from the list
    assert data.sources[:6] == data.names[:6]
    assert data.sources[6:] == ["acse-aa1", "acse-bb2", "edsml-cc3", "gems-dd4", "acse-ee5", "acse-ff6"]
    assert (hand_root / ".cache" / "realfake").is_dir()      # the CWD-relative cache, inside tmp_path


def test_sources_per_class_counts_distinct_generators(hand_root):
    data = load_hand_data(".", progress=False)
    assert data.sources_per_class() == {"real": 6, "VAE": 3, "GAN": 3}
    two_vae_from_one_student = data.take([6, 7, 9])
    two_vae_from_one_student.sources[1] = two_vae_from_one_student.sources[0]
    assert two_vae_from_one_student.sources_per_class() == {"real": 0, "VAE": 1, "GAN": 1}


def test_load_hand_data_reports_duplicates_naming_the_earlier_image(hand_root):
    data = load_hand_data(".", progress=False)
    assert data.duplicates.to_dict("records") == [
        {"folder": "real_hands", "file": "real_001.jpeg",
         "reason": "same pixels as data/hands_cw1/real_hands/extra_0002.jpeg", "action": "skipped"},
        {"folder": "VAE_hands", "file": "VAE_hand_005.jpeg",
         "reason": "same pixels as VAE_hands/VAE_hand_001.jpeg", "action": "skipped"},
    ]
    hashes = pixel_hashes(data.pixels)
    assert len(set(hashes)) == len(hashes) == 12


def test_load_hand_data_bad_file_report(hand_root):
    data = load_hand_data(".", progress=False)
    rows = {(row.folder, row.file): row.reason for row in data.report.itertuples()}
    assert rows == {
        ("VAE_hands", "VAE_hand_004.jpeg"): "text file, not an image",
        ("GAN_hands", "GAN_hand_002.jpeg"): "zip archive, not an image",
        ("GAN_hands", "GAN_hand_003.jpeg"): "text file, not an image",
    }
    assert set(data.report.action) == {"skipped"}


@pytest.mark.parametrize("limit, reals", [(None, 6), (4, 6), (2, 4), (1, 4)])
def test_max_extra_real(hand_root, limit, reals):
    # real_001 repeats extra_0002: it is a duplicate only while extra_0002 is among the extras used
    data = load_hand_data(".", max_extra_real=limit, progress=False)
    extras = [n for n in data.names if n.startswith("data/hands_cw1/")]
    assert len(extras) == (4 if limit is None else min(limit, 4))
    assert data.class_counts()["real"] == reals
    assert ("real_hands/real_001.jpeg" in data.names) == (limit is not None and limit < 2)
    assert data.class_counts()["VAE"] == 3 and data.class_counts()["GAN"] == 3


def test_pixel_hashes_of_no_images():
    assert pixel_hashes(torch.zeros((0, 1, 32, 32), dtype=torch.uint8)) == []


def test_max_extra_real_zero_uses_no_extra(hand_root):
    data = load_hand_data(".", max_extra_real=0, progress=False)
    assert data.class_counts() == {"real": 3, "VAE": 3, "GAN": 3}


def test_without_extra_real(hand_root):
    data = load_hand_data(".", extra_real=False, progress=False)
    assert data.names[:3] == ["real_hands/real_001.jpeg", "real_hands/real_002.jpeg", "real_hands/real_003.jpeg"]
    assert data.class_counts() == {"real": 3, "VAE": 3, "GAN": 3}
    assert list(data.duplicates.file) == ["VAE_hand_005.jpeg"]


def test_load_hand_data_with_absolute_root(hand_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = load_hand_data(hand_root, progress=False)
    assert data.names[0] == f"{hand_root}/data/hands_cw1/real_hands/extra_0001.jpeg"
    assert len(data) == 12


def test_take(hand_root):
    data = load_hand_data(".", progress=False)
    part = data.take([9, 0])
    assert part.names == [data.names[9], data.names[0]]
    assert part.labels.tolist() == [2, 0]
    assert part.sources == [data.sources[9], data.sources[0]]
    assert torch.equal(part.pixels, data.pixels[[9, 0]])


def test_load_test_hands_keeps_every_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "test_hands"
    folder.mkdir()
    (folder / "test_hand_0001.jpeg").write_bytes(jpeg_bytes(random_array(1)))
    (folder / "test_hand_0002.jpeg").write_text("oops, text\n")
    (folder / "test_hand_0003.jpeg").write_bytes(jpeg_bytes(random_array(3)))
    names = ["test_hand_0001.jpeg", "test_hand_0002.jpeg", "test_hand_0003.jpeg"]
    test = load_test_hands(".", progress=False, expected_names=names)
    assert test.names == names
    assert test.readable.tolist() == [True, False, True]
    assert int(test.pixels[1].sum()) == 0
    assert list(test.report.file) == ["test_hand_0002.jpeg"]


# ---------------------------------------------------------------- split_by_source

def make_hand_data(sources: list[str], labels: list[int]) -> HandData:
    n = len(labels)
    empty = pd.DataFrame(columns=["folder", "file", "reason", "action"])
    return HandData(torch.zeros((n, 1, 32, 32), dtype=torch.uint8), torch.tensor(labels), list(sources),
                    [f"img{i}" for i in range(n)], empty, empty)


@pytest.fixture
def grouped():
    sources, labels = [], []
    for i in range(30):                                  # 30 reals, one group each
        sources.append(f"real_hands/r{i}.jpeg"); labels.append(0)
    for s in range(6):                                   # 6 VAE students x 4 images
        for _ in range(4):
            sources.append(f"vae-student{s}"); labels.append(1)
    for s in range(5):                                   # 5 GAN students x 3 images
        for _ in range(3):
            sources.append(f"gan-student{s}"); labels.append(2)
    return make_hand_data(sources, labels)


def sources_of(data: HandData, index: torch.Tensor) -> set[str]:
    return {data.sources[i] for i in index.tolist()}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_keeps_sources_apart_and_covers_everything(grouped, seed):
    train, val = split_by_source(grouped, 0.2, seed)
    assert train.dtype == val.dtype == torch.int64
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(len(grouped)))
    assert not sources_of(grouped, train) & sources_of(grouped, val)
    for label in range(len(CLASS_NAMES)):
        assert (grouped.labels[val] == label).any(), f"class {label} has no validation source"
        assert (grouped.labels[train] == label).any(), f"class {label} has no training source"
    # round(0.2 * sources) of each class: 6 reals, 1 VAE student (of 6), 1 GAN student (of 5)
    assert len(sources_of(grouped, val)) == 6 + 1 + 1
    assert grouped.labels[val].bincount(minlength=3).tolist() == [6, 4, 3]


def test_split_is_deterministic_per_seed(grouped):
    first = split_by_source(grouped, 0.25, 3)
    again = split_by_source(grouped, 0.25, 3)
    other = split_by_source(grouped, 0.25, 4)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])


def test_split_with_a_student_in_two_classes(grouped):
    # the same student made VAE and GAN images: still never on both sides
    sources = list(grouped.sources)
    sources[-3:] = ["vae-student0"] * 3
    data = make_hand_data(sources, grouped.labels.tolist())
    for seed in range(5):
        train, val = split_by_source(data, 0.2, seed)
        assert not sources_of(data, train) & sources_of(data, val)
        assert len(train) + len(val) == len(data)


# ---------------------------------------------------------------- coursework 1's reals are optional (fault 5)

def test_missing_extra_real_folder_warns_and_trains_on_the_rest(hand_root):
    import shutil
    shutil.rmtree(hand_root / "data" / "hands_cw1")
    with pytest.warns(UserWarning, match="hands_cw1/real_hands is missing .*optional.*coursework-2 folders only"):
        data = load_hand_data(".", progress=False)
    assert data.class_counts()["real"] == 3 and not any("hands_cw1" in n for n in data.names)


def test_prepare_data_links_required_and_skips_optional(tmp_path):
    from realfake.hands.data import LINKS, prepare_data
    source, root = tmp_path / "source", tmp_path / "repo"
    for rel in LINKS.values():
        if not rel.startswith("hands_cw1"):
            (source / rel).mkdir(parents=True)
    root.mkdir()
    done = prepare_data(source, root)
    assert any("skipped data/hands_cw1/real_hands" in line and "optional" in line for line in done)
    assert (root / "test_hands").is_symlink() and not (root / "data" / "hands_cw1").exists()
    (source / "hands" / "GAN_hands").rmdir()
    with pytest.raises(FileNotFoundError, match="lacks hands/GAN_hands"):
        prepare_data(source, root)


# ---------------------------------------------------------------- split_within_groups (issue 6)

@pytest.mark.parametrize("seed", [0, 1, 7])
def test_within_group_split_holds_out_images_of_every_generator(grouped, seed):
    train, val = split_within_groups(grouped.sources, grouped.labels, 0.2, seed)
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(len(grouped)))
    generated = {s for s, label in zip(grouped.sources, grouped.labels.tolist()) if label > 0}
    # every generator is on both sides: one of its 3 or 4 images held out (round(0.2 * n), at least 1)
    assert sources_of(grouped, val) & generated == generated
    assert sources_of(grouped, train) & generated == generated
    assert grouped.labels[val].bincount(minlength=3).tolist() == [6, 6, 5]
    # the reals (each its own group) are drawn per class: round(0.2 * 30) of them
    assert not sources_of(grouped, train) & {grouped.sources[i] for i in val.tolist() if grouped.labels[i] == 0}


def test_within_group_split_is_deterministic_and_per_class(grouped):
    first = split_within_groups(grouped.sources, grouped.labels, 0.25, 3)
    assert all(torch.equal(a, b) for a, b in zip(first, split_within_groups(grouped.sources, grouped.labels, 0.25, 3)))
    assert not torch.equal(first[1], split_within_groups(grouped.sources, grouped.labels, 0.25, 4)[1])
    # one student with VAE and GAN images: each class of theirs keeps images on both sides
    sources = list(grouped.sources)
    sources[-3:] = ["vae-student0"] * 3
    train, val = split_within_groups(sources, grouped.labels, 0.2, 0)
    for label in (1, 2):
        for side in (train, val):
            assert any(sources[i] == "vae-student0" and grouped.labels[i] == label for i in side.tolist())


@pytest.mark.parametrize("kind", ["matching", "generators"])
def test_validation_split_halves_the_held_out_images_by_generator(grouped, kind):
    from realfake.hands import validation_split
    train, val, select, report = validation_split(grouped, kind, 0.4, 1)
    assert torch.equal(torch.cat([select, report]).sort().values, val)
    assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(len(grouped)))
    assert not sources_of(grouped, select) & sources_of(grouped, report)
    with pytest.raises(ValueError, match="unknown validation split"):
        validation_split(grouped, "random", 0.4, 1)


# ---------------------------------------------------------------- test_hands/ is checked before any training

def small_test_folder(tmp_path, n=3):
    folder = tmp_path / "test_hands"
    folder.mkdir()
    names = [f"test_hand_{i:04d}.jpeg" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(jpeg_bytes(random_array(i)))
    return folder, names


def test_an_extra_file_in_test_hands_is_refused_before_decoding(tmp_path, monkeypatch):
    folder, names = small_test_folder(tmp_path)
    (folder / "notes.txt").write_text("mine")
    decoded = []
    monkeypatch.setattr("realfake.hands.data.load_image_folder", lambda *a, **k: decoded.append(1))
    with pytest.raises(BadTestFolder, match=r"1 files are not test images and must be moved out, e.g. notes.txt"):
        load_test_hands(tmp_path, progress=False, expected_names=names)
    assert decoded == []


def test_missing_and_folder_shaped_test_images_are_named(tmp_path):
    folder, names = small_test_folder(tmp_path)
    (folder / names[0]).unlink()
    (folder / names[1]).unlink()
    (folder / names[1]).mkdir()
    with pytest.raises(BadTestFolder) as error:
        check_test_folder(folder, names)
    message = str(error.value)
    assert "1 test images are missing, e.g. test_hand_0001.jpeg" in message
    assert "1 test names are not files (a folder or a broken link), e.g. test_hand_0002.jpeg" in message


def test_the_course_test_folder_is_checked_by_default(tmp_path):
    folder, _ = small_test_folder(tmp_path)
    with pytest.raises(BadTestFolder, match="8431 test images are missing"):
        check_test_folder(folder)
