"""A real GIMP 3.0 for the end-to-end tests.

The host's ``gimp-console-3.0`` is used when it exists.  Otherwise a Debian 13
(trixie) chroot with GIMP 3.0 is built once with debootstrap and reused between
runs; it lives in a cache folder outside the checkout, so that a fresh clone
(CI) on the same machine finds it again.  Inside the chroot everything runs as
it would for a Debian 13 user: GIMP's own Python, install.py, the server's venv.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["gimp", "gir1.2-gimp-3.0", "python3-gi", "python3-zmq", "python3-venv", "python3-pip", "ca-certificates",
            "xvfb", "xauth", "xdotool", "x11-apps"]  # the last four: GIMP's GUI on a virtual screen (dialog tests)
PROVISION_VERSION = "2"  # bump when PACKAGES or the steps change, so cached chroots are redone
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CHROOT_CA_BUNDLE = "/etc/ssl/certs/host-ca-bundle.crt"


def cache_dir() -> Path:
    base = os.environ.get("NST_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "gimp-style-transfer-tests"
    )
    return Path(base)


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def provision_chroot(root: Path) -> Path:
    """Build (or finish building) the trixie chroot with GIMP 3.0; a no-op when it is ready."""
    marker = root / ".nst-provisioned"
    if marker.exists() and marker.read_text().strip() == PROVISION_VERSION:
        return root
    if os.geteuid() != 0:
        raise RuntimeError("building the GIMP 3 chroot needs root (debootstrap, chroot); or install gimp-console-3.0")
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "update", "-qq"])
        _run(["apt-get", "install", "-y", "-qq", "debootstrap"])
    if not (root / "usr" / "bin" / "apt-get").exists():
        if root.exists():  # a half-made tree from an interrupted run
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        _run(["debootstrap", "--variant=minbase", "trixie", str(root), MIRROR])
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
    _run(["chroot", str(root), "apt-get", "update", "-qq"], env=env)
    _run(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], env=env)
    _run(["chroot", str(root), "apt-get", "clean"], env=env)
    marker.write_text(PROVISION_VERSION + "\n")
    return root


class GimpEnvironment:
    """Runs commands where GIMP 3 is: on the host, or inside the chroot (paths are then chroot paths)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @classmethod
    def provide(cls) -> GimpEnvironment:
        if shutil.which("gimp-console-3.0"):
            return cls(None)
        return cls(provision_chroot(cache_dir() / "trixie"))

    def __str__(self) -> str:
        return "host GIMP" if self.root is None else f"Debian 13 chroot {self.root}"

    def outside(self, inner: str | Path) -> Path:
        """The host path of a path as seen by commands in this environment."""
        return Path(inner) if self.root is None else self.root / str(inner).lstrip("/")

    def base_env(self) -> dict[str, str]:
        env = {"HOME": "/root" if self.root else os.environ["HOME"], "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if self.root is not None:
            env["PIP_CERT"] = CHROOT_CA_BUNDLE  # the host's CAs (a proxy's included) for pip inside
        else:
            env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
        return env

    def _command(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """(command, environment) that run ``argv`` with ``env`` on the host or inside the chroot."""
        full_env = {**self.base_env(), **env}
        if self.root is None:
            return argv, full_env
        cmd = ["chroot", str(self.root), "env", "-i", *(f"{k}={v}" for k, v in full_env.items()), *argv]
        return cmd, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        cmd, full_env = self._command(argv, env)
        return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout)

    def popen(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Like ``run`` but in the background (a test that acts while GIMP works)."""
        cmd, full_env = self._command(argv, env)
        return subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @contextlib.contextmanager
    def ready(self) -> Iterator[GimpEnvironment]:
        """TensorFlow needs /proc; mount it in the chroot for the duration."""
        if self.root is None:
            yield self
            return
        shutil.copyfile(HOST_CA_BUNDLE, self.root / CHROOT_CA_BUNDLE.lstrip("/"))
        proc = self.root / "proc"
        mounted = False
        if not (proc / "self").exists():
            _run(["mount", "-t", "proc", "proc", str(proc)])
            mounted = True
        try:
            yield self
        finally:
            if mounted:
                subprocess.run(["umount", "-l", str(proc)], check=False)


if __name__ == "__main__":
    print(GimpEnvironment.provide())
