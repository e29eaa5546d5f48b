"""Score an image at its own resolution: 64x64 tiles (never a resized whole image), one logit each, averaged.

Light on imports on purpose (torch, numpy, PIL): `python -m realfake.detect` goes through here.

    tiles = tile_grid(height, width, tile=64, max_tiles=64)   # (top, left) of each tile, even offsets
    p, tile_logits = score_pixels(model, array)                # array: H x W x 3 uint8

A model whose `recode_quality` is set reads every image re-encoded as JPEG at that quality (whole image, native size)
first: PNG renders and JPEG photos then reach the network through the same codec.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch

TILE = 64          # the crop size the native model was trained on (stored in its record; this is the default)
MAX_TILES = 64     # tiles read per image: a grid spread over the whole image, at most this many
MIN_SIDE = 8       # below this (in either side) no detector can judge an image


def _starts(length: int, tile: int, count: int) -> list[int]:
    """`count` even start offsets spread from 0 to length - tile (both ends included)."""
    if count <= 1:
        return [max(0, (length - tile) // 2 // 2 * 2)]
    last = length - tile
    return sorted({int(round(i * last / (count - 1))) // 2 * 2 for i in range(count)})


def tile_grid(height: int, width: int, tile: int = TILE, max_tiles: int = MAX_TILES) -> list[tuple[int, int]]:
    """(top, left) of the tiles read from an image: a grid that covers it (touching or slightly overlapping tiles),
    thinned evenly to at most `max_tiles`. Offsets are even, so the 2x2 blocks of NPR keep the image's own phase."""
    if height < tile or width < tile:
        raise ValueError(f"a {width}x{height} image is smaller than one {tile}x{tile} tile")
    rows, cols = math.ceil(height / tile), math.ceil(width / tile)
    if rows * cols > max_tiles:
        shrink = math.sqrt(max_tiles / (rows * cols))
        rows, cols = max(1, int(rows * shrink)), max(1, int(cols * shrink))
    return [(top, left) for top in _starts(height, tile, rows) for left in _starts(width, tile, cols)]


def recode(array: np.ndarray, quality: int) -> np.ndarray:
    """An H x W x 3 uint8 image re-encoded as JPEG at `quality` (Pillow's default 4:2:0 chroma) and decoded again."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def model_input(model: torch.nn.Module, array: np.ndarray) -> np.ndarray:
    """The pixels the model reads: the image itself, or its JPEG re-encoding for a model with `recode_quality`."""
    quality = getattr(model, "recode_quality", None)
    return recode(array, quality) if quality else array


def cut_tiles(array: np.ndarray, positions: list[tuple[int, int]], tile: int = TILE) -> torch.Tensor:
    """uint8 N x 3 x tile x tile tiles of an H x W x 3 uint8 array."""
    stack = np.stack([array[top:top + tile, left:left + tile] for top, left in positions])
    return torch.from_numpy(stack).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def tile_logits(model: torch.nn.Module, tiles: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Logit of "generated" per uint8 tile."""
    model.eval()
    out = [model(tiles[i:i + batch_size].float().div_(255)) for i in range(0, len(tiles), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def score_pixels(model: torch.nn.Module, array: np.ndarray, tile: int = TILE,
                 max_tiles: int = MAX_TILES) -> tuple[float, dict]:
    """P(generated) of one H x W x 3 uint8 image: sigmoid of the mean tile logit; and the tiles' positions and logits."""
    positions = tile_grid(array.shape[0], array.shape[1], tile, max_tiles)
    logits = tile_logits(model, cut_tiles(model_input(model, array), positions, tile))
    return float(torch.sigmoid(logits.mean())), {"positions": positions, "logits": logits.numpy(), "tile": tile}


def is_flat(array: np.ndarray, spread: int = 2) -> bool:
    """True when every pixel has (nearly) the same colour: there is nothing in it to judge."""
    return int(array.max()) - int(array.min()) <= spread


@torch.no_grad()
def score_batch(model: torch.nn.Module, arrays: list[np.ndarray], tile: int = TILE, max_tiles: int = MAX_TILES,
                batch_tiles: int = 256) -> list[float]:
    """P(generated) of several images, their tiles pooled into forward passes of `batch_tiles` (the same numbers as
    score_pixels one image at a time, fewer and larger passes)."""
    positions = [tile_grid(a.shape[0], a.shape[1], tile, max_tiles) for a in arrays]
    tiles = (torch.cat([cut_tiles(model_input(model, a), p, tile) for a, p in zip(arrays, positions)]) if arrays
             else torch.empty(0))
    logits = tile_logits(model, tiles, batch_tiles)
    out, start = [], 0
    for p in positions:
        out.append(float(torch.sigmoid(logits[start:start + len(p)].mean())))
        start += len(p)
    return out
