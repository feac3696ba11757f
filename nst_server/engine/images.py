"""Images in and out of the engine: style files through Pillow, raw pixel buffers through numpy.

Style files are checked from their header (pipe/image_checks.py, which the
socket process runs before the engine sees them) and decoded here, in the
worker.  Failures are ``ImageError``s (image_checks.py too) whose message is for
people; the service turns them into protocol errors (service/validation.py), the
command line prints them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from nst_server.client.protocol import STYLE_FORMATS, ImageDesc
from nst_server.pipe.image_checks import BadPixels, UnreadableImage, read_header, unreadable

if TYPE_CHECKING:
    import numpy as np


SHRINK_ABOVE_PIXELS = 16 * 2**20  # a style file decoded larger than this is shrunk (in 8 bits) to what the job uses
# Greyscale files deeper than 8 bits: the value that is white.  Pillow's convert("RGB") clips them to 8 bits
# instead of scaling (issue 18: a 16-bit grey PNG decoded 99.8% white, a float TIFF all black).
DEEP_GREY_WHITE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}


def decode_style(data: bytes, name: str = "style image", long_side: int | None = None) -> np.ndarray:
    """Encoded image file bytes -> (H, W, 3) float32 RGB in [0, 1].

    ``long_side``: the longest side the job uses the style at.  A file decoded to more than
    SHRINK_ABOVE_PIXELS and at least twice that is reduced (box filter) before it becomes floats, so
    that a small file of huge dimensions (8000 x 8000 px in 62 KB) costs the engine about 4 bytes
    per decoded pixel, briefly, instead of gigabytes (issue 18)."""
    import numpy as np

    read_header(data, name)  # format allow-list, size limit, decompression-bomb guard
    grey: np.ndarray | None = None
    try:
        with Image.open(io.BytesIO(data), formats=STYLE_FORMATS) as img:
            if long_side and img.format == "JPEG" and img.width * img.height > SHRINK_ABOVE_PIXELS:
                img.draft(None, _target(img.size, long_side))  # decoded at 1/2, 1/4 or 1/8 of its size, as suffices
            if img.mode in DEEP_GREY_WHITE:
                white, grey = DEEP_GREY_WHITE[img.mode], np.array(img, dtype=np.float32)  # a copy: scaled in place
            else:
                decoded = img.convert("RGB")
    except Exception as exc:  # Pillow raises many types for damaged files
        raise unreadable(name, exc) from None
    if grey is not None:
        decoded = _deep_grey(grey, white, name)
    if long_side and decoded.width * decoded.height > SHRINK_ABOVE_PIXELS:
        target = _target(decoded.size, long_side)
        factor = min(decoded.width // target[0], decoded.height // target[1])
        if factor >= 2:
            decoded = decoded.reduce(factor)
    if decoded.mode == "F":
        grey = np.asarray(decoded, dtype=np.float32)
        return np.repeat(grey[..., None], 3, axis=-1)
    rgb = np.asarray(decoded, dtype=np.float32)
    rgb /= 255.0
    return rgb


def _target(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) of ``size`` scaled to ``long_side``, at least 1 px each."""
    scale = long_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _deep_grey(grey: np.ndarray, white: float, name: str) -> Image.Image:
    """A greyscale image of more than 8 bits (16-bit or 32-bit integers, 32-bit floats) as mode "F" in [0, 1].

    Scaled from black to its format's ``white`` (65535; 1.0 for floats); samples outside that range
    (a 32-bit integer file, floats not in [0, 1]) are scaled by the image's own range instead, so
    that its tones are kept and it never turns blank."""
    import numpy as np

    if not np.isfinite(grey).all():
        raise UnreadableImage(f"cannot read {name}: some of its samples are not numbers (NaN or infinity). "
                              "Save it with finite values, or as an 8-bit image.")
    low, high = float(grey.min()), float(grey.max())
    if low >= 0 and high <= white:
        low, high = 0.0, float(white)
    grey -= low
    grey *= 1.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.clip(grey, 0.0, 1.0, out=grey))


def load_image_file(path: str | Path) -> np.ndarray:
    """An image file on disk -> (H, W, 3) float32 RGB in [0, 1]."""
    return decode_style(Path(path).read_bytes(), name=str(path))


def save_image_file(image: np.ndarray, path: str | Path) -> None:
    Image.fromarray(to_uint8(image)).save(path)


def to_uint8(image: np.ndarray) -> np.ndarray:
    import numpy as np

    scaled = np.clip(image, 0.0, 1.0)
    scaled *= 255.0
    return np.round(scaled, out=scaled).astype(np.uint8)


def pixels_to_array(desc: ImageDesc, buffer: bytes, channels: int | None = None, dtype: Any = None) -> np.ndarray:
    """A raw buffer as the protocol describes it -> (H, W, C) float in [0, 1] (float32 unless ``dtype`` says),
    its first ``channels`` channels (all by default)."""
    import numpy as np

    source = np.uint8 if desc.bytes_per_sample == 1 else np.dtype("<f4")
    array = np.frombuffer(buffer, dtype=source).reshape(desc.height, desc.width, desc.channels)[..., :channels]
    dtype = np.float32 if dtype is None else dtype
    if source == np.uint8:  # one float copy of the layer, not two (astype, then a division)
        return np.divide(array, np.dtype(dtype).type(255.0), dtype=dtype)
    if not np.isfinite(array).all():
        raise BadPixels("float pixels must be finite")
    return np.clip(array, 0.0, 1.0).astype(dtype)


ENCODE_BAND_ROWS = 256  # rows encoded at a time (array_to_pixels)


def array_to_pixels(desc: ImageDesc, image: np.ndarray) -> bytes:
    """(H, W, C) float in [0, 1] -> a raw buffer in ``desc``'s format."""
    import numpy as np

    assert image.shape == (desc.height, desc.width, desc.channels), (image.shape, desc)
    # In bands of rows: a 12-megapixel layer's float temporaries would otherwise add a gigabyte to the peak.
    out = np.empty(image.shape, np.uint8 if desc.bytes_per_sample == 1 else np.dtype("<f4"))
    for top in range(0, image.shape[0], ENCODE_BAND_ROWS):
        band = image[top:top + ENCODE_BAND_ROWS]
        out[top:top + ENCODE_BAND_ROWS] = to_uint8(band) if desc.bytes_per_sample == 1 else np.clip(band, 0.0, 1.0)
    return out.tobytes()


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W, 3) float to exactly width x height (Lanczos), for results at layer size."""
    import numpy as np

    if image.shape[:2] == (height, width):
        return image
    out = np.empty((height, width, image.shape[2]), np.float32)  # filled channel by channel: no stacked copy
    for c in range(image.shape[2]):
        out[..., c] = resize_plane(image[..., c], width, height)
    return np.clip(out, 0.0, 1.0, out=out)


def resize_plane(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W) float to exactly width x height (Lanczos), unclipped."""
    import numpy as np

    return np.asarray(Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).resize((width, height), Image.LANCZOS))
