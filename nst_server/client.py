"""Client side of the protocol: find or start the server, submit a job, follow it.

Standard library plus pyzmq only: this module runs inside GIMP's Python.
Every wait has a timeout, and silence from the server is reported as such
instead of hanging the caller.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import zmq

from nst_server import paths, protocol, runtime
from nst_server.errors import (  # noqa: F401  (re-exported: client.ClientError etc.)
    ClientError,
    ServerNotInstalled,
    ServerStartFailed,
    ServerStopped,
)
from nst_server.protocol import ImageDesc, Message

INSTALL_HINT = "Run 'python3 install.py' from the GIMP Style Transfer folder to install it."
STATUS_AFTER_S = 2.0  # a job's server speaks every second; after this much silence, ask after the job
WAIT_SLICE_S = 1.0  # waits are cut into slices so that a suspension of this process shows as a jump in time
SUSPENDED_S = 2.0  # a slice that ended this much late means this process was not running (SIGSTOP, sleep)


class Connection:
    """A DEALER socket to one running server."""

    def __init__(self, info: runtime.RuntimeInfo, context: zmq.Context | None = None) -> None:
        self.info = info
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        self._socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        if info.curve_server_key:  # remote mode: encrypted, and the server checks our public key
            self._socket.setsockopt_string(zmq.CURVE_SERVERKEY, info.curve_server_key)
            self._socket.setsockopt_string(zmq.CURVE_PUBLICKEY, info.curve_public_key or "")
            self._socket.setsockopt_string(zmq.CURVE_SECRETKEY, info.curve_secret_key or "")
        self._socket.connect(info.endpoint)

    def close(self) -> None:
        self._socket.close(linger=0)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, header: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
        self._socket.send_multipart(protocol.encode(self.info.key, header, buffers), copy=False)

    def receive(self, timeout: float) -> Message | None:
        """The next valid message from the server, or None after ``timeout`` seconds of nothing."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self._socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                return None
            frames = self._socket.recv_multipart()
            try:
                return protocol.decode(self.info.key, frames, protocol.SERVER_TYPES)
            except protocol.ProtocolError:
                continue  # not from our server: ignore it
        return None

    def ping(self, timeout: float = 2.0) -> dict[str, Any] | None:
        self.send(protocol.new_header(protocol.PING))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                return None
            if message.type == protocol.PONG:
                return message.header
        return None

    def cancel(self, job: str) -> None:
        """Stop the job and discard it; ``stylize`` then raises ClientError with code 'cancelled'."""
        self.send(protocol.new_header(protocol.CANCEL, job=job))

    def finish(self, job: str) -> None:
        """End the job at its next step; ``stylize`` then returns the image reached so far."""
        self.send(protocol.new_header(protocol.FINISH, job=job))

    def status(self, job: str) -> None:
        """Ask after the job: the server answers with a keepalive, or an ``unknown_job`` error saying why it is gone."""
        try:
            self._socket.send_multipart(protocol.encode(self.info.key, protocol.new_header(protocol.STATUS, job=job)),
                                        zmq.NOBLOCK)
        except zmq.Again:
            pass  # not connected at this moment (reconnecting after a suspension): the next probe goes

    def _job_messages(self, job: str, silence_timeout: float):
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
        params: dict[str, Any],
        on_event: Callable[[dict[str, Any]], None] | None = None,
        silence_timeout: float = 8.0,
        on_preview: Callable[[ImageDesc, bytes], None] | None = None,
    ) -> bytes:
        """Run one job and return the result's pixels (same size and format as ``pixels``).

        ``on_event`` sees every accepted/progress/keepalive header; ``on_preview``
        gets the small RGB8 previews some progress messages carry.  Raises
        ClientError when the job fails and ServerStopped when the server is
        silent for ``silence_timeout`` seconds.
        """
        job = uuid.uuid4().hex
        header = protocol.new_header(
            protocol.STYLIZE, job=job, content=desc.to_json(), params=params,
            styles=[{"name": s.name, "weight": s.weight} for s in styles],
        )
        self.send(header, [pixels, *(s.data for s in styles)])
        for message in self._job_messages(job, silence_timeout):
            kind = message.type
            if kind == protocol.RESULT:
                result = protocol.parse_image_desc(message.header.get("image"), "result")
                if result != desc or len(message.buffers) != 1:
                    raise ClientError("The server sent a result that does not match the layer.", "bad_image")
                protocol.check_buffer(result, message.buffers[0], "result")
                return message.buffers[0]
            if kind == protocol.ERROR:  # decode checked that code and message are strings
                raise ClientError(protocol.printable(message.header["message"]), protocol.printable(message.header["code"], 64))
            if kind == protocol.CANCELLED:
                raise ClientError("The job was cancelled.", "cancelled")
            if on_preview is not None and "preview" in message.header and len(message.buffers) == 1:
                try:
                    preview = protocol.parse_image_desc(message.header["preview"], "preview")
                    protocol.check_buffer(preview, message.buffers[0], "preview")
                except protocol.ProtocolError:
                    preview = None  # a damaged preview is skipped; the result still comes
                if preview is not None:
                    on_preview(preview, message.buffers[0])
            if on_event is not None:
                on_event(message.header)
        raise ServerStopped("The style transfer server stopped answering.")  # not reached: the wait above raises


def connect_running(runtime_dir: Path | None = None, timeout: float = 2.0) -> Connection | None:
    """A connection to the server that answers a ping, or None."""
    info = runtime.read_runtime_info(runtime_dir)
    if info is None:
        return None
    conn = Connection(info)
    if conn.ping(timeout) is not None:
        return conn
    conn.close()
    return None


def _tail(path: Path, lines: int = 6) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def start_server(
    command: Sequence[str],
    runtime_dir: Path | None = None,
    timeout: float = 120.0,
    log_path: Path | None = None,
) -> Connection:
    """Start the server in the background (it outlives the caller) and wait until it answers."""
    log_path = log_path or paths.state_dir() / "server-start.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if runtime_dir is not None:
        env["NST_RUNTIME_DIR"] = str(runtime_dir)
    try:
        with open(log_path, "wb") as log_file:
            kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": log_file, "stderr": subprocess.STDOUT, "env": env}
            if sys.platform == "win32":
                kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
            else:
                kwargs["start_new_session"] = True  # GIMP's Cancel kills our group, not the server
            process = subprocess.Popen(list(command), **kwargs)
    except OSError as exc:
        raise ServerStartFailed(f"Could not start the style transfer server ({exc}). {INSTALL_HINT}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = connect_running(runtime_dir, timeout=1.0)
        if conn is not None:
            return conn
        code = process.poll()
        if code is not None:
            details = _tail(log_path)
            raise ServerStartFailed(
                f"The style transfer server exited with code {code} while starting."
                + (f" Its last words:\n{details}\n" if details else " ")
                + f"(log: {log_path}) {INSTALL_HINT}"
            )
        time.sleep(0.25)
    process.kill()
    raise ServerStartFailed(f"The style transfer server did not answer within {timeout:.0f} s (log: {log_path}).")


def connect_remote(info: runtime.RuntimeInfo, timeout: float = 5.0) -> Connection:
    """A server on another machine (remote mode); it is never started from here."""
    conn = Connection(info)
    if conn.ping(timeout) is None:
        conn.close()
        raise ServerStopped(
            f"The remote style transfer server at {info.endpoint} does not answer. Check that it runs "
            "('python -m nst_server serve --remote DIR') and that this machine's key is on its allow-list."
        )
    return conn


def connect(command: Sequence[str] | None, runtime_dir: Path | None = None, start_timeout: float = 120.0) -> Connection:
    """The running server, or a freshly started one when ``command`` says how to start it."""
    if zmq.zmq_version_info() < (4, 3, 3):
        raise ClientError(f"libzmq {zmq.zmq_version()} is too old (4.3.3 or newer is needed); update pyzmq.")
    conn = connect_running(runtime_dir)
    if conn is not None:
        return conn
    if not command:
        raise ServerNotInstalled(f"The style transfer server is not installed. {INSTALL_HINT}")
    return start_server(command, runtime_dir, start_timeout)
