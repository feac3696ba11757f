"""The whole suite survives a provisioning that was stopped half-way (a timeout, Ctrl+C): the next run repairs the
GIMP chroot instead of failing on "dpkg was interrupted" for ever after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import gimp

pytestmark = pytest.mark.gimp

VICTIM = "gimp-data"  # large enough (70+ MB unpacked) that dpkg is caught in the middle of unpacking it


def dpkg_unpacking(root: Path) -> bool:
    """Whether a dpkg running in ``root`` is unpacking packages (found through /proc)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            in_root = os.path.realpath(f"/proc/{pid}/root") == str(root.resolve())
        except OSError:
            continue
        if in_root and argv and argv[0].endswith(b"dpkg") and b"--unpack" in argv:
            return True
    return False


def provision() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.support.gimp", "3.0"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_provisioning_killed_inside_dpkg_is_repaired_by_the_next_run():
    environment = gimp.GimpEnvironment.provide("3.0")
    if environment.root is None:
        pytest.skip("the host's GIMP 3.0 is used: there is no chroot to provision")
    root = environment.root
    env = gimp.CHROOT_APT_ENV
    # Provisioning has something to install again: one of GIMP's packages is gone (its dependants left in place).
    subprocess.run(["chroot", str(root), "dpkg", "--remove", "--force-depends", VICTIM], env=env, check=True,
                   capture_output=True)
    (root / gimp.PROVISIONED).unlink()

    run = provision()
    deadline = time.monotonic() + 600
    unpacked = root / "usr/share/gimp/3.0/brushes"  # one of gimp-data's first folders: dpkg is inside its files
    assert not unpacked.exists()
    while not (dpkg_unpacking(root) and unpacked.exists()):
        assert run.poll() is None, f"provisioning ended before dpkg unpacked anything:\n{run.stdout.read()}"
        assert time.monotonic() < deadline, "dpkg never started"
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # what a CI timeout does to the whole process group
    run.wait()

    audit = subprocess.run(["chroot", str(root), "dpkg", "--audit"], env=env, capture_output=True, text=True)
    print("dpkg after the kill:", audit.stdout.strip())
    assert VICTIM in audit.stdout  # left half-installed
    apt = subprocess.run(["chroot", str(root), "apt-get", "check"], env=env, capture_output=True, text=True)
    print("apt after the kill:", apt.stderr.strip())
    assert "dpkg was interrupted" in apt.stderr  # what made every later run fail before (issue 19)

    again = provision()
    output, _ = again.communicate(timeout=900)
    assert again.returncode == 0, output
    assert "building it again" not in output  # repaired in place, not rebuilt (minutes, and a download)
    assert (root / gimp.PROVISIONED).exists()
    version = environment.run([environment.console, "--version"], environment.base_env(), timeout=120)
    assert version.returncode == 0 and "3.0" in version.stdout
    audit = subprocess.run(["chroot", str(root), "dpkg", "--audit"], env=env, capture_output=True, text=True)
    assert audit.stdout.strip() == "", audit.stdout  # nothing left half-done
