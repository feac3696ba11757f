"""Provide GIMP 3.0 for the end-to-end tests.

The host's ``gimp-console-3.0`` is used when it exists.  Otherwise a Debian 13
(trixie) chroot with GIMP 3.0 is built once with debootstrap and reused between
runs; it lives in a cache folder outside the checkout so that a fresh clone
(CI) finds it again on the same machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
PACKAGES = [
    "gimp",
    "gir1.2-gimp-3.0",
    "python3-gi",
    "python3-zmq",
    "python3-venv",
    "python3-pip",
    "ca-certificates",
]
# Bump when PACKAGES or the steps below change, so cached chroots are redone.
PROVISION_VERSION = "1"


def cache_dir() -> Path:
    base = os.environ.get("NST_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
        "gimp-style-transfer-tests",
    )
    return Path(base)


def chroot_dir() -> Path:
    return cache_dir() / "trixie"


def _marker(root: Path) -> Path:
    return root / ".nst-provisioned"


def is_provisioned(root: Path) -> bool:
    marker = _marker(root)
    return marker.exists() and marker.read_text().strip() == PROVISION_VERSION


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def provision(root: Path | None = None) -> Path:
    """Build (or finish building) the trixie chroot with GIMP 3.0."""
    root = root or chroot_dir()
    if is_provisioned(root):
        return root
    if os.geteuid() != 0:
        raise RuntimeError("building the GIMP chroot needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "update", "-qq"])
        _run(["apt-get", "install", "-y", "-qq", "debootstrap"])
    if not (root / "usr" / "bin" / "apt-get").exists():
        if root.exists():  # a half-made tree from an interrupted run
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        _run(["debootstrap", "--variant=minbase", "trixie", str(root), MIRROR])
    # Name resolution and the host's CA bundle (pip inside the chroot needs both).
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
    _run(["chroot", str(root), "apt-get", "update", "-qq"], env=env)
    _run(
        ["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        env=env,
    )
    _run(["chroot", str(root), "apt-get", "clean"], env=env)
    _marker(root).write_text(PROVISION_VERSION + "\n")
    return root


if __name__ == "__main__":
    print(provision(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
