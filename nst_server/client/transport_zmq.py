"""The pyzmq transport: a DEALER socket to one server, in this process.

Imported only where pyzmq is there (connect.py decides), so that a GIMP
without it still loads the plug-in and uses the bridge instead.
"""

from __future__ import annotations

from typing import Any

import zmq

from nst_server.client import protocol, runtime
from nst_server.client.errors import ClientError


def check_libzmq() -> None:
    if zmq.zmq_version_info() < protocol.MIN_LIBZMQ:
        raise ClientError(f"libzmq {zmq.zmq_version()} is too old ({'.'.join(map(str, protocol.MIN_LIBZMQ))} or newer "
                          "is needed); update pyzmq.", "no_pyzmq")


class ZmqTransport:
    via = "pyzmq"

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

    def send(self, frames: list[Any], wait: bool = True) -> None:
        try:
            self._socket.send_multipart(frames, 0 if wait else zmq.NOBLOCK, copy=False)
        except zmq.Again:
            pass  # only without wait: not connected at this moment (reconnecting after a suspension)

    def receive(self, timeout: float) -> list[bytes] | None:
        if not self._socket.poll(max(0, int(timeout * 1000)) + 1, zmq.POLLIN):
            return None
        return self._socket.recv_multipart()

    def close(self) -> None:
        self._socket.close(linger=0)
