"""The engine in its own process, so that a crash or out-of-memory in TensorFlow
cannot take the server's socket down, and a stuck job can be killed outright.

The server process (no TensorFlow) talks to the worker over a multiprocessing
pipe: it sends validated jobs as raw bytes, the worker sends back progress, a
result or an error.  Shared events cancel the running job at its next step, or
finish it there (the image reached so far becomes the result).
The worker builds the network once and keeps it warm between jobs.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from nst_server.jobs import WorkerJob

log = logging.getLogger("nst_server")

# --- messages over the pipe (plain tuples: cheap to pickle) -------------------
# parent -> worker: ("job", job_id, WorkerJob) | ("stop",)
# worker -> parent: ("ready", speed) | ("progress", job_id, step, total, loss, elapsed)
#                   (speed: {"precision": ..., "seconds_per_megapixel_step": {precision: seconds}}, or None
#                   without weights)
#                   (the progress tuple ends with a preview, (width, height, RGB8 bytes), or None)
#                   | ("result", job_id, pixels, elapsed) | ("error", job_id, code, message)
#                   | ("cancelled", job_id)


PREVIEW_INTERVAL_S = 2.0
PREVIEW_LONG_SIDE = 256


def make_preview(image: Any) -> tuple[int, int, bytes]:
    """A small 8-bit RGB copy of the current image, for a live preview in the client."""
    import numpy as np

    from nst_server.features import resize_long_side

    if max(image.shape[:2]) > PREVIEW_LONG_SIDE:
        image = resize_long_side(image, PREVIEW_LONG_SIDE)
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return pixels.shape[1], pixels.shape[0], pixels.tobytes()


def _worker_main(conn: Connection, cancel: Any, finish: Any, weights_files: dict[str, str],
                 progress_interval: float) -> None:
    """Entry point of the worker process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from nst_server.client.protocol import ProtocolError
    from nst_server.engine import Cancelled, FinishNow, StyleTransferEngine
    from nst_server.jobs import prepare, run_stylize
    from nst_server.weights import WeightsMissing

    engine = StyleTransferEngine(weights_files)
    speed = None
    try:  # measure the precisions (once per machine) and trace the default method while no one waits
        tiny = np.full((32, 32, 3), 0.5, np.float32)
        engine.stylize(tiny, tiny, size=32, steps=1)
        measured = engine.measured_speed("vgg19")
        speed = {"precision": measured.precision, "seconds_per_megapixel_step": measured.seconds_per_megapixel_step}
    except WeightsMissing:
        pass  # reported per job
    conn.send(("ready", speed))
    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        _, job_id, job = message
        last = last_preview = time.monotonic()

        def progress(p, job_id=job_id) -> None:
            nonlocal last, last_preview
            if cancel.is_set():
                raise Cancelled()
            if finish.is_set():
                raise FinishNow()
            now = time.monotonic()
            if p.step == p.total or now - last >= progress_interval:
                last = now
                preview = None
                if p.current is not None and now - last_preview >= PREVIEW_INTERVAL_S:
                    last_preview = now
                    preview = make_preview(p.current())
                conn.send(("progress", job_id, p.step, p.total, p.loss, p.elapsed, preview))

        started = time.monotonic()
        try:
            pixels = run_stylize(engine, prepare(job_id, job), progress)
        except Cancelled:
            conn.send(("cancelled", job_id))
        except WeightsMissing as exc:
            conn.send(("error", job_id, "weights_missing", str(exc)))
        except ProtocolError as exc:
            conn.send(("error", job_id, exc.code, exc.message))
        except Exception as exc:  # reported to the client; the worker stays up
            logging.getLogger("nst_server").exception("job %s failed", job_id)
            conn.send(("error", job_id, "internal", f"the engine failed: {type(exc).__name__}: {exc}"))
        else:
            conn.send(("result", job_id, pixels, time.monotonic() - started))


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
            target=_worker_main,
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

    def submit(self, job_id: str, job: WorkerJob) -> None:
        assert self._conn is not None
        self.cancel_event.clear()
        self.finish_event.clear()
        self._conn.send(("job", job_id, job))

    def cancel(self) -> None:
        self.cancel_event.set()

    def finish(self) -> None:
        self.finish_event.set()

    def poll(self) -> list[tuple]:
        """Messages the worker has sent so far (never blocks)."""
        messages = []
        try:
            while self._conn is not None and self._conn.poll(0):
                messages.append(self._conn.recv())
        except (EOFError, OSError):
            pass  # the worker died; the server notices through alive()
        return messages

    def restart(self) -> None:
        self.stop(timeout=0)
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._process is None:
            return
        if self._process.is_alive() and timeout > 0:
            try:
                self.cancel_event.set()
                self._conn.send(("stop",))
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
