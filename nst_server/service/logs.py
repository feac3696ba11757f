"""The server's log: one that traffic from others cannot turn against its owner.

* rotated by size (logging.handlers.RotatingFileHandler), so it never fills the disk;
* records marked ``RATE_LIMITED`` (one per dropped message, say) pass at most
  ``burst`` times a minute, the next one that passes says how many were held back;
* control characters in messages are escaped, so a received id or a library's
  text cannot forge a line or send escape codes to a terminal;
* the folder is 0700 and the files 0600: the log names jobs and clients.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
import threading
import time
from pathlib import Path

from nst_server.client.protocol import printable
from nst_server.client.runtime import make_private_dir

LOG_FILE = "server.log"
MAX_LOG_BYTES = 1 << 20  # per file; with the backups below the log takes at most 4 MiB
LOG_BACKUPS = 3
RATE_LIMITED = {"rate_limited": True}  # pass as ``extra=`` for records that outside traffic can cause


class EscapingFormatter(logging.Formatter):
    """One record, one line: the message's control characters escaped; tracebacks indented beneath it,
    the record's own and a ``detail`` passed in ``extra`` (the engine process's traceback, sent as text)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        detail = getattr(record, "detail", None)
        return f"{text}\n{_indented(detail)}" if isinstance(detail, str) and detail.strip() else text

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message, 4000)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    # Every traceback line starts with spaces, so none can pass for a record of its own.
    return "\n".join("    " + printable(line, 4000) for line in text.splitlines())


class RateLimit(logging.Filter):
    """At most ``burst`` RATE_LIMITED records per ``window_s``; other records always pass.

    Logger filters see only records logged on that very logger: mark records of ``nst_server`` itself."""

    def __init__(self, burst: int = 20, window_s: float = 60.0) -> None:
        super().__init__()
        self.burst, self.window_s = burst, window_s
        self._window_start = float("-inf")
        self._passed = 0
        self.held_back = 0  # since the last record that passed
        self._lock = threading.Lock()  # the authenticator's thread logs too

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "rate_limited", False):
            return True
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.window_s:
                self._window_start, self._passed = now, 0
            if self._passed >= self.burst:
                self.held_back += 1
                return False
            self._passed += 1
            if self.held_back:
                record.msg = f"{record.msg} ({self.held_back} more like it were not logged)"
                self.held_back = 0
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler whose files are created 0600 (rotation renames, which keeps the mode)."""

    def _open(self):
        # Anything but a plain file at the log's path (a FIFO would block this open for ever, a link lead
        # elsewhere) was not written by a server: the folder is private, so it is replaced.
        try:
            if not stat.S_ISREG(os.lstat(self.baseFilename).st_mode):
                os.unlink(self.baseFilename)
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a log written by an older version may be 0644
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup_server_logging(folder: Path, stream: bool = True, max_bytes: int = MAX_LOG_BYTES,
                         backups: int = LOG_BACKUPS, burst: int = 20, window_s: float = 60.0) -> RateLimit:
    """Log the ``nst_server`` loggers to ``folder/server.log`` (and stderr); returns the rate limit in force."""
    make_private_dir(folder)
    formatter = EscapingFormatter("%(asctime)s %(levelname)s %(message)s")
    limit = RateLimit(burst, window_s)
    handlers: list[logging.Handler] = [
        PrivateRotatingFileHandler(folder / LOG_FILE, maxBytes=max_bytes, backupCount=backups, encoding="utf-8",
                                   errors="backslashreplace"),
    ]
    if stream:
        handlers.append(logging.StreamHandler())
    logger = logging.getLogger("nst_server")
    logger.setLevel(logging.INFO)
    logger.addFilter(limit)  # on the logger, so that one decision covers every handler
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return limit
