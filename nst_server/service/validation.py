"""A stylize request checked at the boundary, in the socket process, before the engine sees it.

Cheap, and no TensorFlow or numpy: parameters, the layer's description and
buffer length (and the previous frame's, in frames mode), each style file's
size, format and dimensions (read from its header, never decoded here), and
that neither image is too narrow for the network at the requested size.
protocol.verify has already held every frame and buffer to the server's
limits.  What passes becomes a ``JobRequest`` for the worker
(nst_server/pipe/messages.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from nst_server.client import protocol, schedule
from nst_server.client.params import StyleParams
from nst_server.client.protocol import Message, ProtocolError
from nst_server.pipe.image_checks import ImageError, read_header, refusal
from nst_server.pipe.messages import JobRequest


@dataclass(frozen=True)
class Limits:
    """What the server accepts; lower them to protect a small machine."""

    max_pixels: int = protocol.MAX_PIXELS
    max_buffer_bytes: int = protocol.MAX_BUFFER_BYTES
    max_style_file_bytes: int = protocol.MAX_STYLE_FILE_BYTES
    max_job_seconds: float = 3600.0


def check_network_size(what: str, width: int, height: int, long_side: int, params: StyleParams) -> None:
    """ProtocolError ``too_small`` when an image scaled to ``long_side`` has a side the network cannot take."""
    short = min(schedule.long_side_shape(height, width, long_side))
    if short < schedule.NETWORK_MIN_SIDE:
        raise ProtocolError(
            "too_small",
            f"{what} ({width}x{height} px) is too narrow: at output detail {params.size} and style scale "
            f"{params.style_scale:g} its short side would be {short} px, and the network needs at least "
            f"{schedule.NETWORK_MIN_SIDE} px. Use a less elongated image, or a larger output detail or style scale.",
        )


def validate_stylize(message: Message, limits: Limits = Limits()) -> JobRequest:
    """Everything a stylize message carries, checked; ProtocolError names the first problem."""
    fields = protocol.parse_stylize(message, limits.max_pixels)
    buffers = message.buffers
    extra = 2 if fields.previous is not None else 0  # the previous frame's photo and result follow the style files
    pixels, style_files = buffers[0], buffers[1:len(buffers) - extra]
    protocol.check_buffer(fields.content, pixels, "layer")
    p = fields.params
    previous = None
    if fields.previous is not None:
        previous = (buffers[-2], buffers[-1])
        protocol.check_buffer(fields.content, previous[0], "previous frame photo")
        protocol.check_buffer(fields.content, previous[1], "previous frame result")
        if p.method == "seed":  # the tutorial's algorithm stays as it is: no temporal term, no carried start
            raise ProtocolError("bad_parameter", "a previous frame (frames mode) needs method 'multiscale'; "
                                                 "method 'seed' cannot use it")
    layer_side, style_side = schedule.network_long_sides(p.method, p.preset, p.size, p.style_scale)
    check_network_size("the layer", fields.content.width, fields.content.height, layer_side, fields.params)
    for (name, _), data in zip(fields.styles, style_files, strict=True):
        if not data:
            raise ProtocolError("bad_style_image", f"the style image file {name} is empty")
        if len(data) > limits.max_style_file_bytes:
            raise ProtocolError("too_large", f"the style file {name} is larger than {limits.max_style_file_bytes >> 20} MiB")
        try:
            width, height = read_header(data, name, limits.max_pixels)
        except ImageError as exc:
            raise refusal(exc) from None
        check_network_size(f"the style image {name}", width, height, style_side, fields.params)
    return JobRequest(fields.job, fields.content, pixels, tuple(style_files), tuple(fields.styles), fields.params,
                      fields.preview_long_side, previous)
