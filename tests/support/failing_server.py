"""The real server with one handler made to fail: ``finish`` raises, its text full of control characters.

``python -m tests.support.failing_server [serve options]``: the last-resort guard must
answer ``internal``, log the failure escaped, and keep serving everything else.
"""

import sys

from nst_server import cli
from nst_server.service import server

FAILURE_TEXT = "handler made to fail\x1b[31m\n2000-01-01 00:00:00,000 INFO forged line"


class FailingServer(server.StyleServer):
    def _on_finish(self, sock, client, message) -> None:
        raise RuntimeError(FAILURE_TEXT)


if __name__ == "__main__":
    server.StyleServer = FailingServer  # what cli's serve builds
    sys.exit(cli.main(["serve", *sys.argv[1:]]))
