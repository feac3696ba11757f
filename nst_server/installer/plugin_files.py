"""The plug-in's folder in a GIMP profile: its files, the client package, and server.json.

Nothing in it is nested deeper than ``plug-ins/style_transfer/nst_server/client``,
so GIMP's first-start copy of an older profile carries all of it over.  Files an
earlier version installed and this one does not are removed.

Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

from nst_server import __version__
from nst_server.client import config as plugin_config_file
from nst_server.client.config import PluginConfig
from nst_server.installer import REPO
from nst_server.installer.gimps import FLATPAK_APP, Profile, profile_kind

PLUGIN_NAME = "style_transfer"
PLUGIN_SOURCE = REPO / "gimp_plugin" / PLUGIN_NAME
MARKER = ".installed-by-gimp-style-transfer"
# The plug-in runs with the client package (standard library + pyzmq): one definition of the protocol.
CLIENT_PACKAGE = "nst_server/client"
# Beside it, the package's face, so that nst_server is a regular package in GIMP's Python too.
PACKAGE_INIT = "nst_server/__init__.py"
BRIDGE_MODULE = "nst_server.service.bridge"


def plugin_files() -> dict[str, Path]:
    """Every file of the plug-in's folder: its path there -> its source in this checkout."""
    files = {path.name: path for path in sorted(PLUGIN_SOURCE.glob("*.py"))}
    files.update({f"{CLIENT_PACKAGE}/{path.name}": path for path in sorted((REPO / CLIENT_PACKAGE).glob("*.py"))})
    files[PACKAGE_INIT] = REPO / PACKAGE_INIT
    return files


def plugin_source() -> Path:
    return PLUGIN_SOURCE / f"{PLUGIN_NAME}.py"


def _installed_code(dest: Path) -> list[Path]:
    """The Python files in a plug-in folder (not in an old in-profile pyzmq copy)."""
    return [*dest.glob("*.py"), *(dest / "nst_server").rglob("*.py")]


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
                  vendor: Path | None = None) -> PluginConfig:
    """What the plug-in reads from server.json (see nst_server/client/config.py)."""
    bridge = None
    if python is not None:
        bridge = (str(python), "-m", BRIDGE_MODULE)
        if profile.kind == "flatpak":  # the helper, and the server it starts, run outside the sandbox
            bridge = ("flatpak-spawn", "--host", *bridge)
    return PluginConfig(
        command=(str(python), "-m", "nst_server", "serve") if remote is None and python is not None else None,
        remote=remote, bridge=bridge, use_bridge=use_bridge,
        # Snap: a folder both the snap and the host can reach.
        runtime_dir=str(Path.home() / "snap" / "gimp" / "common" / "nst-run") if profile.kind == "snap" else None,
        vendor=str(vendor) if vendor is not None else None,  # pyzmq built for GIMP's Python, outside the profile
        version=__version__,
    )


def install_plugin(profile: Profile | Path, python: Path | None, remote: dict | None = None,
                   use_bridge: bool = False, vendor: Path | None = None) -> tuple[Path, bool]:
    """Copy the plug-in and the client package (only what changed), remove what an earlier version left,
    and write server.json; returns the plug-in folder and whether anything in it changed."""
    if isinstance(profile, Path):
        profile = Profile(profile, profile_kind(profile))
    dest = profile.plugin_dir
    files = plugin_files()
    changed = False
    for name, source in files.items():  # GIMP silently ignores a plug-in without the run bit
        changed |= sync_file(source, dest / name, 0o755 if name == f"{PLUGIN_NAME}.py" else None)
    for path in _installed_code(dest):
        if path.relative_to(dest).as_posix() not in files:
            path.unlink()
            changed = True
    for folder in sorted((p for p in (dest / "nst_server").rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    changed |= plugin_config_file.write(dest, server_config(profile, python, remote, use_bridge, vendor))
    changed |= sync_file(f"{REPO}\n".encode(), dest / MARKER)
    return dest, changed


def plugin_config(profile: Profile) -> PluginConfig | None:
    """The plug-in's server.json, or None when it is missing or damaged."""
    return plugin_config_file.read(profile.plugin_dir)


def stale_files(profile: Profile) -> list[str]:
    """The plug-in's files in ``profile`` that differ from this folder's, are missing, or are left over
    (an old in-profile pyzmq copy too)."""
    dest, files = profile.plugin_dir, plugin_files()
    stale = [name for name, source in files.items()
             if not (dest / name).is_file() or (dest / name).read_bytes() != source.read_bytes()]
    stale += [path.relative_to(dest).as_posix() for path in _installed_code(dest)
              if path.relative_to(dest).as_posix() not in files]
    if (dest / "vendor").exists():
        stale.append("vendor")
    return stale


def flatpak_advice(server_python: Path) -> str:
    return (f"GIMP's Flatpak may start the server outside its sandbox only with permission: "
            f"'flatpak override --user --talk-name=org.freedesktop.Flatpak {FLATPAK_APP}'. "
            "Or start the server yourself before using the plug-in: "
            f"'{server_python} -m nst_server serve'.")

