"""HandNet with a second head that names the generator of a generated hand (issue 6's generator-aware objective).

It is its own network name, "handnet_groups", so that `realfake/hands/model.py` (whose source hash is the
stored HandNet models' architecture version) stays as it is and the committed models keep loading.
Train it with config["group_weight"] > 0 and the images' generators (`realfake.hands.data.generator_targets`);
`forward` returns the class logits only, so everything that predicts with a HandNet predicts with it.
"""
from __future__ import annotations

from torch import nn

from ..models import register_model
from .model import HandNet

# Stored models load only into the version of these networks they were trained with: raise this number
# whenever a network here changes its structure (layers, shapes, parameter names), not for other edits.
NETWORK_VERSION = 1


@register_model("handnet_groups")
class HandNetWithGroups(HandNet):
    """HandNet (same arguments) plus a linear head from the pooled features to `n_groups` generators."""

    def __init__(self, n_groups: int, **handnet_arguments):
        super().__init__(**handnet_arguments)
        self.group_head = nn.Linear(self.head[3].in_features, n_groups)   # B x n_groups

    def forward_with_groups(self, x):
        """(class logits, generator logits): both heads read the same pooled, dropped-out features."""
        features = self.head[:3](self.blocks(self.stem(x)))             # B x channels
        return self.head[3](features), self.group_head(features)
