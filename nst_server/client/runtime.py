"""The server's runtime file: how a client finds and authenticates to a running server.

Standard library only (the plug-in reads it).  The file lives in the private
runtime folder, mode 0600, and holds the endpoint, the per-server signing key,
the pid and an instance id.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nst_server.client import paths

RUNTIME_FILE = "server.json"
LOCK_FILE = "server.lock"
SOCKET_FILE = "server.sock"


@dataclass(frozen=True)
class RuntimeInfo:
    """How to reach a server: a local server's runtime file, or a remote server's client file."""

    endpoint: str
    key: bytes  # HMAC-SHA256 key for every frame
    pid: int
    instance: str
    # Remote mode only (ZeroMQ CURVE, Z85 text): the server's public key and this client's key pair.
    curve_server_key: str | None = None
    curve_public_key: str | None = None
    curve_secret_key: str | None = None

    def to_json(self) -> dict:
        data = {"endpoint": self.endpoint, "key": self.key.hex(), "pid": self.pid, "instance": self.instance}
        for name in ("curve_server_key", "curve_public_key", "curve_secret_key"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, raw: dict) -> RuntimeInfo:
        curve = {n: str(raw[n]) for n in ("curve_server_key", "curve_public_key", "curve_secret_key") if raw.get(n)}
        return cls(str(raw["endpoint"]), bytes.fromhex(raw["key"]), int(raw["pid"]), str(raw["instance"]), **curve)


def runtime_file(runtime_dir: Path | None = None) -> Path:
    return (runtime_dir or paths.runtime_dir()) / RUNTIME_FILE


class UnsafeRuntime(PermissionError):
    """A runtime folder or file that another user owns or can reach: nothing may be read from it or sent to it."""


def check_private(path: Path, folder: bool) -> os.stat_result:
    """The ``lstat`` of ``path`` when it is this user's own folder (or regular file) that no one else can open.

    Raises UnsafeRuntime naming what is wrong; FileNotFoundError when it is not there.  A runtime folder
    another user made (the /tmp fallback when XDG_RUNTIME_DIR is unset) could name that user's listener
    in its server.json and receive the user's layers.  POSIX only: Windows keeps these in the user's
    own profile.
    """
    st = os.lstat(path)
    if not hasattr(os, "getuid"):
        return st
    kind = "folder" if folder else "file"
    if stat.S_ISLNK(st.st_mode) or not (stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)):
        raise UnsafeRuntime(f"{path} is not a plain {kind}; refusing to use it")
    if st.st_uid != os.getuid():
        raise UnsafeRuntime(f"the {kind} {path} belongs to another user (uid {st.st_uid}); refusing to use it. "
                            "Remove it, or set XDG_RUNTIME_DIR to a private folder of yours")
    if st.st_mode & 0o077:
        raise UnsafeRuntime(f"the {kind} {path} can be opened by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                            "refusing to use it")
    return st


def make_private_dir(path: Path) -> Path:
    """Create (or tighten) a folder only its owner can enter; UnsafeRuntime when another user owns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid"):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
            raise UnsafeRuntime(f"{path} belongs to another user or is a link; refusing to use it. "
                                "Remove it, or set XDG_RUNTIME_DIR to a private folder of yours")
    os.chmod(path, 0o700)
    return path


def write_private_json(path: Path, data: dict) -> Path:
    """Write JSON only the owner may read (it may hold keys); readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def write_runtime_info(info: RuntimeInfo, runtime_dir: Path | None = None) -> Path:
    return write_private_json(runtime_file(runtime_dir), info.to_json())


def read_runtime_info(runtime_dir: Path | None = None) -> RuntimeInfo | None:
    """The running server's details, or None when there is no (readable) runtime file.

    Raises UnsafeRuntime when the folder or the file is another user's or open to others: a server
    always makes both private, so anything else was put there by someone else.
    """
    path = runtime_file(runtime_dir)
    try:
        check_private(path.parent, folder=True)
        check_private(path, folder=False)
    except FileNotFoundError:
        return None
    return read_info_file(path)


MAX_INFO_BYTES = 64 * 1024  # a runtime or client file is a few hundred bytes


def read_info_file(path: Path) -> RuntimeInfo | None:
    """A runtime or client file's details, or None when it is unreadable, too large or malformed."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_INFO_BYTES + 1)
        if len(raw) > MAX_INFO_BYTES:
            return None
        return RuntimeInfo.from_json(json.loads(raw))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def remove_runtime_info(instance: str, runtime_dir: Path | None = None) -> None:
    """Remove the runtime file if it still belongs to this server instance."""
    current = read_runtime_info(runtime_dir)
    if current is not None and current.instance == instance:
        runtime_file(runtime_dir).unlink(missing_ok=True)
