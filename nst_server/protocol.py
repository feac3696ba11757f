"""The wire protocol between the GIMP plug-in and the style transfer server.

This is the one definition both sides use (install.py copies it next to the
plug-in); docs/protocol.md describes it for people.  Standard library only,
and no sockets here: this module turns messages into frames and back, signs
and checks them, and validates what a message may contain.

A message is a list of frames::

    [MAGIC, signature, header, buffer, ...]

``MAGIC`` names the protocol version, ``signature`` is HMAC-SHA256 (key from
the server's private runtime file) over every frame after it, ``header`` is
UTF-8 JSON with at least ``type``, ``id`` and ``ts``, and the buffers carry
bytes (pixels, an encoded style image) that the header describes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"NST/1"
VERSION = 1

# --- limits checked before anything is parsed --------------------------------
MAX_STYLES = 4
MAX_FRAMES = 4 + MAX_STYLES  # magic, signature, header, layer pixels and the style files
MAX_HEADER_BYTES = 64 * 1024
MAX_SIDE = 16384
MAX_PIXELS = 64 * 1024 * 1024  # 64 megapixels, e.g. 8192 x 8192
MAX_STYLE_FILE_BYTES = 64 * 1024 * 1024
MAX_BUFFER_BYTES = 512 * 1024 * 1024  # e.g. 8192 x 4096 RGBA float32, or 64 megapixels RGBA 8-bit
MAX_CLOCK_SKEW_S = 300.0  # messages older or newer than this are refused

# --- message types -----------------------------------------------------------
# client -> server
PING = "ping"
STYLIZE = "stylize"
CANCEL = "cancel"
FINISH = "finish"  # stop optimizing now and send the best result so far
# server -> client
PONG = "pong"
ACCEPTED = "accepted"
PROGRESS = "progress"
KEEPALIVE = "keepalive"
RESULT = "result"
CANCELLED = "cancelled"
ERROR = "error"

CLIENT_TYPES = frozenset({PING, STYLIZE, CANCEL, FINISH})
SERVER_TYPES = frozenset({PONG, ACCEPTED, PROGRESS, KEEPALIVE, RESULT, CANCELLED, ERROR})

# --- error codes: each names one problem a user or client can act on ----------
ERROR_CODES: dict[str, str] = {
    "bad_message": "The message is malformed (frames, JSON or fields).",
    "bad_signature": "The message is not signed with this server's key.",
    "replayed": "The message was already received, or its time is too far off.",
    "unsupported_version": "The peer speaks another protocol version.",
    "bad_parameter": "A parameter is unknown, of the wrong type or out of range.",
    "bad_image": "The layer's pixels do not match their description.",
    "too_large": "An image or buffer is larger than the server accepts.",
    "bad_style_image": "The style image cannot be read.",
    "weights_missing": "The VGG model weights are not installed.",
    "busy": "The server has no room for another job now.",
    "unknown_job": "No job with this id is known to the server.",
    "cancelled": "The job was cancelled.",
    "timeout": "The job ran longer than the server allows.",
    "shutting_down": "The server is stopping; the job was not finished.",
    "internal": "The server failed while running the job.",
}


class ProtocolError(Exception):
    """A message that cannot be accepted; ``code`` is one of ERROR_CODES.

    ``authenticated`` tells whether the message carried a valid signature: only
    then does the server answer (unsigned traffic learns nothing).
    """

    def __init__(self, code: str, message: str, authenticated: bool = True) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.authenticated = authenticated


# --- parameters --------------------------------------------------------------
@dataclass(frozen=True)
class IntParam:
    name: str
    default: int
    minimum: int
    maximum: int
    help: str

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("bad_parameter", f"parameter '{self.name}' must be an integer, got {value!r}")
        if not self.minimum <= value <= self.maximum:
            raise ProtocolError(
                "bad_parameter",
                f"parameter '{self.name}' must be between {self.minimum} and {self.maximum}, got {value}",
            )
        return value


@dataclass(frozen=True)
class FloatParam:
    name: str
    default: float
    minimum: float
    maximum: float
    help: str

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ProtocolError("bad_parameter", f"parameter '{self.name}' must be a number, got {value!r}")
        if not self.minimum <= value <= self.maximum:
            raise ProtocolError(
                "bad_parameter",
                f"parameter '{self.name}' must be between {self.minimum:g} and {self.maximum:g}, got {value:g}",
            )
        return float(value)


@dataclass(frozen=True)
class ChoiceParam:
    name: str
    default: str
    choices: tuple[str, ...]
    help: str

    def check(self, value: Any) -> str:
        if value not in self.choices:
            raise ProtocolError(
                "bad_parameter",
                f"parameter '{self.name}' must be one of {', '.join(self.choices)}; got {value!r}",
            )
        return value


METHODS = ("multiscale", "seed")
BACKBONES = ("vgg19", "vgg16")
PRESETS = ("preview", "balanced", "high")

PARAMETERS: dict[str, IntParam | FloatParam | ChoiceParam] = {
    p.name: p
    for p in (
        ChoiceParam("method", "multiscale", METHODS,
                    "optimization method: 'multiscale' (fast, the default) or 'seed' (the TensorFlow tutorial's)"),
        ChoiceParam("preset", "balanced", PRESETS, "quality preset: how much work per scale"),
        IntParam("strength", 50, 0, 100, "style against content: 0 barely styled, 100 mostly style"),
        ChoiceParam("preserve_colors", "off", ("off", "luminance", "match"),
                    "keep the layer's colours: 'luminance' transfers brightness only, 'match' recolours the style"),
        FloatParam("style_scale", 1.0, 0.25, 4.0, "size of the style's brush strokes relative to the content"),
        IntParam("size", 512, 32, 4096, "long side in pixels at which the style is computed"),
        IntParam("steps", 0, 0, 10000, "optimization steps (0: the preset's or method's own number)"),
        IntParam("seed", 0, 0, 2**31 - 1, "random seed, for reproducible runs"),
        ChoiceParam("backbone", "vgg19", BACKBONES, "feature network"),
        ChoiceParam("precision", "auto", ("auto", "float32", "bfloat16"),
                    "network precision: 'auto' uses bfloat16 where the hardware has it"),
    )
}


@dataclass(frozen=True)
class StyleImage:
    """One style image as sent: a name for messages, the file's bytes, and its blend weight."""

    name: str
    data: bytes
    weight: float = 1.0


def parse_styles(raw: Any, count: int) -> list[tuple[str, float]]:
    """(name, weight) of each style file buffer; ``count`` is how many buffers follow the layer."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_STYLES:
        raise ProtocolError("bad_message", f"'styles' must list 1 to {MAX_STYLES} style images")
    if len(raw) != count:
        raise ProtocolError("bad_message", f"'styles' lists {len(raw)} images but {count} style files came")
    styles = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ProtocolError("bad_message", "each style is an object with 'name' and 'weight'")
        name, weight = entry.get("name", "style image"), entry.get("weight", 1.0)
        if not isinstance(name, str) or len(name) > 255:
            raise ProtocolError("bad_message", "a style's 'name' must be a string of at most 255 characters")
        weight = FloatParam("weight", 1.0, 0.0, 1000.0, "").check(weight)
        styles.append((name, weight))
    if sum(w for _, w in styles) <= 0:
        raise ProtocolError("bad_parameter", "at least one style needs a weight above 0")
    return styles


def validate_params(raw: Any) -> dict[str, Any]:
    """Return the full parameter set: defaults filled in, every value checked."""
    if not isinstance(raw, dict):
        raise ProtocolError("bad_parameter", "'params' must be an object")
    unknown = sorted(set(raw) - set(PARAMETERS))
    if unknown:
        raise ProtocolError("bad_parameter", f"unknown parameter(s): {', '.join(unknown)}")
    return {name: spec.check(raw.get(name, spec.default)) for name, spec in PARAMETERS.items()}


# --- pixel buffers -----------------------------------------------------------
# format name -> (channels, bytes per channel); samples are non-linear (sRGB-like)
# and little-endian; float samples are in [0, 1].
PIXEL_FORMATS: dict[str, tuple[int, int]] = {
    "RGB8": (3, 1),
    "RGBA8": (4, 1),
    "RGB32F": (3, 4),
    "RGBA32F": (4, 4),
}


@dataclass(frozen=True)
class ImageDesc:
    width: int
    height: int
    format: str

    @property
    def channels(self) -> int:
        return PIXEL_FORMATS[self.format][0]

    @property
    def bytes_per_sample(self) -> int:
        return PIXEL_FORMATS[self.format][1]

    @property
    def nbytes(self) -> int:
        return self.width * self.height * self.channels * self.bytes_per_sample

    def to_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "format": self.format}


def parse_image_desc(raw: Any, what: str = "image", max_pixels: int = MAX_PIXELS) -> ImageDesc:
    if not isinstance(raw, dict):
        raise ProtocolError("bad_image", f"'{what}' must be an object with width, height and format")
    w, h, fmt = raw.get("width"), raw.get("height"), raw.get("format")
    for name, v in (("width", w), ("height", h)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ProtocolError("bad_image", f"{what} {name} must be a positive integer, got {v!r}")
        if v > MAX_SIDE:
            raise ProtocolError("too_large", f"{what} {name} {v} exceeds the limit of {MAX_SIDE} pixels")
    if w * h > max_pixels:
        raise ProtocolError(
            "too_large", f"{what} of {w}x{h} has more than the server's limit of {max_pixels / 2**20:g} megapixels"
        )
    if fmt not in PIXEL_FORMATS:
        raise ProtocolError("bad_image", f"{what} format must be one of {', '.join(PIXEL_FORMATS)}; got {fmt!r}")
    return ImageDesc(w, h, fmt)


def check_buffer(desc: ImageDesc, buffer: bytes, what: str = "image") -> None:
    if len(buffer) != desc.nbytes:
        raise ProtocolError(
            "bad_image",
            f"{what} buffer has {len(buffer)} bytes; {desc.width}x{desc.height} {desc.format} needs {desc.nbytes}",
        )


# --- framing and signing -----------------------------------------------------
def new_key() -> bytes:
    return os.urandom(32)


def _digest(key: bytes, frames: Sequence[bytes]) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for frame in frames:
        # Length prefixes make frame boundaries part of what is signed.
        mac.update(struct.pack("<Q", len(frame)))
        mac.update(frame)
    return mac.digest()


def new_header(msg_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": msg_type, "id": os.urandom(12).hex(), "ts": time.time(), **fields}


def encode(key: bytes, header: dict[str, Any], buffers: Sequence[bytes] = ()) -> list[bytes]:
    body = [json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8"), *buffers]
    return [MAGIC, _digest(key, body), *body]


@dataclass
class Message:
    header: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.header["type"]


class ReplayGuard:
    """Remembers recent message ids so that a captured message cannot be re-sent."""

    def __init__(self, capacity: int = 4096) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def check(self, header: dict[str, Any], now: float | None = None) -> None:
        now = time.time() if now is None else now
        ts = header["ts"]
        if abs(now - ts) > MAX_CLOCK_SKEW_S:
            raise ProtocolError("replayed", "message time is too far from the server's clock")
        msg_id = header["id"]
        if msg_id in self._seen:
            raise ProtocolError("replayed", "message was already received")
        self._seen[msg_id] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


def decode(
    key: bytes,
    frames: Sequence[bytes],
    allowed_types: frozenset[str],
    replay_guard: ReplayGuard | None = None,
    max_buffer_bytes: int = MAX_BUFFER_BYTES,
) -> Message:
    """Check and parse one message; raises ProtocolError naming what is wrong.

    Frame count, version and header size are checked first, then the
    signature, and only then is any JSON parsed.
    """

    def refuse(code: str, message: str) -> ProtocolError:
        return ProtocolError(code, message, authenticated=False)

    if len(frames) < 3:
        raise refuse("bad_message", f"a message has at least 3 frames, got {len(frames)}")
    if len(frames) > MAX_FRAMES:
        raise refuse("too_large", f"a message has at most {MAX_FRAMES} frames, got {len(frames)}")
    if bytes(frames[0]) != MAGIC:
        raise refuse("unsupported_version", f"expected protocol {MAGIC.decode()}")
    if len(frames[2]) > MAX_HEADER_BYTES:
        raise refuse("too_large", f"header is larger than {MAX_HEADER_BYTES} bytes")
    if not hmac.compare_digest(bytes(frames[1]), _digest(key, frames[2:])):
        raise refuse("bad_signature", "signature does not match")
    for buf in frames[3:]:
        if len(buf) > max_buffer_bytes:
            raise ProtocolError("too_large", f"a buffer of {len(buf)} bytes is over the limit of {max_buffer_bytes} bytes")
    try:
        header = json.loads(bytes(frames[2]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("bad_message", f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_message", "header must be a JSON object")
    msg_type, msg_id, ts = header.get("type"), header.get("id"), header.get("ts")
    if msg_type not in allowed_types:
        raise ProtocolError("bad_message", f"unexpected message type {msg_type!r}")
    if not isinstance(msg_id, str) or not 1 <= len(msg_id) <= 64:
        raise ProtocolError("bad_message", "message 'id' must be a short string")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
        raise ProtocolError("bad_message", "message 'ts' must be a number")
    if replay_guard is not None:
        replay_guard.check(header)
    return Message(header, [bytes(b) for b in frames[3:]])


def error_header(code: str, message: str, job: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": code, "message": message}
    if job is not None:
        fields["job"] = job
    return new_header(ERROR, **fields)


def job_id(header: dict[str, Any]) -> str:
    job = header.get("job")
    if not isinstance(job, str) or not 1 <= len(job) <= 64:
        raise ProtocolError("bad_message", "'job' must be a short string")
    return job
