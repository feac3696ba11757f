"""The plug-in's ``server.json``: how the plug-in reaches its server.  Its one home.

install.py writes it into the plug-in's folder; the plug-in, the doctor and
install.py's next run read it here.  (Not to be confused with the *runtime*
file a running server writes in its private folder: runtime.py.)  Fields:

* ``command``: how to start the local server (absent in remote mode);
* ``remote``: a remote server's connection file (remote mode; it holds a secret key);
* ``bridge``: how to start the bridge helper with the server's Python;
* ``use_bridge``: true where GIMP's Python cannot load pyzmq at all (Windows'
  MSYS2 Python, the Flatpak runtime);
* ``runtime_dir``: where the server's runtime file lives, when not the default;
* ``vendor``: a folder with pyzmq built for GIMP's exact Python when the system
  has none (outside GIMP's profile, whose first-start copy by a newer GIMP
  leaves deep folders out);
* ``version``: the version of the package that wrote it.

Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst_server.client import runtime

CONFIG_FILE = "server.json"


@dataclass(frozen=True)
class PluginConfig:
    command: tuple[str, ...] | None = None
    remote: dict[str, Any] | None = None
    bridge: tuple[str, ...] | None = None
    use_bridge: bool = False
    runtime_dir: str | None = None
    vendor: str | None = None
    version: str | None = None

    @property
    def runtime_path(self) -> Path | None:
        return Path(self.runtime_dir) if self.runtime_dir else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version} if self.version else {}
        for name in ("remote", "command", "bridge"):
            value = getattr(self, name)
            if value:
                data[name] = list(value) if isinstance(value, tuple) else value
        if self.use_bridge:
            data["use_bridge"] = True
        for name in ("vendor", "runtime_dir"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, raw: Any) -> PluginConfig:
        """What a (hand-edited, older or damaged) file says; what is missing or of the wrong type is absent."""
        raw = raw if isinstance(raw, dict) else {}

        def words(name: str) -> tuple[str, ...] | None:
            value = raw.get(name)
            return tuple(str(w) for w in value) if isinstance(value, list) and value else None

        def text(name: str) -> str | None:
            value = raw.get(name)
            return str(value) if isinstance(value, str) and value else None

        remote = raw.get("remote")
        return cls(words("command"), remote if isinstance(remote, dict) else None, words("bridge"),
                   raw.get("use_bridge") is True, text("runtime_dir"), text("vendor"), text("version"))


def config_file(plugin_dir: Path) -> Path:
    return Path(plugin_dir) / CONFIG_FILE


def read_raw(plugin_dir: Path) -> dict[str, Any] | None:
    """The file's JSON object as it is, or None when it is missing, unreadable or not an object."""
    try:
        raw = json.loads(config_file(plugin_dir).read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def read(plugin_dir: Path) -> PluginConfig | None:
    """The plug-in's configuration, or None when its file is missing or damaged."""
    raw = read_raw(plugin_dir)
    return None if raw is None else PluginConfig.from_json(raw)


def write(plugin_dir: Path, config: PluginConfig) -> bool:
    """Write the file (private: it may hold a remote key) when it would change; True if written."""
    if read_raw(plugin_dir) == config.to_json():
        return False
    runtime.write_private_json(config_file(plugin_dir), config.to_json())
    return True
