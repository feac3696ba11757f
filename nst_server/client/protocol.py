"""The wire protocol between the GIMP plug-in and the style transfer server.

This is the one definition both sides use (it is part of the client package
install.py copies next to the plug-in; the service imports it from there);
docs/protocol.md describes it for people.  Standard library only,
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
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# The errors, the parameters and a pong's optional fields have modules of their own; they are named here too,
# as part of the protocol.
from nst_server.client.errors import ERROR_CODES, MAX_TEXT_CHARS, ProtocolError, printable, shown  # noqa: F401
from nst_server.client.params import SPECS, ParamSpec, StyleParams  # noqa: F401
from nst_server.client.pong_fields import FEATURES, SPEED_PRECISIONS, parse_features, parse_speed  # noqa: F401
from nst_server.client.strict_json import MAX_JSON_DEPTH, MAX_JSON_INT_DIGITS, loads_header  # noqa: F401

MAGIC = b"NST/1"
VERSION = 1
MIN_LIBZMQ = (4, 3, 3)  # both ends: older libzmq has known security flaws (CVE-2019-6250, CVE-2020-15166, ...)

# --- limits checked before anything is parsed --------------------------------
MAX_STYLES = 4
# magic, signature, header, layer pixels, the style files, and (frames mode) the previous frame's photo and result
MAX_FRAMES = 6 + MAX_STYLES
MAX_HEADER_BYTES = 64 * 1024
MAX_SIDE = 16384
MAX_PIXELS = 64 * 1024 * 1024  # 64 megapixels, e.g. 8192 x 8192
MAX_STYLE_FILE_BYTES = 64 * 1024 * 1024
STYLE_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")  # style image files; anything else is refused unread
MAX_BUFFER_BYTES = 512 * 1024 * 1024  # e.g. 8192 x 4096 RGBA float32, or 64 megapixels RGBA 8-bit
MAX_CLOCK_SKEW_S = 300.0  # messages older or newer than this are refused
MAX_SIGNED_FRAMES = 64  # over this many frames the signature is not even checked (no client sends that)
MAX_ID_CHARS = 64  # message and job ids

# --- message types -----------------------------------------------------------
# client -> server
PING = "ping"
STYLIZE = "stylize"
CANCEL = "cancel"
FINISH = "finish"  # stop optimizing now and send the best result so far
STATUS = "status"  # is my job still there? (a client that heard nothing for a while, e.g. after being suspended)
# server -> client
PONG = "pong"
ACCEPTED = "accepted"
PROGRESS = "progress"
KEEPALIVE = "keepalive"
RESULT = "result"
CANCELLED = "cancelled"
ERROR = "error"

CLIENT_TYPES = frozenset({PING, STYLIZE, CANCEL, FINISH, STATUS})
SERVER_TYPES = frozenset({PONG, ACCEPTED, PROGRESS, KEEPALIVE, RESULT, CANCELLED, ERROR})

STYLE_WEIGHT = ParamSpec("weight", 1.0, "a style's share of the blend", minimum=0.0, maximum=1000.0)


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
        missing = [key for key in ("name", "weight") if key not in entry]
        if missing:  # no defaults: a client that leaves them out has a bug worth hearing about
            raise ProtocolError("bad_message", f"a style lacks its {' and '.join(repr(k) for k in missing)}: each style "
                                               "is an object with 'name' and 'weight'")
        name, weight = entry["name"], entry["weight"]
        if not isinstance(name, str) or len(name) > 255:
            raise ProtocolError("bad_message", "a style's 'name' must be a string of at most 255 characters")
        weight = STYLE_WEIGHT.check(weight)
        styles.append((printable(name), weight))  # the name only ever appears in messages for people
    if sum(w for _, w in styles) <= 0:
        raise ProtocolError("bad_parameter", "at least one style needs a weight above 0")
    return styles


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
            raise ProtocolError("bad_image", f"{what} {name} must be a positive integer, got {shown(v)}")
        if v > MAX_SIDE:
            raise ProtocolError("too_large", f"{what} {name} {v} exceeds the limit of {MAX_SIDE} pixels")
    if w * h > max_pixels:
        raise ProtocolError(
            "too_large", f"{what} of {w}x{h} has more than the server's limit of {max_pixels / 2**20:g} megapixels"
        )
    if not isinstance(fmt, str) or fmt not in PIXEL_FORMATS:  # a list or object is no key of a dict
        raise ProtocolError("bad_image", f"{what} format must be one of {', '.join(PIXEL_FORMATS)}; got {shown(fmt)}")
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


def sign(key: bytes, body: Sequence[bytes]) -> list[bytes]:
    """A whole message from its header and buffer frames, exactly as given (tests sign raw bytes with it)."""
    return [MAGIC, _digest(key, body), *body]


def new_header(msg_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": msg_type, "id": os.urandom(12).hex(), "ts": time.time(), **fields}


def encode(key: bytes, header: dict[str, Any], buffers: Sequence[bytes] = ()) -> list[bytes]:
    return sign(key, [json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8"), *buffers])


@dataclass
class Message:
    header: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.header["type"]

    @property
    def job(self) -> str | None:
        """The job this message is about, already checked to be an id (see parse)."""
        return self.header.get("job")


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


def verify(key: bytes, frames: Sequence[bytes], max_buffer_bytes: int = MAX_BUFFER_BYTES) -> list[bytes]:
    """The signed frames (header, buffers) of a message, checked against every limit; nothing is parsed.

    Raises ProtocolError.  Before the signature only what is needed to check it
    is looked at (frame count, magic, a bound on the bytes to hash); those
    errors are ``authenticated=False`` and never answered.  A message whose
    signature holds but that is over a limit (frames, header, a buffer) gets an
    authenticated ``too_large``, so its sender learns why.
    """

    def refuse(code: str, message: str) -> ProtocolError:
        return ProtocolError(code, message, authenticated=False)

    if len(frames) < 3:
        raise refuse("bad_message", f"a message has at least 3 frames, got {len(frames)}")
    if bytes(frames[0]) != MAGIC:
        raise refuse("unsupported_version", f"expected protocol {MAGIC.decode()}")
    if len(frames) > MAX_SIGNED_FRAMES or sum(len(f) for f in frames[2:]) > (MAX_FRAMES - 1) * max_buffer_bytes:
        raise refuse("too_large", "message far over the limits; its signature was not checked")
    if not hmac.compare_digest(bytes(frames[1]), _digest(key, frames[2:])):
        raise refuse("bad_signature", "signature does not match")
    if len(frames) > MAX_FRAMES:
        raise ProtocolError("too_large", f"a message has at most {MAX_FRAMES} frames (the layer, up to {MAX_STYLES} "
                                         f"style images and a previous frame's photo and result), this one has "
                                         f"{len(frames)}")
    if len(frames[2]) > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"the header has {len(frames[2])} bytes, over the limit of {MAX_HEADER_BYTES}")
    for buf in frames[3:]:
        if len(buf) > max_buffer_bytes:
            raise ProtocolError("too_large", f"a buffer of {len(buf)} bytes is over the limit of {max_buffer_bytes} bytes")
    return [bytes(f) for f in frames[2:]]


# --- header fields -----------------------------------------------------------
JOB_TYPES = frozenset({STYLIZE, CANCEL, FINISH, STATUS, ACCEPTED, PROGRESS, KEEPALIVE, RESULT, CANCELLED})


def is_id(value: Any) -> bool:
    """Message and job ids: 1 to 64 printable characters (they reach logs and messages)."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID_CHARS and value.isprintable()


def _check_fields(header: dict[str, Any], allowed_types: frozenset[str]) -> None:
    """The common fields and those every message of its type carries; the rest is checked where it is used
    (parse_stylize, parse_image_desc), before anything else touches it."""
    msg_type, ts = header.get("type"), header.get("ts")
    if not isinstance(msg_type, str) or msg_type not in allowed_types:
        raise ProtocolError("bad_message", f"unexpected message type {shown(msg_type)}")
    if not is_id(header.get("id")):
        raise ProtocolError("bad_message", f"message 'id' must be 1 to {MAX_ID_CHARS} printable characters")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise ProtocolError("bad_message", "message 'ts' must be a number")
    job = header.get("job")
    if (msg_type in JOB_TYPES or job is not None) and not is_id(job):
        raise ProtocolError("bad_message", f"'job' must be 1 to {MAX_ID_CHARS} printable characters")
    if msg_type == ERROR and not (isinstance(header.get("code"), str) and isinstance(header.get("message"), str)):
        raise ProtocolError("bad_message", "an error carries a 'code' and a 'message' string")
    if msg_type == PROGRESS:
        for name in ("step", "total"):
            value = header.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ProtocolError("bad_message", f"progress '{name}' must be a count")


def parse(body: Sequence[bytes], allowed_types: frozenset[str], replay_guard: ReplayGuard | None = None) -> Message:
    """A verified message's header parsed and its common fields checked (see verify for the frames)."""
    header = loads_header(bytes(body[0]))
    _check_fields(header, allowed_types)
    if replay_guard is not None:
        replay_guard.check(header)
    return Message(header, [bytes(b) for b in body[1:]])


def decode(
    key: bytes,
    frames: Sequence[bytes],
    allowed_types: frozenset[str],
    replay_guard: ReplayGuard | None = None,
    max_buffer_bytes: int = MAX_BUFFER_BYTES,
) -> Message:
    """Check and parse one message (verify, then parse); raises ProtocolError naming what is wrong."""
    return parse(verify(key, frames, max_buffer_bytes), allowed_types, replay_guard)


PREVIEW_LONG_SIDE = 256  # px: previews for a client that does not say (clients before preview_long_side)


@dataclass(frozen=True)
class StylizeFields:
    job: str
    content: ImageDesc
    styles: list[tuple[str, float]]  # (name, blend weight) of each style file
    params: StyleParams
    preview_long_side: int = PREVIEW_LONG_SIDE  # 0: no previews; the layer's long side or more: at its size
    previous: ImageDesc | None = None  # frames mode: equals content; its photo and result follow the style files


def parse_preview_long_side(raw: Any) -> int:
    """The optional ``preview_long_side`` of a stylize header: a count of pixels up to MAX_SIDE."""
    if raw is None:
        return PREVIEW_LONG_SIDE
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_SIDE:
        raise ProtocolError("bad_message", f"'preview_long_side' must be an integer from 0 to {MAX_SIDE}, got {shown(raw)}")
    return raw


def parse_stylize(message: Message, max_pixels: int = MAX_PIXELS) -> StylizeFields:
    """Every field of a stylize header, checked for type and range; the buffers are only counted."""
    header = message.header
    if len(message.buffers) < 2:
        raise ProtocolError("bad_message", "a stylize message carries the layer's pixels and at least one style file")
    params = StyleParams.from_wire(header.get("params", {}))
    content = parse_image_desc(header.get("content"), "layer", max_pixels)
    previous = None
    if header.get("previous") is not None:  # null: absent, as for preview_long_side
        previous = parse_image_desc(header["previous"], "previous frame", max_pixels)
        if previous != content:  # the engine carries the previous result pixel for pixel onto this frame
            raise ProtocolError("bad_image", f"the previous frame must have the layer's size and format: it is "
                                             f"{_described(previous)}, the layer {_described(content)}")
        if len(message.buffers) < 4:
            raise ProtocolError("bad_message", "a stylize message with a previous frame carries the layer's pixels, "
                                               "at least one style file, then the previous frame's photo and result")
    extra = 2 if previous is not None else 0  # the previous frame's photo and result come after the style files
    styles = parse_styles(header.get("styles"), len(message.buffers) - 1 - extra)
    preview_long_side = parse_preview_long_side(header.get("preview_long_side"))
    assert message.job is not None  # parse() checked it
    return StylizeFields(message.job, content, styles, params, preview_long_side, previous)


def _described(desc: ImageDesc) -> str:
    return f"{desc.width}x{desc.height} {desc.format}"


def error_header(code: str, message: str, job: str | None = None) -> dict[str, Any]:
    """An error for a person to read: control characters escaped, length bounded."""
    fields: dict[str, Any] = {"code": code, "message": printable(message)}
    if job is not None:
        fields["job"] = job
    return new_header(ERROR, **fields)
