"""Perturbations: each changes the image as its name says, and keeps shape, dtype and the 0..255 range."""
import numpy as np
import pytest
import torch

from realfake import perturb

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


def noise_batch(seed=0, n=4, size=32):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def high_frequency_energy(x):
    """Mean squared difference between horizontal neighbours: large for noise, small after blurring."""
    x = x.float()
    return ((x[..., 1:] - x[..., :-1]) ** 2).mean().item()


def check_format(out, x):
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert int(out.min()) >= 0 and int(out.max()) <= 255


@pytest.mark.parametrize("kind", sorted(perturb.PERTURBATIONS))
def test_identity_strength_returns_the_input_and_every_strength_keeps_format(kind):
    x = noise_batch()
    _, _, strengths = perturb.PERTURBATIONS[kind]
    assert torch.equal(perturb.apply(x, kind, strengths[0]), x)       # first strength = untouched
    for strength in strengths[1:]:
        out = perturb.apply(x, kind, strength)
        check_format(out, x)
        assert not torch.equal(out, x), f"{kind} at {strength} left the image unchanged"
    single = perturb.apply(x[0], kind, strengths[-1])                  # one image, C x H x W
    check_format(single, x[0])


def test_blur_removes_high_frequencies_more_for_larger_sigma():
    x = noise_batch()
    energies = [high_frequency_energy(perturb.gaussian_blur(x, s)) for s in (0, 0.5, 1.0, 3.0)]
    assert energies[0] > energies[1] > energies[2] > energies[3]
    assert energies[3] < 0.05 * energies[0]
    flat = torch.full((1, 3, 32, 32), 77, dtype=torch.uint8)           # a constant image stays constant
    assert torch.equal(perturb.gaussian_blur(flat, 2.0), flat)


def test_jpeg_error_grows_as_quality_drops():
    x = noise_batch(1)
    errors = [(perturb.jpeg(x, q).float() - x.float()).abs().mean().item() for q in (95, 75, 30)]
    assert 0 < errors[0] < errors[1] < errors[2]
    with pytest.raises(ValueError, match="quality"):
        perturb.jpeg(x, 0)


def test_center_crop_keeps_the_centre_and_fills_the_frame():
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    x[..., 8:24, 8:24] = 200                                            # bright centre half, dark border
    out = perturb.center_crop(x, 0.5)
    assert (out == 200).float().mean() > 0.95                           # the centre now fills the image
    out = perturb.center_crop(x, 0.75)                                  # crop 24: border 4 px of dark each side
    assert 0.3 < (out > 100).float().mean() < 0.8


def test_zoom_out_and_back_loses_fine_detail_but_not_coarse():
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None]) % 2 * 255).to(torch.uint8)
    x = checker.expand(1, 3, 32, 32).contiguous()
    down = perturb.zoom(x, 0.5)                                         # 1-px checkerboard averages to grey
    assert (down.float() - 127.5).abs().max() < 30
    up = perturb.zoom(x, 2.0)                                           # up then down: still close to the input
    assert (up.float() - x.float()).abs().mean() < (down.float() - x.float()).abs().mean()
    blocks = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    blocks[..., :16, :] = 255                                           # coarse structure survives a zoom
    assert (perturb.zoom(blocks, 0.5).float() - blocks.float()).abs().mean() < 10


def test_cnndetection_augment_is_seeded_and_obeys_its_probabilities():
    x = noise_batch(2, n=16)
    a = perturb.cnndetection_augment(x, torch.Generator().manual_seed(5))
    b = perturb.cnndetection_augment(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    check_format(a, x)
    never = perturb.cnndetection_augment(x, torch.Generator().manual_seed(5), blur_p=0.0, jpeg_p=0.0)
    assert torch.equal(never, x)
    always = perturb.cnndetection_augment(x, torch.Generator().manual_seed(5), blur_p=0.0, jpeg_p=1.0)
    assert all(not torch.equal(always[i], x[i]) for i in range(len(x)))
    changed = [not torch.equal(a[i], x[i]) for i in range(len(x))]
    assert 0 < sum(changed) < len(x)          # p = 0.5 each: P(unchanged) = 1/4 per image


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        perturb.gaussian_blur(torch.zeros(3, 32, 32), 1.0)
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb.apply(noise_batch(), "rotate", 10)
