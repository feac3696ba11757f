"""The server as a real process on a real ZeroMQ socket, running real TensorFlow jobs."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from PIL import Image

from nst_server import client, protocol, runtime
from tests.conftest import REPO, shared_image

PARAMS = {"size": 48, "steps": 4}


def start_server_process(runtime_dir: Path, weights: Path, env_extra: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, NST_STATE_DIR=str(runtime_dir.parent / "state"), **(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "nst_server", "serve", "--runtime-dir", str(runtime_dir),
         "--weights", str(weights), "--idle-timeout", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_until_serving(runtime_dir: Path, process: subprocess.Popen, timeout: float = 60.0) -> client.Connection:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()
        conn = client.connect_running(runtime_dir, timeout=1.0)
        if conn is not None:
            return conn
        time.sleep(0.2)
    raise AssertionError("server did not come up")


@pytest.fixture(scope="module")
def server(tmp_path_factory, vgg19_weights):
    runtime_dir = tmp_path_factory.mktemp("srv") / "run"
    process = start_server_process(runtime_dir, vgg19_weights)
    wait_until_serving(runtime_dir, process).close()
    yield runtime_dir, process
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    # A clean stop leaves no socket and no runtime file behind.
    assert not (runtime_dir / runtime.RUNTIME_FILE).exists()
    assert not (runtime_dir / runtime.SOCKET_FILE).exists()


@pytest.fixture
def conn(server):
    connection = client.connect_running(server[0])
    assert connection is not None
    yield connection
    connection.close()


def layer_pixels(width: int = 40, height: int = 30) -> tuple[protocol.ImageDesc, bytes]:
    with Image.open(shared_image("chelsea.png")) as img:
        rgba = img.convert("RGBA").resize((width, height))
    pixels = np.array(rgba)
    pixels[:5, :5, 3] = 0  # some transparency, to check alpha is kept
    return protocol.ImageDesc(width, height, "RGBA8"), pixels.tobytes()


def style_file() -> bytes:
    with Image.open(shared_image("starry_night.jpg")) as img:
        img = img.convert("RGB")
        img.thumbnail((64, 64))
        out = io.BytesIO()
        img.save(out, "PNG")
        return out.getvalue()


def test_runtime_files_are_private(server):
    runtime_dir = server[0]
    assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((runtime_dir / runtime.RUNTIME_FILE).stat().st_mode) == 0o600
    assert runtime.read_runtime_info(runtime_dir).endpoint.startswith("ipc://")


def test_job_streams_progress_and_returns_the_layer_sized_result(conn):
    desc, pixels = layer_pixels()
    events = []
    result = conn.stylize(pixels, desc, style_file(), "starry.png", PARAMS, on_event=events.append)
    kinds = [e["type"] for e in events]
    assert kinds[0] == protocol.ACCEPTED
    steps = [e["step"] for e in events if e["type"] == protocol.PROGRESS]
    assert steps[-1] == PARAMS["steps"]
    out = np.frombuffer(result, np.uint8).reshape(desc.height, desc.width, 4)
    src = np.frombuffer(pixels, np.uint8).reshape(desc.height, desc.width, 4)
    np.testing.assert_array_equal(out[..., 3], src[..., 3])  # alpha kept
    assert np.abs(out[..., :3].astype(int) - src[..., :3]).mean() > 1  # pixels changed


def test_same_request_gives_the_same_pixels(conn):
    desc, pixels = layer_pixels(24, 24)
    a = conn.stylize(pixels, desc, style_file(), "s.png", PARAMS)
    b = conn.stylize(pixels, desc, style_file(), "s.png", PARAMS)
    assert a == b


@pytest.mark.parametrize(
    ("mutate", "code", "words"),
    [
        (lambda h, b: h["params"].update(steps=0), "bad_parameter", "between 1 and"),
        (lambda h, b: h["params"].update(colour="red"), "bad_parameter", "unknown parameter"),
        (lambda h, b: b.__setitem__(0, b[0][:-1]), "bad_image", "needs"),
        (lambda h, b: b.__setitem__(1, b"definitely not an image"), "bad_style_image", "cannot read"),
        (lambda h, b: h["content"].update(width=100000), "too_large", "exceeds"),
    ],
)
def test_bad_requests_get_their_own_error_and_the_server_keeps_serving(conn, mutate, code, words):
    desc, pixels = layer_pixels(16, 16)
    header = protocol.new_header(protocol.STYLIZE, job="bad", content=desc.to_json(), params=dict(PARAMS))
    buffers = [pixels, style_file()]
    mutate(header, buffers)
    conn.send(header, buffers)
    reply = conn.receive(10)
    assert reply is not None and reply.type == protocol.ERROR
    assert reply.header["code"] == code and words in reply.header["message"]
    assert conn.ping() is not None


def test_unsigned_and_forged_messages_are_dropped_without_answer(server, conn):
    info = runtime.read_runtime_info(server[0])
    forged = client.Connection(runtime.RuntimeInfo(info.endpoint, b"wrong key" * 4, info.pid, info.instance))
    try:
        forged.send(protocol.new_header(protocol.PING))
        assert forged.receive(1.5) is None
    finally:
        forged.close()
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(info.endpoint)
    raw.send_multipart([os.urandom(40), os.urandom(100)])
    assert raw.poll(1000) == 0
    raw.close()
    assert conn.ping() is not None  # a good client is still served


def test_cancel_stops_a_running_job(conn):
    desc, pixels = layer_pixels(64, 64)
    job = "to-cancel"
    header = protocol.new_header(protocol.STYLIZE, job=job, content=desc.to_json(), params={"size": 64, "steps": 5000})
    conn.send(header, [pixels, style_file()])
    started = time.monotonic()
    while True:
        message = conn.receive(10)
        assert message is not None
        if message.type == protocol.PROGRESS:
            conn.cancel(job)
            break
    while (message := conn.receive(10)) is not None and message.type != protocol.CANCELLED:
        pass
    assert message is not None and message.type == protocol.CANCELLED
    assert time.monotonic() - started < 30
    assert conn.ping() is not None


def test_second_server_refuses_to_start(server, vgg19_weights):
    second = start_server_process(server[0], vgg19_weights)
    assert second.wait(timeout=60) == 3
    assert b"already running" in second.stdout.read()


def test_missing_weights_reach_the_client_as_a_clear_error(tmp_path):
    runtime_dir = tmp_path / "run"
    process = start_server_process(runtime_dir, tmp_path / "absent.h5")
    try:
        conn = wait_until_serving(runtime_dir, process)
        desc, pixels = layer_pixels(16, 16)
        with pytest.raises(client.ClientError) as err:
            conn.stylize(pixels, desc, style_file(), "s.png", PARAMS)
        assert err.value.code == "weights_missing" and "does not exist" in str(err.value)
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_client_reports_a_server_killed_mid_job(tmp_path, vgg19_weights):
    runtime_dir = tmp_path / "run"
    process = start_server_process(runtime_dir, vgg19_weights)
    conn = wait_until_serving(runtime_dir, process)
    desc, pixels = layer_pixels(64, 64)

    def kill_on_first_progress(event):
        if event["type"] == protocol.PROGRESS:
            process.kill()

    started = time.monotonic()
    with pytest.raises(client.ServerStopped) as err:
        conn.stylize(pixels, desc, style_file(), "s.png", {"size": 64, "steps": 5000},
                     on_event=kill_on_first_progress, silence_timeout=5)
    assert "stopped answering" in str(err.value)
    assert time.monotonic() - started < 40
    conn.close()
