"""Ask a server how fast it is, and remember the answer for the next dialog.

The server's engine measures itself when it starts (seconds per megapixel-step
for each precision; the first start on a machine takes longest) and the server
puts the result in every ``pong`` once it has it.  The plug-in asks with a ping
on a connection it already holds (over pyzmq or the bridge), and
keeps the last answer per server in a small file, so that its dialog can show an
estimate at once, before the server is even running.

Standard library only (runs inside GIMP's Python).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nst_server.client import paths, protocol
from nst_server.client.config import PluginConfig

CACHE_FILE = "server-speed.json"


def server_key(config: PluginConfig) -> str:
    """Which server a plug-in's server.json names: its remote endpoint, or this machine's."""
    return f"remote {config.remote.get('endpoint')}" if config.remote else "local"


def ask(conn: Any, timeout: float = 2.0) -> dict[str, Any] | None:
    """The speed in the server's pong, or None (not measured yet, an older server, no answer)."""
    pong = conn.ping(timeout)
    return pong.speed if pong is not None else None


def wait(conn: Any, timeout: float, interval: float = 0.5,
         still_waiting: Callable[[float], bool] | None = None) -> dict[str, Any] | None:
    """Ping until the pong carries the speed, for at most ``timeout`` seconds.

    ``still_waiting(elapsed)`` is called between pings; returning False gives up early.
    """
    started = time.monotonic()
    while True:
        speed = ask(conn)
        elapsed = time.monotonic() - started
        if speed is not None or elapsed >= timeout:
            return speed
        if still_waiting is not None and not still_waiting(elapsed):
            return None
        time.sleep(interval)


def _cache_path() -> Path:
    return paths.state_dir() / CACHE_FILE


def remembered(key: str) -> dict[str, Any] | None:
    """The speed last heard from server ``key``, or None (also for a damaged cache: a FIFO there must not
    block GIMP's dialog, nor deeply nested JSON crash it)."""
    data = paths.read_json_object(_cache_path())
    return protocol.parse_speed(data.get(key)) if data is not None else None


def remember(key: str, speed: dict[str, Any]) -> None:
    """Keep ``speed`` for the next dialog (best effort: a read-only folder only loses the cache)."""
    paths.update_json_cache(_cache_path(), key, speed)
