#!/usr/bin/env python3
"""Install GIMP Style Transfer for this user: one command, safe to run again.

    python3 install.py                 # plug-in, server environment, VGG19 weights
    python3 install.py --gpu           # the same, with TensorFlow's CUDA libraries (Linux, NVIDIA)
    python3 install.py --weights FILE  # offline: use a weights file you downloaded
    python3 install.py --check         # the doctor: is everything in place and working?
    python3 install.py --uninstall     # remove everything this script put in place

Steps: find the installed GIMP 3s and the profile folder each reads (native,
Flatpak, Snap, macOS, Windows, or GIMP3_DIRECTORY), create the server's own
Python environment from a Python for which TensorFlow has a release (kept apart
from GIMP's Python), fetch the weights once, copy the plug-in with the shared
modules into each profile, make sure GIMP's Python can reach the server (its own
pyzmq, a copy built for it outside the profile, or the stdio bridge) and record
in the plug-in's server.json how to start the server.  A second run finds
everything in place and changes nothing.  The pieces are in installer/.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
from installer import gimp_python as gimp_side  # noqa: E402  (standard library only)
from installer import quiet, server_python  # noqa: E402
from installer.doctor import doctor  # noqa: E402
from installer.gimps import (  # noqa: E402
    InstalledGimp,
    Profile,
    find_gimps,
    host_platform,
    install_targets,
    profile_candidates,
    profile_kind,
)
from installer.plugin_files import MARKER, flatpak_advice, install_plugin, server_config  # noqa: E402
from nst_server import paths, runtime  # noqa: E402

STAMP = ".nst-install-stamp"


def say(message: str) -> None:
    print(f"[install] {message}", flush=True)


def find_profiles(explicit: list[str] | None = None, platform: str | None = None,
                  gimps: list[InstalledGimp] | None = None) -> list[Profile]:
    """The profiles to install into: given ones, GIMP3_DIRECTORY, or those the installed GIMPs read."""
    if explicit:
        return [Profile(Path(p).expanduser(), profile_kind(Path(p).expanduser(), platform)) for p in explicit]
    if os.environ.get("GIMP3_DIRECTORY"):
        path = Path(os.environ["GIMP3_DIRECTORY"]).expanduser()
        return [Profile(path, profile_kind(path, platform))]
    return install_targets(gimps if gimps is not None else [], platform)


def venv_python(venv: Path, platform: str | None = None) -> Path:
    return venv / ("Scripts/python.exe" if host_platform(platform) == "win32" else "bin/python")


def run(cmd: list[str], what: str, **kw) -> None:
    say(what)
    result = subprocess.run(cmd, **kw)
    if result.returncode != 0:
        raise SystemExit(f"[install] failed: {what} (exit code {result.returncode}). "
                         "Check your network connection (or pip's proxy settings) and run install.py again.")


# ----------------------------------------------------------------------------------------------- server side

def source_digest(gpu: bool, prerelease: bool = False) -> str:
    """Changes whenever what pip would install changes: the package's files and the options."""
    digest = hashlib.sha256(f"gpu={gpu}\nprerelease={prerelease}\n".encode())
    for path in [REPO / "pyproject.toml", *sorted((REPO / "nst_server").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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
    from nst_server import weights  # standard library at import time

    spec = weights.KERAS_WEIGHTS["vgg19"]
    dest = paths.weights_dir() / (spec.keras3_filename if source.name.endswith(".weights.h5") else spec.filename)
    if not dest.is_file() or dest.stat().st_size != source.stat().st_size:
        return False
    return weights.md5sum(dest) == weights.md5sum(source)


def install_weights(python: Path, weights_file: str | None) -> bool:
    """True when weights are in place; otherwise the server's clear message has been shown."""
    if weights_file:
        source = Path(weights_file).expanduser().resolve()
        if source.is_file() and installed_weights_match(source):
            say(f"the weights file {weights_file} is already installed")
            return True
        cmd = [str(python), "-m", "nst_server", "weights", "install", str(source)]
        say(f"installing the weights file {weights_file}")
    else:
        cmd = [str(python), "-m", "nst_server", "weights", "fetch"]
        say("the VGG19 ImageNet weights (about 80 MB, downloaded once, checked against Keras's md5)")
    return quiet.run(cmd, quiet.quiet_env(paths.data_dir())) == 0


# ------------------------------------------------------------------------------------------------ uninstall

def stop_running_server(runtime_dir: Path | None = None) -> None:
    info = runtime.read_runtime_info(runtime_dir)
    if info is None or info.curve_server_key or not hasattr(signal, "SIGKILL"):
        return
    try:
        os.kill(info.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def remove_empty_parents(path: Path, stop: Path) -> None:
    while path != stop and stop in path.parents and path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        path = path.parent


def uninstall(profiles: list[Profile | Path], platform: str | None = None) -> None:
    home = Path.home()
    stop_running_server()
    candidates = [p if isinstance(p, Profile) else Profile(p, profile_kind(p)) for p in profiles]
    for profile in {*candidates, *profile_candidates(platform)}:
        dest = profile.plugin_dir
        if (dest / MARKER).exists():
            shutil.rmtree(dest)
            say(f"removed the plug-in from {dest}")
            remove_empty_parents(dest.parent, home)
    runtime_folder = paths.runtime_dir()
    if runtime_folder.is_dir() and {p.name for p in runtime_folder.iterdir()} <= {
            runtime.RUNTIME_FILE, runtime.LOCK_FILE, runtime.SOCKET_FILE}:
        shutil.rmtree(runtime_folder)  # the stopped server's socket folder
        remove_empty_parents(runtime_folder.parent, home)
    for folder in (paths.venv_dir(), paths.weights_dir(), paths.data_dir() / "keras", gimp_side.vendor_root("native"),
                   gimp_side.vendor_root("snap"), paths.state_dir()):
        if folder.exists():
            shutil.rmtree(folder)
            say(f"removed {folder}")
        remove_empty_parents(folder.parent, home)
    (paths.data_dir() / "speed.json").unlink(missing_ok=True)  # the server's measured speed
    remove_empty_parents(paths.data_dir(), home)


# ----------------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install GIMP Style Transfer for this user.")
    parser.add_argument("--gpu", action="store_true", help="install TensorFlow with CUDA (Linux, NVIDIA GPUs)")
    parser.add_argument("--weights", metavar="FILE", help="use this local VGG19 weights file instead of downloading")
    parser.add_argument("--check", action="store_true", help="check the installation and run a tiny stylization")
    parser.add_argument("--uninstall", action="store_true", help="remove the plug-in, server environment and weights")
    parser.add_argument("--profile", action="append", metavar="DIR",
                        help="GIMP profile folder to install into (default: every GIMP 3 profile found)")
    parser.add_argument("--remote", metavar="FILE",
                        help="use a remote server: the connection file made by 'nst_server remote-add-client'")
    parser.add_argument("--server-python", metavar="PYTHON",
                        help="run the server with this existing Python environment (it must have the package "
                             "installed, e.g. a development .venv) instead of making one")
    parser.add_argument(server_python.PRERELEASE_OPTION, action="store_true",
                        help="where TensorFlow has no release for any Python on this machine, install its "
                             "pre-release (may not work)")
    parser.add_argument("--platform", choices=("linux", "darwin", "win32"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    gimps = find_gimps(args.platform)
    profiles = find_profiles(args.profile, args.platform, gimps)
    if args.uninstall:
        uninstall(profiles, args.platform)
        return 0
    if args.check:
        return doctor(profiles, gimps, host_platform(args.platform), paths.venv_dir(), follow_gimps=not args.profile)
    for gimp in gimps:
        say(f"found GIMP {gimp.version} ({gimp.where})")
    if args.remote:
        info = runtime.read_info_file(Path(args.remote))
        if info is None or not info.curve_server_key:
            raise SystemExit(f"[install] {args.remote} is not a connection file made by 'nst_server remote-add-client'")
        local = Path(args.server_python) if args.server_python else venv_python(paths.venv_dir())
        local = local if local.exists() else None
        for profile in profiles:
            use_bridge, vendor = gimp_side.reach_server(profile, local, say)
            dest = install_plugin(profile, local, info.to_json(), use_bridge, vendor)
            say(f"plug-in installed in {dest}, using the server at {info.endpoint}")
        return 0
    if args.server_python:
        python = Path(args.server_python).absolute()
        say(f"using the existing server environment {python}")
    else:
        python = install_server_env(paths.venv_dir(), args.gpu, args.tensorflow_prerelease)
    weights_ok = install_weights(python, args.weights)
    for profile in profiles:
        use_bridge, vendor = gimp_side.reach_server(profile, python, say)
        say(f"plug-in installed in {install_plugin(profile, python, None, use_bridge, vendor)}")
        if profile.kind == "flatpak":
            say(flatpak_advice(venv_python(paths.venv_dir())))
        if profile.kind == "snap":
            say("Snap: if GIMP cannot start the server from inside its sandbox, start it yourself first: "
                f"'{python} -m nst_server serve --runtime-dir {server_config(profile, python, None, True)['runtime_dir']}'")
    if not weights_ok:
        say("Everything else is installed, but the model weights are missing (see above). "
            "Run 'python3 install.py --weights FILE' once you have the file.")
        return 1
    say("Done. Restart GIMP, open an image and choose Filters > Style Transfer > Apply Style... "
        "('python3 install.py --check' tests the whole chain.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
