"""The improved GAN's generator: it up-samples by resize-convolution.

Why not transposed convolutions: a ConvTranspose2d whose kernel size is not a multiple of its stride
adds a different number of kernel taps to neighbouring output pixels (Odena et al. 2016, "Deconvolution
and checkerboard artifacts"), and the course generator's last layer (kernel 4, stride 2, no padding,
13x13 -> 28x28) also writes border pixels that only one or two taps reach. The result is a fixed pattern
that a detector can find without looking at the digit. Nearest-neighbour up-sampling followed by a
3x3 convolution gives every output pixel the same number of taps.

  ResizeGenerator          noise B x noise -> Linear -> B x 4w x 7 x 7 (BN, ReLU)
                           -> up x2, Conv3x3 -> B x 2w x 14 x 14 (BN, ReLU)
                           -> up x2, Conv3x3 -> B x w x 28 x 28 (BN, ReLU)
                           -> Conv3x3 -> B x 1 x 28 x 28, Tanh (output bias starts at MNIST's mean brightness)

The discriminator is the course's (`models.py`); a spectrally normalised one lost (benchmarks/dcgan_levers.py).
"""
from __future__ import annotations

import torch
from torch import nn

from ..models import register_model

NETWORK_VERSION = 1


class ResizeGenerator(nn.Module):
    def __init__(self, noise: int = 64, width: int = 32, channels: int = 1):
        super().__init__()
        self.noise, self.image_size, w = noise, 28, width
        self.project = nn.Sequential(nn.Linear(noise, 4 * w * 7 * 7, bias=False), nn.BatchNorm1d(4 * w * 7 * 7),
                                     nn.ReLU(True))                         # B x 4w*49
        self.main = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),                    # B x 4w x 14 x 14
            nn.Conv2d(4 * w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.Upsample(scale_factor=2, mode="nearest"),                    # B x 2w x 28 x 28
            nn.Conv2d(2 * w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.Conv2d(w, channels, 3, padding=1),                           # B x channels x 28 x 28
            nn.Tanh())
        self.width = w
        # PyTorch's default initialisation (DCGAN's N(0, 0.02) leaves a 3x3 output layer's images flat grey for
        # hundreds of steps); the output bias starts at MNIST's mean brightness (0.13 -> tanh^-1(-0.74)).
        with torch.no_grad():
            self.main[-2].bias.fill_(float(torch.atanh(torch.tensor(2 * 0.13 - 1))))

    def forward(self, z):                                                   # z: B x noise (x 1 x 1)
        x = self.project(z.reshape(len(z), self.noise))
        return self.main(x.view(len(z), 4 * self.width, 7, 7))


@register_model("dcgan_resize_generator")
def dcgan_resize_generator(noise: int = 64, width: int = 32, channels: int = 1, image_size: int = 28,
                           pixel_range: str = "-1_1"):
    if image_size != 28:
        raise ValueError(f"the resize-convolution generator makes 28x28 images, not {image_size}x{image_size}")
    generator = ResizeGenerator(noise=noise, width=width, channels=channels)
    generator.pixel_range = pixel_range
    return generator
