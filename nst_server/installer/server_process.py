"""Which process is this user's running server, proven before anything signals it.

A runtime file names a pid, but a file left by a killed server names a pid that
may since belong to anyone, and a damaged one may hold 0, 1 or -1 (which
``os.kill`` reads as a process group, init, or every process).  So a process is
this user's server only when all of these hold: it holds the server's lock (the
kernel says who: ``/proc/locks`` on Linux, elsewhere the pid the lock holder
wrote into the lock file), the runtime file names that same pid, it runs as this
user, and its command line is ``nst_server serve``.  On Linux the process is
pinned with a pidfd before it is checked, so a pid reused in between cannot be hit.

Standard library only (install.py runs it with the system's Python).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nst_server.client import runtime


@dataclass(frozen=True)
class ServerProcess:
    pid: int
    pidfd: int | None  # Linux: the process itself, whatever its pid becomes


def _lock_is_held(lock_path: Path) -> bool:
    import fcntl

    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the lock if it was taken here
    return False


def lock_holder(lock_path: Path) -> int | None:
    """The pid holding the server's lock file, or None when no process holds it."""
    try:
        st = os.stat(lock_path, follow_symlinks=False)
    except OSError:
        return None
    if os.path.exists("/proc/locks"):
        wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        try:
            lines = Path("/proc/locks").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 4242 00:2f:1234 0 EOF" (a blocked waiter's line has "->" after the number)
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit():
                return int(fields[4])
        return None
    if not _lock_is_held(lock_path):
        return None
    try:  # the server writes its pid into the lock file once it holds it
        text = lock_path.read_text()[:32].strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _owner_and_command(pid: int) -> tuple[int, str] | None:
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            return proc.stat().st_uid, (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
    try:  # macOS and other POSIX systems without /proc
        out = subprocess.run(["ps", "-o", "uid=", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    uid, _, command = out.partition(" ")
    return (int(uid), command.strip()) if uid.isdigit() else None


def is_server_command(command: str) -> bool:
    """Whether a command line is ``... -m nst_server serve ...`` (or the nst-server script's serve)."""
    words = command.split()
    return "serve" in words and any(w == "nst_server" or w.endswith("nst-server") for w in words)


def why_not_our_server(pid: int, holder: int | None) -> str | None:
    """None when ``pid`` (the runtime file's) is proven this user's running server, holding the lock whose holder
    is ``holder``; else the reason it is not."""
    if pid <= 1 or pid == os.getpid():
        return f"pid {pid} can never be a server's"
    if holder is None:
        return "no process holds the server's lock"
    if holder != pid:
        return f"the lock's holder ({holder}) is not the pid the runtime file names ({pid})"
    found = _owner_and_command(pid)
    if found is None:
        return f"process {pid} is gone"
    uid, command = found
    if uid != os.getuid():
        return f"process {pid} belongs to another user"
    if not is_server_command(command):
        return f"process {pid} is not a style transfer server ({command[:80]!r})"
    return None


def find_running_server(runtime_dir: Path | None = None) -> ServerProcess | None:
    """This user's local server whose runtime file is in ``runtime_dir``, proven (see the module's text), or None.

    Never a remote server's client file, never on Windows (no signals to send there), never a folder or
    file another user could have written.
    """
    if sys.platform == "win32" or not hasattr(os, "getuid"):
        return None
    try:
        info = runtime.read_runtime_info(runtime_dir)
    except runtime.UnsafeRuntime:
        return None
    if info is None or info.curve_server_key or info.pid <= 1:
        return None
    lock_path = runtime.runtime_file(runtime_dir).with_name(runtime.LOCK_FILE)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(info.pid)
        except OSError:
            return None  # no such process (or not ours to see)
    if why_not_our_server(info.pid, lock_holder(lock_path)) is not None:
        if pidfd is not None:
            os.close(pidfd)
        return None
    return ServerProcess(info.pid, pidfd)


def terminate(server: ServerProcess, timeout: float = 15.0) -> bool:
    """SIGTERM the proven server and wait for it to exit; True when it did within ``timeout``."""
    try:
        if server.pidfd is not None:
            signal.pidfd_send_signal(server.pidfd, signal.SIGTERM)
            poller = select.poll()
            poller.register(server.pidfd, select.POLLIN)  # readable once the process has exited
            return bool(poller.poll(timeout * 1000))
        os.kill(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(server.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        return False
    except ProcessLookupError:
        return True
    finally:
        if server.pidfd is not None:
            os.close(server.pidfd)
