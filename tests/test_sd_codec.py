"""Codec normalisation: real and generated files leave in one byte format, so the format is no shortcut."""
import io

import numpy as np
import pytest
from PIL import Image

from realfake.sd_detector import codec


def rgb(seed, height, width):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(array, quality=92, subsampling=0, **extra):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality, subsampling=subsampling, **extra)
    return buffer.getvalue()


def header(data):
    """Every byte before the first start-of-scan marker: markers, quantisation and Huffman tables, frame header."""
    return data[:data.index(b"\xff\xda")]


def test_both_classes_leave_with_identical_headers():
    exif = Image.Exif()
    exif[0x010F] = "camera maker"
    fake = png_bytes(rgb(1, 512, 512))                                 # SD-style: 512x512 PNG
    real = jpeg_bytes(rgb(2, 375, 500), quality=92, exif=exif.tobytes())  # photo-style: JPEG with EXIF, 4:4:4
    assert header(real) != fake[:len(header(real))]
    fake_out, real_out = codec.normalise(fake, name="fake.png"), codec.normalise(real, name="real.jpg")
    assert header(fake_out) == header(real_out)
    signature_fake, signature_real = codec.jpeg_signature(fake_out), codec.jpeg_signature(real_out)
    for key in ("format", "width", "height", "mode", "subsampling", "quant_tables", "quality_estimate", "header_keys"):
        assert signature_fake[key] == signature_real[key], key
    assert (signature_fake["width"], signature_fake["quality_estimate"], signature_fake["subsampling"]) == (32, 75, "4:2:0")
    # a grey-scale and a transparent input come out in the same format too
    grey = png_bytes(rgb(3, 64, 80)[..., 0])
    rgba = Image.fromarray(np.dstack([rgb(4, 40, 40), np.full((40, 40), 128, np.uint8)]))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    for other in (grey, buffer.getvalue()):
        assert header(codec.normalise(other)) == header(fake_out)


def test_normalised_pixels_are_the_decoded_normalised_jpeg():
    data = png_bytes(rgb(5, 100, 60))
    pixels = codec.normalised_pixels(data)
    assert tuple(pixels.shape) == (3, 32, 32)
    decoded = np.asarray(Image.open(io.BytesIO(codec.normalise(data))).convert("RGB"))
    assert np.array_equal(pixels.permute(1, 2, 0).numpy(), decoded)


def test_quality_estimate_reads_the_encoder_setting():
    for quality in (30, 75, 95):
        assert codec.jpeg_signature(jpeg_bytes(rgb(6, 32, 32), quality=quality))["quality_estimate"] == quality


def test_metadata_alone_separates_raw_files_but_not_after_normalising():
    fakes = [png_bytes(rgb(10 + i, 96, 96)) for i in range(12)]
    reals = [jpeg_bytes(rgb(40 + i, 60 + 4 * i, 80)) for i in range(12)]
    labels = [1] * 12 + [0] * 12
    raw = codec.metadata_shortcut(fakes + reals, labels, folds=3)
    assert raw["accuracy"] == 1.0
    normalised = codec.metadata_shortcut([codec.normalise(d) for d in fakes + reals], labels, folds=3)
    assert normalised["distinct_feature_rows"] == 1                      # size, format: all the same now


def test_unreadable_bytes_name_the_file():
    with pytest.raises(codec.UnreadableImage, match="notes.txt: not a readable image"):
        codec.normalise(b"just some text", name="notes.txt")
    with pytest.raises(codec.UnreadableImage, match="empty.png: empty file"):
        codec.normalise(b"", name="empty.png")
    with pytest.raises(codec.UnreadableImage, match="cut.jpg: truncated"):
        data = jpeg_bytes(rgb(7, 64, 64))
        codec.normalise(data[:len(data) // 2], name="cut.jpg")


def png_header_only(width, height):
    """A PNG's signature and IHDR chunk for a width x height greyscale image, without pixels: PIL reads the size
    from it, so an image too large to decode can be refused without making one."""
    import struct
    import zlib
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side, size_said", [(8000, "8000x8000 is 64 megapixels"), (10000, "10000x10000 is 100 megapixels"),
                                             (15000, "more than 179 megapixels")])
def test_a_huge_image_is_refused_in_one_line_naming_the_file(side, size_said, recwarn):
    # Below PIL's own bomb limit (179 MP) the suite's limit names the size; above it PIL refuses first, and the message
    # is the same kind. PIL's DecompressionBombWarning (from 89 MP) is not shown.
    with pytest.raises(codec.TooLarge) as refused:
        codec.decode(png_header_only(side, side), name="big.png")
    assert str(refused.value) == (f"big.png: {size_said}, above the limit of 50 megapixels; it is not decoded "
                                  "(crop the region to check and score that)")
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
