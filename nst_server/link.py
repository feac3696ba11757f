"""How the plug-in reaches the server: pyzmq in GIMP's own Python, or the stdio bridge.

Standard library only (runs in GIMP's Python).  install.py records in the
plug-in's ``server.json``:

* ``command``: how to start the local server (absent in remote mode);
* ``remote``: a remote server's connection details (remote mode);
* ``bridge``: how to start the bridge helper with the server's Python;
* ``use_bridge``: true where GIMP's Python cannot load pyzmq at all (Windows'
  MSYS2 Python, the Flatpak runtime);
* ``runtime_dir``: where the server's runtime file lives, when not the default.

* ``vendor``: a folder with pyzmq built for GIMP's exact Python when the system
  has none (outside GIMP's profile); ``add_vendor_path`` puts it on ``sys.path``.

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
    """Make the pyzmq copy install.py built for GIMP's Python importable (after the system's own).

    server.json's ``vendor`` names it: outside GIMP's profile, whose first-start copy by a newer
    GIMP leaves deep folders out.  (Older installs put it in the plug-in's ``vendor`` folder.)
    """
    for vendor in (read_config(plugin_dir).get("vendor"), str(Path(plugin_dir) / "vendor")):
        if vendor and os.path.isdir(vendor) and vendor not in sys.path:
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

        helper = list(config["bridge"])
        if helper[:2] == ["flatpak-spawn", "--host"] and not os.path.exists("/.flatpak-info"):
            helper = helper[2:]  # already outside the sandbox (install.py's doctor)
        if config.get("remote"):
            return bridge_client.connect_remote(helper, config["remote"])
        return bridge_client.connect(helper, config.get("command"), runtime_dir, start_timeout)
    if not pyzmq_available():
        raise ClientError(PYZMQ_HINT, "no_pyzmq")
    from nst_server import client, runtime

    if config.get("remote"):
        return client.connect_remote(runtime.RuntimeInfo.from_json(config["remote"]))
    return client.connect(config.get("command"), runtime_dir, start_timeout)


def read_config(plugin_dir: Path) -> dict[str, Any]:
    """The plug-in's server.json, or {} when it is missing or unreadable."""
    import json

    try:
        return json.loads((Path(plugin_dir) / "server.json").read_text())
    except (OSError, ValueError):
        return {}


def _png(width: int, height: int, pixel: Any) -> bytes:
    """A small RGB PNG, written with the standard library (the doctor's style image)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def self_test(plugin_dir: Path, timeout: float = 300.0) -> str:
    """A tiny stylization through the server, exactly as the plug-in in ``plugin_dir`` would do it.

    Returns a one-line summary; raises ClientError (or another exception) when it fails.
    """
    import time

    from nst_server import protocol

    add_vendor_path(plugin_dir)
    config = read_config(plugin_dir)
    if not config:
        raise ClientError(f"{plugin_dir}/server.json is missing; run 'python3 install.py'.", "not_installed")
    width, height = 32, 24
    desc = protocol.ImageDesc(width, height, "RGBA8")
    pixels = bytes(c for y in range(height) for x in range(width) for c in (8 * x % 256, 10 * y % 256, 128, 255))
    style = protocol.StyleImage("stripes.png", _png(32, 32, lambda x, y: (255, 200, 0) if (x + y) // 4 % 2 else (0, 40, 160)))
    started = time.monotonic()
    via = "the stdio bridge" if uses_bridge(config) else "pyzmq"
    conn = open_connection(config, start_timeout=timeout)
    try:
        result = conn.stylize(pixels, desc, [style], {"size": 32, "steps": 2, "seed": 1}, silence_timeout=60.0)
    finally:
        conn.close()
    changed = sum(abs(a - b) for a, b in zip(result, pixels, strict=True)) / len(pixels)
    if changed < 0.5:
        raise ClientError("the server sent the test image back unchanged", "self_test")
    return f"a {width}x{height} test image went to the server through {via} and came back stylized " \
           f"(mean change {changed:.1f}/255, {time.monotonic() - started:.1f} s)"


if __name__ == "__main__":  # python -m nst_server.link PLUGIN_DIR: the doctor's round trip
    try:
        print(self_test(Path(sys.argv[1])))
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
