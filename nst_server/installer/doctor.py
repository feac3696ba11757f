"""``python3 install.py --check``: one line per piece, 'OK ...', 'NOTE ...' or 'FIX <what>: <what to do>'.

Every installed GIMP 3 is checked against the profile it reads (or, before its
first start, the older profile it will copy), pyzmq for GIMP's Python included;
then the server's environment (``python -m nst_server.doctor``) and a tiny
stylization through the real server, exactly as the plug-in would send it.

Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nst_server.client import paths
from nst_server.installer import quiet
from nst_server.installer.gimp_python import gimp_python, python_imports_pyzmq
from nst_server.installer.gimps import InstalledGimp, Profile, Reader, reader, too_deep
from nst_server.installer.plugin_files import MARKER, PLUGIN_NAME, flatpak_advice, plugin_config, stale_files
from nst_server.installer.server_python import PRERELEASE_OPTION, is_prerelease, venv_python

PROCEDURE = "plug-in-style-transfer"


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def ok(self, text: str) -> None:
        print(f"OK    {text}", flush=True)

    def note(self, text: str) -> None:
        print(f"NOTE  {text}", flush=True)

    def fix(self, text: str) -> None:
        self.problems += 1
        print(f"FIX   {text}", flush=True)


def gimp_registers_plugin(console: str, profile_path: Path) -> str | None:
    """None when a headless GIMP using ``profile_path`` has the plug-in's procedure; else what went wrong."""
    code = f"assert Gimp.get_pdb().procedure_exists('{PROCEDURE}'), 'no {PROCEDURE}'"
    env = dict(os.environ, GIMP3_DIRECTORY=str(profile_path))
    try:
        result = subprocess.run([console, "-nis", "--batch-interpreter=python-fu-eval", "-b", code, "--quit"],
                                capture_output=True, text=True, env=env, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0:
        return None
    print(result.stderr[-2000:], file=sys.stderr)
    return f"GIMP exit code {result.returncode}"


def copied_as_gimp_would(source: Profile, dest: Path) -> Path:
    """The plug-in folder of ``source`` copied into the profile ``dest`` as GIMP's first start copies it."""
    for path in sorted(source.plugin_dir.rglob("*")):
        relative = path.relative_to(source.path)
        if path.is_file() and not any(path.is_relative_to(d) for d in too_deep(source.plugin_dir, source.path)):
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / relative)
    return dest


def installed_in(profile: Profile) -> bool:
    return (profile.plugin_dir / MARKER).exists()


def check_gimps(r: Report, gimps: list[InstalledGimp], readers: list[Reader]) -> None:
    if not gimps:
        r.fix("GIMP 3 was not found: install GIMP 3.0 or newer (Debian 13, Ubuntu 25.04: 'sudo apt install gimp'; "
              "others: https://www.gimp.org/downloads/), then run 'python3 install.py' again")
    for g in gimps:
        r.ok(f"GIMP {g.version} found: {g.release} ({g.where})")
    for rd in readers:
        if installed_in(rd.profile):
            continue
        source = rd.migrates_from
        if source is not None and installed_in(source):
            lost = too_deep(source.plugin_dir, source.path)
            if lost:
                r.fix(f"GIMP {rd.gimp.version} has no profile yet and its first start will copy {source.path} without "
                      f"{lost[0]} (nested too deep): run 'python3 install.py'")
            else:
                r.ok(f"GIMP {rd.gimp.version} has no profile yet: its first start copies {source.path}, "
                     "the plug-in with it (all of it: nothing is nested too deep)")
        else:
            r.fix(f"GIMP {rd.gimp.version} reads {rd.profile.path}, where the plug-in is not installed: "
                  "run 'python3 install.py'")


def check_profile(r: Report, profile: Profile, platform: str, venv: Path) -> None:
    plugin = profile.plugin_dir / f"{PLUGIN_NAME}.py"
    if not plugin.is_file() or not os.access(plugin, os.X_OK) and platform != "win32":
        r.fix(f"{plugin} is missing or not executable (GIMP ignores it): run 'python3 install.py'")
    elif stale_files(profile):
        r.fix(f"the plug-in in {profile.plugin_dir} is older than this folder's: run 'python3 install.py'")
    else:
        r.ok(f"plug-in in place and executable: {plugin}")
    config = plugin_config(profile)
    python = gimp_python(profile)
    if config is None:
        r.fix(f"{profile.plugin_dir / 'server.json'} is missing or damaged: run 'python3 install.py'")
    elif config.use_bridge:
        r.ok(f"{profile.kind} GIMP reaches the server through the bridge helper: {' '.join(config.bridge or ())}")
        if profile.kind == "flatpak":
            r.note(flatpak_advice(venv_python(venv, platform)))
    elif python is None:
        r.note(f"GIMP's Python for {profile.path} is not known here; run 'python3 install.py' again if GIMP "
               "says it cannot import pyzmq")
    elif versions := python_imports_pyzmq(python, config.vendor):
        pyzmq, libzmq, where = versions.split(" ", 2)
        source = f"a copy installed for it in {config.vendor}" if config.vendor and where.startswith(config.vendor) \
            else "its own"
        r.ok(f"GIMP's Python ({python}) imports pyzmq {pyzmq} (libzmq {libzmq}, {source}) for {profile.path}")
    else:
        r.fix(f"GIMP's Python ({python}) cannot import pyzmq: run 'python3 install.py' again "
              "(or 'sudo apt install python3-zmq')")


def check_registration(r: Report, gimps: list[InstalledGimp], readers: list[Reader], installed: list[Profile]) -> None:
    """Each headless GIMP must list the plug-in from the profile it reads (or will copy)."""
    native = [p for p in installed if p.kind in ("native", "macos", "windows")]
    for g in gimps:
        if g.console is None:
            continue
        rd = next((x for x in readers if x.gimp == g), None)
        if rd is not None and installed_in(rd.profile):
            where, result = rd.profile.path, gimp_registers_plugin(g.console, rd.profile.path)
        elif rd is not None and rd.migrates_from is not None and installed_in(rd.migrates_from):
            with tempfile.TemporaryDirectory(prefix="nst-doctor-profile-") as tmp:
                where = rd.migrates_from.path
                result = gimp_registers_plugin(g.console, copied_as_gimp_would(rd.migrates_from, Path(tmp)))
        elif rd is None and native:
            where, result = native[0].path, gimp_registers_plugin(g.console, native[0].path)
        else:
            continue
        if result is None:
            r.ok(f"GIMP {g.version} lists the plug-in: Filters > Style Transfer > Apply Style... ({where})")
        else:
            r.fix(f"GIMP {g.version} does not list the plug-in ({result}): run 'python3 install.py' again; "
                  "if it persists, GIMP's own output above says why")


def precision_line(precision: object) -> str | None:
    """'float32 (float32 0.012 s/MP-step, bfloat16 0.020)' from the probe's precision entry."""
    if isinstance(precision, str):
        return precision
    if not isinstance(precision, dict):
        return None
    chosen = precision.get("precision") or precision.get("chosen")
    timings = precision.get("seconds_per_megapixel_step") or {}
    parts = [f"{name} {seconds:.3f}" + (" s/MP-step" if i == 0 else "")
             for i, (name, seconds) in enumerate(sorted(timings.items(), key=lambda kv: kv[0] != chosen))
             if isinstance(seconds, (int, float))]
    return f"{chosen} ({', '.join(parts)})" if parts else str(chosen)


def check_server(r: Report, installed: list[Profile], venv: Path, platform: str) -> Path | None:
    """The server's environment as the plug-in starts it; returns its Python when it runs."""
    configs = [plugin_config(p) for p in installed]
    server_python = next((Path(c.command[0]) for c in configs if c and c.command), None) or venv_python(venv, platform)
    if installed and all(c and c.remote for c in configs):
        r.note("the plug-in uses a remote server: its environment, weights and GPU are checked there")
        return server_python
    if not server_python.exists():
        r.fix(f"the server's Python environment is missing ({server_python}): run 'python3 install.py'")
        return None
    result = subprocess.run([str(server_python), "-m", "nst_server.doctor"], capture_output=True, text=True,
                            env=quiet.quiet_env(paths.data_dir()), timeout=900)
    try:
        probe = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r.fix(f"the server's Python environment ({server_python}) does not run: run 'python3 install.py' "
              f"again ({(result.stderr.strip().splitlines() or ['no output'])[-1]})")
        return None
    if "import_error" in probe:
        r.fix(f"the server's Python environment is incomplete ({probe['import_error']}): run 'python3 install.py' again")
        return None
    tensorflow = probe["tensorflow"]
    kind = "a pre-release" if is_prerelease(tensorflow) else "a release"
    r.ok(f"server environment: Python {probe['python']}, TensorFlow {tensorflow} ({kind}), "
         f"libzmq {probe['libzmq']} ({server_python})")
    if is_prerelease(tensorflow):
        r.note(f"TensorFlow {tensorflow} is a pre-release (TensorFlow has no release for Python "
               f"{'.'.join(probe['python'].split('.')[:2])} yet; install.py uses one only with {PRERELEASE_OPTION}): "
               "if stylizing fails, install a Python TensorFlow has released for and run 'python3 install.py' again")
    if "weights_error" in probe:
        r.fix(f"VGG19 weights: {probe['weights_error']}")
    elif probe["weights_official"]:
        r.ok(f"VGG19 weights verified: the official ImageNet file, md5 checked ({probe['weights']})")
    else:
        r.note(f"VGG19 weights load, but {probe['weights']} is not the official ImageNet file "
               "(results only look right with the ImageNet weights)")
    if probe["gpus"]:
        r.ok(f"GPU seen by TensorFlow: {', '.join(probe['gpus'])}")
    elif platform == "linux" and shutil.which("nvidia-smi"):
        r.note("an NVIDIA GPU is here but TensorFlow does not use it: 'python3 install.py --gpu' "
               "installs TensorFlow's CUDA libraries")
    else:
        r.note("no GPU seen by TensorFlow: style transfer runs on the CPU (minutes per image)")
    if (line := precision_line(probe.get("precision"))) is not None:
        r.ok(f"precision: {line}")
    return server_python


def round_trip(r: Report, profile: Profile, server_python: Path) -> None:
    """A tiny stylization through the server, run by GIMP's Python with the plug-in's own modules."""
    config = plugin_config(profile)
    python = gimp_python(profile)
    env = dict(os.environ)
    where = ""
    if (config and config.use_bridge) or python is None:
        python, env["NST_PLUGIN_NO_PYZMQ"] = server_python, "1"  # as GIMP's Python without pyzmq does
        where = " (run here with the server's Python, as GIMP's own is not reachable from here)"
    code = "import sys; sys.path.insert(0, sys.argv[1]); from nst_server.client import self_test; sys.exit(self_test.main())"
    result = subprocess.run([str(python), "-c", code, str(profile.plugin_dir)], capture_output=True, text=True,
                            env=env, timeout=900)
    if result.returncode == 0:
        r.ok(f"round trip{where}: {result.stdout.strip()}")
    else:
        message = "\n      ".join(result.stderr.strip().splitlines()[-12:]) or "no output"
        r.fix(f"a tiny stylization through the server failed: {message}\n      "
              f"(the server's logs are in {paths.state_dir()})")


def doctor(profiles: list[Profile], gimps: list[InstalledGimp], platform: str, venv: Path,
           follow_gimps: bool = True, with_round_trip: bool = True) -> int:
    """Check every piece; ``follow_gimps``: also the profiles the installed GIMPs read (not with --profile)."""
    r = Report()
    readers = [reader(g, platform) for g in gimps] if follow_gimps else []
    check_gimps(r, gimps, readers)
    candidates = list(dict.fromkeys([*profiles, *(x.profile for x in readers),
                                     *(x.migrates_from for x in readers if x.migrates_from)]))
    installed = [p for p in candidates if installed_in(p)]
    if not installed:
        r.fix(f"the plug-in is not installed in {', '.join(str(p.path) for p in profiles)}: run 'python3 install.py'")
    for profile in installed:
        check_profile(r, profile, platform, venv)
    check_registration(r, gimps, readers, installed)
    server_python = check_server(r, installed, venv, platform)
    if with_round_trip and installed and server_python is not None and r.problems == (0 if gimps else 1):
        round_trip(r, installed[0], server_python)  # a missing GIMP does not stop the test
    elif with_round_trip and installed:
        r.note("round trip skipped until the problems above are fixed")
    print("All good: restart GIMP and choose Filters > Style Transfer > Apply Style..." if r.problems == 0 else
          f"{r.problems} problem(s): do what the FIX lines say, then run 'python3 install.py --check' again.")
    return 0 if r.problems == 0 else 1
