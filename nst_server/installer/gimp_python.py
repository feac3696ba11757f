"""GIMP's own Python and its pyzmq: the system's, or a copy built for exactly that Python.

The copy lives outside GIMP's profile (in our data folder; for the Snap in a
folder the snap can read): GIMP 3.2's first start copies the 3.0 profile but
leaves out folders six levels deep, such as ``zmq/backend/cython``, so a copy
inside the plug-in's folder would break there.  server.json's ``vendor`` names
the folder for the plug-in.

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from nst_server.client import paths
from nst_server.installer.gimps import Profile

PYZMQ_REQUIREMENT = "pyzmq>=25"
VENDOR_STAMP = ".nst-vendor-stamp"


def gimp_python(profile: Profile) -> Path | None:
    """The Python GIMP runs this profile's plug-ins with, where install.py can run it too."""
    if os.environ.get("NST_GIMP_PYTHON"):
        return Path(os.environ["NST_GIMP_PYTHON"])
    if profile.kind == "native":  # '#!/usr/bin/env python3' under GIMP's PATH: the system Python
        found = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
        return Path(found) if found else None
    if profile.kind == "snap":
        snap_python = Path("/snap/gimp/current/usr/bin/python3")
        return snap_python if snap_python.exists() else None
    return None  # Flatpak, macOS, Windows: a bundled Python; the bridge serves them


def vendor_root(kind: str) -> Path:
    """Where pyzmq copies for GIMP's Python live: outside every GIMP profile."""
    if kind == "snap":  # a strictly confined snap reads its own folders only
        return Path.home() / "snap" / "gimp" / "common" / "nst-vendor"
    return paths.data_dir() / "vendor"


def vendor_dir(kind: str, python: Path, version: str) -> Path:
    """The copy for one Python: named by its version and path, shared by every profile that uses it."""
    digest = hashlib.sha256(f"{python}\n{version}".encode()).hexdigest()[:10]
    return vendor_root(kind) / f"python{'.'.join(version.split('.')[:2])}-{digest}"


def python_version(python: Path) -> str:
    result = subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                            capture_output=True, text=True)
    return result.stdout.strip()


def python_imports_pyzmq(python: Path, extra_path: Path | str | None = None) -> str | None:
    """pyzmq's and libzmq's versions when ``python`` can import a recent enough pyzmq, else None."""
    code = ("import sys\nif len(sys.argv) > 1: sys.path.append(sys.argv[1])\nimport zmq\n"
            "assert zmq.zmq_version_info() >= (4, 3, 3), zmq.zmq_version()\n"
            "print(zmq.__version__, zmq.zmq_version(), zmq.__file__)")
    try:
        result = subprocess.run([str(python), "-c", code, *([str(extra_path)] if extra_path else [])],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def vendor_pyzmq(pip_python: Path, target_python: Path, dest: Path, say: Callable[[str], None]) -> bool:
    """A pyzmq built for ``target_python``'s exact version in ``dest`` (pip --python ... --target)."""
    stamp = f"{target_python}\n{python_version(target_python)}\n{PYZMQ_REQUIREMENT}\n"
    if (dest / VENDOR_STAMP).is_file() and (dest / VENDOR_STAMP).read_text() == stamp \
            and python_imports_pyzmq(target_python, dest):
        return True
    shutil.rmtree(dest, ignore_errors=True)
    say(f"GIMP's Python ({target_python}) has no pyzmq: installing a copy for it in {dest}")
    result = subprocess.run([str(pip_python), "-m", "pip", "--python", str(target_python), "install", "-q",
                             "--disable-pip-version-check", "--only-binary=:all:", "--target", str(dest),
                             PYZMQ_REQUIREMENT])
    if result.returncode != 0 or not python_imports_pyzmq(target_python, dest):
        shutil.rmtree(dest, ignore_errors=True)
        return False
    (dest / VENDOR_STAMP).write_text(stamp)
    return True


def reach_server(profile: Profile, pip_python: Path | None, say: Callable[[str], None]) -> tuple[bool, Path | None]:
    """Make GIMP's Python able to talk to the server: (use the stdio bridge, folder of a pyzmq copy or None)."""
    shutil.rmtree(profile.plugin_dir / "vendor", ignore_errors=True)  # where earlier versions put the copy
    python = gimp_python(profile)
    if python is None or profile.kind == "flatpak":
        say(f"{profile.kind}: the plug-in reaches the server through the bridge helper"
            + (" started outside the sandbox with flatpak-spawn --host" if profile.kind == "flatpak" else ""))
        return True, None
    if python_imports_pyzmq(python):
        return False, None  # the system's own pyzmq
    dest = vendor_dir(profile.kind, python, python_version(python))
    if pip_python is not None and vendor_pyzmq(pip_python, python, dest, say):
        return False, dest
    say(f"WARNING: no pyzmq for GIMP's Python ({python}); the plug-in will use the bridge helper instead. "
        "(On Debian or Ubuntu 'sudo apt install python3-zmq' gives GIMP its own.)")
    return True, None
