"""How the plug-in reaches the server: pyzmq in GIMP's own Python, or the stdio bridge.

Standard library only (runs in GIMP's Python).  install.py records in the
plug-in's ``server.json``:

* ``command``: how to start the local server (absent in remote mode);
* ``remote``: a remote server's connection details (remote mode);
* ``bridge``: how to start the bridge helper with the server's Python;
* ``use_bridge``: true where GIMP's Python cannot load pyzmq at all (Windows'
  MSYS2 Python, the Flatpak runtime);
* ``runtime_dir``: where the server's runtime file lives, when not the default.

A ``vendor`` folder next to the plug-in holds a pyzmq built for GIMP's exact
Python when the system has none; ``add_vendor_path`` puts it on ``sys.path``.
``NST_PLUGIN_NO_PYZMQ=1`` makes the plug-in behave as if pyzmq were missing
(tests of the bridge path use it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from nst_server.errors import ClientError

MIN_ZMQ = (4, 3, 3)
PYZMQ_HINT = (
    "GIMP's Python cannot import pyzmq, which the plug-in needs to talk to the server. "
    "Run 'python3 install.py' again (it installs a copy for GIMP or sets up the bridge), "
    "or on Debian and Ubuntu: 'sudo apt install python3-zmq'. 'python3 install.py --check' says what is wrong."
)


def add_vendor_path(plugin_dir: Path) -> None:
    """Make the pyzmq copy install.py put beside the plug-in importable (after the system's own)."""
    vendor = str(Path(plugin_dir) / "vendor")
    if os.path.isdir(vendor) and vendor not in sys.path:
        sys.path.append(vendor)


def pyzmq_available() -> bool:
    if os.environ.get("NST_PLUGIN_NO_PYZMQ") == "1":
        return False
    try:
        import zmq
    except ImportError:
        return False
    return zmq.zmq_version_info() >= MIN_ZMQ


def uses_bridge(config: dict[str, Any]) -> bool:
    return bool(config.get("bridge")) and (bool(config.get("use_bridge")) or not pyzmq_available())


def open_connection(config: dict[str, Any], start_timeout: float = 120.0) -> Any:
    """A connection (client.Connection or bridge_client.BridgeConnection) to the server ``config`` names.

    Raises ClientError (from nst_server.errors) with a message for the user.
    """
    runtime_dir = Path(config["runtime_dir"]) if config.get("runtime_dir") else None
    if uses_bridge(config):
        from nst_server import bridge_client

        if config.get("remote"):
            return bridge_client.connect_remote(config["bridge"], config["remote"])
        return bridge_client.connect(config["bridge"], config.get("command"), runtime_dir, start_timeout)
    if not pyzmq_available():
        raise ClientError(PYZMQ_HINT, "no_pyzmq")
    from nst_server import client, runtime

    try:
        if config.get("remote"):
            return client.connect_remote(runtime.RuntimeInfo.from_json(config["remote"]))
        return client.connect(config.get("command"), runtime_dir, start_timeout)
    except client.ClientError as exc:
        if isinstance(exc, ClientError):
            raise
        raise ClientError(str(exc), exc.code) from None  # until client.py shares nst_server.errors
