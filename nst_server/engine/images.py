"""Images in and out of the engine: style files through Pillow, raw pixel buffers through numpy.

Style files are checked from their header (service/image_checks.py, which the
socket process runs before the engine sees them) and decoded here, in the
worker.  Failures are ``ImageError``s (image_checks.py too) whose message is for
people; the service turns them into protocol errors (service/validation.py), the
command line prints them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from nst_server.client.protocol import STYLE_FORMATS, ImageDesc
from nst_server.service.image_checks import BadPixels, read_header, unreadable

if TYPE_CHECKING:
    import numpy as np


def decode_style(data: bytes, name: str = "style image") -> np.ndarray:
    """Encoded image file bytes -> (H, W, 3) float32 RGB in [0, 1]."""
    import numpy as np

    read_header(data, name)  # format allow-list, size limit, decompression-bomb guard
    try:
        with Image.open(io.BytesIO(data), formats=STYLE_FORMATS) as img:
            rgb = img.convert("RGB")
    except Exception as exc:  # Pillow raises many types for damaged files
        raise unreadable(name, exc) from None
    return np.asarray(rgb, dtype=np.float32) / 255.0


def load_image_file(path: str | Path) -> np.ndarray:
    """An image file on disk -> (H, W, 3) float32 RGB in [0, 1]."""
    return decode_style(Path(path).read_bytes(), name=str(path))


def save_image_file(image: np.ndarray, path: str | Path) -> None:
    Image.fromarray(to_uint8(image)).save(path)


def to_uint8(image: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def pixels_to_array(desc: ImageDesc, buffer: bytes) -> np.ndarray:
    """A raw buffer as the protocol describes it -> (H, W, C) float32 in [0, 1]."""
    import numpy as np

    dtype = np.uint8 if desc.bytes_per_sample == 1 else np.dtype("<f4")
    array = np.frombuffer(buffer, dtype=dtype).reshape(desc.height, desc.width, desc.channels)
    if dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.isfinite(array).all():
        raise BadPixels("float pixels must be finite")
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def array_to_pixels(desc: ImageDesc, image: np.ndarray) -> bytes:
    """(H, W, C) float in [0, 1] -> a raw buffer in ``desc``'s format."""
    import numpy as np

    assert image.shape == (desc.height, desc.width, desc.channels), (image.shape, desc)
    if desc.bytes_per_sample == 1:
        return to_uint8(image).tobytes()
    return np.clip(image, 0.0, 1.0).astype("<f4").tobytes()


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W, 3) float to exactly width x height (Lanczos), for results at layer size."""
    import numpy as np

    if image.shape[:2] == (height, width):
        return image
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize((width, height), Image.LANCZOS))
        for c in range(image.shape[2])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
