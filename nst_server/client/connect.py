"""Reaching a server: which transport, and finding, starting or dialling the server.

``open_connection`` is what the plug-in calls with its server.json (config.py):
pyzmq in GIMP's own Python when it has a recent enough one, else the stdio
bridge helper, which does the same finding and starting with the server's
Python.  ``NST_PLUGIN_NO_PYZMQ=1`` makes this process behave as if pyzmq were
missing (tests of the bridge path use it).

Standard library only: pyzmq is imported only once it is known to be there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nst_server.client import paths, protocol, runtime
from nst_server.client.config import PluginConfig
from nst_server.client.connection import Connection
from nst_server.client.errors import INSTALL_HINT, ClientError, ServerNotInstalled, ServerStartFailed, ServerStopped

PYZMQ_HINT = (
    "GIMP's Python cannot import pyzmq, which the plug-in needs to talk to the server. "
    "Run 'python3 install.py' again (it installs a copy for GIMP or sets up the bridge), "
    "or on Debian and Ubuntu: 'sudo apt install python3-zmq'. 'python3 install.py --check' says what is wrong."
)


def add_vendor_path(config: PluginConfig | None, plugin_dir: Path) -> None:
    """Make the pyzmq copy install.py built for GIMP's Python importable (after the system's own).

    server.json's ``vendor`` names it.  (Older installs put it in the plug-in's ``vendor`` folder.)
    """
    for vendor in (config.vendor if config else None, str(Path(plugin_dir) / "vendor")):
        if vendor and os.path.isdir(vendor) and vendor not in sys.path:
            sys.path.append(vendor)


def pyzmq_available() -> bool:
    if os.environ.get("NST_PLUGIN_NO_PYZMQ") == "1":
        return False
    try:
        import zmq
    except ImportError:
        return False
    return zmq.zmq_version_info() >= protocol.MIN_LIBZMQ


def uses_bridge(config: PluginConfig) -> bool:
    return bool(config.bridge) and (config.use_bridge or not pyzmq_available())


def open_connection(config: PluginConfig, start_timeout: float = 120.0) -> Connection:
    """A connection to the server ``config`` names, started when needed.

    Raises ClientError (errors.py) with a message for the user.
    """
    if uses_bridge(config):
        from nst_server.client.transport_stdio import StdioTransport

        helper = list(config.bridge or ())
        if helper[:2] == ["flatpak-spawn", "--host"] and not os.path.exists("/.flatpak-info"):
            helper = helper[2:]  # already outside the sandbox (install.py's doctor)
        if config.remote:
            return Connection(StdioTransport(helper).open(None, None, 5.0, remote=config.remote))
        return Connection(StdioTransport(helper).open(config.command, config.runtime_path, start_timeout))
    if not pyzmq_available():
        raise ClientError(PYZMQ_HINT, "no_pyzmq")
    if config.remote:
        return connect_remote(runtime.RuntimeInfo.from_json(config.remote))
    return connect_local(config.command, config.runtime_path, start_timeout)


# --- over pyzmq, in this process (the plug-in, or the bridge helper) -------------------------
def dial(info: runtime.RuntimeInfo) -> Connection:
    """A pyzmq connection to the server ``info`` names, asked nothing yet."""
    from nst_server.client.transport_zmq import ZmqTransport

    return Connection(ZmqTransport(info))


def connect_running(runtime_dir: Path | None = None, timeout: float = 2.0) -> Connection | None:
    """A connection to the local server that answers a ping, or None.

    Nothing is sent before the runtime folder and its file are proven this user's own and private
    (ClientError 'unsafe_runtime' otherwise): the server name and key in them decide where the layer goes.
    """
    try:
        info = runtime.read_runtime_info(runtime_dir)
    except runtime.UnsafeRuntime as exc:
        raise ClientError(f"The style transfer server's runtime folder is not safe to use: {exc}.",
                          "unsafe_runtime") from None
    if info is None:
        return None
    conn = dial(info)
    if conn.ping(timeout) is not None:
        return conn
    conn.close()
    return None


def _tail(path: Path, lines: int = 6) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def start_server(
    command: Sequence[str],
    runtime_dir: Path | None = None,
    timeout: float = 120.0,
    log_path: Path | None = None,
) -> Connection:
    """Start the server in the background (it outlives the caller) and wait until it answers."""
    log_path = log_path or paths.state_dir() / "server-start.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if runtime_dir is not None:
        env["NST_RUNTIME_DIR"] = str(runtime_dir)
    try:
        with open(log_path, "wb") as log_file:
            kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": log_file, "stderr": subprocess.STDOUT, "env": env}
            if sys.platform == "win32":
                kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
            else:
                kwargs["start_new_session"] = True  # GIMP's Cancel kills our group, not the server
            process = subprocess.Popen(list(command), **kwargs)
    except OSError as exc:
        raise ServerStartFailed(f"Could not start the style transfer server ({exc}). {INSTALL_HINT}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = connect_running(runtime_dir, timeout=1.0)
        if conn is not None:
            return conn
        code = process.poll()
        if code is not None:
            details = _tail(log_path)
            raise ServerStartFailed(
                f"The style transfer server exited with code {code} while starting."
                + (f" Its last words:\n{details}\n" if details else " ")
                + f"(log: {log_path}) {INSTALL_HINT}"
            )
        time.sleep(0.25)
    process.kill()
    raise ServerStartFailed(f"The style transfer server did not answer within {timeout:.0f} s (log: {log_path}).")


def connect_remote(info: runtime.RuntimeInfo, timeout: float = 5.0) -> Connection:
    """A server on another machine (remote mode); it is never started from here."""
    conn = dial(info)
    if conn.ping(timeout) is None:
        conn.close()
        raise ServerStopped(
            f"The remote style transfer server at {info.endpoint} does not answer. Check that it runs "
            "('python -m nst_server serve --remote DIR') and that this machine's key is on its allow-list."
        )
    return conn


def connect_local(command: Sequence[str] | None, runtime_dir: Path | None = None, start_timeout: float = 120.0) -> Connection:
    """The running local server, or a freshly started one when ``command`` says how to start it."""
    from nst_server.client.transport_zmq import check_libzmq

    check_libzmq()
    conn = connect_running(runtime_dir)
    if conn is not None:
        return conn
    if not command:
        raise ServerNotInstalled(f"The style transfer server is not installed. {INSTALL_HINT}")
    return start_server(command, runtime_dir, start_timeout)
