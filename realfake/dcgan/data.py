"""Image data sets for the GAN task: MNIST (the course's), Fashion-MNIST and CIFAR-10/100 as options.

Everything goes through torchvision's own data set classes, which check the files' MD5 sums.
Offline, `prepare_data` copies the course's MNIST `.gz` files into `<root>/data/MNIST/raw/`, where
`torchvision.datasets.MNIST(<root>/data, download=True)` verifies and unpacks them without network.
The other data sets download where the internet is available (Colab); where it is not, loading stops
with a message naming the files that are missing and the folder they belong in.

Training batches are made from one uint8 tensor of the whole set, augmented on the batch (one
`grid_sample` call rotates 128 images), with the batch order and the rotation angles drawn from a
generator seeded by (seed, epoch): an epoch's batches do not depend on anything that happened before,
so an interrupted run that resumes sees the same batches as one that never stopped.
"""
from __future__ import annotations

import hashlib
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

DATA_DIR = Path("data")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    torchvision_class: str
    channels: int
    size: int
    classes: tuple[str, ...]
    files: tuple[str, ...]          # what torchvision expects on disk, relative to the data folder


MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
DATASETS = {
    "mnist": DatasetInfo("mnist", "MNIST", 1, 28, tuple(str(i) for i in range(10)),
                         tuple(f"MNIST/raw/{f}" for f in MNIST_FILES)),
    "fashion_mnist": DatasetInfo("fashion_mnist", "FashionMNIST", 1, 28,
                                 ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                                  "sneaker", "bag", "boot"),
                                 tuple(f"FashionMNIST/raw/{f}" for f in MNIST_FILES)),
    "cifar10": DatasetInfo("cifar10", "CIFAR10", 3, 32,
                           ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                           ("cifar-10-python.tar.gz (or its unpacked cifar-10-batches-py/)",)),
    "cifar100": DatasetInfo("cifar100", "CIFAR100", 3, 32, tuple(str(i) for i in range(100)),
                            ("cifar-100-python.tar.gz (or its unpacked cifar-100-python/)",)),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


# ---------------------------------------------------------------- offline copy (make data)

def prepare_data(source: Path, root: Path) -> list[str]:
    """Copy the course's MNIST `.gz` files from `source/MNIST/raw/` into `root/data/MNIST/raw/`.

    MNIST is optional here (torchvision downloads it where the internet is available), so a source
    without it gives a message, not an error. Files already in place with the same size are kept.
    """
    source, target = Path(source) / "MNIST" / "raw", Path(root) / DATA_DIR / "MNIST" / "raw"
    present = [name for name in MNIST_FILES if (source / name).is_file()]
    if not present:
        return [f"dcgan: no MNIST in {source} (expected {', '.join(MNIST_FILES)}); "
                "torchvision will download it where the internet is available"]
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in present:
        destination = target / name
        if destination.is_file() and destination.stat().st_size == (source / name).stat().st_size:
            continue
        shutil.copyfile(source / name, destination)
        copied += 1
    missing = [name for name in MNIST_FILES if name not in present]
    messages = [f"dcgan: MNIST in {target} ({copied} copied, {len(present) - copied} already there)"]
    if missing:
        messages.append(f"dcgan: {source} lacks {', '.join(missing)}; torchvision will try to download them")
    return messages


# ---------------------------------------------------------------- loading

def _torchvision_set(info: DatasetInfo, folder: Path, train: bool, download: bool):
    cls = getattr(torchvision.datasets, info.torchvision_class)
    try:
        return cls(str(folder), train=train, download=False)
    except RuntimeError as first:          # "Dataset not found or corrupted"
        reason = str(first).strip().splitlines()[0]
    if download:
        try:
            return cls(str(folder), train=train, download=True)
        except Exception as error:        # URLError, RuntimeError from every mirror, MD5 mismatch ...
            reason = f"download failed: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}"
    missing = [f for f in info.files if not (folder / f.split(" ")[0]).exists()]
    raise FileNotFoundError(
        f"{info.torchvision_class} is not available in {folder}: missing {', '.join(missing) or 'valid copies of ' + ', '.join(info.files)} "
        f"({reason}). Where the internet is available torchvision downloads it (download=True); offline, put "
        f"the published files there yourself" + (" (`make data` copies the course's MNIST)" if info.name == "mnist" else "") + ".")


def load_images(name: str = "mnist", train: bool = True, root: Path | str = DATA_DIR,
                download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as (uint8 images N x C x H x W, int64 labels N), read by torchvision."""
    info = dataset_info(name)
    data = _torchvision_set(info, Path(root), train, download)
    images = torch.as_tensor(data.data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)   # N x C x H x W
    return images.contiguous(), torch.as_tensor(data.targets, dtype=torch.int64)


def fingerprint(images: torch.Tensor, labels: torch.Tensor | None = None) -> str:
    """Short hash of the pixels (and labels): which data a stored model was trained on."""
    digest = hashlib.sha256(images.contiguous().numpy().tobytes())
    if labels is not None:
        digest.update(labels.numpy().tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- batches on tensors

def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each float image (N x C x H x W) about its centre by its angle, nearest pixel, zero fill.

    Counter-clockwise for positive angles, like torchvision's RandomRotation, whose default is also
    nearest-neighbour interpolation with zero fill.
    """
    theta = degrees.to(images.dtype) * (math.pi / 180)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(cos)
    matrix = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(matrix, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def to_range(images01: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """[0, 1] images into the range the GAN works in: "0_1" (the course recipe: ToTensor only) or "-1_1"."""
    if pixel_range == "0_1":
        return images01
    if pixel_range == "-1_1":
        return images01 * 2 - 1
    raise ValueError(f"pixel_range must be '0_1' or '-1_1', not {pixel_range!r}")


def to_uint8(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """Generator output as the images it stands for: clamped into the pixel range, then 0..255."""
    unit = images if pixel_range == "0_1" else (images + 1) / 2
    return (unit.clamp(0, 1) * 255).round().to(torch.uint8)


class BatchMaker:
    """Training batches of one data set, as the course recipe makes them, without a DataLoader.

    batches(epoch) shuffles the images and rotates each by an angle ~ U[-max_rotation, max_rotation]
    (RandomRotation((-20, 20)) + ToTensor in the course recipe), then scales them into `pixel_range`.
    Order and angles come from a generator seeded with (seed, epoch).
    """

    def __init__(self, images: torch.Tensor, batch_size: int = 128, max_rotation: float = 20.0,
                 pixel_range: str = "0_1", seed: int = 0, limit: int | None = None, device="cpu"):
        self.images, self.batch_size, self.max_rotation = images, batch_size, max_rotation
        self.pixel_range, self.seed, self.limit, self.device = pixel_range, seed, limit, device
        to_range(torch.zeros(1), pixel_range)     # checks the name

    def __len__(self) -> int:
        n = math.ceil(len(self.images) / self.batch_size)
        return min(n, self.limit) if self.limit else n

    def __call__(self, epoch: int):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(len(self.images), generator=generator)
        for b in range(len(self)):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = self.images[index].to(self.device, torch.float32) / 255
            if self.max_rotation:
                angles = (torch.rand(len(index), generator=generator) * 2 - 1) * self.max_rotation
                batch = rotate(batch, angles.to(self.device))
            yield to_range(batch, self.pixel_range)


def plain_loader(root: Path | str = DATA_DIR, batch_size: int = 128, max_rotation: float = 20.0,
                 num_workers: int = 0, seed: int = 0):
    """The course recipe's loader as the course writes it: torchvision transforms on PIL images, one by
    one, in a DataLoader (used by the benchmark, next to BatchMaker)."""
    from torchvision import transforms
    transform = transforms.Compose([transforms.RandomRotation((-max_rotation, max_rotation)), transforms.ToTensor()])
    data = torchvision.datasets.MNIST(str(root), train=True, download=True, transform=transform)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                                       generator=torch.Generator().manual_seed(seed))
