"""The pipe between the socket process and the engine worker: typed messages, pickled by multiprocessing.

Sent and received with ``send`` and ``receive``: an image's bytes travel as raw bytes after the pickled message,
never inside it (see ``send``).

socket process -> worker: a ``JobRequest`` per job; ``Stop`` ends the worker.
worker -> socket process: ``Ready`` once the engine is up (with its measured
speed); then for each job ``StepDone`` now and then (some carry a ``Preview``)
and one ``JobResult``, ``JobFailed`` or ``JobCancelled``.  Cancel and finish do
not travel here: they are shared events the worker checks at every step.

Standard library only: both processes import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
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

    def described(self) -> JobRequest:
        """This request without its bytes (the layer's, the styles', the previous frame's): what either process keeps
        once they are decoded or sent (a 4096 px animation frame's three images are 150 MB for as long as it runs)."""
        return replace(self, pixels=b"", style_files=(), previous=None)


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


# --- the pipe ----------------------------------------------------------------------------------
def _images(message: Any) -> list[bytes]:
    """The image buffers a message carries, in the order they travel."""
    if isinstance(message, JobRequest):
        return [message.pixels, *(message.previous or ())]
    if isinstance(message, JobResult):
        return [message.pixels]
    if isinstance(message, StepDone) and message.preview is not None:
        return [message.preview.pixels]
    return []


def _with_images(message: Any, images: list[bytes]) -> Any:
    """``message`` carrying ``images`` (as ``_images`` lists them) in place of its own."""
    if isinstance(message, JobRequest):
        previous = (images[1], images[2]) if message.previous is not None else None
        return replace(message, pixels=images[0], previous=previous)
    if isinstance(message, JobResult):
        return replace(message, pixels=images[0])
    if isinstance(message, StepDone) and message.preview is not None:
        return replace(message, preview=replace(message.preview, pixels=images[0]))
    return message


def send(conn: Connection, message: Any) -> None:
    """Send a message, its images as raw bytes after the rest: pickled with it, each image was copied once more on
    the sending side and twice more on the receiving one (a 4096 px animation frame's three images: 150 MB each
    time, at the worker's peak)."""
    images = _images(message)
    conn.send(_with_images(message, [b""] * len(images)) if images else message)
    for image in images:
        conn.send_bytes(image)


def receive(conn: Connection) -> Any:
    """The next message ``send`` sent, its images in place."""
    message = conn.recv()
    count = len(_images(message))
    return _with_images(message, [conn.recv_bytes() for _ in range(count)]) if count else message
