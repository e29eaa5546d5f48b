"""Copies up to re-encoding noise (realfake.hands.dedup.near_copies) and the hand tables built on them."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch
from PIL import Image

from realfake.hands.dedup import NEAR_COPY_RMS, near_copies
from realfake.hands import HandData
from realfake.hands.copies import copies_across_classes, copies_of_labelled, plot_copies


def reencoded(image: torch.Tensor, quality: int = 90) -> torch.Tensor:
    """The image saved as a JPEG and read back: what a student's copy of a file looks like."""
    buffer = io.BytesIO()
    Image.fromarray(image[0].numpy()).save(buffer, format="JPEG", quality=quality)
    return torch.from_numpy(np.array(Image.open(io.BytesIO(buffer.getvalue())))).unsqueeze(0)


def smooth_images(n: int, seed: int) -> torch.Tensor:
    """n distinct smooth 32x32 images (JPEG keeps smooth images close, as it does X-rays)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 4, 4, generator=generator)
    return (torch.nn.functional.interpolate(coarse, size=32, mode="bilinear") * 255).round().to(torch.uint8)


def hands(pixels, labels, sources) -> HandData:
    return HandData(pixels, torch.tensor(labels), list(sources), [f"folder/img{i}.jpeg" for i in range(len(labels))],
                    pd.DataFrame(), pd.DataFrame())


def test_a_reencoded_copy_is_found_with_its_original_and_distinct_images_are_not():
    originals = smooth_images(6, seed=0)
    copy = reencoded(originals[4])
    rms = float(((copy.float() - originals[4].float()) / 255).pow(2).mean().sqrt())
    assert 0 < rms < NEAR_COPY_RMS   # re-encoding changed the pixels, a little
    found = near_copies(torch.stack([copy[0:1], smooth_images(1, seed=1)[0]]), originals)
    assert [(query, reference) for query, reference, _ in found] == [(0, 4)]
    assert abs(found[0][2] - rms) < 1e-3


def test_near_copies_names_only_the_nearest_reference_and_takes_empty_sets():
    image = smooth_images(1, seed=2)
    references = torch.cat([image.clone(), image.clone()])
    references[0, 0, 0, 0] ^= 1   # one pixel off by one: still a copy, but not the nearest
    assert [(q, r) for q, r, _ in near_copies(image, references)] == [(0, 1)]
    assert near_copies(image[:0], references) == [] and near_copies(image, references[:0]) == []
    assert near_copies(image, references, max_rms=0.0) == []   # strictly below the threshold


def test_labelled_copies_across_classes_and_test_copies_name_both_images():
    pixels = smooth_images(6, seed=3)
    pixels[3] = reencoded(pixels[0])   # a "VAE hand" of student amy that is a real X-ray re-encoded
    pixels[5] = reencoded(pixels[4])   # a GAN hand copying a VAE hand
    data = hands(pixels, [0, 0, 0, 1, 1, 2], ["r0", "r1", "r2", "amy", "amy", "bob"])
    table = copies_across_classes(data)
    assert table[["image", "class", "generator", "copy of", "its class"]].values.tolist() == [
        ["folder/img3.jpeg", "VAE", "amy", "folder/img0.jpeg", "real"],
        ["folder/img5.jpeg", "GAN", "bob", "folder/img4.jpeg", "VAE"]]
    assert len(copies_across_classes(hands(smooth_images(4, seed=4), [0, 0, 1, 2], "abcd"))) == 0
    test_pixels = torch.cat([reencoded(pixels[1]).unsqueeze(0), smooth_images(1, seed=5)])
    test = copies_of_labelled(test_pixels, ["test_1.jpeg", "test_2.jpeg"], data)
    assert test[["image", "its class", "its generator"]].values.tolist() == [["test_1.jpeg", "real", "-"]]
    figure = plot_copies(table, data)
    assert [ax.get_title() for ax in figure.axes if ax.get_title()] == [
        "img3 (VAE)", "img5 (GAN)", "img0 (real)", "img4 (VAE)"]
