"""Weights downloads against a real local HTTP server: progress, resume after a cut, hash check."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading

import pytest

from nst_server.engine import weights
from tests.conftest import REPO

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    cut_first_after: int | None = None  # bytes sent before the first response is cut
    requests: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        ranged = self.headers.get("Range")
        type(self).requests.append(ranged)
        start = int(ranged.split("=")[1].rstrip("-")) if ranged else 0
        body = PAYLOAD[start:]
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Length", str(len(body)))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.end_headers()
        if type(self).cut_first_after is not None:
            body, type(self).cut_first_after = body[: type(self).cut_first_after], None
            self.wfile.write(body)
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection breaks mid-file
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Handler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_cut_download_resumes_where_it_stopped_and_is_verified(http_url, tmp_path, capfd):
    Handler.cut_first_after = 300_000
    dest = weights.download_file(f"{http_url}/w.h5", tmp_path / "w.h5", MD5)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "w.h5.part").exists()
    assert Handler.requests == [None, "bytes=300000-"]
    err = capfd.readouterr().err
    assert "trying again" in err and "1.00M/1.00M" in err  # tqdm's progress bar on stderr


def test_a_part_file_left_by_an_earlier_run_is_continued(http_url, tmp_path):
    (tmp_path / "w.h5.part").write_bytes(PAYLOAD[:500_000])
    weights.download_file(f"{http_url}/w.h5", tmp_path / "w.h5", MD5, progress=False)
    assert Handler.requests == ["bytes=500000-"]
    assert (tmp_path / "w.h5").read_bytes() == PAYLOAD


def test_a_wrong_hash_leaves_nothing_and_says_so(http_url, tmp_path):
    with pytest.raises(weights.WeightsMissing, match="damaged"):
        weights.download_file(f"{http_url}/w.h5", tmp_path / "w.h5", "0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_weights_command_downloads_from_a_mirror_into_the_data_folder(http_url, tmp_path):
    # The official hash cannot match this payload: the command must refuse it, with advice.
    env = {"NST_DATA_DIR": str(tmp_path / "data"), "NST_WEIGHTS_BASE_URL": http_url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "nst_server", "weights", "fetch"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stderr
    assert "damaged" in result.stderr and "install.py --weights FILE" in result.stderr
    assert Handler.requests == [None]
    assert not list((tmp_path / "data" / "weights").iterdir())
