"""A newcomer's first five minutes: a fresh clone in a clean Debian, following the README word for word.

Twice: Debian 13 (GIMP 3.0) and Debian testing (GIMP 3.2, Python 3.14).  Each
chroot starts from a bare ``debootstrap --variant=minbase`` (built once and
kept as a tarball: that is the only thing reused, with apt's and pip's download
caches), gets only the packages the README's quick start names for it, and
then, as an ordinary user, a fresh ``git clone`` of this repository runs the
README's first command verbatim.  On Debian testing the newcomer first installs
what the Debian 13 line names: install.py must then say plainly that TensorFlow
has no release for Python 3.14 and what to install, and work once that is done.  Where the VGG19 download is impossible (no
internet here) it must say so and the README's offline command must finish the
job.  Then the doctor (``python3 install.py --check``) must pass, round trip
through the real server included.  The README's second command runs this whole
suite, so it is not run again in here; the doctor's round trip stands in for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.gimp import CHROOT_CA_BUNDLE, GIMP_VERSIONS, HOST_CA_BUNDLE, RELEASES, Release, bootstrap, cache_dir

pytestmark = pytest.mark.newcomer

USER, UID = "newcomer", 1000
CLONE = f"/home/{USER}/gimp-style-transfer"


def readme_steps() -> dict[str, str]:
    """The commands the README gives a newcomer, as written there."""
    text = (REPO / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S).group(1)
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    offline = text.split("## Offline machines", 1)[1].split("\n## ", 1)[0]
    return {
        "packages": re.findall(r"`sudo apt install ([^`]+)`", quick),  # Debian 13, then Debian testing
        "commands": commands,
        "offline": re.search(r"`(python3 install\.py --weights FILE)`", offline).group(1),
    }


def base_tarball(release: Release) -> Path:
    """A bare minbase Debian of ``release``, made once with debootstrap and kept as a tarball."""
    if os.geteuid() != 0:
        raise RuntimeError("the newcomer test needs root (debootstrap, chroot)")
    tarball = cache_dir() / "newcomer" / f"{release.suite}-minbase.tar.gz"
    if tarball.exists():
        return tarball
    build = tarball.parent / f"build-{release.suite}"
    bootstrap(release, build)
    subprocess.run(["tar", "-C", str(build), "-czf", f"{tarball}.part", "."], check=True)
    os.replace(f"{tarball}.part", tarball)
    shutil.rmtree(build)
    return tarball


class Chroot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounts: list[Path] = []

    def bind(self, host: Path, inner: str) -> None:
        host.mkdir(parents=True, exist_ok=True)
        target = self.root / inner.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(host), str(target)], check=True)
        self.mounts.append(target)

    def run(self, script: str, user: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
               "HOME": f"/home/{USER}" if user else "/root", "DEBIAN_FRONTEND": "noninteractive",
               "PIP_CERT": CHROOT_CA_BUNDLE}  # the host's CAs, a TLS-intercepting proxy's included
        cmd = ["chroot", *([f"--userspec={UID}:{UID}"] if user else []), str(self.root),
               "env", "-i", *(f"{k}={v}" for k, v in env.items()), "sh", "-c", script]
        started = time.monotonic()
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        print(f"$ {script}  [{time.monotonic() - started:.0f} s, exit {result.returncode}]\n"
              f"{result.stdout[-4000:]}{result.stderr[-3000:]}", flush=True)
        return result

    def close(self) -> None:
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(target)], check=False)


@contextlib.contextmanager
def clean_debian(root: Path, release: Release):
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xzf", str(base_tarball(release))], check=True)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / CHROOT_CA_BUNDLE.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, root / CHROOT_CA_BUNDLE.lstrip("/"))
    chroot = Chroot(root)
    try:
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        chroot.mounts.append(root / "proc")
        # As on a booted Debian: /dev/shm is a tmpfs every user may use (Python's multiprocessing needs it).
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", str(root / "dev/shm")], check=True)
        chroot.mounts.append(root / "dev/shm")
        # Download caches only: every package is still installed, every wheel still installed fresh.
        chroot.bind(cache_dir() / "newcomer" / "apt-archives", "/var/cache/apt/archives")
        chroot.bind(cache_dir() / "newcomer" / "pip-cache", f"/home/{USER}/.cache/pip")
        yield chroot
    finally:
        runtime = root / f"tmp/gimp-style-transfer-{UID}/server.json"
        if runtime.exists():
            import json

            with contextlib.suppress(ProcessLookupError, ValueError, KeyError):
                os.kill(json.loads(runtime.read_text())["pid"], 15)
                time.sleep(2)
        chroot.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("gimp_version", GIMP_VERSIONS, ids=lambda v: f"gimp-{v}")
def test_a_newcomer_follows_the_readme_in_a_clean_debian(gimp_version, tmp_path, vgg19_weights):
    release = RELEASES[gimp_version]
    steps = readme_steps()
    assert steps["commands"] == ["python3 install.py", "python3 tests/run.py"]  # the two set-up commands
    debian_13, debian_testing = steps["packages"]
    with clean_debian(tmp_path / "root", release) as debian:
        # 1. What the README asks for before anything else (as root: there is no sudo in a bare Debian).
        apt = debian_testing if release.extra_packages else debian_13
        if release.extra_packages:  # first only the Debian 13 line, as a newcomer who missed the other might
            assert debian.run(f"apt-get update -qq && apt-get install -y -qq {debian_13}", user=False).returncode == 0
        else:
            assert debian.run(f"apt-get update -qq && apt-get install -y -qq {apt}", user=False).returncode == 0
        assert debian.run(f"useradd -m -u {UID} {USER} && chown -R {UID}:{UID} /home/{USER}", user=False).returncode == 0
        # 2. A fresh clone (of this checkout's committed state, standing in for the public URL).
        debian.bind(REPO, "/src")
        assert debian.run(f"git config --global --add safe.directory '*' && git clone -q file:///src {CLONE}").returncode == 0
        if release.extra_packages:
            # Python 3.14 only: TensorFlow has no release for it. install.py says so and what to install, nothing more.
            refused = debian.run(f"cd {CLONE} && {steps['commands'][0]}")
            said = refused.stdout + refused.stderr
            assert refused.returncode == 1 and "Traceback" not in said
            assert "TensorFlow has no release for Python 3.14 yet" in said and "--tensorflow-prerelease" in said
            advice = re.search(r"'sudo apt install (python3\.\d+-venv)'", said).group(1)
            assert advice in apt.split(), (advice, apt)  # the README's Debian testing line says the same
            assert debian.run(f"apt-get install -y -qq {apt}", user=False).returncode == 0
        # 3. The README's first command, verbatim.
        first = debian.run(f"cd {CLONE} && {steps['commands'][0]}")
        output = first.stdout + first.stderr
        assert "Traceback" not in output
        if first.returncode != 0:  # no internet for the weights here: it must say so, and the offline way must work
            assert first.returncode == 1 and "Could not download the VGG19 weights" in output, output[-3000:]
            assert "python3 install.py --weights FILE" in output
            shutil.copyfile(vgg19_weights, tmp_path / "root" / f"home/{USER}/vgg19.h5")
            offline = steps["offline"].replace("FILE", f"/home/{USER}/vgg19.h5")
            assert debian.run(f"cd {CLONE} && {offline}").returncode == 0
        # 4. The doctor: everything in place, a tiny stylization through the real server.
        doctor = debian.run(f"cd {CLONE} && python3 install.py --check", timeout=900)
        lines = doctor.stdout.splitlines()
        if doctor.returncode != 0:
            debian.run(f"tail -n 30 /home/{USER}/.local/state/gimp-style-transfer/*.log")
        assert doctor.returncode == 0, doctor.stdout
        for expected in (f"OK    GIMP {gimp_version} found", "OK    plug-in in place and executable: "
                         f"/home/{USER}/.config/GIMP/{gimp_version}/plug-ins/style_transfer/style_transfer.py",
                         "OK    GIMP's Python (/usr/bin/python3) imports pyzmq", f"OK    GIMP {gimp_version} lists the plug-in",
                         "OK    server environment", "OK    round trip"):
            assert any(line.startswith(expected) for line in lines), expected
        server = next(line for line in lines if line.startswith("OK    server environment"))
        assert "(a release)" in server, server
        # 5. Running it again changes nothing: pip is not run again.
        again = debian.run(f"cd {CLONE} && {steps['commands'][0]} --weights /home/{USER}/vgg19.h5"
                           if first.returncode else f"cd {CLONE} && {steps['commands'][0]}")
        assert again.returncode == 0 and "the server's Python environment is up to date" in again.stdout
