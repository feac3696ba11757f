"""The helper end of the stdio bridge: ``python -m nst_server.bridge``, run with the server's Python.

The plug-in (bridge_client.py) starts it when GIMP's Python cannot load pyzmq
and sends it requests on standard input; the helper holds one client.Connection
to the server and answers on standard output.  Cancel and finish requests that
arrive while a job runs are passed on at the server's next message (progress or
keep-alive, at least every second).  When the plug-in goes away (its end of the
pipe closes) the running job is cancelled and the helper exits.
"""

from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from nst_server import client, protocol, runtime
from nst_server.bridge_client import read_message, write_message


class PluginGone(Exception):
    """The plug-in closed its end of the pipe."""


class Bridge:
    def __init__(self, inp: BinaryIO, out: BinaryIO) -> None:
        self.out = out
        self.inbox: queue.Queue = queue.Queue()
        self.conn: client.Connection | None = None
        self.job: str | None = None
        threading.Thread(target=self._read_loop, args=(inp,), daemon=True).start()

    def _read_loop(self, inp: BinaryIO) -> None:
        try:
            while (message := read_message(inp)) is not None:
                self.inbox.put(message)
        except (OSError, ValueError) as exc:
            print(f"nst_server.bridge: unreadable request ({exc})", file=sys.stderr)
        self.inbox.put(None)

    def reply(self, header: dict[str, Any], buffers: list[bytes] | tuple = ()) -> None:
        write_message(self.out, header, buffers)

    def serve(self) -> int:
        while (message := self.inbox.get()) is not None:
            header, buffers = message
            if header["op"] == "close":
                break
            try:
                self.handle(header, buffers)
            except PluginGone:
                break
            except client.ClientError as exc:
                self.reply({"op": "error", "kind": type(exc).__name__, "message": str(exc), "code": exc.code})
            except protocol.ProtocolError as exc:
                self.reply({"op": "error", "kind": "ClientError", "message": exc.message, "code": exc.code})
            except Exception as exc:  # a bug of ours: report it, keep serving
                self.reply({"op": "error", "kind": "ClientError", "code": "bridge",
                            "message": f"The bridge helper failed ({type(exc).__name__}: {exc})."})
        if self.conn is not None:
            self.conn.close()
        return 0

    def handle(self, header: dict[str, Any], buffers: list[bytes]) -> None:
        op = header["op"]
        if op == "connect":
            if self.conn is not None:
                self.conn.close()
            if header.get("remote"):
                info = runtime.RuntimeInfo.from_json(header["remote"])
                self.conn = client.connect_remote(info, float(header.get("start_timeout") or 5.0))
            else:
                folder = Path(header["runtime_dir"]) if header.get("runtime_dir") else None
                self.conn = client.connect(header.get("command"), folder, float(header.get("start_timeout") or 120.0))
            self.reply({"op": "connected", "server": {"endpoint": self.conn.info.endpoint, "pid": self.conn.info.pid}})
            return
        if self.conn is None:
            raise client.ClientError("The bridge is not connected to a server.", "bridge")
        if op == "ping":
            self.reply({"op": "pong", "header": self.conn.ping(float(header.get("timeout", 2.0)))})
        elif op in ("cancel", "finish"):
            getattr(self.conn, op)(str(header["job"]))
        elif op == "stylize":
            self.stylize(header, buffers)
        else:
            raise client.ClientError(f"The bridge does not know the request {op!r}.", "bridge")

    def _pass_on_requests(self) -> None:
        """Cancel/finish requests that came in while the job runs; the plug-in leaving cancels the job."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            if message is None or message[0]["op"] == "close":
                if self.job is not None:
                    self.conn.cancel(self.job)
                raise PluginGone
            header = message[0]
            if header["op"] in ("cancel", "finish"):
                getattr(self.conn, header["op"])(str(header["job"]))

    def stylize(self, header: dict[str, Any], buffers: list[bytes]) -> None:
        desc = protocol.parse_image_desc(header.get("content"), "content")
        raw_styles = header.get("styles") or []
        if not buffers or len(buffers) != 1 + len(raw_styles):
            raise client.ClientError("The bridge got a stylize request without its images.", "bridge")
        styles = [protocol.StyleImage(str(s["name"]), data, float(s.get("weight", 1.0)))
                  for s, data in zip(raw_styles, buffers[1:], strict=True)]

        def on_event(event: dict[str, Any]) -> None:
            if event.get("job"):
                self.job = event["job"]
            self.reply({"op": "event", "header": event})
            self._pass_on_requests()

        def on_preview(preview: protocol.ImageDesc, data: bytes) -> None:
            self.reply({"op": "preview", "preview": preview.to_json()}, [data])

        try:
            result = self.conn.stylize(buffers[0], desc, styles, header.get("params") or {}, on_event=on_event,
                                       silence_timeout=float(header.get("silence_timeout", 8.0)), on_preview=on_preview)
        finally:
            self.job = None
        self.reply({"op": "result", "image": desc.to_json()}, [result])


def main() -> int:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the pipe
    return Bridge(sys.stdin.buffer, out).serve()


if __name__ == "__main__":
    sys.exit(main())
