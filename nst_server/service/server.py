"""The socket process: a ROUTER socket that queues stylize jobs and streams their progress.

It owns the socket and never imports TensorFlow (nor numpy); requests are
checked at the boundary (validation.py) and jobs run in an engine worker
process (worker.py) that can crash or be killed without taking the socket
down.  Every wait has a timeout, and no send waits at all (endpoint.py): a
client that vanishes, or does not read what it is sent, is noticed when a
send to it fails (ROUTER_MANDATORY plus ZeroMQ heartbeats), and its job is
cancelled.  Nothing a message carries can stop the loop: a failure
while handling one is logged and answered with ``internal``.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from nst_server import __version__
from nst_server.client import paths, protocol, runtime
from nst_server.client.protocol import Message, ProtocolError
from nst_server.pipe import messages
from nst_server.service import endpoint, memory
from nst_server.service.logs import RATE_LIMITED
from nst_server.service.remote import RemoteAccess
from nst_server.service.validation import Limits, validate_stylize
from nst_server.service.worker import EngineWorker

log = logging.getLogger("nst_server")

KEEPALIVE_S = 1.0  # clients give up after 8 s of silence (client/connection.py)
CANCEL_GRACE_S = 10.0  # a cancelled job that does not stop by then has its worker killed
MEMORY_TRIM_S = 10.0  # how often freed connection buffers go back to the system (memory.py)
DROPPED_JOBS_KEPT = 256  # ids of jobs dropped with their client, so that a resumed client is told why
INTERNAL_MESSAGE = ("The style transfer server failed on this request; it keeps running, and its log "
                    "(server.log) has the details. Try again.")
ENGINE_FAILED_MESSAGE = ("The style transfer engine failed on this job; the server keeps running, and its log "
                         "(server.log) has the details. Try again, perhaps with a smaller output detail.")
JOB_DROPPED_MESSAGE = ("The server dropped this job because this program stopped answering for a while "
                       "(was it suspended?). Run it again.")


@dataclass
class Job:
    id: str
    client: bytes
    request: messages.JobRequest
    accepted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    cancel_requested_at: float | None = None
    finish_requested: bool = False
    timed_out: bool = False
    last_sent: float = field(default_factory=time.monotonic)


class StyleServer:
    def __init__(
        self,
        worker: EngineWorker,
        runtime_dir: Path | None = None,
        limits: Limits = Limits(),
        queue_limit: int = 8,
        idle_timeout: float | None = 1800.0,
        transport: str | None = None,
        remote: RemoteAccess | None = None,
    ) -> None:
        endpoint.check_zmq_version()
        self.worker = worker
        self.runtime_dir = runtime_dir or paths.runtime_dir()
        self.limits = limits
        self.queue_limit = queue_limit
        self.idle_timeout = idle_timeout
        self.transport = transport or ("tcp" if sys.platform == "win32" else "ipc")
        self.remote = remote
        self.key = remote.hmac_key if remote else protocol.new_key()
        self.instance = uuid.uuid4().hex
        self.replay_guard = protocol.ReplayGuard()
        self._pending: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}  # queued or running, by job id
        self._running: Job | None = None
        self._deferred: list[tuple[bytes, dict, tuple]] = []
        self._dropped: OrderedDict[str, None] = OrderedDict()  # jobs cancelled because their client was gone
        self._handlers = {protocol.PING: self._on_ping, protocol.STYLIZE: self._accept, protocol.CANCEL: self._on_cancel,
                          protocol.FINISH: self._on_finish, protocol.STATUS: self._on_status}
        self._stop = False
        self._last_activity = time.monotonic()
        self.endpoint: str | None = None
        self.stats = {"served": 0, "cancelled": 0, "failed": 0, "dropped_messages": 0, "worker_restarts": 0,
                      "unread_messages_dropped": 0}
        self.speed: dict[str, Any] | None = None  # the engine's measured speed, in every pong once known

    # --- lifecycle -----------------------------------------------------------
    def request_stop(self, *_args: Any) -> None:
        self._stop = True  # safe in a signal handler: the loop polls this flag

    def serve_forever(self) -> None:
        runtime.make_private_dir(self.runtime_dir)
        lock_fd = endpoint.hold_lock(self.runtime_dir)
        context = zmq.Context()
        sock = auth = None
        try:
            sock, auth = endpoint.open_router(context, self.limits.max_buffer_bytes, self.transport, self.runtime_dir,
                                              self.remote)
            self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            runtime.write_runtime_info(runtime.RuntimeInfo(self.endpoint, self.key, os.getpid(), self.instance),
                                       self.runtime_dir)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self.request_stop)
                signal.signal(signal.SIGINT, self.request_stop)
            self.worker.start()
            log.info("serving on %s (pid %d, engine pid %s)", self.endpoint, os.getpid(), self.worker.pid)
            self._loop(sock)
        finally:
            if sock is not None:
                for job in list(self._jobs.values()):
                    self._send(sock, job.client, protocol.error_header(
                        "shutting_down", "the style transfer server stopped before finishing; try again", job.id))
                sock.close(linger=0)
            self.worker.stop()
            if auth is not None:
                auth.stop()
            context.term()
            runtime.remove_runtime_info(self.instance, self.runtime_dir)
            if self.transport == "ipc" and self.remote is None and self.endpoint is not None:
                (self.runtime_dir / runtime.SOCKET_FILE).unlink(missing_ok=True)
            os.close(lock_fd)
            log.info("stopped: %s", self.stats)

    # --- the loop --------------------------------------------------------------
    def _loop(self, sock: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        last_trim = time.monotonic()
        while not self._stop:
            if dict(poller.poll(50)):
                for _ in range(16):  # a burst of messages cannot starve the worker's results
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
                    except zmq.Again:
                        break
                    self._guarded(self._handle, sock, frames)
            self._guarded(self._pump_worker, sock)
            self._guarded(self._keepalive, sock)
            if time.monotonic() - last_trim > MEMORY_TRIM_S:
                last_trim = time.monotonic()
                memory.release_free_memory()  # what a storm of connections left behind
            if (self.idle_timeout and not self._jobs
                    and time.monotonic() - self._last_activity > self.idle_timeout):
                log.info("idle for %.0f s, shutting down", self.idle_timeout)
                break

    def _guarded(self, step, *args: Any) -> None:
        """The last resort: a bug met while serving is logged, never the end of the server."""
        try:
            step(*args)
        except Exception:
            log.exception("the server failed in %s; it goes on serving", step.__name__, extra=RATE_LIMITED)

    def _send(self, sock: zmq.Socket, client: bytes, header: dict, buffers: list[bytes] | tuple = ()) -> bool:
        """Send one message without waiting; False when it could not go (the client's jobs are then cancelled)."""
        outcome = endpoint.send(sock, client, protocol.encode(self.key, header, buffers))
        if outcome == endpoint.SENT:
            return True
        if outcome == endpoint.FULL:
            self.stats["unread_messages_dropped"] += 1
            log.warning("a client does not read what the server sends; a %s message to it was dropped",
                        header.get("type"), extra=RATE_LIMITED)
        for job in list(self._jobs.values()):
            if job.client == client:
                log.info("client of job %s %s; cancelling it", job.id,
                         "is gone" if outcome == endpoint.GONE else "does not read its messages")
                self._cancel(job)
                self._dropped[job.id] = None
                while len(self._dropped) > DROPPED_JOBS_KEPT:
                    self._dropped.popitem(last=False)
        return False

    def _handle(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        client, body = frames[0], frames[1:]
        try:
            signed = protocol.verify(self.key, body, self.limits.max_buffer_bytes)
        except ProtocolError as exc:
            self.stats["dropped_messages"] += 1
            if exc.authenticated:  # signed, but over a limit: the sender learns which
                self._send(sock, client, protocol.error_header(exc.code, exc.message))
            else:  # unsigned or forged traffic is never answered
                log.warning("dropped an unauthenticated message (%s)", exc.code, extra=RATE_LIMITED)
            return
        message: Message | None = None
        try:
            message = protocol.parse(signed, protocol.CLIENT_TYPES, self.replay_guard)
            self._last_activity = time.monotonic()
            self._handlers[message.type](sock, client, message)
        except ProtocolError as exc:
            if message is None:
                self.stats["dropped_messages"] += 1
            self._send(sock, client, protocol.error_header(exc.code, exc.message, message.job if message else None))
        except Exception:  # a bug of ours; the message was signed, so its sender is told
            log.exception("a %s message failed in the server", message.type if message else "signed",
                          extra=RATE_LIMITED)
            self._send(sock, client, protocol.error_header("internal", INTERNAL_MESSAGE,
                                                                 message.job if message else None))

    def _on_ping(self, sock: zmq.Socket, client: bytes, message: Message) -> None:
        self._send(sock, client, protocol.new_header(
            protocol.PONG, version=__version__, instance=self.instance, pid=os.getpid(),
            engine_pid=self.worker.pid, jobs=len(self._jobs), queue_limit=self.queue_limit, speed=self.speed,
            features=list(protocol.FEATURES)))

    def _on_cancel(self, sock: zmq.Socket, client: bytes, message: Message) -> None:
        self._cancel(self._client_job(client, message))

    def _on_finish(self, sock: zmq.Socket, client: bytes, message: Message) -> None:
        job = self._client_job(client, message)
        job.finish_requested = True
        if job is self._running:
            self.worker.finish()

    def _on_status(self, sock: zmq.Socket, client: bytes, message: Message) -> None:
        """A client that heard nothing for a while asks after its job: a keepalive, or why it is gone."""
        job = self._client_job(client, message)
        job.last_sent = time.monotonic()
        self._send(sock, client, protocol.new_header(protocol.KEEPALIVE, job=job.id, queue_position=self._position(job)))

    def _client_job(self, client: bytes, message: Message) -> Job:
        """The job a cancel, finish or status names, if it is this client's; clients cannot touch each other's jobs."""
        job = self._jobs.get(message.job)
        if job is None or job.client != client:
            if message.job in self._dropped:
                raise ProtocolError("unknown_job", JOB_DROPPED_MESSAGE)
            raise ProtocolError("unknown_job", "the server has no such job for this client")
        return job

    def _accept(self, sock: zmq.Socket, client: bytes, message: Message) -> None:
        if any(job.client == client for job in self._jobs.values()):
            raise ProtocolError("busy", "this client already has a job running; wait for it or cancel it")
        if len(self._jobs) >= self.queue_limit:
            raise ProtocolError("busy", f"the server is busy with {len(self._jobs)} jobs; try again in a while")
        request = validate_stylize(message, self.limits)
        if request.job in self._jobs:
            raise ProtocolError("bad_message", "a job with this id is already queued or running on this server; "
                                               "job ids must be unique server-wide (choose a random one)")
        job = Job(request.job, client, request)
        self._jobs[job.id] = job
        self._pending.append(job)
        self._send(sock, client, protocol.new_header(protocol.ACCEPTED, job=job.id, queue_position=self._position(job)))

    def _position(self, job: Job) -> int:
        """1 = running or next; n = n-1 jobs ahead of it."""
        if job is self._running:
            return 1
        ahead = 1 if self._running is not None else 0
        return ahead + list(self._pending).index(job) + 1

    def _cancel(self, job: Job) -> None:
        if job.cancel_requested_at is not None:
            return
        job.cancel_requested_at = time.monotonic()
        if job is self._running:
            self.worker.cancel()
        else:
            self._pending.remove(job)
            self._finish(job)
            self.stats["cancelled"] += 1
            # Sent from the loop (this may run inside _send); its client may be gone.
            self._deferred.append((job.client, protocol.new_header(protocol.CANCELLED, job=job.id), ()))

    def _finish(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        if self._running is job:
            self._running = None
        self._last_activity = time.monotonic()

    # --- the worker ------------------------------------------------------------
    def _pump_worker(self, sock: zmq.Socket) -> None:
        deferred, self._deferred = self._deferred, []
        for client, header, buffers in deferred:
            self._send(sock, client, header, buffers)
        for message in self.worker.poll():
            if isinstance(message, messages.Ready):  # the engine is up and has measured itself: clients can estimate
                self.speed = protocol.parse_speed(message.speed)
                log.info("engine ready; speed %s", self.speed)
                if message.problem:
                    log.error("the engine could not start its measurement; jobs may fail", extra={"detail": message.problem})
                continue
            job = self._jobs.get(message.job)
            if job is None:
                continue
            if isinstance(message, messages.StepDone):
                job.last_sent = time.monotonic()
                header = protocol.new_header(protocol.PROGRESS, job=job.id, step=message.step, total=message.total,
                                             loss=message.loss if math.isfinite(message.loss) else None,  # JSON has no NaN
                                             elapsed=message.elapsed)
                buffers: list[bytes] = []
                if message.preview is not None:
                    header["preview"] = message.preview.image.to_json()
                    buffers = [message.preview.pixels]
                self._send(sock, job.client, header, buffers)
                continue
            self._finish(job)
            if isinstance(message, messages.JobResult):
                self.stats["served"] += 1
                log.info("job %s done in %.1f s", job.id, message.elapsed)
                self._send(sock, job.client, protocol.new_header(
                    protocol.RESULT, job=job.id, image=job.request.content.to_json(), elapsed=message.elapsed),
                    [message.pixels])
            elif isinstance(message, messages.JobCancelled):
                self.stats["cancelled"] += 1
                log.info("job %s cancelled", job.id)
                if job.timed_out:
                    self._send(sock, job.client, self._timeout_error(job))
                else:
                    self._send(sock, job.client, protocol.new_header(protocol.CANCELLED, job=job.id))
            else:
                self.stats["failed"] += 1
                text = message.message
                if message.code == "internal":  # the engine's own words (TensorFlow's) are for the log, not for people
                    log.error("job %s failed in the engine: %s", job.id, text, extra={"detail": message.detail})
                    text = ENGINE_FAILED_MESSAGE
                self._send(sock, job.client, protocol.error_header(message.code, text, job.id))
        self._watch_running(sock)
        if self._running is None and self._pending and self.worker.alive():
            job = self._pending.popleft()
            self._running = job
            job.started_at = time.monotonic()
            self.worker.submit(job.request)
            job.request = job.request.described()  # sent: its images are the worker's
            if job.finish_requested:  # asked to finish while queued: one step, then the result
                self.worker.finish()
            for waiting in self._pending:  # everyone moved up one place
                self._send(sock, waiting.client, protocol.new_header(
                    protocol.KEEPALIVE, job=waiting.id, queue_position=self._position(waiting)))

    def _timeout_error(self, job: Job) -> dict:
        return protocol.error_header(
            "timeout", f"the job ran longer than the server's limit of {self.limits.max_job_seconds:.0f} s", job.id)

    def _watch_running(self, sock: zmq.Socket) -> None:
        """Crashed worker, overlong job, cancel not honoured: restart the worker, tell the client."""
        job, now = self._running, time.monotonic()
        if not self.worker.alive():
            reason = self.worker.exit_description()
            log.error("engine process stopped (%s); restarting it", reason)
            self.worker.restart()
            self.stats["worker_restarts"] += 1
            if job is not None:
                self._finish(job)
                self.stats["failed"] += 1
                self._send(sock, job.client, protocol.error_header(
                    "internal", f"the engine stopped unexpectedly ({reason}); the server restarted it, try again", job.id))
            return
        if job is None:
            return
        if job.cancel_requested_at is None and now - job.started_at > self.limits.max_job_seconds:
            job.timed_out = True
            self._cancel(job)
        if job.cancel_requested_at is not None and now - job.cancel_requested_at > CANCEL_GRACE_S:
            log.warning("job %s ignored its cancel; killing the engine process", job.id)
            self.worker.restart()
            self.stats["worker_restarts"] += 1
            self._finish(job)
            self._send(sock, job.client, self._timeout_error(job) if job.timed_out
                       else protocol.new_header(protocol.CANCELLED, job=job.id))

    def _keepalive(self, sock: zmq.Socket) -> None:
        now = time.monotonic()
        for job in list(self._jobs.values()):
            if now - job.last_sent >= KEEPALIVE_S:
                job.last_sent = now
                self._send(sock, job.client, protocol.new_header(
                    protocol.KEEPALIVE, job=job.id, queue_position=self._position(job)))

