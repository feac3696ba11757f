"""A newcomer's first five minutes: a fresh clone in a clean Debian 13, following the README word for word.

The chroot starts from a bare ``debootstrap --variant=minbase trixie`` (built
once and kept as a tarball: that is the only thing reused, with apt's and pip's
download caches), gets only the packages the README's quick start names, and
then, as an ordinary user, a fresh ``git clone`` of this repository runs the
README's first command verbatim.  Where the VGG19 download is impossible (no
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
from tests.support.gimp import CHROOT_CA_BUNDLE, HOST_CA_BUNDLE, MIRROR, cache_dir

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
        "packages": re.search(r"`sudo apt install ([^`]+)`", quick).group(1),
        "commands": commands,
        "offline": re.search(r"`(python3 install\.py --weights FILE)`", offline).group(1),
    }


def base_tarball() -> Path:
    """A bare minbase trixie, made once with debootstrap and kept as a tarball."""
    if os.geteuid() != 0:
        raise RuntimeError("the newcomer test needs root (debootstrap, chroot)")
    tarball = cache_dir() / "newcomer" / "trixie-minbase.tar.gz"
    if tarball.exists():
        return tarball
    build = tarball.parent / "build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    subprocess.run(["debootstrap", "--variant=minbase", "trixie", str(build), MIRROR], check=True)
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
def clean_debian(root: Path):
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xzf", str(base_tarball())], check=True)
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


def test_a_newcomer_follows_the_readme_in_a_clean_debian_13(tmp_path, vgg19_weights):
    steps = readme_steps()
    assert steps["commands"] == ["python3 install.py", "python3 tests/run.py"]  # the two set-up commands
    with clean_debian(tmp_path / "root") as debian:
        # 1. What the README asks for before anything else (as root: there is no sudo in a bare Debian).
        apt = steps["packages"]
        assert debian.run(f"apt-get update -qq && apt-get install -y -qq {apt}", user=False).returncode == 0
        assert debian.run(f"useradd -m -u {UID} {USER} && chown -R {UID}:{UID} /home/{USER}", user=False).returncode == 0
        # 2. A fresh clone (of this checkout's committed state, standing in for the public URL).
        debian.bind(REPO, "/src")
        assert debian.run(f"git config --global --add safe.directory '*' && git clone -q file:///src {CLONE}").returncode == 0
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
        for expected in ("OK    GIMP 3 found", "OK    plug-in in place and executable: "
                         f"/home/{USER}/.config/GIMP/3.0/plug-ins/style_transfer/style_transfer.py",
                         "OK    GIMP's Python (/usr/bin/python3) imports pyzmq", "OK    server environment",
                         "OK    round trip"):
            assert any(line.startswith(expected) for line in lines), expected
        # 5. Running it again changes nothing: pip is not run again.
        again = debian.run(f"cd {CLONE} && {steps['commands'][0]} --weights /home/{USER}/vgg19.h5"
                           if first.returncode else f"cd {CLONE} && {steps['commands'][0]}")
        assert again.returncode == 0 and "the server's Python environment is up to date" in again.stdout
