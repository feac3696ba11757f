#!/usr/bin/env python3
"""Run the whole test suite from a clean clone: ``python3 tests/run.py [pytest arguments]``.

``python3 tests/run.py --quick``: the fast loop while working (the tests marked ``quick``: no GIMP, no chroot, no
TensorFlow run), about half a minute; step 2 is skipped.

1. a virtual environment ``.venv`` with the server package and the test tools;
2. GIMP 3.0 and 3.2 for the end-to-end tests (the host's, or a Debian 13 and a Debian
   testing chroot, each built once);
3. ruff over the code;
4. pytest over tests/.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
STAMP = VENV / ".nst-test-deps"


def step(title: str, cmd: list[str], **kw) -> None:
    print(f"\n=== {title}", flush=True)
    started = time.monotonic()
    code = subprocess.run(cmd, cwd=REPO, **kw).returncode
    if code != 0:
        sys.exit(f"=== {title}: failed with exit code {code}")
    print(f"=== {title}: ok ({time.monotonic() - started:.0f} s)", flush=True)


def ensure_venv() -> None:
    wanted = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        step("creating .venv", [sys.executable, "-m", "venv", str(VENV)])
    step("installing the server package and test tools",
         [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[test]"])
    STAMP.write_text(wanted)


def main() -> int:
    started = time.monotonic()
    arguments = sys.argv[1:]
    quick = "--quick" in arguments
    if quick:
        arguments = ["-m", "quick", *(a for a in arguments if a != "--quick")]
    ensure_venv()
    if not quick:
        step("providing GIMP 3.0 and 3.2 for the end-to-end tests", [str(PYTHON), "-m", "tests.support.gimp"])
    step("ruff", [str(PYTHON), "-m", "ruff", "check", "."])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    code = subprocess.run([str(PYTHON), "-m", "pytest", *arguments], cwd=REPO, env=env).returncode
    print(f"\n=== {'quick loop' if quick else 'whole suite'} took {time.monotonic() - started:.0f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
