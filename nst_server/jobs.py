"""Stylize jobs: a request checked at the boundary, then run on the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nst_server import images, protocol
from nst_server.engine import ProgressCallback, StyleTransferEngine
from nst_server.protocol import ImageDesc, Message, ProtocolError


@dataclass
class StylizeRequest:
    job: str
    content_desc: ImageDesc
    content: np.ndarray  # (H, W, C) float32 in [0, 1], C = 3 or 4
    style: np.ndarray  # (h, w, 3) float32 in [0, 1]
    style_name: str
    params: dict[str, Any]


def parse_stylize(message: Message) -> StylizeRequest:
    """Everything a stylize message carries, validated; ProtocolError names the first problem."""
    header = message.header
    job = protocol.job_id(header)
    params = protocol.validate_params(header.get("params", {}))
    desc = protocol.parse_image_desc(header.get("content"), "layer")
    if len(message.buffers) != 2:
        raise ProtocolError("bad_message", "a stylize message carries 2 buffers: layer pixels and style file")
    pixels, style_file = message.buffers
    protocol.check_buffer(desc, pixels, "layer")
    if not style_file:
        raise ProtocolError("bad_style_image", "the style image file is empty")
    if len(style_file) > protocol.MAX_STYLE_FILE_BYTES:
        raise ProtocolError("too_large", f"the style file is larger than {protocol.MAX_STYLE_FILE_BYTES >> 20} MiB")
    style_name = header.get("style_name", "style image")
    if not isinstance(style_name, str) or len(style_name) > 255:
        raise ProtocolError("bad_message", "'style_name' must be a string of at most 255 characters")
    return StylizeRequest(
        job=job,
        content_desc=desc,
        content=images.pixels_to_array(desc, pixels),
        style=images.decode_style(style_file, style_name),
        style_name=style_name,
        params=params,
    )


def run_stylize(engine: StyleTransferEngine, request: StylizeRequest, progress: ProgressCallback) -> bytes:
    """The stylized layer, at the layer's own size and format, its alpha kept."""
    desc = request.content_desc
    rgb = request.content[..., :3]
    result = engine.stylize(rgb, request.style, progress=progress, **request.params)
    result = images.resize_to(result, desc.width, desc.height)
    if desc.channels == 4:
        result = np.concatenate([result, request.content[..., 3:]], axis=-1)
    return images.array_to_pixels(desc, result)
