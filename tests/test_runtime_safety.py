"""A runtime folder is trusted only when it is this user's own, and only this user's proven server is ever signalled.

Issue 18 items 2 and 6: install.py signalled whatever pid a stale server.json named (0, 1 and -1 included), and
the client sent layers to whatever listener a runtime folder made by another user named.  These tests use real
processes, real locks and real sockets; the ones that need a second user run as root (as CI does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nst_server.client import ClientError, connect_running, runtime
from nst_server.installer import server_process
from nst_server.installer.server_env import stop_running_server

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run

NOBODY = 65534
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to act as another user")

# Holds the lock file given as argv[1] and sleeps; the words after it are only there to be seen in its command line.
HOLD_LOCK = ("import fcntl, os, sys, time\n"
             "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
             "fcntl.flock(fd, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\n"
             "time.sleep(120)\n")


def run_dir_of(tmp_path: Path) -> Path:
    return runtime.make_private_dir(tmp_path / "run")


def hold_lock(run_dir: Path, *words: str, user: int | None = None) -> subprocess.Popen:
    """A process that holds ``run_dir``'s server lock (as ``user`` when given: opened first, then the user taken)."""
    lock = run_dir / runtime.LOCK_FILE
    if user is None:
        proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock), *words], stdout=subprocess.PIPE, text=True)
    else:
        code = HOLD_LOCK.replace("fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n",
                                 f"fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\nos.setgid({user})\n"
                                 f"os.setuid({user})\n")
        proc = subprocess.Popen([sys.executable, "-c", code, str(lock), *words], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def write_runtime(run_dir: Path, pid: int) -> None:
    runtime.write_runtime_info(runtime.RuntimeInfo("ipc:///nowhere", b"k" * 32, pid, "stale"), run_dir)


def record_signals(monkeypatch) -> list[tuple]:
    """Records every signal the installer would send, and sends none (until monkeypatch.undo())."""
    sent: list[tuple] = []
    monkeypatch.setattr(os, "kill", lambda *a: sent.append(("kill", *a)))
    if hasattr(signal, "pidfd_send_signal"):
        monkeypatch.setattr(signal, "pidfd_send_signal", lambda *a: sent.append(("pidfd", *a)))
    return sent


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_stale_runtime_file_naming_another_process_while_a_new_server_holds_the_lock(tmp_path):
    """The issue's case: server.json names a `sleep` while the lock is held by another process (a new server starting)."""
    run_dir = run_dir_of(tmp_path)
    bystander = subprocess.Popen(["sleep", "120"])
    holder = hold_lock(run_dir, "-m", "nst_server", "serve")
    try:
        write_runtime(run_dir, bystander.pid)
        assert stop_running_server(run_dir) is None
        time.sleep(0.3)
        assert bystander.poll() is None and holder.poll() is None
    finally:
        stop(bystander, holder)


@pytest.mark.parametrize("pid", [0, 1, -1])
def test_pids_that_mean_a_group_init_or_everyone_are_never_signalled(tmp_path, pid, monkeypatch):
    run_dir = run_dir_of(tmp_path)
    holder = hold_lock(run_dir, "-m", "nst_server", "serve")
    try:
        write_runtime(run_dir, pid)
        sent = record_signals(monkeypatch)
        assert server_process.find_running_server(run_dir) is None
        assert stop_running_server(run_dir) is None
        assert sent == []
    finally:
        monkeypatch.undo()
        stop(holder)


def test_the_lock_holder_named_by_the_file_is_still_not_signalled_unless_it_is_a_server(tmp_path):
    run_dir = run_dir_of(tmp_path)
    holder = hold_lock(run_dir, "something", "else")
    try:
        write_runtime(run_dir, holder.pid)
        assert server_process.why_not_our_server(holder.pid, server_process.lock_holder(run_dir / runtime.LOCK_FILE)) \
            .startswith(f"process {holder.pid} is not a style transfer server")
        assert stop_running_server(run_dir) is None
        time.sleep(0.3)
        assert holder.poll() is None
    finally:
        stop(holder)


def test_a_lock_nobody_holds_proves_nothing(tmp_path):
    run_dir = run_dir_of(tmp_path)
    (run_dir / runtime.LOCK_FILE).touch()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", "nst_server", "serve"])
    try:
        write_runtime(run_dir, bystander.pid)
        assert stop_running_server(run_dir) is None
        time.sleep(0.3)
        assert bystander.poll() is None
    finally:
        stop(bystander)


def test_a_process_proven_to_be_the_server_is_stopped(tmp_path):
    """The positive case without TensorFlow: this user's process, holding the lock, named by the file, `nst_server
    serve` in its command line.  (tests/test_install.py stops a real server the same way.)"""
    run_dir = run_dir_of(tmp_path)
    holder = hold_lock(run_dir, "-m", "nst_server", "serve")
    try:
        write_runtime(run_dir, holder.pid)
        assert server_process.lock_holder(run_dir / runtime.LOCK_FILE) == holder.pid
        assert stop_running_server(run_dir) == holder.pid
        assert holder.wait(timeout=10) == -signal.SIGTERM
    finally:
        stop(holder)


@as_root
def test_another_users_process_is_never_signalled(tmp_path):
    run_dir = run_dir_of(tmp_path)
    holder = hold_lock(run_dir, "-m", "nst_server", "serve", user=NOBODY)
    try:
        write_runtime(run_dir, holder.pid)
        assert server_process.why_not_our_server(holder.pid, holder.pid) == f"process {holder.pid} belongs to another user"
        assert stop_running_server(run_dir) is None
        time.sleep(0.3)
        assert holder.poll() is None
    finally:
        stop(holder)


# --- the client trusts only a private runtime folder of its own (item 6) ---

class Listener:
    """A ZeroMQ ROUTER another user would run to collect layers: it records whatever reaches it."""

    def __init__(self, path: Path) -> None:
        import zmq

        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.bind(f"ipc://{path}")
        self.endpoint = f"ipc://{path}"

    def received_anything(self, wait: float = 1.0) -> bool:
        return bool(self.socket.poll(int(wait * 1000)))

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def squatted_folder(tmp_path: Path, listener: Listener, owner: int | None = None, folder_mode: int = 0o700,
                    file_mode: int = 0o600) -> Path:
    folder = tmp_path / "gimp-style-transfer-squatted"
    folder.mkdir(mode=0o700)
    runtime.write_runtime_info(runtime.RuntimeInfo(listener.endpoint, b"k" * 32, os.getpid(), "theirs"), folder)
    os.chmod(folder / runtime.RUNTIME_FILE, file_mode)
    os.chmod(folder, folder_mode)
    if owner is not None:
        os.chown(folder / runtime.RUNTIME_FILE, owner, owner)
        os.chown(folder, owner, owner)
    return folder


@pytest.fixture
def listener(tmp_path):
    lst = Listener(tmp_path / "theirs.sock")
    yield lst
    lst.close()


@as_root
def test_the_client_sends_nothing_to_a_runtime_folder_made_by_another_user(tmp_path, listener):
    folder = squatted_folder(tmp_path, listener, owner=NOBODY)
    with pytest.raises(ClientError) as caught:
        connect_running(folder)
    assert caught.value.code == "unsafe_runtime"
    assert f"{folder} belongs to another user (uid {NOBODY})" in str(caught.value)
    assert not listener.received_anything()


@pytest.mark.parametrize(("folder_mode", "file_mode", "what"), [
    (0o755, 0o600, "folder"),
    (0o700, 0o644, "file"),
])
def test_the_client_sends_nothing_through_a_runtime_folder_others_can_open(tmp_path, listener, folder_mode, file_mode,
                                                                            what):
    folder = squatted_folder(tmp_path, listener, folder_mode=folder_mode, file_mode=file_mode)
    with pytest.raises(ClientError, match=f"the {what} .* can be opened by other users") as caught:
        connect_running(folder)
    assert caught.value.code == "unsafe_runtime"
    assert not listener.received_anything()


def test_the_client_refuses_a_runtime_folder_that_is_a_link(tmp_path, listener):
    real = squatted_folder(tmp_path, listener)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(ClientError, match="is not a plain folder"):
        connect_running(link)
    assert not listener.received_anything()


def test_no_runtime_folder_is_simply_no_server(tmp_path):
    assert connect_running(tmp_path / "none") is None
