"""Real server processes and request material for the server tests."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nst_server import client
from nst_server.client import protocol
from tests.conftest import REPO, shared_image

SMALL = {"size": 32, "steps": 2}
ENDLESS = {"size": 64, "steps": 10000}


class ServerProcess:
    """``python -m nst_server serve`` in its own runtime folder; stopped with SIGTERM."""

    def __init__(self, folder: Path, weights: Path, *args: str, env: dict | None = None,
                 program: tuple[str, ...] = ("-m", "nst_server", "serve")) -> None:
        self.runtime_dir = folder / "run"
        self.state_dir = folder / "state"
        self.process = subprocess.Popen(
            [sys.executable, *program, "--runtime-dir", str(self.runtime_dir),
             "--weights", str(weights), "--idle-timeout", "0", *args],
            cwd=REPO, env={**os.environ, "NST_STATE_DIR": str(self.state_dir), **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )

    def connect(self, timeout: float = 60.0) -> client.Connection:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}: {self.process.stdout.read().decode()}")
            conn = client.connect_running(self.runtime_dir, timeout=1.0)
            if conn is not None:
                return conn
            time.sleep(0.2)
        raise AssertionError("server did not come up")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def log(self) -> str:
        return (self.state_dir / "server.log").read_text()

    def rss_mb(self) -> float:
        """Resident memory of the socket process (the engine worker is another process)."""
        return proc_status_kb(self.process.pid, "VmRSS") / 1024


def proc_status_kb(pid: int, field: str) -> int:
    """A memory figure of a process from Linux's /proc (VmRSS: resident now; VmHWM: its peak), in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def measured_data_dir(folder: Path, seconds: float = 2.0, backbones: tuple[str, ...] = ("vgg19",)) -> Path:
    """A data folder whose speed cache already holds a sound measurement for this machine, so that the
    engine starts without measuring (minutes while other work loads the machine)."""
    from dataclasses import asdict

    from nst_server.engine import speed

    data = folder / "data"
    timings = {"float32": seconds, "bfloat16": seconds * 2}
    texture = {p: t / 4 for p, t in timings.items()}
    entries = {b: asdict(speed.Speed("float32", timings, texture, b, speed.machine(), "seeded")) for b in backbones}
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    (data / "speed.json").write_text(json.dumps(entries))
    os.chmod(data / "speed.json", 0o600)
    return data


def layer(width: int = 40, height: int = 30, alpha: int | None = None) -> tuple[protocol.ImageDesc, bytes]:
    """A photo layer; ``alpha`` fills the alpha channel (a tag that the result must carry back)."""
    with Image.open(shared_image("chelsea.png")) as img:
        pixels = np.array(img.convert("RGBA").resize((width, height)))
    if alpha is None:
        pixels[:5, :5, 3] = 0  # some transparency, to check alpha is kept
    else:
        pixels[..., 3] = alpha
    return protocol.ImageDesc(width, height, "RGBA8"), pixels.tobytes()


def style_file(name: str = "s.png", long_side: int = 64, image: str = "starry_night.jpg",
               weight: float = 1.0) -> protocol.StyleImage:
    with Image.open(shared_image(image)) as img:
        img = img.convert("RGB")
        img.thumbnail((long_side, long_side))
        out = io.BytesIO()
        img.save(out, "PNG")
        return protocol.StyleImage(name, out.getvalue(), weight)


def stylize_header(desc: protocol.ImageDesc, params: dict, job: str = "job") -> dict:
    return protocol.new_header(protocol.STYLIZE, job=job, content=desc.to_json(), styles=[{"name": "s.png", "weight": 1.0}],
                               params=dict(params))


def wait_for(predicate, timeout: float, interval: float = 0.1) -> float:
    """Seconds until ``predicate()`` held; AssertionError after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return True


def listening_tcp_addresses(pid: int) -> list[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed between listing and reading (a worker's pipe, a log rotation)
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1])
    return found
