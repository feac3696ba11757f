"""ZeroMQ transport: a ROUTER socket that queues stylize jobs and streams their progress.

One thread owns the socket (ZeroMQ sockets are not thread-safe); a worker
thread runs jobs on the engine and hands messages back through a queue.
Every wait has a timeout.  A client that vanishes is noticed when a send to
it fails (ROUTER_MANDATORY plus heartbeats) and its job is cancelled.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import queue
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from nst_server import __version__, paths, protocol, runtime
from nst_server.engine import Cancelled, Progress
from nst_server.jobs import StylizeRequest, parse_stylize, run_stylize
from nst_server.protocol import Message, ProtocolError
from nst_server.weights import WeightsMissing

log = logging.getLogger("nst_server")

KEEPALIVE_S = 1.0  # the client treats a few seconds of silence as a dead server
PROGRESS_MIN_INTERVAL_S = 0.2
MIN_ZMQ_VERSION = (4, 3, 3)


class AlreadyRunning(Exception):
    pass


@dataclass
class Job:
    request: StylizeRequest
    client: bytes
    cancel: threading.Event = field(default_factory=threading.Event)
    last_sent: float = field(default_factory=time.monotonic)

    @property
    def id(self) -> str:
        return self.request.job


class StyleServer:
    def __init__(
        self,
        engine_factory: Callable[[], Any],
        runtime_dir: Path | None = None,
        queue_limit: int = 8,
        idle_timeout: float | None = 1800.0,
    ) -> None:
        if zmq.zmq_version_info() < MIN_ZMQ_VERSION:
            raise RuntimeError(f"libzmq {zmq.zmq_version()} is too old; {'.'.join(map(str, MIN_ZMQ_VERSION))} or newer is needed")
        self.runtime_dir = runtime_dir or paths.runtime_dir()
        self.engine_factory = engine_factory
        self.queue_limit = queue_limit
        self.idle_timeout = idle_timeout
        self.key = protocol.new_key()
        self.instance = uuid.uuid4().hex
        self.replay_guard = protocol.ReplayGuard()
        self._engine: Any = None
        self._pending: deque[Job] = deque()
        self._active: dict[str, Job] = {}  # job id -> queued or running job
        self._outbox: queue.Queue[tuple[bytes, dict, list[bytes]]] = queue.Queue()
        self._wakeup = threading.Condition()
        self._stop = threading.Event()
        self._last_activity = time.monotonic()

    # --- lifecycle -----------------------------------------------------------
    def request_stop(self, *_args: Any) -> None:
        self._stop.set()  # safe in a signal handler: the loop polls this flag
        with self._wakeup:
            self._wakeup.notify_all()

    def serve_forever(self) -> None:
        runtime.make_private_dir(self.runtime_dir)
        lock_fd = os.open(self.runtime_dir / runtime.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise AlreadyRunning(f"a style transfer server is already running for this user ({self.runtime_dir})") from None
        context = zmq.Context()
        sock = context.socket(zmq.ROUTER)
        worker = threading.Thread(target=self._work, name="nst-worker", daemon=True)
        socket_path = self.runtime_dir / runtime.SOCKET_FILE
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
            sock.setsockopt(zmq.SNDTIMEO, 2000)
            sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_BUFFER_BYTES)
            socket_path.unlink(missing_ok=True)  # left by a crashed server; we hold the lock
            old_umask = os.umask(0o077)
            try:
                endpoint = f"ipc://{socket_path}"
                sock.bind(endpoint)
            finally:
                os.umask(old_umask)
            info = runtime.RuntimeInfo(endpoint, self.key, os.getpid(), self.instance)
            runtime.write_runtime_info(info, self.runtime_dir)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self.request_stop)
                signal.signal(signal.SIGINT, self.request_stop)
            worker.start()
            log.info("serving on %s (pid %d)", endpoint, os.getpid())
            self._loop(sock)
        finally:
            self.request_stop()
            for job in list(self._active.values()):
                job.cancel.set()
                self._send(sock, job.client, protocol.error_header("internal", "the server is shutting down", job.id))
            if worker.is_alive():
                worker.join(timeout=5)
            sock.close(linger=0)
            context.term()
            runtime.remove_runtime_info(self.instance, self.runtime_dir)
            socket_path.unlink(missing_ok=True)
            os.close(lock_fd)
            log.info("stopped")

    # --- socket thread -------------------------------------------------------
    def _loop(self, sock: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while not self._stop.is_set():
            if dict(poller.poll(50)):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    frames = None
                if frames:
                    self._handle(sock, frames)
            self._flush_outbox(sock)
            self._keepalive(sock)
            if self.idle_timeout and not self._active and time.monotonic() - self._last_activity > self.idle_timeout:
                log.info("idle for %.0f s, shutting down", self.idle_timeout)
                break

    def _send(self, sock: zmq.Socket, client: bytes, header: dict, buffers: list[bytes] | tuple = ()) -> bool:
        """Send one message; False when the client is gone (its jobs are then cancelled)."""
        try:
            sock.send_multipart([client, *protocol.encode(self.key, header, buffers)], copy=False)
            return True
        except zmq.ZMQError as exc:
            if exc.errno not in (errno.EHOSTUNREACH, errno.EAGAIN):
                raise
            for job in self._active.values():
                if job.client == client and not job.cancel.is_set():
                    log.info("client of job %s is gone; cancelling it", job.id)
                    job.cancel.set()
            return False

    def _handle(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        client, body = frames[0], frames[1:]
        try:
            message = protocol.decode(self.key, body, protocol.CLIENT_TYPES, self.replay_guard)
        except ProtocolError as exc:
            # Unsigned or forged traffic is not answered; signed but wrong messages are.
            if exc.code in ("bad_signature", "unsupported_version") or len(body) < 3:
                log.warning("dropped a message: %s", exc.message)
            else:
                self._send(sock, client, protocol.error_header(exc.code, exc.message))
            return
        self._last_activity = time.monotonic()
        try:
            if message.type == protocol.PING:
                self._send(sock, client, protocol.new_header(
                    protocol.PONG, version=__version__, instance=self.instance, pid=os.getpid(), jobs=len(self._active)))
            elif message.type == protocol.STYLIZE:
                self._accept(sock, client, message)
            elif message.type == protocol.CANCEL:
                job = self._active.get(protocol.job_id(message.header))
                if job is None or job.client != client:
                    raise ProtocolError("unknown_job", "no such job for this client")
                job.cancel.set()
        except ProtocolError as exc:
            self._send(sock, client, protocol.error_header(exc.code, exc.message, message.header.get("job")))

    def _accept(self, sock: zmq.Socket, client: bytes, message: Message) -> None:
        if any(job.client == client for job in self._active.values()):
            raise ProtocolError("busy", "this client already has a job running; wait for it or cancel it")
        if len(self._active) >= self.queue_limit:
            raise ProtocolError("busy", f"the server already has {len(self._active)} jobs; try again later")
        job = Job(parse_stylize(message), client)
        if job.id in self._active:
            raise ProtocolError("bad_message", "a job with this id already exists")
        with self._wakeup:
            self._active[job.id] = job
            self._pending.append(job)
            position = len(self._pending)
            self._wakeup.notify_all()
        self._send(sock, client, protocol.new_header(protocol.ACCEPTED, job=job.id, queue_position=position))

    def _flush_outbox(self, sock: zmq.Socket) -> None:
        while True:
            try:
                client, header, buffers = self._outbox.get_nowait()
            except queue.Empty:
                return
            self._send(sock, client, header, buffers)
            if header["type"] in (protocol.RESULT, protocol.ERROR, protocol.CANCELLED):
                self._active.pop(header.get("job"), None)
                self._last_activity = time.monotonic()

    def _keepalive(self, sock: zmq.Socket) -> None:
        now = time.monotonic()
        for job in list(self._active.values()):
            if now - job.last_sent >= KEEPALIVE_S:
                job.last_sent = now
                self._send(sock, job.client, protocol.new_header(protocol.KEEPALIVE, job=job.id))

    # --- worker thread -------------------------------------------------------
    def _next_job(self) -> Job | None:
        with self._wakeup:
            while not self._pending and not self._stop.is_set():
                self._wakeup.wait(timeout=0.5)
            return None if self._stop.is_set() else self._pending.popleft()

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            header, buffers = self._run(job)
            self._outbox.put((job.client, header, buffers))

    def _run(self, job: Job) -> tuple[dict, list[bytes]]:
        if job.cancel.is_set():
            return protocol.new_header(protocol.CANCELLED, job=job.id), []
        last = 0.0

        def progress(p: Progress) -> None:
            nonlocal last
            if job.cancel.is_set():
                raise Cancelled()
            now = time.monotonic()
            if p.step == p.total or now - last >= PROGRESS_MIN_INTERVAL_S:
                last = now
                job.last_sent = now
                self._outbox.put((job.client, protocol.new_header(
                    protocol.PROGRESS, job=job.id, step=p.step, total=p.total, loss=p.loss, elapsed=p.elapsed), []))

        started = time.monotonic()
        try:
            if self._engine is None:
                self._engine = self.engine_factory()
            pixels = run_stylize(self._engine, job.request, progress)
        except Cancelled:
            log.info("job %s cancelled", job.id)
            return protocol.new_header(protocol.CANCELLED, job=job.id), []
        except WeightsMissing as exc:
            return protocol.error_header("weights_missing", str(exc), job.id), []
        except ProtocolError as exc:
            return protocol.error_header(exc.code, exc.message, job.id), []
        except Exception as exc:  # a failed job must not take the server down
            log.exception("job %s failed", job.id)
            message = f"the server failed while stylizing: {type(exc).__name__}: {exc}"
            return protocol.error_header("internal", message, job.id), []
        elapsed = time.monotonic() - started
        log.info("job %s done in %.1f s", job.id, elapsed)
        desc = job.request.content_desc
        return protocol.new_header(protocol.RESULT, job=job.id, image=desc.to_json(), elapsed=elapsed), [pixels]
