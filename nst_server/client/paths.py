"""Per-user folders, computed with the standard library only, and the small JSON caches kept in them.

Shared by the server, the plug-in (GIMP's Python has no third-party path
library) and install.py, so all three agree on where things live.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

APP = "gimp-style-transfer"


def data_dir() -> Path:
    """Where the server's Python environment and model weights live."""
    if override := os.environ.get("NST_DATA_DIR"):
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / APP


def state_dir() -> Path:
    """Where the server writes its log."""
    if override := os.environ.get("NST_STATE_DIR"):
        return Path(override)
    if sys.platform == "win32" or sys.platform == "darwin":
        return data_dir() / "logs"
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / APP


def runtime_dir() -> Path:
    """Private folder (mode 0700) for the server's socket, lock and runtime file."""
    if override := os.environ.get("NST_RUNTIME_DIR"):
        return Path(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return Path(xdg) / APP
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"{APP}-{uid}"


def weights_dir() -> Path:
    return data_dir() / "weights"


def venv_dir() -> Path:
    return data_dir() / "venv"


MAX_CACHE_BYTES = 64 * 1024  # the JSON caches hold a few hundred bytes: a larger file is damaged


def read_small_file(path: Path, max_bytes: int = MAX_CACHE_BYTES, private: bool = False) -> bytes | None:
    """The bytes of ``path`` when it is a plain file of at most ``max_bytes``; None for anything else.

    Opened without following a link and without blocking (a FIFO there would block a plain open
    forever), and refused unread unless it is a regular file.  ``private``: a file others can read
    is made 0600 (the server's caches name the machine, its processor and its timings)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        if private and st.st_mode & 0o077 and hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks) if size <= max_bytes else None  # it grew while being read
    except OSError:
        return None
    finally:
        os.close(fd)


def read_json_object(path: Path, max_bytes: int = MAX_CACHE_BYTES, private: bool = False) -> dict[str, Any] | None:
    """The JSON object kept in ``path``, or None when there is none: missing, not a plain file, too large,
    not JSON (also nested too deep to parse, a RecursionError), or JSON that is not an object."""
    raw = read_small_file(path, max_bytes, private)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def update_json_cache(path: Path, key: str, value: Any) -> None:
    """Set ``key`` in the JSON object kept at ``path``, best effort: a damaged or foreign file (see
    read_json_object) starts over, a read-only folder only loses the cache, and readers never see a
    half-written file.  The file is 0600, a folder made for it 0700."""
    data = read_json_object(path) or {}
    data[key] = value
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(tmp, flags, 0o600)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a leftover tmp file keeps its mode through O_CREAT
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)  # also over a FIFO or a link left at the path
    except OSError:
        pass
