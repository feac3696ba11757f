"""Per-user folders, computed with the standard library only, and the small JSON caches kept in them.

Shared by the server, the plug-in (GIMP's Python has no third-party path
library) and install.py, so all three agree on where things live.
"""

from __future__ import annotations

import json
import os
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


def update_json_cache(path: Path, key: str, value: Any) -> None:
    """Set ``key`` in the JSON object kept at ``path``, best effort: an unreadable or foreign file starts over,
    a read-only folder only loses the cache, and readers never see a half-written file."""
    try:
        data = json.loads(path.read_text())
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data[key] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass
