"""Images in and out: style files through Pillow, raw pixel buffers through numpy.

``read_header`` needs Pillow only: the socket process checks style files with it
before the engine sees them (numpy is imported only inside the array
functions).  Failures are ``ImageError``s whose message is for people; the
service turns them into protocol errors (service/validation.py), the command
line prints them.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from nst_server.client.protocol import MAX_PIXELS, MAX_SIDE, STYLE_FORMATS, ImageDesc

if TYPE_CHECKING:
    import numpy as np


class ImageError(ValueError):
    """An image file or buffer that cannot be used; the message says why, for people."""


class UnreadableImage(ImageError):
    pass


class ImageTooLarge(ImageError):
    pass


class BadPixels(ImageError):
    pass


def _unreadable(name: str, exc: Exception) -> UnreadableImage:
    # Pillow's own messages are for programmers (some name its in-memory file object): say what it means instead.
    if isinstance(exc, Image.UnidentifiedImageError):
        reason = "it is not an image file in a format the server reads"
    elif isinstance(exc, (OSError, EOFError, SyntaxError)):  # what Pillow raises for cut-off or corrupt data
        reason = "the file is damaged or cut short"
    else:
        reason = "the file cannot be decoded"
    return UnreadableImage(f"cannot read {name}: {reason}. Use a {', '.join(STYLE_FORMATS)} file.")


def read_header(data: bytes, name: str = "style image", max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Format and dimensions from the file's header alone (nothing is decoded); ImageError if refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=STYLE_FORMATS) as img:
                size = img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"{name} is too large to decode safely (decompression bomb guard)") from None
    except Exception as exc:
        raise _unreadable(name, exc) from None
    for side, length in (("width", size[0]), ("height", size[1])):
        if length > MAX_SIDE:  # as for layers
            raise ImageTooLarge(f"{name} is {length} px in {side}, over the limit of {MAX_SIDE} px")
    if size[0] * size[1] > max_pixels:
        raise ImageTooLarge(f"{name} has {size[0]}x{size[1]} pixels, over the server's limit of "
                            f"{max_pixels / 2**20:g} megapixels")
    return size


def decode_style(data: bytes, name: str = "style image") -> np.ndarray:
    """Encoded image file bytes -> (H, W, 3) float32 RGB in [0, 1]."""
    import numpy as np

    read_header(data, name)  # format allow-list, size limit, decompression-bomb guard
    try:
        with Image.open(io.BytesIO(data), formats=STYLE_FORMATS) as img:
            rgb = img.convert("RGB")
    except Exception as exc:  # Pillow raises many types for damaged files
        raise _unreadable(name, exc) from None
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
