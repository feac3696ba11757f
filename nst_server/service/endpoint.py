"""The socket process's endpoint: its lock, its ROUTER socket, and sends that never wait.

* ``hold_lock``: one server per user, by ``flock`` on ``server.lock`` in the runtime folder;
* ``open_router``: the ROUTER socket with its options (heartbeats, the message size cap,
  bounded sends), CURVE and its allow-list in remote mode, bound where the transport says;
* ``send``: one message to one client, never waiting.  One thread serves every client, so
  a send that waits for one client makes all the others wait: with a blocking send (2 s
  timeout), one client that sent 2,200 ``status`` requests and never read the answers held
  every other client 2-3 s a request for six minutes, and a running job silent for 16 s
  (issue 18).  Now a client gets at most ``SEND_HWM`` messages queued here (and its own
  receive queue, 1000 more, in its own process); a message that finds the queue full is
  dropped at once, and the server treats that client as gone (its job is cancelled).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import zmq

from nst_server.client import protocol, runtime
from nst_server.service.logs import RATE_LIMITED

log = logging.getLogger("nst_server")

HEARTBEAT_IVL_MS = 500  # with the timeout below, a frozen client is dropped in about 2 s
HEARTBEAT_TIMEOUT_MS = 2000
# Messages queued for one client.  Its own receive queue holds 1000 more (ZeroMQ's default, filled by its
# I/O thread even while its program is busy), so a client this far behind is not reading at all.  Bounds
# the memory a client that does not read can cost: this many messages, of which previews come every 2 s.
SEND_HWM = 256

SENT, GONE, FULL = "sent", "gone", "full"  # what became of a message


class AlreadyRunning(Exception):
    pass


class CannotListen(Exception):
    pass


def check_zmq_version() -> None:
    if zmq.zmq_version_info() < protocol.MIN_LIBZMQ:
        raise RuntimeError(
            f"libzmq {zmq.zmq_version()} has known security flaws; {'.'.join(map(str, protocol.MIN_LIBZMQ))} or newer "
            "is needed"
        )


def hold_lock(runtime_dir: Path) -> int:
    """The runtime folder's lock, held (and this pid written into it); AlreadyRunning when another server holds it.

    Something other than a plain file at the lock's path (a link, a FIFO, a folder: no server makes
    one) is removed first: the folder is private, and a FIFO would block a plain open."""
    path = runtime_dir / runtime.LOCK_FILE
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            log.warning("%s was not a plain file; replacing it", path)
            (os.rmdir if stat.S_ISDIR(st.st_mode) else os.unlink)(path)
    except FileNotFoundError:
        pass
    lock_fd = os.open(path, flags, 0o600)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(lock_fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock_fd)
        raise AlreadyRunning(f"a style transfer server is already running for this user ({runtime_dir})") from None
    if sys.platform != "win32":  # who holds it, for systems without /proc/locks (installer/server_process.py)
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, str(os.getpid()).encode(), 0)
    return lock_fd


def open_router(context: zmq.Context, max_buffer_bytes: int, transport: str, runtime_dir: Path,
                remote: Any = None) -> tuple[zmq.Socket, Any]:
    """The bound ROUTER socket, and the authenticator thread in remote mode (None otherwise)."""
    sock = context.socket(zmq.ROUTER)
    auth = None
    try:
        for option, value in (
            (zmq.LINGER, 0),
            (zmq.ROUTER_MANDATORY, 1),  # a send to a client that is gone, or does not read, fails instead of vanishing
            (zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS),
            (zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS),
            (zmq.SNDHWM, SEND_HWM),
            (zmq.SNDTIMEO, 0),  # never wait (send() passes NOBLOCK too)
            # ZeroMQ caps single frames only (cut off, unanswered); protocol.verify names the rest.
            (zmq.MAXMSGSIZE, max_buffer_bytes + (16 << 20)),
        ):
            sock.setsockopt(option, value)
        if remote is not None:
            auth = _start_authenticator(context, remote.authorized_client_keys)
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt_string(zmq.CURVE_SECRETKEY, remote.server_secret_key)
            sock.setsockopt_string(zmq.ZAP_DOMAIN, "nst")
            try:
                sock.bind(remote.bind)
            except zmq.ZMQError as exc:
                raise CannotListen(
                    f"cannot listen on {remote.bind} ({exc.strerror}); run remote-setup again with "
                    "--bind tcp://ADDRESS:PORT, an address of this machine") from None
        elif transport == "tcp":
            sock.bind("tcp://127.0.0.1:*")  # loopback only
        else:
            socket_path = runtime_dir / runtime.SOCKET_FILE
            socket_path.unlink(missing_ok=True)  # left by a crashed server; we hold the lock
            old_umask = os.umask(0o077)
            try:
                sock.bind(f"ipc://{socket_path}")
            finally:
                os.umask(old_umask)
    except BaseException:
        sock.close(linger=0)
        if auth is not None:
            auth.stop()
        raise
    return sock, auth


def _start_authenticator(context: zmq.Context, allowed: frozenset[str]) -> Any:
    from zmq.auth.thread import ThreadAuthenticator

    class AllowList:
        def callback(self, domain: str, key: bytes) -> bool:
            ok = key.decode("ascii", "replace") in allowed
            if not ok:
                log.warning("refused a client key that is not on the allow-list", extra=RATE_LIMITED)
            return ok

    auth = ThreadAuthenticator(context, log=logging.getLogger("nst_server.auth"))
    auth.start()
    auth.configure_curve_callback(domain="nst", credentials_provider=AllowList())
    return auth


def send(sock: zmq.Socket, client: bytes, frames: list[bytes]) -> str:
    """Send one message to ``client`` without waiting: SENT; GONE (no such peer any more); FULL (its queue is
    full: it does not read).  A message that is not SENT is dropped."""
    try:
        sock.send_multipart([client, *frames], zmq.NOBLOCK, copy=False)
        return SENT
    except zmq.ZMQError as exc:
        if exc.errno == errno.EHOSTUNREACH:
            return GONE
        if exc.errno == errno.EAGAIN:
            return FULL
        raise
