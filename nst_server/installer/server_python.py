"""A Python for the server's environment for which TensorFlow has a release.

pip installs a pre-release without a word when a Python has nothing else (Debian
testing's Python 3.14 got ``tensorflow 2.22.0rc0`` and ``keras-nightly``).  So
before installing, pip's index is asked which TensorFlow each Python on the
machine would get: the Python that runs install.py when it has a release, else
the newest other ``python3.N`` that has one and can make virtual environments.
Where none has, the installer says so and stops, unless the user asked for the
pre-release.

Standard library only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nst_server.installer.gimps import host_platform

PRERELEASE_OPTION = "--tensorflow-prerelease"
_PRERELEASE = re.compile(r"\d(a|b|rc|c|dev|\.dev)\d*")


@dataclass(frozen=True)
class Choice:
    python: Path  # the Python the server's environment is made from
    version: str  # "3.13"
    tensorflow: str | None  # what pip's index offers it (None: the index could not be asked)
    prerelease: bool = False


def is_prerelease(version: str) -> bool:
    """True for versions like 2.22.0rc0, 2.21.0a1, 2.22.0.dev20260101."""
    return bool(_PRERELEASE.search(version))


def python_version(python: Path | str) -> str | None:
    """'3.13' for that interpreter, or None when it does not run."""
    try:
        result = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def makes_venvs(python: Path | str) -> bool:
    """Debian and Ubuntu split venv's ensurepip into pythonX.Y-venv."""
    try:
        return subprocess.run([str(python), "-c", "import ensurepip, venv"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def other_pythons(exclude: str) -> list[tuple[str, Path]]:
    """(version, path) of the python3.N on PATH other than version ``exclude``, newest first."""
    found = []
    for minor in range(30, 9, -1):
        version = f"3.{minor}"
        path = shutil.which(f"python{version}")
        if version != exclude and path:
            found.append((version, Path(path)))
    return found


def tensorflow_for(pip_python: Path, version: str, pre: bool = False) -> str | None:
    """The TensorFlow pip's index would give Python ``version`` (releases only unless ``pre``), or None."""
    cmd = [str(pip_python), "-m", "pip", "index", "versions", "tensorflow", "--python-version", version,
           "--only-binary=:all:", "--disable-pip-version-check", "--retries", "1", "--timeout", "30",
           *(["--pre"] if pre else [])]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^tensorflow \(([^)]+)\)", result.stdout, re.M)
    return match.group(1) if result.returncode == 0 and match else None


def choose(pip_python: Path, current: tuple[str, Path], allow_prerelease: bool,
           say: Callable[[str], None]) -> Choice:
    """The Python to make the server's environment from (``current``: the venv's or install.py's own).

    ``pip_python`` is any Python with pip (the venv being made) to ask the index with.
    Raises SystemExit with what to do when no Python here has a released TensorFlow.
    """
    version, python = current
    release = tensorflow_for(pip_python, version)
    if release:
        return Choice(python, version, release)
    pre = tensorflow_for(pip_python, version, pre=True)
    if pre is None:  # the index cannot be reached: pip's own install will say why
        return Choice(python, version, None)
    unusable = []
    for other_version, other in other_pythons(version):
        other_release = tensorflow_for(pip_python, other_version)
        if not other_release:
            continue
        if makes_venvs(other):
            say(f"TensorFlow has no release for Python {version} yet (only the pre-release {pre}); "
                f"the server gets Python {other_version} ({other}) with TensorFlow {other_release}")
            return Choice(other, other_version, other_release)
        unusable.append((other_version, other))
    if allow_prerelease:
        say(f"TensorFlow has no release for Python {version} yet: installing the pre-release {pre}, "
            f"as {PRERELEASE_OPTION} asks (it may not work; 'python3 install.py --check' names it)")
        return Choice(python, version, pre, prerelease=True)
    raise SystemExit(no_release_message(pip_python, version, pre, unusable))


def no_release_message(pip_python: Path, version: str, pre: str, unusable: list[tuple[str, Path]]) -> str:
    newest = None
    minor = int(version.split(".")[1])
    for older in range(minor - 1, 9, -1):  # which Python the newest release is for, to name it
        if release := tensorflow_for(pip_python, f"3.{older}"):
            newest = (f"3.{older}", release)
            break
    lines = [f"[install] TensorFlow has no release for Python {version} yet (PyPI has only the pre-release {pre} for it), "
             "and no other Python on this machine has one."]
    for other_version, other in unusable:
        lines.append(f"[install] Python {other_version} is here ({other}) but cannot make virtual environments"
                     + (f": 'sudo apt install python{other_version}-venv' fixes that." if shutil.which("apt-get") else "."))
    if newest:
        apt = f" (Debian, Ubuntu: 'sudo apt install python{newest[0]}-venv')" if shutil.which("apt-get") else ""
        lines.append(f"[install] Either install Python {newest[0]}, for which TensorFlow {newest[1]} is released{apt}, "
                     "and run 'python3 install.py' again: it finds that Python by itself;")
    else:
        lines.append("[install] Either install an older Python that TensorFlow supports and run install.py with it;")
    lines.append(f"[install] or run 'python3 install.py {PRERELEASE_OPTION}' to use the pre-release (it may not work).")
    return "\n".join(lines)


def venv_base_version(venv: Path) -> str | None:
    """The Python version a virtual environment was made with (its pyvenv.cfg), or None."""
    try:
        text = (venv / "pyvenv.cfg").read_text()
    except OSError:
        return None
    match = re.search(r"^(?:version|version_info)\s*=\s*(\d+\.\d+)", text, re.M)
    return match.group(1) if match else None


def venv_python(venv: Path, platform: str | None = None) -> Path:
    """The Python of a virtual environment, on this platform (or ``platform``'s)."""
    return venv / ("Scripts/python.exe" if host_platform(platform) == "win32" else "bin/python")


def this_python() -> tuple[str, Path]:
    return f"{sys.version_info[0]}.{sys.version_info[1]}", Path(sys.executable)
