"""The server as a real process on a real ZeroMQ socket, running real TensorFlow jobs."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nst_server import client
from nst_server.client import events as client_events
from nst_server.client import protocol, runtime
from tests.conftest import REPO
from tests.support.servers import ENDLESS, SMALL, ServerProcess, layer, pid_alive, style_file, stylize_header

PARAMS = {"size": 48, "steps": 4}


def test_the_socket_process_loads_neither_numpy_nor_tensorflow(server, conn):
    """The engine's libraries are in the worker process only: the socket process checks and queues jobs
    without them (style files are read to their header with Pillow)."""
    desc, pixels = layer(24, 16)
    conn.stylize(pixels, desc, [style_file()], SMALL)
    pong = conn.ping()
    assert pong.pid == server.process.pid and pong.engine_pid not in (None, pong.pid)

    def libraries(pid: int) -> str:
        return Path(f"/proc/{pid}/maps").read_text()

    assert "_multiarray_umath" in libraries(pong.engine_pid) and "libtensorflow" in libraries(pong.engine_pid)
    assert "_multiarray_umath" not in libraries(pong.pid) and "tensorflow" not in libraries(pong.pid)


def test_runtime_files_are_private(server):
    assert stat.S_IMODE(server.runtime_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((server.runtime_dir / runtime.RUNTIME_FILE).stat().st_mode) == 0o600
    info = runtime.read_runtime_info(server.runtime_dir)
    assert info.endpoint == f"ipc://{server.runtime_dir / runtime.SOCKET_FILE}"


def test_job_streams_progress_and_returns_the_layer_sized_result(conn):
    desc, pixels = layer()
    events = []
    result = conn.stylize(pixels, desc, [style_file("starry.png")], PARAMS, on_event=events.append)
    assert isinstance(events[0], client_events.Accepted) and events[0].queue_position == 1
    steps = [e.step for e in events if isinstance(e, client_events.Progress)]
    assert steps[-1] == PARAMS["steps"]
    out = np.frombuffer(result, np.uint8).reshape(desc.height, desc.width, 4)
    src = np.frombuffer(pixels, np.uint8).reshape(desc.height, desc.width, 4)
    np.testing.assert_array_equal(out[..., 3], src[..., 3])  # alpha kept
    assert np.abs(out[..., :3].astype(int) - src[..., :3]).mean() > 1  # pixels changed


def test_float_layers_come_back_as_float(conn):
    desc, pixels = layer(24, 16)
    as_float = np.frombuffer(pixels, np.uint8).astype("<f4") / 255.0
    fdesc = protocol.ImageDesc(24, 16, "RGBA32F")
    result = np.frombuffer(conn.stylize(as_float.tobytes(), fdesc, [style_file()], SMALL), "<f4")
    assert result.shape == as_float.shape and 0.0 <= result.min() and result.max() <= 1.0


def test_same_request_gives_the_same_pixels(conn):
    desc, pixels = layer(24, 24)
    assert conn.stylize(pixels, desc, [style_file()], PARAMS) == conn.stylize(pixels, desc, [style_file()], PARAMS)


def test_cancel_stops_a_running_job_within_a_step(conn):
    desc, pixels = layer(64, 64)
    conn.send(stylize_header(desc, ENDLESS, "to-cancel"), [pixels, style_file().data])
    while (message := conn.receive(20)) is not None and message.type != protocol.PROGRESS:
        pass
    assert message is not None
    conn.cancel("to-cancel")
    asked = time.monotonic()
    while (message := conn.receive(10)) is not None and message.type != protocol.CANCELLED:
        pass
    assert message is not None and message.type == protocol.CANCELLED
    assert time.monotonic() - asked < 5
    assert conn.ping() is not None


def test_finish_ends_a_running_job_with_the_image_reached_so_far(conn):
    """The plug-in's Stop: no waiting for 10000 steps, and the result is a stylized layer, not an error."""
    desc, pixels = layer(64, 64)
    conn.send(stylize_header(desc, ENDLESS, "to-finish"), [pixels, style_file().data])
    while (message := conn.receive(20)) is not None and not (message.type == protocol.PROGRESS
                                                              and message.header["step"] >= 3):
        pass
    assert message is not None
    conn.finish("to-finish")
    asked, last_step = time.monotonic(), message.header["step"]
    while (message := conn.receive(10)) is not None and message.type not in (protocol.RESULT, protocol.ERROR):
        last_step = message.header.get("step", 0)
    assert message is not None and message.type == protocol.RESULT, message and message.header
    assert time.monotonic() - asked < 5 and last_step < 100
    out = np.frombuffer(message.buffers[0], np.uint8).reshape(desc.height, desc.width, 4)
    src = np.frombuffer(pixels, np.uint8).reshape(desc.height, desc.width, 4)
    np.testing.assert_array_equal(out[..., 3], src[..., 3])
    assert np.abs(out[..., :3].astype(int) - src[..., :3]).mean() > 0.5  # some of the work is in it


def test_finish_of_an_unknown_job_is_refused(conn):
    conn.finish("no-such-job")
    message = conn.receive(5)
    assert message is not None and message.type == protocol.ERROR and message.header["code"] == "unknown_job"


def run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nst_server", "serve", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_second_server_refuses_to_start(server):
    result = run_serve("--runtime-dir", str(server.runtime_dir))
    assert result.returncode == 3 and "already running" in result.stderr
    assert server.connect(5).ping() is not None  # the first one is unharmed


def test_missing_weights_reach_the_client_as_a_clear_error(tmp_path):
    srv = ServerProcess(tmp_path, tmp_path / "absent.h5")
    try:
        conn = srv.connect()
        desc, pixels = layer(16, 16)
        with pytest.raises(client.ClientError) as err:
            conn.stylize(pixels, desc, [style_file()], SMALL)
        assert err.value.code == "weights_missing" and "does not exist" in str(err.value)
        conn.close()
    finally:
        srv.stop()


def test_sigterm_tells_clients_and_leaves_no_process_or_file(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights)
    conn = srv.connect()
    engine_pid = conn.ping().engine_pid
    desc, pixels = layer(64, 64)
    conn.send(stylize_header(desc, ENDLESS, "long"), [pixels, style_file().data])
    while (message := conn.receive(20)) is not None and message.type != protocol.PROGRESS:
        pass
    assert srv.stop() == 0
    while (message := conn.receive(10)) is not None and message.type != protocol.ERROR:
        pass
    assert message is not None and message.header["code"] == "shutting_down"
    assert not pid_alive(engine_pid)
    assert sorted(p.name for p in srv.runtime_dir.iterdir()) == [runtime.LOCK_FILE]
    conn.close()


def test_idle_server_exits_by_itself(tmp_path):
    started = time.monotonic()
    result = run_serve("--runtime-dir", str(tmp_path / "run"), "--idle-timeout", "2")
    assert result.returncode == 0 and "idle for 2 s" in result.stderr
    assert time.monotonic() - started < 60
    assert not (tmp_path / "run" / runtime.RUNTIME_FILE).exists()


def test_long_jobs_send_small_previews_of_the_image_so_far(conn):
    desc, pixels = layer(160, 120)
    previews = []
    conn.stylize(pixels, desc, [style_file()], {"size": 160, "steps": 400, "preset": "high"},
                 on_event=lambda e: previews.append(e) if isinstance(e, client_events.Preview) else None)
    assert previews, "no preview during a job of several seconds"
    pdesc, data = previews[0].image, previews[0].pixels
    assert pdesc.format == "RGB8" and max(pdesc.width, pdesc.height) <= 256
    assert (pdesc.width, pdesc.height) == (160, 120)  # the working size here, under the preview limit
    assert len(data) == 160 * 120 * 3


def test_an_rgb_layer_comes_back_rgb_with_the_colours_of_its_rgba_twin(conn):
    """The plug-in keeps a layer's alpha and sends its colours: the server's answer is the same either way."""
    desc, rgba = layer(32, 24)
    rgb = np.frombuffer(rgba, np.uint8).reshape(24, 32, 4)[..., :3].tobytes()
    from_rgba = conn.stylize(rgba, desc, [style_file()], SMALL)
    from_rgb = conn.stylize(rgb, protocol.ImageDesc(32, 24, "RGB8"), [style_file()], SMALL)
    assert np.frombuffer(from_rgba, np.uint8).reshape(24, 32, 4)[..., :3].tobytes() == from_rgb


def test_previews_come_at_the_size_the_client_asks_for(conn):
    """The plug-in asks for its layer's own size: the preview fills the layer as it is, whatever the working
    size (here 48 px for a 150x100 layer); 0 asks for none."""
    desc, pixels = layer(150, 100)
    previews = []

    def stop_at_first_preview(event):
        if isinstance(event, client_events.Preview):
            previews.append(event)
            conn.finish(event.job)

    conn.stylize(pixels, desc, [style_file()], {**ENDLESS, "size": 48}, on_event=stop_at_first_preview,
                 preview_long_side=150)
    assert previews and (previews[0].image.width, previews[0].image.height) == (150, 100)
    assert previews[0].image.format == "RGB8" and len(previews[0].pixels) == 150 * 100 * 3
    seen = []

    def stop_after_three_seconds(event):
        seen.append(event)
        if isinstance(event, client_events.Progress) and event.elapsed and event.elapsed > 3:
            conn.finish(event.job)

    conn.stylize(pixels, desc, [style_file()], {**ENDLESS, "size": 48}, on_event=stop_after_three_seconds,
                 preview_long_side=0)
    assert seen and not any(isinstance(e, client_events.Preview) for e in seen)
