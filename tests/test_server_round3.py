"""Issue 18, item 7, the smaller points: the engine's tracebacks reach server.log (escaped), ``serve`` says in
one line what it cannot use instead of a traceback, and style entries without ``name`` or ``weight`` are
refused instead of given defaults.  (Private modes: test_server_caches.py; a style's memory:
test_server_images.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nst_server.client import protocol
from tests.conftest import REPO
from tests.support.servers import SMALL, ServerProcess, layer, measured_data_dir, style_file

NOBODY = 65534
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to act as another user")


# --- the engine's traceback in server.log -------------------------------------------------------------------
def test_an_engine_failure_reaches_the_log_with_its_traceback_escaped(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights, env={"NST_DATA_DIR": str(measured_data_dir(tmp_path))},
                        program=("-m", "tests.support.failing_engine"))
    try:
        with srv.connect() as conn:
            desc, pixels = layer(32, 32)
            conn.send(protocol.new_header(protocol.STYLIZE, job="fails", content=desc.to_json(),
                                          styles=[{"name": "s.png", "weight": 1.0}], params=SMALL),
                      [pixels, style_file().data])
            while (reply := conn.receive(120)).type != protocol.ERROR:
                assert reply.type in (protocol.ACCEPTED, protocol.KEEPALIVE, protocol.PROGRESS), reply.header
            assert reply.header["code"] == "internal"
            assert "made to fail" not in reply.header["message"]  # the engine's own words are for the log
        log = srv.log()
    finally:
        assert srv.stop() == 0
    lines = log[log.index("job fails failed in the engine"):].splitlines()
    traceback = lines[1:next((i for i, line in enumerate(lines) if i and not line.startswith(" ")), len(lines))]
    assert traceback[0] == "    Traceback (most recent call last):", lines[:3]  # beneath its record, indented
    # The exception's text, escaped; its newline starts an indented line, never one that passes for a record.
    assert "    RuntimeError: engine made to fail\\x1b[31m" in traceback, traceback
    assert "    2000-01-01 00:00:00,000 INFO forged line" in traceback, traceback
    assert "\x1b" not in log and not any(line.startswith("2000-01-01") for line in log.splitlines())


# --- serve: one line, not a traceback ------------------------------------------------------------------------
def serve(tmp_path: Path, runtime_dir: Path, state_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NST_STATE_DIR": str(state_dir or tmp_path / "state"), "NST_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "nst_server", "serve", "--runtime-dir", str(runtime_dir),
                           "--idle-timeout", "1"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def assert_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 6, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst_server: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_serve_on_a_runtime_folder_that_is_a_link_says_so_in_one_line(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert_one_line(serve(tmp_path, tmp_path / "link"), str(tmp_path / "link"), "link")


def test_serve_on_a_runtime_path_that_is_a_file_says_so_in_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    assert_one_line(serve(tmp_path, tmp_path / "file"), str(tmp_path / "file"))


@as_root
def test_serve_on_a_runtime_folder_of_another_user_says_so_in_one_line(tmp_path):
    squatted = tmp_path / "gimp-style-transfer-squatted"
    squatted.mkdir(mode=0o700)
    os.chown(squatted, NOBODY, NOBODY)
    assert_one_line(serve(tmp_path, squatted), str(squatted), "another user")


@as_root
def test_serve_with_a_log_folder_of_another_user_says_so_in_one_line(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    assert_one_line(serve(tmp_path, tmp_path / "run", state), str(state), "another user")


# --- style entries must name both fields ---------------------------------------------------------------------
def test_the_protocol_refuses_style_entries_without_name_or_weight():
    assert protocol.parse_styles([{"name": "a.png", "weight": 0.5}], 1) == [("a.png", 0.5)]
    for entry, missing in (({"name": "a.png"}, "'weight'"), ({"weight": 1.0}, "'name'"), ({}, "'name' and 'weight'")):
        with pytest.raises(protocol.ProtocolError) as refused:
            protocol.parse_styles([entry], 1)
        assert refused.value.code == "bad_message" and f"lacks its {missing}" in refused.value.message


def test_the_server_refuses_a_style_without_name_or_weight(tmp_path, vgg19_weights):
    srv = ServerProcess(tmp_path, vgg19_weights, env={"NST_DATA_DIR": str(measured_data_dir(tmp_path))})
    try:
        with srv.connect() as conn:
            desc, pixels = layer(32, 32)
            for n, entry in enumerate(({"name": "s.png"}, {"weight": 1.0})):
                conn.send(protocol.new_header(protocol.STYLIZE, job=f"no-field-{n}", content=desc.to_json(),
                                              styles=[entry], params=SMALL), [pixels, style_file().data])
                reply = conn.receive(30)
                assert reply is not None and reply.type == protocol.ERROR, reply and reply.header
                assert reply.header["code"] == "bad_message" and "lacks its" in reply.header["message"]
    finally:
        assert srv.stop() == 0
