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


# Re-encoding an image as JPEG moves its pixels by about 1/255 RMS. Measured on the hand X-rays (uint8 32x32):
# files that repeat another image after re-encoding sit at 0.002-0.0054 RMS from it, while no two distinct real
# hands are closer than 0.053. 0.02 (5/255) lies in that gap.
NEAR_COPY_RMS = 0.02


@torch.no_grad()
def near_copies(queries: torch.Tensor, references: torch.Tensor, max_rms: float = NEAR_COPY_RMS,
                batch_size: int = 1024) -> list[tuple[int, int, float]]:
    """(query row, reference row, RMS difference) for every query image whose pixels repeat a reference image up to
    re-encoding noise: its root-mean-square difference from its nearest reference, on the 0-1 scale, is below
    `max_rms`. Only the nearest reference is named. Both are uint8 N x C x H x W of one size."""
    if not len(queries) or not len(references):
        return []
    refs = references.flatten(1).float() / 255
    found = []
    for start in range(0, len(queries), batch_size):
        part = queries[start:start + batch_size].flatten(1).float() / 255
        rms, nearest = (torch.cdist(part, refs) / refs.shape[1] ** 0.5).min(1)
        found += [(start + i, int(nearest[i]), round(float(rms[i]), 4)) for i in torch.nonzero(rms < max_rms).flatten()]
    return found
