"""The server's log as set up by ``serve`` (nst_server/service/logs.py): size cap, rate limit, escaping, private modes.

The server tests check the same log on a running server (test_server_hardening.py); here the
limits are made small so that rotation and the rate limit's window show within a test.
"""

from __future__ import annotations

import logging
import stat
import time

import pytest

from nst_server.service import logs

pytestmark = pytest.mark.quick  # tests/run.py --quick: no GIMP, no chroot, no TensorFlow run


@pytest.fixture
def server_log(tmp_path):
    """``serve``'s logging, with a 4 KiB cap per file and a 1 s window; removed afterwards."""
    logger = logging.getLogger("nst_server")
    handlers, filters, level = list(logger.handlers), list(logger.filters), logger.level
    limit = logs.setup_server_logging(tmp_path / "state", stream=False, max_bytes=4096, backups=2, burst=5, window_s=1.0)
    yield logger, limit, tmp_path / "state"
    for handler in logger.handlers[len(handlers):]:
        handler.close()
    logger.handlers, logger.filters = handlers, filters
    logger.setLevel(level)


def test_the_log_is_rotated_and_never_holds_more_than_its_cap(server_log):
    logger, _, folder = server_log
    for i in range(2000):  # about 150 KB of records
        logger.info("job %d done in %.1f s", i, 1.0)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["server.log", "server.log.1", "server.log.2"]
    assert sum(f.stat().st_size for f in files) <= 3 * 4096 + 200
    assert "job 1999 done" in (folder / "server.log").read_text()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_rate_limited_records_pass_a_few_per_window_and_then_say_how_many_were_held_back(server_log):
    logger, limit, folder = server_log
    for _ in range(100):
        logger.warning("dropped an unauthenticated message (%s)", "bad_signature", extra=logs.RATE_LIMITED)
    logger.info("serving")  # ordinary records are never held back
    time.sleep(1.1)
    logger.warning("dropped an unauthenticated message (%s)", "bad_signature", extra=logs.RATE_LIMITED)
    lines = (folder / "server.log").read_text().splitlines()
    assert sum("dropped" in line for line in lines) == 6 and any("serving" in line for line in lines)
    assert lines[-1].endswith("(95 more like it were not logged)")


def test_received_text_cannot_forge_a_line_or_reach_a_terminal_raw(server_log):
    logger, _, folder = server_log
    logger.info("job %s done", "j1\n2000-01-01 00:00:00,000 INFO forged\x1b]0;owned\x07\u202e")
    try:
        raise ValueError("bad\nvalue\x1b[2J")
    except ValueError:
        logger.exception("job %s failed", "j2")
    text = (folder / "server.log").read_text()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "j1\\n2000-01-01 00:00:00,000 INFO forged\\x1b]0;owned\\x07\\u202e" in text
    records = [line for line in text.splitlines() if not line.startswith("    ")]  # traceback lines are indented
    assert len(records) == 2 and not any(line.startswith("2000-01-01") for line in text.splitlines())
    assert "    ValueError: bad" in text and "    value\\x1b[2J" in text
