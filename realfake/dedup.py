"""Find images with the same pixel content, so no image sits in both training and validation."""
import hashlib

import torch


def pixel_hashes(pixels: torch.Tensor) -> list[str]:
    """One hash per image of its normalised uint8 pixels (N x C x H x W)."""
    flat = pixels.reshape(len(pixels), -1 if len(pixels) else 0).contiguous().numpy()
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in flat]


def data_fingerprint(pixels: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> str:
    """A short hash of a labelled image set (and, if given, each image's sampling weight), independent
    of the order of its images. Without weights it is the same as before weights existed."""
    suffixes = [""] * len(labels) if weights is None else [f"|{float(w):.6g}" for w in weights.tolist()]
    digests = sorted(digest + str(int(label)) + suffix
                     for digest, label, suffix in zip(pixel_hashes(pixels), labels.tolist(), suffixes))
    return hashlib.sha1("".join(digests).encode()).hexdigest()[:16]


def unlabelled_fingerprint(pixels: torch.Tensor) -> str:
    """A short hash of an unlabelled image set, independent of the order of its images."""
    return hashlib.sha1("".join(sorted(pixel_hashes(pixels))).encode()).hexdigest()[:16]


def first_occurrences(hashes: list[str], names: list[str], seen: dict[str, str] | None = None):
    """Indices of the first image of each content, and the repeats as (index, earlier name).

    `seen` (hash -> name of the first image with it) is updated in place, so calling this
    folder after folder deduplicates across folders.
    """
    seen = {} if seen is None else seen
    keep, repeats = [], []
    for index, digest in enumerate(hashes):
        if digest in seen:
            repeats.append((index, seen[digest]))
        else:
            seen[digest] = names[index]
            keep.append(index)
    return keep, repeats
