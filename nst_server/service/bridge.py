"""The helper end of the stdio bridge: ``python -m nst_server.service.bridge``, run with the server's Python.

The plug-in (client/transport_stdio.py) starts it when GIMP's Python cannot
load pyzmq.  Its first request says how to reach the server; the helper finds
or starts it (or dials a remote one) exactly as a plug-in with pyzmq would
(client/connect.py), and answers with the server's runtime details.  From then
on it relays protocol messages unchanged: what the plug-in writes goes to the
server's socket, what the server sends goes to the plug-in, within a poll
interval either way, so that Stop and Cancel do not wait for the server's next
message.  It reads nothing it relays.  When the plug-in goes away (its end of
the pipe closes) the helper closes its socket and exits: the server notices
the client is gone at its next message, within a second, and cancels the job.
"""

from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from nst_server.client import connect, runtime
from nst_server.client.connection import Connection
from nst_server.client.errors import ClientError
from nst_server.client.transport_stdio import read_message, write_message

POLL_S = 0.02  # how long a relayed message may wait for the other direction


class Bridge:
    def __init__(self, inp: BinaryIO, out: BinaryIO) -> None:
        self.out = out
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_loop, args=(inp,), daemon=True).start()

    def _read_loop(self, inp: BinaryIO) -> None:
        try:
            while (message := read_message(inp)) is not None:
                self.inbox.put(message)
        except (OSError, ValueError) as exc:
            print(f"nst_server.service.bridge: unreadable request ({exc})", file=sys.stderr)
        self.inbox.put(None)

    def reply(self, header: dict[str, Any], frames: list[bytes] | tuple = ()) -> None:
        write_message(self.out, header, frames)

    def serve(self) -> int:
        message = self.inbox.get()
        if message is None or message[0]["op"] == "close":
            return 0
        try:
            conn = self.connect(message[0])
        except ClientError as exc:
            self.reply({"op": "error", "code": exc.code, "message": str(exc)})
            return 0
        except Exception as exc:  # a bug of ours: report it
            self.reply({"op": "error", "code": "bridge", "message": f"The bridge helper failed ({type(exc).__name__}: {exc})."})
            return 1
        try:
            self.reply({"op": "connected", "runtime": conn.info.to_json()})
            self.relay(conn)
        finally:
            conn.close()
        return 0

    def connect(self, header: dict[str, Any]) -> Connection:
        if header["op"] != "connect":
            raise ClientError(f"The bridge expected a connect request, not {header['op']!r}.", "bridge")
        if header.get("remote"):
            return connect.connect_remote(runtime.RuntimeInfo.from_json(header["remote"]),
                                          float(header.get("start_timeout") or 5.0))
        folder = Path(header["runtime_dir"]) if header.get("runtime_dir") else None
        return connect.connect_local(header.get("command"), folder, float(header.get("start_timeout") or 120.0))

    def relay(self, conn: Connection) -> None:
        """Messages both ways, unchanged, until the plug-in closes its end."""
        transport = conn.transport
        while True:
            while True:
                try:
                    message = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if message is None or message[0]["op"] == "close":
                    return
                header, frames = message
                if header["op"] == "send":
                    transport.send(frames, bool(header.get("wait", True)))
            frames = transport.receive(POLL_S)
            if frames is not None:
                try:
                    self.reply({"op": "frames"}, frames)
                except (OSError, ValueError):
                    return  # the plug-in is gone


def main() -> int:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the pipe
    return Bridge(sys.stdin.buffer, out).serve()


if __name__ == "__main__":
    sys.exit(main())
