"""A real GIMP 3 for the end-to-end tests: 3.0 (Debian 13) and 3.2 (Debian testing).

For each GIMP version the host's ``gimp-console-<version>`` is used when it
exists.  Otherwise a Debian chroot with that GIMP is built once with debootstrap
and reused between runs; it lives in a cache folder outside the checkout, so that
a fresh clone (CI) on the same machine finds it again.  Inside a chroot
everything runs as it would for a Debian user: GIMP's own Python, install.py, the
server's venv.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["gimp", "gir1.2-gimp-3.0", "python3-gi", "python3-zmq", "python3-venv", "python3-pip", "ca-certificates",
            "xvfb", "xauth", "xdotool", "x11-apps"]  # the last four: GIMP's GUI on a virtual screen (dialog tests)
PROVISION_VERSION = "2"  # bump when PACKAGES or the steps change, so cached chroots are redone
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CHROOT_CA_BUNDLE = "/etc/ssl/certs/host-ca-bundle.crt"
# Debian testing's Release file can be past its Valid-Until; accepted in the test chroots only.
PROVISIONED = ".nst-provisioned"  # holds the provision tag the chroot was finished with
BOOTSTRAPPED = ".nst-bootstrapped"  # debootstrap ran to its end (an interrupted one leaves a tree that looks whole)
CHROOT_APT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
APT_NO_VALID_UNTIL = ("etc/apt/apt.conf.d/99nst-test-valid-until", 'Acquire::Check-Valid-Until "false";\n')


@dataclass(frozen=True)
class Release:
    """A Debian release whose packages give one GIMP version."""

    gimp: str  # "3.0": gimp-console-3.0, profile folder GIMP/3.0
    suite: str
    name: str
    script: str | None = None  # debootstrap script, when the suite has none of its own
    extra_packages: tuple[str, ...] = ()  # what the README's quick start names for this release

    @property
    def provision_tag(self) -> str:
        return " ".join((PROVISION_VERSION, *self.extra_packages))

    def debootstrap(self, root: Path) -> list[str]:
        script = [f"/usr/share/debootstrap/scripts/{self.script}"] if self.script else []
        return ["debootstrap", "--variant=minbase", self.suite, str(root), MIRROR, *script]


RELEASES = {
    "3.0": Release("3.0", "trixie", "Debian 13"),
    # Debian testing's Python is 3.14, for which TensorFlow has no release yet; it still has 3.13.
    "3.2": Release("3.2", "forky", "Debian testing", script="sid", extra_packages=("python3.13-venv",)),
}
GIMP_VERSIONS = tuple(RELEASES)


def cache_dir() -> Path:
    base = os.environ.get("NST_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "gimp-style-transfer-tests"
    )
    return Path(base)


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def bootstrap(release: Release, root: Path) -> None:
    """A bare minbase Debian of ``release`` in ``root`` whose apt works (Valid-Until relaxed where needed)."""
    if os.geteuid() != 0:
        raise RuntimeError(f"building a {release.name} chroot needs root (debootstrap, chroot); "
                           f"or install gimp-console-{release.gimp}")
    if shutil.which("debootstrap") is None:
        _run(["apt-get", "update", "-qq"])
        _run(["apt-get", "install", "-y", "-qq", "debootstrap"])
    if root.exists():  # a half-made tree from an interrupted run
        unmount_below(root)
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    _run(release.debootstrap(root))
    relax_valid_until(release, root)
    (root / BOOTSTRAPPED).write_text("debootstrap finished\n")


def unmount_below(root: Path) -> None:
    """Unmount what a killed run left mounted inside ``root`` (its /proc), so that deleting the tree deletes only it."""
    inside = str(root.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(inside)]
    for point in sorted(points, key=len, reverse=True):
        _run(["umount", "-l", point])


def relax_valid_until(release: Release, root: Path) -> None:
    """Testing (a suite debootstrap has no script of its own for) may have a stale Release: this chroot accepts it."""
    if release.script:
        path, text = APT_NO_VALID_UNTIL
        (root / path).write_text(text)


def provision_chroot(root: Path, release: Release = RELEASES["3.0"]) -> Path:
    """Build (or finish building) the chroot with ``release``'s GIMP; a no-op when it is ready.

    A run stopped during provisioning (a timeout, Ctrl+C) can leave dpkg interrupted; the next run finishes
    dpkg's work first, and rebuilds the chroot from scratch when apt still fails: never a lasting failure.
    """
    marker = root / PROVISIONED
    if marker.exists() and marker.read_text().strip() == release.provision_tag:
        return root
    if os.geteuid() != 0:
        raise RuntimeError(f"building the GIMP {release.gimp} chroot needs root (debootstrap, chroot); "
                           f"or install gimp-console-{release.gimp}")
    if not (root / BOOTSTRAPPED).exists():
        if marker.exists():  # finished once, before BOOTSTRAPPED existed: debootstrap had run to its end
            (root / BOOTSTRAPPED).write_text("debootstrap finished\n")
        else:
            bootstrap(release, root)
    marker.unlink(missing_ok=True)
    try:
        install_packages(root, release)
    except subprocess.CalledProcessError:
        print(f"the {release.name} chroot could not be repaired; building it again", flush=True)
        bootstrap(release, root)
        install_packages(root, release)
    marker.write_text(release.provision_tag + "\n")
    return root


def install_packages(root: Path, release: Release) -> None:
    """apt-get install the test packages in the chroot, after finishing whatever an interrupted dpkg left."""
    relax_valid_until(release, root)
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
    env = CHROOT_APT_ENV
    _run(["chroot", str(root), "dpkg", "--configure", "-a"], env=env)
    _run(["chroot", str(root), "apt-get", "update", "-qq"], env=env)
    # apt mends broken dependencies only when asked with no package named; a package dpkg was killed inside of
    # stays half-installed ("in a mess") until it is installed again.
    _run(["chroot", str(root), "apt-get", "install", "-y", "-qq", "-f", "--no-install-recommends"], env=env)
    messed = half_installed(root, env)
    if messed:
        _run(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--reinstall", "--no-install-recommends",
              *messed], env=env)
    _run(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES,
          *release.extra_packages], env=env)
    _run(["chroot", str(root), "apt-get", "clean"], env=env)


def half_installed(root: Path, env: dict[str, str]) -> list[str]:
    """Packages whose installation did not finish (dpkg's status other than installed, absent or config files only)."""
    listing = subprocess.run(["chroot", str(root), "dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Package}\n"],
                             env=env, check=True, capture_output=True, text=True).stdout
    return [package for status, package in (line.split("|", 1) for line in listing.splitlines())
            if status[1] not in "inc"]  # installed, absent, config files only


class GimpEnvironment:
    """Runs commands where GIMP 3 is: on the host, or inside the chroot (paths are then chroot paths)."""

    def __init__(self, root: Path | None, version: str = "3.0") -> None:
        self.root = root
        self.version = version
        self.release = RELEASES[version]

    @classmethod
    def provide(cls, version: str = "3.0") -> GimpEnvironment:
        if shutil.which(f"gimp-console-{version}"):
            return cls(None, version)
        release = RELEASES[version]
        return cls(provision_chroot(cache_dir() / release.suite, release), version)

    @property
    def console(self) -> str:
        """The headless GIMP of this version (what scripts run)."""
        return f"gimp-console-{self.version}"

    @property
    def gui(self) -> str:
        """GIMP with its interface (GIMP 3.2 installs no gimp-3.0)."""
        return f"gimp-{self.version}"

    def __str__(self) -> str:
        where = "host" if self.root is None else f"{self.release.name} chroot {self.root}"
        return f"GIMP {self.version} ({where})"

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

if __name__ == "__main__":  # tests/run.py: every GIMP version the suite tests, built once
    for version in sys.argv[1:] or GIMP_VERSIONS:
        print(GimpEnvironment.provide(version))
