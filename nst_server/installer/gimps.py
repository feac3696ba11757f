"""Which GIMP 3 is installed, its version, and the profile folder each one reads.

GIMP 3.x keeps its user profile in ``.../GIMP/<major>.<minor>`` (3.0, 3.2, ...).
A GIMP whose folder does not exist yet copies the newest older 3.x profile on its
first start (GIMP 3.2 copies 3.0's), but leaves out folders nested six or more
levels below the profile: whatever the plug-in needs must sit shallower than that
(install.py keeps GIMP's pyzmq copy outside the profile for this reason).

Standard library only.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FLATPAK_APP = "org.gimp.GIMP"
KNOWN_VERSIONS = ("3.0", "3.2")  # profile folders looked for even when no GIMP is found
MIGRATION_MAX_DEPTH = 5  # folders this many levels below the profile root survive GIMP's first-start copy
_VERSION = re.compile(r"\b(3)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Profile:
    """A GIMP 3 user profile folder and the kind of GIMP that uses it."""

    path: Path
    kind: str  # native, flatpak, snap, macos, windows

    @property
    def plugin_dir(self) -> Path:
        return self.path / "plug-ins" / "style_transfer"


@dataclass(frozen=True)
class InstalledGimp:
    """A GIMP 3 found on this machine."""

    version: str  # "3.2": the profile folder it reads
    release: str  # what it says about itself, e.g. "GNU Image Manipulation Program version 3.2.6"
    kind: str  # native, flatpak, snap, macos, windows
    where: str  # its executable, or "flatpak org.gimp.GIMP"
    console: str | None = None  # a headless GIMP of this version that can be run here


@dataclass(frozen=True)
class Reader:
    """An installed GIMP and the profile it reads; ``migrates_from`` when that profile is not made yet
    and GIMP will copy an older one on its first start."""

    gimp: InstalledGimp
    profile: Profile
    migrates_from: Profile | None = None


def host_platform(platform: str | None = None) -> str:
    platform = platform or sys.platform
    return "win32" if platform.startswith("win") else "darwin" if platform == "darwin" else "linux"


def profile_bases(platform: str | None = None) -> list[tuple[Path, str]]:
    """(folder holding the version folders, kind) for each kind of GIMP this platform has, most usual first."""
    platform = host_platform(platform)
    home = Path.home()
    if platform == "win32":
        return [(Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "GIMP", "windows")]
    if platform == "darwin":
        return [(home / "Library" / "Application Support" / "GIMP", "macos")]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [(config / "GIMP", "native"),
            (home / ".var" / "app" / FLATPAK_APP / "config" / "GIMP", "flatpak"),
            (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap")]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def profile_candidates(platform: str | None = None, versions: tuple[str, ...] | list[str] = KNOWN_VERSIONS) -> list[Profile]:
    """Every folder where a GIMP 3 of this platform may keep its user profile, most usual first."""
    ordered = sorted(set(versions), key=version_key)
    return [Profile(base / version, kind) for base, kind in profile_bases(platform) for version in ordered]


def profile_kind(path: Path, platform: str | None = None) -> str:
    text = path.as_posix()
    if f"/.var/app/{FLATPAK_APP}/" in text:
        return "flatpak"
    if "/snap/gimp/" in text:
        return "snap"
    return {"win32": "windows", "darwin": "macos"}.get(host_platform(platform), "native")


def parse_version(text: str) -> str | None:
    """'3.2' from 'GNU Image Manipulation Program version 3.2.6' (or from a name like gimp-console-3.2)."""
    match = _VERSION.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _ask_version(exe: str) -> str:
    try:
        result = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (result.stdout.strip().splitlines() or [""])[0]


def _native_executables(platform: str) -> list[str]:
    """GIMP executables on PATH (and in the usual install folders), versioned names first."""
    if platform == "win32":
        found = []
        for base in (os.environ.get("ProgramFiles", r"C:\Program Files"), os.environ.get("LOCALAPPDATA", "")):
            if base:
                found += [str(p) for p in sorted(Path(base).glob("GIMP 3*/bin/gimp-console-3*.exe"))]
        return found
    if platform == "darwin":
        return [str(app / "Contents" / "MacOS" / "gimp") for app in sorted(Path("/Applications").glob("GIMP*.app"))]
    folders = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/local/bin", "/usr/bin", "/bin"]
    found: list[str] = []
    for pattern in ("gimp-console-3.*", "gimp-3.*", "gimp-console", "gimp"):
        for folder in dict.fromkeys(f for f in folders if f):
            for path in sorted(Path(folder).glob(pattern)):
                if path.is_file() and os.access(path, os.X_OK) and str(path) not in found:
                    found.append(str(path))
    return found


def _macos_version(exe: str) -> str:
    try:
        with open(Path(exe).parents[1] / "Info.plist", "rb") as fh:
            return str(plistlib.load(fh).get("CFBundleShortVersionString", ""))
    except (OSError, ValueError, plistlib.InvalidFileException):
        return ""


def find_gimps(platform: str | None = None) -> list[InstalledGimp]:
    """Every GIMP 3 installed here, one entry per version and kind, newest version first."""
    platform = host_platform(platform)
    kind = {"win32": "windows", "darwin": "macos"}.get(platform, "native")
    by_version: dict[tuple[str, str], InstalledGimp] = {}
    seen: set[str] = set()
    for exe in _native_executables(platform):
        real = os.path.realpath(exe)
        if real in seen:
            continue
        seen.add(real)
        release = (_macos_version(exe) if platform == "darwin" else "") or _ask_version(exe)
        version = parse_version(release) or (parse_version(Path(exe).name) if platform == "win32" else None)
        if version is None:
            continue
        console = exe if "console" in Path(exe).name else None
        old = by_version.get((kind, version))
        if old is None:
            by_version[(kind, version)] = InstalledGimp(version, release or f"GIMP {version}", kind, exe, console)
        elif old.console is None and console:
            by_version[(kind, version)] = InstalledGimp(version, old.release, kind, old.where, console)
    if platform == "linux":
        for gimp in (_flatpak_gimp(), _snap_gimp()):
            if gimp is not None:
                by_version.setdefault((gimp.kind, gimp.version), gimp)
    return sorted(by_version.values(), key=lambda g: version_key(g.version), reverse=True)


def _flatpak_gimp() -> InstalledGimp | None:
    if not shutil.which("flatpak"):
        return None
    try:
        result = subprocess.run(["flatpak", "info", FLATPAK_APP], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    line = next((x for x in result.stdout.splitlines() if x.strip().lower().startswith("version:")), "")
    version = parse_version(line)
    return InstalledGimp(version, f"GIMP {line.split(':', 1)[-1].strip()} (Flatpak)", "flatpak",
                         f"flatpak {FLATPAK_APP}") if version else None


def _snap_gimp() -> InstalledGimp | None:
    meta = Path("/snap/gimp/current/meta/snap.yaml")
    try:
        line = next((x for x in meta.read_text().splitlines() if x.startswith("version:")), "")
    except OSError:
        return None
    version = parse_version(line)
    return InstalledGimp(version, f"GIMP {line.split(':', 1)[-1].strip(' ' + chr(39))} (Snap)", "snap",
                         "/snap/bin/gimp") if version else None


def reader(gimp: InstalledGimp, platform: str | None = None) -> Reader:
    """The profile ``gimp`` reads (GIMP3_DIRECTORY wins), and what it will copy when that does not exist yet."""
    if os.environ.get("GIMP3_DIRECTORY"):
        path = Path(os.environ["GIMP3_DIRECTORY"]).expanduser()
        return Reader(gimp, Profile(path, profile_kind(path, platform)))
    base = next((b for b, k in profile_bases(platform) if k == gimp.kind), profile_bases(platform)[0][0])
    profile = Profile(base / gimp.version, gimp.kind)
    if profile.path.is_dir():
        return Reader(gimp, profile)
    older = sorted((p for p in base.glob("3.*") if p.is_dir() and parse_version(p.name) == p.name
                    and version_key(p.name) < version_key(gimp.version)), key=lambda p: version_key(p.name))
    return Reader(gimp, profile, Profile(older[-1], gimp.kind) if older else None)


def install_targets(gimps: list[InstalledGimp], platform: str | None = None) -> list[Profile]:
    """The profiles to install into: every existing profile, plus the one each installed GIMP will read.

    A GIMP whose profile is not there yet gets it made, unless it will copy an older profile on
    its first start: that one is installed into (making the new folder would stop GIMP from
    carrying the user's settings over).
    """
    versions = [*KNOWN_VERSIONS, *(g.version for g in gimps)]
    targets = [p for p in profile_candidates(platform, versions) if p.path.is_dir()]
    for r in (reader(g, platform) for g in gimps):
        if r.migrates_from is None and r.profile not in targets:
            targets.append(r.profile)
    return targets or profile_candidates(platform)[:1]


def too_deep(plugin_dir: Path, profile: Path) -> list[Path]:
    """Folders under ``plugin_dir`` that GIMP's first-start copy of ``profile`` would leave out."""
    if not plugin_dir.is_dir():
        return []
    return [p for p in plugin_dir.rglob("*")
            if p.is_dir() and len(p.relative_to(profile).parts) > MIGRATION_MAX_DEPTH]
