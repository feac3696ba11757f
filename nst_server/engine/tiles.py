"""Feathered masks that blend optimized tiles back into the canvas.

Large scales are optimized tile by tile (schedule.layout) so that memory stays
bounded whatever the layer's size.  Tiles overlap and are done in reading order,
each starting from the canvas as its neighbours left it; a tile is written back
through a mask that ramps from 0 to 1 across the overlap on its top and left
sides, where earlier tiles lie (never on the image's own border), so no seam is
left where they meet.
"""

from __future__ import annotations

import numpy as np

from nst_server.client.schedule import Tile


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
