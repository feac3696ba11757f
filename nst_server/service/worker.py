"""The socket process's handle on the engine worker: start, submit, poll, cancel, finish, restart.

The engine runs in its own process, so that a crash or out-of-memory in
TensorFlow cannot take the server's socket down, and a stuck job can be killed
outright.  The two talk over a multiprocessing pipe in typed messages
(nst_server/pipe/messages.py); shared events cancel the running job at its next step, or
finish it there (the image reached so far becomes the result).  The worker
builds the network once and keeps it warm between jobs.

Nothing here imports the engine: the worker process reaches it through one
module, nst_server/engine/jobs.py, imported only there (``_run``).
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.connection import Connection
from typing import Any

from nst_server.pipe import messages


def _run(conn: Connection, cancel: Any, finish: Any, weights_files: dict[str, str], progress_interval: float) -> None:
    """Entry point of the worker process."""
    from nst_server.engine import jobs

    jobs.serve(conn, cancel, finish, weights_files, progress_interval)


class EngineWorker:
    """The parent's handle on the worker process: start, submit, poll, cancel, restart."""

    def __init__(self, weights_files: dict[str, str] | None = None, progress_interval: float = 0.2) -> None:
        self._weights_files = dict(weights_files or {})
        self._progress_interval = progress_interval
        # spawn, not fork: the parent holds ZeroMQ sockets and threads that must not be copied.
        self._ctx = mp.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self.cancel_event = self._ctx.Event()
        self.finish_event = self._ctx.Event()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        parent_end, child_end = self._ctx.Pipe()
        self.cancel_event.clear()
        self._process = self._ctx.Process(
            target=_run,
            args=(child_end, self.cancel_event, self.finish_event, self._weights_files, self._progress_interval),
            name="nst-engine",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._conn = parent_end

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def exit_description(self) -> str:
        code = self._process.exitcode if self._process is not None else None
        if code is not None and code < 0:
            return f"killed by signal {-code}" + (" (out of memory?)" if -code == 9 else "")
        return f"exit code {code}"

    def submit(self, request: messages.JobRequest) -> None:
        assert self._conn is not None
        self.cancel_event.clear()
        self.finish_event.clear()
        messages.send(self._conn, request)

    def cancel(self) -> None:
        self.cancel_event.set()

    def finish(self) -> None:
        self.finish_event.set()

    def poll(self) -> list[messages.FromWorker]:
        """Messages the worker has sent so far (never blocks)."""
        received = []
        try:
            while self._conn is not None and self._conn.poll(0):
                received.append(messages.receive(self._conn))
        except (EOFError, OSError):
            pass  # the worker died; the server notices through alive()
        return received

    def restart(self) -> None:
        self.stop(timeout=0)
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._process is None:
            return
        if self._process.is_alive() and timeout > 0:
            try:
                self.cancel_event.set()
                self._conn.send(messages.Stop())
            except (OSError, ValueError):
                pass
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process = None
        self._conn = None
