"""The pipe between the socket process and the engine worker: typed messages, pickled by multiprocessing.

socket process -> worker: a ``JobRequest`` per job; ``Stop`` ends the worker.
worker -> socket process: ``Ready`` once the engine is up (with its measured
speed); then for each job ``StepDone`` now and then (some carry a ``Preview``)
and one ``JobResult``, ``JobFailed`` or ``JobCancelled``.  Cancel and finish do
not travel here: they are shared events the worker checks at every step.

Standard library only: both processes import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nst_server.client.errors import ERROR_CODES
from nst_server.client.params import StyleParams
from nst_server.client.protocol import PREVIEW_LONG_SIDE, ImageDesc


# --- socket process -> worker ------------------------------------------------------------
@dataclass(frozen=True)
class JobRequest:
    """A stylize request, validated (service/validation.py), with its bytes as they came."""

    job: str
    content: ImageDesc  # the layer's pixels: size and format
    pixels: bytes = field(repr=False)
    style_files: tuple[bytes, ...] = field(repr=False)
    styles: tuple[tuple[str, float], ...]  # (name, blend weight) of each style file
    params: StyleParams
    preview_long_side: int = PREVIEW_LONG_SIDE  # previews fit this long side (0: none); the layer's own or more: its size
    # Frames mode: the previous frame's photo and stylized result, each in the layer's size and format.
    previous: tuple[bytes, bytes] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Stop:
    """End the worker process."""


# --- worker -> socket process ------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The engine is up; ``speed`` as protocol.parse_speed checks it, None when it could not measure (no weights,
    or ``problem``: the traceback of what failed, for the server's log)."""

    speed: dict[str, Any] | None
    problem: str = ""


@dataclass(frozen=True)
class Preview:
    """The image so far, 8-bit RGB."""

    image: ImageDesc
    pixels: bytes = field(repr=False)


@dataclass(frozen=True)
class StepDone:
    job: str
    step: int
    total: int
    loss: float
    elapsed: float
    preview: Preview | None = None


@dataclass(frozen=True)
class JobResult:
    """The stylized layer, in the layer's own size and format."""

    job: str
    pixels: bytes = field(repr=False)
    elapsed: float


@dataclass(frozen=True)
class JobFailed:
    job: str
    code: str  # a protocol error code; "internal": ``message`` is the engine's own words, for the log
    message: str
    detail: str = ""  # the traceback, for the server's log (the worker's own stderr reaches no one)

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:  # checked where it is made, in the worker: the client gets only known codes
            raise ValueError(f"{self.code!r} is no protocol error code (nst_server/client/errors.py)")


@dataclass(frozen=True)
class JobCancelled:
    job: str


ToWorker = JobRequest | Stop
FromWorker = Ready | StepDone | JobResult | JobFailed | JobCancelled
