"""The stdio bridge: a plug-in without pyzmq reaches a real server through ``python -m nst_server.service.bridge``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from nst_server.client import connect, events, protocol, transport_stdio
from nst_server.client.config import PluginConfig
from nst_server.client.connection import Connection
from nst_server.client.errors import ClientError, ServerStartFailed
from tests.conftest import REPO
from tests.support.servers import ENDLESS, layer, style_file, stylize_header, wait_for

HELPER = [sys.executable, "-m", "nst_server.service.bridge"]
PARAMS = {"size": 48, "steps": 3}


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path / "state"))  # the helper's log


def bridged(server) -> Connection:
    """A connection to ``server`` through a bridge helper, as a plug-in without pyzmq opens it."""
    return connect.open_connection(PluginConfig(bridge=tuple(HELPER), use_bridge=True,
                                                runtime_dir=str(server.runtime_dir)))


def jobs_on(server) -> int:
    with server.connect() as conn:
        return conn.ping().jobs


def test_framing_round_trips_and_refuses_garbage():
    stream = io.BytesIO()
    transport_stdio.write_message(stream, {"op": "x", "n": 1}, [b"abc", b""])
    stream.seek(0)
    assert transport_stdio.read_message(stream) == ({"op": "x", "n": 1}, [b"abc", b""])
    assert transport_stdio.read_message(stream) is None
    for bad in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x01" + b"\x00" * 7, b"\x00\x00\x00\x01" + (2).to_bytes(8, "big") + b"[]"):
        with pytest.raises(ValueError):
            transport_stdio.read_message(io.BytesIO(bad))


def test_the_bridge_gives_the_same_pixels_and_events_as_pyzmq(server):
    desc, pixels = layer()
    direct_events, bridge_events = [], []
    with server.connect() as direct:
        expected = direct.stylize(pixels, desc, [style_file()], PARAMS, on_event=direct_events.append)
    with bridged(server) as conn:
        assert conn.via == "the stdio bridge" and conn.ping().pid == server.process.pid
        result = conn.stylize(pixels, desc, [style_file()], PARAMS, on_event=bridge_events.append)
    assert result == expected
    assert isinstance(bridge_events[0], events.Accepted)
    steps = [[e.step for e in got if isinstance(e, events.Progress)] for got in (direct_events, bridge_events)]
    assert steps[0] == steps[1] and steps[1][-1] == PARAMS["steps"]


def test_cancel_and_finish_pass_through_the_bridge(server):
    desc, pixels = layer()
    with bridged(server) as conn:
        def cancel_at_first_progress(event):
            if isinstance(event, events.Progress):
                conn.cancel(event.job)

        started = time.monotonic()
        with pytest.raises(ClientError) as err:
            conn.stylize(pixels, desc, [style_file()], ENDLESS, on_event=cancel_at_first_progress)
        assert err.value.code == "cancelled" and time.monotonic() - started < 60

        def finish_at_step_two(event):
            if isinstance(event, events.Progress) and event.step >= 2:
                conn.finish(event.job)

        result = conn.stylize(pixels, desc, [style_file()], ENDLESS, on_event=finish_at_step_two)
        assert len(result) == len(pixels)
        assert np.abs(np.frombuffer(result, np.uint8).astype(int) - np.frombuffer(pixels, np.uint8)).mean() > 0.5


def test_server_errors_keep_their_code_through_the_bridge(server):
    desc, pixels = layer()
    with bridged(server) as conn:
        with pytest.raises(ClientError) as err:
            conn.stylize(pixels, desc, [protocol.StyleImage("s.png", b"not an image")], PARAMS)
    assert err.value.code not in ("client", "bridge", "stopped") and "Traceback" not in str(err.value)


def test_a_message_over_the_limits_is_reported_as_too_large_through_the_bridge(server):
    desc, pixels = layer()
    with bridged(server) as conn:
        started = time.monotonic()
        with pytest.raises(ClientError) as err:
            # one frame over the limit: magic, signature, header, the layer and the style files
            conn.stylize(pixels, desc, [style_file(f"s{i}.png") for i in range(protocol.MAX_FRAMES - 3)], PARAMS)
    assert err.value.code == "too_large" and f"at most {protocol.MAX_FRAMES} frames" in str(err.value)
    assert time.monotonic() - started < 5  # answered, not "stopped answering" after 8 s


PLUGIN_WITHOUT_PYZMQ = """
import json, sys, time
sys.modules["zmq"] = None  # as in a GIMP whose Python cannot load pyzmq
from nst_server.client import connect, events, protocol
from nst_server.client.config import PluginConfig
config = PluginConfig.from_json(json.loads(sys.argv[1]))
assert not connect.pyzmq_available() and connect.uses_bridge(config)
conn = connect.open_connection(config)
desc = protocol.ImageDesc(40, 30, "RGBA8")
pixels = open(sys.argv[2], "rb").read()
style = protocol.StyleImage("s.png", open(sys.argv[3], "rb").read())
def on_event(event):
    if isinstance(event, events.Progress):
        print("progress", event.job, flush=True)
conn.stylize(pixels, desc, [style], json.loads(sys.argv[4]), on_event=on_event)
print("done", "zmq" in sys.modules and sys.modules["zmq"] is not None, flush=True)
"""


def test_a_plugin_without_pyzmq_stylizes_and_leaving_mid_job_cancels_it(server, tmp_path):
    desc, pixels = layer()
    (tmp_path / "pixels").write_bytes(pixels)
    (tmp_path / "style.png").write_bytes(style_file().data)
    config = json.dumps({"bridge": HELPER, "command": None, "runtime_dir": str(server.runtime_dir)})
    args = [sys.executable, "-c", PLUGIN_WITHOUT_PYZMQ, config, str(tmp_path / "pixels"), str(tmp_path / "style.png")]
    done = subprocess.run([*args, json.dumps(PARAMS)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "done False"  # stylized, and pyzmq never loaded on this side

    # GIMP kills a plug-in whose Cancel is pressed: the helper sees its pipe close and cancels the job.
    plugin = subprocess.Popen([*args, json.dumps(ENDLESS)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert plugin.stdout.readline().startswith("progress")
        assert jobs_on(server) == 1
        plugin.kill()
        plugin.wait()
        print(f"job gone {wait_for(lambda: jobs_on(server) == 0, 30):.1f} s after the plug-in was killed")
    finally:
        plugin.kill()


def test_a_missing_server_is_reported_as_by_the_plain_client(tmp_path):
    config = PluginConfig(bridge=tuple(HELPER), use_bridge=True, command=("/nonexistent/python", "-m", "nst_server", "serve"),
                          runtime_dir=str(tmp_path / "run"))
    with pytest.raises(ServerStartFailed, match="Could not start the style transfer server"):
        connect.open_connection(config)
    with pytest.raises(ServerStartFailed, match="bridge helper"):
        connect.open_connection(replace(config, bridge=("/nonexistent/python", "-m", HELPER[-1])))


def test_stop_and_cancel_cross_the_bridge_at_once(server):
    """The helper relays what the plug-in writes within a poll interval: it does not wait for the server's
    next message (a queued job hears from the server only once a second)."""
    desc, pixels = layer()
    with server.connect() as other, bridged(server) as conn:
        other.send(stylize_header(desc, ENDLESS, "ahead"), [pixels, style_file().data])
        while (message := other.receive(20)) is not None and message.type != protocol.PROGRESS:
            pass
        conn.send(stylize_header(desc, PARAMS, "queued"), [pixels, style_file().data])
        while (message := conn.receive(20)) is not None and message.type != protocol.ACCEPTED:
            pass
        assert message is not None and message.header["queue_position"] == 2
        times = []
        for _ in range(3):
            conn.receive(0.3)  # land at a random point between two keep-alives
            asked = time.monotonic()
            conn.ping(5)
            times.append(time.monotonic() - asked)
        conn.cancel("queued")
        asked = time.monotonic()
        while (message := conn.receive(5)) is not None and message.type != protocol.CANCELLED:
            pass
        cancelled = time.monotonic() - asked
        other.cancel("ahead")
    print(f"through the bridge: ping answered in {max(times):.3f} s at most, a queued job cancelled in {cancelled:.3f} s")
    assert message is not None and max(times) < 0.5 and cancelled < 0.5
