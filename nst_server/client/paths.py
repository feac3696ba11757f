"""Per-user folders, computed with the standard library only.

Shared by the server, the plug-in (GIMP's Python has no third-party path
library) and install.py, so all three agree on where things live.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

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
