"""HandNet that also sees a high-pass residual of its input (issue 6: a lever measured, see the README).

Image forensics often feeds detectors the image minus a local mean rather than the image alone:
generators leave their traces in fine detail, and a small network trained from scratch on about 950
generated images may not learn to isolate it. This network is its own name, "handnet_residual", so that
`realfake/hands/model.py` (whose source hash is the stored HandNet models' architecture version) stays
as it is and the committed models keep loading.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import register_model
from .model import HandNet, conv_bn

# Stored models load only into the version of these networks they were trained with: raise this number
# whenever a network here changes its structure (layers, shapes, parameter names), not for other edits.
NETWORK_VERSION = 1


@register_model("handnet_residual")
class HandNetResidual(HandNet):
    """HandNet (same arguments) whose stem reads the image and the image minus its 3x3 local mean."""

    def __init__(self, in_channels: int = 1, **handnet_arguments):
        super().__init__(in_channels=in_channels, **handnet_arguments)
        # a new stem after HandNet's (not in_channels=2 above), so the seeded draws match the measured runs
        self.stem = conv_bn(2 * in_channels, self.stem[0].out_channels)   # B x width x 32 x 32

    def forward(self, x):
        local_mean = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return super().forward(torch.cat([x, x - local_mean], 1))        # stem input: B x 2 x 32 x 32
