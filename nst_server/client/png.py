"""One PNG writer, with the standard library: 8-bit RGB or RGBA rows, compressed.

The plug-in sends a style taken from a layer as a PNG file (the server reads
style images as files); the doctor's round trip sends a small one too.
"""

from __future__ import annotations

import struct
import zlib


def encode_png(width: int, height: int, pixels: bytes, channels: int = 4) -> bytes:
    """A PNG file of ``pixels``: ``height`` rows of ``width`` 8-bit RGB (3 channels) or RGBA (4) samples."""
    if channels not in (3, 4) or len(pixels) != width * height * channels:
        raise ValueError(f"{len(pixels)} bytes are not {width}x{height} pixels of {channels} channels")

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    stride = width * channels
    raw = b"".join(b"\0" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
