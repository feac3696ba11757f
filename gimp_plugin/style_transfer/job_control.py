"""What the Stop and Cancel buttons do, as plain functions (tests press them the same way).  Pure."""

from __future__ import annotations


class JobControl:
    """What the Stop and Cancel buttons do, as plain functions (tests press them the same way).

    ``conn`` is the connection the job runs on; ``on_job`` hears the job's id once it is known.
    """

    def __init__(self, on_job=None) -> None:
        self.conn = None
        self.job = None
        self.requested = None  # None, "stop" or "cancel"
        self._on_job = on_job

    def press_stop(self) -> None:
        """Finish now and keep the best result so far."""
        if self.requested is None:
            self.requested = "stop"
            self._send()

    def press_cancel(self) -> None:
        """Cancel the server's job; the unfinished layers are removed."""
        if self.requested != "cancel":
            self.requested = "cancel"
            self._send()

    def new_job(self, conn) -> None:
        """The next layer's job is about to be sent on ``conn``."""
        self.conn, self.job = conn, None

    def seen(self, job: str) -> None:
        """An event of the current job: learn its id, and send a press that came before it."""
        if self.job is None and job:
            self.job = job
            if self._on_job is not None:
                self._on_job(job)
            self._send()

    def _send(self) -> None:
        if self.conn is None or self.job is None or self.requested is None:
            return
        if self.requested == "cancel":
            self.conn.cancel(self.job)
        else:
            self.conn.finish(self.job)
