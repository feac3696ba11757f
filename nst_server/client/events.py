"""What a job's messages and a pong mean, as typed values: the plug-in never reads wire JSON.

``Connection.stylize`` turns each server message about the job into one or two
of these events; ``Connection.ping`` answers with a ``Pong``.  Servers are
trusted once their signature holds, but fields a server of an older version
leaves out get their neutral value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nst_server.client import protocol
from nst_server.client.protocol import ImageDesc, Message


@dataclass(frozen=True)
class Accepted:
    """The server took the job; ``queue_position`` 1 means it runs now (or next)."""

    job: str
    queue_position: int = 1


@dataclass(frozen=True)
class KeepAlive:
    """The job is alive (queued or between progress reports)."""

    job: str
    queue_position: int = 1


@dataclass(frozen=True)
class Progress:
    job: str
    step: int
    total: int
    loss: float | None = None
    elapsed: float | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / max(1, self.total))


@dataclass(frozen=True)
class Preview:
    """The image so far, 8-bit RGB, at ``image``'s size (the size asked for, or the server's own choice)."""

    job: str
    image: ImageDesc
    pixels: bytes = field(repr=False)


Event = Accepted | KeepAlive | Progress | Preview


@dataclass(frozen=True)
class Pong:
    """A server's answer to a ping: who it is and how busy; ``speed`` as protocol.parse_speed gives it;
    ``features``: what it takes beyond NST/1's first form (protocol.FEATURES; () from a server before them)."""

    version: str | None = None
    instance: str | None = None
    pid: int | None = None
    engine_pid: int | None = None
    jobs: int = 0
    queue_limit: int | None = None
    speed: dict[str, Any] | None = None
    features: tuple[str, ...] = ()


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def job_events(message: Message) -> list[Event]:
    """The events one server message about a job stands for (a progress message may carry a preview first)."""
    header, job = message.header, message.job or ""
    position = _count(header.get("queue_position"), 1)
    if message.type == protocol.ACCEPTED:
        return [Accepted(job, position)]
    if message.type == protocol.KEEPALIVE:
        return [KeepAlive(job, position)]
    if message.type != protocol.PROGRESS:
        return []
    events: list[Event] = []
    if "preview" in header and len(message.buffers) == 1:
        try:
            image = protocol.parse_image_desc(header["preview"], "preview")
            protocol.check_buffer(image, message.buffers[0], "preview")
        except protocol.ProtocolError:
            image = None  # a damaged preview is skipped; the result still comes
        if image is not None and image.format == "RGB8":
            events.append(Preview(job, image, message.buffers[0]))
    # parse() checked that step and total are counts
    events.append(Progress(job, header["step"], header["total"], _number(header.get("loss")),
                           _number(header.get("elapsed"))))
    return events


def pong(message: Message) -> Pong:
    header = message.header

    def number(name: str) -> int | None:
        value = header.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    version, instance = header.get("version"), header.get("instance")
    return Pong(version if isinstance(version, str) else None, instance if isinstance(instance, str) else None,
                number("pid"), number("engine_pid"), _count(header.get("jobs"), 0), number("queue_limit"),
                protocol.parse_speed(header.get("speed")), protocol.parse_features(header.get("features")))
