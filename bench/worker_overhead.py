"""What running the engine in a worker process costs: ``python bench/worker_overhead.py``.

Measures, in one run: moving a layer through the pipe and back (4096x4096 RGBA 8-bit
and float), the memory of the socket process against the engine process, and how
long a job takes right after the engine crashed (restart plus re-warm) against a
warm one.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from common import REPO, timing_backbone, write_json  # noqa: E402

from nst_server import client  # noqa: E402
from tests.support.servers import SMALL, ServerProcess, layer, style_file  # noqa: E402


def _echo(conn) -> None:
    while (data := conn.recv_bytes()) != b"stop":
        conn.send_bytes(data)


def pipe_round_trip(nbytes: int, repeats: int = 3) -> float:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(child,))
    proc.start()
    payload = os.urandom(1024) * (nbytes // 1024)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        parent.send_bytes(payload)
        parent.recv_bytes()
        best = min(best, time.perf_counter() - started)
    parent.send_bytes(b"stop")
    proc.join()
    return best


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_job(conn: client.Connection) -> float:
    desc, pixels = layer(32, 32)
    started = time.perf_counter()
    conn.stylize(pixels, desc, [style_file()], SMALL, silence_timeout=60)
    return time.perf_counter() - started


def main() -> None:
    report = {
        "pipe_round_trip_s_4096px_rgba8": round(pipe_round_trip(4096 * 4096 * 4), 3),
        "pipe_round_trip_s_4096px_rgba_float": round(pipe_round_trip(4096 * 4096 * 16), 3),
    }
    _, weights, described = timing_backbone("vgg19")
    srv = ServerProcess(Path(tempfile.mkdtemp()), Path(weights))
    try:
        conn = srv.connect()
        timed_job(conn)  # warm up
        report["warm_small_job_s"] = round(min(timed_job(conn) for _ in range(3)), 2)
        pong = conn.ping()
        report["socket_process_rss_mb"] = round(rss_mb(pong["pid"]), 1)
        report["engine_process_rss_mb"] = round(rss_mb(pong["engine_pid"]), 1)
        os.kill(pong["engine_pid"], signal.SIGKILL)
        time.sleep(0.5)
        report["small_job_after_engine_crash_s"] = round(timed_job(conn), 2)
        conn.close()
    finally:
        srv.stop()
    report["weights"] = described
    for key, value in report.items():
        print(f"{key:>36}: {value}")
    print("written to", write_json("worker_overhead.json", report))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
