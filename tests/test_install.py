"""install.py's plug-in placement and removal, into temporary homes (the server venv is covered end to end)."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture
def install(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("nst_install", REPO / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("GIMP3_DIRECTORY", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "NST_DATA_DIR", "NST_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    return module


def test_gimp3_directory_wins(install, monkeypatch, tmp_path):
    monkeypatch.setenv("GIMP3_DIRECTORY", str(tmp_path / "isolated"))
    assert install.find_profiles() == [tmp_path / "isolated"]


def test_existing_profiles_are_found_native_and_flatpak(install):
    home = Path.home()
    native = home / ".config" / "GIMP" / "3.0"
    flatpak = home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.2"
    native.mkdir(parents=True)
    flatpak.mkdir(parents=True)
    assert install.find_profiles() == [native, flatpak]


def test_without_any_profile_the_native_default_is_used(install):
    assert install.find_profiles() == [Path.home() / ".config" / "GIMP" / "3.0"]


def test_plugin_lands_executable_with_its_shared_modules(install, tmp_path):
    profile = tmp_path / "profile"
    dest = install.install_plugin(profile, Path("/opt/venv/bin/python"))
    plugin = dest / "style_transfer.py"
    assert dest == profile / "plug-ins" / "style_transfer"
    assert plugin.stat().st_mode & stat.S_IXUSR
    assert json.loads((dest / "server.json").read_text())["command"] == ["/opt/venv/bin/python", "-m", "nst_server", "serve"]
    for name in install.SHARED_MODULES:
        assert (dest / "nst_server" / name).read_bytes() == (REPO / "nst_server" / name).read_bytes()


def test_the_plugin_side_modules_need_only_the_standard_library_and_pyzmq(install, tmp_path):
    dest = install.install_plugin(tmp_path / "profile", Path(sys.executable))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nst_server import client, protocol, runtime, paths;"
        "heavy = {'numpy', 'tensorflow', 'PIL'} & set(sys.modules);"
        "assert not heavy, heavy; print(client.__file__)"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code, str(dest)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(dest))


def test_installing_twice_changes_nothing(install, tmp_path):
    profile = tmp_path / "profile"
    dest = install.install_plugin(profile, Path("/opt/venv/bin/python"))
    first = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    install.install_plugin(profile, Path("/opt/venv/bin/python"))
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == first


def test_uninstall_removes_what_install_put_there_and_nothing_else(install, tmp_path, monkeypatch):
    profile = tmp_path / "profile"
    monkeypatch.setenv("NST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path / "state"))
    ours = install.install_plugin(profile, Path("/opt/venv/bin/python"))
    theirs = profile / "plug-ins" / "someone-elses"
    theirs.mkdir()
    for folder in ("data/venv", "data/weights", "state"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "file").write_text("x")
    install.uninstall([profile])
    assert not ours.exists() and theirs.exists()
    assert not (tmp_path / "data").exists() and not (tmp_path / "state").exists()


def test_weights_install_refuses_a_broken_file_with_advice(tmp_path):
    broken = tmp_path / "weights.h5"
    broken.write_bytes(b"broken")
    result = subprocess.run([sys.executable, "-m", "nst_server", "weights", "install", str(broken)], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "NST_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 4
    assert "not a usable VGG19 weights file" in result.stderr and "Traceback" not in result.stderr


def test_remote_install_records_the_connection_privately(install, tmp_path):
    keys = tmp_path / "keys"
    for args in (["remote-setup", str(keys), "--endpoint", "tcp://gpu-box:5555"],
                 ["remote-add-client", str(keys), "laptop", "-o", str(tmp_path / "laptop.json")]):
        subprocess.run([sys.executable, "-m", "nst_server", *args], cwd=REPO, check=True, capture_output=True)
    profile = tmp_path / "profile"
    assert install.main(["--remote", str(tmp_path / "laptop.json"), "--profile", str(profile)]) == 0
    config_file = profile / "plug-ins" / "style_transfer" / "server.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    remote = json.loads(config_file.read_text())["remote"]
    assert remote["endpoint"] == "tcp://gpu-box:5555" and remote["curve_server_key"]
    with pytest.raises(SystemExit, match="not a connection file"):
        install.main(["--remote", str(config_file.parent / "style_transfer.py"), "--profile", str(profile)])


def test_offline_weights_step_explains_itself_without_a_traceback(install, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("NST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NST_OFFLINE", "1")  # as on a machine without internet access
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert install.install_weights(Path(sys.executable), None) is False
    err = capfd.readouterr().err
    assert "install.py --weights FILE" in err and "Traceback" not in err
