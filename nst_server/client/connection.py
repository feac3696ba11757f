"""One connection to a server, over either transport: submit a job, follow it, stop it.

The transport only moves signed protocol messages (lists of frames): a ZeroMQ
DEALER socket in this process (transport_zmq.py, where GIMP's Python has
pyzmq), or the pipes of a bridge helper that holds that socket in the server's
Python (transport_stdio.py).  Everything else, signing, the job's messages
turned into typed events, silence and suspension, is here, once.

Standard library only: this module runs inside GIMP's Python.  Every wait has
a timeout, and silence from the server is reported as such instead of hanging
the caller.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from nst_server.client import events, protocol, runtime
from nst_server.client.errors import ClientError, ServerStopped
from nst_server.client.params import StyleParams
from nst_server.client.protocol import ImageDesc, Message

STATUS_AFTER_S = 2.0  # a job's server speaks every second; after this much silence, ask after the job
WAIT_SLICE_S = 1.0  # waits are cut into slices so that a suspension of this process shows as a jump in time
SUSPENDED_S = 2.0  # a slice that ended this much late means this process was not running (SIGSTOP, sleep)


class Transport(Protocol):
    """Moves whole signed messages between this process and one server."""

    info: runtime.RuntimeInfo  # the server's endpoint and signing key
    via: str  # for people: "pyzmq" or "the stdio bridge"

    def send(self, frames: list[bytes], wait: bool = True) -> None:
        """Queue one message; ``wait=False`` drops it when it cannot go at once (a probe, say)."""

    def receive(self, timeout: float) -> list[bytes] | None:
        """The next message's frames, or None after ``timeout`` seconds; ServerStopped when the way is gone."""

    def close(self) -> None: ...


class Connection:
    """A server reached over ``transport``."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def info(self) -> runtime.RuntimeInfo:
        return self.transport.info

    @property
    def via(self) -> str:
        return self.transport.via

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- messages ------------------------------------------------------------------
    def send(self, header: dict[str, Any], buffers: Sequence[bytes] = (), wait: bool = True) -> None:
        self.transport.send(protocol.encode(self.info.key, header, buffers), wait)

    def receive(self, timeout: float) -> Message | None:
        """The next valid message from the server, or None after ``timeout`` seconds of nothing."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frames = self.transport.receive(left)
            if frames is None:
                return None
            try:
                return protocol.decode(self.info.key, frames, protocol.SERVER_TYPES)
            except protocol.ProtocolError:
                continue  # not from our server: ignore it
        return None

    # --- requests ------------------------------------------------------------------
    def ping(self, timeout: float = 2.0) -> events.Pong | None:
        """The server's pong, or None when it does not answer within ``timeout`` seconds."""
        self.send(protocol.new_header(protocol.PING))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                return None
            if message.type == protocol.PONG:
                return events.pong(message)
        return None

    def cancel(self, job: str) -> None:
        """Stop the job and discard it; ``stylize`` then raises ClientError with code 'cancelled'."""
        self.send(protocol.new_header(protocol.CANCEL, job=job))

    def finish(self, job: str) -> None:
        """End the job at its next step; ``stylize`` then returns the image reached so far."""
        self.send(protocol.new_header(protocol.FINISH, job=job))

    def status(self, job: str) -> None:
        """Ask after the job: the server answers with a keepalive, or an ``unknown_job`` error saying why it is gone.

        Not queued when it cannot go at once (reconnecting after a suspension): the next probe goes."""
        self.send(protocol.new_header(protocol.STATUS, job=job), wait=False)

    def _job_messages(self, job: str, silence_timeout: float) -> Iterator[Message]:
        """The server's messages about ``job``; ServerStopped after ``silence_timeout`` seconds of silence.

        Silence that this process caused itself (it was suspended, and the server
        may have dropped the job meanwhile) is not held against the server: it asks
        the server at once and learns within a round trip whether the job lives.
        """
        heard = asked = time.monotonic()
        while True:
            before = time.monotonic()
            message = self.receive(WAIT_SLICE_S)
            now = time.monotonic()
            if now - before > WAIT_SLICE_S + SUSPENDED_S:  # we were not running: our silence, not the server's
                heard = asked = now
                self.status(job)
            if message is not None:
                heard = now
                if message.header.get("job") in (job, None):  # else a late message for an earlier job
                    yield message
                continue
            if now - heard >= silence_timeout:
                raise ServerStopped(
                    f"The style transfer server stopped answering (nothing for {silence_timeout:.0f} s). "
                    "Try again; a fresh server will be started."
                )
            if now - heard >= STATUS_AFTER_S and now - asked >= STATUS_AFTER_S:
                asked = now
                self.status(job)

    def stylize(
        self,
        pixels: bytes,
        desc: ImageDesc,
        styles: Sequence[protocol.StyleImage],
        params: StyleParams | Mapping[str, Any],
        on_event: Callable[[events.Event], None] | None = None,
        silence_timeout: float = 8.0,
        preview_long_side: int | None = None,
        previous: tuple[bytes, bytes] | None = None,
    ) -> bytes:
        """Run one job and return the result's pixels (same size and format as ``pixels``).

        ``params`` may be a mapping of the wire's names (checked here, missing ones at their defaults).
        ``on_event`` sees the job's events as they come (accepted, keep-alive,
        progress, preview: see events.py); previews fit ``preview_long_side``
        (the layer's long side or more: they come at the layer's own size; 0:
        none; None: the server's small default).  ``previous`` (frames mode): the
        previous animation frame's photo and stylized result, each in ``desc``'s size
        and format, for a frame consistent with it; only for a server whose pong lists
        "previous" in its ``features`` (an older one refuses the job).  Raises
        ClientError when the job fails and ServerStopped when the server is silent for
        ``silence_timeout`` seconds.
        """
        if not isinstance(params, StyleParams):
            params = StyleParams.from_wire(dict(params))
        job = uuid.uuid4().hex
        header = protocol.new_header(
            protocol.STYLIZE, job=job, content=desc.to_json(), params=params.to_wire(),
            styles=[{"name": s.name, "weight": s.weight} for s in styles],
        )
        if preview_long_side is not None:
            header["preview_long_side"] = preview_long_side
        if previous is not None:  # described as the layer: the server refuses any other size or format
            header["previous"] = desc.to_json()
        self.send(header, [pixels, *(s.data for s in styles), *(previous or ())])
        for message in self._job_messages(job, silence_timeout):
            kind = message.type
            if kind == protocol.RESULT:
                result = protocol.parse_image_desc(message.header.get("image"), "result")
                if result != desc or len(message.buffers) != 1:
                    raise ClientError("The server sent a result that does not match the layer.", "bad_image")
                protocol.check_buffer(result, message.buffers[0], "result")
                return message.buffers[0]
            if kind == protocol.ERROR:  # decode checked that code and message are strings
                raise ClientError(protocol.printable(message.header["message"]),
                                  protocol.printable(message.header["code"], 64))
            if kind == protocol.CANCELLED:
                raise ClientError("The job was cancelled.", "cancelled")
            if on_event is not None:
                for event in events.job_events(message):
                    on_event(event)
        raise ServerStopped("The style transfer server stopped answering.")  # not reached: the wait above raises
