"""Images as the socket process checks them, before the engine sees a job: Pillow only.

``read_header`` gives a style file's format and dimensions from its header
alone (nothing is decoded here; the engine decodes it, engine/images.py).  The
``ImageError`` family is what both processes raise for an image that cannot be
used; its message is for people, and ``refusal`` turns it into the protocol's
error (the command line prints it).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from nst_server.client.protocol import MAX_PIXELS, MAX_SIDE, STYLE_FORMATS, ProtocolError


class ImageError(ValueError):
    """An image file or buffer that cannot be used; the message says why, for people."""


class UnreadableImage(ImageError):
    pass


class ImageTooLarge(ImageError):
    pass


class BadPixels(ImageError):
    pass


def unreadable(name: str, exc: Exception) -> UnreadableImage:
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
        raise unreadable(name, exc) from None
    for side, length in (("width", size[0]), ("height", size[1])):
        if length > MAX_SIDE:  # as for layers
            raise ImageTooLarge(f"{name} is {length} px in {side}, over the limit of {MAX_SIDE} px")
    if size[0] * size[1] > max_pixels:
        raise ImageTooLarge(f"{name} has {size[0]}x{size[1]} pixels, over the server's limit of "
                            f"{max_pixels / 2**20:g} megapixels")
    return size


def refusal(exc: ImageError) -> ProtocolError:
    """The protocol's error for an image the server cannot use (in the socket process or the worker)."""
    code = {ImageTooLarge: "too_large", BadPixels: "bad_image"}.get(type(exc), "bad_style_image")
    return ProtocolError(code, str(exc))
