"""What the texture scales (schedule.py: above STRUCTURE_SIZE) work toward: the painting they take their statistics
from, and the image they keep."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from nst_server.engine.features import resize_long_side, resize_to_shape

# Texture scales see the painting near its file's own pixels, where a JPEG's compression ripples outweigh the paint:
# the first blocks' statistics took them for texture and wove them over the whole layer as a grid of 8 px cells (seen
# at 100% with Starry Night, a quality-75 JPEG; its block seams are no stronger than its other edges, so it is the
# ripple inside the blocks).  A Gaussian blur of 0.8 px removed the grid and left brush strokes; a copy 0.7x smaller
# still showed it.
STYLE_BLUR = 0.8  # px, Gaussian sigma


def painting(style: np.ndarray, side: int, blur: float = STYLE_BLUR) -> np.ndarray:
    """The painting at long side ``side`` as texture scales see it: blurred by ``blur`` px (see STYLE_BLUR)."""
    image = resize_long_side(style, side)
    return gaussian_filter(image, (blur, blur, 0), mode="reflect") if blur else image


def target(start: np.ndarray, content: np.ndarray, previous_shape: tuple[int, int]) -> np.ndarray:
    """What a texture scale keeps: the stylized image so far (the start, enlarged from the previous scale) with
    the photo's detail that the previous scale could not hold (the band between the two sizes) added."""
    band = content - resize_to_shape(resize_to_shape(content, previous_shape), content.shape[:2])
    return np.clip(start + band, 0.0, 1.0)
