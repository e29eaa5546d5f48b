"""The native-resolution detector's network: NPR residual (Tan et al., CVPR 2024) into a small ResNet.

native_npr  x - nearest_upsample(downsample_2(x)), the neighbouring-pixel relation that generators' 2x up-sampling
            leaves in every 2x2 block, fed to a stride-2 stem, max-pool and two stages of basic residual blocks
            (width w, then 2w), global average pool, one logit (generated). Fully convolutional: it reads a crop of
            any size; the detector feeds it 64x64 tiles at the image's own resolution (`native.score_pixels`).
            npr=False feeds the RGB pixels instead; luma=True reads the grey level only (the mean of R, G, B), so the
            2x2 chroma blocks of 4:2:0 JPEG carry nothing (the ablations in docs/sd_detector.md).
            recode_quality (not used by forward): the detector re-encodes a whole image as JPEG at this quality before
            cutting its tiles (`native.score_pixels`), so every image reaches the network through the same codec.

This module holds only the network; NETWORK_VERSION changes when stored weights no longer fit it (realfake.model_store).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from realfake.models import register_model

NETWORK_VERSION = 1


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """x minus its 2x nearest down-then-up copy: each pixel against the top-left pixel of its 2x2 block."""
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :height, :width]
    return x - F.interpolate(x[..., ::2, ::2], scale_factor=2.0, mode="nearest")


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class NativeNPR(nn.Module):
    """Input: float pixels in [0, 1], N x 3 x H x W (H, W >= 8). Output: N logits of "generated"."""

    def __init__(self, width: int = 32, blocks: int = 2, npr: bool = True, luma: bool = False,
                 recode_quality: int | None = None):
        super().__init__()
        self.npr, self.luma, self.recode_quality = npr, luma, recode_quality
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        stage1 = [BasicBlock(width, width) for _ in range(blocks)]
        stage2 = [BasicBlock(width, 2 * width, 2)] + [BasicBlock(2 * width, 2 * width) for _ in range(blocks - 1)]
        self.features = nn.Sequential(*stage1, *stage2)
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x):
        if self.luma:
            x = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        x = npr_residual(x) * (2.0 / 3.0) if self.npr else x - 0.5
        x = self.features(self.stem(x))
        return self.head(x.mean((2, 3))).squeeze(1)


@register_model("native_npr")
def native_npr(width: int = 32, blocks: int = 2, npr: bool = True, luma: bool = False,
               recode_quality: int | None = None):
    return NativeNPR(width=width, blocks=blocks, npr=npr, luma=luma, recode_quality=recode_quality)
