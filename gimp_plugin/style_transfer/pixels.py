"""The little pixel work the plug-in does itself, in pure Python (GIMP's Python has no numpy)."""

from __future__ import annotations


def without_alpha(rgba: bytes, sample_bytes: int) -> bytes:
    """The RGB of RGBA pixels whose samples are ``sample_bytes`` long: what goes to the server (the alpha
    stays here, unchanged)."""
    rgb = bytearray(len(rgba) // 4 * 3)
    for offset in range(3 * sample_bytes):  # each byte of R, G and B, at every pixel at once
        rgb[offset::3 * sample_bytes] = rgba[offset::4 * sample_bytes]
    return bytes(rgb)


def with_alpha(rgb: bytes, rgba: bytes, sample_bytes: int) -> bytes:
    """``rgba`` with its colours replaced by ``rgb`` (same size and sample length), its alpha kept."""
    if len(rgb) * 4 != len(rgba) * 3:
        raise ValueError(f"{len(rgb)} bytes of RGB do not fit {len(rgba)} bytes of RGBA")
    out = bytearray(rgba)
    for offset in range(3 * sample_bytes):
        out[offset::4 * sample_bytes] = rgb[offset::3 * sample_bytes]
    return bytes(out)


def scale_nearest(data: bytes, width: int, height: int, channels: int, new_width: int, new_height: int) -> bytes:
    """Nearest-neighbour resize in pure Python, for previews of another size than the layer's (a server from
    before previews at the layer's size sends at most 256 px; rows are reused)."""
    row_bytes = width * channels
    columns = [min(width - 1, (x * width) // new_width) * channels for x in range(new_width)]
    cache: dict[int, bytes] = {}
    rows = []
    for y in range(new_height):
        source_row = min(height - 1, (y * height) // new_height)
        row = cache.get(source_row)
        if row is None:
            start = source_row * row_bytes
            line = data[start:start + row_bytes]
            row = cache[source_row] = b"".join(line[c:c + channels] for c in columns)
        rows.append(row)
    return b"".join(rows)
