"""A result brought to the layer's own size: enlarged, with the photo's own fine detail as a finishing touch.

The optimization works up to the output detail (schedule.py); a layer larger than
that gets the result enlarged (Lanczos, per channel, in float) and the photo's
luminance detail finer than the result's resolution added back at a fraction of
its strength.  It sharpens edges that the photo has (a tower's outline, a
gable), never adds texture of its own: the brush texture comes from the texture
scales.  Colour comes only from the result.
"""

from __future__ import annotations

import numpy as np

from nst_server.engine.colour import luma
from nst_server.engine.images import resize_plane, resize_to

DETAIL_GAIN = 0.5  # how much of the photo's finer luminance detail the enlarged result gets


def enlarge(result: np.ndarray, photo: np.ndarray, gain: float = DETAIL_GAIN) -> np.ndarray:
    """``result`` (h, w, 3) at ``photo``'s shape (H, W, 3); shrunk plainly when it is larger."""
    height, width = photo.shape[:2]
    if result.shape[:2] == (height, width):
        return result
    enlarged = resize_to(result, width, height)
    if result.shape[0] > height or not gain:
        return enlarged
    # The photo's luminance detail above the result's resolution: its luminance less that luminance's round trip
    # through that size (one plane, not the three of the photo: a 12-megapixel layer's peak memory counts).
    detail = luma(photo)
    detail -= resize_plane(resize_plane(detail, result.shape[1], result.shape[0]), width, height)
    detail *= gain
    enlarged += detail[..., None]
    return np.clip(enlarged, 0.0, 1.0, out=enlarged)
