"""``python3 install.py --uninstall``: remove everything the installer put in place, and nothing else.

Standard library only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nst_server.client import paths, runtime
from nst_server.installer.gimp_python import vendor_root
from nst_server.installer.gimps import Profile, profile_candidates, profile_kind
from nst_server.installer.plugin_files import MARKER
from nst_server.installer.quiet import say
from nst_server.installer.server_env import stop_running_server


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
    for folder in (paths.venv_dir(), paths.weights_dir(), paths.data_dir() / "keras", vendor_root("native"),
                   vendor_root("snap"), paths.state_dir()):
        if folder.exists():
            shutil.rmtree(folder)
            say(f"removed {folder}")
        remove_empty_parents(folder.parent, home)
    (paths.data_dir() / "speed.json").unlink(missing_ok=True)  # the server's measured speed
    remove_empty_parents(paths.data_dir(), home)
