"""The stdio transport: the plug-in's end of the bridge, for a GIMP whose Python has no pyzmq.

Where GIMP's own Python cannot load pyzmq (Windows' MSYS2 Python, the Flatpak
runtime), the plug-in starts a helper with the server's Python
(``python -m nst_server.service.bridge``).  The helper finds or starts the
server, answers with the server's runtime details, and from then on relays
protocol messages unchanged, both ways: this side signs, checks and reads them
exactly as over pyzmq (connection.py).

Wire format on the pipes, both ways: a message is a 4-byte big-endian frame
count, then each frame as an 8-byte big-endian length and its bytes.  The first
frame is a UTF-8 JSON header with an ``op``; the frames after it are a protocol
message's own.  Ops: ``connect`` (how to reach the server) is answered by
``connected`` (its runtime details) or ``error`` (``code`` and ``message``);
then ``send`` (to the server; ``wait``: false for a probe that may be dropped)
and ``frames`` (from the server); ``close`` ends it.

Standard library only: this module runs inside GIMP's Python.
"""

from __future__ import annotations

import json
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from nst_server.client import paths, protocol, runtime
from nst_server.client.errors import INSTALL_HINT, ServerStartFailed, ServerStopped, error_for

MAX_FRAMES = protocol.MAX_SIGNED_FRAMES + 1  # an op header and a protocol message (its signature limits it)
MAX_FRAME_BYTES = protocol.MAX_BUFFER_BYTES
CONNECT_GRACE_S = 30.0  # the helper's own start, on top of the server's


def write_message(stream: BinaryIO, header: dict[str, Any], frames: Sequence[bytes] = ()) -> None:
    parts = [struct.pack(">I", 1 + len(frames))]
    for frame in (json.dumps(header).encode(), *frames):
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


class StdioTransport:
    """A helper process that holds the ZeroMQ socket; ``open`` it, then use it under a Connection."""

    via = "the stdio bridge"

    def __init__(self, helper: Sequence[str], log_path: Path | None = None) -> None:
        self.helper = list(helper)
        self.log_path = log_path or paths.state_dir() / "bridge.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.info: runtime.RuntimeInfo | None = None
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

    def open(self, command: Sequence[str] | None, runtime_dir: Path | None, start_timeout: float,
             remote: dict[str, Any] | None = None) -> StdioTransport:
        """Have the helper reach the server (starting it with ``command`` when none runs), or a remote one."""
        self._write({"op": "connect", "command": list(command) if command else None,
                     "runtime_dir": str(runtime_dir) if runtime_dir else None, "start_timeout": start_timeout,
                     "remote": remote})
        try:
            header, _ = self._next(start_timeout + CONNECT_GRACE_S)
            if header.get("op") != "connected":
                raise ServerStopped(f"The style transfer bridge answered {header.get('op')!r} instead of connecting.")
            self.info = runtime.RuntimeInfo.from_json(header["runtime"])
        except Exception:
            self.close()
            raise
        return self

    def _read_loop(self) -> None:
        try:
            while (message := read_message(self._process.stdout)) is not None:
                self._inbox.put(message)
        except (OSError, ValueError) as exc:
            self._inbox.put(({"op": "broken", "message": str(exc)}, []))
        self._inbox.put(None)

    def _write(self, header: dict[str, Any], frames: Sequence[bytes] = ()) -> None:
        try:
            write_message(self._process.stdin, header, frames)
        except (OSError, ValueError):
            raise self._gone() from None

    def _gone(self) -> ServerStopped:
        code = self._process.poll()
        return ServerStopped(
            "The style transfer bridge helper "
            + (f"exited with code {code}" if code is not None else "stopped answering")
            + f" (log: {self.log_path}). Try again; run 'python3 install.py --check' if it keeps happening."
        )

    def _next(self, timeout: float) -> tuple[dict[str, Any], list[bytes]]:
        """The helper's next message; raises its errors, and ServerStopped when it is gone or silent."""
        try:
            message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise self._gone() from None
        return self._check(message)

    def _check(self, message: tuple[dict[str, Any], list[bytes]] | None) -> tuple[dict[str, Any], list[bytes]]:
        if message is None:
            self._inbox.put(None)  # every later wait sees the end too
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            raise self._gone()
        header, frames = message
        if header["op"] == "error":
            raise error_for(str(header.get("code", "bridge")), str(header.get("message")))
        if header["op"] == "broken":
            raise ServerStopped(f"The style transfer bridge sent something unreadable ({header.get('message')}).")
        return header, frames

    # --- the transport -------------------------------------------------------------
    def send(self, frames: list[bytes], wait: bool = True) -> None:
        self._write({"op": "send", "wait": wait}, frames)

    def receive(self, timeout: float) -> list[bytes] | None:
        try:
            message = self._inbox.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        header, frames = self._check(message)
        return frames if header["op"] == "frames" else None

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
