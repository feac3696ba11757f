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

from nst_server import images, schedule
from nst_server.client import protocol
from nst_server.client.protocol import ImageDesc, Message, ProtocolError

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


NETWORK_MIN_SIDE = 16  # px: VGG pools four times before block5_conv1; a shorter side vanishes there (measured: 15 fails)


def network_long_sides(params: dict[str, Any]) -> tuple[int, int]:
    """Long sides (layer, style) of the smallest images the network sees with these parameters.

    Mirrors methods.py: the seed method works at ``size``; multiscale starts at the
    coarsest of schedule.scale_sizes and scales the style by ``style_scale``, at
    least 16 px.  Every later scale is larger.
    """
    if params["method"] == "seed":
        return params["size"], params["size"]
    coarsest = schedule.scale_sizes(schedule.finest_size(params["preset"], params["size"]))[0]
    return coarsest, max(NETWORK_MIN_SIDE, round(coarsest * params["style_scale"]))


def check_network_size(what: str, width: int, height: int, long_side: int, params: dict[str, Any]) -> None:
    """ProtocolError ``too_small`` when an image scaled to ``long_side`` has a side the network cannot take."""
    short = min(schedule.long_side_shape(height, width, long_side))
    if short < NETWORK_MIN_SIDE:
        raise ProtocolError(
            "too_small",
            f"{what} ({width}x{height} px) is too narrow: at output detail {params['size']} and style scale "
            f"{params['style_scale']:g} its short side would be {short} px, and the network needs at least "
            f"{NETWORK_MIN_SIDE} px. Use a less elongated image, or a larger output detail or style scale.",
        )


def validate_stylize(message: Message, limits: Limits = Limits()) -> tuple[str, WorkerJob]:
    """Everything a stylize message carries, checked; ProtocolError names the first problem."""
    fields = protocol.parse_stylize(message, limits.max_pixels)
    for buffer in message.buffers:
        if len(buffer) > limits.max_buffer_bytes:
            raise ProtocolError("too_large", f"a buffer is larger than the server's limit of {limits.max_buffer_bytes} bytes")
    pixels, style_files = message.buffers[0], message.buffers[1:]
    protocol.check_buffer(fields.content, pixels, "layer")
    layer_side, style_side = network_long_sides(fields.params)
    check_network_size("the layer", fields.content.width, fields.content.height, layer_side, fields.params)
    for (name, _), data in zip(fields.styles, style_files, strict=True):
        if not data:
            raise ProtocolError("bad_style_image", f"the style image file {name} is empty")
        if len(data) > limits.max_style_file_bytes:
            raise ProtocolError("too_large", f"the style file {name} is larger than {limits.max_style_file_bytes >> 20} MiB")
        width, height = images.check_style_header(data, name, limits.max_pixels)
        check_network_size(f"the style image {name}", width, height, style_side, fields.params)
    return fields.job, WorkerJob(fields.content.to_json(), pixels, list(style_files), fields.styles, fields.params)


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
