"""realfake.images: decoding, normalisation, the bad-file report and the on-disk cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

import realfake.images as images
from conftest import (BAD_FOLDER_FILES, READABLE_FILES, decode_with_pil, image_bytes, jpeg_bytes, random_array,
                      truncated_source_bytes, zip_bytes)
from realfake.images import ImageSet, NotAnImage, decode_image, load_image_folder, read_text_file, sniff_non_image

KEPT_ACTION = "kept as a row with blank pixels; its prediction is a guess"


def load(folder, cache_dir, keep_unreadable=False):
    return load_image_folder(folder, keep_unreadable=keep_unreadable, cache_dir=cache_dir, progress=False)


def rows_by_file(image_set: ImageSet) -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = {}
    for row in image_set.report.itertuples():
        rows.setdefault(row.file, []).append((row.reason, row.action))
    return rows


# ---------------------------------------------------------------- sniff / decode

@pytest.mark.parametrize("data, expected", [
    (b"", "empty file"),
    (b"hello\nworld\n", "text file, not an image"),
    ("VAE_hands_acse-jcw23_jcw23_VAE297.jpeg.jpeg\n".encode(), "text file, not an image"),
    (b"PK\x03\x04rest-of-a-zip", "zip archive, not an image"),
])
def test_sniff_names_non_images(data, expected):
    assert sniff_non_image(data) == expected


def test_sniff_lets_real_images_through():
    assert sniff_non_image(jpeg_bytes(random_array(0))) is None
    assert sniff_non_image(image_bytes(random_array(0))) is None
    assert sniff_non_image(zip_bytes()) == "zip archive, not an image"


def test_decode_plain_32x32_grey_has_no_notes():
    array = random_array(5)
    decoded, notes = decode_image(image_bytes(array), 32, allow_truncated=False)
    assert notes == []
    assert decoded.dtype == np.uint8 and decoded.shape == (32, 32)
    np.testing.assert_array_equal(decoded, array)   # PNG is lossless


def test_decode_rgb_and_size_notes_in_order():
    rgb = np.random.default_rng(1).integers(0, 256, (20, 40, 3), dtype=np.uint8)   # 40 wide, 20 high
    decoded, notes = decode_image(image_bytes(rgb), 32, allow_truncated=False)
    assert notes == [("colour mode RGB", "converted to greyscale"), ("size 40x20", "resized to 32x32")]
    expected = np.asarray(Image.fromarray(rgb).convert("L").resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("data, message", [
    (b"", "empty file"),
    (b"not an image", "text file, not an image"),
    (b"PK\x03\x04" + b"\x00" * 20, "zip archive, not an image"),
])
def test_decode_raises_with_what_the_file_is(data, message):
    with pytest.raises(NotAnImage, match=f"^{message}$"):
        decode_image(data, 32, allow_truncated=True)


def test_decode_truncated_depends_on_allow_truncated():
    source = truncated_source_bytes()
    half = source[:len(source) // 2]
    with pytest.raises(NotAnImage, match="^truncated image$"):
        decode_image(half, 32, allow_truncated=False)
    partial, notes = decode_image(half, 32, allow_truncated=True)
    assert notes == [("truncated image", "decoded partially; its prediction is a guess")]
    full, _ = decode_image(source, 32, allow_truncated=False)
    np.testing.assert_array_equal(partial[:8], full[:8])   # the first row of 8x8 blocks is intact
    assert not np.array_equal(partial, full)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False   # the global PIL switch is put back


# ---------------------------------------------------------------- load_image_folder: training sets

def test_training_load_skips_unreadable(bad_folder, tmp_path):
    result = load(bad_folder, tmp_path / "cache")
    assert result.names == READABLE_FILES
    assert result.pixels.dtype == torch.uint8
    assert tuple(result.pixels.shape) == (4, 1, 32, 32)
    assert result.readable.dtype == torch.bool and result.readable.tolist() == [True] * 4
    assert len(result) == 4
    assert result.folder == str(bad_folder)


def test_training_load_report(bad_folder, tmp_path):
    result = load(bad_folder, tmp_path / "cache")
    assert list(result.report.columns) == ["folder", "file", "reason", "action"]
    assert set(result.report.folder) == {str(bad_folder)}
    rows = rows_by_file(result)
    assert "a_valid.jpeg" not in rows                       # nothing to say about a clean image
    assert rows["b_wide.png"] == [("size 32x24", "resized to 32x32")]
    assert rows["c_tall.png"] == [("size 10x32", "resized to 32x32")]
    assert rows["d_rgb.png"] == [("colour mode RGB", "converted to greyscale")]
    assert rows["e_text.jpeg"] == [("text file, not an image", "skipped")]
    assert rows["f_zip.jpeg"] == [("zip archive, not an image", "skipped")]
    assert rows["g_truncated.jpeg"] == [("truncated image", "skipped")]
    assert rows["h_header_cut.jpeg"] == [("truncated image", "skipped")]
    assert rows["i_empty.jpeg"] == [("empty file", "skipped")]
    assert len(result.report) == 8


def test_training_load_pixels_are_normalised_copies(bad_folder, tmp_path):
    result = load(bad_folder, tmp_path / "cache")
    by_name = dict(zip(result.names, result.pixels[:, 0].numpy()))
    np.testing.assert_array_equal(by_name["a_valid.jpeg"], decode_with_pil(bad_folder / "a_valid.jpeg"))
    np.testing.assert_array_equal(by_name["d_rgb.png"], decode_with_pil(bad_folder / "d_rgb.png"))
    wide = Image.open(bad_folder / "b_wide.png")
    assert wide.size == (32, 24)
    np.testing.assert_array_equal(by_name["b_wide.png"], np.asarray(wide.resize((32, 32), Image.BILINEAR)))
    tall = Image.open(bad_folder / "c_tall.png")
    assert tall.size == (10, 32)
    np.testing.assert_array_equal(by_name["c_tall.png"], np.asarray(tall.resize((32, 32), Image.BILINEAR)))


# ---------------------------------------------------------------- load_image_folder: test sets

def test_test_set_load_keeps_every_file(bad_folder, tmp_path):
    result = load(bad_folder, tmp_path / "cache", keep_unreadable=True)
    assert result.names == BAD_FOLDER_FILES
    assert tuple(result.pixels.shape) == (9, 1, 32, 32) and result.pixels.dtype == torch.uint8
    readable = dict(zip(result.names, result.readable.tolist()))
    assert readable == {name: name in READABLE_FILES for name in BAD_FOLDER_FILES}
    pixels = dict(zip(result.names, result.pixels[:, 0]))
    for blank in ("e_text.jpeg", "f_zip.jpeg", "h_header_cut.jpeg", "i_empty.jpeg"):
        assert int(pixels[blank].abs().sum()) == 0, blank
    # the truncated JPEG is decoded as far as it goes: real pixels on top
    full, _ = decode_image(truncated_source_bytes(), 32, allow_truncated=False)
    partial = pixels["g_truncated.jpeg"].numpy()
    np.testing.assert_array_equal(partial[:8], full[:8])
    assert partial.any()


def test_test_set_load_report(bad_folder, tmp_path):
    result = load(bad_folder, tmp_path / "cache", keep_unreadable=True)
    rows = rows_by_file(result)
    assert rows["e_text.jpeg"] == [("text file, not an image", KEPT_ACTION)]
    assert rows["f_zip.jpeg"] == [("zip archive, not an image", KEPT_ACTION)]
    assert rows["i_empty.jpeg"] == [("empty file", KEPT_ACTION)]
    assert rows["g_truncated.jpeg"] == [("truncated image", "decoded partially; its prediction is a guess")]
    [(reason, action)] = rows["h_header_cut.jpeg"]
    assert reason.startswith("truncated image, no pixels recoverable") and action == KEPT_ACTION
    assert rows["b_wide.png"] == [("size 32x24", "resized to 32x32")]
    assert "a_valid.jpeg" not in rows


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    result = load(tmp_path / "empty", None)
    assert result.names == [] and tuple(result.pixels.shape) == (0, 1, 32, 32) and len(result.report) == 0
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nowhere", None)


def test_hidden_files_are_ignored(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"junk\x00\x01")
    (folder / "x.jpeg").write_bytes(jpeg_bytes(random_array(0)))
    result = load(folder, None)
    assert result.names == ["x.jpeg"] and len(result.report) == 0


def test_subset_keeps_rows_and_report_in_step(bad_folder, tmp_path):
    result = load(bad_folder, tmp_path / "cache", keep_unreadable=True)
    part = result.subset([6, 1])
    assert part.names == ["g_truncated.jpeg", "b_wide.png"]
    assert torch.equal(part.pixels, result.pixels[[6, 1]])
    assert part.readable.tolist() == [False, True]
    assert sorted(part.report.file) == ["b_wide.png", "g_truncated.jpeg"]


def test_read_text_file(tmp_path):
    (tmp_path / "list.jpeg").write_text("a\nb\n")
    (tmp_path / "img.jpeg").write_bytes(jpeg_bytes(random_array(0)))
    assert read_text_file(tmp_path / "list.jpeg") == ["a", "b"]
    assert read_text_file(tmp_path / "img.jpeg") is None


# ---------------------------------------------------------------- the cache

def forbid_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("decode_image called although the folder is cached")
    monkeypatch.setattr(images, "decode_image", refuse)


def count_decoding(monkeypatch) -> list[int]:
    calls = [0]
    original = images.decode_image

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)
    monkeypatch.setattr(images, "decode_image", counting)
    return calls


@pytest.mark.parametrize("keep_unreadable", [False, True])
def test_second_load_comes_from_cache(bad_folder, tmp_path, monkeypatch, keep_unreadable):
    cache = tmp_path / "cache"
    first = load(bad_folder, cache, keep_unreadable)
    assert len(list(cache.glob("hands-*.pt"))) == 1
    forbid_decoding(monkeypatch)
    second = load(bad_folder, cache, keep_unreadable)
    assert second.names == first.names
    assert torch.equal(second.pixels, first.pixels) and second.pixels.dtype == torch.uint8
    assert torch.equal(second.readable, first.readable)
    assert second.report.equals(first.report)


def test_cached_report_names_the_folder_as_the_caller_does(bad_folder, tmp_path, monkeypatch):
    # The report's folder column once came back as the first caller spelt the path (absolute here),
    # so a later relative load could not find its own report rows among its names.
    cache = tmp_path / "cache"
    load(bad_folder.resolve(), cache)
    forbid_decoding(monkeypatch)
    monkeypatch.chdir(bad_folder.parent)
    relative = load(Path(bad_folder.name), cache)
    assert set(relative.report.folder) == {bad_folder.name}


def test_cache_is_separate_for_keep_unreadable(bad_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load(bad_folder, cache, keep_unreadable=False)
    calls = count_decoding(monkeypatch)
    kept = load(bad_folder, cache, keep_unreadable=True)
    assert calls[0] == len(BAD_FOLDER_FILES)        # not served the training-set entry
    assert kept.names == BAD_FOLDER_FILES


def test_changed_file_invalidates_cache(bad_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load(bad_folder, cache)
    replacement = random_array(42)
    (bad_folder / "a_valid.jpeg").write_bytes(image_bytes(replacement))   # PNG: other size, other pixels
    calls = count_decoding(monkeypatch)
    second = load(bad_folder, cache)
    assert calls[0] == len(BAD_FOLDER_FILES)
    np.testing.assert_array_equal(second.pixels[0, 0].numpy(), replacement)


def test_touched_file_invalidates_cache(bad_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load(bad_folder, cache)
    path = bad_folder / "b_wide.png"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    calls = count_decoding(monkeypatch)
    load(bad_folder, cache)
    assert calls[0] == len(BAD_FOLDER_FILES)


def test_new_file_invalidates_cache(bad_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load(bad_folder, cache)
    (bad_folder / "z_new.jpeg").write_bytes(jpeg_bytes(random_array(8)))
    calls = count_decoding(monkeypatch)
    result = load(bad_folder, cache)
    assert calls[0] == len(BAD_FOLDER_FILES) + 1
    assert result.names == READABLE_FILES + ["z_new.jpeg"]


def test_no_cache_dir_writes_nothing(bad_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load(bad_folder, None)
    calls = count_decoding(monkeypatch)
    load(bad_folder, None)
    assert calls[0] == len(BAD_FOLDER_FILES)
    assert not (tmp_path / ".cache").exists()


# ---------------------------------------------------------------- entries that are not plain image files

def test_a_decompression_bomb_gets_a_report_row(tmp_path, monkeypatch, recwarn):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpeg").write_bytes(jpeg_bytes(random_array(0)))
    Image.new("L", (300, 300)).save(folder / "huge.png")
    Image.new("L", (40, 40)).save(folder / "large.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)     # 300x300 is then over twice the limit, as 20000x20000 is
    image_set = load(folder, None, keep_unreadable=True)
    assert image_set.names == ["a.jpeg", "huge.png", "large.png"] and image_set.readable.tolist() == [True, False, True]
    [reason] = rows_by_file(image_set)["huge.png"]
    assert reason[0].startswith("image too large to decode safely")
    # between the limit and twice it (40x40 here, 89 to 179 MP by default) PIL only warns: decoded, nothing printed
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_folders_and_looping_links_named_like_images_get_report_rows(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpeg").write_bytes(jpeg_bytes(random_array(0)))
    (folder / "b.jpeg").mkdir()
    (folder / "c.jpeg").symlink_to(folder / "c.jpeg")          # a link to itself: a loop
    (folder / "d.jpeg").symlink_to(tmp_path / "nowhere.jpeg")
    kept = load(folder, None, keep_unreadable=True)
    assert kept.names == ["a.jpeg", "b.jpeg", "c.jpeg", "d.jpeg"] and kept.readable.tolist() == [True, False, False, False]
    reasons = {name: rows[0][0] for name, rows in rows_by_file(kept).items()}
    assert reasons == {"b.jpeg": "a folder, not an image file", "c.jpeg": "a broken or looping symbolic link",
                       "d.jpeg": "a broken or looping symbolic link"}
    skipped = load(folder, tmp_path / "cache")
    assert skipped.names == ["a.jpeg"] and set(skipped.report.file) == {"b.jpeg", "c.jpeg", "d.jpeg"}
