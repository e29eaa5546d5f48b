"""HandNet: the hand classifier's network, trained from random initialisation (no pretrained weights)."""
from __future__ import annotations

from torch import nn

from ..models import register_model

# Stored models load only into the version of these networks they were trained with: raise this number
# whenever a network here changes its structure (layers, shapes, parameter names), not for other edits.
NETWORK_VERSION = 1


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU())


class ConvBlock(nn.Module):
    """Two 3x3 conv-BN-GELU layers with a residual path, then 2x2 max pooling: halves H and W."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.first = conv_bn(c_in, c_out)
        self.second = conv_bn(c_out, c_out)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.first(x)
        return self.pool(x + self.second(x))


@register_model("handnet")
class HandNet(nn.Module):
    """Image classifier for small greyscale images (default 1 x 32 x 32, 3 classes).

    width   channels of the first block; each later block doubles them (capped at 8 x width)
    depth   number of pooling blocks (32 -> 16 -> 8 -> 4 for depth 3)
    """

    def __init__(self, width: int = 32, depth: int = 3, dropout: float = 0.2, n_classes: int = 3,
                 in_channels: int = 1):
        super().__init__()
        channels = [min(width * 2 ** i, width * 8) for i in range(depth)]
        self.stem = conv_bn(in_channels, width)                       # B x width x 32 x 32
        blocks, c_in = [], width
        for c_out in channels:                                        # B x c_out x H/2 x W/2 each
            blocks.append(ConvBlock(c_in, c_out))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(                                    # B x n_classes
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, n_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
