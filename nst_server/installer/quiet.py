"""The installer's output: its own lines, and the server's Python run without library log lines.

TensorFlow writes its start-up lines (oneDNN, CUDA stubs) through absl before
its own log level applies, so TF_CPP_MIN_LOG_LEVEL cannot silence them all.
The child's standard error is passed through line by line without them; a
progress bar (lines ended by a carriage return) still moves as it goes.

Standard library only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

# absl before its initialisation, absl/glog lines, TensorFlow's own C++ log lines.
LIBRARY_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-]+:\d+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [\w/.\-]+:\d+\])"
)


def say(message: str) -> None:
    """One line of the installer's own."""
    print(f"[install] {message}", flush=True)


def quiet_env(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """For the server's Python run from the installer: less TensorFlow chatter, no Python warnings,
    Keras's settings file in our folder (never a new ~/.keras)."""
    env = dict(os.environ if env is None else env, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    if "KERAS_HOME" not in env and not (Path.home() / ".keras").exists():
        env["KERAS_HOME"] = str(data_dir / "keras")
    return env


def copy_without_library_lines(source: BinaryIO, sink: BinaryIO) -> None:
    """Copy ``source`` to ``sink`` as it comes, dropping the lines LIBRARY_LINE matches."""
    pending = b""
    while chunk := os.read(source.fileno(), 65536):
        pending += chunk
        while (match := re.search(rb"[\r\n]", pending)) is not None:
            segment, pending = pending[:match.end()], pending[match.end():]
            if not LIBRARY_LINE.match(segment):
                sink.write(segment)
                sink.flush()
    if pending and not LIBRARY_LINE.match(pending):
        sink.write(pending)
        sink.flush()


def run(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` with its standard output as is and its standard error without library lines."""
    process = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    try:
        copy_without_library_lines(process.stderr, sys.stderr.buffer)
    finally:
        process.stderr.close()
    return process.wait()
