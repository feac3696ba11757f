#!/usr/bin/env python3
"""Install GIMP Style Transfer for this user: one command, safe to run again.

    python3 install.py                 # plug-in, server environment, VGG19 weights
    python3 install.py --gpu           # the same, with TensorFlow's CUDA libraries (Linux, NVIDIA)
    python3 install.py --weights FILE  # offline: use a weights file you downloaded
    python3 install.py --check         # the doctor: is everything in place and working?
    python3 install.py --uninstall     # remove everything this script put in place

Steps: find the GIMP 3 profiles (native, Flatpak, Snap, macOS, Windows, or
GIMP3_DIRECTORY), create the server's own Python environment (TensorFlow and
friends, kept apart from GIMP's Python), fetch the weights once, copy the
plug-in with the shared modules into each profile, make sure GIMP's Python can
reach the server (its own pyzmq, a copy built for it, or the stdio bridge) and
record in the plug-in's server.json how to start the server.  A second run finds
everything in place and changes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
from nst_server import __version__, paths, runtime  # noqa: E402  (standard library only)

PLUGIN_NAME = "style_transfer"
MARKER = ".installed-by-gimp-style-transfer"
STAMP = ".nst-install-stamp"
VENDOR_STAMP = ".nst-vendor-stamp"
# The plug-in carries these server modules (standard library + pyzmq): one definition of the protocol.
SHARED_MODULES = ("__init__.py", "paths.py", "protocol.py", "runtime.py", "client.py", "errors.py", "link.py",
                  "bridge_client.py")
GIMP_VERSIONS = ("3.0", "3.2")
FLATPAK_APP = "org.gimp.GIMP"
PYZMQ_REQUIREMENT = "pyzmq>=25"


def say(message: str) -> None:
    print(f"[install] {message}", flush=True)


@dataclass(frozen=True)
class Profile:
    """A GIMP 3 user profile folder and the kind of GIMP that uses it."""

    path: Path
    kind: str  # native, flatpak, snap, macos, windows

    @property
    def plugin_dir(self) -> Path:
        return self.path / "plug-ins" / PLUGIN_NAME


def host_platform(platform: str | None = None) -> str:
    platform = platform or sys.platform
    return "win32" if platform.startswith("win") else "darwin" if platform == "darwin" else "linux"


def profile_candidates(platform: str | None = None) -> list[Profile]:
    """Every folder where a GIMP 3 of this platform keeps its user profile, most usual first."""
    platform = host_platform(platform)
    home = Path.home()
    if platform == "win32":
        bases = [(Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "GIMP", "windows")]
    elif platform == "darwin":
        bases = [(home / "Library" / "Application Support" / "GIMP", "macos")]
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        bases = [(config / "GIMP", "native"),
                 (home / ".var" / "app" / FLATPAK_APP / "config" / "GIMP", "flatpak"),
                 (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap")]
    return [Profile(base / version, kind) for base, kind in bases for version in GIMP_VERSIONS]


def profile_kind(path: Path, platform: str | None = None) -> str:
    text = path.as_posix()
    if f"/.var/app/{FLATPAK_APP}/" in text:
        return "flatpak"
    if "/snap/gimp/" in text:
        return "snap"
    return {"win32": "windows", "darwin": "macos"}.get(host_platform(platform), "native")


def find_profiles(explicit: list[str] | None = None, platform: str | None = None) -> list[Profile]:
    """The profiles to install into: given ones, GIMP3_DIRECTORY, existing ones, or the default."""
    if explicit:
        return [Profile(Path(p).expanduser(), profile_kind(Path(p).expanduser(), platform)) for p in explicit]
    if os.environ.get("GIMP3_DIRECTORY"):
        path = Path(os.environ["GIMP3_DIRECTORY"]).expanduser()
        return [Profile(path, profile_kind(path, platform))]
    candidates = profile_candidates(platform)
    return [p for p in candidates if p.path.is_dir()] or [candidates[0]]


def venv_python(venv: Path, platform: str | None = None) -> Path:
    return venv / ("Scripts/python.exe" if host_platform(platform) == "win32" else "bin/python")


def run(cmd: list[str], what: str, **kw) -> None:
    say(what)
    result = subprocess.run(cmd, **kw)
    if result.returncode != 0:
        raise SystemExit(f"[install] failed: {what} (exit code {result.returncode}). "
                         "Check your network connection (or pip's proxy settings) and run install.py again.")


# ----------------------------------------------------------------------------------------------- server side

def source_digest(gpu: bool) -> str:
    """Changes whenever what pip would install changes: the package's files and the options."""
    digest = hashlib.sha256(f"gpu={gpu}\n".encode())
    for path in [REPO / "pyproject.toml", *sorted((REPO / "nst_server").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def install_server_env(venv: Path, gpu: bool = False) -> Path:
    """The server's own venv with this repository installed; pip runs only when something changed."""
    if sys.version_info < (3, 10):  # noqa: UP036 (install.py itself may run on an older python3)
        raise SystemExit("[install] the server needs Python 3.10 or newer; run install.py with a newer python3")
    python = venv_python(venv)
    stamp = venv / STAMP
    wanted = source_digest(gpu)
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        say(f"the server's Python environment is up to date ({venv})")
        return python
    if not python.exists():
        try:
            import ensurepip  # noqa: F401  (Debian and Ubuntu split it into python3-venv)
        except ImportError:
            raise SystemExit("[install] this Python cannot create virtual environments. On Debian or Ubuntu: "
                             "'sudo apt install python3-venv', then run install.py again.") from None
        run([sys.executable, "-m", "venv", str(venv)], f"creating the server's Python environment in {venv}")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--upgrade"]
    run([*pip, str(REPO)], "installing the server and its dependencies (TensorFlow is large: the first time takes a while)")
    if gpu:
        if host_platform() == "linux":
            run([*pip, "tensorflow[and-cuda]"], "installing TensorFlow's CUDA libraries for NVIDIA GPUs")
        else:
            say("--gpu: TensorFlow uses CUDA GPUs on Linux only (on Windows: inside WSL2); installing for the CPU")
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
    return subprocess.run(cmd, env=quiet_env()).returncode == 0


def quiet_env() -> dict[str, str]:
    """For the server's Python run from here: less TensorFlow chatter, Keras's settings file in our folder."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if "KERAS_HOME" not in env and not (Path.home() / ".keras").exists():  # do not create ~/.keras for Keras
        env["KERAS_HOME"] = str(paths.data_dir() / "keras")
    return env


# ------------------------------------------------------------------------------------------------ GIMP side

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


def python_imports_pyzmq(python: Path, extra_path: Path | None = None) -> str | None:
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


def vendor_pyzmq(pip_python: Path, target_python: Path, dest: Path) -> bool:
    """A pyzmq built for ``target_python``'s exact version in ``dest`` (pip --python ... --target)."""
    version = subprocess.run([str(target_python), "-c", "import sys; print(sys.version)"],
                             capture_output=True, text=True).stdout.strip()
    stamp = f"{target_python}\n{version}\n{PYZMQ_REQUIREMENT}\n"
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


def sync_file(source: Path | bytes, target: Path, mode: int | None = None) -> bool:
    """Write ``target`` only when its bytes differ (GIMP re-reads plug-ins whose time changed); True if written."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    changed = not target.is_file() or target.read_bytes() != data
    if changed:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    if mode is not None and (target.stat().st_mode & 0o777) != mode:
        os.chmod(target, mode)
    return changed


def server_config(profile: Profile, python: Path | None, remote: dict | None, use_bridge: bool) -> dict:
    """What the plug-in reads from server.json (see nst_server/link.py)."""
    config: dict = {"version": __version__}
    if remote is not None:
        config["remote"] = remote
    elif python is not None:
        config["command"] = [str(python), "-m", "nst_server", "serve"]
    if python is not None:
        bridge = [str(python), "-m", "nst_server.bridge"]
        # Flatpak: the helper, and the server it starts, run outside the sandbox.
        config["bridge"] = ["flatpak-spawn", "--host", *bridge] if profile.kind == "flatpak" else bridge
    if use_bridge:
        config["use_bridge"] = True
    if profile.kind == "snap":  # a folder both the snap and the host can reach
        config["runtime_dir"] = str(Path.home() / "snap" / "gimp" / "common" / "nst-run")
    return config


def install_plugin(profile: Profile | Path, python: Path | None, remote: dict | None = None,
                   use_bridge: bool = False) -> Path:
    """Copy the plug-in and its modules (only what changed) and write server.json; returns the plug-in folder."""
    if isinstance(profile, Path):
        profile = Profile(profile, profile_kind(profile))
    dest = profile.plugin_dir
    source = REPO / "gimp_plugin" / PLUGIN_NAME / f"{PLUGIN_NAME}.py"
    sync_file(source, dest / f"{PLUGIN_NAME}.py", 0o755)  # GIMP silently ignores a plug-in without the run bit
    for name in SHARED_MODULES:
        sync_file(REPO / "nst_server" / name, dest / "nst_server" / name)
    config = server_config(profile, python, remote, use_bridge)
    config_file = dest / "server.json"
    try:
        current = json.loads(config_file.read_text())
    except (OSError, ValueError):
        current = None
    if current != config:
        runtime.write_private_json(config_file, config)  # may hold remote keys
    sync_file(f"{REPO}\n".encode(), dest / MARKER)
    return dest


def reach_server(profile: Profile, pip_python: Path | None) -> bool:
    """Make GIMP's Python able to talk to the server; True when the plug-in must use the stdio bridge."""
    dest = profile.plugin_dir / "vendor"
    python = gimp_python(profile)
    if python is None or profile.kind == "flatpak":
        shutil.rmtree(dest, ignore_errors=True)
        say(f"{profile.kind}: the plug-in reaches the server through the bridge helper"
            + (" started outside the sandbox with flatpak-spawn --host" if profile.kind == "flatpak" else ""))
        return True
    if python_imports_pyzmq(python):
        shutil.rmtree(dest, ignore_errors=True)  # the system's own pyzmq is used
        return False
    if pip_python is not None and vendor_pyzmq(pip_python, python, dest):
        return False
    say(f"WARNING: no pyzmq for GIMP's Python ({python}); the plug-in will use the bridge helper instead. "
        "(On Debian or Ubuntu 'sudo apt install python3-zmq' gives GIMP its own.)")
    return True


def flatpak_advice() -> str:
    return (f"GIMP's Flatpak may start the server outside its sandbox only with permission: "
            f"'flatpak override --user --talk-name=org.freedesktop.Flatpak {FLATPAK_APP}'. "
            "Or start the server yourself before using the plug-in: "
            f"'{venv_python(paths.venv_dir())} -m nst_server serve'.")


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
    for folder in (paths.venv_dir(), paths.weights_dir(), paths.data_dir() / "keras", paths.state_dir()):
        if folder.exists():
            shutil.rmtree(folder)
            say(f"removed {folder}")
        remove_empty_parents(folder.parent, home)
    remove_empty_parents(paths.data_dir(), home)


# --------------------------------------------------------------------------------------------------- doctor

def find_gimp(platform: str | None = None) -> tuple[str, str] | None:
    """(where, version text) of an installed GIMP 3, or None."""
    platform = host_platform(platform)
    names = ["gimp-console-3.2", "gimp-3.2", "gimp-console-3.0", "gimp-3.0", "gimp-console", "gimp"]
    if platform == "win32":
        for base in (os.environ.get("ProgramFiles", r"C:\Program Files"), os.environ.get("LOCALAPPDATA", "")):
            for exe in sorted(Path(base).glob("GIMP 3*/bin/gimp-console-3*.exe")) if base else []:
                names.insert(0, str(exe))
    elif platform == "darwin":
        for app in sorted(Path("/Applications").glob("GIMP*.app")):
            names.insert(0, str(app / "Contents" / "MacOS" / "gimp"))
    for name in names:
        exe = shutil.which(name) or (name if os.path.isabs(name) and os.path.exists(name) else None)
        if exe is None:
            continue
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if " 3." in out or out.split()[-1:] and out.split()[-1].startswith("3."):
            return exe, out.splitlines()[0] if out else "GIMP 3"
    if platform == "linux":
        if shutil.which("flatpak") and subprocess.run(["flatpak", "info", FLATPAK_APP], capture_output=True).returncode == 0:
            return f"flatpak {FLATPAK_APP}", "GIMP (Flatpak)"
        if Path("/snap/bin/gimp").exists():
            return "/snap/bin/gimp", "GIMP (Snap)"
    return None


def gimp_registers_plugin(console: str, profile: Profile) -> str | None:
    """None when a headless GIMP using ``profile`` has the plug-in's procedure; else what went wrong."""
    code = "assert Gimp.get_pdb().procedure_exists('plug-in-style-transfer'), 'no plug-in-style-transfer'"
    env = dict(os.environ, GIMP3_DIRECTORY=str(profile.path))
    try:
        result = subprocess.run([console, "-nis", "--batch-interpreter=python-fu-eval", "-b", code, "--quit"],
                                capture_output=True, text=True, env=env, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0:
        return None
    print(result.stderr[-2000:], file=sys.stderr)
    return f"GIMP exit code {result.returncode}"


def plugin_config(profile: Profile) -> dict:
    """The plug-in's server.json, or {} when it is missing or damaged."""
    try:
        config = json.loads((profile.plugin_dir / "server.json").read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


class Doctor:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, text: str) -> None:
        print(f"OK    {text}", flush=True)

    def note(self, text: str) -> None:
        print(f"NOTE  {text}", flush=True)

    def fix(self, text: str) -> None:
        self.problems += 1
        print(f"FIX   {text}", flush=True)


def doctor(profiles: list[Profile], platform: str | None = None, round_trip: bool = True) -> int:
    """Check every piece, one line each: 'OK ...', 'NOTE ...' or 'FIX <what is wrong>: <what to do>'."""
    d = Doctor()
    gimp = find_gimp(platform)
    if gimp:
        d.ok(f"GIMP 3 found: {gimp[1]} ({gimp[0]})")
    else:
        d.fix("GIMP 3 was not found: install GIMP 3.0 or newer (Debian 13, Ubuntu 25.04: 'sudo apt install gimp'; "
              "others: https://www.gimp.org/downloads/), then run 'python3 install.py' again")

    installed = [p for p in profiles if (p.plugin_dir / MARKER).exists()]
    if not installed:
        d.fix(f"the plug-in is not installed in {', '.join(str(p.path) for p in profiles)}: run 'python3 install.py'")
    for profile in installed:
        plugin = profile.plugin_dir / f"{PLUGIN_NAME}.py"
        stale = [n for n in SHARED_MODULES if not (profile.plugin_dir / "nst_server" / n).is_file()
                 or (profile.plugin_dir / "nst_server" / n).read_bytes() != (REPO / "nst_server" / n).read_bytes()]
        if not plugin.is_file() or not os.access(plugin, os.X_OK) and host_platform(platform) != "win32":
            d.fix(f"{plugin} is missing or not executable (GIMP ignores it): run 'python3 install.py'")
        elif plugin.read_bytes() != (REPO / "gimp_plugin" / PLUGIN_NAME / f"{PLUGIN_NAME}.py").read_bytes() or stale:
            d.fix(f"the plug-in in {profile.plugin_dir} is older than this folder's: run 'python3 install.py'")
        else:
            d.ok(f"plug-in in place and executable: {plugin}")
        config = plugin_config(profile)
        python = gimp_python(profile)
        if not config:
            d.fix(f"{profile.plugin_dir / 'server.json'} is missing or damaged: run 'python3 install.py'")
        elif config.get("use_bridge"):
            d.ok(f"{profile.kind} GIMP reaches the server through the bridge helper: {' '.join(config.get('bridge', []))}")
            if profile.kind == "flatpak":
                d.note(flatpak_advice())
        elif python is None:
            d.note(f"GIMP's Python for {profile.path} is not known here; run 'python3 install.py' again if GIMP "
                   "says it cannot import pyzmq")
        elif versions := python_imports_pyzmq(python, profile.plugin_dir / "vendor"):
            pyzmq, libzmq, where = versions.split(" ", 2)
            source = "a copy installed for it next to the plug-in" if str(profile.plugin_dir) in where else "its own"
            d.ok(f"GIMP's Python ({python}) imports pyzmq {pyzmq} (libzmq {libzmq}, {source})")
        else:
            d.fix(f"GIMP's Python ({python}) cannot import pyzmq: run 'python3 install.py' again "
                  "(or 'sudo apt install python3-zmq')")

    console = gimp[0] if gimp and "console" in Path(gimp[0]).name else None
    native = [p for p in installed if p.kind in ("native", "macos", "windows")]
    if console and native:
        registered = gimp_registers_plugin(console, native[0])
        if registered is None:
            d.ok(f"GIMP lists the plug-in: Filters > Style Transfer > Apply Style... ({native[0].path})")
        else:
            d.fix(f"GIMP does not list the plug-in ({registered}): run 'python3 install.py' again; "
                  "if it persists, GIMP's own output above says why")

    server_python = None
    for profile in installed:
        command = plugin_config(profile).get("command")
        if command:
            server_python = Path(command[0])
            break
    server_python = server_python or venv_python(paths.venv_dir())
    remote_only = installed and all("remote" in plugin_config(p) for p in installed)
    probe = None
    if remote_only:
        d.note("the plug-in uses a remote server: its environment, weights and GPU are checked there")
    elif not server_python.exists():
        d.fix(f"the server's Python environment is missing ({server_python}): run 'python3 install.py'")
    else:
        result = subprocess.run([str(server_python), "-m", "nst_server.doctor"], capture_output=True, text=True,
                                env=quiet_env(), timeout=600)
        try:
            probe = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            d.fix(f"the server's Python environment ({server_python}) does not run: run 'python3 install.py' "
                  f"again ({(result.stderr.strip().splitlines() or ['no output'])[-1]})")
    if probe is not None and "import_error" in probe:
        d.fix(f"the server's Python environment is incomplete ({probe['import_error']}): run 'python3 install.py' again")
        probe = None
    if probe is not None:
        d.ok(f"server environment: Python {probe['python']}, TensorFlow {probe['tensorflow']}, "
             f"libzmq {probe['libzmq']} ({server_python})")
        if "weights_error" in probe:
            d.fix(f"VGG19 weights: {probe['weights_error']}")
        elif probe["weights_official"]:
            d.ok(f"VGG19 weights verified: the official ImageNet file, md5 checked ({probe['weights']})")
        else:
            d.note(f"VGG19 weights load, but {probe['weights']} is not the official ImageNet file "
                   "(results only look right with the ImageNet weights)")
        if probe["gpus"]:
            d.ok(f"GPU seen by TensorFlow: {', '.join(probe['gpus'])}")
        elif host_platform(platform) == "linux" and shutil.which("nvidia-smi"):
            d.note("an NVIDIA GPU is here but TensorFlow does not use it: 'python3 install.py --gpu' "
                   "installs TensorFlow's CUDA libraries")
        else:
            d.note("no GPU seen by TensorFlow: style transfer runs on the CPU (minutes per image)")

    if round_trip and installed and d.problems == (0 if gimp else 1):  # a missing GIMP does not stop the test
        d_profile = installed[0]
        config = plugin_config(d_profile)
        python = gimp_python(d_profile)
        env = dict(os.environ)
        where = ""
        if config.get("use_bridge") or python is None:
            python, env["NST_PLUGIN_NO_PYZMQ"] = server_python, "1"  # as GIMP's Python without pyzmq does
            where = " (run here with the server's Python, as GIMP's own is not reachable from here)"
        code = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); from nst_server import link; "
                "print(link.self_test(pathlib.Path(sys.argv[1])))")
        result = subprocess.run([str(python), "-c", code, str(d_profile.plugin_dir)], capture_output=True, text=True,
                                env=env, timeout=900)
        if result.returncode == 0:
            d.ok(f"round trip{where}: {result.stdout.strip()}")
        else:
            message = "\n      ".join(result.stderr.strip().splitlines()[-12:]) or "no output"
            d.fix(f"a tiny stylization through the server failed: {message}\n      "
                  f"(the server's logs are in {paths.state_dir()})")
    elif round_trip and installed:
        d.note("round trip skipped until the problems above are fixed")

    print("All good: restart GIMP and choose Filters > Style Transfer > Apply Style..." if d.problems == 0 else
          f"{d.problems} problem(s): do what the FIX lines say, then run 'python3 install.py --check' again.")
    return 0 if d.problems == 0 else 1


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
    parser.add_argument("--platform", choices=("linux", "darwin", "win32"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    profiles = find_profiles(args.profile, args.platform)
    if args.uninstall:
        uninstall(profiles, args.platform)
        return 0
    if args.check:
        return doctor(profiles, args.platform)
    if args.remote:
        info = runtime.read_info_file(Path(args.remote))
        if info is None or not info.curve_server_key:
            raise SystemExit(f"[install] {args.remote} is not a connection file made by 'nst_server remote-add-client'")
        local = Path(args.server_python) if args.server_python else venv_python(paths.venv_dir())
        local = local if local.exists() else None
        for profile in profiles:
            use_bridge = reach_server(profile, local)
            dest = install_plugin(profile, local, info.to_json(), use_bridge)
            say(f"plug-in installed in {dest}, using the server at {info.endpoint}")
        return 0
    if args.server_python:
        python = Path(args.server_python).absolute()
        say(f"using the existing server environment {python}")
    else:
        python = install_server_env(paths.venv_dir(), args.gpu)
    weights_ok = install_weights(python, args.weights)
    for profile in profiles:
        use_bridge = reach_server(profile, python)
        say(f"plug-in installed in {install_plugin(profile, python, None, use_bridge)}")
        if profile.kind == "flatpak":
            say(flatpak_advice())
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
