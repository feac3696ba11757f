"""Overlapping tiles over a large image, and the feathered masks that blend them back.

Large scales are optimized tile by tile so that memory stays bounded whatever the
layer's size.  Tiles overlap and are done in reading order, each starting from
the canvas as its neighbours left it; a tile is written back through a mask that
ramps from 0 to 1 across the overlap on its top and left sides, where earlier
tiles lie (never on the image's own border), so no seam is left where they meet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALIGN = 16  # tile corners on multiples of the deepest VGG stride, so feature grids line up


@dataclass(frozen=True)
class Tile:
    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: evenly spread, aligned, each tile ``tile`` long (the last one may
    be shorter only when the whole axis is), neighbours overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    count = -(-(length - overlap) // (tile - overlap))  # ceil
    last = length - tile
    inner = {min(last, round(i * last / (count - 1) / ALIGN) * ALIGN) for i in range(1, count - 1)}
    return sorted({0, last} | inner)


def layout(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles covering (height, width), row by row."""
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap {overlap} must be below half the tile size {tile}")
    return [Tile(y, x, min(height, y + tile), min(width, x + tile))
            for y in _starts(height, tile, overlap) for x in _starts(width, tile, overlap)]


def feather_mask(tile: Tile, overlap: int) -> np.ndarray:
    """(h, w, 1) weights: a smooth 0->1 ramp ``overlap`` pixels wide on the top and left sides
    when they border earlier tiles, 1 elsewhere (later tiles feather themselves over this one)."""

    def ramp(length: int, has_earlier_neighbour: bool) -> np.ndarray:
        weights = np.ones(length, np.float32)
        if has_earlier_neighbour and overlap > 0:
            n = min(overlap, length)
            weights[:n] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float32) + 0.5) / overlap)
        return weights

    h, w = tile.shape
    return (ramp(h, tile.y0 > 0)[:, None] * ramp(w, tile.x0 > 0)[None, :])[..., None]


def blend(canvas: np.ndarray, tile: Tile, pixels: np.ndarray, overlap: int) -> None:
    """Write ``pixels`` into ``canvas`` at ``tile``, feathered over the earlier tiles it overlaps."""
    mask = feather_mask(tile, overlap)
    region = canvas[tile.slices]
    region += mask * (pixels - region)
