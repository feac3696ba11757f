"""``python3 install.py``: the options and the order of the steps.

Steps: find the installed GIMP 3s and the profile folder each reads (native,
Flatpak, Snap, macOS, Windows, or GIMP3_DIRECTORY), create the server's own
Python environment from a Python for which TensorFlow has a release (kept apart
from GIMP's Python), fetch the weights once, copy the plug-in with the client
modules into each profile, make sure GIMP's Python can reach the server (its own
pyzmq, a copy built for it outside the profile, or the stdio bridge) and record
in the plug-in's server.json how to start the server.  A second run finds
everything in place and changes nothing.

Standard library only.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from nst_server.client import paths, runtime
from nst_server.installer import gimp_python as gimp_side
from nst_server.installer import server_python
from nst_server.installer.doctor import doctor
from nst_server.installer.gimps import InstalledGimp, Profile, find_gimps, host_platform, install_targets, profile_kind
from nst_server.installer.plugin_files import flatpak_advice, install_plugin, server_config
from nst_server.installer.quiet import say
from nst_server.installer.server_env import install_server_env, install_weights
from nst_server.installer.server_python import venv_python
from nst_server.installer.uninstall import uninstall


def find_profiles(explicit: list[str] | None = None, platform: str | None = None,
                  gimps: list[InstalledGimp] | None = None) -> list[Profile]:
    """The profiles to install into: given ones, GIMP3_DIRECTORY, or those the installed GIMPs read."""
    if explicit:
        return [Profile(Path(p).expanduser(), profile_kind(Path(p).expanduser(), platform)) for p in explicit]
    if os.environ.get("GIMP3_DIRECTORY"):
        path = Path(os.environ["GIMP3_DIRECTORY"]).expanduser()
        return [Profile(path, profile_kind(path, platform))]
    return install_targets(gimps if gimps is not None else [], platform)


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
            dest, changed = install_plugin(profile, local, info.to_json(), use_bridge, vendor)
            say(f"plug-in {'installed in' if changed else 'up to date in'} {dest}, using the server at {info.endpoint}")
        return 0
    if args.server_python:
        python = Path(args.server_python).absolute()
        say(f"using the existing server environment {python}")
    else:
        python = install_server_env(paths.venv_dir(), args.gpu, args.tensorflow_prerelease)
    weights_ok = install_weights(python, args.weights)
    for profile in profiles:
        use_bridge, vendor = gimp_side.reach_server(profile, python, say)
        dest, changed = install_plugin(profile, python, None, use_bridge, vendor)
        say(f"plug-in {'installed in' if changed else 'up to date in'} {dest}")
        if profile.kind == "flatpak":
            say(flatpak_advice(venv_python(paths.venv_dir())))
        if profile.kind == "snap":
            say("Snap: if GIMP cannot start the server from inside its sandbox, start it yourself first: "
                f"'{python} -m nst_server serve --runtime-dir {server_config(profile, python, None, True).runtime_dir}'")
    if not weights_ok:
        say("Everything else is installed, but the model weights are missing (see above). "
            "Run 'python3 install.py --weights FILE' once you have the file.")
        return 1
    say("Done. Restart GIMP, open an image and choose Filters > Style Transfer > Apply Style... "
        "('python3 install.py --check' tests the whole chain.)")
    return 0
