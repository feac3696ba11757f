"""The server's own Python environment and the model weights.

The environment is made from a Python for which TensorFlow has a release
(server_python.py) and gets this checkout installed with pip, only when what
pip would install changed (a stamp holds a digest of the package's files and
the options).  The weights are fetched, or a given file installed, by the
server's own command line.

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from nst_server.client import paths, weight_files
from nst_server.installer import REPO, quiet, server_process, server_python
from nst_server.installer.gimps import host_platform
from nst_server.installer.quiet import say
from nst_server.installer.server_python import venv_python

STAMP = ".nst-install-stamp"


PIP_QUIET_ENV = {"PIP_ROOT_USER_ACTION": "ignore", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}
FAILURE_LINES = 12  # of a failed command's output, the last ones (pip's error is at the end)


def run(cmd: list[str], what: str) -> None:
    """Say ``what``, run ``cmd`` with its output kept back, and show that output only when it fails: pip's
    hundred lines of downloads help no one when they work; when they fail, its error is what matters."""
    say(what)
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env={**os.environ, **PIP_QUIET_ENV})
    if result.returncode != 0:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        errors = [line for line in lines if line.lstrip().startswith("ERROR")]
        shown = "\n".join(f"    {line}" for line in (errors or lines)[-FAILURE_LINES:])
        raise SystemExit(f"[install] failed: {what} (exit code {result.returncode}):\n{shown}\n"
                         "[install] Check your network connection (or pip's proxy settings) and run install.py again.")


def source_digest(gpu: bool, prerelease: bool = False) -> str:
    """Changes whenever what pip would install changes: the package's files (every subpackage) and the options."""
    digest = hashlib.sha256(f"gpu={gpu}\nprerelease={prerelease}\n".encode())
    package = REPO / "nst_server"
    for path in [REPO / "pyproject.toml", *sorted(package.rglob("*.py"))]:
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def stop_running_server(runtime_dir: Path | None = None) -> int | None:
    """Stop this user's local server whose runtime file is in ``runtime_dir`` (the default one), if one runs and
    is proven to be it (server_process.py); its pid, if one was stopped."""
    server = server_process.find_running_server(runtime_dir)
    if server is None:
        return None
    server_process.terminate(server)
    return server.pid


def make_venv(python: Path | str, venv: Path, clear: bool = False) -> None:
    if not server_python.makes_venvs(python):
        raise SystemExit(f"[install] this Python ({python}) cannot create virtual environments. On Debian or Ubuntu: "
                         "'sudo apt install python3-venv', then run install.py again.")
    run([str(python), "-m", "venv", *(["--clear"] if clear else []), str(venv)],
        f"creating the server's Python environment in {venv}")


def install_server_env(venv: Path, gpu: bool = False, allow_prerelease: bool = False) -> Path:
    """The server's venv with this repository installed, from a Python TensorFlow has released for;
    pip runs only when something changed."""
    if sys.version_info < (3, 10):  # noqa: UP036 (install.py itself may run on an older python3)
        raise SystemExit("[install] the server needs Python 3.10 or newer; run install.py with a newer python3")
    python = venv_python(venv)
    stamp = venv / STAMP
    wanted = source_digest(gpu, allow_prerelease)
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        say(f"the server's Python environment is up to date ({venv})")
        return python
    # A server started from the code about to be replaced would go on with it, and its worker, started anew
    # after a crash, would load the new code beside the old: the plug-in starts the new one on its next job.
    if (pid := stop_running_server()) is not None:
        say(f"stopped the running server (pid {pid}) before updating it; GIMP's next job starts the new one")
    current = (server_python.venv_base_version(venv), python) if python.exists() else server_python.this_python()
    if not python.exists() or current[0] is None:
        make_venv(sys.executable, venv, clear=python.exists())
        current = server_python.this_python()
    choice = server_python.choose(python, current, allow_prerelease, say)
    if choice.version != server_python.venv_base_version(venv):
        make_venv(choice.python, venv, clear=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--upgrade"]
    run([*pip, str(REPO)], "installing the server and its dependencies (TensorFlow is large: the first time takes a while)")
    if gpu:
        if host_platform() == "linux":
            run([*pip, "tensorflow[and-cuda]"], "installing TensorFlow's CUDA libraries for NVIDIA GPUs")
        else:
            say("--gpu: TensorFlow uses CUDA GPUs on Linux only (on Windows: inside WSL2); installing for the CPU")
    installed = subprocess.run([str(python), "-c", "from importlib.metadata import version; print(version('tensorflow'))"],
                               capture_output=True, text=True).stdout.strip()
    if installed:
        kind = "a pre-release, as asked" if server_python.is_prerelease(installed) else "a release"
        say(f"the server runs Python {choice.version} with TensorFlow {installed} ({kind})")
    stamp.write_text(wanted + "\n")
    return python


def installed_weights_match(source: Path) -> bool:
    spec = weight_files.KERAS_WEIGHTS["vgg19"]
    dest = paths.weights_dir() / (spec.keras3_filename if source.name.endswith(".weights.h5") else spec.filename)
    if not dest.is_file() or dest.stat().st_size != source.stat().st_size:
        return False
    return weight_files.md5sum(dest) == weight_files.md5sum(source)


def installed_vgg19() -> Path | None:
    """The VGG19 weights file install.py put in place earlier (either of Keras's two names), if any."""
    spec = weight_files.KERAS_WEIGHTS["vgg19"]
    return next((path for name in (spec.filename, spec.keras3_filename)
                 if (path := paths.weights_dir() / name).is_file()), None)


def described(path: Path) -> str:
    """A weights file as the user should know it: Keras's ImageNet file, or not (the look is tuned on it)."""
    if weight_files.md5sum(path) == weight_files.KERAS_WEIGHTS["vgg19"].md5:
        return "Keras's VGG19 ImageNet file"
    return ("not Keras's VGG19 ImageNet file (its md5 differs): results will not look as tuned; "
            "'python3 install.py --weights FILE' with the ImageNet file replaces it")


def install_weights(python: Path, weights_file: str | None) -> bool:
    """True when weights are in place; otherwise the server's clear message has been shown.  Every run says
    which file is in place and whether it is the ImageNet one."""
    if weights_file:
        source = Path(weights_file).expanduser().resolve()
        if source.is_file() and installed_weights_match(source):
            say(f"the weights file {weights_file} is already installed: {described(source)}")
            return True
        cmd = [str(python), "-m", "nst_server", "weights", "install", str(source)]
        say(f"installing the weights file {weights_file}")
    elif (installed := installed_vgg19()) is not None:
        say(f"the weights are installed ({installed}): {described(installed)}")
        return True
    else:
        cmd = [str(python), "-m", "nst_server", "weights", "fetch"]
        say("downloading the VGG19 ImageNet weights (about 80 MB, once; checked against Keras's md5)")
    return quiet.run(cmd, quiet.quiet_env(paths.data_dir())) == 0
