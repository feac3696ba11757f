"""The plug-in's folder in a GIMP profile: its files, the shared modules, and server.json.

Nothing in it is nested deeper than ``plug-ins/style_transfer/nst_server``, so
GIMP's first-start copy of an older profile carries all of it over.

Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nst_server import __version__, runtime
from nst_server.installer import REPO
from nst_server.installer.gimps import FLATPAK_APP, Profile, profile_kind

PLUGIN_NAME = "style_transfer"
MARKER = ".installed-by-gimp-style-transfer"
# The plug-in carries these server modules (standard library + pyzmq): one definition of the protocol,
# and of the work a job does (schedule, estimate) for the dialog's time estimate.
SHARED_MODULES = ("__init__.py", "paths.py", "protocol.py", "runtime.py", "client.py", "errors.py", "link.py",
                  "bridge_client.py", "schedule.py", "estimate.py", "server_speed.py")


def plugin_source() -> Path:
    return REPO / "gimp_plugin" / PLUGIN_NAME / f"{PLUGIN_NAME}.py"


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


def server_config(profile: Profile, python: Path | None, remote: dict | None, use_bridge: bool,
                  vendor: Path | None = None) -> dict:
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
    if vendor is not None:  # pyzmq built for GIMP's Python, outside the profile
        config["vendor"] = str(vendor)
    if profile.kind == "snap":  # a folder both the snap and the host can reach
        config["runtime_dir"] = str(Path.home() / "snap" / "gimp" / "common" / "nst-run")
    return config


def install_plugin(profile: Profile | Path, python: Path | None, remote: dict | None = None,
                   use_bridge: bool = False, vendor: Path | None = None) -> Path:
    """Copy the plug-in and its modules (only what changed) and write server.json; returns the plug-in folder."""
    if isinstance(profile, Path):
        profile = Profile(profile, profile_kind(profile))
    dest = profile.plugin_dir
    sync_file(plugin_source(), dest / f"{PLUGIN_NAME}.py", 0o755)  # GIMP silently ignores a plug-in without the run bit
    for name in SHARED_MODULES:
        sync_file(REPO / "nst_server" / name, dest / "nst_server" / name)
    config = server_config(profile, python, remote, use_bridge, vendor)
    config_file = dest / "server.json"
    if plugin_config(profile) != config or not config_file.is_file():
        runtime.write_private_json(config_file, config)  # may hold remote keys
    sync_file(f"{REPO}\n".encode(), dest / MARKER)
    return dest


def plugin_config(profile: Profile) -> dict:
    """The plug-in's server.json, or {} when it is missing or damaged."""
    try:
        config = json.loads((profile.plugin_dir / "server.json").read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def stale_files(profile: Profile) -> list[str]:
    """The plug-in's files in ``profile`` that differ from this folder's (or an old in-profile pyzmq copy)."""
    dest = profile.plugin_dir
    stale = [name for name in SHARED_MODULES if not (dest / "nst_server" / name).is_file()
             or (dest / "nst_server" / name).read_bytes() != (REPO / "nst_server" / name).read_bytes()]
    plugin = dest / f"{PLUGIN_NAME}.py"
    if plugin.is_file() and plugin.read_bytes() != plugin_source().read_bytes():
        stale.append(plugin.name)
    if (dest / "vendor").exists():
        stale.append("vendor")
    return stale


def flatpak_advice(server_python: Path) -> str:
    return (f"GIMP's Flatpak may start the server outside its sandbox only with permission: "
            f"'flatpak override --user --talk-name=org.freedesktop.Flatpak {FLATPAK_APP}'. "
            "Or start the server yourself before using the plug-in: "
            f"'{server_python} -m nst_server serve'.")

