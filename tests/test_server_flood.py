"""Issue 18, item 1: a client that never reads its answers slows no one.

The server used to send with a blocking send (2 s timeout): one signed client that sent 2,200
``status`` requests without reading left every other client waiting 2-3 s a request for about
six minutes, and a running job silent for 16 s.  Here a real flooder process
(tests/support/flooder.py) sends 3,000 ``ping`` and ``status`` requests and reads nothing, once
exiting at the end and once staying connected; meanwhile another client pings and a third runs
a job.  Every ping must be answered within 0.5 s, during the flood and after it, and the job's
messages must keep the protocol's once-a-second promise (with a margin for this loaded machine).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from nst_server import client
from nst_server.client import protocol
from tests.conftest import REPO
from tests.support.servers import ENDLESS, ServerProcess, layer, style_file, stylize_header

SERVER_MEASURED = True

FLOOD = 3000  # requests, none of whose answers is ever read
PING_LIMIT_S = 0.5  # the bound for another client's ping, during and after the flood
GAP_LIMIT_S = 1.5  # the protocol promises a job message every second; the margin is for a loaded 2-core machine


class WatchedJob:
    """An endless job on its own connection, and the time each of its messages arrived."""

    def __init__(self, srv: ServerProcess) -> None:
        self.conn = srv.connect()
        self.job = "watched-" + os.urandom(6).hex()
        desc, pixels = layer(64, 64)
        self.conn.send(stylize_header(desc, ENDLESS, self.job), [pixels, style_file().data])
        self.arrivals: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            message = self.conn.receive(0.1)
            if message is not None and message.header.get("job") == self.job:
                self.arrivals.append((time.monotonic(), message.type))

    def wait_running(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(kind == protocol.PROGRESS for _, kind in self.arrivals):
            assert time.monotonic() < deadline, f"the job did not start: {self.arrivals}"
            time.sleep(0.1)

    def longest_gap(self, since: float, until: float) -> float:
        times = [since, *(t for t, _ in self.arrivals if since <= t <= until), until]
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    def still_running(self) -> bool:
        return all(kind in (protocol.ACCEPTED, protocol.PROGRESS, protocol.KEEPALIVE) for _, kind in self.arrivals)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.cancel(self.job)
        self.conn.close()


def pings(conn: client.Connection, until, at_least: int = 5) -> list[float]:
    """Round trips of pings sent one after another until ``until()`` holds (and at least ``at_least``)."""
    latencies: list[float] = []
    while len(latencies) < at_least or not until():
        started = time.monotonic()
        pong = conn.ping(timeout=10)
        latencies.append(time.monotonic() - started)
        assert pong is not None, f"no pong within 10 s during the flood (after {len(latencies) - 1} answered)"
        time.sleep(0.02)
    return latencies


def start_flooder(srv: ServerProcess, mode: str) -> tuple[subprocess.Popen, threading.Event]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.flooder", str(srv.runtime_dir), str(FLOOD), mode],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = threading.Event()
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
            if line.strip() == "sent":
                sent.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, sent


@pytest.mark.parametrize("mode", ["exit", "stay"])
def test_a_client_that_never_reads_slows_no_one(server, mode):
    watched = WatchedJob(server)
    flooder = None
    try:
        watched.wait_running(120)
        started = time.monotonic()
        with server.connect() as conn:
            flooder, sent = start_flooder(server, mode)
            if mode == "exit":  # during: until the flooder has sent everything and gone
                during = pings(conn, lambda: flooder.poll() is not None)
                assert flooder.returncode == 0, flooder.stderr.read()
            else:  # during: while it sends, then 5 s more of it connected and not reading
                during = pings(conn, sent.is_set)
                still_there = time.monotonic()
                during += pings(conn, lambda: time.monotonic() - still_there > 5)
                assert flooder.poll() is None, "the flooder should still be connected"
                flooder.kill()
                flooder.wait()
            flood_ended = time.monotonic()
            after = pings(conn, lambda: time.monotonic() - flood_ended > 5)
        ended = time.monotonic()
        gap = watched.longest_gap(started, ended)
        log = server.log()
        print(f"\nnon-reading flooder ({FLOOD} requests, then {mode}): {len(during)} pings during it, slowest "
              f"{max(during) * 1000:.0f} ms (median {sorted(during)[len(during) // 2] * 1000:.0f} ms); {len(after)} after "
              f"it, slowest {max(after) * 1000:.0f} ms; the running job's longest gap between messages {gap:.2f} s "
              f"over {ended - started:.0f} s")
        assert max(during) < PING_LIMIT_S and max(after) < PING_LIMIT_S, (during, after)
        assert gap < GAP_LIMIT_S
        assert watched.still_running(), "the job of a client that reads was dropped"
        assert "does not read what the server sends" in log  # its unread answers were dropped, and said so
    finally:
        if flooder is not None and flooder.poll() is None:
            flooder.kill()
            flooder.wait()
        watched.close()
