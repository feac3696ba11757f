#!/usr/bin/env python3
"""Install GIMP Style Transfer for this user: one command, safe to run again.

    python3 install.py                 # plug-in, server environment, VGG19 weights
    python3 install.py --weights FILE  # offline: use a weights file you downloaded
    python3 install.py --uninstall     # remove everything this script put in place

Steps: find the GIMP 3 profiles, create the server's own Python environment
(TensorFlow and friends, kept apart from GIMP's Python), fetch the weights once,
copy the plug-in with the shared protocol modules into each profile, and record
there how to start the server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
from nst_server import __version__, paths, runtime  # noqa: E402  (standard library only)

PLUGIN_NAME = "style_transfer"
MARKER = ".installed-by-gimp-style-transfer"
# The plug-in carries these server modules: the one definition of the protocol.
SHARED_MODULES = ("__init__.py", "paths.py", "protocol.py", "runtime.py", "client.py")
GIMP_VERSIONS = ("3.0", "3.2")


def say(message: str) -> None:
    print(f"[install] {message}", flush=True)


def profile_candidates() -> list[Path]:
    """Every folder where a GIMP 3 of this platform keeps its user profile."""
    home = Path.home()
    if sys.platform == "win32":
        bases = [Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "GIMP"]
    elif sys.platform == "darwin":
        bases = [home / "Library" / "Application Support" / "GIMP"]
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
        bases = [config / "GIMP", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP"]
    return [base / version for base in bases for version in GIMP_VERSIONS]


def find_profiles(explicit: list[str] | None = None) -> list[Path]:
    """The profiles to install into: given ones, GIMP3_DIRECTORY, existing ones, or the default."""
    if explicit:
        return [Path(p).expanduser() for p in explicit]
    if os.environ.get("GIMP3_DIRECTORY"):
        return [Path(os.environ["GIMP3_DIRECTORY"]).expanduser()]
    existing = [p for p in profile_candidates() if p.is_dir()]
    return existing or [profile_candidates()[0]]


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def run(cmd: list[str], what: str) -> None:
    say(what)
    result = subprocess.run(cmd)
    if result.returncode != 0:
        raise SystemExit(f"[install] failed: {what} (exit code {result.returncode}). "
                         "Check your network connection (or pip's proxy settings) and run install.py again.")


def install_server_env(venv: Path) -> Path:
    if sys.version_info < (3, 10):  # noqa: UP036 (install.py itself may run on an older python3)
        raise SystemExit("[install] the server needs Python 3.10 or newer; run install.py with a newer python3")
    python = venv_python(venv)
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)], f"creating the server's Python environment in {venv}")
    run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--upgrade", str(REPO)],
        "installing the server and its dependencies (TensorFlow is large: the first time takes a while)")
    return python


def install_weights(python: Path, weights_file: str | None) -> bool:
    """True when weights are in place; otherwise the server's clear message has been shown."""
    if weights_file:
        cmd = [str(python), "-m", "nst_server", "weights", "install", str(Path(weights_file).resolve())]
        say(f"installing the weights file {weights_file}")
    else:
        cmd = [str(python), "-m", "nst_server", "weights", "fetch"]
        say("fetching the VGG19 ImageNet weights (about 80 MB, once)")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(cmd, env=env).returncode == 0


def install_plugin(profile: Path, python: Path | None, remote: dict | None = None) -> Path:
    dest = profile / "plug-ins" / PLUGIN_NAME
    shared = dest / "nst_server"
    shared.mkdir(parents=True, exist_ok=True)
    source = REPO / "gimp_plugin" / PLUGIN_NAME / f"{PLUGIN_NAME}.py"
    target = dest / f"{PLUGIN_NAME}.py"
    shutil.copyfile(source, target)
    os.chmod(target, 0o755)  # GIMP silently ignores a plug-in without the run bit
    for name in SHARED_MODULES:
        shutil.copyfile(REPO / "nst_server" / name, shared / name)
    if remote is not None:
        config = {"remote": remote, "version": __version__}
    else:
        config = {"command": [str(python), "-m", "nst_server", "serve"], "version": __version__}
    runtime.write_private_json(dest / "server.json", config)  # may hold remote keys
    (dest / MARKER).write_text(f"{REPO}\n")
    return dest


def check_gimp_python_zmq() -> None:
    """GIMP on Linux runs plug-ins with the system Python: it needs pyzmq too."""
    if sys.platform in ("win32", "darwin"):
        return
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        return
    if subprocess.run([system_python, "-c", "import zmq"], capture_output=True).returncode != 0:
        say("WARNING: GIMP's Python (/usr/bin/python3) cannot import pyzmq. "
            "Install it with 'sudo apt install python3-zmq' (Debian/Ubuntu) or 'sudo dnf install python3-zmq'.")


def uninstall(profiles: list[Path]) -> None:
    for profile in {*profiles, *profile_candidates()}:
        dest = profile / "plug-ins" / PLUGIN_NAME
        if (dest / MARKER).exists():
            shutil.rmtree(dest)
            say(f"removed the plug-in from {dest}")
    for folder in (paths.venv_dir(), paths.weights_dir(), paths.state_dir()):
        if folder.exists():
            shutil.rmtree(folder)
            say(f"removed {folder}")
    data = paths.data_dir()
    if data.exists() and not any(data.iterdir()):
        data.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install GIMP Style Transfer for this user.")
    parser.add_argument("--weights", metavar="FILE", help="use this local VGG19 weights file instead of downloading")
    parser.add_argument("--profile", action="append", metavar="DIR",
                        help="GIMP profile folder to install into (default: every GIMP 3 profile found)")
    parser.add_argument("--remote", metavar="FILE",
                        help="use a remote server: the connection file made by 'nst_server remote-add-client'")
    parser.add_argument("--uninstall", action="store_true", help="remove the plug-in, server environment and weights")
    args = parser.parse_args(argv)

    profiles = find_profiles(args.profile)
    if args.uninstall:
        uninstall(profiles)
        return 0
    if args.remote:
        info = runtime.read_info_file(Path(args.remote))
        if info is None or not info.curve_server_key:
            raise SystemExit(f"[install] {args.remote} is not a connection file made by 'nst_server remote-add-client'")
        for profile in profiles:
            say(f"plug-in installed in {install_plugin(profile, None, info.to_json())}, using the server at {info.endpoint}")
        check_gimp_python_zmq()
        return 0
    python = install_server_env(paths.venv_dir())
    weights_ok = install_weights(python, args.weights)
    for profile in profiles:
        say(f"plug-in installed in {install_plugin(profile, python)}")
    check_gimp_python_zmq()
    if not weights_ok:
        say("Everything else is installed, but the model weights are missing (see above). "
            "Run 'python3 install.py --weights FILE' once you have the file.")
        return 1
    say("Done. Restart GIMP, open an image and choose Filters > Style Transfer > Apply Style...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
