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
    style_files: list[bytes]
    styles: list[tuple[str, float]]  # (name, blend weight) of each style file
    params: dict[str, Any]


@dataclass
class StylizeRequest:
    job: str
    content_desc: ImageDesc
    content: np.ndarray  # (H, W, C) float32 in [0, 1], C = 3 or 4
    styles: list[np.ndarray]  # (h, w, 3) float32 in [0, 1]
    style_weights: list[float]
    params: dict[str, Any]


def validate_stylize(message: Message, limits: Limits = Limits()) -> tuple[str, WorkerJob]:
    """Everything a stylize message carries, checked; ProtocolError names the first problem."""
    header = message.header
    job = protocol.job_id(header)
    if len(message.buffers) < 2:
        raise ProtocolError("bad_message", "a stylize message carries the layer's pixels and at least one style file")
    for buffer in message.buffers:
        if len(buffer) > limits.max_buffer_bytes:
            raise ProtocolError("too_large", f"a buffer is larger than the server's limit of {limits.max_buffer_bytes} bytes")
    params = protocol.validate_params(header.get("params", {}))
    desc = protocol.parse_image_desc(header.get("content"), "layer", limits.max_pixels)
    pixels, style_files = message.buffers[0], message.buffers[1:]
    protocol.check_buffer(desc, pixels, "layer")
    styles = protocol.parse_styles(header.get("styles"), len(style_files))
    for (name, _), data in zip(styles, style_files, strict=True):
        if not data:
            raise ProtocolError("bad_style_image", f"the style image file {name} is empty")
        if len(data) > limits.max_style_file_bytes:
            raise ProtocolError("too_large", f"the style file {name} is larger than {limits.max_style_file_bytes >> 20} MiB")
        images.check_style_header(data, name, limits.max_pixels)
    return job, WorkerJob(desc.to_json(), pixels, list(style_files), styles, params)


def prepare(job_id: str, job: WorkerJob) -> StylizeRequest:
    """Decode a validated job into arrays (in the worker: a damaged file cannot hurt the server)."""
    desc = protocol.parse_image_desc(job.content, "layer")
    return StylizeRequest(
        job=job_id,
        content_desc=desc,
        content=images.pixels_to_array(desc, job.pixels),
        styles=[images.decode_style(data, name) for data, (name, _) in zip(job.style_files, job.styles, strict=True)],
        style_weights=[weight for _, weight in job.styles],
        params=job.params,
    )


def run_stylize(engine: StyleTransferEngine, request: StylizeRequest, progress: ProgressCallback) -> bytes:
    """The stylized layer, at the layer's own size and format, its alpha kept."""
    desc = request.content_desc
    rgb = request.content[..., :3]
    result = engine.stylize(rgb, request.styles, style_weights=request.style_weights, progress=progress, **request.params)
    result = images.resize_to(result, desc.width, desc.height)
    if desc.channels == 4:
        result = np.concatenate([result, request.content[..., 3:]], axis=-1)
    return images.array_to_pixels(desc, result)
