"""The GAN's networks, the classifier whose features measure it, and the detector that tries to catch it.

Style of pytorch/examples dcgan/main.py: every block is commented with the tensor shape it produces
(batch dimension B first). The reference sizes are the course recipe's:

  Generator      noise B x 64 x 1 x 1 -> B x 1 x 28 x 28      (ConvTranspose2d-BN-ReLU blocks, Tanh)
  Discriminator  B x 1 x 28 x 28 -> B x 1 logits               (Conv2d-BN-LeakyReLU blocks, Linear; no sigmoid)

`width` scales the channels (reference: generator 64 -> 256/128/64 channels, discriminator 16 ->
16/32/64). `image_size=32, channels=3` gives the CIFAR variant of the generator; the discriminator's
strides take 32x32 as well as 28x28 down to 1x1.
"""
from __future__ import annotations

from torch import nn

from ..models import register_model

# Stored models load only into the version of these networks they were trained with: raise this number
# whenever a network here changes its structure (layers, shapes, parameter names), not for other edits.
NETWORK_VERSION = 1


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016; pytorch/examples): conv weights ~ N(0, 0.02),
    batch-norm scales ~ N(1, 0.02) and shifts 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def up(c_in: int, c_out: int, kernel: int, stride: int, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(True))


def down(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, bias=False),
                         nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))


class Generator(nn.Module):
    def __init__(self, noise: int = 64, width: int = 64, channels: int = 1, image_size: int = 28):
        super().__init__()
        self.noise, self.image_size = noise, image_size
        w = width
        if image_size == 28:                                   # the course recipe (MNIST, Fashion-MNIST)
            self.main = nn.Sequential(
                up(noise, 4 * w, 3, 2),                        # B x 4w x 3 x 3
                up(4 * w, 2 * w, 4, 1),                        # B x 2w x 6 x 6
                up(2 * w, w, 3, 2),                            # B x w x 13 x 13
                nn.ConvTranspose2d(w, channels, 4, 2),         # B x channels x 28 x 28
                nn.Tanh())
        elif image_size == 32:                                 # CIFAR: the pytorch/examples layout at 32x32
            self.main = nn.Sequential(
                up(noise, 4 * w, 4, 1),                        # B x 4w x 4 x 4
                up(4 * w, 2 * w, 4, 2, 1),                     # B x 2w x 8 x 8
                up(2 * w, w, 4, 2, 1),                         # B x w x 16 x 16
                nn.ConvTranspose2d(w, channels, 4, 2, 1),      # B x channels x 32 x 32
                nn.Tanh())
        else:
            raise ValueError(f"image_size must be 28 or 32, not {image_size}")
        self.apply(init_weights)

    def forward(self, z):                                      # z: B x noise (x 1 x 1)
        return self.main(z.view(len(z), self.noise, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, width: int = 16, channels: int = 1, image_size: int = 28):
        super().__init__()
        w = width
        self.main = nn.Sequential(                             # 28x28 input | 32x32 input
            down(channels, w, 3, 2),                           # B x w x 13 x 13 | 15 x 15
            down(w, 2 * w, 5, 2),                              # B x 2w x 5 x 5  | 6 x 6
            down(2 * w, 4 * w, 5, 2),                          # B x 4w x 1 x 1  | 1 x 1
            nn.Flatten(),                                      # B x 4w
            nn.Linear(4 * w, 1))                               # B x 1 logits (BCEWithLogitsLoss)
        self.apply(init_weights)

    def forward(self, x):
        return self.main(x)


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))


class DigitClassifier(nn.Module):
    """Small CNN for 28x28 (or 32x32) images; its penultimate layer is the feature space in which the
    Frechet distance is measured (`features`), its last layer gives the class (`forward`).

    Input: images in [0, 1], B x channels x H x W.
    """

    def __init__(self, width: int = 32, n_classes: int = 10, channels: int = 1, features: int = 128,
                 dropout: float = 0.3):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            conv_bn(channels, w), conv_bn(w, w), nn.MaxPool2d(2),          # B x w x 14 x 14 (16 x 16)
            conv_bn(w, 2 * w), conv_bn(2 * w, 2 * w), nn.MaxPool2d(2),     # B x 2w x 7 x 7  (8 x 8)
            conv_bn(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # B x 4w
            nn.Linear(4 * w, features), nn.ReLU(True))                     # B x features
        self.num_features = features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, n_classes))   # B x n_classes

    def features(self, x):
        return self.body((x - 0.5) / 0.5)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("dcgan_generator")
def dcgan_generator(noise: int = 64, width: int = 64, channels: int = 1, image_size: int = 28,
                    pixel_range: str = "0_1"):
    """pixel_range: the range the real images were scaled into for training ("0_1": the course recipe's
    ToTensor only; "-1_1": the Tanh's full range). It says how to turn the output back into pixels."""
    generator = Generator(noise=noise, width=width, channels=channels, image_size=image_size)
    generator.pixel_range = pixel_range
    return generator


@register_model("dcgan_discriminator")
def dcgan_discriminator(width: int = 16, channels: int = 1, image_size: int = 28):
    return Discriminator(width=width, channels=channels, image_size=image_size)


@register_model("dcgan_classifier")
def dcgan_classifier(width: int = 32, n_classes: int = 10, channels: int = 1, features: int = 128,
                     dropout: float = 0.3):
    """The MNIST classifier (feature extractor) and, with n_classes=1, the real-vs-generated detector."""
    return DigitClassifier(width=width, n_classes=n_classes, channels=channels, features=features, dropout=dropout)
