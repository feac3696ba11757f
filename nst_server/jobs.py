"""Stylize jobs: checked at the boundary in the server process, decoded and run in the worker.

``validate_stylize`` is cheap and needs no TensorFlow: parameters, the layer's
description and buffer length, the style file's size, format and dimensions
(read from its header, never decoded here).  ``prepare`` and ``run_stylize``
run in the engine worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nst_server import images, protocol
from nst_server.protocol import ImageDesc, Message, ProtocolError

if TYPE_CHECKING:  # the server process never imports TensorFlow
    from nst_server.engine import ProgressCallback, StyleTransferEngine


@dataclass(frozen=True)
class Limits:
    """What the server accepts; lower them to protect a small machine."""

    max_pixels: int = protocol.MAX_PIXELS
    max_buffer_bytes: int = protocol.MAX_BUFFER_BYTES
    max_style_file_bytes: int = protocol.MAX_STYLE_FILE_BYTES
    max_job_seconds: float = 3600.0


@dataclass
class WorkerJob:
    """A validated request, as raw bytes: what crosses into the worker process."""

    content: dict[str, Any]  # protocol.ImageDesc.to_json()
    pixels: bytes
    style_file: bytes
    style_name: str
    params: dict[str, Any]


@dataclass
class StylizeRequest:
    job: str
    content_desc: ImageDesc
    content: np.ndarray  # (H, W, C) float32 in [0, 1], C = 3 or 4
    style: np.ndarray  # (h, w, 3) float32 in [0, 1]
    style_name: str
    params: dict[str, Any]


def validate_stylize(message: Message, limits: Limits = Limits()) -> tuple[str, WorkerJob]:
    """Everything a stylize message carries, checked; ProtocolError names the first problem."""
    header = message.header
    job = protocol.job_id(header)
    if len(message.buffers) != 2:
        raise ProtocolError("bad_message", "a stylize message carries 2 buffers: layer pixels and style file")
    for buffer in message.buffers:
        if len(buffer) > limits.max_buffer_bytes:
            raise ProtocolError("too_large", f"a buffer is larger than the server's limit of {limits.max_buffer_bytes} bytes")
    params = protocol.validate_params(header.get("params", {}))
    desc = protocol.parse_image_desc(header.get("content"), "layer", limits.max_pixels)
    pixels, style_file = message.buffers
    protocol.check_buffer(desc, pixels, "layer")
    style_name = header.get("style_name", "style image")
    if not isinstance(style_name, str) or len(style_name) > 255:
        raise ProtocolError("bad_message", "'style_name' must be a string of at most 255 characters")
    if not style_file:
        raise ProtocolError("bad_style_image", "the style image file is empty")
    if len(style_file) > limits.max_style_file_bytes:
        raise ProtocolError("too_large", f"the style file is larger than {limits.max_style_file_bytes >> 20} MiB")
    images.check_style_header(style_file, style_name, limits.max_pixels)
    return job, WorkerJob(desc.to_json(), pixels, style_file, style_name, params)


def prepare(job_id: str, job: WorkerJob) -> StylizeRequest:
    """Decode a validated job into arrays (in the worker: a damaged file cannot hurt the server)."""
    desc = protocol.parse_image_desc(job.content, "layer")
    return StylizeRequest(
        job=job_id,
        content_desc=desc,
        content=images.pixels_to_array(desc, job.pixels),
        style=images.decode_style(job.style_file, job.style_name),
        style_name=job.style_name,
        params=job.params,
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
