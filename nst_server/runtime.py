"""The server's runtime file: how a client finds and authenticates to a running server.

Standard library only (the plug-in reads it).  The file lives in the private
runtime folder, mode 0600, and holds the endpoint, the per-server signing key,
the pid and an instance id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from nst_server import paths

RUNTIME_FILE = "server.json"
LOCK_FILE = "server.lock"
SOCKET_FILE = "server.sock"


@dataclass(frozen=True)
class RuntimeInfo:
    endpoint: str
    key: bytes
    pid: int
    instance: str


def runtime_file(runtime_dir: Path | None = None) -> Path:
    return (runtime_dir or paths.runtime_dir()) / RUNTIME_FILE


def make_private_dir(path: Path) -> Path:
    """Create (or tighten) a folder only its owner can enter."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; refusing to use it")
    os.chmod(path, 0o700)
    return path


def write_runtime_info(info: RuntimeInfo, runtime_dir: Path | None = None) -> Path:
    target = runtime_file(runtime_dir)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"endpoint": info.endpoint, "key": info.key.hex(), "pid": info.pid, "instance": info.instance}, fh)
    os.replace(tmp, target)  # readers never see a half-written file
    return target


def read_runtime_info(runtime_dir: Path | None = None) -> RuntimeInfo | None:
    """The running server's details, or None when there is no (readable) runtime file."""
    try:
        raw = json.loads(runtime_file(runtime_dir).read_text())
        return RuntimeInfo(str(raw["endpoint"]), bytes.fromhex(raw["key"]), int(raw["pid"]), str(raw["instance"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_runtime_info(instance: str, runtime_dir: Path | None = None) -> None:
    """Remove the runtime file if it still belongs to this server instance."""
    current = read_runtime_info(runtime_dir)
    if current is not None and current.instance == instance:
        runtime_file(runtime_dir).unlink(missing_ok=True)
