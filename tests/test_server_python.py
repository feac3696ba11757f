"""install.py picks a Python for which TensorFlow has a release, asking pip's real index.

PyPI has only TensorFlow pre-releases for the newest Python (3.14 when this was
written); the tests find such a version first, so that they keep meaning what
they say when TensorFlow catches up.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nst_server.installer import server_python
from tests.conftest import REPO

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run

PIP = REPO / ".venv/bin/python"


@pytest.fixture(scope="module")
def only_prerelease() -> tuple[str, str]:
    """(Python version, TensorFlow pre-release) for a Python that PyPI has only pre-releases for."""
    for minor in range(14, 20):
        version = f"3.{minor}"
        if server_python.tensorflow_for(PIP, version):
            continue
        if pre := server_python.tensorflow_for(PIP, version, pre=True):
            return version, pre
    pytest.skip("every Python with a TensorFlow pre-release also has a release")


def choose(version: str, path: str, allow_prerelease: bool = False) -> subprocess.CompletedProcess:
    """nst_server.installer.server_python.choose in a process whose PATH is ``path`` (the Pythons it can find)."""
    code = ("import sys; from pathlib import Path; from nst_server.installer import server_python as s; "
            "c = s.choose(Path(sys.argv[1]), (sys.argv[2], Path('/nonexistent/python' + sys.argv[2])), "
            "sys.argv[3] == '1', print); print('CHOSE', c.version, c.tensorflow, c.prerelease, c.python)")
    return subprocess.run([sys.executable, "-c", code, str(PIP), version, "1" if allow_prerelease else "0"],
                          cwd=REPO, env={"PATH": path, "HOME": str(Path.home()), **pip_env()},
                          capture_output=True, text=True, timeout=600)


def pip_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith("PIP_")}


def test_without_a_released_tensorflow_anywhere_it_says_so_and_what_to_do(only_prerelease, tmp_path):
    version, pre = only_prerelease
    result = choose(version, str(tmp_path))  # no other Python on PATH
    print(result.stdout, result.stderr)
    assert result.returncode == 1 and "CHOSE" not in result.stdout and "Traceback" not in result.stderr
    assert f"TensorFlow has no release for Python {version} yet (PyPI has only the pre-release {pre} for it)" \
        in result.stderr
    assert "python3 install.py --tensorflow-prerelease" in result.stderr
    assert "is released" in result.stderr  # names the newest Python TensorFlow has a release for


def test_another_python_with_a_released_tensorflow_is_taken(only_prerelease):
    version, _ = only_prerelease
    result = choose(version, "/usr/local/bin:/usr/bin:/bin")
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr
    chosen = result.stdout.split("CHOSE ", 1)[1].split()
    assert chosen[0] != version and chosen[2] == "False" and not server_python.is_prerelease(chosen[1])
    assert f"TensorFlow has no release for Python {version} yet" in result.stdout  # and it says which it took


def test_the_prerelease_only_when_asked(only_prerelease, tmp_path):
    version, pre = only_prerelease
    result = choose(version, str(tmp_path), allow_prerelease=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("CHOSE ", 1)[1].split()[:3] == [version, pre, "True"]
    assert "installing the pre-release" in result.stdout


def test_prerelease_versions_are_recognised():
    assert [server_python.is_prerelease(v) for v in ("2.22.0rc0", "2.21.0a1", "2.22.0.dev20260101", "2.21.0",
                                                      "2.16.2")] == [True, True, True, False, False]
