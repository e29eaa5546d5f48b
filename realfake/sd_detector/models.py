"""Detector architectures, registered by name in the suite's model registry.

cifake_cnn       small from-scratch CNN for 32x32 RGB (the CIFAKE detector); two logits (REAL, FAKE)
vgg16_32         torchvision VGG16 adapted to 32x32 inputs (the course's comparison); pretrained=True loads
                 ImageNet weights (needs the internet once), otherwise trained from scratch
resnet50_2class  torchvision ResNet50 with ImageNet weights (default), the 1000-class head replaced by 2 classes,
                 for DiffusionDB vs Imagenette

Weights that cannot be fetched raise PretrainedWeightsUnavailable: a model that was asked to be pretrained is
never silently handed back with random weights.
"""
from __future__ import annotations

from torch import nn

from realfake.models import register_model

# Stored models load only into the version of these networks they were trained with: raise this number
# whenever a network here changes its structure (layers, shapes, parameter names), not for other edits.
NETWORK_VERSION = 1


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were requested but could not be loaded (offline, no cached copy)."""


def conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


class CifakeCNN(nn.Module):
    """Stem conv at full resolution, then `depth` blocks of [2x2 max-pool, conv-BN-GELU, conv-BN-GELU].

    widths (per block) default 48, 96, 192 with a 24-channel stem: about 0.66 M parameters. The stem stays at
    32x32 so the first layer sees the pixel-level (high-frequency) traces a generator leaves; pooling before the
    block convolutions keeps the cost per image low enough to train on a CPU. Global max-pool + linear head.
    """

    def __init__(self, width: int = 48, depth: int = 3, stem: int | None = None, dropout: float = 0.0,
                 n_classes: int = 2):
        super().__init__()
        stem = stem or max(8, width // 2)
        layers, c_in = conv_bn(3, stem), stem
        for i in range(depth):
            c_out = width * 2 ** i
            layers += [nn.MaxPool2d(2), *conv_bn(c_in, c_out), *conv_bn(c_out, c_out)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, n_classes))

    def forward(self, x):
        return self.head(self.features(x))


@register_model("cifake_cnn")
def cifake_cnn(width: int = 48, depth: int = 3, stem: int | None = None, dropout: float = 0.0, n_classes: int = 2):
    return CifakeCNN(width=width, depth=depth, stem=stem, dropout=dropout, n_classes=n_classes)


def load_imagenet_weights(weights_enum, what: str):
    """state_dict of torchvision `weights_enum` (cached copy or download), or PretrainedWeightsUnavailable."""
    try:
        return weights_enum.get_state_dict(progress=False, check_hash=True)
    except Exception as error:
        from torch.hub import get_dir
        raise PretrainedWeightsUnavailable(
            f"{what}: ImageNet weights {weights_enum} could not be loaded ({type(error).__name__}: {error}). "
            f"They download from {weights_enum.url} into {get_dir()}/checkpoints; this machine has no internet "
            "access to that address and no cached copy. Run where the internet is available (Colab), or copy the "
            "file there by hand, or ask for pretrained=False to train from scratch.") from error


@register_model("vgg16_32")
def vgg16_32(pretrained: bool = False, n_classes: int = 2, dropout: float = 0.5, hidden: int = 512,
             batch_norm: bool = True):
    """VGG16 for 32x32 inputs: the 13 conv layers as in torchvision (five 2x2 pools: 32 -> 1), then a small head.

    batch_norm=True is torchvision's vgg16_bn (the same 13 conv layers, each followed by BatchNorm), which trains
    from scratch in few steps; batch_norm=False is the original vgg16. The ImageNet head (7x7x512 -> 4096 -> 4096)
    does not fit a 1x1x512 feature map; it is replaced by 512 -> hidden -> n_classes. With pretrained=True the conv
    layers start from the matching ImageNet weights.
    """
    from torchvision.models import VGG16_BN_Weights, VGG16_Weights, vgg16, vgg16_bn
    model = vgg16_bn(weights=None) if batch_norm else vgg16(weights=None)
    if pretrained:
        weights = VGG16_BN_Weights.IMAGENET1K_V1 if batch_norm else VGG16_Weights.IMAGENET1K_V1
        model.load_state_dict(load_imagenet_weights(weights, "vgg16_32(pretrained=True)"))
    model.avgpool = nn.Identity()
    model.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                     nn.Linear(hidden, n_classes))
    return model


@register_model("resnet50_2class")
def resnet50_2class(pretrained: bool = True, n_classes: int = 2, freeze_backbone: bool = False):
    """ResNet50 with ImageNet (IMAGENET1K_V2) weights and a new n_classes head (DiffusionDB vs Imagenette)."""
    from torchvision.models import ResNet50_Weights, resnet50
    model = resnet50(weights=None)
    if pretrained:
        state = load_imagenet_weights(ResNet50_Weights.IMAGENET1K_V2, "resnet50_2class(pretrained=True)")
        model.load_state_dict(state)
    if freeze_backbone:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, n_classes)
    return model
