"""install.py into temporary homes laid out like each platform, run as a real process.

The server environment is this checkout's .venv (``--server-python``): making a
fresh venv with TensorFlow is what the newcomer test and the GIMP end-to-end
tests do.  GIMP's Python on the host is the system ``/usr/bin/python3``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import REPO
from tests.support.servers import pid_alive

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def load_install() -> SimpleNamespace:
    """install.py's pieces (nst_server/installer/), as the tests call them in-process."""
    from nst_server.installer import main, plugin_files, server_env

    return SimpleNamespace(find_profiles=main.find_profiles, main=main.main, install_plugin=plugin_files.install_plugin,
                           STAMP=server_env.STAMP, source_digest=server_env.source_digest,
                           install_server_env=server_env.install_server_env)


@pytest.fixture
def install(monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("GIMP3_DIRECTORY", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "NST_DATA_DIR", "NST_STATE_DIR",
                "APPDATA", "NST_GIMP_PYTHON"):
        monkeypatch.delenv(var, raising=False)
    return load_install()


@pytest.fixture(scope="module")
def home_weights(tmp_path_factory, vgg19_weights) -> Path:
    return vgg19_weights


def home_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's environment with this temporary home: nothing from the real one leaks in."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "NST_RUNTIME_DIR": str(home / "run"),
           "TF_CPP_MIN_LOG_LEVEL": "3", **extra}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    return env


def run_install(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, str(REPO / "install.py"), *args], env=home_env(home, **(env or {})),
                            cwd=home, capture_output=True, text=True, timeout=timeout)
    print(result.stdout[-3000:], result.stderr[-3000:])
    return result


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under ``root`` with its bytes, mode and modification time."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        key = str(path.relative_to(root))
        if path.is_dir() and not path.is_symlink():
            state[key] = ("dir", stat.S_IMODE(info.st_mode))
        elif path.is_file():
            state[key] = (path.read_bytes(), stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return state


def stop_server(home: Path, runtime_dir: Path | None = None) -> None:
    info = (runtime_dir or home / "run") / "server.json"
    if info.exists():
        pid = json.loads(info.read_text())["pid"]
        os.kill(pid, 15)
        from tests.support.servers import wait_for

        wait_for(lambda: not pid_alive(pid), 30)


# ------------------------------------------------------------------------------------ where each GIMP looks

PLATFORM_LAYOUTS = {
    # name: (--platform, profile folder GIMP creates, extra environment, plug-in talks via the bridge)
    "linux": ("linux", ".config/GIMP/3.0", {}, False),
    "linux-gimp-3.2": ("linux", ".config/GIMP/3.2", {}, False),
    "flatpak": ("linux", ".var/app/org.gimp.GIMP/config/GIMP/3.0", {}, True),
    "snap": ("linux", "snap/gimp/current/.config/GIMP/3.0", {}, False),
    "macos": ("darwin", "Library/Application Support/GIMP/3.0", {}, True),
    "windows": ("win32", "AppData/Roaming/GIMP/3.0", {"APPDATA": "{home}/AppData/Roaming"}, True),
}


@pytest.mark.parametrize("layout", PLATFORM_LAYOUTS)
def test_the_plugin_lands_where_each_gimp_looks_and_is_executable(layout, tmp_path, home_weights):
    platform, profile, extra, bridge = PLATFORM_LAYOUTS[layout]
    home = tmp_path / "home"
    (home / profile).mkdir(parents=True)  # as GIMP leaves it after its first start
    env = {k: v.format(home=home) for k, v in extra.items()}
    if layout == "snap":  # the snap's own Python: here the system one stands in for it
        env["NST_GIMP_PYTHON"] = SYSTEM_PYTHON
    result = run_install(home, "--platform", platform, "--server-python", str(REPO / ".venv/bin/python"),
                         "--weights", str(home_weights), env=env)
    assert result.returncode == 0, result.stderr
    plugin_dir = home / profile / "plug-ins" / "style_transfer"
    plugin = plugin_dir / "style_transfer.py"
    assert plugin.read_bytes() == (REPO / "gimp_plugin/style_transfer/style_transfer.py").read_bytes()
    assert plugin.stat().st_mode & stat.S_IXUSR
    installed = sorted(p.relative_to(home).parts[0] for p in home.rglob("style_transfer.py"))
    assert len(installed) == 1  # only into the profile that exists
    config = json.loads((plugin_dir / "server.json").read_text())
    assert config["command"] == [str(REPO / ".venv/bin/python"), "-m", "nst_server", "serve"]
    assert bool(config.get("use_bridge")) == bridge
    assert config["bridge"][-3:] == [str(REPO / ".venv/bin/python"), "-m", "nst_server.service.bridge"]
    if layout == "flatpak":  # the helper and the server it starts run outside the sandbox
        assert config["bridge"][:2] == ["flatpak-spawn", "--host"]
        assert "flatpak override --user --talk-name=org.freedesktop.Flatpak org.gimp.GIMP" in result.stdout
    if layout == "snap":
        assert config["runtime_dir"] == str(home / "snap/gimp/common/nst-run")
    if not bridge:  # GIMP's Python reaches pyzmq: the system's, or a copy built for exactly that Python
        probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import sys; sys.path.append(sys.argv[1]); import zmq; "
                                "print(zmq.__file__)", config.get("vendor", "")], capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr
    # Nothing of the plug-in is nested so deep that GIMP 3.2's first-start copy of the profile would drop it.
    assert max(len(p.relative_to(home / profile).parts) for p in plugin_dir.rglob("*") if p.is_dir()) <= 5
    # The doctor's round trip: the plug-in's own modules reach the real server the way this layout says.
    try:
        check = run_install(home, "--check", "--platform", platform, env=env)
    finally:
        stop_server(home, Path(config.get("runtime_dir", home / "run")))
    way = "the stdio bridge" if bridge else "pyzmq"
    assert f"went to the server through {way} and came back stylized" in check.stdout, check.stdout


def test_gimp3_directory_wins(install, monkeypatch, tmp_path):
    monkeypatch.setenv("GIMP3_DIRECTORY", str(tmp_path / "isolated"))
    assert [p.path for p in install.find_profiles()] == [tmp_path / "isolated"]


def test_every_existing_profile_is_found(install):
    home = Path.home()
    layouts = [(".config/GIMP/3.0", "native"), (".var/app/org.gimp.GIMP/config/GIMP/3.2", "flatpak"),
               ("snap/gimp/current/.config/GIMP/3.0", "snap")]
    for folder, _ in layouts:
        (home / folder).mkdir(parents=True)
    assert [(p.path, p.kind) for p in install.find_profiles(platform="linux")] == [(home / f, k) for f, k in layouts]


def test_without_any_profile_the_usual_one_is_used(install, monkeypatch):
    home = Path.home()
    assert [p.path for p in install.find_profiles(platform="linux")] == [home / ".config/GIMP/3.0"]
    assert [p.path for p in install.find_profiles(platform="darwin")] == [home / "Library/Application Support/GIMP/3.0"]
    monkeypatch.setenv("APPDATA", str(home / "Roaming"))
    assert [p.path for p in install.find_profiles(platform="win32")] == [home / "Roaming/GIMP/3.0"]


IMPORT_CLIENT = """
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "no-pyzmq":
    sys.modules["zmq"] = None  # as in a GIMP whose Python has none
import nst_server.client as package
names = [m.name for m in pkgutil.iter_modules(package.__path__)]
for name in names:
    if not (name == "transport_zmq" and sys.argv[2] == "no-pyzmq"):
        importlib.import_module(f"nst_server.client.{name}")
heavy = {"numpy", "tensorflow", "PIL", "keras"} & set(sys.modules)
assert not heavy, heavy
print(package.__file__, len(names))
"""


def test_the_client_package_imports_neither_numpy_nor_tensorflow(install, tmp_path):
    """What install.py copies into GIMP: every module of nst_server/client, with pyzmq and without it."""
    dest, _ = install.install_plugin(tmp_path / "profile", Path(sys.executable))
    assert sorted(p.name for p in (dest / "nst_server/client").glob("*.py")) == \
        sorted(p.name for p in (REPO / "nst_server/client").glob("*.py"))  # the package, whole
    for where, root in (("installed", dest), ("checkout", REPO)):
        for mode in ("no-pyzmq", "pyzmq"):
            result = subprocess.run([sys.executable, "-I", "-c", IMPORT_CLIENT, str(root), mode],
                                    capture_output=True, text=True)
            assert result.returncode == 0, (where, mode, result.stderr)
            assert result.stdout.startswith(str(root)), result.stdout


# ------------------------------------------------------------------------- twice, uninstall, offline, doctor

@pytest.fixture(scope="module")
def installed_home(tmp_path_factory, home_weights):
    """A home where GIMP 3.0 has run once, before and after a complete install."""
    home = tmp_path_factory.mktemp("user") / "home"
    (home / ".config/GIMP/3.0/plug-ins/someone-elses").mkdir(parents=True)
    (home / ".config/GIMP/3.0/plug-ins/someone-elses/theirs.py").write_text("# not ours\n")
    (home / ".config/GIMP/3.0/gimprc").write_text("# GIMP's settings\n")
    before = snapshot(home)
    result = run_install(home, "--server-python", str(REPO / ".venv/bin/python"), "--weights", str(home_weights))
    assert result.returncode == 0, result.stderr
    yield home, before
    stop_server(home)


def test_installing_twice_changes_nothing_the_second_time(installed_home, home_weights):
    home, _ = installed_home
    first = snapshot(home)
    assert any("vendor" in name for name in first)  # pyzmq was built for the system Python
    assert not any("plug-ins/style_transfer/vendor" in name for name in first)  # outside GIMP's profile
    result = run_install(home, "--server-python", str(REPO / ".venv/bin/python"), "--weights", str(home_weights))
    assert result.returncode == 0, result.stderr
    assert "is already installed: not Keras's VGG19 ImageNet file" in result.stdout  # the seeded test weights
    assert "plug-in up to date in" in result.stdout and "plug-in installed in" not in result.stdout
    # A plain rerun names the file in place as what it is, every time, and downloads nothing.
    result = run_install(home, "--server-python", str(REPO / ".venv/bin/python"))
    assert result.returncode == 0, result.stderr
    assert "the weights are installed" in result.stdout and "not Keras's VGG19 ImageNet file" in result.stdout
    assert "downloading" not in result.stdout and "ImageNet weights (about" not in result.stdout
    assert snapshot(home) == first  # same bytes, same modes, same modification times


def test_the_server_environment_is_not_reinstalled_when_nothing_changed(install, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to(sys.executable)
    (venv / install.STAMP).write_text(install.source_digest(False) + "\n")
    assert install.install_server_env(venv, gpu=False) == venv / "bin/python"  # pip would fail here: no network
    assert install.source_digest(True) != install.source_digest(False)


def test_the_doctor_on_a_complete_install_and_on_a_broken_one(installed_home):
    home, _ = installed_home
    good = run_install(home, "--check")
    lines = good.stdout.splitlines()
    # No GIMP on this host: that is the only problem, and the round trip still runs through the real server.
    assert good.returncode == 1 and [line for line in lines if line.startswith("FIX")] == [
        next(line for line in lines if "GIMP 3 was not found" in line)]
    for expected in ("OK    plug-in in place and executable", "OK    GIMP's Python", "OK    server environment",
                     "OK    round trip: a 32x24 test image went to the server through pyzmq and came back stylized"):
        assert any(line.startswith(expected) for line in lines), expected
    assert "not the official ImageNet file" in good.stdout  # the test weights are not ImageNet's

    plugin_dir = home / ".config/GIMP/3.0/plug-ins/style_transfer"
    weights_dir = home / ".local/share/gimp-style-transfer/weights"
    vendor = Path(json.loads((plugin_dir / "server.json").read_text())["vendor"])
    assert vendor.is_relative_to(home / ".local/share/gimp-style-transfer")
    os.chmod(plugin_dir / "style_transfer.py", 0o644)
    shutil.move(vendor, home / "vendor-aside")
    shutil.move(weights_dir, home / "weights-aside")
    try:
        broken = run_install(home, "--check")
    finally:
        os.chmod(plugin_dir / "style_transfer.py", 0o755)
        shutil.move(home / "vendor-aside", vendor)
        shutil.move(home / "weights-aside", weights_dir)
    fixes = [line for line in broken.stdout.splitlines() if line.startswith("FIX")]
    assert broken.returncode == 1
    assert any("not executable (GIMP ignores it): run 'python3 install.py'" in line for line in fixes)
    assert any("cannot import pyzmq: run 'python3 install.py' again" in line for line in fixes)
    assert any("weights are not installed" in line and "install.py --weights FILE" in line for line in fixes)
    assert "NOTE  round trip skipped until the problems above are fixed" in broken.stdout


def test_uninstall_leaves_nothing_behind(installed_home, tmp_path):
    home, before = installed_home
    stop_server(home)
    result = run_install(home, "--uninstall")
    assert result.returncode == 0, result.stderr
    after = snapshot(home)
    assert after == before, sorted(set(after) ^ set(before))


def test_remote_install_records_the_connection_privately(install, tmp_path):
    keys = tmp_path / "keys"
    for args in (["remote-setup", str(keys), "--endpoint", "tcp://gpu-box:5555"],
                 ["remote-add-client", str(keys), "laptop", "-o", str(tmp_path / "laptop.json")]):
        subprocess.run([sys.executable, "-m", "nst_server", *args], cwd=REPO, check=True, capture_output=True)
    profile = tmp_path / "profile"
    assert install.main(["--remote", str(tmp_path / "laptop.json"), "--profile", str(profile),
                         "--server-python", sys.executable]) == 0
    config_file = profile / "plug-ins" / "style_transfer" / "server.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    config = json.loads(config_file.read_text())
    assert config["remote"]["endpoint"] == "tcp://gpu-box:5555" and config["remote"]["curve_server_key"]
    assert "command" not in config
    with pytest.raises(SystemExit, match="not a connection file"):
        install.main(["--remote", str(config_file.parent / "style_transfer.py"), "--profile", str(profile)])


def test_weights_install_refuses_a_broken_file_with_advice(tmp_path):
    broken = tmp_path / "weights.h5"
    broken.write_bytes(b"broken")
    result = subprocess.run([sys.executable, "-m", "nst_server", "weights", "install", str(broken)], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "NST_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 4
    assert "not a usable VGG19 weights file" in result.stderr and "Traceback" not in result.stderr


def test_offline_install_explains_the_weights_without_a_traceback(tmp_path):
    home = tmp_path / "home"
    result = run_install(home, "--server-python", str(REPO / ".venv/bin/python"), env={"NST_OFFLINE": "1"})
    assert result.returncode == 1
    assert "Not downloading the VGG19 weights: NST_OFFLINE=1" in result.stderr
    assert "install.py --weights FILE" in result.stderr and "Traceback" not in result.stderr
    assert (home / ".config/GIMP/3.0/plug-ins/style_transfer/style_transfer.py").is_file()  # the rest is in place


def test_the_installer_shows_no_library_log_lines_and_says_offline_once(tmp_path, home_weights):
    from nst_server.installer.quiet import LIBRARY_LINE

    home = tmp_path / "home"
    offline = run_install(home, "--server-python", str(REPO / ".venv/bin/python"),
                          env={"NST_WEIGHTS_BASE_URL": "http://weights.invalid"})
    said = offline.stdout + offline.stderr
    assert offline.returncode == 1 and "Traceback" not in said
    assert said.count("the name weights.invalid cannot be looked up") == 1  # at once, not after retries
    assert "download interrupted" not in said and "install.py --weights FILE" in said

    local = run_install(home, "--server-python", str(REPO / ".venv/bin/python"), "--weights", str(home_weights))
    said = local.stdout + local.stderr
    assert local.returncode == 0 and "weights installed" in said  # loading the file started TensorFlow
    library = [line for line in said.splitlines() if LIBRARY_LINE.match(line.encode()) or "absl" in line
               or "oneDNN" in line or "cuda" in line.lower()]
    assert not library, library


# ------------------------------------------------------------------------------------------- upgrade path

BEFORE_RESTRUCTURE = "f59507d"  # the last commit whose install.py laid the plug-in out flat (issue 13)


def checkout_of(commit: str, dest: Path) -> Path:
    """This repository's files at ``commit`` (from its history, as a user's clone has them before 'git pull')."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True)
    if archive.returncode != 0 and (REPO / ".git" / "shallow").exists():  # a shallow clone: its origin has it
        subprocess.run(["git", "-C", str(REPO), "fetch", "--quiet", "--unshallow"], capture_output=True, timeout=300)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True)
    if archive.returncode != 0:
        pytest.fail(f"commit {commit} is not in this checkout's history ({archive.stderr.decode().strip()}): "
                    "the upgrade test needs it; 'git fetch --unshallow' gets it")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def test_an_install_from_before_the_restructure_keeps_working_after_installing_again(tmp_path, home_weights):
    """Issue 13: 'git pull && python3 install.py' over an install made by the old flat layout. What moved is
    gone from the plug-in's folder (so nothing old shadows the new client package), the old server.json is
    read and rewritten, and a job runs through the real server with the plug-in's own modules."""
    old_repo = checkout_of(BEFORE_RESTRUCTURE, tmp_path / "old")
    home = tmp_path / "home"
    (home / ".config/GIMP/3.0").mkdir(parents=True)
    plugin_dir = home / ".config/GIMP/3.0/plug-ins/style_transfer"
    args = ("--server-python", str(REPO / ".venv/bin/python"), "--weights", str(home_weights))
    old = subprocess.run([sys.executable, str(old_repo / "install.py"), *args], env=home_env(home), cwd=home,
                         capture_output=True, text=True, timeout=600)
    assert old.returncode == 0, old.stdout[-3000:] + old.stderr[-3000:]
    old_files = {p.relative_to(plugin_dir).as_posix() for p in plugin_dir.rglob("*.py")}
    assert {"nst_server/client.py", "nst_server/protocol.py", "nst_server/bridge_client.py"} <= old_files
    old_config = json.loads((plugin_dir / "server.json").read_text())
    assert old_config["bridge"][-1] == "nst_server.bridge"  # a module that has moved since

    from nst_server.client import config as plugin_config
    from nst_server.installer.plugin_files import plugin_files

    read = plugin_config.read(plugin_dir)  # what the new plug-in makes of the old file, before install.py runs
    assert read is not None and read.command == tuple(old_config["command"]) and read.vendor == old_config.get("vendor")

    try:
        new = run_install(home, *args)
        assert new.returncode == 0, new.stderr
        files = {p.relative_to(plugin_dir).as_posix() for p in plugin_dir.rglob("*.py")}
        assert files == set(plugin_files())  # the new files, and nothing that moved away
        for path, source in plugin_files().items():
            assert (plugin_dir / path).read_bytes() == source.read_bytes(), path
        config = plugin_config.read(plugin_dir)
        assert config is not None and config.command == tuple(old_config["command"])
        assert config.bridge is not None and config.bridge[-1] == "nst_server.service.bridge"
        # GIMP's Python (here the system's) imports the client package from the plug-in's folder, not a stale module.
        probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", IMPORT_CLIENT, str(plugin_dir), "no-pyzmq"],
                               capture_output=True, text=True)
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.startswith(str(plugin_dir / "nst_server/client/__init__.py")), probe.stdout
        check = run_install(home, "--check")
        assert "OK    round trip: a 32x24 test image went to the server through pyzmq and came back stylized" in \
            check.stdout, check.stdout
        again = run_install(home, *args)
        assert again.returncode == 0 and "is already installed" in again.stdout
    finally:
        stop_server(home)


def test_the_installer_stops_a_running_server_but_not_a_process_named_by_a_stale_file(tmp_path, home_weights):
    """install.py stops the running server before it replaces the server's code (the plug-in starts the new one),
    but only a server that holds its lock: the pid in a runtime file left by a killed one may be anyone's now."""
    from nst_server.client import runtime
    from nst_server.installer.server_env import stop_running_server
    from tests.support.servers import ServerProcess

    server = ServerProcess(tmp_path / "live", home_weights)
    try:
        server.connect().close()
        assert stop_running_server(server.runtime_dir) == server.process.pid
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()
    other = subprocess.Popen(["sleep", "60"])
    try:
        run_dir = tmp_path / "stale"
        run_dir.mkdir()
        (run_dir / runtime.LOCK_FILE).touch()  # no one holds it
        runtime.write_runtime_info(runtime.RuntimeInfo("ipc:///nowhere", b"k" * 32, other.pid, "gone"), run_dir)
        assert stop_running_server(run_dir) is None
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_command_s_output_is_shown_only_when_it_fails(capsys):
    """pip's download lines help no one when they work; when it fails, its error line is what matters."""
    from nst_server.installer import server_env

    server_env.run([sys.executable, "-c", "print('Collecting tensorflow\\n' * 100)"], "installing the server")
    assert capsys.readouterr().out == "[install] installing the server\n"
    failing = ("import sys; print('Collecting tensorflow\\n' * 100); "
               "print('ERROR: No matching distribution found for tensorflow==99', file=sys.stderr); sys.exit(1)")
    with pytest.raises(SystemExit) as stop:
        server_env.run([sys.executable, "-c", failing], "installing the server")
    assert "ERROR: No matching distribution found for tensorflow==99" in str(stop.value)
    assert "Collecting" not in str(stop.value) and "exit code 1" in str(stop.value)
