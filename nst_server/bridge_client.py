"""The plug-in's side of the stdio bridge: the same interface as client.Connection, without pyzmq.

Where GIMP's own Python cannot load pyzmq (Windows' MSYS2 Python, the Flatpak
runtime), the plug-in starts a helper with the server's Python
(``python -m nst_server.bridge``) and talks to it over the helper's standard
input and output; the helper speaks ZeroMQ to the server with client.py.

Standard library only: this module runs inside GIMP's Python.

Wire format on the pipes, both ways: a message is a 4-byte big-endian frame
count, then each frame as an 8-byte big-endian length and its bytes.  The first
frame is a UTF-8 JSON header with an ``op``; the others are pixel or file
buffers.
"""

from __future__ import annotations

import json
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from nst_server import paths, protocol
from nst_server.errors import ClientError, ServerNotInstalled, ServerStartFailed, ServerStopped
from nst_server.protocol import ImageDesc

INSTALL_HINT = "Run 'python3 install.py' from the GIMP Style Transfer folder to install it."
MAX_FRAMES = protocol.MAX_FRAMES + 2
MAX_FRAME_BYTES = protocol.MAX_BUFFER_BYTES
HELPER_GRACE_S = 5.0  # the helper reports server silence itself; this covers a helper that hangs
__all__ = ["BridgeConnection", "ClientError", "ServerNotInstalled", "ServerStartFailed", "ServerStopped", "connect",
           "connect_remote", "read_message", "write_message"]


ERRORS: dict[str, type[ClientError]] = {
    cls.__name__: cls for cls in (ClientError, ServerNotInstalled, ServerStartFailed, ServerStopped)
}


def write_message(stream: BinaryIO, header: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
    frames = [json.dumps(header).encode(), *buffers]
    parts = [struct.pack(">I", len(frames))]
    for frame in frames:
        parts.append(struct.pack(">Q", len(frame)))
        parts.append(bytes(frame))
    stream.write(b"".join(parts))
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> tuple[dict[str, Any], list[bytes]] | None:
    """The next message, or None at the end of the stream; ValueError on a malformed one."""
    raw = _read_exactly(stream, 4)
    if raw is None:
        return None
    (count,) = struct.unpack(">I", raw)
    if not 1 <= count <= MAX_FRAMES:
        raise ValueError(f"bridge message with {count} frames")
    frames = []
    for _ in range(count):
        raw = _read_exactly(stream, 8)
        if raw is None:
            raise ValueError("bridge message cut short")
        (size,) = struct.unpack(">Q", raw)
        if size > MAX_FRAME_BYTES:
            raise ValueError(f"bridge frame of {size} bytes")
        frame = _read_exactly(stream, size)
        if frame is None:
            raise ValueError("bridge message cut short")
        frames.append(frame)
    header = json.loads(frames[0])
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise ValueError("bridge message without an op")
    return header, frames[1:]


class BridgeConnection:
    """A helper process that holds the ZeroMQ connection; use it like client.Connection."""

    def __init__(self, helper: Sequence[str], log_path: Path | None = None) -> None:
        self.helper = list(helper)
        self.log_path = log_path or paths.state_dir() / "bridge.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW
        try:
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(self.helper, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                 stderr=log, **kwargs)
        except OSError as exc:
            raise ServerStartFailed(f"Could not start the style transfer bridge helper ({exc}). {INSTALL_HINT}") from None
        self._inbox: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, name="nst-bridge-reader", daemon=True)
        self._reader.start()
        self._closed = False

    def _read_loop(self) -> None:
        try:
            while (message := read_message(self._process.stdout)) is not None:
                self._inbox.put(message)
        except (OSError, ValueError) as exc:
            self._inbox.put(({"op": "broken", "message": str(exc)}, []))
        self._inbox.put(None)

    def _send(self, header: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
        try:
            write_message(self._process.stdin, header, buffers)
        except (OSError, ValueError):
            raise self._gone() from None

    def _gone(self) -> ServerStopped:
        code = self._process.poll()
        return ServerStopped(
            "The style transfer bridge helper "
            + (f"exited with code {code}" if code is not None else "stopped answering")
            + f" (log: {self.log_path}). Try again; run 'python3 install.py --check' if it keeps happening."
        )

    def _receive(self, timeout: float) -> tuple[dict[str, Any], list[bytes]]:
        try:
            message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise self._gone() from None
        if message is None:
            self._inbox.put(None)  # every later wait sees the end too
            self._process.wait(timeout=5)
            raise self._gone()
        header, buffers = message
        if header["op"] == "error":
            cls, message = ERRORS.get(str(header.get("kind")), ClientError), str(header.get("message"))
            raise cls(message, str(header.get("code", "client"))) if cls is ClientError else cls(message)
        if header["op"] == "broken":
            raise ServerStopped(f"The style transfer bridge sent something unreadable ({header.get('message')}).")
        return header, buffers

    def open(self, command: Sequence[str] | None, runtime_dir: Path | None, start_timeout: float,
             remote: dict[str, Any] | None = None) -> BridgeConnection:
        self._send({"op": "connect", "command": list(command) if command else None,
                    "runtime_dir": str(runtime_dir) if runtime_dir else None, "start_timeout": start_timeout,
                    "remote": remote})
        try:
            header, _ = self._receive(start_timeout + 30.0)
        except ClientError:
            self.close()
            raise
        self.server = header.get("server", {})
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            write_message(self._process.stdin, {"op": "close"})
            self._process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> BridgeConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def ping(self, timeout: float = 2.0) -> dict[str, Any] | None:
        self._send({"op": "ping", "timeout": timeout})
        header, _ = self._receive(timeout + HELPER_GRACE_S)
        return header.get("header")

    def cancel(self, job: str) -> None:
        """Stop the job and discard it; ``stylize`` then raises ClientError with code 'cancelled'."""
        self._send({"op": "cancel", "job": job})

    def finish(self, job: str) -> None:
        """End the job at its next step; ``stylize`` then returns the image reached so far."""
        self._send({"op": "finish", "job": job})

    def stylize(
        self,
        pixels: bytes,
        desc: ImageDesc,
        styles: Sequence[protocol.StyleImage],
        params: dict[str, Any],
        on_event: Callable[[dict[str, Any]], None] | None = None,
        silence_timeout: float = 8.0,
        on_preview: Callable[[ImageDesc, bytes], None] | None = None,
    ) -> bytes:
        """As client.Connection.stylize: the result's pixels, events and previews on the way."""
        self._send(
            {"op": "stylize", "content": desc.to_json(), "params": params, "silence_timeout": silence_timeout,
             "styles": [{"name": s.name, "weight": s.weight} for s in styles]},
            [pixels, *(s.data for s in styles)],
        )
        while True:
            header, buffers = self._receive(silence_timeout + HELPER_GRACE_S)
            op = header["op"]
            if op == "result":
                result = protocol.parse_image_desc(header.get("image"), "result")
                if result != desc or len(buffers) != 1:
                    raise ClientError("The server sent a result that does not match the layer.", "bad_image")
                protocol.check_buffer(result, buffers[0], "result")
                return buffers[0]
            if op == "preview" and on_preview is not None and len(buffers) == 1:
                try:
                    preview = protocol.parse_image_desc(header.get("preview"), "preview")
                    protocol.check_buffer(preview, buffers[0], "preview")
                except protocol.ProtocolError:
                    continue
                on_preview(preview, buffers[0])
            elif op == "event" and on_event is not None:
                on_event(header["header"])


def connect(helper: Sequence[str], command: Sequence[str] | None, runtime_dir: Path | None = None,
            start_timeout: float = 120.0) -> BridgeConnection:
    """As client.connect, through the helper: the running server, or one started with ``command``."""
    return BridgeConnection(helper).open(command, runtime_dir, start_timeout)


def connect_remote(helper: Sequence[str], remote: dict[str, Any], timeout: float = 5.0) -> BridgeConnection:
    """As client.connect_remote, through the helper (``remote`` is the connection file's JSON)."""
    return BridgeConnection(helper).open(None, None, timeout, remote=remote)

