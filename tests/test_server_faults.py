"""Faults, hostile input, many clients and remote mode, on real processes and real sockets."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst_server import client
from nst_server.client import events, protocol, runtime
from nst_server.service.validation import Limits, validate_stylize
from tests.conftest import REPO
from tests.support.servers import (
    ENDLESS,
    SMALL,
    ServerProcess,
    layer,
    listening_tcp_addresses,
    pid_alive,
    style_file,
    stylize_header,
    wait_for,
)

SERVER_OPTIONS = ("--max-buffer-mb", "1", "--max-megapixels", "0.25")
FUZZ_EXAMPLES = int(os.environ.get("NST_FUZZ_EXAMPLES", "1000"))  # a long run: NST_FUZZ_EXAMPLES=20000


def jobs_on(srv: ServerProcess) -> int:
    with srv.connect(10) as conn:
        return conn.ping().jobs


def slow_client(srv: ServerProcess) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.slow_client", str(srv.runtime_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running", proc.stderr.read()
    return proc


def assert_worker_free(srv: ServerProcess) -> None:
    with srv.connect(10) as conn:
        desc, pixels = layer(32, 32)
        started = time.monotonic()
        conn.stylize(pixels, desc, [style_file()], SMALL)
        assert time.monotonic() - started < 30


# --- vanished and frozen clients -------------------------------------------------
def test_killed_client_has_its_job_cancelled_within_5_seconds(server):
    proc = slow_client(server)
    assert jobs_on(server) == 1
    proc.kill()  # what GIMP's progress-bar Cancel does to the plug-in
    proc.wait()
    waited = wait_for(lambda: jobs_on(server) == 0, timeout=5)
    print(f"job of a SIGKILLed client cancelled after {waited:.1f} s")
    assert_worker_free(server)


def test_frozen_client_has_its_job_cancelled_within_5_seconds(server):
    proc = slow_client(server)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        waited = wait_for(lambda: jobs_on(server) == 0, timeout=5)
        print(f"job of a SIGSTOPped client cancelled after {waited:.1f} s")
    finally:
        proc.kill()
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait()
    assert_worker_free(server)


# --- dying server and engine ----------------------------------------------------------
def test_killed_server_is_reported_within_10_seconds_and_the_next_request_starts_a_fresh_one(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights)
    conn = srv.connect()
    desc, pixels = layer(64, 64)

    def kill_on_progress(event):
        if isinstance(event, events.Progress) and srv.process.poll() is None:
            srv.process.kill()
            killed.append(time.monotonic())

    killed: list[float] = []
    with pytest.raises(client.ServerStopped) as err:
        conn.stylize(pixels, desc, [style_file()], ENDLESS, on_event=kill_on_progress)
    noticed = time.monotonic() - killed[0]
    print(f"client noticed the killed server after {noticed:.1f} s")
    assert noticed < 10 and "stopped answering" in str(err.value)
    conn.close()
    srv.process.wait()
    command = [sys.executable, "-m", "nst_server", "serve", "--weights", str(vgg19_weights)]
    fresh = client.connect_local(command, srv.runtime_dir)  # stale runtime file and socket left by the killed one
    try:
        assert fresh.info.pid != srv.process.pid
        small_desc, small = layer(32, 32)
        fresh.stylize(small, small_desc, [style_file()], SMALL)
    finally:
        os.kill(fresh.info.pid, signal.SIGTERM)
        fresh.close()
        wait_for(lambda: not pid_alive(fresh.info.pid), timeout=30)


def test_engine_crash_is_reported_and_the_engine_restarted(server):
    with server.connect() as conn:
        engine_pid = conn.ping().engine_pid
        desc, pixels = layer(64, 64)

        def crash_engine(event):
            if isinstance(event, events.Progress) and pid_alive(engine_pid):
                os.kill(engine_pid, signal.SIGKILL)  # as the kernel's OOM killer would

        with pytest.raises(client.ClientError) as err:
            conn.stylize(pixels, desc, [style_file()], ENDLESS, on_event=crash_engine)
        assert err.value.code == "internal" and "engine stopped unexpectedly" in str(err.value)
        assert conn.ping().engine_pid != engine_pid
    assert_worker_free(server)


def test_overlong_job_is_stopped_with_a_timeout(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights, "--max-job-seconds", "3")
    try:
        with srv.connect() as conn:
            desc, pixels = layer(64, 64)
            with pytest.raises(client.ClientError) as err:
                conn.stylize(pixels, desc, [style_file()], ENDLESS)
            assert err.value.code == "timeout" and "limit of 3 s" in str(err.value)
    finally:
        srv.stop()


# --- hostile and broken input ----------------------------------------------------------
def bomb_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")  # 144 megapixels in a few kilobytes
    return out.getvalue()


REJECTIONS = {
    "oversized frame": ("too_large", lambda h, b: b.__setitem__(0, b"\0" * (2 << 20))),
    "decompression bomb": ("too_large", lambda h, b: b.__setitem__(1, bomb_png())),
    "wrong buffer length": ("bad_image", lambda h, b: b.__setitem__(0, b[0][:-3])),
    "layer over the pixel limit": ("too_large", lambda h, b: h["content"].update(width=4000, height=4000)),
    "absurd steps": ("bad_parameter", lambda h, b: h["params"].update(steps=10**12)),
    "negative size": ("bad_parameter", lambda h, b: h["params"].update(size=-5)),
    "method as a list": ("bad_parameter", lambda h, b: h["params"].update(method=["seed"])),
    "unknown parameter": ("bad_parameter", lambda h, b: h["params"].update(colour="red")),
    "style that is no image": ("bad_style_image", lambda h, b: b.__setitem__(1, b"GIF89a broken")),
    "missing buffer": ("bad_message", lambda h, b: b.pop()),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_each_bad_request_is_rejected_with_its_code(server, case):
    code, mutate = REJECTIONS[case]
    desc, pixels = layer(16, 16)
    header, buffers = stylize_header(desc, SMALL, "bad"), [pixels, style_file().data]
    mutate(header, buffers)
    with server.connect() as conn:
        conn.send(header, buffers)
        reply = conn.receive(20)
        assert reply is not None and reply.type == protocol.ERROR, case
        assert reply.header["code"] == code, reply.header
        assert " object at 0x" not in reply.header["message"]  # a message for people, not a Python repr
        assert conn.ping() is not None


def test_replayed_message_is_refused(server):
    with server.connect() as conn:
        frames = protocol.encode(conn.info.key, protocol.new_header(protocol.PING))
        conn.transport.send(frames)
        assert conn.receive(5).type == protocol.PONG
        conn.transport.send(frames)
        reply = conn.receive(5)
        assert reply.type == protocol.ERROR and reply.header["code"] == "replayed"


def test_forged_and_unsigned_messages_get_no_answer(server):
    info = runtime.read_runtime_info(server.runtime_dir)
    forged = client.dial(runtime.RuntimeInfo(info.endpoint, b"not the key" * 3, info.pid, info.instance))
    with forged:
        forged.send(protocol.new_header(protocol.PING))
        assert forged.receive(1.5) is None
    assert jobs_on(server) == 0


def test_random_bytes_at_the_socket_leave_the_server_serving(server):
    info = runtime.read_runtime_info(server.runtime_dir)
    rng = np.random.default_rng(7)
    path = info.endpoint.removeprefix("ipc://")
    for _ in range(20):  # raw bytes on the stream, below ZeroMQ's framing
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.connect(path)
            raw.sendall(rng.bytes(4096))
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(info.endpoint)
    for _ in range(200):  # random multipart messages
        dealer.send_multipart([rng.bytes(int(n)) for n in rng.integers(0, 200, size=rng.integers(1, 9))])
    assert dealer.poll(1000) == 0  # nothing answered
    dealer.close()
    assert_worker_free(server)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    header=st.dictionaries(
        st.sampled_from(["job", "content", "params", "style_name", "extra", "previous"]),
        st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=10),
    ),
    buffers=st.lists(st.binary(max_size=256), max_size=3),
)
def test_fuzzed_signed_stylize_requests_only_ever_get_protocol_errors(header, buffers):
    message = protocol.Message({"type": protocol.STYLIZE, "id": "x", "ts": time.time(), **header}, buffers)
    try:
        validate_stylize(message, Limits(max_pixels=1 << 16, max_buffer_bytes=1 << 20))
    except protocol.ProtocolError as exc:
        assert exc.code in protocol.ERROR_CODES and exc.message


def test_fuzzed_signed_messages_to_the_live_server(server):
    rng = np.random.default_rng(11)
    with server.connect() as conn:
        answered = 0
        for i in range(150):
            header = protocol.new_header(str(rng.choice(["stylize", "cancel", "ping", "nonsense"])), job=f"f{i}")
            for key in rng.choice(["content", "params", "style_name", "job"], size=rng.integers(0, 4)):
                odd_values = [None, -1, 2**40, "x" * 300, {"width": -1}, {"steps": "many"}, []]
                header[str(key)] = odd_values[int(rng.integers(len(odd_values)))]
            conn.send(header, [rng.bytes(int(rng.integers(0, 64))) for _ in range(rng.integers(0, 3))])
            reply = conn.receive(5)
            answered += reply is not None
            if reply is not None and reply.type == protocol.ACCEPTED:
                conn.cancel(reply.header["job"])
                while (r := conn.receive(5)) is not None and r.type not in (protocol.CANCELLED, protocol.ERROR):
                    pass
            else:
                assert reply is not None and reply.type in (protocol.ERROR, protocol.PONG)
                assert reply.type == protocol.PONG or reply.header["code"] in protocol.ERROR_CODES
        assert answered == 150
    assert_worker_free(server)


# --- frames mode (issue 20): a stylize that carries the previous animation frame ---------------------------
def frames_request(job: str, styles: int = 1, **params) -> tuple[dict, list[bytes]]:
    """A valid stylize with ``styles`` style files and a previous frame (here the layer itself, as photo and result)."""
    desc, pixels = layer(16, 16)
    header = stylize_header(desc, {**SMALL, **params}, job)
    header["styles"] = [{"name": f"s{i}.png", "weight": 1.0} for i in range(styles)]
    header["previous"] = desc.to_json()
    return header, [pixels, *[style_file().data] * styles, pixels, pixels]


PREVIOUS_REJECTIONS = {
    "of another size": ("bad_image", "the previous frame must have the layer's size and format",
                        lambda h, b: h["previous"].update(width=15)),
    "in another format": ("bad_image", "the previous frame must have the layer's size and format",
                          lambda h, b: h["previous"].update(format="RGB8")),
    "without its photo and result": ("bad_message", "the previous frame's photo and result",
                                     lambda h, b: b.__delitem__(slice(2, None))),
    "with its photo cut short": ("bad_image", "previous frame photo buffer", lambda h, b: b.__setitem__(2, b[2][:-4])),
    "with a result too long": ("bad_image", "previous frame result buffer", lambda h, b: b.__setitem__(3, b[3] + b"x")),
    "for the seed method": ("bad_parameter", "needs method 'multiscale'", lambda h, b: h["params"].update(method="seed")),
}


@pytest.mark.parametrize("case", list(PREVIOUS_REJECTIONS))
def test_a_previous_frame_that_does_not_fit_the_layer_is_refused_with_its_reason(server, case):
    code, words, mutate = PREVIOUS_REJECTIONS[case]
    header, buffers = frames_request("bad-previous")
    mutate(header, buffers)
    with server.connect() as conn:
        conn.send(header, buffers)
        reply = conn.receive(20)
        assert reply is not None and reply.type == protocol.ERROR, case
        assert reply.header["code"] == code and words in reply.header["message"], reply.header
        assert conn.ping() is not None


def test_four_styles_and_a_previous_frame_are_taken_and_one_frame_more_is_too_large(server):
    with server.connect() as conn:
        assert conn.ping().features == ("previous",)  # how a plug-in knows this server takes them
        header, buffers = frames_request("full", styles=protocol.MAX_STYLES)
        assert len(protocol.encode(conn.info.key, header, buffers)) == protocol.MAX_FRAMES
        conn.send(header, buffers)
        reply = conn.receive(20)
        assert reply is not None and reply.type == protocol.ACCEPTED, reply.header if reply else None
        conn.cancel("full")
        while (end := conn.receive(60)) is not None and end.type not in (protocol.CANCELLED, protocol.RESULT,
                                                                           protocol.ERROR):
            pass
        assert end is not None and (end.type != protocol.ERROR or end.header["code"] != "internal"), end
        header, buffers = frames_request("over", styles=protocol.MAX_STYLES)
        conn.send(header, [*buffers, style_file().data])
        reply = conn.receive(20)
        assert reply is not None and reply.type == protocol.ERROR, reply.header if reply else None
        assert reply.header["code"] == "too_large" and "at most 10 frames" in reply.header["message"]


def test_a_previous_frame_with_samples_that_are_not_numbers_is_refused_by_name(server):
    """Float frames are held to what float layers are (finite samples); the engine decodes them, so the job is
    accepted first and then ends with the reason."""
    _, pixels8 = layer(16, 16)
    rgb = (np.frombuffer(pixels8, np.uint8).reshape(16, 16, 4)[..., :3] / 255.0).astype("<f4")
    desc = protocol.ImageDesc(16, 16, "RGB32F")
    broken = rgb.copy()
    broken[3, 5, 1] = np.nan
    with server.connect() as conn, pytest.raises(client.ClientError) as err:
        conn.stylize(rgb.tobytes(), desc, [style_file()], SMALL, previous=(rgb.tobytes(), broken.tobytes()))
    assert err.value.code == "bad_image" and "previous frame's result" in str(err.value)
    assert "finite" in str(err.value)


def test_the_next_frame_of_an_animation_gets_a_result_of_the_layers_size_and_its_alpha(server):
    """Frames mode end to end: the client sends the first frame's photo and result with the second frame."""
    desc, first = layer(32, 24, alpha=77)
    moved = np.roll(np.frombuffer(first, np.uint8).reshape(24, 32, 4), 2, axis=1).copy()  # the camera panned
    moved[..., 3] = 99
    with server.connect() as conn:
        assert "previous" in conn.ping().features
        first_result = conn.stylize(first, desc, [style_file()], SMALL)
        second = conn.stylize(moved.tobytes(), desc, [style_file()], SMALL, previous=(first, first_result))
    assert len(second) == len(first)
    assert (np.frombuffer(second, np.uint8).reshape(24, 32, 4)[..., 3] == 99).all()  # this frame's alpha, kept


# --- many clients -------------------------------------------------------------------------
def test_eight_concurrent_clients_are_all_served_their_own_result(server):
    results: dict[int, object] = {}
    positions: dict[int, int] = {}

    def one_client(tag: int) -> None:
        try:
            with server.connect(20) as conn:
                desc, pixels = layer(24, 24, alpha=30 * tag + 5)  # the alpha comes back: it names the owner

                def on_event(event):
                    if isinstance(event, (events.Accepted, events.KeepAlive)):
                        positions[tag] = max(positions.get(tag, 0), event.queue_position)

                out = conn.stylize(pixels, desc, [style_file()], SMALL, on_event=on_event, silence_timeout=30)
                results[tag] = np.frombuffer(out, np.uint8).reshape(24, 24, 4)[..., 3]
        except Exception as exc:  # reported below
            results[tag] = exc

    threads = [threading.Thread(target=one_client, args=(tag,)) for tag in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == list(range(8))
    for tag, alpha in results.items():
        assert not isinstance(alpha, Exception), alpha
        assert (alpha == 30 * tag + 5).all(), f"client {tag} got someone else's result"
    assert max(positions.values()) > 1  # some waited in the queue and were told their place


def test_full_queue_answers_busy(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights, "--queue-limit", "1")
    try:
        srv.connect().close()  # up first: the slow client looks for the server once, and a loaded machine starts it late
        first = slow_client(srv)
        with srv.connect() as conn:
            desc, pixels = layer(16, 16)
            with pytest.raises(client.ClientError) as err:
                conn.stylize(pixels, desc, [style_file()], SMALL)
            assert err.value.code == "busy" and "busy" in str(err.value)
        first.kill()
        first.wait()
    finally:
        srv.stop()


# --- where it listens, and who may talk to it -------------------------------------------------
def test_local_server_listens_on_no_tcp_port(server):
    assert listening_tcp_addresses(server.process.pid) == []


def test_tcp_transport_listens_on_loopback_only(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights, "--transport", "tcp")
    try:
        with srv.connect() as conn:
            assert conn.info.endpoint.startswith("tcp://127.0.0.1:")
            assert conn.ping() is not None
        addresses = listening_tcp_addresses(srv.process.pid)
        assert addresses and all(a.startswith("0100007F:") for a in addresses), addresses  # 127.0.0.1
    finally:
        srv.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_mode_serves_allowed_keys_only(tmp_path, vgg19_weights):
    keys = tmp_path / "keys"
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"

    def cli(*args):
        result = subprocess.run([sys.executable, "-m", "nst_server", *args], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result

    cli("remote-setup", str(keys), "--endpoint", endpoint, "--bind", endpoint)
    cli("remote-add-client", str(keys), "artist", "-o", str(tmp_path / "artist.json"))
    assert oct((tmp_path / "artist.json").stat().st_mode & 0o777) == "0o600"
    srv = ServerProcess(tmp_path, vgg19_weights, "--remote", str(keys))
    try:
        allowed = runtime.read_info_file(tmp_path / "artist.json")
        conn = client.connect_remote(allowed, timeout=30)
        desc, pixels = layer(16, 16)
        conn.stylize(pixels, desc, [style_file()], SMALL)
        conn.close()

        public, secret = zmq.curve_keypair()
        stranger = runtime.RuntimeInfo(allowed.endpoint, allowed.key, 0, "x", allowed.curve_server_key,
                                       public.decode(), secret.decode())
        with pytest.raises(client.ServerStopped) as err:
            client.connect_remote(stranger, timeout=3)
        assert "allow-list" in str(err.value)
        plain = runtime.RuntimeInfo(allowed.endpoint, allowed.key, 0, "x")  # no encryption at all
        with pytest.raises(client.ServerStopped):
            client.connect_remote(plain, timeout=3)
        assert "refused a client key" in srv.log()
    finally:
        srv.stop()


def test_logs_hold_no_keys(server):
    info = runtime.read_runtime_info(server.runtime_dir)
    text = server.log()
    assert "serving on" in text
    assert info.key.hex() not in text and json.dumps(info.to_json()) not in text
